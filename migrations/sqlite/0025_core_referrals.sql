-- no-transaction
-- Referral organizations (the police, consumer affairs centres, lawyers'
-- associations): a new kind, with the topics each takes and the region it serves.
-- SQLite cannot change a CHECK constraint in place, so the table is rebuilt as its
-- documentation prescribes (foreign keys off, copy, swap, check), in a transaction
-- of its own: the pragma has no effect inside one.
PRAGMA foreign_keys = OFF;
BEGIN;
CREATE TABLE organizations_new (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    name        TEXT NOT NULL UNIQUE,
    kind        TEXT NOT NULL CHECK (kind IN ('team', 'constituent', 'vendor', 'csirt', 'isp', 'referral')),
    country     TEXT,
    domain      TEXT,
    notes       TEXT NOT NULL DEFAULT '',
    created_at  TEXT NOT NULL,
    updated_at  TEXT NOT NULL,
    topics      TEXT NOT NULL DEFAULT '',
    region      TEXT NOT NULL DEFAULT ''
);
INSERT INTO organizations_new (id, name, kind, country, domain, notes, created_at, updated_at)
    SELECT id, name, kind, country, domain, notes, created_at, updated_at FROM organizations;
DROP TABLE organizations;
ALTER TABLE organizations_new RENAME TO organizations;
CREATE INDEX organizations_kind ON organizations (kind);

-- Which referral organizations a mail pointed someone to, for the statistics.
CREATE TABLE message_referrals (
    message_id  INTEGER NOT NULL REFERENCES messages (id),
    org_id      INTEGER NOT NULL REFERENCES organizations (id),
    created_at  TEXT NOT NULL,
    PRIMARY KEY (message_id, org_id)
);
CREATE INDEX message_referrals_at ON message_referrals (created_at);
COMMIT;
PRAGMA foreign_keys = ON;
