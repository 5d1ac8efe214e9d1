"""MIMIC-CXR reports, CheXpert labels, splits and image choice, on fixtures in MIMIC-CXR's layout."""

from __future__ import annotations

import gzip
import shutil
from pathlib import Path

import pytest
from PIL import Image as PILImage

from ml.datasets import DatasetError
from ml.datasets.mimic import load_mimic, parse_report_text, read_label_csv

FIXTURE = Path(__file__).parent / "fixtures" / "mimic"


def test_sections_become_findings_and_impression():
    report, sections = parse_report_text((FIXTURE / "files/p10/p10000032/s50414267.txt").read_text())
    assert report.findings.startswith(
        "There is no focal consolidation, pleural effusion or pneumothorax. Bilateral"
    )
    assert "\n" not in report.findings  # line wraps joined
    assert report.impression == "No acute cardiopulmonary process."
    assert sections["INDICATION"] == "___F with new onset ascites // eval for infection"
    assert sections["COMPARISON"] == "None."
    assert "FINAL REPORT" not in " ".join(sections.values())


def test_reports_without_sections():
    impression_only, _ = parse_report_text((FIXTURE / "files/p10/p10000032/s53189527.txt").read_text())
    assert impression_only.findings == "" and impression_only.impression.startswith("Moderate right pleural")
    bare, sections = parse_report_text((FIXTURE / "files/p11/p11000011/s51000011.txt").read_text())
    assert sections == {} and bare.findings.startswith("PA AND LATERAL CHEST ___ The lungs are clear.")


def test_load_with_labels_splits_and_frontal_image(tmp_path):
    root = tmp_path / "mimic"
    shutil.copytree(FIXTURE, root)
    image_dir = root / "files/p10/p10000032/s50414267"
    image_dir.mkdir(parents=True, exist_ok=True)  # git keeps no empty folders
    for dicom_id in (
        "02aa804e-bde0afdd-112c0b34-7bc16630-4e384014",
        "174413ec-4ec4c1f7-34ea26b7-c5f994f8-79ef1962",
    ):
        PILImage.new("L", (8, 10)).save(image_dir / f"{dicom_id}.jpg")  # MIMIC-CXR-JPG layout
    studies = {s.id: s for s in load_mimic(root)}
    assert set(studies) == {"s50414267", "s53189527", "s51000011"}
    s = studies["s50414267"]
    assert s.dataset == "mimic-cxr" and s.split == "train"
    assert s.metadata["subject_id"] == "10000032" and s.metadata["view_position"] == "PA"
    assert s.image_path.endswith("02aa804e-bde0afdd-112c0b34-7bc16630-4e384014.jpg")  # PA over LATERAL
    assert s.labels["No Finding"] == 1 and s.labels["Pleural Effusion"] is None
    a = studies["s53189527"]
    assert a.split == "val" and a.labels["Atelectasis"] == 1 and a.labels["Pleural Effusion"] == 1
    assert a.image_path.endswith("2a2277a9-b0ded155-c0de8eb9-c124d10e-82c5caab.dcm")  # listed, not on disk
    c = studies["s51000011"]
    assert c.split == "test" and c.labels["Cardiomegaly"] == 0 and c.image_path == ""


def test_gzipped_label_csv(tmp_path):
    gz = tmp_path / "mimic-cxr-2.0.0-chexpert.csv.gz"
    with gzip.open(gz, "wt") as fh:
        fh.write((FIXTURE / "mimic-cxr-2.0.0-chexpert.csv").read_text())
    labels = read_label_csv(gz)
    assert labels["53189527"]["Atelectasis"] == 1 and labels["50414267"]["Edema"] is None


def test_not_mimic(tmp_path):
    with pytest.raises(DatasetError, match="no files/"):
        load_mimic(tmp_path)
    bad = tmp_path / "labels.csv"
    bad.write_text("a,b\n1,2\n")
    with pytest.raises(DatasetError, match="no study_id"):
        read_label_csv(bad)
