"""DICOM radiographs in and out: the pixel pipeline of PS3.4 N.2 with the VOI kept separate.

Reading (:func:`read_dicom`) follows the standard's grayscale pipeline up to the VOI stage:

    stored values → Modality LUT (Rescale Slope/Intercept or Modality LUT Sequence)
                  → ``Image.pixels`` (modality values, kept as uint16/int16/int32/float32)
    VOI (windows / VOI LUT) and MONOCHROME1 inversion are *described* on the ``Image``
    (``windows``, ``voi_lut``, ``invert``) and applied by the viewer through display levels,
    so window/level never recomputes a 3000×3000 image.

Uncompressed files are decoded straight from disk into one array (``pydicom.pixels.pixel_array``
on the open file), so a 16-bit 3000×3000 radiograph costs one 18 MB buffer, not three.
Compressed syntaxes use pydicom's decoder plugins; the permissive ones are dependencies
(pylibjpeg-rle, pyjpegls, pylibjpeg-openjpeg, Pillow, python-gdcm for JPEG Lossless).

Writing (:func:`write_dx`) produces a DX Image Storage – For Presentation object.
"""

from __future__ import annotations

import datetime as _dt
import io
import os
import struct
import zlib
from collections.abc import Sequence
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np
import pydicom
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.errors import InvalidDicomError
from pydicom.uid import UID, ExplicitVRLittleEndian, generate_uid

from ml.imaging.errors import (
    CorruptImage,
    ImageError,
    ImageTooLarge,
    NoPixelData,
    NotARadiograph,
    TruncatedFile,
    UnknownFormat,
    UnsupportedTransferSyntax,
)
from ml.imaging.plausible import check_radiograph
from ml.types import Image, Window

#: SOP Class UIDs this module writes.
DX_FOR_PRESENTATION = UID("1.2.840.10008.5.1.4.1.1.1.1")
DX_FOR_PROCESSING = UID("1.2.840.10008.5.1.4.1.1.1.1.1")

#: A permissive plugin (pip name) that decodes each compressed transfer syntax.
#: The GPLv3 ``pylibjpeg-libjpeg`` would also do the JPEG ones; we never require it.
PLUGIN_FOR_SYNTAX: dict[str, str] = {
    "1.2.840.10008.1.2.5": "pylibjpeg-rle (or numpy for pydicom's own RLE decoder)",
    "1.2.840.10008.1.2.4.50": "pillow or python-gdcm",
    "1.2.840.10008.1.2.4.51": "python-gdcm (12-bit) or pillow (8-bit)",
    "1.2.840.10008.1.2.4.57": "python-gdcm",
    "1.2.840.10008.1.2.4.70": "python-gdcm",
    "1.2.840.10008.1.2.4.80": "pyjpegls",
    "1.2.840.10008.1.2.4.81": "pyjpegls",
    "1.2.840.10008.1.2.4.90": "pylibjpeg-openjpeg",
    "1.2.840.10008.1.2.4.91": "pylibjpeg-openjpeg",
    "1.2.840.10008.1.2.4.201": "pylibjpeg-openjpeg",
    "1.2.840.10008.1.2.4.202": "pylibjpeg-openjpeg",
    "1.2.840.10008.1.2.4.203": "pylibjpeg-openjpeg",
}

#: Everything else a decoder throws becomes an ImageError. pyo3-based plugins (pylibjpeg-rle)
#: raise ``PanicException``, a BaseException, on corrupt input: it must not take a server down.
_NEVER_CATCH = (KeyboardInterrupt, SystemExit, GeneratorExit)
_PIXEL_KEYWORDS = ("PixelData", "FloatPixelData", "DoubleFloatPixelData")
_NOT_PROJECTION = {"CT": "CT", "MR": "MR", "PT": "PET", "NM": "nuclear medicine", "US": "ultrasound"}
_DEFER = 256 * 1024  # elements larger than this are read from disk only when decoded


def is_dicom_header(head: bytes) -> bool:
    """True if the first bytes look like DICOM: the 'DICM' magic, or a bare dataset (no preamble)."""
    if len(head) >= 132 and head[128:132] == b"DICM":
        return True
    if len(head) < 8:
        return False
    # A dataset without preamble starts with a low group tag: (0002,xxxx) or (0008,xxxx),
    # little endian (implicit or explicit VR) — how old archives and some modalities send it.
    group, element = struct.unpack("<HH", head[:4])
    return group in (0x0002, 0x0008) and element < 0x0100


# --------------------------------------------------------------------------------------- reading


def read_dicom(
    source: str | os.PathLike[str] | bytes | BinaryIO,
    *,
    prefer_lut: bool = True,
    max_pixels: int | None = None,
    allow_non_radiograph: bool = False,
    name: str = "",
) -> Image:
    """Read one single-frame greyscale DICOM image into an :class:`Image`.

    ``prefer_lut``: when the file has both a VOI LUT Sequence and Window Center/Width, the
    LUT is the default VOI (``Image.voi_lut``); with False, the windows are, and the LUTs
    stay in ``metadata["voi_luts"]``. Every window in the file becomes a named ``Window``.
    ``max_pixels`` rejects images larger than that before any pixel is decoded.
    ``allow_non_radiograph`` lets a single CT/MR slice through (volumes never pass).
    Raises an :class:`~ml.imaging.errors.ImageError` subclass on anything unusable.
    """
    label = name or (str(source) if isinstance(source, (str, os.PathLike)) else "upload")
    data: bytes | None = None
    fp: Any = None
    path: Path | None = None
    if isinstance(source, (str, os.PathLike)):
        path = Path(source)
    else:  # bytes or an open file: one in-memory path, checked exactly like a file on disk
        data = bytes(source) if isinstance(source, (bytes, bytearray, memoryview)) else source.read()
        fp = io.BytesIO(data)

    try:
        ds = _read_header(path if path is not None else fp, label)
        _check_image(ds, label, allow_non_radiograph, max_pixels)
        tsyntax = _transfer_syntax(ds)
        _check_decoder(tsyntax, label)
        stored = _decode(ds, path, fp, tsyntax, label, data)
        image = _to_image(ds, stored, tsyntax, prefer_lut, label)
        check_radiograph(image.pixels, label)
        return image
    except ImageError:
        raise
    except _NEVER_CATCH:
        raise
    except BaseException as e:  # a malformed value deep in the header: still one typed, one-line error
        msg = str(e).splitlines()[0] if str(e) else type(e).__name__
        raise CorruptImage(f"{_short(label)}: malformed DICOM ({msg[:160]})", source=label) from e


def _read_header(src: Any, label: str) -> Dataset:
    try:
        ds = pydicom.dcmread(src, force=True, defer_size=_DEFER)
    except InvalidDicomError as e:
        raise UnknownFormat(f"{_short(label)} is not a DICOM file ({e})", source=label) from e
    except (EOFError, struct.error, OSError, ValueError, IndexError, zlib.error) as e:
        if isinstance(e, FileNotFoundError):
            raise ImageError(f"File not found: {label}", source=label) from e
        if isinstance(e, (EOFError, struct.error)) or _says_truncated(str(e)):
            raise truncated(label) from e
        msg = str(e).splitlines()[0] if str(e) else type(e).__name__
        raise CorruptImage(f"{_short(label)}: malformed DICOM header ({msg[:160]})", source=label) from e
    if len(ds) == 0:
        if getattr(ds, "file_meta", None) or getattr(ds, "preamble", None) is not None:
            raise truncated(label)  # the DICM magic (or a file meta group) and then nothing
        raise UnknownFormat(f"{_short(label)} holds no DICOM elements", source=label)
    return ds


def truncated(label: str) -> TruncatedFile:
    """The one error for a DICOM file that ends early, wherever the cut falls and however it is read."""
    message = f"{_short(label)}: DICOM file is truncated (it ends before its pixel data does)"
    return TruncatedFile(message, source=label)


def _says_truncated(message: str) -> bool:
    low = message.lower()
    return any(w in low for w in ("truncat", "less than expected", "not enough", "end of file", "incomplete"))


def _check_image(ds: Dataset, label: str, allow_non_radiograph: bool, max_pixels: int | None) -> None:
    name = _short(label)
    if not any(k in ds for k in _PIXEL_KEYWORDS):
        sop = ds.get("SOPClassUID") or getattr(ds, "file_meta", {}).get("MediaStorageSOPClassUID")
        sop_name = UID(str(sop)).name if sop and UID(str(sop)).is_valid else ""
        if "Image Storage" in sop_name or "Rows" in ds:
            # An image object without its pixels: the file stops early (pydicom reads up to EOF quietly).
            raise truncated(label)
        what = f" ({sop_name})" if sop_name else ""
        raise NoPixelData(f"{name} has no pixel data{what}", source=label)
    frames = int(ds.get("NumberOfFrames", 1) or 1)
    modality = str(ds.get("Modality", "")).upper()
    if frames > 1:
        raise NotARadiograph(
            f"{name} is a {frames}-frame {modality or 'multi-frame'} volume, not a projection radiograph",
            source=label,
        )
    photometric = str(ds.get("PhotometricInterpretation", "MONOCHROME2")).upper()
    samples = int(ds.get("SamplesPerPixel", 1) or 1)
    if samples != 1 or not photometric.startswith("MONOCHROME"):
        raise NotARadiograph(
            f"{name} is a colour image ({photometric}), not a greyscale radiograph", source=label
        )
    if modality in _NOT_PROJECTION and not allow_non_radiograph:
        raise NotARadiograph(
            f"{name} is a {_NOT_PROJECTION[modality]} slice, not a projection radiograph", source=label
        )
    rows, cols = int(ds.get("Rows", 0) or 0), int(ds.get("Columns", 0) or 0)
    if rows <= 0 or cols <= 0:
        raise CorruptImage(f"{name} has no image size (Rows/Columns)", source=label)
    if max_pixels is not None and rows * cols > max_pixels:
        raise ImageTooLarge(
            f"{name} is {cols}×{rows} pixels, more than the limit of {max_pixels:,}", source=label
        )


def _transfer_syntax(ds: Dataset) -> UID:
    meta = getattr(ds, "file_meta", None)
    uid = meta.get("TransferSyntaxUID") if meta is not None else None
    if uid:
        return UID(uid)
    implicit, little = ds.original_encoding
    if implicit is None or little is None or implicit:
        return UID("1.2.840.10008.1.2")
    return ExplicitVRLittleEndian if little else UID("1.2.840.10008.1.2.2")


def _check_decoder(tsyntax: UID, label: str) -> None:
    if not tsyntax.is_compressed:
        return
    from pydicom.pixels import get_decoder

    plugin = PLUGIN_FOR_SYNTAX.get(str(tsyntax), "a pydicom decoding plugin for it")
    try:
        decoder = get_decoder(tsyntax)
    except NotImplementedError:
        raise UnsupportedTransferSyntax(str(tsyntax), tsyntax.name, plugin, source=label) from None
    if not decoder.is_available:
        raise UnsupportedTransferSyntax(str(tsyntax), tsyntax.name, plugin, source=label)


def _decode(
    ds: Dataset, path: Path | None, fp: Any, tsyntax: UID, label: str, data: bytes | None = None
) -> np.ndarray:

    name = _short(label)
    src: Path | bytes = path if path is not None else data  # type: ignore[assignment]
    try:
        if tsyntax.is_deflated:
            if not _deflated_complete(src):
                raise truncated(label)
            full = pydicom.dcmread(path if path is not None else _rewind(fp), force=True)
            arr = full.pixel_array
        elif (native := _read_native(ds, src, tsyntax, label)) is not None:
            arr = native
        elif tsyntax.is_compressed and not _encapsulated_complete(ds, src):
            raise truncated(label)
        elif tsyntax == _JPEG_EXTENDED and int(ds.get("BitsStored", 8) or 8) > 8:
            # pydicom's GDCM and Pillow plugins both refuse 12-bit JPEG Extended; GDCM's own reader decodes it.
            arr = _gdcm_decode(path if path is not None else _rewind(fp).read(), ds, tsyntax, label)
        else:
            arr = _decode_with_plugins(path if path is not None else fp, tsyntax)
    except ImageError:
        raise
    except (EOFError, struct.error) as e:
        raise truncated(label) from e
    except _NEVER_CATCH:
        raise
    except BaseException as e:  # decoders raise all sorts (Rust ones panic); the GUI needs one typed error
        msg = str(e).splitlines()[0] if str(e) else type(e).__name__
        low = msg.lower()
        if _says_truncated(low) or "doesn't match the expected" in low or (
            not tsyntax.is_compressed and ("cannot reshape" in low or "buffer size" in low)
        ):
            raise truncated(label) from e
        if "no available image handler" in low or "missing required dependencies" in low:
            plugin = PLUGIN_FOR_SYNTAX.get(str(tsyntax), "a pydicom decoding plugin")
            raise UnsupportedTransferSyntax(str(tsyntax), tsyntax.name, plugin, source=label) from e
        raise CorruptImage(f"{name}: could not decode {tsyntax.name} pixel data ({msg})", source=label) from e
    if arr.ndim != 2:
        raise NotARadiograph(f"{name} decodes to shape {arr.shape}, not a 2-D radiograph", source=label)
    if not arr.dtype.isnative:
        arr = arr.astype(arr.dtype.newbyteorder("="))
    return arr


def _read_native(ds: Dataset, src: Path | bytes, tsyntax: UID, label: str) -> np.ndarray | None:
    """Uncompressed integer pixels read straight into one writable array, or None (not handled).

    pydicom reads the value into ``bytes`` and then copies it into a writable array; for a
    3000×3000 16-bit image that is a needless second 18 MB buffer, so we ``readinto`` from the
    file instead, or copy once out of an upload's bytes. The array is returned only when every
    byte of it was read: a short file or upload raises, whichever path it took.
    """
    bits_alloc = int(ds.get("BitsAllocated", 0) or 0)
    if tsyntax.is_compressed or tsyntax.is_deflated or bits_alloc not in (8, 16, 32) or "PixelData" not in ds:
        return None
    raw = ds.get_item(0x7FE00010, keep_deferred=True)
    if raw is None or getattr(raw, "value_tell", None) is None:
        return None
    signed = int(ds.get("PixelRepresentation", 0) or 0) == 1
    rows, cols = int(ds.Rows), int(ds.Columns)
    order = "<" if tsyntax.is_little_endian else ">"
    dtype = np.dtype(f"{order}{'i' if signed else 'u'}{bits_alloc // 8}")
    nbytes = rows * cols * dtype.itemsize
    declared = raw.length if raw.length != 0xFFFFFFFF else None
    if declared is not None and declared < nbytes:
        raise CorruptImage(
            f"{_short(label)}: pixel data holds {declared:,} bytes but {cols}×{rows} pixels need {nbytes:,}",
            source=label,
        )
    arr = np.empty(rows * cols, dtype=dtype)
    view = memoryview(arr).cast("B")
    if raw.value is not None:  # small element, already in memory
        value = memoryview(bytes(raw.value))
        got = min(nbytes, len(value))
        view[:got] = value[:got]
    elif isinstance(src, bytes):
        got = max(0, min(nbytes, len(src) - raw.value_tell))
        view[:got] = memoryview(src)[raw.value_tell : raw.value_tell + got]
    else:
        with open(src, "rb") as f:
            f.seek(raw.value_tell)
            got = f.readinto(view) or 0
    if got < nbytes:  # never hand on a partly filled buffer: its tail is whatever memory held
        raise truncated(label)
    if not dtype.isnative:
        arr = arr.byteswap(inplace=True).view(dtype.newbyteorder("="))
    bits_stored = int(ds.get("BitsStored", bits_alloc) or bits_alloc)
    if bits_stored < bits_alloc:  # bits above High Bit are not pixel data (old overlays live there)
        shift = bits_alloc - bits_stored
        if signed:
            arr <<= shift
            arr >>= shift  # arithmetic shift: sign-extends the stored two's complement
        else:
            arr &= arr.dtype.type((1 << bits_stored) - 1)
    return arr.reshape(rows, cols)


def _deflated_complete(src: Path | bytes) -> bool:
    """True if the deflated dataset after the file meta group is a whole deflate stream.

    A cut deflate stream still inflates to most of the dataset, often with every pixel in it,
    so the stream's own end marker is what says the file is whole, and the even length the
    standard pads it to (PS3.5 A.5) says that not even the padding byte is missing.
    """
    data = src.read_bytes() if isinstance(src, Path) else src
    start = 132 if data[128:132] == b"DICM" else 0
    head = data[start : start + 12]
    if len(head) < 12 or head[:4] != b"\x02\x00\x00\x00":
        return True  # no group length to find the stream by: pydicom's own reading decides
    (meta_length,) = struct.unpack("<I", head[8:12])
    inflater = zlib.decompressobj(-zlib.MAX_WBITS)
    stream = start + 12 + meta_length
    try:
        for at in range(stream, len(data), 1 << 20):
            inflater.decompress(data[at : at + (1 << 20)], 0)
    except zlib.error:
        return True  # corrupt rather than short: pydicom's reading says what is wrong
    return inflater.eof and (len(data) - stream) % 2 == 0


def _encapsulated_complete(ds: Dataset, src: Path | bytes) -> bool:
    """True if the encapsulated Pixel Data's items all fit and end with the sequence delimiter.

    A compressed stream cut short can still decode (JPEG 2000 is progressive; a cut between
    fragments leaves whole frames), so completeness is checked on the item structure, not left
    to the decoder. Encapsulated data is always little endian.
    """
    raw = ds.get_item(0x7FE00010, keep_deferred=True)
    if raw is None or getattr(raw, "value_tell", None) is None:
        return True  # not from a stream we can inspect: the decoder's own checks apply
    with open(src, "rb") if isinstance(src, Path) else io.BytesIO(src) as f:
        f.seek(raw.value_tell)
        while True:
            head = f.read(8)
            if len(head) < 8:
                return False
            group, element, length = struct.unpack("<HHI", head)
            if (group, element) == (0xFFFE, 0xE0DD):
                return True
            if (group, element) != (0xFFFE, 0xE000) or length == 0xFFFFFFFF:
                return True  # not an item: malformed, not short; the decoder says what is wrong
            if length:
                f.seek(length - 1, io.SEEK_CUR)
                if not f.read(1):
                    return False  # the item runs past the end of the data


_JPEG_EXTENDED = UID("1.2.840.10008.1.2.4.51")

#: The plugin tried first per syntax. pydicom would otherwise pick GDCM whenever it is installed,
#: whose Python binding hands pixels back as a str: ~4× the image in memory and slower.
_PREFERRED_PLUGIN: dict[str, str] = {
    "1.2.840.10008.1.2.5": "pylibjpeg",
    "1.2.840.10008.1.2.4.50": "pillow",
    "1.2.840.10008.1.2.4.51": "pillow",
    "1.2.840.10008.1.2.4.80": "pyjpegls",
    "1.2.840.10008.1.2.4.81": "pyjpegls",
    "1.2.840.10008.1.2.4.90": "pylibjpeg",
    "1.2.840.10008.1.2.4.91": "pylibjpeg",
    "1.2.840.10008.1.2.4.201": "pylibjpeg",
    "1.2.840.10008.1.2.4.202": "pylibjpeg",
    "1.2.840.10008.1.2.4.203": "pylibjpeg",
}


def _decode_with_plugins(src: Any, tsyntax: UID) -> np.ndarray:
    """pydicom's decoder, trying our preferred plugin first and every available one after it."""
    from pydicom.pixels import get_decoder, pixel_array

    preferred = _PREFERRED_PLUGIN.get(str(tsyntax), "")
    if tsyntax.is_compressed and preferred and preferred in get_decoder(tsyntax).available_plugins:
        try:
            return pixel_array(
                _rewind(src) if hasattr(src, "seek") else src,
                transfer_syntax_uid=tsyntax,
                raw=True,
                decoding_plugin=preferred,
            )
        except _NEVER_CATCH:
            raise
        except BaseException:  # noqa: BLE001 - incl. pyo3 PanicException; fall back to pydicom's choice
            pass
    return pixel_array(_rewind(src) if hasattr(src, "seek") else src, transfer_syntax_uid=tsyntax, raw=True)


def _gdcm_decode(src: Path | bytes, ds: Dataset, tsyntax: UID, label: str) -> np.ndarray:
    """Decode a whole file with GDCM's ImageReader (the path pydicom's plugins don't cover)."""
    try:
        import gdcm
    except ImportError:
        raise UnsupportedTransferSyntax(str(tsyntax), tsyntax.name, "python-gdcm", source=label) from None
    import tempfile

    tmp = None
    if isinstance(src, (bytes, bytearray)):
        fd, tmp = tempfile.mkstemp(suffix=".dcm")
        with os.fdopen(fd, "wb") as f:
            f.write(src)
        src = Path(tmp)
    try:
        reader = gdcm.ImageReader()
        reader.SetFileName(str(src))
        if not reader.Read():
            raise CorruptImage(f"{_short(label)}: GDCM could not decode {tsyntax.name}", source=label)
        image = reader.GetImage()
        fmt = image.GetPixelFormat()
        bits, signed = int(fmt.GetBitsAllocated()), int(fmt.GetPixelRepresentation()) == 1
        buf = image.GetBuffer().encode("utf-8", "surrogateescape")  # GDCM hands char* back as str
    finally:
        if tmp is not None:
            os.unlink(tmp)
    dtype = np.dtype(f"<{'i' if signed else 'u'}{bits // 8}")
    rows, cols = int(ds.Rows), int(ds.Columns)
    if len(buf) < rows * cols * dtype.itemsize:
        raise truncated(label)
    return (
        np.frombuffer(buf, dtype=dtype, count=rows * cols).reshape(rows, cols).astype(dtype.newbyteorder("="))
    )


def _rewind(fp: Any) -> Any:
    fp.seek(0)
    return fp


def _to_image(ds: Dataset, stored: np.ndarray, tsyntax: UID, prefer_lut: bool, label: str) -> Image:
    photometric = str(ds.get("PhotometricInterpretation", "MONOCHROME2")).upper()
    bits_stored = int(ds.get("BitsStored", stored.dtype.itemsize * 8) or stored.dtype.itemsize * 8)
    signed = int(ds.get("PixelRepresentation", 0) or 0) == 1
    pixels, modality_info = apply_modality(stored, ds, bits_stored=bits_stored, signed=signed)
    windows = file_windows(ds)
    luts = file_voi_luts(ds)
    chosen = luts[0] if luts and (prefer_lut or not windows) else None
    shape = str(ds.get("PresentationLUTShape", "")).upper()
    invert = photometric == "MONOCHROME1" or (photometric == "MONOCHROME2" and shape == "INVERSE")
    spacing, spacing_source = pixel_spacing(ds)

    metadata: dict[str, Any] = {
        "format": "dicom",
        "transfer_syntax": str(tsyntax),
        "transfer_syntax_name": tsyntax.name,
        "sop_class_uid": str(ds.get("SOPClassUID", "")),
        "sop_instance_uid": str(ds.get("SOPInstanceUID", "")),
        "series_instance_uid": str(ds.get("SeriesInstanceUID", "")),
        "modality": str(ds.get("Modality", "")),
        "patient_id": str(ds.get("PatientID", "")),
        "patient_name": str(ds.get("PatientName", "")),
        "study_date": str(ds.get("StudyDate", "")),
        "manufacturer": str(ds.get("Manufacturer", "")),
        "accession_number": str(ds.get("AccessionNumber", "")),
        "description": str(ds.get("SeriesDescription", "") or ds.get("ImageComments", "") or ""),
        "presentation_intent": str(ds.get("PresentationIntentType", "")),
        "patient_orientation": [str(v) for v in (ds.get("PatientOrientation") or [])],
        "voi_lut_function": str(ds.get("VOILUTFunction", "") or "LINEAR").upper(),
        "spacing_source": spacing_source,
        "pixel_representation": "signed" if signed else "unsigned",
        "stored_dtype": str(stored.dtype),
        **modality_info,
    }
    if luts:
        metadata["voi_luts"] = luts
    return Image(
        pixels=pixels,
        spacing=spacing,
        windows=windows,
        voi_lut=chosen["lut"] if chosen else None,
        voi_lut_first_mapped=int(chosen["first_mapped"]) if chosen else 0,
        invert=invert,
        laterality=str(ds.get("ImageLaterality", "") or ds.get("Laterality", "") or "").upper(),
        view_position=str(ds.get("ViewPosition", "") or "").upper(),
        photometric=photometric,
        bits_stored=bits_stored,
        source=label,
        study_id=str(ds.get("StudyInstanceUID", "")),
        metadata=metadata,
    )


def apply_modality(
    stored: np.ndarray, ds: Dataset, *, bits_stored: int, signed: bool
) -> tuple[np.ndarray, dict[str, Any]]:
    """Stored values → modality values, in the narrowest dtype that holds them exactly.

    Identity rescale returns ``stored`` itself (no copy). An integer intercept with slope 1
    stays integer (uint16/int16/int32); anything else becomes float32, never float64.
    """
    if stored.dtype.kind == "f":
        return stored.astype(np.float32, copy=False), {"modality_lut": "none (float pixel data)"}
    if ds.get("ModalityLUTSequence"):
        item = ds.ModalityLUTSequence[0]
        n, first, _bits = _lut_descriptor(item)
        lut = _lut_array(item, n, ds)
        idx = stored.astype(np.int64) - first
        np.clip(idx, 0, n - 1, out=idx)
        return lut[idx], {"modality_lut": str(item.get("LUTExplanation", "") or "Modality LUT Sequence")}
    slope = float(ds.get("RescaleSlope", 1) or 1)
    intercept = float(ds.get("RescaleIntercept", 0) or 0)
    info: dict[str, Any] = {
        "rescale_slope": slope,
        "rescale_intercept": intercept,
        "rescale_type": str(ds.get("RescaleType", "")),
    }
    if slope == 1.0 and intercept == 0.0:
        return stored, info
    if slope == 1.0 and intercept.is_integer():
        lo = -(1 << (bits_stored - 1)) if signed else 0
        hi = (1 << (bits_stored - 1)) - 1 if signed else (1 << bits_stored) - 1
        lo, hi = lo + int(intercept), hi + int(intercept)
        for dtype in (np.uint8, np.uint16, np.int16, np.int32):
            info_t = np.iinfo(dtype)
            if info_t.min <= lo and hi <= info_t.max:
                break
        out = stored.astype(dtype)  # one copy, needed: the values change
        out += dtype(int(intercept))  # fits: dtype holds [lo, hi] + intercept, which spans it
        return out, info
    out = stored.astype(np.float32)
    out *= np.float32(slope)
    out += np.float32(intercept)
    return out, info


def file_windows(ds: Dataset) -> list[Window]:
    """The file's Window Center/Width pairs as named presets (explanations when given)."""
    centers = _as_list(ds.get("WindowCenter"))
    widths = _as_list(ds.get("WindowWidth"))
    names = [str(v) for v in _as_list(ds.get("WindowCenterWidthExplanation"))]
    out = []
    for i, (c, w) in enumerate(zip(centers, widths, strict=False)):
        try:
            c, w = float(c), float(w)
        except (TypeError, ValueError):
            continue
        if w <= 0:
            continue
        out.append(
            Window(center=c, width=w, name=names[i] if i < len(names) and names[i] else f"Window {i + 1}")
        )
    return out


def file_voi_luts(ds: Dataset) -> list[dict[str, Any]]:
    """Each VOI LUT Sequence item as ``{"name", "first_mapped", "bits", "lut"}`` (lut: uint16 array)."""
    out = []
    for i, item in enumerate(ds.get("VOILUTSequence") or []):
        if "LUTDescriptor" not in item or "LUTData" not in item:
            continue
        n, first, bits = _lut_descriptor(item)
        lut = _lut_array(item, n, ds)
        name = str(item.get("LUTExplanation", "") or f"VOI LUT {i + 1}")
        out.append({"name": name, "first_mapped": first, "bits": bits, "lut": lut})
    return out


def pixel_spacing(ds: Dataset) -> tuple[tuple[float, float] | None, str]:
    """(row, column) mm per pixel and where it came from.

    PixelSpacing (calibrated to the patient) wins over ImagerPixelSpacing (at the detector,
    which over-states anatomy by the magnification factor: a viewer should say so).
    """
    for keyword in ("PixelSpacing", "ImagerPixelSpacing", "NominalScannedPixelSpacing"):
        value = ds.get(keyword)
        if value is not None and len(value) == 2:
            try:
                r, c = float(value[0]), float(value[1])
            except (TypeError, ValueError):
                continue
            if r > 0 and c > 0:
                return (r, c), keyword
    return None, ""


def _lut_descriptor(item: Dataset) -> tuple[int, int, int]:
    desc = [int(v) for v in item.LUTDescriptor]
    n = desc[0] or 65536
    first = desc[1]
    if first >= 32768:  # stored as US though the pixel values are signed
        first -= 65536
    return n, first, desc[2]


def _lut_array(item: Dataset, n: int, ds: Dataset) -> np.ndarray:
    elem = item["LUTData"]
    value = elem.value
    if isinstance(value, (bytes, bytearray)):
        little = ds.original_encoding[1] is not False
        lut = np.frombuffer(value, dtype="<u2" if little else ">u2").astype(np.uint16)
    else:
        lut = np.asarray(_as_list(value), dtype=np.uint16)
    return lut[:n] if len(lut) >= n else np.pad(lut, (0, n - len(lut)), mode="edge")


def _as_list(value: Any) -> list[Any]:
    if value is None or value == "":
        return []
    if isinstance(value, (list, tuple)) or hasattr(value, "__iter__") and not isinstance(value, (str, bytes)):
        return list(value)
    return [value]


def _short(label: str) -> str:
    return os.path.basename(label) or label


# --------------------------------------------------------------------------------------- writing


def dx_dataset(
    pixels: np.ndarray,
    *,
    spacing_mm: tuple[float, float],
    patient_id: str = "ANON",
    patient_name: str = "",
    study_uid: str | None = None,
    series_uid: str | None = None,
    view_position: str = "PA",
    laterality: str = "",
    window: Window | Sequence[Window] | None = None,
    description: str = "",
    pixel_spacing_mm: tuple[float, float] | None = None,
    photometric: str = "MONOCHROME2",
    bits_stored: int | None = None,
    accession: str = "",
    study_date: _dt.date | None = None,
    instance_number: int = 1,
    manufacturer: str = "Gaze2Report (synthetic)",
) -> Dataset:
    """A DX Image Storage – For Presentation dataset (PS3.3 A.26) around ``pixels`` (uint16, 2-D).

    ``spacing_mm`` is the detector pitch (ImagerPixelSpacing, row then column). Give
    ``pixel_spacing_mm`` only when the spacing at the patient is known (it is then written as
    PixelSpacing with calibration type GEOMETRY). ``window``: one or more presets; without one,
    a 1–99 percentile window is written (For Presentation images must carry a VOI).
    """
    arr = np.asarray(pixels)
    if arr.ndim != 2:
        raise ValueError(f"write_dx needs a 2-D image, got shape {arr.shape}")
    if arr.dtype != np.uint16:
        if arr.dtype.kind not in "ui" or arr.min() < 0 or arr.max() > 65535:
            raise ValueError(f"write_dx needs uint16 pixels, got {arr.dtype}")
        arr = arr.astype(np.uint16)
    arr = np.ascontiguousarray(arr)
    if bits_stored is None:
        bits_stored = max(8, int(arr.max()).bit_length()) if arr.size else 16
        bits_stored = max(bits_stored, 12)
    if int(arr.max(initial=0)) >= (1 << bits_stored):
        raise ValueError(f"pixel values exceed BitsStored={bits_stored}")
    if photometric not in ("MONOCHROME1", "MONOCHROME2"):
        raise ValueError("photometric must be MONOCHROME1 or MONOCHROME2")
    windows = [window] if isinstance(window, Window) else list(window or [])
    if not windows:
        sample = arr[:: max(1, arr.shape[0] // 512), :: max(1, arr.shape[1] // 512)]
        lo, hi = np.percentile(sample, [1.0, 99.0])
        windows = [Window(center=float(lo + hi) / 2, width=float(max(hi - lo, 1.0)), name="DEFAULT")]

    now = _dt.datetime.now()
    date = (study_date or now.date()).strftime("%Y%m%d")
    sop_uid = generate_uid()

    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = DX_FOR_PRESENTATION
    meta.MediaStorageSOPInstanceUID = sop_uid
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    meta.ImplementationClassUID = pydicom.uid.PYDICOM_IMPLEMENTATION_UID

    ds = Dataset()
    ds.file_meta = meta
    ds.SpecificCharacterSet = "ISO_IR 192"
    # SOP Common
    ds.SOPClassUID = DX_FOR_PRESENTATION
    ds.SOPInstanceUID = sop_uid
    ds.InstanceCreationDate = now.strftime("%Y%m%d")
    ds.InstanceCreationTime = now.strftime("%H%M%S")
    # Patient
    ds.PatientName = patient_name or patient_id
    ds.PatientID = patient_id
    ds.PatientBirthDate = ""
    ds.PatientSex = ""
    # General Study
    ds.StudyInstanceUID = study_uid or generate_uid()
    ds.StudyDate = date
    ds.StudyTime = "000000"
    ds.ReferringPhysicianName = ""
    ds.StudyID = "1"
    ds.AccessionNumber = accession
    ds.StudyDescription = "CHEST X-RAY"
    # General Series + DX Series
    ds.Modality = "DX"
    ds.SeriesInstanceUID = series_uid or generate_uid()
    ds.SeriesNumber = 1
    ds.SeriesDescription = description or f"CHEST {view_position}"
    ds.PresentationIntentType = "FOR PRESENTATION"
    # General Equipment
    ds.Manufacturer = manufacturer
    # General Image + DX Image
    ds.InstanceNumber = instance_number
    ds.ContentDate = date
    ds.ContentTime = "000000"
    ds.ImageType = ["DERIVED", "PRIMARY"]
    ds.PatientOrientation = ["L", "F"] if view_position.upper() != "LL" else ["A", "F"]
    ds.BurnedInAnnotation = "NO"
    ds.LossyImageCompression = "00"
    if description:
        ds.ImageComments = description
    ds.PixelIntensityRelationship = "LOG"
    ds.PixelIntensityRelationshipSign = 1
    ds.RescaleIntercept = 0
    ds.RescaleSlope = 1
    ds.RescaleType = "US"
    ds.PresentationLUTShape = "INVERSE" if photometric == "MONOCHROME1" else "IDENTITY"
    # Image Pixel
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = photometric
    ds.Rows, ds.Columns = int(arr.shape[0]), int(arr.shape[1])
    ds.BitsAllocated = 16
    ds.BitsStored = int(bits_stored)
    ds.HighBit = int(bits_stored) - 1
    ds.PixelRepresentation = 0
    # VOI LUT
    ds.WindowCenter = [_ds_number(w.center) for w in windows]
    ds.WindowWidth = [_ds_number(w.width) for w in windows]
    ds.WindowCenterWidthExplanation = [w.name or f"WINDOW{i + 1}" for i, w in enumerate(windows)]
    ds.VOILUTFunction = "LINEAR"
    # DX Anatomy Imaged + DX Positioning
    ds.ImageLaterality = laterality.upper() or "U"  # chest: unpaired
    ds.BodyPartExamined = "CHEST"
    region = Dataset()
    region.CodeValue = "51185008"
    region.CodingSchemeDesignator = "SCT"
    region.CodeMeaning = "Chest"
    ds.AnatomicRegionSequence = [region]
    ds.ViewPosition = view_position.upper()
    # DX Detector
    ds.ImagerPixelSpacing = [_ds_number(spacing_mm[0]), _ds_number(spacing_mm[1])]
    if pixel_spacing_mm is not None:
        ds.PixelSpacing = [_ds_number(pixel_spacing_mm[0]), _ds_number(pixel_spacing_mm[1])]
        ds.PixelSpacingCalibrationType = "GEOMETRY"
        ds.PixelSpacingCalibrationDescription = "Geometric magnification correction"
        mag = float(spacing_mm[0]) / float(pixel_spacing_mm[0])
        ds.EstimatedRadiographicMagnificationFactor = _ds_number(mag)
    ds.DetectorType = "DIRECT"
    # Acquisition Context module (mandatory in the DX IOD; its sequence is type 2, empty here)
    ds.AcquisitionContextSequence = []
    ds.PixelData = arr.tobytes()
    return ds


def write_dx(
    pixels: np.ndarray,
    path: str | os.PathLike[str],
    spacing_mm: tuple[float, float],
    patient_id: str = "ANON",
    study_uid: str | None = None,
    view_position: str = "PA",
    laterality: str = "",
    window: Window | Sequence[Window] | None = None,
    description: str = "",
    *,
    transfer_syntax: str | None = None,
    **kwargs: Any,
) -> Path:
    """Write ``pixels`` (uint16) as a DX For Presentation file; returns the path.

    ``transfer_syntax``: a compressed syntax UID to encode with (RLE, JPEG-LS, JPEG 2000),
    default Explicit VR Little Endian. Other keywords go to :func:`dx_dataset`.
    """
    ds = dx_dataset(
        pixels,
        spacing_mm=spacing_mm,
        patient_id=patient_id,
        study_uid=study_uid,
        view_position=view_position,
        laterality=laterality,
        window=window,
        description=description,
        **kwargs,
    )
    if transfer_syntax and UID(transfer_syntax) != ExplicitVRLittleEndian:
        ds.compress(UID(transfer_syntax))
        ds.file_meta.TransferSyntaxUID = UID(transfer_syntax)
        if UID(transfer_syntax) in _LOSSY:
            ds.LossyImageCompression = "01"
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    ds.save_as(out, enforce_file_format=True)
    return out


_LOSSY = {UID("1.2.840.10008.1.2.4.50"), UID("1.2.840.10008.1.2.4.51"), UID("1.2.840.10008.1.2.4.91")}


def _ds_number(value: float) -> str:
    """A Decimal String value of at most 16 characters."""
    text = f"{float(value):.6g}"
    return text if len(text) <= 16 else f"{float(value):.8e}"[:16]
