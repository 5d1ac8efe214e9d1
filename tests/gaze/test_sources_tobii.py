"""The Tobii adapter against a faithful fake of ``tobii_research`` (tests/gaze/fake_tobii_research.py)."""

from __future__ import annotations

import math
import sys
import threading

import numpy as np
import pytest

from ml.gaze.recorder import Recorder
from ml.gaze.sources import NoTrackerFound, SourceState, SourceUnavailable, TobiiSource, find_trackers
from ml.gaze.sources.tobii import ScreenRect, map_gaze_data
from ml.store import Store


@pytest.fixture
def sdk(fake_tobii):
    return fake_tobii


def test_missing_sdk_gives_install_hint(monkeypatch):
    monkeypatch.setitem(sys.modules, "tobii_research", None)  # import raises ImportError
    assert not TobiiSource.is_available()
    msg = TobiiSource.availability_message()
    assert "Python 3.10" in msg and "gaze2report[tobii]" in msg
    with pytest.raises(SourceUnavailable, match="tobii-research"):
        TobiiSource().start(lambda s: None)


def test_no_tracker_found(sdk):
    assert TobiiSource.is_available()
    assert find_trackers() == []
    src = TobiiSource()
    events = []
    src.add_listener(events.append)
    with pytest.raises(NoTrackerFound, match="No Tobii eye tracker found"):
        src.start(lambda s: None)
    assert src.state == SourceState.ERROR
    assert events and events[-1].kind == "error"


def test_discovery_and_unknown_address(sdk):
    sdk.fake_add_tracker("tobii-prp://A", serial_number="A", frequency=600.0)
    (info,) = find_trackers()
    assert (info.address, info.serial_number, info.frequency) == ("tobii-prp://A", "A", 600.0)
    with pytest.raises(NoTrackerFound, match="tobii-prp://nope"):
        TobiiSource("tobii-prp://nope").start(lambda s: None)


def _data(sdk, left, right, t=1000, **kw):
    return sdk.make_gaze_data(left, right, system_time_stamp=t, device_time_stamp=t + 77, **kw)


def test_mapping_validity_and_pupils(sdk):
    screen = ScreenRect(100, 50, 1000, 500)  # display area at (100, 50) on the desktop
    both, eyes = map_gaze_data(_data(sdk, (0.2, 0.4), (0.4, 0.6), left_pupil=3.0, right_pupil=4.0), screen)
    assert (both.x, both.y) == pytest.approx((100 + 300, 50 + 250))
    assert both.valid and both.pupil_mm == pytest.approx(3.5)
    assert (both.t_us, both.device_t_us) == (1000, 1077)
    assert eyes.left == pytest.approx((300, 250)) and eyes.right == pytest.approx((500, 350))

    left_only, eyes = map_gaze_data(_data(sdk, (0.5, 0.5), None, left_pupil=3.0), screen)
    assert (left_only.x, left_only.y) == pytest.approx((600, 300))
    assert left_only.valid and left_only.pupil_mm == pytest.approx(3.0)
    assert eyes.left_valid and not eyes.right_valid and math.isnan(eyes.right[0])

    right_only, _ = map_gaze_data(_data(sdk, None, (1.0, 0.0), right_pupil=5.0), screen)
    assert (right_only.x, right_only.y) == pytest.approx((1100, 50)) and right_only.pupil_mm == 5.0

    gap, _ = map_gaze_data(_data(sdk, None, None), screen)
    assert not gap.valid and math.isnan(gap.x) and math.isnan(gap.y) and math.isnan(gap.pupil_mm)
    assert gap.t_us == 1000  # a gap keeps its time: blinks stay visible in the recording

    # validity flag 0 wins even if the SDK left numbers in the point (never trust invalid data)
    d = _data(sdk, (0.1, 0.1), (0.9, 0.9))
    d["left_gaze_point_validity"] = 0
    s, _ = map_gaze_data(d, screen)
    assert (s.x, s.y) == pytest.approx((100 + 900, 50 + 450))
    # an invalid pupil is not averaged in
    d = _data(sdk, (0.5, 0.5), (0.5, 0.5), left_pupil=None, right_pupil=4.2)
    assert map_gaze_data(d, screen)[0].pupil_mm == pytest.approx(4.2)


def test_streams_from_sdk_thread_into_recorder(sdk, tmp_path):
    sdk.fake_add_tracker()
    rng = np.random.default_rng(1)
    n = 1200
    datas = []
    for i in range(n):
        left = None if i % 97 == 0 else tuple(rng.uniform(0, 1, 2))
        right = None if i % 89 == 0 else tuple(rng.uniform(0, 1, 2))
        datas.append(_data(sdk, left, right, t=10_000_000 + i * 833))
    screen = ScreenRect(0, 0, 1920, 1080)
    expected = [map_gaze_data(d, screen)[0] for d in datas]

    src = TobiiSource(screen=screen, frequency=1200)
    callback_threads = set()
    src.add_binocular_listener(lambda e: callback_threads.add(threading.current_thread().name))
    rec = Recorder(tmp_path / "g.db", study="s", reader="r", flush_interval=0.02)
    sid = rec.start(src)
    tracker = src.tracker
    assert tracker.fake_subscribers(sdk.EYETRACKER_GAZE_DATA) == 1
    tracker.fake_start_stream(datas).join()
    status = rec.stop()
    assert tracker.fake_subscribers(sdk.EYETRACKER_GAZE_DATA) == 0  # unsubscribed on stop
    assert callback_threads == {"tobii-fake-stream"}  # callbacks ran on the SDK's thread
    assert status.state == "completed" and status.dropped == 0 and status.written == n
    with Store(tmp_path / "g.db") as store:
        got = store.samples(sid).to_samples()
        assert store.session(sid).source == "tobii"
    assert len(got) == n
    for a, b in zip(got, expected, strict=True):
        assert (a.t_us, a.device_t_us, a.valid) == (b.t_us, b.device_t_us, b.valid)
        np.testing.assert_array_equal([a.x, a.y, a.pupil_mm], [b.x, b.y, b.pupil_mm])
    assert sum(not s.valid for s in got) == sum(1 for i in range(n) if i % 97 == 0 and i % 89 == 0)


def test_connection_lost_and_restored(sdk, tmp_path):
    sdk.fake_add_tracker()
    src = TobiiSource()
    events = []
    src.add_listener(events.append)
    rec = Recorder(tmp_path / "g.db", study="s", reader="r", flush_interval=0.02)
    sid = rec.start(src)
    tracker = src.tracker
    tracker.fake_emit_gaze(_data(sdk, (0.5, 0.5), (0.5, 0.5), t=1))
    tracker.fake_lose_connection()
    assert src.state == SourceState.CONNECTION_LOST and src.running
    tracker.fake_emit_gaze(_data(sdk, (0.5, 0.5), (0.5, 0.5), t=2))  # a lost device sends nothing
    tracker.fake_restore_connection()
    assert src.state == SourceState.STREAMING
    tracker.fake_emit_gaze(_data(sdk, (0.5, 0.5), (0.5, 0.5), t=3))
    rec.stop()
    kinds = [e.kind for e in events]
    assert kinds == ["started", "connection_lost", "connection_restored", "stopped"]
    assert "lost" in events[1].message
    with Store(tmp_path / "g.db") as store:
        assert [s.t_us for s in store.samples(sid).to_samples()] == [1, 3]
        logged = [e.data["event"] for e in store.events(sid, kind="source")]
    assert logged == ["connection_lost", "connection_restored"]
    assert tracker.fake_subscribers(sdk.EYETRACKER_NOTIFICATION_CONNECTION_LOST) == 0


def test_stop_unsubscribes_and_restart_works(sdk):
    sdk.fake_add_tracker()
    src = TobiiSource()
    got = []
    src.start(got.append)
    src.tracker.fake_emit_gaze(_data(sdk, (0.25, 0.5), (0.25, 0.5)))
    src.stop()
    src.tracker.fake_emit_gaze(_data(sdk, (0.25, 0.5), (0.25, 0.5)))  # after stop: not delivered
    assert len(got) == 1 and got[0].x == pytest.approx(480)
    src.start(got.append)  # subscribing again must not hit the SDK's double-subscription error
    src.tracker.fake_emit_gaze(_data(sdk, (0.75, 0.5), (0.75, 0.5)))
    src.stop()
    assert len(got) == 2 and got[1].x == pytest.approx(1440)
