"""Finding-kind weights: a nodule-rich set for extra training data, the default draws untouched."""

import numpy as np
import pytest

from ml.cohort.case import kind_weights, sample_findings


def _kinds(weights, n=400):
    rng = np.random.default_rng(3)
    return [f.kind for _ in range(n) for f in sample_findings(rng, 0.0, weights)]


def test_no_override_draws_exactly_the_default_cohort():
    a = np.random.default_rng(5)
    b = np.random.default_rng(5)
    assert [sample_findings(a) for _ in range(50)] == [sample_findings(b, 0.3, {}) for _ in range(50)]


def test_a_heavier_kind_is_drawn_more_and_a_zero_weight_never():
    base = _kinds(None)
    rich = _kinds({"nodule": 0.6, "mass": 0.0})
    assert rich.count("nodule") > 2 * base.count("nodule")
    assert "mass" in base and "mass" not in rich


@pytest.mark.parametrize("bad", [{"nodul": 1.0}, {"nodule": -1.0}, dict.fromkeys(kind_weights(), 0.0)])
def test_bad_weights_are_refused(bad):
    with pytest.raises(ValueError):
        kind_weights(bad)


def test_a_single_kind_left_still_draws_cases_of_two_or_three_findings():
    only = dict.fromkeys(kind_weights(), 0.0) | {"nodule": 1.0}
    assert set(_kinds(only, 200)) == {"nodule"}
