"""How well a bundle's vision encoder sees each finding, on any cohort: ROC AUC, how often it
crosses the prompt's threshold, how well calibrated its probabilities are (ECE, before and after
the bundle's calibration), and how many of the cohort's images its domain gate flags.

The drafts can only name what the encoder's diagnosis prompt names (``LIKELY``), so when a draft
misses a finding this says whether the encoder missed it first. A large held-out cohort (e.g.
``cohort --weights nodule=0.5``) gives AUCs that a 120-image test split cannot: with 25 positives
one image moves an AUC by a few hundredths.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any


def check_encoder(
    bundle: str | Path | None,
    cohort: str | Path,
    split: str = "all",
    device: str = "cpu",
    progress: bool = True,
) -> dict[str, Any]:
    """``encoder_check`` of the bundle's encoder on a cohort's ``split`` ("all" = every study)."""
    from ml.models.bundle import load_encoder, read_domain
    from ml.train.data import DataError, load_studies, prepare
    from ml.train.stages import encoder_check

    encoder = load_encoder(bundle, device)
    studies = [s for s in load_studies(cohort) if split == "all" or s.split == split]
    if not studies:
        raise DataError(f"no studies in split '{split}' of {cohort}")
    data = prepare(studies, encoder.cfg.image_size, encoder.grid_size(), progress=progress)
    gate, calibration = read_domain(bundle)
    check = encoder_check(encoder, data, list(range(len(data))), encoder.pixel_std.device, calibration=calibration)
    out = {"cohort": str(cohort), "split": split, **check}
    if gate is not None:
        from ml.train.domain_fit import encode

        flags = gate.check(*encode(encoder, data.images))
        out["domain"] = {
            "method": gate.method.value,
            "threshold": round(gate.threshold, 4),
            "flagged": round(sum(not c.in_domain for c in flags) / len(flags), 4),
            "flagged_ids": [i for i, c in zip(data.ids, flags, strict=True) if not c.in_domain],
            "max_score": max(c.score for c in flags),
        }
    return out


def format_check(check: dict[str, Any]) -> str:
    """A plain-text table: one row per finding, sorted by AUC."""
    rows = sorted(check["auc"], key=lambda n: check["auc"][n])
    after = check.get("ece_calibrated")
    lines = [
        f"encoder check: {check['images']} images ({check['split']}) of {check['cohort']}; "
        f"mean AUC {check['auc_mean']:.3f}",
        f"{'finding':<28} {'positives':>9} {'AUC':>6} {'sensitivity':>11} {'false pos.':>10} {'ECE':>6}"
        + (f" {'ECE calibrated':>14}" if after is not None else ""),
    ]
    for n in rows:
        lines.append(
            f"{n:<28} {check['positives'][n]:>9} {check['auc'][n]:>6.3f} "
            f"{check['sensitivity'][n]:>11.2f} {check['false_positive_rate'][n]:>10.2f} {check['ece'][n]:>6.3f}"
            + (f" {after[n]:>14.3f}" if after is not None else "")
        )
    domain = check.get("domain")
    if domain:
        lines.append(
            f"domain gate ({domain['method']}, threshold {domain['threshold']:.3f}): "
            f"{domain['flagged']:.1%} of these images flagged as unlike the training images "
            f"(highest score {domain['max_score']:.3f})"
        )
    else:
        lines.append("domain gate: none (the bundle carries no domain gate, so no image is flagged or cleared)")
    lines.append("(sensitivity and false positives at the probability the prompt names a finding;")
    lines.append(
        " ECE: expected calibration error of the raw probabilities"
        + (", and of the bundle's calibrated ones)" if after is not None else "; the bundle has no calibration)")
    )
    return "\n".join(lines)
