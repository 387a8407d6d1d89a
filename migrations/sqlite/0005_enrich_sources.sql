-- Enrichment tables as loaded (compressed files, one row per file), and the state of
-- contacts whose mail bounced.

CREATE TABLE enrich_sources (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    kind       TEXT NOT NULL,
    format     TEXT NOT NULL,
    file_name  TEXT NOT NULL,
    data       BLOB NOT NULL,
    sha256     TEXT NOT NULL,
    size       INTEGER NOT NULL,
    loaded_at  TEXT NOT NULL,
    loaded_by  TEXT NOT NULL
);
CREATE INDEX enrich_sources_kind ON enrich_sources (kind, format);

CREATE TABLE contact_status (
    email            TEXT PRIMARY KEY,
    failing          INTEGER NOT NULL DEFAULT 0,
    failures         INTEGER NOT NULL DEFAULT 0,
    first_failed_at  TEXT,
    last_failed_at   TEXT,
    last_status      TEXT,
    last_diagnostic  TEXT
);
