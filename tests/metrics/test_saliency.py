"""Saliency-style metrics on hand-checked small maps, and the maps built from scanpaths."""

import math

import numpy as np
import pytest

from ml.metrics.saliency import (
    MapParams,
    attention_map,
    auc_judd,
    cc,
    fixation_map,
    iou,
    kl_div,
    map_shape,
    nss,
    saliency_metrics,
    top_k_mask,
)
from ml.types import Fixation, Scanpath


def test_nss_hand_checked():
    sal = np.array([[1.0, 0.0], [0.0, 0.0]])
    fix = np.array([[True, False], [False, False]])
    # mean 0.25, std sqrt(0.1875): (1 - 0.25) / 0.4330 = 1.7321
    assert nss(sal, fix) == pytest.approx(0.75 / math.sqrt(0.1875))
    assert nss(sal, ~fix) == pytest.approx(-0.25 / math.sqrt(0.1875))
    assert math.isnan(nss(sal, np.zeros_like(fix)))


def test_auc_judd_hand_checked():
    sal = np.array([3.0, 2.0, 1.0, 0.0])
    assert auc_judd(sal, np.array([1, 0, 0, 0])) == pytest.approx(1.0)
    # threshold 2 -> TP 1, FP (2-1)/3: area = (1/3)/2 + 2/3 = 5/6
    assert auc_judd(sal, np.array([0, 1, 0, 0])) == pytest.approx(5 / 6)
    # two fixations at 3 and 1: thresholds 3 (TP .5, FP 0) and 1 (TP 1, FP 1/2)
    # area = 0 + (0.5)*(0.5+1)/2 + 0.5*1 = 0.875
    assert auc_judd(sal, np.array([1, 0, 1, 0])) == pytest.approx(0.875)


def test_cc_kl_hand_checked():
    a = np.array([1.0, 2.0, 3.0, 4.0])
    assert cc(a, a) == pytest.approx(1.0)
    assert cc(a, -a) == pytest.approx(-1.0)
    assert cc(a, 2 * a + 5) == pytest.approx(1.0)
    assert math.isnan(cc(a, np.ones(4)))
    p, q = np.array([0.5, 0.5]), np.array([0.25, 0.75])
    assert kl_div(q, p) == pytest.approx(0.5 * math.log(2) + 0.5 * math.log(2 / 3), abs=1e-9)
    assert kl_div(p, p) == pytest.approx(0.0, abs=1e-12)
    assert kl_div(2 * p, p) == pytest.approx(0.0, abs=1e-12)  # normalised first


def test_iou_top_k_hand_checked():
    a = np.array([[4.0, 3.0], [2.0, 1.0]])
    b = np.array([[4.0, 1.0], [3.0, 2.0]])
    np.testing.assert_array_equal(top_k_mask(a, 0.5), [[True, True], [False, False]])
    assert iou(a, b, top_k=0.5) == pytest.approx(1 / 3)  # {0,1} vs {0,2}
    assert iou(a, a, top_k=0.5) == 1.0
    assert iou(a, b, top_k=1.0) == 1.0
    sparse = np.array([[1.0, 0.0], [0.0, 0.0]])
    assert top_k_mask(sparse, 0.5).sum() == 1  # zeros are never attended
    assert iou(sparse, sparse[::-1], top_k=0.5) == 0.0
    with pytest.raises(ValueError):
        top_k_mask(a, 0)


def test_maps_from_scanpaths():
    size = (2000, 1000)
    sp = Scanpath([Fixation(500, 500, 0, 0.2), Fixation(1500, 250, 0.3, 0.9)], size)
    p = MapParams(map_size=200)
    assert map_shape(size, 200) == (100, 200)
    fm = fixation_map(sp, size, p)
    assert fm.sum() == 2 and fm[50, 50] and fm[25, 150]
    am = attention_map(sp, size, p)
    assert am.sum() == pytest.approx(1.0)
    # Duration weighting: the 0.6 s fixation holds 3x the mass of the 0.2 s one.
    assert am[25, 150] / am[50, 50] == pytest.approx(3.0, rel=1e-6)
    flat = attention_map(sp, size, MapParams(map_size=200, duration_weighted=False))
    assert flat[25, 150] / flat[50, 50] == pytest.approx(1.0, rel=1e-6)
    # sigma: 3.5% of 2000 px = 70 px = 7 map cells; at 7 cells the Gaussian falls to exp(-1/2).
    assert flat[50, 57] / flat[50, 50] == pytest.approx(math.exp(-0.5), rel=1e-3)
    # Fixations off the image are ignored.
    off = Scanpath([Fixation(-5, 10, 0, 1), Fixation(10, 10, 1, 2)], size)
    assert fixation_map(off, size, p).sum() == 1


def test_saliency_metrics_identical_vs_disjoint():
    size = (1000, 1000)
    a = Scanpath([Fixation(200, 200, 0, 0.3), Fixation(300, 250, 0.4, 0.7)], size)
    b = Scanpath([Fixation(800, 800, 0, 0.3), Fixation(750, 850, 0.4, 0.7)], size)
    same = saliency_metrics(a, a, size)
    other = saliency_metrics(a, b, size)
    assert (
        same["cc"] == pytest.approx(1.0) and same["iou"] == 1.0 and same["kl"] == pytest.approx(0, abs=1e-9)
    )
    assert same["auc_judd"] > 0.95 and same["nss"] > 3
    assert other["cc"] < 0.05 and other["iou"] == 0.0 and other["kl"] > 5
    assert other["auc_judd"] < 0.6 and other["nss"] < 0
