//! Enrichment tables in the database: each load is kept as the files were given
//! (compressed), so that every node builds the same tables and a reload elsewhere is
//! noticed; and the state of contacts that bounce.

use std::io::{Read, Write};

use renkei_core::Store;
use renkei_core::audit::{self, Actor, Event};
use serde::Serialize;
use serde_json::json;
use sha2::{Digest, Sha256};

use crate::{EnrichError, Enricher, Format, Kind, Problem, Result, Tables};

/// What a load did.
#[derive(Debug, Clone, Serialize)]
pub struct LoadReport {
    pub kind: &'static str,
    pub format: &'static str,
    pub files: Vec<String>,
    pub rows: usize,
    pub bad_rows: usize,
    /// The first bad lines, with file and line number.
    pub problems: Vec<Problem>,
}

/// Reads the files, and if they yield anything, replaces the kind's table with them
/// (for contacts: the kind's table in that format, so that the team's own directory
/// and an RPSL dump sit side by side).
pub async fn load(
    store: &Store,
    actor: &Actor,
    kind: Kind,
    format: Format,
    files: &[(String, Vec<u8>)],
) -> Result<LoadReport> {
    let mut loaded = crate::load::Loaded::default();
    for (name, data) in files {
        loaded.read(kind, format, name, data)?;
    }
    let report = LoadReport {
        kind: kind.as_str(),
        format: format.as_str(),
        files: files.iter().map(|(n, _)| n.clone()).collect(),
        rows: loaded.rows,
        bad_rows: loaded.bad_rows,
        problems: loaded.problems,
    };
    if report.rows == 0 {
        // Loading nothing must not wipe a working table.
        return Err(EnrichError::Invalid(format!(
            "no usable rows in {} ({} bad); the {} table is unchanged",
            report.files.join(", "),
            report.bad_rows,
            kind.as_str()
        )));
    }
    let now = store.now_str();
    let mut tx = store.begin().await?;
    if kind == Kind::Contacts {
        sqlx::query("DELETE FROM enrich_sources WHERE kind = $1 AND format = $2")
            .bind(kind.as_str())
            .bind(format.as_str())
            .execute(tx.conn())
            .await?;
    } else {
        sqlx::query("DELETE FROM enrich_sources WHERE kind = $1")
            .bind(kind.as_str())
            .execute(tx.conn())
            .await?;
    }
    for (name, data) in files {
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(data)
            .map_err(|e| EnrichError::Damaged(e.to_string()))?;
        let packed = gz
            .finish()
            .map_err(|e| EnrichError::Damaged(e.to_string()))?;
        sqlx::query(
            "INSERT INTO enrich_sources (kind, format, file_name, data, sha256, size, loaded_at, loaded_by) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(kind.as_str())
        .bind(format.as_str())
        .bind(name)
        .bind(packed)
        .bind(hex::encode(Sha256::digest(data)))
        .bind(data.len() as i64)
        .bind(&now)
        .bind(&actor.label)
        .execute(tx.conn())
        .await?;
    }
    audit::record(
        &mut tx,
        actor,
        Event {
            action: "enrich.loaded",
            object_type: "enrich_table",
            object_id: kind.as_str().to_string(),
            changes: json!({"format": format.as_str(), "files": report.files, "rows": report.rows, "bad_rows": report.bad_rows}),
        },
    )
    .await?;
    tx.commit().await?;
    Ok(report)
}

/// One stored file, for the status page.
#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct SourceInfo {
    pub kind: String,
    pub format: String,
    pub file_name: String,
    pub size: i64,
    pub sha256: String,
    pub loaded_at: String,
    pub loaded_by: String,
}

pub async fn list(store: &Store) -> Result<Vec<SourceInfo>> {
    Ok(sqlx::query_as(
        "SELECT kind, format, file_name, size, sha256, loaded_at, loaded_by FROM enrich_sources ORDER BY kind, format, id",
    )
    .fetch_all(store.pool())
    .await?)
}

async fn generation(store: &Store) -> Result<(i64, i64)> {
    Ok(
        sqlx::query_as("SELECT COALESCE(MAX(id), 0) AS last, COUNT(*) AS n FROM enrich_sources")
            .fetch_one(store.pool())
            .await?,
    )
}

/// Builds the tables from what the database holds.
pub async fn build_tables(store: &Store) -> Result<Tables> {
    let rows: Vec<(String, String, String, Vec<u8>)> =
        sqlx::query_as("SELECT kind, format, file_name, data FROM enrich_sources ORDER BY id")
            .fetch_all(store.pool())
            .await?;
    let mut files = Vec::with_capacity(rows.len());
    for (kind, format, name, packed) in rows {
        let kind = Kind::parse(&kind).map_err(|e| EnrichError::Damaged(e.to_string()))?;
        let format = Format::parse(&format).map_err(|e| EnrichError::Damaged(e.to_string()))?;
        files.push((kind, format, name, packed));
    }
    // Each file is unpacked only when it is read, and dropped after.
    let mut damaged = None;
    let unpacked = files.into_iter().map(|(kind, format, name, packed)| {
        let mut data = Vec::new();
        if let Err(e) = flate2::read::GzDecoder::new(packed.as_slice()).read_to_end(&mut data) {
            damaged.get_or_insert_with(|| format!("{name}: {e}"));
            data.clear();
        }
        (kind, format, name, data)
    });
    let (tables, _) = Tables::build(unpacked)?;
    if let Some(d) = damaged {
        return Err(EnrichError::Damaged(d));
    }
    Ok(tables)
}

impl Enricher {
    /// The tables the database holds now.
    pub async fn open(store: &Store) -> Result<Enricher> {
        let enricher = Enricher::default();
        enricher.refresh(store).await?;
        Ok(enricher)
    }

    /// Rebuilds the tables if the database holds other ones than those in use (a load
    /// on this or another node); returns whether it did.
    pub async fn refresh(&self, store: &Store) -> Result<bool> {
        let now = generation(store).await?;
        if now == self.generation() {
            return Ok(false);
        }
        let started = std::time::Instant::now();
        let tables = build_tables(store).await?;
        tracing::info!(sizes = ?tables.sizes(), millis = started.elapsed().as_millis() as u64, "enrichment tables loaded");
        self.replace(tables, now);
        Ok(true)
    }

    /// Keeps the tables current until `shutdown` resolves.
    pub async fn run(
        self,
        store: Store,
        every: std::time::Duration,
        shutdown: impl std::future::Future<Output = ()> + Send,
    ) {
        let mut shutdown = std::pin::pin!(shutdown);
        loop {
            tokio::select! {
                _ = &mut shutdown => return,
                _ = tokio::time::sleep(every) => {
                    if let Err(e) = self.refresh(&store).await {
                        tracing::warn!(error = %e, "enrichment tables not refreshed");
                    }
                }
            }
        }
    }
}

/// A contact whose mail bounced.
#[derive(Debug, Clone, Serialize, PartialEq, Eq, sqlx::FromRow)]
pub struct Failing {
    pub email: String,
    pub failures: i64,
    pub last_failed_at: String,
    pub last_status: Option<String>,
    pub last_diagnostic: Option<String>,
}

/// Marks an address as failing after a delivery status notification said so.
pub async fn mark_failing(
    tx: &mut renkei_core::store::Tx,
    email: &str,
    status: Option<&str>,
    diagnostic: Option<&str>,
) -> Result<()> {
    let email = email.trim().to_ascii_lowercase();
    let now = tx.now_str();
    let updated = sqlx::query(
        "UPDATE contact_status SET failing = 1, failures = failures + 1, last_failed_at = $1, last_status = $2, last_diagnostic = $3 WHERE email = $4",
    )
    .bind(&now)
    .bind(status)
    .bind(diagnostic)
    .bind(&email)
    .execute(tx.conn())
    .await?
    .rows_affected();
    if updated == 0 {
        sqlx::query(
            "INSERT INTO contact_status (email, failing, failures, first_failed_at, last_failed_at, last_status, last_diagnostic) VALUES ($1, 1, 1, $2, $2, $3, $4)",
        )
        .bind(&email)
        .bind(&now)
        .bind(status)
        .bind(diagnostic)
        .execute(tx.conn())
        .await?;
    }
    Ok(())
}

/// Clears the failing mark (the coordinator fixed the address, or mail got through).
pub async fn clear_failing(tx: &mut renkei_core::store::Tx, email: &str) -> Result<bool> {
    Ok(
        sqlx::query("UPDATE contact_status SET failing = 0 WHERE email = $1 AND failing = 1")
            .bind(email.trim().to_ascii_lowercase())
            .execute(tx.conn())
            .await?
            .rows_affected()
            > 0,
    )
}

/// The failing addresses among `emails`.
pub async fn failing(store: &Store, emails: &[String]) -> Result<Vec<Failing>> {
    if emails.is_empty() {
        return Ok(Vec::new());
    }
    let sql = format!(
        "SELECT email, failures, last_failed_at, last_status, last_diagnostic FROM contact_status WHERE failing = 1 AND email IN ({})",
        renkei_core::store::placeholders(1, emails.len())
    );
    let mut q = sqlx::query_as(sqlx::AssertSqlSafe(sql));
    for e in emails {
        q = q.bind(e.trim().to_ascii_lowercase());
    }
    Ok(q.fetch_all(store.pool()).await?)
}

/// Every failing address, most recent first.
pub async fn all_failing(store: &Store) -> Result<Vec<Failing>> {
    Ok(sqlx::query_as(
        "SELECT email, failures, last_failed_at, last_status, last_diagnostic FROM contact_status WHERE failing = 1 ORDER BY last_failed_at DESC",
    )
    .fetch_all(store.pool())
    .await?)
}
