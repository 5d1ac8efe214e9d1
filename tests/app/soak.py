"""Scripted use of the real main window, shared by the soak test and ``scripts/soak_gui.py``.

It finds what it drives by Qt type only (the largest ``QGraphicsView`` is the image, a new
``QDialog`` is the compare view, a 0–1000 ``QSlider`` is the playback timeline) and drives it only
with synthetic ``QMouseEvent``/``QWheelEvent``/key input, so a refactor of the widgets' classes and
attributes does not stop it from exercising the same paths a reader's hand does.

:class:`NoneGuard` watches ``sys.getrefcount(None)``: a binding that gives away references to None
(PySide6 6.12.0's ``QGraphicsItem.parentItem()``) drifts it down by one per item under the cursor on
every hover event (pyqtgraph sorts the items near the cursor by their z-value summed up the parent
chain, which ends in a ``parentItem()`` that returns None), so by thousands within seconds of
hovering, long before Python 3.11 frees None and aborts. :func:`unthrottled` lifts pyqtgraph's
limit of 100 mouse moves a second, so that every synthetic move is a hover event on that path.
"""

from __future__ import annotations

import contextlib
import math
import sys
import time
from collections.abc import Iterator

from PySide6 import QtCore, QtGui, QtWidgets
from PySide6.QtTest import QTest

Qt = QtCore.Qt


class NoneGuard:
    """Fails loudly when references to None go missing (see the module doc).

    The baseline is taken after the garbage of earlier work is gone (deferred Qt deletions sent, a
    full collection), so that freeing it is not mistaken for the defect; the allowance then grows with
    the mouse events, which the defect outruns by dozens of references per event."""

    #: Ordinary work moves None's count by up to a few thousand (objects freed mid-run); the defect by
    #: one per hover item on every hover event.
    LIMIT = 3000
    PER_EVENT = 10  # the defect loses dozens per hover event over the default case (about 54 measured)

    def __init__(self) -> None:
        import gc

        QtWidgets.QApplication.sendPostedEvents(None, QtCore.QEvent.Type.DeferredDelete)
        gc.collect()
        self.start = sys.getrefcount(None)

    def drift(self) -> int:
        return self.start - sys.getrefcount(None)

    def check(self, what: str, events: int = 0) -> None:
        lost = self.drift()
        if lost > self.LIMIT + self.PER_EVENT * events:
            raise AssertionError(
                f"None lost {lost} references during {what}: the GUI toolkit leaks references to None "
                "(PySide6 6.12.0's parentItem() defect) and would abort the workstation"
            )


@contextlib.contextmanager
def unthrottled() -> Iterator[None]:
    """Every mouse move reaches the hover path (pyqtgraph drops moves closer than 10 ms apart)."""
    import pyqtgraph as pg

    before = pg.getConfigOption("mouseRateLimit")
    pg.setConfigOptions(mouseRateLimit=-1)
    try:
        yield
    finally:
        pg.setConfigOptions(mouseRateLimit=before)


def process(ms: int = 0) -> None:
    app = QtWidgets.QApplication.instance()
    app.processEvents()
    if ms:
        QTest.qWait(ms)


def activate(top: QtWidgets.QWidget) -> None:
    """Make ``top`` the active window, as its shortcuts need (activation is asynchronous on X11)."""
    top.activateWindow()
    QTest.qWaitForWindowActive(top, 2000)


def image_view(top: QtWidgets.QWidget) -> QtWidgets.QGraphicsView:
    """The largest visible graphics view under ``top``: the image."""
    views = [v for v in top.findChildren(QtWidgets.QGraphicsView) if v.isVisible()]
    if not views:
        raise AssertionError(f"no visible graphics view in {type(top).__name__}")
    return max(views, key=lambda v: v.width() * v.height())


class Hand:
    """Synthetic mouse input on one graphics view's viewport, as the window system would send it."""

    def __init__(self, view: QtWidgets.QGraphicsView, guard: NoneGuard | None = None) -> None:
        self.view = view
        self.target = view.viewport()
        self.guard = guard
        self.buttons = Qt.MouseButton.NoButton
        self.events = 0
        self.hovers = 0  # moves the scene handled (pyqtgraph's sigMouseMoved), i.e. hover events
        moved = getattr(view.scene(), "sigMouseMoved", None)
        if moved is not None:
            moved.connect(self._hovered)

    def _hovered(self, *_args) -> None:
        self.hovers += 1

    def _point(self, fx: float, fy: float) -> QtCore.QPointF:
        r = self.target.rect()
        return QtCore.QPointF(r.width() * min(max(fx, 0.02), 0.98), r.height() * min(max(fy, 0.02), 0.98))

    def _send(self, kind, pos: QtCore.QPointF, button=Qt.MouseButton.NoButton) -> None:
        glob = QtCore.QPointF(self.target.mapToGlobal(pos.toPoint()))
        ev = QtGui.QMouseEvent(kind, pos, glob, button, self.buttons, Qt.KeyboardModifier.NoModifier)
        QtWidgets.QApplication.sendEvent(self.target, ev)
        self.events += 1
        if self.events % 25 == 0:
            process()
        if self.guard is not None and self.events % 50 == 0:
            self.guard.check(f"{self.events} mouse events", self.events)

    def move(self, fx: float, fy: float) -> None:
        self._send(QtCore.QEvent.Type.MouseMove, self._point(fx, fy))

    def drag(self, button, start: tuple[float, float], end: tuple[float, float], steps: int = 30) -> None:
        self.buttons = button
        self._send(QtCore.QEvent.Type.MouseButtonPress, self._point(*start), button)
        for i in range(1, steps + 1):
            a = i / steps
            self.move(start[0] + a * (end[0] - start[0]), start[1] + a * (end[1] - start[1]))
        self.buttons = Qt.MouseButton.NoButton
        self._send(QtCore.QEvent.Type.MouseButtonRelease, self._point(*end), button)

    def wheel(self, fx: float, fy: float, notches: int) -> None:
        pos = self._point(fx, fy)
        glob = QtCore.QPointF(self.target.mapToGlobal(pos.toPoint()))
        ev = QtGui.QWheelEvent(
            pos, glob, QtCore.QPoint(0, 0), QtCore.QPoint(0, 120 * notches), Qt.MouseButton.NoButton,
            Qt.KeyboardModifier.NoModifier, Qt.ScrollPhase.NoScrollPhase, False,
        )
        QtWidgets.QApplication.sendEvent(self.target, ev)
        self.events += 1

    def hover_path(self, n: int, seed: float = 0.0) -> None:
        """``n`` moves along a Lissajous path that sweeps the whole view (saccade-like jumps included)."""
        for i in range(n):
            t = seed + i * 0.013
            jump = 0.25 * math.sin(i * 0.61) if i % 40 == 0 else 0.0
            self.move(0.5 + 0.45 * math.sin(3 * t) + jump, 0.5 + 0.45 * math.sin(2 * t + 0.7))


def use(hand: Hand, rounds: int, moves: int = 150) -> None:
    """One reader's mix per round: hover, a right-drag window/level, a left-drag pan, wheel zoom."""
    for r in range(rounds):
        hand.hover_path(moves, seed=r)
        hand.drag(Qt.MouseButton.RightButton, (0.5, 0.5), (0.5 + 0.1 * math.sin(r), 0.5 + 0.1 * math.cos(r)))
        hand.drag(Qt.MouseButton.LeftButton, (0.4, 0.4), (0.45 + 0.05 * math.cos(r), 0.42))
        for k in (1, 1, -1, -1):
            hand.wheel(0.5, 0.5, k)
        process()


def timeline(top: QtWidgets.QWidget) -> QtWidgets.QSlider | None:
    """The playback timeline: the 0–1000 horizontal slider (the opacity sliders run to 100)."""
    for s in top.findChildren(QtWidgets.QSlider):
        if s.maximum() == 1000 and s.orientation() == Qt.Orientation.Horizontal:
            return s
    return None


def play_through(
    top: QtWidgets.QWidget, hand: Hand, key=Qt.Key.Key_K, limit_s: float = 120.0, hovers_per_tick: int = 4
) -> bool:
    """Start the scanpath playback with its key and keep hovering until the timeline reaches its end."""
    slider = timeline(top)
    if slider is None:
        return False
    slider.setFocus()
    QTest.keyClick(slider, Qt.Key.Key_Home)  # from the start
    process()
    activate(top)
    QTest.keyClick(top, key)
    process(50)
    moved = False
    deadline = time.monotonic() + limit_s
    while time.monotonic() < deadline:  # the playback advances one 40 ms step per timer tick
        hand.hover_path(hovers_per_tick, seed=time.monotonic())
        process(40)
        moved = moved or 0 < slider.value() < slider.maximum()
        if moved and slider.value() >= slider.maximum():
            return True
    return False


def overlays_on(top: QtWidgets.QWidget) -> int:
    """Tick every check box of the overlay panel (the one that holds the playback timeline) by clicking it."""
    slider = timeline(top)
    panel = slider.parentWidget() if slider is not None else top
    boxes = [cb for cb in panel.findChildren(QtWidgets.QCheckBox) if cb.isEnabled()]
    for cb in boxes:
        if not cb.isChecked():
            QTest.mouseClick(cb, Qt.MouseButton.LeftButton)
    process()
    return sum(cb.isChecked() for cb in boxes)
