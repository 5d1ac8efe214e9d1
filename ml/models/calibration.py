"""Calibrated finding probabilities: what a reader is shown is a probability, not a raw score.

The encoder's sigmoid outputs are trained with class-balancing weights and on one patient's
anatomy, so 0.99 need not mean 99 in 100. Per label, a temperature ``T`` (``sigmoid(logit / T)``)
is fitted on validation images by grid search on the negative log-likelihood (temperature
scaling, Guo et al. 2017); a label whose validation set lacks either class keeps ``T = 1``. A
temperature keeps every probability on its side of 0.5, so the findings the prompt names
(``LIKELY``) and the drafts do not change; only the numbers a reader sees do.

Out of domain nothing fitted in domain holds. On an image the domain gate flags, a probability is
moved from the calibrated value towards the label's training prevalence: at most half-way from
the prevalence to the model's own value, and less the farther the image lies beyond the threshold
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

#: Temperatures searched (log-spaced); wide enough for an encoder trained with pos_weight up to 20.
TEMPERATURES = torch.logspace(math.log10(0.05), math.log10(50.0), 241, dtype=torch.float64)
#: At most this far (as a share) from the prevalence towards the model's value on a flagged image.
OUT_OF_DOMAIN_WEIGHT = 0.5
BINS = 10


@dataclass
class Calibration:
    """Per-label temperatures and training prevalences, in the encoder's label order."""

    temperature: list[float]
    prevalence: list[float]

    def probabilities(self, label_logits: torch.Tensor, domain: DomainCheck | None = None) -> torch.Tensor:
        """Calibrated probabilities of logits (..., n_labels), pulled to the prevalence when
        ``domain`` says the image is out of domain."""
        t = torch.tensor(self.temperature, dtype=torch.float32, device=label_logits.device)
        p = torch.sigmoid(label_logits.float() / t)
        if domain is None or domain.in_domain:
            return p
        prior = torch.tensor(self.prevalence, dtype=torch.float32, device=p.device)
        weight = min(OUT_OF_DOMAIN_WEIGHT, domain.threshold / domain.score if domain.score > 0 else 0.0)
        return prior + (p - prior) * max(weight, 0.0)

    def to_dict(self, names: tuple[str, ...] | list[str]) -> dict:
        return {
            "method": "temperature",
            "temperature": {n: round(t, 4) for n, t in zip(names, self.temperature, strict=True)},
            "prevalence": {n: round(p, 4) for n, p in zip(names, self.prevalence, strict=True)},
        }

    @classmethod
    def from_dict(cls, entry: dict, names: tuple[str, ...] | list[str]) -> Calibration:
        temps, prev = entry.get("temperature", {}), entry.get("prevalence", {})
        return cls([float(temps.get(n, 1.0)) for n in names], [float(prev.get(n, 0.0)) for n in names])


def fit_temperatures(logits: torch.Tensor, labels: torch.Tensor, mask: torch.Tensor) -> list[float]:
    """Per-label temperature minimising the masked binary NLL (N, L) on these images."""
    out = []
    for j in range(logits.shape[1]):
        keep = mask[:, j] > 0
        z, y = logits[keep, j].double(), labels[keep, j].double()
        if y.numel() == 0 or y.min() == y.max():
            out.append(1.0)
            continue
        nll = torch.stack(
            [F.binary_cross_entropy_with_logits(z / t, y) for t in TEMPERATURES]
        )
        out.append(float(TEMPERATURES[int(nll.argmin())]))
    return out


def prevalence(labels: torch.Tensor, mask: torch.Tensor) -> list[float]:
    """Share of positives per label among the images where it is known (N, L)."""
    known = mask.sum(0).clamp_min(1.0)
    return ((labels * mask).sum(0) / known).tolist()


def fit_calibration(
    logits: torch.Tensor, labels: torch.Tensor, mask: torch.Tensor, train_labels: torch.Tensor, train_mask: torch.Tensor
) -> Calibration:
    """Temperatures from validation ``logits``/``labels``; prevalences from the training labels."""
    return Calibration(fit_temperatures(logits, labels, mask), prevalence(train_labels, train_mask))


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
