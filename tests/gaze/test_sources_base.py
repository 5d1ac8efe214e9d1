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


EGD_HEADER = (
    "SESSION_ID,MEDIA_ID,DICOM_ID,CNT,Time (in secs),TIMETICK(f=10000000),FPOGX,FPOGY,FPOGS,FPOGD,FPOGID,"
    "FPOGV,BPOGX,BPOGY,BPOGV,X_ORIGINAL,Y_ORIGINAL"
)


def _egd_file(path, image="img-a", size=(2000, 2000), pads=(0, 0, 420, 420)):
    """A Gazepoint eye_gaze.csv in EGD-CXR's layout: the image fills 1080x1080 at x=420."""
    top, bottom, left, right = pads
    scale = size[0] / (1920 - left - right)
    lines = [EGD_HEADER, "1,0,calibration_image,1,0.5,0,0.5,0.5,0.5,0.1,1,1,0.5,0.5,1,-1,-1"]
    for i in range(60):
        t = 10.0 + i / 60
        bx, by = 0.3 + i * 0.005, 0.4 + i * 0.003
        valid = 0 if 20 <= i < 25 else 1  # a blink
        ix = (bx * 1920 - left) * scale if valid else -1
        iy = (by * 1080 - top) * scale if valid else -1
        lines.append(
            f"1,1,{image},{i},{t:.4f},0,{bx},{by},{t},0.2,3,{valid},{bx},{by},{valid},{ix:.3f},{iy:.3f}"
        )
    path.write_text("\n".join(lines) + "\n")


def test_replay_egd_cxr_case(tmp_path):
    from ml.gaze.geometry import screen_to_image
    from ml.gaze.sources import load_egd_gaze

    _egd_file(tmp_path / "eye_gaze.csv")
    for kwargs in ({"pads": (0, 0, 420, 420)}, {}):  # from the master sheet, or fitted from X/Y_ORIGINAL
        data = load_egd_gaze(tmp_path / "eye_gaze.csv", "img-a", image_size=(2000, 2000), **kwargs)
        assert len(data.samples) == 60 and data.samples[0].t_us == 0
        assert data.samples[-1].t_us == 983_300  # 10.9833 s - 10.0000 s, as written
        assert [s.valid for s in data.samples].count(False) == 5
        assert data.viewports[0].image_rect == pytest.approx((420, 0, 1500, 1080), abs=0.01)
        img = screen_to_image(data.samples, data.viewports)
        assert img.x[0] == pytest.approx((0.3 * 1920 - 420) * 2000 / 1080, abs=0.05)
    got = []
    src = ReplaySource.from_egd_gaze(
        tmp_path / "eye_gaze.csv", "img-a", image_size=(2000, 2000), speed=math.inf
    )
    src.start(got.append)
    assert src.wait(5) and len(got) == 60
    with pytest.raises(SourceError, match="no samples for DICOM_ID nope"):
        load_egd_gaze(tmp_path / "eye_gaze.csv", "nope", image_size=(10, 10))
