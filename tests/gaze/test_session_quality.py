"""Gaze sessions as researchers need them: the validation's quality gate and its stored override,
no sample from before the recording really starts, and the keyboard back in the main window."""

from __future__ import annotations

import pytest

pytest.importorskip("pytestqt")

from PySide6 import QtCore, QtWidgets  # noqa: E402

from app.session.controller import IDLE, RECORDING  # noqa: E402
from ml.store import Store  # noqa: E402

pytestmark = pytest.mark.gui
FAST = {"travel_s": 0.05, "dwell_s": 0.3, "full_screen": False}


def _validate(ctl, qtbot, offset_px: float):
    ctl.begin("mouse", validate=True, dialog_kwargs=FAST)
    dlg = ctl.validation_dialog
    dlg.target_resting.connect(lambda i, gx, gy: ctl.source.move_to(gx + offset_px, gy))
    with qtbot.waitSignal(dlg.finished_targets, timeout=10000):
        pass
    return dlg


def test_a_validation_above_the_limit_refuses_recording_until_an_override_stored_with_the_session(opened, qtbot):
    win, ctl = opened, opened.session
    dlg = _validate(ctl, qtbot, offset_px=120.0)  # ~3° off at 65 cm
    assert dlg.result.binocular.accuracy_deg > 1.0 and not dlg.passed
    assert not dlg.record_btn.isEnabled() and dlg.override.isVisible()
    assert "above the 1° limit" in dlg.summary.text()
    dlg.override.setChecked(True)
    assert dlg.record_btn.isEnabled()
    dlg.record_btn.click()
    qtbot.waitUntil(lambda: ctl.state == RECORDING, timeout=10000)
    ctl.source.move_to(*win.view.viewport_state().to_screen(100, 100))
    qtbot.wait(200)
    with qtbot.waitSignal(ctl.session_saved, timeout=20000):
        ctl.stop()
    with Store(win.settings.db_path) as store:
        gate = store.sessions(win.current.id)[-1].calibration["gate"]
    assert gate["limit_deg"] == 1.0 and gate["passed"] is False and gate["override"] is True
    assert gate["accuracy_deg"] > 1.0


def test_a_good_validation_passes_the_gate_without_an_override(opened, qtbot):
    ctl = opened.session
    dlg = _validate(ctl, qtbot, offset_px=3.0)
    assert dlg.passed and dlg.record_btn.isEnabled() and not dlg.override.isVisible()
    assert dlg.gate["passed"] is True and dlg.gate["override"] is False
    dlg.reject()
    qtbot.waitUntil(lambda: ctl.state == IDLE, timeout=5000)


def test_the_click_that_starts_the_recording_is_not_gaze_and_the_keyboard_returns_to_the_window(opened, qtbot):
    win, ctl = opened, opened.session
    dlg = _validate(ctl, qtbot, offset_px=3.0)
    button = dlg.record_btn.mapToGlobal(dlg.record_btn.rect().center())
    ctl.source.move_to(button.x(), button.y())  # the reader moves to the button and clicks it
    dlg.record_btn.click()
    qtbot.waitUntil(lambda: ctl.state == RECORDING, timeout=10000)
    assert QtWidgets.QApplication.activeWindow() is win
    qtbot.wait(300)  # the pointer rests on the button's place: nothing is recorded
    st = ctl.recorder.status
    assert st.written + st.queued == 0
    gx, gy = win.view.viewport_state().to_screen(100, 100)
    ctl.source.move_to(gx, gy)
    qtbot.wait(300)
    qtbot.keyClick(win, QtCore.Qt.Key.Key_E, QtCore.Qt.KeyboardModifier.ControlModifier)  # Stop recording
    qtbot.waitUntil(lambda: ctl.state == IDLE, timeout=20000)
    with Store(win.settings.db_path) as store:
        sess = store.sessions(win.current.id)[-1]
        block = store.samples(sess.id)
    assert len(block) > 5
    assert (block.x == gx).all() and (block.y == gy).all()
