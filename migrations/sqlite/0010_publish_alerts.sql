-- Alerts (注意喚起): numbered per year, written in Markdown in Japanese and English,
-- reviewed by a second coordinator before they go out. Every published text is kept
-- as a revision with its change note, which the public page lists as the history.

CREATE TABLE alerts (
    id                  INTEGER PRIMARY KEY AUTOINCREMENT,
    number              TEXT NOT NULL UNIQUE,
    year                INTEGER NOT NULL,
    seq                 INTEGER NOT NULL,
    category            TEXT NOT NULL,
    tlp                 TEXT NOT NULL,
    -- draft: being written; review: waiting for a second coordinator;
    -- published: the public sees `published_revision` (a newer draft may wait).
    status              TEXT NOT NULL,
    created_by          INTEGER NOT NULL REFERENCES users (id),
    created_at          TEXT NOT NULL,
    first_published_at  TEXT,
    published_at        TEXT,
    published_revision  INTEGER,
    UNIQUE (year, seq)
);
CREATE INDEX alerts_published ON alerts (published_at) WHERE published_revision IS NOT NULL;

CREATE TABLE alert_revisions (
    alert_id      INTEGER NOT NULL REFERENCES alerts (id),
    revision      INTEGER NOT NULL,
    title_ja      TEXT NOT NULL,
    title_en      TEXT NOT NULL,
    body_ja       TEXT NOT NULL,
    body_en       TEXT NOT NULL,
    change_ja     TEXT NOT NULL DEFAULT '',
    change_en     TEXT NOT NULL DEFAULT '',
    -- Vulnerability note IDs the alert points to, one per line.
    notes         TEXT NOT NULL DEFAULT '',
    author_id     INTEGER NOT NULL REFERENCES users (id),
    created_at    TEXT NOT NULL,
    updated_at    TEXT NOT NULL,
    reviewer_id   INTEGER REFERENCES users (id),
    published_at  TEXT,
    PRIMARY KEY (alert_id, revision)
);
