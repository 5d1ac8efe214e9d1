"""Calibrated finding probabilities: what a reader is shown is a probability, not a raw score.

The encoder's sigmoid outputs are trained with class-balancing weights (up to 20:1) and on one
patient's anatomy, so 0.6 need not mean 6 in 10 (the demo encoder names a lung lesion on 23% of
fresh renders without one, ECE 0.24; ``docs/domain_gate.md``). Per label, a scale and a bias
(``sigmoid(scale * logit + bias)``: Platt scaling, temperature scaling with a bias, Guo et al. 2017)
are fitted on held-out images by grid search on the negative log-likelihood. A temperature alone
cannot move a biased label's probabilities across 0.5, and that bias is the demo encoder's largest
calibration error. A label whose held-out images lack either class, or which its logits separate
perfectly (the likelihood then wants an infinitely sharp scale that nothing supports), keeps its
raw probabilities. Which findings the prompt names is still decided on the raw probability
(``LIKELY``), as in training; the calibrated one is what a reader is shown.

Out of domain nothing fitted in domain holds. On an image the domain gate flags, a probability is
moved from the calibrated value towards the label's training prevalence: at most half-way from
the prevalence to the calibrated value, and less the farther the image lies beyond the threshold
(``weight = min(0.5, threshold / score)``). So a flagged image never shows 1.00, and a film far
from anything the model has seen shows roughly the base rate: the model knows nothing about it.

``expected_calibration_error`` is the binary ECE of one label (equal-width bins of the predicted
probability, weighted by their share of images): what ``encoder-check`` reports before and after.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from ml.contracts import DomainCheck

#: The grid searched: scales (1 / temperature), log-spaced, and biases (logits).
SCALES = torch.logspace(math.log10(0.05), math.log10(20.0), 121, dtype=torch.float64)
BIASES = torch.linspace(-6.0, 6.0, 121, dtype=torch.float64)
#: At most this far (as a share) from the prevalence towards the model's value on a flagged image.
OUT_OF_DOMAIN_WEIGHT = 0.5
BINS = 10


@dataclass
class Calibration:
    """Per-label scales, biases and training prevalences, in the encoder's label order."""

    scale: list[float]
    bias: list[float]
    prevalence: list[float]

    def probabilities(self, label_logits: torch.Tensor, domain: DomainCheck | None = None) -> torch.Tensor:
        """Calibrated probabilities of logits (..., n_labels), pulled to the prevalence when
        ``domain`` says the image is out of domain."""
        a = torch.tensor(self.scale, dtype=torch.float32, device=label_logits.device)
        b = torch.tensor(self.bias, dtype=torch.float32, device=label_logits.device)
        p = torch.sigmoid(label_logits.float() * a + b)
        if domain is None or domain.in_domain:
            return p
        prior = torch.tensor(self.prevalence, dtype=torch.float32, device=p.device)
        weight = min(OUT_OF_DOMAIN_WEIGHT, domain.threshold / domain.score if domain.score > 0 else 0.0)
        return prior + (p - prior) * max(weight, 0.0)

    def to_dict(self, names: tuple[str, ...] | list[str]) -> dict:
        def per(values: list[float]) -> dict[str, float]:
            return {n: round(v, 4) for n, v in zip(names, values, strict=True)}

        return {"method": "platt", "scale": per(self.scale), "bias": per(self.bias), "prevalence": per(self.prevalence)}

    @classmethod
    def from_dict(cls, entry: dict, names: tuple[str, ...] | list[str]) -> Calibration:
        def per(key: str, default: float) -> list[float]:
            values = entry.get(key, {})
            return [float(values.get(n, default)) for n in names]

        return cls(per("scale", 1.0), per("bias", 0.0), per("prevalence", 0.0))


def fit_platt(logits: torch.Tensor, labels: torch.Tensor, mask: torch.Tensor) -> tuple[list[float], list[float]]:
    """Per-label scale and bias minimising the masked binary NLL on these images (N, L);
    (1, 0) where the images lack a class or the logits separate them perfectly."""
    scales, biases = [], []
    for j in range(logits.shape[1]):
        keep = mask[:, j] > 0
        z, y = logits[keep, j].double(), labels[keep, j].double()
        if y.numel() == 0 or y.min() == y.max() or z[y < 0.5].max() < z[y > 0.5].min():
            scales.append(1.0)
            biases.append(0.0)
            continue
        grid = z[None, None, :] * SCALES[:, None, None] + BIASES[None, :, None]
        nll = F.binary_cross_entropy_with_logits(grid, y.expand_as(grid), reduction="none").mean(-1)
        best = int(nll.argmin())
        scales.append(float(SCALES[best // len(BIASES)]))
        biases.append(float(BIASES[best % len(BIASES)]))
    return scales, biases


def prevalence(labels: torch.Tensor, mask: torch.Tensor) -> list[float]:
    """Share of positives per label among the images where it is known (N, L)."""
    known = mask.sum(0).clamp_min(1.0)
    return ((labels * mask).sum(0) / known).tolist()


def fit_calibration(
    logits: torch.Tensor, labels: torch.Tensor, mask: torch.Tensor, train_labels: torch.Tensor, train_mask: torch.Tensor
) -> Calibration:
    """Scales and biases from held-out ``logits``/``labels``; prevalences from the training labels."""
    return Calibration(*fit_platt(logits, labels, mask), prevalence(train_labels, train_mask))


def expected_calibration_error(probs: torch.Tensor, labels: torch.Tensor, bins: int = BINS) -> float | None:
    """Binary ECE of one label: Σ_b (n_b / N) · |mean predicted − observed rate| over equal-width
    bins of the predicted probability (the last bin includes 1.0); None without images."""
    p, y = probs.double().flatten(), labels.double().flatten()
    if p.numel() == 0:
        return None
    idx = (p * bins).long().clamp(0, bins - 1)
    total = 0.0
    for b in range(bins):
        sel = idx == b
        n = int(sel.sum())
        if n:
            total += n / p.numel() * abs(float(p[sel].mean()) - float(y[sel].mean()))
    return total
