"""Public chest X-ray datasets (and the synthetic cohort) as ``ml.types.Study`` records.

Every loader yields the same type: image path, scanpaths in image pixels with seconds, the
report, CheXpert-14 labels and localised findings. Torch-free; heavy work happens per call.

- ``reflacx``: REFLACX readings (also reads the synthetic cohort, which mirrors its layout)
- ``egd_cxr``: EGD-CXR (Karargyris et al.) fixations, transcripts and master sheet
- ``mimic``: MIMIC-CXR report text files and CheXpert label CSVs
- ``iu_xray``: Indiana University reports with MeSH terms
"""

from __future__ import annotations

from ml.datasets._common import DatasetError
from ml.datasets.egd_cxr import iter_egd_cxr, load_egd_cxr
from ml.datasets.mimic import iter_mimic, load_mimic
from ml.datasets.reflacx import iter_reflacx, load_reflacx

__all__ = [
    "DatasetError",
    "iter_egd_cxr",
    "iter_mimic",
    "iter_reflacx",
    "load_egd_cxr",
    "load_mimic",
    "load_reflacx",
]
