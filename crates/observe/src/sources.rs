//! The heaviest sources by address: what the sensors saw an address send, for that
//! address's page.
//!
//! Sensors send counts and sketches, not every source: a source is known by its
//! address only when a sensor listed it among a port's heaviest that day
//! ([`crate::top`]). Each listing is kept in `sensor_sources` under the address's
//! key ([`renkei_formats::keys::ip_key`]), so an address finds its days with one
//! index range, and the count shown is what the listing said (at most that many
//! packets).
//!
//! # Layout
//! - [`keep`]: written by the roll-up with each day's rows.
//! - [`seen`]: an address's listings, newest first, with totals.
//! - [`backfill`]: listings kept before this table was.

use std::net::IpAddr;

use renkei_core::Store;
use renkei_core::store::{JsonCol, Tx, json_rows};
use serde::Serialize;
use sqlx::AssertSqlSafe;

use crate::Result;
use crate::top::TopSource;

/// One listing: a source among a port's heaviest on a sensor's day.
#[derive(Debug, Clone, PartialEq)]
pub struct Listed {
    pub ip_key: String,
    pub day: String,
    pub proto: String,
    pub port: i64,
    pub class: String,
    pub packets: i64,
}

/// Keeps a roll-up's listings for one sensor; a listing seen again takes the
/// newer count (the roll-up's counts only grow).
pub async fn keep(tx: &mut Tx, sensor_id: i64, rows: Vec<Listed>) -> Result<()> {
    if rows.is_empty() {
        return Ok(());
    }
    let sql = format!(
        "INSERT INTO sensor_sources (ip_key, day, sensor_id, proto, port, class, packets)
         SELECT j.k, j.d, $1, j.p, j.o, j.c, j.n FROM {} WHERE true
         ON CONFLICT (ip_key, day, sensor_id, proto, port, class) DO UPDATE SET packets = excluded.packets",
        json_rows(
            tx.dialect(),
            2,
            &[
                ("k", JsonCol::Text),
                ("d", JsonCol::Text),
                ("p", JsonCol::Text),
                ("o", JsonCol::Int),
                ("c", JsonCol::Text),
                ("n", JsonCol::Int),
            ]
        )
    );
    for chunk in rows.chunks(5000) {
        let body = serde_json::Value::Array(
            chunk
                .iter()
                .map(|l| {
                    serde_json::json!({"k": l.ip_key, "d": l.day, "p": l.proto, "o": l.port, "c": l.class, "n": l.packets})
                })
                .collect(),
        )
        .to_string();
        sqlx::query(AssertSqlSafe(sql.clone()))
            .bind(sensor_id)
            .bind(body)
            .execute(tx.conn())
            .await?;
    }
    Ok(())
}

/// A day an address was among a port's heaviest sources on a sensor.
#[derive(Debug, Clone, Serialize, sqlx::FromRow, PartialEq)]
pub struct SourceDay {
    pub day: String,
    pub sensor: String,
    pub proto: String,
    pub port: i64,
    pub class: String,
    /// At most this many packets (the listing's upper bound).
    pub packets: i64,
}

/// An address's listings: how many, the first and last day, and the most recent
/// `limit`, newest first.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct Seen {
    pub listings: i64,
    pub days: i64,
    pub packets: i64,
    pub first: Option<String>,
    pub last: Option<String>,
    pub latest: Vec<SourceDay>,
}

pub async fn seen(store: &Store, ip: IpAddr, limit: i64) -> Result<Seen> {
    let key = renkei_formats::keys::ip_key(ip);
    let (listings, days, packets, first, last): (i64, i64, i64, Option<String>, Option<String>) =
        sqlx::query_as(
            "SELECT CAST(COUNT(*) AS BIGINT), CAST(COUNT(DISTINCT day) AS BIGINT), CAST(COALESCE(SUM(packets), 0) AS BIGINT), MIN(day), MAX(day)
             FROM sensor_sources WHERE ip_key = $1",
        )
        .bind(&key)
        .fetch_one(store.pool())
        .await?;
    let latest = sqlx::query_as::<_, SourceDay>(AssertSqlSafe(format!(
        "SELECT s.day, n.name AS sensor, s.proto, s.port, s.class, s.packets FROM sensor_sources s JOIN sensors n ON n.id = s.sensor_id
         WHERE s.ip_key = $1 ORDER BY s.day DESC, s.packets DESC, n.name, s.port LIMIT {}",
        limit.clamp(1, 1000)
    )))
    .bind(&key)
    .fetch_all(store.pool())
    .await?;
    Ok(Seen {
        listings,
        days,
        packets,
        first,
        last,
        latest,
    })
}

/// Marks how far back the days kept before this table existed have been read:
/// the next day to read is at or before it; empty when done.
const MARK: &str = "indicators.backfill.port_days";

/// Reads one day of listings kept before `sensor_sources` existed (the newest
/// day not yet read) into it. Returns how many rows it read (0: done).
pub async fn backfill(store: &Store) -> Result<usize> {
    let mark: Option<String> = sqlx::query_scalar("SELECT value FROM settings WHERE key = $1")
        .bind(MARK)
        .fetch_optional(store.pool())
        .await?;
    let Some(day) = mark.filter(|m| !m.is_empty()) else {
        return Ok(0);
    };
    // Sensor by sensor, so that each read walks the primary key (sensor, day, …).
    let sensors: Vec<i64> = sqlx::query_scalar("SELECT id FROM sensors ORDER BY id")
        .fetch_all(store.pool())
        .await?;
    let mut read = 0;
    let mut before: Option<String> = None;
    let mut by_sensor: std::collections::BTreeMap<i64, Vec<Listed>> = Default::default();
    for sensor in sensors {
        let rows: Vec<(String, i64, String, String)> = sqlx::query_as(
            "SELECT proto, port, class, top FROM port_days WHERE sensor_id = $1 AND day = $2",
        )
        .bind(sensor)
        .bind(&day)
        .fetch_all(store.pool())
        .await?;
        read += rows.len();
        for (proto, port, class, top) in &rows {
            let listed: Vec<TopSource> = serde_json::from_str(top).unwrap_or_default();
            for TopSource(ip, n) in listed {
                let Ok(ip) = ip.parse::<IpAddr>() else {
                    continue;
                };
                by_sensor.entry(sensor).or_default().push(Listed {
                    ip_key: renkei_formats::keys::ip_key(ip),
                    day: day.clone(),
                    proto: proto.clone(),
                    port: *port,
                    class: class.clone(),
                    packets: n as i64,
                });
            }
        }
        let earlier: Option<String> =
            sqlx::query_scalar("SELECT MAX(day) FROM port_days WHERE sensor_id = $1 AND day < $2")
                .bind(sensor)
                .bind(&day)
                .fetch_one(store.pool())
                .await?;
        before = before.max(earlier);
    }
    let mut tx = store.begin().await?;
    for (sensor, listed) in by_sensor {
        keep(&mut tx, sensor, listed).await?;
    }
    sqlx::query("UPDATE settings SET value = $1 WHERE key = $2")
        .bind(before.unwrap_or_default())
        .bind(MARK)
        .execute(tx.conn())
        .await?;
    tx.commit().await?;
    Ok(read.max(1))
}
