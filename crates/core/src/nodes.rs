//! What several `renkei serve` nodes on one database share instead of keeping in
//! memory: rate limits counted in the database and each node's heartbeat, which the
//! operations page and /metrics show. Leases on shared work are in [`crate::jobs`].

use chrono::Duration;
use serde::Serialize;
use sqlx::Row;

use crate::{Result, Store, time};

/// A new node's name: host, process and a random part, so that a restarted node (or
/// a second server in one process) is a new one.
pub fn new_node_id() -> String {
    let host = std::fs::read_to_string("/etc/hostname")
        .map(|h| h.trim().to_string())
        .unwrap_or_else(|_| "node".into());
    let suffix = hex::encode(crate::secrets::random_bytes::<3>());
    format!("{host}:{}:{suffix}", std::process::id())
}

/// Takes one event for every key of `limits` at once, if each is under its
/// allowance (`(key, max)`), and returns the moment recorded; `None` when any is
/// over, and then nothing is recorded. Check and record are one transaction, held
/// under a lock per key (an advisory lock on PostgreSQL, the writer lock on
/// SQLite), so that parallel requests cannot all pass the check before any records.
pub async fn rate_take(
    store: &Store,
    limits: &[(&str, i64)],
    window: Duration,
) -> Result<Option<String>> {
    let now = store.now();
    let since = time::format(now - window);
    let at = time::format(now);
    let mut tx = store.begin().await?;
    if tx.dialect() == crate::store::Dialect::Postgres {
        let mut keys: Vec<&str> = limits.iter().map(|(k, _)| *k).collect();
        keys.sort_unstable();
        for k in keys {
            sqlx::query("SELECT pg_advisory_xact_lock(hashtextextended($1, 0))")
                .bind(format!("rate:{k}"))
                .execute(tx.conn())
                .await?;
        }
    }
    for (key, max) in limits {
        let n: i64 =
            sqlx::query_scalar("SELECT COUNT(*) FROM rate_events WHERE key = $1 AND at > $2")
                .bind(*key)
                .bind(&since)
                .fetch_one(tx.conn())
                .await?;
        if n >= *max {
            return Ok(None);
        }
    }
    for (key, _) in limits {
        sqlx::query("DELETE FROM rate_events WHERE key = $1 AND at <= $2")
            .bind(*key)
            .bind(&since)
            .execute(tx.conn())
            .await?;
        sqlx::query("INSERT INTO rate_events (key, at) VALUES ($1, $2)")
            .bind(*key)
            .bind(&at)
            .execute(tx.conn())
            .await?;
    }
    tx.commit().await?;
    Ok(Some(at))
}

/// Gives back an event [`rate_take`] recorded at `at` (an attempt that turned out
/// to be no failure).
pub async fn rate_give_back(store: &Store, key: &str, at: &str) -> Result<()> {
    store
        .write(
            sqlx::query("DELETE FROM rate_events WHERE key = $1 AND at = $2")
                .bind(key)
                .bind(at),
        )
        .await?;
    Ok(())
}

pub async fn rate_clear(store: &Store, key: &str) -> Result<()> {
    store
        .write(sqlx::query("DELETE FROM rate_events WHERE key = $1").bind(key))
        .await?;
    Ok(())
}

/// Says this node is alive (every few seconds).
pub async fn heartbeat(store: &Store, id: &str, address: &str) -> Result<()> {
    let now = store.now_str();
    let beat = sqlx::query(
        "INSERT INTO nodes (id, address, version, started_at, seen_at) VALUES ($1, $2, $3, $4, $4)
         ON CONFLICT (id) DO UPDATE SET seen_at = excluded.seen_at, address = excluded.address",
    )
    .bind(id)
    .bind(address)
    .bind(env!("CARGO_PKG_VERSION"))
    .bind(&now);
    store.write(beat).await?;
    // Nodes gone for a day are forgotten.
    store
        .write(
            sqlx::query("DELETE FROM nodes WHERE seen_at < $1")
                .bind(time::format(store.now() - Duration::days(1))),
        )
        .await?;
    Ok(())
}

/// Says this node stopped cleanly: it leaves the list, so that only a node that
/// vanished without a word reads as not answering.
pub async fn leave(store: &Store, id: &str) -> Result<()> {
    store
        .write(sqlx::query("DELETE FROM nodes WHERE id = $1").bind(id))
        .await?;
    Ok(())
}

#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Node {
    pub id: String,
    pub address: String,
    pub version: String,
    pub started_at: String,
    pub seen_at: String,
    /// Seen in the last 30 seconds.
    pub alive: bool,
}

pub async fn nodes(store: &Store) -> Result<Vec<Node>> {
    let recent = time::format(store.now() - Duration::seconds(30));
    let rows = sqlx::query(
        "SELECT id, address, version, started_at, seen_at FROM nodes ORDER BY started_at",
    )
    .fetch_all(store.pool())
    .await?;
    rows.iter()
        .map(|r| {
            let seen_at: String = r.try_get("seen_at")?;
            Ok(Node {
                id: r.try_get("id")?,
                address: r.try_get("address")?,
                version: r.try_get("version")?,
                started_at: r.try_get("started_at")?,
                alive: seen_at > recent,
                seen_at,
            })
        })
        .collect()
}
