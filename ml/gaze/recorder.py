"""Loss-free gaze recording: a bounded in-memory queue and one writer thread that owns SQLite.

Data flow::

    source thread ──push()──▶ bounded deque ──writer thread (every flush_interval)──▶ SQLite (WAL)
    GUI thread ──log_viewport()/log_event()──▶ event deque ──┘

* :meth:`Recorder.push` only appends to a deque under a lock that is never held across I/O: it is
  what a tracker SDK's callback may call. When the queue is full the sample is *counted* as
  dropped, never blocked on. The lock makes "appended while recording, or counted" exact: the
  state changes under it too, so no sample slips in after the last flush unseen.
* The writer wakes every ``flush_interval`` (default 0.1 s), drains both queues and commits them in
  one transaction together with the session's heartbeat and counters. A process killed with
  SIGKILL therefore loses at most what arrived since the last commit (one flush interval); the
  next recorder start (or ``Store.recover_interrupted``) closes that session as 'interrupted'.
* :meth:`Recorder.stop` (or leaving the ``with`` block, also by an exception, or interpreter exit)
  drains everything and closes the session as 'completed' (or 'failed'): nothing is lost. The
  dropped count is frozen when the row is closed, so the row and ``stop()`` agree; samples a
  source still hands over after that belong to no session and are counted as ``late``.
* A failing commit (full disk, read-only database, I/O error) puts the recorder in state 'failed'
  with a one-line error, stops the attached source, reports through ``on_status``, and counts
  every sample it could not store (the failed batch, what was queued, and what arrives later).
"""

from __future__ import annotations

import atexit
import contextlib
import dataclasses
import sqlite3
import threading
import time
import weakref
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ml.gaze.geometry import ScreenGeometry, Viewport
from ml.gaze.sources.base import GazeSource, SourceEvent, now_us
from ml.store.db import (
    INSERT_EVENTS,
    INSERT_SAMPLES,
    EventRecord,
    Store,
    StoreError,
    describe_sqlite_error,
    now_iso,
    sample_rows,
    to_json,
)
from ml.types import GazeSample


class RecorderError(RuntimeError):
    """Recording could not start or failed; the message is one line for the GUI."""


@dataclass(frozen=True)
class RecorderStatus:
    """A snapshot for the GUI's status bar (safe to read from any thread)."""

    state: str  # idle | recording | stopping | closing | completed | failed
    session_id: int | None
    written: int  # samples committed to the database
    dropped: int  # samples of this session that will never be stored (queue full, stopping, failure)
    queued: int  # samples waiting for the next commit
    events_written: int
    flushes: int
    last_latency_ms: float  # oldest sample of the last batch: enqueue -> committed
    max_latency_ms: float
    error: str = ""
    late: int = 0  # samples handed over after the session was closed (part of no session)

    @property
    def ok(self) -> bool:
        return self.state != "failed" and self.dropped == 0


_ACTIVE: weakref.WeakSet[Recorder] = weakref.WeakSet()


@atexit.register
def _stop_all_at_exit() -> None:  # pragma: no cover - exercised by the subprocess test
    for rec in list(_ACTIVE):
        with contextlib.suppress(Exception):
            rec.stop(status="interrupted", error="the application exited without stopping the recording")


def viewport_event(vp: Viewport) -> EventRecord:
    """A :class:`~ml.gaze.geometry.Viewport` as a stored event (kind 'viewport')."""
    data = dataclasses.asdict(vp)
    t = data.pop("t_us")
    return EventRecord(int(t), "viewport", data)


def event_viewport(ev: EventRecord) -> Viewport:
    """The inverse of :func:`viewport_event`."""
    d = dict(ev.data)
    for key in ("image_size", "image_rect", "view_rect", "pan"):
        if d.get(key) is not None:
            d[key] = tuple(d[key])
    return Viewport(t_us=int(ev.t_us), **d)


def session_viewports(store: Store, session_id: int) -> list[Viewport]:
    """The viewport log of a session, in time order (what ``geometry.screen_to_image`` needs)."""
    vps = [event_viewport(e) for e in store.events(session_id, kind="viewport")]
    vps.sort(key=lambda v: v.t_us)
    return vps


class Recorder:
    """Record one gaze session into the project database without losing samples.

    ``db`` is the database path (or a ``file:`` URI). ``study`` and ``reader`` are a study uid /
    reader name (created when new) or row ids. ``geometry`` (a ScreenGeometry or dict) is stored
    with the session. ``pragmas`` are extra ``PRAGMA name=value`` for the writer's connection
    (e.g. ``synchronous=FULL`` to survive power cuts, or a page limit in tests).

    Use::

        with Recorder(db, study="case-17", reader="dr-a", geometry=geo) as rec:
            rec.start(source)            # or rec.start() and call rec.push(sample) yourself
            rec.log_viewport(viewport)   # whenever the viewer changes
        rec.status                        # counts, latency, error
    """

    def __init__(
        self,
        db: str | Path,
        *,
        study: int | str | None = None,
        reader: int | str | None = None,
        source_name: str = "",
        geometry: ScreenGeometry | dict[str, Any] | None = None,
        flush_interval: float = 0.1,
        max_queue: int = 1 << 17,
        metadata: dict[str, Any] | None = None,
        pragmas: dict[str, Any] | None = None,
        on_status: Callable[[RecorderStatus], Any] | None = None,
        on_batch: Callable[[Sequence[GazeSample]], Any] | None = None,
        recover: bool = True,
        t0_us: int | None = None,
    ) -> None:
        if not 0.001 <= flush_interval <= 10.0:
            raise RecorderError(f"flush interval must be between 1 ms and 10 s, got {flush_interval}")
        if max_queue < 1:
            raise RecorderError("max_queue must be at least 1")
        self.db = str(db)
        self.study = study
        self.reader = reader
        self.source_name = source_name
        self.geometry = geometry.to_dict() if isinstance(geometry, ScreenGeometry) else (geometry or {})
        self.flush_interval = float(flush_interval)
        self.max_queue = int(max_queue)
        self.metadata = metadata or {}
        self.pragmas = dict(pragmas or {})
        self.on_status = on_status
        self.on_batch = on_batch
        self.recover = recover
        self.t0_us = t0_us
        self.recovered: list[int] = []

        self._samples: deque[GazeSample] = deque()
        self._events: deque[EventRecord] = deque()
        self._dropped = 0
        self._late = 0
        self._closed = False  # the session row holds its final counts: later pushes are late
        self._lock = threading.Lock()  # guards the queue's admission, the counters and the state
        self._first_enqueue: float | None = None
        self._wake = threading.Event()
        self._stop_requested = False
        self._thread: threading.Thread | None = None
        self._source: GazeSource | None = None
        self._state = "idle"
        self._error = ""
        self._written = 0
        self._events_written = 0
        self._flushes = 0
        self._last_latency = 0.0
        self._max_latency = 0.0
        self._session_id: int | None = None
        self._heartbeat = 0.0
        self._final_status = "completed"
        self._final_error = ""

    # ------------------------------------------------------------------ public API
    @property
    def session_id(self) -> int | None:
        return self._session_id

    @property
    def state(self) -> str:
        return self._state

    @property
    def status(self) -> RecorderStatus:
        return RecorderStatus(
            state=self._state,
            session_id=self._session_id,
            written=self._written,
            dropped=self._dropped,
            queued=len(self._samples),
            events_written=self._events_written,
            flushes=self._flushes,
            last_latency_ms=self._last_latency * 1e3,
            max_latency_ms=self._max_latency * 1e3,
            error=self._error,
            late=self._late,
        )

    def start(self, source: GazeSource | None = None) -> int:
        """Create the session, start the writer (and ``source`` feeding :meth:`push`); returns the id.

        Closes sessions a dead writer left open first (they become 'interrupted'). Raises
        :class:`RecorderError` when the database cannot be written (read-only, full, locked...).
        """
        if self._state != "idle":
            raise RecorderError(f"recorder already {self._state}")
        try:
            store = Store(self.db)
        except StoreError as exc:
            raise RecorderError(f"Cannot record: {exc}") from exc
        try:
            if self.recover:
                self.recovered = store.recover_interrupted()
            self._session_id = store.create_session(
                self.study,
                self.reader,
                source=self.source_name or (source.name if source is not None else ""),
                geometry=self.geometry,
                flush_interval=self.flush_interval,
                metadata=self.metadata,
                t0_us=self.t0_us if self.t0_us is not None else getattr(source, "origin_us", None),
            )
        except StoreError as exc:
            raise RecorderError(f"Cannot record: {exc}") from exc
        finally:
            store.close()
        ready = threading.Event()
        failure: list[BaseException] = []
        self._state = "recording"
        self._thread = threading.Thread(
            target=self._run, args=(ready, failure), name=f"gaze-writer-{self._session_id}", daemon=True
        )
        self._thread.start()
        ready.wait()
        if failure:
            self._state = "failed"
            raise RecorderError(f"Cannot record: {failure[0]}") from failure[0]
        _ACTIVE.add(self)
        if source is not None:
            self._source = source
            source.add_listener(self._on_source_event)
            if getattr(source, "on_viewport", False) is None:  # a replay carries the viewer's state
                source.on_viewport = self.log_viewport
            try:
                source.start(self.push)
            except Exception as exc:
                source.remove_listener(self._on_source_event)
                self._source = None
                self.stop(status="failed", error=str(exc))
                raise
        return self._session_id

    def push(self, sample: GazeSample) -> None:
        """Enqueue one sample (any thread, never blocks). Full queue or failed writer → counted drop."""
        with self._lock:
            if self._state == "recording" and len(self._samples) < self.max_queue:
                if self._first_enqueue is None:
                    self._first_enqueue = time.perf_counter()
                self._samples.append(sample)
            elif self._closed:
                self._late += 1
            else:
                self._dropped += 1

    __call__ = push

    def push_many(self, samples: Sequence[GazeSample]) -> None:
        for s in samples:
            self.push(s)

    def log_event(self, kind: str, data: dict[str, Any] | None = None, t_us: int | None = None) -> None:
        """Log an event (viewer state, tracker state...) on the samples' clock (default: now)."""
        if self._state != "recording":
            return
        self._events.append(EventRecord(now_us() if t_us is None else int(t_us), kind, dict(data or {})))

    def log_viewport(self, viewport: Viewport) -> None:
        """Log the viewer's state (image, zoom, pan, window/level) from ``viewport.t_us`` on."""
        ev = viewport_event(viewport)
        self.log_event(ev.kind, ev.data, ev.t_us)

    def stop(self, status: str = "completed", error: str = "") -> RecorderStatus:
        """Stop the source, store everything queued, close the session; returns the final status."""
        if self._state in ("idle", "completed") or self._thread is None:
            return self.status
        source, self._source = self._source, None
        if source is not None:
            try:
                source.stop()
            finally:
                source.remove_listener(self._on_source_event)
        with self._lock:  # from here on push() counts, never queues: the writer's last flush sees all
            if self._state == "recording":
                self._state = "stopping"
        self._final_status = status
        self._final_error = error
        self._stop_requested = True
        self._wake.set()
        if self._thread is not threading.current_thread():
            self._thread.join()
        _ACTIVE.discard(self)
        return self.status

    def __enter__(self) -> Recorder:
        return self

    def __exit__(self, exc_type: type | None, exc: BaseException | None, tb: object) -> None:
        if exc is None:
            self.stop()
        else:  # keep every sample, but say the reading did not end normally
            self.stop(status="failed", error=f"{type(exc).__name__}: {exc}")

    # ------------------------------------------------------------------ source events
    def _on_source_event(self, ev: SourceEvent) -> None:
        if ev.kind in ("connection_lost", "connection_restored", "error", "finished"):
            self.log_event(
                "source", {"event": ev.kind, "state": ev.state.value, "message": ev.message}, ev.t_us
            )

    # ------------------------------------------------------------------ writer thread
    def _connect(self) -> Store:
        store = Store(self.db)
        try:
            for name, value in self.pragmas.items():
                store.conn.execute(f"PRAGMA {name}={value}")
        except sqlite3.Error as exc:
            store.close()
            raise describe_sqlite_error(exc, self.db) from exc
        return store

    def _run(self, ready: threading.Event, failure: list[BaseException]) -> None:
        try:
            store = self._connect()
        except StoreError as exc:
            failure.append(exc)
            ready.set()
            return
        conn = store.conn
        ready.set()
        seq = 0
        ev_seq = 0
        deadline = time.perf_counter() + self.flush_interval
        try:
            while True:
                timeout = deadline - time.perf_counter()
                if timeout > 0 and not self._stop_requested:
                    self._wake.wait(timeout)
                self._wake.clear()
                deadline = time.perf_counter() + self.flush_interval
                stopping = self._stop_requested
                if self._state == "failed":
                    self._discard_queued()
                    if stopping:
                        break
                    continue
                try:
                    seq, ev_seq = self._flush(conn, seq, ev_seq)
                except Exception as exc:  # sqlite/store errors, and anything unforeseen: never die silently
                    self._fail(conn, exc)
                    continue
                if stopping and not self._samples and not self._events:
                    break
            self._finish(store)
        finally:
            store.close()

    def _flush(self, conn: sqlite3.Connection, seq: int, ev_seq: int) -> tuple[int, int]:
        first_t, self._first_enqueue = self._first_enqueue, None
        samples, events = self._samples, self._events
        batch = [samples.popleft() for _ in range(len(samples))]
        evs = [events.popleft() for _ in range(len(events))]
        sid = self._session_id
        if not batch and not evs and time.time() - self._heartbeat < 1.0:
            return seq, ev_seq  # idle: no write, but keep the heartbeat under a second old
        try:
            conn.execute("BEGIN IMMEDIATE")
            if batch:
                conn.executemany(INSERT_SAMPLES, sample_rows(sid, seq, batch))
                if seq == 0:
                    conn.execute(
                        "UPDATE sessions SET t0_us=COALESCE(t0_us, ?) WHERE id=?", (int(batch[0].t_us), sid)
                    )
            if evs:
                conn.executemany(
                    INSERT_EVENTS,
                    [(sid, ev_seq + i, e.t_us, e.kind, to_json(e.data)) for i, e in enumerate(evs)],
                )
            conn.execute(
                "UPDATE sessions SET sample_count=?, dropped_count=?, heartbeat=? WHERE id=?",
                (seq + len(batch), self._dropped, time.time(), sid),
            )
            conn.execute("COMMIT")
            self._heartbeat = time.time()
        except BaseException:
            if conn.in_transaction:
                with contextlib.suppress(sqlite3.Error):
                    conn.execute("ROLLBACK")
            with self._lock:  # this batch will never be stored
                self._dropped += len(batch)
            raise
        self._flushes += 1
        self._written += len(batch)
        self._events_written += len(evs)
        if batch and first_t is not None:
            self._last_latency = time.perf_counter() - first_t
            self._max_latency = max(self._max_latency, self._last_latency)
        if batch and self.on_batch is not None:
            with contextlib.suppress(Exception):  # an observer must never stop the recording
                self.on_batch(batch)
        if batch or evs:
            self._notify()
        return seq + len(batch), ev_seq + len(evs)

    def _notify(self) -> None:
        """Tell the GUI (from the writer thread); a failing observer never stops the recording."""
        if self.on_status is not None:
            with contextlib.suppress(Exception):
                self.on_status(self.status)

    def _discard_queued(self) -> None:
        n = len(self._samples)
        for _ in range(n):
            self._samples.popleft()
        self._events.clear()
        if n:
            with self._lock:
                self._dropped += n

    def _fail(self, conn: sqlite3.Connection, exc: BaseException) -> None:
        if isinstance(exc, StoreError):
            err: BaseException = exc
        elif isinstance(exc, sqlite3.Error):
            err = describe_sqlite_error(exc, self.db)
        else:
            err = RecorderError(f"{type(exc).__name__}: {exc}")
        self._error = f"Recording stopped: {err}"
        with self._lock:
            self._state = "failed"
        self._discard_queued()
        source = self._source
        if source is not None:
            threading.Thread(target=source.stop, name="gaze-source-stop", daemon=True).start()
        with contextlib.suppress(sqlite3.Error):  # best effort: the disk may still be full
            conn.execute(
                "UPDATE sessions SET status='failed', error=?, dropped_count=?, ended_at=? WHERE id=?",
                (self._error, self._dropped, now_iso(), self._session_id),
            )
        self._notify()

    def _finish(self, store: Store) -> None:
        if self._state == "failed":
            self._close_failed(store)
            return
        with self._lock:
            self._state = "closing"  # from here on a push() is counted as dropped
        if self._samples or self._events:  # a push that raced with stop()
            try:
                self._flush(store.conn, self._written, self._events_written)
            except Exception as exc:  # never lose the race quietly
                self._fail(store.conn, exc)
                self._close_failed(store)
                return
        with self._lock:
            self._closed = True
            dropped = self._dropped  # final: what the row says is what stop() reports
        try:
            store.finish_session(self._session_id, self._final_status, error=self._final_error, dropped=dropped)
        except StoreError as exc:
            self._error = f"Could not close the session: {exc}"
            self._state = "failed"
        else:
            self._state = "completed"
        self._notify()

    def _close_failed(self, store: Store) -> None:
        """Freeze a failed session's count and store it if the database still takes a write."""
        with self._lock:
            self._closed = True
            dropped = self._dropped
        with contextlib.suppress(sqlite3.Error, StoreError):  # best effort: the disk may still be full
            store.conn.execute("UPDATE sessions SET dropped_count=? WHERE id=?", (dropped, self._session_id))
