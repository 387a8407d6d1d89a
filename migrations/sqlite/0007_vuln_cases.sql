-- Vulnerability coordination: the product-developer registry (vendors, their contacts,
-- products and the registration terms they agreed to), confidential cases with the
-- vendors added to them, each vendor's progress and per-product status, the threads,
-- and the public vulnerability notes with their revisions.

CREATE TABLE vendor_terms (
    version     TEXT PRIMARY KEY,
    body        TEXT NOT NULL,
    created_at  TEXT NOT NULL
);

CREATE TABLE vendors (
    id                INTEGER PRIMARY KEY AUTOINCREMENT,
    org_id            INTEGER NOT NULL UNIQUE REFERENCES organizations (id),
    state             TEXT NOT NULL CHECK (state IN ('applied', 'documents_sent', 'documents_returned', 'meeting_held', 'terms_agreed', 'registered', 'suspended', 'withdrawn')),
    languages         TEXT NOT NULL,
    by_mail           INTEGER NOT NULL DEFAULT 0,
    terms_version     TEXT REFERENCES vendor_terms (version),
    application       TEXT NOT NULL,
    applied_at        TEXT NOT NULL,
    registered_at     TEXT,
    state_changed_at  TEXT NOT NULL
);
CREATE INDEX vendors_state ON vendors (state);

CREATE TABLE vendor_contacts (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    vendor_id       INTEGER NOT NULL REFERENCES vendors (id),
    name            TEXT NOT NULL,
    email           TEXT NOT NULL,
    pgp_key         TEXT,
    key_fingerprint TEXT,
    key_expires_at  TEXT,
    created_at      TEXT NOT NULL,
    UNIQUE (vendor_id, email)
);

CREATE TABLE vendor_products (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    vendor_id   INTEGER NOT NULL REFERENCES vendors (id),
    name        TEXT NOT NULL,
    cpe         TEXT,
    purl        TEXT,
    created_at  TEXT NOT NULL,
    UNIQUE (vendor_id, name)
);

CREATE TABLE cases (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    case_key        TEXT NOT NULL UNIQUE,
    state           TEXT NOT NULL CHECK (state IN ('draft', 'open', 'scheduled', 'closed')),
    series          TEXT NOT NULL CHECK (series IN ('domestic', 'overseas', 'technical')),
    source          TEXT NOT NULL CHECK (source IN ('finder', 'coordinator', 'csaf', 'cve5')),
    tlp             TEXT NOT NULL,
    title           TEXT NOT NULL,
    description     TEXT NOT NULL,
    affected        TEXT NOT NULL,
    cvss_vector     TEXT,
    cvss_score      REAL,
    cwe             TEXT,
    cve             TEXT,
    credit          TEXT NOT NULL,
    reporter_name   TEXT NOT NULL,
    reporter_email  TEXT NOT NULL,
    note_text       TEXT NOT NULL,
    refs            TEXT NOT NULL,
    raw             TEXT NOT NULL,
    proposed_at     TEXT,
    proposed_tz     TEXT,
    received_at     TEXT NOT NULL,
    created_at      TEXT NOT NULL,
    updated_at      TEXT NOT NULL
);
CREATE INDEX cases_state ON cases (state);

CREATE TABLE case_vendors (
    id                  INTEGER PRIMARY KEY AUTOINCREMENT,
    case_id             INTEGER NOT NULL REFERENCES cases (id),
    vendor_id           INTEGER NOT NULL REFERENCES vendors (id),
    stage               TEXT NOT NULL CHECK (stage IN ('notified', 'acknowledged', 'investigating', 'date_agreed', 'fix_ready', 'published')),
    unreachable         INTEGER NOT NULL DEFAULT 0,
    date_answer         TEXT NOT NULL DEFAULT '',
    requested_date      TEXT,
    statement_ja        TEXT NOT NULL DEFAULT '',
    statement_en        TEXT NOT NULL DEFAULT '',
    notified_at         TEXT NOT NULL,
    last_activity_at    TEXT,
    UNIQUE (case_id, vendor_id)
);

CREATE TABLE case_products (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    case_id         INTEGER NOT NULL REFERENCES cases (id),
    case_vendor_id  INTEGER NOT NULL REFERENCES case_vendors (id),
    name            TEXT NOT NULL,
    cpe             TEXT,
    purl            TEXT,
    status          TEXT NOT NULL CHECK (status IN ('vulnerable', 'not_vulnerable', 'unknown', 'investigating_likely_vulnerable', 'investigating_likely_not_vulnerable')),
    fixed_in        TEXT,
    updated_at      TEXT NOT NULL,
    UNIQUE (case_vendor_id, name)
);

CREATE TABLE case_messages (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    case_id         INTEGER NOT NULL REFERENCES cases (id),
    case_vendor_id  INTEGER REFERENCES case_vendors (id),
    author          TEXT NOT NULL,
    author_user_id  INTEGER,
    from_vendor     INTEGER NOT NULL DEFAULT 0,
    body            TEXT NOT NULL,
    created_at      TEXT NOT NULL
);
CREATE INDEX case_messages_case ON case_messages (case_id, case_vendor_id);

CREATE TABLE notes (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    case_id     INTEGER NOT NULL UNIQUE REFERENCES cases (id),
    note_key    TEXT NOT NULL UNIQUE,
    series      TEXT NOT NULL,
    publish_at  TEXT NOT NULL,
    created_at  TEXT NOT NULL
);
CREATE INDEX notes_publish_at ON notes (publish_at);

CREATE TABLE note_revisions (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    note_id     INTEGER NOT NULL REFERENCES notes (id),
    revision    INTEGER NOT NULL,
    summary     TEXT NOT NULL,
    content     TEXT NOT NULL,
    created_at  TEXT NOT NULL,
    UNIQUE (note_id, revision)
);
