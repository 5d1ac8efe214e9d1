"""The gate passes a candidate unless its CE-F1 on the held-out studies is worse than the current
bundle's by more than the tolerance, and its table says why."""

from __future__ import annotations

import pytest

from ml.site import decide, gate_markdown
from ml.site.gate import row_scores


def _results(f1, effusion):
    return {
        "rows": {
            "predicted": {
                "ce": {"CE-P": f1, "CE-R": f1, "CE-F1": f1},
                "nlg": {"BLEU-4": 0.1, "ROUGE-L": 0.3},
                "ce_per_observation": {"Pleural Effusion": effusion, "Cardiomegaly": 0.5},
                "scanpath": {"cc": 0.4, "dtw": 3.0},
            }
        }
    }


def _gate(current, candidate, tolerance=0.02):
    return decide(row_scores(_results(*current), "predicted"), row_scores(_results(*candidate), "predicted"),
                  mode="predicted", tolerance=tolerance, holdout=20, current_bundle="a 1", candidate_bundle="a 2")  # fmt: skip


def test_a_better_candidate_passes():
    gate = _gate((0.50, 0.2), (0.60, 0.8))
    assert gate.passed and "may be promoted" in gate.reason and "+0.100" in gate.reason


def test_a_candidate_within_the_tolerance_passes_and_beyond_it_is_refused():
    assert _gate((0.50, 0.2), (0.49, 0.2)).passed
    refused = _gate((0.50, 0.2), (0.40, 0.2))
    assert not refused.passed and "worse by more than the tolerance 0.02, stays a candidate" in refused.reason


def test_a_negative_tolerance_is_refused():
    with pytest.raises(ValueError, match="tolerance must be 0 or more"):
        _gate((0.5, 0.2), (0.5, 0.2), tolerance=-0.1)


def test_the_table_shows_each_observation_and_the_verdict():
    text = gate_markdown(_gate((0.50, 0.2), (0.40, 0.9)).to_dict())
    assert "| CE-F1 Pleural Effusion | 0.200 | 0.900 | +0.700 |" in text
    assert "| **CE-F1** | 0.500 | 0.400 | -0.100 |" in text and "| scanpath cc | 0.400 | 0.400 | +0.000 |" in text
    assert text.splitlines()[-1].startswith("REFUSED: CE-F1 0.400 vs current 0.500")


def test_the_table_leaves_out_observations_no_held_out_study_has_and_counts_the_others():
    gate = _gate((0.50, 0.2), (0.40, 0.9))
    gate.support = {"Pleural Effusion": 3, "Cardiomegaly": 0}
    text = gate_markdown(gate)
    assert "| CE-F1 Pleural Effusion (n=3) | 0.200 | 0.900 | +0.700 |" in text and "Cardiomegaly" not in text
