"""MeSH terms (as the Indiana University indexers assigned them) → the 14 CheXpert observations.

An IU term is a heading followed by subheadings, e.g. ``Pleural Effusion/right/small`` or
``Opacity/lung/base/left``. Each rule below names a heading and, where the heading is broader
than the observation, the subheadings that must (or must not) be present. The mapping is
positive-only because the indexers list what a report asserts, not what it rules out: an indexed
report without a matching term counts as negative for that observation.

The rules follow the CheXpert mention lists (what the labeler looks for), so the same concept
counts on both sides: e.g. ``Pulmonary Congestion`` → Edema (CheXpert's "vascular congestion"),
``Cardiac Shadow/enlarged`` → Cardiomegaly, while calcified granulomas, scarring and blunted
costophrenic angles map to nothing (CheXpert does not count them either).
``No Finding`` is derived as CheXpert derives it: 1 when none of the 12 pathologies is positive.
"""

from __future__ import annotations

from dataclasses import dataclass

from ml.types import CHEXPERT_OBSERVATIONS

#: Observations that are pathologies (No Finding is derived from these; Support Devices is not one).
PATHOLOGIES: tuple[str, ...] = tuple(
    o for o in CHEXPERT_OBSERVATIONS if o not in ("No Finding", "Support Devices")
)


@dataclass(frozen=True)
class MeshRule:
    heading: str  # MeSH heading, compared case-insensitively
    observation: str
    any_of: tuple[str, ...] = ()  # at least one of these subheadings must be present (if given)
    none_of: tuple[str, ...] = ()  # none of these subheadings may be present


_LUNGISH = ("lung", "retrocardiac")

RULES: tuple[MeshRule, ...] = (
    MeshRule("Cardiomegaly", "Cardiomegaly"),
    MeshRule("Cardiac Shadow", "Cardiomegaly", any_of=("enlarged",)),
    MeshRule("Heart", "Cardiomegaly", any_of=("enlarged",)),
    MeshRule(
        "Mediastinum",
        "Enlarged Cardiomediastinum",
        any_of=("prominent", "enlarged", "widened"),
        none_of=("lymph nodes",),
    ),
    MeshRule(
        "Opacity",
        "Lung Opacity",
        none_of=(
            "ribs",
            "clavicle",
            "humerus",
            "breast",
            "abdomen",
            "spine",
            "thoracic vertebrae",
            "shoulder",
            "bone and bones",
        ),
    ),
    MeshRule("Density", "Lung Opacity", any_of=_LUNGISH),
    MeshRule("Airspace Disease", "Lung Opacity"),
    MeshRule("Infiltrate", "Lung Opacity"),
    MeshRule("Nodule", "Lung Lesion", none_of=("breast", "ribs", "thyroid gland", "neck")),
    MeshRule("Mass", "Lung Lesion", none_of=("breast", "abdomen", "neck")),
    MeshRule("Pulmonary Edema", "Edema"),
    MeshRule("Pulmonary Congestion", "Edema"),
    MeshRule("Heart Failure", "Edema"),
    MeshRule("Consolidation", "Consolidation"),
    MeshRule("Pneumonia", "Pneumonia"),
    MeshRule("Pulmonary Atelectasis", "Atelectasis"),
    MeshRule("Pneumothorax", "Pneumothorax"),
    MeshRule("Hydropneumothorax", "Pneumothorax"),
    MeshRule("Hemopneumothorax", "Pneumothorax"),
    MeshRule("Pleural Effusion", "Pleural Effusion"),
    MeshRule("Hydropneumothorax", "Pleural Effusion"),
    MeshRule("Hemopneumothorax", "Pleural Effusion"),
    MeshRule("Hemothorax", "Pleural Effusion"),
    MeshRule("Thickening", "Pleural Other", any_of=("pleura",)),
    MeshRule("Cicatrix", "Pleural Other", any_of=("pleura",)),
    MeshRule("Calcinosis", "Pleural Other", any_of=("pleura",)),
    MeshRule("Pleura", "Pleural Other"),
    MeshRule("Fractures, Bone", "Fracture"),
    MeshRule("Catheters, Indwelling", "Support Devices"),
    MeshRule("Implanted Medical Device", "Support Devices"),
    MeshRule("Medical Device", "Support Devices"),
    MeshRule("Tube, Inserted", "Support Devices"),
    MeshRule("Stents", "Support Devices"),
    MeshRule("Surgical Instruments", "Support Devices"),
)

_BY_HEADING: dict[str, list[MeshRule]] = {}
for _rule in RULES:
    _BY_HEADING.setdefault(_rule.heading.lower(), []).append(_rule)


def split_term(term: str) -> tuple[str, tuple[str, ...]]:
    """``"Opacity/lung/base/left"`` → (``"opacity"``, (``"lung"``, ``"base"``, ``"left"``)), lower-cased."""
    parts = [" ".join(p.split()).lower() for p in term.split("/")]
    return parts[0], tuple(p for p in parts[1:] if p)


def observations_for_term(term: str) -> set[str]:
    """The observations one MeSH term asserts (empty for terms outside the 14)."""
    heading, subs = split_term(term)
    found = set()
    for rule in _BY_HEADING.get(heading, ()):
        if rule.any_of and not any(s in subs for s in rule.any_of):
            continue
        if any(s in subs for s in rule.none_of):
            continue
        found.add(rule.observation)
    return found


def labels_from_mesh(terms: list[str]) -> dict[str, int]:
    """Human MeSH terms of one indexed report → {observation: 1 | 0} for all 14 observations."""
    positive: set[str] = set()
    for term in terms:
        positive |= observations_for_term(term)
    labels = {name: int(name in positive) for name in CHEXPERT_OBSERVATIONS}
    labels["No Finding"] = int(not any(labels[p] for p in PATHOLOGIES))
    return labels
