"""Annotation tools: draw each shape, edit label/certainty, move, delete, undo/redo, persistence,
sentence links, REFLACX ellipse CSV and TID 1500 SR export."""

from __future__ import annotations

import pytest

from app.annotation.tools import finding_from_roi
from ml.types import Finding
from tests.app.test_thin_path import make_window


@pytest.fixture
def win(qtbot, fake_backend, png_path):
    w = make_window(qtbot, fake_backend, auto_draft=False)
    with qtbot.waitSignal(w.studies_ctl.study_loaded, timeout=10000):
        w.open_paths([str(png_path)])
    return w


def stored(w):
    return w.store.run_sync(lambda s: s.annotations(w.current.id))


def test_shapes_edit_undo_redo_and_persistence(win, qtbot):
    ctl, panel = win.annotations, win.annotation_panel
    panel.label.setCurrentText("Cardiomegaly")
    ctl.add(Finding("Cardiomegaly", 80, 120, 180, 200, "ellipse", 5))
    ctl.add(Finding("Pneumothorax", 10, 10, 60, 40, "box", 3))
    ctl.set_tool("polygon")
    for x, y in ((150, 30), (200, 40), (180, 90)):
        ctl.add_polygon_vertex(x, y)
    ctl.finish_polygon()
    ctl.set_tool("point")
    ctl.add(Finding("Lung Lesion", 120, 60, 120, 60, "point", 2))
    assert [a.finding.shape for a in ctl.items] == ["ellipse", "box", "polygon", "point"]
    assert panel.list.count() == 4
    qtbot.waitUntil(lambda: len(stored(win)) == 4, timeout=5000)

    # edit certainty of the selected (last) one through the panel, then undo it
    ctl.select(ctl.items[1])
    panel.certainty.setCurrentIndex(0)
    assert ctl.items[1].finding.certainty == 1
    ctl.undo.undo()
    assert ctl.items[1].finding.certainty == 3

    # move the ellipse by dragging its ROI programmatically
    roi = ctl.items[0].roi
    roi.setPos((90, 125), finish=True)
    assert ctl.items[0].finding.x0 == pytest.approx(90) and ctl.items[0].finding.x1 == pytest.approx(190)
    assert finding_from_roi(roi, ctl.items[0].finding) == ctl.items[0].finding

    # delete, undo, redo
    ctl.delete(ctl.items[3])
    assert len(ctl.items) == 3
    ctl.undo.undo()
    assert len(ctl.items) == 4
    ctl.undo.redo()
    assert len(ctl.items) == 3
    qtbot.waitUntil(lambda: len(stored(win)) == 3, timeout=5000)
    rows = stored(win)
    assert rows[0].finding.x0 == pytest.approx(90)
    assert {r.finding.shape for r in rows} == {"ellipse", "box", "polygon"}


def test_annotation_sentence_link_both_ways(win, qtbot):
    win.report.editor.set_text("FINDINGS: Enlarged heart. Small right effusion. IMPRESSION: Cardiomegaly.")
    ann = win.annotations.add(Finding("Cardiomegaly", 80, 120, 180, 200))
    win.annotation_panel.sentence = "Enlarged heart."
    win.annotation_panel.link_current()
    assert ann.sentence == "Enlarged heart."
    win.annotations.select(None)
    cur = win.report.editor.findings.textCursor()
    cur.setPosition(3)
    win.report.editor.findings.setTextCursor(cur)  # caret into the sentence selects its annotation
    assert win.annotations.current is ann
    assert win.report.editor.findings.extraSelections()  # and the sentence is highlighted
    qtbot.waitUntil(lambda: any(r.sentence == "Enlarged heart." for r in stored(win)), timeout=5000)


def test_reopen_loads_annotations(win, qtbot):
    win.annotations.add(Finding("Edema", 20, 20, 90, 90, "box", 4))
    qtbot.waitUntil(lambda: len(stored(win)) == 1, timeout=5000)
    with qtbot.waitSignal(win.studies_ctl.study_loaded, timeout=5000):
        win.open_study(win.studies[0])
    qtbot.waitUntil(lambda: len(win.annotations.items) == 1, timeout=5000)
    assert win.annotations.items[0].finding.label == "Edema"


def test_export_reflacx_ellipses_and_tid1500(win, qtbot, tmp_path):
    from app.report.sr import read_back
    from ml.datasets.reflacx import read_ellipses

    win.annotations.add(Finding("Cardiomegaly", 80, 120, 180, 200, "ellipse", 5))
    win.annotations.add(Finding("Pneumothorax", 10, 10, 60, 40, "box", 3))
    with qtbot.waitSignal(win.exports.exported, timeout=10000) as b1:
        win.exports.export("ellipses", str(tmp_path / "anomaly_location_ellipses.csv"))
    assert b1.args[0] == "ellipses"
    back = read_ellipses(tmp_path / "anomaly_location_ellipses.csv")
    assert [(f.label, f.certainty) for f in back] == [("Cardiomegaly", 5), ("Pneumothorax", 3)]
    with qtbot.waitSignal(win.exports.exported, timeout=20000) as b2:
        win.exports.export("sr-annotations", str(tmp_path / "ann.dcm"))
    assert b2.args[0] == "sr-annotations", b2.args
    sr = read_back(tmp_path / "ann.dcm")
    assert sr["graphic_types"] == ["ELLIPSE", "POLYLINE"] and sr["labels"] == ["Cardiomegaly", "Pneumothorax"]


def test_the_active_tool_is_highlighted_and_a_region_shows_its_size_in_mm(qtbot, fake_backend, dicom_path):
    from app import theme

    w = make_window(qtbot, fake_backend, auto_draft=False)
    with qtbot.waitSignal(w.studies_ctl.study_loaded, timeout=10000):
        w.open_paths([str(dicom_path)])  # 0.5 mm pixels
    panel = w.annotation_panel
    panel.set_tool("ellipse")
    assert panel.tool_buttons["ellipse"].isChecked() and not panel.tool_buttons["pointer"].isChecked()
    assert panel.tool_buttons["ellipse"].objectName() == "toolButton"
    assert "QToolButton#toolButton:checked" in theme.STYLE
    w.annotations.add(Finding("Lung Lesion", 100, 100, 140, 120, "ellipse", 4))
    assert "20 × 10 mm" in panel.list.item(0).text()


def test_the_label_box_opens_on_a_click_and_leaves_undo_to_the_annotations(win, qtbot):
    from PySide6 import QtCore

    ctl, panel = win.annotations, win.annotation_panel
    ctl.add(Finding("Cardiomegaly", 80, 120, 180, 200, "ellipse", 5))
    edit = panel.label.lineEdit()
    win.activateWindow()
    qtbot.mouseClick(edit, QtCore.Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: panel.label.view().isVisible(), timeout=2000)
    panel.label.hidePopup()
    edit.setFocus()
    qtbot.waitUntil(edit.hasFocus, timeout=2000)
    qtbot.keyClick(edit, QtCore.Qt.Key.Key_Z, QtCore.Qt.KeyboardModifier.ControlModifier)
    assert ctl.items == []  # Ctrl+Z undid the drawing, not the label box's typing
