"""EGD-CXR loader on fixture files in EGD-CXR's own layout (master sheet, Gazepoint CSV, transcripts)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from ml.datasets import DatasetError
from ml.datasets.egd_cxr import load_egd_cxr, read_transcript
from ml.types import ScanpathSource

FIXTURE = Path(__file__).parent / "fixtures" / "egd_cxr"
CHF = "1a2b3c4d-11111111-22222222-33333333-44444444"
NORMAL = "5e6f7a8b-55555555-66666666-77777777-88888888"


@pytest.fixture(scope="module")
def mimic(tmp_path_factory):
    """Blank DICOMs where MIMIC-CXR would keep the two images (sizes are what matter)."""
    from ml.imaging.dicom import write_dx

    root = tmp_path_factory.mktemp("mimic")
    write_dx(
        np.zeros((2000, 2100), np.uint16),
        root / "files/p10/p10000032/s50414267" / f"{CHF}.dcm",
        (0.139, 0.139),
    )
    write_dx(
        np.zeros((1500, 1400), np.uint16),
        root / "files/p11/p11000011/s51000011" / f"{NORMAL}.dcm",
        (0.139, 0.139),
    )
    return root


def test_images_labels_reports_without_images():
    studies = {s.id: s for s in load_egd_cxr(FIXTURE)}
    assert set(studies) == {CHF, NORMAL}  # the calibration image is not a study
    chf = studies[CHF]
    assert chf.dataset == "egd-cxr"
    assert chf.image_path.startswith("files/p10/")  # MIMIC not here: the sheet's path, unresolved
    assert chf.labels["Cardiomegaly"] == 1 and chf.labels["Edema"] == 1
    assert chf.labels["Pleural Effusion"] == -1 and chf.labels["Pneumothorax"] is None
    assert chf.metadata["egd_labels"] == {"Normal": 0.0, "CHF": 1.0, "pneumonia": 0.0}
    assert chf.metadata["padding"] == {"top": 0, "bottom": 0, "left": 511, "right": 511}
    assert chf.report is not None and chf.report.findings.startswith("the heart is enlarged.")
    assert chf.metadata["phrase_timestamps"][0] == ("the heart is enlarged.", 2.1, 3.9)
    assert chf.metadata["anatomy_boxes"]["cardiac silhouette"] == (980, 1320, 1950, 2250)
    # without the image the scanpath has no size: fixations are kept, not turned into a Scanpath
    assert chf.scanpaths == [] and len(chf.metadata["fixations"]) == 3
    assert studies[NORMAL].labels["No Finding"] == 1


def test_scanpaths_in_image_pixels_from_image_onset(mimic):
    studies = {s.id: s for s in load_egd_cxr(FIXTURE, images_root=mimic)}
    chf = studies[CHF]
    assert Path(chf.image_path).is_file() and chf.metadata["image_size"] == (2100, 2000)
    (sp,) = chf.scanpaths
    assert sp.image_size == (2100, 2000) and sp.source == ScanpathSource.RECORDED
    assert [(f.x, f.y) for f in sp.fixations] == [(1297, 1178), (688, 1495), (1955, 1902)]
    # FPOGS counts from the session start; the image appeared at FPOGS - Time = 12.36 s
    assert sp.fixations[0].start == pytest.approx(0.05) and sp.fixations[0].duration == pytest.approx(0.32)
    assert sp.fixations[2].start == pytest.approx(1.6)
    assert chf.metadata["off_image_fixations"] == 1
    normal = studies[NORMAL]
    assert [round(f.start, 2) for f in normal.scanpaths[0].fixations] == [0.03, 0.4]


def test_transcript_and_bad_folders(tmp_path):
    report, phrases = read_transcript(FIXTURE / "audio_segmentation_transcripts" / NORMAL / "transcript.json")
    assert "lungs are clear" in report.findings and len(phrases) == 2
    with pytest.raises(DatasetError, match="no master_sheet.csv"):
        load_egd_cxr(tmp_path)
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(DatasetError, match="not a readable transcript"):
        read_transcript(bad)
