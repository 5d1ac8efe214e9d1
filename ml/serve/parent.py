"""The backend ends when the process that started it dies, however it dies.

A GUI that exits cleanly stops its backend, but a crash or a SIGKILL runs no exit hook, and the
backend (a gigabyte or more of model) would run on alone. ``serve --exit-with-parent PID`` arms two
guards: on Linux, ``PR_SET_PDEATHSIG`` (the kernel sends SIGTERM the moment the parent exits; uvicorn
then shuts down), and on every platform a watchdog thread that polls whether PID is gone (a zombie
counts as gone) or this process was reparented, then stops the server and, if it has not stopped
within a grace period (a generation that does not yield), ends the process with ``os._exit``.
"""

from __future__ import annotations

import ctypes
import logging
import os
import signal
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

log = logging.getLogger("gaze2report.serve")

PR_SET_PDEATHSIG = 1  # <linux/prctl.h>


def set_death_signal(sig: int = signal.SIGTERM) -> bool:
    """Ask the Linux kernel to send ``sig`` when the parent exits; False where that is unavailable."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        return libc.prctl(PR_SET_PDEATHSIG, int(sig), 0, 0, 0) == 0
    except (OSError, AttributeError):
        return False


def _windows_alive(pid: int) -> bool:
    kernel32 = ctypes.windll.kernel32  # type: ignore[attr-defined]
    handle = kernel32.OpenProcess(0x1000, False, pid)  # PROCESS_QUERY_LIMITED_INFORMATION
    if not handle:
        return False
    code = ctypes.c_ulong()
    ok = kernel32.GetExitCodeProcess(handle, ctypes.byref(code))
    kernel32.CloseHandle(handle)
    return bool(ok) and code.value == 259  # STILL_ACTIVE


def is_alive(pid: int) -> bool:
    """Whether process ``pid`` still runs (a zombie, dead but not yet reaped, does not)."""
    if os.name == "nt":  # os.kill(pid, 0) would terminate it there
        return _windows_alive(pid)
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's process with that id: alive as far as we can tell
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True  # no /proc (macOS): kill(pid, 0) is all we know
    return stat.rsplit(")", 1)[-1].split()[0] != "Z"


class ParentWatch:
    """Both guards for one parent; ``attach(stop)`` once the server exists.

    Until a server is attached, the parent's death ends the process at once (nothing to shut down).
    """

    def __init__(self, pid: int, *, interval_s: float = 0.5, grace_s: float = 5.0) -> None:
        self.pid = pid
        self.interval_s, self.grace_s = interval_s, grace_s
        self.was_parent = os.getppid() == pid
        # the kernel signal only follows our real parent; the watchdog follows any process
        self.death_signal = self.was_parent and set_death_signal(signal.SIGTERM)
        self._stop: Callable[[], None] | None = None
        self.gone = threading.Event()
        threading.Thread(target=self._watch, name="parent-watchdog", daemon=True).start()

    def attach(self, stop: Callable[[], None]) -> None:
        self._stop = stop

    def parent_gone(self) -> bool:
        return (self.was_parent and os.getppid() != self.pid) or not is_alive(self.pid)

    def _watch(self) -> None:
        while not self.parent_gone():
            time.sleep(self.interval_s)
        self.gone.set()
        log.warning("the process that started the backend (pid %d) is gone: shutting down", self.pid)
        if self._stop is not None:
            self._stop()
            time.sleep(self.grace_s)
        os._exit(0)
