"""The tracker's own screen-based calibration through TittaPy, behind the same driver interface as
the ``tobii_research`` one (:class:`ml.gaze.calibration.TobiiCalibration`).

Titta runs calibration work asynchronously on its own thread: ``enter_calibration_mode``,
``calibration_collect_data``, ``calibration_discard_data`` and ``calibration_compute_and_apply``
queue an item, and ``calibration_retrieve_result()`` hands back each finished one (action, SDK
status, and for compute the per-point, per-eye samples). This driver waits for each result, so
its calls block like the SDK's (run them off the GUI thread, as the calibration dialog does), and
turns the compute result into the same :class:`~ml.gaze.calibration.CalibrationOutcome` (mean
offset per point and eye in degrees, weak points to redo). Validation afterwards uses the
source's per-eye samples and :class:`~ml.gaze.calibration.ValidationCollector` as before.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np

from ml.gaze.calibration import CalibrationError, CalibrationOutcome, Point, TobiiCalibration, point_result
from ml.gaze.geometry import ScreenGeometry
from ml.gaze.sources.titta import TittaSource, _name

_OK = 0  # TOBII_RESEARCH_STATUS_OK


class TittaCalibration(TobiiCalibration):
    """Screen-based calibration of a :class:`TittaSource`'s tracker (5 or 9 points, per-eye results).

    ``timeout_s`` bounds the wait for each step (collecting takes ~0.5–1 s on a real tracker).
    ``monocular``: calibrate one eye at a time (the tracker must support it).
    """

    def __init__(
        self,
        tracker: TittaSource | Any,
        geometry: ScreenGeometry | None = None,
        *,
        weak_deg: float = 1.0,
        timeout_s: float = 10.0,
        poll_s: float = 0.01,
        monocular: bool = False,
    ) -> None:
        if isinstance(tracker, TittaSource):
            tracker = tracker.connect()
        self.tracker = tracker
        self.geometry = geometry or ScreenGeometry()
        self.weak_deg = float(weak_deg)
        self.timeout_s = float(timeout_s)
        self.poll_s = float(poll_s)
        self.monocular = bool(monocular)
        self.active = False
        self.collected: list[Point] = []

    def _wait(self, action: str, what: str) -> dict[str, Any]:
        """The finished work item for ``action`` (earlier items for other actions are skipped)."""
        deadline = time.monotonic() + self.timeout_s
        while time.monotonic() < deadline:
            res = self._call(what, self.tracker.calibration_retrieve_result)
            if res is None:
                time.sleep(self.poll_s)
                continue
            if _name(res["work_item"]["action"]) == action:
                return res
        raise CalibrationError(f"Calibration failed to {what}: the tracker did not answer in {self.timeout_s:g} s")

    def enter(self) -> None:
        if not self._call("enter calibration mode", lambda: self.tracker.enter_calibration_mode(self.monocular)):
            raise CalibrationError("Calibration failed to enter calibration mode: the tracker is already in it")
        self._wait("enter", "enter calibration mode")
        self.active = True
        self.collected = []

    def leave(self) -> None:
        if self.active:
            self._call("leave calibration mode", self.tracker.leave_calibration_mode)
            self._wait("exit", "leave calibration mode")
            self.active = False

    def _collect_once(self, x: float, y: float) -> bool:
        self._call("collect data", lambda: self.tracker.calibration_collect_data([x, y]))
        return self._wait("collect_data", "collect data")["status"] == _OK

    def discard(self, point: Point) -> None:
        x, y = float(point[0]), float(point[1])
        self._call("discard data", lambda: self.tracker.calibration_discard_data([x, y]))
        self._wait("discard_data", "discard data")
        if (x, y) in self.collected:
            self.collected.remove((x, y))

    def compute(self) -> CalibrationOutcome:
        """compute_and_apply, then per-point offsets per eye in degrees and the weak points."""
        self._call("compute the calibration", self.tracker.calibration_compute_and_apply)
        res = self._wait("compute", "compute the calibration")
        result = res.get("calibration_result")
        if res["status"] != _OK or result is None:
            return CalibrationOutcome("failure", weak_threshold_deg=self.weak_deg)
        outcome = CalibrationOutcome(_name(result["status"]), weak_threshold_deg=self.weak_deg)
        g = self.geometry
        for cp in result["points"]:
            target = (float(cp["position_on_display_area_x"]), float(cp["position_on_display_area_y"]))
            eyes = {}
            for side in ("left", "right"):
                xs = np.asarray(cp[f"samples_{side}_position_on_display_area_x"], dtype=np.float64)
                ys = np.asarray(cp[f"samples_{side}_position_on_display_area_y"], dtype=np.float64)
                validity = [_name(v) for v in cp[f"samples_{side}_validity"]]
                keep = [v != "invalid_and_not_used" for v in validity]
                pts = [(float(a) * g.width_px, float(b) * g.height_px) for a, b, k in zip(xs, ys, keep, strict=True) if k]
                frac = sum(v == "valid_and_used" for v in validity) / len(validity) if validity else 0.0
                eyes[side] = (pts, frac)
            outcome.points.append(point_result(g, target, eyes, self.weak_deg))
        return outcome


def calibration_for(source: Any, geometry: ScreenGeometry | None = None, **kwargs: Any) -> TobiiCalibration:
    """The calibration driver that fits the source: TittaPy's, or the ``tobii_research`` one."""
    if isinstance(source, TittaSource):
        return TittaCalibration(source, geometry, **kwargs)
    return TobiiCalibration(source, geometry, **kwargs)
