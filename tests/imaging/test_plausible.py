"""Images that decode but cannot be radiographs are refused by every loader with one line."""

from __future__ import annotations

import io

import numpy as np
import pytest
from dicom_factory import dataset, ramp, save

from ml.imaging import ImageError, ImplausibleImage, load_image, load_image_bytes


def _float_dicom(values: np.ndarray, path):
    ds = dataset(np.zeros(values.shape, np.uint16), bits_stored=16)
    del ds.PixelData
    for keyword in ("BitsStored", "HighBit", "PixelRepresentation"):
        del ds[keyword]
    ds.BitsAllocated = 32
    ds.FloatPixelData = values.astype("<f4").tobytes()
    ds.save_as(path, enforce_file_format=True)
    return path


def _png(arr: np.ndarray) -> bytes:
    from PIL import Image as PILImage

    buf = io.BytesIO()
    PILImage.fromarray(arr).save(buf, format="PNG")
    return buf.getvalue()


NOT_RADIOGRAPHS = {
    "all zero 16-bit": (lambda p: save(dataset(np.zeros((64, 64), np.uint16), bits_stored=16), p), "one value (0)"),
    "all 65535 16-bit": (
        lambda p: save(dataset(np.full((64, 64), 65535, np.uint16), bits_stored=16), p),
        "one value (65535)",
    ),
    "all zero float": (lambda p: _float_dicom(np.zeros((64, 64)), p), "one value (0)"),
    "3e38 float": (lambda p: _float_dicom(np.full((64, 64), 3e38), p), "beyond any detector's range"),
    "NaN float": (lambda p: _float_dicom(np.where(np.eye(64) > 0, np.nan, 1.0), p), "NaN or infinite"),
    "one huge pixel": (
        lambda p: _float_dicom(np.where(np.eye(64) > 0, -1e30, 100.0), p),
        "beyond any detector's range",
    ),
    "2×2 DICOM": (lambda p: save(dataset(ramp(2, 2, 12, False), bits_stored=12), p), "2×2 pixels"),
    "15-pixel strip DICOM": (lambda p: save(dataset(ramp(15, 400, 12, False), bits_stored=12), p), "400×15"),
    "2×2 PNG": (lambda p: p.write_bytes(_png(np.array([[0, 255], [255, 0]], np.uint8))) and p, "2×2 pixels"),
    "black PNG": (lambda p: p.write_bytes(_png(np.zeros((64, 64), np.uint8))) and p, "one value (0)"),
    "white 16-bit PNG": (
        lambda p: p.write_bytes(_png(np.full((64, 64), 65535, np.uint16))) and p,
        "one value (65535)",
    ),
}


@pytest.mark.parametrize("case", list(NOT_RADIOGRAPHS))
def test_an_image_that_cannot_be_a_radiograph_is_refused_from_disk_and_bytes(tmp_path, case):
    make, says = NOT_RADIOGRAPHS[case]
    path = make(tmp_path / "input.img")
    for read in (lambda: load_image(path), lambda: load_image_bytes(path.read_bytes(), "input.img")):
        with pytest.raises(ImplausibleImage) as info:
            read()
        text = str(info.value)
        assert text.startswith("input.img ") and says in text and "\n" not in text, text
        assert isinstance(info.value, ImageError)  # the backend and the GUI catch this one class


def test_the_smallest_plausible_image_and_a_faint_one_still_load(tmp_path):
    faint = np.full((16, 16), 1000, np.uint16)
    faint[8, 8] = 1001  # one level of contrast is an image; the domain gate judges whether a chest
    assert load_image(save(dataset(faint, bits_stored=16), tmp_path / "faint.dcm")).pixels.shape == (16, 16)
    ok = _float_dicom(np.linspace(-1000.0, 3000.0, 16 * 16).reshape(16, 16), tmp_path / "float.dcm")
    assert load_image(ok).pixels.dtype == np.float32


def test_generate_refuses_a_blank_image_before_loading_any_model(tmp_path, capsys):
    from ml.cli import main

    path = save(dataset(np.zeros((64, 64), np.uint16), bits_stored=16), tmp_path / "blank.dcm")
    assert main(["generate", str(path), "--bundle", str(tmp_path / "no-such-bundle")]) == 2
    err = capsys.readouterr().err.strip()
    assert err == "generate: blank.dcm is one value (0) everywhere: a blank image, not a radiograph"
