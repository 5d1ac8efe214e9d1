"""PNG, JPEG and TIFF radiographs (8- and 16-bit greyscale) as :class:`~ml.types.Image`.

Public datasets ship radiographs as 8-bit JPEG (MIMIC-CXR-JPG), 8/16-bit PNG (IU X-ray,
EGD-CXR exports) or 16-bit TIFF. They carry no VOI, so the file's own range is the window:
an 8-bit image is already a display image and is shown as stored.
Greyscale saved as RGB (common for JPEG exports) is accepted when the channels agree;
real colour is rejected.
"""

from __future__ import annotations

import io
import os
from typing import Any

import numpy as np

from ml.imaging.errors import CorruptImage, ImageTooLarge, NotARadiograph, TruncatedFile, UnknownFormat
from ml.imaging.plausible import check_radiograph
from ml.types import Image, Window

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
JPEG_MAGIC = b"\xff\xd8\xff"
TIFF_MAGICS = (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+")

#: Largest channel disagreement (in 8-bit levels, 99.9th percentile) still read as grey.
GREY_TOLERANCE = 12


def sniff(head: bytes) -> str:
    """'png' | 'jpeg' | 'tiff' | '' from the first bytes (extensions are not trusted)."""
    if head.startswith(PNG_MAGIC):
        return "png"
    if head.startswith(JPEG_MAGIC):
        return "jpeg"
    if head[:4] in TIFF_MAGICS:
        return "tiff"
    return ""


def read_raster(data: bytes, *, name: str = "", max_pixels: int | None = None) -> Image:
    """Decode PNG/JPEG/TIFF bytes into a greyscale :class:`Image` (uint8 or uint16 pixels)."""
    kind = sniff(data[:8])
    label = name or "upload"
    short = os.path.basename(label) or label
    if not kind:
        raise UnknownFormat(f"{short} is not a PNG, JPEG, TIFF or DICOM image", source=label)
    arr = (
        _read_tiff(data, short, label, max_pixels)
        if kind == "tiff"
        else _read_pil(data, short, label, max_pixels)
    )
    arr = _to_grey(arr, short, label)
    check_radiograph(arr, label)
    bits = 8 if arr.dtype == np.uint8 else 16
    if bits == 8:
        window = Window(center=127.5, width=255.0, name="Full range")
    else:
        lo, hi = float(arr.min()), float(arr.max())
        window = Window(center=(lo + hi) / 2.0, width=max(hi - lo, 1.0), name="Full range")
    meta: dict[str, Any] = {"format": kind, "stored_dtype": str(arr.dtype)}
    return Image(
        pixels=arr, windows=[window], photometric="MONOCHROME2", bits_stored=bits, source=label, metadata=meta
    )


def _read_pil(data: bytes, short: str, label: str, max_pixels: int | None) -> np.ndarray:
    from PIL import Image as PILImage
    from PIL import UnidentifiedImageError

    try:
        img = PILImage.open(io.BytesIO(data))
        _check_size(img.size[0], img.size[1], short, label, max_pixels)
        if getattr(img, "n_frames", 1) > 1:
            raise NotARadiograph(f"{short} has {img.n_frames} frames, not a single radiograph", source=label)
        img.load()
    except (UnidentifiedImageError, SyntaxError) as e:
        raise CorruptImage(f"{short}: cannot decode image ({e})", source=label) from e
    except OSError as e:
        msg = str(e)
        if "truncated" in msg.lower() or "broken data stream" in msg.lower():
            raise TruncatedFile(f"{short}: image data is truncated", source=label) from e
        raise CorruptImage(f"{short}: cannot decode image ({msg})", source=label) from e
    mode = img.mode
    if mode in ("I;16", "I;16B", "I;16L"):
        return np.asarray(img).astype(np.uint16, copy=False)
    if mode == "I":
        arr = np.asarray(img)
        if arr.min() < 0 or arr.max() > 65535:
            raise NotARadiograph(f"{short}: 32-bit integer pixels out of 16-bit range", source=label)
        return arr.astype(np.uint16)
    if mode == "F":
        raise NotARadiograph(f"{short}: floating-point image, not a radiograph export", source=label)
    if mode == "1":
        img = img.convert("L")
    elif mode == "P":
        img = img.convert("RGBA" if "transparency" in img.info else "RGB")
    elif mode == "CMYK" or mode == "YCbCr":
        img = img.convert("RGB")
    return np.asarray(img)


def _read_tiff(data: bytes, short: str, label: str, max_pixels: int | None) -> np.ndarray:
    import tifffile

    try:
        with tifffile.TiffFile(io.BytesIO(data)) as tif:
            series = tif.series[0]
            shape = series.shape
            if len(tif.pages) > 1 and len(shape) > 2 and shape[0] > 1 and shape[-1] not in (3, 4):
                raise NotARadiograph(
                    f"{short} is a {shape[0]}-page stack, not a single radiograph", source=label
                )
            h, w = (shape[-3], shape[-2]) if len(shape) == 3 and shape[-1] in (3, 4) else (shape[0], shape[1])
            _check_size(int(w), int(h), short, label, max_pixels)
            arr = series.asarray()
    except (NotARadiograph, ImageTooLarge):
        raise
    except Exception as e:
        msg = str(e).splitlines()[0] if str(e) else type(e).__name__
        if isinstance(e, (EOFError, ValueError)) and ("truncat" in msg.lower() or "eof" in msg.lower()):
            raise TruncatedFile(f"{short}: TIFF data is truncated", source=label) from e
        raise CorruptImage(f"{short}: cannot decode TIFF ({msg})", source=label) from e
    if arr.dtype.kind == "f":
        raise NotARadiograph(f"{short}: floating-point TIFF, not a radiograph export", source=label)
    if arr.dtype.kind in "iu" and arr.dtype.itemsize > 2:
        if arr.min() < 0 or arr.max() > 65535:
            raise NotARadiograph(f"{short}: 32-bit pixels out of 16-bit range", source=label)
        arr = arr.astype(np.uint16)
    elif arr.dtype == np.int16:
        if arr.min() < 0:
            raise NotARadiograph(f"{short}: signed TIFF with negative values", source=label)
        arr = arr.astype(np.uint16)
    elif arr.dtype == np.bool_:
        arr = arr.astype(np.uint8) * 255
    elif arr.dtype == np.int8:
        arr = arr.astype(np.uint8)
    return arr


def _check_size(w: int, h: int, short: str, label: str, max_pixels: int | None) -> None:
    if max_pixels is not None and w * h > max_pixels:
        raise ImageTooLarge(f"{short} is {w}×{h} pixels, more than the limit of {max_pixels:,}", source=label)


def _to_grey(arr: np.ndarray, short: str, label: str) -> np.ndarray:
    if arr.ndim == 2:
        return arr
    if arr.ndim != 3 or arr.shape[-1] not in (2, 3, 4):
        raise NotARadiograph(f"{short} has shape {arr.shape}, not a 2-D radiograph", source=label)
    if arr.shape[-1] == 2:  # LA: grey + alpha
        return np.ascontiguousarray(arr[..., 0])
    rgb = arr[..., :3]
    step = max(1, max(rgb.shape[:2]) // 512)
    sample = rgb[::step, ::step].astype(np.int32)
    spread = sample.max(axis=-1) - sample.min(axis=-1)
    scale = 255.0 / float(np.iinfo(arr.dtype).max) if arr.dtype.kind == "u" else 1.0
    if float(np.percentile(spread, 99.9)) * scale > GREY_TOLERANCE:
        raise NotARadiograph(f"{short} is a colour image, not a greyscale radiograph", source=label)
    # ITU-R 601 luma, as Pillow's convert("L") does, computed in float32 once.
    grey = rgb[..., 0] * np.float32(0.299) + rgb[..., 1] * np.float32(0.587) + rgb[..., 2] * np.float32(0.114)
    return np.clip(np.rint(grey), 0, np.iinfo(arr.dtype).max).astype(arr.dtype)
