"""PNG, JPEG and TIFF radiographs: 8/16-bit greyscale in, colour and stacks out."""

from __future__ import annotations

import io

import numpy as np
import pytest
import tifffile
from PIL import Image as PILImage

from ml.imaging import NotARadiograph, TruncatedFile, load_image, load_image_bytes


def _grad(dtype, peak: int) -> np.ndarray:
    y, x = np.mgrid[0:48, 0:64]
    return ((x + y) / (48 + 64 - 2) * peak).astype(dtype)


def test_png_8bit_is_shown_as_stored(tmp_path):
    arr = _grad(np.uint8, 255)
    PILImage.fromarray(arr).save(tmp_path / "a.png")
    img = load_image(tmp_path / "a.png")
    np.testing.assert_array_equal(img.pixels, arr)
    assert img.bits_stored == 8 and img.metadata["format"] == "png"
    np.testing.assert_array_equal(img.display(), arr)  # the full-range window is the identity


def test_png_16bit(tmp_path):
    arr = _grad(np.uint16, 4095)
    PILImage.fromarray(arr).save(tmp_path / "a16.png")
    img = load_image(tmp_path / "a16.png")
    assert img.pixels.dtype == np.uint16 and img.bits_stored == 16
    np.testing.assert_array_equal(img.pixels, arr)
    assert img.windows[0].low == arr.min() and img.windows[0].high == arr.max()


@pytest.mark.parametrize("compression", [None, "zlib"])
def test_tiff_16bit(tmp_path, compression):
    arr = _grad(np.uint16, 65535)
    tifffile.imwrite(tmp_path / "a.tif", arr, compression=compression)
    img = load_image(tmp_path / "a.tif")
    assert img.metadata["format"] == "tiff"
    np.testing.assert_array_equal(img.pixels, arr)


def test_tiff_stack_is_not_a_radiograph(tmp_path):
    tifffile.imwrite(tmp_path / "s.tif", np.zeros((5, 16, 16), np.uint16))
    with pytest.raises(NotARadiograph, match="5-page"):
        load_image(tmp_path / "s.tif")


def test_jpeg_grey_and_grey_saved_as_rgb(tmp_path):
    arr = _grad(np.uint8, 255)
    PILImage.fromarray(arr).save(tmp_path / "g.jpg", quality=95)
    grey = load_image(tmp_path / "g.jpg")
    assert grey.metadata["format"] == "jpeg" and grey.pixels.ndim == 2
    assert np.abs(grey.pixels.astype(int) - arr).mean() < 2
    PILImage.fromarray(np.stack([arr] * 3, axis=-1)).save(tmp_path / "rgb.jpg", quality=95)
    rgb = load_image(tmp_path / "rgb.jpg")
    assert rgb.pixels.shape == arr.shape and np.abs(rgb.pixels.astype(int) - arr).mean() < 2


def test_grey_with_alpha(tmp_path):
    arr = _grad(np.uint8, 255)
    rgba = np.dstack([arr, arr, arr, np.full_like(arr, 255)])
    PILImage.fromarray(rgba, mode="RGBA").save(tmp_path / "a.png")
    np.testing.assert_array_equal(load_image(tmp_path / "a.png").pixels, arr)


def test_truncated_png():
    buf = io.BytesIO()
    PILImage.fromarray(np.random.default_rng(0).integers(0, 255, (64, 64), dtype=np.uint8)).save(buf, "PNG")
    data = buf.getvalue()
    with pytest.raises(TruncatedFile):
        load_image_bytes(data[: len(data) // 2], "half.png")


def test_bytes_give_same_pixels_as_path(tmp_path):
    arr = _grad(np.uint16, 1000)
    PILImage.fromarray(arr).save(tmp_path / "b.png")
    np.testing.assert_array_equal(
        load_image(tmp_path / "b.png").pixels, load_image_bytes((tmp_path / "b.png").read_bytes()).pixels
    )
