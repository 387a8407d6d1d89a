//! The tables as the database itself describes them, so that a snapshot follows
//! the schema of the binary that takes it without a list kept by hand; reading a
//! page of a table's rows in key order and writing many rows a statement.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};
use sqlx::{AnyConnection, Row as _};

use crate::store::Dialect;
use crate::{CoreError, Result};

/// What a column holds, in both dialects (the schemas use only these).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ColumnKind {
    Int,
    Float,
    Text,
    Blob,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Column {
    pub name: String,
    pub kind: ColumnKind,
}

/// A table: its columns in the database's order and the columns of its primary key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Table {
    pub name: String,
    pub columns: Vec<Column>,
    pub key: Vec<String>,
}

impl Table {
    /// True when rows can be taken a page at a time and a copy resumed after the
    /// highest number written: one integer key orders the same in both dialects,
    /// where text keys may sort by different collations.
    pub fn has_number_key(&self) -> bool {
        self.key.len() == 1
            && self
                .columns
                .iter()
                .any(|c| c.name == self.key[0] && c.kind == ColumnKind::Int)
    }

    fn key_positions(&self) -> Vec<usize> {
        self.key
            .iter()
            .filter_map(|k| self.columns.iter().position(|c| &c.name == k))
            .collect()
    }
}

/// One value of a row.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Null,
    Int(i64),
    Float(f64),
    Text(String),
    Blob(Vec<u8>),
}

pub type Row = Vec<Value>;

/// The bytes a row takes, near enough to bound what is held at once.
pub fn row_bytes(row: &Row) -> usize {
    row.iter()
        .map(|v| match v {
            Value::Text(s) => s.len() + 8,
            Value::Blob(b) => b.len() + 8,
            _ => 8,
        })
        .sum()
}

/// Rows held at once: at most this many, and about [`BATCH_BYTES`] of them.
pub const BATCH_ROWS: usize = 1_000;
pub const BATCH_BYTES: usize = 4 << 20;

/// How many rows to read at a time: a page holds about [`BATCH_BYTES`] whatever
/// the table (an audit row is 300 bytes, a feed file's chunk a megabyte). The first
/// page of a table is small, and tells the size of its rows.
pub struct Pager {
    limit: usize,
}

impl Default for Pager {
    fn default() -> Self {
        Pager { limit: 16 }
    }
}

impl Pager {
    pub fn limit(&self) -> usize {
        self.limit
    }

    /// Sizes the next page by this one; true when this one was the last.
    pub fn saw(&mut self, page: &[Row]) -> bool {
        let last = page.len() < self.limit;
        if !page.is_empty() {
            let average = page.iter().map(row_bytes).sum::<usize>() / page.len();
            self.limit = (BATCH_BYTES / average.max(1)).clamp(1, BATCH_ROWS);
        }
        last
    }
}

/// Tables a snapshot leaves out, with why.
///
/// - The migrations' own record: the target has it from its own migrations.
/// - The full-text index: derived from reports, and stored differently in each
///   dialect (an FTS5 table and a `tsvector` column). Reports are written as not
///   yet searchable, and the search backfill indexes them again.
/// - The mark of a copy under way, which belongs to the target alone.
pub const LEFT_OUT: &[&str] = &["_sqlx_migrations", "report_search", "store_copy"];

/// Columns whose value a restore or copy replaces, with the value: what tells the
/// backfill to index a report's text again, its index being left out.
pub const WRITTEN_AS: &[(&str, &str, i64)] = &[("reports", "searchable", 0)];

/// Tables the migrations fill (the audit head's first row, the default lists, the
/// settings of backfills): a restore or copy replaces their rows with the source's.
pub const SEEDED: &[&str] = &["audit_head", "mailing_lists", "settings"];

/// Tables the triggers on reports and incidents add to while their rows are
/// written: they come last in a snapshot, and the target's rows are replaced by
/// the source's when they come.
pub const TRIGGER_FILLED: &[&str] = &["stats_dirty"];

/// The store's tables in the order their foreign keys need (a table after those it
/// names), the trigger-filled ones last, those left out omitted.
pub async fn tables(conn: &mut AnyConnection, dialect: Dialect) -> Result<Vec<Table>> {
    let mut found: BTreeMap<String, Table> = BTreeMap::new();
    let mut needs: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    match dialect {
        Dialect::Sqlite => {
            let listed: Vec<(String, Option<String>)> = sqlx::query_as(
                "SELECT name, sql FROM sqlite_master WHERE type = 'table' ORDER BY name",
            )
            .fetch_all(&mut *conn)
            .await?;
            // An FTS5 table keeps its index in shadow tables named after it.
            let virtual_prefixes: Vec<String> = listed
                .iter()
                .filter(|(_, sql)| {
                    sql.as_deref()
                        .is_some_and(|s| s.starts_with("CREATE VIRTUAL TABLE"))
                })
                .map(|(name, _)| format!("{name}_"))
                .collect();
            for (name, sql) in &listed {
                if name.starts_with("sqlite_")
                    || LEFT_OUT.contains(&name.as_str())
                    || virtual_prefixes.iter().any(|p| name.starts_with(p))
                    || sql
                        .as_deref()
                        .is_some_and(|s| s.starts_with("CREATE VIRTUAL TABLE"))
                {
                    continue;
                }
                let cols: Vec<(String, String, i64)> =
                    sqlx::query_as("SELECT name, type, pk FROM pragma_table_info($1) ORDER BY cid")
                        .bind(name)
                        .fetch_all(&mut *conn)
                        .await?;
                let mut key: Vec<(i64, String)> = cols
                    .iter()
                    .filter(|(_, _, pk)| *pk > 0)
                    .map(|(n, _, pk)| (*pk, n.clone()))
                    .collect();
                key.sort();
                let columns = cols
                    .iter()
                    .map(|(n, ty, _)| {
                        Ok(Column {
                            name: n.clone(),
                            kind: sqlite_kind(name, n, ty)?,
                        })
                    })
                    .collect::<Result<Vec<_>>>()?;
                found.insert(
                    name.clone(),
                    Table {
                        name: name.clone(),
                        columns,
                        key: key.into_iter().map(|(_, n)| n).collect(),
                    },
                );
                let refs: Vec<String> =
                    sqlx::query_scalar("SELECT \"table\" FROM pragma_foreign_key_list($1)")
                        .bind(name)
                        .fetch_all(&mut *conn)
                        .await?;
                needs.insert(name.clone(), refs.into_iter().collect());
            }
        }
        Dialect::Postgres => {
            let cols: Vec<(String, String, String)> = sqlx::query_as(
                "SELECT c.table_name::text, c.column_name::text, c.data_type::text
                 FROM information_schema.columns c
                 JOIN information_schema.tables t
                   ON t.table_schema = c.table_schema AND t.table_name = c.table_name
                 WHERE c.table_schema = current_schema() AND t.table_type = 'BASE TABLE'
                 ORDER BY c.table_name, c.ordinal_position",
            )
            .fetch_all(&mut *conn)
            .await?;
            for (table, column, ty) in cols {
                if LEFT_OUT.contains(&table.as_str()) {
                    continue;
                }
                let kind = postgres_kind(&table, &column, &ty)?;
                found
                    .entry(table.clone())
                    .or_insert_with(|| Table {
                        name: table.clone(),
                        columns: Vec::new(),
                        key: Vec::new(),
                    })
                    .columns
                    .push(Column { name: column, kind });
            }
            let keys: Vec<(String, String)> = sqlx::query_as(
                "SELECT tc.table_name::text, k.column_name::text
                 FROM information_schema.table_constraints tc
                 JOIN information_schema.key_column_usage k
                   ON k.constraint_name = tc.constraint_name AND k.table_schema = tc.table_schema
                 WHERE tc.constraint_type = 'PRIMARY KEY' AND tc.table_schema = current_schema()
                 ORDER BY tc.table_name, k.ordinal_position",
            )
            .fetch_all(&mut *conn)
            .await?;
            for (table, column) in keys {
                if let Some(t) = found.get_mut(&table) {
                    t.key.push(column);
                }
            }
            let refs: Vec<(String, String)> = sqlx::query_as(
                "SELECT c.relname::text, r.relname::text
                 FROM pg_constraint k
                 JOIN pg_class c ON c.oid = k.conrelid
                 JOIN pg_class r ON r.oid = k.confrelid
                 WHERE k.contype = 'f' AND k.connamespace = current_schema()::regnamespace",
            )
            .fetch_all(&mut *conn)
            .await?;
            for (table, referenced) in refs {
                needs.entry(table).or_default().insert(referenced);
            }
        }
    }
    Ok(in_order(found, &needs))
}

/// Kahn's order over the foreign keys, by name among equals so that a snapshot of
/// the same store is the same file; a cycle (none today) keeps its tables by name.
fn in_order(
    mut found: BTreeMap<String, Table>,
    needs: &BTreeMap<String, BTreeSet<String>>,
) -> Vec<Table> {
    let mut ordered = Vec::with_capacity(found.len());
    let mut last = Vec::new();
    for name in TRIGGER_FILLED {
        if let Some(t) = found.remove(*name) {
            last.push(t);
        }
    }
    let mut placed: BTreeSet<String> = BTreeSet::new();
    while !found.is_empty() {
        let ready: Vec<String> = found
            .keys()
            .filter(|name| {
                needs.get(*name).is_none_or(|refs| {
                    refs.iter()
                        .all(|r| r == *name || placed.contains(r) || !found.contains_key(r))
                })
            })
            .cloned()
            .collect();
        let next = if ready.is_empty() {
            vec![found.keys().next().cloned().unwrap_or_default()]
        } else {
            ready
        };
        for name in next {
            if let Some(t) = found.remove(&name) {
                placed.insert(name);
                ordered.push(t);
            }
        }
    }
    ordered.extend(last);
    ordered
}

fn sqlite_kind(table: &str, column: &str, declared: &str) -> Result<ColumnKind> {
    let ty = declared.to_ascii_uppercase();
    Ok(if ty.contains("INT") {
        ColumnKind::Int
    } else if ty.contains("REAL") || ty.contains("DOUB") || ty.contains("FLOA") {
        ColumnKind::Float
    } else if ty.contains("BLOB") {
        ColumnKind::Blob
    } else if ty.contains("TEXT") || ty.contains("CHAR") {
        ColumnKind::Text
    } else {
        return Err(CoreError::Internal(format!(
            "{table}.{column} is declared {declared:?}, which a snapshot cannot carry"
        )));
    })
}

fn postgres_kind(table: &str, column: &str, declared: &str) -> Result<ColumnKind> {
    Ok(match declared {
        "bigint" | "integer" | "smallint" => ColumnKind::Int,
        "double precision" | "real" => ColumnKind::Float,
        "bytea" => ColumnKind::Blob,
        "text" | "character varying" => ColumnKind::Text,
        _ => {
            return Err(CoreError::Internal(format!(
                "{table}.{column} is of type {declared}, which a snapshot cannot carry"
            )));
        }
    })
}

fn quoted(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// The table's columns, quoted, in its order.
fn column_list(table: &Table) -> String {
    table
        .columns
        .iter()
        .map(|c| quoted(&c.name))
        .collect::<Vec<_>>()
        .join(", ")
}

fn select(table: &Table) -> String {
    format!("SELECT {} FROM {}", column_list(table), quoted(&table.name))
}

/// Up to `limit` rows of `table` (which has a key) in key order, after the key
/// `after` when given.
pub async fn read_page(
    conn: &mut AnyConnection,
    dialect: Dialect,
    table: &Table,
    after: Option<&[Value]>,
    limit: usize,
) -> Result<Vec<Row>> {
    let key = table
        .key
        .iter()
        .map(|k| quoted(k))
        .collect::<Vec<_>>()
        .join(", ");
    let mut sql = select(table);
    if let Some(after) = after.filter(|a| !a.is_empty()) {
        let params = (1..=after.len())
            .map(|n| param(dialect, n))
            .collect::<Vec<_>>()
            .join(", ");
        sql.push_str(&format!(" WHERE ({key}) > ({params})"));
    }
    sql.push_str(&format!(" ORDER BY {key} LIMIT {limit}"));
    let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
    if let Some(after) = after {
        let positions = table.key_positions();
        for (v, p) in after.iter().zip(positions) {
            q = bind(q, v, table.columns[p].kind);
        }
    }
    let rows = q.fetch_all(&mut *conn).await?;
    rows.iter().map(|r| row_of(table, r)).collect()
}

/// Every row of a table without a key (a few: counts and rate-limit events), one
/// at a time as the database hands them over, in one read.
pub fn read_all<'c>(
    conn: &'c mut AnyConnection,
    table: &'c Table,
) -> impl futures_util::Stream<Item = Result<Row>> + 'c {
    use futures_util::StreamExt as _;
    sqlx::query(sqlx::AssertSqlSafe(select(table)))
        .fetch(conn)
        .map(move |r| row_of(table, &r?))
}

fn row_of(table: &Table, r: &sqlx::any::AnyRow) -> Result<Row> {
    table
        .columns
        .iter()
        .enumerate()
        .map(|(i, c)| decode(r, i, c.kind))
        .collect::<std::result::Result<Row, sqlx::Error>>()
        .map_err(CoreError::from)
}

fn decode(r: &sqlx::any::AnyRow, i: usize, kind: ColumnKind) -> sqlx::Result<Value> {
    Ok(match kind {
        ColumnKind::Int => r
            .try_get::<Option<i64>, _>(i)?
            .map_or(Value::Null, Value::Int),
        ColumnKind::Float => r
            .try_get::<Option<f64>, _>(i)?
            .map_or(Value::Null, Value::Float),
        ColumnKind::Text => r
            .try_get::<Option<String>, _>(i)?
            .map_or(Value::Null, Value::Text),
        ColumnKind::Blob => r
            .try_get::<Option<Vec<u8>>, _>(i)?
            .map_or(Value::Null, Value::Blob),
    })
}

type AnyQuery<'q> = sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments>;

/// Binds a value as its column's type: a NULL too, which PostgreSQL would
/// otherwise refuse for a column of another type.
fn bind<'q>(q: AnyQuery<'q>, v: &Value, kind: ColumnKind) -> AnyQuery<'q> {
    match (v, kind) {
        (Value::Int(i), _) => q.bind(*i),
        (Value::Float(f), _) => q.bind(*f),
        (Value::Text(s), _) => q.bind(s.clone()),
        (Value::Blob(b), _) => q.bind(b.clone()),
        (Value::Null, ColumnKind::Int) => q.bind(None::<i64>),
        (Value::Null, ColumnKind::Float) => q.bind(None::<f64>),
        (Value::Null, ColumnKind::Text) => q.bind(None::<String>),
        (Value::Null, ColumnKind::Blob) => q.bind(None::<Vec<u8>>),
    }
}

/// SQLite's positional `?`: a numbered `$N` is looked up by name, linearly, for
/// every value bound, which makes a wide statement cost the square of its width.
fn param(dialect: Dialect, n: usize) -> String {
    match dialect {
        Dialect::Sqlite => "?".to_string(),
        Dialect::Postgres => format!("${n}"),
    }
}

/// Values a statement carries at most: well under both databases' limits, and
/// wide enough that a statement's round trip is paid once per many rows. A
/// statement also carries no more than [`BATCH_BYTES`] (one row whatever its size).
const VALUES_PER_STATEMENT: usize = 2_000;

/// Writes `rows` (in `table`'s column order) into the target's table of the same
/// name, many to a statement, replacing the values [`WRITTEN_AS`] names.
pub async fn write_rows(
    conn: &mut AnyConnection,
    dialect: Dialect,
    table: &Table,
    rows: &[Row],
) -> Result<()> {
    if rows.is_empty() {
        return Ok(());
    }
    let width = table.columns.len();
    let replaced: Vec<(usize, i64)> = WRITTEN_AS
        .iter()
        .filter(|(t, _, _)| *t == table.name)
        .filter_map(|(_, c, v)| {
            table
                .columns
                .iter()
                .position(|col| col.name == *c)
                .map(|p| (p, *v))
        })
        .collect();
    let cols = column_list(table);
    let per_statement = (VALUES_PER_STATEMENT / width.max(1)).max(1);
    let mut rest = rows;
    while !rest.is_empty() {
        let mut take = 0;
        let mut bytes = 0;
        while take < rest.len() && take < per_statement && (take == 0 || bytes < BATCH_BYTES) {
            bytes += row_bytes(&rest[take]);
            take += 1;
        }
        let (batch, after) = rest.split_at(take);
        rest = after;
        let mut n = 0;
        let values = batch
            .iter()
            .map(|_| {
                let one = (0..width)
                    .map(|_| {
                        n += 1;
                        param(dialect, n)
                    })
                    .collect::<Vec<_>>()
                    .join(", ");
                format!("({one})")
            })
            .collect::<Vec<_>>()
            .join(", ");
        let sql = format!(
            "INSERT INTO {} ({cols}) VALUES {values}",
            quoted(&table.name)
        );
        let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
        for row in batch {
            if row.len() != width {
                return Err(CoreError::Internal(format!(
                    "a row of {} has {} values for {width} columns",
                    table.name,
                    row.len()
                )));
            }
            for (i, (v, c)) in row.iter().zip(&table.columns).enumerate() {
                match replaced.iter().find(|(p, _)| *p == i) {
                    Some((_, with)) => q = q.bind(*with),
                    None => q = bind(q, v, c.kind),
                }
            }
        }
        q.execute(&mut *conn).await?;
    }
    Ok(())
}

/// The key of a row of `table`, to read on after it.
pub fn key_of(table: &Table, row: &Row) -> Vec<Value> {
    table
        .key_positions()
        .into_iter()
        .map(|p| row[p].clone())
        .collect()
}

/// True when the table has no row.
pub async fn is_empty(conn: &mut AnyConnection, table: &str) -> Result<bool> {
    let any: Option<i64> = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
        "SELECT 1 FROM {} LIMIT 1",
        quoted(table)
    )))
    .fetch_optional(&mut *conn)
    .await?;
    Ok(any.is_none())
}

pub async fn count(conn: &mut AnyConnection, table: &str) -> Result<i64> {
    Ok(sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
        "SELECT COUNT(*) FROM {}",
        quoted(table)
    )))
    .fetch_one(&mut *conn)
    .await?)
}

pub async fn clear(conn: &mut AnyConnection, table: &str) -> Result<()> {
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "DELETE FROM {}",
        quoted(table)
    )))
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// Turns the tables' own triggers off or on again, on PostgreSQL. While a store is
/// written whole, the triggers' only work (marking the statistics' days) is
/// replaced at the end by the source's marks; a PL/pgSQL call per row would double
/// the time. SQLite's triggers cost little and cannot be turned off; they run.
pub async fn set_triggers(
    conn: &mut AnyConnection,
    dialect: Dialect,
    tables: &[Table],
    on: bool,
) -> Result<()> {
    if dialect != Dialect::Postgres {
        return Ok(());
    }
    let verb = if on { "ENABLE" } else { "DISABLE" };
    for t in tables {
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "ALTER TABLE {} {verb} TRIGGER USER",
            quoted(&t.name)
        )))
        .execute(&mut *conn)
        .await?;
    }
    Ok(())
}

/// The highest number in a table's one-number key (`None` when it has no row).
pub async fn highest_key(conn: &mut AnyConnection, table: &Table) -> Result<Option<i64>> {
    Ok(sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
        "SELECT MAX({}) FROM {}",
        quoted(&table.key[0]),
        quoted(&table.name)
    )))
    .fetch_one(&mut *conn)
    .await?)
}

/// The last migration the store ran.
pub async fn schema_version(conn: &mut AnyConnection) -> Result<i64> {
    Ok(sqlx::query_scalar(
        "SELECT COALESCE(MAX(version), 0) FROM _sqlx_migrations WHERE success = TRUE",
    )
    .fetch_one(&mut *conn)
    .await?)
}

/// The numbers each table's key has handed out, as far as the database remembers
/// beyond its rows: SQLite's AUTOINCREMENT counters, PostgreSQL's sequences.
pub async fn sequences(
    conn: &mut AnyConnection,
    dialect: Dialect,
    tables: &[Table],
) -> Result<BTreeMap<String, i64>> {
    let mut out = BTreeMap::new();
    match dialect {
        Dialect::Sqlite => {
            let has: Option<i64> = sqlx::query_scalar(
                "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'sqlite_sequence'",
            )
            .fetch_optional(&mut *conn)
            .await?;
            if has.is_some() {
                let rows: Vec<(String, i64)> =
                    sqlx::query_as("SELECT name, seq FROM sqlite_sequence")
                        .fetch_all(&mut *conn)
                        .await?;
                out.extend(rows);
            }
        }
        Dialect::Postgres => {
            for t in tables.iter().filter(|t| t.has_number_key()) {
                let last: Option<i64> = sqlx::query_scalar(
                    "SELECT pg_sequence_last_value(pg_get_serial_sequence($1, $2)::regclass)",
                )
                .bind(&t.name)
                .bind(&t.key[0])
                .fetch_optional(&mut *conn)
                .await
                .ok()
                .flatten();
                if let Some(last) = last {
                    out.insert(t.name.clone(), last);
                }
            }
        }
    }
    Ok(out)
}

/// Moves each table's counter past every number the source handed out and every
/// row now in it, so that new rows never take a number the source used.
pub async fn advance_sequences(
    conn: &mut AnyConnection,
    dialect: Dialect,
    tables: &[Table],
    used: &BTreeMap<String, i64>,
) -> Result<()> {
    for t in tables.iter().filter(|t| t.has_number_key()) {
        let top = highest_key(conn, t).await?.unwrap_or(0);
        let at_least = used.get(&t.name).copied().unwrap_or(0).max(top);
        match dialect {
            Dialect::Postgres => {
                let sequence: Option<String> =
                    sqlx::query_scalar("SELECT pg_get_serial_sequence($1, $2)")
                        .bind(&t.name)
                        .bind(&t.key[0])
                        .fetch_one(&mut *conn)
                        .await?;
                if let Some(sequence) = sequence {
                    // setval(…, n, false) makes n the next number; 1 when none was used.
                    sqlx::query("SELECT setval($1::regclass, $2, false)")
                        .bind(sequence)
                        .bind(at_least + 1)
                        .execute(&mut *conn)
                        .await?;
                }
            }
            Dialect::Sqlite => {
                let autoincrement: Option<i64> = sqlx::query_scalar(
                    "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = $1 AND sql LIKE '%AUTOINCREMENT%'",
                )
                .bind(&t.name)
                .fetch_optional(&mut *conn)
                .await?;
                if autoincrement.is_none() || at_least == 0 {
                    continue;
                }
                let changed =
                    sqlx::query("UPDATE sqlite_sequence SET seq = MAX(seq, $1) WHERE name = $2")
                        .bind(at_least)
                        .bind(&t.name)
                        .execute(&mut *conn)
                        .await?
                        .rows_affected();
                if changed == 0 {
                    sqlx::query("INSERT INTO sqlite_sequence (name, seq) VALUES ($1, $2)")
                        .bind(&t.name)
                        .bind(at_least)
                        .execute(&mut *conn)
                        .await?;
                }
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table(name: &str) -> Table {
        Table {
            name: name.into(),
            columns: vec![],
            key: vec![],
        }
    }

    #[test]
    fn tables_come_after_those_they_name_and_trigger_filled_ones_last() {
        let found: BTreeMap<String, Table> = ["a_child", "b_parent", "stats_dirty", "z_alone"]
            .iter()
            .map(|n| (n.to_string(), table(n)))
            .collect();
        let needs = BTreeMap::from([(
            "a_child".to_string(),
            BTreeSet::from(["b_parent".to_string(), "a_child".to_string()]),
        )]);
        let names: Vec<String> = in_order(found, &needs)
            .into_iter()
            .map(|t| t.name)
            .collect();
        assert_eq!(names, ["b_parent", "z_alone", "a_child", "stats_dirty"]);
    }
}
