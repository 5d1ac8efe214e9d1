"""Fixation detection: I-VT and I-DT on samples in degrees, with gap handling and merging.

Both follow Salvucci & Goldberg (2000) as pymovements implements them, plus the post-processing of
Tobii's I-VT filter (Olsen 2012): short invalid stretches (blinks, lost eyes) up to ``max_gap`` do
not break a fixation, adjacent fixations closer than ``merge_max_gap`` in time and
``merge_max_angle`` in space are merged, and fixations shorter than ``min_duration`` are dropped.

Conventions (shared with pymovements, so results can be checked against it):
- velocity of a sample = distance to the previous valid sample / time between them ("preceding");
  the first sample of a stretch (after a break) has no velocity and starts a new candidate;
- a fixation starts at its first sample's time and ends at its last sample's time;
- dispersion = (max x - min x) + (max y - min y) in degrees.

Positions for detection are in degrees (see :class:`ml.gaze.geometry.ScreenGeometry`); the
reported position is the mean of a second, optional pair of arrays (usually image pixels from
:func:`ml.gaze.geometry.screen_to_image`), so zoom/pan changes inside a fixation are handled sample by
sample. :class:`OnlineIVT` does I-VT sample by sample for the live view and yields exactly what
:func:`detect_ivt` yields on the same stream.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from ml.types import Fixation, GazeSample

if TYPE_CHECKING:
    from ml.gaze.geometry import ScreenGeometry, Viewport
    from ml.gaze.io import GazeTrack


class FixationError(ValueError):
    """Bad samples or parameters for fixation detection."""


@dataclass(frozen=True)
class IVTParams:
    """I-VT parameters; defaults are Tobii's I-VT filter (30 deg/s, 75 ms gaps/merges, 0.5 deg, 60 ms)."""

    velocity_threshold: float = 30.0  # deg/s
    min_duration: float = 0.060  # s; shorter fixations are dropped (after merging)
    max_gap: float = 0.075  # s; invalid stretches up to this long do not break a fixation
    merge_max_gap: float = 0.075  # s; 0 disables merging
    merge_max_angle: float = 0.5  # deg

    def __post_init__(self) -> None:
        if self.velocity_threshold <= 0:
            raise FixationError("velocity threshold must be > 0 deg/s")
        if min(self.min_duration, self.max_gap, self.merge_max_gap, self.merge_max_angle) < 0:
            raise FixationError("durations and angles must be >= 0")


@dataclass(frozen=True)
class IDTParams:
    """I-DT parameters; dispersion threshold 1 deg and minimum duration 100 ms (Salvucci & Goldberg)."""

    dispersion_threshold: float = 1.0  # deg, (max-min x) + (max-min y)
    min_duration: float = 0.100  # s
    max_gap: float = 0.075
    merge_max_gap: float = 0.075
    merge_max_angle: float = 0.5

    def __post_init__(self) -> None:
        if self.dispersion_threshold <= 0 or self.min_duration <= 0:
            raise FixationError("dispersion threshold and minimum duration must be > 0")
        if min(self.max_gap, self.merge_max_gap, self.merge_max_angle) < 0:
            raise FixationError("durations and angles must be >= 0")


@dataclass
class DetectedFixation:
    """A detected fixation: times on the samples' clock (seconds), centroid in degrees and in the
    reporting coordinates (``x``/``y``, NaN when no sample of it had a reporting position)."""

    start: float
    end: float
    x_deg: float
    y_deg: float
    x: float
    y: float
    pupil: float
    n: int  # samples
    first: int  # index of the first sample
    last: int  # index of the last sample

    @property
    def duration(self) -> float:
        return self.end - self.start

    def to_fixation(self, t0: float = 0.0) -> Fixation:
        """As a scanpath :class:`~ml.types.Fixation` (times relative to ``t0``)."""
        return Fixation(self.x, self.y, self.start - t0, self.end - t0, self.pupil)


class _Acc:
    """Running sums of one candidate (so merging and online use are exact and cheap)."""

    __slots__ = ("first", "last", "t0", "t1", "n", "sxd", "syd", "np", "sx", "sy", "nu", "su")

    def __init__(self, i: int, t: float) -> None:
        self.first = self.last = i
        self.t0 = self.t1 = t
        self.n = self.np = self.nu = 0
        self.sxd = self.syd = self.sx = self.sy = self.su = 0.0

    def add(self, i: int, t: float, xd: float, yd: float, x: float, y: float, pupil: float) -> None:
        self.last, self.t1 = i, t
        self.n += 1
        self.sxd += xd
        self.syd += yd
        if x == x and y == y:  # not NaN
            self.np += 1
            self.sx += x
            self.sy += y
        if pupil == pupil:
            self.nu += 1
            self.su += pupil

    def absorb(self, o: _Acc) -> None:
        self.last, self.t1 = o.last, o.t1
        self.n += o.n
        self.np += o.np
        self.nu += o.nu
        self.sxd += o.sxd
        self.syd += o.syd
        self.sx += o.sx
        self.sy += o.sy
        self.su += o.su

    def centroid_deg(self) -> tuple[float, float]:
        return self.sxd / self.n, self.syd / self.n

    def result(self) -> DetectedFixation:
        nan = math.nan
        return DetectedFixation(
            start=self.t0,
            end=self.t1,
            x_deg=self.sxd / self.n,
            y_deg=self.syd / self.n,
            x=self.sx / self.np if self.np else nan,
            y=self.sy / self.np if self.np else nan,
            pupil=self.su / self.nu if self.nu else nan,
            n=self.n,
            first=self.first,
            last=self.last,
        )


def _mergeable(a: _Acc, b: _Acc, gap: float, angle: float) -> bool:
    if gap <= 0 or b.t0 - a.t1 > gap:
        return False
    (ax, ay), (bx, by) = a.centroid_deg(), b.centroid_deg()
    return math.hypot(ax - bx, ay - by) <= angle


def _postprocess(
    cands: list[_Acc], merge_gap: float, merge_angle: float, min_duration: float
) -> list[DetectedFixation]:
    out: list[DetectedFixation] = []
    pending: _Acc | None = None
    for c in cands:
        if pending is not None and _mergeable(pending, c, merge_gap, merge_angle):
            pending.absorb(c)
            continue
        if pending is not None and pending.t1 - pending.t0 >= min_duration:
            out.append(pending.result())
        pending = c
    if pending is not None and pending.t1 - pending.t0 >= min_duration:
        out.append(pending.result())
    return out


def _prepare(t, xd, yd, x, y, pupil):
    t = np.asarray(t, dtype=np.float64).ravel()
    xd = np.asarray(xd, dtype=np.float64).ravel()
    yd = np.asarray(yd, dtype=np.float64).ravel()
    n = len(t)
    if len(xd) != n or len(yd) != n:
        raise FixationError("t, x_deg and y_deg must have the same length")
    x = xd if x is None else np.asarray(x, dtype=np.float64).ravel()
    y = yd if y is None else np.asarray(y, dtype=np.float64).ravel()
    pupil = np.full(n, np.nan) if pupil is None else np.asarray(pupil, dtype=np.float64).ravel()
    if len(x) != n or len(y) != n or len(pupil) != n:
        raise FixationError("reporting positions and pupil must have one value per sample")
    if n > 1 and np.any(np.diff(t) <= 0):
        raise FixationError("sample timestamps must increase strictly")
    valid = np.isfinite(xd) & np.isfinite(yd) & np.isfinite(t)
    return t, xd, yd, x, y, pupil, valid


def _links(t: np.ndarray, vi: np.ndarray, max_gap: float) -> np.ndarray:
    """For each valid sample after the first: is it connected to the previous valid sample?"""
    adjacent = np.diff(vi) == 1
    return adjacent | (np.diff(t[vi]) <= max_gap)


def detect_ivt(
    t: np.ndarray,
    x_deg: np.ndarray,
    y_deg: np.ndarray,
    params: IVTParams | None = None,
    *,
    x: np.ndarray | None = None,
    y: np.ndarray | None = None,
    pupil: np.ndarray | None = None,
) -> list[DetectedFixation]:
    """I-VT on samples (``t`` seconds, positions in degrees, NaN = invalid)."""
    p = params or IVTParams()
    t, xd, yd, x, y, pupil, valid = _prepare(t, x_deg, y_deg, x, y, pupil)
    vi = np.flatnonzero(valid)
    if len(vi) == 0:
        return []
    linked = _links(t, vi, p.max_gap)
    with np.errstate(divide="ignore", invalid="ignore"):
        vel = np.hypot(np.diff(xd[vi]), np.diff(yd[vi])) / np.diff(t[vi])
    # A sample is a fixation sample if it is slow, or starts a new stretch (no velocity).
    fix = np.ones(len(vi), dtype=bool)
    fix[1:] = ~linked | (vel < p.velocity_threshold)
    starts = fix.copy()
    starts[1:] &= ~(fix[:-1] & linked)
    cands: list[_Acc] = []
    acc: _Acc | None = None
    for k, i in enumerate(vi):
        if not fix[k]:
            if acc is not None:
                cands.append(acc)
                acc = None
            continue
        if starts[k]:
            if acc is not None:
                cands.append(acc)
            acc = _Acc(int(i), float(t[i]))
        acc.add(int(i), float(t[i]), xd[i], yd[i], x[i], y[i], pupil[i])
    if acc is not None:
        cands.append(acc)
    return _postprocess(cands, p.merge_max_gap, p.merge_max_angle, p.min_duration)


def _dispersion(xs: np.ndarray, ys: np.ndarray) -> float:
    return float(xs.max() - xs.min() + ys.max() - ys.min())


def detect_idt(
    t: np.ndarray,
    x_deg: np.ndarray,
    y_deg: np.ndarray,
    params: IDTParams | None = None,
    *,
    x: np.ndarray | None = None,
    y: np.ndarray | None = None,
    pupil: np.ndarray | None = None,
) -> list[DetectedFixation]:
    """I-DT on samples (``t`` seconds, positions in degrees, NaN = invalid).

    Within each stretch of connected valid samples: the smallest window spanning ``min_duration``
    is a fixation if its dispersion is <= threshold; it then grows while the dispersion stays
    <= threshold; otherwise the window start moves on by one sample.
    """
    p = params or IDTParams()
    t, xd, yd, x, y, pupil, valid = _prepare(t, x_deg, y_deg, x, y, pupil)
    vi = np.flatnonzero(valid)
    if len(vi) == 0:
        return []
    linked = _links(t, vi, p.max_gap)
    breaks = np.flatnonzero(~linked) + 1
    cands: list[_Acc] = []
    for seg in np.split(vi, breaks):
        ts, xs, ys = t[seg], xd[seg], yd[seg]
        n, i = len(seg), 0
        # ends[i] = first j with ts[j] - ts[i] >= min_duration (n when none)
        ends = np.searchsorted(ts, ts + p.min_duration - 1e-12, side="left")
        while i < n:
            j = int(ends[i])
            if j >= n:
                break
            if _dispersion(xs[i : j + 1], ys[i : j + 1]) <= p.dispersion_threshold:
                lo_x, hi_x = xs[i : j + 1].min(), xs[i : j + 1].max()
                lo_y, hi_y = ys[i : j + 1].min(), ys[i : j + 1].max()
                while j + 1 < n:
                    nx, ny = xs[j + 1], ys[j + 1]
                    if max(hi_x, nx) - min(lo_x, nx) + max(hi_y, ny) - min(lo_y, ny) > p.dispersion_threshold:
                        break
                    lo_x, hi_x, lo_y, hi_y = min(lo_x, nx), max(hi_x, nx), min(lo_y, ny), max(hi_y, ny)
                    j += 1
                acc = _Acc(int(seg[i]), float(ts[i]))
                for k in seg[i : j + 1]:
                    acc.add(int(k), float(t[k]), xd[k], yd[k], x[k], y[k], pupil[k])
                cands.append(acc)
                i = j + 1
            else:
                i += 1
    return _postprocess(cands, p.merge_max_gap, p.merge_max_angle, p.min_duration)


class OnlineIVT:
    """I-VT fed one sample at a time; :meth:`push` returns the fixations that just became final.

    A fixation is final once no later sample can extend it or merge with it, i.e. at most
    ``max(max_gap, merge_max_gap)`` after its last sample. Feeding a whole stream and calling
    :meth:`flush` yields exactly :func:`detect_ivt`'s fixations.
    """

    def __init__(self, params: IVTParams | None = None) -> None:
        self.params = params or IVTParams()
        self.reset()

    def reset(self) -> None:
        self._i = -1  # index of the last sample pushed
        self._t = -math.inf
        self._last_valid: tuple[int, float, float, float] | None = None  # (index, t, xd, yd)
        self._run: _Acc | None = None
        self._pending: _Acc | None = None

    def push(
        self,
        t: float,
        x_deg: float,
        y_deg: float,
        x: float | None = None,
        y: float | None = None,
        pupil: float = math.nan,
    ) -> list[DetectedFixation]:
        """Add one sample (NaN position = invalid); return fixations finalised by it."""
        p = self.params
        if t <= self._t:
            raise FixationError("sample timestamps must increase strictly")
        self._i += 1
        self._t = t
        out: list[DetectedFixation] = []
        i = self._i
        if not (math.isfinite(x_deg) and math.isfinite(y_deg)):
            if self._run is not None and self._last_valid is not None and t - self._last_valid[1] > p.max_gap:
                self._close_run(out)  # can no longer be linked to anything that follows
            self._maybe_release(out)
            return out
        x = x_deg if x is None else x
        y = y_deg if y is None else y
        lv = self._last_valid
        linked = lv is not None and (lv[0] == i - 1 or t - lv[1] <= p.max_gap)
        if linked:
            dt = t - lv[1]
            slow = math.hypot(x_deg - lv[2], y_deg - lv[3]) / dt < p.velocity_threshold
        self._last_valid = (i, t, x_deg, y_deg)
        if linked and not slow:
            self._close_run(out)
        else:
            if not linked or self._run is None:
                self._close_run(out)
                self._run = _Acc(i, t)
            self._run.add(i, t, x_deg, y_deg, x, y, pupil)
        self._maybe_release(out)
        return out

    def tentative(self) -> DetectedFixation | None:
        """The fixation in progress or awaiting a possible merge (may still change): for live drawing."""
        acc = self._run or self._pending
        return acc.result() if acc is not None else None

    def flush(self) -> list[DetectedFixation]:
        """End of stream: finalise everything still open."""
        out: list[DetectedFixation] = []
        self._close_run(out)
        if self._pending is not None:
            self._emit(self._pending, out)
            self._pending = None
        return out

    def _emit(self, acc: _Acc, out: list[DetectedFixation]) -> None:
        if acc.t1 - acc.t0 >= self.params.min_duration:
            out.append(acc.result())

    def _close_run(self, out: list[DetectedFixation]) -> None:
        run, self._run = self._run, None
        if run is None:
            return
        p = self.params
        if self._pending is not None and _mergeable(self._pending, run, p.merge_max_gap, p.merge_max_angle):
            self._pending.absorb(run)
            return
        if self._pending is not None:
            self._emit(self._pending, out)
        self._pending = run

    def _maybe_release(self, out: list[DetectedFixation]) -> None:
        pend = self._pending
        if pend is None:
            return
        gap = self.params.merge_max_gap if self.params.merge_max_gap > 0 else 0.0
        if self._run is not None:
            if self._run.t0 - pend.t1 > gap or gap == 0:
                self._emit(pend, out)
                self._pending = None
        elif self._t - pend.t1 >= gap:
            self._emit(pend, out)
            self._pending = None


def to_scanpath_fixations(detected: list[DetectedFixation], t0: float = 0.0) -> list[Fixation]:
    """Detected fixations with a reporting position, as scanpath fixations (times from ``t0``)."""
    return [d.to_fixation(t0) for d in detected if math.isfinite(d.x) and math.isfinite(d.y)]


def detect(
    t: np.ndarray,
    x_deg: np.ndarray,
    y_deg: np.ndarray,
    params: IVTParams | IDTParams | None = None,
    **payload: np.ndarray | None,
) -> list[DetectedFixation]:
    """I-VT or I-DT depending on the type of ``params`` (I-VT when None)."""
    if isinstance(params, IDTParams):
        return detect_idt(t, x_deg, y_deg, params, **payload)
    return detect_ivt(t, x_deg, y_deg, params, **payload)


def fixations_from_samples(
    samples: Sequence[GazeSample],
    viewport_events: Sequence[Viewport],
    geometry: ScreenGeometry,
    params: IVTParams | IDTParams | None = None,
    image_id: str | None = None,
) -> list[Fixation]:
    """A recorded session's raw screen samples -> scanpath fixations in image pixels.

    Detection runs on screen degrees (``geometry``, a :class:`~ml.gaze.geometry.ScreenGeometry`);
    each sample is mapped to image pixels through the viewport in force at its timestamp and the
    fixation's position is the mean of its samples on the image. Times are seconds from the first
    sample. With ``image_id``, only fixations whose samples lay on that image are kept.
    """
    from ml.gaze.geometry import samples_to_arrays, screen_to_image

    if not samples:
        return []
    t_us, sx, sy, _ = samples_to_arrays(samples)
    mapped = screen_to_image((t_us, sx, sy), viewport_events)
    ix, iy = mapped.x.copy(), mapped.y.copy()
    if image_id is not None:
        other = mapped.image_id != image_id
        ix[other] = np.nan
        iy[other] = np.nan
    pupil = np.fromiter((s.pupil_mm for s in samples), dtype=np.float64, count=len(samples))
    xd, yd = geometry.px_to_deg(sx, sy)
    t = (t_us - t_us[0]) / 1e6
    return to_scanpath_fixations(detect(t, xd, yd, params, x=ix, y=iy, pupil=pupil))


def fixations_from_gaze_track(
    track: GazeTrack, params: IVTParams | IDTParams | None = None
) -> list[Fixation]:
    """REFLACX-style samples in image pixels (a :class:`~ml.gaze.io.GazeTrack`) -> fixations.

    Degrees come from the per-row ``angular_resolution_*_pixels_per_degree`` columns (image pixels
    per degree at the zoom in force), so zooming during the reading is accounted for.
    """
    ppx = track.columns.get("angular_resolution_x_pixels_per_degree")
    ppy = track.columns.get("angular_resolution_y_pixels_per_degree")
    if ppx is None or ppy is None or not np.isfinite(ppx).any():
        raise FixationError("gaze file has no angular resolution columns: pixels per degree unknown")
    xd, yd = track.x / ppx, track.y / ppy
    return to_scanpath_fixations(detect(track.t, xd, yd, params, x=track.x, y=track.y, pupil=track.pupil))
