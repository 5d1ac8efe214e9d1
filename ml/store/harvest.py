"""What a site's databases hold that a model can learn from: per study, the final signed report,
its reader, the image (checked against the hash recorded at signing), the recorded gaze of every
usable session and the readers' annotations.

Why here: it is a set of queries over the store's rules (signed is final, sessions end completed or
interrupted), and the training side, the CLI and a GUI page all need the same answer without torch
or Qt. Drafts and unsigned edits never train; what is left out is counted with its reason, so
nothing is dropped silently. The databases are only read.
"""

from __future__ import annotations

import hashlib
import math
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ml.store.db import Store
from ml.store.records import AnnotationRecord, ReportVersion, SessionRecord, StudyRecord
from ml.store.schema import SessionStatus
from ml.types import Fixation, Vocabulary

#: Fixations a session may hold under several methods; the first one present is used.
FIXATION_METHODS = ("ivt", "imported", "idt", "online")


class StudyLeftOut(Vocabulary):
    """Why a study does not train."""

    UNSIGNED = "unsigned"  # no signed version (drafts and unsigned edits never train)
    IMAGE_MISSING = "image_missing"  # the study's image file is not where the study says
    IMAGE_CHANGED = "image_changed"  # the file's sha256 is not the one recorded at signing


class SessionLeftOut(Vocabulary):
    """Why a gaze session of a harvested study does not train."""

    RECORDING = "recording"  # still recording, or its writer died and ``session recover`` has not run
    FAILED = "failed"  # the writer hit an error
    POOR_VALIDATION = "poor_validation"  # validation accuracy worse than the limit
    NO_FIXATIONS = "no_fixations"  # nothing detected or imported to learn from


@dataclass
class HarvestedSession:
    """A usable gaze session: its reader and fixations (image pixels, seconds from its t0)."""

    db: str
    session: SessionRecord
    fixations: list[Fixation]
    method: str  # which stored fixations these are (``FIXATION_METHODS``)
    validation_deg: float | None  # binocular validation accuracy (``validation_accuracy``)


@dataclass
class HarvestedStudy:
    """One study that trains: the final signed report and everything recorded on its image."""

    db: str
    study: StudyRecord
    report: ReportVersion  # the latest signed or addendum version
    image_sha256: str  # recorded at signing; '' when the signing recorded none (image unchecked)
    sessions: list[HarvestedSession] = field(default_factory=list)
    annotations: list[AnnotationRecord] = field(default_factory=list)

    @property
    def reader(self) -> str:
        """Who signed the final report."""
        return self.report.author

    @property
    def signed_at(self) -> str:
        """When the final report was signed (ISO-8601 UTC): a gate holds out the newest."""
        return self.report.created_at


@dataclass
class Harvest:
    """The studies that train, and what was left out and why."""

    studies: list[HarvestedStudy] = field(default_factory=list)
    left_out: dict[StudyLeftOut, list[str]] = field(default_factory=dict)  # reason → study uids
    sessions_left_out: dict[SessionLeftOut, int] = field(default_factory=dict)  # reason → count

    @property
    def unchecked(self) -> list[str]:
        """Uids of harvested studies whose signing recorded no image hash (their image is unchecked)."""
        return [h.study.uid for h in self.studies if not h.image_sha256]

    def summary(self) -> str:
        """One line for a log or a status bar."""
        n_sessions = sum(len(h.sessions) for h in self.studies)
        parts = [f"{len(self.studies)} signed studies with {n_sessions} gaze sessions"]
        studies_out = [f"{len(uids)} {reason.value.replace('_', ' ')}" for reason, uids in self.left_out.items()]
        sessions_out = [f"{n} {reason.value.replace('_', ' ')}" for reason, n in self.sessions_left_out.items()]
        if studies_out:
            parts.append("studies left out: " + ", ".join(studies_out))
        if sessions_out:
            parts.append("sessions left out: " + ", ".join(sessions_out))
        if self.unchecked:
            parts.append(f"{len(self.unchecked)} images unchecked (no hash recorded at signing)")
        return "; ".join(parts)

    def _leave_out(self, reason: StudyLeftOut, uid: str) -> None:
        self.left_out.setdefault(reason, []).append(uid)

    def _count_session(self, reason: SessionLeftOut) -> None:
        self.sessions_left_out[reason] = self.sessions_left_out.get(reason, 0) + 1


def file_sha256(path: str | os.PathLike[str]) -> str:
    """The sha256 of a file's bytes (lower-case hex): what signing records as ``image_sha256``."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def harvest(
    databases: Iterable[str | os.PathLike[str]], *, max_validation_deg: float | None = None
) -> Harvest:
    """Harvest several databases (a reading room's workstations), each opened read-only.

    A study signed in more than one database trains once, from its newest signing; the sessions and
    annotations recorded on it in every database come with it.
    """
    merged = Harvest()
    by_uid: dict[str, HarvestedStudy] = {}
    for path in databases:
        with Store(path, read_only=True) as store:
            one = harvest_store(store, max_validation_deg=max_validation_deg)
        for reason, uids in one.left_out.items():
            for uid in uids:
                merged._leave_out(reason, uid)
        for reason, n in one.sessions_left_out.items():
            merged.sessions_left_out[reason] = merged.sessions_left_out.get(reason, 0) + n
        for h in one.studies:
            seen = by_uid.get(h.study.uid)
            if seen is None:
                by_uid[h.study.uid] = h
                continue
            newer, older = (h, seen) if h.signed_at > seen.signed_at else (seen, h)
            newer.sessions = older.sessions + newer.sessions
            newer.annotations = older.annotations + newer.annotations
            by_uid[h.study.uid] = newer
    # left out means left out everywhere: a study unsigned in one database may train from another
    merged.left_out = {
        reason: kept
        for reason, uids in merged.left_out.items()
        if (kept := list(dict.fromkeys(u for u in uids if u not in by_uid)))
    }
    merged.studies = sorted(by_uid.values(), key=lambda h: (h.signed_at, h.study.uid))
    return merged


def harvest_store(store: Store, *, max_validation_deg: float | None = None) -> Harvest:
    """Harvest one open store: every study with a signed report whose image is where it was, and
    the usable sessions on it (completed, or interrupted and recovered; validated within
    ``max_validation_deg`` when a limit is given), oldest signing first."""
    out = Harvest()
    for study in store.studies():
        final = store.signed_report(study.id)
        if final is None:
            out._leave_out(StudyLeftOut.UNSIGNED, study.uid)
            continue
        sha = _recorded_sha256(store.report_versions(study.id))
        problem = _image_problem(study.image_path, sha)
        if problem is not None:
            out._leave_out(problem, study.uid)
            continue
        harvested = HarvestedStudy(store.path, study, final, sha, annotations=store.annotations(study.id))
        for session in store.sessions(study.id):
            usable = _usable_session(store, session, max_validation_deg)
            if isinstance(usable, SessionLeftOut):
                out._count_session(usable)
            else:
                harvested.sessions.append(usable)
        out.studies.append(harvested)
    out.studies.sort(key=lambda h: (h.signed_at, h.study.uid))
    return out


def _recorded_sha256(versions: Sequence[ReportVersion]) -> str:
    """The image hash of the latest signing that recorded one ('' when none did)."""
    return next((v.image_sha256 for v in reversed(versions) if v.final and v.image_sha256), "")


def _image_problem(image_path: str, sha: str) -> StudyLeftOut | None:
    if not image_path or not Path(image_path).is_file():
        return StudyLeftOut.IMAGE_MISSING
    if sha and file_sha256(image_path) != sha:
        return StudyLeftOut.IMAGE_CHANGED
    return None


def _usable_session(
    store: Store, session: SessionRecord, max_validation_deg: float | None
) -> HarvestedSession | SessionLeftOut:
    if session.status == SessionStatus.RECORDING:
        return SessionLeftOut.RECORDING
    if session.status == SessionStatus.FAILED:
        return SessionLeftOut.FAILED
    accuracy = validation_accuracy(session.calibration)
    if max_validation_deg is not None and accuracy is not None and accuracy > max_validation_deg:
        return SessionLeftOut.POOR_VALIDATION
    methods = store.fixation_methods(session.id)
    method = next((m for m in FIXATION_METHODS if m in methods), methods[0] if methods else None)
    fixations = store.fixations(session.id, method) if method else []
    if not fixations:
        return SessionLeftOut.NO_FIXATIONS
    return HarvestedSession(store.path, session, fixations, method or "", accuracy)


def validation_accuracy(calibration: dict[str, Any] | None) -> float | None:
    """The binocular validation accuracy (degrees) a session stored with its calibration.

    Sessions store either the validation itself (``ValidationResult.to_dict``) or a
    ``CalibrationRecord`` that holds it under ``validation``. None: no validation was stored (a
    mouse session); ``inf``: a validation without one valid sample, worse than any limit.
    """
    validation = (calibration or {}).get("validation", calibration)
    if not validation or "binocular" not in validation:
        return None
    value = (validation["binocular"] or {}).get("accuracy_deg")
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        return math.inf
    return float(value)
