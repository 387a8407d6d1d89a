//! The two dialects' migrations build the same schema: the same tables, the same
//! columns with types of the same family, the same indexes. (The migration names
//! matching is checked in `store.rs`; this checks what they make.) Runs when
//! `RENKEI_TEST_POSTGRES_URL` names a server where a database may be created.

use std::collections::{BTreeMap, BTreeSet};

use renkei_core::Store;
mod common;
use common::FreshPostgres;

/// Table → column → type family; and the index names.
#[derive(Debug, Default, PartialEq, Eq)]
struct Schema {
    columns: BTreeMap<String, BTreeMap<String, &'static str>>,
    indexes: BTreeSet<String>,
}

/// The full-text index is each dialect's own: SQLite's FTS5 virtual table (with the
/// shadow tables FTS5 keeps beside it), PostgreSQL's table of `tsvector`s with its
/// GIN index. Both must have it; its shape is theirs, so it is compared by name.
const FULL_TEXT: &str = "report_search";
const FULL_TEXT_GIN: &str = "report_search_body";

/// A declared type's family: what a value of it can be, whatever the dialect
/// calls it.
fn family(declared: &str) -> &'static str {
    let t = declared.to_ascii_lowercase();
    if t.contains("int") || t == "bigserial" || t == "serial" {
        "integer"
    } else if t.contains("char") || t == "text" || t.contains("clob") {
        "text"
    } else if t.contains("real") || t.contains("double") || t.contains("float") || t == "numeric" {
        "real"
    } else if t == "blob" || t == "bytea" {
        "bytes"
    } else if t.contains("bool") {
        "boolean"
    } else {
        "other"
    }
}

async fn sqlite_schema(url: &str) -> Schema {
    let store = Store::open(url, 1).await.expect("sqlite migrates");
    let pool = store.pool();
    let mut schema = Schema::default();
    let tables: Vec<String> = sqlx::query_scalar(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' AND name NOT LIKE '_sqlx%'",
    )
    .fetch_all(pool)
    .await
    .unwrap();
    for table in tables {
        if table.starts_with(&format!("{FULL_TEXT}_")) {
            continue;
        }
        if table == FULL_TEXT {
            schema.columns.insert(table, BTreeMap::new());
            continue;
        }
        let cols: Vec<(String, String)> =
            sqlx::query_as("SELECT name, type FROM pragma_table_info($1)")
                .bind(&table)
                .fetch_all(pool)
                .await
                .unwrap();
        schema.columns.insert(
            table,
            cols.into_iter().map(|(c, t)| (c, family(&t))).collect(),
        );
    }
    schema.indexes = sqlx::query_scalar(
        "SELECT name FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL",
    )
    .fetch_all(pool)
    .await
    .unwrap()
    .into_iter()
    .collect();
    store.close().await;
    schema
}

async fn postgres_schema(url: &str) -> Schema {
    let store = Store::open(url, 1).await.expect("postgres migrates");
    let pool = store.pool();
    let mut schema = Schema::default();
    let cols: Vec<(String, String, String)> = sqlx::query_as(
        "SELECT table_name::text, column_name::text, data_type::text FROM information_schema.columns \
         WHERE table_schema = 'public' AND table_name NOT LIKE '\\_sqlx%' ORDER BY table_name, ordinal_position",
    )
    .fetch_all(pool)
    .await
    .unwrap();
    for (table, column, data_type) in cols {
        let columns = schema.columns.entry(table.clone()).or_default();
        if table != FULL_TEXT {
            columns.insert(column, family(&data_type));
        }
    }
    // Primary keys and unique constraints make their own indexes in PostgreSQL
    // (SQLite's are automatic and unnamed): only the ones a migration named count.
    schema.indexes = sqlx::query_scalar(
        "SELECT i.indexname::text FROM pg_indexes i WHERE i.schemaname = 'public' \
         AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conname = i.indexname)",
    )
    .fetch_all(pool)
    .await
    .unwrap()
    .into_iter()
    .filter(|i: &String| i != FULL_TEXT_GIN)
    .collect();
    store.close().await;
    schema
}

fn differences(sqlite: &Schema, postgres: &Schema) -> Vec<String> {
    let mut out = Vec::new();
    let tables: BTreeSet<&String> = sqlite
        .columns
        .keys()
        .chain(postgres.columns.keys())
        .collect();
    for t in tables {
        match (sqlite.columns.get(t), postgres.columns.get(t)) {
            (Some(a), Some(b)) => {
                let names: BTreeSet<&String> = a.keys().chain(b.keys()).collect();
                for c in names {
                    match (a.get(c), b.get(c)) {
                        (Some(x), Some(y)) if x == y => {}
                        (x, y) => out.push(format!("{t}.{c}: sqlite {x:?}, postgres {y:?}")),
                    }
                }
            }
            (a, b) => out.push(format!(
                "table {t}: in sqlite {}, in postgres {}",
                a.is_some(),
                b.is_some()
            )),
        }
    }
    for i in sqlite.indexes.symmetric_difference(&postgres.indexes) {
        out.push(format!(
            "index {i}: in sqlite {}, in postgres {}",
            sqlite.indexes.contains(i),
            postgres.indexes.contains(i)
        ));
    }
    out
}

#[test]
fn type_families_read_alike_in_both_dialects() {
    assert_eq!(family("INTEGER"), family("bigint"));
    assert_eq!(family("TEXT"), family("character varying"));
    assert_eq!(family("REAL"), family("double precision"));
    assert_eq!(family("BLOB"), family("bytea"));
    assert_ne!(family("TEXT"), family("BIGINT"));
}

#[tokio::test]
async fn both_dialects_migrate_to_the_same_tables_columns_types_and_indexes() {
    let Some(db) = FreshPostgres::create("renkei_schema").await else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let sqlite = sqlite_schema(&format!("sqlite://{}", dir.path().join("s.db").display())).await;
    let postgres = postgres_schema(&db.url).await;
    db.drop().await;

    assert!(sqlite.columns.len() > 30, "{} tables", sqlite.columns.len());
    eprintln!(
        "compared {} tables, {} columns, {} indexes",
        sqlite.columns.len(),
        sqlite.columns.values().map(BTreeMap::len).sum::<usize>(),
        sqlite.indexes.len()
    );
    let diff = differences(&sqlite, &postgres);
    assert!(
        diff.is_empty(),
        "the dialects' schemas differ:\n{}",
        diff.join("\n")
    );
}
