-- The topics of a quarterly activity report: paragraphs the coordinators write
-- before the report is generated, in Japanese and English, in order.

CREATE TABLE report_topics (
    quarter     TEXT NOT NULL,
    position    BIGINT NOT NULL,
    title_ja    TEXT NOT NULL DEFAULT '',
    title_en    TEXT NOT NULL DEFAULT '',
    body_ja     TEXT NOT NULL DEFAULT '',
    body_en     TEXT NOT NULL DEFAULT '',
    updated_by  BIGINT REFERENCES users (id),
    updated_at  TEXT NOT NULL,
    PRIMARY KEY (quarter, position)
);
