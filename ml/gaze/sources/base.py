"""The one interface every gaze source implements (Tobii, replay, and the GUI's mouse source).

A source delivers :class:`~ml.types.GazeSample` objects (screen pixels, monotonic µs) to a *sink*
from its own thread (the tracker SDK's thread, a replay thread, the Qt event loop). The sink must
return at once: in the recording path it is :meth:`ml.gaze.recorder.Recorder.push`, which only
appends to a bounded queue. Sources also report what happens to them (streaming, connection lost
and restored, finished, error) as :class:`SourceEvent` objects to listeners, so the GUI can show a
tracker's state and the recorder can log it next to the samples.

Why a plain callable sink: it costs one call per sample (a tracker at 1,200 Hz and a benchmark at
tens of thousands of samples per second), and a ``queue.Queue`` fits too (its ``put_nowait``).
"""

from __future__ import annotations

import abc
import enum
import math
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from ml.types import GazeSample


class SourceState(str, enum.Enum):
    IDLE = "idle"  # created, not started
    STREAMING = "streaming"  # delivering samples
    CONNECTION_LOST = "connection_lost"  # started, the device went away; may come back
    FINISHED = "finished"  # a finite source (replay) delivered everything
    STOPPED = "stopped"  # stop() was called
    ERROR = "error"  # a failure that ended the stream; ``SourceEvent.message`` says why


@dataclass(frozen=True)
class SourceEvent:
    """Something that happened to a source: a state change with a message for people."""

    kind: str  # started | connection_lost | connection_restored | finished | stopped | error | info
    state: SourceState
    t_us: int  # monotonic µs (the source's clock when it has one)
    message: str = ""
    data: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class BinocularSample:
    """Both eyes of one tracker sample in screen pixels (NaN where that eye is invalid).

    Validation (accuracy/precision per eye) needs the eyes apart, and
    :class:`~ml.gaze.sources.eyes.EyeLog` keeps them with the session next to the combined
    :class:`~ml.types.GazeSample`.
    """

    t_us: int
    left: tuple[float, float]
    right: tuple[float, float]
    left_valid: bool
    right_valid: bool
    left_pupil_mm: float = math.nan
    right_pupil_mm: float = math.nan
    device_t_us: int = 0


class SourceError(RuntimeError):
    """A source could not start or failed: the message is one line for the GUI."""


class SourceUnavailable(SourceError):
    """The source's hardware or library is missing (``is_available()`` says so too)."""


class SampleQueue(Protocol):
    def put_nowait(self, item: GazeSample) -> None: ...


Sink = Callable[[GazeSample], Any] | SampleQueue
Listener = Callable[[SourceEvent], Any]


def now_us() -> int:
    """Monotonic microseconds: the clock of sources without a device clock (mouse, synthetic)."""
    return time.monotonic_ns() // 1000


def as_callable(sink: Sink) -> Callable[[GazeSample], Any]:
    """A sink as a function; a ``queue.Queue`` becomes its ``put_nowait`` (Full propagates)."""
    if callable(sink):
        return sink
    put = getattr(sink, "put_nowait", None)
    if put is None:
        raise TypeError("a gaze sink must be callable or have put_nowait()")
    return put


class GazeSource(abc.ABC):
    """Base class: start(sink) / stop(), a name, availability, state and event listeners.

    Subclasses implement :meth:`_start` and :meth:`_stop` and call :meth:`_deliver` for each
    sample (from any thread) and :meth:`_set_state` on changes. ``dropped`` counts samples a
    queue sink refused (``queue.Full``) so nothing is lost silently even outside the recorder.
    """

    #: Short identifier stored with a session ("tobii", "mouse", "replay", ...).
    name: str = "source"

    def __init__(self) -> None:
        self._listeners: list[Listener] = []
        self._lock = threading.Lock()
        self._state = SourceState.IDLE
        self._sink: Callable[[GazeSample], Any] | None = None
        self._binocular: list[Callable[[BinocularSample], Any]] = []
        self.dropped = 0
        self.delivered = 0
        self.invalid = 0  # samples with no valid eye (gaps) delivered so far

    # ------------------------------------------------------------------ availability
    @classmethod  # noqa: B027 - an optional hook
    def load_library(cls) -> None:
        """Import what this kind of source needs; raise :class:`SourceUnavailable` saying how to
        install it. Sources without a library need nothing."""

    @classmethod
    def is_available(cls) -> bool:
        """Whether this kind of source can run here (its library is installed and loads)."""
        try:
            cls.load_library()
        except SourceUnavailable:
            return False
        return True

    @classmethod
    def availability_message(cls) -> str:
        """Why :meth:`is_available` is False ('' when available)."""
        try:
            cls.load_library()
        except SourceUnavailable as exc:
            return str(exc)
        return ""

    # ------------------------------------------------------------------ life cycle
    def start(self, sink: Sink) -> None:
        """Begin delivering samples to ``sink`` (from the source's own thread)."""
        if self._state in (SourceState.STREAMING, SourceState.CONNECTION_LOST):
            raise SourceError(f"{self.name} source is already running")
        self._sink = as_callable(sink)
        self.dropped = 0
        self.delivered = 0
        self.invalid = 0
        try:
            self._prepare()
        except SourceError as exc:
            self._set_state(SourceState.ERROR, "error", str(exc))
            raise
        self._set_state(SourceState.STREAMING, "started")
        try:
            self._start()
        except Exception as exc:
            self._set_state(SourceState.ERROR, "error", str(exc))
            raise

    def stop(self) -> None:
        """Stop delivering; safe to call twice and from a listener."""
        if self._state in (SourceState.IDLE, SourceState.STOPPED):
            return
        self._stop()
        self._set_state(SourceState.STOPPED, "stopped")

    @property
    def state(self) -> SourceState:
        return self._state

    def clock_us(self) -> int:
        """Now on the clock of this source's samples (a tracker's system clock; monotonic µs here),
        so the viewer's events are stamped on the same clock as the gaze."""
        return now_us()

    @property
    def running(self) -> bool:
        return self._state in (SourceState.STREAMING, SourceState.CONNECTION_LOST)

    def __enter__(self) -> GazeSource:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # ------------------------------------------------------------------ events
    def add_listener(self, listener: Listener) -> None:
        with self._lock:
            self._listeners.append(listener)

    def remove_listener(self, listener: Listener) -> None:
        with self._lock:
            if listener in self._listeners:
                self._listeners.remove(listener)

    def _set_state(
        self, state: SourceState, kind: str, message: str = "", t_us: int | None = None, **data: Any
    ) -> None:
        self._state = state
        event = SourceEvent(kind, state, now_us() if t_us is None else int(t_us), message, data)
        with self._lock:
            listeners = list(self._listeners)
        for listener in listeners:
            listener(event)

    # ------------------------------------------------------------------ per-eye listeners
    def add_binocular_listener(self, fn: Callable[[BinocularSample], Any]) -> None:
        """Also receive each sample's eyes, from a binocular tracker (called on the source's
        thread: only enqueue). Sources without eyes (mouse, replay) never call it."""
        self._binocular.append(fn)

    def remove_binocular_listener(self, fn: Callable[[BinocularSample], Any]) -> None:
        if fn in self._binocular:
            self._binocular.remove(fn)

    # ------------------------------------------------------------------ delivery
    def _deliver_eyes(self, eyes: BinocularSample) -> None:
        for fn in list(self._binocular):
            fn(eyes)

    def _deliver_many(self, samples: list[GazeSample], eyes: list[BinocularSample] | None = None) -> None:
        """Hand a tracker's batch to the sink (and its eyes to the per-eye listeners), counting gaps."""
        listeners = list(self._binocular) if eyes is not None else []
        for k, sample in enumerate(samples):
            if not sample.valid:
                self.invalid += 1
            self._deliver(sample)
            for fn in listeners:
                fn(eyes[k])

    def _deliver(self, sample: GazeSample) -> None:
        """Hand one sample to the sink; a full queue sink counts a drop instead of blocking."""
        sink = self._sink
        if sink is None:
            return
        try:
            sink(sample)
        except queue.Full:
            self.dropped += 1
            return
        self.delivered += 1

    def _prepare(self) -> None:  # noqa: B027 - optional hook
        """Checks that may fail before anything starts (find the device...); raise SourceError."""

    @abc.abstractmethod
    def _start(self) -> None: ...

    @abc.abstractmethod
    def _stop(self) -> None: ...


class CallbackSource(GazeSource):
    """A source fed by someone else calling :meth:`feed` (the GUI's mouse handler, tests, benchmarks).

    The GUI's mouse source (app/session) can subclass this: on each mouse move it calls
    ``feed(GazeSample(now_us(), x, y))`` on the Qt thread; the recorder's push only enqueues.
    """

    name = "callback"

    def __init__(self, name: str | None = None) -> None:
        super().__init__()
        if name:
            self.name = name

    def feed(self, sample: GazeSample) -> None:
        if self._state == SourceState.STREAMING:
            self._deliver(sample)

    def _start(self) -> None:
        pass

    def _stop(self) -> None:
        pass
