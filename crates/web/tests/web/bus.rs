//! Sensor batches through NATS JetStream (a nats-server of the test's own, on a
//! port it picks), on SQLite and PostgreSQL, with two nodes on one database: a
//! batch checked by the node that took it is stored by whichever node pulls it; a
//! resend is refused as a duplicate; a node that took a batch and died before
//! acknowledging it loses nothing, since the batch comes again to the other node
//! after `ack_wait`, and it is counted once.

use crate::common;

use std::time::Duration;

use common::Api;
use renkei_core::access::Role;
use renkei_observe::sensor::{Collector, Input, SensorConfig, Spool, spool_files};
use renkei_observe::synth::Synth;
use renkei_testkit::nats::Nats;
use renkei_testkit::{Backend, TestServer};
use serde_json::json;

async fn stored(srv: &TestServer) -> (i64, i64) {
    sqlx::query_as::<_, (i64, i64)>(
        "SELECT COUNT(*), CAST(COALESCE(SUM(packets), 0) AS BIGINT) FROM sensor_batches",
    )
    .fetch_one(srv.store.pool())
    .await
    .unwrap()
}

async fn wait_for(srv: &TestServer, batches: i64) -> (i64, i64) {
    for _ in 0..200 {
        let s = stored(srv).await;
        if s.0 >= batches {
            return s;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    stored(srv).await
}

async fn through_the_bus(backend: Backend) {
    let Some(nats) = Nats::start() else { return };
    // A prefix of this test's own: streams and consumers start empty.
    let prefix = format!(
        "t{}",
        hex::encode(renkei_core::secrets::random_bytes::<5>())
    );
    let tweak = |c: &mut renkei_core::config::Config| {
        c.bus.nats_url = nats.url().to_string();
        c.bus.prefix = prefix.clone();
        c.bus.ack_wait_secs = 2;
    };
    let a = TestServer::start_with(backend, tweak).await;
    let b = a.another_node(tweak).await;
    let api = Api {
        srv: &a,
        http: a.client(),
    };
    let coordinator = a.token(&a.user(Role::Admin).await).await;

    let dir = tempfile::tempdir().unwrap();
    let spool = Spool::open(&dir.path().join("spool")).unwrap();
    let (status, v) = api.post(Some(&coordinator), "/api/v1/sensors", json!({"name": "tokyo-1", "location": "Tokyo", "address_range": "192.0.2.0/24", "public_key": spool.key().unwrap().public()})).await;
    assert_eq!(status, 201, "{v}");
    let token = v["token"].as_str().unwrap().to_string();
    let pcap = dir.path().join("scan.pcap");
    Synth {
        packets: 30_000,
        sources: 2_000,
        start: 1_191_196_800,
        seconds: 6 * 3600,
        seed: 5,
    }
    .write(&mut std::fs::File::create(&pcap).unwrap())
    .unwrap();
    let config = SensorConfig {
        name: "tokyo-1".into(),
        bucket_seconds: 600,
        spool: dir.path().join("spool"),
        input: Input::Pcap(vec![pcap]),
    };
    let (seqs, packets) = spool_files(&config, &spool).unwrap();
    assert!(seqs.len() >= 10, "{}", seqs.len());
    let (_, first) = spool.pending().unwrap().into_iter().next().unwrap();
    let replay = std::fs::read(&first).unwrap();

    // A node that takes batches and dies before acknowledging: it holds the first
    // one it pulls forever, until it is killed.
    let bus = renkei_bus::Bus::connect(nats.url()).await.unwrap();
    let stream = format!("{}_BATCHES", prefix.to_ascii_uppercase());
    let durable = format!("{prefix}-batches");
    let dying = {
        let (bus, stream, durable) = (bus.clone(), stream.clone(), durable.clone());
        tokio::spawn(async move {
            let _ = bus
                .consume(
                    &stream,
                    &durable,
                    Duration::from_secs(2),
                    |_| std::future::pending::<renkei_bus::Handled>(),
                    std::future::pending::<()>(),
                )
                .await;
        })
    };
    tokio::time::sleep(Duration::from_millis(200)).await;

    // The sensor sends through node B: accepted (202), stored by the nodes pulling.
    let sent = Collector::new(&b.url(""), &token)
        .send(&spool)
        .await
        .unwrap();
    assert_eq!(
        (sent.accepted, sent.pending, sent.rejected),
        (seqs.len(), 0, 0),
        "{sent:?}"
    );
    // Poll (a loaded machine is slow) until the dying node holds what it pulled.
    let mut held = 0;
    for _ in 0..100 {
        held = bus.lag(&stream, &durable).await.unwrap().1;
        if held > 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        held > 0,
        "the dying node holds batches it has not acknowledged"
    );
    dying.abort();
    // What the dead node held comes again after ack_wait, to a live node.
    let (n, total) = wait_for(&a, seqs.len() as i64).await;
    assert_eq!(n, seqs.len() as i64, "every batch stored");
    assert_eq!(total as u64, packets, "and counted once");
    // Nothing to poll for: the check is that no second copy turns up in a window
    // longer than ack_wait (2 s), when a redelivery would come.
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(
        stored(&a).await.0,
        seqs.len() as i64,
        "no batch twice, redeliveries included"
    );
    let (pending, unacked) = bus.lag(&stream, &durable).await.unwrap();
    assert_eq!((pending, unacked), (0, 0), "nothing left on the bus");

    // A resend of a batch the bus had (a lost answer): a duplicate, not a second copy.
    std::fs::write(&first, &replay).unwrap();
    let again = Collector::new(&a.url(""), &token)
        .send(&spool)
        .await
        .unwrap();
    assert_eq!((again.accepted, again.duplicates), (0, 1), "{again:?}");
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(stored(&a).await.0, seqs.len() as i64);
    let (_, ops) = api.get(Some(&coordinator), "/api/v1/operations").await;
    assert_eq!(ops["queues"]["bus_batches_pending"], 0, "{ops}");

    // The views count what the bus delivered.
    a.roll_up().await;
    let (status, top) = api
        .get(
            None,
            "/api/v1/observation/top?period=2007-10-01..2007-10-01&ranks=1-5",
        )
        .await;
    assert_eq!(status, 200);
    let sum: i64 = top["ports"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["packets"].as_i64().unwrap())
        .sum();
    assert!(sum > 0, "{top}");
    b.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sensor_batches_go_through_jetstream_and_a_node_dying_mid_batch_loses_nothing() {
    through_the_bus(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sensor_batches_go_through_jetstream_on_postgres_too() {
    if renkei_testkit::postgres_configured() {
        through_the_bus(Backend::Postgres).await;
    }
}
