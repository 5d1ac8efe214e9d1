"""Turn what the user opened (files, folders, a cohort or REFLACX directory) into a list of studies.

Runs on a worker thread (it touches the disk). Dataset folders are read with the ``ml.datasets``
loaders when they recognise them (so the worklist sees ground-truth scanpaths and findings);
anything else is a plain scan for radiograph files.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterable
from pathlib import Path

from ml.types import Study

IMAGE_SUFFIXES = (".dcm", ".dicom", ".png", ".jpg", ".jpeg", ".tif", ".tiff")
MAX_FILES = 5000


def _dataset_loaders() -> list[tuple[str, str]]:
    """(module, function) pairs tried on a folder, most specific first; each returns list[Study] or raises."""
    return [
        ("ml.datasets.reflacx", "load_reflacx"),  # REFLACX and the synthetic cohort (same layout)
        ("ml.datasets.egd_cxr", "load_egd_cxr"),
    ]


def _try_dataset(folder: Path) -> list[Study] | None:
    for mod_name, fn_name in _dataset_loaders():
        try:
            mod = importlib.import_module(mod_name)
        except ImportError:
            continue
        fn = getattr(mod, fn_name, None)
        detect = getattr(mod, "is_" + fn_name.removeprefix("load_") + "_dir", None)
        if fn is None or (detect is not None and not detect(folder)):
            continue
        try:
            studies = list(fn(folder))
        except Exception:  # noqa: BLE001 - not this dataset: fall through to the next loader
            continue
        if studies:
            for s in studies:
                s.dataset = s.dataset or mod_name.rsplit(".", 1)[-1]
            return studies
    return None


def _case_folder(folder: Path) -> Study | None:
    """A single-case folder (the default case): image.dcm / image.png plus optional report and gaze."""
    for name in ("image.dcm", "image.png"):
        img = folder / name
        if img.is_file():
            study = Study(id=folder.name, image_path=str(img), dataset="case")
            _attach_case_extras(study, folder)
            return study
    return None


def _image_size(path: Path) -> tuple[int, int]:
    """(width, height) from the file header, without decoding pixels."""
    if path.suffix.lower() == ".png":
        from PIL import Image as PILImage

        with PILImage.open(path) as im:
            return im.size
    import pydicom

    ds = pydicom.dcmread(path, stop_before_pixels=True)
    return int(ds.Columns), int(ds.Rows)


def _attach_case_extras(study: Study, folder: Path) -> None:
    """What a case folder may carry: the ground-truth report, REFLACX-style ellipses, a reader's fixations."""
    from ml.types import Report, ScanpathSource

    report = folder / "report.txt"
    if report.is_file():
        study.report = Report.parse(report.read_text())
    ellipses = folder / "anomaly_location_ellipses.csv"
    if ellipses.is_file():
        from ml.datasets.reflacx import read_ellipses

        study.findings = read_ellipses(ellipses)
    fixations = folder / "fixations.csv"
    if fixations.is_file():
        from ml.gaze.io import read_scanpath

        size = _image_size(Path(study.image_path))
        # the built-in case's reader is simulated (ml.cohort.readers); a user's case folder may say otherwise
        source = ScanpathSource.SIMULATED if study.dataset == "case" else ScanpathSource.RECORDED
        study.scanpaths.append(read_scanpath(fixations, size, source, reader="reader 1"))


def _scan(folder: Path) -> Iterable[Path]:
    n = 0
    for p in sorted(folder.rglob("*")):
        if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES and not p.name.startswith("."):
            yield p
            n += 1
            if n >= MAX_FILES:
                return


def discover(paths: Iterable[str | Path]) -> list[Study]:
    """Studies for the given files and folders, in the order given (duplicates dropped)."""
    out: list[Study] = []
    seen: set[str] = set()

    def add(s: Study) -> None:
        key = s.image_path or s.id
        if key not in seen:
            seen.add(key)
            out.append(s)

    for raw in paths:
        p = Path(raw).expanduser()
        if p.is_file():
            case = _case_folder(p.parent) if p.name in ("image.dcm", "image.png") else None
            add(case or Study(id=p.stem, image_path=str(p), dataset="file"))
        elif p.is_dir():
            case = _case_folder(p)
            if case is not None:
                add(case)
                continue
            studies = _try_dataset(p)
            if studies:
                for s in studies:
                    add(s)
                continue
            for f in _scan(p):
                case = _case_folder(f.parent) if f.name in ("image.dcm", "image.png") else None
                add(
                    case
                    or Study(id=str(f.relative_to(p).with_suffix("")), image_path=str(f), dataset="folder")
                )
        else:
            raise FileNotFoundError(f"not found: {p}")
    return out
