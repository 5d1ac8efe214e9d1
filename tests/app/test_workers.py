"""Background jobs: results arrive on the GUI thread, and a finished job keeps nothing alive."""

from __future__ import annotations

import gc
import weakref

from PySide6 import QtCore

from app import workers


class Owner:
    """Stands for a dialog whose method a job calls back."""

    def __init__(self) -> None:
        self.got = []

    def done(self, value) -> None:
        self.got.append(value)


def test_a_finished_jobs_callback_is_released_though_its_context_lives_on(qtbot):
    context = QtCore.QObject()  # like the store's worker: outlives every call made through it
    owner = Owner()
    got = owner.got
    workers.submit(lambda: 42, owner.done, context=context)
    qtbot.waitUntil(lambda: got == [42], timeout=5000)
    ref = weakref.ref(owner)
    del owner
    gc.collect()
    assert ref() is None


def test_a_callback_is_skipped_once_its_context_is_deleted(qtbot):
    import shiboken6

    context = QtCore.QObject()
    owner = Owner()
    release = QtCore.QMutex()
    release.lock()

    def job():
        release.lock()  # held until the context is gone
        release.unlock()
        return 1

    workers.submit(job, owner.done, context=context)
    shiboken6.delete(context)
    release.unlock()
    qtbot.waitUntil(lambda: not workers._live, timeout=5000)
    qtbot.wait(50)
    assert owner.got == []


def test_an_error_reaches_the_error_callback_on_the_gui_thread(qtbot):
    seen = []

    def fail():
        raise ValueError("corrupt header")

    workers.submit(fail, None, lambda exc: seen.append((str(exc), QtCore.QThread.currentThread())))
    qtbot.waitUntil(lambda: bool(seen), timeout=5000)
    assert seen[0] == ("corrupt header", QtCore.QCoreApplication.instance().thread())
