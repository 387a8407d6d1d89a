-- Registration with substance: each step keeps what it produced. The documents
-- exchanged (the team's forms and terms sent, the vendor's signed copies returned)
-- are kept whole with their digest; the meeting has its record; each contact's
-- OpenPGP key is confirmed by comparing its fingerprint with what the contact read
-- out by another channel.
CREATE TABLE vendor_documents (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    vendor_id     INTEGER NOT NULL REFERENCES vendors (id),
    direction     TEXT NOT NULL CHECK (direction IN ('sent', 'returned')),
    filename      TEXT NOT NULL,
    content_type  TEXT NOT NULL,
    size          INTEGER NOT NULL,
    sha256        TEXT NOT NULL,
    data          BLOB NOT NULL,
    added_by      TEXT NOT NULL,
    added_at      TEXT NOT NULL
);
CREATE INDEX vendor_documents_vendor ON vendor_documents (vendor_id);

CREATE TABLE vendor_meetings (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    vendor_id    INTEGER NOT NULL REFERENCES vendors (id),
    held_on      TEXT NOT NULL,
    attendees    TEXT NOT NULL,
    minutes      TEXT NOT NULL,
    recorded_by  TEXT NOT NULL,
    recorded_at  TEXT NOT NULL
);
CREATE INDEX vendor_meetings_vendor ON vendor_meetings (vendor_id);

ALTER TABLE vendor_contacts ADD COLUMN key_confirmed_at TEXT;
ALTER TABLE vendor_contacts ADD COLUMN key_confirmed_by TEXT NOT NULL DEFAULT '';
