-- Feeds end to end at a national feed's size (issue 19). A chunk keeps its events
-- grouped per recipient and day until the file's last chunk gathers every chunk's
-- groups, queues one notification per recipient and day, and writes the file's
-- events by address and by AS as sets: per file, a row per bucket of a hash of the
-- key (renkei_incident::feeds::sets), appended in the file's order instead of spread
-- over an index of every address ever seen. feed_batches keeps one row per
-- recipient's day of a file, its events in the notification's attachment.
ALTER TABLE feed_chunks ADD COLUMN data BLOB;
ALTER TABLE feed_chunks ADD COLUMN recipient_keys TEXT;

-- The bits of each set's cut into buckets; NULL for files finished before sets.
ALTER TABLE feed_imports ADD COLUMN ip_bits INTEGER;
ALTER TABLE feed_imports ADD COLUMN asn_bits INTEGER;

CREATE TABLE feed_sets (
    report_id  INTEGER NOT NULL REFERENCES feed_imports (report_id),
    kind       TEXT NOT NULL CHECK (kind IN ('ip', 'asn')),
    bucket     INTEGER NOT NULL,
    entries    BLOB NOT NULL,
    PRIMARY KEY (report_id, kind, bucket)
) WITHOUT ROWID;
