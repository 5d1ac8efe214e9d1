"""What a reader and a safety officer rely on: keys do what the menus do, signing is confirmed and
final, a failed open stores nothing, opened files join the worklist, the window follows the image."""

from __future__ import annotations

import numpy as np
import pytest
from PySide6 import QtCore, QtWidgets

from tests.app.conftest import chest_like
from tests.app.test_thin_path import make_window

Key, Mod = QtCore.Qt.Key, QtCore.Qt.KeyboardModifier


def versions(win, uid=None):
    return win.store.run_sync(lambda store: store.report_versions(uid or win.current.id))


def press(qtbot, win, key, modifier=Mod.NoModifier) -> None:
    """A key press as the reader makes it: to the focused widget of the active window."""
    win.activateWindow()
    qtbot.waitUntil(lambda: QtWidgets.QApplication.activeWindow() is win, timeout=3000)
    qtbot.keyClick(win.view.graphics, key, modifier)


@pytest.fixture
def drafted(qtbot, fake_backend, png_path):
    win = make_window(qtbot, fake_backend)
    with qtbot.waitSignal(win.drafting.draft_ready, timeout=15000):
        win.open_paths([str(png_path)])
    qtbot.waitUntil(lambda: bool(win.reading.labels), timeout=10000)
    return win


def test_no_two_commands_share_a_key(qtbot, fake_backend):
    win = make_window(qtbot, fake_backend, auto_draft=False)
    keys = [k.toString() for a in win.actions() for k in a.shortcuts()]
    assert len(keys) == len(set(keys)), sorted(k for k in keys if keys.count(k) > 1)


def test_each_shortcut_triggers_its_menu_items_action(qtbot, fake_backend):
    win = make_window(qtbot, fake_backend, auto_draft=False)
    menu_actions = {a for m in win.menuBar().findChildren(QtWidgets.QMenu) for a in m.actions()}
    for action, key, mod in (
        (win.act_save, Key.Key_S, Mod.ControlModifier),
        (win.act_sign, Key.Key_S, Mod.ControlModifier | Mod.ShiftModifier),
        (win.act_generate, Key.Key_G, Mod.NoModifier),
        (win.act_invert, Key.Key_I, Mod.NoModifier),
        (win.act_next, Key.Key_PageDown, Mod.NoModifier),
    ):
        assert action in menu_actions
        action.setEnabled(True)
        with qtbot.waitSignal(action.triggered, timeout=2000):
            press(qtbot, win, key, mod)


def test_ctrl_s_saves_the_edited_report(drafted, qtbot):
    win = drafted
    win.say("Database: an old error")
    win.report.editor.impression.setPlainText("Cardiomegaly. Small right effusion.")
    assert win.reading.dirty
    with qtbot.waitSignal(win.review.report_saved, timeout=5000) as blocker:
        press(qtbot, win, Key.Key_S, Mod.ControlModifier)
    assert blocker.args[0].origin == "human"
    assert [v.origin for v in versions(win)] == ["model", "human"]
    assert "Small right effusion" in versions(win)[-1].text
    assert "old error" not in win.status_msg.text()  # a stale error does not outlive the next success


def test_signing_asks_first_names_the_reader_and_cancel_signs_nothing(drafted, qtbot, monkeypatch, confirmations):
    win = drafted
    win.settings.user_name = "Dr Ada Reader"
    monkeypatch.setattr(
        QtWidgets.QMessageBox,
        "question",
        lambda parent, title, text, *a, **k: (confirmations.append(text), QtWidgets.QMessageBox.StandardButton.Cancel)[1],
    )
    press(qtbot, win, Key.Key_S, Mod.ControlModifier | Mod.ShiftModifier)
    assert confirmations and "Dr Ada Reader" in confirmations[-1] and win.current.id in confirmations[-1]
    qtbot.wait(200)
    assert [v.origin for v in versions(win)] == ["model"] and not win.reading.signed
    monkeypatch.setattr(
        QtWidgets.QMessageBox, "question", lambda *a, **k: QtWidgets.QMessageBox.StandardButton.Yes
    )
    with qtbot.waitSignal(win.review.report_saved, timeout=5000):
        press(qtbot, win, Key.Key_S, Mod.ControlModifier | Mod.ShiftModifier)
    assert versions(win)[-1].origin == "signed" and versions(win)[-1].author == "Dr Ada Reader"


def test_a_signed_report_cannot_be_redrafted_saved_or_edited(drafted, qtbot, fake_backend):
    win = drafted
    with qtbot.waitSignal(win.review.report_saved, timeout=5000):
        win.review.sign()
    assert not win.act_generate.isEnabled() and not win.act_save.isEnabled() and not win.act_sign.isEnabled()
    assert not win.report.save_btn.isEnabled() and not win.report.generate_btn.isEnabled()
    assert win.report.editor.findings.isReadOnly() and win.report.editor.impression.isReadOnly()
    assert win.act_amend.isEnabled() and win.report.amend_btn.isVisibleTo(win.report)
    n_requests = len(fake_backend.requests)
    for key, mod in ((Key.Key_G, Mod.NoModifier), (Key.Key_S, Mod.ControlModifier)):
        press(qtbot, win, key, mod)
    win.drafting.generate()  # also refused when called directly
    win.review.save()
    qtbot.wait(300)
    assert len(fake_backend.requests) == n_requests
    assert [v.origin for v in versions(win)] == ["model", "signed"]
    assert "signed" in win.worklist.list.item(0).text()


def test_nothing_is_saved_or_signed_for_a_study_whose_image_did_not_load(qtbot, fake_backend, png_path, tmp_path):
    bad = tmp_path / "notes.dcm"
    bad.write_text("this is not a radiograph")
    win = make_window(qtbot, fake_backend, auto_draft=False)
    with qtbot.waitSignal(win.studies_ctl.study_loaded, timeout=10000):
        win.open_paths([str(png_path)])
    with qtbot.waitSignal(win.studies_ctl.study_failed, timeout=10000):
        win.open_paths([str(bad)])
    assert win.current.id == "notes"
    assert "case1" not in win.report.title.text() and "case1" not in win.windowTitle()
    assert "not loaded" in win.report.title.text()
    assert win.view.image is None
    assert not (win.act_save.isEnabled() or win.act_sign.isEnabled() or win.act_generate.isEnabled())
    assert win.report.editor.findings.isReadOnly()
    press(qtbot, win, Key.Key_S, Mod.ControlModifier)
    win.review.save()
    win.review.sign()
    qtbot.wait(300)
    assert versions(win, "notes") == []
    assert "did not load" in win.report.state.text()


def test_opened_files_are_added_to_the_worklist_not_replacing_it(qtbot, fake_backend, png_path, dicom_path):
    win = make_window(qtbot, fake_backend, auto_draft=False)
    with qtbot.waitSignal(win.studies_ctl.study_loaded, timeout=10000):
        win.open_paths([str(png_path)])
    with qtbot.waitSignal(win.studies_ctl.study_loaded, timeout=10000):
        win.open_paths([str(dicom_path)])
    assert [s.id for s in win.studies] == ["case1", "case2"] and win.worklist.list.count() == 2
    assert win.current.id == "case2" and win.worklist.list.currentRow() == 1
    with qtbot.waitSignal(win.studies_ctl.study_loaded, timeout=10000):
        win.open_paths([str(png_path)])  # opening it again selects it, without a second row
    assert win.worklist.list.count() == 2 and win.current.id == "case1"


def test_the_preset_box_names_the_window_on_screen(qtbot, fake_backend, dicom_path):
    win = make_window(qtbot, fake_backend, auto_draft=False)
    with qtbot.waitSignal(win.studies_ctl.study_loaded, timeout=10000):
        win.open_paths([str(dicom_path)])
    box = win.preset_box
    assert box.currentText().startswith("DICOM")
    win.act_auto.trigger()
    assert box.currentText().startswith("Auto")
    win.act_reset.trigger()
    assert box.currentText().startswith("DICOM")
    win.view._on_window_drag(40.0, 10.0)  # a right-drag: a manual window has no preset name
    assert box.currentText() == ""


def _cr(tmp_path, name, photometric="MONOCHROME2", window=None):
    from ml.imaging import write_dx

    px = np.zeros((256, 256), np.uint16)
    px[40:216, 48:208] = chest_like(176, 160, seed=2) // 8 + 1000  # the collimated field
    p = tmp_path / name
    write_dx(px, p, spacing_mm=(0.5, 0.5), photometric=photometric, window=window)
    return p


def test_a_cr_window_over_the_whole_detector_gives_way_to_the_fields_auto_window(qtbot, fake_backend, tmp_path):
    from ml.types import Window

    path = _cr(tmp_path, "cr.dcm", window=Window(32768.0, 65536.0, "FULL"))
    win = make_window(qtbot, fake_backend, auto_draft=False)
    with qtbot.waitSignal(win.studies_ctl.study_loaded, timeout=10000):
        win.open_paths([str(path)])
    w = win.view.window
    assert w.width < 1000 and 1000 <= w.center <= 1600  # inside the field's values, not the plate's 0
    assert win.preset_box.currentText().startswith("Auto")


def test_the_inverted_label_says_what_is_on_screen(qtbot, fake_backend, tmp_path):
    path = _cr(tmp_path, "m1.dcm", photometric="MONOCHROME1")
    win = make_window(qtbot, fake_backend, auto_draft=False)
    with qtbot.waitSignal(win.studies_ctl.study_loaded, timeout=10000):
        win.open_paths([str(path)])
    corner = win.view._corner["bl"]
    assert win.view.image.invert and "inverted" not in corner.text()  # MONOCHROME1 shown as meant
    win.act_invert.trigger()
    assert "inverted" in corner.text()
    win.act_reset.trigger()
    assert "inverted" not in corner.text()


def test_the_reader_names_themselves_before_the_first_signature(drafted, qtbot, monkeypatch):
    from app.dialogs import ReaderDialog
    from app.settings import WorkstationSettings

    win = drafted
    win.settings_ctl.apply(WorkstationSettings(**{**win.settings.__dict__, "user_name": "root", "reader_confirmed": False}))
    assert "asked at signing" in win.report.signer.text()
    monkeypatch.setattr(ReaderDialog, "exec", lambda self: QtWidgets.QDialog.DialogCode.Rejected)
    win.review.sign()
    qtbot.wait(200)
    assert [v.origin for v in versions(win)] == ["model"]

    def named(self):
        self.name.setText("Dr Grace Reader")
        self.ident.setText("R-042")
        return QtWidgets.QDialog.DialogCode.Accepted

    monkeypatch.setattr(ReaderDialog, "exec", named)
    with qtbot.waitSignal(win.review.report_saved, timeout=5000):
        win.review.sign()
    assert versions(win)[-1].author == "Dr Grace Reader"
    assert win.report.signer.text() == "Signs as: Dr Grace Reader (R-042)"
    qtbot.waitUntil(lambda: WorkstationSettings.load().reader_confirmed, timeout=5000)
    assert WorkstationSettings.load().user_name == "Dr Grace Reader"


def test_the_overlay_choice_persists_and_starts_calm(qtbot, fake_backend):
    from app.settings import WorkstationSettings

    win = make_window(qtbot, fake_backend, auto_draft=False)
    assert not win.overlays.layers["recorded"].isVisible() and win.overlays.layers["predicted"].isVisible()
    win.overlays.toggle("heatmap")
    qtbot.waitUntil(lambda: WorkstationSettings.load().layers.get("heatmap") is True, timeout=5000)
    from app.main_window import MainWindow

    reopened = MainWindow(WorkstationSettings.load(), backend=win.backend, auto_draft=False)  # a restart
    qtbot.addWidget(reopened)
    assert reopened.overlays.layers["heatmap"].isVisible() and reopened.overlays.checks["heatmap"].isChecked()


def test_a_signed_report_is_corrected_only_by_a_signed_addendum_whose_sr_names_it(drafted, qtbot, tmp_path):
    from app.report.sr import read_back

    win = drafted
    with qtbot.waitSignal(win.review.report_saved, timeout=5000):
        win.review.sign()
    signed = versions(win)[-1]
    with qtbot.waitSignal(win.exports.exported, timeout=20000):
        win.exports.export("sr", str(tmp_path / "signed.dcm"))
    press(qtbot, win, Key.Key_A, Mod.ControlModifier | Mod.ShiftModifier)  # write an addendum
    assert win.reading.amending and not win.report.editor.impression.isReadOnly()
    assert win.report.sign_btn.text() == "Sign addendum" and not win.act_save.isEnabled()
    assert not win.act_generate.isEnabled()
    win.report.editor.impression.setPlainText("Cardiomegaly. Addendum: small right effusion confirmed.")
    with qtbot.waitSignal(win.review.report_saved, timeout=5000) as blocker:
        press(qtbot, win, Key.Key_S, Mod.ControlModifier | Mod.ShiftModifier)
    addendum = blocker.args[0]
    assert addendum.origin == "addendum" and addendum.amends == signed.id and addendum.author == "Dr Test"
    assert win.reading.signed and not win.reading.amending and win.report.editor.impression.isReadOnly()
    assert [v.origin for v in versions(win)] == ["model", "signed", "addendum"]
    qtbot.waitUntil(lambda: "amended" in win.worklist.list.item(0).text(), timeout=5000)
    with qtbot.waitSignal(win.exports.exported, timeout=20000):
        win.exports.export("sr", str(tmp_path / "addendum.dcm"))
    first, second = read_back(tmp_path / "signed.dcm"), read_back(tmp_path / "addendum.dcm")
    assert second["predecessors"] == [first["sop_instance_uid"]] and second["study_uid"] == first["study_uid"]
    assert second["verification"] == "VERIFIED" and "effusion confirmed" in second["texts"]["Impression"]


def _ai_context_on_screen(win):
    layers = win.overlays.layers
    return (
        layers["predicted"].has_data,
        layers["attention"].has_data,
        "lung lesion (left upper) 55%" in win.report.suspected.text(),
        "fake-bundle" in win.report.badge.text(),
        win.report.domain_banner.isVisibleTo(win.report),
    )


def test_reopening_a_study_restores_its_ai_context_also_after_a_restart(qtbot, fake_backend, png_path, dicom_path):
    from app.main_window import MainWindow

    fake_backend.domain = {"in_domain": False, "score": 3.4, "threshold": 2.0, "method": "mahalanobis"}
    win = make_window(qtbot, fake_backend)
    with qtbot.waitSignal(win.drafting.draft_ready, timeout=15000):
        win.open_paths([str(png_path)])
    drafted = _ai_context_on_screen(win)
    assert drafted == (True, True, True, True, True)
    win.auto_draft = False
    with qtbot.waitSignal(win.studies_ctl.study_loaded, timeout=10000):
        win.open_paths([str(dicom_path)])
    assert _ai_context_on_screen(win)[:2] == (False, False)
    n_requests = len(fake_backend.requests)
    with qtbot.waitSignal(win.studies_ctl.study_loaded, timeout=10000):
        press(qtbot, win, Key.Key_PageUp)
    assert win.current.id == "case1" and _ai_context_on_screen(win) == drafted
    assert win.reading.draft.domain.score == 3.4 and win.reading.draft.model["name"] == "fake-bundle"
    stored = versions(win)[0].ai_context
    assert stored["decoding"] == {"max_new_tokens": 160, "num_beams": 1, "redraft": 7}  # the backend's default
    with qtbot.waitSignal(win.studies_ctl.study_loaded, timeout=10000):
        win.worklist.study_activated.emit(1)
    with qtbot.waitSignal(win.studies_ctl.study_loaded, timeout=10000):
        win.worklist.study_activated.emit(0)  # chosen again in the worklist
    assert _ai_context_on_screen(win) == drafted
    assert len(fake_backend.requests) == n_requests  # restored from the database, not redrafted
    win.close()
    restarted = MainWindow(win.settings, backend=win.backend, auto_draft=False)
    qtbot.addWidget(restarted)
    restarted.show()
    with qtbot.waitSignal(restarted.studies_ctl.study_loaded, timeout=10000):
        restarted.open_paths([str(png_path)])
    assert _ai_context_on_screen(restarted) == drafted


def test_an_unsigned_addendum_is_not_dropped_by_moving_on_unless_the_reader_says_so(
    qtbot, fake_backend, png_path, dicom_path, monkeypatch, confirmations
):
    win = make_window(qtbot, fake_backend)
    with qtbot.waitSignal(win.drafting.draft_ready, timeout=15000):
        win.open_paths([str(png_path)])
    win.auto_draft = False
    with qtbot.waitSignal(win.review.report_saved, timeout=5000):
        win.review.sign()
    win.review.amend()
    win.report.editor.impression.setPlainText("Cardiomegaly. Addendum in progress.")
    monkeypatch.setattr(
        QtWidgets.QMessageBox, "question", lambda *a, **k: QtWidgets.QMessageBox.StandardButton.Cancel
    )
    win.open_paths([str(dicom_path)])
    qtbot.waitUntil(lambda: len(win.studies) == 2, timeout=5000)
    qtbot.wait(300)
    assert win.current.id == "case1" and win.reading.amending and win.worklist.list.currentRow() == 0
    monkeypatch.setattr(
        QtWidgets.QMessageBox, "question", lambda *a, **k: QtWidgets.QMessageBox.StandardButton.Yes
    )
    with qtbot.waitSignal(win.studies_ctl.study_loaded, timeout=10000):
        win.step_study(1)
    assert win.current.id == "case2"
