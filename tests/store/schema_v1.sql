-- The project database as schema 1 wrote it (kept verbatim: the upgrade test builds a database from it).
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

CREATE TABLE IF NOT EXISTS report_versions (
    id              INTEGER PRIMARY KEY,
    study_id        INTEGER NOT NULL REFERENCES studies(id),
    version         INTEGER NOT NULL,         -- 1, 2, ... per study
    text            TEXT NOT NULL,
    origin          TEXT NOT NULL CHECK (origin IN ('model', 'human', 'signed')),
    author          TEXT NOT NULL DEFAULT '', -- reader name or model bundle name
    created_at      TEXT NOT NULL,
    bundle_id       TEXT NOT NULL DEFAULT '', -- model drafts: which bundle wrote it
    scanpath_source TEXT NOT NULL DEFAULT '', -- model drafts: recorded | simulated | predicted
    parent_id       INTEGER REFERENCES report_versions(id),
    UNIQUE (study_id, version)
);
CREATE TRIGGER IF NOT EXISTS report_versions_no_update BEFORE UPDATE ON report_versions
BEGIN SELECT RAISE(ABORT, 'report versions are append-only'); END;
CREATE TRIGGER IF NOT EXISTS report_versions_no_delete BEFORE DELETE ON report_versions
BEGIN SELECT RAISE(ABORT, 'report versions are append-only'); END;

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
