"""Human-likeness distances: saccade amplitude, fixation duration, count and coverage between sets."""

from __future__ import annotations

import math

import numpy as np
import pytest

from ml.metrics.distributions import (
    DISTRIBUTION_KEYS,
    coverage,
    distribution_distances,
    reader_baseline,
    saccade_amplitudes,
)
from ml.types import Scanpath, ScanpathSource


def path(rows, size=(300, 400)) -> Scanpath:
    return Scanpath.from_array(np.array(rows, dtype=np.float64), size, ScanpathSource.RECORDED)


READERS = [
    path([[30, 40, 0.2], [60, 80, 0.3], [150, 200, 0.25], [270, 360, 0.4]]),
    path([[100, 100, 0.1], [110, 120, 0.5], [200, 300, 0.3]]),
]


def test_identical_sets_are_at_distance_zero_on_every_quantity():
    d = distribution_distances(READERS, [path(sp.as_array()) for sp in READERS])
    assert set(d) == set(DISTRIBUTION_KEYS)
    assert all(v == pytest.approx(0.0, abs=1e-12) for v in d.values())


def test_durations_shifted_by_a_constant_are_at_that_distance():
    shifted = [path(sp.as_array() + [0.0, 0.0, 0.15]) for sp in READERS]
    d = distribution_distances(shifted, READERS)
    assert d["fixation_duration"] == pytest.approx(0.15)
    assert d["saccade_amplitude"] == pytest.approx(0.0, abs=1e-12)  # same positions
    assert d["fixation_count"] == 0.0 and d["coverage"] == 0.0


def test_fixation_count_distance_is_the_difference_in_fixations():
    longer = [path(sp.as_array().tolist() + [[5, 5, 0.2], [6, 6, 0.2]]) for sp in READERS]
    assert distribution_distances(longer, READERS)["fixation_count"] == pytest.approx(2.0)


def test_saccade_amplitude_is_a_fraction_of_the_image_diagonal():
    sp = path([[0, 0, 0.2], [300, 400, 0.2], [300, 0, 0.2]])  # diagonal 500: 500 then 400 px
    assert saccade_amplitudes(sp) == pytest.approx([1.0, 0.8])
    # the same path on an image twice as large has half the amplitudes
    big = Scanpath(sp.fixations, (600, 800), ScanpathSource.RECORDED)
    assert distribution_distances([sp], [big])["saccade_amplitude"] == pytest.approx(0.45)


def test_coverage_counts_the_grid_cells_holding_a_fixation():
    one_cell = path([[10, 10, 0.2], [20, 20, 0.2]])
    four_corners = path([[1, 1, 0.2], [299, 1, 0.2], [1, 399, 0.2], [299, 399, 0.2]])
    assert coverage(one_cell, (2, 2)) == 0.25 and coverage(four_corners, (2, 2)) == 1.0
    assert distribution_distances([one_cell], [four_corners], grid=(2, 2))["coverage"] == pytest.approx(0.75)


def test_a_set_without_saccades_has_no_amplitude_distance():
    single = [path([[10, 10, 0.2]])]
    d = distribution_distances(single, READERS)
    assert math.isnan(d["saccade_amplitude"]) and d["fixation_duration"] > 0
    assert all(math.isnan(v) for v in distribution_distances([], READERS).values())


def test_the_reader_baseline_is_zero_when_every_reader_reads_alike():
    same = [[READERS[0], path(READERS[0].as_array())], [READERS[1], path(READERS[1].as_array())]]
    assert all(v == pytest.approx(0.0, abs=1e-12) for v in reader_baseline(same).values())


def test_the_reader_baseline_holds_out_each_reader_in_turn():
    a = path([[10, 10, 0.2], [20, 20, 0.2]])
    b = path([[10, 10, 0.2], [20, 20, 0.2], [30, 30, 0.2], [40, 40, 0.2]])
    # held out a: 2 fixations against 4; held out b: 4 against 2; one image with one reader is left out
    assert reader_baseline([[a, b], [READERS[0]]])["fixation_count"] == pytest.approx(2.0)
    assert all(math.isnan(v) for v in reader_baseline([[a], [b]]).values())
