//! Shared work among nodes, on SQLite and (when `RENKEI_TEST_POSTGRES_URL` names a
//! server where a database may be created) PostgreSQL: leases run out by the
//! database's clock whatever a node's own clock says, and a queue's rows are taken
//! by one node at a time and come back when their taker stops.

use chrono::Duration;
use renkei_core::Store;

mod common;
use common::FreshPostgres;
use renkei_core::jobs::{self, Queue};
use renkei_core::time::Clock;

const TEST_QUEUE: Queue = Queue {
    table: "test_queue",
    key: "id",
    waiting: "status = 'queued'",
    due: Some("not_before"),
    take: "status = 'taken'",
    taken: "status = 'taken'",
    give_back: "status = 'queued'",
};

/// Two nodes on one database: the second's clock runs a day ahead of the first's.
async fn two_nodes(url: &str) -> (Store, Store) {
    let a = Store::open(url, 4).await.unwrap();
    let ahead = Clock::system();
    ahead.advance(86_400);
    let b = Store::open(url, 4).await.unwrap().with_clock(ahead);
    sqlx::query(
        "CREATE TABLE test_queue (id BIGINT PRIMARY KEY, status TEXT NOT NULL, not_before TEXT NOT NULL, lease_until TEXT)",
    )
    .execute(a.pool())
    .await
    .unwrap();
    (a, b)
}

/// A claim's rows in key order (PostgreSQL returns updated rows in no set order).
fn sorted(mut keys: Vec<(i64,)>) -> Vec<(i64,)> {
    keys.sort();
    keys
}

async fn leases_and_queues_follow_the_database_clock(url: &str) {
    let (a, b) = two_nodes(url).await;

    // A lease: the node a day ahead does not see a living holder's lease as run out.
    assert!(
        jobs::lease(&a, "job", "node-a", Duration::minutes(5))
            .await
            .unwrap()
    );
    assert!(
        !jobs::lease(&b, "job", "node-b", Duration::minutes(5))
            .await
            .unwrap(),
        "a node whose clock runs ahead took a lease that had not run out"
    );
    assert!(jobs::leases(&b).await.unwrap()[0].held);
    jobs::release(&a, "job", "node-a").await.unwrap();
    assert!(
        jobs::lease(&b, "job", "node-b", Duration::minutes(5))
            .await
            .unwrap()
    );

    // A queue: three rows due now, one due in an hour by the team's clock.
    let now = a.now();
    for (id, not_before) in [(1, now), (2, now), (3, now), (4, now + Duration::hours(1))] {
        sqlx::query("INSERT INTO test_queue (id, status, not_before) VALUES ($1, 'queued', $2)")
            .bind(id)
            .bind(renkei_core::time::format(not_before))
            .execute(a.pool())
            .await
            .unwrap();
    }
    let first = TEST_QUEUE
        .claim::<(i64,)>(&a, 2, Duration::milliseconds(400))
        .await
        .unwrap();
    assert_eq!(sorted(first.taken), vec![(1,), (2,)], "the first by key");
    let second = TEST_QUEUE
        .claim::<(i64,)>(&b, 10, Duration::minutes(5))
        .await
        .unwrap();
    assert_eq!(
        sorted(second.taken),
        vec![(3,), (4,)],
        "the node a day ahead takes only what nobody holds (and what is due by its clock)"
    );
    assert_eq!(
        second.given_back, 0,
        "leases run out by the database's clock"
    );
    let none = TEST_QUEUE
        .claim::<(i64,)>(&a, 10, Duration::minutes(5))
        .await
        .unwrap();
    assert!(none.taken.is_empty(), "{none:?}");

    // The first taker stops: its rows come back once its lease has run out.
    let mut back = None;
    for _ in 0..50 {
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        let c = TEST_QUEUE
            .claim::<(i64,)>(&a, 10, Duration::minutes(5))
            .await
            .unwrap();
        if !c.taken.is_empty() {
            back = Some(c);
            break;
        }
    }
    let back = back.expect("the stopped taker's rows never came back");
    assert_eq!(back.given_back, 2);
    assert_eq!(sorted(back.taken), vec![(1,), (2,)]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn leases_and_queues_follow_the_database_clock_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("renkei.db").display());
    leases_and_queues_follow_the_database_clock(&url).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn leases_and_queues_follow_the_database_clock_on_postgres() {
    let Some(db) = FreshPostgres::create("renkei_jobs").await else {
        return;
    };
    leases_and_queues_follow_the_database_clock(&db.url).await;
    db.drop().await;
}
