"""write_dx makes a DX For Presentation object that load_image (and any viewer) reads back."""

from __future__ import annotations

import numpy as np
import pydicom
import pytest

from ml.imaging import load_image
from ml.imaging.dicom import DX_FOR_PRESENTATION, write_dx
from ml.types import Window


def _image(rows: int = 40, cols: int = 30) -> np.ndarray:
    y, x = np.mgrid[0:rows, 0:cols]
    return (200 + 3000 * (x / cols) * (y / rows)).astype(np.uint16)


def test_dx_for_presentation_attributes(tmp_path):
    arr = _image()
    study = pydicom.uid.generate_uid()
    path = write_dx(
        arr,
        tmp_path / "dx.dcm",
        spacing_mm=(0.5, 0.4),
        patient_id="CASE001",
        study_uid=study,
        view_position="AP",
        laterality="",
        window=[Window(1600, 3000, "LUNG"), Window(900, 400, "BONE")],
        description="synthetic chest",
    )
    ds = pydicom.dcmread(path)
    assert ds.file_meta.MediaStorageSOPClassUID == DX_FOR_PRESENTATION == ds.SOPClassUID
    assert ds.file_meta.TransferSyntaxUID == pydicom.uid.ExplicitVRLittleEndian
    assert ds.preamble is not None  # Part 10 file: preamble + 'DICM' + meta
    assert ds.Modality == "DX" and ds.PresentationIntentType == "FOR PRESENTATION"
    assert ds.PhotometricInterpretation == "MONOCHROME2" and ds.PresentationLUTShape == "IDENTITY"
    assert (ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation) == (16, 12, 11, 0)
    assert [float(v) for v in ds.ImagerPixelSpacing] == [0.5, 0.4] and "PixelSpacing" not in ds
    assert ds.StudyInstanceUID == study and ds.PatientID == "CASE001"
    assert ds.ViewPosition == "AP" and ds.ImageLaterality == "U" and ds.BodyPartExamined == "CHEST"
    assert list(ds.WindowCenterWidthExplanation) == ["LUNG", "BONE"]
    for keyword in (
        "SOPInstanceUID",
        "SeriesInstanceUID",
        "ImageType",
        "PatientOrientation",
        "RescaleSlope",
        "AcquisitionContextSequence",  # the DX IOD's mandatory Acquisition Context module
        "PixelIntensityRelationship",
        "BurnedInAnnotation",
    ):
        assert keyword in ds, keyword
    np.testing.assert_array_equal(ds.pixel_array, arr)

    img = load_image(path)
    np.testing.assert_array_equal(img.pixels, arr)
    assert img.spacing == (0.5, 0.4) and img.view_position == "AP"
    assert [w.name for w in img.windows] == ["LUNG", "BONE"] and img.windows[0].center == 1600
    assert img.study_id == study and img.metadata["patient_id"] == "CASE001"
    assert img.metadata["patient_name"] == "CASE001" and img.metadata["manufacturer"].startswith(
        "Gaze2Report"
    )


def test_default_window_and_calibrated_spacing(tmp_path):
    arr = _image()
    path = write_dx(arr, tmp_path / "dx.dcm", spacing_mm=(0.2, 0.2), pixel_spacing_mm=(0.18, 0.18))
    img = load_image(path)
    assert img.spacing == (0.18, 0.18)
    ds = pydicom.dcmread(path)
    assert float(ds.EstimatedRadiographicMagnificationFactor) == pytest.approx(0.2 / 0.18, rel=1e-4)
    w = img.windows[0]
    assert (
        arr.min() - 0.5 <= w.low < w.high <= arr.max() + 0.5
    )  # a percentile window inside the data (DS rounding)


def test_monochrome1(tmp_path):
    path = write_dx(_image(), tmp_path / "m1.dcm", spacing_mm=(0.2, 0.2), photometric="MONOCHROME1")
    ds = pydicom.dcmread(path)
    assert ds.PresentationLUTShape == "INVERSE"
    assert load_image(path).invert is True


@pytest.mark.parametrize(
    "syntax", ["1.2.840.10008.1.2.5", "1.2.840.10008.1.2.4.80", "1.2.840.10008.1.2.4.90"]
)
def test_compressed_output(tmp_path, syntax):
    arr = _image(64, 48)
    path = write_dx(arr, tmp_path / "c.dcm", spacing_mm=(0.3, 0.3), transfer_syntax=syntax)
    assert pydicom.dcmread(path, stop_before_pixels=True).file_meta.TransferSyntaxUID == syntax
    np.testing.assert_array_equal(load_image(path).pixels, arr)


def test_rejects_what_is_not_a_dx_image(tmp_path):
    with pytest.raises(ValueError, match="2-D"):
        write_dx(np.zeros((2, 3, 4), np.uint16), tmp_path / "x.dcm", spacing_mm=(1, 1))
    with pytest.raises(ValueError, match="uint16"):
        write_dx(np.full((4, 4), -1, np.int16), tmp_path / "x.dcm", spacing_mm=(1, 1))
    with pytest.raises(ValueError, match="BitsStored"):
        write_dx(np.full((4, 4), 5000, np.uint16), tmp_path / "x.dcm", spacing_mm=(1, 1), bits_stored=12)


def test_a_dicom_file_whose_preamble_holds_a_tiff_header_is_read_as_dicom(tmp_path):
    """PS3.10 lets the preamble carry a TIFF header (dual-personality CR files): 'DICM' at byte 128
    decides, so the file keeps its MONOCHROME1 inversion, window and pixel spacing."""
    path = write_dx(_image(), tmp_path / "dual.dcm", spacing_mm=(0.2, 0.2), photometric="MONOCHROME1")
    data = bytearray(path.read_bytes())
    data[:8] = b"II*\x00\x08\x00\x00\x00"  # a little-endian TIFF header in the preamble
    path.write_bytes(bytes(data))
    img = load_image(path)
    assert img.metadata["format"] == "dicom"
    assert img.photometric == "MONOCHROME1" and img.invert
    assert img.spacing == (0.2, 0.2)
