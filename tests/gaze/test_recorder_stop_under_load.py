"""Stopping while samples still pour in: the session row says exactly what stop() says."""

from __future__ import annotations

import threading

from ml.gaze.recorder import Recorder
from ml.gaze.sources import CallbackSource
from ml.store import Store
from ml.types import GazeSample


def _pour(feed, until: threading.Event, counts: dict[str, int]) -> None:
    t = 5_000_000
    while not until.is_set():
        feed(GazeSample(t, 100.0, 200.0))
        counts["handed"] += 1
        t += 833


def test_the_session_row_counts_the_drops_that_stop_reports_when_stopped_under_load(tmp_path):
    db = tmp_path / "g.db"
    for trial in range(6):
        # a small queue and a pusher that never pauses: drops happen before and during the stop
        rec = Recorder(db, study="s", reader="r", flush_interval=0.002, max_queue=200)
        src = CallbackSource() if trial % 2 else None
        sid = rec.start(src)
        counts = {"handed": 0}
        done = threading.Event()
        # straight into push (a tracker thread nothing stops) or through a source that a stop races with
        feed = rec.push if src is None else src.feed
        pusher = threading.Thread(target=_pour, args=(feed, done, counts))
        pusher.start()
        while rec.status.dropped == 0 or rec.status.written == 0:
            threading.Event().wait(0.001)
        status = rec.stop()
        threading.Event().wait(0.02)  # still pushing after the session closed
        done.set()
        pusher.join()
        with Store(db) as store:
            row = store.session(sid)
        assert (row.status, row.sample_count, row.dropped_count) == ("completed", status.written, status.dropped)
        final = rec.status
        assert (final.written, final.dropped) == (status.written, status.dropped)  # the session is closed
        handed = counts["handed"] if src is None else src.delivered
        assert final.written + final.dropped + final.late == handed  # and nothing went unseen
        if src is None:
            assert final.late > 0  # the pusher outlived the session
