-- Internet observation: the sensors on unused addresses, the signed batches they
-- send (kept as received), the buckets each sensor reported (its uptime), per-sensor
-- and collector-wide daily counts per protocol, destination port and class with
-- distinct-source sketches, the trend notes computed from them and the coordinators'
-- annotations on ports.

CREATE TABLE sensors (
    id             INTEGER PRIMARY KEY AUTOINCREMENT,
    name           TEXT NOT NULL UNIQUE,
    location       TEXT NOT NULL,
    address_range  TEXT NOT NULL,
    public_key     TEXT NOT NULL,
    user_id        INTEGER NOT NULL UNIQUE REFERENCES users (id),
    created_at     TEXT NOT NULL,
    last_batch_at  TEXT,
    last_seq       INTEGER,
    disabled       INTEGER NOT NULL DEFAULT 0
);

CREATE TABLE sensor_batches (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    sensor_id    INTEGER NOT NULL REFERENCES sensors (id),
    seq          INTEGER NOT NULL,
    received_at  TEXT NOT NULL,
    sha256       TEXT NOT NULL,
    packets      INTEGER NOT NULL,
    first_bucket TEXT,
    last_bucket  TEXT,
    body         BLOB NOT NULL,
    UNIQUE (sensor_id, seq)
);

CREATE TABLE sensor_buckets (
    sensor_id  INTEGER NOT NULL REFERENCES sensors (id),
    start      INTEGER NOT NULL,
    seconds    INTEGER NOT NULL,
    day        TEXT NOT NULL,
    packets    INTEGER NOT NULL,
    unparsed   INTEGER NOT NULL,
    PRIMARY KEY (sensor_id, start)
);
CREATE INDEX sensor_buckets_day ON sensor_buckets (day);

CREATE TABLE port_days (
    sensor_id  INTEGER NOT NULL REFERENCES sensors (id),
    day        TEXT NOT NULL,
    proto      TEXT NOT NULL,
    port       INTEGER NOT NULL,
    class      TEXT NOT NULL,
    packets    INTEGER NOT NULL,
    sources    BLOB NOT NULL,
    top        TEXT NOT NULL,
    PRIMARY KEY (sensor_id, day, proto, port, class)
);
CREATE INDEX port_days_port ON port_days (proto, port, day);

CREATE TABLE port_totals (
    day          TEXT NOT NULL,
    proto        TEXT NOT NULL,
    port         INTEGER NOT NULL,
    class        TEXT NOT NULL,
    packets      INTEGER NOT NULL,
    sensors      INTEGER NOT NULL,
    sources      BLOB NOT NULL,
    sources_est  INTEGER NOT NULL,
    PRIMARY KEY (day, proto, port, class)
);
CREATE INDEX port_totals_port ON port_totals (proto, port, class, day);
CREATE INDEX port_totals_class_day ON port_totals (class, day);

CREATE TABLE observe_dirty_days (
    day     TEXT PRIMARY KEY,
    marked  INTEGER NOT NULL
);

CREATE TABLE port_trends (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    day          TEXT NOT NULL,
    proto        TEXT NOT NULL,
    port         INTEGER NOT NULL,
    kind         TEXT NOT NULL CHECK (kind IN ('first_seen', 'surge', 'calmed', 'back')),
    score        REAL NOT NULL,
    evidence     TEXT NOT NULL,
    computed_at  TEXT NOT NULL,
    UNIQUE (day, proto, port, kind)
);
CREATE INDEX port_trends_port ON port_trends (proto, port, day);

CREATE TABLE port_annotations (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    proto       TEXT NOT NULL,
    port        INTEGER NOT NULL,
    day         TEXT NOT NULL,
    text_ja     TEXT NOT NULL,
    text_en     TEXT NOT NULL,
    note_id     TEXT,
    cve         TEXT,
    author_id   INTEGER REFERENCES users (id),
    created_at  TEXT NOT NULL
);
CREATE INDEX port_annotations_port ON port_annotations (proto, port, day);
