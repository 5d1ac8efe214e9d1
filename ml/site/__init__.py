"""What a site's own signed studies teach the next model, and which bundle serves (torch- and Qt-free).

``ml.store.harvest`` says what the databases hold; this package turns it into training studies
with a held-out gate slice (``data``), decides whether a refreshed bundle may replace the current
one (``gate``) and keeps the models folder of current, candidate and earlier bundles
(``registry``). The GUI, the CLI and the backend share these answers without loading torch; the
training and scoring that need it live in ``ml.train.refresh``.
"""

from ml.site.data import SiteData, SiteDataError, arrived_since, site_data, uid_digest
from ml.site.gate import GATE_METRIC, GateResult, decide, gate_markdown
from ml.site.registry import ModelRegistry, RegistryError

__all__ = [
    "GATE_METRIC",
    "GateResult",
    "ModelRegistry",
    "RegistryError",
    "SiteData",
    "SiteDataError",
    "arrived_since",
    "decide",
    "gate_markdown",
    "site_data",
    "uid_digest",
]
