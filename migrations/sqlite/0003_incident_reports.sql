-- Incident handling: reports as received (raw bytes first, parsed after), their
-- attachments and correspondence, and the incidents they yield (one per source address).

CREATE TABLE reports (
    id                  INTEGER PRIMARY KEY AUTOINCREMENT,
    received_at         TEXT NOT NULL,
    channel             TEXT NOT NULL,
    format              TEXT NOT NULL,
    raw                 BLOB NOT NULL,
    raw_sha256          TEXT NOT NULL,
    raw_size            INTEGER NOT NULL,
    status              TEXT NOT NULL DEFAULT 'received',
    problem             TEXT,
    tlp                 TEXT NOT NULL DEFAULT 'TLP:AMBER',
    reporter_name       TEXT,
    reporter_email      TEXT,
    reporter_phone      TEXT,
    reporter_org        TEXT,
    reporter_tld        TEXT,
    site_org            TEXT,
    site_url            TEXT,
    subject             TEXT,
    body                TEXT NOT NULL DEFAULT '',
    occurred_at         TEXT,
    external_id         TEXT,
    message_id          TEXT,
    proposed_category   TEXT,
    proposed_reasons    TEXT NOT NULL DEFAULT '[]',
    category            TEXT,
    category_by         INTEGER REFERENCES users (id),
    category_at         TEXT,
    rsit_class          TEXT,
    rsit_type           TEXT,
    scanned_ports       TEXT NOT NULL DEFAULT '[]',
    comprehensive_scan  INTEGER NOT NULL DEFAULT 0,
    indicators          TEXT NOT NULL DEFAULT '{}',
    warnings            TEXT NOT NULL DEFAULT '[]',
    submitted_by        INTEGER REFERENCES users (id),
    thread_of           INTEGER REFERENCES reports (id)
);
CREATE INDEX reports_received ON reports (received_at);
CREATE INDEX reports_category ON reports (category);
CREATE INDEX reports_message_id ON reports (message_id);

CREATE TABLE report_attachments (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    report_id     INTEGER NOT NULL REFERENCES reports (id),
    filename      TEXT,
    content_type  TEXT NOT NULL,
    size          INTEGER NOT NULL,
    truncated     INTEGER NOT NULL DEFAULT 0,
    sha256        TEXT NOT NULL,
    data          BLOB NOT NULL
);
CREATE INDEX report_attachments_report ON report_attachments (report_id);

CREATE TABLE report_messages (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    report_id       INTEGER NOT NULL REFERENCES reports (id),
    direction       TEXT NOT NULL CHECK (direction IN ('in', 'out', 'note')),
    author_user_id  INTEGER REFERENCES users (id),
    author          TEXT NOT NULL,
    subject         TEXT,
    body            TEXT NOT NULL,
    raw             BLOB,
    created_at      TEXT NOT NULL
);
CREATE INDEX report_messages_report ON report_messages (report_id);

CREATE TABLE incidents (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    report_id    INTEGER NOT NULL REFERENCES reports (id),
    source_ip    TEXT,
    source_host  TEXT,
    state        TEXT NOT NULL DEFAULT 'new',
    owner_id     INTEGER REFERENCES users (id),
    tlp          TEXT NOT NULL,
    category     TEXT,
    created_at   TEXT NOT NULL,
    updated_at   TEXT NOT NULL
);
CREATE INDEX incidents_report ON incidents (report_id);
CREATE INDEX incidents_source ON incidents (source_ip, created_at);
CREATE INDEX incidents_state ON incidents (state);

CREATE TABLE incident_links (
    incident_id  INTEGER NOT NULL REFERENCES incidents (id),
    linked_id    INTEGER NOT NULL REFERENCES incidents (id),
    reason       TEXT NOT NULL,
    PRIMARY KEY (incident_id, linked_id)
);
