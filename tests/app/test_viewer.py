"""Viewer: window/level, invert, rotate/flip mapping, viewport events, overlays and their keys."""

from __future__ import annotations

import numpy as np
import pytest
from PySide6 import QtCore

from app.viewer.image_view import ImageView, prepare_display
from app.viewer.layers_panel import LayersPanel
from app.viewer.overlays import density_map
from ml.types import Finding, Image, Scanpath, ScanpathSource, Window
from tests.app.conftest import chest_like


@pytest.fixture
def view(qtbot):
    v = ImageView()
    qtbot.addWidget(v)
    v.resize(600, 500)
    v.show()
    img = Image(chest_like(300, 400), spacing=(0.5, 0.5), windows=[Window(2000, 3000, "STD")], bits_stored=12)
    v.set_image(img, prepare_display(img), "s1")
    qtbot.waitExposed(v)
    return v


def test_prepare_display_keeps_uint16_and_offsets_signed():
    signed = Image(np.array([[-1000, 0], [500, 3000]], dtype=np.int16))
    d = prepare_display(signed)
    assert d.array.dtype == np.uint16 and d.offset == -1000
    assert d.array[0, 0] == 0 and d.array[1, 1] == 4000
    same = Image(chest_like(8, 8))
    assert prepare_display(same).array is same.pixels or prepare_display(same).array.base is same.pixels


def test_window_levels_go_to_the_image_item(view):
    view.set_window(Window(1000, 500))
    lo, hi = view.image_item.getLevels()
    assert (lo, hi) == pytest.approx((750, 1250))
    view.set_invert(True)
    lut = view.image_item.lut
    assert lut[0] == 255 and lut[-1] == 0


def test_right_drag_changes_level_and_width(view):
    w0 = view.window
    view._on_window_drag(40, 0)
    assert view.window.center > w0.center and view.window.width == pytest.approx(w0.width)
    view._on_window_drag(0, -40)
    assert view.window.width < w0.width


def test_presets_include_dicom_and_percentiles(view):
    names = list(view.presets())
    assert names[0] == "DICOM: STD"
    assert any(n.startswith("Lung") for n in names)
    view.apply_preset("Lung (dark half)")
    assert view.window.name == "Lung (dark half)"
    view.reset()
    assert view.window.center == 2000


@pytest.mark.parametrize(
    "rot,fh,fv", [(0, False, False), (90, False, False), (180, True, False), (270, False, True)]
)
def test_viewport_mapping_round_trips_under_rotation_and_flip(view, rot, fh, fv):
    view.rotation, view.flip_h, view.flip_v = rot, fh, fv
    view._apply_transform()
    view.fit()
    st = view.viewport_state()
    for x, y in [(0, 0), (400, 0), (123.5, 250)]:
        sx, sy = st.to_screen(x, y)
        assert st.to_image(sx, sy) == pytest.approx((x, y), abs=1e-6)
    # the image centre lands at the view centre after fit, whatever the orientation
    cx, cy = st.to_screen(200, 150)
    origin = view.graphics.viewport().mapToGlobal(QtCore.QPoint(0, 0))
    vw, vh = view.graphics.viewport().width(), view.graphics.viewport().height()
    assert cx == pytest.approx(origin.x() + vw / 2, abs=2) and cy == pytest.approx(origin.y() + vh / 2, abs=2)


def test_zoom_and_rotate_emit_viewport_events(view, qtbot):
    events = []
    view.viewport_changed.connect(events.append)
    z0 = view.zoom()
    view.zoom_by(2.0)
    qtbot.waitUntil(lambda: events and events[-1].zoom > z0 * 1.5, timeout=2000)
    view.rotate(90)
    assert events[-1].rotation == 90
    view.set_window(Window(100, 50))
    assert events[-1].kind == "window" and events[-1].window_width == 50


def test_scale_bar_picks_round_millimetres(view):
    assert view.scale_bar is not None
    text = view.scale_bar.text.toPlainText()
    assert text.endswith("mm") or text.endswith("cm")


def test_pixel_readout(view):
    assert view.pixel_value(10.2, 20.7) == float(view.image.pixels[20, 10])
    assert view.pixel_value(-1, 5) is None


def test_overlays_toggle_and_timeline(view, qtbot):
    ov = LayersPanel(view, {"recorded": True})
    qtbot.addWidget(ov)
    sp = Scanpath.from_array(
        [[50, 60, 0.3], [200, 100, 0.2], [300, 250, 0.5]], (400, 300), ScanpathSource.RECORDED
    )
    ov.set_recorded([sp])
    ov.set_findings([Finding("Cardiomegaly", 100, 100, 250, 220)])
    ov.set_attention(sp, [0.2, 0.5, 0.3])
    rec = ov.layers["recorded"]
    assert len(rec.scatter.points()) == 3
    ov.timeline.setValue(400)  # 0.4 s of 1.0 s: two fixations started
    assert len(rec.scatter.points()) == 2
    assert [lab.isVisible() for lab in rec.labels] == [True, True, False]
    assert not ov.layers["attention"].isVisible()
    ov.toggle("attention")
    assert ov.layers["attention"].isVisible() and "GNN attention" in view._corner["tr"].text()
    ov.set_opacity("attention", 0.3)
    assert ov.layers["attention"].opacity() == pytest.approx(0.3)
    assert ov.layers["attention"].top_nodes(1) == [1]


def test_density_map_peaks_where_the_fixations_are():
    d = density_map(np.array([[300.0, 100.0]]), None, (400, 200))
    r, c = np.unravel_index(np.argmax(d), d.shape)
    assert c / d.shape[1] == pytest.approx(0.75, abs=0.02) and r / d.shape[0] == pytest.approx(0.5, abs=0.03)
    assert d.sum() == pytest.approx(1.0)


def test_sample_predicted_scanpaths_and_folder_discovery(qtbot, fake_backend, png_path, dicom_path, tmp_path):
    from app.worklist.discover import discover
    from tests.app.test_thin_path import make_window

    studies = discover([tmp_path])  # a folder with a PNG and a DICOM (and nothing dataset-shaped)
    assert sorted(s.id for s in studies) == ["case1", "case2"]
    win = make_window(qtbot, fake_backend, auto_draft=False)
    with qtbot.waitSignal(win.studies_ctl.study_loaded, timeout=10000):
        win.open_paths([str(png_path)])
    with qtbot.waitSignal(win.drafting.predictions_ready, timeout=10000) as blocker:
        win.overlays.sample_btn.click()
    paths = blocker.args[0]
    assert len(paths) == 3 and all(len(p) == 5 for p in paths)
    layer = win.overlays.layers["predicted"]
    assert layer.scanpath is paths[0] and layer.extra.xData is not None


def test_pyramid_levels_follow_the_zoom(qtbot):
    from app.viewer.image_view import build_pyramid

    arr = np.arange(16, dtype=np.uint16).reshape(4, 4)
    pyr = build_pyramid(arr, min_side=1)
    assert [p.shape for p in pyr] == [(4, 4), (2, 2), (1, 1)]
    assert pyr[1][0, 0] == int(np.mean([0, 1, 4, 5])) and pyr[1].dtype == np.uint16

    v = ImageView()
    qtbot.addWidget(v)
    v.resize(400, 400)
    v.show()
    img = Image(chest_like(2048, 2048))
    v.set_image(img, prepare_display(img), "big")
    qtbot.waitExposed(v)
    qtbot.waitUntil(lambda: v.zoom() < 0.5, timeout=3000)  # the fit has been applied
    assert v._level >= 2, (
        v.zoom(),
        len(v.display.pyramid),
    )  # fitted: about 0.2 screen px per image px -> a 1/4 (or smaller) level
    assert v.image_item.image.shape[0] < 2048
    r = v.image_item.mapRectToParent(v.image_item.boundingRect())
    assert (r.width(), r.height()) == (2048, 2048)  # still drawn on the full image rectangle
    v.zoom_by(8.0)
    qtbot.waitUntil(lambda: v._level == 0 or v.zoom() * 2**v._level <= 1.0, timeout=2000)
    v.zoom_by(8.0)
    qtbot.waitUntil(lambda: v._level == 0, timeout=2000)
    assert v.image_item.image.shape == (2048, 2048)


def test_wheel_notches_zoom_in_fine_steps(view, qtbot):
    from PySide6 import QtGui

    vp = view.graphics.viewport()
    centre = QtCore.QPointF(vp.width() / 2, vp.height() / 2)
    start = view.zoom()
    for _ in range(5):
        ev = QtGui.QWheelEvent(
            centre, vp.mapToGlobal(centre), QtCore.QPoint(0, 0), QtCore.QPoint(0, 120),
            QtCore.Qt.MouseButton.NoButton, QtCore.Qt.KeyboardModifier.NoModifier,
            QtCore.Qt.ScrollPhase.NoScrollPhase, False,
        )
        QtCore.QCoreApplication.sendEvent(vp, ev)
    ratio = view.zoom() / start
    assert 1.3 < ratio < 2.0  # five notches: about +10 % each, not 74 % → 326 %


def test_the_pixel_readout_does_not_overlap_the_scale_bar(view, qtbot):
    view._last_hover = (10.0, 10.0)
    view._update_corners()
    bar = view.scale_bar.mapRectToScene(view.scale_bar.boundingRect())
    bar_px = view.graphics.mapFromScene(bar).boundingRect()
    readout = view._corner["br"].geometry()
    assert view._corner["br"].text() and not bar_px.intersects(readout)
    assert not bar_px.intersects(view._corner["bl"].geometry())
