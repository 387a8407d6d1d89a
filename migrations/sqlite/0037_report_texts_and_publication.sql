-- The explanations the quarterly report prints beside its tables (what a scan
-- is, what the reader should do), edited by the team once and used for every
-- quarter; a key without a row prints the catalog's default text.
CREATE TABLE report_texts (
    key         TEXT PRIMARY KEY,
    text_ja     TEXT NOT NULL,
    text_en     TEXT NOT NULL,
    updated_by  INTEGER NOT NULL REFERENCES users (id),
    updated_at  TEXT NOT NULL
);

-- A quarter's report as published: frozen at that moment in both languages, HTML
-- and PDF, so that the public copy never changes under its readers. A correction
-- is a new revision with its change note, as alerts are.
CREATE TABLE report_publications (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    quarter       TEXT NOT NULL,
    revision      INTEGER NOT NULL,
    published_at  TEXT NOT NULL,
    published_by  INTEGER NOT NULL REFERENCES users (id),
    change_note   TEXT NOT NULL DEFAULT '',
    title_ja      TEXT NOT NULL,
    title_en      TEXT NOT NULL,
    html_ja       TEXT NOT NULL,
    html_en       TEXT NOT NULL,
    pdf_ja        BLOB NOT NULL,
    pdf_en        BLOB NOT NULL,
    UNIQUE (quarter, revision)
);
CREATE INDEX report_publications_published ON report_publications (published_at);

-- Notifications count in the period their mail went out.
CREATE INDEX outbox_sent ON outbox (sent_at) WHERE status = 'sent';
