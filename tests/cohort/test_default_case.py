"""The app's built-in case: files present, findings visible in the truth, report and fixations agree."""

from __future__ import annotations

import csv

import numpy as np
import pytest

from ml import assets

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        not assets.is_fetched("ct"), reason="CT asset not fetched (python main.py assets fetch)"
    ),
]


def test_default_case_renders_with_consistent_truth(tmp_path):
    from PIL import Image as PILImage

    from ml.cohort.default_case import FILES, render_default_case
    from ml.gaze.io import read_fixations
    from ml.imaging import load_image

    folder = render_default_case(tmp_path / "case", scale=0.25)
    for name in FILES:
        assert (folder / name).is_file(), name
    image = load_image(folder / "image.dcm")
    png = np.asarray(PILImage.open(folder / "image.png"))
    assert image.pixels.shape == png.shape == (256, 256)
    assert image.view_position == "PA"
    rows = list(csv.DictReader((folder / "findings.csv").read_text().splitlines()))
    assert {r["kind"] for r in rows} == {"nodule", "effusion"}
    report = (folder / "report.txt").read_text().lower()
    assert "left upper lobe" in report and "nodule" in report
    assert "right" in report and "effusion" in report
    nodule = next(r for r in rows if r["kind"] == "nodule")
    cx = (float(nodule["xmin"]) + float(nodule["xmax"])) / 2
    assert cx > 128  # the patient's left lung is on the viewer's right
    fixations = read_fixations(folder / "fixations.csv")
    assert len(fixations) > 10
    assert all(0 <= f.x < 256 and 0 <= f.y < 256 for f in fixations)
    near = [f for f in fixations if float(nodule["xmin"]) - 3 <= f.x <= float(nodule["xmax"]) + 3
            and float(nodule["ymin"]) - 3 <= f.y <= float(nodule["ymax"]) + 3]  # fmt: skip
    assert near, "the simulated reader dwells on the nodule it reports"
