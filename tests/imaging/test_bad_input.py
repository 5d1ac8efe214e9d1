"""Bad input never crashes: each case raises its typed ImageError with a one-line message."""

from __future__ import annotations

import numpy as np
import pytest
from dicom_factory import dataset, ramp, save
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian, generate_uid

from ml.imaging import (
    ImageError,
    ImageTooLarge,
    NoPixelData,
    NotARadiograph,
    TruncatedFile,
    UnknownFormat,
    UnsupportedTransferSyntax,
    load_image,
    load_image_bytes,
)

# pydicom warns on every early EOF before we turn it into TruncatedFile
pytestmark = pytest.mark.filterwarnings("ignore:End of file reached:UserWarning")


def _one_line(err: ImageError) -> str:
    text = str(err)
    assert text and "\n" not in text and len(text) < 300
    return text


@pytest.mark.parametrize("syntax", [None, "1.2.840.10008.1.2.5", "1.2.840.10008.1.2.4.80"])
@pytest.mark.parametrize("keep", [0.97, 0.5, 0.01])
def test_truncated_dicom(tmp_path, syntax, keep):
    path = save(dataset(ramp(200, 200, 16, False), bits_stored=16), tmp_path / "full.dcm", syntax)
    data = path.read_bytes()
    cut = tmp_path / "cut.dcm"
    cut.write_bytes(data[: max(140, int(len(data) * keep))])
    with pytest.raises((TruncatedFile, ImageError)) as info:
        load_image(cut)
    assert isinstance(info.value, TruncatedFile), f"{type(info.value).__name__}: {info.value}"
    _one_line(info.value)
    with pytest.raises(TruncatedFile):
        load_image_bytes(cut.read_bytes(), "cut.dcm")


def test_no_pixel_data(tmp_path):
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = "1.2.840.10008.5.1.4.1.1.88.11"  # Basic Text SR
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = Dataset()
    ds.file_meta = meta
    ds.SOPClassUID = meta.MediaStorageSOPClassUID
    ds.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
    ds.Modality = "SR"
    path = tmp_path / "sr.dcm"
    ds.save_as(path, enforce_file_format=True)
    with pytest.raises(NoPixelData, match="Basic Text SR"):
        load_image(path)


def test_ct_volume_and_ct_slice(tmp_path):
    vol = np.stack([ramp(16, 16, 12, False, seed=i) for i in range(4)])
    path = save(dataset(vol, bits_stored=12, modality="CT"), tmp_path / "vol.dcm")
    with pytest.raises(NotARadiograph, match="4-frame CT volume") as info:
        load_image(path)
    _one_line(info.value)
    with pytest.raises(NotARadiograph):  # volumes never pass
        load_image(path, allow_non_radiograph=True)
    slice_path = save(dataset(vol[0], bits_stored=12, modality="CT"), tmp_path / "slice.dcm")
    with pytest.raises(NotARadiograph, match="CT slice"):
        load_image(slice_path)
    assert load_image(slice_path, allow_non_radiograph=True).pixels.shape == (16, 16)


@pytest.mark.parametrize("photometric", ["RGB", "YBR_FULL"])
def test_colour_dicom(tmp_path, photometric):
    rgb = np.zeros((8, 8, 3), dtype=np.uint8)
    rgb[..., 0] = 200
    path = save(dataset(rgb, photometric=photometric, modality="XC"), tmp_path / "rgb.dcm")
    with pytest.raises(NotARadiograph, match=f"colour image \\({photometric}\\)"):
        load_image(path)


def test_palette_colour_dicom(tmp_path):
    ds = dataset(np.zeros((8, 8), dtype=np.uint8), photometric="PALETTE COLOR", modality="US")
    with pytest.raises(NotARadiograph, match="PALETTE COLOR"):
        load_image(save(ds, tmp_path / "pal.dcm"))


def test_colour_png(tmp_path):
    rgb = np.zeros((8, 8, 3), dtype=np.uint8)
    rgb[..., 0] = 200
    from PIL import Image as PILImage

    png = tmp_path / "photo.png"
    PILImage.fromarray(rgb).save(png)
    with pytest.raises(NotARadiograph, match="colour"):
        load_image(png)


def test_wrong_extensions_are_read_by_content(tmp_path):
    arr = ramp(24, 24, 12, False)
    dcm = save(dataset(arr, bits_stored=12), tmp_path / "x.dcm")
    as_png = tmp_path / "really_dicom.png"
    as_png.write_bytes(dcm.read_bytes())
    np.testing.assert_array_equal(load_image(as_png).pixels, arr)
    from PIL import Image as PILImage

    png_as_dcm = tmp_path / "really_png.dcm"
    PILImage.fromarray(arr.astype(np.uint8)).save(png_as_dcm, format="PNG")
    assert load_image(png_as_dcm).metadata["format"] == "png"
    text = tmp_path / "notes.dcm"
    text.write_text("FINDINGS: none\n" * 20)
    with pytest.raises(UnknownFormat, match="notes.dcm"):
        load_image(text)


def test_empty_and_missing_files(tmp_path):
    empty = tmp_path / "empty.dcm"
    empty.write_bytes(b"")
    with pytest.raises(TruncatedFile, match="empty"):
        load_image(empty)
    with pytest.raises(ImageError, match="not found"):
        load_image(tmp_path / "missing.dcm")
    with pytest.raises(ImageError, match="folder"):
        load_image(tmp_path)
    with pytest.raises(TruncatedFile):
        load_image_bytes(b"", "upload.dcm")


def test_unknown_transfer_syntax_names_it(tmp_path):
    from pydicom.encaps import encapsulate

    ds = dataset(ramp(8, 8, 8, False), bits_stored=8)
    ds.PixelData = encapsulate([b"\x00\x00\x01\xb3" + b"\x00" * 60])  # an MPEG-2 sequence header stub
    ds["PixelData"].VR = "OB"
    ds.file_meta.TransferSyntaxUID = "1.2.840.10008.1.2.4.100"  # MPEG2 Main Profile: no decoder exists
    path = tmp_path / "video.dcm"
    ds.save_as(path, enforce_file_format=True)
    with pytest.raises(UnsupportedTransferSyntax) as info:
        load_image(path)
    assert info.value.uid == "1.2.840.10008.1.2.4.100"
    assert "MPEG2" in _one_line(info.value)


def test_missing_plugin_names_the_plugin(tmp_path, monkeypatch):
    from pydicom.pixels import get_decoder

    path = save(dataset(ramp(8, 8, 16, False), bits_stored=16), tmp_path / "ls.dcm", "1.2.840.10008.1.2.4.80")
    decoder = get_decoder("1.2.840.10008.1.2.4.80")
    monkeypatch.setattr(type(decoder), "is_available", property(lambda self: False))
    with pytest.raises(UnsupportedTransferSyntax, match="pyjpegls") as info:
        load_image(path)
    assert "JPEG-LS Lossless" in _one_line(info.value)


def test_max_pixels_is_checked_before_decoding(tmp_path):
    path = save(dataset(ramp(100, 100, 16, False), bits_stored=16), tmp_path / "x.dcm")
    with pytest.raises(ImageTooLarge, match="100×100"):
        load_image(path, max_pixels=5000)
    assert load_image(path, max_pixels=10_000).pixels.shape == (100, 100)


def test_garbage_after_dicom_magic(tmp_path):
    data = b"\x00" * 128 + b"DICM" + bytes(range(256)) * 8
    with pytest.raises(ImageError) as info:
        load_image_bytes(data, "junk.dcm")
    _one_line(info.value)


@pytest.mark.parametrize("gz", [False, True])
def test_nifti_volume_is_named(tmp_path, gz):
    nib = pytest.importorskip("nibabel")
    path = tmp_path / ("ct.nii.gz" if gz else "ct.nii")
    nib.save(nib.Nifti1Image(np.zeros((4, 4, 3), np.int16), np.eye(4)), path)
    with pytest.raises(NotARadiograph, match="NIfTI volume"):
        load_image(path)
    with pytest.raises(NotARadiograph, match="NIfTI volume"):
        load_image_bytes(path.read_bytes(), path.name)


@pytest.mark.filterwarnings("ignore::UserWarning")  # pydicom warns about each garbled value it reads
def test_corrupted_bytes_never_escape_as_other_errors(tmp_path):
    """Flip random bytes of valid files (native and RLE): every outcome is an Image or an ImageError."""
    rng = np.random.default_rng(7)
    sources = [
        save(
            dataset(ramp(16, 16, 12, False), bits_stored=12, WindowCenter=100, WindowWidth=50),
            tmp_path / "a.dcm",
        ),
        save(dataset(ramp(16, 16, 16, True), bits_stored=16), tmp_path / "b.dcm", "1.2.840.10008.1.2.5"),
    ]
    outcomes = {"ok": 0, "error": 0}
    for path in sources:
        data = path.read_bytes()
        for _ in range(150):
            corrupt = bytearray(data)
            for pos in rng.integers(132, min(len(data), 900), size=int(rng.integers(1, 6))):
                corrupt[pos] = int(rng.integers(0, 256))
            try:
                load_image_bytes(bytes(corrupt), "fuzz.dcm")
                outcomes["ok"] += 1
            except ImageError as e:
                _one_line(e)
                outcomes["error"] += 1
    assert outcomes["ok"] > 0 and outcomes["error"] > 0  # the corruption did bite, and not always
