"""The layer rules of docs/ARCHITECTURE.md, checked in a fresh interpreter.

- ``app`` (the GUI process) never loads torch, transformers, peft or torch_geometric.
- ``ml`` never loads Qt.
- The torch-free half of ``ml`` stays torch-free, so the GUI can use it.
"""

import json
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
HEAVY = ("torch", "transformers", "peft", "torch_geometric")
QT = ("PySide6", "pyqtgraph", "app")
TORCH_FREE = (
    "ml.types",
    "ml.contracts",
    "ml.assets",
    "ml.imaging",
    "ml.datasets",
    "ml.gaze",
    "ml.metrics",
    "ml.store",
    "ml.cohort",
    "ml.site",
)

_PROBE = """
import importlib, json, sys
watch = set(json.loads(sys.argv[1]))
blame = {}
for name in json.loads(sys.argv[2]):
    before = {m.split('.')[0] for m in sys.modules} & watch
    importlib.import_module(name)
    new = ({m.split('.')[0] for m in sys.modules} & watch) - before
    if new:
        blame[name] = sorted(new)
print(json.dumps(blame))
"""


def _modules(package: str) -> list[str]:
    single = ROOT / (package.replace(".", "/") + ".py")
    if single.exists():
        return [package]
    names = []
    for path in sorted((ROOT / package.replace(".", "/")).rglob("*.py")):
        parts = list(path.relative_to(ROOT).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        names.append(".".join(parts))
    return names


def _blame(modules: list[str], watch: tuple[str, ...]) -> dict[str, list[str]]:
    """Import the modules in order in one fresh interpreter; module → forbidden packages it loaded first."""
    out = subprocess.run(
        [sys.executable, "-c", _PROBE, json.dumps(watch), json.dumps(modules)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env={"QT_QPA_PLATFORM": "offscreen", "PATH": "/usr/bin:/bin"},
    )
    assert out.returncode == 0, f"import failed:\n{out.stderr[-3000:]}"
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_app_never_loads_torch():
    modules = _modules("app")
    assert len(modules) > 1, "the GUI package has no modules"
    assert _blame(modules, HEAVY) == {}


def test_app_never_imports_the_torch_package_of_ml():
    """The GUI uses the contract (``ml.contracts``), never ``ml.models``, even for torch-free names."""
    offenders = []
    for path in sorted((ROOT / "app").rglob("*.py")):
        for number, line in enumerate(path.read_text().splitlines(), 1):
            if re.search(r"\bml\.models\b|from ml import models", line):
                offenders.append(f"{path.relative_to(ROOT)}:{number}")
    assert offenders == []


def test_ml_never_loads_qt():
    assert _blame(_modules("ml"), QT) == {}


def test_torch_free_half_of_ml_stays_torch_free():
    modules = [m for pkg in TORCH_FREE for m in _modules(pkg)]
    assert "ml.types" in modules
    assert _blame(modules, HEAVY) == {}


def test_the_probe_catches_a_violation():
    blame = _blame(["ml.types", "ml.models.llm"], HEAVY)
    assert "ml.types" not in blame and "torch" in blame["ml.models.llm"]


def test_test_file_names_are_unique():
    """tests/ has no __init__.py files, so two test modules with one basename break collection."""
    names = [p.name for p in (ROOT / "tests").rglob("test_*.py")]
    assert sorted({n for n in names if names.count(n) > 1}) == []
