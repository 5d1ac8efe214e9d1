"""Both eyes of a binocular tracker, kept with the session next to the combined samples.

The samples table holds one combined point per sample (what fixations and exports use). Gaze
researchers also want each eye: its position, validity and pupil, and the tracker's device clock.
:class:`EyeLog` listens to a source's per-eye samples (``add_binocular_listener``) and hands them
to the recorder as ``eyes`` events, one per batch of at most ``max_batch`` samples or ``max_span_s``
seconds, in columns; :func:`session_eyes` reads them back as arrays. Going through the recorder's
event queue keeps the one-writer rule (no second connection writes at 1,200 Hz) and puts the
eyes in the same transactions as the samples they belong to.
"""

from __future__ import annotations

import math
import threading
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from ml.gaze.sources.tobii import BinocularSample

EYES_EVENT = "eyes"
_COLUMNS = (
    "t_us",
    "device_t_us",
    "left_x",
    "left_y",
    "left_valid",
    "left_pupil_mm",
    "right_x",
    "right_y",
    "right_valid",
    "right_pupil_mm",
)


class EventSink(Protocol):
    def log_event(self, kind: str, data: dict[str, Any] | None = None, t_us: int | None = None) -> None: ...


def _num(v: float) -> float | None:
    return None if not math.isfinite(v) else float(v)  # JSON has no NaN


class EyeLog:
    """Batch per-eye samples into ``eyes`` events of ``recorder`` (call it from the source thread).

    Use::

        EyeLog(recorder).attach(source)   # before recorder.start(source)

    ``attach`` also flushes the last batch when the source stops (``Recorder.stop`` stops the
    source while the session still takes events) or loses its connection.
    """

    def __init__(self, recorder: EventSink, *, max_batch: int = 600, max_span_s: float = 0.25) -> None:
        self.recorder = recorder
        self.max_batch = int(max_batch)
        self.max_span_us = int(max_span_s * 1e6)
        self.count = 0
        self._rows: list[BinocularSample] = []
        self._lock = threading.Lock()

    def attach(self, source: Any) -> EyeLog:
        source.add_binocular_listener(self)
        source.add_listener(self._on_event)
        return self

    def _on_event(self, ev: Any) -> None:
        if ev.kind in ("stopped", "finished", "error", "connection_lost"):
            self.flush()

    def __call__(self, eyes: BinocularSample) -> None:
        with self._lock:
            self._rows.append(eyes)
            self.count += 1
            full = len(self._rows) >= self.max_batch or eyes.t_us - self._rows[0].t_us >= self.max_span_us
        if full:
            self.flush()

    def flush(self) -> None:
        with self._lock:
            rows, self._rows = self._rows, []
        if not rows:
            return
        data = {
            "t_us": [int(r.t_us) for r in rows],
            "device_t_us": [int(r.device_t_us) for r in rows],
            "left_x": [_num(r.left[0]) for r in rows],
            "left_y": [_num(r.left[1]) for r in rows],
            "left_valid": [bool(r.left_valid) for r in rows],
            "left_pupil_mm": [_num(r.left_pupil_mm) for r in rows],
            "right_x": [_num(r.right[0]) for r in rows],
            "right_y": [_num(r.right[1]) for r in rows],
            "right_valid": [bool(r.right_valid) for r in rows],
            "right_pupil_mm": [_num(r.right_pupil_mm) for r in rows],
        }
        self.recorder.log_event(EYES_EVENT, data, int(rows[0].t_us))


@dataclass
class EyeBlock:
    """A session's per-eye samples as columns (screen pixels, µs; NaN where an eye is invalid)."""

    t_us: np.ndarray
    device_t_us: np.ndarray
    left_x: np.ndarray
    left_y: np.ndarray
    left_valid: np.ndarray
    left_pupil_mm: np.ndarray
    right_x: np.ndarray
    right_y: np.ndarray
    right_valid: np.ndarray
    right_pupil_mm: np.ndarray

    def __len__(self) -> int:
        return len(self.t_us)


def session_eyes(store: Any, session_id: int) -> EyeBlock:
    """The per-eye samples of a stored session, in time order (empty arrays when none were kept)."""
    cols: dict[str, list] = {c: [] for c in _COLUMNS}
    for ev in store.events(session_id, kind=EYES_EVENT):
        for c in _COLUMNS:
            cols[c].extend(ev.data[c])
    ints = {"t_us", "device_t_us"}
    bools = {"left_valid", "right_valid"}
    arrays = {}
    for c, v in cols.items():
        if c in ints:
            arrays[c] = np.array(v, dtype=np.int64)
        elif c in bools:
            arrays[c] = np.array(v, dtype=bool)
        else:
            arrays[c] = np.array([np.nan if x is None else x for x in v], dtype=np.float64)
    order = np.argsort(arrays["t_us"], kind="stable")
    return EyeBlock(**{c: a[order] for c, a in arrays.items()})
