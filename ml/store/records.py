"""The records the store returns: plain dataclasses, one per table (samples as columns).

The store's vocabularies (``ReportOrigin``, ``SessionStatus``, ``AnnotationShape``) are their
fields' types: a record read back carries members, never bare strings.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ml.store.schema import ReportOrigin, SessionStatus
from ml.types import Finding, GazeSample, Report


@dataclass
class StudyRecord:
    """A study: one image (a dataset case, a DICOM study or a file) and where it came from."""

    id: int
    uid: str
    image_path: str = ""
    dataset: str = ""
    split: str = ""
    metadata: dict[str, Any] = field(default_factory=dict)
    created_at: str = ""


@dataclass
class ReaderRecord:
    """A person who reads studies (gaze sessions, reports, annotations name them)."""

    id: int
    name: str
    role: str = ""


@dataclass
class SessionRecord:
    """One gaze recording: who read which study, on what screen, and how it ended."""

    id: int
    study_id: int | None
    reader_id: int | None
    study_uid: str
    reader: str
    source: str
    status: SessionStatus
    started_at: str
    ended_at: str | None
    geometry: dict[str, Any]
    calibration: dict[str, Any] | None
    t0_us: int | None
    flush_interval: float
    sample_count: int
    dropped_count: int
    error: str
    pid: int | None
    host: str
    heartbeat: float | None
    metadata: dict[str, Any]


@dataclass
class SampleBlock:
    """A session's samples as columns (screen pixels, µs); NaN x/y/pupil where invalid or unknown."""

    t_us: np.ndarray
    x: np.ndarray
    y: np.ndarray
    valid: np.ndarray
    pupil: np.ndarray
    device_t_us: np.ndarray

    def __len__(self) -> int:
        return len(self.t_us)

    @classmethod
    def empty(cls) -> SampleBlock:
        z = np.zeros(0)
        return cls(z.astype(np.int64), z, z, z.astype(bool), z, z.astype(np.int64))

    @classmethod
    def from_samples(cls, samples: Sequence[GazeSample]) -> SampleBlock:
        if not samples:
            return cls.empty()
        return cls(
            np.array([s.t_us for s in samples], dtype=np.int64),
            np.array([s.x for s in samples], dtype=np.float64),
            np.array([s.y for s in samples], dtype=np.float64),
            np.array([s.valid for s in samples], dtype=bool),
            np.array([s.pupil_mm for s in samples], dtype=np.float64),
            np.array([s.device_t_us for s in samples], dtype=np.int64),
        )

    def to_samples(self) -> list[GazeSample]:
        return [
            GazeSample(int(t), float(x), float(y), bool(v), float(p), int(d))
            for t, x, y, v, p, d in zip(
                self.t_us, self.x, self.y, self.valid, self.pupil, self.device_t_us, strict=True
            )
        ]


@dataclass
class EventRecord:
    """A viewer or source event on the samples' clock (zoom/pan/window/image, connection lost...)."""

    t_us: int
    kind: str
    data: dict[str, Any]
    seq: int = -1


@dataclass
class ReportVersion:
    """One version of a study's report; versions are never changed, removed or replaced."""

    id: int
    study_id: int
    version: int
    text: str
    origin: ReportOrigin
    author: str
    created_at: str
    bundle_id: str = ""  # model drafts: which bundle wrote it
    scanpath_source: str = ""  # model drafts: recorded | simulated | predicted
    parent_id: int | None = None  # the version this one follows
    ai_context: dict[str, Any] | None = None  # model drafts: what restores the draft's AI context
    amends: int | None = None  # addenda: the id of the signed or addendum version they correct
    image_sha256: str = ""  # the image file's hash, recorded at signing

    @property
    def final(self) -> bool:
        """A signed version or an addendum (itself signed): what the study's report says."""
        return self.origin in (ReportOrigin.SIGNED, ReportOrigin.ADDENDUM)

    @property
    def report(self) -> Report:
        return Report.parse(self.text)


@dataclass
class AnnotationRecord:
    """A finding a reader drew on a study's image, as stored (the GUI has its own editing type)."""

    id: int
    study_id: int
    finding: Finding
    reader: str = ""
    sentence: str = ""
    created_at: str = ""
    updated_at: str = ""
