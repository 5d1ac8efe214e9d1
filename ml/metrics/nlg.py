"""Report-generation metrics the field reports: BLEU-1..4, METEOR, ROUGE-L, CIDEr (pycocoevalcap).

Computed the way R2Gen / R2GenGPT / PromptMRG compute them so numbers are comparable:
reports are cleaned with R2Gen's MIMIC-CXR cleaner (lower-case, numbered-list markers and
punctuation removed, sentences joined by `` . ``), then scored corpus-level with pycocoevalcap's
``Bleu(4)`` (closest reference length), ``Meteor`` (the METEOR 1.5 jar: needs Java),
``Rouge`` (ROUGE-L, β = 1.2) and ``Cider`` (CIDEr-D, IDF from the references).
Without Java, METEOR is reported as ``None`` with the reason in ``NLGResult.skipped``.
"""

from __future__ import annotations

import re
import shutil
from dataclasses import dataclass, field

METRICS: tuple[str, ...] = ("BLEU-1", "BLEU-2", "BLEU-3", "BLEU-4", "METEOR", "ROUGE-L", "CIDEr")

_HEADER = re.compile(r"\b(?:findings|impression)\s*:", re.IGNORECASE)
_SENT_PUNCT = re.compile(r"[.,?;*!%^&_+():\-\[\]{}]")


class NLGInputError(ValueError):
    """References and hypotheses do not line up."""


@dataclass
class NLGResult:
    """Corpus scores (``None`` where a metric was skipped), per-report scores, and skip reasons."""

    scores: dict[str, float | None]
    per_report: dict[str, list[float]] = field(default_factory=dict)
    skipped: dict[str, str] = field(default_factory=dict)
    n: int = 0


def clean_report(text: str) -> str:
    """R2Gen's ``clean_report_mimic_cxr``: lower-case sentences without punctuation, joined by `` . ``."""
    text = _HEADER.sub(". ", text).strip().lstrip(". ")
    text = text.replace("\n", " ")
    text = re.sub(r"_{2,}", "_", text)
    text = re.sub(r" {2,}", " ", text)
    text = re.sub(r"\.{2,}", ".", text)
    text = text.replace("1. ", "")
    for k in range(2, 6):
        text = text.replace(f". {k}. ", ". ").replace(f" {k}. ", ". ")
    sentences = text.strip().lower().split(". ")
    cleaned = []
    for sent in sentences:
        s = sent.replace('"', "").replace("/", "").replace("\\", "").replace("'", "").strip().lower()
        s = _SENT_PUNCT.sub("", s)
        s = " ".join(s.split())
        if s:
            cleaned.append(s)
    return " . ".join(cleaned) + " ." if cleaned else ""


def meteor_status() -> tuple[bool, str]:
    """(available, reason): METEOR needs a ``java`` executable and pycocoevalcap's jar."""
    if shutil.which("java") is None:
        return (
            False,
            "METEOR skipped: no `java` on PATH (install a JRE, e.g. `apt-get install default-jre-headless`)",
        )
    try:
        from pycocoevalcap.meteor import meteor as meteor_module
    except ImportError:
        return False, "METEOR skipped: pycocoevalcap is not installed (pip install pycocoevalcap)"
    from pathlib import Path

    jar = Path(meteor_module.__file__).with_name(meteor_module.METEOR_JAR)
    if not jar.exists():
        return False, f"METEOR skipped: {jar} is missing"
    return True, ""


_METEOR_SCORER = None  # one JVM per process: starting METEOR (and loading its tables) takes seconds


def _meteor(gts: dict[int, list[str]], res: dict[int, list[str]]) -> tuple[float, list[float]]:
    global _METEOR_SCORER
    if _METEOR_SCORER is None:
        import atexit

        from pycocoevalcap.meteor.meteor import Meteor

        _METEOR_SCORER = Meteor()
        atexit.register(close_meteor)
    score, scores = _METEOR_SCORER.compute_score(gts, res)
    return float(score), [float(s) for s in scores]


def close_meteor() -> None:
    """Stop the METEOR JVM (also registered with ``atexit``)."""
    global _METEOR_SCORER
    scorer, _METEOR_SCORER = _METEOR_SCORER, None
    if scorer is None:
        return
    proc = scorer.meteor_p
    if proc.stdin:
        proc.stdin.close()
    proc.kill()
    proc.wait()
    scorer.meteor_p = _Closed()  # Meteor.__del__ closes stdin and kills: give it a harmless stand-in


class _Closed:
    """Stand-in for the stopped METEOR process."""

    class _Pipe:
        def close(self) -> None:
            pass

    stdin = _Pipe()

    def kill(self) -> None:
        pass

    def wait(self) -> int:
        return 0


def compute_nlg(
    references: list[str],
    hypotheses: list[str],
    *,
    clean: bool = True,
    meteor: bool = True,
) -> NLGResult:
    """Score generated reports against references (one reference per hypothesis, same order)."""
    if len(references) != len(hypotheses):
        raise NLGInputError(f"{len(references)} references but {len(hypotheses)} generated reports")
    if not references:
        raise NLGInputError("no reports to score")
    try:
        from pycocoevalcap.bleu.bleu import Bleu
        from pycocoevalcap.cider.cider import Cider
        from pycocoevalcap.rouge.rouge import Rouge
    except ImportError as exc:  # pragma: no cover - pycocoevalcap is in the ml extra
        raise ImportError("NLG metrics need pycocoevalcap: pip install 'gaze2report[ml]'") from exc

    prep = clean_report if clean else (lambda t: " ".join(t.split()))
    # an empty hypothesis is scored as a single placeholder token so every scorer accepts it
    gts = {i: [prep(r) or "<empty>"] for i, r in enumerate(references)}
    res = {i: [prep(h) or "<empty>"] for i, h in enumerate(hypotheses)}

    scores: dict[str, float | None] = {}
    per: dict[str, list[float]] = {}
    bleu, bleu_each = Bleu(4).compute_score(gts, res, verbose=0)
    for k in range(4):
        scores[f"BLEU-{k + 1}"] = float(bleu[k])
        per[f"BLEU-{k + 1}"] = [float(x) for x in bleu_each[k]]
    skipped: dict[str, str] = {}
    available, reason = meteor_status() if meteor else (False, "METEOR skipped: disabled by the caller")
    if available:
        scores["METEOR"], per["METEOR"] = _meteor(gts, res)
    else:
        scores["METEOR"] = None
        skipped["METEOR"] = reason
    rouge, rouge_each = Rouge().compute_score(gts, res)
    scores["ROUGE-L"], per["ROUGE-L"] = float(rouge), [float(x) for x in rouge_each]
    cider, cider_each = Cider().compute_score(gts, res)
    scores["CIDEr"], per["CIDEr"] = float(cider), [float(x) for x in cider_each]
    return NLGResult(
        scores={m: scores[m] for m in METRICS}, per_report=per, skipped=skipped, n=len(references)
    )
