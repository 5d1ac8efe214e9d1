"""The store's studies and readers: who reads, and what (every other area refers to them)."""

from __future__ import annotations

import json
import os
import sqlite3
from typing import Any

from ml.store.connection import StoreError, now_iso, to_json
from ml.store.core import StoreCore
from ml.store.records import ReaderRecord, StudyRecord
from ml.store.schema import StoreErrorKind


class Studies(StoreCore):
    """Studies (by row id or uid) and readers (by name)."""

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
