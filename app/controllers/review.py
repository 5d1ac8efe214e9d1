"""Review: save, sign (after the reader confirms), amend a signed report, versions and labels.

Every command goes through ``ReadingSession.request``, so a shortcut, a button or a script meets
the same rules; a refused command says why on the report's state line and nothing is stored.
"""

from __future__ import annotations

from collections.abc import Callable

from PySide6 import QtCore, QtWidgets

from app import workers
from app.components.reading import ReadingError, ReadingSession, VersionRequest
from app.report.panel import ReportPanel
from app.storage import StoreWorker
from ml.store import ReportOrigin, ReportVersion


def ask_confirmation(parent: QtWidgets.QWidget | None, title: str, text: str) -> bool:
    """A modal Yes/Cancel question (Cancel is the default)."""
    answer = QtWidgets.QMessageBox.question(
        parent,
        title,
        text,
        QtWidgets.QMessageBox.StandardButton.Yes | QtWidgets.QMessageBox.StandardButton.Cancel,
        QtWidgets.QMessageBox.StandardButton.Cancel,
    )
    if parent is not None:
        parent.activateWindow()  # the keys go back to the window, whatever the window manager does
    return answer == QtWidgets.QMessageBox.StandardButton.Yes


class ReviewController(QtCore.QObject):
    report_saved = QtCore.Signal(ReportVersion)  # a reader's version was stored
    refused = QtCore.Signal(str)  # a command the rules or the store refused, and why
    labels_updated = QtCore.Signal(dict)  # the rule labeler's reading of the editor's text

    def __init__(
        self,
        session: ReadingSession,
        panel: ReportPanel,
        store: StoreWorker,
        author: Callable[[], str],
        parent: QtWidgets.QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.session, self.panel, self.store, self.author = session, panel, store, author
        self.window = parent
        self.confirm: Callable[[str, str], bool] = lambda title, text: ask_confirmation(self.window, title, text)
        self.named: Callable[[], bool] = lambda: True  # the window asks the reader's name on first use

    # ----------------------------------------------------------------- commands
    def save(self) -> None:
        self._store(ReportOrigin.HUMAN)

    def sign(self) -> None:
        """Sign (or sign the addendum being written) once the reader confirms, naming them."""
        origin = ReportOrigin.ADDENDUM if self.session.amending else ReportOrigin.SIGNED
        if not self._check(origin) or not self.named():
            return
        study = self.session.study.id if self.session.study else ""
        what = "the addendum to the report" if origin == ReportOrigin.ADDENDUM else "the report"
        text = (
            f"Sign {what} of {study} as {self.author()}?\n\n"
            "A signed report is final: later corrections are signed addenda."
        )
        if self.confirm("Sign the report", text):
            self._store(origin)
        else:
            self.panel.set_state("Not signed")

    def amend(self) -> None:
        """Open the signed report for an addendum: the text becomes editable until it is signed."""
        try:
            self.session.begin_addendum()
        except ReadingError as exc:
            self._refuse(str(exc))
            return
        self.panel.set_state("Writing an addendum: edit the report, then sign the addendum (Ctrl+Shift+S)")

    def autosave(self) -> None:
        """Never lose work: unsaved edits become a version when the reader moves on."""
        if self.session.dirty and self.session.can_save and not self.panel.editor.streaming:
            self.save()

    def _check(self, origin: ReportOrigin) -> VersionRequest | None:
        if self.panel.editor.streaming:
            self._refuse("Wait for the draft to finish (or stop it) before saving or signing.")
            return None
        try:
            return self.session.request(self.panel.editor.text(), origin, self.author())
        except ReadingError as exc:
            self._refuse(str(exc))
            return None

    def _store(self, origin: ReportOrigin) -> None:
        request = self._check(origin)
        if request is None:
            return
        study = request.study

        def done(version: ReportVersion) -> None:
            self.session.version_stored(study, version)
            if self.session.study is not None and self.session.study.id == study:
                label = {
                    ReportOrigin.HUMAN: "Saved",
                    ReportOrigin.SIGNED: "Signed",
                    ReportOrigin.ADDENDUM: "Addendum signed",
                }[origin]
                self.panel.set_state(f"{label} by {request.author} · v{version.version}")
                self.update_labels()
            self.report_saved.emit(version)

        self.store.call(request.apply, done, lambda exc: self._refuse(workers.error_text(exc)))

    def _refuse(self, message: str) -> None:
        self.panel.set_state(message)
        self.refused.emit(message)

    # ----------------------------------------------------------------- versions, labels
    def show_versions(self) -> None:
        study = self.session.study
        if study is None:
            return
        from app.report.versions import VersionsDialog

        self.store.call(
            lambda store: store.report_versions(study.id),
            lambda versions: VersionsDialog(versions, self.window).exec(),
            lambda exc: self._refuse(workers.error_text(exc)),
        )

    def update_labels(self) -> None:
        text = self.panel.editor.text()

        def run():
            from ml.metrics.labeler import label_report

            return label_report(text)

        def done(labels) -> None:
            self.session.set_labels(labels)
            self.panel.set_labels(labels)
            self.labels_updated.emit(labels)

        workers.submit(run, done, lambda exc: self._refuse(workers.error_text(exc)), context=self)
