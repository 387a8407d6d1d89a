-- Statistics from summaries (renkei_incident::summaries): a period's figures add up
-- rows per day and per month instead of reading every report and incident in it.
--
-- Counts by dimension and key: reports by category, channel, intake address and
-- reporter's top-level domain, scanned ports, totals, and times to first response
-- and to close as counts per bucket. Reports count on the UTC day they came in,
-- durations on the day their incident was created.
CREATE TABLE stats_days (
    day  TEXT NOT NULL,
    dim  TEXT NOT NULL,
    key  TEXT NOT NULL,
    n    INTEGER NOT NULL,
    PRIMARY KEY (day, dim, key)
) WITHOUT ROWID;

-- The same, summed over each UTC month whose days are all up to date.
CREATE TABLE stats_months (
    month TEXT NOT NULL,
    dim   TEXT NOT NULL,
    key   TEXT NOT NULL,
    n     INTEGER NOT NULL,
    PRIMARY KEY (month, dim, key)
) WITHOUT ROWID;

-- Days whose summary no longer matches the rows: marked by the triggers below in
-- the same transaction as the write, whoever wrote it. Readers count a marked day
-- from its rows; the clock worker recounts it and removes the mark.
CREATE TABLE stats_dirty (
    id   INTEGER PRIMARY KEY,
    day  TEXT NOT NULL
);
CREATE INDEX stats_dirty_day ON stats_dirty (day);

-- The durations are read per creation day.
CREATE INDEX incidents_created ON incidents (created_at);

-- SQLite has one writer at a time and the recount runs in a write transaction, so a
-- day needs one mark however often it is written.
CREATE TRIGGER reports_stats_insert AFTER INSERT ON reports
BEGIN
    INSERT INTO stats_dirty (day) SELECT substr(NEW.received_at, 1, 10)
        WHERE NOT EXISTS (SELECT 1 FROM stats_dirty WHERE day = substr(NEW.received_at, 1, 10));
END;

CREATE TRIGGER reports_stats_update AFTER UPDATE ON reports
    WHEN OLD.received_at IS NOT NEW.received_at OR OLD.status IS NOT NEW.status
        OR OLD.category IS NOT NEW.category OR OLD.proposed_category IS NOT NEW.proposed_category
        OR OLD.reporter_tld IS NOT NEW.reporter_tld OR OLD.scanned_ports IS NOT NEW.scanned_ports
        OR OLD.comprehensive_scan IS NOT NEW.comprehensive_scan OR OLD.channel IS NOT NEW.channel
        OR OLD.intake_address IS NOT NEW.intake_address OR OLD.exercise IS NOT NEW.exercise
BEGIN
    INSERT INTO stats_dirty (day)
        SELECT d FROM (SELECT substr(OLD.received_at, 1, 10) AS d UNION SELECT substr(NEW.received_at, 1, 10))
        WHERE NOT EXISTS (SELECT 1 FROM stats_dirty s WHERE s.day = d);
END;

CREATE TRIGGER reports_stats_delete AFTER DELETE ON reports
BEGIN
    INSERT INTO stats_dirty (day) SELECT substr(OLD.received_at, 1, 10)
        WHERE NOT EXISTS (SELECT 1 FROM stats_dirty WHERE day = substr(OLD.received_at, 1, 10));
END;

-- An incident counts on its report's day and its durations on its own.
CREATE TRIGGER incidents_stats_insert AFTER INSERT ON incidents
BEGIN
    INSERT INTO stats_dirty (day)
        SELECT d FROM (SELECT substr(NEW.created_at, 1, 10) AS d
                       UNION SELECT substr(received_at, 1, 10) FROM reports WHERE id = NEW.report_id)
        WHERE NOT EXISTS (SELECT 1 FROM stats_dirty s WHERE s.day = d);
END;

CREATE TRIGGER incidents_stats_update AFTER UPDATE ON incidents
    WHEN OLD.created_at IS NOT NEW.created_at OR OLD.report_id IS NOT NEW.report_id
        OR OLD.first_response_at IS NOT NEW.first_response_at OR OLD.closed_at IS NOT NEW.closed_at
        OR OLD.state IS NOT NEW.state OR OLD.exercise IS NOT NEW.exercise
BEGIN
    INSERT INTO stats_dirty (day)
        SELECT d FROM (SELECT substr(OLD.created_at, 1, 10) AS d
                       UNION SELECT substr(NEW.created_at, 1, 10)
                       UNION SELECT substr(received_at, 1, 10) FROM reports WHERE id IN (OLD.report_id, NEW.report_id))
        WHERE NOT EXISTS (SELECT 1 FROM stats_dirty s WHERE s.day = d);
END;

CREATE TRIGGER incidents_stats_delete AFTER DELETE ON incidents
BEGIN
    INSERT INTO stats_dirty (day)
        SELECT d FROM (SELECT substr(OLD.created_at, 1, 10) AS d
                       UNION SELECT substr(received_at, 1, 10) FROM reports WHERE id = OLD.report_id)
        WHERE NOT EXISTS (SELECT 1 FROM stats_dirty s WHERE s.day = d);
END;

-- Every day that already has data is counted by the clock worker, a few at a time;
-- until then readers count it from its rows.
INSERT INTO stats_dirty (day)
    SELECT substr(received_at, 1, 10) FROM reports
    UNION SELECT substr(created_at, 1, 10) FROM incidents;
