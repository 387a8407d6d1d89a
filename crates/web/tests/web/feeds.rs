//! Bulk feeds by API and reports sent again, on SQLite and PostgreSQL: a feed file is
//! stored, counted in chunks and notified once per recipient and day, on this node or
//! through NATS JetStream by two nodes; the same file again is the same import; a
//! report sent twice under one Idempotency-Key is one report.

use std::time::Duration;

use renkei_core::access::Role;
use renkei_core::audit::Actor;
use renkei_enrich::{Format, Kind, sources};
use renkei_testkit::nats::Nats;
use renkei_testkit::{Backend, TestServer};
use serde_json::{Value, json};

/// 192.0.2.0/24 belongs to ISP A, 198.51.100.0/24 to ISP B; 203.0.113.0/24 to nobody.
async fn contacts(srv: &TestServer) {
    let actor = Actor::system("test");
    let file = |text: &str| vec![("contacts.csv".to_string(), text.as_bytes().to_vec())];
    sources::load(
        &srv.store,
        &actor,
        Kind::Contacts,
        Format::Csv,
        &file("network,email\n192.0.2.0/24,abuse@isp-a.example\n198.51.100.0/24,abuse@isp-b.example\n"),
    )
    .await
    .unwrap();
    srv.enricher.refresh(&srv.store).await.unwrap();
}

/// `rows` rows in the Shadowserver scan layout over two days and three networks,
/// and one row whose address does not read.
fn feed(rows: usize) -> Vec<u8> {
    let mut out = String::from("\"timestamp\",\"ip\",\"protocol\",\"port\",\"hostname\",\"tag\"\n");
    for i in 0..rows - 1 {
        let net = ["192.0.2", "198.51.100", "203.0.113"][i % 3];
        let day = 20 + (i / 3) % 2;
        out.push_str(&format!(
            "\"2026-11-{day} 01:{:02}:00\",\"{net}.{}\",\"tcp\",\"22\",\"\",\"ssh\"\n",
            i % 60,
            i % 250
        ));
    }
    out.push_str("\"2026-11-20 02:00:00\",\"bogus\",\"tcp\",\"22\",\"\",\"ssh\"\n");
    out.into_bytes()
}

async fn upload(srv: &TestServer, token: &str, feed: &str, data: &[u8]) -> (u16, Value) {
    let r = reqwest::Client::new()
        .post(srv.url(&format!("/api/v1/feeds/{feed}/imports?tlp=TLP:AMBER")))
        .bearer_auth(token)
        .header("content-type", "text/csv")
        .body(data.to_vec())
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

async fn status(srv: &TestServer, token: &str, report: i64) -> Value {
    reqwest::Client::new()
        .get(srv.url(&format!("/api/v1/feeds/imports/{report}")))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

async fn counted(srv: &TestServer) -> (i64, i64, i64) {
    sqlx::query_as(
        "SELECT (SELECT CAST(COALESCE(SUM(events), 0) AS BIGINT) FROM feed_counts), (SELECT COUNT(*) FROM notifications WHERE feed IS NOT NULL), (SELECT COUNT(*) FROM outbox)",
    )
    .fetch_one(srv.store.pool())
    .await
    .unwrap()
}

fn team(c: &mut renkei_core::config::Config) {
    c.mail.from = "Renkei CSIRT <csirt@csirt.example>".into();
}

async fn a_feed_is_counted_once_and_each_recipient_gets_one_mail_per_day(backend: Backend) {
    let srv = TestServer::start_with(backend, team).await;
    contacts(&srv).await;
    let token = srv.token(&srv.user(Role::Coordinator).await).await;
    let data = feed(25_001);

    // Only the team imports feeds, and only in a layout it knows.
    let constituent = srv.token(&srv.user(Role::Constituent).await).await;
    assert_eq!(
        upload(&srv, &constituent, "shadowserver-scan", &data)
            .await
            .0,
        403
    );
    let (code, v) = upload(&srv, &token, "my-own-feed", &data).await;
    assert_eq!(
        (code, v["error"]["code"].as_str()),
        (422, Some("invalid_input")),
        "{v}"
    );

    // A NUL inside a cell (the feed's own text) is read as U+FFFD, on PostgreSQL too.
    let mut data = data;
    let at = data
        .windows(4)
        .position(|w| w == b",\"\",")
        .expect("an empty hostname cell")
        + 2;
    data.insert(at, 0);
    let (code, v) = upload(&srv, &token, "shadowserver-scan", &data).await;
    assert_eq!(code, 201, "{v}");
    assert_eq!(v["chunks"], 3);
    assert_eq!(v["finished"], true);
    assert_eq!(
        (
            v["rows"].as_i64(),
            v["events"].as_i64(),
            v["bad_rows"].as_i64()
        ),
        (Some(25_001), Some(25_000), Some(1))
    );
    assert_eq!(
        v["problems"][0]["line"], 25_002,
        "the line in the whole file: {v}"
    );
    assert_eq!(v["recipients"], 2);
    // Two ISPs, two days each.
    assert_eq!(v["notifications"], 4);
    let unresolved = v["unresolved"].as_i64().unwrap();
    assert!((8_000..8_500).contains(&unresolved), "{unresolved}");
    let report = v["report"].as_i64().unwrap();
    let (events, notifications, outbox) = counted(&srv).await;
    assert_eq!((events, notifications, outbox), (25_000, 4, 4));
    // Thousands of addresses in one mail still go through any SMTP server.
    let raws: Vec<Vec<u8>> = sqlx::query_scalar("SELECT raw FROM outbox")
        .fetch_all(srv.store.pool())
        .await
        .unwrap();
    for raw in raws {
        let longest = raw.split(|b| *b == b'\n').map(<[u8]>::len).max().unwrap();
        assert!(
            longest <= 998,
            "a line of {longest} bytes: {:?}",
            String::from_utf8_lossy(&raw[..raw.len().min(3000)])
        );
    }

    // One mail per ISP and day covers every address of that day, whichever chunk
    // held it.
    let addresses: Vec<i64> = sqlx::query_scalar(
        "SELECT addresses FROM notifications WHERE feed IS NOT NULL ORDER BY recipient, feed_day",
    )
    .fetch_all(srv.store.pool())
    .await
    .unwrap();
    assert_eq!(
        addresses.iter().sum::<i64>() + unresolved,
        25_000,
        "{addresses:?}"
    );

    // The same file again (a client that did not see the answer): the same import.
    let (code, again) = upload(&srv, &token, "shadowserver-scan", &data).await;
    assert_eq!(code, 200, "{again}");
    assert_eq!(
        (again["duplicate"].as_bool(), again["report"].as_i64()),
        (Some(true), Some(report))
    );
    assert_eq!(
        counted(&srv).await,
        (25_000, 4, 4),
        "nothing counted or sent twice"
    );
    assert_eq!(status(&srv, &token, report).await["events"], 25_000);
    let raw: Vec<u8> = sqlx::query_scalar("SELECT raw FROM reports WHERE id = $1")
        .bind(report)
        .fetch_one(srv.store.pool())
        .await
        .unwrap();
    assert_eq!(raw, data, "the file is kept as received");

    // A file whose header lacks the address is kept, and refused with the reason.
    let (code, v) = upload(&srv, &token, "shadowserver-scan", b"when,who\n1,2\n").await;
    assert_eq!(code, 422, "{v}");
    assert!(
        v["error"]["message"].as_str().unwrap().contains("\"ip\""),
        "{v}"
    );
    let kept: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM reports WHERE raw_size = 13")
        .fetch_one(srv.store.pool())
        .await
        .unwrap();
    assert_eq!(kept, 1);
    srv.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_feed_sent_by_api_is_counted_once_and_notified_once_per_recipient_and_day() {
    a_feed_is_counted_once_and_each_recipient_gets_one_mail_per_day(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_feed_sent_by_api_is_counted_once_on_postgres_too() {
    if renkei_testkit::postgres_configured() {
        a_feed_is_counted_once_and_each_recipient_gets_one_mail_per_day(Backend::Postgres).await;
    }
}

async fn feed_chunks_through_the_bus(backend: Backend) {
    let Some(nats) = Nats::start() else { return };
    let prefix = format!(
        "t{}",
        hex::encode(renkei_core::secrets::random_bytes::<5>())
    );
    let tweak = |c: &mut renkei_core::config::Config| {
        team(c);
        c.bus.nats_url = nats.url().to_string();
        c.bus.prefix = prefix.clone();
        c.bus.ack_wait_secs = 2;
    };
    let a = TestServer::start_with(backend, tweak).await;
    let b = a.another_node(tweak).await;
    contacts(&a).await;
    b.enricher.refresh(&b.store).await.unwrap();
    let token = a.token(&a.user(Role::Coordinator).await).await;
    let data = feed(45_000);

    let (code, v) = upload(&a, &token, "shadowserver-scan", &data).await;
    assert_eq!(code, 202, "queued on the bus: {v}");
    assert_eq!(v["chunks"], 5);
    let report = v["report"].as_i64().unwrap();
    let mut last = Value::Null;
    for _ in 0..300 {
        last = status(&b, &token, report).await;
        if last["finished"] == true {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(last["finished"], true, "{last}");
    assert_eq!(
        (
            last["events"].as_i64(),
            last["chunks_done"].as_i64(),
            last["notifications"].as_i64()
        ),
        (Some(44_999), Some(5), Some(4)),
        "{last}"
    );
    // Sent again while on the bus or after: JetStream drops the repeats, the database
    // keeps each chunk once.
    let (code, again) = upload(&b, &token, "shadowserver-scan", &data).await;
    assert_eq!(
        (code, again["duplicate"].as_bool()),
        (200, Some(true)),
        "{again}"
    );
    // A chunk published again by hand (a node that published, died and was retried)
    // changes nothing either.
    let bus = renkei_bus::Bus::connect(nats.url()).await.unwrap();
    let chunks = renkei_incident::feeds::split(
        &renkei_formats::feed::Mapping::builtin("shadowserver-scan").unwrap(),
        &data,
        renkei_incident::feeds::CHUNK_ROWS,
    )
    .unwrap();
    let (r, first, offset) = (
        report.to_string(),
        chunks[2].first_row.to_string(),
        chunks[2].line_offset.to_string(),
    );
    bus.publish(
        &format!("{prefix}.feeds"),
        &format!("again.{report}"),
        &[
            ("Renkei-Report", r.as_str()),
            ("Renkei-First-Row", first.as_str()),
            ("Renkei-Line-Offset", offset.as_str()),
        ],
        chunks[2].bytes(),
    )
    .await
    .unwrap();
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(counted(&a).await, (44_999, 4, 4), "each chunk counted once");
    let nodes: Vec<String> = sqlx::query_scalar("SELECT DISTINCT node FROM feed_chunks")
        .fetch_all(a.store.pool())
        .await
        .unwrap();
    assert!(!nodes.is_empty() && nodes.len() <= 2, "{nodes:?}");
    let ops: Value = reqwest::Client::new()
        .get(a.url("/api/v1/operations"))
        .bearer_auth(a.token(&a.user(Role::Admin).await).await)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(ops["queues"]["feed_chunks_waiting"], 0, "{ops}");
    assert_eq!(ops["queues"]["bus_feeds_pending"], 0, "{ops}");
    b.stop().await;
    a.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn feed_chunks_go_through_jetstream_to_whichever_node_pulls_them() {
    feed_chunks_through_the_bus(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn feed_chunks_go_through_jetstream_on_postgres_too() {
    if renkei_testkit::postgres_configured() {
        feed_chunks_through_the_bus(Backend::Postgres).await;
    }
}

async fn one_key_one_report(backend: Backend) {
    let srv = TestServer::start(backend).await;
    let (alice, bob) = (
        srv.user(Role::Coordinator).await,
        srv.user(Role::Coordinator).await,
    );
    let (alice, bob) = (srv.token(&alice).await, srv.token(&bob).await);
    let form = json!({"site_org": "Example Univ", "reporter_name": "Taro", "reporter_email": "taro@example.jp", "description": "ssh scans from 192.0.2.7", "logs": "Nov 20 10:00:01 h sshd[1]: Failed password for root from 192.0.2.7 port 1 ssh2"});
    let send = |token: &str, key: &str| {
        reqwest::Client::new()
            .post(srv.url("/api/v1/reports"))
            .bearer_auth(token)
            .header("Idempotency-Key", key)
            .json(&form)
            .send()
    };
    let first = send(&alice, "k-1").await.unwrap();
    assert_eq!(first.status(), 201);
    let first: Value = first.json().await.unwrap();
    let again = send(&alice, "k-1").await.unwrap();
    assert_eq!(again.status(), 200, "the same key again");
    let again: Value = again.json().await.unwrap();
    assert_eq!(again["report"], first["report"]);
    assert_eq!(again["incidents"], first["incidents"], "{again}");
    // Another sender's key of the same spelling is another report.
    let other: Value = send(&bob, "k-1").await.unwrap().json().await.unwrap();
    assert_ne!(other["report"], first["report"]);
    // Raw documents take keys too.
    let mail = "From: a@b.example\r\nSubject: scan\r\n\r\nNov 20 10:00:01 h sshd[1]: Failed password for root from 192.0.2.8 port 1 ssh2\r\n";
    let mut ids = Vec::new();
    for _ in 0..2 {
        let r = reqwest::Client::new()
            .post(srv.url("/api/v1/reports/import?format=mail"))
            .bearer_auth(&alice)
            .header("Idempotency-Key", "mail-1")
            .body(mail)
            .send()
            .await
            .unwrap();
        ids.push((
            r.status().as_u16(),
            r.json::<Value>().await.unwrap()["report"].clone(),
        ));
    }
    assert_eq!((ids[0].0, ids[1].0), (201, 200));
    assert_eq!(ids[0].1, ids[1].1);
    let reports: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM reports")
        .fetch_one(srv.store.pool())
        .await
        .unwrap();
    assert_eq!(reports, 3);
    let incidents: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM incidents")
        .fetch_one(srv.store.pool())
        .await
        .unwrap();
    assert_eq!(incidents, 3, "one per report, none twice");
    // A key that is not one.
    let r = send(&alice, &"x".repeat(201)).await.unwrap();
    assert_eq!(r.status(), 400);
    srv.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_report_sent_twice_under_one_idempotency_key_is_one_report() {
    one_key_one_report(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_report_sent_twice_under_one_idempotency_key_is_one_report_on_postgres_too() {
    if renkei_testkit::postgres_configured() {
        one_key_one_report(Backend::Postgres).await;
    }
}
