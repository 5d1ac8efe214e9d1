"""Repository functions over the project's SQLite database (schema in :mod:`ml.store.schema`).

One :class:`Store` wraps one connection and belongs to the thread that opened it (sqlite3's rule):
the GUI opens one, the gaze recorder's writer thread opens its own. The journal is WAL, so the GUI
reads while the recorder writes. Every SQLite failure surfaces as :class:`StoreError` with a
one-line message a GUI can show ("the disk is full", "the database is read-only", ...).
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
import json
import math
import os
import socket
import sqlite3
import time
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ml.store.schema import (
    DDL,
    SCHEMA_VERSION,
    AnnotationShape,
    ReportOrigin,
    SessionStatus,
    StoreErrorKind,
)
from ml.types import Finding, Fixation, GazeSample, Report


class StoreError(RuntimeError):
    """A database operation failed; ``str(err)`` is one line fit for a status bar."""

    def __init__(self, message: str, *, kind: StoreErrorKind | str = StoreErrorKind.ERROR) -> None:
        super().__init__(message)
        self.kind = StoreErrorKind(kind)


def default_db_path() -> Path:
    """Where the workstation keeps its database: ``$GAZE2REPORT_DATA_DIR`` or the platform's user
    data directory, file ``gaze2report.sqlite`` (the GUI's settings use the same place)."""
    env = os.environ.get("GAZE2REPORT_DATA_DIR")
    if env:
        return Path(env).expanduser() / "gaze2report.sqlite"
    from platformdirs import user_data_dir

    return Path(user_data_dir("gaze2report", appauthor=False)) / "gaze2report.sqlite"


def now_iso() -> str:
    """Wall-clock time for people (ISO-8601, UTC, seconds)."""
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")


def describe_sqlite_error(exc: BaseException, path: str | os.PathLike[str] | None = None) -> StoreError:
    """Turn a sqlite3 error into a StoreError whose message says what happened and what to do."""
    msg = str(exc).lower()
    where = f" ({path})" if path else ""
    if "disk is full" in msg or "database or disk is full" in msg:
        return StoreError(
            f"The disk holding the database is full{where}; free space and start again.", kind=StoreErrorKind.FULL
        )
    if "readonly" in msg or "read-only" in msg:
        return StoreError(f"The database is read-only{where}; choose a writable location.", kind=StoreErrorKind.READONLY)
    if "locked" in msg or "busy" in msg:
        return StoreError(f"The database is locked by another program{where}.", kind=StoreErrorKind.LOCKED)
    if "malformed" in msg or "not a database" in msg:
        return StoreError(f"The database file is damaged or not a database{where}.", kind=StoreErrorKind.CORRUPT)
    if "unable to open" in msg:
        return StoreError(f"Cannot open the database{where}: {exc}", kind=StoreErrorKind.MISSING)
    return StoreError(f"Database error{where}: {exc}")


def connect(
    path: str | os.PathLike[str], *, read_only: bool = False, timeout: float = 5.0
) -> sqlite3.Connection:
    """Open ``path`` (a file path or a ``file:`` URI) in WAL mode with foreign keys on.

    Autocommit mode: callers group statements with :func:`transaction`. ``synchronous=NORMAL`` in
    WAL keeps every commit across a process kill (only a power cut can lose the last commits).
    """
    target = str(path)
    uri = target.startswith("file:")
    if read_only:
        if not uri:
            target = Path(target).resolve().as_uri()
            uri = True
        target += ("&" if "?" in target else "?") + "mode=ro"
    elif not uri and target != ":memory:":
        Path(target).parent.mkdir(parents=True, exist_ok=True)
    try:
        conn = sqlite3.connect(target, timeout=timeout, uri=uri, isolation_level=None)
        conn.execute("PRAGMA foreign_keys=ON")
        if not read_only:
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
    except sqlite3.Error as exc:
        raise describe_sqlite_error(exc, path) from exc
    return conn


@contextmanager
def transaction(conn: sqlite3.Connection, path: str | os.PathLike[str] | None = None) -> Iterator[None]:
    """BEGIN IMMEDIATE ... COMMIT, rolled back on any error; sqlite errors become StoreError."""
    try:
        conn.execute("BEGIN IMMEDIATE")
    except sqlite3.Error as exc:
        raise describe_sqlite_error(exc, path) from exc
    try:
        yield
        conn.execute("COMMIT")
    except BaseException as exc:
        with suppress(sqlite3.Error):
            conn.execute("ROLLBACK")
        if isinstance(exc, sqlite3.Error):
            raise describe_sqlite_error(exc, path) from exc
        raise


def to_json(value: Any) -> str:
    """JSON for a TEXT column (dataclasses, numpy values and paths included)."""
    if value is None:
        return "{}"
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        value = dataclasses.asdict(value)
    return json.dumps(value, sort_keys=True, default=_json_default)


def _json_default(obj: Any) -> Any:
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return dataclasses.asdict(obj)
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, Path):
        return str(obj)
    raise TypeError(f"not JSON serialisable: {type(obj).__name__}")


def _nan_to_none(v: float | None) -> float | None:
    return None if v is None or (isinstance(v, float) and math.isnan(v)) else v


# --------------------------------------------------------------------------- records


@dataclass
class StudyRecord:
    id: int
    uid: str
    image_path: str = ""
    dataset: str = ""
    split: str = ""
    metadata: dict[str, Any] = field(default_factory=dict)
    created_at: str = ""


@dataclass
class ReaderRecord:
    id: int
    name: str
    role: str = ""


@dataclass
class SessionRecord:
    """One gaze recording: who read which study, on what screen, and how it ended."""

    id: int
    study_id: int | None
    reader_id: int | None
    study_uid: str
    reader: str
    source: str
    status: SessionStatus
    started_at: str
    ended_at: str | None
    geometry: dict[str, Any]
    calibration: dict[str, Any] | None
    t0_us: int | None
    flush_interval: float
    sample_count: int
    dropped_count: int
    error: str
    pid: int | None
    host: str
    heartbeat: float | None
    metadata: dict[str, Any]


@dataclass
class SampleBlock:
    """A session's samples as columns (screen pixels, µs); NaN x/y/pupil where invalid or unknown."""

    t_us: np.ndarray
    x: np.ndarray
    y: np.ndarray
    valid: np.ndarray
    pupil: np.ndarray
    device_t_us: np.ndarray

    def __len__(self) -> int:
        return len(self.t_us)

    @classmethod
    def empty(cls) -> SampleBlock:
        z = np.zeros(0)
        return cls(z.astype(np.int64), z, z, z.astype(bool), z, z.astype(np.int64))

    @classmethod
    def from_samples(cls, samples: Sequence[GazeSample]) -> SampleBlock:
        if not samples:
            return cls.empty()
        return cls(
            np.array([s.t_us for s in samples], dtype=np.int64),
            np.array([s.x for s in samples], dtype=np.float64),
            np.array([s.y for s in samples], dtype=np.float64),
            np.array([s.valid for s in samples], dtype=bool),
            np.array([s.pupil_mm for s in samples], dtype=np.float64),
            np.array([s.device_t_us for s in samples], dtype=np.int64),
        )

    def to_samples(self) -> list[GazeSample]:
        return [
            GazeSample(int(t), float(x), float(y), bool(v), float(p), int(d))
            for t, x, y, v, p, d in zip(
                self.t_us, self.x, self.y, self.valid, self.pupil, self.device_t_us, strict=True
            )
        ]


@dataclass
class EventRecord:
    """A viewer or source event on the samples' clock (zoom/pan/window/image, connection lost...)."""

    t_us: int
    kind: str
    data: dict[str, Any]
    seq: int = -1


@dataclass
class ReportVersion:
    id: int
    study_id: int
    version: int
    text: str
    origin: ReportOrigin
    author: str
    created_at: str
    bundle_id: str = ""
    scanpath_source: str = ""
    parent_id: int | None = None

    @property
    def report(self) -> Report:
        return Report.parse(self.text)


@dataclass
class Annotation:
    id: int
    study_id: int
    finding: Finding
    reader: str = ""
    sentence: str = ""
    created_at: str = ""
    updated_at: str = ""


def sample_rows(session_id: int, first_seq: int, samples: Iterable[GazeSample]) -> list[tuple]:
    """Rows for ``INSERT INTO samples``; NaN becomes NULL (SQLite has no NaN)."""
    rows = []
    seq = first_seq
    for s in samples:
        x, y, p = s.x, s.y, s.pupil_mm
        rows.append(
            (
                session_id,
                seq,
                int(s.t_us),
                None if x != x else x,
                None if y != y else y,
                1 if s.valid else 0,
                None if p != p else p,
                int(s.device_t_us),
            )
        )
        seq += 1
    return rows


INSERT_SAMPLES = "INSERT INTO samples VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
INSERT_EVENTS = "INSERT INTO viewport_events VALUES (?, ?, ?, ?, ?)"


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    except OSError:
        return False
    return True


# --------------------------------------------------------------------------- the store


class Store:
    """The project database: studies, readers, gaze sessions, samples, events, fixations,
    report versions and annotations. Use from the thread that created it."""

    def __init__(
        self, path: str | os.PathLike[str], *, read_only: bool = False, timeout: float = 5.0
    ) -> None:
        self.path = str(path)
        self.read_only = read_only
        if read_only and not self.path.startswith("file:") and not Path(self.path).is_file():
            raise StoreError(f"No database at {self.path}.", kind=StoreErrorKind.MISSING)
        self.conn = connect(path, read_only=read_only, timeout=timeout)
        self._migrate()

    # ----------------------------------------------------------------- basics
    def close(self) -> None:
        self.conn.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        with transaction(self.conn, self.path):
            yield self.conn

    def _q(self, sql: str, params: Sequence[Any] = ()) -> list[sqlite3.Row]:
        try:
            cur = self.conn.execute(sql, params)
            cur.row_factory = sqlite3.Row
            return cur.fetchall()
        except sqlite3.Error as exc:
            raise describe_sqlite_error(exc, self.path) from exc

    def _x(self, sql: str, params: Sequence[Any] = ()) -> sqlite3.Cursor:
        try:
            return self.conn.execute(sql, params)
        except sqlite3.Error as exc:
            raise describe_sqlite_error(exc, self.path) from exc

    def _migrate(self) -> None:
        try:
            has_meta = self.conn.execute(
                "SELECT 1 FROM sqlite_master WHERE type='table' AND name='meta'"
            ).fetchone()
        except sqlite3.Error as exc:
            raise describe_sqlite_error(exc, self.path) from exc
        if has_meta:
            row = self.conn.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone()
            version = int(row[0]) if row else 0
            if version > SCHEMA_VERSION:
                raise StoreError(
                    f"The database {self.path} was written by a newer Gaze2Report (schema {version}); "
                    "update the application.",
                    kind=StoreErrorKind.INVALID,
                )
            if version == SCHEMA_VERSION:
                return
        if self.read_only:
            raise StoreError(f"{self.path} is not a Gaze2Report database.", kind=StoreErrorKind.INVALID)
        try:
            self.conn.executescript("BEGIN IMMEDIATE;" + DDL + "COMMIT;")
            self.conn.execute(
                "INSERT OR REPLACE INTO meta(key, value) VALUES ('schema_version', ?)", (str(SCHEMA_VERSION),)
            )
        except sqlite3.Error as exc:
            if self.conn.in_transaction:
                self.conn.execute("ROLLBACK")
            raise describe_sqlite_error(exc, self.path) from exc

    # ----------------------------------------------------------------- studies and readers
    def add_study(
        self,
        uid: str,
        image_path: str | os.PathLike[str] = "",
        dataset: str = "",
        split: str = "",
        metadata: dict[str, Any] | None = None,
    ) -> int:
        """The id of the study ``uid``, created if new (existing rows are left as they are)."""
        if not uid:
            raise StoreError("A study needs a non-empty id.", kind=StoreErrorKind.INVALID)
        row = self._q("SELECT id FROM studies WHERE uid=?", (uid,))
        if row:
            return int(row[0]["id"])
        cur = self._x(
            "INSERT INTO studies(uid, image_path, dataset, split, metadata, created_at) VALUES (?,?,?,?,?,?)",
            (uid, str(image_path), dataset, split, to_json(metadata or {}), now_iso()),
        )
        return int(cur.lastrowid)

    def study(self, study_id: int | str) -> StudyRecord:
        """A study by row id (int) or by uid (str)."""
        col = "uid" if isinstance(study_id, str) else "id"
        rows = self._q(f"SELECT * FROM studies WHERE {col}=?", (study_id,))
        if not rows:
            raise StoreError(f"No study {study_id!r} in the database.", kind=StoreErrorKind.MISSING)
        return self._study(rows[0])

    def studies(self) -> list[StudyRecord]:
        return [self._study(r) for r in self._q("SELECT * FROM studies ORDER BY id")]

    @staticmethod
    def _study(r: sqlite3.Row) -> StudyRecord:
        return StudyRecord(
            r["id"],
            r["uid"],
            r["image_path"],
            r["dataset"],
            r["split"],
            json.loads(r["metadata"]),
            r["created_at"],
        )

    def reader_id(self, name: str, role: str = "", *, create: bool = True) -> int:
        """The id of reader ``name``, created if ``create`` (the default)."""
        if not name:
            raise StoreError("A reader needs a name.", kind=StoreErrorKind.INVALID)
        row = self._q("SELECT id FROM readers WHERE name=?", (name,))
        if row:
            return int(row[0]["id"])
        if not create:
            raise StoreError(f"No reader {name!r} in the database.", kind=StoreErrorKind.MISSING)
        cur = self._x("INSERT INTO readers(name, role, created_at) VALUES (?,?,?)", (name, role, now_iso()))
        return int(cur.lastrowid)

    def readers(self) -> list[ReaderRecord]:
        return [
            ReaderRecord(r["id"], r["name"], r["role"]) for r in self._q("SELECT * FROM readers ORDER BY id")
        ]

    # ----------------------------------------------------------------- sessions
    def create_session(
        self,
        study: int | str | None = None,
        reader: int | str | None = None,
        *,
        source: str = "",
        geometry: Any = None,
        flush_interval: float = 0.1,
        metadata: dict[str, Any] | None = None,
        pid: int | None = None,
        t0_us: int | None = None,
    ) -> int:
        """Open a session in status 'recording' owned by this process; returns its id.

        ``study``/``reader`` are row ids or uid/name strings (created when new). ``t0_us`` is the
        reading's time origin on the samples' clock (default: the first stored sample).
        """
        study_id = self.add_study(study) if isinstance(study, str) else study
        reader_id = self.reader_id(reader) if isinstance(reader, str) else reader
        cur = self._x(
            "INSERT INTO sessions(study_id, reader_id, source, status, started_at, geometry, flush_interval,"
            " pid, host, heartbeat, metadata, t0_us) VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
            (
                study_id,
                reader_id,
                source,
                SessionStatus.RECORDING.value,
                now_iso(),
                to_json(geometry or {}),
                float(flush_interval),
                os.getpid() if pid is None else pid,
                socket.gethostname(),
                time.time(),
                to_json(metadata or {}),
                t0_us,
            ),
        )
        return int(cur.lastrowid)

    _SESSION_SQL = (
        "SELECT s.*, COALESCE(st.uid, '') AS study_uid, COALESCE(r.name, '') AS reader_name FROM sessions s "
        "LEFT JOIN studies st ON st.id = s.study_id LEFT JOIN readers r ON r.id = s.reader_id"
    )

    def session(self, session_id: int) -> SessionRecord:
        rows = self._q(self._SESSION_SQL + " WHERE s.id=?", (session_id,))
        if not rows:
            raise StoreError(f"No gaze session {session_id} in the database.", kind=StoreErrorKind.MISSING)
        return self._session(rows[0])

    def sessions(
        self, study: int | str | None = None, status: SessionStatus | str | None = None
    ) -> list[SessionRecord]:
        sql, params = self._SESSION_SQL + " WHERE 1=1", []
        if study is not None:
            sql += " AND " + ("st.uid=?" if isinstance(study, str) else "s.study_id=?")
            params.append(study)
        if status is not None:
            sql += " AND s.status=?"
            params.append(SessionStatus(status).value)
        return [self._session(r) for r in self._q(sql + " ORDER BY s.id", params)]

    @staticmethod
    def _session(r: sqlite3.Row) -> SessionRecord:
        return SessionRecord(
            id=r["id"],
            study_id=r["study_id"],
            reader_id=r["reader_id"],
            study_uid=r["study_uid"],
            reader=r["reader_name"],
            source=r["source"],
            status=SessionStatus(r["status"]),
            started_at=r["started_at"],
            ended_at=r["ended_at"],
            geometry=json.loads(r["geometry"]),
            calibration=json.loads(r["calibration"]) if r["calibration"] else None,
            t0_us=r["t0_us"],
            flush_interval=r["flush_interval"],
            sample_count=r["sample_count"],
            dropped_count=r["dropped_count"],
            error=r["error"],
            pid=r["pid"],
            host=r["host"],
            heartbeat=r["heartbeat"],
            metadata=json.loads(r["metadata"]),
        )

    def set_geometry(self, session_id: int, geometry: Any) -> None:
        self._x("UPDATE sessions SET geometry=? WHERE id=?", (to_json(geometry), session_id))

    def set_calibration(self, session_id: int, calibration: Any) -> None:
        """Store the calibration/validation result (a dataclass or dict) with the session."""
        self._x("UPDATE sessions SET calibration=? WHERE id=?", (to_json(calibration), session_id))

    def finish_session(
        self,
        session_id: int,
        status: SessionStatus | str = SessionStatus.COMPLETED,
        *,
        error: str = "",
        dropped: int | None = None,
    ) -> None:
        """Close a session: final status, end time, the true stored sample count."""
        if status not in SessionStatus.values() or status == SessionStatus.RECORDING:
            raise StoreError(f"Cannot finish a session as {status!r}.", kind=StoreErrorKind.INVALID)
        with self.transaction():
            self._close_session(session_id, SessionStatus(status), error, dropped)

    def _close_session(
        self, session_id: int, status: SessionStatus, error: str, dropped: int | None
    ) -> None:
        count = self.conn.execute(
            "SELECT COUNT(*) FROM samples WHERE session_id=?", (session_id,)
        ).fetchone()[0]
        t0 = self.conn.execute(
            "SELECT t_us FROM samples WHERE session_id=? ORDER BY seq LIMIT 1", (session_id,)
        ).fetchone()
        self.conn.execute(
            "UPDATE sessions SET status=?, ended_at=?, sample_count=?, error=?, t0_us=COALESCE(t0_us, ?),"
            " dropped_count=COALESCE(?, dropped_count) WHERE id=?",
            (status.value, now_iso(), count, error, t0[0] if t0 else None, dropped, session_id),
        )

    def recover_interrupted(self, *, stale_after: float = 30.0) -> list[int]:
        """Find sessions left 'recording' by a writer that died and close them as 'interrupted'.

        A session is dead when its writer process (same host) no longer exists, or when its writer
        has not committed for ``stale_after`` seconds (another host, or a reused pid). Returns the ids.
        """
        host = socket.gethostname()
        now = time.time()
        dead = []
        for s in self.sessions(status=SessionStatus.RECORDING):
            same_host = s.host == host
            if same_host and s.pid == os.getpid():
                alive = s.heartbeat is not None and now - s.heartbeat < stale_after
            elif same_host and s.pid:
                alive = _pid_alive(s.pid) and (s.heartbeat is None or now - s.heartbeat < stale_after)
            else:
                alive = s.heartbeat is not None and now - s.heartbeat < stale_after
            if not alive:
                dead.append(s.id)
        for sid in dead:
            with self.transaction():
                self._close_session(
                    sid, SessionStatus.INTERRUPTED, "recording ended without a clean stop", None
                )
                last = self.conn.execute("SELECT heartbeat FROM sessions WHERE id=?", (sid,)).fetchone()[0]
                if last:
                    ended = _dt.datetime.fromtimestamp(last, _dt.timezone.utc).isoformat(timespec="seconds")
                    self.conn.execute("UPDATE sessions SET ended_at=? WHERE id=?", (ended, sid))
        return dead

    def delete_session(self, session_id: int) -> None:
        with self.transaction():
            for table in ("samples", "viewport_events", "fixations"):
                self.conn.execute(f"DELETE FROM {table} WHERE session_id=?", (session_id,))
            self.conn.execute("DELETE FROM sessions WHERE id=?", (session_id,))

    # ----------------------------------------------------------------- samples and events
    def append_samples(self, session_id: int, samples: Sequence[GazeSample]) -> int:
        """Append samples after the session's last one (import, tests); returns the new count."""
        with self.transaction():
            first = self.conn.execute(
                "SELECT COALESCE(MAX(seq) + 1, 0) FROM samples WHERE session_id=?", (session_id,)
            ).fetchone()[0]
            self.conn.executemany(INSERT_SAMPLES, sample_rows(session_id, first, samples))
            count = first + len(samples)
            self.conn.execute("UPDATE sessions SET sample_count=? WHERE id=?", (count, session_id))
        return count

    def samples(self, session_id: int) -> SampleBlock:
        """All samples of a session in arrival order, as columns."""
        rows = self._x(
            "SELECT t_us, x, y, valid, pupil, device_t_us FROM samples WHERE session_id=? ORDER BY seq",
            (session_id,),
        ).fetchall()
        if not rows:
            return SampleBlock.empty()
        t, x, y, v, p, d = zip(*rows, strict=True)
        return SampleBlock(
            np.array(t, dtype=np.int64),
            np.array(x, dtype=np.float64),  # NULL -> None -> NaN
            np.array(y, dtype=np.float64),
            np.array(v, dtype=bool),
            np.array(p, dtype=np.float64),
            np.array(d, dtype=np.int64),
        )

    def sample_count(self, session_id: int) -> int:
        return int(self._x("SELECT COUNT(*) FROM samples WHERE session_id=?", (session_id,)).fetchone()[0])

    def append_events(self, session_id: int, events: Sequence[EventRecord]) -> None:
        with self.transaction():
            first = self.conn.execute(
                "SELECT COALESCE(MAX(seq) + 1, 0) FROM viewport_events WHERE session_id=?", (session_id,)
            ).fetchone()[0]
            self.conn.executemany(
                INSERT_EVENTS,
                [(session_id, first + i, int(e.t_us), e.kind, to_json(e.data)) for i, e in enumerate(events)],
            )

    def events(self, session_id: int, kind: str | None = None) -> list[EventRecord]:
        sql = "SELECT seq, t_us, kind, data FROM viewport_events WHERE session_id=?"
        params: list[Any] = [session_id]
        if kind is not None:
            sql += " AND kind=?"
            params.append(kind)
        rows = self._x(sql + " ORDER BY seq", params).fetchall()
        return [EventRecord(t, k, json.loads(d), s) for s, t, k, d in rows]

    # ----------------------------------------------------------------- fixations
    def save_fixations(self, session_id: int, fixations: Sequence[Fixation], method: str = "ivt") -> None:
        """Replace the session's fixations of ``method`` (image pixels, seconds from t0)."""
        with self.transaction():
            self.conn.execute("DELETE FROM fixations WHERE session_id=? AND method=?", (session_id, method))
            self.conn.executemany(
                "INSERT INTO fixations VALUES (?,?,?,?,?,?,?,?)",
                [
                    (session_id, method, i, f.x, f.y, f.start, f.end, _nan_to_none(f.pupil))
                    for i, f in enumerate(fixations)
                ],
            )

    def fixations(self, session_id: int, method: str = "ivt") -> list[Fixation]:
        rows = self._x(
            "SELECT x, y, start, end, pupil FROM fixations WHERE session_id=? AND method=? ORDER BY idx",
            (session_id, method),
        ).fetchall()
        return [Fixation(x, y, s, e, math.nan if p is None else p) for x, y, s, e, p in rows]

    def fixation_methods(self, session_id: int) -> list[str]:
        rows = self._x(
            "SELECT DISTINCT method FROM fixations WHERE session_id=? ORDER BY method", (session_id,)
        )
        return [r[0] for r in rows.fetchall()]

    # ----------------------------------------------------------------- report versions
    def add_report_version(
        self,
        study: int | str,
        text: str | Report,
        origin: ReportOrigin | str,
        author: str = "",
        *,
        bundle_id: str = "",
        scanpath_source: str = "",
    ) -> ReportVersion:
        """Append a version of the study's report (versions are never changed or deleted)."""
        try:
            origin = ReportOrigin(origin)
        except ValueError as exc:
            raise StoreError(str(exc), kind=StoreErrorKind.INVALID) from None
        if origin == ReportOrigin.MODEL and not bundle_id:
            raise StoreError("A model draft must name the bundle that wrote it.", kind=StoreErrorKind.INVALID)
        study_id = self.add_study(study) if isinstance(study, str) else study
        body = text.text if isinstance(text, Report) else str(text)
        with self.transaction():
            last = self.conn.execute(
                "SELECT id, version FROM report_versions WHERE study_id=? ORDER BY version DESC LIMIT 1",
                (study_id,),
            ).fetchone()
            version = (last[1] + 1) if last else 1
            cur = self.conn.execute(
                "INSERT INTO report_versions(study_id, version, text, origin, author, created_at, bundle_id,"
                " scanpath_source, parent_id) VALUES (?,?,?,?,?,?,?,?,?)",
                (
                    study_id,
                    version,
                    body,
                    origin.value,
                    author,
                    now_iso(),
                    bundle_id,
                    scanpath_source,
                    last[0] if last else None,
                ),
            )
            rid = int(cur.lastrowid)
        return self._report_versions("WHERE id=?", (rid,))[0]

    def _find_study(self, study: int | str) -> int | None:
        if not isinstance(study, str):
            return study
        rows = self._q("SELECT id FROM studies WHERE uid=?", (study,))
        return int(rows[0]["id"]) if rows else None

    def report_versions(self, study: int | str) -> list[ReportVersion]:
        """All versions of the study's report, oldest first ([] for an unknown study)."""
        study_id = self._find_study(study)
        if study_id is None:
            return []
        return self._report_versions("WHERE study_id=? ORDER BY version", (study_id,))

    def latest_report(self, study: int | str) -> ReportVersion | None:
        versions = self.report_versions(study)
        return versions[-1] if versions else None

    def _report_versions(self, where: str, params: Sequence[Any]) -> list[ReportVersion]:
        return [
            ReportVersion(
                r["id"],
                r["study_id"],
                r["version"],
                r["text"],
                ReportOrigin(r["origin"]),
                r["author"],
                r["created_at"],
                r["bundle_id"],
                r["scanpath_source"],
                r["parent_id"],
            )
            for r in self._q("SELECT * FROM report_versions " + where, params)
        ]

    # ----------------------------------------------------------------- annotations
    def add_annotation(self, study: int | str, finding: Finding, reader: str = "", sentence: str = "") -> int:
        """Store a finding drawn on the image (image pixels); returns its id."""
        self._check_finding(finding)
        study_id = self.add_study(study) if isinstance(study, str) else study
        reader_id = self.reader_id(reader) if reader else None
        stamp = now_iso()
        cur = self._x(
            "INSERT INTO annotations(study_id, reader_id, label, certainty, shape, x0, y0, x1, y1, points,"
            " sentence, created_at, updated_at) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)",
            (study_id, reader_id, *self._finding_cols(finding), sentence, stamp, stamp),
        )
        return int(cur.lastrowid)

    def update_annotation(self, annotation_id: int, finding: Finding, sentence: str | None = None) -> None:
        self._check_finding(finding)
        cur = self._x(
            "UPDATE annotations SET label=?, certainty=?, shape=?, x0=?, y0=?, x1=?, y1=?, points=?,"
            " sentence=COALESCE(?, sentence), updated_at=? WHERE id=?",
            (*self._finding_cols(finding), sentence, now_iso(), annotation_id),
        )
        if cur.rowcount == 0:
            raise StoreError(f"No annotation {annotation_id}.", kind=StoreErrorKind.MISSING)

    def link_sentence(self, annotation_id: int, sentence: str) -> None:
        self._x(
            "UPDATE annotations SET sentence=?, updated_at=? WHERE id=?", (sentence, now_iso(), annotation_id)
        )

    def delete_annotation(self, annotation_id: int) -> None:
        self._x("DELETE FROM annotations WHERE id=?", (annotation_id,))

    def annotations(self, study: int | str, reader: str | None = None) -> list[Annotation]:
        study_id = self._find_study(study)
        if study_id is None:
            return []
        sql = (
            "SELECT a.*, COALESCE(r.name, '') AS reader_name FROM annotations a "
            "LEFT JOIN readers r ON r.id = a.reader_id WHERE a.study_id=?"
        )
        params: list[Any] = [study_id]
        if reader is not None:
            sql += " AND COALESCE(r.name, '')=?"
            params.append(reader)
        out = []
        for r in self._q(sql + " ORDER BY a.id", params):
            finding = Finding(
                r["label"],
                r["x0"],
                r["y0"],
                r["x1"],
                r["y1"],
                AnnotationShape(r["shape"]),
                r["certainty"],
                [tuple(p) for p in json.loads(r["points"])],
            )
            out.append(
                Annotation(
                    r["id"],
                    r["study_id"],
                    finding,
                    r["reader_name"],
                    r["sentence"],
                    r["created_at"],
                    r["updated_at"],
                )
            )
        return out

    @staticmethod
    def _check_finding(f: Finding) -> None:
        if f.shape not in AnnotationShape.values():
            raise StoreError(f"Unknown annotation shape {f.shape!r}.", kind=StoreErrorKind.INVALID)
        if not 1 <= int(f.certainty) <= 5:
            raise StoreError(f"Certainty must be 1..5, got {f.certainty}.", kind=StoreErrorKind.INVALID)
        if not f.label:
            raise StoreError("An annotation needs a label.", kind=StoreErrorKind.INVALID)

    @staticmethod
    def _finding_cols(f: Finding) -> tuple:
        return (
            f.label,
            int(f.certainty),
            AnnotationShape(f.shape).value,
            float(f.x0),
            float(f.y0),
            float(f.x1),
            float(f.y1),
            json.dumps([[float(x), float(y)] for x, y in f.points]),
        )
