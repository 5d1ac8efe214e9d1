"""Chest X-ray reports for the synthetic cohort, in the usual FINDINGS / IMPRESSION form.

Each finding has several phrasings (laterality, lobe or zone and size taken from the ground
truth), normal structures get pertinent negatives unless a finding concerns them, and a ``style``
number picks sentence order and wording so that consecutive cases never share a template. A reader
who missed a finding writes a report without it (and with the normal statement in its place).

The phrases are the project's own, written in common radiology usage; ``iu_statistics`` measures
the Indiana University reports (vocabulary, length) at run time so the cohort can be checked
against them without copying their text into the repository.
"""

from __future__ import annotations

import functools
import re
import tarfile
import xml.etree.ElementTree as ET
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ml.types import Report

N_STYLES = 6


@dataclass
class ReportFinding:
    """What a report needs to know about one finding (from the ground truth)."""

    kind: str
    side: str = ""
    location: str = ""
    lobe: str = ""
    zone: str = ""
    severity: str = ""
    subtle: bool = False
    size_mm: float = 0.0
    ctr: float = 0.0


def _cap(s: str) -> str:
    return s[:1].upper() + s[1:]


def _pick(rng: np.random.Generator, options: list[str]) -> str:
    return options[int(rng.integers(len(options)))]


_SEV_ADV = {"mild": "mildly", "moderate": "moderately", "severe": "markedly"}


def _finding_sentence(f: ReportFinding, rng: np.random.Generator) -> tuple[str, str]:
    """(findings sentence, impression phrase) for one finding."""
    if f.kind == "nodule":
        size = f"{max(4, round(f.size_mm))} mm"
        shape = _pick(rng, ["nodule", "nodular opacity", "rounded opacity", "well-circumscribed nodule"])
        if f.subtle:
            s = _pick(rng, [
                f"There is a subtle {size} {shape} in the {f.location}.",
                f"A subtle {size} {shape} projects over the {f.location}.",
            ])  # fmt: skip
            return s, _pick(rng, [f"Possible {size} {f.location} nodule; CT chest could be considered.",
                                  f"Subtle {f.location} nodule, further evaluation with CT recommended."])  # fmt: skip
        s = _pick(rng, [
            f"There is a {size} {shape} in the {f.location}.",
            f"A {size} {shape} is seen in the {f.location}.",
            f"{_cap(f.location)} {size} {shape}.",
        ])  # fmt: skip
        return s, _pick(rng, [f"{size} {f.location} pulmonary nodule. Recommend CT chest for further evaluation.",
                              f"{_cap(f.location)} nodule measuring {size}, CT recommended."])  # fmt: skip
    if f.kind == "mass":
        size = f"{f.size_mm / 10:.1f} cm"
        s = _pick(rng, [
            f"There is a {size} mass in the {f.location}.",
            f"A lobulated {size} mass is present in the {f.location}.",
            f"{_cap(f.location)} mass measuring approximately {size}.",
        ])  # fmt: skip
        return s, _pick(rng, [f"{_cap(f.location)} mass, concerning for neoplasm. CT chest recommended.",
                              f"{size} {f.location} mass. Further evaluation with CT is recommended."])  # fmt: skip
    if f.kind == "consolidation":
        if f.subtle:
            s = _pick(rng, [
                f"Subtle opacity in the {f.location}, which may represent early consolidation.",
                f"There is minimal haziness in the {f.location}, possibly early consolidation.",
            ])  # fmt: skip
            return s, _pick(rng, [f"Subtle {f.location} opacity, possibly early pneumonia.",
                                  f"Subtle {f.location} airspace opacity; follow-up recommended."])  # fmt: skip
        adj = {
            "mild": _pick(rng, ["patchy", "focal"]),
            "moderate": _pick(rng, ["confluent", "focal"]),
            "severe": "dense",
        }
        a = adj.get(f.severity, "focal")
        s = _pick(rng, [
            f"There is {a} airspace opacity in the {f.location}, consistent with consolidation.",
            f"{_cap(a)} consolidation is seen in the {f.location}.",
            f"{_cap(a)} opacity in the {f.location} compatible with consolidation.",
        ])  # fmt: skip
        if f.severity == "severe":
            s += " Air bronchograms are present."
        return s, _pick(rng, [f"{_cap(f.location)} consolidation, may represent pneumonia in the appropriate clinical setting.",
                              f"{_cap(f.location)} pneumonia is suspected.",
                              f"{_cap(f.location)} airspace disease, probably pneumonia."])  # fmt: skip
    if f.kind == "effusion":
        sev = "small" if f.subtle else f.severity
        extra = _pick(rng, [
            f"with blunting of the {f.side} costophrenic angle",
            "layering at the base" if sev != "small" else f"blunting the {f.side} costophrenic angle",
            "with a meniscus laterally",
        ])  # fmt: skip
        if f.subtle:
            s = _pick(rng, [f"There is minimal blunting of the {f.side} costophrenic angle, which may represent a small effusion.",
                            f"Minimal {f.side} pleural effusion."])  # fmt: skip
            return s, _pick(
                rng, [f"Possible small {f.side} pleural effusion.", f"Minimal {f.side} pleural effusion."]
            )
        s = _pick(rng, [
            f"There is a {sev} {f.side} pleural effusion {extra}.",
            f"{_cap(sev)} {f.side} pleural effusion {extra}.",
            f"A {sev} {f.side}-sided pleural effusion is present.",
        ])  # fmt: skip
        return s, _pick(
            rng, [f"{_cap(sev)} {f.side} pleural effusion.", f"{_cap(sev)} {f.side}-sided pleural effusion."]
        )
    if f.kind == "pneumothorax":
        sev = "small" if f.subtle else f.severity
        if f.subtle:
            s = _pick(rng, [f"There is a small {f.side} apical pneumothorax with a subtle pleural line.",
                            f"A thin {f.side} apical pleural line suggests a small pneumothorax."])  # fmt: skip
            return s, _pick(
                rng, [f"Small {f.side} apical pneumothorax.", f"Possible small {f.side} apical pneumothorax."]
            )
        s = _pick(rng, [
            f"There is a {sev} {f.side} apical pneumothorax with a visible visceral pleural line.",
            f"{_cap(sev)} {f.side} pneumothorax, most evident at the apex.",
            f"A {sev} {f.side}-sided pneumothorax is present, with no lung markings laterally.",
        ])  # fmt: skip
        return s, _pick(
            rng, [f"{_cap(sev)} {f.side} pneumothorax.", f"{_cap(sev)} {f.side}-sided pneumothorax."]
        )
    if f.kind == "cardiomegaly":
        adv = _SEV_ADV.get(f.severity, "mildly")
        ratio = (
            f" (cardiothoracic ratio approximately {f.ctr:.2f})" if f.ctr > 0 and rng.random() < 0.6 else ""
        )
        s = _pick(rng, [
            f"The heart is {adv} enlarged{ratio}.",
            f"The cardiac silhouette is {adv} enlarged{ratio}.",
            f"{_cap(adv)} enlarged cardiac silhouette{ratio}.",
        ])  # fmt: skip
        noun = {"mild": "Mild", "moderate": "Moderate", "severe": "Marked"}.get(f.severity, "Mild")
        return s, _pick(rng, [f"{noun} cardiomegaly.", f"{noun} enlargement of the cardiac silhouette."])
    if f.kind == "atelectasis":
        kind = _pick(rng, ["streaky", "platelike", "bandlike", "discoid"])
        if f.subtle:
            s = f"Minimal {kind} opacity at the {f.side} lung base, probably subsegmental atelectasis."
            return s, _pick(
                rng,
                [
                    f"Minimal {f.side} basilar atelectasis.",
                    f"Subtle {f.side} basilar subsegmental atelectasis.",
                ],
            )
        s = _pick(rng, [
            f"There is {kind} opacity at the {f.side} lung base, consistent with atelectasis.",
            f"{_cap(kind)} atelectasis at the {f.side} base.",
            f"{_cap(kind)} {f.side} basilar opacity compatible with subsegmental atelectasis.",
        ])  # fmt: skip
        return s, _pick(
            rng,
            [f"{_cap(f.side)} basilar atelectasis.", f"{_cap(f.side)} lower lobe subsegmental atelectasis."],
        )
    if f.kind == "edema":
        adj = {"mild": "mild", "moderate": "moderate", "severe": "severe"}.get(f.severity, "mild")
        s = _pick(rng, [
            f"There is {adj} bilateral perihilar haziness with vascular indistinctness, consistent with pulmonary edema.",
            f"{_cap(adj)} pulmonary vascular congestion with perihilar opacities, compatible with edema.",
            f"Bilateral perihilar airspace opacities in a {adj} pattern, consistent with pulmonary edema.",
        ])  # fmt: skip
        return s, _pick(rng, [f"{_cap(adj)} pulmonary edema.", f"{_cap(adj)} interstitial pulmonary edema."
                              if adj == "mild" else f"{_cap(adj)} pulmonary edema."])  # fmt: skip
    raise ValueError(f"unknown finding kind {f.kind!r}")


_NEGATIVES: dict[str, list[str]] = {
    "heart": [
        "The heart is normal in size.",
        "Heart size is within normal limits.",
        "The cardiac silhouette is normal in size.",
        "Normal heart size.",
    ],
    "mediastinum": [
        "The mediastinal contours are unremarkable.",
        "Mediastinal contours are within normal limits.",
        "The mediastinum is not widened.",
        "Normal mediastinal contours.",
    ],
    "lungs": [
        "The lungs are clear.",
        "The lungs are clear bilaterally.",
        "No focal airspace consolidation.",
        "There is no focal consolidation.",
    ],
    "effusion": ["No pleural effusion.", "There is no pleural effusion.", "No pleural effusions."],
    "pneumothorax": ["No pneumothorax.", "There is no pneumothorax.", "No evidence of pneumothorax."],
    "pleura": [
        "No pleural effusion or pneumothorax.",
        "There is no pleural effusion or pneumothorax.",
        "No pneumothorax or pleural effusion is seen.",
    ],
    "bones": [
        "The osseous structures are intact.",
        "No acute osseous abnormality.",
        "The visualized bony structures are unremarkable.",
        "No acute bony abnormality.",
    ],
}
_NORMAL_IMPRESSIONS = [
    "No acute cardiopulmonary abnormality.",
    "No acute cardiopulmonary process.",
    "No active disease.",
    "Normal chest radiograph.",
    "No acute cardiopulmonary disease.",
]
# sentence order per style: where the positive findings go relative to the negatives
_ORDERS = [
    ("positives", "heart", "mediastinum", "lungs", "pleura", "bones"),
    ("heart", "mediastinum", "positives", "lungs", "pleura", "bones"),
    ("positives", "lungs", "effusion", "pneumothorax", "heart", "bones"),
    ("heart", "positives", "lungs", "pleura", "mediastinum"),
    ("lungs", "positives", "pleura", "heart", "mediastinum", "bones"),
    ("positives", "heart", "lungs", "effusion", "pneumothorax"),
]


def write_report(
    findings: list[ReportFinding], style: int, rng: np.random.Generator, devices: tuple[str, ...] = ()
) -> Report:
    """A report mentioning exactly ``findings`` (the ones this reader saw) and the support ``devices``
    (``ml.cohort.patient.DEVICES``; lines and tubes come first, as radiologists dictate them), in
    template ``style``."""
    from ml.cohort.patient import DEVICE_SENTENCES

    kinds = {f.kind for f in findings}
    positives = [_finding_sentence(f, rng) for f in findings]
    suppressed = set()
    if kinds & {"cardiomegaly"}:
        suppressed |= {"heart"}
    if kinds & {"consolidation", "edema", "atelectasis", "nodule", "mass"}:
        suppressed |= {"lungs"}
    if "effusion" in kinds:
        suppressed |= {"effusion", "pleura"}
    if "pneumothorax" in kinds:
        suppressed |= {"pneumothorax", "pleura"}
    sentences: list[str] = [_pick(rng, list(DEVICE_SENTENCES[d])) for d in devices]
    for part in _ORDERS[style % len(_ORDERS)]:
        if part == "positives":
            sentences += [p[0] for p in positives]
        elif part == "pleura" and ("effusion" in kinds) != ("pneumothorax" in kinds):
            sentences.append(_pick(rng, _NEGATIVES["pneumothorax" if "effusion" in kinds else "effusion"]))
        elif part not in suppressed:
            if (
                part == "lungs"
                and kinds & {"nodule", "mass", "atelectasis"}
                and not kinds & {"consolidation", "edema"}
            ):
                sentences.append(_pick(rng, ["No focal consolidation.", "There is no focal consolidation."]))
            elif part != "lungs" or "lungs" not in suppressed:
                sentences.append(_pick(rng, _NEGATIVES[part]))
    if not positives:
        impression = _pick(rng, _NORMAL_IMPRESSIONS)
    else:
        order = sorted(range(len(positives)), key=lambda i: _URGENCY.get(findings[i].kind, 9))
        impression = " ".join(f"{k + 1}. {positives[i][1]}" if len(positives) > 1 and style % 2 else positives[i][1]
                              for k, i in enumerate(order))  # fmt: skip
    return Report(findings=" ".join(dict.fromkeys(sentences)), impression=impression)


_URGENCY = {
    "pneumothorax": 0,
    "mass": 1,
    "consolidation": 2,
    "edema": 3,
    "effusion": 4,
    "nodule": 5,
    "cardiomegaly": 6,
    "atelectasis": 7,
}


# --------------------------------------------------------------------------- IU statistics

_WORD = re.compile(r"[a-z]+")


def words(text: str) -> list[str]:
    return _WORD.findall(text.lower())


@dataclass
class TextStats:
    n_reports: int
    vocabulary: Counter
    lengths: np.ndarray  # words per report (findings + impression)


def iu_statistics(path: Path | None = None) -> TextStats:
    """Vocabulary and length distribution of the Indiana University reports (read in place, once)."""
    if path is None:
        from ml import assets

        path = assets.path("iu_reports")
    return _iu_statistics(Path(path))


@functools.lru_cache(maxsize=2)
def _iu_statistics(path: Path) -> TextStats:
    vocab: Counter = Counter()
    lengths = []
    with tarfile.open(path) as tf:
        for member in tf:
            if not member.isfile() or not member.name.endswith(".xml"):
                continue
            root = ET.fromstring(tf.extractfile(member).read())  # type: ignore[union-attr]
            text = " ".join(
                (n.text or "")
                for n in root.iter("AbstractText")
                if (n.get("Label") or "").upper() in ("FINDINGS", "IMPRESSION")
            )
            w = words(text)
            if w:
                vocab.update(w)
                lengths.append(len(w))
    return TextStats(len(lengths), vocab, np.asarray(lengths))


def text_statistics(texts: list[str]) -> TextStats:
    vocab: Counter = Counter()
    lengths = []
    for t in texts:
        w = words(t)
        vocab.update(w)
        lengths.append(len(w))
    return TextStats(len(texts), vocab, np.asarray(lengths))


def compare_to_iu(texts: list[str], iu: TextStats | None = None) -> dict[str, object]:
    """How the cohort's reports compare with the Indiana University reports (no IU text is kept).

    ``token_coverage``: share of the cohort's word tokens whose word occurs in the IU reports;
    ``oov_words``: cohort words the IU reports never use; lengths are words per report
    (FINDINGS + IMPRESSION) as 10th/50th/90th percentiles.
    """
    iu = iu or iu_statistics()
    bodies = [f"{r.findings} {r.impression}" for r in (Report.parse(t) for t in texts)]  # no headers, as IU
    ours = text_statistics(bodies)
    total = sum(ours.vocabulary.values())
    covered = sum(n for w, n in ours.vocabulary.items() if w in iu.vocabulary)
    pct = [10, 50, 90]
    return {
        "n_reports": ours.n_reports,
        "n_iu_reports": iu.n_reports,
        "token_coverage": round(covered / max(total, 1), 4),
        "type_coverage": round(
            sum(1 for w in ours.vocabulary if w in iu.vocabulary) / max(len(ours.vocabulary), 1), 4
        ),
        "oov_words": sorted(w for w in ours.vocabulary if w not in iu.vocabulary),
        "length_percentiles": [float(v) for v in np.percentile(ours.lengths, pct)]
        if len(ours.lengths)
        else [],
        "iu_length_percentiles": [float(v) for v in np.percentile(iu.lengths, pct)],
        "distinct_reports": len(set(texts)),
    }


def dictation_timestamps(
    text: str, start_s: float, rng: np.random.Generator, words_per_s: float = 2.6
) -> list[tuple[str, float, float]]:
    """Word timings of the report as if dictated from ``start_s`` on (REFLACX's
    ``timestamps_transcription.csv``): ~2.6 words/s, short pauses between sentences."""
    out: list[tuple[str, float, float]] = []
    t = start_s
    for token in Report.parse(text).findings.split() + ["."] + Report.parse(text).impression.split():
        if token == ".":
            t += float(rng.uniform(0.5, 1.2))  # between the sections
            continue
        dur = max(0.12, float(rng.gamma(4.0, 1.0 / (4.0 * words_per_s))))
        out.append((token, round(t, 3), round(t + dur, 3)))
        t += dur
        if token.endswith("."):
            t += float(rng.uniform(0.2, 0.7))
    return out
