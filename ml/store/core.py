"""What every area of the store stands on: one connection, queries that raise ``StoreError``, and
opening a database (a new one gets the schema; an older one is upgraded in place, keeping its data;
a newer one is refused).

One store belongs to the thread that opened it (sqlite3's rule): the GUI opens one, the gaze
recorder's writer thread opens its own. The journal is WAL, so the GUI reads while the recorder writes.
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from ml.store.connection import StoreError, connect, describe_sqlite_error, transaction
from ml.store.schema import DDL, MIGRATIONS, SCHEMA_VERSION, StoreErrorKind


class StoreCore:
    """The connection and its helpers; the areas (studies, sessions, reports, annotations) extend it."""

    def __init__(
        self, path: str | os.PathLike[str], *, read_only: bool = False, timeout: float = 5.0
    ) -> None:
        self.path = str(path)
        self.read_only = read_only
        if read_only and not self.path.startswith("file:") and not Path(self.path).is_file():
            raise StoreError(f"No database at {self.path}.", kind=StoreErrorKind.MISSING)
        self.conn = connect(path, read_only=read_only, timeout=timeout)
        self._migrate()

    def close(self) -> None:
        self.conn.close()

    def __enter__(self) -> StoreCore:
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

    def _find_study(self, study: int | str) -> int | None:
        """The row id of a study given by row id or uid; None for an unknown uid."""
        if not isinstance(study, str):
            return study
        rows = self._q("SELECT id FROM studies WHERE uid=?", (study,))
        return int(rows[0]["id"]) if rows else None

    # ----------------------------------------------------------------- schema
    def _schema_version(self) -> int | None:
        """The database's schema version; None for a file without the project's tables."""
        try:
            has_meta = self.conn.execute(
                "SELECT 1 FROM sqlite_master WHERE type='table' AND name='meta'"
            ).fetchone()
            if not has_meta:
                return None
            row = self.conn.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone()
        except sqlite3.Error as exc:
            raise describe_sqlite_error(exc, self.path) from exc
        return int(row[0]) if row else None

    def _migrate(self) -> None:
        version = self._schema_version()
        if version == SCHEMA_VERSION:
            return
        self._refuse_newer(version)
        if self.read_only:
            if version is None:
                raise StoreError(f"{self.path} is not a Gaze2Report database.", kind=StoreErrorKind.INVALID)
            raise StoreError(
                f"The database {self.path} has the older schema {version}; open it once for writing "
                "(the workstation does) to upgrade it.",
                kind=StoreErrorKind.INVALID,
            )
        # A step may rebuild a table: foreign keys are off meanwhile (SQLite's documented way), so
        # the copied rows neither cascade nor fail on references that an older client left broken.
        self._x("PRAGMA foreign_keys=OFF")
        try:
            while self._step():
                pass
        finally:
            self._x("PRAGMA foreign_keys=ON")

    def _step(self) -> bool:
        """Create the schema or run one step of ``MIGRATIONS``, in one transaction; False when current.

        The version is read again inside the transaction: another process may have upgraded it.
        """
        with self.transaction():
            version = self._schema_version()
            if version == SCHEMA_VERSION:
                return False
            self._refuse_newer(version)
            for statement in statements(DDL if version is None else MIGRATIONS[version]):
                self.conn.execute(statement)
            self.conn.execute(
                "INSERT OR REPLACE INTO meta(key, value) VALUES ('schema_version', ?)",
                (str(SCHEMA_VERSION if version is None else version + 1),),
            )
        return True

    def _refuse_newer(self, version: int | None) -> None:
        if version is not None and version > SCHEMA_VERSION:
            raise StoreError(
                f"The database {self.path} was written by a newer Gaze2Report (schema {version}); "
                "update the application.",
                kind=StoreErrorKind.INVALID,
            )


def statements(script: str) -> Iterator[str]:
    """The statements of an SQL script, one by one (a trigger's body stays whole)."""
    pending = ""
    for line in script.splitlines(keepends=True):
        pending += line
        if sqlite3.complete_statement(pending):
            yield pending.strip()
            pending = ""
    if pending.strip():
        yield pending.strip()
