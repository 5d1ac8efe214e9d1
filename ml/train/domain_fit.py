"""Fit a bundle's domain gate and finding calibration; compare the gate's methods on outliers.

``train`` calls ``fit_domain`` when it writes a bundle, and ``python main.py domain-fit`` calls it
on an existing bundle with a freshly rendered cohort: the same code either way. The methods of
``ml.models.domain`` are each fitted on the training images' encoder features, thresholded on
held-out in-domain images (at most ``max_flagged`` of them above it), and scored on outliers:
synthetic ones made from held-out renders (pure noise, flat grey, inverted, a 2x centre crop) and,
where they are in the asset cache, real radiographs (``ml.assets.dev_radiographs``). The method
that catches the most outliers at its threshold (mean over the groups; then mean AUROC; then the
widest margin) is kept. A group's margin is how far its least unusual image lies beyond the
threshold, in units of the threshold's distance from the median held-out score: scale-free, so the
methods compare, and what tells two methods apart that both catch every outlier.
The calibration's scales and biases are fitted on the held-out images, its prevalences on the
training images (``ml.models.calibration``).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

from ml.models.calibration import Calibration, fit_calibration
from ml.models.domain import DomainError, DomainGate, DomainMethod, fit_gate, threshold_for

log = logging.getLogger("gaze2report.train")

#: At most this share of held-out in-domain images may lie above the gate's threshold.
MAX_FLAGGED = 0.01
#: Synthetic outliers per kind (made from the first held-out images).
N_SYNTHETIC = 32
REAL = "real radiographs"


@torch.no_grad()
def encode(encoder: torch.nn.Module, images: torch.Tensor, chunk: int = 32) -> tuple[torch.Tensor, torch.Tensor]:
    """Encoder features (N, C, h, w) and label logits (N, L) of images (N, 1, S, S), uint8 or [0, 1]."""
    was = encoder.training
    encoder.eval()
    device = encoder.pixel_std.device
    feats, logits = [], []
    for i in range(0, len(images), chunk):
        x = images[i : i + chunk]
        x = (x.float() / 255.0 if x.dtype == torch.uint8 else x.float()).to(device)
        out = encoder(x)
        feats.append(out.features.cpu())
        logits.append(out.label_logits.cpu())
    encoder.train(was)
    if not feats:
        raise ValueError("no images to encode")
    return torch.cat(feats), torch.cat(logits)


def synthetic_outliers(images: torch.Tensor, seed: int, n: int = N_SYNTHETIC) -> dict[str, torch.Tensor]:
    """Images no chest radiograph looks like, made from in-domain ones (N, 1, S, S) in [0, 1]."""
    base = (images[:n].float() / 255.0) if images.dtype == torch.uint8 else images[:n].float()
    gen = torch.Generator().manual_seed(seed)
    s = base.shape[-1]
    c = s // 4
    return {
        "noise": torch.rand(base.shape, generator=gen),
        "flat": torch.rand(len(base), 1, 1, 1, generator=gen).expand_as(base).clone(),
        "inverted": 1.0 - base,
        "cropped": F.interpolate(base[..., c : s - c, c : s - c], size=(s, s), mode="bilinear", align_corners=False),
    }


def load_real(paths: list[Path], size: int) -> tuple[torch.Tensor, list[str]]:
    """Real radiographs preprocessed as at inference (``preprocess``), (N, 1, S, S) in [0, 1]."""
    from ml.imaging import load_image
    from ml.models.gaze2report import preprocess

    return torch.cat([preprocess(load_image(p), size) for p in paths]), [Path(p).name for p in paths]


def cached_real_paths() -> list[Path]:
    """The dev radiographs already in the asset cache (none when they were never fetched)."""
    from ml.assets import AssetError, dev_radiographs

    try:
        return dev_radiographs(fetch_missing=False)
    except AssetError:
        return []


def _auroc(inside: torch.Tensor, outside: torch.Tensor) -> float:
    from ml.train.stages import roc_auc

    scores = torch.cat([inside, outside]).double()
    labels = torch.cat([torch.zeros(len(inside)), torch.ones(len(outside))])
    return float(roc_auc(scores, labels))


def compare_methods(
    fit_feats: torch.Tensor,
    heldout: tuple[torch.Tensor, torch.Tensor],
    outliers: dict[str, tuple[torch.Tensor, torch.Tensor]],
    max_flagged: float = MAX_FLAGGED,
) -> tuple[DomainGate, dict[str, Any]]:
    """Fit, threshold and score every method; returns the best gate and the comparison."""
    results: dict[str, Any] = {}
    gates: dict[str, DomainGate] = {}
    for method in DomainMethod:
        try:
            gate = fit_gate(method, fit_feats)
        except DomainError as exc:  # e.g. too few training images for a covariance
            results[method.value] = {"skipped": str(exc)}
            continue
        inside = gate.scores(*heldout)
        gate.threshold = threshold_for(inside, max_flagged)
        groups = {}
        spread = max(gate.threshold - float(inside.median()), 1e-9)
        for name, (f, lg) in outliers.items():
            out = gate.scores(f, lg)
            groups[name] = {
                "n": len(out),
                "auroc": round(_auroc(inside, out), 4),
                "tpr": round(float((out > gate.threshold).float().mean()), 4),
                "margin": round((float(out.min()) - gate.threshold) / spread, 3),
            }
        results[method.value] = {
            "threshold": round(gate.threshold, 4),
            "heldout_flagged": round(float((inside > gate.threshold).float().mean()), 4),
            "groups": groups,
            "mean_tpr": round(sum(g["tpr"] for g in groups.values()) / max(len(groups), 1), 4),
            "mean_auroc": round(sum(g["auroc"] for g in groups.values()) / max(len(groups), 1), 4),
            "min_margin": min((g["margin"] for g in groups.values()), default=0.0),
        }
        gates[method.value] = gate
    chosen = max(
        gates, key=lambda m: (results[m]["mean_tpr"], results[m]["mean_auroc"], results[m]["min_margin"])
    )
    return gates[chosen], {"chosen": chosen, "methods": results}


def fit_domain(
    encoder: torch.nn.Module,
    fit_images: torch.Tensor,
    fit_labels: torch.Tensor,
    fit_mask: torch.Tensor,
    heldout_images: torch.Tensor,
    heldout_labels: torch.Tensor,
    heldout_mask: torch.Tensor,
    real_paths: list[Path] | None = None,
    seed: int = 0,
    max_flagged: float = MAX_FLAGGED,
) -> tuple[DomainGate, Calibration, dict[str, Any]]:
    """The kept gate (threshold set), the calibration, and the report stored in the manifest."""
    fit_feats, _ = encode(encoder, fit_images)
    held_feats, held_logits = encode(encoder, heldout_images)
    outliers = {k: encode(encoder, v) for k, v in synthetic_outliers(heldout_images, seed).items()}
    real_names: list[str] = []
    if real_paths:
        real, real_names = load_real(real_paths, encoder.cfg.image_size)
        outliers[REAL] = encode(encoder, real)
    gate, comparison = compare_methods(fit_feats, (held_feats, held_logits), outliers, max_flagged)
    calibration = fit_calibration(held_logits, heldout_labels, heldout_mask, fit_labels, fit_mask)
    report: dict[str, Any] = {
        "fitted_on": {"training_images": len(fit_images), "heldout_images": len(heldout_images)},
        "max_flagged": max_flagged,
        "seed": seed,
        "comparison": comparison,
    }
    if real_names:
        scores = gate.scores(*outliers[REAL]).tolist()
        report["real_radiographs"] = {n: round(s, 4) for n, s in zip(real_names, scores, strict=True)}
    log.info("domain gate: kept %s (threshold %.4f); comparison %s", gate.method.value, gate.threshold, comparison)
    return gate, calibration, report


def format_comparison(report: dict[str, Any]) -> str:
    """A plain-text table of the comparison: AUROC and TPR at the threshold per method and group."""
    comp = report["comparison"]
    methods = {m: r for m, r in comp["methods"].items() if "groups" in r}
    groups = list(methods[comp["chosen"]]["groups"])
    fitted = report["fitted_on"]
    lines = [
        f"domain gate fitted on {fitted['training_images']} training images; threshold on "
        f"{fitted['heldout_images']} held-out images (at most {report['max_flagged']:.0%} flagged); kept: {comp['chosen']}",
        f"{'method':<12} {'threshold':>10} {'held-out flagged':>16} "
        + " ".join(f"{g[:16]:>16}" for g in groups)
        + f" {'mean TPR':>9} {'min margin':>10}",
    ]
    for m, r in methods.items():
        cells = " ".join(f"{r['groups'][g]['auroc']:>7.3f}/{r['groups'][g]['tpr']:<8.2f}" for g in groups)
        lines.append(
            f"{m:<12} {r['threshold']:>10.3f} {r['heldout_flagged']:>16.3f} {cells} {r['mean_tpr']:>9.2f}"
            f" {r['min_margin']:>10.2f}"
        )
    lines.append("(each group: AUROC against the held-out renders / share flagged at the threshold;")
    lines.append(" margin: the group's lowest score beyond the threshold, in threshold-minus-median units)")
    if report.get("real_radiographs"):
        lines.append(f"real radiographs, {comp['chosen']} score (threshold {methods[comp['chosen']]['threshold']:.3f}):")
        lines += [f"  {n:<36} {s:>10.3f}" for n, s in report["real_radiographs"].items()]
    return "\n".join(lines)
