"""The mouse as a gaze source (demos, teaching, tests without a tracker), on the GazeSource interface.

A real tracker delivers samples at a fixed rate whether the eyes move or not, and fixation
detection depends on that (a resting gaze is a fixation). So this source samples the last known
cursor position at a fixed rate from a Qt timer, instead of emitting only on mouse-move events.
The position is tracked by an application-wide event filter (global logical screen pixels) and
forgotten at start: the pointer's resting place (the click that started the recording) is not
gaze, so sampling begins with the first movement. Runs on the GUI thread: each tick only calls the recorder's
``push`` (which only enqueues).
"""

from __future__ import annotations

from PySide6 import QtCore, QtWidgets

from ml.gaze.sources.base import CallbackSource, now_us
from ml.types import GazeSample


class _MoveFilter(QtCore.QObject):
    def __init__(self, source: MouseGazeSource) -> None:
        super().__init__()
        self.source = source

    def eventFilter(self, obj, ev):  # noqa: N802 - Qt naming
        if ev.type() == QtCore.QEvent.Type.MouseMove:
            p = ev.globalPosition()
            self.source.move_to(p.x(), p.y())
        return False


class MouseGazeSource(CallbackSource):
    """Samples the cursor at ``rate_hz`` (default 60) while started."""

    name = "mouse"

    def __init__(self, rate_hz: float = 60.0) -> None:
        super().__init__("mouse")
        self.rate_hz = float(rate_hz)
        self._pos: tuple[float, float] | None = None
        self._timer: QtCore.QTimer | None = None
        self._filter: _MoveFilter | None = None

    def move_to(self, x: float, y: float) -> None:
        """The cursor is at (x, y) global screen pixels (event filter; tests call it directly)."""
        self._pos = (float(x), float(y))

    @property
    def position(self) -> tuple[float, float] | None:
        return self._pos

    def _start(self) -> None:
        # where the pointer was before (the click on "Start recording") is not gaze: sampling
        # begins with the first movement after the start
        self._pos = None
        app = QtWidgets.QApplication.instance()
        self._filter = _MoveFilter(self)
        if app is not None:
            app.installEventFilter(self._filter)
        self._timer = QtCore.QTimer()
        self._timer.setTimerType(QtCore.Qt.TimerType.PreciseTimer)
        self._timer.setInterval(max(int(round(1000.0 / self.rate_hz)), 1))
        self._timer.timeout.connect(self._tick)
        self._timer.start()

    def _tick(self) -> None:
        if self._pos is not None:
            self.feed(GazeSample(now_us(), self._pos[0], self._pos[1]))

    def _stop(self) -> None:
        if self._timer is not None:
            self._timer.stop()
            self._timer.deleteLater()
            self._timer = None
        app = QtWidgets.QApplication.instance()
        if self._filter is not None and app is not None:
            app.removeEventFilter(self._filter)
        self._filter = None
