"""Run blocking work off the GUI thread and get the result back as a Qt signal.

The GUI thread never waits on disk, network or the backend: every such call goes through
``submit`` (a shared ``QThreadPool``), and its result or exception comes back through a queued
signal on the GUI thread. Callbacks are dropped if their owner was deleted in the meantime.
"""

from __future__ import annotations

import traceback
from collections.abc import Callable
from typing import Any

import shiboken6
from PySide6 import QtCore


class Result:
    """A job's return value, whatever its type, as one signal argument."""

    __slots__ = ("value",)

    def __init__(self, value: Any) -> None:
        self.value = value


class _Signals(QtCore.QObject):
    done = QtCore.Signal(Result)
    failed = QtCore.Signal(BaseException)


class _Task(QtCore.QRunnable):
    def __init__(self, fn: Callable[[], Any], signals: _Signals) -> None:
        super().__init__()
        self.fn = fn
        self.signals = signals
        self.setAutoDelete(True)

    def run(self) -> None:  # worker thread
        try:
            result = self.fn()
        except BaseException as exc:  # noqa: BLE001 - reported to the GUI, never lost
            exc.__traceback_text__ = traceback.format_exc()  # type: ignore[attr-defined]
            self.signals.failed.emit(exc)
        else:
            self.signals.done.emit(Result(result))


_live: set[_Signals] = set()


def pool() -> QtCore.QThreadPool:
    return QtCore.QThreadPool.globalInstance()


def submit(
    fn: Callable[[], Any],
    on_done: Callable[[Any], None] | None = None,
    on_error: Callable[[BaseException], None] | None = None,
    context: QtCore.QObject | None = None,
    executor=None,
) -> None:
    """Run ``fn()`` on a worker thread; call ``on_done(result)`` or ``on_error(exc)`` on the GUI thread.

    ``context`` (a QObject that lives on the GUI thread): the callbacks are skipped once it is deleted.
    ``executor`` (a ``concurrent.futures`` executor) runs it there instead of the shared pool,
    e.g. the single thread that owns the SQLite connection.
    """
    signals = _Signals()
    _live.add(signals)

    def alive() -> bool:
        return context is None or shiboken6.isValid(context)

    def finish_ok(result: Result) -> None:
        _release(signals)
        if on_done is not None and alive():
            on_done(result.value)

    def finish_err(exc: BaseException) -> None:
        _release(signals)
        if on_error is not None and alive():
            on_error(exc)

    signals.done.connect(finish_ok, QtCore.Qt.ConnectionType.QueuedConnection)
    signals.failed.connect(finish_err, QtCore.Qt.ConnectionType.QueuedConnection)
    task = _Task(fn, signals)
    if executor is not None:
        executor.submit(task.run)
    else:
        pool().start(task)


def _release(signals: _Signals) -> None:
    """Drop a finished job's callbacks. Qt holds a connected callable outside Python's collector, so
    a callback (and the dialog its closure names) would otherwise live as long as its signal object:
    forever, for a long-lived context such as the store's worker."""
    _live.discard(signals)
    try:
        signals.done.disconnect()
        signals.failed.disconnect()
    except (RuntimeError, TypeError):
        pass


def error_text(exc: BaseException) -> str:
    """A one-line message for a status bar or banner."""
    msg = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return f"{type(exc).__name__}: {msg}" if msg else type(exc).__name__
