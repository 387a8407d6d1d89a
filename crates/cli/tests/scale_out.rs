//! Three `renkei serve` processes on 127.0.0.1 (three ports), one PostgreSQL
//! database, one NATS JetStream: report submissions, sensor batches and a
//! 100,000-row feed are spread over the nodes while one node is killed with SIGKILL
//! and started again. Afterwards every report, batch and row is counted once, and
//! every notification reached the SMTP relay (aiosmtpd on loopback) once.
//!
//! The clients behave as real ones do: a report carries an Idempotency-Key and is
//! sent again to the next node when a node does not answer; a sensor keeps a batch
//! in its spool until a node takes it; a feed file is sent again until a node
//! answers. `bench/scale-out.sh` runs the ignored test below for throughput figures
//! with one, two and three nodes.

use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use renkei_core::Store;
use renkei_core::access::Role;
use renkei_core::accounts::{self, NewUser};
use renkei_core::audit::Actor;
use renkei_core::lang::Lang;
use renkei_enrich::{Format, Kind, sources};
use renkei_observe::sensor::{Collector, Input, SensorConfig, Spool, spool_files};
use renkei_observe::synth::Synth;
use renkei_testkit::nats::Nats;
use renkei_testkit::relay::Relay;
use renkei_testkit::{Backend, FreshDatabase};
use serde_json::{Value, json};

const FROM: &str = "Renkei CSIRT <csirt@csirt.example>";

struct Cluster {
    db: String,
    prefix: String,
    relay: String,
    /// The NATS the nodes share, when they use the bus.
    nats: Option<String>,
    ports: Vec<u16>,
    children: Vec<Option<Child>>,
}

impl Cluster {
    /// Starts a node on a port it picks itself (no port is chosen here and released
    /// for another process to take), and returns it with the port it says it bound.
    fn spawn(&self) -> (Child, u16) {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_renkei"));
        cmd.args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--database-url",
            &self.db,
        ])
        .env("RENKEI_MAIL__FROM", FROM)
        .env("RENKEI_MAIL__RELAY", &self.relay)
        .env("RENKEI_MAIL__POLL_SECS", "1")
        .env("RENKEI_MAIL__SEND_LEASE_SECS", "5")
        .env("RENKEI_MAIL__CONFIRM_REPORTS", "false")
        .env("RENKEI_DATABASE__MAX_CONNECTIONS", "8")
        .env("RENKEI_LOG__LEVEL", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
        if let Some(nats) = &self.nats {
            cmd.env("RENKEI_BUS__NATS_URL", nats)
                .env("RENKEI_BUS__PREFIX", &self.prefix)
                .env("RENKEI_BUS__ACK_WAIT_SECS", "3");
        }
        let mut child = cmd.spawn().unwrap();
        let stderr = child.stderr.take().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        // Reads the line that names the address, then keeps the pipe drained.
        std::thread::spawn(move || {
            use std::io::BufRead;
            let mut tx = Some(tx);
            for line in std::io::BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
                let port = line
                    .split("serving on http://127.0.0.1:")
                    .nth(1)
                    .and_then(|rest| rest.split(' ').next())
                    .and_then(|p| p.parse::<u16>().ok());
                if let (Some(port), Some(tx)) = (port, tx.take()) {
                    let _ = tx.send(port);
                }
            }
        });
        let port = rx
            .recv_timeout(Duration::from_secs(60))
            .expect("the node says where it serves");
        (child, port)
    }

    async fn start(db: String, relay: String, nodes: usize, nats: Option<String>) -> Cluster {
        // Streams and consumers of this run's own.
        let token = renkei_core::secrets::random_token("")
            .to_ascii_lowercase()
            .replace(|c: char| !c.is_ascii_alphanumeric(), "");
        let prefix = format!("s{}", &token[..10]);
        let mut c = Cluster {
            db,
            prefix,
            relay,
            nats,
            ports: Vec::new(),
            children: Vec::new(),
        };
        for _ in 0..nodes {
            let (child, port) = c.spawn();
            c.children.push(Some(child));
            c.ports.push(port);
        }
        for i in 0..nodes {
            c.wait_ready(i).await;
        }
        c
    }

    fn url(&self, node: usize) -> String {
        format!("http://127.0.0.1:{}", self.ports[node % self.ports.len()])
    }

    async fn wait_ready(&self, node: usize) {
        let http = reqwest::Client::new();
        for _ in 0..600 {
            if let Ok(r) = http.get(format!("{}/healthz", self.url(node))).send().await
                && r.status().is_success()
            {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("node {node} did not start");
    }

    fn kill(&mut self, node: usize) {
        if let Some(mut child) = self.children[node].take() {
            // SIGKILL: nothing is flushed, nothing acknowledged.
            child.kill().unwrap();
            child.wait().unwrap();
        }
    }

    async fn restart(&mut self, node: usize) {
        let (child, port) = self.spawn();
        self.children[node] = Some(child);
        self.ports[node] = port;
        self.wait_ready(node).await;
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        for node in 0..self.children.len() {
            self.kill(node);
        }
    }
}

/// The load's inputs: accounts, tables and a sensor, made before the nodes start.
struct Load {
    store: Store,
    token: String,
    admin: String,
}

async fn prepare(db: &str) -> Load {
    let store = Store::open(db, 4).await.unwrap();
    let actor = Actor::system("test");
    let mut tokens = Vec::new();
    for (who, role) in [("coordinator", Role::Coordinator), ("admin", Role::Admin)] {
        let u = accounts::create_user(
            &store,
            &actor,
            NewUser {
                email: format!("{who}@csirt.example"),
                display_name: who.into(),
                role,
                org_id: None,
                password: None,
                lang: Lang::En,
            },
        )
        .await
        .unwrap();
        tokens.push(
            accounts::create_token(&store, &actor, u.id, "load")
                .await
                .unwrap()
                .1,
        );
    }
    sources::load(
        &store,
        &actor,
        Kind::Contacts,
        Format::Csv,
        &[(
            "contacts.csv".to_string(),
            b"network,email\n192.0.2.0/24,abuse@isp-a.example\n198.51.100.0/24,abuse@isp-b.example\n".to_vec(),
        )],
    )
    .await
    .unwrap();
    Load {
        store,
        admin: tokens.pop().unwrap(),
        token: tokens.pop().unwrap(),
    }
}

/// `rows` rows over two days and three networks (one nobody is responsible for).
fn feed(rows: usize) -> Vec<u8> {
    let mut out = String::from("\"timestamp\",\"ip\",\"protocol\",\"port\",\"hostname\",\"tag\"\n");
    for i in 0..rows {
        let net = ["192.0.2", "198.51.100", "203.0.113"][i % 3];
        out.push_str(&format!(
            "\"2026-11-{} 01:{:02}:00\",\"{net}.{}\",\"tcp\",\"{}\",\"\",\"ssh\"\n",
            20 + (i / 3) % 2,
            i % 60,
            i % 250,
            22 + i % 3
        ));
    }
    out.into_bytes()
}

/// Sends one report to node `start`, then to the next node while a node does not
/// answer; the key makes a resend the same report.
async fn send_report(cluster_urls: &[String], token: &str, n: usize) -> Duration {
    let body = json!({
        "site_org": "Example Univ",
        "reporter_name": "Load",
        "reporter_email": "load@example.jp",
        "description": format!("ssh scans from 198.51.100.{} (report {n})", n % 250),
        "logs": format!("Nov 20 10:00:01 h sshd[1]: Failed password for root from 198.51.100.{} port 1 ssh2", n % 250),
    });
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap();
    let started = Instant::now();
    for attempt in 0..200 {
        let url = &cluster_urls[(n + attempt) % cluster_urls.len()];
        match http
            .post(format!("{url}/api/v1/reports"))
            .bearer_auth(token)
            .header("Idempotency-Key", format!("load-{n}"))
            .json(&body)
            .send()
            .await
        {
            Ok(r) if r.status().is_success() => return started.elapsed(),
            Ok(r) if r.status().is_server_error() => {}
            Ok(r) => panic!(
                "report {n}: {} {}",
                r.status(),
                r.text().await.unwrap_or_default()
            ),
            Err(_) => {}
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("report {n} was never taken");
}

async fn send_feed(cluster_urls: &[String], token: &str, data: &[u8]) -> i64 {
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(120))
        .build()
        .unwrap();
    for attempt in 0..200 {
        let url = &cluster_urls[attempt % cluster_urls.len()];
        if let Ok(r) = http
            .post(format!("{url}/api/v1/feeds/shadowserver-scan/imports"))
            .bearer_auth(token)
            .header("content-type", "text/csv")
            .body(data.to_vec())
            .send()
            .await
            && r.status().is_success()
        {
            let v: Value = r.json().await.unwrap();
            return v["report"].as_i64().unwrap();
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("the feed was never taken");
}

/// Sends the spool's batches round the nodes until every one is taken.
async fn send_batches(cluster_urls: &[String], token: &str, spool: &Spool) {
    for attempt in 0..2000 {
        let url = &cluster_urls[attempt % cluster_urls.len()];
        let sent = Collector::new(url, token).send(spool).await.unwrap();
        assert_eq!(sent.rejected, 0, "{sent:?}");
        if sent.pending == 0 {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("batches were never taken");
}

async fn sensor(
    cluster: &Cluster,
    admin: &str,
    dir: &std::path::Path,
    name: &str,
    batches: usize,
) -> (String, Spool, usize, u64) {
    let spool = Spool::open(&dir.join("spool")).unwrap();
    let r: Value = reqwest::Client::new()
        .post(format!("{}/api/v1/sensors", cluster.url(0)))
        .bearer_auth(admin)
        .json(&json!({"name": name, "location": "Tokyo", "address_range": "192.0.2.0/24", "public_key": spool.key().unwrap().public()}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let token = r["token"]
        .as_str()
        .unwrap_or_else(|| panic!("{r}"))
        .to_string();
    let pcap = dir.join("scan.pcap");
    Synth {
        packets: 2_000 * batches as u64,
        sources: 2_000,
        start: 1_191_196_800,
        seconds: 600 * batches as i64,
        seed: 9,
    }
    .write(&mut std::fs::File::create(&pcap).unwrap())
    .unwrap();
    let config = SensorConfig {
        name: name.into(),
        bucket_seconds: 600,
        spool: dir.join("spool"),
        input: Input::Pcap(vec![pcap]),
    };
    let (seqs, packets) = spool_files(&config, &spool).unwrap();
    (token, spool, seqs.len(), packets)
}

async fn finished(store: &Store, report: i64) -> bool {
    sqlx::query_scalar::<_, Option<String>>(
        "SELECT finished_at FROM feed_imports WHERE report_id = $1",
    )
    .bind(report)
    .fetch_one(store.pool())
    .await
    .unwrap()
    .is_some()
}

async fn scalar(store: &Store, sql: &'static str) -> i64 {
    sqlx::query_scalar(sql)
        .fetch_one(store.pool())
        .await
        .unwrap()
}

/// Whether a node's operations answer shows no work waiting or in flight anywhere:
/// outbox, list deliveries, sensor batches, feed chunks and both bus lanes.
async fn settled(url: &str, admin: &str) -> bool {
    let Ok(r) = reqwest::Client::new()
        .get(format!("{url}/api/v1/operations"))
        .bearer_auth(admin)
        .send()
        .await
    else {
        return false;
    };
    let Ok(v) = r.json::<Value>().await else {
        return false;
    };
    let queues = v["queues"].as_object().cloned().unwrap_or_default();
    !queues.is_empty()
        && queues
            .iter()
            .filter(|(k, _)| *k != "outbox_failed")
            .all(|(_, n)| n.as_i64().is_none_or(|n| n == 0))
}

async fn wait_for(what: &str, limit: Duration, mut done: impl AsyncFnMut() -> bool) {
    let start = Instant::now();
    while !done().await {
        assert!(start.elapsed() < limit, "{what}: not done within {limit:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_nodes_count_everything_once_while_one_is_killed_and_restarted() {
    if !renkei_testkit::postgres_configured() {
        eprintln!("RENKEI_TEST_POSTGRES_URL is not set: skipped");
        return;
    }
    let Some(nats) = Nats::start() else { return };
    let Some(relay) = Relay::start() else { return };
    let database = FreshDatabase::create(Backend::Postgres).await;
    let load = prepare(&database.url).await;
    let mut cluster = Cluster::start(
        database.url.clone(),
        relay.url(),
        3,
        Some(nats.url().to_string()),
    )
    .await;
    let urls: Vec<String> = (0..3).map(|i| cluster.url(i)).collect();
    let dir = tempfile::tempdir().unwrap();
    let (sensor_token, spool, batches, packets) =
        sensor(&cluster, &load.admin, dir.path(), "tokyo-1", 40).await;
    const REPORTS: usize = 300;
    const ROWS: usize = 100_000;
    let data = feed(ROWS);

    // The load, spread over the nodes, all at once.
    let reports_sent = Arc::new(AtomicUsize::new(0));
    let reports = {
        let (urls, token, sent) = (urls.clone(), load.token.clone(), reports_sent.clone());
        tokio::spawn(async move {
            let mut workers = Vec::new();
            for w in 0..4 {
                let (urls, token, sent) = (urls.clone(), token.clone(), sent.clone());
                workers.push(tokio::spawn(async move {
                    for n in (w..REPORTS).step_by(4) {
                        send_report(&urls, &token, n).await;
                        sent.fetch_add(1, Ordering::SeqCst);
                    }
                }));
            }
            for w in workers {
                w.await.unwrap();
            }
        })
    };
    let feed_report = {
        let (urls, token, data) = (urls.clone(), load.token.clone(), data.clone());
        // Starting at node 1, the one killed below.
        tokio::spawn(async move {
            let urls: Vec<String> = urls[1..].iter().chain(&urls[..1]).cloned().collect();
            send_feed(&urls, &token, &data).await
        })
    };
    let sensor_load = {
        let urls = urls.clone();
        tokio::spawn(async move {
            let urls: Vec<String> = urls[1..].iter().chain(&urls[..1]).cloned().collect();
            send_batches(&urls, &sensor_token, &spool).await;
        })
    };

    // Node 1 dies mid-load, hard, and comes back.
    // When the feed is half counted (some of its chunks may then be in node 1's
    // hands, unacknowledged), or failing that once most reports are in.
    wait_for("the middle of the load", Duration::from_secs(120), async || {
        let (done, left): (i64, i64) = sqlx::query_as(
            "SELECT CAST(COALESCE(SUM(chunks_done), 0) AS BIGINT), CAST(COALESCE(SUM(chunks - chunks_done), 0) AS BIGINT) FROM feed_imports",
        )
        .fetch_one(load.store.pool())
        .await
        .unwrap();
        (done >= 2 && left > 0) || reports_sent.load(Ordering::SeqCst) >= REPORTS * 2 / 3
    })
    .await;
    let chunks_before = scalar(&load.store, "SELECT COUNT(*) FROM feed_chunks").await;
    cluster.kill(1);
    let killed_at = reports_sent.load(Ordering::SeqCst);
    assert!(killed_at < REPORTS, "killed mid-load");
    // Node 1 stays down until the others have taken reports in its place.
    wait_for(
        "reports while node 1 is down",
        Duration::from_secs(120),
        async || {
            let sent = reports_sent.load(Ordering::SeqCst);
            sent >= REPORTS || sent >= killed_at + 10
        },
    )
    .await;
    cluster.restart(1).await;

    reports.await.unwrap();
    let report = feed_report.await.unwrap();
    sensor_load.await.unwrap();
    wait_for("the feed's chunks", Duration::from_secs(300), async || {
        finished(&load.store, report).await
    })
    .await;
    wait_for("the sensor batches", Duration::from_secs(120), async || {
        scalar(&load.store, "SELECT COUNT(*) FROM sensor_batches").await >= batches as i64
    })
    .await;
    let started = Instant::now();
    while scalar(
        &load.store,
        "SELECT COUNT(*) FROM outbox WHERE status <> 'sent'",
    )
    .await
        > 0
    {
        if started.elapsed() > Duration::from_secs(120) {
            let left: Vec<(String, String, Option<String>)> = sqlx::query_as(
                "SELECT status, rcpt_to, last_error FROM outbox WHERE status <> 'sent'",
            )
            .fetch_all(load.store.pool())
            .await
            .unwrap();
            panic!("the outbox is not empty: {left:?}");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // Nothing is left to come again: every queue is empty and the bus holds no
    // message handed out and not yet acknowledged (only those are redelivered).
    wait_for(
        "every queue settled",
        Duration::from_secs(120),
        async || settled(&cluster.url(0), &load.admin).await,
    )
    .await;

    // Every report once, with its one incident.
    assert_eq!(
        scalar(
            &load.store,
            "SELECT COUNT(*) FROM reports WHERE idempotency_key IS NOT NULL"
        )
        .await,
        REPORTS as i64
    );
    assert_eq!(
        scalar(
            &load.store,
            "SELECT COUNT(DISTINCT idempotency_key) FROM reports"
        )
        .await,
        REPORTS as i64
    );
    assert_eq!(
        scalar(&load.store, "SELECT COUNT(*) FROM incidents").await,
        REPORTS as i64
    );
    // Every batch once, every packet counted once.
    assert_eq!(
        scalar(&load.store, "SELECT COUNT(*) FROM sensor_batches").await,
        batches as i64
    );
    assert_eq!(
        scalar(
            &load.store,
            "SELECT CAST(SUM(packets) AS BIGINT) FROM sensor_batches"
        )
        .await as u64,
        packets
    );
    // Every row once: ten chunks, each counted by one node.
    assert_eq!(
        scalar(&load.store, "SELECT COUNT(*) FROM feed_imports").await,
        1
    );
    assert_eq!(
        scalar(&load.store, "SELECT COUNT(*) FROM feed_chunks").await,
        10
    );
    assert_eq!(
        scalar(
            &load.store,
            "SELECT CAST(SUM(row_count) AS BIGINT) FROM feed_chunks"
        )
        .await,
        ROWS as i64
    );
    assert_eq!(
        scalar(
            &load.store,
            "SELECT CAST(SUM(events) AS BIGINT) FROM feed_counts"
        )
        .await,
        ROWS as i64
    );
    // Two ISPs, two days: four notifications, each at the relay once.
    let notifications = scalar(&load.store, "SELECT COUNT(*) FROM notifications").await;
    assert_eq!(notifications, 4);
    let mut ids: Vec<String> = relay
        .messages()
        .iter()
        .map(|m| {
            mail_parser::MessageParser::default()
                .parse(&m.data)
                .and_then(|p| p.message_id().map(str::to_string))
                .unwrap_or_default()
        })
        .collect();
    ids.sort();
    let total = ids.len();
    ids.dedup();
    assert_eq!(
        (ids.len(), total),
        (4, 4),
        "each notification once at the relay: {ids:?}"
    );
    let nodes: Vec<String> =
        sqlx::query_scalar("SELECT DISTINCT node FROM feed_chunks ORDER BY node")
            .fetch_all(load.store.pool())
            .await
            .unwrap();
    eprintln!(
        "killed node 1 after {killed_at} reports and {chunks_before} feed chunks; {REPORTS} reports, {batches} batches ({packets} packets), {ROWS} rows in 10 chunks counted by {} node processes (the restarted one is a new node), {notifications} notifications, each once",
        nodes.len()
    );
}

/// Throughput of sensor batches and feed rows with `nodes` nodes; the latency of a
/// report submission. Run by `bench/scale-out.sh`.
async fn throughput(nodes: usize, nats: Option<&Nats>, relay: &Relay) -> String {
    let bus = nats.is_some();
    let database = FreshDatabase::create(Backend::Postgres).await;
    let load = prepare(&database.url).await;
    let cluster = Cluster::start(
        database.url.clone(),
        relay.url(),
        nodes,
        nats.map(|n| n.url().to_string()),
    )
    .await;
    let urls: Vec<String> = (0..nodes).map(|i| cluster.url(i)).collect();
    let dir = tempfile::tempdir().unwrap();
    let batches_wanted: usize = std::env::var("SCALE_BATCHES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(300);
    let rows: usize = std::env::var("SCALE_ROWS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(500_000);
    // One sensor per node, each sending its share at once.
    let mut sensors = Vec::new();
    let mut batches = 0;
    for i in 0..nodes {
        let sub = dir.path().join(format!("sensor-{i}"));
        std::fs::create_dir_all(&sub).unwrap();
        let (token, spool, n, _) = sensor(
            &cluster,
            &load.admin,
            &sub,
            &format!("sensor-{i}"),
            batches_wanted / nodes,
        )
        .await;
        batches += n;
        sensors.push((token, spool));
    }
    let started = Instant::now();
    let mut senders = Vec::new();
    for (i, (token, spool)) in sensors.into_iter().enumerate() {
        let urls = urls.clone();
        senders.push(tokio::spawn(async move {
            let urls: Vec<String> = urls[i..].iter().chain(&urls[..i]).cloned().collect();
            send_batches(&urls, &token, &spool).await;
        }));
    }
    for s in senders {
        s.await.unwrap();
    }
    // Accepted: every sensor has its answers (with the bus: published to JetStream).
    let accepted_secs = started.elapsed().as_secs_f64();
    wait_for("batches", Duration::from_secs(600), async || {
        scalar(&load.store, "SELECT COUNT(*) FROM sensor_batches").await >= batches as i64
    })
    .await;
    let batch_secs = started.elapsed().as_secs_f64();

    let data = feed(rows);
    let started = Instant::now();
    let report = send_feed(&urls, &load.token, &data).await;
    wait_for("feed", Duration::from_secs(900), async || {
        finished(&load.store, report).await
    })
    .await;
    let feed_secs = started.elapsed().as_secs_f64();

    let mut latencies = Vec::new();
    for n in 0..200 {
        latencies.push(send_report(&urls, &load.token, 10_000 + n).await);
    }
    latencies.sort();
    let nodes_used = scalar(&load.store, "SELECT COUNT(DISTINCT node) FROM feed_chunks").await;
    format!(
        "nodes={nodes} bus={bus}: {batches} batches in {batch_secs:.2} s ({:.0}/s; all accepted after {accepted_secs:.2} s, {:.1} ms a batch per sensor); {rows} feed rows in {feed_secs:.2} s ({:.0} rows/s, chunks counted by {nodes_used} nodes); report submission p50 {:.1} ms, p95 {:.1} ms",
        batches as f64 / batch_secs,
        accepted_secs * 1e3 / (batches as f64 / nodes as f64),
        rows as f64 / feed_secs,
        latencies[latencies.len() / 2].as_secs_f64() * 1e3,
        latencies[latencies.len() * 95 / 100].as_secs_f64() * 1e3,
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a benchmark: bench/scale-out.sh"]
async fn throughput_with_one_two_and_three_nodes() {
    let Some(relay) = Relay::start() else { return };
    let Some(nats) = Nats::start() else { return };
    let mut lines = Vec::new();
    lines.push(throughput(1, None, &relay).await);
    for nodes in 1..=3 {
        lines.push(throughput(nodes, Some(&nats), &relay).await);
    }
    for l in lines {
        println!("{l}");
    }
}
