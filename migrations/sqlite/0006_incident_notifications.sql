-- Enrichment kept with each incident (what was used then, not what the tables say now),
-- notifications to the sites involved, the mail templates operators edit, bulk feed
-- events (per recipient and day) and their counts, and outgoing mail built whole at queue time (attachments, OpenPGP).

ALTER TABLE incidents ADD COLUMN enrichment TEXT;
ALTER TABLE incidents ADD COLUMN asn INTEGER;
ALTER TABLE incidents ADD COLUMN country TEXT;
ALTER TABLE incidents ADD COLUMN enriched_at TEXT;
CREATE INDEX incidents_country ON incidents (country);

ALTER TABLE outbox ADD COLUMN raw BLOB;
ALTER TABLE outbox ADD COLUMN archive_seen_at TEXT;
CREATE INDEX outbox_message_id ON outbox (message_id);

CREATE TABLE notifications (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    created_at      TEXT NOT NULL,
    created_by      TEXT NOT NULL,
    recipient       TEXT NOT NULL,
    recipient_name  TEXT,
    recipient_kind  TEXT NOT NULL CHECK (recipient_kind IN ('abuse', 'csirt', 'manual')),
    country         TEXT,
    lang            TEXT NOT NULL,
    category        TEXT,
    tlp             TEXT NOT NULL,
    subject         TEXT NOT NULL,
    addresses       INTEGER NOT NULL,
    signed          INTEGER NOT NULL DEFAULT 0,
    encrypted       INTEGER NOT NULL DEFAULT 0,
    feed            TEXT,
    feed_day        TEXT,
    outbox_id       INTEGER REFERENCES outbox (id)
);
CREATE INDEX notifications_created ON notifications (created_at);
CREATE INDEX notifications_recipient ON notifications (recipient);
CREATE UNIQUE INDEX notifications_feed_day ON notifications (feed, feed_day, recipient);

CREATE TABLE notification_incidents (
    notification_id  INTEGER NOT NULL REFERENCES notifications (id),
    incident_id      INTEGER NOT NULL REFERENCES incidents (id),
    PRIMARY KEY (notification_id, incident_id)
);
CREATE INDEX notification_incidents_incident ON notification_incidents (incident_id);

CREATE TABLE mail_templates (
    name        TEXT NOT NULL,
    lang        TEXT NOT NULL,
    subject     TEXT NOT NULL,
    body        TEXT NOT NULL,
    updated_at  TEXT NOT NULL,
    updated_by  TEXT NOT NULL,
    PRIMARY KEY (name, lang)
);

-- Bulk feed events, kept per recipient and day (the rows of the feed, compressed CSV:
-- feeds run to millions of rows a day, no ticket per row) and counted for statistics.
CREATE TABLE feed_batches (
    id               INTEGER PRIMARY KEY AUTOINCREMENT,
    report_id        INTEGER NOT NULL REFERENCES reports (id),
    feed             TEXT NOT NULL,
    day              TEXT NOT NULL,
    recipient        TEXT,
    notification_id  INTEGER REFERENCES notifications (id),
    events           INTEGER NOT NULL,
    data             BLOB NOT NULL
);
CREATE INDEX feed_batches_day ON feed_batches (day, feed);
CREATE INDEX feed_batches_recipient ON feed_batches (recipient, day);

CREATE TABLE feed_counts (
    report_id   INTEGER NOT NULL REFERENCES reports (id),
    feed        TEXT NOT NULL,
    day         TEXT NOT NULL,
    category    TEXT NOT NULL,
    event_type  TEXT NOT NULL,
    country     TEXT,
    events      INTEGER NOT NULL
);
CREATE INDEX feed_counts_day ON feed_counts (day, feed);
