"""The GUI's tracker picker and live sessions from real trackers' paths (TittaPy's fake, a real
LSL outlet in another process), recorded through the window into the same database."""

from __future__ import annotations

import json
import subprocess
import sys
import time
import uuid
from pathlib import Path

import numpy as np
import pytest

pylsl = pytest.importorskip("pylsl")
pytest.importorskip("pytestqt")

from PySide6 import QtCore  # noqa: E402

from app.session.controller import IDLE, RECORDING  # noqa: E402
from app.session.picker import TrackerPicker  # noqa: E402
from ml.cli.session import export_session  # noqa: E402
from ml.gaze.io import read_gaze  # noqa: E402
from ml.gaze.markers import MarkerPublisher  # noqa: E402
from ml.gaze.sources.eyes import session_eyes  # noqa: E402
from ml.gaze.sources.listing import SourceChoice, SourceKind, list_sources  # noqa: E402
from ml.store import Store  # noqa: E402

pytestmark = pytest.mark.gui
OUTLET = Path(__file__).with_name("lsl_outlet.py")


def _rows(fake_titta, addr):
    return [
        SourceChoice(SourceKind.TOBII, "Tobii Pro Spectrum (TPSP1)", "connected · 1200 Hz, human", key=addr, backend="titta"),
        SourceChoice(SourceKind.LSL, "LSL gaze stream", available=False, message="No LSL stream of type Gaze found in 1 s"),
        SourceChoice(SourceKind.MOUSE, "Mouse", "gaze follows the cursor"),
        SourceChoice(SourceKind.REPLAY, "Replay", "the study's recorded reading"),
    ]


def test_the_picker_lists_each_source_with_its_state_line_and_offers_only_those_that_can_record(qtbot, fake_titta):
    addr = fake_titta.fake_add_tracker()
    dlg = TrackerPicker(lister=lambda: _rows(fake_titta, addr))
    qtbot.addWidget(dlg)
    with qtbot.waitSignal(dlg.listed, timeout=5000):
        dlg.show()
    texts = [dlg.list.item(i).text() for i in range(dlg.list.count())]
    assert len(texts) == 4
    assert "Tobii Pro Spectrum" in texts[0] and "connected · 1200 Hz" in texts[0]
    assert "No LSL stream of type Gaze found" in texts[1]
    assert not dlg.list.item(1).flags() & QtCore.Qt.ItemFlag.ItemIsSelectable
    assert dlg.list.currentRow() == 0 and dlg.use_btn.isEnabled()
    assert dlg.status.text() == "1 tracker(s) ready"
    dlg.use_btn.click()
    assert dlg.result() == dlg.DialogCode.Accepted and dlg.choice.key == addr


def test_a_tobii_tracker_through_titta_records_through_the_window_with_both_eyes(opened, qtbot, fake_titta):
    win, ctl = opened, opened.session
    addr = fake_titta.fake_add_tracker()
    (choice, *_rest) = list_sources(lsl_wait_s=0.1, titta=fake_titta)
    ctl.begin("tobii", validate=False, choice=choice)
    qtbot.waitUntil(lambda: ctl.state == RECORDING, timeout=10000)
    src = ctl.source
    assert type(src).__name__ == "TittaSource"
    t0 = src.clock_us()
    rows = [fake_titta.fake_row(t0 + i * 833, (0.4, 0.5), (0.42, 0.5)) for i in range(240)]
    fake_titta.fake_emit(addr, rows, rate=1200.0).join()
    qtbot.waitUntil(lambda: src.delivered == 240, timeout=5000)
    assert "Hz" in ctl.state_line() and "connected" in ctl.state_line()
    with qtbot.waitSignal(ctl.session_saved, timeout=20000):
        ctl.stop()
    assert ctl.state == IDLE
    with Store(win.settings.db_path) as store:
        sess = store.sessions(win.current.id)[-1]
        assert sess.source == "tobii" and sess.status == "completed" and sess.sample_count == 240
        assert len(session_eyes(store, sess.id)) == 240
        (info,) = store.events(sess.id, kind="source_info")
        assert info.data["backend"] == "titta" and info.data["tracker"]["address"] == addr


def test_an_lsl_tracker_records_through_the_window_and_the_markers_reach_a_lab_recorder(opened, qtbot):
    win, ctl = opened, opened.session
    name = f"Sim-{uuid.uuid4().hex[:8]}"
    markers = f"markers-{uuid.uuid4().hex[:8]}"
    ctl._markers = MarkerPublisher(name=markers, source_id=markers)
    (minfo,) = pylsl.resolve_byprop("name", markers, 1, 10.0)
    lab = pylsl.StreamInlet(minfo)
    lab.open_stream(timeout=10.0)
    proc = subprocess.Popen(
        [sys.executable, str(OUTLET), "--name", name, "--rate", "120", "--n", "240"], stdout=subprocess.PIPE, text=True
    )
    try:
        deadline = time.monotonic() + 10
        choice = None
        while choice is None and time.monotonic() < deadline:
            choice = next((c for c in list_sources(lsl_wait_s=0.5) if c.stream and c.stream.name == name), None)
        assert choice is not None and choice.kind == SourceKind.LSL
        ctl.begin("lsl", validate=False, choice=choice)
        qtbot.waitUntil(lambda: ctl.state == RECORDING, timeout=15000)
        assert proc.stdout.readline().startswith("T0 ")
        from ml.types import Window

        win.view.set_window(Window(100.0, 180.0, "Soft"))  # the reader changes window/level
        win.annotations.changed.emit()  # and an annotation changes
        assert proc.stdout.readline() == "DONE\n"
        qtbot.waitUntil(lambda: ctl.source.delivered == 240, timeout=5000)
        with qtbot.waitSignal(ctl.session_saved, timeout=20000):
            ctl.stop()
    finally:
        proc.kill()
        proc.wait(10)
    with Store(win.settings.db_path) as store:
        sess = store.sessions(win.current.id)[-1]
        assert sess.source == "lsl" and sess.status == "completed" and sess.sample_count == 240
        assert sess.dropped_count == 0 and len(session_eyes(store, sess.id)) == 240
        (info,) = store.events(sess.id, kind="source_info")
        assert info.data["stream"]["name"] == name and info.data["channels"]["left_x"] == 0
        assert store.events(sess.id, kind="viewport")
    exported = export_session(win.settings.db_path, sess.id, win.settings.db_path.parent / "export")
    assert len(read_gaze(exported.gaze_csv)) == 240  # REFLACX layout, like every other session
    got = []
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        sample, _ts = lab.pull_sample(timeout=0.2)
        if sample is None and got and got[-1] == "recording_stopped":
            break
        if sample is not None:
            got.append(json.loads(sample[0])["event"])
    assert got[:3] == ["recording_started", "image_opened", "viewport"] and got[-1] == "recording_stopped"
    assert "window_level" in got and "annotation" in got


def test_choosing_a_source_in_the_picker_starts_its_session(opened, qtbot, fake_titta):
    ctl = opened.session
    addr = fake_titta.fake_add_tracker()
    ctl.pick_source(lister=lambda: _rows(fake_titta, addr))
    dlg = ctl.picker
    qtbot.waitUntil(lambda: dlg.list.count() == 4, timeout=5000)
    dlg.list.setCurrentRow(2)  # the mouse
    dlg.use_btn.click()
    qtbot.waitUntil(lambda: ctl.validation_dialog is not None, timeout=5000)
    assert ctl.kind == "mouse" and ctl.choice.kind == SourceKind.MOUSE
    assert "mouse pointer" in ctl.validation_dialog.instruction  # what to do with the source in use
    ctl.validation_dialog.reject()
    qtbot.waitUntil(lambda: ctl.state == IDLE, timeout=5000)


def test_tobii_through_titta_calibrates_validates_and_records_through_the_window(opened, qtbot, fake_titta):
    from PySide6 import QtGui

    win, ctl = opened, opened.session
    addr = fake_titta.fake_add_tracker()
    (choice, *_rest) = list_sources(lsl_wait_s=0.1, titta=fake_titta)
    g = QtGui.QGuiApplication.primaryScreen().geometry()
    clock = [0]

    def emit(gx, gy, n, spread=2.0):
        clock[0] = max(clock[0], fake_titta.get_system_timestamp())
        rows = []
        for _ in range(n):
            clock[0] += 8333  # 120 Hz
            ny = (gy - g.y()) / g.height()
            left = ((gx - spread - g.x()) / g.width(), ny)
            right = ((gx + spread - g.x()) / g.width(), ny)
            rows.append(fake_titta.fake_row(clock[0], left, right))
        fake_titta.fake_push(addr, rows)

    ctl.begin("tobii", validate=True, dialog_kwargs={"travel_s": 0.05, "dwell_s": 0.3, "full_screen": False}, choice=choice)
    def calibrate_then_validate():
        cal = ctl.calibration_dialog
        assert cal is not None and type(cal.cal).__name__ == "TittaCalibration"
        with qtbot.waitSignal(cal.computed, timeout=20000, raising=True) as computed:
            pass
        outcome = computed.args[0]
        assert outcome.ok and len(outcome.points) == 5
        cal.next_btn.click()
        qtbot.waitUntil(lambda: ctl.validation_dialog is not None, timeout=5000)
        dlg = ctl.validation_dialog
        assert dlg.binocular and not dlg.recalibrate_btn.isHidden()
        dlg.target_resting.connect(lambda i, gx, gy: emit(gx, gy, 40))
        with qtbot.waitSignal(dlg.finished_targets, timeout=10000) as blocker:
            pass
        res = blocker.args[0]
        assert res is not None and 0.0 < res.left.accuracy_deg < 0.2 and dlg.passed
        return dlg

    dlg = calibrate_then_validate()
    dlg.recalibrate_btn.click()  # the reader asks for the tracker's calibration again
    qtbot.waitUntil(lambda: ctl.calibration_dialog is not None, timeout=5000)
    dlg = calibrate_then_validate()
    dlg.record_btn.click()
    qtbot.waitUntil(lambda: ctl.state == RECORDING, timeout=10000)
    for x, y in ((60, 60), (180, 160)):
        emit(*win.view.viewport_state().to_screen(x, y), 60, spread=0.0)
        emit(-5000, -5000, 10, spread=0.0)  # a saccade away between the fixations
    qtbot.waitUntil(lambda: ctl.source.delivered == 140, timeout=5000)
    with qtbot.waitSignal(ctl.session_saved, timeout=20000) as saved:
        ctl.stop()
    sp = saved.args[0]
    assert len(sp) == 2 and np.allclose(sp.as_array()[:, :2], [[60, 60], [180, 160]], atol=2.0)
    with Store(win.settings.db_path) as store:
        sess = store.sessions(win.current.id)[-1]
        assert sess.source == "tobii" and sess.sample_count == 140
        assert len(sess.calibration["calibration"]["points"]) == 5 and sess.calibration["gate"]["passed"]
        assert sess.calibration["left"]["accuracy_deg"] > 0
        assert len(session_eyes(store, sess.id)) == 140


def test_the_picker_sets_a_tobii_trackers_frequency_and_tracking_mode(qtbot, fake_titta):
    from ml.gaze.sources.listing import make_source

    fake_titta.fake_add_tracker()
    dlg = TrackerPicker(lister=lambda: list_sources(lsl_wait_s=0.1, titta=fake_titta))
    qtbot.addWidget(dlg)
    with qtbot.waitSignal(dlg.listed, timeout=10000):
        dlg.show()
    assert dlg.list.currentRow() == 0 and dlg.tracker_row.isVisible()
    assert [dlg.frequency.itemText(i) for i in range(dlg.frequency.count())][-2:] == ["600 Hz", "1200 Hz"]
    assert dlg.frequency.currentText() == "1200 Hz" and dlg.mode.currentText() == "human"
    dlg.frequency.setCurrentIndex(dlg.frequency.findData(600.0))
    dlg.mode.setCurrentIndex(dlg.mode.findData("monkey"))
    dlg.use_btn.click()
    assert (dlg.choice.frequency, dlg.choice.tracking_mode) == (600.0, "monkey")
    src = make_source(dlg.choice, titta=fake_titta)
    src.connect()
    assert (src.info.frequency, src.info.tracking_mode) == (600.0, "monkey")
