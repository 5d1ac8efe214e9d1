"""A tiny cohort end to end from the real CT: files, determinism, ground-truth consistency, loading."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from ml import assets

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        not assets.is_fetched("ct"), reason="CT asset not fetched (python main.py assets fetch)"
    ),
]

MAIN = {
    "nodule": "Lung Lesion", "mass": "Lung Lesion", "consolidation": "Consolidation", "effusion": "Pleural Effusion",
    "pneumothorax": "Pneumothorax", "cardiomegaly": "Cardiomegaly", "atelectasis": "Atelectasis", "edema": "Edema",
}  # fmt: skip
KW = dict(n=3, seed=5, progress=False, scale=0.2, normal_fraction=0.0)


@pytest.fixture(scope="module")
def cohorts(tmp_path_factory) -> tuple[Path, Path]:
    from ml.cohort.build import build_cohort

    a = build_cohort(tmp_path_factory.mktemp("a"), workers=1, **KW)
    b = build_cohort(tmp_path_factory.mktemp("b"), workers=2, **KW)
    return a, b


def test_layout_mirrors_reflacx(cohorts):
    from ml.gaze.io import REFLACX_FIXATION_COLUMNS, REFLACX_GAZE_COLUMNS

    root = cohorts[0]
    assert "SYNTHETIC" in (root / "README.md").read_text()
    for name in ("cases.csv", "findings.csv", "main_data/metadata_phase_cohort.csv"):
        assert (root / name).is_file()
    rid = "C00000_R1"
    fix_header = (root / "main_data" / rid / "fixations.csv").read_text().splitlines()[0].split(",")
    gaze_header = (root / "gaze_data" / rid / "gaze.csv").read_text().splitlines()[0].split(",")
    assert tuple(fix_header[: len(REFLACX_FIXATION_COLUMNS)]) == REFLACX_FIXATION_COLUMNS
    assert tuple(gaze_header[: len(REFLACX_GAZE_COLUMNS)]) == REFLACX_GAZE_COLUMNS
    ell = (root / "main_data" / rid / "anomaly_location_ellipses.csv").read_text().splitlines()[0]
    assert ell.startswith("xmin,ymin,xmax,ymax,certainty")
    assert (root / "main_data" / rid / "transcription.txt").read_text().startswith("FINDINGS:")
    words = (root / "main_data" / rid / "timestamps_transcription.csv").read_text().splitlines()
    assert words[0] == "word,timestamp_start_word,timestamp_end_word" and len(words) > 10
    assert (root / "main_data" / rid / "chest_bounding_box.csv").read_text().startswith("xmin,ymin,xmax,ymax")


def test_same_seed_same_bytes_whatever_the_worker_count(cohorts):
    from ml.cohort.build import cohort_digest

    a, b = cohorts
    da, db = cohort_digest(a), cohort_digest(b)
    assert len(da) > 60 and da == db
    assert any(k.endswith(".dcm") for k in da) and any(k.endswith("gaze.csv") for k in da)


def test_dicom_is_a_dx_with_spacing_and_the_png_pixels(cohorts):
    from PIL import Image as PILImage

    from ml.imaging import load_image

    root = cohorts[0]
    img = load_image(root / "images" / "C00000.dcm")
    png = np.asarray(PILImage.open(root / "images" / "C00000.png"))
    assert img.pixels.shape == png.shape
    assert img.spacing is not None and 1.2 < img.spacing[0] < 1.75  # 0.2 scale: ~1.6 mm pitch / ~1.1
    import pydicom

    ds = pydicom.dcmread(root / "images" / "C00000.dcm", stop_before_pixels=True)
    pitch = float(ds.ImagerPixelSpacing[0])
    assert 1.5 < pitch < 1.7 and float(ds.PixelSpacing[0]) < pitch  # detector pitch > spacing at patient
    assert ds.Modality == "DX"
    assert img.view_position in ("PA", "AP")
    assert np.abs(img.pixels.astype(np.float64) * 255 / 4095 - png).max() <= 1.0


def test_ground_truth_is_consistent(cohorts):
    from ml.cohort.build import read_table
    from ml.cohort.case import chexpert_labels
    from ml.cohort.writer import read_masks
    from ml.metrics.labeler import label_report
    from ml.types import CHEXPERT_OBSERVATIONS

    root = cohorts[0]
    findings = read_table(root / "findings.csv")
    assert findings, "normal_fraction=0 must give findings"
    for case in read_table(root / "cases.csv"):
        cid, w, h = case["case_id"], int(case["image_size_x"]), int(case["image_size_y"])
        kinds = [f["kind"] for f in findings if f["case_id"] == cid]
        labels = {k: int(case[k]) for k in CHEXPERT_OBSERVATIONS}
        assert labels == chexpert_labels(kinds)  # labels <-> injected findings
        masks = read_masks(root / "ground_truth" / cid / "masks.npz")
        for i, f in enumerate(x for x in findings if x["case_id"] == cid):
            m = masks[f"finding_{i}"]
            assert m.shape == (h, w) and m.any()  # label <-> lesion mask
            ys, xs = np.nonzero(m)
            x0, y0, x1, y1 = (float(f[k]) for k in ("xmin", "ymin", "xmax", "ymax"))
            assert 0 <= x0 <= xs.min() and xs.max() < x1 <= w and 0 <= y0 <= ys.min() and ys.max() < y1 <= h
        reference = label_report((root / "ground_truth" / cid / "report.txt").read_text())
        for kind in kinds:  # label <-> report mention
            assert reference[MAIN[kind]] in (1, -1), (cid, kind)
        for obs in set(MAIN.values()) - {MAIN[k] for k in kinds}:
            assert reference[obs] not in (1, -1), (cid, obs)
    for reading in read_table(root / "main_data" / "metadata_phase_cohort.csv"):
        said = label_report((root / "main_data" / reading["id"] / "transcription.txt").read_text())
        missed = [k for k in reading["missed"].split(";") if k]
        for kind in missed:  # a reader who missed a finding does not report it
            others = [
                f["kind"] for f in findings if f["case_id"] == reading["dicom_id"] and f["kind"] != kind
            ]
            if MAIN[kind] not in {MAIN[o] for o in others}:
                assert said[MAIN[kind]] not in (1, -1), (reading["id"], kind)


def test_scanpaths_load_back_in_image_bounds(cohorts):
    from ml.cohort.load import load_cohort

    root = cohorts[0]
    readings = load_cohort(root)
    assert len(readings) == 3 * 3
    for st in readings:
        sp = st.scanpaths[0]
        w, h = sp.image_size
        assert len(sp) > 5
        assert all(0 <= f.x < w and 0 <= f.y < h and f.duration > 0 for f in sp.fixations)
        assert st.report is not None and st.report.findings and st.split in ("train", "val", "test")
        assert Path(st.image_path).is_file()
    cases = load_cohort(root, per="case")
    assert len(cases) == 3 and all(len(c.scanpaths) == 3 for c in cases)
    assert {c.split for c in cases} <= {"train", "val", "test"}


def test_every_finding_gives_the_encoder_a_localisation_mask(cohorts):
    """The ellipses' REFLACX labels reach training as CheXpert observations (they once did not,
    and nodules, effusions and the heart had empty localisation targets)."""
    from ml.cohort.load import load_cohort
    from ml.train.data import prepare
    from ml.types import CHEXPERT_OBSERVATIONS

    cases = load_cohort(cohorts[0], per="case")
    prepared = prepare(cases, 64, 8, progress=False)
    for i, case in enumerate(cases):
        assert case.findings
        for f in case.findings:
            assert f.label in CHEXPERT_OBSERVATIONS and case.labels[f.label] == 1
            assert prepared.loc[i, CHEXPERT_OBSERVATIONS.index(f.label)].sum() > 0


def test_a_smaller_render_collects_the_quanta_of_its_larger_pixels(monkeypatch):
    """Quantum noise per area, not per pixel: at a quarter of the size each pixel gets 16x the quanta
    (a per-pixel count made the small training renders 4x noisier than the full-size default case)."""
    from ml.cohort import case

    seen: list[float] = []
    real = case.expose

    def spy(line, exposure, pixel_mm, rng):  # noqa: ANN001
        seen.append(exposure.photons)
        return real(line, exposure, pixel_mm, rng)

    monkeypatch.setattr(case, "expose", spy)
    spec = case.sample_case("C0", seed=11, normal_fraction=1.0)
    renderer = case.get_renderer()
    renderer.render(spec, scale=0.25)
    renderer.render(spec, scale=0.5)
    assert seen == pytest.approx([16 * spec.exposure.photons, 4 * spec.exposure.photons])


def test_weights_reach_every_case(tmp_path):
    """``cohort --weights``: with every other kind at 0, every case of a normal-free cohort has a nodule."""
    import csv

    from ml.cohort.build import build_cohort
    from ml.cohort.case import kind_weights

    only = {k: 0.0 for k in kind_weights()} | {"nodule": 1.0}
    root = build_cohort(tmp_path / "c", workers=1, weights=only, n_readers=1, **{**KW, "n": 2})
    with open(root / "cases.csv", newline="") as f:
        kinds = [r["kinds"] for r in csv.DictReader(f)]
    assert len(kinds) == 2 and all(k == "nodule" for k in kinds), kinds
