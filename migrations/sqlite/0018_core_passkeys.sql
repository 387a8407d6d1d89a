-- Security keys and passkeys (WebAuthn) as a second factor beside the authenticator
-- app. A credential as the authenticator made it (its public key and flags, in
-- webauthn_rp's own encoding, hex), what changes at each use (the signature
-- counter), and the name its owner gave it.
CREATE TABLE passkeys (
    id             INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id        INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    credential_id  TEXT NOT NULL UNIQUE,
    user_handle    TEXT NOT NULL,
    name           TEXT NOT NULL,
    static_state   TEXT NOT NULL,
    dynamic_state  TEXT NOT NULL,
    transports     INTEGER NOT NULL,
    created_at     TEXT NOT NULL,
    last_used_at   TEXT
);
CREATE INDEX passkeys_user ON passkeys (user_id);

-- A registration between the options sent to the browser and its answer, one per
-- account, in the database so that any node may finish it.
CREATE TABLE passkey_registrations (
    user_id     INTEGER PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    name        TEXT NOT NULL,
    state       TEXT NOT NULL,
    expires_at  TEXT NOT NULL
);

-- The sign-in challenge holds the WebAuthn request it sent, when the account has
-- a security key.
ALTER TABLE login_challenges ADD COLUMN passkey_state TEXT;
