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


def _cases(normal_fraction=0.3, n=3000, **kw):
    rng = np.random.default_rng(4)
    return [{f.kind for f in sample_findings(rng, normal_fraction, **kw)} for _ in range(n)]


def _nodule_rate(cases, with_effusion: bool) -> float:
    sel = [c for c in cases if ("effusion" in c) == with_effusion]
    return sum("nodule" in c for c in sel) / len(sel)


def test_an_added_kind_is_independent_of_the_other_findings_where_a_weight_crowds_them_out():
    # Raising the weight in a set without normals (the first nodule-rich encoder cohort's recipe): beside an effusion a
    # nodule is far rarer than elsewhere, since a case draws at most three findings.
    weighted = _cases(0.0, weights={"nodule": 0.5, "mass": 0.06})
    assert _nodule_rate(weighted, True) < 0.7 * _nodule_rate(weighted, False)
    added = _cases(0.0, add={"nodule": 0.5})
    # (what little dependence is left comes from the usual draw's own nodules)
    assert _nodule_rate(added, True) > 0.85 * _nodule_rate(added, False)
    assert _nodule_rate(added, False) > 0.5  # the added half, plus the usual draw's own nodules
    # Normal cases get one too, and the usual draw is otherwise untouched.
    assert any(c == {"nodule"} for c in _cases(add={"nodule": 0.5}))
    assert sum("effusion" in c for c in added) == pytest.approx(
        sum("effusion" in c for c in _cases(0.0)), rel=0.1
    )


@pytest.mark.parametrize("bad", [{"nodul": 0.5}, {"nodule": 1.5}, {"nodule": -0.1}])
def test_bad_added_kinds_are_refused(bad):
    with pytest.raises(ValueError):
        sample_findings(np.random.default_rng(0), 0.0, add=bad)
