"""The workstation stays alive under sustained use: the main window on the default case with every
overlay on, then the compare view, each driven by thousands of synthetic mouse moves, right-drag
window/level, left-drag pan, wheel zoom and (main window) a full scanpath playback."""

from __future__ import annotations

import numpy as np
import pytest
from PySide6 import QtCore, QtGui, QtWidgets

from tests.app.soak import Hand, NoneGuard, image_view, overlays_on, play_through, process, unthrottled, use
from tests.app.test_thin_path import make_window

pytestmark = pytest.mark.slow


@pytest.fixture(autouse=True)
def _every_move_hovers():
    with unthrottled():
        yield


@pytest.fixture(scope="module")
def default_case():
    from app.defaults import ensure_default_case

    return ensure_default_case()


def _pixels(view: QtWidgets.QGraphicsView) -> np.ndarray:
    img = view.viewport().grab().toImage().convertToFormat(QtGui.QImage.Format.Format_RGB32)
    return np.frombuffer(img.constBits(), np.uint8, img.sizeInBytes()).reshape(img.height(), -1).copy()


def _alive(win: QtWidgets.QWidget) -> None:
    fired = []
    QtCore.QTimer.singleShot(0, lambda: fired.append(True))
    process(30)
    assert fired and win.isVisible()  # the event loop still turns and the window is still up


def test_the_main_window_survives_thousands_of_hovers_drags_wheels_and_a_full_playback(
    qtbot, fake_backend, default_case
):
    fake_backend.image_size = (1024, 1024)
    win = make_window(qtbot, fake_backend)
    with qtbot.waitSignal(win.drafting.draft_ready, timeout=30000):
        win.open_paths([str(default_case)])
    assert overlays_on(win) >= 5  # recorded and predicted gaze, attention, heat map, findings
    guard = NoneGuard()
    view = image_view(win)
    hand = Hand(view, guard)
    before = _pixels(view)
    hand.drag(QtCore.Qt.MouseButton.RightButton, (0.5, 0.5), (0.7, 0.3))  # window/level
    assert not np.array_equal(_pixels(view), before)  # the synthetic input reaches the viewer
    use(hand, rounds=8, moves=150)
    assert play_through(win, hand), "the scanpath playback did not run to its end"  # hovering all along
    use(hand, rounds=2, moves=150)
    guard.check(f"{hand.hovers} hover events", hand.events)
    assert hand.hovers > 2500, hand.hovers  # each one sorts the items near the cursor up their parent chains
    _alive(win)


def test_the_compare_view_survives_the_same_use(qtbot, fake_backend, default_case):
    fake_backend.image_size = (1024, 1024)
    win = make_window(qtbot, fake_backend)
    with qtbot.waitSignal(win.drafting.draft_ready, timeout=30000):
        win.open_paths([str(default_case)])
    before = set(QtWidgets.QApplication.topLevelWidgets())
    win.activateWindow()
    from PySide6.QtTest import QTest

    QTest.keyClick(win, QtCore.Qt.Key.Key_C)  # the Compare action's key
    qtbot.waitUntil(
        lambda: any(isinstance(w, QtWidgets.QDialog) and w.isVisible() for w in set(
            QtWidgets.QApplication.topLevelWidgets()) - before),
        timeout=10000,
    )
    dialog = next(w for w in set(QtWidgets.QApplication.topLevelWidgets()) - before if isinstance(w, QtWidgets.QDialog))
    qtbot.addWidget(dialog)
    process(200)
    guard = NoneGuard()
    views = [v for v in dialog.findChildren(QtWidgets.QGraphicsView) if v.isVisible()]
    assert views, "the compare view shows no image"
    hovers = 0
    for v in views:
        hand = Hand(v, guard)
        use(hand, rounds=10 // len(views), moves=150)
        hovers += hand.hovers
    guard.check(f"{hovers} hover events in the compare view", hovers)
    assert hovers > 1500, hovers
    _alive(dialog)
    _alive(win)
