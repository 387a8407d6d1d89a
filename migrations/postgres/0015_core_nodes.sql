-- Several nodes on one database: what used to live in one node's memory lives here.
-- Rate limits (failed logins, the public report form) count events per key; jobs
-- that must run once across nodes (trend computation) are held by a lease that runs
-- out if its holder dies; each node says it is alive.

CREATE TABLE rate_events (
    key  TEXT NOT NULL,
    at   TEXT NOT NULL
);
CREATE INDEX rate_events_key ON rate_events (key, at);

CREATE TABLE job_leases (
    job         TEXT PRIMARY KEY,
    holder      TEXT NOT NULL,
    started_at  TEXT NOT NULL,
    until       TEXT NOT NULL
);

CREATE TABLE nodes (
    id          TEXT PRIMARY KEY,
    address     TEXT NOT NULL,
    version     TEXT NOT NULL,
    started_at  TEXT NOT NULL,
    seen_at     TEXT NOT NULL
);
