"""The GazeSource contract (start/stop, state events, sinks) and the replay source's edges."""

from __future__ import annotations

import math
import queue

import pytest

from ml.gaze.geometry import Viewport
from ml.gaze.sources import CallbackSource, ReplaySource, SourceError, SourceState
from ml.types import GazeSample


def test_callback_source_lifecycle_and_events():
    src = CallbackSource("mouse")
    events, got = [], []
    src.add_listener(events.append)
    assert src.state == SourceState.IDLE and src.is_available() and src.availability_message() == ""
    src.feed(GazeSample(1, 1.0, 1.0))  # not started: ignored
    src.start(got.append)
    with pytest.raises(SourceError, match="already running"):
        src.start(got.append)
    src.feed(GazeSample(2, 2.0, 2.0))
    src.stop()
    src.stop()  # idempotent
    src.feed(GazeSample(3, 3.0, 3.0))
    assert [s.t_us for s in got] == [2] and src.delivered == 1
    assert [(e.kind, e.state) for e in events] == [
        ("started", SourceState.STREAMING),
        ("stopped", SourceState.STOPPED),
    ]
    assert all(e.t_us > 0 for e in events)
    src.remove_listener(events.append)
    src.start(got.append)
    src.stop()
    assert len(events) == 2  # a removed listener hears nothing


def test_full_queue_sink_counts_drops():
    q: queue.Queue = queue.Queue(maxsize=3)
    src = CallbackSource()
    src.start(q)
    for i in range(5):
        src.feed(GazeSample(i, 0.0, 0.0))
    assert (q.qsize(), src.delivered, src.dropped) == (3, 3, 2)
    with pytest.raises(TypeError, match="callable"):
        CallbackSource().start(object())


def test_replay_emits_viewports_before_their_samples():
    samples = [GazeSample(t, float(t), 0.0) for t in (0, 10, 20, 30)]
    vps = [Viewport(15, "a", (10, 10), (0, 0, 10, 10)), Viewport(0, "a", (10, 10), (0, 0, 20, 20))]
    order = []
    src = ReplaySource(
        samples, speed=math.inf, viewports=vps, on_viewport=lambda v: order.append(("vp", v.t_us))
    )
    src.start(lambda s: order.append(("s", s.t_us)))
    assert src.wait(5)
    assert order == [("vp", 0), ("s", 0), ("s", 10), ("vp", 15), ("s", 20), ("s", 30)]
    assert src.origin_us == 0 and src.duration_s == pytest.approx(30e-6)


def test_replay_rejects_bad_input():
    with pytest.raises(SourceError, match="time order"):
        ReplaySource([GazeSample(5, 0, 0), GazeSample(1, 0, 0)])
    with pytest.raises(SourceError, match="speed"):
        ReplaySource([], speed=0)
    empty = ReplaySource([])
    empty.start(lambda s: None)
    assert empty.wait(5)
