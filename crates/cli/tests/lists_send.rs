//! Sending an alert to a mailing list through `renkei serve` and a real SMTP relay
//! (aiosmtpd on loopback): the server is killed (SIGKILL) in the middle of the
//! send and started again, and every reader still gets the alert, under one
//! Message-ID. The 24,000-reader send is timed by `bench/lists-send.sh`, which runs
//! the ignored test below.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use renkei_core::Store;
use renkei_core::access::Role;
use renkei_core::accounts::{self, NewUser};
use renkei_core::audit::Actor;
use renkei_core::lang::Lang;
use renkei_publish::alerts::{self, AlertNumber, AlertText};
use renkei_publish::lists::{self, Publication};
use renkei_testkit::relay::Relay;

const FROM: &str = "Renkei CSIRT <csirt@renkei.example>";

struct Setup {
    _dir: tempfile::TempDir,
    url: String,
    store: Store,
    send: i64,
}

async fn setup(readers: usize) -> Setup {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("renkei.db").display());
    let store = Store::open(&url, 4).await.unwrap();
    let actor = Actor::system("test");
    let mut users = Vec::new();
    for who in ["author", "reviewer"] {
        let u = accounts::create_user(
            &store,
            &actor,
            NewUser {
                email: format!("{who}@renkei.example"),
                display_name: who.into(),
                role: Role::Coordinator,
                org_id: None,
                password: None,
                lang: Lang::En,
            },
        )
        .await
        .unwrap();
        users.push(u.info());
    }
    let now = chrono::Utc::now();
    let a = alerts::create(
        &store,
        &users[0],
        &AlertText {
            category: Some("vulnerability".into()),
            title_en: "Patch Foo now".into(),
            body_en: "Attacks on **Foo** are seen.".into(),
            title_ja: "Foo の脆弱性".into(),
            body_ja: "Foo への攻撃を確認しています。".into(),
            ..Default::default()
        },
        now,
    )
    .await
    .unwrap();
    let n = AlertNumber::parse(&a.number).unwrap();
    alerts::submit(&store, &users[0], &n).await.unwrap();
    alerts::publish(
        &store,
        &users[1],
        &n,
        now,
        &renkei_publish::warnings::Settings {
            public_url: String::new(),
            from: String::new(),
            team_key: None,
        },
    )
    .await
    .unwrap();
    let rows: Vec<(String, Lang)> = (0..readers)
        .map(|i| {
            (
                format!("reader{i}@example.org"),
                if i % 3 == 0 { Lang::En } else { Lang::Ja },
            )
        })
        .collect();
    assert_eq!(
        lists::import(&store, &actor, "alerts", &rows)
            .await
            .unwrap(),
        readers
    );
    let settings = lists::Settings {
        public_url: "https://csirt.example".into(),
        from: FROM.into(),
        relay: String::new(),
        team_key: None,
        connections: 8,
        lease_secs: 5,
        idle_secs: 1,
    };
    let send = lists::start_send(
        &store,
        &settings,
        &users[0],
        "alerts",
        &Publication::Alert(a.number.clone()),
    )
    .await
    .unwrap();
    assert_eq!(send.total, readers as i64);
    Setup {
        _dir: dir,
        url,
        store,
        send: send.id,
    }
}

fn serve(url: &str, relay: &str) -> Child {
    Command::new(env!("CARGO_BIN_EXE_renkei"))
        .args(["serve", "--listen", "127.0.0.1:0", "--database-url", url])
        .env("RENKEI_MAIL__FROM", FROM)
        .env("RENKEI_MAIL__RELAY", relay)
        .env("RENKEI_PUBLISH__LIST_LEASE_SECS", "5")
        .env("RENKEI_LOG__LEVEL", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap()
}

async fn wait_until(
    store: &Store,
    send: i64,
    limit: Duration,
    done: impl Fn(&lists::SendProgress) -> bool,
) -> lists::SendProgress {
    let start = Instant::now();
    loop {
        let p = lists::progress(store, send).await.unwrap();
        if done(&p) {
            return p;
        }
        assert!(start.elapsed() < limit, "stuck: {p:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_send_killed_midway_resumes_and_every_reader_gets_the_alert_under_one_message_id() {
    let Some(relay) = Relay::start() else { return };
    let readers = 3000;
    let s = setup(readers).await;
    let mut server = serve(&s.url, &relay.url());
    wait_until(&s.store, s.send, Duration::from_secs(120), |p| {
        p.sent >= 500
    })
    .await;
    server.kill().unwrap();
    server.wait().unwrap();
    let at_kill = lists::progress(&s.store, s.send).await.unwrap();
    assert!(
        at_kill.sent < readers as i64,
        "killed before the end: {at_kill:?}"
    );
    // In doubt: handed to the relay or about to be, not yet marked.
    let in_doubt = at_kill.sending;

    let mut server = serve(&s.url, &relay.url());
    let end = wait_until(&s.store, s.send, Duration::from_secs(180), |p| p.done).await;
    server.kill().unwrap();
    server.wait().unwrap();
    assert_eq!((end.sent, end.failed), (readers as i64, 0), "{end:?}");

    let mut copies: std::collections::HashMap<String, Vec<String>> =
        std::collections::HashMap::new();
    for m in relay.messages() {
        let parsed = mail_parser::MessageParser::default()
            .parse(&m.data)
            .unwrap();
        let id = parsed.message_id().unwrap_or("").to_string();
        copies.entry(m.rcpt_to[0].clone()).or_default().push(id);
    }
    assert_eq!(copies.len(), readers, "every reader got it");
    let mut duplicates = 0;
    for (rcpt, ids) in &copies {
        let distinct: std::collections::HashSet<&String> = ids.iter().collect();
        assert_eq!(distinct.len(), 1, "{rcpt}: one Message-ID, {ids:?}");
        duplicates += ids.len() - 1;
    }
    assert!(
        duplicates as i64 <= in_doubt,
        "only deliveries in doubt at the kill go twice: {duplicates} > {in_doubt}"
    );
    eprintln!(
        "killed at {} of {readers} sent, {in_doubt} in doubt; after the restart: {} sent, {duplicates} sent twice (same Message-ID)",
        at_kill.sent, end.sent
    );
}

/// `bench/lists-send.sh`: one alert to 24,000 readers through a real SMTP server
/// on loopback (target: 60 s).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore]
async fn bench_one_alert_to_24000_readers() {
    let relay =
        std::env::var("RENKEI_BENCH_RELAY").expect("RENKEI_BENCH_RELAY=smtp://127.0.0.1:PORT");
    let readers = 24_000;
    let s = setup(readers).await;
    let start = Instant::now();
    let mut server = serve(&s.url, &relay);
    let end = wait_until(&s.store, s.send, Duration::from_secs(600), |p| p.done).await;
    let secs = start.elapsed().as_secs_f64();
    server.kill().unwrap();
    server.wait().unwrap();
    assert_eq!((end.sent, end.failed), (readers as i64, 0), "{end:?}");
    println!(
        "sent one alert to {readers} readers in {secs:.1} s ({:.0} messages/s), server start included",
        readers as f64 / secs
    );
}
