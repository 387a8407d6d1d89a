-- Several nodes, and clients that retry: a report sent again under the same
-- idempotency key is the same report; a bulk feed is split into chunks that any node
-- may process, each exactly once, the file's notifications queued by whichever node
-- finishes its last chunk.

ALTER TABLE reports ADD COLUMN idempotency_key TEXT;
CREATE UNIQUE INDEX reports_idempotency_key ON reports (idempotency_key) WHERE idempotency_key IS NOT NULL;

CREATE TABLE feed_imports (
    report_id    BIGINT PRIMARY KEY REFERENCES reports (id),
    feed         TEXT NOT NULL,
    sha256       TEXT NOT NULL,
    mapping      TEXT NOT NULL,
    tlp          TEXT NOT NULL,
    -- Rows without a time are counted on the day the file came in.
    day          TEXT NOT NULL,
    chunks       BIGINT NOT NULL,
    chunks_done  BIGINT NOT NULL DEFAULT 0,
    received_at  TEXT NOT NULL,
    finished_at  TEXT,
    UNIQUE (feed, sha256)
);

CREATE TABLE feed_chunks (
    report_id   BIGINT NOT NULL REFERENCES feed_imports (report_id),
    first_row   BIGINT NOT NULL,
    row_count   BIGINT NOT NULL,
    events      BIGINT NOT NULL,
    bad_rows    BIGINT NOT NULL,
    unresolved  BIGINT NOT NULL,
    problems    TEXT NOT NULL DEFAULT '[]',
    node        TEXT NOT NULL,
    done_at     TEXT NOT NULL,
    PRIMARY KEY (report_id, first_row)
);

-- Who a batch's notification goes to, kept until the file's last chunk queues it.
ALTER TABLE feed_batches ADD COLUMN recipient_detail TEXT;
CREATE INDEX feed_batches_report ON feed_batches (report_id, recipient, day);
