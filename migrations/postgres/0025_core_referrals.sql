-- Referral organizations (the police, consumer affairs centres, lawyers'
-- associations): a new kind, with the topics each takes and the region it serves.
ALTER TABLE organizations DROP CONSTRAINT organizations_kind_check;
ALTER TABLE organizations ADD CONSTRAINT organizations_kind_check
    CHECK (kind IN ('team', 'constituent', 'vendor', 'csirt', 'isp', 'referral'));
ALTER TABLE organizations ADD COLUMN topics TEXT NOT NULL DEFAULT '';
ALTER TABLE organizations ADD COLUMN region TEXT NOT NULL DEFAULT '';
CREATE INDEX organizations_kind ON organizations (kind);

-- Which referral organizations a mail pointed someone to, for the statistics.
CREATE TABLE message_referrals (
    message_id  BIGINT NOT NULL REFERENCES messages (id),
    org_id      BIGINT NOT NULL REFERENCES organizations (id),
    created_at  TEXT NOT NULL,
    PRIMARY KEY (message_id, org_id)
);
CREATE INDEX message_referrals_at ON message_referrals (created_at);
