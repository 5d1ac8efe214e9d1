"""The readings of one study the compare view can put on either side, each with a name people know.

A reading is a scanpath over the open image plus how it came about: a gaze session recorded on this
workstation (from the database: reader and start time, so the session just recorded is there too),
a reader of the dataset the study came from (REFLACX, EGD-CXR, the cohort's simulated readers), or
a sample of the scanpath predictor. Two real readings compared is inter-reader agreement; a
predicted one against a real one is how human the prediction is.
"""

from __future__ import annotations

from dataclasses import dataclass

from ml.store import SessionStatus
from ml.types import Scanpath, ScanpathSource, Study, Vocabulary


class ReadingKind(Vocabulary):
    SESSION = "session"  # recorded on this workstation, from the database
    DATASET = "dataset"  # a reader of the study's dataset
    PREDICTED = "predicted"  # a sample of the scanpath predictor

    @property
    def real(self) -> bool:
        return self is not ReadingKind.PREDICTED


@dataclass
class Reading:
    kind: ReadingKind
    label: str
    scanpath: Scanpath


def session_label(reader: str, started_at: str, session_id: int) -> str:
    """``Dr A · 2026-12-07 23:30 (session 3)``: who read, and when (UTC, to the minute)."""
    when = started_at.replace("T", " ")[:16]
    return f"{reader or 'unnamed reader'} · {when} (session {session_id})"


def session_readings(store, study_uid: str, image_size: tuple[int, int]) -> list[Reading]:
    """Store thread: the study's completed sessions that have fixations, newest first."""
    out = []
    for sess in reversed(store.sessions(study_uid, status=SessionStatus.COMPLETED)):
        fixations = store.fixations(sess.id, "ivt")
        if fixations:
            sp = Scanpath(fixations, image_size, ScanpathSource.RECORDED, sess.reader)
            out.append(Reading(ReadingKind.SESSION, session_label(sess.reader, sess.started_at, sess.id), sp))
    return out


def dataset_readings(study: Study) -> list[Reading]:
    """The study's own recorded or simulated readers, named as the dataset names them."""
    real = [
        sp
        for sp in study.scanpaths
        if sp.source in (ScanpathSource.RECORDED, ScanpathSource.SIMULATED) and len(sp)
    ]
    out = []
    for i, sp in enumerate(real, 1):
        who = sp.reader or f"reader {i}"
        what = "simulated reader" if sp.source == ScanpathSource.SIMULATED else "dataset reader"
        out.append(Reading(ReadingKind.DATASET, f"{who} ({what})", sp))
    return out


def predicted_readings(samples: list[Scanpath], draft_path: Scanpath | None = None) -> list[Reading]:
    """The draft's predicted scanpath (when it had one) and the predictor's samples."""
    out = []
    if draft_path is not None and len(draft_path):
        out.append(Reading(ReadingKind.PREDICTED, "Predicted (the draft's)", draft_path))
    out += [
        Reading(ReadingKind.PREDICTED, f"Predicted sample {i}", sp) for i, sp in enumerate(samples, 1) if len(sp)
    ]
    return out


def default_pair(readings: list[Reading]) -> tuple[int, int]:
    """Indices to show first: the newest real reading (a session before a dataset reader) on the left,
    the first predicted one on the right (else the next real one: inter-reader agreement)."""
    real = [i for i, r in enumerate(readings) if r.kind.real]
    predicted = [i for i, r in enumerate(readings) if not r.kind.real]
    left = real[0] if real else 0
    others = [i for i in predicted + real if i != left]
    return left, (others[0] if others else left)
