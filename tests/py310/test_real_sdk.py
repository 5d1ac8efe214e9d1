"""The Tobii adapter against the *real* Tobii Pro SDK, in the Python 3.10 environment.

Run by ``tests/py310/run.sh`` inside ``.venv310`` (Python 3.10, the GUI-side packages, the
``tobii-research`` wheel, no torch). Elsewhere the module is skipped: the SDK ships for 3.10 only.
Besides "imports and handles 'no tracker found'", it checks the fake used by the other tests
against the real module: same constants, and gaze dictionaries the real ``GazeData`` accepts.
"""

from __future__ import annotations

import importlib.util
import math
import sys
import time
from pathlib import Path

import pytest

tr = pytest.importorskip("tobii_research", reason="the Tobii Pro SDK runs in .venv310 (tests/py310/run.sh)")

from ml.gaze.sources import NoTrackerFound, SourceState, TobiiSource, find_trackers  # noqa: E402
from ml.gaze.sources.base import now_us  # noqa: E402
from ml.gaze.sources.tobii import ScreenRect, map_gaze_data  # noqa: E402

FAKE = Path(__file__).resolve().parents[1] / "gaze" / "fake_tobii_research.py"


def load_fake():
    spec = importlib.util.spec_from_file_location("fake_tobii_research", FAKE)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_environment_is_python310_without_torch():
    assert sys.version_info[:2] == (3, 10)
    assert importlib.util.find_spec("torch") is None  # the GUI side never needs it
    assert TobiiSource.is_available() and TobiiSource.availability_message() == ""


@pytest.fixture(scope="module")
def trackers():
    found = find_trackers()
    if found:
        pytest.skip(f"a real tracker is connected ({found[0].model}); this test needs none")
    return found


def test_no_tracker_found_is_a_clear_error(trackers):
    src = TobiiSource()
    events = []
    src.add_listener(events.append)
    with pytest.raises(NoTrackerFound, match="No Tobii eye tracker found"):
        src.start(lambda sample: None)
    assert src.state == SourceState.ERROR and events[-1].kind == "error"
    assert not src.running


def test_unknown_address_is_a_clear_error(trackers):
    with pytest.raises(
        NoTrackerFound, match="Cannot connect to the Tobii tracker at tobii-prp://nonexistent"
    ):
        TobiiSource("tobii-prp://nonexistent").start(lambda sample: None)


def test_sdk_clock_is_the_monotonic_clock_we_stamp_events_with():
    """Viewport events (now_us) and Tobii samples (system_time_stamp) must share one clock."""
    a = now_us()
    b = tr.get_system_time_stamp()
    c = now_us()
    assert a - 1_000_000 <= b <= c + 1_000_000


def test_fake_matches_the_real_module():
    fake = load_fake()
    shared = [n for n in dir(fake) if n.isupper() and hasattr(tr, n)]
    assert len(shared) >= 30
    for name in shared:
        assert getattr(fake, name) == getattr(tr, name), name
    for name in ("find_all_eyetrackers", "EyeTracker", "ScreenBasedCalibration", "get_system_time_stamp"):
        assert hasattr(fake, name) and hasattr(tr, name)
    # the real GazeData validates key names and types: it must accept the fake's dictionaries
    for left, right in (((0.2, 0.3), (0.25, 0.35)), (None, (0.5, 0.5)), (None, None)):
        data = fake.make_gaze_data(left, right, system_time_stamp=int(time.monotonic() * 1e6))
        real = tr.GazeData(data)
        assert real.left_eye.gaze_point.validity == (left is not None)
        assert real.system_time_stamp == data["system_time_stamp"]
        sample, _ = map_gaze_data(data, ScreenRect(0, 0, 1920, 1080))
        assert sample.valid == (left is not None or right is not None)
        if not sample.valid:
            assert math.isnan(sample.x)
    # and the calibration result classes accept the statuses the fake returns
    tr.CalibrationResult(fake.CALIBRATION_STATUS_FAILURE, ())
