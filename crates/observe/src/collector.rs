//! The collector's side: the sensor registry and batch intake. A batch is verified
//! against the sensor's registered key, stored as received, and counted once — the
//! pair (sensor, sequence number) is unique, so a resend or a replay changes nothing.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use renkei_core::access::{Principal, Role};
use renkei_core::accounts::{self, NewUser};
use renkei_core::audit::{self, Actor, Event};
use renkei_core::lang::Lang;
use renkei_core::row::{Bit, JsonText};
use renkei_core::store::{Dialect, JsonCol, Tx, json_rows, placeholders};
use renkei_core::{Store, time};
use renkei_formats::packet::source_key;
use serde::Serialize;
use serde_json::json;
use sha2::{Digest, Sha256};
use sqlx::AssertSqlSafe;

use crate::batch::{self, Batch, Row as BatchRow};
use crate::sketch::Sketch;
use crate::top::{TopSource, TopSources};
use crate::{ObserveError, Result, Settings};

#[derive(Debug, Clone, Serialize, PartialEq, sqlx::FromRow)]
pub struct Sensor {
    pub id: i64,
    pub name: String,
    pub location: String,
    pub address_range: String,
    pub public_key: String,
    pub user_id: i64,
    pub created_at: String,
    pub last_batch_at: Option<String>,
    pub last_seq: Option<i64>,
    #[sqlx(try_from = "Bit")]
    pub disabled: bool,
}

pub struct NewSensor {
    pub name: String,
    pub location: String,
    pub address_range: String,
    pub public_key: String,
}

const SENSOR_COLUMNS: &str = "id, name, location, address_range, public_key, user_id, created_at, last_batch_at, last_seq, disabled";

fn valid_name(name: &str) -> bool {
    (1..=40).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// Address ranges such as `203.0.113.0/24` or `2001:db8:1::/48`, comma separated.
fn valid_ranges(s: &str) -> bool {
    !s.trim().is_empty()
        && s.split(',').all(|r| {
            let r = r.trim();
            let (ip, len) = r.split_once('/').unwrap_or((r, ""));
            match ip.parse::<std::net::IpAddr>() {
                Ok(std::net::IpAddr::V4(_)) => {
                    len.is_empty() || len.parse::<u8>().is_ok_and(|l| l <= 32)
                }
                Ok(std::net::IpAddr::V6(_)) => {
                    len.is_empty() || len.parse::<u8>().is_ok_and(|l| l <= 128)
                }
                Err(_) => false,
            }
        })
}

/// Registers a sensor with its own account and API token; returns the sensor and
/// the token's secret (shown once).
pub async fn register(store: &Store, actor: &Actor, new: NewSensor) -> Result<(Sensor, String)> {
    let name = new.name.trim().to_string();
    if !valid_name(&name) {
        return Err(ObserveError::invalid(
            "name",
            "1 to 40 letters, digits, - or _",
        ));
    }
    if !valid_ranges(&new.address_range) {
        return Err(ObserveError::invalid(
            "address_range",
            "the unused addresses the sensor watches, as prefixes such as 203.0.113.0/24",
        ));
    }
    batch::parse_public_key(&new.public_key)?;
    if by_name(store, &name).await?.is_some() {
        return Err(ObserveError::Conflict(format!(
            "sensor {name} already exists"
        )));
    }
    let user = accounts::create_user(
        store,
        actor,
        NewUser {
            email: format!("{}@sensors.renkei.invalid", name.to_ascii_lowercase()),
            display_name: format!("sensor {name}"),
            role: Role::Sensor,
            org_id: None,
            password: None,
            lang: Lang::En,
        },
    )
    .await?;
    let now = store.now_str();
    let mut tx = store.begin().await?;
    let id: i64 = sqlx::query_scalar(
        "INSERT INTO sensors (name, location, address_range, public_key, user_id, created_at) VALUES ($1, $2, $3, $4, $5, $6) RETURNING id",
    )
    .bind(&name)
    .bind(new.location.trim())
    .bind(new.address_range.trim())
    .bind(new.public_key.trim())
    .bind(user.id)
    .bind(&now)
    .fetch_one(tx.conn())
    .await
    .map_err(|e| ObserveError::from_insert(e, "sensor"))?;
    audit::record(
        &mut tx,
        actor,
        Event {
            action: "sensor.register",
            object_type: "sensor",
            object_id: id.to_string(),
            changes: json!({"name": name, "location": new.location.trim(), "address_range": new.address_range.trim()}),
        },
    )
    .await?;
    tx.commit().await?;
    let (_, secret) =
        accounts::create_token(store, actor, user.id, &format!("sensor {name}")).await?;
    let sensor = get(store, id).await?;
    Ok((sensor, secret))
}

pub async fn get(store: &Store, id: i64) -> Result<Sensor> {
    sqlx::query_as(AssertSqlSafe(format!(
        "SELECT {SENSOR_COLUMNS} FROM sensors WHERE id = $1"
    )))
    .bind(id)
    .fetch_optional(store.pool())
    .await?
    .ok_or(ObserveError::NotFound("sensor"))
}

async fn by_name(store: &Store, name: &str) -> Result<Option<Sensor>> {
    Ok(sqlx::query_as(AssertSqlSafe(format!(
        "SELECT {SENSOR_COLUMNS} FROM sensors WHERE name = $1"
    )))
    .bind(name)
    .fetch_optional(store.pool())
    .await?)
}

async fn by_user(store: &Store, user_id: i64) -> Result<Option<Sensor>> {
    Ok(sqlx::query_as(AssertSqlSafe(format!(
        "SELECT {SENSOR_COLUMNS} FROM sensors WHERE user_id = $1"
    )))
    .bind(user_id)
    .fetch_optional(store.pool())
    .await?)
}

pub async fn list(store: &Store) -> Result<Vec<Sensor>> {
    Ok(sqlx::query_as(AssertSqlSafe(format!(
        "SELECT {SENSOR_COLUMNS} FROM sensors ORDER BY name"
    )))
    .fetch_all(store.pool())
    .await?)
}

/// Stops (or resumes) accepting a sensor's batches; its past counts stay.
pub async fn set_disabled(store: &Store, actor: &Actor, id: i64, disabled: bool) -> Result<Sensor> {
    let mut tx = store.begin().await?;
    let n = sqlx::query("UPDATE sensors SET disabled = $1 WHERE id = $2")
        .bind(i64::from(disabled))
        .bind(id)
        .execute(tx.conn())
        .await?
        .rows_affected();
    if n == 0 {
        return Err(ObserveError::NotFound("sensor"));
    }
    audit::record(
        &mut tx,
        actor,
        Event {
            action: if disabled {
                "sensor.disable"
            } else {
                "sensor.enable"
            },
            object_type: "sensor",
            object_id: id.to_string(),
            changes: json!({"disabled": disabled}),
        },
    )
    .await?;
    tx.commit().await?;
    get(store, id).await
}

/// What the collector answers for an accepted batch.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Receipt {
    pub sensor: String,
    pub seq: i64,
    pub buckets: usize,
    pub rows: usize,
    pub packets: u64,
}

impl Receipt {
    fn of(sensor: &str, b: &Batch, decoded: &[DecodedBucket]) -> Receipt {
        Receipt {
            sensor: sensor.to_string(),
            seq: b.seq,
            buckets: decoded.len(),
            rows: decoded.iter().map(|d| d.rows.len()).sum(),
            packets: b.packets(),
        }
    }
}

/// Takes in one batch body sent by the sensor behind `principal`: checks it, then
/// stores it (once: a repeat is [`ObserveError::Duplicate`]).
pub async fn ingest(
    store: &Store,
    settings: &Settings,
    principal: &Principal,
    signature: Option<&str>,
    body: &[u8],
) -> Result<Receipt> {
    let checked = check(store, settings, principal, signature, body).await?;
    store_checked(store, settings, checked.sensor_id, body).await
}

/// A batch whose sender, signature and content were checked: what may go on the bus.
#[derive(Debug, Clone, PartialEq)]
pub struct Checked {
    pub sensor_id: i64,
    pub receipt: Receipt,
}

/// Checks a batch without storing it: the token's sensor, enabled, the signature
/// with its key, the name it gives, every row decodable.
pub async fn check(
    store: &Store,
    settings: &Settings,
    principal: &Principal,
    signature: Option<&str>,
    body: &[u8],
) -> Result<Checked> {
    let user = principal
        .user()
        .ok_or(ObserveError::Core(renkei_core::CoreError::Unauthenticated))?;
    let sensor = by_user(store, user.id).await?.ok_or_else(|| {
        ObserveError::invalid("token", "this token belongs to no registered sensor")
    })?;
    if sensor.disabled {
        return Err(ObserveError::Core(renkei_core::CoreError::Forbidden));
    }
    if body.len() > settings.observe.max_batch_bytes {
        return Err(ObserveError::invalid(
            "batch",
            format!("larger than {} bytes", settings.observe.max_batch_bytes),
        ));
    }
    batch::verify(
        &sensor.public_key,
        signature.ok_or(ObserveError::BadSignature)?,
        body,
    )?;
    let b = Batch::parse(body)?;
    if b.sensor != sensor.name {
        return Err(ObserveError::invalid(
            "sensor",
            format!(
                "the batch names {:?}, the token is {:?}'s",
                b.sensor, sensor.name
            ),
        ));
    }
    // Decode everything before writing anything: a batch that is accepted can be
    // rolled up.
    let decoded = decode(&b)?;
    Ok(Checked {
        sensor_id: sensor.id,
        receipt: Receipt::of(&sensor.name, &b, &decoded),
    })
}

/// Stores a batch [`check`] passed (here or on the node that took it in). The
/// sensor and sequence number are its key: a second copy is refused as a
/// duplicate and changes nothing.
pub async fn store_checked(
    store: &Store,
    settings: &Settings,
    sensor_id: i64,
    body: &[u8],
) -> Result<Receipt> {
    let sensor = get(store, sensor_id).await?;
    let b = Batch::parse(body)?;
    let decoded = decode(&b)?;
    let receipt = Receipt::of(&sensor.name, &b, &decoded);
    let now = store.now_str();
    let mut tx = store.begin().await?;
    let inserted = sqlx::query(
        "INSERT INTO sensor_batches (sensor_id, seq, received_at, sha256, packets, first_bucket, last_bucket, body, rolled_up) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 0)",
    )
    .bind(sensor.id)
    .bind(b.seq)
    .bind(&now)
    .bind(hex::encode(Sha256::digest(body)))
    .bind(b.packets() as i64)
    .bind(decoded.first().map(|d| d.start.to_string()))
    .bind(decoded.last().map(|d| d.start.to_string()))
    .bind(body.to_vec())
    .execute(tx.conn())
    .await;
    if let Err(e) = inserted {
        return Err(match ObserveError::from_insert(e, "batch") {
            ObserveError::Conflict(_) => ObserveError::Duplicate {
                sensor: sensor.name,
                seq: b.seq,
            },
            other => other,
        });
    }
    for d in &decoded {
        sqlx::query(
            "INSERT INTO sensor_buckets (sensor_id, start, seconds, day, packets, unparsed) VALUES ($1, $2, $3, $4, $5, $6) \
             ON CONFLICT (sensor_id, start) DO UPDATE SET packets = sensor_buckets.packets + excluded.packets, unparsed = sensor_buckets.unparsed + excluded.unparsed",
        )
        .bind(sensor.id)
        .bind(d.start)
        .bind(d.seconds)
        .bind(settings.day_of(d.start))
        .bind(d.packets as i64)
        .bind(d.unparsed as i64)
        .execute(tx.conn())
        .await?;
    }
    sqlx::query("UPDATE sensors SET last_batch_at = $1, last_seq = $2 WHERE id = $3")
        .bind(&now)
        .bind(b.seq)
        .bind(sensor.id)
        .execute(tx.conn())
        .await?;
    tx.commit().await?;
    Ok(receipt)
}

struct DecodedBucket {
    start: i64,
    seconds: i64,
    packets: u64,
    unparsed: u64,
    rows: Vec<BatchRow>,
}

fn decode(b: &Batch) -> Result<Vec<DecodedBucket>> {
    b.buckets
        .iter()
        .map(|bucket| {
            Ok(DecodedBucket {
                start: bucket.start,
                seconds: bucket.seconds,
                packets: bucket.packets,
                unparsed: bucket.unparsed,
                rows: bucket
                    .rows
                    .iter()
                    .map(|r| r.decode())
                    .collect::<Result<Vec<_>>>()?,
            })
        })
        .collect()
}

/// What one roll-up did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct RollUp {
    pub batches: usize,
    pub rows: usize,
}

/// Batches read per roll-up transaction, so that one backlog does not become one
/// enormous transaction.
const ROLL_UP_BATCHES: i64 = 64;

/// Counts accepted batches into the per-day views (`port_days`, `port_totals`)
/// and marks their days for the trend notes; returns what it counted. Each batch
/// is counted exactly once: it is marked in the same transaction, and the pending
/// batches are read under the write lock (SQLite) or `FOR UPDATE` (PostgreSQL), so
/// a second roll-up running at the same time waits and then finds them done.
/// Batches waiting together are merged in memory first, so a backlog of a day's
/// hourly batches writes each of the day's rows once.
pub async fn roll_up(store: &Store, settings: &Settings) -> Result<RollUp> {
    let mut done = RollUp::default();
    loop {
        let mut tx = store.begin().await?;
        let lock = match tx.dialect() {
            Dialect::Sqlite => "",
            Dialect::Postgres => " FOR UPDATE",
        };
        let pending: Vec<(i64, i64, Vec<u8>)> = sqlx::query_as(AssertSqlSafe(format!(
            "SELECT id, sensor_id, body FROM sensor_batches WHERE rolled_up = 0 ORDER BY id LIMIT {ROLL_UP_BATCHES}{lock}"
        )))
        .fetch_all(tx.conn())
        .await?;
        if pending.is_empty() {
            return Ok(done);
        }
        let mut per_sensor: BTreeMap<i64, BTreeMap<DayKey, (u64, Sketch, TopSources)>> =
            BTreeMap::new();
        let mut days = BTreeSet::new();
        let mut ids = Vec::with_capacity(pending.len());
        for (id, sensor_id, body) in pending {
            ids.push(id);
            // Checked at intake; a batch that no longer reads (a format change)
            // is left counted as nothing rather than blocking the others.
            let decoded = match Batch::parse(&body).and_then(|b| decode(&b)) {
                Ok(d) => d,
                Err(e) => {
                    tracing::error!(batch = id, error = %e, "a stored batch does not read; skipped");
                    continue;
                }
            };
            let per_day = per_sensor.entry(sensor_id).or_default();
            for bucket in decoded {
                let day = settings.day_of(bucket.start);
                for row in bucket.rows {
                    done.rows += 1;
                    let e = per_day
                        .entry((
                            day.clone(),
                            row.proto.as_str(),
                            row.port,
                            row.class.as_str(),
                        ))
                        .or_insert_with(|| (0, Sketch::new(), TopSources::default()));
                    e.0 += row.packets;
                    e.1.merge(&row.sources);
                    for TopSource(ip, n) in &row.top {
                        if let Ok(ip) = ip.parse() {
                            e.2.add(source_key(ip), *n);
                        }
                    }
                }
                days.insert(day);
            }
        }
        for (sensor_id, per_day) in per_sensor {
            merge_days(&mut tx, sensor_id, per_day).await?;
        }
        let marked = tx.now().timestamp_nanos_opt().unwrap_or_default();
        for day in &days {
            sqlx::query("INSERT INTO observe_dirty_days (day, marked) VALUES ($1, $2) ON CONFLICT (day) DO UPDATE SET marked = excluded.marked")
                .bind(day)
                .bind(marked)
                .execute(tx.conn())
                .await?;
        }
        for chunk in ids.chunks(500) {
            let mut q = sqlx::query(AssertSqlSafe(format!(
                "UPDATE sensor_batches SET rolled_up = 1 WHERE id IN ({})",
                placeholders(1, chunk.len())
            )));
            for id in chunk {
                q = q.bind(*id);
            }
            q.execute(tx.conn()).await?;
        }
        tx.commit().await?;
        done.batches += ids.len();
    }
}

type DayKey = (String, &'static str, u16, &'static str);

/// A row of `port_days` or `port_totals` as the roll-up reads it back.
#[derive(sqlx::FromRow)]
struct Counted {
    day: String,
    proto: String,
    port: i64,
    class: String,
    packets: i64,
    sources: Vec<u8>,
    #[sqlx(default)]
    sensors: i64,
    #[sqlx(default)]
    top: JsonText,
}

impl Counted {
    fn key(&self) -> Option<DayKey> {
        let proto = renkei_formats::packet::Proto::parse(&self.proto)?;
        let class = renkei_formats::packet::Class::parse(&self.class)?;
        Some((
            self.day.clone(),
            proto.as_str(),
            self.port as u16,
            class.as_str(),
        ))
    }
}

/// Rows per statement when a batch's rows are read or written as one JSON
/// parameter: a batch carries hundreds of thousands of rows, and a statement per
/// few hundred rows made intake crawl.
const JSON_CHUNK: usize = 20_000;

const KEY_COLS: [(&str, JsonCol); 4] = [
    ("d", JsonCol::Text),
    ("p", JsonCol::Text),
    ("o", JsonCol::Int),
    ("c", JsonCol::Text),
];

fn key_json(k: &DayKey) -> serde_json::Map<String, serde_json::Value> {
    let mut m = serde_json::Map::with_capacity(8);
    m.insert("d".into(), k.0.clone().into());
    m.insert("p".into(), k.1.into());
    m.insert("o".into(), k.2.into());
    m.insert("c".into(), k.3.into());
    m
}

/// The stored rows of `table` (aliased `t`) matching the given keys; `select` names
/// the columns, `sensor` restricts to one sensor's rows.
async fn fetch_keyed(
    tx: &mut Tx,
    table: &str,
    select: &str,
    sensor_id: Option<i64>,
    keys: &[&DayKey],
) -> Result<Vec<Counted>> {
    let mut out = Vec::new();
    let dialect = tx.dialect();
    for chunk in keys.chunks(JSON_CHUNK) {
        let param = if sensor_id.is_some() { 2 } else { 1 };
        let sensor_cond = if sensor_id.is_some() {
            "t.sensor_id = $1 AND "
        } else {
            ""
        };
        // SQLite's planner would scan the table for each key unless told to walk
        // the keys first (CROSS JOIN keeps the order written); PostgreSQL needs no
        // telling and takes no CROSS JOIN with ON.
        let join = match dialect {
            Dialect::Sqlite => "CROSS JOIN",
            Dialect::Postgres => "JOIN",
        };
        let sql = format!(
            "SELECT {select} FROM {} {join} {table} t ON {sensor_cond}t.day = j.d AND t.proto = j.p AND t.port = j.o AND t.class = j.c",
            json_rows(dialect, param, &KEY_COLS)
        );
        let body = serde_json::Value::Array(
            chunk
                .iter()
                .map(|k| serde_json::Value::Object(key_json(k)))
                .collect(),
        )
        .to_string();
        let mut q = sqlx::query_as(AssertSqlSafe(sql));
        if let Some(id) = sensor_id {
            q = q.bind(id);
        }
        out.extend(q.bind(body).fetch_all(tx.conn()).await?);
    }
    Ok(out)
}

/// Upserts rows given as JSON objects (keys `d p o c` plus `extra`) into `table`.
async fn upsert_json(
    tx: &mut Tx,
    insert: &str,
    extra: &[(&str, JsonCol)],
    conflict: &str,
    sensor_id: Option<i64>,
    rows: Vec<serde_json::Value>,
) -> Result<()> {
    let dialect = tx.dialect();
    let mut cols: Vec<(&str, JsonCol)> = KEY_COLS.to_vec();
    cols.extend_from_slice(extra);
    let param = if sensor_id.is_some() { 2 } else { 1 };
    let values = cols
        .iter()
        .map(|(n, _)| format!("j.{n}"))
        .collect::<Vec<_>>()
        .join(", ");
    let values = if sensor_id.is_some() {
        format!("$1, {values}")
    } else {
        values
    };
    let sql = format!(
        "{insert} SELECT {values} FROM {} WHERE true {conflict}",
        json_rows(dialect, param, &cols)
    );
    for chunk in rows.chunks(JSON_CHUNK) {
        let body = serde_json::Value::Array(chunk.to_vec()).to_string();
        let mut q = sqlx::query(AssertSqlSafe(sql.clone()));
        if let Some(id) = sensor_id {
            q = q.bind(id);
        }
        q.bind(body).execute(tx.conn()).await?;
    }
    Ok(())
}

/// Adds one batch's per-day rows (`delta`) to the sensor's rows and to the totals.
async fn merge_days(
    tx: &mut Tx,
    sensor_id: i64,
    delta: BTreeMap<DayKey, (u64, Sketch, TopSources)>,
) -> Result<()> {
    if delta.is_empty() {
        return Ok(());
    }
    let keys: Vec<&DayKey> = delta.keys().collect();
    // Only the rows this batch touches: a day's rows grow to tens of thousands and
    // a batch carries an hour of them.
    let rows = fetch_keyed(
        tx,
        "port_days",
        "t.day, t.proto, t.port, t.class, t.packets, t.sources, t.top",
        Some(sensor_id),
        &keys,
    )
    .await?;
    let mut before: HashMap<DayKey, (u64, Sketch, TopSources)> = HashMap::new();
    for r in rows {
        let Some(key) = r.key() else { continue };
        let mut top = TopSources::default();
        for TopSource(ip, n) in r.top.read::<Vec<TopSource>>() {
            if let Ok(ip) = ip.parse() {
                top.add(source_key(ip), n);
            }
        }
        let sketch = Sketch::from_bytes(&r.sources).unwrap_or_default();
        before.insert(key, (r.packets as u64, sketch, top));
    }

    let mut day_rows = Vec::with_capacity(delta.len());
    let mut listed_sources = Vec::new();
    for (key, (packets, sketch, top)) in &delta {
        let mut m = key_json(key);
        let (mut packets, mut sketch, mut top) = (*packets, sketch.clone(), top.clone());
        if let Some((p, s, t)) = before.get(key) {
            packets += p;
            sketch.merge(s);
            top.merge(t);
        }
        let listed: Vec<TopSource> = top
            .list()
            .into_iter()
            .map(|(k, n)| TopSource(renkei_formats::packet::source_ip(k).to_string(), n))
            .collect();
        listed_sources.extend(top.list().into_iter().map(|(k, n)| crate::sources::Listed {
            ip_key: format!("{k:032x}"),
            day: key.0.clone(),
            proto: key.1.to_string(),
            port: i64::from(key.2),
            class: key.3.to_string(),
            packets: n as i64,
        }));
        m.insert("n".into(), packets.into());
        m.insert("s".into(), hex::encode(sketch.to_bytes()).into());
        m.insert(
            "t".into(),
            serde_json::to_string(&listed)
                .unwrap_or_else(|_| "[]".into())
                .into(),
        );
        day_rows.push(serde_json::Value::Object(m));
    }
    upsert_json(
        tx,
        "INSERT INTO port_days (sensor_id, day, proto, port, class, packets, sources, top)",
        &[("n", JsonCol::Int), ("s", JsonCol::Blob), ("t", JsonCol::Text)],
        "ON CONFLICT (sensor_id, day, proto, port, class) DO UPDATE SET packets = excluded.packets, sources = excluded.sources, top = excluded.top",
        Some(sensor_id),
        day_rows,
    )
    .await?;
    crate::sources::keep(tx, sensor_id, listed_sources).await?;

    // Collector-wide: packets add up, sketches merge (a union, so counting a
    // sensor's sources again changes nothing), and a sensor new to a port that day
    // adds one to the port's sensors.
    let rows = fetch_keyed(
        tx,
        "port_totals",
        "t.day, t.proto, t.port, t.class, t.packets, t.sensors, t.sources",
        None,
        &keys,
    )
    .await?;
    let mut totals: HashMap<DayKey, (u64, i64, Sketch)> = HashMap::new();
    for r in rows {
        let Some(key) = r.key() else { continue };
        let sketch = Sketch::from_bytes(&r.sources).unwrap_or_default();
        totals.insert(key, (r.packets as u64, r.sensors, sketch));
    }
    let mut total_rows = Vec::with_capacity(delta.len());
    for (key, (packets, sketch, _)) in &delta {
        let mut m = key_json(key);
        let (mut packets, mut sensors, mut sketch) = (*packets, 1i64, sketch.clone());
        if let Some((p, n, s)) = totals.get(key) {
            packets += p;
            sensors = n + i64::from(!before.contains_key(key));
            sketch.merge(s);
        }
        m.insert("n".into(), packets.into());
        m.insert("e".into(), sensors.into());
        m.insert("s".into(), hex::encode(sketch.to_bytes()).into());
        m.insert("x".into(), sketch.estimate().into());
        total_rows.push(serde_json::Value::Object(m));
    }
    upsert_json(
        tx,
        "INSERT INTO port_totals (day, proto, port, class, packets, sensors, sources, sources_est)",
        &[
            ("n", JsonCol::Int),
            ("e", JsonCol::Int),
            ("s", JsonCol::Blob),
            ("x", JsonCol::Int),
        ],
        "ON CONFLICT (day, proto, port, class) DO UPDATE SET packets = excluded.packets, sensors = excluded.sensors, sources = excluded.sources, sources_est = excluded.sources_est",
        None,
        total_rows,
    )
    .await?;
    Ok(())
}

/// A sensor's health: when it last sent, and how much of the last week it covered.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Health {
    pub sensor: Sensor,
    /// Share of the last 7 days covered by reported buckets, 0 to 1.
    pub uptime_7d: f64,
    pub packets_7d: i64,
    pub batches: i64,
    /// Batches accepted but not yet counted into the views (the roll-up runs
    /// a second after the last batch, and every minute).
    pub waiting: i64,
    pub last_bucket: Option<String>,
    /// Enabled, and nothing heard for a day (see [`crate::outage`]).
    pub silent: bool,
}

pub async fn health(store: &Store, now: chrono::DateTime<chrono::Utc>) -> Result<Vec<Health>> {
    let since = now.timestamp() - 7 * 86_400;
    let mut out = Vec::new();
    for sensor in list(store).await? {
        let (covered, packets_7d): (i64, i64) = sqlx::query_as(
            "SELECT CAST(COALESCE(SUM(seconds), 0) AS BIGINT) AS covered, CAST(COALESCE(SUM(packets), 0) AS BIGINT) AS packets FROM sensor_buckets WHERE sensor_id = $1 AND start >= $2",
        )
        .bind(sensor.id)
        .bind(since)
        .fetch_one(store.pool())
        .await?;
        // The last bucket ever counted, however long ago: a sensor that stopped last
        // year still says when.
        let last: Option<i64> =
            sqlx::query_scalar("SELECT MAX(start) FROM sensor_buckets WHERE sensor_id = $1")
                .bind(sensor.id)
                .fetch_one(store.pool())
                .await?;
        let heard = sensor
            .last_batch_at
            .as_deref()
            .unwrap_or(&sensor.created_at);
        let silent = !sensor.disabled
            && time::parse(heard).is_some_and(|t| {
                now - t > chrono::Duration::hours(crate::outage::SILENT_AFTER_HOURS)
            });
        let (batches, waiting): (i64, i64) = sqlx::query_as(
            "SELECT COUNT(*) AS batches, CAST(COALESCE(SUM(1 - rolled_up), 0) AS BIGINT) AS waiting FROM sensor_batches WHERE sensor_id = $1",
        )
        .bind(sensor.id)
        .fetch_one(store.pool())
        .await?;
        out.push(Health {
            uptime_7d: (covered as f64 / (7.0 * 86_400.0)).min(1.0),
            packets_7d,
            batches,
            waiting,
            last_bucket: last
                .and_then(|t| chrono::DateTime::from_timestamp(t, 0))
                .map(time::format),
            silent,
            sensor,
        });
    }
    Ok(out)
}

/// Batches accepted but not yet counted into the views.
pub async fn waiting(store: &Store) -> Result<i64> {
    Ok(
        sqlx::query_scalar("SELECT COUNT(*) FROM sensor_batches WHERE rolled_up = 0")
            .fetch_one(store.pool())
            .await?,
    )
}
