"""Where the embedded default case lives, found without importing the cohort renderer.

``ml.cohort.default_case`` (the cohort layer) renders the case once into the asset cache; the GUI
only looks for its folder, and asks the renderer to build it (on a worker thread) when it is missing.
"""

from __future__ import annotations

import importlib
from pathlib import Path

from ml import assets

CASE_FILES = ("image.dcm", "image.png")


def candidate_dirs() -> list[Path]:
    root = assets.cache_dir()
    return [root / "default_case", root / "cohort" / "default_case"]


def _has_image(folder: Path) -> bool:
    return any((folder / f).is_file() for f in CASE_FILES)


def find_default_case() -> Path | None:
    """The default case folder if it exists (cheap: a few stat calls)."""
    try:
        mod = importlib.import_module("ml.cohort.default_case")
        fn = getattr(mod, "default_case_dir", None)
        if fn is not None:
            folder = Path(fn())
            if _has_image(folder):
                return folder
    except ImportError:
        pass
    for folder in candidate_dirs():
        if _has_image(folder):
            return folder
    return None


def ensure_default_case() -> Path:
    """Find or build the default case (worker thread: may render for a few seconds)."""
    found = find_default_case()
    if found is not None:
        return found
    try:
        mod = importlib.import_module("ml.cohort.default_case")
    except ImportError as exc:
        raise FileNotFoundError(
            "the default case is not available (ml.cohort.default_case is missing)"
        ) from exc
    build = getattr(mod, "ensure_default_case", None) or getattr(mod, "default_case", None)
    if build is None:
        raise FileNotFoundError("ml.cohort.default_case has no builder")
    result = build()
    folder = Path(result) if isinstance(result, (str, Path)) else find_default_case()
    if folder is None or not Path(folder).exists():
        raise FileNotFoundError("the default case could not be built; run: python main.py assets fetch")
    return Path(folder)
