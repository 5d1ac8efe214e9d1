"""Screen geometry (px <-> deg) and the viewport mapping screen -> image through zoom and pan."""

import math

import numpy as np
import pytest

from ml.gaze.geometry import GeometryError, ScreenGeometry, Viewport, screen_to_image
from ml.types import GazeSample


def test_degrees_match_pymovements_and_round_trip():
    from pymovements.transforms.numpy import pix2deg

    g = ScreenGeometry(1920, 1080, 531.4, 298.9, 650.0)
    pts = np.array([[0.0, 0.0], [959.5, 539.5], [1919.0, 1079.0], [300.0, 800.0]])
    xd, yd = g.px_to_deg(pts[:, 0], pts[:, 1])
    ref = pix2deg(
        pts, screen_px=(1920, 1080), screen_cm=(53.14, 29.89), distance_cm=65.0, origin="upper left"
    )
    np.testing.assert_allclose(np.c_[xd, yd], ref, atol=1e-9)
    assert xd[1] == pytest.approx(0.0) and yd[1] == pytest.approx(0.0)
    bx, by = g.deg_to_px(xd, yd)
    np.testing.assert_allclose(np.c_[bx, by], pts, atol=1e-9)


def test_pixels_per_degree_hand_checked():
    # 500 px over 500 mm at 1000 mm: 1 mm/px, distance 1000 px, 1 deg = 1000*tan(1 deg) = 17.455 px.
    g = ScreenGeometry(500, 500, 500.0, 500.0, 1000.0)
    assert g.pixels_per_degree[0] == pytest.approx(1000 * math.tan(math.radians(1)))
    assert ScreenGeometry.from_dict(g.to_dict()) == g
    with pytest.raises(GeometryError):
        ScreenGeometry(0, 10, 1, 1, 1)


def test_fit_zoom_pan_round_trip():
    # A 1000x2000 image in an 800x800 widget at (100, 50): fit scale 0.4, drawn 400x800.
    vp = Viewport.fit(0, "img", (1000, 2000), (100, 50, 900, 850))
    assert vp.image_rect == pytest.approx((300, 50, 700, 850))
    cx, cy = vp.to_image(500.0, 450.0)
    assert (float(cx), float(cy)) == pytest.approx((500.0, 1000.0))  # view centre = image centre
    zoomed = Viewport.fit(0, "img", (1000, 2000), (100, 50, 900, 850), zoom=2.0, pan=(40.0, -20.0))
    assert zoomed.scale == pytest.approx((0.8, 0.8))
    ix = np.array([10.0, 480.0, 999.0])
    iy = np.array([1200.0, 1000.0, 900.0])
    sx, sy = zoomed.to_screen(ix, iy)
    bx, by = zoomed.to_image(sx, sy, clip=False)
    np.testing.assert_allclose(np.c_[bx, by], np.c_[ix, iy], atol=1e-9)
    # The view centre now shows the point 40 px left / 20 px below in screen units -> -50 / +25 image px.
    cx, cy = zoomed.to_image(500.0, 450.0)
    assert (float(cx), float(cy)) == pytest.approx((450.0, 1025.0))
    # Off the widget (even though the zoomed image extends there) -> NaN.
    ox, _ = zoomed.to_image(95.0, 450.0)
    assert math.isnan(float(ox))
    # Drawn at x 140..940, y -370..1230 in a widget 100..900 x 50..850: visible x 0..950, y 525..1525.
    assert zoomed.shown_from_image() == pytest.approx((0.0, 525.0, 950.0, 1525.0))


def test_screen_to_image_uses_viewport_in_force_at_each_sample():
    view = (0, 0, 1000, 1000)
    events = [
        Viewport.fit(1_000, "a", (500, 500), view),  # scale 2
        Viewport.fit(2_000, "a", (500, 500), view, zoom=2.0),  # scale 4, centred
        Viewport(3_000, "", (1, 1), (0, 0, 1, 1)),  # image closed
    ]
    samples = [
        GazeSample(500, 500.0, 500.0),  # before any viewport
        GazeSample(1_000, 500.0, 500.0),
        GazeSample(1_500, 100.0, 200.0),
        GazeSample(1_999, 100.0, 200.0, valid=False),
        GazeSample(2_000, 500.0, 500.0),
        GazeSample(2_500, 100.0, 200.0),
        GazeSample(3_500, 500.0, 500.0),
    ]
    m = screen_to_image(samples, events)
    np.testing.assert_array_equal(m.viewport_index, [-1, 0, 0, 0, 1, 1, 2])
    expect_x = [np.nan, 250.0, 50.0, np.nan, 250.0, 250.0 + (100 - 500) / 4, np.nan]
    expect_y = [np.nan, 250.0, 100.0, np.nan, 250.0, 250.0 + (200 - 500) / 4, np.nan]
    np.testing.assert_allclose(m.x, expect_x)
    np.testing.assert_allclose(m.y, expect_y)
    assert list(m.image_id) == ["", "a", "a", "a", "a", "a", ""]
    np.testing.assert_allclose(m.seconds()[:2], [0.0, 0.0005])
    # Array input gives the same mapping.
    t = np.array([s.t_us for s in samples])
    xs = np.array([s.x if s.valid else np.nan for s in samples])
    ys = np.array([s.y if s.valid else np.nan for s in samples])
    m2 = screen_to_image((t, xs, ys), events)
    np.testing.assert_allclose(m2.x, m.x)


def test_unsorted_events_rejected():
    a = Viewport.fit(2, "a", (10, 10), (0, 0, 10, 10))
    b = Viewport.fit(1, "a", (10, 10), (0, 0, 10, 10))
    with pytest.raises(GeometryError, match="sorted"):
        screen_to_image([GazeSample(3, 1, 1)], [a, b])
