"""A harvest becomes training studies and the gate's held-out slice.

Why here: the refresh, its resume and the GUI's "what has arrived since" all need the same split of
a site's signed studies, and the rule that the gate's slice (the newest signings) never trains.
Labels are what the site said: the rule labeler's reading of the signed report, with every label a
reader drew an annotation for made positive. Study ids are digests of the uids, so nothing a run
writes into a bundle names a study.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from ml.store.harvest import Harvest, HarvestedStudy, StudyLeftOut
from ml.types import CHEXPERT_OBSERVATIONS, Report, Scanpath, ScanpathSource, Study

#: The split of the gate's held-out slice (the evaluation layer's test split).
HOLDOUT = "test"


class SiteDataError(ValueError):
    """The harvest cannot make a refresh (too few signed studies, a resumed run's study gone)."""


def uid_digest(uids: Iterable[str]) -> str:
    """One sha256 over a set of study uids (sorted, one per line): provenance without the uids."""
    return hashlib.sha256("\n".join(sorted(uids)).encode()).hexdigest()


def study_key(uid: str) -> str:
    """The id a harvested study trains under: a digest of its uid, never the uid itself."""
    return hashlib.sha256(uid.encode()).hexdigest()[:16]


@dataclass
class SiteData:
    """The studies a refresh trains on and the newest signed ones the gate scores on."""

    train: list[Study]
    holdout: list[Study]
    harvest: Harvest
    train_uids: list[str] = field(default_factory=list)
    holdout_uids: list[str] = field(default_factory=list)

    @property
    def studies(self) -> list[Study]:
        return self.train + self.holdout

    def selection(self) -> dict[str, list[str]]:
        """The uids of each part: kept in the run folder (never the bundle) so a resume trains the same."""
        return {"train": list(self.train_uids), "holdout": list(self.holdout_uids)}

    def provenance(self) -> dict:
        """What the candidate's manifest records: hashes and counts, no uid and no name."""
        trained_uids = set(self.train_uids)
        trained = [h for h in self.harvest.studies if h.study.uid in trained_uids]
        positives = Counter(o for s in self.train for o, v in s.labels.items() if v == 1)
        sessions = [s for h in trained for s in h.sessions]
        return {
            "studies": len(self.train),
            "holdout": len(self.holdout),
            "study_uids_sha256": uid_digest(self.train_uids),
            "holdout_uids_sha256": uid_digest(self.holdout_uids),
            "positives_per_observation": {o: positives[o] for o in CHEXPERT_OBSERVATIONS if positives[o]},
            "readers": len({h.reader for h in trained} | {s.session.reader for s in sessions}),
            "signing_readers": len({h.reader for h in trained}),
            "sessions": len(sessions),
            "fixations": sum(len(s.fixations) for s in sessions),
            "annotations": sum(len(h.annotations) for h in trained),
            "left_out": {reason.value: len(uids) for reason, uids in self.harvest.left_out.items()},
            "sessions_left_out": {reason.value: n for reason, n in self.harvest.sessions_left_out.items()},
        }


def site_data(
    harvest: Harvest,
    holdout: int,
    *,
    keep: dict[str, list[str]] | None = None,
    image_size: Callable[[str], tuple[int, int]] | None = None,
) -> SiteData:
    """Split a harvest: the newest ``holdout`` signings are the gate's, the rest train.

    ``keep`` is a run's recorded ``selection()``: a resumed refresh trains on exactly those studies,
    even if more were signed since. ``image_size`` reads an image's (width, height) for the
    recorded scanpaths (default: decode it with ``ml.imaging``).
    """
    if holdout < 1:
        raise SiteDataError(f"the gate needs at least one held-out study, not {holdout}")
    by_uid = {h.study.uid: h for h in harvest.studies}
    if keep is not None:
        gone = [u for u in keep["train"] + keep["holdout"] if u not in by_uid]
        if gone:
            raise SiteDataError(
                f"{len(gone)} studies this run trained on can no longer be harvested ({harvest.summary()}): "
                "delete the run folder and start a new refresh"
            )
        train_uids, holdout_uids = list(keep["train"]), list(keep["holdout"])
    else:
        _check_enough(harvest, holdout)
        ordered = [h.study.uid for h in harvest.studies]  # oldest signing first
        train_uids, holdout_uids = ordered[:-holdout], ordered[-holdout:]
    size_of = image_size or _decoded_size
    return SiteData(
        [training_study(by_uid[u], "train", size_of) for u in train_uids],
        [training_study(by_uid[u], HOLDOUT, size_of) for u in holdout_uids],
        harvest,
        train_uids,
        holdout_uids,
    )


#: A refresh needs at least this many studies to train on besides the held-out ones.
MIN_TRAIN = 2


def _check_enough(harvest: Harvest, holdout: int) -> None:
    n = len(harvest.studies)
    if n >= holdout + MIN_TRAIN:
        return
    if n == 0 and not harvest.left_out:
        raise SiteDataError("the store holds no studies: read and sign studies before a refresh")
    if n == 0 and set(harvest.left_out) == {StudyLeftOut.UNSIGNED}:
        raise SiteDataError("no study in the store has a signed report: only signed reports train")
    missing = len(harvest.left_out.get(StudyLeftOut.IMAGE_MISSING, []))
    moved = (
        f"; {missing} images are not where their study says (moved? put them back or re-import them)"
        if missing
        else ""
    )
    raise SiteDataError(
        f"{n} usable signed studies, but a refresh needs {holdout} held out for the gate and at least "
        f"{MIN_TRAIN} to train ({harvest.summary()}){moved}"
    )


def training_study(h: HarvestedStudy, split: str, image_size: Callable[[str], tuple[int, int]]) -> Study:
    """One harvested study as the training data's ``Study``: the signed report, the labeler's
    labels made positive where a reader annotated, the annotations as findings and every usable
    session as a recorded scanpath."""
    from ml.metrics.labeler import label_report

    text = h.report.text
    labels: dict[str, int | None] = dict(label_report(text))
    findings = [a.finding for a in h.annotations]
    drawn = {f.label for f in findings if f.label in CHEXPERT_OBSERVATIONS and f.label != "No Finding"}
    for label in drawn:
        labels[label] = 1
    if drawn and labels.get("No Finding") == 1:
        labels["No Finding"] = 0
    size = image_size(h.study.image_path) if h.sessions else (0, 0)
    scanpaths = [
        Scanpath(list(s.fixations), size, ScanpathSource.RECORDED, s.session.reader) for s in h.sessions
    ]
    metadata = {k: v for k, v in h.study.metadata.items() if k == "px_per_deg"}
    return Study(
        id=study_key(h.study.uid),
        image_path=h.study.image_path,
        report=Report.parse(text),
        scanpaths=scanpaths,
        findings=findings,
        labels=labels,
        split=split,
        dataset="site",
        metadata=metadata,
    )


def _decoded_size(path: str) -> tuple[int, int]:
    from ml.imaging import load_image

    return load_image(path).size


def arrived_since(harvest: Harvest, since: str) -> tuple[int, int]:
    """Signed studies signed after ``since`` (ISO-8601 UTC, e.g. a bundle's ``created``) and their
    usable gaze sessions: what a refresh now would add."""
    new = [h for h in harvest.studies if h.signed_at[:19] > since[:19]]
    return len(new), sum(len(h.sessions) for h in new)
