"""The reading session: the open study, its image, its draft and report versions, and the rules.

The rules of a reporting workstation live here, not in widgets, so they hold whichever button,
shortcut or script asks, and are tested without Qt:
- signed means final: after a signed version only an addendum (a new version that amends the
  latest signed one, signed by its author) may be stored; no draft, save or edit replaces it;
- nothing is saved or signed for a study whose image did not load;
- an empty report is not signed.
Views subscribe to the ``Event``s; controllers turn a ``VersionRequest`` into a store call.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from app.components.ai_context import draft_context, draft_from_context
from app.components.events import Event
from ml.contracts import DomainCheck, Draft, GazeMode
from ml.store import ReportOrigin
from ml.types import Image, Study, Vocabulary

SIGNED_ORIGINS = (ReportOrigin.SIGNED, ReportOrigin.ADDENDUM)
READER_ORIGINS = (ReportOrigin.HUMAN, ReportOrigin.SIGNED, ReportOrigin.ADDENDUM)


class ImageStatus(Vocabulary):
    NONE = "none"  # no study open
    LOADING = "loading"
    LOADED = "loaded"
    FAILED = "failed"


class ReportState(Vocabulary):
    """A study's report as the worklist shows it."""

    NEW = "new"
    DRAFT_READY = "draft ready"
    EDITED = "edited"
    SIGNED = "signed"
    AMENDED = "amended"  # signed, then corrected by a signed addendum


class GazeChoice(Vocabulary):
    """Which gaze a draft is conditioned on, as the reader asks for it (the Draft menu)."""

    AUTO = "auto"  # the recorded gaze when there is some, else predicted
    RECORDED = "recorded"
    PREDICTED = "predicted"

    def mode(self, has_recorded: bool) -> GazeMode:
        """The shared gaze mode this choice drafts in, given whether recorded gaze is at hand."""
        if self is GazeChoice.PREDICTED or (self is GazeChoice.AUTO and not has_recorded):
            return GazeMode.PREDICTED
        return GazeMode.REAL_GAZE


class ReadingError(RuntimeError):
    """A report action the reading rules forbid; the message names the rule."""


def report_state(versions: Sequence[Any]) -> ReportState:
    """The worklist state of a study with these report versions (oldest first)."""
    if not versions:
        return ReportState.NEW
    return {
        ReportOrigin.MODEL: ReportState.DRAFT_READY,
        ReportOrigin.HUMAN: ReportState.EDITED,
        ReportOrigin.SIGNED: ReportState.SIGNED,
        ReportOrigin.ADDENDUM: ReportState.AMENDED,
    }[ReportOrigin(versions[-1].origin)]


@dataclass
class VersionRequest:
    """One ``Store.add_report_version`` call, checked against the rules before it is queued."""

    study: str
    text: str
    origin: ReportOrigin
    author: str
    bundle_id: str = ""
    scanpath_source: str = ""
    ai_context: dict[str, Any] | None = None
    amends: int | None = None
    image_sha256: str = ""

    def apply(self, store) -> Any:
        """Run on the store thread; returns the stored ``ReportVersion``."""
        return store.add_report_version(
            self.study,
            self.text,
            self.origin,
            self.author,
            bundle_id=self.bundle_id,
            scanpath_source=self.scanpath_source,
            ai_context=self.ai_context,
            amends=self.amends,
            image_sha256=self.image_sha256,
        )


@dataclass
class ReadingSession:
    """What the reader has open. Mutated only through its methods, which emit the events."""

    study: Study | None = None
    image: Image | None = None
    image_status: ImageStatus = ImageStatus.NONE
    image_error: str = ""
    image_sha256: str = ""
    draft: Draft | None = None
    versions: list[Any] = field(default_factory=list)  # ml.store ReportVersion, oldest first
    labels: dict[str, int | None] = field(default_factory=dict)  # the rule labeler on the editor's text
    dirty: bool = False  # the editor holds text not yet stored as a version
    amending: bool = False  # the reader is writing an addendum to the signed report

    def __post_init__(self) -> None:
        self.study_changed = Event()  # (Study)
        self.image_changed = Event()  # (ImageStatus)
        self.draft_changed = Event()  # (Draft | None)
        self.versions_changed = Event()  # (list of versions)
        self.state_changed = Event()  # () dirty / signed / amending changed: permissions may have
        self.labels_changed = Event()  # (labels)

    # ----------------------------------------------------------------- what may be done
    @property
    def latest(self) -> Any | None:
        return self.versions[-1] if self.versions else None

    @property
    def signed(self) -> bool:
        """The report is final: its latest version is signed (or a signed addendum)."""
        return self.latest is not None and ReportOrigin(self.latest.origin) in SIGNED_ORIGINS

    @property
    def state(self) -> ReportState:
        return report_state(self.versions)

    @property
    def domain(self) -> DomainCheck | None:
        return self.draft.domain if self.draft is not None else None

    @property
    def image_ok(self) -> bool:
        return self.study is not None and self.image_status is ImageStatus.LOADED

    @property
    def can_draft(self) -> bool:
        return self.image_ok and not self.signed

    @property
    def can_edit(self) -> bool:
        return self.image_ok and (not self.signed or self.amending)

    @property
    def can_save(self) -> bool:
        return self.image_ok and not self.signed

    @property
    def can_sign(self) -> bool:
        return self.image_ok and (not self.signed or self.amending)

    @property
    def can_amend(self) -> bool:
        return self.image_ok and self.signed and not self.amending

    # ----------------------------------------------------------------- changes
    def open(self, study: Study) -> None:
        self.study, self.image, self.image_sha256, self.image_error = study, None, "", ""
        self.image_status = ImageStatus.LOADING
        self.draft, self.versions, self.labels = None, [], {}
        self.dirty = self.amending = False
        self.study_changed.emit(study)
        self.image_changed.emit(self.image_status)
        self.draft_changed.emit(None)
        self.state_changed.emit()

    def image_loaded(self, image: Image, sha256: str = "") -> None:
        self.image, self.image_sha256, self.image_status = image, sha256, ImageStatus.LOADED
        self.image_changed.emit(self.image_status)
        self.state_changed.emit()

    def image_failed(self, message: str) -> None:
        self.image, self.image_sha256 = None, ""
        self.image_status, self.image_error = ImageStatus.FAILED, message
        self.image_changed.emit(self.image_status)
        self.state_changed.emit()

    def versions_loaded(self, versions: Sequence[Any]) -> None:
        """The study's stored versions; the latest model draft's AI context becomes the draft."""
        self.versions = list(versions)
        self.dirty = self.amending = False
        self.draft = None
        for v in reversed(self.versions):
            context = getattr(v, "ai_context", None)
            if v.origin == ReportOrigin.MODEL and context:
                self.draft = draft_from_context(v.text, context)
                break
        self.versions_changed.emit(self.versions)
        self.draft_changed.emit(self.draft)
        self.state_changed.emit()

    def draft_ready(self, draft: Draft, text: str, decoding: dict[str, Any] | None = None) -> VersionRequest:
        """Take a finished draft; returns the model version of ``text`` (the draft as the editor
        shows it) to store, with the draft's AI context."""
        self._check_open("be drafted")
        if self.signed:
            raise ReadingError("A signed report is final: it cannot be redrafted, only amended.")
        self.draft = draft
        self.dirty = False
        self.draft_changed.emit(draft)
        self.state_changed.emit()
        bundle = str(draft.model.get("name") or "model")
        if draft.model.get("sha256"):
            bundle += "@" + str(draft.model["sha256"])[:12]
        source = draft.scanpath.source.value if draft.scanpath is not None else ""
        assert self.study is not None
        return VersionRequest(
            self.study.id,
            text,
            ReportOrigin.MODEL,
            bundle,
            bundle_id=bundle,
            scanpath_source=source,
            ai_context=draft_context(draft, decoding),
            image_sha256=self.image_sha256,
        )

    def edited(self) -> None:
        if self.can_edit and not self.dirty:
            self.dirty = True
            self.state_changed.emit()

    def begin_addendum(self) -> None:
        if not self.can_amend:
            raise ReadingError("Only a signed report of an open image can be amended.")
        self.amending = True
        self.state_changed.emit()

    def cancel_addendum(self) -> None:
        if self.amending:
            self.amending = self.dirty = False
            self.state_changed.emit()

    def request(self, text: str, origin: ReportOrigin | str, author: str) -> VersionRequest:
        """A reader's version (``human`` save, ``signed``, or ``addendum``), checked against the rules."""
        origin = ReportOrigin(origin)
        self._check_open("be saved or signed")
        assert self.study is not None
        if origin not in READER_ORIGINS:
            raise ReadingError(f"A reader stores human, signed or addendum versions, not {origin}.")
        if origin == ReportOrigin.HUMAN and self.signed:
            raise ReadingError("A signed report is final: correct it with a signed addendum.")
        if origin == ReportOrigin.SIGNED and self.signed:
            raise ReadingError("The report is already signed: correct it with a signed addendum.")
        if origin == ReportOrigin.ADDENDUM and not self.signed:
            raise ReadingError("An addendum amends a signed report; this report is not signed yet.")
        if origin != ReportOrigin.HUMAN and not text.strip():
            raise ReadingError("An empty report cannot be signed.")
        if origin != ReportOrigin.HUMAN and not author.strip():
            raise ReadingError("A report is signed by a named reader: set the reader's name in Settings.")
        amends = self.latest.id if origin == ReportOrigin.ADDENDUM and self.latest is not None else None
        return VersionRequest(self.study.id, text, origin, author, amends=amends, image_sha256=self.image_sha256)

    def version_stored(self, study_id: str, version: Any) -> None:
        """A version of study ``study_id`` was stored (ignored when the reader has moved on)."""
        if self.study is None or study_id != self.study.id:
            return
        self.versions.append(version)
        self.dirty = self.amending = False
        self.versions_changed.emit(self.versions)
        self.state_changed.emit()

    def set_labels(self, labels: dict[str, int | None]) -> None:
        self.labels = dict(labels)
        self.labels_changed.emit(self.labels)

    def _check_open(self, what: str) -> None:
        if self.study is None:
            raise ReadingError(f"No study is open: nothing can {what}.")
        if self.image_status is not ImageStatus.LOADED:
            raise ReadingError(f"Nothing can {what} for a study whose image did not load.")
