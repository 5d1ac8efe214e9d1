"""Gaze test set-up: the faithful fakes of the tracker libraries. (LSL's loopback-only configuration is
set for every test folder in tests/conftest.py.)"""

from pathlib import Path

import pytest


@pytest.fixture
def fake_titta(monkeypatch):
    """The faithful fake of TittaPy (tests/gaze/fake_tittapy.py) installed as ``TittaPy_v2``;
    no tracker attached (``fake_add_tracker`` adds one)."""
    import importlib.util
    import sys

    spec = importlib.util.spec_from_file_location("TittaPy_v2", Path(__file__).with_name("fake_tittapy.py"))
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    monkeypatch.setitem(sys.modules, "TittaPy_v2", mod)
    yield mod
    mod.fake_reset()


@pytest.fixture
def opened(qtbot, tmp_path, monkeypatch):
    """The main window (isolated settings and data, a fake backend) with a small radiograph open;
    its LSL marker stream is off unless a test sets one."""
    import numpy as np
    from PIL import Image as PILImage

    from ml.gaze.markers import MarkerPublisher
    from tests.app.conftest import chest_like
    from tests.app.fake_backend import FakeBackend
    from tests.app.test_thin_path import make_window

    monkeypatch.setenv("GAZE2REPORT_CONFIG_DIR", str(tmp_path / "config"))
    monkeypatch.setenv("GAZE2REPORT_DATA_DIR", str(tmp_path / "data"))
    png = tmp_path / "case1.png"
    PILImage.fromarray(chest_like(dtype=np.uint8)).save(png)
    with FakeBackend() as fb:
        win = make_window(qtbot, fb, auto_draft=False)
        win.resize(1200, 800)
        with qtbot.waitSignal(win.studies_ctl.study_loaded, timeout=10000):
            win.open_paths([str(png)])
        win.session._markers = MarkerPublisher(enabled=False)
        yield win
