-- Takedowns: sites the team asked to have taken down (phishing, malware), tracked
-- requested → down → verified, with every check kept (who, when, up or down). A
-- check that finds a site up after it was down is a return: `back` marks it.
CREATE TABLE takedowns (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    incident_id   INTEGER NOT NULL REFERENCES incidents (id),
    url           TEXT NOT NULL,
    stage         TEXT NOT NULL CHECK (stage IN ('requested', 'down', 'verified')),
    requested_at  TEXT NOT NULL,
    requested_by  TEXT NOT NULL,
    down_at       TEXT,
    verified_at   TEXT,
    returns       INTEGER NOT NULL DEFAULT 0,
    updated_at    TEXT NOT NULL
);
CREATE INDEX takedowns_incident ON takedowns (incident_id);
CREATE INDEX takedowns_requested ON takedowns (requested_at);

CREATE TABLE takedown_checks (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    takedown_id  INTEGER NOT NULL REFERENCES takedowns (id),
    checked_at   TEXT NOT NULL,
    checked_by   TEXT NOT NULL,
    result       TEXT NOT NULL CHECK (result IN ('up', 'down')),
    note         TEXT NOT NULL DEFAULT '',
    back         INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX takedown_checks_takedown ON takedown_checks (takedown_id, checked_at);
CREATE INDEX takedown_checks_at ON takedown_checks (checked_at);
