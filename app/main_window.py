"""The workstation's main window: worklist | viewer | report, backend status always visible.

Threading: everything that touches disk or network goes through ``app.workers.submit`` or a
``ReportStream`` thread; this class only reacts to their signals. The window owns the
``BackendManager`` (local subprocess or configured URL) and asks it for a client per call.
"""

from __future__ import annotations

import contextlib
from pathlib import Path

from PySide6 import QtCore, QtGui, QtWidgets

from app import theme, workers
from app.backend.client import DraftResult, ReportStream
from app.backend.launcher import DEAD, ERROR, LOADING, READY, STARTING, BackendManager
from app.report.panel import ReportPanel
from app.settings import Settings
from app.storage import StoreWorker
from app.viewer.image_view import DisplayData, ImageView, prepare_display
from app.viewer.layers_panel import Overlays
from app.worklist.panel import StudyStatus, WorklistPanel, study_status
from ml.types import Image, Study


def load_study_image(path: str) -> tuple[Image, DisplayData]:
    """Worker-thread job: read the file and prepare the display array."""
    from ml.imaging import load_image

    image = load_image(path)
    return image, prepare_display(image)


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
    study_loaded = QtCore.Signal(str)  # study id
    draft_finished = QtCore.Signal(object)  # DraftResult or error text (str)

    def __init__(
        self,
        settings: Settings | None = None,
        backend: BackendManager | None = None,
        auto_draft: bool = True,
    ) -> None:
        super().__init__()
        self.settings = settings or Settings.load()
        self.setWindowTitle("Gaze2Report")
        self.resize(1600, 1000)
        self.auto_draft = auto_draft
        self.studies: list[Study] = []
        self.current: Study | None = None
        self.image: Image | None = None
        self.draft: DraftResult | None = None
        self.stream: ReportStream | None = None
        self._pending_generate: str | None = None
        self._load_token = 0
        self.dirty = False  # the editor holds text not yet stored as a version
        self.signed = False
        self.labels: dict[str, int | None] = {}
        self.session_paths: dict[str, list] = {}  # study id -> this workstation's recorded scanpaths
        self.store = StoreWorker(self.settings.db_path, parent=self)

        # viewer + banner
        self.view = ImageView()
        self.banner = BackendBanner()
        central = QtWidgets.QWidget()
        cl = QtWidgets.QVBoxLayout(central)
        cl.setContentsMargins(0, 0, 0, 0)
        cl.setSpacing(0)
        cl.addWidget(self.banner)
        from app.session.controller import GazeSessionController

        self.session = GazeSessionController(self)
        self.session.state_changed.connect(lambda _s, msg: self.status_msg.setText(msg))
        self.session.state_changed.connect(self._lock_orientation_while_recording)
        cl.addWidget(self.view, 1)
        # the recording bar floats over the top of the image: showing it must not move the image
        # under the reader's gaze (which would change the screen-to-image mapping mid-fixation)
        self.view.set_top_bar(self.session.bar)
        self.setCentralWidget(central)

        # report panel
        self.report = ReportPanel()
        self.report_dock = QtWidgets.QDockWidget("Report", self)
        self.report_dock.setObjectName("reportDock")
        self.report_dock.setWidget(self.report)
        self.report_dock.setFeatures(QtWidgets.QDockWidget.DockWidgetFeature.DockWidgetMovable)
        self.report_dock.setMinimumWidth(420)
        self.addDockWidget(QtCore.Qt.DockWidgetArea.RightDockWidgetArea, self.report_dock)

        # worklist (left, above the layers)
        self.worklist = WorklistPanel()
        self.worklist_dock = QtWidgets.QDockWidget("Worklist", self)
        self.worklist_dock.setObjectName("worklistDock")
        self.worklist_dock.setWidget(self.worklist)
        self.worklist_dock.setFeatures(QtWidgets.QDockWidget.DockWidgetFeature.DockWidgetMovable)
        self.addDockWidget(QtCore.Qt.DockWidgetArea.LeftDockWidgetArea, self.worklist_dock)
        self.worklist.study_activated.connect(lambda i: self.open_study(self.studies[i]))

        # overlays (layers panel on the left)
        self.overlays = Overlays(self.view)
        self.layers_dock = QtWidgets.QDockWidget("Layers", self)
        self.layers_dock.setObjectName("layersDock")
        self.layers_dock.setWidget(self.overlays)
        self.layers_dock.setFeatures(QtWidgets.QDockWidget.DockWidgetFeature.DockWidgetMovable)
        self.addDockWidget(QtCore.Qt.DockWidgetArea.LeftDockWidgetArea, self.layers_dock)
        self.overlays.shortcuts(self)
        self.overlays.sample_btn.clicked.connect(lambda: self.sample_predictions(3))

        # annotation tools (a tab beside the layers)
        from app.annotation.tools import AnnotationController, AnnotationPanel

        self.annotations = AnnotationController(self.view, self.store, self.settings.user_name, parent=self)
        self.annotation_panel = AnnotationPanel(self.annotations)
        self.annotation_dock = QtWidgets.QDockWidget("Annotations", self)
        self.annotation_dock.setObjectName("annotationDock")
        self.annotation_dock.setWidget(self.annotation_panel)
        self.annotation_dock.setFeatures(QtWidgets.QDockWidget.DockWidgetFeature.DockWidgetMovable)
        self.addDockWidget(QtCore.Qt.DockWidgetArea.LeftDockWidgetArea, self.annotation_dock)
        self.tabifyDockWidget(self.layers_dock, self.annotation_dock)
        self.layers_dock.raise_()

        # status bar: backend indicator always visible
        self.backend_dot = QtWidgets.QLabel()
        self.backend_text = QtWidgets.QLabel("backend: not started")
        self.backend_text.setObjectName("backendStatus")
        self.status_msg = QtWidgets.QLabel("")
        sb = self.statusBar()
        sb.addWidget(self.status_msg, 1)
        sb.addPermanentWidget(self.backend_dot)
        sb.addPermanentWidget(self.backend_text)
        self._set_backend_indicator(theme.MUTED, "backend: not started")

        # backend
        self.backend = backend or BackendManager(
            self.settings.backend_url, self.settings.backend_token, self.settings.backend_bundle, parent=self
        )
        self.backend.setParent(self)
        self.backend.state_changed.connect(self._on_backend_state)
        self.banner.restart.connect(self.backend.restart)

        # report actions
        self.report.generate_requested.connect(self.generate)
        self.report.stop_requested.connect(self.stop_generation)
        self.report.save_requested.connect(self.save_report)
        self.report.sign_requested.connect(self.sign_report)
        self.report.versions_requested.connect(self.show_versions)
        self.report.export_requested.connect(self.export_dialog)
        self.report.chip_clicked.connect(self.show_attention_for)
        self.report.editor.edited.connect(self._on_edited)
        self.report.editor.sentence_clicked.connect(self._on_sentence)
        self.annotations.selected.connect(self._on_annotation_selected)
        self.resizeDocks([self.worklist_dock, self.layers_dock], [420, 260], QtCore.Qt.Orientation.Vertical)
        self.resizeDocks([self.worklist_dock], [300], QtCore.Qt.Orientation.Horizontal)

        self._build_actions()

    # ------------------------------------------------------------------ actions
    def _build_actions(self) -> None:
        self.toolbar = self.addToolBar("Viewer")
        self.toolbar.setObjectName("viewerToolbar")
        self.toolbar.setMovable(False)
        self.toolbar.setToolButtonStyle(QtCore.Qt.ToolButtonStyle.ToolButtonTextOnly)
        v = self.view

        def act(
            text: str,
            slot,
            shortcut: str | None = None,
            tip: str = "",
            checkable: bool = False,
            bar: bool = True,
        ):
            a = QtGui.QAction(text, self)
            if shortcut:
                a.setShortcut(QtGui.QKeySequence(shortcut))
                a.setShortcutContext(QtCore.Qt.ShortcutContext.WindowShortcut)
            a.setToolTip(f"{tip or text} ({shortcut})" if shortcut else tip or text)
            a.setCheckable(checkable)
            a.triggered.connect(slot)
            self.addAction(a)
            if bar:
                self.toolbar.addAction(a)
            return a

        self.act_open = act("Open…", self.open_dialog, "Ctrl+O", "Open DICOM/PNG files or a folder")
        self.toolbar.addSeparator()
        self.act_fit = act("Fit", v.fit, "F", "Fit the image to the window")
        act("Zoom +", lambda: v.zoom_by(1.25), "+", bar=False)
        act("Zoom +", lambda: v.zoom_by(1.25), "=", bar=False)
        act("Zoom −", lambda: v.zoom_by(0.8), "-", bar=False)
        self.act_invert = act("Invert", v.toggle_invert, "I", "Invert the grey scale")
        self.act_rotate = act("Rotate", lambda: v.rotate(90), "R", "Rotate 90° clockwise")
        self.act_flip_h = act("Flip H", lambda: v.flip(True), "H", "Flip horizontally")
        self.act_flip_v = act("Flip V", lambda: v.flip(False), "V", "Flip vertically")
        self.act_reset = act("Reset", v.reset, "Space", "Reset window, orientation and zoom")
        self.act_auto = act("Auto W/L", v.auto_window, "A", "Automatic window/level")
        self.preset_box = QtWidgets.QComboBox()
        self.preset_box.setToolTip("Window/level presets (right-drag: horizontal = level, vertical = width)")
        self.preset_box.setMinimumWidth(170)
        self.preset_box.activated.connect(lambda i: v.apply_preset(self.preset_box.itemText(i)))
        self.toolbar.addWidget(self.preset_box)
        self.toolbar.addSeparator()
        self.record_btn = QtWidgets.QToolButton()
        self.record_btn.setText("● Record gaze")
        self.record_btn.setToolTip("Record a gaze session (Ctrl+R): validate, then record until Stop")
        self.record_btn.setPopupMode(QtWidgets.QToolButton.ToolButtonPopupMode.MenuButtonPopup)
        rmenu = QtWidgets.QMenu(self.record_btn)
        for kind, label in (
            ("mouse", "Mouse (gaze follows the cursor)"),
            ("tobii", "Tobii eye tracker"),
            ("replay", "Replay the recorded reading"),
        ):
            rmenu.addAction(label).triggered.connect(lambda _=False, k=kind: self.session.begin(k))
        self.record_btn.setMenu(rmenu)
        self.record_btn.clicked.connect(lambda: self.session.begin(self.settings.gaze_source))
        self.toolbar.addWidget(self.record_btn)
        self.act_compare = act("Compare", self.show_compare, "C", "Real vs predicted gaze with the metrics")
        act("Record gaze", lambda: self.session.begin(self.settings.gaze_source), "Ctrl+R", bar=False)
        act("Stop recording", lambda: self.session.stop(), "Ctrl+E", bar=False)
        ap = self.annotation_panel
        for tool, key in (
            ("pointer", "Esc"),
            ("ellipse", "E"),
            ("box", "B"),
            ("polygon", "P"),
            ("point", "T"),
        ):
            act(
                f"Annotation tool: {tool}",
                lambda _=False, t=tool: (ap.set_tool(t), self.annotation_dock.raise_()),
                key,
                bar=False,
            )
        act("Finish polygon", self.annotations.finish_polygon, "Return", bar=False)
        act("Delete annotation", lambda: self.annotations.delete(), "Delete", bar=False)
        act("Undo", self.annotations.undo.undo, "Ctrl+Z", bar=False)
        act("Redo", self.annotations.undo.redo, "Ctrl+Shift+Z", bar=False)
        spacer = QtWidgets.QWidget()
        spacer.setSizePolicy(QtWidgets.QSizePolicy.Policy.Expanding, QtWidgets.QSizePolicy.Policy.Preferred)
        self.toolbar.addWidget(spacer)
        act("Settings…", self.show_settings, "Ctrl+,", "Backend, reader, data directory, screen geometry")
        act("Shortcuts", self.show_shortcuts, "F1", "Keyboard shortcuts")
        act("Next study", self.next_study, "PgDown", bar=False)
        act("Previous study", self.prev_study, "PgUp", bar=False)
        act("Generate draft", lambda: self.generate("auto"), "G", bar=False)
        act("Save report", self.save_report, "Ctrl+S", bar=False)
        act("Sign report", self.sign_report, "Ctrl+Shift+S", bar=False)

    # ------------------------------------------------------------------ backend
    def start_backend(self) -> None:
        self.backend.start()

    def _set_backend_indicator(self, colour: str, text: str) -> None:
        self.backend_dot.setPixmap(theme.dot(colour, 11))
        self.backend_text.setText(text)

    def _lock_orientation_while_recording(self, state: str, _msg: str = "") -> None:
        """Gaze is mapped to image pixels through an axis-aligned viewport (ml.gaze.geometry), so a
        session records the upright image: rotation and flips are undone and disabled until it ends."""
        recording = state in ("starting", "recording", "saving")
        if recording:
            self.view.upright()
        for action in (self.act_rotate, self.act_flip_h, self.act_flip_v):
            action.setEnabled(not recording)

    def _on_backend_state(self, state: str, message: str) -> None:
        colour = {
            READY: theme.OK,
            LOADING: theme.WARN,
            STARTING: theme.WARN,
            ERROR: theme.BAD,
            DEAD: theme.BAD,
        }.get(state, theme.MUTED)
        self._set_backend_indicator(colour, message)
        if state in (DEAD, ERROR):
            self.banner.show_message(f"Backend {state}: {message}")
            if self.stream is not None and self.stream.is_running():
                self.stop_generation()
                self._draft_failed("the backend went away during generation")
        else:
            self.banner.hide()
        if state == READY and self._pending_generate:
            mode, self._pending_generate = self._pending_generate, None
            self.generate(mode)

    # ------------------------------------------------------------------ studies
    def open_dialog(self) -> None:
        files, _ = QtWidgets.QFileDialog.getOpenFileNames(
            self,
            "Open radiographs",
            "",
            "Radiographs (*.dcm *.dicom *.png *.jpg *.jpeg *.tif *.tiff);;All files (*)",
        )
        if files:
            self.open_paths(files)

    def open_default_case(self) -> None:
        """Open the embedded default case (built on a worker thread the first time)."""
        from app.defaults import ensure_default_case

        self.status_msg.setText("Preparing the default case…")
        self.report.set_state("Preparing the default case…")
        workers.submit(
            ensure_default_case,
            lambda folder: self.open_paths([str(folder)]),
            self._on_default_failed,
            context=self,
        )

    def _on_default_failed(self, exc: BaseException) -> None:
        msg = workers.error_text(exc)
        self.status_msg.setText(msg)
        self.report.set_state(f"No default case: {msg}. Open a radiograph with Ctrl+O.")
        self.draft_finished.emit(msg)

    def open_paths(self, paths: list[str]) -> None:
        from app.worklist.discover import discover

        self.status_msg.setText("Looking for studies…")
        workers.submit(lambda: discover(paths), self._on_discovered, self._on_open_error, context=self)

    def _on_discovered(self, studies: list[Study]) -> None:
        if not studies:
            self.status_msg.setText("No radiographs found there")
            return
        self.set_studies(studies)

    def set_studies(self, studies: list[Study]) -> None:
        self.studies = list(studies)
        self.status_msg.setText(f"{len(self.studies)} stud{'y' if len(self.studies) == 1 else 'ies'}")
        self.worklist.set_studies(self.studies)
        rows = [(s.id, s.image_path, s.dataset, s.split) for s in self.studies]

        def register(store):
            out = {}
            for uid, path, dataset, split in rows:
                store.add_study(uid, path, dataset, split)
                out[uid] = study_status(store, uid)
            return out

        self.store.call(register, self._on_statuses, self._on_store_error)
        self.open_study(self.studies[0])

    def _on_statuses(self, statuses: dict[str, StudyStatus]) -> None:
        for uid, st in statuses.items():
            self.worklist.set_status(uid, st)

    def refresh_status(self, uid: str) -> None:
        self.store.call(
            lambda store: {uid: study_status(store, uid)}, self._on_statuses, self._on_store_error
        )

    def _on_store_error(self, exc: BaseException) -> None:
        msg = workers.error_text(exc)
        self.status_msg.setText(f"Database: {msg}")
        self.report.set_state(f"Could not store the report: {msg}")

    def _on_open_error(self, exc: BaseException) -> None:
        self.status_msg.setText(workers.error_text(exc))

    def next_study(self) -> None:
        self._step_study(1)

    def prev_study(self) -> None:
        self._step_study(-1)

    def _step_study(self, delta: int) -> None:
        if not self.studies or self.current is None:
            return
        i = self.studies.index(self.current) if self.current in self.studies else 0
        j = min(max(i + delta, 0), len(self.studies) - 1)
        if j != i:
            self.open_study(self.studies[j])

    def open_study(self, study: Study) -> None:
        self.stop_generation()
        self.autosave()
        self.current = study
        self.dirty = False
        self.signed = False
        self.labels = {}
        if study in self.studies:
            self.worklist.select(self.studies.index(study))
        self.draft = None
        self._load_token += 1
        token = self._load_token
        self.status_msg.setText(f"Loading {study.id}…")
        self.report.editor.clear()
        self.report.set_locked(False)
        self.report.set_labels({})
        self.report.set_model_badge(None)
        self.report.set_suspected([])
        self.report.set_state(f"{study.id}: loading the image…")
        workers.submit(
            lambda: load_study_image(study.image_path),
            lambda res: self._on_image_loaded(token, study, res),
            lambda exc: self._on_image_failed(token, study, exc),
            context=self,
        )

    def _on_image_loaded(self, token: int, study: Study, result: tuple[Image, DisplayData]) -> None:
        if token != self._load_token:
            return  # the user moved on
        image, display = result
        self.image = image
        self.view.set_image(image, display, study.id)
        self.preset_box.clear()
        self.preset_box.addItems(list(self.view.presets()))
        self.setWindowTitle(f"Gaze2Report — {study.id}")
        self.status_msg.setText(f"{study.id} · {Path(study.image_path).name}")
        self.report.title.setText(f"Report — {study.id}")
        self.report.set_state("No draft yet")
        self.show_study_overlays(study)
        self.load_sessions(study, token)
        self.load_annotations(study)
        self.store.call(
            lambda store: store.report_versions(store.add_study(study.id, study.image_path, study.dataset)),
            lambda versions: self._on_versions_loaded(token, study, versions),
            self._on_store_error,
        )

    def _on_versions_loaded(self, token: int, study: Study, versions: list) -> None:
        if token != self._load_token:
            return
        self.study_loaded.emit(study.id)
        if versions:
            last = versions[-1]
            self.report.editor.set_text(last.text)
            self.signed = last.origin == "signed"
            self.report.set_locked(self.signed)
            who = f" by {last.author}" if last.author else ""
            when = last.created_at.replace("T", " ")[:16]
            state = {"model": "Draft ready", "human": "Edited", "signed": "Signed"}.get(
                last.origin, last.origin
            )
            self.report.set_state(f"{state}{who} · {when} UTC · v{last.version}")
            self.update_labels()
            self.draft_finished.emit(last.text)
        elif self.auto_draft:
            self.generate("auto")

    def _on_image_failed(self, token: int, study: Study, exc: BaseException) -> None:
        if token != self._load_token:
            return
        msg = workers.error_text(exc)
        self.status_msg.setText(f"Could not open {study.id}: {msg}")
        self.report.set_state(f"Could not open the image: {msg}")
        self.view.clear()
        self.draft_finished.emit(f"image failed: {msg}")

    def real_scanpaths(self, study: Study | None = None) -> list:
        """The study's real gaze, newest first: this workstation's sessions, then the dataset's readers
        (recorded REFLACX/EGD-CXR readings, or the cohort's simulated readers)."""
        study = study or self.current
        if study is None:
            return []
        sessions = list(reversed(self.session_paths.get(study.id, [])))
        dataset = [sp for sp in study.scanpaths if sp.source.value in ("recorded", "simulated")]
        return [sp for sp in sessions + dataset if len(sp)]

    def add_session_scanpath(self, study: Study, scanpath) -> None:
        self.session_paths.setdefault(study.id, []).append(scanpath)
        if self.current is study:
            self.overlays.set_recorded(self.real_scanpaths(study))
            self.overlays.set_visible("recorded", True)
        self.refresh_status(study.id)

    def load_sessions(self, study: Study, token: int) -> None:
        """The study's completed gaze sessions (their fixations) from the database."""
        from ml.types import Scanpath, ScanpathSource

        size = self.image.size if self.image is not None else (0, 0)

        def run(store):
            out = []
            for sess in store.sessions(study.id, status="completed"):
                fx = store.fixations(sess.id, "ivt")
                if fx:
                    out.append(Scanpath(fx, size, ScanpathSource.RECORDED, sess.reader))
            return out

        def done(paths) -> None:
            if token != self._load_token:
                return
            self.session_paths[study.id] = paths
            if paths:
                self.overlays.set_recorded(self.real_scanpaths(study))

        self.store.call(run, done, self._on_store_error)

    predictions_ready = QtCore.Signal(object)  # list[Scanpath] or an error message

    def sample_predictions(self, n: int = 3) -> None:
        """Several predicted scanpaths from the backend, drawn as the predicted layer."""
        if self.image is None or self.backend.state != READY:
            self.status_msg.setText("Sampling needs an open study and a ready backend")
            return
        client, image, token = self.backend.client(), self.image, self._load_token

        def done(paths) -> None:
            if token == self._load_token:
                self.overlays.set_predicted(paths)
                self.overlays.set_visible("predicted", True)
                self.status_msg.setText(f"{len(paths)} predicted scanpaths")
            self.predictions_ready.emit(paths)

        def fail(exc: BaseException) -> None:
            self.status_msg.setText(f"No predicted scanpaths: {workers.error_text(exc)}")
            self.predictions_ready.emit(workers.error_text(exc))

        workers.submit(lambda: client.scanpaths(image, n=n, seed=0), done, fail, context=self)

    def show_study_overlays(self, study: Study) -> None:
        self.overlays.clear()
        self.overlays.set_recorded(self.real_scanpaths(study))
        self.overlays.set_findings(study.findings)

    # ------------------------------------------------------------------ generation
    def gaze_for(self, mode: str):
        """The scanpath to condition on: the recorded one for 'recorded'/'auto' when present."""
        if self.current is None or mode == "predicted":
            return None
        sessions = self.session_paths.get(self.current.id, [])
        if sessions:
            return sessions[-1]
        if mode == "recorded":  # asked for real gaze without a session: the dataset's reader
            real = self.real_scanpaths()
            return real[0] if real else None
        return None

    def generate(self, mode: str = "auto") -> None:
        if self.image is None or self.current is None:
            return
        if self.backend.state != READY:
            self._pending_generate = mode
            self.report.set_state(f"Waiting for the backend ({self.backend.state})…")
            return
        self.stop_generation()
        gaze = self.gaze_for(mode)
        self.stream = ReportStream(self.backend.client(), self.image, gaze, parent=self)
        self.stream.token.connect(self.report.editor.append_token)
        self.stream.finished.connect(self._draft_done)
        self.stream.failed.connect(self._draft_failed)
        self.stream.scanpath.connect(self._draft_scanpath)
        self.report.editor.begin_stream()
        self.report.set_busy(True)
        self.report.set_state("Drafting…" + (" (recorded gaze)" if gaze is not None else ""))
        self.stream.start()

    def stop_generation(self) -> None:
        if self.stream is not None:
            self.stream.cancel()
            for sig in (self.stream.token, self.stream.finished, self.stream.failed, self.stream.scanpath):
                with contextlib.suppress(RuntimeError, TypeError):
                    sig.disconnect()
            self.stream = None
            self.report.editor.end_stream()
            self.report.set_busy(False)
            self.report.set_state("Generation stopped")

    def _draft_scanpath(self, scanpath) -> None:
        pass  # overlays pick it up from the final result

    def _draft_done(self, result: DraftResult) -> None:
        self.stream = None
        self.draft = result
        self.report.editor.end_stream(result.text)
        self.report.set_busy(False)
        src = result.raw.get("scanpath_source")
        self.report.set_model_badge(result.model, result.untrained, src)
        self.report.set_suspected(result.findings)
        if result.scanpath is not None and len(result.scanpath):
            if src == "predicted":
                self.overlays.set_predicted([result.scanpath])
            self.overlays.set_attention(result.scanpath, result.attention)
        redrafted = " · redrafted to agree with the image model" if result.redrafted else ""
        self.report.set_state(
            f"Draft ready · {result.n_tokens} tokens in {result.elapsed_s:.1f} s{redrafted}"
        )
        study = self.current
        if study is not None:
            bundle = str(result.model.get("name") or "model")
            if result.model.get("sha256"):
                bundle += "@" + str(result.model["sha256"])[:12]
            text = self.report.editor.text()
            self.store.call(
                lambda store: store.add_report_version(
                    study.id, text, "model", bundle, bundle_id=bundle, scanpath_source=src or ""
                ),
                lambda _v: (self.refresh_status(study.id), self.draft_finished.emit(result)),
                lambda exc: (self._on_store_error(exc), self.draft_finished.emit(result)),
            )
        else:
            self.draft_finished.emit(result)
        self.dirty = False
        self.update_labels()

    def _draft_failed(self, message: str) -> None:
        self.stream = None
        self.report.editor.end_stream()
        self.report.set_busy(False)
        self.report.set_state(f"Draft failed: {message}")
        self.status_msg.setText(message)
        self.draft_finished.emit(message)

    # ------------------------------------------------------------------ review: save, sign, versions
    report_saved = QtCore.Signal(object)  # ReportVersion

    def _on_edited(self) -> None:
        if not self.signed:
            self.dirty = True
            self.report.set_state("Edited — not saved yet (Ctrl+S)")

    def save_report(self, origin: str = "human") -> None:
        """Store the editor's text as a new version (origin 'human', or 'signed' to sign and lock)."""
        study = self.current
        if study is None or self.signed or self.report.editor.streaming:
            return
        text = self.report.editor.text()
        author = self.settings.user_name

        def done(version) -> None:
            if origin == "signed":
                self.signed = True
                self.report.set_locked(True)
            if self.current is study:
                self.dirty = False
                label = "Signed" if origin == "signed" else "Saved"
                self.report.set_state(f"{label} by {author} · v{version.version}")
            self.refresh_status(study.id)
            self.update_labels()
            self.report_saved.emit(version)

        self.store.call(
            lambda store: store.add_report_version(study.id, text, origin, author), done, self._on_store_error
        )

    def sign_report(self) -> None:
        self.save_report("signed")

    def autosave(self) -> None:
        """Never lose work: unsaved edits become a version when the reader moves on."""
        if self.dirty and self.current is not None and not self.signed:
            self.save_report("human")
        self.dirty = False

    def show_versions(self) -> None:
        if self.current is None:
            return
        from app.report.versions import VersionsDialog

        uid = self.current.id
        self.store.call(
            lambda store: store.report_versions(uid),
            lambda versions: VersionsDialog(versions, self).exec(),
            self._on_store_error,
        )

    def show_settings(self):
        from app.dialogs import SettingsDialog

        dlg = SettingsDialog(self.settings, self)
        if dlg.exec() == QtWidgets.QDialog.DialogCode.Accepted:
            self.apply_settings(dlg.values())
        return dlg

    def apply_settings(self, new: Settings) -> None:
        """Keep and save new settings; the reader name and gaze options apply at once."""
        self.settings = new
        self.annotations.reader = new.user_name
        workers.submit(
            new.save, None, lambda exc: self.status_msg.setText(workers.error_text(exc)), context=self
        )

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

    # ------------------------------------------------------------------ labeler chips
    labels_updated = QtCore.Signal(object)

    def update_labels(self) -> None:
        text = self.report.editor.text()

        def run():
            from ml.metrics.labeler import label_report

            return label_report(text)

        def done(labels):
            self.labels = labels
            self.report.set_labels(labels)
            self.labels_updated.emit(labels)

        workers.submit(run, done, lambda exc: self.status_msg.setText(workers.error_text(exc)), context=self)

    def show_attention_for(self, observation: str) -> None:
        """A clicked chip shows where the model attended: the attention layer with its top nodes."""
        layer = self.overlays.layers["attention"]
        if not layer.has_data:
            self.status_msg.setText("No attention for this draft (the model gave none)")
            return
        self.overlays.set_visible("attention", True)
        top = layer.top_nodes(3)
        layer.highlight(top)
        self.status_msg.setText(
            f"{observation}: the draft's most attended fixations are #{', #'.join(str(i + 1) for i in top)}"
        )

    # ------------------------------------------------------------------ export
    export_done = QtCore.Signal(str, str)  # kind, path (or error text with kind 'error')

    def export_dialog(self, kind: str) -> None:
        if self.current is None:
            return
        suffix = {
            "txt": "txt",
            "json": "json",
            "sr": "dcm",
            "pairs": "jsonl",
            "ellipses": "csv",
            "sr-annotations": "dcm",
        }[kind]
        default = f"{self.current.id.replace('/', '_')}_report.{suffix}"
        if kind == "ellipses":
            default = "anomaly_location_ellipses.csv"
        path, _ = QtWidgets.QFileDialog.getSaveFileName(self, "Export", str(Path.home() / default))
        if path:
            self.export_done.connect(self._export_finished_once)
            self.export_to(kind, path)

    def _export_finished_once(self, kind: str, path: str) -> None:
        self.export_done.disconnect(self._export_finished_once)
        self.show_export_result(kind, path)

    def show_export_result(self, kind: str, path: str):
        """Tell the reader what was written (for DICOM SR: what reading it back with pydicom found)."""
        box = QtWidgets.QMessageBox(self)
        box.setWindowTitle("Export")
        if kind == "error":
            box.setIcon(QtWidgets.QMessageBox.Icon.Warning)
            box.setText(f"Export failed: {path}")
        else:
            box.setIcon(QtWidgets.QMessageBox.Icon.Information)
            box.setText(f"Exported to\n{path}")
            if kind in ("sr", "sr-annotations"):
                from app.report.sr import read_back

                try:
                    back = read_back(path)
                    lines = [
                        f"SOP class: Comprehensive SR ({back['sop_class_uid']})",
                        f"Completion: {back['completion']} · verification: {back['verification']}",
                        f"Evidence: {len(back['evidence_uids'])} image(s)",
                    ]
                    lines += [f"{k}: {v[:90]}" for k, v in back["texts"].items()]
                    if back["graphic_types"]:
                        lines.append("Regions: " + ", ".join(back["graphic_types"]))
                    box.setInformativeText("Read back with pydicom:\n" + "\n".join(lines))
                except Exception as exc:  # noqa: BLE001 - the message says it
                    box.setInformativeText(f"Could not read it back: {exc}")
        box.setModal(False)
        box.show()
        return box

    def export_to(self, kind: str, path: str) -> None:
        """Export on worker threads; ``export_done`` tells the result (SR is validated by reading it back)."""
        from app.report import export

        study, image, report = self.current, self.image, self.report.editor.report()
        if study is None or image is None:
            return
        author, signed = self.settings.user_name, self.signed
        model = self.draft.model if self.draft else None
        labels = dict(self.labels)

        ok, fail = self._export_callbacks(kind)
        if kind == "txt":
            workers.submit(
                lambda: export.export_text(path, report, f"Study: {study.id}"), ok, fail, context=self
            )
        elif kind == "json":
            scanpath = self.draft.scanpath if self.draft else None

            def build(store):
                versions = store.report_versions(study.id)
                return export.export_json(
                    path,
                    export.report_json(study.id, report, versions, labels, model, scanpath, study.image_path),
                )

            self.store.call(build, ok, fail)
        elif kind == "pairs":
            self.store.call(lambda store: (export.export_pairs(store, path), path)[1], ok, fail)
        elif kind == "sr":

            def write_sr():
                from app.report.sr import read_back, report_sr

                out = report_sr(image, report, path, author, signed, model)
                back = read_back(out)
                if back["texts"].get("Finding", "") != (report.findings or "(none)"):
                    raise RuntimeError("the written SR does not read back with the report text")
                return out

            workers.submit(write_sr, ok, fail, context=self)
        elif kind in ("ellipses", "sr-annotations"):
            self.export_annotations(kind, path)

    def export_annotations(self, kind: str, path: str) -> None:
        """The reader's annotations as REFLACX ``anomaly_location_ellipses.csv`` or a TID 1500 SR."""
        findings = self.annotations.findings()
        if not findings:
            self.status_msg.setText("No annotations to export: draw some first (E, B, P, T)")
            self.export_done.emit("error", "no annotations")
            return
        image, author = self.image, self.settings.user_name

        def run():
            if kind == "ellipses":
                from ml.datasets.reflacx import write_ellipses

                return write_ellipses(path, findings)
            from app.report.sr import annotations_sr, read_back

            out = annotations_sr(image, findings, path, author)
            if len(read_back(out)["graphic_types"]) != len(findings):
                raise RuntimeError("the written SR does not read back with every region")
            return out

        workers.submit(run, *self._export_callbacks(kind), context=self)

    def _export_callbacks(self, kind: str):
        """(done, failed) callbacks of an export: the status line and ``export_done`` say how it went."""

        def ok(p) -> None:
            self.status_msg.setText(f"Exported {p}")
            self.export_done.emit(kind, str(p))

        def fail(exc: BaseException) -> None:
            self.status_msg.setText(workers.error_text(exc))
            self.export_done.emit("error", workers.error_text(exc))

        return ok, fail

    # ------------------------------------------------------------------ annotations
    def load_annotations(self, study: Study) -> None:
        from app.annotation.tools import Annotation

        reader = self.settings.user_name
        self.annotations.load(study.id, [])

        def done(rows) -> None:
            if self.current is study:
                self.annotations.load(study.id, [Annotation(r.finding, r.sentence, r.id) for r in rows])

        self.store.call(
            lambda s: s.annotations(s.add_study(study.id, study.image_path), reader=reader),
            done,
            self._on_store_error,
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
        self.stop_generation()
        self.autosave()
        self.backend.stop()
        self.store.close()
        super().closeEvent(ev)
