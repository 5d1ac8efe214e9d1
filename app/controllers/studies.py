"""The worklist's studies and opening one: discover files, load the image and the stored versions.

Loading runs on worker threads and the store thread; a load that finishes after the reader moved
on is dropped (each open has a token). Opened files are added to the worklist, never replace it.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from PySide6 import QtCore

from app import workers
from app.components.reading import GazeChoice, ReadingSession
from app.storage import StoreWorker
from app.viewer.image_view import DisplayData, prepare_display
from app.worklist.panel import study_status
from ml.store import SessionStatus
from ml.types import Image, Scanpath, ScanpathSource, Study


def load_study_image(path: str) -> tuple[Image, DisplayData, str]:
    """Worker-thread job: read the file, prepare the display array, hash the file's bytes."""
    from ml.imaging import load_image

    image = load_image(path)
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return image, prepare_display(image), digest.hexdigest()


class StudyController(QtCore.QObject):
    studies_added = QtCore.Signal(list)  # the Study records added to the worklist
    chosen = QtCore.Signal(Study)  # the study to open after opening files
    statuses = QtCore.Signal(dict)  # study id -> StudyStatus
    image_ready = QtCore.Signal(Image, DisplayData)  # the open study's image and its display data
    study_loaded = QtCore.Signal(str)  # study id: its image and its stored versions are in
    study_failed = QtCore.Signal(str, str)  # study id, why its image did not open
    recorded_changed = QtCore.Signal(list)  # the open study's real scanpaths (newest first)
    message = QtCore.Signal(str)  # a status-line text
    store_failed = QtCore.Signal(str)

    def __init__(self, session: ReadingSession, store: StoreWorker, parent: QtCore.QObject | None = None) -> None:
        super().__init__(parent)
        self.session = session
        self.store = store
        self.studies: list[Study] = []
        self.display: DisplayData | None = None
        self.session_paths: dict[str, list[Scanpath]] = {}  # study id -> this workstation's recordings
        self._token = 0

    # ----------------------------------------------------------------- the worklist
    def open_paths(self, paths: list[str]) -> None:
        from app.worklist.discover import discover

        self.message.emit("Looking for studies…")
        workers.submit(
            lambda: discover(paths),
            self.add_studies,
            lambda exc: self.message.emit(workers.error_text(exc)),
            context=self,
        )

    def open_default_case(self) -> None:
        """The embedded default case (built on a worker thread the first time) joins the worklist."""
        from app.defaults import ensure_default_case

        def failed(exc: BaseException) -> None:
            msg = f"{workers.error_text(exc)}. Open a radiograph with Ctrl+O."
            self.message.emit(msg)
            self.study_failed.emit("the default case", msg)

        self.message.emit("Preparing the default case…")
        workers.submit(ensure_default_case, lambda folder: self.open_paths([str(folder)]), failed, context=self)

    def add_studies(self, studies: list[Study]) -> None:
        """Add studies to the worklist (those already there are kept, not doubled); the first is ``chosen``."""
        if not studies:
            self.message.emit("No radiographs found there")
            return
        known = {s.id: s for s in self.studies}
        new = [s for s in studies if s.id not in known]
        self.studies.extend(new)
        self.message.emit(f"{len(self.studies)} stud{'y' if len(self.studies) == 1 else 'ies'}")
        if new:
            self.studies_added.emit(new)
            rows = [(s.id, s.image_path, s.dataset, s.split) for s in new]

            def register(store):
                out = {}
                for uid, path, dataset, split in rows:
                    store.add_study(uid, path, dataset, split)
                    out[uid] = study_status(store, uid)
                return out

            self.store.call(register, self.statuses.emit, self._store_error)
        self.chosen.emit(known.get(studies[0].id, studies[0]))

    def refresh_status(self, uid: str) -> None:
        self.store.call(lambda store: {uid: study_status(store, uid)}, self.statuses.emit, self._store_error)

    def step(self, delta: int) -> Study | None:
        """The study ``delta`` places from the open one (None at either end)."""
        current = self.session.study
        if not self.studies or current is None or current not in self.studies:
            return None
        j = self.studies.index(current) + delta
        return self.studies[j] if 0 <= j < len(self.studies) else None

    # ----------------------------------------------------------------- opening one
    def open_study(self, study: Study) -> None:
        self._token += 1
        token = self._token
        self.display = None
        self.session.open(study)
        self.message.emit(f"Loading {study.id}…")
        workers.submit(
            lambda: load_study_image(study.image_path),
            lambda res: self._loaded(token, study, res),
            lambda exc: self._failed(token, study, exc),
            context=self,
        )

    def _loaded(self, token: int, study: Study, result: tuple[Image, DisplayData, str]) -> None:
        if token != self._token:
            return  # the reader moved on
        image, display, sha256 = result
        self.display = display
        self.session.image_loaded(image, sha256)
        self.image_ready.emit(image, display)
        self.message.emit(f"{study.id} · {Path(study.image_path).name}")
        self.recorded_changed.emit(self.real_scanpaths(study))
        self._load_sessions(token, study, image.size)
        self.store.call(
            lambda store: store.report_versions(store.add_study(study.id, study.image_path, study.dataset)),
            lambda versions: self._versions(token, study, versions),
            self._store_error,
        )

    def _versions(self, token: int, study: Study, versions: list) -> None:
        if token != self._token:
            return
        self.session.versions_loaded(versions)
        self.study_loaded.emit(study.id)

    def _failed(self, token: int, study: Study, exc: BaseException) -> None:
        if token != self._token:
            return
        msg = workers.error_text(exc)
        self.session.image_failed(msg)
        self.message.emit(f"Could not open {study.id}: {msg}")
        self.study_failed.emit(study.id, msg)

    def _store_error(self, exc: BaseException) -> None:
        self.store_failed.emit(workers.error_text(exc))

    # ----------------------------------------------------------------- real gaze
    def real_scanpaths(self, study: Study | None = None) -> list[Scanpath]:
        """The study's real gaze, newest first: this workstation's sessions, then the dataset's readers
        (recorded REFLACX/EGD-CXR readings, or the cohort's simulated readers)."""
        study = study or self.session.study
        if study is None:
            return []
        sessions = list(reversed(self.session_paths.get(study.id, [])))
        dataset = [
            sp for sp in study.scanpaths if sp.source in (ScanpathSource.RECORDED, ScanpathSource.SIMULATED)
        ]
        return [sp for sp in sessions + dataset if len(sp)]

    def add_session_scanpath(self, study: Study, scanpath: Scanpath) -> None:
        self.session_paths.setdefault(study.id, []).append(scanpath)
        if self.session.study is study:
            self.recorded_changed.emit(self.real_scanpaths(study))
        self.refresh_status(study.id)

    def _load_sessions(self, token: int, study: Study, size: tuple[int, int]) -> None:
        """The study's completed gaze sessions (their fixations) from the database."""

        def run(store):
            out = []
            for sess in store.sessions(study.id, status=SessionStatus.COMPLETED):
                fx = store.fixations(sess.id, "ivt")
                if fx:
                    out.append(Scanpath(fx, size, ScanpathSource.RECORDED, sess.reader))
            return out

        def done(paths) -> None:
            if token == self._token:
                self.session_paths[study.id] = paths
                if paths:
                    self.recorded_changed.emit(self.real_scanpaths(study))

        self.store.call(run, done, self._store_error)

    def gaze_for(self, choice: GazeChoice) -> Scanpath | None:
        """The scanpath to condition a draft on: recorded for RECORDED/AUTO when there is one."""
        study = self.session.study
        if study is None or choice is GazeChoice.PREDICTED:
            return None
        sessions = self.session_paths.get(study.id, [])
        if sessions:
            return sessions[-1]
        if choice is GazeChoice.RECORDED:  # asked for real gaze without a session: the dataset's reader
            real = self.real_scanpaths()
            return real[0] if real else None
        return None

