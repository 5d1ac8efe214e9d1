"""The project database's front door: :class:`Store` over SQLite (schema in :mod:`ml.store.schema`).

``Store`` is the union of the store's areas, one module each: ``studies`` (studies and readers),
``sessions`` (gaze sessions, samples, viewport events, fixations), ``reports`` (report versions)
and ``annotations``; ``core`` holds the connection and opens or upgrades the database,
``connection`` the SQLite helpers and ``StoreError``, ``records`` the dataclasses it returns.
Callers import from here or from ``ml.store``.
"""

from __future__ import annotations

from ml.store.annotations import Annotations
from ml.store.connection import (
    StoreError,
    connect,
    default_db_path,
    describe_sqlite_error,
    now_iso,
    to_json,
    transaction,
)
from ml.store.records import (
    AnnotationRecord,
    EventRecord,
    ReaderRecord,
    ReportVersion,
    SampleBlock,
    SessionRecord,
    StudyRecord,
)
from ml.store.reports import Reports
from ml.store.sessions import INSERT_EVENTS, INSERT_SAMPLES, Sessions, sample_rows

__all__ = [
    "INSERT_EVENTS",
    "INSERT_SAMPLES",
    "AnnotationRecord",
    "EventRecord",
    "ReaderRecord",
    "ReportVersion",
    "SampleBlock",
    "SessionRecord",
    "Store",
    "StoreError",
    "StudyRecord",
    "connect",
    "default_db_path",
    "describe_sqlite_error",
    "now_iso",
    "sample_rows",
    "to_json",
    "transaction",
]


class Store(Sessions, Reports, Annotations):
    """The project database: studies, readers, gaze sessions, samples, events, fixations,
    report versions and annotations. Use from the thread that created it."""

    def __enter__(self) -> Store:
        return self
