-- A coordinator's own saved views of the queue: a name and the query it stands
-- for (the same filters the queue's address carries).
CREATE TABLE queue_views (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id     INTEGER NOT NULL REFERENCES users (id),
    name        TEXT NOT NULL,
    query       TEXT NOT NULL,
    created_at  TEXT NOT NULL,
    UNIQUE (user_id, name)
);

-- What the dashboard and the queue's views ask of every open incident: whose it
-- is, whether a reply waits, how long since it changed.
CREATE INDEX incidents_owner ON incidents (owner_id, state);
CREATE INDEX incidents_reply ON incidents (reply_at) WHERE reply_at IS NOT NULL;
CREATE INDEX incidents_updated ON incidents (updated_at);
