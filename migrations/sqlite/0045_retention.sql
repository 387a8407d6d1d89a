-- Retention: when a report's raw bytes were removed under the team's retention
-- policy (the report, its text and its counts stay), and each run of the daily
-- retention job with what it removed, kind by kind, for the operations page.
ALTER TABLE reports ADD COLUMN raw_discarded_at TEXT;

CREATE TABLE retention_runs (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    node         TEXT NOT NULL,
    started_at   TEXT NOT NULL,
    finished_at  TEXT,
    -- {"raw_reports": 12, "feed_events": 4000000, …}: what went, kind by kind.
    removed      TEXT NOT NULL DEFAULT '{}',
    error        TEXT
);
CREATE INDEX retention_runs_started ON retention_runs (started_at);
