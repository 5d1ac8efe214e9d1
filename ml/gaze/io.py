"""Read and write gaze and fixation files in REFLACX's layout (and read EGD-CXR's fixations).

REFLACX (PhysioNet, Bigolin Lanfredi et al. 2022) stores per reading a ``gaze.csv`` (one row per
tracker sample) and a ``fixations.csv`` (one row per fixation), both in *image pixels* with times in
*seconds* from the start of the reading, plus what the display showed at that moment (window, the
part of the image shown and where it was on screen, pixels per degree). The project's own session
exports use exactly the same columns, so tools written for REFLACX read our recordings and we read
theirs.

EGD-CXR (Karargyris et al. 2021) ships Gazepoint exports: one ``fixations.csv`` for all images with
``DICOM_ID``, ``FPOGS`` (start, s), ``FPOGD`` (duration, s), ``FPOGID`` and ``X_ORIGINAL`` /
``Y_ORIGINAL`` (image pixels). It is read-only here.

Only the standard library and numpy are used: the GUI reads these files too and must start fast.
"""

from __future__ import annotations

import csv
import math
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ml.types import Fixation, Scanpath, ScanpathSource

#: The display columns REFLACX repeats on every row of gaze.csv and fixations.csv, in its order.
REFLACX_DISPLAY_COLUMNS: tuple[str, ...] = (
    "angular_resolution_x_pixels_per_degree",
    "angular_resolution_y_pixels_per_degree",
    "window_width",
    "window_level",
    "xmin_shown_from_image",
    "ymin_shown_from_image",
    "xmax_shown_from_image",
    "ymax_shown_from_image",
    "xmin_in_screen_coordinates",
    "ymin_in_screen_coordinates",
    "xmax_in_screen_coordinates",
    "ymax_in_screen_coordinates",
)

#: REFLACX ``fixations.csv`` columns, in the order REFLACX writes them.
REFLACX_FIXATION_COLUMNS: tuple[str, ...] = (
    "timestamp_start_fixation",
    "timestamp_end_fixation",
    "x_position",
    "y_position",
    "pupil_area_normalized",
    *REFLACX_DISPLAY_COLUMNS,
)

#: REFLACX ``gaze.csv`` columns, in the order REFLACX writes them.
REFLACX_GAZE_COLUMNS: tuple[str, ...] = (
    "timestamp_sample",
    "x_position",
    "y_position",
    "pupil_area_normalized",
    *REFLACX_DISPLAY_COLUMNS,
)

_EGD_REQUIRED = ("FPOGS", "FPOGD", "X_ORIGINAL", "Y_ORIGINAL")


class GazeFileError(ValueError):
    """A gaze or fixation file that cannot be read (missing columns, bad numbers, unknown layout)."""


@dataclass
class DisplayState:
    """What the screen showed, written on every REFLACX row (NaN where unknown).

    ``shown`` is the part of the image visible (x0, y0, x1, y1 in image pixels); ``screen`` is where
    that part was drawn (x0, y0, x1, y1 in screen pixels). Window values are whatever unit the viewer
    uses (REFLACX stores them normalised to 0..1).
    """

    pixels_per_degree: tuple[float, float] = (math.nan, math.nan)
    window_width: float = math.nan
    window_level: float = math.nan
    shown: tuple[float, float, float, float] = (math.nan,) * 4
    screen: tuple[float, float, float, float] = (math.nan,) * 4

    @classmethod
    def full_image(cls, image_size: tuple[int, int], **kwargs: Any) -> DisplayState:
        """The whole image shown (the default when only the image size is known)."""
        w, h = image_size
        return cls(shown=(0.0, 0.0, float(w), float(h)), **kwargs)

    def columns(self) -> dict[str, float]:
        sx, sy = self.pixels_per_degree
        return dict(
            zip(
                REFLACX_DISPLAY_COLUMNS,
                (sx, sy, self.window_width, self.window_level, *self.shown, *self.screen),
                strict=True,
            )
        )


@dataclass
class GazeTrack:
    """Gaze samples already in image pixels (a REFLACX ``gaze.csv``): arrays of equal length.

    ``t`` is seconds from the start of the reading; invalid samples (blinks, lost tracking,
    off-image) have NaN ``x``/``y``. ``columns`` keeps every other column of the file by name.
    """

    t: np.ndarray
    x: np.ndarray
    y: np.ndarray
    pupil: np.ndarray
    columns: dict[str, np.ndarray] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.t = np.asarray(self.t, dtype=np.float64)
        self.x = np.asarray(self.x, dtype=np.float64)
        self.y = np.asarray(self.y, dtype=np.float64)
        self.pupil = np.asarray(self.pupil, dtype=np.float64) if self.pupil is not None else None
        if self.pupil is None:
            self.pupil = np.full_like(self.t, np.nan)
        n = len(self.t)
        if not (len(self.x) == len(self.y) == len(self.pupil) == n):
            raise GazeFileError("gaze arrays t, x, y, pupil must have the same length")

    def __len__(self) -> int:
        return len(self.t)

    @property
    def valid(self) -> np.ndarray:
        return np.isfinite(self.x) & np.isfinite(self.y)


# --------------------------------------------------------------------------- reading


def _float(value: str) -> float:
    value = value.strip()
    if value == "" or value.lower() in {"nan", "none", "null", "na"}:
        return math.nan
    if value.lower() in {"true", "false"}:
        return 1.0 if value.lower() == "true" else 0.0
    return float(value)


def _read_rows(path: str | os.PathLike[str]) -> tuple[list[str], list[list[str]]]:
    p = Path(path)
    if not p.is_file():
        raise GazeFileError(f"no such file: {p}")
    with p.open(newline="", encoding="utf-8-sig") as fh:
        reader = csv.reader(fh)
        try:
            header = [h.strip() for h in next(reader)]
        except StopIteration:
            raise GazeFileError(f"{p.name}: empty file") from None
        rows = [r for r in reader if r and any(c.strip() for c in r)]
    return header, rows


def _columns(path: str | os.PathLike[str], header: list[str], rows: list[list[str]]) -> dict[str, np.ndarray]:
    out: dict[str, np.ndarray] = {}
    for j, name in enumerate(header):
        values = np.empty(len(rows), dtype=np.float64)
        try:
            for i, r in enumerate(rows):
                values[i] = _float(r[j]) if j < len(r) else math.nan
        except ValueError:
            continue  # a text column (ids, names): not numeric, not needed here
        out[name] = values
    return out


def _require(path: str | os.PathLike[str], cols: Mapping[str, np.ndarray], names: Iterable[str]) -> None:
    missing = [n for n in names if n not in cols]
    if missing:
        raise GazeFileError(f"{Path(path).name}: missing or non-numeric column(s) {', '.join(missing)}")


def _read_egd(
    path: str | os.PathLike[str], header: list[str], rows: list[list[str]], dicom_id: str | None
) -> list[Fixation]:
    if "DICOM_ID" in header:
        j = header.index("DICOM_ID")
        ids = sorted({r[j] for r in rows if j < len(r)})
        if dicom_id is None and len(ids) > 1:
            raise GazeFileError(
                f"{Path(path).name}: holds {len(ids)} images; pass dicom_id= to pick one (e.g. {ids[0]})"
            )
        if dicom_id is not None:
            rows = [r for r in rows if j < len(r) and r[j] == dicom_id]
            if not rows:
                raise GazeFileError(f"{Path(path).name}: no rows for DICOM_ID {dicom_id}")
    cols = _columns(path, header, rows)
    _require(path, cols, _EGD_REQUIRED)
    # Gazepoint writes a row per sample with the running fixation; keep the last row of each FPOGID.
    fid = cols.get("FPOGID", np.arange(len(rows), dtype=np.float64))
    valid = cols.get("FPOGV", np.ones(len(rows)))
    last: dict[float, int] = {}
    for i in range(len(rows)):
        if valid[i] != 0 and math.isfinite(cols["X_ORIGINAL"][i]) and math.isfinite(cols["Y_ORIGINAL"][i]):
            last[fid[i]] = i
    fixations = []
    for i in sorted(last.values(), key=lambda k: cols["FPOGS"][k]):
        start, dur = float(cols["FPOGS"][i]), float(cols["FPOGD"][i])
        fixations.append(
            Fixation(float(cols["X_ORIGINAL"][i]), float(cols["Y_ORIGINAL"][i]), start, start + dur)
        )
    return fixations


def read_fixations(path: str | os.PathLike[str], dicom_id: str | None = None) -> list[Fixation]:
    """Fixations from a REFLACX/project ``fixations.csv`` or an EGD-CXR fixations file.

    Also accepts a plain ``x, y, start, end`` or ``x, y, duration`` CSV (fixations laid end to end
    when only durations are given), which is what quick exports and predictions tend to be.
    ``dicom_id`` selects one image in an EGD-CXR file that holds many.
    """
    header, rows = _read_rows(path)
    names = set(header)
    if {"timestamp_start_fixation", "timestamp_end_fixation"} <= names:
        cols = _columns(path, header, rows)
        _require(
            path, cols, ("timestamp_start_fixation", "timestamp_end_fixation", "x_position", "y_position")
        )
        pupil = cols.get("pupil_area_normalized", np.full(len(rows), np.nan))
        fixations = [
            Fixation(float(x), float(y), float(s), float(e), float(p))
            for s, e, x, y, p in zip(
                cols["timestamp_start_fixation"],
                cols["timestamp_end_fixation"],
                cols["x_position"],
                cols["y_position"],
                pupil,
                strict=True,
            )
        ]
    elif set(_EGD_REQUIRED) <= names:
        fixations = _read_egd(path, header, rows, dicom_id)
    elif {"x", "y"} <= names and ({"start", "end"} <= names or "duration" in names):
        cols = _columns(path, header, rows)
        if {"start", "end"} <= names:
            starts, ends = cols["start"], cols["end"]
        else:
            ends = np.cumsum(cols["duration"])
            starts = ends - cols["duration"]
        fixations = [
            Fixation(float(x), float(y), float(s), float(e))
            for x, y, s, e in zip(cols["x"], cols["y"], starts, ends, strict=True)
        ]
    else:
        raise GazeFileError(
            f"{Path(path).name}: not a fixation file (expected REFLACX columns "
            "timestamp_start_fixation/timestamp_end_fixation/x_position/y_position)"
        )
    bad = [i for i, f in enumerate(fixations) if not (math.isfinite(f.x) and math.isfinite(f.y))]
    if bad:
        raise GazeFileError(f"{Path(path).name}: fixation row {bad[0] + 2} has no position")
    for i, f in enumerate(fixations):
        if not (math.isfinite(f.start) and math.isfinite(f.end)) or f.end < f.start:
            raise GazeFileError(f"{Path(path).name}: fixation row {i + 2} ends before it starts")
    return fixations


def read_scanpath(
    path: str | os.PathLike[str],
    image_size: tuple[int, int],
    source: ScanpathSource = ScanpathSource.RECORDED,
    reader: str = "",
    dicom_id: str | None = None,
) -> Scanpath:
    """A fixation file as a :class:`Scanpath` over an image of ``image_size`` (width, height)."""
    w, h = image_size
    if w <= 0 or h <= 0:
        raise GazeFileError(f"image size must be positive, got {w}x{h}")
    return Scanpath(read_fixations(path, dicom_id=dicom_id), (int(w), int(h)), source, reader)


def read_gaze(path: str | os.PathLike[str]) -> GazeTrack:
    """Samples from a REFLACX/project ``gaze.csv`` (image pixels, seconds; invalid samples NaN)."""
    header, rows = _read_rows(path)
    cols = _columns(path, header, rows)
    _require(path, cols, ("timestamp_sample", "x_position", "y_position"))
    t = cols.pop("timestamp_sample")
    x = cols.pop("x_position")
    y = cols.pop("y_position")
    pupil = cols.pop("pupil_area_normalized", np.full(len(t), np.nan))
    return GazeTrack(t=t, x=x, y=y, pupil=pupil, columns=cols)


# --------------------------------------------------------------------------- writing


def _expand(value: Any, n: int, name: str) -> list[float]:
    if isinstance(value, (str, bytes)):
        return [value] * n  # type: ignore[list-item]
    if np.ndim(value) == 0:
        return [value] * n
    seq = list(value)
    if len(seq) != n:
        raise GazeFileError(f"column {name}: {len(seq)} values for {n} rows")
    return seq


def _fmt(value: Any) -> str:
    if isinstance(value, str):
        return value
    if value is None:
        return ""
    v = float(value)
    if math.isnan(v):
        return ""
    if v.is_integer() and abs(v) < 1e15:
        return str(int(v)) + ".0"
    return repr(round(v, 6))


def _write_table(
    path: str | os.PathLike[str],
    base_names: Sequence[str],
    base: Mapping[str, Sequence[Any]],
    n: int,
    display: DisplayState | None,
    extra_columns: Mapping[str, Any] | None,
) -> Path:
    cols: dict[str, list[Any]] = {k: list(v) for k, v in base.items()}
    shown = (display or DisplayState()).columns()
    extra = dict(extra_columns or {})
    for name in REFLACX_DISPLAY_COLUMNS:
        cols[name] = _expand(extra.pop(name, shown[name]), n, name)
    for name, value in extra.items():
        cols[name] = _expand(value, n, name)
    names = [*base_names, *REFLACX_DISPLAY_COLUMNS, *extra.keys()]
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    tmp = p.with_name(p.name + ".part")
    with tmp.open("w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(names)
        for i in range(n):
            w.writerow([_fmt(cols[c][i]) for c in names])
    os.replace(tmp, p)  # never leave a half-written export behind
    return p


def write_fixations(
    path: str | os.PathLike[str],
    fixations: Sequence[Fixation] | Scanpath,
    extra_columns: Mapping[str, Any] | None = None,
    *,
    display: DisplayState | None = None,
    image_size: tuple[int, int] | None = None,
) -> Path:
    """Write fixations as a REFLACX ``fixations.csv`` (all its columns, REFLACX's order).

    Display columns come from ``display`` (or, given only ``image_size``, "whole image shown"); any
    of them can be overridden per row through ``extra_columns`` (name -> scalar or one value per
    row). Other names in ``extra_columns`` are appended as extra columns after REFLACX's.
    """
    if isinstance(fixations, Scanpath):
        image_size = image_size or fixations.image_size
        fixations = fixations.fixations
    if display is None and image_size is not None:
        display = DisplayState.full_image(image_size)
    base = {
        "timestamp_start_fixation": [f.start for f in fixations],
        "timestamp_end_fixation": [f.end for f in fixations],
        "x_position": [f.x for f in fixations],
        "y_position": [f.y for f in fixations],
        "pupil_area_normalized": [f.pupil for f in fixations],
    }
    return _write_table(path, REFLACX_FIXATION_COLUMNS[:5], base, len(fixations), display, extra_columns)


def write_gaze(
    path: str | os.PathLike[str],
    gaze: GazeTrack,
    extra_columns: Mapping[str, Any] | None = None,
    *,
    display: DisplayState | None = None,
    image_size: tuple[int, int] | None = None,
) -> Path:
    """Write samples (image pixels, seconds; NaN = invalid) as a REFLACX ``gaze.csv``.

    Columns kept in ``gaze.columns`` (e.g. per-sample display state read from another file) are
    written back unless ``extra_columns`` or ``display`` say otherwise.
    """
    if display is None and image_size is not None:
        display = DisplayState.full_image(image_size)
    extra: dict[str, Any] = {}
    for name, values in gaze.columns.items():
        if name not in REFLACX_DISPLAY_COLUMNS or display is None:
            extra[name] = values
    extra.update(extra_columns or {})
    base = {
        "timestamp_sample": gaze.t,
        "x_position": gaze.x,
        "y_position": gaze.y,
        "pupil_area_normalized": gaze.pupil,
    }
    return _write_table(path, REFLACX_GAZE_COLUMNS[:4], base, len(gaze), display, extra)
