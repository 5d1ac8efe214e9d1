"""Clinical efficacy (CE): precision / recall / F1 of the findings a generated report asserts.

The convention of R2Gen(CMN)'s ``compute_ce.py``, which R2GenGPT and PromptMRG report:
both the reference and the generated report are labelled with the 14 CheXpert observations
(they use CheXbert; here the rule labeler ``ml.metrics.labeler``, as no CheXbert weights are
available offline), then every label is binarised — **1 is positive; 0, -1 (uncertain) and
not-mentioned are negative** — and scores are computed over all reports × 14 observations
(No Finding included):

- *micro*: TP, FP, FN pooled over every (report, observation) cell; this is the "CE P/R/F1"
  papers quote;
- *macro*: the mean over the 14 observations of each one's P/R/F1 (0 where undefined, as
  scikit-learn's ``zero_division=0``).

``uncertain="positive"`` counts -1 as positive instead (the "U-ones" reading), for sensitivity checks.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from ml.types import CHEXPERT_OBSERVATIONS

Labels = Mapping[str, int | None]


class ClinicalInputError(ValueError):
    """Reference and generated label lists do not line up."""


@dataclass(frozen=True)
class PRF:
    precision: float
    recall: float
    f1: float
    tp: int = 0
    fp: int = 0
    fn: int = 0


@dataclass
class CEResult:
    micro: PRF
    macro: PRF
    per_observation: dict[str, PRF] = field(default_factory=dict)
    n: int = 0
    uncertain: str = "negative"

    def as_dict(self) -> dict[str, float]:
        """Flat scores for tables: CE-P/R/F1 (micro) and CE-P/R/F1-macro."""
        return {
            "CE-P": self.micro.precision,
            "CE-R": self.micro.recall,
            "CE-F1": self.micro.f1,
            "CE-P-macro": self.macro.precision,
            "CE-R-macro": self.macro.recall,
            "CE-F1-macro": self.macro.f1,
        }


def _prf(tp: int, fp: int, fn: int) -> PRF:
    p = tp / (tp + fp) if tp + fp else 0.0
    r = tp / (tp + fn) if tp + fn else 0.0
    f = 2 * p * r / (p + r) if p + r else 0.0
    return PRF(p, r, f, tp, fp, fn)


def _binary(value: int | None, uncertain: str) -> bool:
    return value == 1 or (uncertain == "positive" and value == -1)


def clinical_efficacy(
    references: Iterable[Labels],
    generated: Iterable[Labels],
    uncertain: str = "negative",
    observations: tuple[str, ...] = CHEXPERT_OBSERVATIONS,
) -> CEResult:
    """CE from label dicts (reference first, generated second), one pair per report."""
    if uncertain not in ("negative", "positive"):
        raise ClinicalInputError(f"uncertain must be 'negative' or 'positive', not {uncertain!r}")
    refs, gens = list(references), list(generated)
    if len(refs) != len(gens):
        raise ClinicalInputError(f"{len(refs)} reference label sets but {len(gens)} generated ones")
    per: dict[str, PRF] = {}
    for obs in observations:
        tp = fp = fn = 0
        for ref, gen in zip(refs, gens, strict=True):
            t, g = _binary(ref.get(obs), uncertain), _binary(gen.get(obs), uncertain)
            tp += t and g
            fp += g and not t
            fn += t and not g
        per[obs] = _prf(tp, fp, fn)
    micro = _prf(
        sum(x.tp for x in per.values()), sum(x.fp for x in per.values()), sum(x.fn for x in per.values())
    )
    k = max(len(per), 1)
    macro = PRF(
        sum(x.precision for x in per.values()) / k,
        sum(x.recall for x in per.values()) / k,
        sum(x.f1 for x in per.values()) / k,
    )
    return CEResult(micro=micro, macro=macro, per_observation=per, n=len(refs), uncertain=uncertain)


def clinical_efficacy_from_text(
    references: list[str], generated: list[str], uncertain: str = "negative"
) -> CEResult:
    """Label both sides with the rule labeler, then compute CE."""
    from ml.metrics.labeler import Labeler

    labeler = Labeler()
    if len(references) != len(generated):
        raise ClinicalInputError(f"{len(references)} references but {len(generated)} generated reports")
    return clinical_efficacy(
        [labeler.label(t) for t in references], [labeler.label(t) for t in generated], uncertain=uncertain
    )
