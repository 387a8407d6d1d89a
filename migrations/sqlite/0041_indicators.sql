-- One page per indicator: what each pillar kept about an address or an AS, found
-- by the same keys as search (renkei_formats::keys), each an index range.
--
-- Feed events by address and day (one row per address, day, feed and file; the
-- batch names the recipient and, once sent, the notification).
CREATE TABLE feed_sightings (
    ip_key     TEXT NOT NULL,
    day        TEXT NOT NULL,
    feed       TEXT NOT NULL,
    report_id  INTEGER NOT NULL REFERENCES reports (id),
    batch_id   INTEGER NOT NULL REFERENCES feed_batches (id),
    events     INTEGER NOT NULL,
    PRIMARY KEY (ip_key, day, feed, report_id)
) WITHOUT ROWID;

-- A chunk's events by address as it is counted, appended in the order chunks come;
-- merged into feed_sightings (and feed_asn_days) in key order once the file is
-- finished: one sorted pass per file instead of a random write per address.
CREATE TABLE feed_sightings_staged (
    report_id  INTEGER NOT NULL REFERENCES reports (id),
    ip_key     TEXT NOT NULL,
    day        TEXT NOT NULL,
    feed       TEXT NOT NULL,
    batch_id   INTEGER NOT NULL,
    asn        INTEGER,
    events     INTEGER NOT NULL
);
CREATE INDEX feed_sightings_staged_report ON feed_sightings_staged (report_id);

-- Feed events by AS and day.
CREATE TABLE feed_asn_days (
    asn        INTEGER NOT NULL,
    day        TEXT NOT NULL,
    feed       TEXT NOT NULL,
    report_id  INTEGER NOT NULL REFERENCES reports (id),
    events     INTEGER NOT NULL,
    PRIMARY KEY (asn, day, feed, report_id)
) WITHOUT ROWID;

-- Sources a sensor listed among a port's heaviest on a day, with (at most) their
-- packets: sensors send counts and sketches, not every source.
CREATE TABLE sensor_sources (
    ip_key     TEXT NOT NULL,
    day        TEXT NOT NULL,
    sensor_id  INTEGER NOT NULL REFERENCES sensors (id),
    proto      TEXT NOT NULL,
    port       INTEGER NOT NULL,
    class      TEXT NOT NULL,
    packets    INTEGER NOT NULL,
    PRIMARY KEY (ip_key, day, sensor_id, proto, port, class)
) WITHOUT ROWID;

-- What was kept before this is indexed by a background job, newest first, down
-- from these marks (renkei_incident::indicators::backfill and
-- renkei_observe::sources::backfill).
INSERT INTO settings (key, value)
    SELECT 'indicators.backfill.feed_batches', CAST(COALESCE(MAX(id), 0) AS TEXT) FROM feed_batches;
INSERT INTO settings (key, value)
    SELECT 'indicators.backfill.port_days', COALESCE(MAX(day), '') FROM port_days;

-- Reports that name addresses are indexed again, each address as one word
-- (renkei_incident::search::ip_token), by the search backfill.
UPDATE reports SET searchable = 0 WHERE searchable <> 0 AND indicators LIKE '%"ip"%';

-- An address's or an AS's incidents, newest first, straight from the index.
DROP INDEX incidents_ip_key;
CREATE INDEX incidents_ip_key ON incidents (ip_key, id);
DROP INDEX incidents_asn;
CREATE INDEX incidents_asn ON incidents (asn, id);

-- The few drills' reports, left out of an indicator's reports.
CREATE INDEX reports_exercise ON reports (id) WHERE exercise <> 0;
