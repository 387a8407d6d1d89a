//! Headline numbers for the dashboard and /metrics.

use serde::Serialize;

use crate::{Result, Store};

#[derive(Debug, Clone, Copy, Serialize, PartialEq, Eq)]
pub struct Counts {
    pub users: i64,
    pub organizations: i64,
    pub audit_entries: i64,
}

pub async fn counts(store: &Store) -> Result<Counts> {
    let pool = store.pool();
    Ok(Counts {
        users: sqlx::query_scalar("SELECT COUNT(*) FROM users")
            .fetch_one(pool)
            .await?,
        organizations: sqlx::query_scalar("SELECT COUNT(*) FROM organizations")
            .fetch_one(pool)
            .await?,
        audit_entries: sqlx::query_scalar("SELECT seq FROM audit_head WHERE id = 1")
            .fetch_one(pool)
            .await?,
    })
}

/// True when the database holds any report, alert, case or sensor: work a demo
/// seed must not mix with.
pub async fn holds_records(store: &Store) -> Result<bool> {
    let n: i64 = sqlx::query_scalar(
        "SELECT (SELECT COUNT(*) FROM reports) + (SELECT COUNT(*) FROM alerts) + (SELECT COUNT(*) FROM cases) + (SELECT COUNT(*) FROM sensors)",
    )
    .fetch_one(store.pool())
    .await?;
    Ok(n > 0)
}

/// True when the database answers.
pub async fn ping(store: &Store) -> Result<()> {
    sqlx::query_scalar::<_, i64>("SELECT 1")
        .fetch_one(store.pool())
        .await?;
    Ok(())
}
