//! Work several nodes on one database share: a job one node runs at a time
//! ([`lease`]) and queues whose items one node at a time takes ([`Queue::claim`]).
//!
//! Every lease is timed by the database's clock ([`db_now`]), not the node's: nodes
//! whose clocks disagree still agree on when a lease ran out, and a node whose clock
//! runs ahead cannot take work from one that is alive. When an item is *due* (a
//! retry's backoff, a scheduled send) is the team's schedule and stays on the
//! store's clock, which tests move.
//!
//! Two kinds of shared work need no lease and do not come here: the observation
//! roll-up reads its batches under the write lock (or `FOR UPDATE`) and marks them
//! in the same transaction, and a feed's chunk is taken by inserting its row, which
//! only one node can do.
//!
//! # Layout
//! - [`db_now`]: the database's time.
//! - [`lease`], [`release`], [`leases`]: named jobs, in `job_leases`.
//! - [`Queue`], [`Queue::claim`] (or [`Queue::give_back`] then [`Queue::take`]): a
//!   queue table's items, each with a `lease_until`.

use chrono::{DateTime, Duration, Utc};
use serde::Serialize;
use sqlx::any::AnyRow;
use sqlx::{AssertSqlSafe, FromRow};

use crate::store::Dialect;
use crate::{CoreError, Result, Store, time};

/// The database's time, as both dialects write it in text (RFC 3339, UTC).
pub async fn db_now(store: &Store) -> Result<DateTime<Utc>> {
    let sql = match store.dialect() {
        Dialect::Sqlite => "SELECT strftime('%Y-%m-%dT%H:%M:%fZ', 'now')",
        Dialect::Postgres => {
            "SELECT to_char(clock_timestamp() AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"')"
        }
    };
    let text: String = sqlx::query_scalar(sql).fetch_one(store.pool()).await?;
    time::parse(&text)
        .ok_or_else(|| CoreError::Internal(format!("the database's time {text:?} does not read")))
}

/// Takes the lease on `job` for `ttl` if nobody holds it (or its holder let it run
/// out, having died); renews it if `holder` has it. True when `holder` has it now.
pub async fn lease(store: &Store, job: &str, holder: &str, ttl: Duration) -> Result<bool> {
    let now = db_now(store).await?;
    let lease = sqlx::query(
        "INSERT INTO job_leases (job, holder, started_at, until) VALUES ($1, $2, $3, $4)
         ON CONFLICT (job) DO UPDATE SET holder = excluded.holder, started_at = excluded.started_at, until = excluded.until
         WHERE job_leases.until < $3 OR job_leases.holder = $2",
    )
    .bind(job)
    .bind(holder)
    .bind(time::format(now))
    .bind(time::format(now + ttl));
    let taken = store.write(lease).await?.rows_affected();
    Ok(taken > 0)
}

/// Gives the lease back at once, so the next node need not wait for it to run out.
pub async fn release(store: &Store, job: &str, holder: &str) -> Result<()> {
    let now = db_now(store).await?;
    store
        .write(
            sqlx::query("UPDATE job_leases SET until = $1 WHERE job = $2 AND holder = $3")
                .bind(time::format(now - Duration::seconds(1)))
                .bind(job)
                .bind(holder),
        )
        .await?;
    Ok(())
}

/// A lease as the operations page shows it.
#[derive(Debug, Clone, Serialize, PartialEq, Eq, sqlx::FromRow)]
pub struct Lease {
    pub job: String,
    pub holder: String,
    pub started_at: String,
    pub until: String,
    #[sqlx(skip)]
    pub held: bool,
}

pub async fn leases(store: &Store) -> Result<Vec<Lease>> {
    let now = time::format(db_now(store).await?);
    let mut leases: Vec<Lease> =
        sqlx::query_as("SELECT job, holder, started_at, until FROM job_leases ORDER BY job")
            .fetch_all(store.pool())
            .await?;
    for l in &mut leases {
        l.held = l.until > now;
    }
    Ok(leases)
}

/// A table whose rows wait to be taken by one node at a time. Each row has a
/// `lease_until` column: a taken row whose lease ran out belongs to a node that
/// stopped, and goes back to waiting. The parts are SQL the caller writes as
/// constants; nothing a user gives goes into them.
#[derive(Debug, Clone, Copy)]
pub struct Queue {
    pub table: &'static str,
    /// The columns naming a row, in the order a claim returns them.
    pub key: &'static str,
    /// Which rows wait to be taken, e.g. `status = 'queued'`.
    pub waiting: &'static str,
    /// A column that must not be later than the node's clock for a waiting row to
    /// be taken (a retry's backoff), if the queue has one.
    pub due: Option<&'static str>,
    /// What taking a row sets besides its lease, e.g. `status = 'sending'`.
    pub take: &'static str,
    /// Which taken rows go back when their lease runs out, e.g. `status = 'sending'`.
    pub taken: &'static str,
    /// What giving a row back sets, e.g. `status = 'queued'`.
    pub give_back: &'static str,
}

/// What one claim did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Claim<K> {
    /// The rows taken, by their key columns.
    pub taken: Vec<K>,
    /// Rows whose lease had run out, given back before taking.
    pub given_back: u64,
}

impl Queue {
    /// Gives back the taken rows whose lease ran out, then takes up to `limit`
    /// waiting rows for `ttl` (the first by key; returned in no set order).
    pub async fn claim<K>(&self, store: &Store, limit: i64, ttl: Duration) -> Result<Claim<K>>
    where
        K: for<'r> FromRow<'r, AnyRow> + Send + Unpin,
    {
        let now = db_now(store).await?;
        let given_back = self.give_back_at(store, now).await?;
        let taken = self.take_at(store, now, limit, ttl).await?;
        Ok(Claim { taken, given_back })
    }

    /// Gives back the taken rows whose lease ran out; returns how many. A sender
    /// that takes one row at a time does this once per pass, then [`Queue::take`]s.
    pub async fn give_back(&self, store: &Store) -> Result<u64> {
        self.give_back_at(store, db_now(store).await?).await
    }

    /// Takes up to `limit` waiting rows for `ttl`, without giving any back first.
    /// On PostgreSQL the rows another node is taking at the same moment are
    /// skipped, not waited for; SQLite has one writer at a time.
    pub async fn take<K>(&self, store: &Store, limit: i64, ttl: Duration) -> Result<Vec<K>>
    where
        K: for<'r> FromRow<'r, AnyRow> + Send + Unpin,
    {
        self.take_at(store, db_now(store).await?, limit, ttl).await
    }

    async fn give_back_at(&self, store: &Store, now: DateTime<Utc>) -> Result<u64> {
        let Queue {
            table,
            taken,
            give_back,
            ..
        } = *self;
        let done = store
            .write(
                sqlx::query(AssertSqlSafe(format!(
                    "UPDATE {table} SET {give_back}, lease_until = NULL WHERE {taken} AND (lease_until IS NULL OR lease_until < $1)"
                )))
                .bind(time::format(now)),
            )
            .await?;
        Ok(done.rows_affected())
    }

    async fn take_at<K>(
        &self,
        store: &Store,
        now: DateTime<Utc>,
        limit: i64,
        ttl: Duration,
    ) -> Result<Vec<K>>
    where
        K: for<'r> FromRow<'r, AnyRow> + Send + Unpin,
    {
        let Queue {
            table,
            key,
            waiting,
            take,
            ..
        } = *self;
        let skip_locked = match store.dialect() {
            Dialect::Postgres => " FOR UPDATE SKIP LOCKED",
            Dialect::Sqlite => "",
        };
        let due = self
            .due
            .map(|column| format!(" AND {column} <= $3"))
            .unwrap_or_default();
        let mut tx = store.begin().await?;
        let mut claim = sqlx::query_as::<_, K>(AssertSqlSafe(format!(
            "UPDATE {table} SET {take}, lease_until = $1
             WHERE ({key}) IN (
               SELECT {key} FROM {table}
               WHERE {waiting} AND (lease_until IS NULL OR lease_until < $2){due}
               ORDER BY {key} LIMIT {limit}{skip_locked})
             RETURNING {key}",
            limit = limit.max(1),
        )))
        .bind(time::format(now + ttl))
        .bind(time::format(now));
        if self.due.is_some() {
            claim = claim.bind(store.now_str());
        }
        let rows = claim.fetch_all(tx.conn()).await?;
        tx.commit().await?;
        Ok(rows)
    }
}
