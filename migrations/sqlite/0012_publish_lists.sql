-- Mailing lists: subscribers confirm by mail (double opt-in) and leave with one
-- click (RFC 8058); each send of an alert or weekly report to a list is one row
-- per subscriber, so a send resumes after a crash where it stopped.

CREATE TABLE mailing_lists (
    id        INTEGER PRIMARY KEY AUTOINCREMENT,
    slug      TEXT NOT NULL UNIQUE,
    name_ja   TEXT NOT NULL,
    name_en   TEXT NOT NULL,
    created_at TEXT NOT NULL
);
INSERT INTO mailing_lists (slug, name_ja, name_en, created_at) VALUES
    ('alerts', '注意喚起', 'Alerts', '2026-01-01T00:00:00.000000Z'),
    ('weekly', '週報', 'Weekly report', '2026-01-01T00:00:00.000000Z');

CREATE TABLE subscribers (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    list_id       INTEGER NOT NULL REFERENCES mailing_lists (id),
    email         TEXT NOT NULL,
    email_key     TEXT NOT NULL,
    lang          TEXT NOT NULL,
    -- pending (not confirmed yet), active, left (unsubscribed), removed (bounces)
    status        TEXT NOT NULL,
    token         TEXT NOT NULL UNIQUE,
    created_at    TEXT NOT NULL,
    confirmed_at  TEXT,
    left_at       TEXT,
    bounces       INTEGER NOT NULL DEFAULT 0,
    UNIQUE (list_id, email_key)
);
CREATE INDEX subscribers_active ON subscribers (list_id, status);

CREATE TABLE list_sends (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    list_id      INTEGER NOT NULL REFERENCES mailing_lists (id),
    object_type  TEXT NOT NULL,
    object_id    TEXT NOT NULL,
    revision     INTEGER NOT NULL,
    subject_ja   TEXT NOT NULL,
    subject_en   TEXT NOT NULL,
    body_ja      TEXT NOT NULL,
    body_en      TEXT NOT NULL,
    created_by   INTEGER NOT NULL REFERENCES users (id),
    created_at   TEXT NOT NULL,
    total        INTEGER NOT NULL,
    finished_at  TEXT,
    UNIQUE (list_id, object_type, object_id, revision)
);

CREATE TABLE list_deliveries (
    send_id        INTEGER NOT NULL REFERENCES list_sends (id),
    subscriber_id  INTEGER NOT NULL REFERENCES subscribers (id),
    -- queued, sending (claimed until lease_until), sent, failed
    status         TEXT NOT NULL,
    lease_until    TEXT,
    attempts       INTEGER NOT NULL DEFAULT 0,
    last_error     TEXT,
    sent_at        TEXT,
    PRIMARY KEY (send_id, subscriber_id)
);
CREATE INDEX list_deliveries_due ON list_deliveries (status, send_id);
