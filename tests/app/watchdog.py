"""Detect GUI-thread stalls: a QTimer heartbeat on the main thread, and a sampler thread that
records the main thread's Python stack whenever the heartbeat is late.

A stall is the app's fault when the app's code (``app/`` or ``ml/``) ran from the event loop
(not called directly by the test) and either
- the main thread spent over the threshold of *CPU time* in the gap (work that belongs on a
  worker: measured with ``time.thread_time`` on the main thread, so a busy machine that merely
  delays the process does not count), or
- the gap was over the threshold while the main thread sat in a blocking call: network, sockets,
  locks, sleeps, subprocess waits or the database (the sampled innermost frame says which).
Everything else (the OS not scheduling the process on a loaded machine) is reported, not failed.
"""

from __future__ import annotations

import sys
import threading
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path

from PySide6 import QtCore

ROOT = Path(__file__).resolve().parents[2]
OURS = (str(ROOT / "app"), str(ROOT / "ml"))
TESTS = str(ROOT / "tests")
#: Innermost frames that mean "waiting" rather than computing.
BLOCKING = (
    "socket.py",
    "ssl.py",
    "selectors.py",
    "threading.py",
    "subprocess.py",
    "queue.py",
    "/httpx/",
    "/httpcore/",
    "/h11/",
    "/concurrent/futures/",
    str(ROOT / "ml" / "store"),
)


@dataclass
class Stall:
    gap_ms: float
    cpu_ms: float = -1.0
    stack: list[str] = field(default_factory=list)
    innermost: str = ""

    @property
    def blocking(self) -> bool:
        return any(b in self.innermost for b in BLOCKING) or self.innermost.endswith(" sleep")


class StallWatchdog:
    def __init__(self, threshold_ms: float = 100.0, tick_ms: int = 10) -> None:
        self.threshold = threshold_ms / 1000.0
        self.timer = QtCore.QTimer()
        self.timer.setInterval(tick_ms)
        self.timer.timeout.connect(self._beat)
        self.last = time.perf_counter()
        self.last_cpu = time.thread_time()
        self.max_gap_ms = 0.0
        self.max_cpu_ms = 0.0
        self.stalls: list[Stall] = []
        self._pending: Stall | None = None
        self._stop = threading.Event()
        self._main = threading.main_thread().ident
        self._sampled_for: float | None = None
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def start(self) -> None:
        self.reset()
        self.timer.start()
        self._thread.start()

    def stop(self) -> None:
        self.timer.stop()
        self._stop.set()
        self._thread.join(timeout=1)

    def reset(self) -> None:
        self.last = time.perf_counter()
        self.last_cpu = time.thread_time()
        self.max_gap_ms = self.max_cpu_ms = 0.0
        self.stalls.clear()
        self._pending = None

    def _beat(self) -> None:  # main thread
        now, cpu = time.perf_counter(), time.thread_time()
        gap, cpu_gap = now - self.last, cpu - self.last_cpu
        self.last, self.last_cpu = now, cpu
        self.max_gap_ms = max(self.max_gap_ms, gap * 1000)
        self.max_cpu_ms = max(self.max_cpu_ms, cpu_gap * 1000)
        pending, self._pending = self._pending, None
        if gap > self.threshold:
            stall = pending or Stall(0.0)
            stall.gap_ms, stall.cpu_ms = gap * 1000, cpu_gap * 1000
            self.stalls.append(stall)

    def _sample(self) -> None:  # sampler thread
        while not self._stop.wait(0.02):
            last = self.last
            if time.perf_counter() - last > self.threshold and self._sampled_for != last:
                frame = sys._current_frames().get(self._main)
                if frame is None:
                    continue
                summary = traceback.extract_stack(frame)
                stack = [f"{fs.filename}:{fs.lineno} {fs.name}" for fs in summary]
                self._sampled_for = last
                self._pending = Stall(-1.0, -1.0, stack, stack[-1] if stack else "")

    def our_stalls(self) -> list[Stall]:
        """The stalls the app is to blame for (see the module docstring)."""
        limit = self.threshold * 1000
        return [
            s
            for s in self.stalls
            if _from_event_loop(s) and (s.cpu_ms > limit or (s.gap_ms > limit and s.blocking))
        ]

    def report(self) -> str:
        lines = [
            f"max event-loop gap {self.max_gap_ms:.0f} ms (max GUI-thread CPU in a gap {self.max_cpu_ms:.0f} ms);"
            f" {len(self.stalls)} gaps over threshold"
        ]
        for s in self.our_stalls():
            lines.append(
                f"--- stall {s.gap_ms:.0f} ms wall / {s.cpu_ms:.0f} ms CPU, innermost {s.innermost}:"
            )
            lines.extend("    " + ln for ln in s.stack[-12:])
        return "\n".join(lines)


def _from_event_loop(stall: Stall) -> bool:
    """Our code on the stack, reached through the Qt event loop rather than called by the test."""
    stack = stall.stack
    if not stack:
        return False
    last_test = max((i for i, ln in enumerate(stack) if ln.startswith(TESTS)), default=-1)
    after = stack[last_test + 1 :]
    if not after or after[0].startswith(OURS):
        return False  # the test itself called into the app synchronously (set-up, checks)
    return any(ln.startswith(OURS) for ln in after)
