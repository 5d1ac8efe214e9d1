"""Small helpers the dataset loaders share: CSV rows, label mapping, image sizes, splits."""

from __future__ import annotations

import csv
import os
import re
from pathlib import Path
from typing import Any

from ml.types import CHEXPERT_OBSERVATIONS


class DatasetError(ValueError):
    """A dataset folder or file that cannot be read; the message names the file and the problem."""


def read_csv_rows(path: str | os.PathLike[str]) -> list[dict[str, str]]:
    """All rows of a CSV as dicts (header stripped of spaces and BOM)."""
    p = Path(path)
    try:
        with _open_text(p) as fh:
            reader = csv.DictReader(fh)
            if reader.fieldnames is None:
                raise DatasetError(f"{p.name}: empty file")
            reader.fieldnames = [name.strip() for name in reader.fieldnames]
            return [{k: (v or "").strip() for k, v in row.items() if k is not None} for row in reader]
    except FileNotFoundError:
        raise DatasetError(f"no such file: {p}") from None
    except (UnicodeDecodeError, csv.Error, OSError, EOFError) as e:
        raise DatasetError(f"{p.name}: not a readable CSV ({e})") from e


def _open_text(p: Path) -> Any:
    """Text handle for a CSV, gzip-compressed or not (MIMIC ships its tables as .csv.gz)."""
    if p.suffix == ".gz":
        import gzip

        return gzip.open(p, "rt", newline="", encoding="utf-8-sig")
    return p.open(newline="", encoding="utf-8-sig")


def to_float(value: Any) -> float | None:
    """A number from a CSV cell, or None for blanks/NaN/text."""
    if value is None:
        return None
    text = str(value).strip()
    if not text or text.lower() in {"nan", "none", "null", "na", "n/a"}:
        return None
    if text.lower() in {"true", "false"}:
        return 1.0 if text.lower() == "true" else 0.0
    try:
        out = float(text)
    except ValueError:
        return None
    return None if out != out else out


def to_bool(value: Any) -> bool:
    text = str(value).strip().lower()
    return text in {"true", "1", "1.0", "yes", "y", "t"}


def normalise_split(value: str) -> str:
    """REFLACX says 'validate', MIMIC 'validate', others 'valid'/'dev': all become 'val'."""
    v = (value or "").strip().lower()
    if v in {"validate", "validation", "valid", "val", "dev"}:
        return "val"
    if v in {"train", "training"}:
        return "train"
    if v in {"test", "testing"}:
        return "test"
    return v


_NORMALISE = re.compile(r"[^a-z0-9]+")
_CHEXPERT_KEYS = {_NORMALISE.sub(" ", name.lower()).strip(): name for name in CHEXPERT_OBSERVATIONS}


def chexpert_name(column: str) -> str | None:
    """The CheXpert observation a column stands for (``Pleural Effusion``, ``pleural_effusion_chx``...)."""
    key = _NORMALISE.sub(" ", column.lower()).strip()
    for suffix in (" chx", " chexpert"):
        if key.endswith(suffix):
            key = key[: -len(suffix)].strip()
    return _CHEXPERT_KEYS.get(key)


def chexpert_value(value: Any) -> int | None:
    """A CheXpert cell: 1 / 0 / -1, blank → None (not mentioned)."""
    number = to_float(value)
    if number is None:
        return None
    if number >= 0.5:
        return 1
    if number <= -0.5:
        return -1
    return 0


def image_size(path: str | os.PathLike[str]) -> tuple[int, int] | None:
    """(width, height) from a DICOM/PNG/JPEG/TIFF header without decoding pixels, or None."""
    p = Path(path)
    if not p.is_file():
        return None
    from ml.imaging import detect_format

    with p.open("rb") as fh:
        head = fh.read(132)
    kind = detect_format(head)
    try:
        if kind == "dicom":
            import pydicom

            ds = pydicom.dcmread(p, stop_before_pixels=True, force=True)
            return int(ds.Columns), int(ds.Rows)
        if kind:
            from PIL import Image as PILImage

            with PILImage.open(p) as img:
                return int(img.size[0]), int(img.size[1])
    except Exception:  # noqa: BLE001 - a size is a convenience; the caller decides what to do without it
        return None
    return None
