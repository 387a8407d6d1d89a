//! `renkei erase` and `renkei retention` as an administrator runs them against a
//! running server's store, on SQLite and PostgreSQL: a reporter who asks to be
//! forgotten is found in the report, its text and bytes, the conversation, the
//! mailing list and the address book, and replaced by one pseudonym everywhere
//! while the counts stay; an unknown address changes nothing; the daily job
//! removes report bytes, feed events and old sessions, the dry run saying first
//! exactly what will go, and the operations page shows what went.

mod common;

use common::{stderr, stdout_json};

use renkei_core::access::Role;
use renkei_core::audit::Actor;
use renkei_core::orgs::{self, NewContact, OrgKind};
use renkei_testkit::TestServer;
use serde_json::{Value, json};

const ADDRESS: &str = "Taro.Yamada@victim.example.jp";

/// The binary with the team's sender set (imports and mail need one).
fn renkei() -> tokio::process::Command {
    let mut c = common::renkei();
    c.env("RENKEI_MAIL__FROM", "Example CSIRT <csirt@csirt.example>");
    c
}

async fn scalar(srv: &TestServer, sql: &str) -> i64 {
    sqlx::query_scalar(sqlx::AssertSqlSafe(sql.to_string()))
        .fetch_one(srv.store.pool())
        .await
        .unwrap()
}

async fn text(srv: &TestServer, sql: &str) -> Option<String> {
    sqlx::query_scalar(sqlx::AssertSqlSafe(sql.to_string()))
        .fetch_one(srv.store.pool())
        .await
        .unwrap()
}

async fn start(backend: renkei_testkit::Backend) -> TestServer {
    TestServer::start_with(backend, |c| {
        c.mail.from = "Example CSIRT <csirt@csirt.example>".into();
    })
    .await
}

async fn erasure(backend: renkei_testkit::Backend) {
    let srv = start(backend).await;
    let coordinator = srv.user(Role::Coordinator).await;
    let token = srv.token(&coordinator).await;
    let http = srv.client();
    let post = |path: &str, body: Value| {
        http.post(srv.url(path))
            .bearer_auth(&token)
            .json(&body)
            .send()
    };
    // The reporter's report, with their address and name in its text too; and
    // another reporter's, which must not change.
    let r = post("/api/v1/reports", json!({
        "site_org": "Victim Corp", "reporter_name": "山田 太郎", "reporter_email": ADDRESS, "reporter_phone": "03-1234-5678",
        "description": "不正アクセスを確認しました。連絡先: taro.yamada@victim.example.jp（山田 太郎）",
        "logs": "Nov 20 10:00:01 host sshd[1]: Failed password for root from 203.0.113.5 port 40000 ssh2",
    })).await.unwrap();
    assert_eq!(r.status(), 201);
    let report = r.json::<Value>().await.unwrap()["report"].as_i64().unwrap();
    let r = post("/api/v1/reports", json!({
        "site_org": "Other Corp", "reporter_name": "Hanako", "reporter_email": "jim.taro.yamada@victim.example.jp",
        "description": "port scan", "logs": "Nov 20 10:00:01 fw DROP SRC=198.51.100.7 DST=192.0.2.1 PROTO=TCP DPT=22",
    })).await.unwrap();
    assert_eq!(r.status(), 201);
    let other = r.json::<Value>().await.unwrap()["report"].as_i64().unwrap();
    // The coordinator writes to them; they subscribe to the alerts list; they are
    // in the address book.
    let r = post(
        &format!("/api/v1/reports/{report}/mail"),
        json!({"to": [ADDRESS], "template": "ask_logs", "lang": "ja"}),
    )
    .await
    .unwrap();
    assert_eq!(r.status(), 202, "{}", r.text().await.unwrap());
    let r = http
        .post(srv.url("/api/v1/lists/alerts/subscribe"))
        .json(&json!({"email": ADDRESS}))
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success(), "{}", r.status());
    let org = srv.org("Victim Corp", OrgKind::Constituent).await;
    orgs::add_contact(
        &srv.store,
        &Actor::system("test"),
        org,
        NewContact {
            name: "山田 太郎".into(),
            email: ADDRESS.to_lowercase(),
            phone: Some("03-1234-5678".into()),
            pgp_key: None,
            lang: renkei_core::lang::Lang::Ja,
            role: None,
        },
    )
    .await
    .unwrap();
    renkei_incident::search::backfill(&srv.store, 100)
        .await
        .unwrap();
    let incidents = scalar(&srv, "SELECT COUNT(*) FROM incidents").await;
    let reports = scalar(&srv, "SELECT COUNT(*) FROM reports").await;
    let audit_before = scalar(&srv, "SELECT COUNT(*) FROM audit_log").await;
    let url = srv.database.url.clone();

    // An address nobody gave: said so, nothing changes, nothing audited.
    let out = renkei()
        .args([
            "erase",
            "--database-url",
            &url,
            "--address",
            "nobody@example.org",
        ])
        .output()
        .await
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("nothing kept here names nobody@example.org"),
        "{}",
        stderr(&out)
    );
    let out = renkei()
        .args([
            "erase",
            "--database-url",
            &url,
            "--address",
            "not an address",
        ])
        .output()
        .await
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert_eq!(
        scalar(&srv, "SELECT COUNT(*) FROM audit_log").await,
        audit_before
    );

    // The dry run names every place, changes nothing.
    let out = renkei()
        .args([
            "erase",
            "--database-url",
            &url,
            "--address",
            "taro.yamada@VICTIM.example.jp",
            "--name",
            "山田 太郎",
            "--dry-run",
        ])
        .output()
        .await
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let found = stdout_json(&out);
    let places = &found["places"];
    for place in [
        "reports.reporter_email",
        "reports.reporter_name",
        "reports.body",
        "reports.raw",
        "messages.mail_to",
        "messages.body",
        "outbox.rcpt_to",
        "subscribers.email",
        "contacts.email",
        "contacts.name",
        "thread_parties.address",
    ] {
        assert!(
            places[place].as_u64().unwrap_or(0) >= 1,
            "{place} in {found}"
        );
    }
    assert_eq!(
        places["reports.reporter_email"], 1,
        "the other reporter's longer address is not theirs: {found}"
    );
    assert!(
        found["kept"]["audit_log.changes"].as_u64().unwrap_or(0) >= 1,
        "the audit entries that name them are counted: {found}"
    );
    assert_eq!(
        text(
            &srv,
            &format!("SELECT reporter_email FROM reports WHERE id = {report}")
        )
        .await
        .as_deref(),
        Some(ADDRESS.to_lowercase().as_str())
    );

    // The erasure.
    let out = renkei()
        .args([
            "erase",
            "--database-url",
            &url,
            "--address",
            "taro.yamada@VICTIM.example.jp",
            "--name",
            "山田 太郎",
        ])
        .output()
        .await
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let done = stdout_json(&out);
    let pseudonym = done["pseudonym"].as_str().unwrap().to_string();
    assert!(
        pseudonym.starts_with("erased-") && pseudonym.len() == 19,
        "{pseudonym}"
    );
    let erased = format!("{pseudonym}@erased.invalid");
    assert_eq!(
        done["places"], found["places"],
        "what the dry run showed is what changed"
    );
    // Nothing anywhere still names them, in any case.
    let lower = ADDRESS.to_lowercase();
    for (table, columns) in [
        (
            "reports",
            "reporter_email || ' ' || reporter_name || ' ' || body || ' ' || COALESCE(subject, '')",
        ),
        ("messages", "mail_to || ' ' || body"),
        ("outbox", "rcpt_to || ' ' || body"),
        ("subscribers", "email || email_key"),
        ("contacts", "email || name"),
        ("thread_parties", "address"),
    ] {
        let n = scalar(&srv, &format!("SELECT COUNT(*) FROM {table} WHERE lower({columns}) LIKE '%{lower}%' AND lower({columns}) NOT LIKE '%jim.{lower}%' OR {columns} LIKE '%山田 太郎%'")).await;
        assert_eq!(n, 0, "{table} still names them");
    }
    let raw: Vec<u8> = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
        "SELECT raw FROM reports WHERE id = {report}"
    )))
    .fetch_one(srv.store.pool())
    .await
    .unwrap();
    let raw = String::from_utf8_lossy(&raw).to_lowercase();
    assert!(
        !raw.contains(&lower) && raw.contains(&erased),
        "the report as received: {raw}"
    );
    // One pseudonym for all of it; the phone number gone; the subscription ended.
    assert_eq!(
        text(
            &srv,
            &format!("SELECT reporter_email FROM reports WHERE id = {report}")
        )
        .await,
        Some(erased.clone())
    );
    assert_eq!(
        text(
            &srv,
            &format!("SELECT reporter_name FROM reports WHERE id = {report}")
        )
        .await,
        Some(pseudonym.clone())
    );
    assert_eq!(
        text(
            &srv,
            &format!("SELECT reporter_phone FROM reports WHERE id = {report}")
        )
        .await,
        None
    );
    assert_eq!(
        text(&srv, "SELECT status FROM subscribers")
            .await
            .as_deref(),
        Some("left")
    );
    assert_eq!(text(&srv, "SELECT phone FROM contacts").await, None);
    // The other reporter is untouched; the counts are as they were.
    assert_eq!(
        text(
            &srv,
            &format!("SELECT reporter_email FROM reports WHERE id = {other}")
        )
        .await
        .as_deref(),
        Some("jim.taro.yamada@victim.example.jp")
    );
    assert_eq!(
        scalar(&srv, "SELECT COUNT(*) FROM incidents").await,
        incidents
    );
    assert_eq!(scalar(&srv, "SELECT COUNT(*) FROM reports").await, reports);
    assert_eq!(
        text(
            &srv,
            &format!("SELECT reporter_tld FROM reports WHERE id = {report}")
        )
        .await
        .as_deref(),
        Some("jp")
    );
    // Search no longer finds them by address or by the words of their name.
    let found = |q: String| {
        let http = http.clone();
        let (url, token) = (
            srv.url(&format!("/api/v1/incidents?q={}", q.replace('@', "%40"))),
            token.clone(),
        );
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
    assert_eq!(found(format!("email:{lower}")).await, json!([]));
    assert_eq!(
        found("%E5%B1%B1%E7%94%B0".into()).await,
        json!([]),
        "山田 is no longer indexed"
    );
    // The audit log says that it happened and where, not whom.
    let entry: (String, String, String) = sqlx::query_as(
        "SELECT action, object_id, changes FROM audit_log ORDER BY seq DESC LIMIT 1",
    )
    .fetch_one(srv.store.pool())
    .await
    .unwrap();
    assert_eq!(
        (entry.0.as_str(), entry.1.as_str()),
        ("privacy.erase", pseudonym.as_str())
    );
    assert!(
        !entry.2.to_lowercase().contains("yamada") && !entry.2.contains("山田"),
        "{}",
        entry.2
    );
    let out = renkei()
        .args(["audit", "verify", "--database-url", &url])
        .output()
        .await
        .unwrap();
    assert!(out.status.success(), "the chain holds: {}", stderr(&out));
    // Asked again: nothing is left to erase.
    let out = renkei()
        .args(["erase", "--database-url", &url, "--address", ADDRESS])
        .output()
        .await
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_erasure_replaces_a_reporter_everywhere_by_one_pseudonym_and_keeps_the_counts_on_sqlite()
{
    erasure(renkei_testkit::Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_erasure_replaces_a_reporter_everywhere_by_one_pseudonym_and_keeps_the_counts_on_postgres()
 {
    if renkei_testkit::postgres_configured() {
        erasure(renkei_testkit::Backend::Postgres).await;
    }
}

async fn retention(backend: renkei_testkit::Backend) {
    let srv = start(backend).await;
    let admin = srv.user(Role::Admin).await;
    let token = srv.token(&admin).await;
    let http = srv.client();
    let mut ids = Vec::new();
    for n in 0..3 {
        let r = http.post(srv.url("/api/v1/reports")).bearer_auth(&token).json(&json!({
            "site_org": "Org", "reporter_name": "SOC", "reporter_email": "soc@example.jp",
            "description": format!("scan {n}"), "logs": format!("Nov 20 10:00:01 fw DROP SRC=203.0.113.{} DST=192.0.2.1 PROTO=TCP DPT=22", n + 1),
        })).send().await.unwrap();
        assert_eq!(r.status(), 201);
        ids.push(r.json::<Value>().await.unwrap()["report"].as_i64().unwrap());
    }
    // A feed file of 2026-12-01, through the command scripts use.
    let dir = tempfile::tempdir().unwrap();
    let feed = dir.path().join("scan.csv");
    let mut csv = String::from("\"timestamp\",\"ip\",\"protocol\",\"port\",\"hostname\",\"tag\"\n");
    for i in 0..200 {
        csv.push_str(&format!(
            "\"2026-12-01 00:00:{:02}\",\"198.51.100.{}\",\"tcp\",\"23\",\"\",\"scan\"\n",
            i % 60,
            i % 200 + 1
        ));
    }
    std::fs::write(&feed, csv).unwrap();
    let url = srv.database.url.clone();
    let out = renkei()
        .args([
            "incident",
            "import",
            "--database-url",
            &url,
            "--format",
            "csv",
            "--feed",
            "shadowserver-scan",
        ])
        .arg(&feed)
        .output()
        .await
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let feed_counts = scalar(
        &srv,
        "SELECT CAST(COALESCE(SUM(events), 0) AS BIGINT) FROM feed_counts",
    )
    .await;
    let events = scalar(
        &srv,
        "SELECT CAST(COALESCE(SUM(events), 0) AS BIGINT) FROM feed_batches",
    )
    .await;
    assert_eq!(events, 200);
    // Two reports are old; one of them has an incident still open, so its
    // reporter's details stay while its bytes go. Sessions ran out long ago.
    let old = "2020-01-01T00:00:00.000000Z";
    for id in &ids[..2] {
        sqlx::query("UPDATE reports SET received_at = $1 WHERE id = $2")
            .bind(old)
            .bind(id)
            .execute(srv.store.pool())
            .await
            .unwrap();
    }
    sqlx::query("UPDATE incidents SET state = 'closed', updated_at = $1 WHERE report_id = $2")
        .bind(old)
        .bind(ids[0])
        .execute(srv.store.pool())
        .await
        .unwrap();
    let _signed = srv.session(&admin).await;
    sqlx::query("UPDATE sessions SET expires_at = $1")
        .bind(old)
        .execute(srv.store.pool())
        .await
        .unwrap();
    let incidents = scalar(&srv, "SELECT COUNT(*) FROM incidents").await;

    let with = |dry: bool| {
        let mut c = renkei();
        c.args(["retention", "run", "--database-url", &url]);
        if dry {
            c.arg("--dry-run");
        }
        for (k, v) in [
            ("RAW_REPORTS_DAYS", "30"),
            ("REPORTER_CONTACTS_DAYS", "30"),
            ("FEED_EVENTS_DAYS", "1"),
            ("SESSIONS_DAYS", "30"),
        ] {
            c.env(format!("RENKEI_RETENTION__{k}"), v);
        }
        c
    };
    let out = with(true).output().await.unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let would = stdout_json(&out);
    assert_eq!(
        would,
        json!({"raw_reports": 2, "reporter_contacts": 1, "feed_events": 200, "sessions": 1, "logs": 0}),
        "mail bodies and sensor batches are kept for ever by default"
    );
    assert_eq!(
        scalar(
            &srv,
            "SELECT COUNT(*) FROM reports WHERE raw_discarded_at IS NOT NULL"
        )
        .await,
        0,
        "a dry run removes nothing"
    );
    // No run yet: the server's daily job would take it.
    assert!(
        renkei_core::privacy::retention::due(&srv.store)
            .await
            .unwrap()
    );
    let out = with(false).output().await.unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(
        stdout_json(&out),
        would,
        "the run removes what the dry run said"
    );
    assert!(
        !renkei_core::privacy::retention::due(&srv.store)
            .await
            .unwrap(),
        "one run a day: the nodes' job waits for tomorrow"
    );
    // The bytes are gone and the API says why; the report, its text and incidents stay.
    let r = http
        .get(srv.url(&format!("/api/v1/reports/{}/raw", ids[0])))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 409);
    let e: Value = r.json().await.unwrap();
    assert!(
        e["error"]["message"]
            .as_str()
            .unwrap()
            .contains("retention policy"),
        "{e}"
    );
    let r = http
        .get(srv.url(&format!("/api/v1/reports/{}/raw", ids[2])))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "a recent report keeps its bytes");
    assert_eq!(
        scalar(&srv, "SELECT COUNT(*) FROM incidents").await,
        incidents
    );
    assert_eq!(
        text(
            &srv,
            &format!("SELECT reporter_email FROM reports WHERE id = {}", ids[0])
        )
        .await,
        None
    );
    assert_eq!(
        text(
            &srv,
            &format!("SELECT reporter_email FROM reports WHERE id = {}", ids[1])
        )
        .await
        .as_deref(),
        Some("soc@example.jp"),
        "its incident is open"
    );
    assert_eq!(
        text(
            &srv,
            &format!("SELECT reporter_tld FROM reports WHERE id = {}", ids[0])
        )
        .await
        .as_deref(),
        Some("jp")
    );
    // Feed events and sightings go; the daily counts stay.
    assert_eq!(scalar(&srv, "SELECT COUNT(*) FROM feed_batches").await, 0);
    assert_eq!(scalar(&srv, "SELECT COUNT(*) FROM feed_sightings").await, 0);
    assert_eq!(
        scalar(
            &srv,
            "SELECT CAST(COALESCE(SUM(events), 0) AS BIGINT) FROM feed_counts"
        )
        .await,
        feed_counts
    );
    assert_eq!(scalar(&srv, "SELECT COUNT(*) FROM sessions").await, 0);
    // A second run finds nothing more.
    let out = with(false).output().await.unwrap();
    assert_eq!(stdout_json(&out)["raw_reports"], 0);
    // The operations page and its API show the last run, kind by kind.
    let ops: Value = http
        .get(srv.url("/api/v1/operations"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        ops["retention"]["runs"].as_array().unwrap().len(),
        2,
        "{ops}"
    );
    let signed = srv.signed_in(&admin).await;
    let page = signed
        .client
        .get(srv.url("/admin/operations"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        page.contains("Retention of personal data") && page.contains("Reports as received"),
        "{page}"
    );
    assert!(page.contains("id=\"retention-runs\""), "{page}");
    // In Japanese: every word from the catalog, no kind shown by its identifier.
    sqlx::query("UPDATE users SET lang = 'ja' WHERE id = $1")
        .bind(admin.id)
        .execute(srv.store.pool())
        .await
        .unwrap();
    let page = signed
        .client
        .get(srv.url("/admin/operations"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let section = &page[page
        .find("個人データの保存期間")
        .expect("the heading in Japanese")..];
    for word in [
        "受信したままの報告",
        "フィードのイベント",
        "無期限",
        "実行履歴",
    ] {
        assert!(section.contains(word), "{word}: {section}");
    }
    let shown: String = section
        .split('<')
        .map(|t| t.split_once('>').map_or("", |x| x.1))
        .collect();
    for raw in [
        "raw_reports",
        "feed_events",
        "reporter_contacts",
        "Removed",
        "Kept",
    ] {
        assert!(!shown.contains(raw), "{raw} shown as text: {shown}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_retention_job_removes_what_its_dry_run_said_and_keeps_the_counts_on_sqlite() {
    retention(renkei_testkit::Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_retention_job_removes_what_its_dry_run_said_and_keeps_the_counts_on_postgres() {
    if renkei_testkit::postgres_configured() {
        retention(renkei_testkit::Backend::Postgres).await;
    }
}
