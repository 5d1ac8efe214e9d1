"""The app's built-in case: one PA radiograph from the real CT with two visible findings.

Rendered once into ``assets.cache_dir()/default_case/`` (``python main.py assets fetch`` calls
:func:`ensure_default_case`), so the workstation opens on a real-looking study with a report, the
ground truth and a simulated reader's fixations, without any credentialed data.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

#: Bump when the case's content changes, so old caches are re-rendered.
VERSION = 2
FILES = (
    "image.dcm",
    "image.png",
    "report.txt",
    "findings.csv",
    "anomaly_location_ellipses.csv",
    "fixations.csv",
    "gaze.csv",
)


def default_case_dir() -> Path:
    from ml import assets

    return assets.cache_dir() / "default_case"


def ensure_default_case(force: bool = False) -> Path:
    """The folder of the default case, rendering it first if it is missing or outdated."""
    folder = default_case_dir()
    marker = folder / ".version"
    current = marker.exists() and marker.read_text().strip() == str(VERSION)
    if not force and current and all((folder / f).exists() for f in FILES):
        return folder
    tmp = folder.with_name(f"default_case.tmp{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    render_default_case(tmp)
    (tmp / ".version").write_text(f"{VERSION}\n")
    shutil.rmtree(folder, ignore_errors=True)
    tmp.rename(folder)
    return folder


def render_default_case(folder: Path, scale: float = 1.0) -> Path:
    """Render the default case into ``folder`` (a left upper lobe nodule and a right pleural effusion)."""
    import numpy as np

    from ml.cohort import readers, reports, writer
    from ml.cohort.case import FindingSpec, get_renderer, sample_case

    spec = sample_case("DEFAULT", seed=20260, normal_fraction=1.0)
    spec.findings = [
        FindingSpec("nodule", "left", "LUL", "", False, 20.0),
        FindingSpec("effusion", "right", "", "moderate", False),
    ]
    rc = get_renderer().render(spec, scale=scale)
    folder.mkdir(parents=True, exist_ok=True)
    writer.write_images(
        rc,
        folder / "image.dcm",
        folder / "image.png",
        (rc.geometry or rc.spec.geometry).pixel_mm / rc.magnification,
    )
    rng = np.random.default_rng([spec.seed, 7])
    report = reports.write_report([writer.report_finding(tf) for tf in rc.findings], 0, rng)
    (folder / "report.txt").write_text(report.text + "\n")
    writer.write_csv(folder / "findings.csv", writer.FINDING_COLUMNS, writer.finding_rows(rc))
    writer.write_truth_ellipses(folder / "anomaly_location_ellipses.csv", rc.findings)
    display = readers.Display()
    truth = [(tf.mask, tf.center, tf.lesion.subtle) for tf in rc.findings]
    reading = readers.read_case(rng, readers.READERS[0], rc.anatomy, truth, rc.size, display)
    writer.write_reading(
        folder, folder, reading, display, report.text, [rc.findings[i] for i in reading.detected]
    )
    (folder / "transcription.txt").unlink(missing_ok=True)  # the report is report.txt here
    writer.write_masks(folder / "masks.npz", rc)
    return folder
