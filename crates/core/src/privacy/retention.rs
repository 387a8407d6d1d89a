//! How long each kind of personal data is kept, and the daily job that removes
//! what is older.
//!
//! Every kind is removed a slice at a time, each slice its own short transaction,
//! so that on SQLite the server's own writes go on between slices and a job
//! interrupted half way leaves a consistent store that the next run finishes.
//! Rows are walked by their key (a number, or an address key for the tables kept
//! by address), so a run reads each table once however much it removes.

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, Utc};
use serde::Serialize;
use sqlx::AssertSqlSafe;

use crate::config::RetentionConfig;
use crate::store::{Dialect, Tx};
use crate::{Result, Store, time};

/// The lease under which one node at a time runs the job.
pub const JOB: &str = "privacy.retention";

/// Rows taken per slice.
const SLICE: i64 = 5000;
/// Feed batches per slice: each holds its events' rows, a few kilobytes to
/// megabytes, and freeing them is most of the work.
const FEED_SLICE: i64 = 500;
/// Address-keyed rows walked per slice.
const WALK: i64 = 20000;

/// A kind of personal data with an age of its own.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Kind {
    RawReports,
    ReporterContacts,
    FeedEvents,
    SensorBatches,
    MailBodies,
    Sessions,
    Logs,
}

impl Kind {
    pub const ALL: [Kind; 7] = [
        Kind::RawReports,
        Kind::ReporterContacts,
        Kind::FeedEvents,
        Kind::SensorBatches,
        Kind::MailBodies,
        Kind::Sessions,
        Kind::Logs,
    ];

    /// The name in the configuration (`<name>_days`), the record and the catalogs.
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::RawReports => "raw_reports",
            Kind::ReporterContacts => "reporter_contacts",
            Kind::FeedEvents => "feed_events",
            Kind::SensorBatches => "sensor_batches",
            Kind::MailBodies => "mail_bodies",
            Kind::Sessions => "sessions",
            Kind::Logs => "logs",
        }
    }

    pub fn parse(s: &str) -> Option<Kind> {
        Kind::ALL.into_iter().find(|k| k.as_str() == s)
    }

    /// Days this kind is kept; 0 for ever.
    pub fn days(self, config: &RetentionConfig) -> u64 {
        match self {
            Kind::RawReports => config.raw_reports_days,
            Kind::ReporterContacts => config.reporter_contacts_days,
            Kind::FeedEvents => config.feed_events_days,
            Kind::SensorBatches => config.sensor_batches_days,
            Kind::MailBodies => config.mail_bodies_days,
            Kind::Sessions => config.sessions_days,
            Kind::Logs => config.logs_days,
        }
    }
}

/// What one run removed (or, in a dry run, would remove), kind by kind: reports
/// whose bytes or contact details went, feed events, sensor batches, mails,
/// sessions and log rows. Kinds kept for ever are absent.
pub type Removed = BTreeMap<String, u64>;

/// The record of one run of the job.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Run {
    pub id: i64,
    pub node: String,
    pub started_at: String,
    pub finished_at: Option<String>,
    pub removed: Removed,
    pub error: Option<String>,
}

/// Removes (or with `dry_run` counts) everything older than `config` keeps it,
/// kind by kind, as of the store's clock.
pub async fn run(store: &Store, config: &RetentionConfig, dry_run: bool) -> Result<Removed> {
    let now = store.now();
    let mut removed = Removed::new();
    for kind in Kind::ALL {
        let days = kind.days(config);
        if days == 0 {
            continue;
        }
        let cutoff = now - Duration::days(days.min(365 * 1000) as i64);
        let n = if dry_run {
            count(store, kind, cutoff).await?
        } else {
            remove(store, kind, cutoff).await?
        };
        removed.insert(kind.as_str().to_string(), n);
    }
    Ok(removed)
}

/// True when no run has finished within the last day (by the store's clock).
pub async fn due(store: &Store) -> Result<bool> {
    let since = time::format(store.now() - Duration::hours(23) - Duration::minutes(50));
    let recent: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM retention_runs WHERE started_at > $1 AND error IS NULL",
    )
    .bind(since)
    .fetch_one(store.pool())
    .await?;
    Ok(recent == 0)
}

/// Runs the job as the server does, recording the run for the operations page:
/// started, then finished with what went or the error that stopped it.
pub async fn run_recorded(store: &Store, config: &RetentionConfig, node: &str) -> Result<Run> {
    let started_at = store.now_str();
    let mut tx = store.begin().await?;
    let id: i64 = sqlx::query_scalar(
        "INSERT INTO retention_runs (node, started_at) VALUES ($1, $2) RETURNING id",
    )
    .bind(node)
    .bind(&started_at)
    .fetch_one(tx.conn())
    .await?;
    tx.commit().await?;
    let outcome = run(store, config, false).await;
    let (removed, error) = match &outcome {
        Ok(r) => (r.clone(), None),
        Err(e) => (Removed::new(), Some(e.to_string())),
    };
    let finished_at = store.now_str();
    store
        .write(
            sqlx::query(
                "UPDATE retention_runs SET finished_at = $1, removed = $2, error = $3 WHERE id = $4",
            )
            .bind(&finished_at)
            .bind(serde_json::to_string(&removed).unwrap_or_else(|_| "{}".into()))
            .bind(error.clone())
            .bind(id),
        )
        .await?;
    outcome?;
    Ok(Run {
        id,
        node: node.to_string(),
        started_at,
        finished_at: Some(finished_at),
        removed,
        error,
    })
}

/// The latest runs, newest first.
pub async fn runs(store: &Store, limit: i64) -> Result<Vec<Run>> {
    type Row = (i64, String, String, Option<String>, String, Option<String>);
    let rows: Vec<Row> = sqlx::query_as(
        "SELECT id, node, started_at, finished_at, removed, error FROM retention_runs ORDER BY id DESC LIMIT $1",
    )
    .bind(limit)
    .fetch_all(store.pool())
    .await?;
    Ok(rows
        .into_iter()
        .map(|(id, node, started_at, finished_at, removed, error)| Run {
            id,
            node,
            started_at,
            finished_at,
            removed: serde_json::from_str(&removed).unwrap_or_default(),
            error,
        })
        .collect())
}

/// The rows (and for feeds, events) `kind` would remove at `cutoff`.
async fn count(store: &Store, kind: Kind, cutoff: DateTime<Utc>) -> Result<u64> {
    let at = time::format(cutoff);
    let day = day_of(cutoff);
    let rows =
        |table: &str, condition: &str| format!("SELECT COUNT(*) FROM {table} WHERE {condition}");
    Ok(match kind {
        Kind::RawReports => one_dyn(store, &rows("reports", RAW_REPORTS), &at).await?,
        Kind::ReporterContacts => one_dyn(store, &rows("reports", CONTACTS), &at).await?,
        Kind::FeedEvents => {
            one_dyn(
                store,
                "SELECT CAST(COALESCE(SUM(events), 0) AS BIGINT) FROM feed_batches WHERE day < $1",
                &day,
            )
            .await?
        }
        Kind::SensorBatches => one_dyn(store, &rows("sensor_batches", SENSOR_BATCHES), &at).await?,
        Kind::MailBodies => {
            one_dyn(store, &rows("outbox", OUTBOX_BODIES), &at).await?
                + one_dyn(store, &rows("messages", MESSAGE_RAW), &at).await?
        }
        Kind::Sessions => {
            let mut n = 0;
            for table in EXPIRING {
                n += one_dyn(store, &rows(table, "expires_at < $1"), &at).await?;
            }
            n
        }
        Kind::Logs => {
            one_dyn(store, &rows("rate_events", "at < $1"), &at).await?
                + one_dyn(store, &rows("nodes", "seen_at < $1"), &at).await?
        }
    })
}

async fn one_dyn(store: &Store, sql: &str, bound: &str) -> Result<u64> {
    let n: i64 = sqlx::query_scalar(AssertSqlSafe(sql.to_string()))
        .bind(bound)
        .fetch_one(store.pool())
        .await?;
    Ok(n.max(0) as u64)
}

/// Reports read (not waiting to be) whose bytes are still kept.
const RAW_REPORTS: &str = "received_at < $1 AND raw_discarded_at IS NULL AND status <> 'received'";
/// Reports with contact details none of whose incidents is still open.
const CONTACTS: &str = "received_at < $1 AND status <> 'received'
    AND (reporter_name IS NOT NULL OR reporter_email IS NOT NULL OR reporter_phone IS NOT NULL)
    AND NOT EXISTS (SELECT 1 FROM incidents i WHERE i.report_id = reports.id AND i.closed_at IS NULL)";
/// Sensor batches already counted into the port statistics.
const SENSOR_BATCHES: &str = "received_at < $1 AND rolled_up = 1";
/// Mail that left (or was given up on) whose text is still kept.
const OUTBOX_BODIES: &str =
    "created_at < $1 AND status IN ('sent', 'failed') AND (body <> '' OR raw IS NOT NULL)";
const MESSAGE_RAW: &str = "created_at < $1 AND raw IS NOT NULL";

/// Tables of things that run out: sign-ins, their second steps, one-time links.
const EXPIRING: [&str; 7] = [
    "sessions",
    "login_challenges",
    "sso_logins",
    "passkey_registrations",
    "account_links",
    "thread_links",
    "setup_tokens",
];

fn day_of(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%d").to_string()
}

fn empty_blob(dialect: Dialect) -> &'static str {
    match dialect {
        Dialect::Sqlite => "X''",
        Dialect::Postgres => "''::bytea",
    }
}

async fn remove(store: &Store, kind: Kind, cutoff: DateTime<Utc>) -> Result<u64> {
    let at = time::format(cutoff);
    let day = day_of(cutoff);
    let now = store.now_str();
    let blob = empty_blob(store.dialect());
    Ok(match kind {
        Kind::RawReports => {
            by_id(
                store,
                "reports",
                RAW_REPORTS,
                &at,
                &format!(
                    "UPDATE reports SET raw = {blob}, raw_discarded_at = '{now}' WHERE id IN ({{ids}})"
                ),
                &[&format!(
                    "UPDATE report_attachments SET data = {blob} WHERE report_id IN ({{ids}})"
                )],
            )
            .await?
        }
        Kind::ReporterContacts => {
            by_id(
                store,
                "reports",
                CONTACTS,
                &at,
                "UPDATE reports SET reporter_name = NULL, reporter_email = NULL, reporter_phone = NULL WHERE id IN ({ids})",
                &[],
            )
            .await?
        }
        Kind::FeedEvents => {
            // The sightings name their batch: they go first, with any still staged
            // (a merge would otherwise name a batch that is gone).
            by_address(store, "feed_sightings", &day).await?;
            delete_where(store, "feed_sightings_staged", "day < $1", &day).await?;
            let mut events = 0;
            let mut last = 0i64;
            loop {
                let slice: Vec<(i64, i64)> = sqlx::query_as(
                    "SELECT id, events FROM feed_batches WHERE id > $1 AND day < $2 ORDER BY id LIMIT $3",
                )
                .bind(last)
                .bind(&day)
                .bind(FEED_SLICE)
                .fetch_all(store.pool())
                .await?;
                let Some(&(top, _)) = slice.last() else { break };
                last = top;
                let ids: Vec<i64> = slice.iter().map(|s| s.0).collect();
                let mut tx = store.begin().await?;
                tx.execute_for_ids("DELETE FROM feed_batches WHERE id IN ({ids})", &[], &ids)
                    .await?;
                tx.commit().await?;
                events += slice.iter().map(|s| s.1.max(0) as u64).sum::<u64>();
            }
            events
        }
        Kind::SensorBatches => {
            by_address(store, "sensor_sources", &day).await?;
            by_id(
                store,
                "sensor_batches",
                SENSOR_BATCHES,
                &at,
                "DELETE FROM sensor_batches WHERE id IN ({ids})",
                &[],
            )
            .await?
        }
        Kind::MailBodies => {
            by_id(
                store,
                "outbox",
                OUTBOX_BODIES,
                &at,
                "UPDATE outbox SET body = '', raw = NULL WHERE id IN ({ids})",
                &[],
            )
            .await?
                + by_id(
                    store,
                    "messages",
                    MESSAGE_RAW,
                    &at,
                    "UPDATE messages SET raw = NULL WHERE id IN ({ids})",
                    &[],
                )
                .await?
        }
        Kind::Sessions => {
            let mut n = 0;
            for table in EXPIRING {
                n += delete_where(store, table, "expires_at < $1", &at).await?;
            }
            n
        }
        Kind::Logs => {
            delete_where(store, "rate_events", "at < $1", &at).await?
                + delete_where(store, "nodes", "seen_at < $1", &at).await?
        }
    })
}

/// Applies `change` (and `also`, each with `{ids}`) to the rows of `table` that
/// `condition` (with `$1` = `bound`) selects, a slice at a time in key order.
async fn by_id(
    store: &Store,
    table: &str,
    condition: &str,
    bound: &str,
    change: &str,
    also: &[&str],
) -> Result<u64> {
    let select =
        format!("SELECT id FROM {table} WHERE id > $2 AND ({condition}) ORDER BY id LIMIT {SLICE}");
    let mut last = 0i64;
    let mut done = 0u64;
    loop {
        let ids: Vec<i64> = sqlx::query_scalar(AssertSqlSafe(select.clone()))
            .bind(bound)
            .bind(last)
            .fetch_all(store.pool())
            .await?;
        let Some(&top) = ids.last() else { break };
        last = top;
        let mut tx = store.begin().await?;
        for sql in also {
            tx.execute_for_ids(sql, &[], &ids).await?;
        }
        done += tx.execute_for_ids(change, &[], &ids).await?;
        tx.commit().await?;
    }
    Ok(done)
}

/// Deletes from a small table (sessions, rate records) in slices of its own rows.
async fn delete_where(store: &Store, table: &str, condition: &str, bound: &str) -> Result<u64> {
    // These tables have no common key; each slice deletes rows chosen by the
    // condition until none is left, which on a small table is as cheap.
    let sql = match store.dialect() {
        Dialect::Sqlite => format!(
            "DELETE FROM {table} WHERE rowid IN (SELECT rowid FROM {table} WHERE {condition} LIMIT {SLICE})"
        ),
        Dialect::Postgres => format!(
            "DELETE FROM {table} WHERE ctid IN (SELECT ctid FROM {table} WHERE {condition} LIMIT {SLICE})"
        ),
    };
    let mut done = 0;
    loop {
        let n = store
            .write(sqlx::query(AssertSqlSafe(sql.clone())).bind(bound))
            .await?
            .rows_affected();
        done += n;
        if n < SLICE as u64 {
            return Ok(done);
        }
    }
}

/// Deletes the rows of an address-keyed table (`ip_key` leading its key, `day`
/// a column) from before `day`, walking the key a slice at a time: the key is the
/// only index such a table has, and a scan per slice would read it over and over.
async fn by_address(store: &Store, table: &str, day: &str) -> Result<u64> {
    let bound_sql = format!(
        "SELECT ip_key FROM {table} WHERE ip_key > $1 ORDER BY ip_key LIMIT 1 OFFSET {WALK}"
    );
    let mut last = String::new();
    let mut done = 0;
    loop {
        let bound: Option<String> = sqlx::query_scalar(AssertSqlSafe(bound_sql.clone()))
            .bind(&last)
            .fetch_optional(store.pool())
            .await?;
        let mut tx: Tx = store.begin().await?;
        let q = match &bound {
            Some(b) => sqlx::query(AssertSqlSafe(format!(
                "DELETE FROM {table} WHERE ip_key > $1 AND ip_key <= $2 AND day < $3"
            )))
            .bind(last.clone())
            .bind(b.clone())
            .bind(day),
            None => sqlx::query(AssertSqlSafe(format!(
                "DELETE FROM {table} WHERE ip_key > $1 AND day < $2"
            )))
            .bind(last.clone())
            .bind(day),
        };
        done += q.execute(tx.conn()).await?.rows_affected();
        tx.commit().await?;
        match bound {
            Some(b) => last = b,
            None => return Ok(done),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_reads_back_from_its_name() {
        for k in Kind::ALL {
            assert_eq!(Kind::parse(k.as_str()), Some(k));
        }
        assert_eq!(Kind::parse("everything"), None);
    }

    #[test]
    fn a_kind_kept_for_ever_has_no_age() {
        let c = RetentionConfig::default();
        assert_eq!(Kind::RawReports.days(&c), 0);
        assert_eq!(Kind::Sessions.days(&c), 30);
    }
}
