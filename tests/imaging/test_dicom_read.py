"""The DICOM pixel pipeline: bit depths, signedness, photometrics, LUTs, every transfer syntax."""

from __future__ import annotations

import io
import tracemalloc

import numpy as np
import pydicom
import pytest
from dicom_factory import dataset, ramp, save, tiled
from pydicom.dataset import Dataset

from ml.imaging import load_image, load_image_bytes
from ml.imaging.dicom import read_dicom

# --------------------------------------------------------------------- depth × sign × photometric


@pytest.mark.parametrize("photometric", ["MONOCHROME1", "MONOCHROME2"])
@pytest.mark.parametrize(
    ("bits", "signed"), [(8, False), (8, True), (12, False), (12, True), (16, False), (16, True)]
)
def test_native_matrix_roundtrips_stored_values(tmp_path, photometric, bits, signed):
    arr = ramp(24, 40, bits, signed)
    path = save(dataset(arr, bits_stored=bits, photometric=photometric), tmp_path / "a.dcm")
    img = load_image(path)
    np.testing.assert_array_equal(img.pixels, arr)
    assert img.pixels.dtype == arr.dtype  # identity rescale: no widening
    assert img.invert is (photometric == "MONOCHROME1")
    assert img.photometric == photometric
    assert img.bits_stored == bits
    assert img.metadata["pixel_representation"] == ("signed" if signed else "unsigned")


def test_monochrome1_is_inverted_after_voi(tmp_path):
    arr = tiled(np.array([[0, 100], [200, 300]], dtype=np.uint16))
    ds = dataset(arr, bits_stored=12, photometric="MONOCHROME1", WindowCenter=150, WindowWidth=300)
    img = load_image(save(ds, tmp_path / "m1.dcm"))
    out = img.display()
    # VOI maps 0 → dark, 300 → bright; MONOCHROME1 then flips: low values are displayed white.
    assert out[0, 0] == 255 and out[1, 1] == 0
    assert out[0, 1] > out[1, 0]


def test_presentation_lut_inverse_on_monochrome2_inverts(tmp_path):
    arr = ramp(16, 16, 12, False)
    img = load_image(save(dataset(arr, bits_stored=12, PresentationLUTShape="INVERSE"), tmp_path / "i.dcm"))
    assert img.invert is True


# ----------------------------------------------------------------------------- modality LUT stage


def test_integer_rescale_stays_integer(tmp_path):
    arr = ramp(16, 16, 12, False)
    ds = dataset(arr, bits_stored=12, RescaleSlope=1, RescaleIntercept=-1024)
    img = load_image(save(ds, tmp_path / "r.dcm"))
    assert img.pixels.dtype == np.int16
    np.testing.assert_array_equal(img.pixels, arr.astype(np.int32) - 1024)


def test_fractional_rescale_is_float32(tmp_path):
    arr = ramp(16, 16, 16, True)
    ds = dataset(arr, bits_stored=16, RescaleSlope=0.5, RescaleIntercept=10.25)
    img = load_image(save(ds, tmp_path / "f.dcm"))
    assert img.pixels.dtype == np.float32
    np.testing.assert_allclose(img.pixels, arr.astype(np.float64) * 0.5 + 10.25, rtol=1e-6)
    assert img.metadata["rescale_slope"] == 0.5


def test_modality_lut_sequence_is_applied(tmp_path):
    arr = tiled(np.array([[0, 1, 2, 3], [4, 5, 6, 7]], dtype=np.uint16))
    item = Dataset()
    item.LUTDescriptor = [6, 1, 16]  # 6 entries, first mapped value 1
    item.LUTData = [10, 20, 30, 40, 50, 60]
    item["LUTData"].VR = "US"
    item.LUTExplanation = "test LUT"
    ds = dataset(arr, bits_stored=8)
    ds.ModalityLUTSequence = [item]
    img = load_image(save(ds, tmp_path / "mlut.dcm"))
    # below first mapped → first entry, above the table → last entry
    np.testing.assert_array_equal(img.pixels, tiled([[10, 10, 20, 30], [40, 50, 60, 60]]))
    assert img.metadata["modality_lut"] == "test LUT"


# -------------------------------------------------------------------------------------- VOI stage


def _voi_item(first: int, values: list[int], name: str) -> Dataset:
    item = Dataset()
    item.LUTDescriptor = [len(values), first, 12]
    item.LUTData = values
    item["LUTData"].VR = "US"
    item.LUTExplanation = name
    return item


def test_windows_become_named_presets(tmp_path):
    arr = ramp(16, 16, 12, False)
    ds = dataset(
        arr,
        bits_stored=12,
        WindowCenter=[2048, 1000],
        WindowWidth=[4096, 500],
        WindowCenterWidthExplanation=["FULL", "SOFT"],
        VOILUTFunction="SIGMOID",
    )
    img = load_image(save(ds, tmp_path / "w.dcm"))
    assert [(w.name, w.center, w.width) for w in img.windows] == [("FULL", 2048, 4096), ("SOFT", 1000, 500)]
    assert img.voi_lut is None
    assert img.metadata["voi_lut_function"] == "SIGMOID"


@pytest.mark.parametrize("prefer_lut", [True, False])
def test_voi_lut_vs_window_with_prefer_lut(tmp_path, prefer_lut):
    arr = tiled(np.array([[0, 1, 2, 3]], dtype=np.uint16))
    ds = dataset(arr, bits_stored=12, WindowCenter=2, WindowWidth=4)
    ds.VOILUTSequence = [_voi_item(1, [0, 1000, 4095], "STEEP"), _voi_item(0, [0, 4095], "SECOND")]
    img = load_image(save(ds, tmp_path / "v.dcm"), prefer_lut=prefer_lut)
    assert [lut["name"] for lut in img.metadata["voi_luts"]] == ["STEEP", "SECOND"]
    assert [w.center for w in img.windows] == [2]
    if prefer_lut:
        np.testing.assert_array_equal(img.voi_lut, [0, 1000, 4095])
        assert img.voi_lut_first_mapped == 1
        assert img.display()[0, :4].tolist() == [0, 0, round(1000 / 4095 * 255), 255]
    else:
        assert img.voi_lut is None


def test_voi_lut_alone_is_used_even_without_prefer_lut(tmp_path):
    arr = tiled(np.array([[0, 5]], dtype=np.uint16))
    ds = dataset(arr, bits_stored=12)
    ds.VOILUTSequence = [_voi_item(0, list(range(0, 4096, 512)), "ONLY")]
    img = load_image(save(ds, tmp_path / "v.dcm"), prefer_lut=False)
    assert img.voi_lut is not None and img.windows == []


def test_voi_lut_as_ow_bytes_with_signed_first_mapped(tmp_path):
    arr = tiled(np.array([[-2, -1, 0, 1]], dtype=np.int16))
    ds = dataset(arr, bits_stored=16, WindowCenter=0, WindowWidth=4)
    item = Dataset()
    item.LUTDescriptor = [3, -1, 16]
    item["LUTDescriptor"].VR = "SS"
    item.LUTData = np.array([7, 8, 9], dtype="<u2").tobytes()
    item["LUTData"].VR = "OW"
    ds.VOILUTSequence = [item]
    img = load_image(save(ds, tmp_path / "ow.dcm"))
    assert img.voi_lut_first_mapped == -1
    np.testing.assert_array_equal(img.voi_lut, [7, 8, 9])


# ------------------------------------------------------------------------------ transfer syntaxes

LOSSLESS = [
    ("1.2.840.10008.1.2", {}),  # Implicit VR Little Endian
    ("1.2.840.10008.1.2.1", {}),
    ("1.2.840.10008.1.2.1.99", {}),  # Deflated
    ("1.2.840.10008.1.2.2", {}),  # Explicit VR Big Endian (retired)
    ("1.2.840.10008.1.2.5", {}),  # RLE
    ("1.2.840.10008.1.2.4.80", {}),  # JPEG-LS lossless
    ("1.2.840.10008.1.2.4.90", {}),  # JPEG 2000 lossless
    ("1.2.840.10008.1.2.4.57", {}),  # JPEG Lossless process 14
    ("1.2.840.10008.1.2.4.70", {}),  # JPEG Lossless SV1
]


@pytest.mark.parametrize(("syntax", "kwargs"), LOSSLESS, ids=[s for s, _ in LOSSLESS])
@pytest.mark.parametrize(("bits", "signed"), [(12, False), (16, False), (16, True)])
def test_lossless_syntaxes_decode_exactly(tmp_path, syntax, kwargs, bits, signed):
    arr = ramp(32, 48, bits, signed, seed=bits)
    path = save(dataset(arr, bits_stored=bits), tmp_path / "c.dcm", syntax, **kwargs)
    assert pydicom.dcmread(path, stop_before_pixels=True).file_meta.TransferSyntaxUID == syntax
    img = load_image(path)
    np.testing.assert_array_equal(img.pixels, arr)
    assert img.metadata["transfer_syntax"] == syntax


def _psnr(a: np.ndarray, b: np.ndarray, peak: float) -> float:
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    return 99.0 if mse == 0 else 10 * np.log10(peak**2 / mse)


def _smooth(rows: int, cols: int, peak: int) -> np.ndarray:
    y, x = np.mgrid[0:rows, 0:cols]
    return (peak * (0.5 + 0.4 * np.sin(x / 7.0) * np.cos(y / 9.0))).astype(np.uint16)


@pytest.mark.parametrize(
    ("syntax", "bits", "kwargs", "min_psnr"),
    [
        ("1.2.840.10008.1.2.4.50", 8, {}, 35.0),  # JPEG baseline via Pillow
        ("1.2.840.10008.1.2.4.51", 12, {}, 35.0),  # JPEG extended 12-bit via GDCM
        ("1.2.840.10008.1.2.4.81", 12, {"jls_error": 3}, 45.0),  # JPEG-LS near-lossless
        ("1.2.840.10008.1.2.4.91", 12, {"j2k_cr": [20]}, 35.0),  # JPEG 2000 lossy
    ],
)
def test_lossy_syntaxes_decode_close(tmp_path, syntax, bits, kwargs, min_psnr):
    arr = _smooth(64, 64, (1 << bits) - 1)
    if bits == 8:
        arr = arr.astype(np.uint8)
    path = save(dataset(arr, bits_stored=bits), tmp_path / "l.dcm", syntax, **kwargs)
    img = load_image(path)
    assert img.pixels.shape == arr.shape
    assert _psnr(img.pixels, arr, (1 << bits) - 1) > min_psnr
    if syntax == "1.2.840.10008.1.2.4.81":
        assert int(np.abs(img.pixels.astype(int) - arr.astype(int)).max()) <= 3


def test_file_without_preamble_or_meta_is_read(tmp_path):
    arr = ramp(20, 24, 12, False)
    ds = dataset(arr, bits_stored=12)
    del ds.file_meta
    path = tmp_path / "bare.img"
    ds.save_as(path, implicit_vr=True, little_endian=True)  # no preamble, no 'DICM'
    assert path.read_bytes()[128:132] != b"DICM"
    np.testing.assert_array_equal(load_image(path).pixels, arr)


# --------------------------------------------------------------------------------- header → Image


def test_geometry_and_positioning_reach_the_image(tmp_path):
    arr = ramp(20, 30, 12, False)
    ds = dataset(arr, bits_stored=12, ImagerPixelSpacing=[0.2, 0.25], ViewPosition="AP", ImageLaterality="L")
    img = load_image(save(ds, tmp_path / "g.dcm"))
    assert img.spacing == (0.2, 0.25) and img.metadata["spacing_source"] == "ImagerPixelSpacing"
    assert (img.view_position, img.laterality) == ("AP", "L")
    assert img.size == (30, 20)
    ds2 = dataset(arr, bits_stored=12, ImagerPixelSpacing=[0.2, 0.2], PixelSpacing=[0.18, 0.18])
    img2 = load_image(save(ds2, tmp_path / "g2.dcm"))
    assert img2.spacing == (0.18, 0.18) and img2.metadata["spacing_source"] == "PixelSpacing"


def test_bytes_and_path_give_the_same_image(tmp_path):
    arr = ramp(16, 16, 16, False)
    path = save(
        dataset(arr, bits_stored=16, WindowCenter=100, WindowWidth=50),
        tmp_path / "b.dcm",
        "1.2.840.10008.1.2.5",
    )
    a, b = load_image(path), load_image_bytes(path.read_bytes(), "b.dcm")
    np.testing.assert_array_equal(a.pixels, b.pixels)
    assert a.windows == b.windows and b.source == "b.dcm"


def test_uncompressed_load_makes_no_extra_pixel_copies(tmp_path):
    arr = ramp(1000, 1000, 16, False)  # 2 MB
    path = save(dataset(arr, bits_stored=16), tmp_path / "big.dcm")
    read_dicom(path)  # warm imports and caches
    tracemalloc.start()
    img = read_dicom(path)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert img.pixels.dtype == np.uint16
    # one pixel buffer plus header bookkeeping; a bytes copy or a float64 rescale would be ≥ 2× / 4×
    assert peak < 1.5 * arr.nbytes, peak


def test_upload_bytes_make_one_pixel_copy():
    arr = ramp(1000, 1000, 16, False)
    buf = io.BytesIO()
    ds = dataset(arr, bits_stored=16)
    ds.save_as(buf, enforce_file_format=True)
    data = buf.getvalue()
    load_image_bytes(data, "warm.dcm")
    tracemalloc.start()
    img = load_image_bytes(data, "up.dcm")
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    np.testing.assert_array_equal(img.pixels, arr)
    assert img.pixels.flags.writeable  # an owned copy, not a read-only view on the upload
    assert not np.shares_memory(img.pixels, np.frombuffer(data, np.uint8))
    assert peak < 1.5 * arr.nbytes, peak  # the upload's bytes are not duplicated before the array
