//! The Store: one connection pool over SQLite (embedded default) or PostgreSQL
//! (production), with the schema migrations of both dialects embedded and run on open.
//!
//! Queries are written once in portable SQL with `$1` placeholders, which both
//! dialects accept. Writes go through [`Store::begin`], which on SQLite serializes
//! writers in-process: SQLite allows one writer, and a deferred transaction that reads
//! before it writes would otherwise fail with SQLITE_BUSY instead of waiting.
//!
//! On SQLite the writes also always use one connection of their own. A connection's
//! page cache is dropped whenever another connection has written since its last
//! transaction; with writes handed round the pool's connections in turn, every write
//! transaction began cold and read its pages again (measured: a third of a busy
//! mail listener's time went to that).

use std::str::FromStr;
use std::sync::{Arc, Once};
use std::time::Duration;

use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::migrate::Migrator;
use sqlx::{Any, AnyConnection, AnyPool, Executor, Transaction};
use tokio::sync::{Mutex, OwnedMutexGuard};

use chrono::{DateTime, Utc};

use crate::time::Clock;
use crate::{CoreError, Result};

// Nodes upgrade one at a time: a node of the previous release restarting against a
// database a newer node has migrated finds migrations it does not know, and goes on
// (migrations are expand-only within a release; see migrations/README.md).
static SQLITE_MIGRATIONS: Migrator = Migrator {
    ignore_missing: true,
    ..sqlx::migrate!("../../migrations/sqlite")
};
static POSTGRES_MIGRATIONS: Migrator = Migrator {
    ignore_missing: true,
    ..sqlx::migrate!("../../migrations/postgres")
};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    Sqlite,
    Postgres,
}

#[derive(Clone)]
pub struct Store {
    pool: AnyPool,
    /// SQLite's one connection for write transactions; PostgreSQL writes use the pool.
    writer: Option<AnyPool>,
    dialect: Dialect,
    write_lock: Arc<Mutex<()>>,
    clock: Clock,
}

/// The database's schema version and this binary's.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct SchemaState {
    /// The last migration the database ran.
    pub applied: i64,
    /// The last migration this binary embeds.
    pub embedded: i64,
    /// A migration failed part-way (PostgreSQL runs each in a transaction; SQLite
    /// marks one that failed).
    pub failed: bool,
}

impl SchemaState {
    /// True when the database has every migration this binary needs (a newer node
    /// may have run later ones).
    pub fn ready(&self) -> bool {
        !self.failed && self.applied >= self.embedded
    }
}

/// A write transaction. Dropping it without [`Tx::commit`] rolls back.
pub struct Tx {
    tx: Transaction<'static, Any>,
    dialect: Dialect,
    clock: Clock,
    _guard: Option<OwnedMutexGuard<()>>,
}

impl Tx {
    pub fn conn(&mut self) -> &mut AnyConnection {
        &mut self.tx
    }

    pub fn dialect(&self) -> Dialect {
        self.dialect
    }

    pub fn now(&self) -> DateTime<Utc> {
        self.clock.now()
    }

    pub fn now_str(&self) -> String {
        self.clock.now_str()
    }

    pub async fn commit(self) -> Result<()> {
        self.tx.commit().await?;
        Ok(())
    }

    /// Numbers for `n` new rows of `table` (whose key is `id`), taken now, so that
    /// rows which name each other (a message and its mail) can be built before any
    /// is written, then written many to a statement. PostgreSQL draws them from
    /// the column's sequence; on SQLite this transaction takes the write lock
    /// first, so that the numbers after the highest ever used stay its own.
    pub async fn reserve_ids(&mut self, table: &str, n: usize) -> Result<Vec<i64>> {
        if n == 0 {
            return Ok(Vec::new());
        }
        match self.dialect {
            Dialect::Postgres => Ok(sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
                "SELECT nextval(pg_get_serial_sequence('{table}', 'id')) FROM generate_series(1, $1)"
            )))
            .bind(n as i64)
            .fetch_all(&mut *self.tx)
            .await?),
            Dialect::Sqlite => {
                // A write that changes nothing still takes the write lock, which
                // holds until commit: no other process can take these numbers.
                sqlx::query(sqlx::AssertSqlSafe(format!(
                    "DELETE FROM {table} WHERE 0"
                )))
                .execute(&mut *self.tx)
                .await?;
                // AUTOINCREMENT never hands out a number used before, even one
                // whose row is gone: sqlite_sequence remembers the highest.
                let top: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
                    "SELECT MAX(COALESCE((SELECT MAX(id) FROM {table}), 0), COALESCE((SELECT seq FROM sqlite_sequence WHERE name = '{table}'), 0))"
                )))
                .fetch_one(&mut *self.tx)
                .await?;
                Ok((top + 1..=top + n as i64).collect())
            }
        }
    }

    /// Runs `sql` for many rows in few statements: `{ids}` in it becomes an `IN`
    /// list of up to 200 of `ids` at a time, after the `leading` text values
    /// (`$1`, …). On SQLite each statement is a round trip to the database's
    /// thread, so this beats one statement per row. Returns the rows changed.
    pub async fn execute_for_ids(
        &mut self,
        sql: &str,
        leading: &[&str],
        ids: &[i64],
    ) -> Result<u64> {
        let mut changed = 0;
        for chunk in ids.chunks(200) {
            let text = sql.replace("{ids}", &placeholders(leading.len() + 1, chunk.len()));
            let mut q = sqlx::query(sqlx::AssertSqlSafe(text));
            for l in leading {
                q = q.bind(*l);
            }
            for id in chunk {
                q = q.bind(*id);
            }
            changed += q.execute(&mut *self.tx).await?.rows_affected();
        }
        Ok(changed)
    }

    /// The ids among `ids` that `sql` selects, `{ids}` as in [`Tx::execute_for_ids`].
    pub async fn ids_among(
        &mut self,
        sql: &str,
        leading: &[&str],
        ids: &[i64],
    ) -> Result<Vec<i64>> {
        let mut found = Vec::new();
        for chunk in ids.chunks(200) {
            let text = sql.replace("{ids}", &placeholders(leading.len() + 1, chunk.len()));
            let mut q = sqlx::query_scalar::<_, i64>(sqlx::AssertSqlSafe(text));
            for l in leading {
                q = q.bind(*l);
            }
            for id in chunk {
                q = q.bind(*id);
            }
            found.extend(q.fetch_all(&mut *self.tx).await?);
        }
        Ok(found)
    }
}

impl Store {
    /// Opens (creating if need be) and migrates the database at `url`.
    pub async fn open(url: &str, max_connections: u32) -> Result<Store> {
        static DRIVERS: Once = Once::new();
        DRIVERS.call_once(sqlx::any::install_default_drivers);

        let (dialect, url) = if url.starts_with("sqlite:") {
            (Dialect::Sqlite, prepare_sqlite_url(url)?)
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            (Dialect::Postgres, url.to_string())
        } else {
            return Err(CoreError::Config(format!(
                "database url {url:?} is neither sqlite:… nor postgres://…"
            )));
        };
        let options = AnyConnectOptions::from_str(&url)
            .map_err(|e| CoreError::Config(format!("database url: {e}")))?;
        let mut pool_options = AnyPoolOptions::new()
            .max_connections(max_connections)
            .acquire_timeout(Duration::from_secs(30));
        if dialect == Dialect::Sqlite {
            // A file on this machine does not go away between queries: pinging it
            // before every checkout only doubles the round trips.
            pool_options = pool_options.test_before_acquire(false);
            pool_options = pool_options.after_connect(|conn, _meta| {
                Box::pin(async move {
                    conn.execute("PRAGMA journal_mode = WAL").await?;
                    conn.execute("PRAGMA foreign_keys = ON").await?;
                    conn.execute("PRAGMA busy_timeout = 10000").await?;
                    conn.execute("PRAGMA synchronous = NORMAL").await?;
                    // Reports carry their raw bytes: keep the hot pages in memory rather
                    // than re-reading them through system calls.
                    conn.execute("PRAGMA cache_size = -65536").await?;
                    conn.execute("PRAGMA mmap_size = 268435456").await?;
                    conn.execute("PRAGMA temp_store = MEMORY").await?;
                    Ok(())
                })
            });
        }
        let pool = pool_options.clone().connect_with(options.clone()).await?;
        match dialect {
            Dialect::Sqlite => SQLITE_MIGRATIONS.run(&pool).await?,
            Dialect::Postgres => POSTGRES_MIGRATIONS.run(&pool).await?,
        }
        let writer = match dialect {
            Dialect::Sqlite => Some(
                pool_options
                    .max_connections(1)
                    .connect_with(options)
                    .await?,
            ),
            Dialect::Postgres => None,
        };
        Ok(Store {
            pool,
            writer,
            dialect,
            write_lock: Arc::new(Mutex::new(())),
            clock: Clock::system(),
        })
    }

    /// The same store read and stamped with `clock` (the demo's quarter, a test's
    /// clock moved past an embargo). Every copy of the returned store shares it.
    pub fn with_clock(mut self, clock: Clock) -> Store {
        self.clock = clock;
        self
    }

    /// The one clock every record is stamped with and every rule that depends on
    /// time (sessions, embargoes, deadlines, leases held by this node) reads.
    pub fn clock(&self) -> &Clock {
        &self.clock
    }

    pub fn now(&self) -> DateTime<Utc> {
        self.clock.now()
    }

    pub fn now_str(&self) -> String {
        self.clock.now_str()
    }

    pub fn pool(&self) -> &AnyPool {
        &self.pool
    }

    pub fn dialect(&self) -> Dialect {
        self.dialect
    }

    /// Starts a write transaction (see the module documentation for why SQLite
    /// writers take a lock first).
    pub async fn begin(&self) -> Result<Tx> {
        let guard = match self.dialect {
            Dialect::Sqlite => Some(self.write_lock.clone().lock_owned().await),
            Dialect::Postgres => None,
        };
        let tx = self.writer.as_ref().unwrap_or(&self.pool).begin().await?;
        Ok(Tx {
            tx,
            dialect: self.dialect,
            clock: self.clock.clone(),
            _guard: guard,
        })
    }

    /// Runs one statement that writes, under the same writer lock as [`Store::begin`]:
    /// on SQLite a write that skipped the lock would make a transaction that read
    /// before writing fail with "database is locked".
    pub async fn write<'q>(
        &self,
        statement: sqlx::query::Query<'q, Any, sqlx::any::AnyArguments>,
    ) -> Result<sqlx::any::AnyQueryResult> {
        let mut tx = self.begin().await?;
        let done = statement.execute(tx.conn()).await?;
        tx.commit().await?;
        Ok(done)
    }

    /// After a bulk load, brings PostgreSQL's planner statistics up to date: autovacuum
    /// analyses a table only some time after it grew, and until then the planner
    /// guesses from an empty table (measured at a million incidents: an address
    /// search by parallel sequential scan in 302 ms, by index in 5.2 ms after
    /// `ANALYZE`). SQLite's plans for these queries come from its indexes alone, so
    /// nothing is done there.
    pub async fn analyze(&self) -> Result<()> {
        if self.dialect == Dialect::Postgres {
            sqlx::query("ANALYZE").execute(&self.pool).await?;
        }
        Ok(())
    }

    /// Where the database's schema stands against the migrations this binary embeds.
    pub async fn schema(&self) -> Result<SchemaState> {
        let (applied, failed): (i64, i64) = sqlx::query_as(
            "SELECT COALESCE(MAX(CASE WHEN success THEN version END), 0),
                    COUNT(CASE WHEN NOT success THEN 1 END)
             FROM _sqlx_migrations",
        )
        .fetch_one(&self.pool)
        .await?;
        let migrator = match self.dialect {
            Dialect::Sqlite => &SQLITE_MIGRATIONS,
            Dialect::Postgres => &POSTGRES_MIGRATIONS,
        };
        Ok(SchemaState {
            applied,
            embedded: migrator.iter().map(|m| m.version).max().unwrap_or(0),
            failed: failed > 0,
        })
    }

    /// The number of migrations each dialect embeds; they are kept in step.
    pub fn migration_counts() -> (usize, usize) {
        (
            SQLITE_MIGRATIONS.iter().count(),
            POSTGRES_MIGRATIONS.iter().count(),
        )
    }

    pub async fn close(&self) {
        if let Some(writer) = &self.writer {
            writer.close().await;
        }
        self.pool.close().await;
    }
}

/// Numbered placeholders for a multi-row insert: `($1, $2), ($3, $4)` for 2 rows of
/// 2 columns. Both dialects take `$N`; keep `rows × columns` small (a few hundred),
/// since SQLite looks each name up linearly.
pub fn value_rows(rows: usize, columns: usize) -> String {
    (0..rows)
        .map(|r| format!("({})", placeholders(r * columns + 1, columns)))
        .collect::<Vec<_>>()
        .join(", ")
}

/// `$first, …` for `count` values, as in `IN (…)` lists.
pub fn placeholders(first: usize, count: usize) -> String {
    (first..first + count)
        .map(|n| format!("${n}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The type of a column passed in a [`json_rows`] parameter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JsonCol {
    Text,
    Int,
    /// Sent as a hex string.
    Blob,
}

/// A table expression `AS j` over the JSON array of objects bound at `$param`,
/// with one column per `(name, type)`: the way to read or write tens of thousands
/// of rows in one statement, where `$N` lists would need a statement per few
/// hundred (SQLite with `json_each`, PostgreSQL with `jsonb_to_recordset`).
pub fn json_rows(dialect: Dialect, param: usize, cols: &[(&str, JsonCol)]) -> String {
    match dialect {
        Dialect::Sqlite => {
            let list = cols
                .iter()
                .map(|(n, t)| match t {
                    JsonCol::Blob => format!("unhex(value ->> '{n}') AS {n}"),
                    _ => format!("value ->> '{n}' AS {n}"),
                })
                .collect::<Vec<_>>()
                .join(", ");
            // jsonb_each parses the array once; json_each would hand each element
            // out as text, parsed again for every column read from it.
            format!("(SELECT {list} FROM jsonb_each(${param})) AS j")
        }
        Dialect::Postgres => {
            let list = cols
                .iter()
                .map(|(n, t)| match t {
                    JsonCol::Blob => format!("decode({n}, 'hex') AS {n}"),
                    _ => n.to_string(),
                })
                .collect::<Vec<_>>()
                .join(", ");
            let types = cols
                .iter()
                .map(|(n, t)| match t {
                    JsonCol::Int => format!("{n} bigint"),
                    _ => format!("{n} text"),
                })
                .collect::<Vec<_>>()
                .join(", ");
            format!(
                "(SELECT {list} FROM jsonb_to_recordset(CAST(${param} AS jsonb)) AS x({types})) AS j"
            )
        }
    }
}

/// Creates the file's directory and asks SQLite to create the file if missing.
fn prepare_sqlite_url(url: &str) -> Result<String> {
    let rest = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))
        .unwrap_or_default();
    let (path, query) = match rest.split_once('?') {
        Some((p, q)) => (p, Some(q)),
        None => (rest, None),
    };
    if path.is_empty() || path == ":memory:" {
        return Err(CoreError::Config(
            "sqlite needs a file path, e.g. sqlite://./data/renkei.db".into(),
        ));
    }
    if let Some(parent) = std::path::Path::new(path).parent()
        && !parent.as_os_str().is_empty()
    {
        std::fs::create_dir_all(parent)
            .map_err(|e| CoreError::Config(format!("cannot create {}: {e}", parent.display())))?;
    }
    Ok(match query {
        Some(q) if q.contains("mode=") => format!("sqlite://{path}?{q}"),
        Some(q) => format!("sqlite://{path}?{q}&mode=rwc"),
        None => format!("sqlite://{path}?mode=rwc"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_are_numbered_across_rows() {
        assert_eq!(value_rows(2, 3), "($1, $2, $3), ($4, $5, $6)");
        assert_eq!(placeholders(2, 3), "$2, $3, $4");
    }

    #[test]
    fn both_dialects_embed_the_same_number_of_migrations() {
        let (sqlite, postgres) = Store::migration_counts();
        assert_eq!(sqlite, postgres);
        let names = |m: &Migrator| -> Vec<(i64, String)> {
            m.iter()
                .map(|m| (m.version, m.description.to_string()))
                .collect()
        };
        assert_eq!(names(&SQLITE_MIGRATIONS), names(&POSTGRES_MIGRATIONS));
    }

    /// The referral kind rebuilds SQLite's organizations table (a CHECK cannot be
    /// changed in place): what was in the address book, and everything that points
    /// at it, comes through.
    #[tokio::test]
    async fn rebuilding_the_organizations_table_keeps_every_row_and_reference() {
        let dir = tempfile::tempdir().unwrap();
        // Opening a store installs the drivers, once for the whole process.
        Store::open(
            &format!("sqlite://{}", dir.path().join("first.db").display()),
            1,
        )
        .await
        .unwrap();
        let url = format!("sqlite://{}", dir.path().join("r.db").display());
        let options = AnyConnectOptions::from_str(&prepare_sqlite_url(&url).unwrap()).unwrap();
        let pool = AnyPoolOptions::new()
            .max_connections(1)
            .after_connect(|conn, _| {
                Box::pin(async move {
                    conn.execute("PRAGMA foreign_keys = ON").await?;
                    Ok(())
                })
            })
            .connect_with(options)
            .await
            .unwrap();
        SQLITE_MIGRATIONS.run_to(24, &pool).await.unwrap();
        for sql in [
            "INSERT INTO organizations (id, name, kind, created_at, updated_at) VALUES (7, 'Vendor KK', 'vendor', 't', 't')",
            "INSERT INTO contacts (org_id, name, email, lang, role, created_at) VALUES (7, 'PSIRT', 'psirt@vendor.example', 'ja', 'security', 't')",
            "INSERT INTO users (email, display_name, role, org_id, lang, created_at) VALUES ('v@vendor.example', 'V', 'vendor', 7, 'ja', 't')",
        ] {
            sqlx::query(sql).execute(&pool).await.unwrap();
        }
        SQLITE_MIGRATIONS.run(&pool).await.unwrap();
        let kept: (String, String, String) =
            sqlx::query_as("SELECT o.name, c.email, u.email FROM organizations o JOIN contacts c ON c.org_id = o.id JOIN users u ON u.org_id = o.id WHERE o.id = 7")
                .fetch_one(&pool)
                .await
                .unwrap();
        assert_eq!(
            kept,
            (
                "Vendor KK".into(),
                "psirt@vendor.example".into(),
                "v@vendor.example".into()
            )
        );
        let broken: Vec<(String,)> =
            sqlx::query_as("SELECT \"table\" FROM pragma_foreign_key_check")
                .fetch_all(&pool)
                .await
                .unwrap();
        assert!(broken.is_empty(), "{broken:?}");
        // The new kind goes in, and new rows follow the old numbers.
        let id: i64 = sqlx::query_scalar("INSERT INTO organizations (name, kind, created_at, updated_at, topics, region) VALUES ('Police', 'referral', 't', 't', 'police', 'JP-13') RETURNING id")
            .fetch_one(&pool)
            .await
            .unwrap();
        assert_eq!(id, 8);
        // Foreign keys are enforced again on the connection that migrated.
        let orphan = sqlx::query("INSERT INTO contacts (org_id, name, email, lang, role, created_at) VALUES (999, 'x', 'x@x', 'ja', 'r', 't')")
            .execute(&pool)
            .await;
        assert!(orphan.is_err());
    }

    #[tokio::test]
    async fn opening_a_new_sqlite_file_creates_its_directory_and_schema() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("nested/dir/renkei.db");
        let store = Store::open(&format!("sqlite://{}", path.display()), 2)
            .await
            .unwrap();
        assert!(path.exists());
        let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM users")
            .fetch_one(store.pool())
            .await
            .unwrap();
        assert_eq!(n, 0);
        // Opening again finds the migrations applied and changes nothing.
        store.close().await;
        Store::open(&format!("sqlite://{}", path.display()), 2)
            .await
            .unwrap();
    }
}
