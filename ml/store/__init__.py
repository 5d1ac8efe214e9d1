"""The project database (SQLite, WAL): studies, readers, gaze sessions and their samples,
viewport events and fixations, report versions and annotations. Torch-free and Qt-free."""

from ml.store.db import (
    AnnotationRecord,
    EventRecord,
    ReaderRecord,
    ReportVersion,
    SampleBlock,
    SessionRecord,
    Store,
    StoreError,
    StudyRecord,
    connect,
    default_db_path,
    describe_sqlite_error,
    transaction,
)
from ml.store.schema import SCHEMA_VERSION, AnnotationShape, ReportOrigin, SessionStatus, StoreErrorKind

__all__ = [
    "SCHEMA_VERSION",
    "AnnotationRecord",
    "AnnotationShape",
    "EventRecord",
    "ReaderRecord",
    "ReportOrigin",
    "ReportVersion",
    "SampleBlock",
    "SessionRecord",
    "SessionStatus",
    "Store",
    "StoreError",
    "StoreErrorKind",
    "StudyRecord",
    "connect",
    "default_db_path",
    "describe_sqlite_error",
    "transaction",
]
