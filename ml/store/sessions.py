"""The store's gaze sessions with their samples, viewport events and fixations.

A session is opened 'recording' by the process that owns its writer; a writer that died leaves it
'recording', and ``recover_interrupted`` closes it as 'interrupted' (dead pid or stale heartbeat).
"""

from __future__ import annotations

import datetime as _dt
import json
import math
import os
import socket
import sqlite3
import time
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np

from ml.store.connection import StoreError, now_iso, to_json
from ml.store.records import EventRecord, SampleBlock, SessionRecord
from ml.store.schema import SessionStatus, StoreErrorKind
from ml.store.studies import Studies
from ml.types import Fixation, GazeSample


def _nan_to_none(v: float | None) -> float | None:
    return None if v is None or (isinstance(v, float) and math.isnan(v)) else v


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


class Sessions(Studies):
    """Gaze sessions, their samples and events (the recorder's writer appends them) and fixations."""

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
