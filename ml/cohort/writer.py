"""Files of one synthetic case: DX DICOM + PNG, ground truth tables and masks, readings in REFLACX form."""

from __future__ import annotations

import csv
import hashlib
from pathlib import Path

import numpy as np

from ml.cohort.case import RenderedCase, TruthFinding
from ml.cohort.lesions import REFLACX_NAMES
from ml.cohort.readers import Display, Reading
from ml.cohort.reports import ReportFinding
from ml.datasets.reflacx import write_ellipses
from ml.types import CHEXPERT_OBSERVATIONS, Finding, Window

#: The REFLACX anomaly columns the ellipse files carry (the subset the cohort can produce).
ELLIPSE_LABELS: tuple[str, ...] = tuple(dict.fromkeys(REFLACX_NAMES.values()))
FINDING_COLUMNS = (
    "finding_id", "kind", "labels", "side", "location", "lobe", "zone", "severity", "subtle",
    "size_mm", "ctr", "xmin", "ymin", "xmax", "ymax", "area_px",
)  # fmt: skip


def report_finding(tf: TruthFinding) -> ReportFinding:
    les = tf.lesion
    return ReportFinding(
        tf.spec.kind, les.side, les.location, les.lobe, les.zone, les.severity, les.subtle,
        les.size_mm, float(les.extra.get("ctr", 0.0)),
    )  # fmt: skip


def finding_rows(rc: RenderedCase) -> list[dict[str, object]]:
    rows = []
    for i, tf in enumerate(rc.findings):
        les = tf.lesion
        x0, y0, x1, y1 = tf.bbox
        rows.append(
            dict(
                finding_id=i,
                kind=tf.spec.kind,
                labels=";".join(k for k, v in les.labels.items() if v == 1),
                side=les.side,
                location=les.location,
                lobe=les.lobe,
                zone=les.zone,
                severity=les.severity,
                subtle=int(les.subtle),
                size_mm=round(les.size_mm, 1),
                ctr=round(float(les.extra.get("ctr", rc.ctr)), 3),
                xmin=x0,
                ymin=y0,
                xmax=x1,
                ymax=y1,
                area_px=int(tf.mask.sum()),
            )  # fmt: skip
        )
    return rows


def write_csv(path: Path, columns: tuple[str, ...] | list[str], rows: list[dict[str, object]]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=list(columns), extrasaction="ignore")
        w.writeheader()
        w.writerows(rows)
    return path


def write_truth_ellipses(path: Path, findings: list[TruthFinding], certainty: int = 5) -> Path:
    """Findings' ellipses as REFLACX's ``anomaly_location_ellipses.csv`` (``ml.datasets.reflacx``'s
    writer), with every label column REFLACX's cohort uses."""
    return write_ellipses(
        path,
        [
            Finding(REFLACX_NAMES[tf.spec.kind], e.x0, e.y0, e.x1, e.y1, certainty=certainty)
            for tf in findings
            for e in tf.ellipses
        ],
        ELLIPSE_LABELS,
    )


def write_images(rc: RenderedCase, dcm: Path, png: Path, pixel_spacing_mm: float) -> None:
    """The image as DX For Presentation DICOM (12-bit, MONOCHROME2) and as an 8-bit PNG."""
    from PIL import Image as PILImage

    from ml.imaging.dicom import write_dx

    g = rc.geometry or rc.spec.geometry
    uid_root = int(hashlib.sha256(f"{rc.spec.case_id}:{rc.spec.seed}".encode()).hexdigest()[:24], 16)
    write_dx(
        rc.pixels,
        dcm,
        spacing_mm=(g.pixel_mm, g.pixel_mm),
        pixel_spacing_mm=(pixel_spacing_mm, pixel_spacing_mm),
        patient_id=rc.spec.case_id,
        study_uid=f"2.25.{uid_root}",
        view_position=g.view,
        window=[Window(2048.0, 4096.0, "FULL"), Window(1900.0, 3000.0, "LUNG")],
        description=f"SYNTHETIC CHEST {g.view} (rendered from CT)",
    )
    png.parent.mkdir(parents=True, exist_ok=True)
    PILImage.fromarray(rc.display()).save(png, optimize=False, compress_level=3)


def write_masks(path: Path, rc: RenderedCase) -> Path:
    """Projected masks (findings and anatomy) as packed bits in one ``.npz``."""
    arrays = {f"finding_{i}": np.packbits(tf.mask) for i, tf in enumerate(rc.findings)}
    arrays.update({f"anatomy_{k}": np.packbits(v) for k, v in rc.anatomy.items()})
    arrays["shape"] = np.array(rc.pixels.shape)
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(path, **arrays)
    return path


def read_masks(path: Path) -> dict[str, np.ndarray]:
    with np.load(path) as z:
        shape = tuple(int(s) for s in z["shape"])
        n = shape[0] * shape[1]
        return {k: np.unpackbits(z[k])[:n].reshape(shape).astype(bool) for k in z.files if k != "shape"}


def write_reading(
    folder: Path, gaze_folder: Path, reading: Reading, display: Display, report_text: str,
    seen: list[TruthFinding], words: list[tuple[str, float, float]] | None = None,
    chest_box: tuple[float, float, float, float] | None = None,
) -> None:  # fmt: skip
    """One reading in REFLACX's layout: fixations.csv, gaze.csv, transcription.txt, ellipses, and
    (when given) timestamps_transcription.csv and chest_bounding_box.csv."""
    from ml.gaze.io import DisplayState, GazeTrack, write_fixations, write_gaze

    ppd = reading.ppd
    state = DisplayState(
        pixels_per_degree=(ppd, ppd),
        window_width=1.0,
        window_level=0.5,
        shown=(0.0, 0.0, float(reading.image_size[0]), float(reading.image_size[1])),
        screen=display.screen_rect,
    )
    write_fixations(folder / "fixations.csv", reading.fixations, display=state)
    track = GazeTrack(t=reading.t, x=reading.x, y=reading.y, pupil=reading.pupil)
    write_gaze(gaze_folder / "gaze.csv", track, display=state)
    (folder / "transcription.txt").write_text(report_text + "\n")
    write_truth_ellipses(folder / "anomaly_location_ellipses.csv", seen)
    if words is not None:
        rows = [dict(word=w, timestamp_start_word=a, timestamp_end_word=b) for w, a, b in words]
        write_csv(
            folder / "timestamps_transcription.csv",
            ("word", "timestamp_start_word", "timestamp_end_word"),
            rows,
        )
    if chest_box is not None:
        write_csv(folder / "chest_bounding_box.csv", ("xmin", "ymin", "xmax", "ymax"),
                  [dict(zip(("xmin", "ymin", "xmax", "ymax"), chest_box, strict=True))])  # fmt: skip


def chest_box(rc: RenderedCase) -> tuple[float, float, float, float]:
    """Bounding box of the lung fields and heart (REFLACX's ``chest_bounding_box.csv``)."""
    a = rc.anatomy
    chest = ((a["lung_right"] | a["lung_left"]) & ~a.get("below_diaphragm", False)) | a["heart"]
    ys, xs = np.nonzero(chest)
    return float(xs.min()), float(ys.min()), float(xs.max() + 1), float(ys.max() + 1)


def labels_row(labels: dict[str, int]) -> dict[str, int]:
    return {k: labels.get(k, 0) for k in CHEXPERT_OBSERVATIONS}
