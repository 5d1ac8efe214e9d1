"""The source listing behind the GUI's tracker picker, and the state line of a running source."""

from __future__ import annotations

import math
import sys
import time
import uuid

import pytest

pylsl = pytest.importorskip("pylsl")

from ml.gaze.sources import CallbackSource, SourceError  # noqa: E402
from ml.gaze.sources.listing import (  # noqa: E402
    SourceKind,
    SourceMonitor,
    list_sources,
    make_source,
)
from ml.gaze.sources.lsl import LslSource  # noqa: E402
from ml.gaze.sources.titta import TittaSource  # noqa: E402
from ml.types import GazeSample  # noqa: E402


@pytest.fixture
def gaze_outlet():
    name = f"Picker-{uuid.uuid4().hex[:8]}"
    info = pylsl.StreamInfo(name, "Gaze", 2, 250.0, pylsl.cf_float32, f"{name}-id")
    outlet = pylsl.StreamOutlet(info)
    yield name
    del outlet


def test_the_listing_offers_tobii_trackers_lsl_streams_mouse_and_replay(fake_titta, gaze_outlet):
    addr = fake_titta.fake_add_tracker()
    deadline = time.monotonic() + 10
    while True:
        choices = list_sources(lsl_wait_s=0.5, titta=fake_titta)
        lsl = [c for c in choices if c.kind == SourceKind.LSL and c.stream and c.stream.name == gaze_outlet]
        if lsl or time.monotonic() > deadline:
            break
    kinds = [c.kind for c in choices]
    assert kinds[0] == SourceKind.TOBII and kinds[-2:] == [SourceKind.MOUSE, SourceKind.REPLAY]
    tobii = choices[0]
    assert tobii.available and tobii.key == addr and tobii.backend == "titta"
    assert tobii.state_line.startswith("connected · 1200 Hz, human")
    (stream,) = lsl
    assert stream.available and "2 channels · 250 Hz" in stream.state_line
    assert isinstance(make_source(tobii, titta=fake_titta), TittaSource)
    src = make_source(stream)
    assert isinstance(src, LslSource) and src.stream.name == gaze_outlet


def test_the_real_tittapy_with_no_tracker_lists_tobii_as_unavailable_with_the_reason():
    (tobii, *_rest) = list_sources(lsl_wait_s=0.1)
    assert tobii.kind == SourceKind.TOBII and not tobii.available
    assert "No Tobii eye tracker found" in tobii.state_line
    with pytest.raises(SourceError, match="No Tobii eye tracker found"):
        make_source(tobii)


def test_without_tittapy_the_tobii_row_says_how_to_install_it(monkeypatch):
    monkeypatch.setitem(sys.modules, "TittaPy_v2", None)
    monkeypatch.setitem(sys.modules, "tobii_research", None)
    (tobii, *_rest) = list_sources(lsl_wait_s=0.1)
    assert not tobii.available and "gaze2report[trackers]" in tobii.message


def test_the_state_line_says_connected_frequency_and_last_sample_age():
    src = CallbackSource("tobii")
    mon = SourceMonitor(src, "Spectrum")
    assert mon.state_line() == "Spectrum: not started · no sample yet"
    src.start(mon.on_sample)
    for i in range(600):
        src.feed(GazeSample(1_000_000 + i * 1000, 1.0, 2.0))  # 1 kHz by the samples' own clock
    line = mon.state_line()
    assert line.startswith("Spectrum: connected · 1000 Hz · last sample ") and "ms ago" in line
    assert math.isclose(mon.frequency_hz, 1000.0)
    src.stop()
    assert mon.state_line().startswith("Spectrum: stopped")
