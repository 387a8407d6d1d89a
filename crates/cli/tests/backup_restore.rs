//! `renkei backup`, `renkei restore` and `renkei store copy` as an operator runs them:
//! a snapshot taken while reports keep arriving, restored into empty stores of both
//! dialects; a damaged file refused before anything is written; a copy from SQLite
//! to PostgreSQL stopped half-way and resumed.

mod common;

use common::renkei;
use common::{stderr, stdout_json};
use std::process::Output;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use renkei_core::Store;
use renkei_core::access::Role;
use renkei_testkit::{Backend, FreshDatabase, both_backends, postgres_configured};
use serde_json::{Value, json};

async fn run(args: &[&str]) -> Output {
    renkei().args(args).output().await.unwrap()
}

/// A report as a reporter's API client sends one: its log line names an address,
/// so each report also makes an incident.
fn report(n: u32) -> Value {
    json!({
        "site_org": "Example Corp", "reporter_name": "SOC", "reporter_email": "soc@example.co.jp",
        "description": format!("ポートスキャン port scan number {n}"),
        "logs": format!("Nov 20 10:00:01 fw kernel: DROP IN=eth0 SRC=203.0.{}.{} DST=192.0.2.1 PROTO=TCP SPT=4000 DPT=22", n / 250, n % 250 + 1),
    })
}

async fn ids(store: &Store, sql: &str) -> Vec<i64> {
    sqlx::query_scalar(sqlx::AssertSqlSafe(sql.to_string()))
        .fetch_all(store.pool())
        .await
        .unwrap()
}

/// The other backends a snapshot of `backend` is restored into: its own, and the
/// other dialect when PostgreSQL is there.
fn targets(backend: Backend) -> Vec<Backend> {
    let mut t = vec![backend];
    if postgres_configured() {
        t.push(match backend {
            Backend::Sqlite => Backend::Postgres,
            Backend::Postgres => Backend::Sqlite,
        });
    }
    t
}

both_backends! {
    async fn a_backup_taken_while_reports_arrive_restores_every_report_committed_before_it_into_either_dialect(srv) {
        let coordinator = srv.user(Role::Coordinator).await;
        let token = srv.token(&coordinator).await;
        let http = srv.client();
        // A feed file too, through the command scripts use: its counts are rows
        // of a table without a key.
        let feed_dir = tempfile::tempdir().unwrap();
        let feed = feed_dir.path().join("scan-2026-12-01.csv");
        let mut text = String::from("\"timestamp\",\"ip\",\"protocol\",\"port\",\"hostname\",\"tag\"\n");
        for i in 0..300 {
            text.push_str(&format!("\"2026-12-01 00:00:{:02}\",\"198.51.100.{}\",\"tcp\",\"23\",\"\",\"scan\"\n", i % 60, i % 250 + 1));
        }
        std::fs::write(&feed, text).unwrap();
        let out = renkei().env("RENKEI_MAIL__FROM", "Example CSIRT <csirt@csirt.example>")
            .args(["incident", "import", "--database-url", &srv.database.url, "--format", "csv", "--feed", "shadowserver-scan"])
            .arg(&feed).output().await.unwrap();
        assert!(out.status.success(), "{}", stderr(&out));
        let feed_counts = ids(&srv.store, "SELECT COUNT(*) FROM feed_counts").await;
        assert!(feed_counts[0] > 0);
        for n in 0..20 {
            let r = http.post(srv.url("/api/v1/reports")).bearer_auth(&token).json(&report(n)).send().await.unwrap();
            assert_eq!(r.status(), 201);
        }
        // Reports keep coming while the backup runs: each id is noted with whether
        // its answer came before the backup started.
        let started = Arc::new(AtomicBool::new(false));
        let stop = Arc::new(AtomicBool::new(false));
        let load = {
            let (http, token, started, stop) = (http.clone(), token.clone(), started.clone(), stop.clone());
            let url = srv.url("/api/v1/reports");
            tokio::spawn(async move {
                let mut acknowledged = Vec::new();
                let mut n = 20;
                while !stop.load(Ordering::SeqCst) {
                    let before = !started.load(Ordering::SeqCst);
                    let r = http.post(&url).bearer_auth(&token).json(&report(n)).send().await.unwrap();
                    assert_eq!(r.status(), 201);
                    let body: Value = r.json().await.unwrap();
                    acknowledged.push((body["report"].as_i64().unwrap_or_else(|| panic!("{body}")), before));
                    n += 1;
                }
                acknowledged
            })
        };
        tokio::time::sleep(Duration::from_millis(300)).await;
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("renkei.snapshot");
        let file_s = file.display().to_string();
        started.store(true, Ordering::SeqCst);
        let out = run(&["backup", "--database-url", &srv.database.url, "--out", &file_s]).await;
        assert!(out.status.success(), "{}", stderr(&out));
        tokio::time::sleep(Duration::from_millis(200)).await;
        stop.store(true, Ordering::SeqCst);
        let acknowledged = load.await.unwrap();
        let taken = stdout_json(&out);
        assert!(taken["audit_seq"].as_i64().unwrap() > 20, "{taken}");
        assert!(taken["rows"].as_u64().unwrap() > 40, "{taken}");
        assert!(!dir.path().join("renkei.snapshot.partial").exists());
        let before: Vec<i64> = acknowledged.iter().filter(|(_, b)| *b).map(|(id, _)| *id).collect();
        assert!(!before.is_empty() && acknowledged.len() > before.len(), "reports were written before and during the backup: {acknowledged:?}");
        let source_reports = ids(&srv.store, "SELECT id FROM reports ORDER BY id").await;

        // The file describes itself without a store.
        let out = run(&["restore", "--check", "--from", &file_s]).await;
        assert!(out.status.success(), "{}", stderr(&out));
        assert_eq!(stdout_json(&out)["audit_hash"], taken["audit_hash"]);

        for backend in targets(srv.backend) {
            let target = FreshDatabase::create(backend).await;
            let out = run(&["restore", "--database-url", &target.url, "--from", &file_s]).await;
            assert!(out.status.success(), "{backend:?}: {}", stderr(&out));
            assert_eq!(stdout_json(&out)["rows"], taken["rows"]);
            // The audit chain is whole and ends at the snapshot's head.
            let out = run(&["audit", "verify", "--database-url", &target.url]).await;
            assert!(out.status.success(), "{backend:?}: {}", stderr(&out));
            let verdict = stdout_json(&out);
            assert_eq!(verdict["status"], "intact");
            assert_eq!(verdict["head"], taken["audit_hash"], "{backend:?}");
            assert_eq!(verdict["rows"], taken["audit_seq"]);

            let store = Store::open(&target.url, 2).await.unwrap();
            let restored = ids(&store, "SELECT id FROM reports ORDER BY id").await;
            assert_eq!(ids(&store, "SELECT COUNT(*) FROM feed_counts").await, feed_counts, "{backend:?}");
            for id in &before {
                assert!(restored.contains(id), "{backend:?}: report {id} was acknowledged before the backup began");
            }
            // Nothing committed after the snapshot's view, and no part of a write:
            // each restored report has the audit entry written with it.
            assert!(restored.len() < source_reports.len(), "{backend:?}: reports after the backup are not in it");
            assert!(restored.iter().all(|id| source_reports.contains(id)));
            let audited = ids(&store, "SELECT DISTINCT CAST(object_id AS BIGINT) FROM audit_log WHERE object_type = 'report' AND action = 'report.received' ORDER BY 1").await;
            assert_eq!(audited, restored, "{backend:?}");
            // Search answers at once (the index is built again by the restore), and
            // new rows take numbers after every restored one.
            let unsearchable = ids(&store, "SELECT id FROM reports WHERE searchable = 0 AND status <> 'received'").await;
            assert_eq!(unsearchable, Vec::<i64>::new(), "{backend:?}");
            let indexed = ids(&store, "SELECT COUNT(*) FROM report_search").await[0];
            let should = ids(&store, "SELECT COUNT(*) FROM reports WHERE status <> 'received'").await[0];
            assert!(indexed > 0 && indexed == should, "{backend:?}: {indexed} of {should} reports in the text index");
            let mut tx = store.begin().await.unwrap();
            let next = tx.reserve_ids("reports", 1).await.unwrap();
            assert!(next[0] > *source_reports.iter().max().unwrap_or(&0) || next[0] > *restored.last().unwrap(), "{backend:?}: {next:?}");
            drop(tx);
            store.close().await;

            // A second restore into the same store is refused, and changes nothing.
            let out = run(&["restore", "--database-url", &target.url, "--from", &file_s]).await;
            assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
            assert!(stderr(&out).contains("not empty"), "{}", stderr(&out));
        }

        // A file cut short, or with one byte changed, is refused before a store is
        // even created.
        let bytes = std::fs::read(&file).unwrap();
        let damaged = dir.path().join("damaged.snapshot");
        let damaged_s = damaged.display().to_string();
        let mut altered = bytes.clone();
        let middle = altered.len() / 2;
        altered[middle] ^= 1;
        for body in [&bytes[..bytes.len() - 100], &altered[..]] {
            std::fs::write(&damaged, body).unwrap();
            let db = dir.path().join("never.db");
            let url = format!("sqlite://{}", db.display());
            let out = run(&["restore", "--database-url", &url, "--from", &damaged_s]).await;
            assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
            assert!(stderr(&out).contains("checksum does not match"), "{}", stderr(&out));
            assert!(!db.exists(), "nothing is written for a damaged file");
        }
    }
}

/// A source with enough audit rows that a copy takes several batches of them.
async fn busy_source(backend: Backend) -> (FreshDatabase, Store) {
    let db = FreshDatabase::create(backend).await;
    let store = Store::open(&db.url, 4).await.unwrap();
    let actor = renkei_core::audit::Actor::system("test");
    for batch in 0..30 {
        let mut tx = store.begin().await.unwrap();
        let events: Vec<renkei_core::audit::Event<'_>> = (0..1_000)
            .map(|_| renkei_core::audit::Event {
                action: "test.event",
                object_type: "test",
                object_id: format!("{batch}"),
                changes: json!({"batch": batch}),
            })
            .collect();
        renkei_core::audit::record_many(&mut tx, &actor, events)
            .await
            .unwrap();
        tx.commit().await.unwrap();
    }
    (db, store)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_store_copied_to_another_database_and_stopped_half_way_resumes_where_it_stopped() {
    let (source, source_store) = busy_source(Backend::Sqlite).await;
    let to = if postgres_configured() {
        Backend::Postgres
    } else {
        Backend::Sqlite
    };
    let target = FreshDatabase::create(to).await;
    let head = stdout_json(&run(&["audit", "verify", "--database-url", &source.url]).await);
    assert_eq!(head["rows"], 30_000);

    // Stopped in the middle of the audit log (a lost connection, ^C): once some of
    // its batches are in, the test takes a lock that holds the next one back, and
    // kills the copy while it waits.
    let target_store = Store::open(&target.url, 2).await.unwrap();
    let mut child = renkei()
        .args(["store", "copy", "--from", &source.url, "--to", &target.url])
        .stderr(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let count = "SELECT COUNT(*) FROM audit_log";
    loop {
        let n: i64 = sqlx::query_scalar(count)
            .fetch_one(target_store.pool())
            .await
            .unwrap();
        if n > 0 {
            break;
        }
        assert!(
            child.try_wait().unwrap().is_none(),
            "the copy ended before it was stopped"
        );
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    let mut hold = target_store.pool().acquire().await.unwrap();
    match to {
        Backend::Sqlite => {
            sqlx::query("BEGIN IMMEDIATE")
                .execute(&mut *hold)
                .await
                .unwrap();
        }
        Backend::Postgres => {
            sqlx::query("BEGIN").execute(&mut *hold).await.unwrap();
            sqlx::query("LOCK TABLE audit_log IN SHARE MODE")
                .execute(&mut *hold)
                .await
                .unwrap();
        }
    }
    child.kill().await.unwrap();
    let partial: i64 = sqlx::query_scalar(count)
        .fetch_one(&mut *hold)
        .await
        .unwrap();
    sqlx::query("ROLLBACK").execute(&mut *hold).await.unwrap();
    drop(hold);
    assert!(
        partial > 0 && partial < 30_000,
        "the copy was stopped part-way: {partial}"
    );
    let marked: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM store_copy")
        .fetch_one(target_store.pool())
        .await
        .unwrap();
    assert_eq!(marked, 1, "the target says a copy is under way");

    // Run again: it goes on after the last row the target has.
    let out = run(&["store", "copy", "--from", &source.url, "--to", &target.url]).await;
    assert!(out.status.success(), "{}", stderr(&out));
    let verdict = stdout_json(&run(&["audit", "verify", "--database-url", &target.url]).await);
    assert_eq!(
        verdict, head,
        "the chain is whole on the target, with the source's head"
    );
    let marked: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM store_copy")
        .fetch_one(target_store.pool())
        .await
        .unwrap();
    assert_eq!(marked, 0, "the copy is complete");
    // The target goes on numbering after the source: a new audit row chains on.
    renkei_core::audit::record_alone(
        &target_store,
        &renkei_core::audit::Actor::system("test"),
        renkei_core::audit::Event {
            action: "test.after_copy",
            object_type: "test",
            object_id: "x".into(),
            changes: json!({}),
        },
    )
    .await
    .unwrap();
    let verdict = stdout_json(&run(&["audit", "verify", "--database-url", &target.url]).await);
    assert_eq!(verdict["rows"], 30_001);
    let lists: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM mailing_lists")
        .fetch_one(target_store.pool())
        .await
        .unwrap();
    assert_eq!(
        lists, 2,
        "the lists the migrations made are the source's, not doubled"
    );

    // A target with data is refused; so is a resumed copy whose source moved on.
    let out = run(&["store", "copy", "--from", &source.url, "--to", &target.url]).await;
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("not empty"), "{}", stderr(&out));
    let third = FreshDatabase::create(Backend::Sqlite).await;
    let third_store = Store::open(&third.url, 2).await.unwrap();
    sqlx::query("INSERT INTO store_copy (id, source, source_head, started_at) VALUES (1, 'sqlite://elsewhere', '1:abc', '2026-12-07T00:00:00Z')")
        .execute(third_store.pool()).await.unwrap();
    let out = run(&["store", "copy", "--from", &source.url, "--to", &third.url]).await;
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("has changed since the copy"),
        "{}",
        stderr(&out)
    );
    source_store.close().await;
}
