"""The workstation's main window: worklist | viewer | report, backend status always visible.

It lays out the views and connects them to the controllers (``app.controllers``) and to the
Qt-free ``ReadingSession`` (``app.components.reading``), whose events keep every view and every
command's enabled state in step with what the reading rules allow. Disk and network work runs in
the controllers' worker threads; nothing here waits.
"""

from __future__ import annotations

from pathlib import Path

from PySide6 import QtCore, QtGui, QtWidgets

from app import theme, workers
from app.actions import build_actions
from app.backend.launcher import BackendManager, BackendState
from app.components.reading import GazeChoice, ImageStatus, ReadingSession
from app.controllers.drafting import DraftController
from app.controllers.export import ExportController
from app.controllers.review import ReviewController
from app.controllers.studies import StudyController
from app.report.panel import ReportPanel
from app.settings import WorkstationSettings
from app.storage import StoreWorker
from app.viewer.image_view import DisplayData, ImageView
from app.viewer.layers_panel import LayersPanel
from app.worklist.panel import WorklistPanel
from ml.contracts import Draft
from ml.types import Image, Study

BACKEND_COLOURS = {
    BackendState.READY: theme.OK,
    BackendState.LOADING: theme.WARN,
    BackendState.STARTING: theme.WARN,
    BackendState.ERROR: theme.BAD,
    BackendState.DEAD: theme.BAD,
}


class BackendBanner(QtWidgets.QFrame):
    """A red strip with the reason and a restart button; shown only when the backend is dead."""

    restart = QtCore.Signal()

    def __init__(self, parent: QtWidgets.QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("banner")
        self.label = QtWidgets.QLabel("")
        self.label.setWordWrap(True)
        self.button = QtWidgets.QPushButton("Restart backend")
        self.button.clicked.connect(self.restart)
        lay = QtWidgets.QHBoxLayout(self)
        lay.setContentsMargins(10, 6, 10, 6)
        lay.addWidget(self.label, 1)
        lay.addWidget(self.button)
        self.hide()

    def show_message(self, text: str) -> None:
        self.label.setText(text)
        self.show()


class MainWindow(QtWidgets.QMainWindow):
    predictions_ready = QtCore.Signal(list)  # sampled predicted scanpaths, drawn as the predicted layer
    predictions_failed = QtCore.Signal(str)

    def __init__(
        self,
        settings: WorkstationSettings | None = None,
        backend: BackendManager | None = None,
        auto_draft: bool = True,
    ) -> None:
        super().__init__()
        self.settings = settings or WorkstationSettings.load()
        self.setWindowTitle("Gaze2Report")
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
        self.backend_dot = QtWidgets.QLabel()
        self.backend_text = QtWidgets.QLabel("backend: not started")
        self.backend_text.setObjectName("backendStatus")
        self.status_msg = QtWidgets.QLabel("")
        sb = self.statusBar()
        sb.addWidget(self.status_msg, 1)
        sb.addPermanentWidget(self.backend_dot)
        sb.addPermanentWidget(self.backend_text)
        self._set_backend_indicator(theme.MUTED, "backend: not started")

        # controllers
        author = lambda: self.settings.user_name  # noqa: E731 - the settings object can be replaced
        self.studies_ctl = StudyController(self.reading, self.store, parent=self)
        self.drafting = DraftController(
            self.reading, self.backend, self.report, self.store, self.studies_ctl.gaze_for, parent=self
        )
        self.review = ReviewController(self.reading, self.report, self.store, author, parent=self)
        self.review.named = self.ensure_reader
        self.exports = ExportController(self.reading, self.report, self.annotations, self.store, author, parent=self)
        from app.session.controller import GazeSessionController

        self.session = GazeSessionController(self)  # gaze recording
        self.session.state_changed.connect(lambda _s, msg: self.say(msg))
        self.session.state_changed.connect(self._lock_orientation_while_recording)
        # the recording bar floats over the image: showing it must not move the image under the gaze
        self.view.set_top_bar(self.session.bar)

        self.toolbar = self.addToolBar("Viewer")
        self.toolbar.setObjectName("viewerToolbar")
        self.toolbar.setMovable(False)
        self.toolbar.setToolButtonStyle(QtCore.Qt.ToolButtonStyle.ToolButtonTextOnly)
        self.preset_box = QtWidgets.QComboBox()
        self.preset_box.setToolTip("Window/level presets (right-drag: horizontal = level, vertical = width)")
        self.preset_box.setMinimumWidth(170)
        self.record_btn = QtWidgets.QToolButton()
        self.record_btn.setText("● Record gaze")
        self.record_btn.setPopupMode(QtWidgets.QToolButton.ToolButtonPopupMode.MenuButtonPopup)
        build_actions(self)
        self.overlays.shortcuts(self)
        self.report.use_actions(self.act_generate, self.act_save, self.act_sign, self.act_amend)
        self._connect()
        self._sync()
        self._show_signer()

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
        r.draft_changed.connect(self._show_draft)
        self.backend.state_changed.connect(self._on_backend_state)
        self.banner.restart.connect(self.backend.restart)
        self.worklist.study_activated.connect(lambda i: self.open_study(s.studies[i]))
        self.preset_box.activated.connect(lambda i: self.view.apply_preset(self.preset_box.itemText(i)))
        self.view.window_changed.connect(self._show_preset)
        s.studies_added.connect(lambda _new: self.worklist.set_studies(s.studies))
        s.chosen.connect(self.open_study)
        r.study_changed.connect(lambda study: self.worklist.select(s.studies.index(study)))
        s.statuses.connect(self._on_statuses)
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
        self.report.chip_clicked.connect(self.show_attention_for)
        self.report.editor.edited.connect(self._on_edited)
        self.report.editor.sentence_clicked.connect(self._on_sentence)
        self.overlays.sample_btn.clicked.connect(lambda: self.sample_predictions(3))
        self.overlays.changed.connect(self._keep_layers)
        self.annotations.selected.connect(self._on_annotation_selected)

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
        study = r.study
        if study is None:
            self.report.title.setText("Report")
        elif r.image_status is ImageStatus.FAILED:
            self.report.title.setText(f"Report — {study.id} (image not loaded)")
        else:
            self.report.title.setText(f"Report — {study.id}")
        self.setWindowTitle(f"Gaze2Report — {study.id}" if study else "Gaze2Report")

    def _show_draft(self, draft: Draft | None) -> None:
        """The draft's AI context on every view: badge, the image model's findings, gaze and attention."""
        self.overlays.set_predicted([])
        self.overlays.set_attention(None, [])
        self.report.set_domain(draft.domain if draft else None)
        if draft is None:
            self.report.set_model_badge(None)
            self.report.set_suspected([])
            return
        source = draft.scanpath.source.value if draft.scanpath is not None else None
        self.report.set_model_badge(draft.model, bool(draft.model.get("untrained")), source)
        self.report.set_suspected(draft.findings, unreliable=draft.domain is not None and not draft.domain.in_domain)
        if draft.scanpath is not None and len(draft.scanpath):
            if source == "predicted":
                self.overlays.set_predicted([draft.scanpath])
            self.overlays.set_attention(draft.scanpath, draft.attention)

    def _on_image(self, image: Image, display: DisplayData) -> None:
        study = self.reading.study
        self.view.set_image(image, display, study.id if study else "")
        self.preset_box.clear()
        self.preset_box.addItems(list(self.view.presets()))
        self._show_preset()
        self.overlays.clear()
        self.overlays.set_findings(study.findings if study else [])
        if study is not None:
            self.load_annotations(study)

    def _show_preset(self, *_window) -> None:
        """The preset box names the window on screen (or is blank for a manual one)."""
        self.preset_box.setCurrentIndex(self.preset_box.findText(self.view.preset_name()))

    def _on_study_loaded(self, uid: str) -> None:
        r = self.reading
        latest = r.latest
        if latest is None:
            self.report.editor.clear()
            self.report.set_state("No draft yet")
            if self.auto_draft:
                self.drafting.generate(GazeChoice.AUTO)
            return
        self.report.editor.set_text(latest.text)
        who = f" by {latest.author}" if latest.author else ""
        when = latest.created_at.replace("T", " ")[:16]
        self.report.set_state(f"{r.state.value.capitalize()}{who} · {when} UTC · v{latest.version}")
        self.review.update_labels()

    def _on_study_failed(self, uid: str, message: str) -> None:
        self.view.clear()
        self.overlays.clear()
        self.report.editor.clear()
        self.report.set_state(f"Could not open the image: {message}")

    def _on_statuses(self, statuses: dict) -> None:
        for uid, st in statuses.items():
            self.worklist.set_status(uid, st)

    def _on_edited(self) -> None:
        self.reading.edited()
        if self.reading.dirty:
            self.report.set_state("Edited — not saved yet (Ctrl+S)")

    def _saved(self) -> None:
        if self.reading.study is not None:
            self.studies_ctl.refresh_status(self.reading.study.id)
        self.say("")

    def _show_signer(self) -> None:
        s = self.settings
        who = f"{s.user_name}{f' ({s.reader_id})' if s.reader_id else ''}" if s.reader_confirmed else "asked at signing"
        self.report.set_signer(f"Signs as: {who}")

    def _set_backend_indicator(self, colour: str, text: str) -> None:
        self.backend_dot.setPixmap(theme.dot(colour, 11))
        self.backend_text.setText(text)

    def _on_backend_state(self, state: str, message: str) -> None:
        self._set_backend_indicator(BACKEND_COLOURS.get(BackendState(state), theme.MUTED), message)
        if state in (BackendState.DEAD, BackendState.ERROR):
            self.banner.show_message(f"Backend {state}: {message}")
        else:
            self.banner.hide()

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
        from app.defaults import ensure_default_case

        self.say("Preparing the default case…")
        self.report.set_state("Preparing the default case…")

        def failed(exc: BaseException) -> None:
            msg = workers.error_text(exc)
            self.say(msg)
            self.report.set_state(f"No default case: {msg}. Open a radiograph with Ctrl+O.")
            self.studies_ctl.study_failed.emit("default case", msg)

        workers.submit(ensure_default_case, lambda folder: self.open_paths([str(folder)]), failed, context=self)

    def open_study(self, study: Study) -> None:
        """Leave the open study (its unsaved edits become a version) and open ``study``."""
        self.drafting.stop(quiet=True)
        self.review.autosave()
        self.say("")
        self.report.editor.clear()
        self.report.set_labels({})
        self.report.set_state(f"{study.id}: loading the image…")
        self.studies_ctl.open_study(study)

    def next_study(self) -> None:
        study = self.studies_ctl.step(1)
        if study is not None:
            self.open_study(study)

    def prev_study(self) -> None:
        study = self.studies_ctl.step(-1)
        if study is not None:
            self.open_study(study)

    def sample_predictions(self, n: int = 3) -> None:
        """Several predicted scanpaths from the backend, drawn as the predicted layer."""
        image, study = self.reading.image, self.reading.study
        if image is None or self.backend.state != BackendState.READY:
            self.say("Sampling needs an open study and a ready backend")
            return
        client = self.backend.client()

        def done(paths) -> None:
            if self.reading.study is study:
                self.overlays.set_predicted(paths)
                self.overlays.set_visible("predicted", True)
                self.say(f"{len(paths)} predicted scanpaths")
            self.predictions_ready.emit(paths)

        def fail(exc: BaseException) -> None:
            self.say(f"No predicted scanpaths: {workers.error_text(exc)}")
            self.predictions_failed.emit(workers.error_text(exc))

        workers.submit(lambda: client.scanpaths(image, n=n, seed=0), done, fail, context=self)

    def show_attention_for(self, observation: str) -> None:
        """A clicked chip shows where the model attended: the attention layer with its top nodes."""
        layer = self.overlays.layers["attention"]
        if not layer.has_data:
            self.say("No attention for this draft (the model gave none)")
            return
        self.overlays.set_visible("attention", True)
        top = layer.top_nodes(3)
        layer.highlight(top)
        self.say(f"{observation}: the draft's most attended fixations are #{', #'.join(str(i + 1) for i in top)}")

    def export_dialog(self, kind: str) -> None:
        if self.reading.study is None or (kind.startswith("sr") and not self.ensure_reader()):
            return
        default = str(Path.home() / self.exports.default_name(kind))
        path, _ = QtWidgets.QFileDialog.getSaveFileName(self, "Export", default)
        if path:
            from app.dialogs import ExportResult

            ExportResult(self, self.exports)
            self.exports.export(kind, path)

    def show_settings(self):
        from app.dialogs import SettingsDialog

        dlg = SettingsDialog(self.settings, self)
        if dlg.exec() == QtWidgets.QDialog.DialogCode.Accepted:
            self.apply_settings(dlg.values())
        return dlg

    def apply_settings(self, new: WorkstationSettings) -> None:
        """Keep and save new settings; the reader name and gaze options apply at once."""
        self.settings = new
        self.annotations.reader = new.user_name
        self._show_signer()
        workers.submit(new.save, None, lambda exc: self.say(workers.error_text(exc)), context=self)

    def ensure_reader(self) -> bool:
        """Before the first signature the reader names themselves; False if they decline."""
        if self.settings.reader_confirmed:
            return True
        from app.dialogs import ReaderDialog

        dlg = ReaderDialog(self.settings, self)
        named = dlg.values() if dlg.exec() == QtWidgets.QDialog.DialogCode.Accepted else None
        if named is None:
            self.report.set_state("Not signed: the reader's name is needed to sign")
            return False
        self.apply_settings(named)
        return True

    def _keep_layers(self) -> None:
        """The reader's overlay choice persists (the settings file, written off the GUI thread)."""
        layers = self.overlays.visibility()
        if layers != self.settings.layers:
            self.settings.layers = layers
            workers.submit(self.settings.save, None, lambda exc: self.say(workers.error_text(exc)), context=self)

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

    # ------------------------------------------------------------------ annotations
    def load_annotations(self, study: Study) -> None:
        from app.annotation.tools import DrawnFinding

        reader = self.settings.user_name
        self.annotations.load(study.id, [])

        def done(rows) -> None:
            if self.reading.study is study:
                self.annotations.load(study.id, [DrawnFinding(r.finding, r.sentence, r.id) for r in rows])

        self.store.call(
            lambda s: s.annotations(s.add_study(study.id, study.image_path), reader=reader),
            done,
            lambda exc: self.say(f"Database: {workers.error_text(exc)}"),
        )

    def _on_sentence(self, sentence: str) -> None:
        self.annotation_panel.sentence = sentence
        self.annotations.select_sentence(sentence)

    def _on_annotation_selected(self, ann) -> None:
        if ann is not None and ann.sentence:
            self.report.editor.highlight_sentence(ann.sentence)

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
