"""REFLACX (Bigolin Lanfredi et al., 2022) — and the project's synthetic cohort, which mirrors it — as ``Study`` records.

Layout (PhysioNet ``reflacx-xray-localization/1.0.0``)::

    main_data/metadata_phase_{1,2,3}.csv      one row per reading: id, split, eye_tracking_data_discarded,
                                              image, dicom_id, subject_id, image_size_x, image_size_y,
                                              then one column per label (certainty 0–5, or True/False)
    main_data/<id>/fixations.csv              fixations in image pixels, seconds (read by ml.gaze.io)
    main_data/<id>/anomaly_location_ellipses.csv   xmin,ymin,xmax,ymax,certainty + one boolean per label
    main_data/<id>/timestamps_transcription.csv    word,timestamp_start_word,timestamp_end_word
    main_data/<id>/transcription.txt          the dictated report
    main_data/<id>/chest_bounding_box.csv     xmin,ymin,xmax,ymax
    gaze_data/<id>/gaze.csv                   raw samples (path kept; read on demand with ml.gaze.io.read_gaze)

One ``Study`` per *reading* (a radiologist reading an image): ``metadata["dicom_id"]`` groups the
readings of one image. The images are MIMIC-CXR DICOMs (credentialed); pass ``images_root`` (the
MIMIC-CXR folder holding ``files/``) to resolve them. Labels: each REFLACX label maps to at most
one CheXpert observation (:data:`REFLACX_TO_CHEXPERT`); where the metadata already has CheXpert
columns (the synthetic cohort writes them) those win.
"""

from __future__ import annotations

import csv
import os
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from ml.datasets._common import (
    DatasetError,
    chexpert_name,
    chexpert_value,
    image_size,
    normalise_split,
    read_csv_rows,
    to_bool,
    to_float,
)
from ml.types import CHEXPERT_OBSERVATIONS, Finding, Report, Scanpath, ScanpathSource, Study

#: Metadata columns that are not labels.
META_COLUMNS = frozenset(
    {
        "id",
        "split",
        "eye_tracking_data_discarded",
        "image",
        "dicom_id",
        "subject_id",
        "study_id",
        "image_size_x",
        "image_size_y",
        "reader",
        "reader_id",
        "source",
        "case_id",
        "view_position",
        "image_png",
    }
)
ELLIPSE_COORDS = ("xmin", "ymin", "xmax", "ymax")

#: REFLACX label (phase 1 and phases 2–3 vocabularies) → the CheXpert observation it asserts.
#: Labels with no CheXpert counterpart (emphysema, hiatal hernia, quality issue, ...) are kept
#: in ``metadata["reflacx_labels"]`` only. "Pleural abnormality" (phases 2–3 merged effusion and
#: thickening) maps to Pleural Effusion, by far its commonest meaning.
REFLACX_TO_CHEXPERT: dict[str, str] = {
    "Atelectasis": "Atelectasis",
    "Consolidation": "Consolidation",
    "Enlarged cardiac silhouette": "Cardiomegaly",
    "Pleural effusion": "Pleural Effusion",
    "Pleural abnormality": "Pleural Effusion",
    "Pleural thickening": "Pleural Other",
    "Pneumothorax": "Pneumothorax",
    "Pulmonary edema": "Edema",
    "Fracture": "Fracture",
    "Acute fracture": "Fracture",
    "Mass": "Lung Lesion",
    "Nodule": "Lung Lesion",
    "Lung nodule or mass": "Lung Lesion",
    "Groundglass opacity": "Lung Opacity",
    "Interstitial lung disease": "Lung Opacity",
    "Fibrosis": "Lung Opacity",
    "Wide mediastinum": "Enlarged Cardiomediastinum",
    "Abnormal mediastinal contour": "Enlarged Cardiomediastinum",
    "Support devices": "Support Devices",
}
_CHEXPERT_ONLY = frozenset(CHEXPERT_OBSERVATIONS) - set(REFLACX_TO_CHEXPERT)
#: Every label column REFLACX's metadata files use (phase 1, and phases 2–3).
REFLACX_LABELS = frozenset(REFLACX_TO_CHEXPERT) | {
    "Airway wall thickening",
    "Emphysema",
    "Enlarged hilum",
    "Hiatal hernia",
    "High lung volume / emphysema",
    "Other",
    "Quality issue",
}
#: Labels that are not abnormalities of the patient (they do not rule out "No Finding").
NOT_ABNORMAL = frozenset({"Support devices", "Quality issue", "Support Devices"})


# ----------------------------------------------------------------------------------- small readers


def read_ellipses(path: str | os.PathLike[str]) -> list[Finding]:
    """``anomaly_location_ellipses.csv`` → one :class:`Finding` per (ellipse, true label).

    The label is the CheXpert observation when the REFLACX label has one, else the REFLACX name.
    Coordinates are image pixels (the ellipse's bounding box), certainty REFLACX's 1–5.
    """
    rows = read_csv_rows(path)
    findings: list[Finding] = []
    for i, row in enumerate(rows):
        coords = [to_float(row.get(k)) for k in ELLIPSE_COORDS]
        if any(c is None for c in coords):
            raise DatasetError(f"{Path(path).name}: row {i + 2} lacks xmin/ymin/xmax/ymax")
        x0, y0, x1, y1 = (float(c) for c in coords)  # type: ignore[arg-type]
        certainty = int(to_float(row.get("certainty")) or 5)
        labels = [k for k, v in row.items() if k not in (*ELLIPSE_COORDS, "certainty") and to_bool(v)]
        for label in labels or ["Other"]:
            findings.append(
                Finding(
                    label=REFLACX_TO_CHEXPERT.get(label) or chexpert_name(label) or label,
                    x0=min(x0, x1),
                    y0=min(y0, y1),
                    x1=max(x0, x1),
                    y1=max(y0, y1),
                    shape="ellipse",
                    certainty=max(1, min(5, certainty)),
                )
            )
    return findings


def write_ellipses(
    path: str | os.PathLike[str], findings: Sequence[Finding], label_columns: Sequence[str] | None = None
) -> Path:
    """Write findings as REFLACX's ``anomaly_location_ellipses.csv`` (one row per finding).

    ``label_columns``: the boolean label columns to write (default: the labels used, sorted).
    Boxes, polygons and points are written by their bounding box, as REFLACX has only ellipses.
    """
    columns = list(label_columns) if label_columns else sorted({f.label for f in findings})
    missing = {f.label for f in findings} - set(columns)
    if missing:
        raise DatasetError(f"label(s) {', '.join(sorted(missing))} not among label_columns")
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    with out.open("w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow([*ELLIPSE_COORDS, "certainty", *columns])
        for f in findings:
            flags = ["True" if c == f.label else "False" for c in columns]
            w.writerow([_num(f.x0), _num(f.y0), _num(f.x1), _num(f.y1), int(f.certainty), *flags])
    return out


def read_word_timestamps(path: str | os.PathLike[str]) -> list[tuple[str, float, float]]:
    """``timestamps_transcription.csv`` → (word, start s, end s) in reading time."""
    out = []
    for row in read_csv_rows(path):
        start, end = to_float(row.get("timestamp_start_word")), to_float(row.get("timestamp_end_word"))
        if start is None or end is None:
            continue
        out.append((row.get("word", ""), start, end))
    return out


def read_chest_box(path: str | os.PathLike[str]) -> tuple[float, float, float, float] | None:
    rows = read_csv_rows(path)
    if not rows:
        return None
    coords = [to_float(rows[0].get(k)) for k in ELLIPSE_COORDS]
    return None if any(c is None for c in coords) else tuple(float(c) for c in coords)  # type: ignore[return-value]


def split_metadata_row(
    row: Mapping[str, str],
) -> tuple[dict[str, int | None], dict[str, float | bool], dict[str, str]]:
    """A metadata row → (CheXpert labels, REFLACX label values, other columns).

    CheXpert columns win when the row has them: ``<Observation>``, ``<observation>_chx`` or
    ``report_<Observation>`` (the cohort's per-reading labels). Four REFLACX labels share CheXpert's
    spelling, so a plain CheXpert name only counts when some CheXpert-only name is present too.
    Otherwise the REFLACX labels are mapped with :func:`reflacx_labels_to_chexpert`.
    """
    plain_mode = any(k in _CHEXPERT_ONLY for k in row)
    direct: dict[str, int | None] = {}
    raw: dict[str, float | bool | None] = {}
    extra: dict[str, str] = {}
    for key, value in row.items():
        if key in META_COLUMNS:
            continue
        name = None
        if key.startswith("report_"):
            name = _exact_chexpert(key[len("report_") :])
        elif key.lower().endswith("_chx"):
            name = chexpert_name(key)
        elif plain_mode:
            name = _exact_chexpert(key)
        if name is not None:
            direct[name] = chexpert_value(value)
        elif key in REFLACX_LABELS:
            text = str(value).strip().lower()
            raw[key] = (text == "true") if text in ("true", "false") else to_float(value)
        else:
            extra[key] = value
    if direct:
        labels = {name: direct.get(name) for name in CHEXPERT_OBSERVATIONS}
    elif raw:
        labels = reflacx_labels_to_chexpert(raw, vocabulary=raw.keys())
    else:
        labels = {}
    return labels, {k: v for k, v in raw.items() if v is not None}, extra


def _exact_chexpert(name: str) -> str | None:
    return name if name in CHEXPERT_OBSERVATIONS else None


def reflacx_labels_to_chexpert(
    labels: Mapping[str, float | bool | None], vocabulary: Iterable[str] | None = None
) -> dict[str, int | None]:
    """REFLACX label certainties (0 absent, 1 unlikely … 5 consistent with; or booleans) → CheXpert.

    4–5 → 1 (positive), 2–3 → -1 (uncertain), 1 → 0 ("unlikely"), 0 → 0 when the label was in the
    reading's vocabulary. Observations no REFLACX label covers stay None (not mentioned); No Finding
    is 1 when no abnormality (support devices and quality issues aside) was marked at all.
    """
    out: dict[str, int | None] = dict.fromkeys(CHEXPERT_OBSERVATIONS)
    vocab = set(vocabulary) if vocabulary is not None else set(labels)
    any_abnormal = False
    for name in vocab:
        certainty = labels.get(name)
        value = _certainty_to_chexpert(certainty)
        if value != 0 and value is not None and name not in NOT_ABNORMAL:
            any_abnormal = True
        target = REFLACX_TO_CHEXPERT.get(name)
        if target is None or value is None:
            continue
        current = out[target]
        out[target] = value if current is None else _stronger(current, value)
    covered = any(name in REFLACX_TO_CHEXPERT for name in vocab)
    if covered:
        out["No Finding"] = 0 if any_abnormal else 1
    return out


def _certainty_to_chexpert(value: float | bool | None) -> int | None:
    if value is None:
        return None
    v = float(value)
    if v >= 4 or (isinstance(value, bool) and value):
        return 1
    if v >= 2:
        return -1
    return 0


def _stronger(a: int, b: int) -> int:
    rank = {1: 2, -1: 1, 0: 0}
    return a if rank[a] >= rank[b] else b


def _num(v: float) -> str:
    return str(int(v)) if float(v).is_integer() else f"{v:.3f}"


# ----------------------------------------------------------------------------------- the dataset


def is_reflacx_dir(path: str | os.PathLike[str]) -> bool:
    """Cheap check (no parsing): does ``path`` look like a REFLACX-shaped folder?"""
    try:
        main, _ = find_layout(path)
    except DatasetError:
        return False
    return any(main.glob("metadata_phase_*.csv")) or any(main.glob("*/fixations.csv"))


def find_layout(root: str | os.PathLike[str]) -> tuple[Path, Path]:
    """(main_data, gaze_data) folders for a REFLACX-shaped root (the root or its main_data)."""
    r = Path(root)
    if not r.is_dir():
        raise DatasetError(f"not a folder: {r}")
    if (r / "main_data").is_dir():
        return r / "main_data", r / "gaze_data"
    if any(r.glob("metadata_phase_*.csv")) or r.name == "main_data":
        return r, r.parent / "gaze_data"
    raise DatasetError(f"{r} is not a REFLACX folder (no main_data/ or metadata_phase_*.csv)")


def metadata_rows(main: Path, phases: Iterable[int] | None = None) -> list[tuple[int, dict[str, str]]]:
    """(phase, row) for every reading listed in ``metadata_phase_*.csv``."""
    out = []
    wanted = set(phases) if phases is not None else None
    for path in sorted(main.glob("metadata_phase_*.csv")):
        try:
            phase = int(path.stem.rsplit("_", 1)[1])
        except ValueError:
            phase = 0
        if wanted is not None and phase not in wanted:
            continue
        out.extend((phase, row) for row in read_csv_rows(path))
    return out


def iter_reflacx(
    root: str | os.PathLike[str],
    *,
    images_root: str | os.PathLike[str] | None = None,
    phases: Iterable[int] | None = None,
    include_discarded: bool = False,
    source: ScanpathSource | None = None,
    dataset: str | None = None,
) -> Iterator[Study]:
    """Yield one :class:`Study` per reading, in metadata order (or folder order without metadata).

    ``include_discarded``: also yield readings REFLACX flags ``eye_tracking_data_discarded``
    (their scanpaths are unreliable; ``metadata["eye_tracking_data_discarded"]`` says so).
    ``source``: the scanpaths' :class:`ScanpathSource` (default RECORDED, or SIMULATED when the
    metadata says ``source=simulated`` as the synthetic cohort does).
    """
    main, gaze = find_layout(root)
    rows = metadata_rows(main, phases)
    if not rows:  # no metadata: every reading folder with a fixations file
        rows = [(0, {"id": d.name}) for d in sorted(main.iterdir()) if (d / "fixations.csv").is_file()]
    if not rows:
        raise DatasetError(f"{main}: no readings (no metadata_phase_*.csv and no <id>/fixations.csv)")
    for phase, row in rows:
        if to_bool(row.get("eye_tracking_data_discarded", "")) and not include_discarded:
            continue
        yield read_reading(
            main / row["id"],
            row=row,
            phase=phase,
            gaze_dir=gaze / row["id"],
            images_root=images_root,
            root=Path(root),
            source=source,
            dataset=dataset,
        )


def load_reflacx(
    root: str | os.PathLike[str],
    *,
    images_root: str | os.PathLike[str] | None = None,
    phases: Iterable[int] | None = None,
    include_discarded: bool = False,
    source: ScanpathSource | None = None,
    progress: bool = False,
) -> list[Study]:
    """All readings of a REFLACX-shaped folder (REFLACX itself or a synthetic cohort) as a list."""
    studies = iter_reflacx(
        root, images_root=images_root, phases=phases, include_discarded=include_discarded, source=source
    )
    if progress:
        from tqdm import tqdm

        studies = tqdm(studies, desc="REFLACX readings", unit="reading")
    return list(studies)


def load_studies(root: str | os.PathLike[str]) -> list[Study]:
    """``load_reflacx`` under the name the training code looks for (any REFLACX-shaped folder)."""
    return load_reflacx(root)


def read_reading(
    folder: str | os.PathLike[str],
    *,
    row: Mapping[str, str] | None = None,
    phase: int = 0,
    gaze_dir: str | os.PathLike[str] | None = None,
    images_root: str | os.PathLike[str] | None = None,
    root: str | os.PathLike[str] | None = None,
    source: ScanpathSource | None = None,
    dataset: str | None = None,
) -> Study:
    """One reading folder (``main_data/<id>``) plus its metadata row → :class:`Study`."""
    from ml.gaze.io import GazeFileError, read_scanpath

    folder = Path(folder)
    row = dict(row or {"id": folder.name})
    reading_id = row.get("id") or folder.name
    if not folder.is_dir():
        raise DatasetError(f"reading {reading_id}: folder {folder} is missing")
    image_path = resolve_image(row.get("image", ""), images_root, root, row.get("dicom_id", ""))
    size = _size_from_row(row) or (image_size(image_path) if image_path else None)

    simulated = row.get("source", "").lower() == "simulated" or (
        root is not None and (Path(root) / "cases.csv").is_file()  # the synthetic cohort's own table
    )
    scanpaths: list[Scanpath] = []
    fixations = folder / "fixations.csv"
    if fixations.is_file():
        if size is None:
            raise DatasetError(f"reading {reading_id}: image size unknown (no image_size_x/y and no image)")
        src = source or (ScanpathSource.SIMULATED if simulated else ScanpathSource.RECORDED)
        reader = row.get("reader") or row.get("reader_id") or ""
        try:
            scanpaths.append(read_scanpath(fixations, size, source=src, reader=reader))
        except GazeFileError as e:
            raise DatasetError(f"reading {reading_id}: {e}") from e

    findings = (
        read_ellipses(folder / "anomaly_location_ellipses.csv")
        if (folder / "anomaly_location_ellipses.csv").is_file()
        else []
    )
    report = None
    transcription = folder / "transcription.txt"
    if transcription.is_file():
        report = Report.parse(transcription.read_text(encoding="utf-8", errors="replace"))

    labels, raw_labels, extra = split_metadata_row(row)

    metadata: dict[str, Any] = {
        "reading_id": reading_id,
        "dicom_id": row.get("dicom_id", ""),
        "subject_id": row.get("subject_id", ""),
        "phase": phase,
        "image_size": size,
        "eye_tracking_data_discarded": to_bool(row.get("eye_tracking_data_discarded", "")),
        "reflacx_labels": raw_labels,
        "folder": str(folder),
        **extra,  # anything else the metadata row carries (the cohort: reader_style, missed, ...)
    }
    if row.get("reader") or row.get("reader_id"):
        metadata["reader"] = row.get("reader") or row.get("reader_id")
    gaze_path = Path(gaze_dir) / "gaze.csv" if gaze_dir is not None else None
    if gaze_path is not None and gaze_path.is_file():
        metadata["gaze_path"] = str(gaze_path)
    words = folder / "timestamps_transcription.csv"
    if words.is_file():
        metadata["word_timestamps"] = read_word_timestamps(words)
    chest = folder / "chest_bounding_box.csv"
    if chest.is_file():
        metadata["chest_box"] = read_chest_box(chest)
    if row.get("image_png"):
        metadata["image_png"] = resolve_image(row["image_png"], None, root, "")
    elif image_path.lower().endswith(".dcm") and Path(image_path).with_suffix(".png").is_file():
        metadata["image_png"] = str(Path(image_path).with_suffix(".png"))  # the cohort writes both
    if row.get("view_position"):
        metadata["view_position"] = row["view_position"]

    return Study(
        id=reading_id,
        image_path=image_path,
        report=report,
        scanpaths=scanpaths,
        findings=findings,
        labels=labels,
        split=normalise_split(row.get("split", "")),
        dataset=dataset or ("cohort" if simulated else "reflacx"),
        metadata=metadata,
    )


def resolve_image(
    image: str,
    images_root: str | os.PathLike[str] | None,
    root: str | os.PathLike[str] | None,
    dicom_id: str = "",
) -> str:
    """Where the reading's image is on this machine, or the metadata's path unchanged.

    REFLACX stores paths as on its authors' machine (``.../mimic-cxr/2.0.0/files/p1x/...dcm``):
    the part from ``files/`` on is joined to ``images_root``. Relative paths (the cohort's) are
    taken relative to the dataset root.
    """
    if not image and not dicom_id:
        return ""
    candidates: list[Path] = []
    p = Path(image) if image else None
    if p is not None and images_root is not None:
        parts = p.parts
        if "files" in parts:
            last = len(parts) - 1 - parts[::-1].index("files")  # MIMIC's own files/, not physionet.org/files/
            tail = Path(*parts[last:])
            candidates += [Path(images_root) / tail, Path(images_root) / tail.relative_to("files")]
        candidates.append(Path(images_root) / p.name)
    if images_root is not None and dicom_id and not image:
        candidates.append(Path(images_root) / f"{dicom_id}.dcm")
    if p is not None and not p.is_absolute() and root is not None:
        base = Path(root)
        candidates += [base / p, base.parent / p]
    if p is not None:
        candidates.append(p)
    for c in candidates:
        if c.is_file():
            return str(c)
    for c in candidates:  # MIMIC-CXR-JPG keeps the same tree with .jpg files
        if c.suffix.lower() == ".dcm" and c.with_suffix(".jpg").is_file():
            return str(c.with_suffix(".jpg"))
    return image


def _size_from_row(row: Mapping[str, str]) -> tuple[int, int] | None:
    w, h = to_float(row.get("image_size_x")), to_float(row.get("image_size_y"))
    if w is None or h is None or w <= 0 or h <= 0:
        return None
    return int(w), int(h)
