-- Early warning: a restricted alert (any TLP but CLEAR) addressed to named
-- organizations. Each recipient organization reads it in the portal and gets it by
-- mail, encrypted to its contacts' keys; receipts say who read and acknowledged it.

-- A published alert's TLP changes when its next revision is published, not while
-- that revision is still a draft: lowering it must not expose the text early.
ALTER TABLE alerts ADD COLUMN next_tlp TEXT;

CREATE TABLE alert_recipients (
    alert_id  INTEGER NOT NULL REFERENCES alerts (id),
    org_id    INTEGER NOT NULL REFERENCES organizations (id),
    added_by  INTEGER NOT NULL REFERENCES users (id),
    added_at  TEXT NOT NULL,
    PRIMARY KEY (alert_id, org_id)
);
CREATE INDEX alert_recipients_org ON alert_recipients (org_id);

-- One message per contact per published revision.
CREATE TABLE alert_deliveries (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    alert_id      INTEGER NOT NULL REFERENCES alerts (id),
    revision      INTEGER NOT NULL,
    org_id        INTEGER NOT NULL REFERENCES organizations (id),
    email         TEXT NOT NULL,
    lang          TEXT NOT NULL,
    -- 1: the text went encrypted; 0: only a notice that it waits in the portal.
    encrypted     INTEGER NOT NULL,
    outbox_id     INTEGER REFERENCES outbox (id),
    -- SHA-256 of the token in the message's receipt link.
    receipt_hash  TEXT NOT NULL UNIQUE,
    created_at    TEXT NOT NULL,
    UNIQUE (alert_id, revision, org_id, email)
);
CREATE INDEX alert_deliveries_alert ON alert_deliveries (alert_id, org_id);

-- read: first opened in the portal; acknowledged: confirmed by a person, in the
-- portal or by the link in the mail.
CREATE TABLE alert_receipts (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    alert_id    INTEGER NOT NULL REFERENCES alerts (id),
    revision    INTEGER NOT NULL,
    org_id      INTEGER NOT NULL REFERENCES organizations (id),
    kind        TEXT NOT NULL CHECK (kind IN ('read', 'acknowledged')),
    via         TEXT NOT NULL CHECK (via IN ('portal', 'mail')),
    who         TEXT NOT NULL,
    at          TEXT NOT NULL,
    UNIQUE (alert_id, revision, org_id, kind, who)
);
CREATE INDEX alert_receipts_alert ON alert_receipts (alert_id, org_id);
