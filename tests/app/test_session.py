"""Gaze sessions from the GUI: mouse (with validation in degrees) and replay, recorded loss-free,
fixations computed in image pixels, saved in the database, shown as the recorded overlay."""

from __future__ import annotations

import numpy as np
import pytest

from app.components.reading import GazeChoice
from app.session.controller import IDLE, RECORDING
from ml.store import Store
from tests.app.test_thin_path import make_window


@pytest.fixture
def opened(qtbot, fake_backend, png_path):
    win = make_window(qtbot, fake_backend, auto_draft=False)
    win.resize(1200, 800)
    with qtbot.waitSignal(win.studies_ctl.study_loaded, timeout=10000):
        win.open_paths([str(png_path)])
    return win


def image_point_on_screen(win, x, y):
    return win.view.viewport_state().to_screen(x, y)


def test_mouse_session_validates_records_and_saves_fixations(opened, qtbot, watchdog):
    win = opened
    ctl = win.session
    aims = []

    def on_target(i, gx, gy):
        aims.append((gx, gy))
        ctl.source.move_to(gx + 3.0, gy)  # the reader looks 3 px to the right of each target

    ctl.begin("mouse", validate=True, dialog_kwargs={"travel_s": 0.05, "dwell_s": 0.3, "full_screen": False})
    dlg = ctl.validation_dialog
    dlg.target_resting.connect(on_target)
    with qtbot.waitSignal(dlg.finished_targets, timeout=10000) as blocker:
        pass
    result = blocker.args[0]
    assert len(aims) == 4 and result is not None
    assert 0.0 < result.binocular.accuracy_deg < 0.5  # 3 px off at ~65 cm is a small fraction of a degree
    assert "Accuracy" in dlg.summary.text()
    watchdog.reset()
    ctl.source.move_to(-3000.0, -3000.0)  # the reader looks away from the screen until recording runs
    dlg.record_btn.click()
    qtbot.waitUntil(lambda: ctl.state == RECORDING, timeout=10000)
    assert ctl.bar.isVisible()
    # three fixations on the image, 0.4 s each; between the first two the reader looks away and
    # zooms in (a viewport event): the later samples must map through the new viewport
    targets = [(60, 60), (200, 120), (120, 200)]
    for k, (x, y) in enumerate(targets):
        ctl.source.move_to(*image_point_on_screen(win, x, y))
        qtbot.wait(400)
        if k == 0:
            ctl.source.move_to(-3000.0, -3000.0)  # off the image: no image position
            win.view.zoom_by(1.5)
            qtbot.wait(150)
    with qtbot.waitSignal(ctl.session_saved, timeout=20000) as saved:
        ctl.stop()
    scanpath = saved.args[0]
    assert ctl.state == IDLE and not ctl.bar.isVisible()
    assert 2 <= len(scanpath) <= 4
    got = scanpath.as_array()[:, :2]
    for x, y in targets:
        assert np.min(np.hypot(got[:, 0] - x, got[:, 1] - y)) < 6.0  # mapped back to image pixels
    with Store(win.settings.db_path) as store:
        sess = store.sessions(win.current.id)[-1]
        assert sess.status == "completed" and sess.source == "mouse"
        assert sess.sample_count > 40 and sess.dropped_count == 0
        assert sess.calibration["kind"] == "validation"
        assert len(store.events(sess.id, kind="viewport")) >= 2
        assert len(store.fixations(sess.id, "ivt")) == len(scanpath)
    assert win.overlays.layers["recorded"].scanpath is scanpath  # the new session is the primary path
    assert not watchdog.our_stalls(), watchdog.report()
    # reopening the study reads the session back from the database
    win.studies_ctl.session_paths.clear()
    with qtbot.waitSignal(win.studies_ctl.study_loaded, timeout=10000):
        win.open_study(win.studies[0])
    qtbot.waitUntil(lambda: len(win.studies_ctl.session_paths.get(win.current.id, [])) == 1, timeout=5000)
    assert len(win.studies_ctl.session_paths[win.current.id][0]) == len(scanpath)
    assert win.studies_ctl.gaze_for(GazeChoice.AUTO) is win.studies_ctl.session_paths[win.current.id][0]
    qtbot.waitUntil(lambda: "1 gaze session" in win.worklist.list.item(0).text(), timeout=5000)


def test_replay_session_records_the_datasets_reading(opened, qtbot, png_path):
    from ml.gaze.io import GazeTrack, write_gaze

    win = opened
    t = np.arange(0, 1.5, 1 / 60)
    x = np.where(t < 0.75, 80.0, 180.0)
    y = np.where(t < 0.75, 90.0, 150.0)
    write_gaze(png_path.parent / "gaze.csv", GazeTrack(t, x, y, np.ones_like(t)), image_size=(256, 256))
    ctl = win.session
    ctl.replay_speed = 20.0
    ctl.begin("replay")
    qtbot.waitUntil(lambda: ctl.state == RECORDING, timeout=10000)
    qtbot.waitUntil(lambda: ctl.source.state.value == "finished", timeout=10000)
    with qtbot.waitSignal(ctl.session_saved, timeout=20000) as saved:
        ctl.stop()
    sp = saved.args[0]
    assert len(sp) == 2
    assert sp.fixations[0].x == pytest.approx(80, abs=1) and sp.fixations[1].y == pytest.approx(150, abs=1)


def test_missing_tobii_gives_a_message_not_a_crash(opened, qtbot):
    ctl = opened.session
    with qtbot.waitSignal(ctl.failed, timeout=5000, raising=False) as blocker:
        ctl.begin("tobii")
    if blocker.signal_triggered:
        assert "Tobii" in blocker.args[0] or "tobii" in blocker.args[0]
    assert ctl.state in (IDLE, "validating", "starting", RECORDING)


@pytest.fixture
def tobii_sdk(fake_tobii):
    fake_tobii.fake_add_tracker()
    return fake_tobii


def test_tobii_validation_per_eye_then_recording(opened, qtbot, tobii_sdk):
    from PySide6 import QtGui

    win, ctl = opened, opened.session
    clock = [tobii_sdk.get_system_time_stamp()]
    g = QtGui.QGuiApplication.primaryScreen().geometry()

    def emit(gx, gy, n, spread=2.0):
        clock[0] = max(clock[0], tobii_sdk.get_system_time_stamp())
        for _ in range(n):
            clock[0] += 8333  # 120 Hz
            ny = (gy - g.y()) / g.height()
            left = ((gx - spread - g.x()) / g.width(), ny)
            right = ((gx + spread - g.x()) / g.width(), ny)
            ctl.source.tracker.fake_emit_gaze(
                tobii_sdk.make_gaze_data(left, right, system_time_stamp=clock[0])
            )

    ctl.begin("tobii", validate=True, dialog_kwargs={"travel_s": 0.05, "dwell_s": 0.3, "full_screen": False})
    cal = ctl.calibration_dialog
    assert cal is not None
    with qtbot.waitSignal(cal.computed, timeout=20000, raising=True) as computed:
        pass
    outcome = computed.args[0]
    assert outcome.ok and len(outcome.points) == 5
    assert outcome.mean_error_deg("left") < 1.0
    cal.next_btn.click()
    qtbot.waitUntil(lambda: ctl.validation_dialog is not None, timeout=5000)
    dlg = ctl.validation_dialog
    assert dlg is not None and dlg.binocular
    dlg.target_resting.connect(lambda i, gx, gy: emit(gx, gy, 40))
    with qtbot.waitSignal(dlg.finished_targets, timeout=10000) as blocker:
        pass
    res = blocker.args[0]
    assert res is not None and len(res.points) == 4
    # each eye 2 px off the target, the two eyes' average on it
    assert 0.0 < res.left.accuracy_deg < 0.2 and 0.0 < res.right.accuracy_deg < 0.2
    assert res.binocular.accuracy_deg < res.left.accuracy_deg
    dlg.record_btn.click()
    qtbot.waitUntil(lambda: ctl.state == RECORDING, timeout=10000)
    for x, y in ((60, 60), (180, 160)):
        emit(*image_point_on_screen(win, x, y), 60, spread=0.0)
        emit(-5000, -5000, 10, spread=0.0)  # a saccade away between the fixations
    with qtbot.waitSignal(ctl.session_saved, timeout=20000) as saved:
        ctl.stop()
    sp = saved.args[0]
    got = sp.as_array()[:, :2]
    assert len(sp) == 2 and np.allclose(got, [[60, 60], [180, 160]], atol=2.0), got
    with Store(win.settings.db_path) as store:
        sess = store.sessions(win.current.id)[-1]
        assert sess.source == "tobii" and sess.calibration["left"]["accuracy_deg"] > 0
        assert len(sess.calibration["calibration"]["points"]) == 5


def test_recording_undoes_and_locks_rotation_and_flips(opened, qtbot):
    """The recorder maps gaze through an axis-aligned viewport, so sessions record the upright image."""
    win = opened
    win.act_rotate.trigger()
    win.act_flip_h.trigger()
    assert win.view.rotation == 90 and win.view.flip_h
    win.session.begin("mouse", validate=False)
    qtbot.waitUntil(lambda: win.session.state == RECORDING, timeout=10000)
    assert win.view.rotation == 0 and not win.view.flip_h and not win.view.flip_v
    assert (
        not win.act_rotate.isEnabled() and not win.act_flip_h.isEnabled() and not win.act_flip_v.isEnabled()
    )
    win.act_rotate.trigger()  # a disabled action does nothing
    assert win.view.rotation == 0
    with qtbot.waitSignal(win.session.session_saved, timeout=20000):
        win.session.stop()
    qtbot.waitUntil(lambda: win.session.state == IDLE, timeout=10000)
    assert win.act_rotate.isEnabled() and win.act_flip_v.isEnabled()


def test_a_tracker_calibration_that_cannot_start_says_why(qtbot):
    """The failure is its own signal with the reason, never a string where an outcome is expected."""
    from app.session.calibration import TobiiCalibrationDialog

    class UnpluggedTracker:
        def enter(self):
            raise RuntimeError("the eye tracker was unplugged")

        def leave(self):
            pass

    dlg = TobiiCalibrationDialog(UnpluggedTracker(), full_screen=False)
    qtbot.addWidget(dlg)
    with qtbot.waitSignal(dlg.failed, timeout=10000) as failed:
        dlg.start()
    assert "unplugged" in failed.args[0]
    assert "Calibration failed" in dlg.summary.text()
    dlg.reject()
