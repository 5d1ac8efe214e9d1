"""The stall watchdog must be able to fail: it catches the GUI thread blocked on the network and
the GUI thread computing, and does not blame the app for slots that return quickly."""

from __future__ import annotations

import functools
import socket

import httpx  # noqa: F401 - imported here so the stall measured is the network wait, not the import
import numpy as np
from PySide6 import QtCore

from app.backend.client import BackendClient
from app.viewer.overlays import density_map


def test_catches_a_blocking_network_call_on_the_gui_thread(qtbot, watchdog):
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(1)  # accepts the connection, never answers
    client = BackendClient(f"http://127.0.0.1:{silent.getsockname()[1]}")
    with qtbot.capture_exceptions() as exceptions:
        # what the app must never do: a network call as a slot on the GUI thread
        QtCore.QTimer.singleShot(0, functools.partial(client.health, 1.0))
        qtbot.waitUntil(lambda: bool(exceptions), timeout=5000)
        qtbot.wait(50)
    silent.close()
    stalls = watchdog.our_stalls()
    assert stalls and stalls[0].blocking, (
        watchdog.report(),
        [(s.gap_ms, s.cpu_ms, s.innermost) for s in watchdog.stalls],
    )


def test_catches_gui_thread_computation(qtbot, watchdog):
    pts = np.random.default_rng(0).uniform(0, 4000, (5000, 2))
    done = []
    QtCore.QTimer.singleShot(0, functools.partial(density_map, pts, None, (4000, 4000), None, 2000))
    QtCore.QTimer.singleShot(1, lambda: done.append(1))
    qtbot.waitUntil(lambda: bool(done), timeout=60000)
    qtbot.wait(50)
    stalls = watchdog.our_stalls()
    assert stalls and stalls[0].cpu_ms > 100, watchdog.report()


def test_quick_slots_are_not_stalls(qtbot, watchdog):
    hits = []
    for k in range(20):
        QtCore.QTimer.singleShot(5 * k, lambda: hits.append(density_map(np.zeros((1, 2)), None, (100, 100))))
    qtbot.waitUntil(lambda: len(hits) == 20, timeout=5000)
    assert not watchdog.our_stalls(), watchdog.report()
