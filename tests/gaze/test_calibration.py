"""Calibration layouts, accuracy/precision in degrees, and the Tobii calibration flow (fake SDK)."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from ml.gaze.calibration import (
    CalibrationError,
    CalibrationRecord,
    TobiiCalibration,
    ValidationCollector,
    angle_deg,
    assess_eye,
    calibration_points,
    validation_points,
)
from ml.gaze.geometry import ScreenGeometry
from ml.gaze.sources import TobiiSource
from ml.gaze.sources.tobii import BinocularSample, ScreenRect
from ml.store import Store

GEO = ScreenGeometry(1920, 1080, 531.4, 298.9, 650.0)


@pytest.fixture
def sdk(fake_tobii):
    fake_tobii.fake_add_tracker()
    return fake_tobii


def test_point_layouts():
    five, nine = calibration_points(5), calibration_points(9)
    assert len(five) == 5 and len(nine) == 9 and len(set(nine)) == 9
    assert five[0] == (0.5, 0.5) and set(five) <= set(nine)
    assert all(0.1 <= c <= 0.9 for p in nine for c in p)
    val = validation_points(5)
    assert not set(val) & set(nine)  # validation never reuses a calibration point
    with pytest.raises(CalibrationError, match="5 or 9"):
        calibration_points(7)


def test_angle_matches_trigonometry():
    cx, cy = (GEO.width_px - 1) / 2, (GEO.height_px - 1) / 2
    # straight ahead to a point d mm to the right: atan(d / distance)
    px = 100.0 / GEO.mm_per_px[0]
    assert angle_deg(GEO, cx, cy, cx + px, cy) == pytest.approx(math.degrees(math.atan(100 / 650)))
    # symmetric points either side of centre: twice the half angle
    assert angle_deg(GEO, cx - px, cy, cx + px, cy) == pytest.approx(2 * math.degrees(math.atan(100 / 650)))
    # away from the centre the same pixel offset subtends a smaller angle (the screen is flat)
    assert angle_deg(GEO, 0, cy, 50, cy) < angle_deg(GEO, cx, cy, cx + 50, cy)


def test_accuracy_and_precision():
    ppd = GEO.pixels_per_degree[0]
    target = (960.0, 540.0)
    # constant offset of 0.5 deg to the right, no noise: accuracy 0.5, precision 0
    x = np.full(100, target[0] + 0.5 * ppd)
    y = np.full(100, target[1])
    q = assess_eye(GEO, target, x, y)
    assert q.accuracy_deg == pytest.approx(0.5, rel=0.01)
    assert q.precision_rms_deg == pytest.approx(0.0, abs=1e-9) and q.precision_sd_deg == pytest.approx(
        0.0, abs=1e-9
    )
    # alternating +-a around the target: RMS-S2S = 2a, SD = a, accuracy = a
    a = 0.2
    x = target[0] + np.where(np.arange(200) % 2 == 0, a, -a) * ppd
    q = assess_eye(GEO, target, x, np.full(200, target[1]))
    assert q.accuracy_deg == pytest.approx(a, rel=0.01)
    assert q.precision_rms_deg == pytest.approx(2 * a, rel=0.01)
    assert q.precision_sd_deg == pytest.approx(a, rel=0.01)
    # invalid samples are ignored but reported
    x[::4] = np.nan
    q2 = assess_eye(GEO, target, x, np.full(200, target[1]))
    assert q2.valid_fraction == pytest.approx(0.75) and q2.n_samples == 200
    assert math.isnan(assess_eye(GEO, target, [np.nan], [np.nan]).accuracy_deg)


def test_validation_collector_per_eye():
    col = ValidationCollector(GEO, ScreenRect(1920, 0, 1920, 1080), skip_s=0.1)  # second monitor
    ppd = GEO.pixels_per_degree[0]
    rng = np.random.default_rng(3)
    t = 0
    for target in validation_points(4):
        col.begin(target)
        tx, ty = 1920 + target[0] * 1920, target[1] * 1080
        for i in range(120):  # 1.2 s at 100 Hz; the first 0.1 s is skipped
            t += 10_000
            lx, ly = tx + 1.0 * ppd + rng.normal(0, 0.05 * ppd), ty + rng.normal(0, 0.05 * ppd)
            rx, ry = tx - 0.3 * ppd, ty
            col.add(
                BinocularSample(t, (lx, ly), (rx, ry) if i % 10 else (math.nan, math.nan), True, i % 10 != 0)
            )
        assert col.end() == 110
    res = col.result()
    assert len(res.points) == 4
    assert 0.9 < res.left.accuracy_deg < 1.15  # 1 deg bias (a bit less off-centre: flat screen)
    assert 0.2 < res.right.accuracy_deg < 0.35
    assert res.right.precision_rms_deg == pytest.approx(0.0, abs=1e-6)  # the right eye does not move
    assert 0.04 < res.left.precision_sd_deg < 0.1
    assert res.right.valid_fraction == pytest.approx(0.9, abs=0.02)
    json.dumps(res.to_dict())  # storable
    assert "left eye" in res.summary()


def test_calibration_flow_with_fake_sdk(sdk, tmp_path):
    src = TobiiSource()
    shown = []
    cal = TobiiCalibration(src, GEO, weak_deg=1.0)
    tracker = src.tracker
    weak = (0.9, 0.9)
    tracker.fake_weak_points = {weak}
    outcome = cal.run(calibration_points(9), wait_for_target=shown.append)
    assert shown == calibration_points(9)  # the GUI was asked to show each target before collection
    assert outcome.ok and outcome.status == "success" and len(outcome.points) == 9
    by_target = {p.target: p for p in outcome.points}
    good = by_target[(0.5, 0.5)]
    # the fake's eyes are off by (0.004, -0.003) and (-0.003, 0.002) display units
    assert 0.1 < good.left_error_deg < 0.35 and 0.05 < good.right_error_deg < 0.3
    assert len(good.left_px) == sdk.ScreenBasedCalibration.SAMPLES_PER_POINT and good.left_used == 1.0
    assert outcome.weak_points == [weak]  # noisy point: samples not used / offsets large
    # redo the weak point after the participant settles
    tracker.fake_weak_points = set()
    outcome2 = cal.redo(outcome.weak_points)
    assert outcome2.weak_points == [] and len(outcome2.points) == 9
    cal.leave()
    with pytest.raises(CalibrationError, match="collect data"):  # outside calibration mode
        cal.collect((0.5, 0.5))
    # the record is stored with the session
    record = CalibrationRecord(outcome2, None, GEO, {"model": src.info.model}, n_points=9)
    with Store(tmp_path / "g.db") as store:
        sid = store.create_session("s", "r", source="tobii")
        store.set_calibration(sid, record.to_dict())
        stored = store.session(sid).calibration
    assert stored["n_points"] == 9 and stored["calibration"]["status"] == "success"
    assert len(stored["calibration"]["points"]) == 9 and stored["geometry"]["distance_mm"] == 650.0


def test_calibration_errors_are_clear(sdk):
    sdk.fake_reset()
    sdk.fake_add_tracker(capabilities=(sdk.CAPABILITY_HAS_GAZE_DATA,))
    with pytest.raises(CalibrationError, match="cannot do screen-based calibration"):
        TobiiCalibration(TobiiSource(), GEO)
    sdk.fake_reset()
    sdk.fake_add_tracker()
    cal = TobiiCalibration(TobiiSource(), GEO)
    cal.enter()
    with pytest.raises(CalibrationError, match="already been started"):
        cal.enter()
    cal.collect((0.5, 0.5))
    assert cal.compute().status == "failure"  # one point is not enough to fit
    cal.tracker.fake_lose_connection()
    with pytest.raises(CalibrationError, match="connection"):
        cal.collect((0.1, 0.1))
