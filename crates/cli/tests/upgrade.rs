//! Upgrades as a team runs them: a database made by the previous release's
//! migrations (`migrations/released.txt`), with data in it, opened by this release,
//! on SQLite and PostgreSQL; a node of the previous release restarting against the
//! migrated database and still writing as it did; released migrations never edited;
//! and every migration since the last release only expanding the schema, unless it
//! says it contracts (migrations/README.md).

use std::borrow::Cow;
use std::path::{Path, PathBuf};

use renkei_core::access::Role;
use renkei_testkit::{Backend, FreshDatabase, TestServer, postgres_configured};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use sqlx::migrate::Migrator;

fn migrations_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../migrations")
}

/// (release, dialect, file, sha256) of every released migration.
fn released() -> Vec<(String, String, String, String)> {
    let text = std::fs::read_to_string(migrations_dir().join("released.txt")).unwrap();
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            assert_eq!(f.len(), 4, "released.txt: {l}");
            (f[0].into(), f[1].into(), f[2].into(), f[3].into())
        })
        .collect()
}

fn version_of(file: &str) -> i64 {
    file.split('_').next().unwrap().parse().unwrap()
}

/// The last migration the previous release shipped, per dialect.
fn last_released(dialect: &str) -> i64 {
    released()
        .iter()
        .filter(|r| r.1 == dialect)
        .map(|r| version_of(&r.2))
        .max()
        .unwrap()
}

#[test]
fn released_migrations_are_never_edited() {
    let list = released();
    assert!(list.len() >= 88, "both dialects' files are listed");
    for (release, dialect, file, sum) in list {
        let bytes = std::fs::read(migrations_dir().join(&dialect).join(&file))
            .unwrap_or_else(|e| panic!("{dialect}/{file} of {release} is gone: {e}"));
        assert_eq!(
            hex::encode(Sha256::digest(&bytes)),
            sum,
            "{dialect}/{file} shipped in {release} and was edited since: add a new migration instead"
        );
    }
    assert_eq!(last_released("sqlite"), last_released("postgres"));
}

/// What a migration may not do within a release (the previous release's nodes
/// still run against it) unless it says it contracts.
fn contracts(sql: &str) -> Vec<String> {
    let code: String = sql
        .lines()
        .map(|l| l.split("--").next().unwrap_or(""))
        .collect::<Vec<_>>()
        .join("\n")
        .to_ascii_uppercase();
    let words: Vec<&str> = code.split_whitespace().collect();
    let mut found = Vec::new();
    for (i, w) in words.iter().enumerate() {
        let next = |k: usize| words.get(i + k).copied().unwrap_or("");
        let what = match (*w, next(1)) {
            ("DROP", "TABLE") | ("DROP", "COLUMN") | ("DROP", "VIEW") => {
                Some(format!("DROP {}", next(1)))
            }
            ("RENAME", _) => Some("RENAME".into()),
            ("ALTER", "COLUMN") if next(3) == "TYPE" || (next(3) == "SET" && next(4) == "NOT") => {
                Some(format!("ALTER COLUMN {} {}", next(2), next(3)))
            }
            ("ADD", "COLUMN") => {
                // A new NOT NULL column needs a default, or the previous release's
                // inserts fail.
                let end = words[i..]
                    .iter()
                    .position(|t| t.ends_with(';') || t.ends_with(','))
                    .map_or(words.len(), |p| i + p + 1);
                let text = words[i..end].join(" ");
                (text.contains("NOT NULL") && !text.contains("DEFAULT"))
                    .then(|| format!("ADD COLUMN {} NOT NULL without a default", next(2)))
            }
            _ => None,
        };
        found.extend(what);
    }
    found
}

#[test]
fn the_contract_check_sees_what_breaks_the_previous_release() {
    assert_eq!(
        contracts("ALTER TABLE t DROP COLUMN c;"),
        vec!["DROP COLUMN"]
    );
    assert_eq!(
        contracts("ALTER TABLE t ADD COLUMN c TEXT NOT NULL;").len(),
        1
    );
    assert!(contracts("ALTER TABLE t ADD COLUMN c INTEGER NOT NULL DEFAULT 0;\nCREATE INDEX i ON t (c);\n-- DROP TABLE x in a comment").is_empty());
    assert!(
        contracts("DROP INDEX i; CREATE INDEX i ON t (a, b);").is_empty(),
        "an index only changes speed"
    );
}

#[test]
fn migrations_since_the_last_release_only_expand_unless_marked_as_contracting() {
    for dialect in ["sqlite", "postgres"] {
        let last = last_released(dialect);
        let mut files: Vec<_> = std::fs::read_dir(migrations_dir().join(dialect))
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        files.sort();
        for path in files {
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            if version_of(&name) <= last {
                continue;
            }
            let sql = std::fs::read_to_string(&path).unwrap();
            let found = contracts(&sql);
            assert!(
                found.is_empty() || sql.contains("-- contract:"),
                "{dialect}/{name} would break nodes of the previous release ({found:?}): expand now, contract in a later release, and say so with a `-- contract:` comment"
            );
        }
    }
}

/// The previous release's migrations, as its binary embedded them.
async fn previous_release(dialect: &str) -> Migrator {
    let mut m = Migrator::new(migrations_dir().join(dialect)).await.unwrap();
    let last = last_released(dialect);
    let kept: Vec<_> = m.iter().filter(|x| x.version <= last).cloned().collect();
    m.migrations = Cow::Owned(kept);
    m
}

async fn connect(db: &FreshDatabase) -> sqlx::AnyPool {
    sqlx::any::install_default_drivers();
    let url = if db.url.starts_with("sqlite:") {
        format!("{}?mode=rwc", db.url)
    } else {
        db.url.clone()
    };
    sqlx::AnyPool::connect(&url).await.unwrap()
}

/// Writes rows as the previous release wrote them: only the columns it knew.
async fn write_as_previous_release(pool: &sqlx::AnyPool, n: i64) -> i64 {
    let now = "2026-11-30T09:00:00.000000Z";
    let raw = format!("{{\"reporter_email\":\"soc{n}@example.jp\",\"logs\":\"sshd: Failed password from 203.0.113.{n}\"}}").into_bytes();
    let report: i64 = sqlx::query_scalar(
        "INSERT INTO reports (received_at, channel, format, raw, raw_sha256, raw_size, status, tlp, reporter_name, reporter_email, reporter_tld, subject, body, category, indicators)
         VALUES ($1, 'api', 'form', $2, $3, $4, 'processed', 'TLP:AMBER', 'SOC', $5, 'jp', 'ssh brute force', $6, 'intrusion_attempt', '{}') RETURNING id",
    )
    .bind(now)
    .bind(raw.clone())
    .bind(hex::encode(Sha256::digest(&raw)))
    .bind(raw.len() as i64)
    .bind(format!("soc{n}@example.jp"))
    .bind(format!("sshd: Failed password for root from 203.0.113.{n} port 40000 ssh2 不正アクセス"))
    .fetch_one(pool)
    .await
    .unwrap();
    sqlx::query(
        "INSERT INTO incidents (report_id, source_ip, state, tlp, category, created_at, updated_at) VALUES ($1, $2, 'new', 'TLP:AMBER', 'intrusion_attempt', $3, $3)",
    )
    .bind(report)
    .bind(format!("203.0.113.{n}"))
    .bind(now)
    .execute(pool)
    .await
    .unwrap();
    report
}

async fn upgrade(backend: Backend) {
    let dialect = match backend {
        Backend::Sqlite => "sqlite",
        Backend::Postgres => "postgres",
    };
    let db = FreshDatabase::create(backend).await;
    let pool = connect(&db).await;
    previous_release(dialect).await.run(&pool).await.unwrap();
    let org: i64 = sqlx::query_scalar("INSERT INTO organizations (name, kind, created_at, updated_at) VALUES ('Victim Corp', 'constituent', $1, $1) RETURNING id")
        .bind("2026-11-30T09:00:00.000000Z").fetch_one(&pool).await.unwrap();
    sqlx::query("INSERT INTO contacts (org_id, name, email, created_at) VALUES ($1, 'SOC', 'soc@victim.example.jp', $2)")
        .bind(org).bind("2026-11-30T09:00:00.000000Z").execute(&pool).await.unwrap();
    let first = write_as_previous_release(&pool, 9).await;
    pool.close().await;

    // This release opens it: the server migrates and serves the old rows.
    let srv = TestServer::start_on_database(backend, db, |_| {}).await;
    let schema = srv.store.schema().await.unwrap();
    assert!(
        schema.ready() && schema.applied > last_released(dialect),
        "{schema:?}"
    );
    let token = srv.token(&srv.user(Role::Coordinator).await).await;
    let get = |path: String| {
        let (http, token, url) = (srv.client(), token.clone(), srv.url(&path));
        async move {
            http.get(url)
                .bearer_auth(token)
                .send()
                .await
                .unwrap()
                .json::<Value>()
                .await
                .unwrap()
        }
    };
    let report = get(format!("/api/v1/reports/{first}")).await;
    assert_eq!(report["reporter_email"], "soc9@example.jp", "{report}");
    // Rows from before are indexed by the backfill, as the server's clock worker does.
    while renkei_incident::search::backfill(&srv.store, 1000)
        .await
        .unwrap()
        > 0
    {}
    let found = get("/api/v1/incidents?q=ip%3A203.0.113.9".into()).await;
    assert_eq!(found.as_array().map(Vec::len), Some(1), "{found}");
    let found = get("/api/v1/incidents?q=%E4%B8%8D%E6%AD%A3".into()).await;
    assert_eq!(
        found.as_array().map(Vec::len),
        Some(1),
        "不正 is found: {found}"
    );
    // What this release added works on the old rows: the retention job's dry run.
    let keep = renkei_core::config::RetentionConfig {
        raw_reports_days: 1,
        ..Default::default()
    };
    let would = renkei_core::privacy::retention::run(&srv.store, &keep, true)
        .await
        .unwrap();
    assert_eq!(would["raw_reports"], 1);

    // A node of the previous release restarts meanwhile: it knows fewer migrations
    // and goes on (the one before ignoring nothing would have stopped), and its
    // writes, naming only the columns it knew, still succeed.
    let mut strict = previous_release(dialect).await;
    {
        // Its own pool: the migrator leaves PostgreSQL's advisory lock held on a
        // connection when it stops with an error, until that connection closes.
        let pool = connect(&srv.database).await;
        let err = strict.run(&pool).await.unwrap_err();
        assert!(
            err.to_string()
                .contains("previously applied but is missing"),
            "{err}"
        );
        pool.close().await;
    }
    let pool = connect(&srv.database).await;
    strict.set_ignore_missing(true);
    strict.run(&pool).await.unwrap();
    let second = write_as_previous_release(&pool, 10).await;
    pool.close().await;
    let report = get(format!("/api/v1/reports/{second}")).await;
    assert_eq!(report["reporter_email"], "soc10@example.jp", "{report}");
    let incidents = get("/api/v1/incidents".into()).await;
    assert_eq!(incidents.as_array().map(Vec::len), Some(2), "{incidents}");
    assert_eq!(
        json!(report["incidents"].as_array().map(Vec::len)),
        json!(1)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_database_made_by_the_previous_release_upgrades_with_its_data_on_sqlite() {
    upgrade(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_database_made_by_the_previous_release_upgrades_with_its_data_on_postgres() {
    if postgres_configured() {
        upgrade(Backend::Postgres).await;
    }
}
