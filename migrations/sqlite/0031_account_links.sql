-- One-time links that let a person set their account's password: the welcome link
-- sent when an account is made for them (a vendor's contacts on registration).
-- Only the digest of the secret is kept.
CREATE TABLE account_links (
    token_hash  TEXT PRIMARY KEY,
    user_id     INTEGER NOT NULL REFERENCES users (id),
    purpose     TEXT NOT NULL CHECK (purpose IN ('welcome')),
    created_at  TEXT NOT NULL,
    expires_at  TEXT NOT NULL,
    used_at     TEXT
);
CREATE INDEX account_links_user ON account_links (user_id);
