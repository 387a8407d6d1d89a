-- A copy of a whole store under way into this database (renkei store copy): which
-- source, and the source's audit head when it began. A copy that stopped resumes
-- only from the same, unchanged source; the row goes when the copy is complete.
CREATE TABLE store_copy (
    id           BIGINT PRIMARY KEY CHECK (id = 1),
    source       TEXT NOT NULL,
    source_head  TEXT NOT NULL,
    started_at   TEXT NOT NULL
);
