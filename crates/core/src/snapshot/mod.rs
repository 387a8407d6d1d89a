//! Whole stores, out and in: `renkei backup` writes a snapshot file while the server
//! goes on serving, `renkei restore` reads one into an empty store, and `renkei store
//! copy` moves a store from one database to another (a team outgrowing SQLite).
//!
//! A snapshot is every table's rows read in one consistent view (a read transaction
//! on SQLite's WAL; a REPEATABLE READ transaction on PostgreSQL), so a backup taken
//! under a write load holds each transaction committed before it whole and none
//! after it. The file is portable: rows, not pages, so a snapshot of SQLite restores
//! into PostgreSQL and back. It records when it was taken, the schema version and
//! the audit log's head; a restore refuses a file whose checksum fails before it
//! writes anything, and writes everything in one transaction or nothing.
//!
//! The tables are found in the database itself, in the order their foreign keys
//! need, so a migration that adds a table needs nothing here. What a snapshot
//! leaves out or treats apart (the full-text index, rows the migrations and
//! triggers write) is listed in [`schema`] with the reason.
//!
//! # Layout
//! - here: [`backup`], [`restore`], [`copy`] and what they return.
//! - `schema`: tables as the database describes them; reading a page of rows in
//!   key order; writing many rows a statement; the counters behind the keys.
//! - `file`: the file's records, compression and checksum.

pub mod file;
pub mod schema;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use futures_util::TryStreamExt as _;
use serde::{Deserialize, Serialize};
use sqlx::AnyConnection;

use crate::store::Dialect;
use crate::{CoreError, Result, Store};
use schema::{BATCH_BYTES, BATCH_ROWS, Pager, Row, SEEDED, TRIGGER_FILLED, Table, Value};

/// What a snapshot says about itself, first in its file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Header {
    pub format: u32,
    /// The version of the `renkei` that took it.
    pub renkei: String,
    pub taken_at: String,
    pub dialect: String,
    /// The last migration of the store it was taken from: it restores into a store
    /// at the same one.
    pub schema_version: i64,
    pub audit_seq: i64,
    pub audit_hash: String,
    /// The numbers each table's key had handed out (counters, not rows).
    pub sequences: BTreeMap<String, i64>,
}

/// What a backup, restore or copy did.
#[derive(Debug, Clone, Serialize)]
pub struct Summary {
    #[serde(flatten)]
    pub header: Header,
    pub tables: usize,
    pub rows: u64,
    /// The snapshot file's size (backup and restore).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bytes: Option<u64>,
}

/// Where a long run is, for the operator watching it.
#[derive(Debug, Clone, Copy)]
pub struct Progress<'a> {
    pub table: &'a str,
    pub rows: u64,
    /// The table's rows in all, where known.
    pub of: Option<u64>,
}

pub type OnProgress<'a> = &'a mut (dyn FnMut(Progress<'_>) + Send);

fn dialect_name(d: Dialect) -> &'static str {
    match d {
        Dialect::Sqlite => "sqlite",
        Dialect::Postgres => "postgres",
    }
}

/// The audit log's last row and its hash.
async fn audit_head(conn: &mut AnyConnection) -> Result<(i64, String)> {
    Ok(
        sqlx::query_as("SELECT seq, hash FROM audit_head WHERE id = 1")
            .fetch_one(&mut *conn)
            .await?,
    )
}

/// Writes a snapshot of `store` to `out` while it serves. The file is written
/// beside `out` and renamed when complete, so `out` is never a partial snapshot.
pub async fn backup(
    store: &Store,
    out: &Path,
    renkei: &str,
    progress: OnProgress<'_>,
) -> Result<Summary> {
    let dialect = store.dialect();
    let mut tx = store.pool().begin().await?;
    if dialect == Dialect::Postgres {
        sqlx::query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            .execute(&mut *tx)
            .await?;
    }
    // On SQLite the view is fixed by the first read, this one: every later read
    // in the transaction sees the database as it was here.
    let (audit_seq, audit_hash) = audit_head(&mut tx).await?;
    let tables = schema::tables(&mut tx, dialect).await?;
    let header = Header {
        format: 1,
        renkei: renkei.to_string(),
        taken_at: store.now_str(),
        dialect: dialect_name(dialect).into(),
        schema_version: schema::schema_version(&mut tx).await?,
        audit_seq,
        audit_hash,
        sequences: schema::sequences(&mut tx, dialect, &tables).await?,
    };

    let partial = partial_path(out);
    let (send, receive) = std::sync::mpsc::sync_channel::<Vec<u8>>(4);
    let writer = {
        let partial = partial.clone();
        std::thread::spawn(move || -> Result<()> {
            let mut w = file::Writer::create(&partial)?;
            for buf in receive {
                w.write(&buf)?;
            }
            w.finish()
        })
    };
    let sent = async {
        let gone = || CoreError::Internal("the snapshot's writer stopped".into());
        let mut buf = Vec::with_capacity(1 << 20);
        file::header(&mut buf, &header)?;
        let mut total = 0u64;
        for t in &tables {
            file::table(&mut buf, t)?;
            let mut rows = 0u64;
            if t.key.is_empty() {
                let mut all = std::pin::pin!(schema::read_all(&mut tx, t));
                while let Some(r) = all.try_next().await? {
                    file::row(&mut buf, &r);
                    rows += 1;
                    if buf.len() >= 1 << 20 {
                        send.send(std::mem::replace(&mut buf, Vec::with_capacity(1 << 20)))
                            .map_err(|_| gone())?;
                    }
                }
            }
            let mut after: Option<Vec<Value>> = None;
            let mut pager = Pager::default();
            while !t.key.is_empty() {
                let page =
                    schema::read_page(&mut tx, dialect, t, after.as_deref(), pager.limit()).await?;
                let last = pager.saw(&page);
                for r in &page {
                    file::row(&mut buf, r);
                }
                rows += page.len() as u64;
                if buf.len() >= 1 << 20 {
                    send.send(std::mem::replace(&mut buf, Vec::with_capacity(1 << 20)))
                        .map_err(|_| gone())?;
                }
                progress(Progress {
                    table: &t.name,
                    rows,
                    of: None,
                });
                match page.last() {
                    Some(r) if !last => after = Some(schema::key_of(t, r)),
                    _ => break,
                }
            }
            file::table_end(&mut buf, rows);
            progress(Progress {
                table: &t.name,
                rows,
                of: Some(rows),
            });
            total += rows;
        }
        file::end(&mut buf);
        send.send(buf).map_err(|_| gone())?;
        Ok::<u64, CoreError>(total)
    }
    .await;
    drop(send);
    let written = writer
        .join()
        .map_err(|_| CoreError::Internal("the snapshot's writer panicked".into()))?;
    tx.rollback().await?;
    let total = match (sent, written) {
        (Ok(total), Ok(())) => total,
        (Err(e), _) | (_, Err(e)) => {
            let _ = std::fs::remove_file(&partial);
            return Err(e);
        }
    };
    std::fs::rename(&partial, out)?;
    Ok(Summary {
        header,
        tables: tables.len(),
        rows: total,
        bytes: Some(std::fs::metadata(out)?.len()),
    })
}

fn partial_path(out: &Path) -> PathBuf {
    let mut name = out.file_name().unwrap_or_default().to_os_string();
    name.push(".partial");
    out.with_file_name(name)
}

/// Checks a snapshot file (its checksum, then every record) and returns its
/// header and counts, writing nothing.
pub async fn check(path: &Path) -> Result<Summary> {
    let path = path.to_path_buf();
    tokio::task::spawn_blocking(move || {
        let body = file::verify(&path)?;
        let mut r = file::Reader::open(&path, body)?;
        let header = match r.record()? {
            file::Record::Header(h) => *h,
            _ => return Err(malformed("it does not begin with its header")),
        };
        let (mut tables, mut rows, mut in_table) = (0usize, 0u64, 0u64);
        loop {
            match r.record()? {
                file::Record::Table(_) => {
                    tables += 1;
                    in_table = 0;
                }
                file::Record::Row(_) => {
                    rows += 1;
                    in_table += 1;
                }
                file::Record::TableEnd(n) if n == in_table => {}
                file::Record::TableEnd(_) => return Err(malformed("a table's count is wrong")),
                file::Record::End => break,
                file::Record::Header(_) => return Err(malformed("a second header")),
            }
        }
        Ok(Summary {
            header,
            tables,
            rows,
            bytes: Some(std::fs::metadata(&path)?.len()),
        })
    })
    .await
    .map_err(|e| CoreError::Internal(e.to_string()))?
}

fn malformed(why: &str) -> CoreError {
    CoreError::invalid("from", format!("the snapshot is malformed: {why}"))
}

/// True when the store holds nothing but what its migrations wrote.
async fn is_pristine(conn: &mut AnyConnection, tables: &[Table]) -> Result<Option<String>> {
    for t in tables {
        if !SEEDED.contains(&t.name.as_str()) && !schema::is_empty(conn, &t.name).await? {
            return Ok(Some(t.name.clone()));
        }
    }
    Ok(None)
}

/// The target's tables, checked against the source's: the same names, columns and
/// kinds (a store at the same schema version has them).
fn matching(source: &Table, target: &[Table]) -> Result<()> {
    let t = target
        .iter()
        .find(|t| t.name == source.name)
        .ok_or_else(|| {
            CoreError::Conflict(format!(
                "the target has no table {}: it is at another schema version",
                source.name
            ))
        })?;
    let mut a = source.columns.clone();
    let mut b = t.columns.clone();
    a.sort_by(|x, y| x.name.cmp(&y.name));
    b.sort_by(|x, y| x.name.cmp(&y.name));
    if a != b {
        return Err(CoreError::Conflict(format!(
            "the table {} has other columns in the target: it is at another schema version",
            source.name
        )));
    }
    Ok(())
}

fn same_version(source: i64, target: i64) -> Result<()> {
    if source != target {
        return Err(CoreError::Conflict(format!(
            "the source is at schema version {source} and the target at {target}: use the renkei release that wrote the source (then upgrade), so that no migration is skipped"
        )));
    }
    Ok(())
}

/// A snapshot file whose checksum [`verify`] found right: what [`restore`] takes,
/// so that the file is read whole once before the store is opened, not twice.
#[derive(Debug, Clone)]
pub struct Verified {
    path: PathBuf,
    body: u64,
}

/// Checks a snapshot file's format line and checksum, reading it once.
pub async fn verify(path: &Path) -> Result<Verified> {
    let path = path.to_path_buf();
    tokio::task::spawn_blocking(move || {
        let body = file::verify(&path)?;
        Ok(Verified { path, body })
    })
    .await
    .map_err(|e| CoreError::Internal(e.to_string()))?
}

/// Restores a verified snapshot file into `store`, which must be empty (as its
/// migrations left it). The rows are written in one transaction: the store ends up
/// with all of them or none. Reports come back not yet searchable: the caller runs
/// the search backfill.
pub async fn restore(store: &Store, from: &Verified, progress: OnProgress<'_>) -> Result<Summary> {
    let body = from.body;
    let bytes = std::fs::metadata(&from.path)?.len();

    // The file is read and decompressed on a thread of its own, rows handed over
    // a batch at a time, while this task writes the previous batch.
    let (send, mut receive) = tokio::sync::mpsc::channel::<Result<Vec<file::Record>>>(4);
    let path = from.path.clone();
    let reader = std::thread::spawn(move || {
        let read = || -> Result<()> {
            let mut r = file::Reader::open(&path, body)?;
            let mut batch = Vec::new();
            let mut bytes = 0;
            loop {
                let rec = r.record()?;
                let end = matches!(rec, file::Record::End);
                if let file::Record::Row(row) = &rec {
                    bytes += schema::row_bytes(row);
                }
                let flush = !matches!(rec, file::Record::Row(_))
                    || batch.len() >= BATCH_ROWS
                    || bytes >= BATCH_BYTES;
                if flush {
                    bytes = 0;
                }
                batch.push(rec);
                if (flush || end) && send.blocking_send(Ok(std::mem::take(&mut batch))).is_err() {
                    return Ok(());
                }
                if end {
                    return Ok(());
                }
            }
        };
        if let Err(e) = read() {
            let _ = send.blocking_send(Err(e));
        }
    });

    let dialect = store.dialect();
    let mut tx = store.begin().await?;
    let target = schema::tables(tx.conn(), dialect).await?;
    let target_version = schema::schema_version(tx.conn()).await?;
    if let Some(t) = is_pristine(tx.conn(), &target).await? {
        return Err(CoreError::Conflict(format!(
            "the store is not empty (its table {t} has rows): restore into a new database"
        )));
    }
    for t in SEEDED {
        schema::clear(tx.conn(), t).await?;
    }
    schema::set_triggers(tx.conn(), dialect, &target, false).await?;

    let mut header: Option<Header> = None;
    let mut table: Option<Table> = None;
    let (mut tables, mut rows, mut in_table) = (0usize, 0u64, 0u64);
    let mut pending: Vec<Row> = Vec::new();
    let mut pending_bytes = 0;
    let mut done = false;
    while let Some(batch) = receive.recv().await {
        for rec in batch? {
            match rec {
                file::Record::Header(h) => {
                    same_version(h.schema_version, target_version)?;
                    header = Some(*h);
                }
                _ if header.is_none() => {
                    return Err(malformed("it does not begin with its header"));
                }
                file::Record::Table(t) => {
                    matching(&t, &target)?;
                    if TRIGGER_FILLED.contains(&t.name.as_str()) {
                        schema::clear(tx.conn(), &t.name).await?;
                    }
                    table = Some(t);
                    tables += 1;
                    in_table = 0;
                }
                file::Record::Row(r) => {
                    pending_bytes += schema::row_bytes(&r);
                    pending.push(r);
                }
                file::Record::TableEnd(n) => {
                    let t = table
                        .as_ref()
                        .ok_or_else(|| malformed("rows outside a table"))?;
                    in_table += pending.len() as u64;
                    schema::write_rows(tx.conn(), dialect, t, &pending).await?;
                    pending.clear();
                    pending_bytes = 0;
                    if n != in_table {
                        return Err(malformed("a table's count is wrong"));
                    }
                    rows += in_table;
                    progress(Progress {
                        table: &t.name,
                        rows: in_table,
                        of: Some(n),
                    });
                }
                file::Record::End => done = true,
            }
        }
        if (pending.len() >= BATCH_ROWS || pending_bytes >= BATCH_BYTES)
            && let Some(t) = &table
        {
            in_table += pending.len() as u64;
            schema::write_rows(tx.conn(), dialect, t, &pending).await?;
            pending.clear();
            pending_bytes = 0;
            progress(Progress {
                table: &t.name,
                rows: in_table,
                of: None,
            });
        }
    }
    let _ = reader.join();
    let header = header.ok_or_else(|| malformed("it has no header"))?;
    if !done {
        return Err(malformed("it has no end"));
    }
    schema::advance_sequences(tx.conn(), dialect, &target, &header.sequences).await?;
    schema::set_triggers(tx.conn(), dialect, &target, true).await?;
    tx.commit().await?;
    Ok(Summary {
        header,
        tables,
        rows,
        bytes: Some(bytes),
    })
}

/// Copies every row of `from` into `to`, a table at a time in batches, each batch
/// committed with the rows before it: a copy that stops (a lost connection, ^C)
/// is resumed by running it again, and goes on after the last row the target has.
/// The target must be empty when a copy begins; the source must not change while
/// it runs (stop the server): it is checked by the audit log's head, which every
/// change moves.
pub async fn copy(
    from: &Store,
    to: &Store,
    source_name: &str,
    renkei: &str,
    progress: OnProgress<'_>,
) -> Result<Summary> {
    let mut src = from.pool().acquire().await?;
    let sources = schema::tables(&mut src, from.dialect()).await?;
    let version = schema::schema_version(&mut src).await?;
    let (audit_seq, audit_hash) = audit_head(&mut src).await?;
    let head = format!("{audit_seq}:{audit_hash}");

    let targets = {
        let mut tx = to.begin().await?;
        let targets = schema::tables(tx.conn(), to.dialect()).await?;
        same_version(version, schema::schema_version(tx.conn()).await?)?;
        for t in &sources {
            matching(t, &targets)?;
        }
        let marked: Option<(String, String)> =
            sqlx::query_as("SELECT source, source_head FROM store_copy WHERE id = 1")
                .fetch_optional(tx.conn())
                .await?;
        match marked {
            Some((_, marked_head)) if marked_head == head => {}
            Some((name, _)) => {
                return Err(CoreError::Conflict(format!(
                    "the source has changed since the copy from {name} into this target began: copy again into a new, empty database"
                )));
            }
            None => {
                if let Some(t) = is_pristine(tx.conn(), &targets).await? {
                    return Err(CoreError::Conflict(format!(
                        "the target is not empty (its table {t} has rows): copy into a new database"
                    )));
                }
                for t in SEEDED {
                    schema::clear(tx.conn(), t).await?;
                }
                sqlx::query(
                    "INSERT INTO store_copy (id, source, source_head, started_at) VALUES (1, $1, $2, $3)",
                )
                .bind(source_name)
                .bind(&head)
                .bind(to.now_str())
                .execute(tx.conn())
                .await?;
            }
        }
        // Off until the copy is complete (a copy that stopped leaves them off in a
        // target marked incomplete; its end turns them on).
        schema::set_triggers(tx.conn(), to.dialect(), &targets, false).await?;
        tx.commit().await?;
        targets
    };

    let mut rows = 0u64;
    for t in sources
        .iter()
        .filter(|t| !TRIGGER_FILLED.contains(&t.name.as_str()))
    {
        rows += copy_table(from, to, t, false, progress).await?;
    }
    // The end, in one transaction: the marks the triggers made replaced by the
    // source's, the counters moved on, and the copy marked complete.
    let now_head = audit_head(&mut src).await?;
    if format!("{}:{}", now_head.0, now_head.1) != head {
        return Err(CoreError::Conflict(
            "the source was written to while it was copied (its audit log moved on): stop the server on the source, and copy again into a new, empty database".into(),
        ));
    }
    for t in sources
        .iter()
        .filter(|t| TRIGGER_FILLED.contains(&t.name.as_str()))
    {
        rows += copy_table(from, to, t, true, progress).await?;
    }
    let sequences = schema::sequences(&mut src, from.dialect(), &sources).await?;
    let mut tx = to.begin().await?;
    schema::advance_sequences(tx.conn(), to.dialect(), &targets, &sequences).await?;
    schema::set_triggers(tx.conn(), to.dialect(), &targets, true).await?;
    sqlx::query("DELETE FROM store_copy")
        .execute(tx.conn())
        .await?;
    tx.commit().await?;
    Ok(Summary {
        header: Header {
            format: 1,
            renkei: renkei.to_string(),
            taken_at: to.now_str(),
            dialect: dialect_name(from.dialect()).into(),
            schema_version: version,
            audit_seq,
            audit_hash,
            sequences,
        },
        tables: sources.len(),
        rows,
        bytes: None,
    })
}

/// Copies one table's rows the target does not have yet. A table with a number
/// for its key goes a batch a transaction, after the highest number the target
/// has; another goes whole in one transaction, and is skipped once it has rows.
/// `replace` empties the target's table first (in the same transaction).
async fn copy_table(
    from: &Store,
    to: &Store,
    t: &Table,
    replace: bool,
    progress: OnProgress<'_>,
) -> Result<u64> {
    let mut src = from.pool().acquire().await?;
    let of = schema::count(&mut src, &t.name).await? as u64;
    let by_batch = t.has_number_key() && !replace;
    let mut tx = to.begin().await?;
    if replace {
        schema::clear(tx.conn(), &t.name).await?;
    }
    let mut after: Option<Vec<Value>> = None;
    let mut have = 0u64;
    if by_batch {
        if let Some(top) = schema::highest_key(tx.conn(), t).await? {
            after = Some(vec![Value::Int(top)]);
            have = schema::count(tx.conn(), &t.name).await? as u64;
        }
    } else if !replace && !schema::is_empty(tx.conn(), &t.name).await? {
        return Ok(0);
    }
    let mut copied = 0u64;
    if t.key.is_empty() {
        let mut pending = Vec::new();
        let mut bytes = 0;
        let mut all = std::pin::pin!(schema::read_all(&mut src, t));
        while let Some(r) = all.try_next().await? {
            bytes += schema::row_bytes(&r);
            pending.push(r);
            if pending.len() >= BATCH_ROWS || bytes >= BATCH_BYTES {
                schema::write_rows(tx.conn(), to.dialect(), t, &pending).await?;
                copied += pending.len() as u64;
                pending.clear();
                bytes = 0;
            }
        }
        schema::write_rows(tx.conn(), to.dialect(), t, &pending).await?;
        copied += pending.len() as u64;
        progress(Progress {
            table: &t.name,
            rows: copied,
            of: Some(of),
        });
        tx.commit().await?;
        return Ok(copied);
    }
    drop(src);
    // The next page is read while this one is written.
    let mut pages = read_ahead(from, t.clone(), after);
    while let Some(page) = pages.recv().await {
        let page = page?;
        schema::write_rows(tx.conn(), to.dialect(), t, &page).await?;
        copied += page.len() as u64;
        if by_batch {
            tx.commit().await?;
            tx = to.begin().await?;
        }
        progress(Progress {
            table: &t.name,
            rows: have + copied,
            of: Some(of),
        });
    }
    tx.commit().await?;
    Ok(copied)
}

/// Reads a keyed table's pages after `after` on a connection of its own, two ahead
/// of the one being written.
fn read_ahead(
    from: &Store,
    t: Table,
    mut after: Option<Vec<Value>>,
) -> tokio::sync::mpsc::Receiver<Result<Vec<Row>>> {
    let (send, pages) = tokio::sync::mpsc::channel(2);
    let pool = from.pool().clone();
    let dialect = from.dialect();
    tokio::spawn(async move {
        let read = async {
            let mut conn = pool.acquire().await?;
            let mut pager = Pager::default();
            loop {
                let page =
                    schema::read_page(&mut conn, dialect, &t, after.as_deref(), pager.limit())
                        .await?;
                let last = pager.saw(&page);
                if let Some(r) = page.last() {
                    after = Some(schema::key_of(&t, r));
                }
                if send.send(Ok(page)).await.is_err() || last {
                    return Ok::<(), CoreError>(());
                }
            }
        };
        if let Err(e) = read.await {
            let _ = send.send(Err(e)).await;
        }
    });
    pages
}
