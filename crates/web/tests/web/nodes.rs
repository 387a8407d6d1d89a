//! Two `renkei serve` nodes on one database, as behind one reverse proxy, on SQLite and
//! PostgreSQL: nothing a request needs lives in one node's memory. A session and a
//! CSRF token made on one node work on the other; failed logins and public
//! submissions count across both; a job lease is held by one node at a time and
//! passes on when it runs out; two outbox workers send each message once; and the
//! operations view shows both nodes and every queue.

use crate::common;

use chrono::Duration;
use common::Api;
use renkei_core::access::Role;
use renkei_core::{jobs, nodes};
use renkei_testkit::relay::Relay;
use renkei_testkit::{Backend, PASSWORD, TestServer, csrf_from};
use serde_json::json;

async fn login(srv: &TestServer, client: &reqwest::Client, email: &str, password: &str) -> u16 {
    let page = client
        .get(srv.url("/login"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let csrf = csrf_from(&page).unwrap();
    client
        .post(srv.url("/login"))
        .form(&[("email", email), ("password", password), ("_csrf", &csrf)])
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

async fn two_nodes(backend: Backend) {
    let tweak = |c: &mut renkei_core::config::Config| {
        c.security.login_max_attempts = 3;
        c.intake.form_reports_per_hour = 3;
    };
    let a = TestServer::start_with(backend, tweak).await;
    let b = a.another_node(tweak).await;

    // A session made on node A is good on node B (cookies do not tell ports apart).
    let staff = a.user(Role::Admin).await;
    let signed = a.signed_in(&staff).await;
    let r = signed.client.get(b.url("/dashboard")).send().await.unwrap();
    assert_eq!(r.status(), 200, "the session lives in the database");
    // So is a CSRF token: a form from node A posts to node B.
    let page = signed
        .client
        .get(a.url("/account"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let csrf = csrf_from(&page).unwrap();
    let r = signed
        .client
        .post(b.url("/account/lang"))
        .form(&[("lang", "ja"), ("_csrf", csrf.as_str())])
        .send()
        .await
        .unwrap();
    assert!(
        r.status().is_redirection() || r.status().is_success(),
        "{}",
        r.status()
    );

    // Failed logins counted on A block the account on B.
    let victim = a.user(Role::Coordinator).await;
    let client = reqwest::Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    for _ in 0..3 {
        assert_eq!(
            login(&a, &client, &victim.email, "wrong password").await,
            401
        );
    }
    let other = reqwest::Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    assert_eq!(
        login(&b, &other, &victim.email, PASSWORD).await,
        429,
        "throttled on every node"
    );

    // Anonymous submissions: three an hour per address, whichever node takes them.
    let api_a = Api {
        srv: &a,
        http: a.client(),
    };
    let api_b = Api {
        srv: &b,
        http: b.client(),
    };
    let application = |n: u32| json!({"company": format!("Vendor {n}"), "name": "PSIRT", "email": format!("psirt{n}@vendor.example"), "products": ["X"], "languages": ["en"]});
    assert_eq!(
        api_a
            .post(None, "/api/v1/vendors/apply", application(1))
            .await
            .0,
        201
    );
    assert_eq!(
        api_b
            .post(None, "/api/v1/vendors/apply", application(2))
            .await
            .0,
        201
    );
    assert_eq!(
        api_a
            .post(None, "/api/v1/vendors/apply", application(3))
            .await
            .0,
        201
    );
    let (status, e) = api_b
        .post(None, "/api/v1/vendors/apply", application(4))
        .await;
    assert_eq!(
        (status, e["error"]["code"].as_str()),
        (429, Some("rate_limited")),
        "{e}"
    );

    // A job lease: one holder at a time; given back, or run out, it passes on.
    let store = &a.store;
    assert!(
        jobs::lease(store, "test.job", "node-a", Duration::minutes(5))
            .await
            .unwrap()
    );
    assert!(
        !jobs::lease(store, "test.job", "node-b", Duration::minutes(5))
            .await
            .unwrap()
    );
    assert!(
        jobs::lease(store, "test.job", "node-a", Duration::minutes(5))
            .await
            .unwrap(),
        "the holder renews"
    );
    jobs::release(store, "test.job", "node-a").await.unwrap();
    assert!(
        jobs::lease(&b.store, "test.job", "node-b", Duration::minutes(5))
            .await
            .unwrap()
    );
    // A holder that dies keeps its lease only until it runs out.
    assert!(
        jobs::lease(store, "dead.job", "node-a", Duration::milliseconds(200))
            .await
            .unwrap()
    );
    assert!(
        !jobs::lease(store, "dead.job", "node-b", Duration::minutes(5))
            .await
            .unwrap()
    );
    // Node A's lease runs out (200 ms on the database's clock); B takes over then.
    let mut taken = false;
    for _ in 0..100 {
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        taken = jobs::lease(store, "dead.job", "node-b", Duration::minutes(5))
            .await
            .unwrap();
        if taken {
            break;
        }
    }
    assert!(taken, "taken over");

    // The operations view, from either node: both nodes, the leases, the queues.
    let admin = a.token(&staff).await;
    let (_, ops_a) = api_a.get(Some(&admin), "/api/v1/operations").await;
    let (status, ops_b) = api_b.get(Some(&admin), "/api/v1/operations").await;
    assert_eq!(status, 200, "{ops_b}");
    let (id_a, id_b) = (
        ops_a["this_node"].as_str().unwrap(),
        ops_b["this_node"].as_str().unwrap(),
    );
    assert_ne!(id_a, id_b);
    nodes::heartbeat(store, id_a, &a.url("")).await.unwrap();
    nodes::heartbeat(store, id_b, &b.url("")).await.unwrap();
    let (_, ops) = api_b.get(Some(&admin), "/api/v1/operations").await;
    let alive: Vec<&str> = ops["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|n| n["alive"] == true)
        .map(|n| n["id"].as_str().unwrap())
        .collect();
    assert!(alive.contains(&id_a) && alive.contains(&id_b), "{ops}");
    assert!(ops["leases"].to_string().contains("dead.job"));
    assert!(ops["queues"]["outbox_queued"].is_i64());
    let metrics = a
        .client()
        .get(a.url("/metrics"))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains("renkei_nodes_alive 2") && metrics.contains("renkei_outbox_queued"),
        "{metrics}"
    );
    assert_eq!(
        api_a
            .get(
                Some(&a.token(&a.user(Role::Coordinator).await).await),
                "/api/v1/operations"
            )
            .await
            .0,
        403
    );

    // Two outbox workers on two nodes at once: every message goes out exactly once.
    if let Some(relay) = Relay::start() {
        let mut tx = store.begin().await.unwrap();
        for i in 0..120 {
            renkei_mail::enqueue(
                &mut tx,
                renkei_mail::NewMail {
                    kind: "test",
                    object_type: "test",
                    object_id: i.to_string(),
                    from: "csirt@renkei.example",
                    to: &format!("reader{i}@example.org"),
                    subject: "hello",
                    body: "hello",
                    in_reply_to: None,
                    auto_reply: false,
                    attachments: &[],
                    sign: None,
                    cc: "",
                    encrypt_to: &[],
                    exercise: false,
                },
            )
            .await
            .unwrap();
        }
        tx.commit().await.unwrap();
        let config = renkei_core::config::MailConfig {
            relay: relay.url(),
            ..Default::default()
        };
        let w1 = renkei_mail::OutboxWorker::build(a.store.clone(), &config);
        let w2 = renkei_mail::OutboxWorker::build(b.store.clone(), &config);
        let (mut s1, mut s2) = (0, 0);
        loop {
            let (x, y) = tokio::join!(w1.send_due(), w2.send_due());
            let (x, y) = (x.unwrap(), y.unwrap());
            if x + y == 0 {
                break;
            }
            (s1, s2) = (s1 + x, s2 + y);
        }
        assert_eq!(s1 + s2, 120, "{s1} + {s2}");
        assert!(s1 > 0 && s2 > 0, "both nodes worked: {s1} + {s2}");
        let got = relay.messages();
        let mut ids: Vec<String> = got
            .iter()
            .map(|m| {
                String::from_utf8_lossy(&m.data)
                    .lines()
                    .find(|l| l.to_ascii_lowercase().starts_with("message-id:"))
                    .unwrap_or("")
                    .to_string()
            })
            .collect();
        assert_eq!(ids.len(), 120);
        ids.sort();
        ids.dedup();
        assert_eq!(ids.len(), 120, "no message twice");
    }
    b.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_nodes_on_one_database_share_sessions_throttling_leases_and_the_outbox() {
    two_nodes(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_nodes_on_one_postgres_database_share_sessions_throttling_leases_and_the_outbox() {
    if renkei_testkit::postgres_configured() {
        two_nodes(Backend::Postgres).await;
    }
}
