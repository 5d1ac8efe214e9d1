"""The workstation's main window: worklist | viewer | report, backend status always visible.

It lays out the views and connects them to the controllers (``app.controllers``) and to the
Qt-free ``ReadingSession`` (``app.components.reading``), whose events keep every view and every
command's enabled state in step with what the reading rules allow. Disk and network work runs in
the controllers' worker threads; nothing here waits.
"""

from __future__ import annotations

from pathlib import Path

from PySide6 import QtCore, QtGui, QtWidgets

from app.actions import build_actions
from app.backend.launcher import BackendManager
from app.backend.status import BackendBanner, BackendIndicator
from app.components.reading import GazeChoice, ImageStatus, ReadingSession
from app.controllers.drafting import DraftController
from app.controllers.export import ExportController
from app.controllers.review import ReviewController
from app.controllers.settings import SettingsController
from app.controllers.studies import StudyController
from app.report.panel import ReportPanel
from app.settings import WorkstationSettings
from app.storage import StoreWorker
from app.viewer.image_view import DisplayData, ImageView
from app.viewer.layers_panel import LayersPanel
from app.worklist.panel import WorklistPanel
from ml.contracts import Draft
from ml.types import Image, Study


class MainWindow(QtWidgets.QMainWindow):
    def __init__(
        self,
        settings: WorkstationSettings | None = None,
        backend: BackendManager | None = None,
        auto_draft: bool = True,
    ) -> None:
        super().__init__()
        self.settings_ctl = SettingsController(settings or WorkstationSettings.load(), parent=self)
        self.resize(1600, 1000)
        self.auto_draft = auto_draft
        self.reading = ReadingSession()
        self.store = StoreWorker(self.settings.db_path, parent=self)
        self.backend = backend or BackendManager(
            self.settings.backend_url, self.settings.backend_token, self.settings.backend_bundle, parent=self
        )
        self.backend.setParent(self)

        # views
        self.view = ImageView()
        self.banner = BackendBanner()
        central = QtWidgets.QWidget()
        cl = QtWidgets.QVBoxLayout(central)
        cl.setContentsMargins(0, 0, 0, 0)
        cl.setSpacing(0)
        cl.addWidget(self.banner)
        cl.addWidget(self.view, 1)
        self.setCentralWidget(central)
        self.report = ReportPanel()
        self.worklist = WorklistPanel()
        self.overlays = LayersPanel(self.view, self.settings.layers)
        from app.annotation.tools import AnnotationController, AnnotationPanel

        self.annotations = AnnotationController(self.view, self.store, self.settings.user_name, parent=self)
        self.annotation_panel = AnnotationPanel(self.annotations)
        self.report_dock = self._dock("Report", self.report, QtCore.Qt.DockWidgetArea.RightDockWidgetArea)
        self.report_dock.setMinimumWidth(420)
        self.worklist_dock = self._dock("Worklist", self.worklist, QtCore.Qt.DockWidgetArea.LeftDockWidgetArea)
        self.layers_dock = self._dock("Layers", self.overlays, QtCore.Qt.DockWidgetArea.LeftDockWidgetArea)
        self.annotation_dock = self._dock(
            "Annotations", self.annotation_panel, QtCore.Qt.DockWidgetArea.LeftDockWidgetArea
        )
        self.tabifyDockWidget(self.layers_dock, self.annotation_dock)
        self.layers_dock.raise_()
        self.resizeDocks([self.worklist_dock, self.layers_dock], [420, 260], QtCore.Qt.Orientation.Vertical)
        self.resizeDocks([self.worklist_dock], [300], QtCore.Qt.Orientation.Horizontal)

        # status bar: the backend indicator is always visible
        self.status_msg = QtWidgets.QLabel("")
        self.statusBar().addWidget(self.status_msg, 1)
        self.backend_status = BackendIndicator(self.backend, self.banner)
        self.statusBar().addPermanentWidget(self.backend_status)

        # controllers
        author = lambda: self.settings.user_name  # noqa: E731 - the settings object can be replaced
        self.studies_ctl = StudyController(self.reading, self.store, parent=self)
        self.drafting = DraftController(
            self.reading, self.backend, self.report, self.store, self.studies_ctl.gaze_for, parent=self
        )
        self.review = ReviewController(self.reading, self.report, self.store, author, parent=self)
        self.review.named = self.settings_ctl.ensure_reader
        self.exports = ExportController(self.reading, self.report, self.annotations, self.store, author, parent=self)
        from app.session.controller import GazeSessionController

        self.session = GazeSessionController(self)  # gaze recording
        self.session.state_changed.connect(lambda _s, msg: self.say(msg))
        self.session.state_changed.connect(self._lock_orientation_while_recording)
        # the recording bar floats over the image: showing it must not move the image under the gaze
        self.view.set_top_bar(self.session.bar)

        build_actions(self)  # menus, toolbar (with the preset box and the record button), shortcuts
        self.overlays.shortcuts(self)
        self.report.use_actions(self.act_generate, self.act_save, self.act_sign, self.act_amend)
        self._connect()
        self._sync()
        self._on_settings(self.settings)

    def _dock(self, title: str, widget: QtWidgets.QWidget, area) -> QtWidgets.QDockWidget:
        dock = QtWidgets.QDockWidget(title, self)
        dock.setObjectName(title.lower() + "Dock")
        dock.setWidget(widget)
        dock.setFeatures(QtWidgets.QDockWidget.DockWidgetFeature.DockWidgetMovable)
        self.addDockWidget(area, dock)
        return dock

    def _connect(self) -> None:
        r, s, d = self.reading, self.studies_ctl, self.drafting
        r.state_changed.connect(self._sync)
        r.image_changed.connect(lambda _status: self._sync())
        r.draft_changed.connect(self.report.show_draft)  # the draft's AI context on every view
        r.draft_changed.connect(self.overlays.show_draft)
        self.worklist.study_activated.connect(lambda i: self.open_study(s.studies[i]))
        self.preset_box.activated.connect(lambda i: self.view.apply_preset(self.preset_box.itemText(i)))
        self.view.window_changed.connect(self._show_preset)
        s.studies_added.connect(lambda _new: self.worklist.set_studies(s.studies))
        s.chosen.connect(self.open_study)
        r.study_changed.connect(self._select)
        s.statuses.connect(lambda statuses: [self.worklist.set_status(uid, st) for uid, st in statuses.items()])
        s.image_ready.connect(self._on_image)
        s.study_loaded.connect(self._on_study_loaded)
        s.study_failed.connect(self._on_study_failed)
        s.recorded_changed.connect(self.overlays.set_recorded)
        s.message.connect(self.say)
        for ctl in (s, d):
            ctl.store_failed.connect(lambda msg: self.say(f"Database: {msg}"))
        d.version_stored.connect(s.refresh_status)
        d.busy_changed.connect(lambda _busy: self._sync())
        d.draft_ready.connect(lambda _draft: self.review.update_labels())
        d.draft_failed.connect(self.say)
        self.review.report_saved.connect(lambda _v: self._saved())
        self.review.refused.connect(self.say)
        self.exports.exported.connect(lambda kind, path: self.say(f"Exported {path}"))
        self.exports.failed.connect(lambda kind, why: self.say(f"Export failed: {why}"))
        self.report.generate_requested.connect(d.generate)
        self.report.stop_requested.connect(d.stop)
        self.report.versions_requested.connect(self.review.show_versions)
        self.report.export_requested.connect(self.export_dialog)
        self.report.chip_clicked.connect(lambda observation: self.say(self.overlays.show_attention(observation)))
        self.report.editor.edited.connect(self._on_edited)
        self.report.editor.sentence_clicked.connect(self.annotation_panel.follow_sentence)
        self.annotations.selected.connect(lambda ann: ann.sentence and self.report.editor.highlight_sentence(ann.sentence))
        self.overlays.sample_btn.clicked.connect(lambda: d.sample_scanpaths(3))
        d.predictions_ready.connect(lambda paths: self.say(self.overlays.show_predictions(paths)))
        d.predictions_failed.connect(self.say)
        self.overlays.changed.connect(lambda: self.settings_ctl.keep_layers(self.overlays.visibility()))
        self.settings_ctl.changed.connect(self._on_settings)
        self.settings_ctl.failed.connect(self.say)
        self.annotations.store_failed.connect(self.say)

    # ------------------------------------------------------------------ state → views
    def say(self, text: str) -> None:
        """The status line: each message replaces the last, so an old error never lingers."""
        self.status_msg.setText(text)

    def _sync(self) -> None:
        """Enable exactly the commands the reading rules allow now; lock the editor otherwise."""
        r, busy = self.reading, self.drafting.busy
        self.act_generate.setEnabled(r.can_draft and not busy)
        self.act_save.setEnabled(r.can_save and not busy)
        self.act_sign.setEnabled(r.can_sign and not busy)
        self.act_amend.setEnabled(r.can_amend and not busy)
        self.report.set_locked(not r.can_edit, r.signed, r.amending)
        study = r.study.id if r.study else ""
        self.report.set_study(study, failed=r.image_status is ImageStatus.FAILED)
        self.setWindowTitle(f"Gaze2Report — {study}" if study else "Gaze2Report")

    def _on_image(self, image: Image, display: DisplayData) -> None:
        study = self.reading.study
        self.view.set_image(image, display, study.id if study else "")
        self.preset_box.clear()
        self.preset_box.addItems(list(self.view.presets()))
        self._show_preset()
        self.overlays.clear()
        self.overlays.set_findings(study.findings if study else [])
        if study is not None:
            self.annotations.open_study(study.id, study.image_path)

    def _show_preset(self, *_window) -> None:
        """The preset box names the window on screen (or is blank for a manual one)."""
        self.preset_box.setCurrentIndex(self.preset_box.findText(self.view.preset_name()))

    def _select(self, study: Study) -> None:
        if study in self.studies_ctl.studies:
            self.worklist.select(self.studies_ctl.studies.index(study))

    def _on_study_loaded(self, uid: str) -> None:
        r = self.reading
        latest = r.latest
        if latest is None:
            self.report.editor.clear()
            self.report.set_state("No draft yet")
            if self.auto_draft:
                self.drafting.generate(GazeChoice.AUTO)
            return
        self.report.show_version(latest, r.state.value)
        self.review.update_labels()

    def _on_study_failed(self, uid: str, message: str) -> None:
        self.view.clear()
        self.overlays.clear()
        self.report.editor.clear()
        self.report.set_state(f"Could not open {uid}: {message}")

    def _on_edited(self) -> None:
        self.reading.edited()
        if self.reading.amending:
            self.report.set_state("Addendum — not signed yet (Ctrl+Shift+S)")
        elif self.reading.dirty:
            self.report.set_state("Edited — not saved yet (Ctrl+S)")

    def _saved(self) -> None:
        if self.reading.study is not None:
            self.studies_ctl.refresh_status(self.reading.study.id)
        self.say("")

    def _on_settings(self, settings: WorkstationSettings) -> None:
        self.annotations.reader = settings.user_name
        self.report.set_signer(self.settings_ctl.signer())

    def _lock_orientation_while_recording(self, state: str, _msg: str = "") -> None:
        """Gaze is mapped to image pixels through an axis-aligned viewport (ml.gaze.geometry), so a
        session records the upright image: rotation and flips are undone and disabled until it ends."""
        recording = state in ("starting", "recording", "saving")
        if recording:
            self.view.upright()
        for action in (self.act_rotate, self.act_flip_h, self.act_flip_v):
            action.setEnabled(not recording)

    # ------------------------------------------------------------------ commands
    def start_backend(self) -> None:
        self.backend.start()

    def open_dialog(self) -> None:
        files, _ = QtWidgets.QFileDialog.getOpenFileNames(
            self, "Open radiographs", "", "Radiographs (*.dcm *.dicom *.png *.jpg *.jpeg *.tif *.tiff);;All files (*)"
        )
        if files:
            self.open_paths(files)

    def open_paths(self, paths: list[str]) -> None:
        self.studies_ctl.open_paths(paths)

    def open_default_case(self) -> None:
        """Open the embedded default case (built on a worker thread the first time)."""
        self.report.set_state("Preparing the default case…")
        self.studies_ctl.open_default_case()

    def open_study(self, study: Study) -> None:
        """Leave the open study (its unsaved edits become a version; an unsigned addendum is only
        dropped when the reader says so) and open ``study``."""
        r = self.reading
        if r.amending and r.dirty and r.study is not study:
            question = f"The addendum to the report of {r.study.id} is not signed. Discard it?"
            if not self.review.confirm("Unsigned addendum", question):
                self._select(r.study)  # the worklist goes back to the study being amended
                return
        self.drafting.stop(quiet=True)
        self.review.autosave()
        self.say("")
        self.report.editor.clear()
        self.report.set_labels({})
        self.report.set_state(f"{study.id}: loading the image…")
        self.studies_ctl.open_study(study)

    def step_study(self, delta: int) -> None:
        """Open the next (1) or previous (-1) study of the worklist."""
        study = self.studies_ctl.step(delta)
        if study is not None:
            self.open_study(study)

    def export_dialog(self, kind: str) -> None:
        if self.reading.study is None or (kind.startswith("sr") and not self.settings_ctl.ensure_reader()):
            return
        default = str(Path.home() / self.exports.default_name(kind))
        path, _ = QtWidgets.QFileDialog.getSaveFileName(self, "Export", default)
        if path:
            from app.dialogs import ExportResult

            ExportResult(self, self.exports)
            self.exports.export(kind, path)

    def show_shortcuts(self):
        from app.dialogs import ShortcutsDialog

        dlg = ShortcutsDialog(self)
        dlg.show()
        return dlg

    def show_compare(self):
        from app.compare.view import CompareDialog

        dlg = CompareDialog(self)
        dlg.setAttribute(QtCore.Qt.WidgetAttribute.WA_DeleteOnClose)
        dlg.show()
        dlg.load()
        self.compare_dialog = dlg
        return dlg

    # ------------------------------------------------------------------ what the gaze and compare views read
    @property
    def settings(self) -> WorkstationSettings:
        return self.settings_ctl.settings

    @property
    def current(self) -> Study | None:
        return self.reading.study

    @property
    def image(self) -> Image | None:
        return self.reading.image

    @property
    def draft(self) -> Draft | None:
        return self.reading.draft

    @property
    def studies(self) -> list[Study]:
        return self.studies_ctl.studies

    def real_scanpaths(self, study: Study | None = None) -> list:
        return self.studies_ctl.real_scanpaths(study)

    def add_session_scanpath(self, study: Study, scanpath) -> None:
        self.studies_ctl.add_session_scanpath(study, scanpath)
        if self.reading.study is study:
            self.overlays.set_visible("recorded", True)

    # ------------------------------------------------------------------ lifecycle
    def moveEvent(self, ev: QtGui.QMoveEvent) -> None:  # noqa: N802
        super().moveEvent(ev)
        self.view.window_moved()  # gaze maps through the image's position on screen

    def closeEvent(self, ev: QtGui.QCloseEvent) -> None:  # noqa: N802
        if self.session.state == "recording":
            self.session.stop()
        self.drafting.stop(quiet=True)
        self.review.autosave()
        self.backend.stop()
        self.store.close()
        super().closeEvent(ev)
