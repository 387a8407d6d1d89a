//! SQLite has one writer. Every write goes under the store's writer lock — a
//! transaction from `Store::begin`, or one statement through `Store::write` — so
//! that the background parts of a node (heartbeat, job leases, rate limits) never
//! make a request's transaction fail with "database is locked".

use renkei_core::Store;
use renkei_core::{jobs, nodes};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn background_writes_never_make_a_transaction_that_read_first_fail() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("renkei.db").display());
    let store = Store::open(&url, 4).await.unwrap();

    // What a node's background parts write, as fast as they can.
    let background = {
        let store = store.clone();
        tokio::spawn(async move {
            for i in 0..300 {
                nodes::heartbeat(&store, &format!("node-{}", i % 3), "http://127.0.0.1")
                    .await
                    .unwrap();
                jobs::lease(&store, "job", "node-0", chrono::Duration::seconds(30))
                    .await
                    .unwrap();
                nodes::rate_clear(&store, "nobody").await.unwrap();
            }
        })
    };
    // Meanwhile, requests whose transactions read before they write.
    let mut failures = Vec::new();
    let mut taken = 0;
    while !background.is_finished() {
        match nodes::rate_take(
            &store,
            &[("form:client", 1_000_000)],
            chrono::Duration::hours(1),
        )
        .await
        {
            Ok(Some(_)) => taken += 1,
            Ok(None) => failures.push("refused".to_string()),
            Err(e) => failures.push(e.to_string()),
        }
    }
    background.await.unwrap();
    assert!(taken > 0, "no request ran beside the background writes");
    assert!(
        failures.is_empty(),
        "{} of {} failed: {:?}",
        failures.len(),
        taken + failures.len(),
        &failures[..failures.len().min(3)]
    );
}
