"""The workstation refuses what ``ml.imaging`` refuses, and says why in the loader's own words."""

from __future__ import annotations

import numpy as np
import pytest
from PySide6 import QtWidgets

from tests.app.test_thin_path import make_window


def _shown(win: QtWidgets.QWidget) -> str:
    """Every text the window shows: labels, the status bar, read-only text views."""
    texts = [lab.text() for lab in win.findChildren(QtWidgets.QLabel) if lab.isVisibleTo(win)]
    texts.append(win.statusBar().currentMessage())
    texts += [t.toPlainText() for t in win.findChildren(QtWidgets.QTextEdit) if t.isReadOnly()]
    return "\n".join(texts)


@pytest.mark.parametrize(
    ("name", "make", "says"),
    [
        ("blank.dcm", "blank", "one value (0) everywhere"),
        ("cut.dcm", "truncated", "DICOM file is truncated"),
    ],
)
def test_an_image_the_loader_refuses_is_reported_and_never_drafted(qtbot, fake_backend, tmp_path, name, make, says):
    from ml.imaging import ImageError, load_image, write_dx
    from tests.app.conftest import chest_like

    path = tmp_path / name
    if make == "blank":
        write_dx(np.zeros((256, 256), np.uint16), path, spacing_mm=(0.5, 0.5))
    else:
        whole = write_dx(chest_like(256, 256), tmp_path / "whole.dcm", spacing_mm=(0.5, 0.5)).read_bytes()
        path.write_bytes(whole[: len(whole) - 10])
    with pytest.raises(ImageError) as refused:
        load_image(path)
    message = str(refused.value)
    assert says in message
    win = make_window(qtbot, fake_backend)
    win.open_paths([str(path)])
    qtbot.waitUntil(lambda: message in _shown(win), timeout=10000)
    qtbot.wait(300)
    assert not [r for r in fake_backend.requests if r["path"].startswith("/v1/reports")]
