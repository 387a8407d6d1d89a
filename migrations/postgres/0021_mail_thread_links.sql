-- Secret links to one thread (the reporter's status page): only the digest of the
-- secret is kept; a link expires, and revoking it ends it at once.
CREATE TABLE thread_links (
    token_hash  TEXT PRIMARY KEY,
    owner_kind  TEXT NOT NULL,
    owner_id    BIGINT NOT NULL,
    created_at  TEXT NOT NULL,
    expires_at  TEXT NOT NULL,
    revoked_at  TEXT
);
CREATE INDEX thread_links_owner ON thread_links (owner_kind, owner_id);
