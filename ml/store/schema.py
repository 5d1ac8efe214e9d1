"""The SQLite schema of the project database (one file per workstation, WAL journal).

Why SQLite: one file the radiologist's machine already knows how to back up, atomic commits, and
in WAL mode a reader (the GUI) never blocks the writer (the gaze recorder). Samples and viewport
events are keyed by (session, seq) WITHOUT ROWID so a session's rows sit together on disk and read
back in order.

Report versions are the audit trail, and its rules live in the database so that they hold for any
client that opens the file, whatever its pragmas (SQLite's defaults included): a version is never
changed (UPDATE), removed (DELETE) or replaced (INSERT OR REPLACE, REPLACE INTO, an upsert: REPLACE
deletes the old row without firing DELETE triggers unless ``recursive_triggers`` is on, so a BEFORE
INSERT trigger refuses any insert whose id or (study, version) already exists), and signed is final:
once a study has a signed version, every later version is an addendum that amends the latest
signed or addendum version. Out of reach of any schema: a client that drops the triggers or the
table (DROP TRIGGER, DROP TABLE, writable_schema) or edits the file's bytes; the backup is the
defence there.

``MIGRATIONS[n]`` upgrades a database of schema ``n`` to ``n + 1`` in place, keeping its data.
"""

from __future__ import annotations

from ml.types import AnnotationShape, Vocabulary

__all__ = ["DDL", "MIGRATIONS", "SCHEMA_VERSION", "AnnotationShape", "ReportOrigin", "SessionStatus", "StoreErrorKind"]

#: Bumped when the DDL changes (with a step in ``MIGRATIONS``); ``Store`` refuses a newer database.
SCHEMA_VERSION = 2


class SessionStatus(Vocabulary):
    """``sessions.status``: how a gaze recording stands or ended."""

    RECORDING = "recording"  # a writer owns it
    COMPLETED = "completed"  # clean stop
    INTERRUPTED = "interrupted"  # the writer died: found and closed on the next start
    FAILED = "failed"  # the writer hit an error


class ReportOrigin(Vocabulary):
    """``report_versions.origin``: who or what wrote a version of a report."""

    MODEL = "model"  # a model draft (names its bundle)
    HUMAN = "human"  # a reader's edit
    SIGNED = "signed"  # the final report, signed by its reader
    ADDENDUM = "addendum"  # a signed correction of a signed report (amends it)


class StoreErrorKind(Vocabulary):
    """``StoreError.kind``: what went wrong, for callers that react to it (not only show it)."""

    FULL = "full"  # the disk is full
    READONLY = "readonly"  # the file or its folder cannot be written
    LOCKED = "locked"  # another program holds the lock
    CORRUPT = "corrupt"  # damaged, or not a database
    MISSING = "missing"  # no such database, study, reader, session or annotation
    INVALID = "invalid"  # a value the rules refuse, or a database this version cannot use
    SIGNED = "signed"  # the study's report is signed: only an addendum may follow
    ERROR = "error"  # any other database failure

#: ``report_versions`` (schema 2), formatted with the table's name (a migration builds it aside).
REPORT_VERSIONS = """
CREATE TABLE IF NOT EXISTS {table} (
    id              INTEGER PRIMARY KEY,
    study_id        INTEGER NOT NULL REFERENCES studies(id),
    version         INTEGER NOT NULL,         -- 1, 2, ... per study
    text            TEXT NOT NULL,
    origin          TEXT NOT NULL CHECK (origin IN ('model', 'human', 'signed', 'addendum')),
    author          TEXT NOT NULL DEFAULT '', -- reader name or model bundle name
    created_at      TEXT NOT NULL,
    bundle_id       TEXT NOT NULL DEFAULT '', -- model drafts: which bundle wrote it
    scanpath_source TEXT NOT NULL DEFAULT '', -- model drafts: recorded | simulated | predicted
    parent_id       INTEGER REFERENCES report_versions(id),
    ai_context      TEXT,                     -- JSON: what restores a model draft's AI context
    amends          INTEGER REFERENCES report_versions(id)  -- addenda: the version they correct
                    CONSTRAINT only_an_addendum_amends CHECK ((origin = 'addendum') = (amends IS NOT NULL)),
    image_sha256    TEXT NOT NULL DEFAULT ''  -- the image file's hash, recorded at signing
                    CONSTRAINT image_sha256_is_hex CHECK (image_sha256 = '' OR (length(image_sha256) = 64
                                                    AND image_sha256 NOT GLOB '*[^0-9a-f]*')),
    UNIQUE (study_id, version)
);
"""

#: The audit trail's rules (see the module docstring); each refusal names the rule it enforces.
REPORT_VERSION_RULES = """
CREATE TRIGGER IF NOT EXISTS report_versions_no_update BEFORE UPDATE ON report_versions
BEGIN SELECT RAISE(ABORT, 'report versions are append-only'); END;
CREATE TRIGGER IF NOT EXISTS report_versions_no_delete BEFORE DELETE ON report_versions
BEGIN SELECT RAISE(ABORT, 'report versions are append-only'); END;
CREATE TRIGGER IF NOT EXISTS report_versions_no_replace BEFORE INSERT ON report_versions
WHEN EXISTS (SELECT 1 FROM report_versions
             WHERE id = NEW.id OR (study_id = NEW.study_id AND version = NEW.version))
BEGIN SELECT RAISE(ABORT, 'report versions are append-only: a version is never replaced'); END;
CREATE TRIGGER IF NOT EXISTS report_versions_signed_is_final BEFORE INSERT ON report_versions
WHEN EXISTS (SELECT 1 FROM report_versions
             WHERE study_id = NEW.study_id AND origin IN ('signed', 'addendum'))
     AND (NEW.origin <> 'addendum'
          OR NEW.amends IS NOT (SELECT id FROM report_versions
                                WHERE study_id = NEW.study_id AND origin IN ('signed', 'addendum')
                                ORDER BY version DESC LIMIT 1))
BEGIN SELECT RAISE(ABORT, 'a signed report is final: only an addendum to its latest signed version may follow');
END;
CREATE TRIGGER IF NOT EXISTS report_versions_addendum_amends_signed BEFORE INSERT ON report_versions
WHEN NEW.origin = 'addendum' AND NOT EXISTS (
    SELECT 1 FROM report_versions WHERE study_id = NEW.study_id AND origin IN ('signed', 'addendum'))
BEGIN SELECT RAISE(ABORT, 'an addendum amends a signed report, and this study has none'); END;
"""

#: The whole schema, for a new database.
DDL = (
    """
CREATE TABLE IF NOT EXISTS meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);

CREATE TABLE IF NOT EXISTS studies (
    id         INTEGER PRIMARY KEY,
    uid        TEXT NOT NULL UNIQUE,          -- dataset/case id, StudyInstanceUID or file path
    image_path TEXT NOT NULL DEFAULT '',
    dataset    TEXT NOT NULL DEFAULT '',
    split      TEXT NOT NULL DEFAULT '',
    metadata   TEXT NOT NULL DEFAULT '{}',    -- JSON
    created_at TEXT NOT NULL
);

CREATE TABLE IF NOT EXISTS readers (
    id         INTEGER PRIMARY KEY,
    name       TEXT NOT NULL UNIQUE,
    role       TEXT NOT NULL DEFAULT '',
    created_at TEXT NOT NULL
);

CREATE TABLE IF NOT EXISTS sessions (
    id             INTEGER PRIMARY KEY,
    study_id       INTEGER REFERENCES studies(id),
    reader_id      INTEGER REFERENCES readers(id),
    source         TEXT NOT NULL DEFAULT '',  -- tobii | mouse | replay | ...
    status         TEXT NOT NULL DEFAULT 'recording'
                   CHECK (status IN ('recording', 'completed', 'interrupted', 'failed')),
    started_at     TEXT NOT NULL,             -- wall clock, ISO-8601 UTC (for people)
    ended_at       TEXT,
    geometry       TEXT NOT NULL DEFAULT '{}',-- JSON: screen size mm/px, viewing distance
    calibration    TEXT,                      -- JSON: calibration + validation result
    t0_us          INTEGER,                   -- time origin of the reading (default: first sample)
    flush_interval REAL NOT NULL DEFAULT 0.1, -- seconds between writer commits
    sample_count   INTEGER NOT NULL DEFAULT 0,
    dropped_count  INTEGER NOT NULL DEFAULT 0,
    error          TEXT NOT NULL DEFAULT '',
    pid            INTEGER,                   -- writer process, to tell dead from live sessions
    host           TEXT NOT NULL DEFAULT '',
    heartbeat      REAL,                      -- unix time of the writer's last commit
    metadata       TEXT NOT NULL DEFAULT '{}'
);
CREATE INDEX IF NOT EXISTS sessions_study ON sessions(study_id);
CREATE INDEX IF NOT EXISTS sessions_status ON sessions(status);

CREATE TABLE IF NOT EXISTS samples (
    session_id  INTEGER NOT NULL REFERENCES sessions(id) ON DELETE CASCADE,
    seq         INTEGER NOT NULL,             -- 0, 1, 2 ... in arrival order
    t_us        INTEGER NOT NULL,             -- monotonic microseconds (tracker system clock)
    x           REAL,                         -- screen pixels; NULL when invalid
    y           REAL,
    valid       INTEGER NOT NULL,
    pupil       REAL,                         -- mm; NULL when unknown
    device_t_us INTEGER NOT NULL DEFAULT 0,   -- tracker device clock (0 when none)
    PRIMARY KEY (session_id, seq)
) WITHOUT ROWID;

CREATE TABLE IF NOT EXISTS viewport_events (
    session_id INTEGER NOT NULL REFERENCES sessions(id) ON DELETE CASCADE,
    seq        INTEGER NOT NULL,
    t_us       INTEGER NOT NULL,              -- same clock as samples
    kind       TEXT NOT NULL,                 -- image | viewport | window | source | ...
    data       TEXT NOT NULL DEFAULT '{}',    -- JSON payload
    PRIMARY KEY (session_id, seq)
) WITHOUT ROWID;

CREATE TABLE IF NOT EXISTS fixations (
    session_id INTEGER NOT NULL REFERENCES sessions(id) ON DELETE CASCADE,
    method     TEXT NOT NULL,                 -- ivt | idt | online | imported
    idx        INTEGER NOT NULL,
    x          REAL NOT NULL,                 -- image pixels
    y          REAL NOT NULL,
    start      REAL NOT NULL,                 -- seconds from the session's t0
    end        REAL NOT NULL,
    pupil      REAL,
    PRIMARY KEY (session_id, method, idx)
) WITHOUT ROWID;

"""
    + REPORT_VERSIONS.format(table="report_versions")
    + REPORT_VERSION_RULES
    + """
CREATE TABLE IF NOT EXISTS annotations (
    id         INTEGER PRIMARY KEY,
    study_id   INTEGER NOT NULL REFERENCES studies(id) ON DELETE CASCADE,
    reader_id  INTEGER REFERENCES readers(id),
    label      TEXT NOT NULL,
    certainty  INTEGER NOT NULL DEFAULT 5 CHECK (certainty BETWEEN 1 AND 5),
    shape      TEXT NOT NULL CHECK (shape IN ('ellipse', 'box', 'polygon', 'point')),
    x0 REAL NOT NULL, y0 REAL NOT NULL, x1 REAL NOT NULL, y1 REAL NOT NULL,  -- image pixels
    points     TEXT NOT NULL DEFAULT '[]',    -- JSON [[x, y], ...] for polygons
    sentence   TEXT NOT NULL DEFAULT '',      -- the report sentence it is linked to
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS annotations_study ON annotations(study_id);
"""
)

#: Schema 1 → 2: ``report_versions`` gains ``ai_context``, ``amends``, ``image_sha256`` and the
#: ``addendum`` origin (a CHECK constraint, so the table is rebuilt: SQLite's documented 12 steps,
#: run by ``Store`` with foreign keys off) and the rules that make it unreplaceable and signed final.
_V1_TO_V2 = (
    REPORT_VERSIONS.format(table="report_versions_v2")
    + """
INSERT INTO report_versions_v2(id, study_id, version, text, origin, author, created_at, bundle_id,
                               scanpath_source, parent_id)
SELECT id, study_id, version, text, origin, author, created_at, bundle_id, scanpath_source, parent_id
FROM report_versions;
DROP TABLE report_versions;
ALTER TABLE report_versions_v2 RENAME TO report_versions;
"""
    + REPORT_VERSION_RULES
)

#: ``MIGRATIONS[n]``: the SQL script that takes schema ``n`` to ``n + 1``.
MIGRATIONS: dict[int, str] = {1: _V1_TO_V2}
