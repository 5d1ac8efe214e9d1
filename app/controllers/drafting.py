"""Drafting: one streamed generation at a time into the report editor, stored as a model version.

A draft waits for a ready backend; it is refused on a signed report or a study whose image did
not load (``ReadingSession.can_draft``). The finished draft and its AI context become a model
version in the database before ``draft_ready`` is emitted.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable

from PySide6 import QtCore

from app import workers
from app.backend.client import ReportStream
from app.backend.launcher import BackendManager, BackendState
from app.components.reading import GazeChoice, ReadingError, ReadingSession
from app.report.panel import ReportPanel
from app.storage import StoreWorker
from ml.contracts import Draft
from ml.types import Scanpath


class DraftController(QtCore.QObject):
    draft_ready = QtCore.Signal(Draft)  # finished and stored (or the store's failure was reported)
    draft_failed = QtCore.Signal(str)  # why there is no draft
    version_stored = QtCore.Signal(str)  # study id whose model version was stored
    store_failed = QtCore.Signal(str)
    busy_changed = QtCore.Signal(bool)  # a generation started or ended
    predictions_ready = QtCore.Signal(list)  # sampled predicted scanpaths of the open study
    predictions_failed = QtCore.Signal(str)

    def __init__(
        self,
        session: ReadingSession,
        backend: BackendManager,
        panel: ReportPanel,
        store: StoreWorker,
        gaze_for: Callable[[GazeChoice], Scanpath | None],
        parent: QtCore.QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self.session, self.backend, self.panel, self.store = session, backend, panel, store
        self.gaze_for = gaze_for
        self.stream: ReportStream | None = None
        self.pending: GazeChoice | None = None
        self.decoding: dict | None = None  # what to ask for; None: the backend's default decoding
        self.served_decoding: dict | None = None  # the backend's default, as /v1/model says
        backend.state_changed.connect(self._on_backend_state)

    @property
    def busy(self) -> bool:
        return self.stream is not None

    def generate(self, choice: GazeChoice | str = GazeChoice.AUTO) -> None:
        choice = GazeChoice(choice)
        if not self.session.can_draft:
            why = (
                "A signed report is final: amend it instead of redrafting."
                if self.session.signed
                else "There is no loaded image to draft from."
            )
            self.panel.set_state(why)
            return
        if self.backend.state != BackendState.READY:
            self.pending = choice
            self.panel.set_state(f"Waiting for the backend ({self.backend.state.value})…")
            return
        self.stop(quiet=True)
        gaze = self.gaze_for(choice)
        assert self.session.image is not None
        self.stream = ReportStream(self.backend.client(), self.session.image, gaze, self.decoding, parent=self)
        self.stream.token.connect(self.panel.editor.append_token)
        self.stream.finished.connect(self._done)
        self.stream.failed.connect(self._failed)
        self.stream.domain.connect(self.panel.set_domain)  # known before the first token
        self.panel.editor.begin_stream()
        self.panel.set_busy(True)
        self.busy_changed.emit(True)
        self.panel.set_state(f"Drafting · {choice.mode(gaze is not None).label}…")
        self.stream.start()

    def stop(self, quiet: bool = False) -> None:
        stream, self.stream = self.stream, None
        if stream is None:
            return
        stream.cancel()
        for sig in (stream.token, stream.finished, stream.failed, stream.scanpath, stream.domain):
            with contextlib.suppress(RuntimeError, TypeError):
                sig.disconnect()
        self.panel.editor.end_stream()
        self.panel.set_busy(False)
        self.busy_changed.emit(False)
        if not quiet:
            self.panel.set_state("Generation stopped")

    def sample_scanpaths(self, n: int = 3) -> None:
        """Several predicted scanpaths of the open image from the backend."""
        image, study = self.session.image, self.session.study
        if image is None or self.backend.state != BackendState.READY:
            self.predictions_failed.emit("Sampling needs an open study and a ready backend")
            return
        client = self.backend.client()

        def done(paths: list) -> None:
            if self.session.study is study:
                self.predictions_ready.emit(paths)

        workers.submit(
            lambda: client.scanpaths(image, n=n, seed=0),
            done,
            lambda exc: self.predictions_failed.emit(f"No predicted scanpaths: {workers.error_text(exc)}"),
            context=self,
        )

    def _on_backend_state(self, state: str, _message: str) -> None:
        if state in (BackendState.DEAD, BackendState.ERROR) and self.stream is not None:
            self.stop(quiet=True)
            self._failed("the backend went away during generation")
        if state == BackendState.READY:
            self._learn_decoding()
        if state == BackendState.READY and self.pending is not None:
            choice, self.pending = self.pending, None
            self.generate(choice)

    def _learn_decoding(self) -> None:
        """The decoding a draft without one gets, so the stored AI context can say how it was decoded."""

        def keep(body: dict) -> None:
            self.served_decoding = body.get("decoding") or None

        workers.submit(self.backend.client().model, keep, lambda _exc: None, context=self)

    def _done(self, draft: Draft, elapsed_s: float) -> None:
        self.stream = None
        self.panel.editor.end_stream(draft.text)
        self.panel.set_busy(False)
        self.busy_changed.emit(False)
        study = self.session.study
        try:
            request = self.session.draft_ready(draft, self.panel.editor.text(), self.decoding or self.served_decoding)
        except ReadingError as exc:
            self.panel.set_state(str(exc))
            self.draft_failed.emit(str(exc))
            return
        redrafted = " · redrafted to agree with the image model" if draft.redrafted else ""
        self.panel.set_state(f"Draft ready · {draft.n_tokens} tokens in {elapsed_s:.1f} s{redrafted}")
        assert study is not None

        def stored(version) -> None:
            self.session.version_stored(study.id, version)
            self.version_stored.emit(study.id)
            self.draft_ready.emit(draft)

        def failed(exc: BaseException) -> None:
            self.store_failed.emit(workers.error_text(exc))
            self.draft_ready.emit(draft)

        self.store.call(request.apply, stored, failed)

    def _failed(self, message: str) -> None:
        self.stream = None
        self.panel.editor.end_stream()
        self.panel.set_busy(False)
        self.busy_changed.emit(False)
        self.panel.set_state(f"Draft failed: {message}")
        self.draft_failed.emit(message)
