"""Full-screen validation targets and the result in degrees, shown before recording starts.

The dialog animates a shrinking target to each validation point (``ml.gaze.calibration``'s
layouts), and while it rests feeds the gaze source's samples to a ``ValidationCollector``
(which computes accuracy, RMS-S2S and SD precision in degrees of visual angle from the screen
geometry). With the mouse source both "eyes" are the cursor. The result page lists every point
and the overall figures against the accuracy limit (gaze research treats much above 1° as a failed
calibration): above it, recording is refused unless the reader ticks an explicit override, which
is stored with the session (``gate``); the reader can redo the validation, recalibrate a tracker
(the dialog closes with ``RECALIBRATE``), or cancel.
"""

from __future__ import annotations

import math

from PySide6 import QtCore, QtGui, QtWidgets

from app import theme
from ml.gaze.calibration import CalibrationOutcome, ValidationCollector, ValidationResult, validation_points
from ml.gaze.geometry import ScreenGeometry
from ml.gaze.sources.tobii import BinocularSample, ScreenRect


class TargetCanvas(QtWidgets.QWidget):
    """Paints the current target: an outer ring that shrinks onto a small dot."""

    def __init__(self, parent: QtWidgets.QWidget | None = None) -> None:
        super().__init__(parent)
        self.pos_norm: tuple[float, float] | None = None
        self.radius = 30.0
        self.message = ""

    def paintEvent(self, ev) -> None:  # noqa: N802
        p = QtGui.QPainter(self)
        p.setRenderHint(QtGui.QPainter.RenderHint.Antialiasing)
        p.fillRect(self.rect(), QtGui.QColor(40, 40, 40))
        if self.message:
            p.setPen(QtGui.QColor(220, 220, 220))
            f = p.font()
            f.setPointSize(14)
            p.setFont(f)
            p.drawText(self.rect().adjusted(0, 40, 0, 0), QtCore.Qt.AlignmentFlag.AlignHCenter, self.message)
        if self.pos_norm is None:
            return
        x, y = self.pos_norm[0] * self.width(), self.pos_norm[1] * self.height()
        p.setPen(QtCore.Qt.PenStyle.NoPen)
        p.setBrush(QtGui.QColor(230, 230, 230))
        p.drawEllipse(QtCore.QPointF(x, y), self.radius, self.radius)
        p.setBrush(QtGui.QColor(200, 30, 30))
        p.drawEllipse(QtCore.QPointF(x, y), 4.0, 4.0)
        p.end()


RECALIBRATE = 2  # the validation dialog's result code for "calibrate the tracker again"


class ValidationDialog(QtWidgets.QDialog):
    """Runs the targets, then shows the result; ``accepted`` means "start recording"."""

    target_resting = QtCore.Signal(int, float, float)  # index, global x, y of the target centre
    finished_targets = QtCore.Signal(ValidationResult)

    def __init__(
        self,
        geometry: ScreenGeometry,
        sample_pos,  # () -> (x, y) global screen pixels or None: the gaze source's current point
        n_points: int = 4,
        travel_s: float = 0.6,
        dwell_s: float = 1.0,
        full_screen: bool = True,
        binocular: bool = False,
        instruction: str = "Look at each target until it moves on",
        limit_deg: float = 1.0,
        can_recalibrate: bool = False,
        parent: QtWidgets.QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.setWindowTitle("Gaze validation")
        self.instruction = instruction  # what to do with the source in use (eyes, or the mouse)
        self.limit_deg = float(limit_deg)
        self.can_recalibrate = can_recalibrate
        self.geometry_ = geometry
        self.sample_pos = sample_pos
        self.points = validation_points(n_points)
        self.travel_s, self.dwell_s = travel_s, dwell_s
        self.full_screen = full_screen
        # binocular: a tracker feeds per-eye samples to ``add_binocular`` from its own thread;
        # otherwise (mouse) the dialog samples ``sample_pos`` while each target rests
        self.binocular = binocular
        self.result: ValidationResult | None = None
        self.collector: ValidationCollector | None = None

        self.canvas = TargetCanvas()
        self.results = QtWidgets.QWidget()
        self.stack = QtWidgets.QStackedLayout(self)
        self.stack.addWidget(self.canvas)
        self.stack.addWidget(self.results)
        self._build_results()
        self._timer = QtCore.QTimer(self)
        self._timer.setInterval(16)
        self._timer.timeout.connect(self._tick)
        self._t = 0.0
        self._index = -1

    # ---------------------------------------------------------------- run
    def start(self) -> None:
        if self.full_screen:
            screen = QtGui.QGuiApplication.primaryScreen()
            if screen is not None:
                self.setGeometry(screen.geometry())  # without a window manager showFullScreen may not resize
            self.showFullScreen()
        else:
            self.show()
        screen = (
            self.windowHandle().screen() if self.windowHandle() else QtGui.QGuiApplication.primaryScreen()
        )
        geo = (
            screen.geometry()
            if screen
            else QtCore.QRect(0, 0, self.geometry_.width_px, self.geometry_.height_px)
        )
        self._origin = self.canvas.mapToGlobal(QtCore.QPoint(0, 0))
        w, h = self.canvas.width() or geo.width(), self.canvas.height() or geo.height()
        self.collector = ValidationCollector(
            ScreenGeometry(
                w,
                h,
                self.geometry_.width_mm * w / self.geometry_.width_px,
                self.geometry_.height_mm * h / self.geometry_.height_px,
                self.geometry_.distance_mm,
            ),
            ScreenRect(self._origin.x(), self._origin.y(), w, h),
            skip_s=min(0.2, self.dwell_s / 4),
        )
        self.canvas.message = self.instruction
        self.stack.setCurrentWidget(self.canvas)
        self._index = -1
        self._next()
        self._timer.start()

    def _next(self) -> None:
        self._index += 1
        self._t = 0.0
        if self._index >= len(self.points):
            self._finish()
            return
        self._resting = False

    def _tick(self) -> None:
        if self._index >= len(self.points):
            return
        dt = self._timer.interval() / 1000.0
        self._t += dt
        target = self.points[self._index]
        prev = self.points[self._index - 1] if self._index > 0 else (0.5, 0.5)
        if self._t < self.travel_s:
            a = self._t / self.travel_s
            self.canvas.pos_norm = (prev[0] + (target[0] - prev[0]) * a, prev[1] + (target[1] - prev[1]) * a)
            self.canvas.radius = 30.0 - 18.0 * a
        else:
            self.canvas.pos_norm = target
            self.canvas.radius = 12.0
            if not self._resting:
                self._resting = True
                self.collector.begin(target)
                gx = self._origin.x() + target[0] * self.canvas.width()
                gy = self._origin.y() + target[1] * self.canvas.height()
                self.target_resting.emit(self._index, gx, gy)
            pos = None if self.binocular else self.sample_pos()
            if pos is not None:
                from ml.gaze.sources.base import now_us

                self.collector.add(BinocularSample(now_us(), pos, pos, True, True))
            if self._t >= self.travel_s + self.dwell_s:
                self.collector.end()
                self._next()
        self.canvas.update()

    def add_binocular(self, sample: BinocularSample) -> None:
        """A tracker's per-eye sample (any thread): kept only while a target rests."""
        collector = self.collector
        if collector is not None:
            collector.add(sample)

    def _finish(self) -> None:
        self._timer.stop()
        try:
            self.result = self.collector.result() if self.collector else None
        except Exception as exc:  # noqa: BLE001 - shown, not raised
            self.summary.setText(f"Validation failed: {exc}")
            self.result = None
        self._show_result()
        self.finished_targets.emit(self.result)

    # ---------------------------------------------------------------- results page
    def _build_results(self) -> None:
        outer = QtWidgets.QHBoxLayout(self.results)
        card = QtWidgets.QFrame()
        card.setMaximumWidth(860)
        card.setMinimumWidth(560)
        outer.addStretch(1)
        outer.addWidget(card, 3)
        outer.addStretch(1)
        lay = QtWidgets.QVBoxLayout(card)
        lay.setContentsMargins(30, 40, 30, 40)
        title = QtWidgets.QLabel("Validation result")
        title.setObjectName("panelTitle")
        self.summary = QtWidgets.QLabel("")
        self.summary.setWordWrap(True)
        self.table = QtWidgets.QTableWidget(0, 5)
        self.table.setHorizontalHeaderLabels(
            ["Target", "Accuracy (°)", "Precision RMS-S2S (°)", "Precision SD (°)", "Samples"]
        )
        self.table.verticalHeader().hide()
        self.table.horizontalHeader().setSectionResizeMode(QtWidgets.QHeaderView.ResizeMode.Stretch)
        self.table.setMaximumHeight(260)
        row = QtWidgets.QHBoxLayout()
        self.redo_btn = QtWidgets.QPushButton("Redo")
        self.redo_btn.clicked.connect(self.start)
        self.cancel_btn = QtWidgets.QPushButton("Cancel")
        self.cancel_btn.clicked.connect(self.reject)
        self.record_btn = QtWidgets.QPushButton("Start recording")
        self.record_btn.setObjectName("primary")
        self.record_btn.clicked.connect(self.accept)
        self.recalibrate_btn = QtWidgets.QPushButton("Recalibrate")
        self.recalibrate_btn.clicked.connect(lambda: self.done(RECALIBRATE))
        self.recalibrate_btn.setVisible(self.can_recalibrate)
        self.override = QtWidgets.QCheckBox("Record anyway (the override is stored with the session)")
        self.override.toggled.connect(self._gate_changed)
        self.override.hide()
        row.addWidget(self.override)
        row.addStretch(1)
        row.addWidget(self.cancel_btn)
        row.addWidget(self.redo_btn)
        row.addWidget(self.recalibrate_btn)
        row.addWidget(self.record_btn)
        lay.addStretch(1)
        lay.addWidget(title)
        lay.addWidget(self.summary)
        lay.addWidget(self.table)
        lay.addLayout(row)
        lay.addStretch(1)

    @property
    def passed(self) -> bool:
        """The validation's accuracy is within the limit."""
        r = self.result
        return r is not None and math.isfinite(r.binocular.accuracy_deg) and r.binocular.accuracy_deg <= self.limit_deg

    @property
    def gate(self) -> dict:
        """What the session stores about the quality gate."""
        acc = self.result.binocular.accuracy_deg if self.result is not None else math.nan
        return {
            "limit_deg": self.limit_deg,
            "accuracy_deg": acc if math.isfinite(acc) else None,
            "passed": self.passed,
            "override": bool(not self.passed and self.override.isChecked()),
        }

    def _gate_changed(self) -> None:
        self.record_btn.setEnabled(self.passed or self.override.isChecked())

    def _show_result(self) -> None:
        r = self.result
        self.stack.setCurrentWidget(self.results)
        self.override.setChecked(False)
        if r is None:
            self.record_btn.setText("Record without validation")
            self.record_btn.setEnabled(True)
            self.override.hide()
            return
        q = r.binocular
        ok = self.passed
        colour = theme.OK if ok else theme.BAD
        verdict = (
            f"within the {self.limit_deg:g}° limit"
            if ok
            else f"above the {self.limit_deg:g}° limit: redo the validation"
            + (" or recalibrate" if self.can_recalibrate else "")
            + ", or tick the override to record anyway"
        )
        self.summary.setText(
            f"<span style='font-size:13pt; color:{colour}'>Accuracy {_f(q.accuracy_deg)}°</span>, {verdict} · "
            f"precision RMS-S2S {_f(q.precision_rms_deg)}° · SD {_f(q.precision_sd_deg)}° "
            f"(mean over {len(r.points)} targets)"
        )
        self.override.setVisible(not ok)
        self._gate_changed()
        self.table.setRowCount(len(r.points))
        for i, p in enumerate(r.points):
            b = p.binocular
            cells = [
                f"({p.target[0]:.2f}, {p.target[1]:.2f})",
                _f(b.accuracy_deg),
                _f(b.precision_rms_deg),
                _f(b.precision_sd_deg),
                str(b.n_samples),
            ]
            for c, text in enumerate(cells):
                self.table.setItem(i, c, QtWidgets.QTableWidgetItem(text))


def _f(v: float) -> str:
    return "–" if v is None or not math.isfinite(v) else f"{v:.2f}"


class TobiiCalibrationDialog(QtWidgets.QDialog):
    """Screen-based Tobii calibration: shrinking targets, ``collect`` on a worker while each rests,
    then ``compute_and_apply`` and the per-eye error per point; weak points can be redone.

    ``calibration`` is an ``ml.gaze.calibration.TobiiCalibration`` (its calls block on the
    tracker, so every one runs on a worker thread).
    """

    target_resting = QtCore.Signal(int, float, float)
    computed = QtCore.Signal(CalibrationOutcome)
    failed = QtCore.Signal(str)  # why the tracker's calibration could not run

    def __init__(
        self,
        calibration,
        n_points: int = 5,
        travel_s: float = 0.6,
        full_screen: bool = True,
        parent: QtWidgets.QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        from ml.gaze.calibration import calibration_points

        self.setWindowTitle("Eye-tracker calibration")
        self.cal = calibration
        self.points = calibration_points(n_points)
        self.travel_s = travel_s
        self.full_screen = full_screen
        self.outcome = None
        self.canvas = TargetCanvas()
        self.results = QtWidgets.QWidget()
        self.stack = QtWidgets.QStackedLayout(self)
        self.stack.addWidget(self.canvas)
        self.stack.addWidget(self.results)
        lay = QtWidgets.QVBoxLayout(self.results)
        lay.setContentsMargins(60, 60, 60, 60)
        self.summary = QtWidgets.QLabel("")
        self.summary.setWordWrap(True)
        self.redo_btn = QtWidgets.QPushButton("Redo weak points")
        self.redo_btn.clicked.connect(self.redo_weak)
        self.next_btn = QtWidgets.QPushButton("Continue to validation")
        self.next_btn.setObjectName("primary")
        self.next_btn.clicked.connect(self.accept)
        cancel = QtWidgets.QPushButton("Cancel")
        cancel.clicked.connect(self.reject)
        row = QtWidgets.QHBoxLayout()
        row.addStretch(1)
        row.addWidget(cancel)
        row.addWidget(self.redo_btn)
        row.addWidget(self.next_btn)
        lay.addStretch(1)
        lay.addWidget(self.summary)
        lay.addLayout(row)
        lay.addStretch(1)
        self._queue: list = []
        self._timer = QtCore.QTimer(self)
        self._timer.setInterval(16)
        self._timer.timeout.connect(self._tick)

    def start(self) -> None:
        from app import workers

        if self.full_screen:
            screen = QtGui.QGuiApplication.primaryScreen()
            if screen is not None:
                self.setGeometry(screen.geometry())
            self.showFullScreen()
        else:
            self.show()
        self.canvas.message = "Follow the dot with your eyes"
        self.stack.setCurrentWidget(self.canvas)
        workers.submit(self.cal.enter, lambda _r: self._run(list(self.points)), self._failed, context=self)

    def _run(self, points: list) -> None:
        self._queue = points
        self._prev = (0.5, 0.5)
        self._next()

    def _next(self) -> None:
        from app import workers

        if not self._queue:
            self.canvas.pos_norm = None
            self.canvas.message = "Computing the calibration…"
            self.canvas.update()
            workers.submit(self.cal.compute, self._show, self._failed, context=self)
            return
        self._target = self._queue.pop(0)
        self._t = 0.0
        self._timer.start()

    def _tick(self) -> None:
        from app import workers

        self._t += self._timer.interval() / 1000.0
        a = min(self._t / self.travel_s, 1.0)
        tx, ty = self._target
        px, py = self._prev
        self.canvas.pos_norm = (px + (tx - px) * a, py + (ty - py) * a)
        self.canvas.radius = 30.0 - 18.0 * a
        self.canvas.update()
        if a >= 1.0:
            self._timer.stop()
            self._prev = self._target
            origin = self.canvas.mapToGlobal(QtCore.QPoint(0, 0))
            self.target_resting.emit(
                self.points.index(self._target),
                origin.x() + tx * self.canvas.width(),
                origin.y() + ty * self.canvas.height(),
            )
            target = self._target
            workers.submit(
                lambda: self.cal.collect(target), lambda _ok: self._next(), self._failed, context=self
            )

    def _show(self, outcome) -> None:
        self.outcome = outcome
        weak = outcome.weak_points
        colour = theme.OK if outcome.ok and not weak else theme.WARN if outcome.ok else theme.BAD
        self.summary.setText(
            f"<p style='font-size:14pt; color:{colour}'>Calibration {outcome.status.replace('_', ' ')}</p>"
            f"<p>Mean error: left eye {_f(outcome.mean_error_deg('left'))}°, right eye "
            f"{_f(outcome.mean_error_deg('right'))}° over {len(outcome.points)} points.</p>"
            + (
                f"<p>{len(weak)} weak point(s): redo them, or continue.</p>"
                if weak
                else "<p>No weak points.</p>"
            )
        )
        self.redo_btn.setEnabled(bool(weak))
        self.stack.setCurrentWidget(self.results)
        self.computed.emit(outcome)

    def redo_weak(self) -> None:
        from app import workers

        if self.outcome is None or not self.outcome.weak_points:
            return
        weak = list(self.outcome.weak_points)
        self.stack.setCurrentWidget(self.canvas)

        def discard():
            for p in weak:
                self.cal.discard(p)

        workers.submit(discard, lambda _r: self._run(weak), self._failed, context=self)

    def _failed(self, exc: BaseException) -> None:
        from app import workers

        self._timer.stop()
        self.summary.setText(
            f"<p style='color:{theme.BAD}'>Calibration failed: {workers.error_text(exc)}</p>"
        )
        self.redo_btn.setEnabled(False)
        self.next_btn.setText("Continue without calibration")
        self.stack.setCurrentWidget(self.results)
        self.failed.emit(workers.error_text(exc))

    def done(self, code: int) -> None:  # leave calibration mode however the dialog closes
        from app import workers

        workers.submit(self.cal.leave)
        super().done(code)
