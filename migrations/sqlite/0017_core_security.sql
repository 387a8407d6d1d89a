-- Security II: API tokens carry scopes and may expire; sessions remember where they
-- were opened, so that their owner can list and end them; a report whose processing
-- failed is retried once before it is set aside for review.

ALTER TABLE api_tokens ADD COLUMN scopes TEXT NOT NULL DEFAULT 'read write';
ALTER TABLE api_tokens ADD COLUMN expires_at TEXT;

-- Tokens issued before scopes existed keep doing what their account did.
UPDATE api_tokens SET scopes = 'sensor'
 WHERE user_id IN (SELECT id FROM users WHERE role = 'sensor');
UPDATE api_tokens SET scopes = 'read write feed metrics'
 WHERE user_id IN (SELECT id FROM users WHERE role = 'coordinator');
UPDATE api_tokens SET scopes = 'read write feed sensor metrics admin'
 WHERE user_id IN (SELECT id FROM users WHERE role = 'admin');

ALTER TABLE sessions ADD COLUMN client TEXT NOT NULL DEFAULT '';
ALTER TABLE sessions ADD COLUMN user_agent TEXT NOT NULL DEFAULT '';

ALTER TABLE reports ADD COLUMN process_attempts INTEGER NOT NULL DEFAULT 0;
CREATE INDEX reports_waiting ON reports (status, received_at);

-- A second factor per account: an authenticator app's TOTP secret (confirmed once the
-- person typed a code from it), the last time step used (a code works once), and
-- single-use recovery codes, stored as digests.
CREATE TABLE second_factors (
    user_id       INTEGER PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    totp_secret   TEXT NOT NULL,
    last_step     BIGINT NOT NULL DEFAULT 0,
    created_at    TEXT NOT NULL,
    confirmed_at  TEXT
);

CREATE TABLE recovery_codes (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id     INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    code_hash   TEXT NOT NULL,
    used_at     TEXT
);
CREATE INDEX recovery_codes_user ON recovery_codes (user_id);

-- Between a right password and a session on an account with a second factor.
CREATE TABLE login_challenges (
    token_hash  TEXT PRIMARY KEY,
    user_id     INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at  TEXT NOT NULL,
    expires_at  TEXT NOT NULL,
    attempts    INTEGER NOT NULL DEFAULT 0
);

-- How a session was opened: a password, a password and a second factor, or the
-- organization's OpenID Connect provider.
ALTER TABLE sessions ADD COLUMN method TEXT NOT NULL DEFAULT 'password';

-- A sign-in through the OpenID Connect provider between leaving and coming back:
-- the state the browser carries, and what only the server may know (the PKCE
-- verifier, the nonce).
CREATE TABLE sso_logins (
    state_hash  TEXT PRIMARY KEY,
    verifier    TEXT NOT NULL,
    nonce       TEXT NOT NULL,
    next        TEXT NOT NULL,
    expires_at  TEXT NOT NULL
);
