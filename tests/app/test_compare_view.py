"""The compare view: any two readings of the study side by side or overlaid, with the metrics table."""

from __future__ import annotations

import math

import numpy as np

from app.compare.readings import Reading, ReadingKind, default_pair, session_label
from ml.types import Scanpath, ScanpathSource
from tests.app.test_thin_path import make_window

DATASET = Scanpath.from_array(
    [[70, 100, 0.3], [110, 110, 0.25], [150, 120, 0.3], [180, 150, 0.2]],
    (256, 256),
    ScanpathSource.RECORDED,
    "reflacx-reader-2",
)


def record_session(win, reader: str, rows) -> int:
    """A completed gaze session of the open study in the window's database, with its fixations."""
    sp = Scanpath.from_array(np.array(rows, dtype=np.float64), (256, 256), ScanpathSource.RECORDED)
    uid = win.current.id

    def write(store):
        sid = store.create_session(uid, reader, source="mouse")
        store.save_fixations(sid, sp.fixations)
        store.finish_session(sid)
        return sid

    return win.store.run_sync(write)


def open_case(qtbot, fake_backend, png_path):
    win = make_window(qtbot, fake_backend)
    with qtbot.waitSignal(win.drafting.draft_ready, timeout=15000):
        win.open_paths([str(png_path)])
    return win


def show_compare(qtbot, win):
    """The window's compare view, once it listed the study's readings and compared the default pair."""
    dlg = win.show_compare()
    qtbot.addWidget(dlg)
    with qtbot.waitSignal(dlg.computed, timeout=30000):
        pass
    return dlg


def labels(dlg) -> list[str]:
    return [r.label for r in dlg.readings]


def test_a_recorded_session_is_compared_with_a_dataset_reader(qtbot, fake_backend, png_path):
    win = open_case(qtbot, fake_backend, png_path)
    win.current.scanpaths.append(DATASET)
    sid = record_session(win, "Dr Session", [[60, 60, 0.2], [120, 90, 0.3], [200, 140, 0.25], [90, 200, 0.3]])
    dlg = show_compare(qtbot, win)
    names = labels(dlg)
    session = next(n for n in names if n.startswith("Dr Session · "))
    assert session.endswith(f"(session {sid})")
    assert "reflacx-reader-2 (dataset reader)" in names and "Predicted sample 1" in names
    # the session just recorded is the default real reading, against a prediction
    left, right = dlg.pair()
    assert left.label == session and right.kind is ReadingKind.PREDICTED
    assert dlg.left_pick.count() == dlg.right_pick.count() == len(names)

    with qtbot.waitSignal(dlg.computed, timeout=30000) as blocker:
        dlg.right_pick.setCurrentIndex(names.index("reflacx-reader-2 (dataset reader)"))
    m = blocker.args[0]
    assert 0.0 <= m["multimatch"]["position"] <= 1.0 and math.isfinite(m["dtw"])
    assert m["fixation_count"] == 0.0 and m["fixation_duration"] > 0.0  # both read 4 fixations
    assert dlg.status.text().startswith("Inter-reader agreement: reflacx-reader-2")
    assert "reflacx-reader-2" in dlg.titles[1].text() and "Dr Session" in dlg.titles[0].text()
    assert len(dlg.left_layer.scatter.points()) == 4 and len(dlg.right_layer.scatter.points()) == 4
    assert dlg.table.item(3, 1).text() != "–"  # MultiMatch position shown


def test_two_recorded_sessions_are_compared_side_by_side_and_overlaid(qtbot, fake_backend, png_path):
    win = open_case(qtbot, fake_backend, png_path)
    record_session(win, "Dr A", [[60, 60, 0.2], [120, 90, 0.3], [200, 140, 0.25]])
    record_session(
        win, "Dr B", [[70, 80, 0.4], [130, 100, 0.2], [190, 150, 0.2], [100, 210, 0.3], [40, 40, 0.2]]
    )
    dlg = show_compare(qtbot, win)
    names = labels(dlg)
    a = next(i for i, n in enumerate(names) if n.startswith("Dr A"))
    b = next(i for i, n in enumerate(names) if n.startswith("Dr B"))
    assert b < a  # newest first
    with qtbot.waitSignal(dlg.computed, timeout=30000) as blocker:
        dlg.left_pick.setCurrentIndex(a)
        dlg.right_pick.setCurrentIndex(b)
    assert blocker.args[0]["fixation_count"] == 2.0  # 5 fixations against 3
    assert "Inter-reader agreement" in dlg.status.text()
    assert dlg.left_layer.colour != dlg.right_layer.colour  # two real readings still differ in colour
    dlg.overlay_box.setChecked(True)
    assert dlg.right_on_left.isVisible() and not dlg.right_box.isVisible()
    assert names[a] in dlg.legend.text() and names[b] in dlg.legend.text()
    assert [lab.toPlainText() for lab in dlg.right_on_left.labels] == ["1", "2", "3", "4", "5"]


def test_a_session_recorded_while_the_view_is_open_joins_its_list(qtbot, fake_backend, png_path):
    from app.session.controller import RECORDING

    win = open_case(qtbot, fake_backend, png_path)
    win.resize(1200, 800)
    win.current.scanpaths.append(DATASET)
    dlg = show_compare(qtbot, win)
    predicted = labels(dlg).index("Predicted sample 2")
    with qtbot.waitSignal(dlg.computed, timeout=30000):
        dlg.pick(labels(dlg).index("reflacx-reader-2 (dataset reader)"), predicted)
    dlg.left.zoom_by(1.5)
    zoomed = dlg.left.vb.viewRange()
    ctl = win.session
    ctl.begin("mouse", validate=False)
    qtbot.waitUntil(lambda: ctl.state == RECORDING, timeout=10000)
    for x, y in [(60, 60), (200, 120), (120, 200)]:
        ctl.source.move_to(*win.view.viewport_state().to_screen(x, y))
        qtbot.wait(400)
    with qtbot.waitSignal(dlg.readings_ready, timeout=30000) as listed:
        ctl.stop()
    names = [r.label for r in listed.args[0]]
    assert names[0].startswith("Dr Test · ") and len(dlg.readings[0].scanpath) >= 2  # the new session, first
    left, right = dlg.pair()  # the pair the user chose stays
    assert left.label == "reflacx-reader-2 (dataset reader)" and right.label == "Predicted sample 2"
    assert dlg.left.vb.viewRange() == zoomed  # the reload kept the reader's zoom
    with qtbot.waitSignal(dlg.computed, timeout=30000):
        dlg.swap()
    assert dlg.pair()[0].label == "Predicted sample 2" and "reflacx-reader-2" in dlg.titles[1].text()


def test_the_overlaid_view_has_a_legend_and_numbers_the_predicted_fixations(qtbot, fake_backend, png_path):
    win = open_case(qtbot, fake_backend, png_path)
    win.current.scanpaths.append(DATASET)
    dlg = show_compare(qtbot, win)
    dlg.overlay_box.setChecked(True)
    left, right = dlg.pair()
    assert left.kind is ReadingKind.DATASET and right.kind is ReadingKind.PREDICTED
    assert dlg.legend.isVisible()
    legend = dlg.legend.text()
    assert left.label in legend and right.label in legend and "fixation order" in legend
    assert dlg.left_layer.colour in legend and dlg.right_on_left.colour in legend
    numbers = [lab.toPlainText() for lab in dlg.right_on_left.labels]
    assert numbers == [str(i) for i in range(1, len(right.scanpath) + 1)] and len(numbers) == 5
    assert all(lab.isVisible() for lab in dlg.right_on_left.labels)
    assert left.label in dlg.titles[0].text() and right.label in dlg.titles[0].text()  # one pane names both
    ring = dlg.right_on_left.scatter.points()[0].pen().color().name()
    assert ring == dlg.right_on_left.colour != dlg.left_layer.scatter.points()[0].pen().color().name()
    dlg.overlay_box.setChecked(False)
    assert not dlg.right_on_left.isVisible() and dlg.right_box.isVisible()


def test_the_set_average_includes_the_human_likeness_distances_and_the_readers_level(
    qtbot, fake_backend, png_path
):
    win = open_case(qtbot, fake_backend, png_path)
    second = Scanpath.from_array(
        [[90, 90, 0.3], [140, 120, 0.2], [60, 200, 0.4]], (256, 256), ScanpathSource.RECORDED, "r3"
    )
    win.current.scanpaths += [DATASET, second]
    dlg = show_compare(qtbot, win)
    with qtbot.waitSignal(dlg.set_computed, timeout=30000) as sblock:
        dlg.compute_set()
    avg = sblock.args[0]
    assert avg["n"] == 1 and math.isfinite(avg["multimatch"]["position"])
    assert avg["fixation_count"] == 1.5  # the fake predictor's 5 against the readers' 4 and 3
    readers = avg["readers"]
    assert readers["n"] == 1 and readers["fixation_count"] == 1.0  # 4 against 3, then 3 against 4
    assert 0 < readers["multimatch"]["position"] <= 1 and math.isfinite(readers["cc"])
    rows = [dlg.table.item(r, 0).text() for r in range(dlg.table.rowCount())]
    coverage = rows.index("Coverage W₁ (8×8 cells) ↓")
    assert dlg.table.item(coverage, 2).text() != "–" and dlg.table.item(coverage, 3).text() != "–"
    assert dlg.table.item(rows.index("Fixation count W₁ ↓"), 3).text() == "1.000"
    assert any(r["path"] == "/v1/scanpaths" for r in fake_backend.requests)


def test_the_set_takes_the_recorded_sessions_of_studies_not_open(qtbot, fake_backend, png_path, dicom_path):
    win = make_window(qtbot, fake_backend)
    with qtbot.waitSignal(win.drafting.draft_ready, timeout=15000):
        win.open_paths([str(png_path), str(dicom_path)])
    qtbot.waitUntil(lambda: len(win.studies) == 2, timeout=10000)
    other = next(s for s in win.studies if s is not win.current)
    rows = [[60, 60, 0.2], [120, 90, 0.3], [200, 140, 0.25]]
    sp = Scanpath.from_array(np.array(rows, dtype=np.float64), (256, 256), ScanpathSource.RECORDED)

    def write(store):
        sid = store.create_session(other.id, "Dr Elsewhere", source="mouse")
        store.save_fixations(sid, sp.fixations)
        store.finish_session(sid)

    win.store.run_sync(write)
    dlg = show_compare(qtbot, win)  # the open study has no real gaze: predicted samples only
    with qtbot.waitSignal(dlg.set_computed, timeout=30000) as sblock:
        dlg.compute_set()
    assert sblock.args[0]["n"] == 1 and sblock.args[0]["fixation_count"] == 2.0  # 5 predicted against 3
    assert sblock.args[0]["readers"]["n"] == 0 and "on 0 with two or more" in dlg.status.text()


def test_without_a_backend_the_real_readings_and_the_drafts_path_are_compared(qtbot, fake_backend, png_path):
    win = open_case(qtbot, fake_backend, png_path)
    win.current.scanpaths.append(DATASET)
    record_session(win, "Dr Session", [[60, 60, 0.2], [120, 90, 0.3], [200, 140, 0.25]])
    fake_backend.dead = True
    dlg = show_compare(qtbot, win)
    assert [r.kind for r in dlg.readings] == [ReadingKind.SESSION, ReadingKind.DATASET, ReadingKind.PREDICTED]
    assert dlg.readings[2].label == "Predicted (the draft's)"  # the draft's path needs no backend
    left, right = dlg.pair()
    assert left.kind is ReadingKind.SESSION and right.kind is ReadingKind.PREDICTED
    assert "No predicted scanpaths" in dlg.status.text()
    with qtbot.waitSignal(dlg.computed, timeout=30000):
        dlg.pick(0, 1)
    assert (
        dlg.status.text().startswith("Inter-reader agreement")
        and "No predicted scanpaths" in dlg.status.text()
    )


def test_a_study_without_readings_says_how_to_get_one(qtbot, fake_backend, png_path):
    win = open_case(qtbot, fake_backend, png_path)
    dlg = show_compare(qtbot, win)  # only the predicted samples: one against another
    assert all(r.kind is ReadingKind.PREDICTED for r in dlg.readings) and "Compared" in dlg.status.text()
    dlg.set_readings([])
    assert "record a session" in dlg.status.text() and dlg.pair() is None


def reading(kind: ReadingKind, label: str) -> Reading:
    return Reading(kind, label, DATASET)


def test_the_default_pair_is_the_newest_real_reading_against_a_prediction():
    s, d, p = ReadingKind.SESSION, ReadingKind.DATASET, ReadingKind.PREDICTED
    assert default_pair([reading(s, "new"), reading(s, "old"), reading(d, "ds"), reading(p, "p1")]) == (0, 3)
    assert default_pair([reading(d, "ds1"), reading(d, "ds2")]) == (0, 1)  # no prediction: two readers
    assert default_pair([reading(p, "p1"), reading(p, "p2")]) == (0, 1)
    assert session_label("Dr A", "2026-12-07T23:30:12+00:00", 3) == "Dr A · 2026-12-07 23:30 (session 3)"


def test_a_closed_compare_view_is_freed_with_its_views_and_scanpaths(qtbot, fake_backend, png_path):
    import gc
    import weakref

    from PySide6 import QtCore, QtWidgets

    from tests.app.soak import process

    win = open_case(qtbot, fake_backend, png_path)
    win.current.scanpaths.append(DATASET)
    first = show_compare(qtbot, win)
    gone = [weakref.ref(first), weakref.ref(first.left_layer.scatter), weakref.ref(first.right_on_left)]
    first.close()
    del first
    win.compare_dialog = show_compare(qtbot, win)  # the window now holds the second view only
    process(50)
    QtWidgets.QApplication.sendPostedEvents(None, QtCore.QEvent.Type.DeferredDelete)
    gc.collect()
    assert [ref() is None for ref in gone] == [True, True, True]
