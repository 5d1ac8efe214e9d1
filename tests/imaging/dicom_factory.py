"""Build DICOM test files in code: any bit depth, signedness, photometric and transfer syntax.

Encoders: pydicom's RLE, pyjpegls (JPEG-LS), pylibjpeg-openjpeg (JPEG 2000), Pillow (8-bit JPEG
baseline) and GDCM (JPEG Extended 12-bit, JPEG Lossless process 14) — so each decoder we
depend on is exercised on data an independent encoder produced (except GDCM's JPEG ones).
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pydicom
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.encaps import encapsulate
from pydicom.uid import UID, ExplicitVRLittleEndian, generate_uid

CR_IMAGE_STORAGE = UID("1.2.840.10008.5.1.4.1.1.1")


def ramp(rows: int, cols: int, bits: int, signed: bool, seed: int = 0) -> np.ndarray:
    """A test image that uses the full stored range (extremes included) plus texture."""
    rng = np.random.default_rng(seed)
    lo = -(1 << (bits - 1)) if signed else 0
    hi = (1 << (bits - 1)) - 1 if signed else (1 << bits) - 1
    dtype = (np.int8 if bits <= 8 else np.int16) if signed else (np.uint8 if bits <= 8 else np.uint16)
    grad = np.linspace(lo, hi, cols)[None, :].repeat(rows, axis=0)
    noise = rng.integers(-3, 4, size=(rows, cols))
    arr = np.clip(np.rint(grad) + noise, lo, hi).astype(dtype)
    arr[0, 0], arr[-1, -1] = lo, hi
    return arr


def tiled(arr, side: int = 16) -> np.ndarray:
    """``arr`` repeated until each side is at least ``side`` (the loaders refuse smaller images);
    ``tiled(arr)[:r, :c]`` is ``arr`` itself, so small hand-written patterns keep their indices."""
    arr = np.asarray(arr)
    return np.tile(arr, (-(-side // arr.shape[0]), -(-side // arr.shape[1])))


def dataset(
    arr: np.ndarray,
    *,
    bits_stored: int | None = None,
    photometric: str = "MONOCHROME2",
    modality: str = "CR",
    sop_class: str = CR_IMAGE_STORAGE,
    **tags,
) -> Dataset:
    """A minimal but valid image dataset around ``arr`` (2-D, or 3-D for multi-frame/colour)."""
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = UID(sop_class)
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = Dataset()
    ds.file_meta = meta
    ds.SOPClassUID = UID(sop_class)
    ds.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
    ds.StudyInstanceUID = generate_uid()
    ds.SeriesInstanceUID = generate_uid()
    ds.PatientID = "TEST"
    ds.Modality = modality
    itemsize = arr.dtype.itemsize
    colour = photometric in ("RGB", "YBR_FULL")
    ds.SamplesPerPixel = 3 if colour else 1
    if colour:
        ds.PlanarConfiguration = 0
    ds.PhotometricInterpretation = photometric
    if arr.ndim == 3 and not colour:
        ds.NumberOfFrames = arr.shape[0]
        ds.Rows, ds.Columns = arr.shape[1:]
    else:
        ds.Rows, ds.Columns = arr.shape[:2]
    ds.BitsAllocated = itemsize * 8
    ds.BitsStored = bits_stored or itemsize * 8
    ds.HighBit = ds.BitsStored - 1
    ds.PixelRepresentation = 1 if arr.dtype.kind == "i" else 0
    for key, value in tags.items():
        setattr(ds, key, value)
    ds.PixelData = np.ascontiguousarray(arr).astype(arr.dtype.newbyteorder("<")).tobytes()
    return ds


def save(ds: Dataset, path: Path, syntax: str | None = None, **encode_kwargs) -> Path:
    """Write ``ds`` with ``syntax`` (None: Explicit VR Little Endian)."""
    uid = UID(syntax) if syntax else ExplicitVRLittleEndian
    if uid == "1.2.840.10008.1.2.2":  # Explicit VR Big Endian (retired, still in archives)
        arr = np.frombuffer(ds.PixelData, dtype=f"<u{ds.BitsAllocated // 8}")
        ds.PixelData = arr.astype(arr.dtype.newbyteorder(">")).tobytes()
        ds.file_meta.TransferSyntaxUID = uid
        ds.save_as(path, enforce_file_format=True)
        return path
    if uid in ("1.2.840.10008.1.2", "1.2.840.10008.1.2.1", "1.2.840.10008.1.2.1.99"):
        ds.file_meta.TransferSyntaxUID = uid
        ds.save_as(path, enforce_file_format=True)
        return path
    if uid == "1.2.840.10008.1.2.4.50":
        return _pillow_jpeg(ds, path)
    if uid in ("1.2.840.10008.1.2.4.51", "1.2.840.10008.1.2.4.57", "1.2.840.10008.1.2.4.70"):
        tmp = path.with_suffix(".native.dcm")
        ds.save_as(tmp, enforce_file_format=True)
        return gdcm_transcode(tmp, path, uid)
    ds.compress(uid, **encode_kwargs)
    ds.save_as(path, enforce_file_format=True)
    return path


def _pillow_jpeg(ds: Dataset, path: Path) -> Path:
    from PIL import Image as PILImage

    arr = np.frombuffer(ds.PixelData, dtype=np.uint8).reshape(ds.Rows, ds.Columns)
    buf = io.BytesIO()
    PILImage.fromarray(arr, mode="L").save(buf, format="JPEG", quality=95)
    ds.PixelData = encapsulate([buf.getvalue()])
    ds["PixelData"].VR = "OB"
    ds.file_meta.TransferSyntaxUID = UID("1.2.840.10008.1.2.4.50")
    ds.LossyImageCompression = "01"
    ds.save_as(path, enforce_file_format=True)
    return path


def gdcm_transcode(src: Path, dst: Path, uid: str) -> Path:
    import gdcm

    names = {
        "1.2.840.10008.1.2.4.51": gdcm.TransferSyntax.JPEGExtendedProcess2_4,
        "1.2.840.10008.1.2.4.57": gdcm.TransferSyntax.JPEGLosslessProcess14,
        "1.2.840.10008.1.2.4.70": gdcm.TransferSyntax.JPEGLosslessProcess14_1,
    }
    reader = gdcm.ImageReader()
    reader.SetFileName(str(src))
    if not reader.Read():
        raise RuntimeError("gdcm could not read the source file")
    change = gdcm.ImageChangeTransferSyntax()
    change.SetTransferSyntax(gdcm.TransferSyntax(names[str(uid)]))
    change.SetInput(reader.GetImage())
    if not change.Change():
        raise RuntimeError(f"gdcm could not encode {uid}")
    writer = gdcm.ImageWriter()
    writer.SetFileName(str(dst))
    writer.SetFile(reader.GetFile())
    writer.SetImage(change.GetOutput())
    if not writer.Write():
        raise RuntimeError("gdcm could not write")
    assert pydicom.dcmread(dst, stop_before_pixels=True).file_meta.TransferSyntaxUID == uid
    return dst
