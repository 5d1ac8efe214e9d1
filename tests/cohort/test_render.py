"""CT → radiograph projection on small synthetic volumes (no asset needed)."""

from __future__ import annotations

import numpy as np
import pytest

from ml.cohort.render import (
    MU_WATER,
    CTProjector,
    Exposure,
    Geometry,
    Scene,
    SlabStack,
    expose,
    hu_to_mu,
    to_stored,
)

SPACING = (1.0, 1.0, 2.0)
SHAPE = (80, 60, 40)  # x (patient left), y (anterior), z (superior)


def _scene() -> Scene:
    return Scene(center_mm=(40.0, 30.0, 40.0), anterior_mm=59.0, posterior_mm=0.0)


def _point_volume(i: int, j: int, k: int) -> np.ndarray:
    vol = np.zeros(SHAPE, dtype=np.float32)
    vol[i - 1 : i + 2, j - 1 : j + 2, k] = 1.0
    return vol


def _stack(vol: np.ndarray, n: int = 12) -> SlabStack:
    return SlabStack.from_volume(vol, SPACING, SlabStack.even_edges(0, SHAPE[1], n))


def test_hu_to_mu_is_monotonic_with_boosted_bone():
    hu = np.array([-1000, -500, 0, 500, 1000], dtype=np.int16)
    mu = hu_to_mu(hu, bone_gain=2.0)
    assert mu[0] == pytest.approx(0.0)
    assert mu[2] == pytest.approx(MU_WATER)
    assert np.all(np.diff(mu) > 0)
    assert mu[4] - mu[2] == pytest.approx(2.0 * (mu[2] - mu[0]))  # +1000 HU counts twice


def test_slab_sums_conserve_the_line_integral():
    rng = np.random.default_rng(0)
    vol = rng.random(SHAPE).astype(np.float32)
    stack = _stack(vol, 7)
    np.testing.assert_allclose(stack.sums.sum(axis=0), vol.sum(axis=1) * SPACING[1], rtol=1e-5)
    box = rng.random((5, 9, 4)).astype(np.float32)
    before = stack.sums.sum()
    stack.add_box(box, (10, 20, 5))
    assert stack.sums.sum() - before == pytest.approx(box.sum() * SPACING[1], rel=1e-4)


@pytest.mark.parametrize("view", ["PA", "AP"])
@pytest.mark.parametrize(
    "pose", [dict(), dict(roll_deg=4.0, shift_mm=(5.0, -3.0)), dict(yaw_deg=5.0, tilt_deg=-3.0)]
)
def test_point_lands_where_to_pixels_says(view, pose):
    g = Geometry(view=view, sid_mm=1000.0, rows=96, cols=96, pixel_mm=1.0, **pose)
    proj = CTProjector(g, _scene(), SPACING)
    for ijk in [(20, 10, 12), (55, 45, 30), (40, 30, 20)]:
        image = proj.project(_stack(_point_volume(*ijk)), order=1)
        r, c = np.unravel_index(np.argmax(image), image.shape)
        x, y = proj.to_pixels(np.array([ijk[0] * SPACING[0], ijk[1] * SPACING[1], ijk[2] * SPACING[2]]))[0]
        assert abs(c - x) <= 1.5 and abs(r - y) <= 1.5, (ijk, (c, r), (x, y))


def test_image_orientation_patient_right_on_viewer_left_and_head_up():
    g = Geometry(rows=96, cols=96, pixel_mm=1.0)
    proj = CTProjector(g, _scene(), SPACING)
    right_low = proj.to_pixels(np.array([[5.0, 30.0, 10.0]]))[0]  # small x = patient's right, low z
    left_high = proj.to_pixels(np.array([[75.0, 30.0, 70.0]]))[0]
    assert right_low[0] < left_high[0]  # patient's right is on the image's left
    assert right_low[1] > left_high[1]  # superior is up


def test_magnification_grows_away_from_the_detector_and_ap_enlarges_anterior_structures():
    pa = CTProjector(Geometry(view="PA", sid_mm=1000.0), _scene(), SPACING)
    ap = CTProjector(Geometry(view="AP", sid_mm=1000.0), _scene(), SPACING)
    anterior, posterior = 55.0, 5.0
    assert pa.magnification(anterior) < pa.magnification(posterior)  # PA: detector in front
    assert ap.magnification(anterior) > ap.magnification(posterior)  # AP: detector behind
    assert ap.magnification(anterior) > pa.magnification(anterior)  # the heart looks bigger on AP


def test_expose_maps_more_attenuation_to_brighter_pixels():
    line = np.tile(np.linspace(0.0, 5.0, 128, dtype=np.float32), (128, 1))
    out = expose(line, Exposure(photons=1e7, compress=0.0, edge_gain=0.0), 0.5, np.random.default_rng(0))
    profile = out.mean(axis=0)
    assert profile[-10:].mean() > profile[:10].mean() + 0.5
    assert np.corrcoef(profile, np.arange(128))[0, 1] > 0.95
    stored = to_stored(out, 12)
    assert stored.dtype == np.uint16 and stored.max() <= 4095


def test_expose_is_deterministic_for_a_generator_seed():
    line = np.random.default_rng(1).random((64, 64), dtype=np.float32) * 3
    a = expose(line, Exposure(), 0.5, np.random.default_rng(5))
    b = expose(line, Exposure(), 0.5, np.random.default_rng(5))
    c = expose(line, Exposure(), 0.5, np.random.default_rng(6))
    assert np.array_equal(a, b)
    assert not np.array_equal(a, c)


def test_bad_view_is_rejected():
    with pytest.raises(ValueError, match="PA or AP"):
        CTProjector(Geometry(view="LL"), _scene(), SPACING)
