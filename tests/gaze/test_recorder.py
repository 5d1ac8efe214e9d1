"""The recorder: nothing lost on stop or exception, drops counted, clear failures, recovery."""

from __future__ import annotations

import math
import subprocess
import sys
import threading

import numpy as np
import pytest

from ml.gaze.geometry import ScreenGeometry, Viewport
from ml.gaze.recorder import Recorder, RecorderError, session_viewports
from ml.gaze.sources import CallbackSource, SourceState
from ml.store import Store, StoreError
from ml.types import GazeSample


def make_samples(n: int, t0: int = 5_000_000, seed: int = 0) -> list[GazeSample]:
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        valid = i % 50 != 7
        x, y = (float(rng.uniform(0, 1920)), float(rng.uniform(0, 1080))) if valid else (math.nan, math.nan)
        pupil = float(rng.uniform(2, 6)) if i % 3 else math.nan
        out.append(GazeSample(t0 + i * 833, x, y, valid, pupil, 10**12 + i))
    return out


def same(a: list[GazeSample], b: list[GazeSample]) -> bool:
    """Exact equality, NaN included."""
    if len(a) != len(b):
        return False
    cols = lambda s: [(v.t_us, v.x, v.y, v.valid, v.pupil_mm, v.device_t_us) for v in s]  # noqa: E731
    return np.array_equal(np.array(cols(a), dtype=float), np.array(cols(b), dtype=float), equal_nan=True)


def test_round_trip_exact_with_source(tmp_path):
    db = tmp_path / "g.db"
    samples = make_samples(3000)
    src = CallbackSource("mouse")
    geo = ScreenGeometry(2560, 1440, 597.0, 336.0, 700.0)
    rec = Recorder(db, study="case-1", reader="dr-a", geometry=geo, flush_interval=0.01)
    sid = rec.start(src)
    for s in samples:
        src.feed(s)
    status = rec.stop()
    assert src.state == SourceState.STOPPED
    assert (status.state, status.written, status.dropped, status.queued) == ("completed", 3000, 0, 0)
    with Store(db) as store:
        sess = store.session(sid)
        assert same(store.samples(sid).to_samples(), samples)
    assert (sess.status, sess.sample_count, sess.dropped_count) == ("completed", 3000, 0)
    assert (sess.study_uid, sess.reader, sess.source) == ("case-1", "dr-a", "mouse")
    assert ScreenGeometry.from_dict(sess.geometry) == geo
    assert sess.t0_us == samples[0].t_us and sess.ended_at


def test_exception_in_block_keeps_every_sample(tmp_path):
    db = tmp_path / "g.db"
    samples = make_samples(500)
    with pytest.raises(ZeroDivisionError), Recorder(db, study="s", reader="r", flush_interval=5.0) as rec:
        rec.start()
        rec.push_many(samples)  # all still queued: the writer has not flushed yet
        raise ZeroDivisionError("simulated failure in the reading code")
    with Store(db) as store:
        sess = store.session(rec.session_id)
        assert same(store.samples(rec.session_id).to_samples(), samples)
    assert sess.status == "failed" and "ZeroDivisionError" in sess.error and sess.sample_count == 500


def test_queue_overflow_is_counted_not_silent(tmp_path):
    db = tmp_path / "g.db"
    rec = Recorder(db, study="s", reader="r", flush_interval=10.0, max_queue=100)
    sid = rec.start()
    rec.push_many(make_samples(1000))  # the writer sleeps for 10 s: only 100 fit
    assert rec.status.dropped == 900 and rec.status.queued == 100
    status = rec.stop()
    assert (status.written, status.dropped) == (100, 900) and not status.ok
    with Store(db) as store:
        sess = store.session(sid)
    assert (sess.sample_count, sess.dropped_count) == (100, 900)


def test_push_after_stop_is_counted_as_late_not_as_the_closed_sessions_drop(tmp_path):
    rec = Recorder(tmp_path / "g.db", study="s", reader="r")
    sid = rec.start()
    rec.push(make_samples(1)[0])
    rec.stop()
    rec.push(make_samples(1)[0])
    assert (rec.status.written, rec.status.dropped, rec.status.late) == (1, 0, 1)
    assert rec.stop().state == "completed"  # idempotent
    with Store(tmp_path / "g.db") as store:
        assert store.session(sid).dropped_count == 0


def test_read_only_database_refuses_to_start(tmp_path):
    db = tmp_path / "g.db"
    Store(db).close()
    uri = db.resolve().as_uri() + "?mode=ro"
    rec = Recorder(uri, study="s", reader="r")
    with pytest.raises(RecorderError, match="read-only"):
        rec.start()
    assert rec.state == "idle"


def test_full_disk_stops_recording_visibly(tmp_path):
    db = tmp_path / "g.db"
    with Store(db) as store:
        pages = store.conn.execute("PRAGMA page_count").fetchone()[0]
    statuses = []
    src = CallbackSource()
    rec = Recorder(
        db,
        study="s",
        reader="r",
        flush_interval=0.005,
        pragmas={"max_page_count": pages + 6},
        on_status=statuses.append,
    )
    sid = rec.start(src)
    samples = make_samples(20000)
    for k in range(0, len(samples), 500):
        for s in samples[k : k + 500]:
            src.feed(s)
        if rec.state == "failed":
            break
        threading.Event().wait(0.01)
    late = samples[k + 500 :]
    for s in late:
        rec.push(s)  # after the failure: counted as dropped, never stored
    status = rec.stop()
    assert status.state == "failed"
    assert "disk holding the database is full" in status.error
    assert statuses and statuses[-1].state == "failed"
    assert src.state == SourceState.STOPPED  # the source was stopped for the user to see
    # every sample handed to the recorder is either stored or counted (a stopped source delivers none)
    assert status.written > 0 and status.written + status.dropped == src.delivered + len(late)
    with Store(db) as store:
        sess = store.session(sid)
        stored = store.samples(sid).to_samples()
    assert len(stored) == status.written and same(stored, samples[: len(stored)])
    assert sess.status in ("failed", "recording")  # the status row may not fit on a full disk either


def test_viewports_and_events_round_trip(tmp_path):
    db = tmp_path / "g.db"
    vps = [
        Viewport.fit(
            5_000_000, "img-1", (2048, 2500), (0, 0, 1920, 1080), window_center=0.5, window_width=1.0
        ),
        Viewport.fit(5_400_000, "img-1", (2048, 2500), (0, 0, 1920, 1080), zoom=2.0, pan=(30.0, -12.5)),
        Viewport(5_900_000, "", (0, 0), (0.0, 0.0, 0.0, 0.0)),
    ]
    rec = Recorder(db, study="s", reader="r")
    sid = rec.start()
    for vp in vps:
        rec.log_viewport(vp)
    rec.log_event("note", {"text": "reader paused"}, t_us=5_950_000)
    rec.stop()
    with Store(db) as store:
        back = session_viewports(store, sid)
        notes = store.events(sid, kind="note")
    assert [repr(v) for v in back[:2]] == [repr(v) for v in vps[:2]] and back[2].image_id == ""  # NaN-safe
    assert math.isnan(back[1].window_center) and back[0].window_width == 1.0
    assert notes[0].data == {"text": "reader paused"} and notes[0].t_us == 5_950_000


def test_on_batch_sees_every_sample_in_order(tmp_path):
    seen = []
    rec = Recorder(tmp_path / "g.db", study="s", reader="r", flush_interval=0.005, on_batch=seen.extend)
    rec.start()
    samples = make_samples(2000)
    for k in range(0, 2000, 100):
        rec.push_many(samples[k : k + 100])
        threading.Event().wait(0.002)
    rec.stop()
    assert same(seen, samples) and rec.status.flushes > 1


def test_next_start_recovers_an_interrupted_session(tmp_path):
    db = tmp_path / "g.db"
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    with Store(db) as store:
        old = store.create_session("s", "r", source="tobii", pid=dead.pid)
        store.append_samples(old, make_samples(250))
        assert store.session(old).status == "recording"
    rec = Recorder(db, study="s", reader="r")
    new = rec.start()
    rec.stop()
    assert rec.recovered == [old] and new != old
    with Store(db) as store:
        sess = store.session(old)
    assert (sess.status, sess.sample_count) == ("interrupted", 250) and sess.ended_at


def test_live_session_of_this_process_is_not_recovered(tmp_path):
    db = tmp_path / "g.db"
    first = Recorder(db, study="s", reader="r")
    sid = first.start()
    second = Recorder(db, study="s", reader="r2")
    second.start()
    second.stop()
    first.stop()
    assert second.recovered == []
    with Store(db) as store:
        assert store.session(sid).status == "completed"


def test_bad_parameters():
    with pytest.raises(RecorderError, match="flush interval"):
        Recorder("x.db", flush_interval=0)
    with pytest.raises(StoreError, match="No database"):
        Store("/nonexistent/dir/x.db", read_only=True)


def test_failing_observer_does_not_stop_recording(tmp_path):
    def boom(status):
        raise RuntimeError("GUI bug")

    rec = Recorder(
        tmp_path / "g.db", study="s", reader="r", flush_interval=0.005, on_status=boom, on_batch=boom
    )
    rec.start()
    rec.push_many(make_samples(300))
    status = rec.stop()
    assert (status.state, status.written, status.dropped) == ("completed", 300, 0)


def test_unexpected_writer_error_is_visible_and_counted(tmp_path):
    rec = Recorder(tmp_path / "g.db", study="s", reader="r", flush_interval=10.0)
    rec.start()
    rec.push_many(make_samples(10))
    rec.push("not a sample")  # a bug upstream: the batch cannot be written
    status = rec.stop()
    assert status.state == "failed" and "AttributeError" in status.error
    assert (status.written, status.dropped) == (0, 11)  # the whole failed batch is counted
