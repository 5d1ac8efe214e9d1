"""The workstation's LSL marker stream, received by a test inlet as LabRecorder would."""

from __future__ import annotations

import json
import math
import time
import uuid

import pytest

pylsl = pytest.importorskip("pylsl")

from ml.gaze.geometry import Viewport  # noqa: E402
from ml.gaze.markers import STREAM_TYPE, Marker, MarkerPublisher  # noqa: E402
from ml.gaze.sources.base import now_us  # noqa: E402


def test_the_marker_stream_delivers_the_readers_events_in_order():
    name = f"markers-{uuid.uuid4().hex[:8]}"
    pub = MarkerPublisher(name=name, source_id=name)
    assert pub.available
    (info,) = [s for s in pylsl.resolve_byprop("name", name, 1, 10.0)]
    assert info.type() == STREAM_TYPE and info.channel_format() == pylsl.cf_string
    inlet = pylsl.StreamInlet(info)
    inlet.open_stream(timeout=10.0)
    deadline = time.monotonic() + 10
    while not pub.have_consumers() and time.monotonic() < deadline:
        time.sleep(0.01)
    time.sleep(0.2)
    t_open = now_us()
    pub.image_opened("img-1", path="/data/img-1.dcm", size=(2000, 2500), t_us=t_open)
    pub.recording_started(7, source="lsl")
    vp = Viewport(now_us(), "img-1", (2000, 2500), (100.0, 0.0, 964.0, 1080.0), (0.0, 0.0, 1920.0, 1080.0), zoom=0.43)
    pub.viewport(vp)
    pub.window_level(40.0, 400.0, preset="Lung")
    pub.annotation("added", shape="ellipse", label="nodule", annotation_id=3)
    pub.recording_stopped(7)
    got = []
    deadline = time.monotonic() + 10
    while len(got) < 6 and time.monotonic() < deadline:
        sample, ts = inlet.pull_sample(timeout=0.5)
        if sample is not None:
            got.append((json.loads(sample[0]), ts))
    events = [g[0]["event"] for g in got]
    assert events == [
        Marker.IMAGE_OPENED,
        Marker.RECORDING_STARTED,
        Marker.VIEWPORT,
        Marker.WINDOW_LEVEL,
        Marker.ANNOTATION,
        Marker.RECORDING_STOPPED,
    ]
    opened, started, viewport, wl, ann, stopped = (g[0] for g in got)
    assert opened["image_id"] == "img-1" and opened["size"] == [2000, 2500]
    assert started == {"event": "recording_started", "session_id": 7, "source": "lsl"}
    assert viewport["image_rect"] == [100.0, 0.0, 964.0, 1080.0] and viewport["window_center"] is None
    assert (wl["center"], wl["width"], wl["preset"]) == (40.0, 400.0, "Lung")
    assert (ann["action"], ann["shape"], ann["annotation_id"]) == ("added", "ellipse", 3)
    assert stopped["status"] == "completed"
    # stamps are when things happened, on LSL's clock (our clock on this machine)
    assert math.isclose(got[0][1], t_open / 1e6 - pub._offset_s, abs_tol=1e-6)
    assert [g[1] for g in got] == sorted(g[1] for g in got)
    assert pub.published == 6


def test_a_publisher_that_is_turned_off_does_nothing_and_says_why():
    pub = MarkerPublisher(enabled=False)
    assert not pub.available and "off" in pub.error
    pub.recording_started(1)
    assert pub.published == 0
