"""Calibrated finding probabilities: Platt scaling fitted on held-out images, ECE, no confidence out of domain."""

from __future__ import annotations

import pytest
import torch

from ml.contracts import DomainCheck
from ml.models.calibration import Calibration, expected_calibration_error, fit_calibration, fit_platt


def test_ece_of_a_known_case():
    # bin [0.1, 0.2): predicted 0.1, observed 1 of 2; bin [0.9, 1.0]: predicted 0.9, observed 2 of 2
    probs = torch.tensor([0.1, 0.1, 0.9, 0.9])
    labels = torch.tensor([0.0, 1.0, 1.0, 1.0])
    assert expected_calibration_error(probs, labels) == pytest.approx(0.5 * 0.4 + 0.5 * 0.1)
    assert expected_calibration_error(torch.tensor([1.0, 0.0]), torch.tensor([1.0, 0.0])) == pytest.approx(0.0)
    assert expected_calibration_error(torch.zeros(0), torch.zeros(0)) is None


def _overconfident(n: int = 4000, seed: int = 0):
    """Labels drawn from sigmoid(z); the model reports 3z + 1 (too sure of itself, and biased)."""
    g = torch.Generator().manual_seed(seed)
    z = 2.0 * torch.randn(n, 2, generator=g)
    y = (torch.rand(n, 2, generator=g) < torch.sigmoid(z)).float()
    return 3.0 * z + 1.0, y


def test_platt_scaling_recovers_an_overconfident_biased_scale_and_lowers_the_ece():
    logits, labels = _overconfident()
    scales, biases = fit_platt(logits, labels, torch.ones_like(labels))
    assert scales == pytest.approx([1 / 3, 1 / 3], rel=0.15)
    assert biases == pytest.approx([-1 / 3, -1 / 3], abs=0.2)
    test_logits, test_labels = _overconfident(seed=1)
    cal = Calibration(scales, biases, [0.5, 0.5])
    before = expected_calibration_error(torch.sigmoid(test_logits[:, 0]), test_labels[:, 0])
    after = expected_calibration_error(cal.probabilities(test_logits)[:, 0], test_labels[:, 0])
    assert after < before / 2


def test_a_label_without_both_classes_or_perfectly_separated_keeps_its_raw_probabilities():
    logits, labels = _overconfident(200)
    labels[:, 1] = 0.0
    mask = torch.ones_like(labels)
    mask[:, 0] = 0.0  # unknown everywhere
    assert fit_platt(logits, labels, mask) == ([1.0, 1.0], [0.0, 0.0])
    separated = torch.tensor([[-3.0], [-1.0], [2.0], [5.0]])
    assert fit_platt(separated, torch.tensor([[0.0], [0.0], [1.0], [1.0]]), torch.ones(4, 1)) == ([1.0], [0.0])


def test_a_flagged_image_never_shows_a_confident_probability():
    fitted = fit_calibration(
        torch.tensor([[9.0], [-9.0], [-8.0], [-7.0]]),
        torch.tensor([[1.0], [0.0], [1.0], [0.0]]),
        torch.ones(4, 1),
        torch.tensor([[1.0], [0.0], [0.0], [0.0]]),
        torch.ones(4, 1),
    )
    assert fitted.prevalence == [0.25]
    cal = Calibration([1.0], [0.0], fitted.prevalence)
    sure = torch.tensor([30.0])
    assert float(cal.probabilities(sure)) > 0.995
    just_out = DomainCheck(False, score=10.1, threshold=10.0, method="mahalanobis")
    far_out = DomainCheck(False, score=1000.0, threshold=10.0, method="mahalanobis")
    inside = DomainCheck(True, score=9.0, threshold=10.0, method="mahalanobis")
    assert float(cal.probabilities(sure, inside)) == float(cal.probabilities(sure))
    assert float(cal.probabilities(sure, just_out)) <= 0.25 + 0.5 * 0.75 + 1e-6
    assert float(cal.probabilities(sure, far_out)) == pytest.approx(0.25, abs=0.01)


def test_a_calibration_round_trips_through_its_manifest_entry():
    names = ("Cardiomegaly", "Pleural Effusion")
    cal = Calibration([1.5, 0.8], [-0.5, 0.25], [0.2, 0.3])
    back = Calibration.from_dict(cal.to_dict(names), names)
    assert back == cal
    assert Calibration.from_dict({}, names) == Calibration([1.0, 1.0], [0.0, 0.0], [0.0, 0.0])
