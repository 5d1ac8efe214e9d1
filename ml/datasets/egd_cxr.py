"""EGD-CXR (Karargyris et al., 2021: "Eye Gaze Data for Chest X-rays") as ``Study`` records.

Layout (PhysioNet ``egd-cxr/1.0.0``)::

    master_sheet.csv        one row per image: dicom_id, path (MIMIC-CXR relative), patient_id, study_id,
                            image_{top,bottom,left,right}_pad (how the image sat on the 1920×1080 screen),
                            Normal / CHF / pneumonia, and CheXpert labels as ``<observation>_chx``
    fixations.csv           Gazepoint fixations of every session: DICOM_ID, Time (in secs), FPOGX/FPOGY
                            (screen, 0–1), FPOGS/FPOGD (start/duration, s), FPOGID, FPOGV,
                            X_ORIGINAL/Y_ORIGINAL (image pixels; -1 when off the image)
    eye_gaze.csv            the raw samples, same columns (path kept in ``metadata["gaze_path"]``)
    bounding_boxes.csv      anatomical boxes: dicom_id, bbox_name, x1, x2, y1, y2
    audio_segmentation_transcripts/<dicom_id>/transcript.json   {"full_text", "time_stamped_text": [...]}

Fixations are parsed by :func:`ml.gaze.io.read_fixations` (one parser per format). Gazepoint times
run from the session start; each scanpath is shifted so that 0 is when its image appeared
(FPOGS − Time of the image's first row). Fixations off the image are dropped (counted in
``metadata["off_image_fixations"]``). Images are MIMIC-CXR DICOMs: pass ``images_root`` so that
scanpaths know their image size; without it the fixations stay in ``metadata["fixations"]``.
"""

from __future__ import annotations

import csv
import json
import os
import tempfile
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from ml.datasets._common import (
    DatasetError,
    chexpert_name,
    chexpert_value,
    image_size,
    normalise_split,
    read_csv_rows,
    to_float,
)
from ml.types import CHEXPERT_OBSERVATIONS, Fixation, Report, Scanpath, ScanpathSource, Study

SCREEN_SIZE = (1920, 1080)  # the EGD-CXR experiment's monitor, in pixels
_PAD_NAMES = ("top", "bottom", "left", "right")
_TIME_COLUMNS = ("Time (in secs)", "TIME (in secs)", "TIME")


def read_transcript(path: str | os.PathLike[str]) -> tuple[Report, list[tuple[str, float, float]]]:
    """``transcript.json`` → (report, [(phrase, begin s, end s), ...])."""
    p = Path(path)
    try:
        data = json.loads(p.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as e:
        raise DatasetError(f"{p}: not a readable transcript ({e})") from e
    phrases = []
    for item in data.get("time_stamped_text") or []:
        begin, end = to_float(item.get("begin_time")), to_float(item.get("end_time"))
        if begin is None or end is None:
            continue
        phrases.append((str(item.get("phrase", "")).strip(), begin, end))
    text = str(data.get("full_text") or " ".join(p for p, _, _ in phrases))
    return Report.parse(text), phrases


def read_anatomy_boxes(
    path: str | os.PathLike[str],
) -> dict[str, dict[str, tuple[float, float, float, float]]]:
    """``bounding_boxes.csv`` → {dicom_id: {bbox_name: (x0, y0, x1, y1)}} in image pixels."""
    out: dict[str, dict[str, tuple[float, float, float, float]]] = {}
    for row in read_csv_rows(path):
        coords = [to_float(row.get(k)) for k in ("x1", "y1", "x2", "y2")]
        if any(c is None for c in coords):
            continue
        x1, y1, x2, y2 = (float(c) for c in coords)  # type: ignore[arg-type]
        out.setdefault(row.get("dicom_id", ""), {})[row.get("bbox_name", "")] = (
            min(x1, x2),
            min(y1, y2),
            max(x1, x2),
            max(y1, y2),
        )
    return out


def split_fixations_by_image(
    path: str | os.PathLike[str], out_dir: Path
) -> dict[str, tuple[Path, float | None]]:
    """Write each image's rows of a multi-image Gazepoint file to ``out_dir/<dicom_id>.csv``.

    Returns {dicom_id: (file, session time when the image appeared)}. Only rows are moved here:
    their meaning is parsed by ml.gaze.io. One pass instead of one full read per image.
    """
    p = Path(path)
    files: dict[str, tuple[Path, float | None]] = {}
    handles: dict[str, Any] = {}
    try:
        with p.open(newline="", encoding="utf-8-sig") as fh:
            reader = csv.reader(fh)
            try:
                header = [h.strip() for h in next(reader)]
            except StopIteration:
                raise DatasetError(f"{p.name}: empty file") from None
            if "DICOM_ID" not in header:
                raise DatasetError(f"{p.name}: no DICOM_ID column (not an EGD-CXR gaze file)")
            j = header.index("DICOM_ID")
            t_col = next((header.index(c) for c in _TIME_COLUMNS if c in header), None)
            s_col = header.index("FPOGS") if "FPOGS" in header else None
            for row in reader:
                if len(row) <= j:
                    continue
                dicom_id = row[j].strip()
                if dicom_id not in handles:
                    target = out_dir / f"{len(handles):06d}.csv"
                    handle = target.open("w", newline="", encoding="utf-8")
                    writer = csv.writer(handle)
                    writer.writerow(header)
                    handles[dicom_id] = (handle, writer)
                    offset = None
                    if t_col is not None and s_col is not None:
                        t, s = to_float(row[t_col]), to_float(row[s_col])
                        offset = None if t is None or s is None else s - t
                    files[dicom_id] = (target, offset)
                handles[dicom_id][1].writerow(row)
    finally:
        for handle, _ in handles.values():
            handle.close()
    return files


def is_egd_cxr_dir(path: str | os.PathLike[str]) -> bool:
    """Cheap check: an EGD-CXR folder has ``master_sheet.csv`` next to its gaze files or transcripts."""
    p = Path(path)
    return (p / "master_sheet.csv").is_file() and (
        (p / "fixations.csv").is_file()
        or (p / "eye_gaze.csv").is_file()
        or (p / "audio_segmentation_transcripts").is_dir()
    )


def iter_egd_cxr(
    root: str | os.PathLike[str],
    *,
    images_root: str | os.PathLike[str] | None = None,
    fixations: str = "fixations.csv",
) -> Iterator[Study]:
    """Yield one :class:`Study` per image of ``master_sheet.csv`` (calibration images are skipped)."""
    from ml.gaze.io import GazeFileError, read_fixations

    root = Path(root)
    sheet = root / "master_sheet.csv"
    if not sheet.is_file():
        raise DatasetError(f"{root} is not an EGD-CXR folder (no master_sheet.csv)")
    rows = read_csv_rows(sheet)
    boxes = read_anatomy_boxes(root / "bounding_boxes.csv") if (root / "bounding_boxes.csv").is_file() else {}
    gaze_path = root / "eye_gaze.csv"
    with tempfile.TemporaryDirectory(prefix="egd_") as tmp:
        per_image = (
            split_fixations_by_image(root / fixations, Path(tmp)) if (root / fixations).is_file() else {}
        )
        for row in rows:
            dicom_id = row.get("dicom_id", "")
            if not dicom_id:
                continue
            study = _study_from_row(row, root, images_root)
            if dicom_id in per_image:
                path, offset = per_image[dicom_id]
                try:
                    fixes = read_fixations(path)
                except GazeFileError as e:
                    raise DatasetError(f"{fixations}, DICOM_ID {dicom_id}: {e}") from e
                _attach_fixations(study, fixes, offset)
            if dicom_id in boxes:
                study.metadata["anatomy_boxes"] = boxes[dicom_id]
            if gaze_path.is_file():
                study.metadata["gaze_path"] = str(gaze_path)
            yield study


def load_egd_cxr(
    root: str | os.PathLike[str],
    *,
    images_root: str | os.PathLike[str] | None = None,
    progress: bool = False,
) -> list[Study]:
    """All images of an EGD-CXR folder as studies (see the module docstring for the mapping)."""
    studies = iter_egd_cxr(root, images_root=images_root)
    if progress:
        from tqdm import tqdm

        studies = tqdm(studies, desc="EGD-CXR images", unit="image")
    return list(studies)


def _study_from_row(row: Mapping[str, str], root: Path, images_root: str | os.PathLike[str] | None) -> Study:
    dicom_id = row["dicom_id"]
    rel = row.get("path", "")
    image_path = rel
    if images_root is not None and rel:
        for candidate in (Path(images_root) / rel, Path(images_root) / Path(rel).name):
            jpg = candidate.with_suffix(".jpg")  # MIMIC-CXR-JPG: same tree, JPEG files
            if candidate.is_file() or jpg.is_file():
                image_path = str(candidate if candidate.is_file() else jpg)
                break
    labels: dict[str, int | None] = {}
    egd_labels: dict[str, float] = {}
    for key, value in row.items():
        name = chexpert_name(key) if key.lower().endswith("_chx") else None
        if name is not None:
            labels[name] = chexpert_value(value)
        elif key in ("Normal", "CHF", "pneumonia"):
            number = to_float(value)
            if number is not None:
                egd_labels[key] = number
    if labels:
        labels = {name: labels.get(name) for name in CHEXPERT_OBSERVATIONS}
    elif egd_labels:  # only the study's three classes: say what they imply, nothing more
        labels = dict.fromkeys(CHEXPERT_OBSERVATIONS)
        if "Normal" in egd_labels:
            labels["No Finding"] = 1 if egd_labels["Normal"] >= 0.5 else 0
        if "pneumonia" in egd_labels:
            labels["Pneumonia"] = 1 if egd_labels["pneumonia"] >= 0.5 else 0
    pads = {}
    for side in _PAD_NAMES:
        value = to_float(row.get(f"image_{side}_pad", row.get(f"image_{side}")))
        if value is not None:
            pads[side] = value
    report = None
    phrases: list[tuple[str, float, float]] = []
    transcript = root / "audio_segmentation_transcripts" / dicom_id / "transcript.json"
    if transcript.is_file():
        report, phrases = read_transcript(transcript)
    metadata: dict[str, Any] = {
        "dicom_id": dicom_id,
        "patient_id": row.get("patient_id", ""),
        "study_id": row.get("study_id", ""),
        "egd_labels": egd_labels,
        "screen_size": SCREEN_SIZE,
        "indication": row.get("cxr_exam_indication", ""),
    }
    if pads:
        metadata["padding"] = pads  # screen pixels around the displayed image (top, bottom, left, right)
    if phrases:
        metadata["phrase_timestamps"] = phrases
    size = image_size(image_path) if image_path and Path(image_path).is_file() else None
    if size is not None:
        metadata["image_size"] = size
    return Study(
        id=dicom_id,
        image_path=image_path,
        report=report,
        labels=labels,
        split=normalise_split(row.get("split", "")),
        dataset="egd-cxr",
        metadata=metadata,
    )


def _attach_fixations(study: Study, fixes: list[Fixation], offset: float | None) -> None:
    if offset is None:
        offset = min((f.start for f in fixes), default=0.0)
    on_image = [
        Fixation(f.x, f.y, f.start - offset, f.end - offset, f.pupil) for f in fixes if f.x >= 0 and f.y >= 0
    ]
    size = study.metadata.get("image_size")
    if size is not None:
        w, h = size
        on_image = [f for f in on_image if f.x < w and f.y < h]
    study.metadata["off_image_fixations"] = len(fixes) - len(on_image)
    if size is None:
        study.metadata["fixations"] = on_image  # no image to place them on: kept, not a Scanpath
        return
    study.scanpaths.append(Scanpath(on_image, (int(size[0]), int(size[1])), ScanpathSource.RECORDED))
