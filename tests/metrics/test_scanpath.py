"""Scanpath sequence metrics: MultiMatch is multimatch-gaze's own output; hand-checked SED/DTW/ScanMatch."""

import json
import math

import numpy as np
import pytest

from ml.metrics import COMPARE_KEYS, compare_scanpaths, mean_metrics
from ml.metrics.scanpath import (
    MULTIMATCH_DIMS,
    ScanMatchParams,
    dtw,
    grid_labels,
    levenshtein,
    multimatch,
    scanmatch,
    string_edit_distance,
    substitution_matrix,
)
from ml.types import Fixation, Scanpath

SIZE = (1000, 800)


def path(rows, size=SIZE):
    return Scanpath.from_array(np.asarray(rows, dtype=float), size)


def random_path(rng, n, size=SIZE):
    return path(
        np.c_[rng.uniform(0, size[0], n), rng.uniform(0, size[1], n), rng.uniform(0.08, 0.6, n)], size
    )


def test_multimatch_is_multimatch_gaze_docomparison():
    import multimatch_gaze as mm

    rng = np.random.default_rng(1)
    for n1, n2 in [(5, 7), (12, 9), (3, 20)]:
        a, b = random_path(rng, n1), random_path(rng, n2)
        ours = multimatch(a, b, SIZE)
        fa = np.rec.fromarrays(a.as_array().T, names="start_x,start_y,duration")
        fb = np.rec.fromarrays(b.as_array().T, names="start_x,start_y,duration")
        ref = mm.docomparison(fa, fb, screensize=[1000, 800])
        assert list(ours) == list(MULTIMATCH_DIMS)
        assert [ours[k] for k in MULTIMATCH_DIMS] == list(np.asarray(ref, dtype=float).ravel())
        # Grouping passes straight through too.
        g = multimatch(a, b, SIZE, grouping=True, t_dir=45.0, t_dur=0.3, t_amp=100.0)
        gref = mm.docomparison(fa, fb, screensize=[1000, 800], grouping=True, TDir=45.0, TDur=0.3, TAmp=100.0)
        assert [g[k] for k in MULTIMATCH_DIMS] == list(np.asarray(gref, dtype=float).ravel())


def test_multimatch_identical_and_too_short():
    rng = np.random.default_rng(2)
    a = random_path(rng, 8)
    assert multimatch(a, a, SIZE) == pytest.approx(dict.fromkeys(MULTIMATCH_DIMS, 1.0))
    short = multimatch(random_path(rng, 2), a, SIZE)
    assert all(math.isnan(v) for v in short.values())


def test_grid_labels_and_sed_hand_checked():
    # 2x2 grid over 100x100: cells 0 1 / 2 3.
    a = path([(10, 10, 0.1), (60, 10, 0.1), (90, 90, 0.1)], (100, 100))
    b = path([(5, 5, 0.2), (99, 99, 0.2)], (100, 100))
    assert list(grid_labels(a, (100, 100), (2, 2))) == [0, 1, 3]
    assert string_edit_distance(a, b, (100, 100), grid=(2, 2)) == 1.0  # delete the "1"
    assert string_edit_distance(a, b, (100, 100), grid=(2, 2), normalize=True) == pytest.approx(1 / 3)
    assert string_edit_distance(a, a, (100, 100)) == 0.0
    assert levenshtein([1, 2, 3, 4, 5, 6], [7, 2, 3, 9, 5, 6, 8]) == 3  # kitten/sitting shape
    assert levenshtein([], [1, 2]) == 2
    # Positions on the far edge stay in the last cell.
    assert list(grid_labels(path([(100, 100, 0.1)], (100, 100)), (100, 100), (2, 2))) == [3]


def test_dtw_hand_checked():
    a = path([(0, 0, 0.1), (10, 0, 0.1)])
    assert dtw(a, path([(0, 0, 0.1), (0, 0, 0.3), (10, 0, 0.1)])) == 0.0  # warping absorbs repeats
    assert dtw(a, path([(0, 0, 0.1), (10, 10, 0.1)])) == pytest.approx(10.0)
    # (0,0),(3,4) vs (0,0): 0 + 5
    assert dtw(path([(0, 0, 0.1), (3, 4, 0.1)]), path([(0, 0, 0.1)])) == pytest.approx(5.0)
    assert dtw(a, a) == 0.0


def test_scanmatch_substitution_matrix_and_hand_checked_scores():
    sub = substitution_matrix((2, 1), threshold=1.0)
    np.testing.assert_allclose(sub, [[1, 0], [0, 1]])
    sub3 = substitution_matrix((3, 1), threshold=1.0)  # distances 0,1,2; max 2 -> |d-2| - 1
    np.testing.assert_allclose(sub3[0], [1, 0, -1])
    size = (100, 100)
    p = ScanMatchParams(grid=(2, 1), temporal_bin=0, threshold=1.0)
    a = path([(10, 50, 0.1), (60, 50, 0.1)], size)  # cells 0, 1
    b = path([(10, 50, 0.1), (20, 50, 0.1)], size)  # cells 0, 0
    assert scanmatch(a, a, size, p) == pytest.approx(1.0)
    assert scanmatch(a, b, size, p) == pytest.approx(0.5)  # one match (1) + one mismatch (0) over 2
    # Temporal binning: a 100 ms fixation is two 50 ms letters.
    pt = ScanMatchParams(grid=(2, 1), temporal_bin=0.05, threshold=1.0)
    one = path([(10, 50, 0.1)], size)
    half = path([(10, 50, 0.05)], size)
    assert scanmatch(one, half, size, pt) == pytest.approx(0.5)
    assert scanmatch(one, one, size, pt) == pytest.approx(1.0)
    # 125 ms -> 3 letters (2.5 rounds up, as MATLAB); 20 ms -> none.
    two = path([(10, 50, 0.125), (60, 50, 0.02)], size)
    assert scanmatch(two, path([(10, 50, 0.15)], size), size, pt) == pytest.approx(1.0)
    # Defaults: identical = 1, unrelated paths much lower.
    rng = np.random.default_rng(5)
    x, y = random_path(rng, 10), random_path(rng, 10)
    assert scanmatch(x, x, SIZE) == pytest.approx(1.0)
    assert scanmatch(x, y, SIZE) < 0.6


def test_compare_scanpaths_keys_and_perfect_scores():
    rng = np.random.default_rng(7)
    a, b = random_path(rng, 10), random_path(rng, 14)
    same = compare_scanpaths(a, a, SIZE)
    assert tuple(same) == COMPARE_KEYS
    assert set(same["multimatch"]) == {"vector", "direction", "length", "position", "duration"}
    assert all(v == pytest.approx(1.0) for v in same["multimatch"].values())
    assert same["scanmatch"] == pytest.approx(1.0)
    assert same["sed"] == 0.0 and same["dtw"] == 0.0
    assert same["cc"] == pytest.approx(1.0) and same["kl"] == pytest.approx(0.0, abs=1e-9)
    assert same["iou"] == pytest.approx(1.0) and same["auc_judd"] > 0.95 and same["nss"] > 2
    diff = compare_scanpaths(a, b, SIZE)
    assert diff["scanmatch"] < same["scanmatch"] and diff["sed"] > 0 and diff["dtw"] > 0
    assert diff["cc"] < 0.9 and diff["kl"] > 0.1 and diff["iou"] < 0.9 and diff["nss"] < same["nss"]
    json.dumps(diff)  # plain floats only
    avg = mean_metrics([same, diff])
    assert avg["n"] == 2 and avg["sed"] == pytest.approx(diff["sed"] / 2)
    assert avg["multimatch"]["vector"] == pytest.approx((1 + diff["multimatch"]["vector"]) / 2)


def test_compare_uses_scanpath_size_and_rejects_bad_size():
    a = Scanpath([Fixation(1, 1, 0, 0.2)], (0, 0))
    with pytest.raises(ValueError, match="image size"):
        compare_scanpaths(a, a)


def test_reader_ceiling_and_candidate_vs_readers():
    from ml.metrics import compare_to_readers, inter_reader_agreement

    rng = np.random.default_rng(9)
    r1, r2, r3 = (random_path(rng, 8) for _ in range(3))
    ceiling = inter_reader_agreement([r1, r2, r3], SIZE)
    assert ceiling["n"] == 6  # ordered pairs
    pairs = [
        compare_scanpaths(a, b, SIZE) for a, b in [(r1, r2), (r2, r1), (r1, r3), (r3, r1), (r2, r3), (r3, r2)]
    ]
    assert ceiling["cc"] == pytest.approx(np.mean([p["cc"] for p in pairs]))
    assert ceiling["nss"] == pytest.approx(np.mean([p["nss"] for p in pairs]))
    assert inter_reader_agreement([r1], SIZE) == {}
    # A candidate equal to one of two readers scores halfway between perfect and that pair.
    vs = compare_to_readers(r1, [r1, r2], SIZE)
    assert vs["n"] == 2
    assert vs["sed"] == pytest.approx(compare_scanpaths(r1, r2, SIZE)["sed"] / 2)
    assert vs["multimatch"]["position"] == pytest.approx(
        (1 + compare_scanpaths(r1, r2, SIZE)["multimatch"]["position"]) / 2
    )
