"""One gaze session from the window's point of view: choose a source, validate, record, stop, save.

Sources: the mouse, replay, a Tobii tracker (through TittaPy, or the Tobii Pro SDK on Python
3.10; calibrated with the tracker's own screen-based calibration, then validated per eye) and any
LSL gaze stream (validated per eye when it has both). ``pick_source`` opens the tracker picker.

Data flow: source (mouse timer / Titta drain / LSL pull / replay thread) → ``Recorder.push``
(enqueue only) → the recorder's writer thread → SQLite; a binocular tracker's eyes go to the same
session through ``EyeLog``. What the reader sees and does is also published as LSL markers
(``ml.gaze.markers``) for a lab's LabRecorder. The viewer's state goes to ``Recorder.log_viewport``
as ``ml.gaze.geometry.Viewport`` events with the same monotonic clock, so the samples can be
mapped to image pixels afterwards (``fixations_from_samples``). Everything that touches the disk
(creating the session, the final drain, fixation detection) runs on worker threads.
"""

from __future__ import annotations

import contextlib
import time
from pathlib import Path
from typing import Any

from PySide6 import QtCore, QtGui, QtWidgets

from app import workers
from app.session.calibration import RECALIBRATE
from app.viewer.viewport import ViewportState
from ml.gaze.geometry import ScreenGeometry, Viewport
from ml.types import GazeSample, Scanpath, ScanpathSource

IDLE, VALIDATING, STARTING, RECORDING, SAVING = "idle", "validating", "starting", "recording", "saving"


def to_geometry_viewport(state: ViewportState, view_rect: tuple[float, float, float, float]) -> Viewport:
    """The viewer's state as an ``ml.gaze.geometry.Viewport`` (axis-aligned image rectangle on screen).

    Rotation and flips are kept in ``extra`` with the full affine; the rectangle is exact only for
    the unrotated, unflipped view (the usual reading set-up).
    """
    w, h = state.image_size
    x0, y0 = state.to_screen(0.0, 0.0)
    x1, y1 = state.to_screen(float(w), float(h))
    rect = (min(x0, x1), min(y0, y1), max(x0, x1), max(y0, y1))
    m11, m12, m21, m22, dx, dy = state.image_to_screen
    extra = {
        "rotation": float(state.rotation),
        "flip_h": float(state.flip_h),
        "flip_v": float(state.flip_v),
        "invert": float(state.invert),
        "m11": m11,
        "m12": m12,
        "m21": m21,
        "m22": m22,
        "dx": dx,
        "dy": dy,
    }
    return Viewport(
        t_us=state.t_us,
        image_id=state.study_id,
        image_size=(int(w), int(h)),
        image_rect=rect,
        view_rect=view_rect,
        zoom=float(state.zoom),
        window_center=float(state.window_center),
        window_width=float(state.window_width),
        extra=extra,
    )


def lsl_channel_maps() -> dict:
    """The per-stream LSL channel maps the lab configured: ``lsl_channel_maps.json`` in the
    settings folder, keyed by stream name or source id (see ``ml.gaze.sources.lsl``)."""
    from app.settings import config_dir
    from ml.gaze.sources.lsl import load_channel_maps

    return load_channel_maps(config_dir() / "lsl_channel_maps.json")


def describe_source(src) -> dict[str, Any]:
    """What a session stores about its source: the tracker, or the LSL stream, its channel map
    and clock correction (plain data for the session's ``source_info`` event)."""
    import dataclasses

    out: dict[str, Any] = {"source": src.name, "backend": getattr(src, "backend", src.name)}
    info = getattr(src, "info", None)
    if dataclasses.is_dataclass(info):
        out["tracker" if src.name == "tobii" else "stream"] = dataclasses.asdict(info)
    channels = getattr(src, "channels", None)
    if channels is not None:
        out["channels"] = channels.to_dict()
        out["clock"] = list(getattr(src, "clock_log", []))
    return out


def screen_geometry(settings, screen: QtGui.QScreen | None) -> ScreenGeometry:
    """Settings' physical size and distance, with the pixel size of the screen actually used."""
    if screen is not None:
        g = screen.geometry()
        w_px, h_px = g.width(), g.height()
    else:
        w_px, h_px = settings.screen_width_px, settings.screen_height_px
    return ScreenGeometry(
        w_px, h_px, settings.screen_width_mm, settings.screen_height_mm, settings.viewing_distance_mm
    )


def compute_session_scanpath(
    db: str, session_id: int, study_id: str, geometry: ScreenGeometry, reader: str
) -> Scanpath:
    """Worker thread: the stored session's samples → fixations in image pixels, saved with the session."""
    from ml.gaze.fixations import fixations_from_samples
    from ml.gaze.recorder import session_viewports
    from ml.store import Store

    with Store(db) as store:
        samples = store.samples(session_id).to_samples()
        vps = session_viewports(store, session_id)
        fixations = fixations_from_samples(samples, vps, geometry, image_id=study_id) if vps else []
        store.save_fixations(session_id, fixations, "ivt")
    size = next((v.image_size for v in vps if v.image_id == study_id), (0, 0))
    return Scanpath(fixations, size, ScanpathSource.RECORDED, reader)


class RecordingBar(QtWidgets.QFrame):
    """The unmistakable indicator: a red bar with a blinking dot, time, counts and Stop."""

    stop = QtCore.Signal()

    def __init__(self, parent: QtWidgets.QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("recording")
        self.label = QtWidgets.QLabel("")
        self.button = QtWidgets.QPushButton("Stop recording")
        self.button.clicked.connect(self.stop)
        lay = QtWidgets.QHBoxLayout(self)
        lay.setContentsMargins(12, 6, 12, 6)
        lay.addWidget(self.label, 1)
        lay.addWidget(self.button)
        self.hide()


class GazeSessionController(QtCore.QObject):
    state_changed = QtCore.Signal(str, str)
    session_saved = QtCore.Signal(Scanpath)
    failed = QtCore.Signal(str)

    def __init__(self, window, parent: QtCore.QObject | None = None) -> None:
        super().__init__(parent or window)
        self.win = window
        self.state = IDLE
        self.source = None
        self.recorder = None
        self.session_id: int | None = None
        self.kind = ""
        self.geometry: ScreenGeometry | None = None
        self.validation: dict[str, Any] | None = None
        self.last_sample: GazeSample | None = None
        self._t0 = 0.0
        self._study = None
        self.bar = RecordingBar()
        self.bar.stop.connect(self.stop)
        self._tick = QtCore.QTimer(self)
        self._tick.setInterval(250)
        self._tick.timeout.connect(self._update_bar)
        self.validation_dialog = None
        self.calibration_dialog = None
        self.calibration: dict | None = None
        self._preview = None
        self.replay_speed = 4.0  # replays run faster than real time; tests use more
        self.choice = None  # the picker's SourceChoice for the next session (None: the default)
        self._dialog_kwargs: dict = {}
        self.monitor = None  # SourceMonitor of the source in use: its state line
        self.picker = None  # the tracker picker while it is open
        self._markers = None
        self._markers_connected = False

    @property
    def accuracy_limit_deg(self) -> float:
        """Validation accuracy above which recording needs an explicit override (settings, or 1°)."""
        return float(getattr(self.win.settings, "gaze_accuracy_limit_deg", 1.0))

    # ----------------------------------------------------------------- LSL markers and state
    @property
    def markers(self):
        """The LSL marker stream, created with the first recording (does nothing without pylsl);
        from then on the reader's actions reach it: image opened, viewport, window/level,
        annotation changes, recording start/stop."""
        if self._markers is None:
            from ml.gaze.markers import MarkerPublisher

            self._markers = MarkerPublisher()
        if not self._markers_connected:
            self._markers_connected = True
            w = self.win
            w.studies_ctl.study_loaded.connect(lambda _sid: self._marker_image())
            w.view.viewport_changed.connect(self._marker_viewport)
            w.view.window_changed.connect(
                lambda win_: self._markers.window_level(win_.center, win_.width, preset=win_.name)
            )
            annotations = getattr(w, "annotations", None)
            if annotations is not None:
                annotations.changed.connect(
                    lambda: self._markers.annotation("changed", label=f"{len(annotations.items)} annotations")
                )
        return self._markers

    def _marker_image(self) -> None:
        study, image = self.win.current, self.win.image
        if study is not None and image is not None:
            self.markers.image_opened(study.id, path=str(study.image_path), size=tuple(image.size))

    def _marker_viewport(self, state: ViewportState | None) -> None:
        if state is not None:
            self.markers.viewport(self._geometry_viewport(state))

    def state_line(self) -> str:
        """The source in use: connected, measured frequency, last sample age ('' when none)."""
        return self.monitor.state_line() if self.monitor is not None else ""

    def pick_source(self, lister=None) -> None:
        """Open the tracker picker; the chosen source starts a session (with calibration/validation)."""
        from app.session.picker import TrackerPicker

        dlg = TrackerPicker(self.win, lister=lister, monitor=lambda: self.monitor, current=self.kind)
        self.picker = dlg

        def closed(code: int) -> None:
            self.picker = None
            if code == QtWidgets.QDialog.DialogCode.Accepted and dlg.choice is not None:
                self.begin(dlg.choice.kind.value, choice=dlg.choice)

        dlg.finished.connect(closed)
        dlg.open()

    # ----------------------------------------------------------------- flow
    def begin(
        self, kind: str = "mouse", validate: bool = True, dialog_kwargs: dict | None = None, choice=None
    ) -> None:
        """Choose the source (``choice``: a picker row; default: the kind's default source);
        validate (full-screen targets) unless told not to; then record."""
        if self.state != IDLE or self.win.current is None or self.win.image is None:
            return
        self.kind = kind
        self.choice = choice
        self.calibration = None
        self.validation = None
        try:
            self.source = self._make_source(kind)
        except Exception as exc:  # noqa: BLE001 - shown to the user
            self._fail(workers.error_text(exc))
            return
        screen = (
            self.win.windowHandle().screen()
            if self.win.windowHandle()
            else QtGui.QGuiApplication.primaryScreen()
        )
        self.geometry = screen_geometry(self.win.settings, screen)
        if validate and kind == "mouse":
            self._validate(dialog_kwargs or {})
        elif validate and kind == "tobii":
            self._calibrate_tobii(dialog_kwargs or {})
        elif validate and kind == "lsl":  # the tracker's own software calibrates; we validate
            self._validate_tobii(dialog_kwargs or {})
        else:
            self._start_recording()

    def _make_source(self, kind: str):
        if kind == "mouse":
            from app.session.mouse_source import MouseGazeSource

            return MouseGazeSource()
        if kind in ("tobii", "lsl"):
            from ml.gaze.sources.listing import default_tobii_source, make_source
            from ml.gaze.sources.lsl import LslSource

            screen = QtGui.QGuiApplication.primaryScreen()
            g = screen.geometry() if screen is not None else QtCore.QRect(0, 0, 1920, 1080)
            rect = (g.x(), g.y(), g.width(), g.height())
            if self.choice is not None:
                return make_source(self.choice, screen=rect, channel_maps=lsl_channel_maps())
            source = default_tobii_source(rect) if kind == "tobii" else LslSource(screen=rect)
            if not source.is_available():
                raise RuntimeError(source.availability_message())
            return source
        if kind == "replay":
            return self._replay_source()
        raise ValueError(f"unknown gaze source {kind!r}")

    def _replay_source(self):
        """Replay the study's recorded reading (a cohort/REFLACX gaze.csv), ``replay_speed`` x real time."""
        from ml.gaze.sources.replay import ReplaySource, load_gaze_csv

        study = self.win.current
        meta_path = (study.metadata or {}).get("gaze_path")  # REFLACX / cohort readings
        gaze = Path(meta_path) if meta_path else Path(study.image_path).parent / "gaze.csv"
        if not gaze.is_file():
            raise FileNotFoundError(f"no gaze.csv next to {Path(study.image_path).name} to replay")
        data = load_gaze_csv(gaze, image_size=self.win.image.size, image_id=study.id)
        return ReplaySource(
            data.samples,
            speed=self.replay_speed,
            viewports=data.viewports,
            origin_us=data.origin_us,
            label=data.label,
        )

    def _validate(self, kwargs: dict) -> None:
        from app.session.calibration import ValidationDialog

        self._set(VALIDATING, "Validation: put the mouse pointer on the targets")
        self._preview_source()
        kwargs = {
            "instruction": "Move the mouse pointer onto each target and hold it there until the target moves on",
            "limit_deg": self.accuracy_limit_deg,
            **kwargs,
        }
        dlg = ValidationDialog(self.geometry, lambda: self.source.position, parent=self.win, **kwargs)
        self.validation_dialog = dlg
        dlg.finished.connect(self._on_validation_closed)
        dlg.start()

    def _calibrate_tobii(self, kwargs: dict) -> None:
        """Tobii: calibrate (screen-based, compute_and_apply), then validate on other points."""
        from app.session.calibration import TobiiCalibrationDialog
        from ml.gaze.sources.titta_calibration import calibration_for

        self._set(VALIDATING, "Calibration: follow the dot")
        try:
            cal = calibration_for(self.source, self.geometry)
        except Exception as exc:  # noqa: BLE001 - no tracker, no calibration support
            self._fail(workers.error_text(exc))
            return
        cal_kwargs = {k: v for k, v in kwargs.items() if k in ("travel_s", "full_screen")}
        dlg = TobiiCalibrationDialog(cal, parent=self.win, **cal_kwargs)
        self.calibration_dialog = dlg

        def closed(code: int) -> None:
            self.calibration_dialog = None
            self._focus_window()
            if dlg.outcome is not None and not isinstance(dlg.outcome, str):
                self.calibration = dlg.outcome.to_dict()
            if code == QtWidgets.QDialog.DialogCode.Accepted:
                self._validate_tobii(kwargs)
            else:
                self.source = None
                self._set(IDLE, "Gaze session cancelled")

        dlg.finished.connect(closed)
        dlg.start()

    def _validate_tobii(self, kwargs: dict) -> None:
        """Validation with the tracker's per-eye samples (accuracy/precision per eye, in degrees);
        a tracker that sends only a combined point counts it for both eyes."""
        from app.session.calibration import ValidationDialog
        from ml.gaze.sources.base import BinocularSample

        self._set(VALIDATING, "Validation: look at the targets")
        kwargs = {"limit_deg": self.accuracy_limit_deg, "can_recalibrate": self.kind == "tobii", **kwargs}
        dlg = ValidationDialog(self.geometry, lambda: None, binocular=True, parent=self.win, **kwargs)
        self.validation_dialog = dlg
        self._dialog_kwargs = kwargs
        self._preview = None
        src = self.source
        src.add_binocular_listener(dlg.add_binocular)

        def sink(s: GazeSample) -> None:  # the source's thread, after it opened its stream
            channels = getattr(src, "channels", None)
            if channels is not None and not channels.binocular:
                dlg.add_binocular(BinocularSample(s.t_us, (s.x, s.y), (s.x, s.y), s.valid, s.valid))

        try:
            src.start(sink)  # stream for validation only; recording restarts it
        except Exception as exc:  # noqa: BLE001 - no tracker, SDK error: say so
            src.remove_binocular_listener(dlg.add_binocular)
            self.validation_dialog = None
            self._fail(workers.error_text(exc))
            return
        dlg.finished.connect(self._on_validation_closed)
        dlg.start()

    def _focus_window(self) -> None:
        """Give the keyboard back to the main window after a full-screen dialog (Ctrl+E must work)."""
        self.win.activateWindow()
        self.win.raise_()
        self.win.setFocus(QtCore.Qt.FocusReason.ActiveWindowFocusReason)

    def _preview_source(self) -> None:
        """Track the cursor during validation without recording (the mouse source's filter)."""
        from app.session.mouse_source import _MoveFilter

        if self.source.position is None:
            p = QtGui.QCursor.pos()
            self.source.move_to(p.x(), p.y())
        self._preview = _MoveFilter(self.source)
        QtWidgets.QApplication.instance().installEventFilter(self._preview)

    def _on_validation_closed(self, code: int) -> None:
        dlg, self.validation_dialog = self.validation_dialog, None
        if self._preview is not None:
            QtWidgets.QApplication.instance().removeEventFilter(self._preview)
        if self.kind in ("tobii", "lsl") and self.source is not None and dlg is not None:
            self.source.remove_binocular_listener(dlg.add_binocular)
            self.source.stop()
        self._focus_window()
        if dlg is not None and dlg.result is not None:
            self.validation = {"kind": "validation", "source": self.kind, **dlg.result.to_dict(), "gate": dlg.gate}
            if self.calibration is not None:
                self.validation["calibration"] = self.calibration
        if code == QtWidgets.QDialog.DialogCode.Accepted:
            self._start_recording()
        elif code == RECALIBRATE and self.kind == "tobii":
            kwargs = {k: v for k, v in self._dialog_kwargs.items() if k not in ("limit_deg", "can_recalibrate")}
            self._calibrate_tobii(kwargs)
        else:
            self.source = None
            self._set(IDLE, "Gaze session cancelled")

    def _start_recording(self) -> None:
        from ml.gaze.recorder import Recorder

        study = self.win.current
        self._study = study
        settings = self.win.settings
        self.recorder = Recorder(
            str(settings.db_path),
            study=study.id,
            reader=settings.user_name,
            source_name=self.kind,
            geometry=self.geometry,
            metadata={"image_path": study.image_path, "app": "gaze2report"},
        )
        self._set(STARTING, f"Starting a {self.kind} session…")
        settings.db_path.parent.mkdir(parents=True, exist_ok=True)
        validation = self.validation
        rec = self.recorder

        def start() -> int:
            sid = rec.start()
            if validation:
                from ml.store import Store

                with Store(rec.db) as store:
                    store.set_calibration(sid, validation)
            return sid

        workers.submit(start, self._on_started, lambda exc: self._fail(workers.error_text(exc)), context=self)

    def _on_started(self, session_id: int) -> None:
        from ml.gaze.sources.eyes import EyeLog
        from ml.gaze.sources.listing import SourceMonitor

        self.session_id = session_id
        rec, src = self.recorder, self.source
        monitor = self.monitor = SourceMonitor(src, self.choice.label if self.choice is not None else src.name)

        def sink(sample: GazeSample) -> None:
            self.last_sample = sample
            monitor.on_sample(sample)
            rec.push(sample)

        src.add_listener(lambda ev: rec.log_event(f"source_{ev.kind}", {"message": ev.message, **ev.data}, ev.t_us))
        if self.kind in ("tobii", "lsl"):
            EyeLog(rec).attach(src)  # both eyes, next to the combined samples
        self.markers.recording_started(session_id, source=self.kind)
        self._marker_image()  # what is on screen as the recording starts
        self._marker_viewport(self.win.view.viewport_state("image"))
        if self.kind == "replay":
            src.on_viewport = rec.log_viewport  # the replay carries the original reader's viewer state
        else:
            self._log_viewport(self.win.view.viewport_state("image"))
            self.win.view.viewport_changed.connect(self._log_viewport)
        try:
            src.start(sink)
        except Exception as exc:  # noqa: BLE001
            self._fail(f"the {self.kind} source did not start: {workers.error_text(exc)}")
            return
        self._t0 = time.monotonic()
        if self.win.settings.live_gaze_cursor:
            self._start_cursor()
        self.bar.show()
        self.win.view.relayout()
        rec.log_event("source_info", describe_source(src), src.clock_us())
        self._tick.start()
        self._update_bar()
        self._set(RECORDING, f"Recording gaze ({self.kind})")

    def _start_cursor(self) -> None:
        """The optional live gaze cursor (off by default: seeing one's gaze biases the reading)."""
        import pyqtgraph as pg

        self.cursor = pg.ScatterPlotItem(size=26, pen=pg.mkPen("#ff5252", width=2), brush=None, pxMode=True)
        self.cursor.setParentItem(self.win.view.root)
        self.cursor.setZValue(50)
        self._cursor_timer = QtCore.QTimer(self)
        self._cursor_timer.setInterval(33)
        self._cursor_timer.timeout.connect(self._move_cursor)
        self._cursor_timer.start()

    def _move_cursor(self) -> None:
        s, state = self.last_sample, self.win.view.viewport_state()
        if s is None or state is None or not s.valid or self.kind == "replay":
            self.cursor.clear()
            return
        x, y = state.to_image(s.x, s.y)
        self.cursor.setData([x], [y])

    def _stop_cursor(self) -> None:
        timer = getattr(self, "_cursor_timer", None)
        if timer is not None:
            timer.stop()
            self.cursor.setParentItem(None)
            if self.cursor.scene() is not None:
                self.cursor.scene().removeItem(self.cursor)
            self._cursor_timer = None

    def _log_viewport(self, state: ViewportState | None) -> None:
        if state is None or self.recorder is None:
            return
        if self.kind in ("tobii", "lsl") and self.source is not None:
            # samples carry the tracker's clock: stamp the viewer's events on the same clock
            import dataclasses

            state = dataclasses.replace(state, t_us=int(self.source.clock_us()))
        self.recorder.log_viewport(self._geometry_viewport(state))

    def _geometry_viewport(self, state: ViewportState) -> Viewport:
        vw = self.win.view.graphics.viewport()
        o = vw.mapToGlobal(QtCore.QPoint(0, 0))
        rect = (float(o.x()), float(o.y()), float(o.x() + vw.width()), float(o.y() + vw.height()))
        return to_geometry_viewport(state, rect)

    def stop(self) -> None:
        if self.state != RECORDING:
            return
        self._tick.stop()
        self._stop_cursor()
        self.bar.hide()
        if self.kind != "replay":
            with contextlib.suppress(RuntimeError, TypeError):
                self.win.view.viewport_changed.disconnect(self._log_viewport)
        if self.source is not None:
            self.source.stop()
        self.markers.recording_stopped(self.session_id)
        self._set(SAVING, "Saving the session and computing fixations…")
        rec, sid, study = self.recorder, self.session_id, self._study
        geometry, reader = self.geometry, self.win.settings.user_name

        def finish() -> Scanpath:
            rec.stop()
            return compute_session_scanpath(rec.db, sid, study.id, geometry, reader)

        workers.submit(finish, self._on_saved, lambda exc: self._fail(workers.error_text(exc)), context=self)

    def _on_saved(self, scanpath: Scanpath) -> None:
        study = self._study
        self.recorder, self.source = None, None
        self._set(IDLE, f"Session {self.session_id} saved: {len(scanpath)} fixations")
        if study is not None:
            self.win.add_session_scanpath(study, scanpath)
        self.session_saved.emit(scanpath)

    def _fail(self, message: str) -> None:
        self._tick.stop()
        self._stop_cursor()
        self.bar.hide()
        if self.source is not None:
            with contextlib.suppress(Exception):  # a failing source must not hide the first error
                self.source.stop()
        rec = self.recorder
        if rec is not None and rec.state == "recording":
            self.markers.recording_stopped(self.session_id, status="failed")
            workers.submit(lambda: rec.stop(status="failed", error=message), context=self)
        self.recorder, self.source = None, None
        self._set(IDLE, f"Gaze session failed: {message}")
        self.failed.emit(message)

    def _update_bar(self) -> None:
        rec = self.recorder
        if rec is None:
            return
        st = rec.status
        el = int(time.monotonic() - self._t0)
        dropped = f" · dropped {st.dropped}" if st.dropped else ""
        self.bar.label.setText(
            f"●  REC  {el // 60:02d}:{el % 60:02d}  ·  {self.kind} gaze  ·  {st.written + st.queued} samples{dropped}"
        )
        if st.state == "failed":
            self._fail(st.error or "the recorder failed")

    def _set(self, state: str, message: str) -> None:
        self.state = state
        self.state_changed.emit(state, message)
