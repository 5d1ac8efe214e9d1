"""LSL gaze streams recorded through the real liblsl: a simulated tracker in another process."""

from __future__ import annotations

import json
import subprocess
import sys
import time
import uuid
from pathlib import Path

import numpy as np
import pytest

pylsl = pytest.importorskip("pylsl")

from ml.gaze.recorder import Recorder  # noqa: E402
from ml.gaze.sources import SourceState  # noqa: E402
from ml.gaze.sources.eyes import EyeLog, session_eyes  # noqa: E402
from ml.gaze.sources.lsl import (  # noqa: E402
    ChannelMap,
    ChannelMismatch,
    LslSource,
    NoStreamFound,
    Units,
    find_gaze_streams,
    map_chunk,
)
from ml.store import Store  # noqa: E402

sys.path.insert(0, str(Path(__file__).parent))
from lsl_outlet import values  # noqa: E402

OUTLET = Path(__file__).with_name("lsl_outlet.py")


class Tracker:
    """The simulated tracker process; ``t0`` is the LSL stamp of its sample 0."""

    def __init__(self, *args: str, rate: float = 1200.0, n: int = 1200) -> None:
        self.name = f"Sim-{uuid.uuid4().hex[:8]}"
        self.rate, self.n = rate, n
        cmd = [sys.executable, str(OUTLET), "--name", self.name, "--rate", str(rate), "--n", str(n), *args]
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)
        self.t0: float | None = None

    def wait_t0(self) -> float:
        line = self.proc.stdout.readline()
        assert line.startswith("T0 "), line
        self.t0 = float(line.split()[1])
        return self.t0

    def wait_done(self) -> str:
        """The line the tracker prints after its last sample (it keeps its outlet open a while)."""
        return self.proc.stdout.readline()

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(10)


@pytest.fixture
def tracker_factory():
    made: list[Tracker] = []

    def make(*args: str, **kw) -> Tracker:
        t = Tracker(*args, **kw)
        made.append(t)
        return t

    yield make
    for t in made:
        t.close()


def _record(tmp_path, tracker: Tracker, *, lost_after_s: float | None = None, until_done: float = 60.0):
    src = LslSource(tracker.name, resolve_timeout_s=10.0, lost_after_s=lost_after_s)
    events = []
    src.add_listener(events.append)
    db = tmp_path / "g.sqlite"
    rec = Recorder(db, study="s1", reader="r")
    eyes = EyeLog(rec).attach(src)
    src.add_listener(lambda ev: rec.log_event(f"source_{ev.kind}", {"message": ev.message, **ev.data}, ev.t_us))
    sid = rec.start(src)
    tracker.wait_t0()
    return src, rec, eyes, events, db, sid


def _expected_t_us(src: LslSource, t0: float, rate: float, n: int) -> np.ndarray:
    """Each sample's time through the correction in force when it arrived (the clock log)."""
    stamps = t0 + np.arange(n) / rate
    corr = np.empty(n)
    off = np.empty(n, dtype=np.int64)
    for entry in src.clock_log:
        corr[entry["from_sample"] :] = entry["correction_s"]
        off[entry["from_sample"] :] = entry["offset_us"]
    return np.rint((stamps + corr) * 1e6).astype(np.int64) + off


def _check_exact(db, sid, src, tracker, n):
    with Store(db, read_only=True) as store:
        rec_row = store.session(sid)
        block = store.samples(sid)
        eyes = session_eyes(store, sid)
        clock_events = store.events(sid, kind="source_clock")
    assert rec_row.status == "completed" and rec_row.dropped_count == 0
    assert len(block) == n and len(eyes) == n
    rows = np.array([values(i) for i in range(n)])
    left_ok = rows[:, 2] > 0
    exp_x = np.where(left_ok, (rows[:, 0] + rows[:, 4]) / 2, rows[:, 4])
    exp_y = np.where(left_ok, (rows[:, 1] + rows[:, 5]) / 2, rows[:, 5])
    np.testing.assert_array_equal(block.x, exp_x)
    np.testing.assert_array_equal(block.y, exp_y)
    assert block.valid.all()
    np.testing.assert_array_equal(block.t_us, _expected_t_us(src, tracker.t0, tracker.rate, n))
    np.testing.assert_array_equal(eyes.t_us, block.t_us)
    np.testing.assert_array_equal(eyes.left_valid, left_ok)
    np.testing.assert_array_equal(eyes.left_x[left_ok], rows[left_ok, 0])
    assert np.isnan(eyes.left_x[~left_ok]).all()
    np.testing.assert_array_equal(eyes.right_y, rows[:, 5])
    np.testing.assert_array_equal(eyes.right_pupil_mm, rows[:, 7])
    exp_pupil = np.where(left_ok, (np.nan_to_num(rows[:, 3]) + rows[:, 7]) / 2, rows[:, 7])
    np.testing.assert_allclose(block.pupil, exp_pupil, rtol=0, atol=1e-12)
    # the stored clock events say how the timestamps were made
    assert clock_events and clock_events[0].data["from_sample"] == 0
    assert [e.data["correction_s"] for e in clock_events] == [e["correction_s"] for e in src.clock_log]


@pytest.mark.slow
def test_a_1200_hz_tracker_streamed_for_30_s_is_recorded_sample_for_sample(tmp_path, tracker_factory):
    n = 36_000
    tracker = tracker_factory(rate=1200.0, n=n)
    src, rec, eyes, events, db, sid = _record(tmp_path, tracker)
    assert tracker.wait_done() == "DONE\n"
    deadline = time.monotonic() + 10
    while src.delivered < n and time.monotonic() < deadline:
        time.sleep(0.05)
    status = rec.stop()
    assert status.dropped == 0 and status.written == n and src.dropped == 0
    _check_exact(db, sid, src, tracker, n)
    assert not [e for e in events if e.kind == "connection_lost"]


def test_a_60_hz_tracker_is_recorded_sample_for_sample_with_the_clock_correction(tmp_path, tracker_factory):
    n = 300  # 5 s
    tracker = tracker_factory(rate=60.0, n=n)
    src, rec, eyes, events, db, sid = _record(tmp_path, tracker)
    assert tracker.wait_done() == "DONE\n"
    deadline = time.monotonic() + 5
    while src.delivered < n and time.monotonic() < deadline:
        time.sleep(0.05)
    rec.stop()
    _check_exact(db, sid, src, tracker, n)
    assert src.info.nominal_srate == 60.0 and src.channels.binocular and src.channels.units == Units.PIXELS


def test_a_tracker_that_dies_half_way_leaves_a_marked_gap_and_a_completed_session(tmp_path, tracker_factory):
    n, die = 2400, 1200
    tracker = tracker_factory("--die-after", str(die), rate=1200.0, n=n)
    src, rec, eyes, events, db, sid = _record(tmp_path, tracker, lost_after_s=0.5)
    tracker.proc.wait(timeout=30)
    deadline = time.monotonic() + 10
    while src.state != SourceState.CONNECTION_LOST and time.monotonic() < deadline:
        time.sleep(0.05)
    assert src.state == SourceState.CONNECTION_LOST
    status = rec.stop()
    assert status.state == "completed" and status.written == die and status.dropped == 0
    with Store(db, read_only=True) as store:
        row = store.session(sid)
        block = store.samples(sid)
        marks = [e for e in store.events(sid, kind="source") if e.data["event"] == "connection_lost"]
    assert row.status == "completed" and len(block) == die
    (gap,) = marks
    assert gap.t_us == int(block.t_us[-1])  # the gap starts after the last sample
    assert "connection lost" in gap.data["message"]


def test_a_stream_with_the_wrong_channel_count_is_refused_clearly(tmp_path, tracker_factory):
    tracker = tracker_factory("--channels", "5", rate=60.0, n=60)
    wrong = ChannelMap(8, left_x=0, left_y=1, right_x=4, right_y=5)
    src = LslSource(tracker.name, channels=wrong, resolve_timeout_s=10.0)
    rec = Recorder(tmp_path / "g.sqlite", study="s1")
    with pytest.raises(ChannelMismatch, match=r"has 5 channels but its channel map expects 8"):
        rec.start(src)
    assert src.state == SourceState.ERROR
    with Store(tmp_path / "g.sqlite", read_only=True) as store:
        assert store.session(rec.session_id).status == "failed"


def test_discovery_lists_gaze_streams_and_says_when_a_named_one_is_missing(tracker_factory):
    tracker = tracker_factory(rate=60.0, n=60)
    deadline = time.monotonic() + 10
    found = []
    while not found and time.monotonic() < deadline:
        found = [s for s in find_gaze_streams(0.5) if s.name == tracker.name]
    (s,) = found
    assert (s.type, s.channel_count, s.nominal_srate, s.channel_format) == ("Gaze", 8, 60.0, "double64")
    assert "60 Hz" in s.label
    with pytest.raises(NoStreamFound, match="No LSL gaze stream named 'no-such-tracker'"):
        LslSource("no-such-tracker", resolve_timeout_s=0.3).start(lambda s: None)


def test_channel_maps_cover_pixels_normalised_single_eye_and_validity():
    data = np.array([[0.5, 0.25, 1.0, 4.0], [0.1, 0.2, 0.0, 4.0]])
    m = ChannelMap(4, x=0, y=1, valid=2, pupil=3, units="normalised", screen=(100, 50, 1000, 500))
    (a, b), eyes = map_chunk(m, data, np.array([10, 20]))
    assert eyes is None
    assert (a.x, a.y, a.valid, a.pupil_mm, a.t_us) == (600.0, 175.0, True, 4.0, 10)
    assert not b.valid and np.isnan(b.x) and np.isnan(b.pupil_mm)
    mono = ChannelMap(2, right_x=0, right_y=1)
    (c,), _ = map_chunk(mono, np.array([[640.0, 480.0]]), np.array([1]))
    assert (c.x, c.y, c.valid) == (640.0, 480.0, True)
    with pytest.raises(ChannelMismatch, match="channel 5"):
        ChannelMap(4, x=0, y=5)
    with pytest.raises(ChannelMismatch, match="no gaze position"):
        ChannelMap(3, pupil=2)
    with pytest.raises(ChannelMismatch, match="cannot tell gaze channels"):
        ChannelMap.from_labels(["a", "b"])


def test_a_configured_channel_map_records_a_stream_whose_labels_say_nothing(tmp_path):
    from ml.gaze.sources.lsl import load_channel_maps

    name = f"Unlabelled-{uuid.uuid4().hex[:8]}"
    info = pylsl.StreamInfo(name, "Gaze", 3, 100.0, pylsl.cf_double64, f"{name}-id")
    chans = info.desc().append_child("channels")
    for label in ("c0", "c1", "c2"):
        chans.append_child("channel").append_child_value("label", label)
    outlet = pylsl.StreamOutlet(info)
    with pytest.raises(ChannelMismatch, match="cannot tell gaze channels"):
        LslSource(name, resolve_timeout_s=10.0).start(lambda s: None)
    maps = tmp_path / "lsl_channel_maps.json"
    screen = {"x": 0, "y": 0, "width": 1000, "height": 500}
    entry = {"channel_count": 3, "x": 1, "y": 2, "valid": 0, "units": "normalised", "screen": screen}
    maps.write_text(json.dumps({f"{name}-id": entry}))
    (stream,) = [s for s in find_gaze_streams(2.0) if s.name == name]
    from ml.gaze.sources.listing import SourceChoice, SourceKind, make_source

    src = make_source(SourceChoice(SourceKind.LSL, name, stream=stream), channel_maps=load_channel_maps(maps))
    got = []
    src.start(got.append)
    deadline = time.monotonic() + 10
    while not outlet.have_consumers() and time.monotonic() < deadline:
        time.sleep(0.01)
    outlet.push_chunk([[1.0, 0.25, 0.5], [0.0, 0.5, 0.5]])
    while len(got) < 2 and time.monotonic() < deadline:
        time.sleep(0.01)
    src.stop()
    assert [(s.x, s.y, s.valid) for s in got[:1]] == [(250.0, 250.0, True)] and not got[1].valid
    maps.write_text('{"x": {"channel_count": 2, "pupil": 1}}')
    with pytest.raises(ChannelMismatch, match="lsl_channel_maps.json: channel map has no gaze position"):
        load_channel_maps(maps)
