//! The one runtime, as `renkei serve` and every test start it: each background part
//! runs from the start, and stopping waits for all of them before the database is
//! closed, on SQLite and PostgreSQL.

use std::time::{Duration, Instant};

use renkei_testkit::{Backend, TestServer};

async fn started_and_stopped(backend: Backend) {
    let srv = TestServer::start_with(backend, |c| {
        c.intake.smtp.listen = "127.0.0.1:0".into();
        c.intake.smtp.addresses = vec!["incident@csirt.example".into()];
    })
    .await;
    let store = srv.store.clone();
    let base = srv.base.clone();

    // The heartbeat worker ran at start: the node is on the operations list.
    let waited = Instant::now();
    loop {
        let nodes = renkei_core::nodes::nodes(&store).await.unwrap();
        if nodes.iter().any(|n| n.alive && n.address == base) {
            break;
        }
        assert!(
            waited.elapsed() < Duration::from_secs(20),
            "no heartbeat: {nodes:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    // A client in the middle of an SMTP conversation does not hold the stop up for
    // longer than the grace period.
    let smtp = srv.smtp.clone().expect("the SMTP intake listens");
    let mut talking = tokio::net::TcpStream::connect(&smtp).await.unwrap();
    let mut greeting = [0u8; 64];
    let n = tokio::io::AsyncReadExt::read(&mut talking, &mut greeting)
        .await
        .unwrap();
    assert!(greeting[..n].starts_with(b"220"), "greeted");

    let stopping = Instant::now();
    srv.stop().await;
    assert!(
        stopping.elapsed() < Duration::from_secs(15),
        "stopped in {:?}",
        stopping.elapsed()
    );
    assert!(
        store.pool().is_closed(),
        "the pool is closed once every part has stopped"
    );
    assert!(
        reqwest::get(format!("{base}/healthz")).await.is_err(),
        "nothing answers on the web port"
    );
    assert!(
        tokio::net::TcpStream::connect(&smtp).await.is_err(),
        "nothing answers on the SMTP port"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_runs_every_part_from_the_start_and_closes_the_database_after_all_have_stopped() {
    started_and_stopped(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_runs_every_part_from_the_start_and_closes_the_database_after_all_have_stopped_on_postgres()
 {
    if renkei_testkit::postgres_configured() {
        started_and_stopped(Backend::Postgres).await;
    }
}
