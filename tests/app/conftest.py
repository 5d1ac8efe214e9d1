"""GUI test fixtures: isolated settings/data dirs, small images, a fake backend, a stall watchdog."""

from __future__ import annotations

import numpy as np
import pytest

from tests.app.fake_backend import FakeBackend
from tests.app.watchdog import StallWatchdog


@pytest.fixture(autouse=True)
def _isolated_dirs(tmp_path, monkeypatch):
    monkeypatch.setenv("GAZE2REPORT_CONFIG_DIR", str(tmp_path / "config"))
    monkeypatch.setenv("GAZE2REPORT_DATA_DIR", str(tmp_path / "data"))


def chest_like(h: int = 256, w: int = 256, dtype=np.uint16, seed: int = 0) -> np.ndarray:
    """A smooth synthetic radiograph-like image (dark lungs, bright mediastinum) with noise."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w]
    cx = w / 2
    body = np.exp(-(((xx - cx) / (0.45 * w)) ** 6 + ((yy - h / 2) / (0.48 * h)) ** 6))
    lungs = np.exp(-(((np.abs(xx - cx) - 0.22 * w) / (0.13 * w)) ** 2 + ((yy - 0.45 * h) / (0.28 * h)) ** 2))
    img = 0.25 + 0.6 * body - 0.45 * lungs + 0.02 * rng.standard_normal((h, w))
    img = np.clip(img, 0, 1)
    top = 4095 if dtype == np.uint16 else 255
    return (img * top).astype(dtype)


@pytest.fixture
def png_path(tmp_path):
    from PIL import Image as PILImage

    p = tmp_path / "case1.png"
    PILImage.fromarray(chest_like(dtype=np.uint8)).save(p)
    return p


@pytest.fixture
def dicom_path(tmp_path):
    from ml.imaging import write_dx

    p = tmp_path / "case2.dcm"
    px = chest_like(dtype=np.uint16, seed=1)
    from ml.types import Window

    write_dx(px, p, spacing_mm=(0.5, 0.5), patient_id="TEST^CASE", window=Window(2000.0, 3000.0, "STANDARD"))
    return p


@pytest.fixture
def fake_backend():
    with FakeBackend() as fb:
        yield fb


@pytest.fixture
def watchdog(qtbot):
    wd = StallWatchdog()
    wd.start()
    yield wd
    wd.stop()


@pytest.fixture(autouse=True)
def confirmations(monkeypatch):
    """Questions the window asks (signing): answered Yes and recorded; a test may answer otherwise."""
    from PySide6 import QtWidgets

    asked: list[str] = []

    def question(parent, title, text, *args, **kwargs):
        asked.append(text)
        return QtWidgets.QMessageBox.StandardButton.Yes

    monkeypatch.setattr(QtWidgets.QMessageBox, "question", question)
    return asked
