"""Tobii through TittaPy: the real wheel imported (no tracker here), and a faithful fake of it
(tests/gaze/fake_tittapy.py, checked against the real module by introspection) driving recording."""

from __future__ import annotations

import inspect
import math
import platform
import sys
import time

import numpy as np
import pytest

from ml.gaze.calibration import CalibrationError, CalibrationRecord, calibration_points
from ml.gaze.geometry import ScreenGeometry
from ml.gaze.recorder import Recorder
from ml.gaze.sources import NoTrackerFound, SourceState, SourceUnavailable
from ml.gaze.sources.eyes import EyeLog, session_eyes
from ml.gaze.sources.titta import TittaSource, find_titta_trackers, map_titta_gaze
from ml.gaze.sources.titta_calibration import TittaCalibration, calibration_for
from ml.gaze.sources.tobii import ScreenRect
from ml.store import Store

if platform.machine() in ("x86_64", "AMD64"):  # the trackers extra installs the wheel here
    import TittaPy_v2 as real
else:
    real = pytest.importorskip("TittaPy_v2", reason="TittaPy ships x86-64 wheels only")


# ----------------------------------------------------------------------------- the real wheel
def test_the_real_tittapy_finds_no_tracker_here_and_the_source_says_so_clearly():
    assert sys.modules["TittaPy_v2"] is real and real.get_SDK_version().startswith("2.")
    assert TittaSource.is_available() and TittaSource.availability_message() == ""
    assert find_titta_trackers() == []
    src = TittaSource()
    with pytest.raises(NoTrackerFound, match="No Tobii eye tracker found"):
        src.start(lambda s: None)
    assert src.state == SourceState.ERROR
    with pytest.raises(NoTrackerFound, match="tobii-prp://nowhere"):
        TittaSource("tobii-prp://nowhere").start(lambda s: None)


def test_the_real_clock_is_the_recorders_monotonic_clock():
    from ml.gaze.sources.base import now_us

    a = now_us()
    t = real.get_system_timestamp()
    b = now_us()
    assert a - 1000 <= t <= b + 1000


def test_a_missing_tittapy_gives_the_install_hint(monkeypatch):
    monkeypatch.setitem(sys.modules, "TittaPy_v2", None)
    assert not TittaSource.is_available()
    assert "gaze2report[trackers]" in TittaSource.availability_message()
    with pytest.raises(SourceUnavailable, match="TittaPy is not installed"):
        TittaSource().start(lambda s: None)


# ----------------------------------------------------------------------------- the fake matches it
def _doc_params(doc: str) -> list[tuple[str, bool]]:
    """(name, has default) of the first signature in a pybind11 docstring, without ``self``."""
    lines = [ln.strip() for ln in doc.strip().splitlines() if ln.strip()]
    sig = lines[2][3:] if len(lines) > 2 and lines[1] == "Overloaded function." else lines[0]
    inner = sig[sig.index("(") + 1 : sig.rindex(") ->")]
    params, depth, cur = [], 0, ""
    for ch in inner:  # split on top-level commas (types hold brackets and commas)
        depth += ch in "[(" and 1 or 0
        depth -= ch in "])" and 1 or 0
        if ch == "," and depth == 0:
            params.append(cur.strip())
            cur = ""
        else:
            cur += ch
    if cur.strip():
        params.append(cur.strip())
    out = [(p.split(":")[0].strip(), " = " in p) for p in params]
    return [p for p in out if p[0] != "self"]


def _fake_params(fn) -> list[tuple[str, bool]]:
    sig = inspect.signature(fn)
    return [
        (n, p.default is not inspect.Parameter.empty) for n, p in sig.parameters.items() if n != "self"
    ]


def _public(obj) -> set[str]:
    return {n for n in dir(obj) if not n.startswith("_")}


def test_the_fake_has_the_real_modules_names_enums_properties_and_signatures(fake_titta):
    fake = fake_titta
    missing = _public(real) - _public(fake)
    assert not missing, f"the fake lacks {missing}"
    extra = {
        n for n in _public(fake) - _public(real)
        if callable(getattr(fake, n)) and not inspect.isclass(getattr(fake, n)) and not inspect.ismodule(getattr(fake, n))
    }
    assert all(n.startswith("fake_") for n in extra), extra
    for name in _public(real):
        r, f = getattr(real, name), getattr(fake, name)
        if hasattr(r, "__members__"):  # enums: same members, same values
            assert {k: int(v) for k, v in r.__members__.items()} == {k: v.value for k, v in f.__members__.items()}, name
        elif callable(r) and name != "EyeTracker":
            assert _doc_params(r.__doc__) == _fake_params(f), name
    R, F = real.EyeTracker, fake.EyeTracker
    assert _public(R) == _public(F)
    assert _doc_params(R.__init__.__doc__) == _fake_params(F.__init__)
    checked = 0
    for name in _public(R):
        r, f = getattr(R, name), getattr(F, name)
        if isinstance(r, property):
            assert isinstance(f, property), name
            assert (r.fset is None) == (f.fset is None), f"{name}: settable differs"
        elif hasattr(r, "__members__"):
            assert {k: int(v) for k, v in r.__members__.items()} == {k: v.value for k, v in f.__members__.items()}, name
        else:
            assert _doc_params(r.__doc__) == _fake_params(f), name
            checked += 1
    assert checked >= 20


# ----------------------------------------------------------------------------- recording with the fake
@pytest.fixture
def tracker(fake_titta):
    return fake_titta.fake_add_tracker()


def _rows(fake, n: int, t0: int):
    rows = []
    for i in range(n):
        left = None if i % 50 == 0 else (0.25 + (i % 100) / 1000, 0.5)
        right = None if i % 75 == 0 else (0.35 + (i % 100) / 1000, 0.5 + (i % 10) / 100)
        rows.append(fake.fake_row(t0 + i * 833, left, right, left_pupil=3.0 + (i % 4) / 4, right_pupil=3.5))
    return rows


def test_titta_samples_reach_the_recorder_with_both_eyes_validity_pupils_and_both_clocks(fake_titta, tracker, tmp_path):
    screen = ScreenRect(0, 0, 1920, 1080)
    src = TittaSource(screen=screen, frequency=1200, tracking_mode="human", titta=fake_titta)
    db = tmp_path / "g.sqlite"
    rec = Recorder(db, study="s1", reader="r")
    EyeLog(rec).attach(src)
    sid = rec.start(src)
    assert src.info.frequency == 1200.0 and src.info.tracking_mode == "human"
    rows = _rows(fake_titta, 600, src.clock_us())
    fake_titta.fake_emit(tracker, rows, rate=1200.0).join()
    deadline = time.monotonic() + 5
    while src.delivered < len(rows) and time.monotonic() < deadline:
        time.sleep(0.01)
    status = rec.stop()
    assert status.written == 600 and status.dropped == 0
    with Store(db, read_only=True) as store:
        block = store.samples(sid)
        eyes = session_eyes(store, sid)
        assert store.session(sid).source == "tobii"
    expected, _ = map_titta_gaze(fake_titta._columns("gaze", rows), screen)
    np.testing.assert_array_equal(block.t_us, [r["system_time_stamp"] for r in rows])
    np.testing.assert_array_equal(block.device_t_us, [r["device_time_stamp"] for r in rows])
    np.testing.assert_array_equal(block.x, [s.x for s in expected])
    np.testing.assert_array_equal(block.valid, [s.valid for s in expected])
    assert len(eyes) == 600
    left_ok = np.array([r["left_gaze_point_valid"] for r in rows])
    np.testing.assert_array_equal(eyes.left_valid, left_ok)
    np.testing.assert_allclose(
        eyes.left_x[left_ok], [np.float32(r["left_gaze_point_on_display_area_x"]) * 1920 for r in rows if r["left_gaze_point_valid"]]
    )
    np.testing.assert_array_equal(eyes.device_t_us, block.device_t_us)
    both = left_ok & np.array([r["right_gaze_point_valid"] for r in rows])
    k = int(np.flatnonzero(both)[0])
    assert block.x[k] == pytest.approx((eyes.left_x[k] + eyes.right_x[k]) / 2)
    assert block.pupil[k] == pytest.approx((eyes.left_pupil_mm[k] + eyes.right_pupil_mm[k]) / 2)
    only_right = np.flatnonzero(~left_ok)[1]
    assert block.x[only_right] == eyes.right_x[only_right] and block.pupil[only_right] == pytest.approx(3.5)


def test_a_lost_and_restored_connection_are_stored_as_source_events(fake_titta, tracker, tmp_path):
    src = TittaSource(titta=fake_titta)
    rec = Recorder(tmp_path / "g.sqlite", study="s1")
    sid = rec.start(src)
    fake_titta.fake_push(tracker, _rows(fake_titta, 10, src.clock_us()))
    fake_titta.fake_connection(tracker, False)
    deadline = time.monotonic() + 5
    while src.state != SourceState.CONNECTION_LOST and time.monotonic() < deadline:
        time.sleep(0.01)
    assert src.state == SourceState.CONNECTION_LOST
    fake_titta.fake_connection(tracker, True)
    while src.state != SourceState.STREAMING and time.monotonic() < deadline:
        time.sleep(0.01)
    rec.stop()
    with Store(tmp_path / "g.sqlite", read_only=True) as store:
        kinds = [e.data["event"] for e in store.events(sid, kind="source")]
        assert store.samples(sid).t_us.size == 10
    assert kinds == ["connection_lost", "connection_restored"]


def test_frequency_and_tracking_mode_are_checked_against_the_tracker(fake_titta, tracker):
    with pytest.raises(Exception, match=r"runs at 60, 120, 150, 300, 600, 1200 Hz, not 500 Hz"):
        TittaSource(frequency=500, titta=fake_titta).start(lambda s: None)
    with pytest.raises(Exception, match="not 'owl'"):
        TittaSource(tracking_mode="owl", titta=fake_titta).start(lambda s: None)
    src = TittaSource(frequency=600, titta=fake_titta)
    src.connect()
    assert src.tracker.frequency == 600.0 and find_titta_trackers(fake_titta)[0].frequency == 600.0
    (info,) = find_titta_trackers(fake_titta)
    assert info.model == "Tobii Pro Spectrum" and 1200.0 in info.supported_frequencies


def test_stop_drains_what_arrived_after_the_last_poll_and_restart_works(fake_titta, tracker):
    got = []
    src = TittaSource(titta=fake_titta, poll_s=10.0)  # the drain thread never polls in time
    src.start(got.append)
    fake_titta.fake_push(tracker, _rows(fake_titta, 25, src.clock_us()))
    src.stop()
    assert len(got) == 25 and not src.tracker.is_recording("gaze")
    src.start(got.append)
    fake_titta.fake_push(tracker, _rows(fake_titta, 5, src.clock_us()))
    src.stop()
    assert len(got) == 30


# ----------------------------------------------------------------------------- calibration
def test_screen_based_calibration_through_titta_gives_per_eye_errors_in_degrees(fake_titta, tracker, tmp_path):
    geom = ScreenGeometry()
    fake_titta.fake_set_eye_offset(tracker, (0.01, 0.0), (0.0, 0.0))  # left eye 19.2 px off
    src = TittaSource(titta=fake_titta)
    cal = calibration_for(src, geom)
    assert isinstance(cal, TittaCalibration)
    outcome = cal.run(calibration_points(5))
    cal.leave()
    assert outcome.ok and outcome.status == "success" and len(outcome.points) == 5
    px_per_deg = geom.pixels_per_degree[0]
    assert outcome.mean_error_deg("left") == pytest.approx(19.2 / px_per_deg, rel=0.1)
    assert outcome.mean_error_deg("right") < 0.2
    assert outcome.weak_points == []
    record = CalibrationRecord(outcome, None, geom, tracker={"address": tracker}, n_points=5).to_dict()
    rec = Recorder(tmp_path / "g.sqlite", study="s1")
    sid = rec.start()
    rec.stop()
    with Store(tmp_path / "g.sqlite") as store:
        store.set_calibration(sid, record)
        stored = store.session(sid).calibration
    assert stored["calibration"]["status"] == "success" and len(stored["calibration"]["points"]) == 5
    assert math.isclose(stored["calibration"]["points"][0]["left_error_deg"], outcome.points[0].left_error_deg)


def test_calibration_failures_are_clear(fake_titta, tracker):
    fake_titta.fake_fail_point(tracker, (0.5, 0.5))
    cal = TittaCalibration(TittaSource(titta=fake_titta), timeout_s=1.0)
    with pytest.raises(CalibrationError, match="could not collect data at point"):
        cal.run(calibration_points(5))
    cal.leave()
    fresh = TittaCalibration(TittaSource(titta=fake_titta), timeout_s=1.0)
    fresh.enter()
    with pytest.raises(CalibrationError, match="already in it"):
        TittaCalibration(fresh.tracker).enter()
    assert fresh.compute().status == "failure"  # nothing collected: the tracker says so
    fresh.leave()


def test_the_tobii_research_path_stays_behind_the_same_interface(fake_tobii):
    from ml.gaze.calibration import TobiiCalibration
    from ml.gaze.sources.tobii import TobiiSource

    fake_tobii.fake_add_tracker("tobii-prp://A")
    src = TobiiSource(sdk=fake_tobii)
    assert type(calibration_for(src)) is TobiiCalibration
