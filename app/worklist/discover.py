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
        ("ml.datasets.cohort", "load_cohort"),
        ("ml.datasets.reflacx", "load_reflacx"),
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


def _attach_case_extras(study: Study, folder: Path) -> None:
    """Read what a case folder may carry: ground-truth report, reader scanpaths, findings."""
    import json

    from ml.types import Finding, Report, Scanpath, ScanpathSource

    report = folder / "report.txt"
    if report.is_file():
        study.report = Report.parse(report.read_text())
    meta = folder / "case.json"
    if meta.is_file():
        try:
            data = json.loads(meta.read_text())
        except ValueError:
            data = {}
        size = tuple(data.get("image_size") or (0, 0))
        for sp in data.get("scanpaths", []):
            fixes = sp.get("fixations", sp) if isinstance(sp, dict) else sp
            arr = [(f["x"], f["y"], f.get("duration", f.get("end", 0) - f.get("start", 0))) for f in fixes]
            src = sp.get("source", "simulated") if isinstance(sp, dict) else "simulated"
            study.scanpaths.append(
                Scanpath.from_array(
                    arr, size, ScanpathSource(src), sp.get("reader", "") if isinstance(sp, dict) else ""
                )
            )  # type: ignore[arg-type]
        for f in data.get("findings", []):
            study.findings.append(
                Finding(
                    f["label"],
                    f["x0"],
                    f["y0"],
                    f["x1"],
                    f["y1"],
                    f.get("shape", "ellipse"),
                    int(f.get("certainty", 5)),
                )
            )
        study.labels = dict(data.get("labels", {}))


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
