-- Partner coordinators taking part in a case, each with its own tracking ID for it
-- (VU#123456) and its own thread with the team.
CREATE TABLE case_partners (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    case_id         INTEGER NOT NULL REFERENCES cases (id),
    org_id          INTEGER NOT NULL REFERENCES organizations (id),
    tracking_id     TEXT NOT NULL DEFAULT '',
    added_at        TEXT NOT NULL,
    added_by        TEXT NOT NULL,
    UNIQUE (case_id, org_id)
);
CREATE INDEX case_partners_org ON case_partners (org_id);

-- A message in a partner's thread names the partner; NULL: a vendor's thread or an
-- internal note, as before.
ALTER TABLE case_messages ADD COLUMN case_partner_id INTEGER REFERENCES case_partners (id);
