"""The clinical look: added after the exposure, drawn from its own stream, leaving the ground truth alone."""

from __future__ import annotations

import numpy as np
import pytest

from ml.cohort.look import LOOKS, Look, apply_look


def _film(seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:128, 0:128] / 128.0
    return np.clip(0.3 + 0.4 * np.exp(-((x - 0.5) ** 2) / 0.02) + 0.02 * rng.standard_normal((128, 128)), 0, 1)


def test_the_plain_look_leaves_the_film_untouched():
    film = _film()
    out, notes = apply_look(film, LOOKS["plain"], seed=1, pixel_mm=1.4)
    assert out is film and notes == {}


def test_every_effect_is_drawn_from_the_seed_and_noted():
    always = Look(tone=0.5, detector_noise=0.01, grid=1.0, collimation=1.0, markers=1.0)
    a, notes = apply_look(_film(), always, seed=7, pixel_mm=1.4)
    b, again = apply_look(_film(), always, seed=7, pixel_mm=1.4)
    c, _ = apply_look(_film(), always, seed=8, pixel_mm=1.4)
    assert np.array_equal(a, b) and notes == again and not np.array_equal(a, c)
    assert {"tone", "grid", "collimation", "marker", "text"} <= set(notes)
    assert a.dtype == np.float32 and a.min() >= 0.0 and a.max() <= 1.0


def test_collimated_borders_are_bright_and_the_marker_sits_on_the_patients_side():
    look = Look(collimation=1.0, markers=1.0)
    film = np.full((200, 200), 0.2, dtype=np.float32)
    for seed in range(6):
        out, notes = apply_look(film, look, seed=seed, pixel_mm=1.4)
        x0, y0, x1, y1 = (int(v) for v in notes["collimation"].split())
        if x0 > 2:
            assert out[100, 0] > 0.8  # outside the field: unexposed, bright
        assert out[100, 100] == pytest.approx(0.2, abs=0.01)  # the field's centre is untouched
        burnt = out[y0 + 2 : 60, x0 + 2 : x1 - 2] > 0.7
        left, right = burnt[:, : 50 - x0].any(), burnt[:, 150 - x0 :].any()
        # the patient's right is on the image's left: an "R" marker sits at the left edge
        assert (left, right) == ((True, False) if notes["marker"] == "R" else (False, True)), notes


@pytest.mark.slow
def test_a_clinical_render_keeps_the_plain_renders_ground_truth():
    from ml.cohort.case import get_renderer, sample_case

    renderer = get_renderer()
    plain = renderer.render(sample_case("A", seed=11, normal_fraction=0.0), scale=0.2)
    clinical = renderer.render(sample_case("A", seed=11, normal_fraction=0.0, look=LOOKS["clinical"]), scale=0.2)
    assert plain.labels == clinical.labels and plain.ctr == clinical.ctr
    assert all(np.array_equal(p.mask, c.mask) for p, c in zip(plain.findings, clinical.findings, strict=True))
    assert plain.look == {} and clinical.look and not np.array_equal(plain.pixels, clinical.pixels)
