-- Conversations: every mail in and out and every coordinator's note, kept by the mail
-- layer for all the pillars. A message belongs to one or more threads, each named by
-- its owner (a report, an incident, a case…) as a kind and an id, so that no pillar
-- reads another's tables. The report threads kept so far move here.

CREATE TABLE messages (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    direction       TEXT NOT NULL CHECK (direction IN ('in', 'out', 'note')),
    author_user_id  INTEGER REFERENCES users (id),
    author          TEXT NOT NULL,
    mail_from       TEXT,
    -- Addresses as written, comma-separated.
    mail_to         TEXT NOT NULL DEFAULT '',
    mail_cc         TEXT NOT NULL DEFAULT '',
    subject         TEXT,
    body            TEXT NOT NULL,
    -- The template a coordinator started from.
    template        TEXT,
    -- The Message-ID, of a mail that came in or of one that went out.
    message_id      TEXT,
    in_reply_to     TEXT,
    -- A mail that went out: its row in the outbox says how delivery went.
    outbox_id       INTEGER REFERENCES outbox (id),
    signed          INTEGER NOT NULL DEFAULT 0,
    encrypted       INTEGER NOT NULL DEFAULT 0,
    -- A signed mail that came in: whether its signature verified against the key on
    -- file ('valid', 'invalid', 'no_key').
    signature       TEXT,
    -- A mail that came in and asked for a look: a ticket tag from someone who is
    -- not part of the conversation, say.
    flag            TEXT,
    -- Shown to the reporter on the status page.
    shared          INTEGER NOT NULL DEFAULT 0,
    -- A question: the thread waits for an answer.
    expects_reply   INTEGER NOT NULL DEFAULT 0,
    -- Sent automatically (confirmations, auto-replies that came in).
    automatic       INTEGER NOT NULL DEFAULT 0,
    raw             BLOB,
    created_at      TEXT NOT NULL
);
CREATE INDEX messages_message_id ON messages (message_id);

CREATE TABLE message_threads (
    message_id  INTEGER NOT NULL REFERENCES messages (id),
    owner_kind  TEXT NOT NULL,
    owner_id    INTEGER NOT NULL,
    PRIMARY KEY (owner_kind, owner_id, message_id)
);
CREATE INDEX message_threads_message ON message_threads (message_id);

-- Who takes part in a thread (the reporter, everyone written to), so that a reply
-- from them can find it, and a stranger quoting a ticket tag cannot join it.
CREATE TABLE thread_parties (
    owner_kind  TEXT NOT NULL,
    owner_id    INTEGER NOT NULL,
    address     TEXT NOT NULL,
    role        TEXT NOT NULL,
    last_at     TEXT NOT NULL,
    PRIMARY KEY (owner_kind, owner_id, address)
);
CREATE INDEX thread_parties_address ON thread_parties (address, last_at);

INSERT INTO messages (id, direction, author_user_id, author, subject, body, raw, created_at)
    SELECT id, direction, author_user_id, author, subject, body, raw, created_at FROM report_messages;
INSERT INTO message_threads (message_id, owner_kind, owner_id)
    SELECT id, 'report', report_id FROM report_messages;
INSERT INTO thread_parties (owner_kind, owner_id, address, role, last_at)
    SELECT 'report', id, lower(reporter_email), 'reporter', received_at FROM reports
    WHERE reporter_email IS NOT NULL AND reporter_email <> '' AND thread_of IS NULL;
INSERT INTO thread_parties (owner_kind, owner_id, address, role, last_at)
    SELECT 'notification', id, lower(recipient), 'to', created_at FROM notifications;
DROP TABLE report_messages;

-- Copies to more than the one recipient.
ALTER TABLE outbox ADD COLUMN mail_cc TEXT NOT NULL DEFAULT '';

-- A reply came that the owner has not answered or looked at yet.
ALTER TABLE incidents ADD COLUMN reply_at TEXT;
ALTER TABLE reports ADD COLUMN reply_at TEXT;
-- Why a report needs a look before anything else: 'unknown_sender' for a mail that
-- carried the ticket tag of a conversation its sender has no part in.
ALTER TABLE reports ADD COLUMN flag TEXT;
