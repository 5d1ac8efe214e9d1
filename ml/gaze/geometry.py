"""Screen geometry (pixels <-> degrees of visual angle) and the viewport mapping (screen -> image pixels).

The contract (docs/ARCHITECTURE.md): raw samples are screen pixels with monotonic microsecond
timestamps; the viewer logs its state (which image, zoom, pan, window/level) as timestamped
:class:`Viewport` events; :func:`screen_to_image` maps every sample through the viewport that was in
force at the sample's timestamp. Views never convert coordinates themselves, so a recording can be
re-mapped exactly after the fact, also after the reader zoomed or panned.

Degrees follow the convention of pymovements' ``pix2deg`` (per axis, relative to the screen centre:
``atan2(px - (n - 1) / 2, distance_px)``), so velocities and dispersions agree with it.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field, replace

import numpy as np

from ml.types import GazeSample


class GeometryError(ValueError):
    """Impossible screen or viewport parameters."""


@dataclass(frozen=True)
class ScreenGeometry:
    """The physical screen and where the eye is: what turns pixels into degrees.

    Stored once per session. Defaults are a 24" 1920x1080 monitor viewed from 65 cm.
    """

    width_px: int = 1920
    height_px: int = 1080
    width_mm: float = 531.4
    height_mm: float = 298.9
    distance_mm: float = 650.0

    def __post_init__(self) -> None:
        if (
            min(self.width_px, self.height_px) <= 0
            or min(self.width_mm, self.height_mm, self.distance_mm) <= 0
        ):
            raise GeometryError("screen size, physical size and viewing distance must be positive")

    @property
    def mm_per_px(self) -> tuple[float, float]:
        return self.width_mm / self.width_px, self.height_mm / self.height_px

    @property
    def distance_px(self) -> tuple[float, float]:
        """Eye-to-screen distance in pixels, per axis."""
        mx, my = self.mm_per_px
        return self.distance_mm / mx, self.distance_mm / my

    @property
    def pixels_per_degree(self) -> tuple[float, float]:
        """Pixels spanned by 1 degree at the screen centre (REFLACX's 'angular resolution')."""
        dx, dy = self.distance_px
        t = math.tan(math.radians(1.0))
        return dx * t, dy * t

    def px_to_deg(self, x: np.ndarray | float, y: np.ndarray | float) -> tuple[np.ndarray, np.ndarray]:
        """Screen pixels (origin top-left) -> degrees from the screen centre, per axis."""
        dx, dy = self.distance_px
        x = np.asarray(x, dtype=np.float64) - (self.width_px - 1) / 2.0
        y = np.asarray(y, dtype=np.float64) - (self.height_px - 1) / 2.0
        return np.degrees(np.arctan2(x, dx)), np.degrees(np.arctan2(y, dy))

    def deg_to_px(self, xd: np.ndarray | float, yd: np.ndarray | float) -> tuple[np.ndarray, np.ndarray]:
        """Inverse of :meth:`px_to_deg`."""
        dx, dy = self.distance_px
        x = np.tan(np.radians(np.asarray(xd, dtype=np.float64))) * dx + (self.width_px - 1) / 2.0
        y = np.tan(np.radians(np.asarray(yd, dtype=np.float64))) * dy + (self.height_px - 1) / 2.0
        return x, y

    def to_dict(self) -> dict[str, float]:
        return {
            "width_px": self.width_px,
            "height_px": self.height_px,
            "width_mm": self.width_mm,
            "height_mm": self.height_mm,
            "distance_mm": self.distance_mm,
        }

    @classmethod
    def from_dict(cls, d: dict[str, float]) -> ScreenGeometry:
        return cls(
            int(d["width_px"]),
            int(d["height_px"]),
            float(d["width_mm"]),
            float(d["height_mm"]),
            float(d["distance_mm"]),
        )


@dataclass(frozen=True)
class Viewport:
    """What the viewer showed from time ``t_us`` on: one event in the session's viewport log.

    ``image_rect`` is where the *whole* image lies on screen (x0, y0, x1, y1 in screen pixels,
    possibly beyond the widget when zoomed in); ``view_rect`` is the widget area on screen that
    shows it (gaze outside it is not on the image even if the image extends there). ``zoom`` and
    ``pan`` are kept for the record and for :meth:`fit`; the mapping uses only the rectangles.
    An event with an empty ``image_id`` means "no image shown" (samples map to NaN).
    """

    t_us: int
    image_id: str
    image_size: tuple[int, int]  # (width, height) in image pixels
    image_rect: tuple[float, float, float, float]
    view_rect: tuple[float, float, float, float] | None = None
    zoom: float = 1.0
    pan: tuple[float, float] = (0.0, 0.0)
    window_center: float = math.nan
    window_width: float = math.nan
    extra: dict[str, float] = field(default_factory=dict, compare=False)

    def __post_init__(self) -> None:
        x0, y0, x1, y1 = self.image_rect
        if self.image_id and (x1 <= x0 or y1 <= y0):
            raise GeometryError(f"viewport image rectangle is empty: {self.image_rect}")
        if self.image_id and min(self.image_size) <= 0:
            raise GeometryError(f"viewport image size must be positive: {self.image_size}")

    @classmethod
    def fit(
        cls,
        t_us: int,
        image_id: str,
        image_size: tuple[int, int],
        view_rect: tuple[float, float, float, float],
        zoom: float = 1.0,
        pan: tuple[float, float] = (0.0, 0.0),
        **kwargs: float,
    ) -> Viewport:
        """The usual viewer: image fitted (aspect kept, centred) in ``view_rect``, then scaled by
        ``zoom`` about the view centre and moved by ``pan`` screen pixels."""
        if zoom <= 0:
            raise GeometryError(f"zoom must be positive, got {zoom}")
        w, h = image_size
        vx0, vy0, vx1, vy1 = view_rect
        s = min((vx1 - vx0) / w, (vy1 - vy0) / h) * zoom
        cx, cy = (vx0 + vx1) / 2.0 + pan[0], (vy0 + vy1) / 2.0 + pan[1]
        rect = (cx - w * s / 2.0, cy - h * s / 2.0, cx + w * s / 2.0, cy + h * s / 2.0)
        return cls(t_us, image_id, (int(w), int(h)), rect, tuple(view_rect), zoom, tuple(pan), **kwargs)

    @property
    def scale(self) -> tuple[float, float]:
        """Screen pixels per image pixel, per axis."""
        x0, y0, x1, y1 = self.image_rect
        return (x1 - x0) / self.image_size[0], (y1 - y0) / self.image_size[1]

    def to_image(
        self, x: np.ndarray | float, y: np.ndarray | float, clip: bool = True
    ) -> tuple[np.ndarray, np.ndarray]:
        """Screen -> image pixels; with ``clip``, points off the image or outside the view are NaN."""
        x = np.asarray(x, dtype=np.float64)
        y = np.asarray(y, dtype=np.float64)
        if not self.image_id:
            return np.full_like(x, np.nan), np.full_like(y, np.nan)
        sx, sy = self.scale
        ix = (x - self.image_rect[0]) / sx
        iy = (y - self.image_rect[1]) / sy
        if clip:
            w, h = self.image_size
            off = (ix < 0) | (iy < 0) | (ix > w) | (iy > h)
            if self.view_rect is not None:
                vx0, vy0, vx1, vy1 = self.view_rect
                off |= (x < vx0) | (y < vy0) | (x > vx1) | (y > vy1)
            ix = np.where(off, np.nan, ix)
            iy = np.where(off, np.nan, iy)
        return ix, iy

    def to_screen(self, ix: np.ndarray | float, iy: np.ndarray | float) -> tuple[np.ndarray, np.ndarray]:
        """Image -> screen pixels (for drawing overlays)."""
        sx, sy = self.scale
        return (
            np.asarray(ix, dtype=np.float64) * sx + self.image_rect[0],
            np.asarray(iy, dtype=np.float64) * sy + self.image_rect[1],
        )

    def shown_from_image(self) -> tuple[float, float, float, float]:
        """The part of the image that is visible (REFLACX's ``*_shown_from_image``)."""
        w, h = self.image_size
        if self.view_rect is None:
            return 0.0, 0.0, float(w), float(h)
        x0, y0 = self.to_image(self.view_rect[0], self.view_rect[1], clip=False)
        x1, y1 = self.to_image(self.view_rect[2], self.view_rect[3], clip=False)
        return (
            float(max(0.0, x0)),
            float(max(0.0, y0)),
            float(min(float(w), x1)),
            float(min(float(h), y1)),
        )

    def with_time(self, t_us: int) -> Viewport:
        return replace(self, t_us=t_us)


@dataclass
class ImageGaze:
    """Samples mapped to image pixels; NaN where invalid, before any viewport, or off the image."""

    t_us: np.ndarray  # int64 microseconds, as recorded
    x: np.ndarray
    y: np.ndarray
    image_id: np.ndarray  # object array of str; "" where no image was shown
    viewport_index: np.ndarray  # int, -1 before the first event

    @property
    def valid(self) -> np.ndarray:
        return np.isfinite(self.x) & np.isfinite(self.y)

    def seconds(self, t0_us: int | None = None) -> np.ndarray:
        """Timestamps in seconds from ``t0_us`` (default: the first sample)."""
        if len(self.t_us) == 0:
            return np.zeros(0)
        t0 = int(self.t_us[0]) if t0_us is None else int(t0_us)
        return (self.t_us.astype(np.int64) - t0) / 1e6


def samples_to_arrays(samples: Sequence[GazeSample]) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(t_us int64, x, y, valid) arrays from GazeSample objects; invalid samples get NaN x/y."""
    n = len(samples)
    t = np.fromiter((s.t_us for s in samples), dtype=np.int64, count=n)
    x = np.fromiter((s.x for s in samples), dtype=np.float64, count=n)
    y = np.fromiter((s.y for s in samples), dtype=np.float64, count=n)
    valid = np.fromiter((s.valid for s in samples), dtype=bool, count=n)
    x[~valid] = np.nan
    y[~valid] = np.nan
    return t, x, y, valid


def screen_to_image(
    samples: Sequence[GazeSample] | tuple[np.ndarray, np.ndarray, np.ndarray],
    viewport_events: Sequence[Viewport],
    clip: bool = True,
) -> ImageGaze:
    """Map each sample through the viewport in force at its timestamp (the last event at or before it).

    ``samples`` is a sequence of :class:`GazeSample` or a ``(t_us, x, y)`` tuple of arrays (NaN =
    invalid). ``viewport_events`` must be sorted by time (the viewer logs them in order).
    """
    if isinstance(samples, tuple):
        t, x, y = (np.asarray(a) for a in samples)
        t = t.astype(np.int64)
        x = x.astype(np.float64)
        y = y.astype(np.float64)
    else:
        t, x, y, _ = samples_to_arrays(samples)
    ev_t = np.array([v.t_us for v in viewport_events], dtype=np.int64)
    if len(ev_t) > 1 and np.any(np.diff(ev_t) < 0):
        raise GeometryError("viewport events must be sorted by time")
    idx = np.searchsorted(ev_t, t, side="right") - 1
    ix = np.full(len(t), np.nan)
    iy = np.full(len(t), np.nan)
    ids = np.full(len(t), "", dtype=object)
    for k in np.unique(idx):
        if k < 0:
            continue
        sel = idx == k
        vp = viewport_events[int(k)]
        ix[sel], iy[sel] = vp.to_image(x[sel], y[sel], clip=clip)
        ids[sel] = vp.image_id
    return ImageGaze(t_us=t, x=ix, y=iy, image_id=ids, viewport_index=idx)
