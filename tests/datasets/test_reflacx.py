"""REFLACX loader on fixture files written in REFLACX's own layout and column names."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from ml.datasets import load_reflacx
from ml.datasets._common import DatasetError
from ml.datasets.reflacx import (
    read_ellipses,
    read_reading,
    reflacx_labels_to_chexpert,
    resolve_image,
    write_ellipses,
)
from ml.types import Finding, ScanpathSource

FIXTURE = Path(__file__).parent / "fixtures" / "reflacx"


def _by_id(studies):
    return {s.id: s for s in studies}


def test_readings_scanpaths_and_reports():
    studies = _by_id(load_reflacx(FIXTURE))
    assert set(studies) == {"P102R108387", "P300R500111"}  # the discarded reading is skipped
    s = studies["P102R108387"]
    assert s.dataset == "reflacx" and s.split == "train"
    assert s.metadata["phase"] == 1 and s.metadata["dicom_id"].startswith("0b1d2e9b")
    sp = s.scanpaths[0]
    assert sp.image_size == (2544, 3056) and sp.source == ScanpathSource.RECORDED
    assert len(sp) == 4
    first = sp.fixations[0]
    assert (first.x, first.y) == (1262.5, 1401.2)
    assert first.start == pytest.approx(0.421) and first.duration == pytest.approx(0.266)
    assert s.report is not None and s.report.findings.startswith("Enlarged cardiac silhouette.")
    assert s.metadata["word_timestamps"][0] == ("enlarged", 2.31, 2.78)
    assert s.metadata["chest_box"] == (151, 200, 2410, 2890)
    assert s.metadata["gaze_path"].endswith("gaze_data/P102R108387/gaze.csv")
    assert studies["P300R500111"].split == "test"


def test_labels_from_certainties():
    s = _by_id(load_reflacx(FIXTURE))["P102R108387"]
    assert s.labels["Cardiomegaly"] == 1  # Enlarged cardiac silhouette, certainty 5
    assert s.labels["Atelectasis"] == 1  # certainty 4
    assert s.labels["Pleural Effusion"] == -1  # certainty 3: "possibly"
    assert s.labels["Support Devices"] == 1  # boolean column
    assert s.labels["Pneumothorax"] == 0  # in the vocabulary, marked absent
    assert s.labels["Pneumonia"] is None  # REFLACX has no such label
    assert s.labels["No Finding"] == 0
    assert s.metadata["reflacx_labels"]["Enlarged cardiac silhouette"] == 5
    normal = _by_id(load_reflacx(FIXTURE))["P300R500111"]
    assert normal.labels["No Finding"] == 1 and normal.findings == []


def test_ellipses_become_findings():
    s = _by_id(load_reflacx(FIXTURE))["P102R108387"]
    got = sorted((f.label, f.certainty, f.x0, f.y1) for f in s.findings)
    # the second ellipse carries two labels → two findings over the same box
    assert got == [
        ("Atelectasis", 4, 1540.2, 2760.4),
        ("Cardiomegaly", 5, 830.0, 2450.1),
        ("Pleural Effusion", 4, 1540.2, 2760.4),
    ]
    assert all(f.shape == "ellipse" for f in s.findings)


def test_discarded_readings_on_request_and_phase_filter():
    all_readings = _by_id(load_reflacx(FIXTURE, include_discarded=True))
    assert all_readings["P102R915878"].metadata["eye_tracking_data_discarded"] is True
    assert all_readings["P102R915878"].split == "val"
    only3 = load_reflacx(FIXTURE, phases=[3])
    assert [s.id for s in only3] == ["P300R500111"]
    assert [s.id for s in load_reflacx(FIXTURE / "main_data", phases=[3])] == ["P300R500111"]


def test_images_root_resolves_mimic_paths(tmp_path):
    from ml.imaging.dicom import write_dx

    dicom_id = "02aa804e-bde0afdd-112c0b34-7bc16630-4e384014"
    target = tmp_path / "mimic" / "files" / "p10" / "p10000032" / "s50414267" / f"{dicom_id}.dcm"
    write_dx(np.zeros((30, 20), np.uint16) + 100, target, spacing_mm=(0.139, 0.139))
    s = _by_id(load_reflacx(FIXTURE, images_root=tmp_path / "mimic"))["P300R500111"]
    assert Path(s.image_path) == target
    assert resolve_image("", tmp_path / "mimic", None, "unknown") == ""
    # MIMIC-CXR-JPG: the same tree with .jpg files
    from PIL import Image as PILImage

    jpg_root = tmp_path / "mimic-jpg"
    jpg = (jpg_root / target.relative_to(tmp_path / "mimic")).with_suffix(".jpg")
    jpg.parent.mkdir(parents=True)
    PILImage.new("L", (20, 30)).save(jpg)
    s = _by_id(load_reflacx(FIXTURE, images_root=jpg_root))["P300R500111"]
    assert Path(s.image_path) == jpg


def test_without_metadata_size_comes_from_the_image(tmp_path):
    from ml.imaging.dicom import write_dx

    root = tmp_path / "r"
    shutil.copytree(FIXTURE / "main_data" / "P300R500111", root / "main_data" / "X1")
    write_dx(np.zeros((40, 30), np.uint16), root / "img.dcm", spacing_mm=(0.2, 0.2))
    s = read_reading(root / "main_data" / "X1", row={"id": "X1", "image": "img.dcm"}, root=root)
    assert s.scanpaths[0].image_size == (30, 40)
    # no metadata, no image: the scanpath cannot be placed → a clear error
    with pytest.raises(DatasetError, match="image size unknown"):
        read_reading(root / "main_data" / "X1")


def test_no_metadata_lists_reading_folders(tmp_path):
    root = tmp_path / "r"
    shutil.copytree(FIXTURE / "main_data" / "P300R500111", root / "main_data" / "X1")
    with pytest.raises(DatasetError, match="X1: image size unknown"):
        load_reflacx(root)


def test_not_a_reflacx_folder(tmp_path):
    with pytest.raises(DatasetError, match="not a REFLACX folder"):
        load_reflacx(tmp_path)


def test_write_then_read_ellipses(tmp_path):
    findings = [
        Finding("Pneumothorax", 10, 20, 110, 220, certainty=3),
        Finding("Lung nodule or mass", 5.5, 6, 50, 60, shape="box"),
    ]
    path = write_ellipses(tmp_path / "e.csv", findings, ["Pneumothorax", "Lung nodule or mass", "Other"])
    header = path.read_text().splitlines()[0]
    assert header == "xmin,ymin,xmax,ymax,certainty,Pneumothorax,Lung nodule or mass,Other"
    back = read_ellipses(path)
    assert [(f.label, f.x0, f.y0, f.x1, f.y1, f.certainty) for f in back] == [
        ("Pneumothorax", 10, 20, 110, 220, 3),
        ("Lung Lesion", 5.5, 6, 50, 60, 5),
    ]
    with pytest.raises(DatasetError, match="not among"):
        write_ellipses(tmp_path / "x.csv", findings, ["Pneumothorax"])


def test_certainty_mapping_edges():
    out = reflacx_labels_to_chexpert({"Pneumothorax": 1, "Support devices": True, "Emphysema": 0})
    assert out["Pneumothorax"] == 0  # "unlikely" is a negative, not uncertain
    assert out["No Finding"] == 1  # support devices do not make a study abnormal
    out = reflacx_labels_to_chexpert({"Emphysema": 5, "Pneumothorax": 0})
    assert out["No Finding"] == 0  # an abnormality without a CheXpert name still rules out No Finding
    out = reflacx_labels_to_chexpert({"Mass": 2, "Nodule": 5})
    assert out["Lung Lesion"] == 1  # the strongest statement wins


def test_cohort_style_metadata_with_chexpert_columns(tmp_path):
    """The synthetic cohort writes CheXpert columns, a reader and source=simulated: they win."""
    root = tmp_path / "cohort"
    shutil.copytree(FIXTURE / "main_data" / "P102R108387", root / "main_data" / "case0001_r1")
    chex_header = ",".join(f'"{name}"' if "," in name else name for name in _CHEX)
    values = {"Atelectasis": "1", "Consolidation": "0", "No Finding": "0", "Pneumonia": "-1"}
    row = ",".join(values.get(name, "") for name in _CHEX)
    (root / "main_data" / "metadata_phase_1.csv").write_text(
        f"id,split,eye_tracking_data_discarded,image,dicom_id,subject_id,image_size_x,image_size_y,reader,source,{chex_header}\n"
        f"case0001_r1,validate,False,images/case0001.dcm,case0001,case0001,2544,3056,reader_fast,simulated,{row}\n"
    )
    (s,) = load_reflacx(root)
    assert s.split == "val" and s.scanpaths[0].source == ScanpathSource.SIMULATED and s.dataset == "cohort"
    assert s.scanpaths[0].reader == "reader_fast"
    assert s.labels["Atelectasis"] == 1 and s.labels["Consolidation"] == 0
    assert s.labels["Pneumonia"] == -1 and s.labels["Cardiomegaly"] is None and s.labels["No Finding"] == 0
    assert s.image_path == "images/case0001.dcm"  # not on disk: kept as written


_CHEX = [
    "No Finding",
    "Enlarged Cardiomediastinum",
    "Cardiomegaly",
    "Lung Opacity",
    "Lung Lesion",
    "Edema",
    "Consolidation",
    "Pneumonia",
    "Atelectasis",
    "Pneumothorax",
    "Pleural Effusion",
    "Pleural Other",
    "Fracture",
    "Support Devices",
]


def test_folder_detection(tmp_path):
    from ml.datasets.egd_cxr import is_egd_cxr_dir
    from ml.datasets.mimic import is_mimic_dir
    from ml.datasets.reflacx import is_reflacx_dir

    fixtures = FIXTURE.parent
    assert is_reflacx_dir(FIXTURE) and is_reflacx_dir(FIXTURE / "main_data")
    assert is_egd_cxr_dir(fixtures / "egd_cxr") and is_mimic_dir(fixtures / "mimic")
    for check in (is_reflacx_dir, is_egd_cxr_dir, is_mimic_dir):
        assert not check(tmp_path)
    assert not is_reflacx_dir(fixtures / "egd_cxr") and not is_egd_cxr_dir(FIXTURE)
    assert not is_mimic_dir(FIXTURE)
