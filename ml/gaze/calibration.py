"""Tracker calibration and validation, free of Qt: the GUI draws the targets and calls these.

Flow (the app drives it; Tobii's ScreenBasedCalibration does the maths of the calibration):

1. ``cal = TobiiCalibration(source, geometry)``; ``cal.enter()``.
2. For each point of :func:`calibration_points` (5 or 9): the GUI animates a shrinking target to
   the point, and once it rests calls ``cal.collect(point)`` (from a worker thread: it blocks for
   the tracker's collection time, ~0.5–1 s).
3. ``outcome = cal.compute()`` → per-point samples for each eye (the result plot), the mean
   offset per point and eye in degrees, and the weak points; ``cal.redo(outcome.weak_points)``
   discards and re-collects them, then ``compute()`` again.
4. ``cal.leave()``. Validation on *other* points (:func:`validation_points`): a
   :class:`ValidationCollector` listens to the tracker's per-eye samples while each target rests;
   :meth:`ValidationCollector.result` gives accuracy and precision in degrees per eye.
5. ``store.set_calibration(session_id, CalibrationRecord(...).to_dict())`` keeps it with the session.

Measures (Holmqvist, Nyström & Mulvey 2012, as eye-tracking papers report them):

* accuracy: mean angular offset between gaze samples and the target;
* precision RMS-S2S: root mean square of the angles between successive samples;
* precision SD: sqrt(var(x) + var(y)) of the samples' positions in degrees (population variance).

Angles are true 3-D angles at the eye, which sits ``distance_mm`` in front of the screen centre
(:class:`~ml.gaze.geometry.ScreenGeometry`).
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from types import ModuleType
from typing import Any

import numpy as np

from ml.gaze.geometry import ScreenGeometry
from ml.gaze.sources.tobii import BinocularSample, ScreenRect, TobiiSource, load_sdk

Point = tuple[float, float]  # normalised display-area coordinates (0..1, origin top-left)


class CalibrationError(RuntimeError):
    """Calibration could not run or failed; the message is one line for the GUI."""


# ---------------------------------------------------------------------- target layouts


def calibration_points(n: int = 9, margin: float = 0.1) -> list[Point]:
    """Calibration targets in normalised coordinates: 5 (centre + corners) or 9 (3x3 grid).

    Ordered centre first, then corners, then edge midpoints, so the eye never has to follow a
    predictable raster (which invites anticipatory saccades).
    """
    if not 0.0 < margin < 0.5:
        raise CalibrationError(f"margin must be between 0 and 0.5, got {margin}")
    lo, hi = margin, 1.0 - margin
    centre = [(0.5, 0.5)]
    corners = [(lo, lo), (hi, lo), (hi, hi), (lo, hi)]
    edges = [(0.5, lo), (hi, 0.5), (0.5, hi), (lo, 0.5)]
    if n == 5:
        return centre + corners
    if n == 9:
        return centre + corners + edges
    raise CalibrationError(f"calibration uses 5 or 9 points, not {n}")


def validation_points(n: int = 4, inset: float = 0.3) -> list[Point]:
    """Validation targets away from every calibration point (4 inner points, or 5 with the
    top-centre one), so validation measures the calibration where it interpolates."""
    if not 0.0 < inset < 0.5:
        raise CalibrationError(f"inset must be between 0 and 0.5, got {inset}")
    lo, hi = inset, 1.0 - inset
    pts = [(lo, lo), (hi, lo), (hi, hi), (lo, hi)]
    if n == 4:
        return pts
    if n == 5:
        return pts + [(0.5, 0.2)]
    raise CalibrationError(f"validation uses 4 or 5 points, not {n}")


# ---------------------------------------------------------------------- angles


def _eye_vectors(geom: ScreenGeometry, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Screen pixels (screen-local) -> vectors from the eye in mm, shape (..., 3)."""
    mx, my = geom.mm_per_px
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    return np.stack(
        [
            (x - (geom.width_px - 1) / 2.0) * mx,
            (y - (geom.height_px - 1) / 2.0) * my,
            np.full(np.shape(x), geom.distance_mm),
        ],
        axis=-1,
    )


def angle_deg(geom: ScreenGeometry, x0: Any, y0: Any, x1: Any, y1: Any) -> np.ndarray:
    """Angle at the eye (degrees) between screen points (x0, y0) and (x1, y1) (screen-local px)."""
    a = _eye_vectors(geom, x0, y0)
    b = _eye_vectors(geom, x1, y1)
    cross = np.linalg.norm(np.cross(a, b), axis=-1)
    dot = np.sum(a * b, axis=-1)
    return np.degrees(np.arctan2(cross, dot))


@dataclass
class EyeQuality:
    """Accuracy and precision of one eye at one target (degrees); NaN when no valid sample."""

    accuracy_deg: float = math.nan
    precision_rms_deg: float = math.nan
    precision_sd_deg: float = math.nan
    n_samples: int = 0
    valid_fraction: float = 0.0


def assess_eye(geom: ScreenGeometry, target_px: tuple[float, float], x: Any, y: Any) -> EyeQuality:
    """Accuracy (mean offset), RMS-S2S and SD precision of samples (screen-local px, NaN = invalid)."""
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    n = len(x)
    ok = np.isfinite(x) & np.isfinite(y)
    if not ok.any():
        return EyeQuality(n_samples=n)
    xv, yv = x[ok], y[ok]
    offsets = angle_deg(geom, xv, yv, np.full_like(xv, target_px[0]), np.full_like(yv, target_px[1]))
    accuracy = float(np.mean(offsets))
    if len(xv) >= 2:
        s2s = angle_deg(geom, xv[:-1], yv[:-1], xv[1:], yv[1:])
        rms = float(np.sqrt(np.mean(s2s**2)))
        xd, yd = geom.px_to_deg(xv, yv)
        sd = float(np.sqrt(np.var(xd) + np.var(yd)))
    else:
        rms = sd = math.nan
    return EyeQuality(accuracy, rms, sd, n, float(ok.mean()))


# ---------------------------------------------------------------------- validation


@dataclass
class ValidationPoint:
    target: Point
    target_px: tuple[float, float]
    left: EyeQuality
    right: EyeQuality
    binocular: EyeQuality  # the average of the two eyes, as recorded


@dataclass
class ValidationResult:
    """Per-point and overall (mean over points) accuracy and precision, per eye."""

    points: list[ValidationPoint]
    left: EyeQuality
    right: EyeQuality
    binocular: EyeQuality

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def summary(self) -> str:
        def f(q: EyeQuality) -> str:
            return f"{q.accuracy_deg:.2f}° accuracy, {q.precision_rms_deg:.2f}° RMS-S2S, {q.precision_sd_deg:.2f}° SD"

        return f"left eye: {f(self.left)}; right eye: {f(self.right)}"


def _mean_quality(qs: Sequence[EyeQuality]) -> EyeQuality:
    def m(attr: str) -> float:
        vals = [getattr(q, attr) for q in qs if math.isfinite(getattr(q, attr))]
        return float(np.mean(vals)) if vals else math.nan

    n = sum(q.n_samples for q in qs)
    valid = sum(q.valid_fraction * q.n_samples for q in qs) / n if n else 0.0
    return EyeQuality(m("accuracy_deg"), m("precision_rms_deg"), m("precision_sd_deg"), n, valid)


class ValidationCollector:
    """Collects per-eye samples while a validation target rests on screen.

    Register :meth:`add` as the Tobii source's binocular listener (it runs on the SDK thread and
    only appends); the GUI calls :meth:`begin` when a target has come to rest and :meth:`end`
    after the dwell (typically 1 s). ``skip_s`` ignores the first samples after ``begin`` (the
    saccade landing).
    """

    def __init__(
        self, geometry: ScreenGeometry, screen: ScreenRect | None = None, skip_s: float = 0.2
    ) -> None:
        self.geometry = geometry
        self.screen = screen or ScreenRect(0, 0, geometry.width_px, geometry.height_px)
        self.skip_us = int(skip_s * 1e6)
        self._lock = threading.Lock()
        self._current: Point | None = None
        self._first_t: int | None = None
        self._data: dict[Point, list[BinocularSample]] = {}

    def begin(self, target: Point) -> None:
        with self._lock:
            self._current = (float(target[0]), float(target[1]))
            self._first_t = None
            self._data[self._current] = []

    def end(self) -> int:
        """Stop collecting for the current target; returns how many samples it got."""
        with self._lock:
            target, self._current = self._current, None
            return len(self._data.get(target, [])) if target else 0

    def add(self, sample: BinocularSample) -> None:
        target = self._current
        if target is None:
            return
        if self._first_t is None:
            self._first_t = sample.t_us
        if sample.t_us - self._first_t < self.skip_us:
            return
        self._data[target].append(sample)

    def result(self) -> ValidationResult:
        if not self._data:
            raise CalibrationError("no validation data: show the targets and collect first")
        g, sc = self.geometry, self.screen
        points = []
        for target, samples in self._data.items():
            tx, ty = target[0] * g.width_px, target[1] * g.height_px
            lx = np.array([s.left[0] for s in samples], dtype=np.float64) - sc.x
            ly = np.array([s.left[1] for s in samples], dtype=np.float64) - sc.y
            rx = np.array([s.right[0] for s in samples], dtype=np.float64) - sc.x
            ry = np.array([s.right[1] for s in samples], dtype=np.float64) - sc.y
            bx = np.nanmean(np.stack([lx, rx]), axis=0) if len(samples) else lx
            by = np.nanmean(np.stack([ly, ry]), axis=0) if len(samples) else ly
            points.append(
                ValidationPoint(
                    target,
                    (tx, ty),
                    assess_eye(g, (tx, ty), lx, ly),
                    assess_eye(g, (tx, ty), rx, ry),
                    assess_eye(g, (tx, ty), bx, by),
                )
            )
        return ValidationResult(
            points,
            _mean_quality([p.left for p in points]),
            _mean_quality([p.right for p in points]),
            _mean_quality([p.binocular for p in points]),
        )


# ---------------------------------------------------------------------- Tobii calibration driver


@dataclass
class PointResult:
    """One calibration point after compute_and_apply: what each eye did there (the result plot)."""

    target: Point
    target_px: tuple[float, float]
    left_px: list[tuple[float, float]]  # the SDK's per-sample positions, screen-local pixels
    right_px: list[tuple[float, float]]
    left_used: float  # fraction of samples the calibration used
    right_used: float
    left_error_deg: float  # mean offset of the eye's samples from the target
    right_error_deg: float
    weak: bool = False


@dataclass
class CalibrationOutcome:
    status: str  # success | success_left_eye | success_right_eye | failure
    points: list[PointResult] = field(default_factory=list)
    weak_threshold_deg: float = 1.0

    @property
    def ok(self) -> bool:
        return self.status != "failure"

    @property
    def weak_points(self) -> list[Point]:
        return [p.target for p in self.points if p.weak]

    def mean_error_deg(self, eye: str) -> float:
        vals = [getattr(p, f"{eye}_error_deg") for p in self.points]
        vals = [v for v in vals if math.isfinite(v)]
        return float(np.mean(vals)) if vals else math.nan

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["weak_points"] = self.weak_points
        return d


@dataclass
class CalibrationRecord:
    """What a session stores: the calibration, the validation, and the conditions."""

    calibration: CalibrationOutcome | None
    validation: ValidationResult | None
    geometry: ScreenGeometry
    tracker: dict[str, Any] = field(default_factory=dict)
    n_points: int = 0
    created_at: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {
            "calibration": self.calibration.to_dict() if self.calibration else None,
            "validation": self.validation.to_dict() if self.validation else None,
            "geometry": self.geometry.to_dict(),
            "tracker": dict(self.tracker),
            "n_points": self.n_points,
            "created_at": self.created_at or time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        }


def point_result(
    geometry: ScreenGeometry,
    target: Point,
    eyes: dict[str, tuple[list[tuple[float, float]], float]],
    weak_deg: float,
) -> PointResult:
    """One calibration point from each eye's sample positions (screen-local pixels) and the
    fraction of its samples the calibration used: the mean offset in degrees and weakness."""
    g = geometry
    target_px = (target[0] * g.width_px, target[1] * g.height_px)
    stats = {}
    for side in ("left", "right"):
        pts, frac = eyes[side]
        if pts:
            arr = np.array(pts)
            ones = np.ones(len(arr))
            err = float(np.mean(angle_deg(g, arr[:, 0], arr[:, 1], ones * target_px[0], ones * target_px[1])))
        else:
            err = math.nan
        stats[side] = (list(pts), float(frac), err)
    weak = any(
        (not math.isfinite(stats[s][2])) or stats[s][2] > weak_deg or stats[s][1] < 0.5 for s in ("left", "right")
    )
    (lp, lf, le), (rp, rf, re) = stats["left"], stats["right"]
    return PointResult(target, target_px, lp, rp, lf, rf, le, re, weak)


_STATUS = {
    "calibration_status_success": "success",
    "calibration_status_success_left_eye": "success_left_eye",
    "calibration_status_success_right_eye": "success_right_eye",
    "calibration_status_failure": "failure",
}


class TobiiCalibration:
    """Drive Tobii's ScreenBasedCalibration from the app (no Qt here).

    ``tracker`` is a connected :class:`TobiiSource` (or an SDK EyeTracker with ``sdk`` given).
    ``weak_deg``: a point whose mean offset exceeds it for an eye, or where the calibration used
    under half of an eye's samples, is marked weak (offered for redo). Calls block on the tracker:
    run them off the GUI thread.
    """

    def __init__(
        self,
        tracker: TobiiSource | Any,
        geometry: ScreenGeometry | None = None,
        *,
        sdk: ModuleType | None = None,
        weak_deg: float = 1.0,
    ) -> None:
        if isinstance(tracker, TobiiSource):
            sdk = sdk or tracker.sdk
            tracker = tracker.connect()
        self.sdk = sdk or load_sdk()
        self.tracker = tracker
        self.geometry = geometry or ScreenGeometry()
        self.weak_deg = float(weak_deg)
        try:
            self._cal = self.sdk.ScreenBasedCalibration(tracker)
        except ValueError as exc:
            raise CalibrationError(f"This tracker cannot do screen-based calibration: {exc}") from exc
        self.active = False
        self.collected: list[Point] = []

    def _call(self, what: str, fn: Callable[[], Any]) -> Any:
        try:
            return fn()
        except Exception as exc:  # the SDK raises its own error classes
            raise CalibrationError(f"Calibration failed to {what}: {exc}") from exc

    def enter(self) -> None:
        self._call("enter calibration mode", self._cal.enter_calibration_mode)
        self.active = True
        self.collected = []

    def leave(self) -> None:
        if self.active:
            self._call("leave calibration mode", self._cal.leave_calibration_mode)
            self.active = False

    def __enter__(self) -> TobiiCalibration:
        self.enter()
        return self

    def __exit__(self, *exc: object) -> None:
        self.leave()

    def collect(self, point: Point, retries: int = 1) -> bool:
        """Collect data at ``point`` (the target is resting there); retried once, as Tobii advises."""
        x, y = float(point[0]), float(point[1])
        ok = any(self._collect_once(x, y) for _ in range(1 + max(0, retries)))
        if ok and (x, y) not in self.collected:
            self.collected.append((x, y))
        return ok

    def _collect_once(self, x: float, y: float) -> bool:
        status = self._call("collect data", lambda: self._cal.collect_data(x, y))
        return status != self.sdk.CALIBRATION_STATUS_FAILURE

    def discard(self, point: Point) -> None:
        x, y = float(point[0]), float(point[1])
        self._call("discard data", lambda: self._cal.discard_data(x, y))
        if (x, y) in self.collected:
            self.collected.remove((x, y))

    def compute(self) -> CalibrationOutcome:
        """compute_and_apply, then per-point offsets per eye in degrees and the weak points."""
        result = self._call("compute the calibration", self._cal.compute_and_apply)
        status = _STATUS.get(result.status, "failure")
        outcome = CalibrationOutcome(status, weak_threshold_deg=self.weak_deg)
        g = self.geometry
        used = self.sdk.VALIDITY_VALID_AND_USED
        invalid = self.sdk.VALIDITY_INVALID_AND_NOT_USED
        for cp in result.calibration_points:
            tx, ty = cp.position_on_display_area
            eyes = {}
            for side in ("left", "right"):
                data = [getattr(s, f"{side}_eye") for s in cp.calibration_samples]
                pts = [
                    (d.position_on_display_area[0] * g.width_px, d.position_on_display_area[1] * g.height_px)
                    for d in data
                    if d.validity != invalid
                ]
                frac = sum(d.validity == used for d in data) / len(data) if data else 0.0
                eyes[side] = (pts, frac)
            outcome.points.append(point_result(g, (float(tx), float(ty)), eyes, self.weak_deg))
        return outcome

    def redo(
        self, points: Sequence[Point], wait_for_target: Callable[[Point], Any] | None = None
    ) -> CalibrationOutcome:
        """Discard and re-collect ``points`` (the weak ones), then compute again."""
        for p in points:
            self.discard(p)
            if wait_for_target is not None:
                wait_for_target(p)
            self.collect(p)
        return self.compute()

    def run(
        self, points: Sequence[Point], wait_for_target: Callable[[Point], Any] | None = None
    ) -> CalibrationOutcome:
        """The whole sequence: enter (if needed), collect each point after ``wait_for_target(p)``
        returns (the GUI's animation came to rest), compute. Leaves calibration mode open so weak
        points can be redone; call :meth:`leave` when done."""
        if not self.active:
            self.enter()
        for p in points:
            if wait_for_target is not None:
                wait_for_target(p)
            if not self.collect(p):
                raise CalibrationError(
                    f"The tracker could not collect data at point {p}; check the participant."
                )
        return self.compute()
