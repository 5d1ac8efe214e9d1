"""Radiograph I/O: DICOM, PNG, JPEG and TIFF into :class:`ml.types.Image`, by content not extension.

    from ml.imaging import load_image, load_image_bytes, ImageError
    img = load_image("case.dcm")          # or .png/.jpg/.tif, or a DICOM named .png
    img = load_image_bytes(upload, name_hint="upload.dcm", max_pixels=50_000_000)

Torch-free and Qt-free: the GUI, the backend and the datasets all read images here.
"""

from __future__ import annotations

import os
from pathlib import Path

from ml.imaging.dicom import is_dicom_header, read_dicom, write_dx
from ml.imaging.errors import (
    CorruptImage,
    ImageError,
    ImageTooLarge,
    ImplausibleImage,
    NoPixelData,
    NotARadiograph,
    TruncatedFile,
    UnknownFormat,
    UnsupportedTransferSyntax,
)
from ml.imaging.plausible import check_radiograph
from ml.imaging.raster import read_raster, sniff
from ml.types import Image

__all__ = [
    "CorruptImage",
    "ImageError",
    "ImageTooLarge",
    "ImplausibleImage",
    "NoPixelData",
    "NotARadiograph",
    "TruncatedFile",
    "UnknownFormat",
    "UnsupportedTransferSyntax",
    "check_radiograph",
    "detect_format",
    "load_image",
    "load_image_bytes",
    "write_dx",
]


def detect_format(head: bytes) -> str:
    """'dicom' | 'png' | 'jpeg' | 'tiff' | '' from a file's first 132+ bytes.

    'DICM' after the 128-byte preamble wins over a raster magic at the start: PS3.10 lets the
    preamble hold a TIFF header (dual-personality files, e.g. some CR archives), and reading such a
    file as TIFF would lose its photometric interpretation, windows and pixel spacing.
    """
    if head[128:132] == b"DICM":
        return "dicom"
    return sniff(head[:8]) or ("dicom" if is_dicom_header(head) else "")


def load_image(
    path: str | os.PathLike[str],
    *,
    prefer_lut: bool = True,
    max_pixels: int | None = None,
    allow_non_radiograph: bool = False,
) -> Image:
    """Load a radiograph from disk, choosing the reader by the file's content.

    DICOM is decoded from the file directly (one pixel buffer); rasters are read whole.
    Raises :class:`ImageError` subclasses with one-line messages.
    """
    p = Path(path)
    try:
        with p.open("rb") as f:
            head = f.read(_HEAD)
    except FileNotFoundError as e:
        raise ImageError(f"File not found: {p}", source=str(p)) from e
    except IsADirectoryError as e:
        raise ImageError(f"{p.name} is a folder, not an image file", source=str(p)) from e
    except OSError as e:
        raise ImageError(f"Cannot read {p.name}: {e.strerror or e}", source=str(p)) from e
    if not head:
        raise TruncatedFile(f"{p.name} is empty", source=str(p))
    kind = detect_format(head)
    if kind == "dicom":
        return read_dicom(
            p, prefer_lut=prefer_lut, max_pixels=max_pixels, allow_non_radiograph=allow_non_radiograph
        )
    if kind:
        return read_raster(p.read_bytes(), name=str(p), max_pixels=max_pixels)
    _raise_unknown(p, p.name, str(p))


def load_image_bytes(
    data: bytes,
    name_hint: str = "",
    *,
    prefer_lut: bool = True,
    max_pixels: int | None = None,
    allow_non_radiograph: bool = False,
) -> Image:
    """Load a radiograph from bytes (an upload); ``name_hint`` only labels errors and ``source``."""
    label = name_hint or "upload"
    if not data:
        raise TruncatedFile(f"{os.path.basename(label) or label} is empty", source=label)
    kind = detect_format(bytes(data[:132]))
    if kind == "dicom":
        return read_dicom(
            bytes(data),
            prefer_lut=prefer_lut,
            max_pixels=max_pixels,
            allow_non_radiograph=allow_non_radiograph,
            name=label,
        )
    if kind:
        return read_raster(bytes(data), name=label, max_pixels=max_pixels)
    _raise_unknown(bytes(data), os.path.basename(label) or label, label)


_HEAD = 352  # enough for DICOM's preamble + magic and a NIfTI-1 header's magic at offset 344


def _raise_unknown(src: bytes | Path, name: str, source: str) -> None:
    """Unknown content: say so, naming NIfTI volumes (the usual mistake: a CT where a radiograph goes)."""
    import gzip
    import io

    try:
        raw = src.open("rb") if isinstance(src, Path) else io.BytesIO(src)
        with raw as fh:
            head = fh.read(_HEAD)
            if head[:2] == b"\x1f\x8b":  # .nii.gz
                fh.seek(0)
                with gzip.GzipFile(fileobj=fh) as gz:
                    head = gz.read(_HEAD)
    except (OSError, EOFError):
        head = b""
    if head[344:348] in (b"n+1\x00", b"ni1\x00", b"n+2\x00"):
        raise NotARadiograph(f"{name} is a NIfTI volume, not a projection radiograph", source=source)
    raise UnknownFormat(f"{name} is not a DICOM, PNG, JPEG or TIFF image", source=source)
