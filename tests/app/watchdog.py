"""Detect GUI-thread stalls: a QTimer heartbeat on the main thread, a sampler thread that notices
when the heartbeat is late and records the main thread's Python stack at that moment.

A stall "in our code" is one whose stack contains a frame from ``app/`` or ``ml/``: that is the
GUI thread waiting on disk, network or computation, which the design forbids. Gaps with no such
frame (the OS not scheduling the process on a busy machine, Qt painting) are recorded too but
reported separately, so the test checks what the code does rather than how loaded the machine is.
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


@dataclass
class Stall:
    gap_ms: float
    stack: list[str] = field(default_factory=list)

    @property
    def in_our_code(self) -> bool:
        return any(line.startswith(OURS) for line in self.stack)


class StallWatchdog:
    def __init__(self, threshold_ms: float = 100.0, tick_ms: int = 10) -> None:
        self.threshold = threshold_ms / 1000.0
        self.timer = QtCore.QTimer()
        self.timer.setInterval(tick_ms)
        self.timer.timeout.connect(self._beat)
        self.last = time.perf_counter()
        self.max_gap_ms = 0.0
        self.stalls: list[Stall] = []
        self._stop = threading.Event()
        self._main = threading.main_thread().ident
        self._sampled_for: float | None = None
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def start(self) -> None:
        self.last = time.perf_counter()
        self.timer.start()
        self._thread.start()

    def stop(self) -> None:
        self.timer.stop()
        self._stop.set()
        self._thread.join(timeout=1)

    def reset(self) -> None:
        self.last = time.perf_counter()
        self.max_gap_ms = 0.0
        self.stalls.clear()

    def _beat(self) -> None:
        now = time.perf_counter()
        gap = now - self.last
        self.last = now
        self.max_gap_ms = max(self.max_gap_ms, gap * 1000)
        pending = self.stalls[-1] if self.stalls and self.stalls[-1].gap_ms < 0 else None
        if gap > self.threshold:
            if pending is not None:
                pending.gap_ms = gap * 1000
            else:
                self.stalls.append(Stall(gap * 1000))
        elif pending is not None:
            self.stalls.pop()  # the sampler looked just before the beat: not a stall after all

    def _sample(self) -> None:
        while not self._stop.wait(0.02):
            last = self.last
            if time.perf_counter() - last > self.threshold and self._sampled_for != last:
                frame = sys._current_frames().get(self._main)
                if frame is None:
                    continue
                stack = [f"{fs.filename}:{fs.lineno} {fs.name}" for fs in traceback.extract_stack(frame)]
                self._sampled_for = last
                self.stalls.append(Stall(-1.0, stack))

    def our_stalls(self) -> list[Stall]:
        """Stalls where the app's code ran from the event loop (not called directly by the test)."""
        return [s for s in self.stalls if s.gap_ms > self.threshold * 1000 and _app_stall(s)]

    def report(self) -> str:
        lines = [f"max event-loop gap {self.max_gap_ms:.0f} ms; {len(self.stalls)} gaps over threshold"]
        for s in self.our_stalls():
            lines.append(f"--- stall {s.gap_ms:.0f} ms in our code:")
            lines.extend("    " + ln for ln in s.stack[-12:])
        return "\n".join(lines)


TESTS = str(ROOT / "tests")


def _app_stall(stall: Stall) -> bool:
    """Our code on the stack, reached through the Qt event loop rather than called by the test."""
    stack = stall.stack
    last_test = max((i for i, ln in enumerate(stack) if ln.startswith(TESTS)), default=-1)
    after = stack[last_test + 1 :]
    if not after or after[0].startswith(OURS):
        return False  # the test itself called into the app synchronously (set-up, checks)
    return any(ln.startswith(OURS) for ln in after)
