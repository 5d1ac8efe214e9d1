"""Turn request images and gaze into domain types, rejecting bad input with one-line messages.

Runs in a worker thread (decoding a large DICOM takes a while); every failure is an ``ApiError``
the app answers with a 4xx, never an unexpected exception.
"""

from __future__ import annotations

import base64
import binascii
import math

import numpy as np

from ml.imaging import ImageError, check_radiograph, load_image_bytes
from ml.imaging import ImageTooLarge as ImagingTooLarge
from ml.serve.errors import BadGaze, BadImage, ImageTooLarge
from ml.serve.schemas import FileImageIn, GazePoint, ImageIn, RawImageIn
from ml.types import Image, Scanpath, ScanpathSource

_DTYPES = {"uint8": "<u1", "uint16": "<u2", "int16": "<i2", "float32": "<f4"}


def _b64(data: str, max_bytes: int) -> bytes:
    # base64 inflates by 4/3: refuse before decoding anything huge.
    if len(data) * 3 // 4 > max_bytes:
        raise ImageTooLarge(f"image data is over the {max_bytes // (1 << 20)} MiB limit")
    try:
        raw = base64.b64decode(data, validate=True)
    except (binascii.Error, ValueError):
        raise BadImage("image.data is not valid base64") from None
    if not raw:
        raise BadImage("image.data is empty")
    return raw


def _check_pixels(pixels: np.ndarray, max_pixels: int, what: str) -> None:
    if pixels.ndim != 2:
        shape = "×".join(str(s) for s in pixels.shape)
        kind = "a 3-D volume or colour image" if pixels.ndim == 3 else f"a {pixels.ndim}-D array"
        raise BadImage(f"{what} has shape {shape}: {kind} is not a 2-D radiograph (rows, columns)")
    if pixels.size > max_pixels:
        raise ImageTooLarge(f"{what} has {pixels.size:,} pixels, over the limit of {max_pixels:,}")


def _raw(spec: RawImageIn, raw: bytes, max_pixels: int) -> Image:
    shape = tuple(spec.shape)
    n = math.prod(shape)
    if n > max_pixels:
        raise ImageTooLarge(f"raw image has {n:,} pixels, over the limit of {max_pixels:,}")
    dtype = np.dtype(_DTYPES[spec.dtype])
    if len(raw) != n * dtype.itemsize:
        raise BadImage(
            f"raw image data is {len(raw)} bytes but shape {list(shape)} of {spec.dtype} needs {n * dtype.itemsize}"
        )
    pixels = np.frombuffer(raw, dtype=dtype).reshape(shape).astype(dtype.newbyteorder("="))
    try:  # the same rules as every file loader: blank, tiny, non-finite or absurd is no radiograph
        check_radiograph(pixels, spec.name or "raw image")
    except ImageError as exc:
        raise BadImage(f"image: {exc}") from None
    bits = 8 if spec.dtype == "uint8" else 16 if spec.dtype in ("uint16", "int16") else 32
    return Image(pixels=pixels, bits_stored=bits, source=spec.name or "raw upload")


def _file(spec: FileImageIn, raw: bytes, max_pixels: int) -> Image:
    name = spec.name or ("upload.dcm" if spec.format == "dicom" else "upload.png")
    try:
        image = load_image_bytes(raw, name, max_pixels=max_pixels)
    except ImagingTooLarge as exc:
        raise ImageTooLarge(f"image: {exc}") from None
    except ImageError as exc:
        raise BadImage(f"image: {exc}") from None
    _check_pixels(np.asarray(image.pixels), max_pixels, "image")
    return image


def decode_image(spec: ImageIn, *, max_pixels: int, max_bytes: int) -> Image:
    """Decode a request image into an ``Image``; raises ``BadImage`` / ``ImageTooLarge``."""
    raw = _b64(spec.data, max_bytes)
    image = _raw(spec, raw, max_pixels) if isinstance(spec, RawImageIn) else _file(spec, raw, max_pixels)
    if spec.spacing is not None:
        image.spacing = (float(spec.spacing[0]), float(spec.spacing[1]))
    return image


def to_scanpath(gaze: list[GazePoint] | None, image: Image) -> Scanpath | None:
    """Request gaze → a recorded ``Scanpath`` in image pixels; ``None`` stays ``None`` (predict one)."""
    if gaze is None:
        return None
    if not gaze:
        raise BadGaze("gaze is empty: send at least one fixation, or null to use a predicted scanpath")
    w, h = image.size
    for i, p in enumerate(gaze):
        if not (0.0 <= p.x <= w and 0.0 <= p.y <= h):
            raise BadGaze(f"gaze[{i}] at ({p.x:g}, {p.y:g}) is outside the {w}×{h} image")
    xyd = np.array([(p.x, p.y, p.duration) for p in gaze], dtype=np.float64)
    return Scanpath.from_array(xyd, (w, h), source=ScanpathSource.RECORDED)


def from_scanpath(scanpath: Scanpath | None) -> list[GazePoint]:
    if scanpath is None:
        return []
    return [
        GazePoint(x=float(f.x), y=float(f.y), duration=min(60.0, max(0.0, float(f.duration))))
        for f in scanpath.fixations
    ]
