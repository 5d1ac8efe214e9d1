"""The REFLACX loader reads the synthetic cohort (ml.cohort.build writes REFLACX's layout)."""

from __future__ import annotations

from pathlib import Path

import pytest

from ml.datasets import load_reflacx
from ml.datasets.reflacx import is_reflacx_dir
from ml.types import ScanpathSource

FIXTURE = Path(__file__).parent / "fixtures" / "cohort"  # one case, two readers, copied from a built cohort


def test_cohort_fixture_reads_as_simulated_readings():
    assert is_reflacx_dir(FIXTURE)
    r1, r2 = load_reflacx(FIXTURE)
    assert (r1.id, r2.id) == ("C00002_R1", "C00002_R2")
    assert r1.dataset == "cohort" and r1.split == "train" and r1.metadata["dicom_id"] == "C00002"
    sp = r1.scanpaths[0]
    assert sp.source == ScanpathSource.SIMULATED and sp.reader == "R1" and len(sp) == 51
    assert sp.image_size == (256, 256)
    assert all(0 <= f.x < 256 and 0 <= f.y < 256 and f.duration > 0 for f in sp.fixations)
    # per-reading labels are that reader's report labels (report_* columns), not REFLACX certainties
    assert (
        r1.labels["Lung Lesion"] == 1 and r1.labels["Pleural Effusion"] == 1 and r1.labels["No Finding"] == 0
    )
    assert r2.labels["Lung Lesion"] == 1 and r2.labels["Pleural Effusion"] == 0  # R2 missed the effusion
    assert r2.metadata["missed"] == "effusion" and r2.metadata["reader_style"] == "free"
    assert sorted(f.label for f in r1.findings) == ["Lung Lesion", "Pleural Effusion"]  # CheXpert names
    assert r2.report is not None and r2.report.impression.startswith("Right upper lobe mass")
    assert r1.image_path == "images/C00002.dcm"  # images not in the fixture: kept as written


@pytest.mark.slow
def test_freshly_built_cohort_loads(tmp_path):
    """End to end with the real builder (needs the CT asset): every reading loads, images decode."""
    from ml import assets

    if not assets.is_fetched("ct"):
        pytest.skip("CT asset not fetched (python main.py assets fetch)")
    from ml.cohort.build import build_cohort
    from ml.imaging import load_image

    root = build_cohort(tmp_path / "cohort", 1, seed=3, workers=1, progress=False, scale=0.1, n_readers=2)
    studies = load_reflacx(root)
    assert len(studies) == 2 and {s.scanpaths[0].reader for s in studies} == {"R1", "R2"}
    for s in studies:
        assert s.dataset == "cohort" and Path(s.image_path).is_file()
        assert Path(s.metadata["image_png"]).is_file() and Path(s.metadata["gaze_path"]).is_file()
        img = load_image(s.image_path)
        assert img.size == s.scanpaths[0].image_size
        assert img.metadata["sop_class_uid"] == "1.2.840.10008.5.1.4.1.1.1.1" and img.spacing is not None
