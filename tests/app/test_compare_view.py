"""The compare view: real vs predicted with the metrics table, for the case and for the set."""

from __future__ import annotations

import math

from ml.types import Scanpath, ScanpathSource
from tests.app.test_thin_path import make_window


def test_compare_case_and_set(qtbot, fake_backend, png_path):
    win = make_window(qtbot, fake_backend)
    with qtbot.waitSignal(win.drafting.draft_ready, timeout=15000):
        win.open_paths([str(png_path)])
    real = Scanpath.from_array(
        [[70, 100, 0.3], [110, 110, 0.25], [150, 120, 0.3], [180, 150, 0.2]],
        (256, 256),
        ScanpathSource.RECORDED,
    )
    win.current.scanpaths.append(real)
    dlg = win.show_compare()
    qtbot.addWidget(dlg)
    with qtbot.waitSignal(dlg.computed, timeout=30000) as blocker:
        pass
    m = blocker.args[0]
    assert 0.0 <= m["multimatch"]["position"] <= 1.0 and math.isfinite(m["dtw"])
    assert dlg.table.item(3, 1).text() != "–"  # MultiMatch position shown
    assert len(dlg.pred_layer.scatter.points()) == 5 and len(dlg.real_layer.scatter.points()) == 4
    dlg.overlay_box.setChecked(True)
    assert dlg.pred_on_left.isVisible() and not dlg.right_box.isVisible()
    with qtbot.waitSignal(dlg.set_computed, timeout=30000) as sblock:
        dlg.compute_set()
    assert sblock.args[0]["n"] == 1
    assert any(r["path"] == "/v1/scanpaths" for r in fake_backend.requests)
