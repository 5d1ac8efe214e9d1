"""Redrafting: keep the draft that agrees best with the image model.

The report model is told what the encoder finds likely ("Likely findings: lung lesion (left mid),
pleural effusion (right lower)"), and a 135M model sometimes writes one of them and drops the other,
or names a finding on the wrong side. When its first draft does, drafts sampled from the same
prompt are read by the rule labeler and scored by how well they agree with the encoder; the best is
kept, and the first draft wins ties. Every candidate is the model's own text: nothing is inserted.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field

from ml.contracts import EncoderFinding
from ml.metrics.labeler import POSITIVE, UNCERTAIN, Labeler, labeler_sentences

#: Sampling temperature of the redrafts: varied enough to word a finding differently, cool enough
#: to keep the report's form.
REDRAFT_TEMPERATURE = 0.7
#: Positive labels that say nothing for or against the image model's findings.
_NEUTRAL = frozenset({"No Finding", "Support Devices"})
_SIDES = {"left": re.compile(r"\bleft\b"), "right": re.compile(r"\bright\b")}

_LABELER = Labeler()


@dataclass
class Agreement:
    """How one draft's findings (rule labeler) agree with the encoder's likely findings."""

    named: set[str] = field(default_factory=set)  # likely findings the draft names as present
    missed: set[str] = field(default_factory=set)  # likely findings it leaves out
    extra: set[str] = field(default_factory=set)  # findings it names that the encoder does not find likely
    wrong_side: set[str] = field(default_factory=set)  # likely findings it puts only on the other side
    hedged: set[str] = field(default_factory=set)  # unlikely findings it calls possible ("may be pneumonia")

    @property
    def score(self) -> tuple[int, int]:
        """Higher is better: findings agreed on, then fewer hedges about unlikely ones."""
        return len(self.named) - len(self.extra) - len(self.wrong_side), -len(self.hedged)

    @property
    def complete(self) -> bool:
        """Nothing to improve on: every likely finding named, on its side, and nothing else."""
        return not (self.missed or self.extra or self.wrong_side or self.hedged)


def agreement(text: str, likely: Sequence[EncoderFinding]) -> Agreement:
    """Score ``text`` against the encoder's ``likely`` findings (``Gaze2Report.likely_findings``).

    A likely finding with a side ("left upper") is on the wrong side when a sentence that names it
    as present names only the other side (a draft that says "right" and then "left" contradicts
    itself).
    """
    sentences = labeler_sentences(text)
    positive: dict[str, list[str]] = {}
    uncertain: set[str] = set()
    for m in _LABELER.mentions(text):
        if m.observation in _NEUTRAL:
            continue
        if m.status == POSITIVE:
            positive.setdefault(m.observation, []).append(sentences[m.sentence])
        elif m.status == UNCERTAIN:
            uncertain.add(m.observation)
    wanted = {f.label: f.place.split(" ")[0] for f in likely if f.label not in _NEUTRAL}
    out = Agreement(
        named=set(wanted) & set(positive),
        missed=set(wanted) - set(positive),
        extra=set(positive) - set(wanted),
        hedged=uncertain - set(positive) - set(wanted),
    )
    for label in out.named:
        side = wanted[label]
        if side not in _SIDES:
            continue
        other = "right" if side == "left" else "left"
        if any(_SIDES[other].search(s) and not _SIDES[side].search(s) for s in positive[label]):
            out.wrong_side.add(label)
    return out


def well_formed(text: str) -> bool:
    """A redraft may replace the first draft only if it is a whole report in the expected form."""
    return "FINDINGS:" in text and "IMPRESSION:" in text and "\ufffd" not in text


def best(texts: Sequence[str], likely: Sequence[EncoderFinding]) -> int:
    """Index of the draft that agrees best with ``likely``; the earliest wins ties."""
    scores = [agreement(t, likely).score for t in texts]
    return scores.index(max(scores))
