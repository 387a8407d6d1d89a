-- Feeds end to end at a national feed's size (issue 19). A chunk keeps its events
-- grouped per recipient and day until the file's last chunk gathers every chunk's
-- groups, queues one notification per recipient and day, and writes the file's
-- events by address and by AS as sets: per file, a row per bucket of a hash of the
-- key (renkei_incident::feeds::sets), appended in the file's order instead of spread
-- over an index of every address ever seen. feed_batches keeps one row per
-- recipient's day of a file, its events in the notification's attachment.
ALTER TABLE feed_chunks ADD COLUMN data BYTEA;
ALTER TABLE feed_chunks ADD COLUMN recipient_keys TEXT;
-- Already gzip'd: not compressed again.
ALTER TABLE feed_chunks ALTER COLUMN data SET STORAGE EXTERNAL;

-- The bits of each set's cut into buckets; NULL for files finished before sets.
ALTER TABLE feed_imports ADD COLUMN ip_bits INTEGER;
ALTER TABLE feed_imports ADD COLUMN asn_bits INTEGER;

CREATE TABLE feed_sets (
    report_id  BIGINT NOT NULL REFERENCES feed_imports (report_id),
    kind       TEXT NOT NULL CHECK (kind IN ('ip', 'asn')),
    bucket     INTEGER NOT NULL,
    entries    BYTEA NOT NULL,
    PRIMARY KEY (report_id, kind, bucket)
);
-- Hashed keys do not compress.
ALTER TABLE feed_sets ALTER COLUMN entries SET STORAGE EXTERNAL;

-- A feed's day is thousands of mails and a file of millions of rows: lz4 stores
-- them many times faster than the default pglz, where the server has it.
DO $$
BEGIN
    ALTER TABLE outbox ALTER COLUMN raw SET COMPRESSION lz4;
    ALTER TABLE messages ALTER COLUMN body SET COMPRESSION lz4;
    ALTER TABLE reports ALTER COLUMN raw SET COMPRESSION lz4;
EXCEPTION WHEN feature_not_supported OR invalid_parameter_value THEN
    RAISE NOTICE 'lz4 is not available: mail and reports stay compressed with pglz';
END
$$;
