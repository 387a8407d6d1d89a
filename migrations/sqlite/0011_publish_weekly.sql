-- The weekly report: one per issue date (a weekday that is not a holiday), its
-- items (from alerts, vulnerability notes or outside news) and a one-point memo;
-- numbered when published. Holidays a team loads itself sit beside the built-in
-- calendar.

CREATE TABLE weekly_reports (
    id             INTEGER PRIMARY KEY AUTOINCREMENT,
    issue_date     TEXT NOT NULL UNIQUE,
    number         INTEGER UNIQUE,
    status         TEXT NOT NULL,
    memo_title_ja  TEXT NOT NULL DEFAULT '',
    memo_title_en  TEXT NOT NULL DEFAULT '',
    memo_ja        TEXT NOT NULL DEFAULT '',
    memo_en        TEXT NOT NULL DEFAULT '',
    created_by     INTEGER NOT NULL REFERENCES users (id),
    created_at     TEXT NOT NULL,
    updated_at     TEXT NOT NULL,
    published_by   INTEGER REFERENCES users (id),
    published_at   TEXT
);

CREATE TABLE weekly_items (
    report_id   INTEGER NOT NULL REFERENCES weekly_reports (id),
    position    INTEGER NOT NULL,
    kind        TEXT NOT NULL,
    ref         TEXT NOT NULL DEFAULT '',
    title_ja    TEXT NOT NULL,
    title_en    TEXT NOT NULL,
    summary_ja  TEXT NOT NULL DEFAULT '',
    summary_en  TEXT NOT NULL DEFAULT '',
    url         TEXT NOT NULL DEFAULT '',
    PRIMARY KEY (report_id, position)
);

CREATE TABLE holidays (
    day     TEXT PRIMARY KEY,
    name    TEXT NOT NULL,
    loaded_at TEXT NOT NULL
);
