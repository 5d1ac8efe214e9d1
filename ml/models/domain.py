"""The domain gate: how unlike the training images an image is, so a draft of a stranger is flagged.

A model trained on renders of one CT answers a real radiograph as confidently as a render, and
its draft reads as sure of itself as any other. The gate scores each image from what the vision
encoder already computes (its pooled patch features and its label logits) and compares the score
with a threshold set on held-out in-domain images; the bundle stores the method, its parameters
(``domain.safetensors``) and the threshold. ``ml.train.domain_fit`` fits and compares the methods.

Every score grows with distance from the training images (``DomainCheck.in_domain`` is
``score <= threshold``):

- ``mahalanobis``: Mahalanobis distance of the mean- and std-pooled features from the training
  images' mean, under their (shrunk) covariance;
- ``knn``: mean Euclidean distance to the ``K`` nearest training images, features standardised;
- ``energy``: the negative joint energy of the label logits, ``-Σ softplus(logit)`` (an image the
  encoder finds many findings in scores low, i.e. in domain).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from pathlib import Path

import torch
import torch.nn.functional as F

from ml.contracts import DomainCheck

#: Share of the trace added to the covariance's diagonal: a few hundred images and 2x128 features.
SHRINKAGE = 0.1
K = 5
GATE_FILE = "domain.safetensors"


class DomainMethod(str, Enum):
    MAHALANOBIS = "mahalanobis"
    KNN = "knn"
    ENERGY = "energy"


class DomainError(ValueError):
    """A domain gate cannot be fitted or read (too few images, unknown method, missing tensors)."""


def pooled(features: torch.Tensor) -> torch.Tensor:
    """(B, C, h, w) encoder features → (B, 2C): the mean and the standard deviation of each channel."""
    flat = features.float().flatten(2)
    return torch.cat([flat.mean(2), flat.std(2, unbiased=False)], dim=1)


@dataclass
class DomainGate:
    """A fitted detector of images unlike the training images, and its threshold."""

    method: DomainMethod
    tensors: dict[str, torch.Tensor]
    threshold: float = float("inf")

    def scores(self, features: torch.Tensor, label_logits: torch.Tensor) -> torch.Tensor:
        """One score per image (B,), larger = farther from the training images."""
        if self.method is DomainMethod.ENERGY:
            return -F.softplus(label_logits.float()).sum(1)
        x = pooled(features)
        t = {k: v.to(x.device) for k, v in self.tensors.items()}
        if self.method is DomainMethod.MAHALANOBIS:
            d = x - t["mean"]
            return ((d @ t["precision"]) * d).sum(1).clamp_min(0).sqrt()
        z = (x - t["mean"]) / t["std"]
        dist = torch.cdist(z, t["reference"])
        k = min(K, dist.shape[1])
        return dist.topk(k, dim=1, largest=False).values.mean(1)

    def check(self, features: torch.Tensor, label_logits: torch.Tensor) -> list[DomainCheck]:
        return [
            DomainCheck(bool(s <= self.threshold), round(float(s), 4), round(self.threshold, 4), self.method.value)
            for s in self.scores(features, label_logits).tolist()
        ]

    def save(self, folder: str | Path) -> dict:
        """Write the tensors into ``folder``; returns the manifest entry (method, threshold, file)."""
        from safetensors.torch import save_file

        f = Path(folder) / GATE_FILE
        save_file({k: v.float().contiguous() for k, v in self.tensors.items()} or {"none": torch.zeros(1)}, f)
        return {"method": self.method.value, "threshold": self.threshold, "file": GATE_FILE}

    @classmethod
    def load(cls, folder: str | Path, entry: dict) -> DomainGate:
        from safetensors.torch import load_file

        try:
            method = DomainMethod(entry["method"])
            threshold = float(entry["threshold"])
        except (KeyError, ValueError) as exc:
            raise DomainError(f"domain gate entry {entry!r} has no known method and threshold") from exc
        f = Path(folder) / entry.get("file", GATE_FILE)
        if not f.is_file():
            raise DomainError(f"{folder}: the manifest names a domain gate but {f.name} is missing")
        tensors = {k: v for k, v in load_file(f).items() if k != "none"}
        need = {DomainMethod.MAHALANOBIS: {"mean", "precision"}, DomainMethod.KNN: {"mean", "std", "reference"}}
        missing = need.get(method, set()) - set(tensors)
        if missing:
            raise DomainError(f"{f}: the {method.value} gate lacks {', '.join(sorted(missing))}")
        return cls(method, tensors, threshold)


def fit_gate(method: DomainMethod | str, features: torch.Tensor) -> DomainGate:
    """Fit ``method`` on the training images' encoder features (N, C, h, w); no threshold yet."""
    method = DomainMethod(method)
    if method is DomainMethod.ENERGY:
        return DomainGate(method, {})
    x = pooled(features).double()
    if x.shape[0] < K + 1:
        raise DomainError(f"a {method.value} gate needs more than {K} training images, got {x.shape[0]}")
    mean = x.mean(0, keepdim=True)
    if method is DomainMethod.MAHALANOBIS:
        d = x - mean
        cov = d.T @ d / (x.shape[0] - 1)
        dim = cov.shape[0]
        cov = (1 - SHRINKAGE) * cov + SHRINKAGE * cov.diagonal().mean() * torch.eye(dim, dtype=cov.dtype)
        return DomainGate(method, {"mean": mean.float(), "precision": torch.linalg.inv(cov).float()})
    std = x.std(0, keepdim=True).clamp_min(1e-6)
    return DomainGate(method, {"mean": mean.float(), "std": std.float(), "reference": ((x - mean) / std).float()})


def threshold_for(scores: torch.Tensor, max_flagged: float) -> float:
    """The smallest threshold that flags at most ``max_flagged`` of these in-domain ``scores``."""
    if scores.numel() == 0:
        raise DomainError("no held-out in-domain images to set the threshold on")
    ordered = scores.double().sort().values
    allowed = int(max_flagged * len(ordered))  # images that may lie above the threshold
    return float(ordered[len(ordered) - 1 - allowed])
