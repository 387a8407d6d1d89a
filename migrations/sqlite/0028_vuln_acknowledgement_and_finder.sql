-- A vendor added to a case reads its summary first; the details open when one of its
-- people acknowledges. Unacknowledged vendors are reminded once, then escalated to
-- the coordinators once.
ALTER TABLE case_vendors ADD COLUMN acknowledged_at TEXT;
ALTER TABLE case_vendors ADD COLUMN acknowledged_by TEXT NOT NULL DEFAULT '';
ALTER TABLE case_vendors ADD COLUMN reminded_at TEXT;
ALTER TABLE case_vendors ADD COLUMN escalated_at TEXT;
-- Vendors that had already moved past "notified" have read the details.
UPDATE case_vendors SET acknowledged_at = COALESCE(last_activity_at, notified_at), acknowledged_by = 'before acknowledgement was recorded'
WHERE stage <> 'notified';

-- What a vendor reads before acknowledging, written by the coordinators (empty: the
-- impact is said from the CWE and the CVSS score).
ALTER TABLE cases ADD COLUMN summary TEXT NOT NULL DEFAULT '';
-- How the finder chose to be credited: by name, by handle, or not at all.
ALTER TABLE cases ADD COLUMN credit_as TEXT NOT NULL DEFAULT 'name' CHECK (credit_as IN ('name', 'handle', 'anonymous'));
-- The case concerns industrial control systems: counted apart, as the seeds do.
ALTER TABLE cases ADD COLUMN control_systems INTEGER NOT NULL DEFAULT 0;
-- When the finder was told that the note is public; NULL: not yet.
ALTER TABLE cases ADD COLUMN finder_told_at TEXT;
UPDATE cases SET finder_told_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now')
WHERE id IN (SELECT case_id FROM notes WHERE publish_at <= strftime('%Y-%m-%dT%H:%M:%fZ', 'now'));

-- Files of a case: what the finder sent, what coordinators share with the vendors.
-- Kept whole with their digest; who may fetch one is decided by the case's gate.
CREATE TABLE case_files (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    case_id         INTEGER NOT NULL REFERENCES cases (id),
    -- team: coordinators only; vendors: every vendor that acknowledged.
    shared_with     TEXT NOT NULL CHECK (shared_with IN ('team', 'vendors')),
    filename        TEXT NOT NULL,
    content_type    TEXT NOT NULL,
    size            INTEGER NOT NULL,
    sha256          TEXT NOT NULL,
    data            BLOB NOT NULL,
    added_by        TEXT NOT NULL,
    added_at        TEXT NOT NULL
);
CREATE INDEX case_files_case ON case_files (case_id);
