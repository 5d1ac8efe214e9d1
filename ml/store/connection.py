"""Connection helpers of the project database: opening it (WAL, foreign keys), transactions,
and turning every SQLite failure into a :class:`StoreError` with a one-line message a GUI can show
("the disk is full", "the database is read-only", ...). Also JSON for TEXT columns and time stamps.
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
import json
import os
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

import numpy as np

from ml.store.schema import StoreErrorKind


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
