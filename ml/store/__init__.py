"""The project database (SQLite, WAL): studies, readers, gaze sessions and their samples,
viewport events and fixations, report versions and annotations. Torch-free and Qt-free."""

from ml.store.db import (
    Annotation,
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
from ml.store.schema import REPORT_ORIGINS, SCHEMA_VERSION, SESSION_STATUSES

__all__ = [
    "Annotation",
    "EventRecord",
    "REPORT_ORIGINS",
    "ReaderRecord",
    "ReportVersion",
    "SCHEMA_VERSION",
    "SESSION_STATUSES",
    "SampleBlock",
    "SessionRecord",
    "Store",
    "StoreError",
    "StudyRecord",
    "connect",
    "default_db_path",
    "describe_sqlite_error",
    "transaction",
]
