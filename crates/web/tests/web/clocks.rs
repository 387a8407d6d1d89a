//! The clocks that watch what incidents are owed, the takedowns of attack sites, and
//! the referral directory, as a coordinator meets them: through the API, the queue,
//! the dashboard, `/metrics`, reminder mail through a real SMTP relay (aiosmtpd on
//! loopback), the statistics and the quarterly report's numbers.

use renkei_core::access::Role;
use renkei_testkit::relay::Relay;
use renkei_testkit::{Backend, TestServer, TestUser};
use serde_json::{Value, json};

const TEAM: &str = "Example CSIRT <csirt@csirt.example>";
const LEAD: &str = "lead@csirt.example";
const HOUR: i64 = 3600;

struct Desk {
    srv: TestServer,
    relay: Relay,
    owner: TestUser,
    token: String,
}

fn clocks_config() -> renkei_core::config::ClocksConfig {
    renkei_core::config::ClocksConfig {
        escalate_to: vec![LEAD.into()],
        rules: "phishing/*: first=4h close=7d".into(),
        ..Default::default()
    }
}

async fn desk(backend: Backend) -> Option<Desk> {
    let relay = Relay::start()?;
    let srv = TestServer::start_with(backend, |c| {
        c.mail.from = TEAM.into();
        c.mail.relay = relay.url();
        c.clocks = clocks_config();
    })
    .await;
    let owner = srv.user(Role::Coordinator).await;
    let token = srv.token(&owner).await;
    Some(Desk {
        srv,
        relay,
        owner,
        token,
    })
}

impl Desk {
    async fn call(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> (u16, Value) {
        let api = crate::common::Api {
            srv: &self.srv,
            http: self.srv.client(),
        };
        api.call(method, Some(&self.token), path, body).await
    }

    async fn get(&self, path: &str) -> Value {
        let (status, v) = self.call(reqwest::Method::GET, path, None).await;
        assert_eq!(status, 200, "{path}: {v}");
        v
    }

    async fn post(&self, path: &str, body: Value) -> (u16, Value) {
        self.call(reqwest::Method::POST, path, Some(body)).await
    }

    /// A report by the web form; its first incident.
    async fn report(&self, text: &str) -> (i64, i64) {
        let (status, v) = self
            .post(
                "/api/v1/reports",
                json!({"site_org": "Shop KK", "reporter_name": "Yamada", "reporter_email": "yamada@shop.example.jp",
                       "description": text}),
            )
            .await;
        assert_eq!(status, 201, "{v}");
        let report = v["report"].as_i64().unwrap();
        (report, v["incidents"][0].as_i64().unwrap())
    }

    async fn remind(&self) -> renkei_incident::clocks::Reminded {
        let clocks = renkei_incident::clocks::Clocks::from_config(&clocks_config()).unwrap();
        let settings = renkei_incident::notify::Settings {
            from: TEAM.into(),
            home_country: None,
            team_key: None,
        };
        renkei_incident::clocks::remind(
            &self.srv.store,
            &clocks,
            &settings,
            "https://csirt.example",
        )
        .await
        .unwrap()
    }

    async fn send_outbox(&self) -> usize {
        renkei_mail::OutboxWorker::build(
            self.srv.store.clone(),
            &renkei_core::config::MailConfig {
                relay: self.relay.url(),
                ..Default::default()
            },
        )
        .send_due()
        .await
        .unwrap()
    }

    /// The subjects of the mail the relay got for one address, once there are `n`
    /// (the outbox worker may send before this test's pass does).
    async fn mail_to(&self, address: &str, n: usize) -> Vec<String> {
        for _ in 0..100 {
            self.send_outbox().await;
            let got = self.subjects_to(address);
            if got.len() >= n {
                return got;
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        self.subjects_to(address)
    }

    /// What the relay got for one address, subjects only.
    fn subjects_to(&self, address: &str) -> Vec<String> {
        self.relay
            .messages()
            .into_iter()
            .filter(|m| m.rcpt_to.iter().any(|r| r == address))
            .map(|m| {
                let parsed = mail_parser::MessageParser::default()
                    .parse(&m.data)
                    .unwrap();
                parsed.subject().unwrap_or("").to_string()
            })
            .collect()
    }

    async fn page(&self, path: &str) -> String {
        let session = self.srv.session(&self.owner).await;
        let r = self
            .srv
            .client()
            .get(self.srv.url(path))
            .header("cookie", format!("renkei_session={session}"))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "{path}");
        r.text().await.unwrap()
    }
}

fn ids(list: &Value) -> Vec<i64> {
    list.as_array()
        .unwrap()
        .iter()
        .map(|i| i["id"].as_i64().unwrap())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clocks_fall_due_remind_the_owner_escalate_and_give_the_quarter_its_handling_times() {
    clocks(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clocks_fall_due_remind_the_owner_escalate_and_give_the_quarter_its_handling_times_on_postgres()
 {
    if renkei_testkit::postgres_configured() {
        clocks(Backend::Postgres).await;
    }
}

async fn clocks(backend: Backend) {
    let Some(d) = desk(backend).await else {
        return;
    };
    let (report, incident) = d
        .report("SSH brute force from 203.0.113.7 since this morning")
        .await;
    let i = d.get(&format!("/api/v1/incidents/{incident}")).await;
    assert_eq!(i["due_kind"], "first_response", "{i}");
    let created = chrono::DateTime::parse_from_rfc3339(i["created_at"].as_str().unwrap()).unwrap();
    let due =
        |v: &Value| chrono::DateTime::parse_from_rfc3339(v["due_at"].as_str().unwrap()).unwrap();
    assert_eq!(due(&i) - created, chrono::Duration::hours(24));

    // Phishing has its own limit: the due time follows the category, whoever set it.
    let (status, _) = d
        .post(
            &format!("/api/v1/reports/{report}/category"),
            json!({"category": "phishing"}),
        )
        .await;
    assert_eq!(status, 200);
    let i = d.get(&format!("/api/v1/incidents/{incident}")).await;
    assert_eq!(
        (due(&i) - created, i["due_kind"].as_str()),
        (chrono::Duration::hours(4), Some("first_response"))
    );
    let (_, later) = d
        .report("Port scan from 198.51.100.9, ports 22 and 23")
        .await;

    // Five hours on, nobody has written: overdue in the queue, the dashboard and /metrics.
    d.srv.clock.advance(5 * HOUR);
    let overdue = d.get("/api/v1/incidents?overdue=1").await;
    assert_eq!(ids(&overdue), vec![incident], "{overdue}");
    let by_due = d.get("/api/v1/incidents?sort=due").await;
    assert_eq!(ids(&by_due), vec![incident, later], "soonest due first");
    let (status, e) = d
        .call(reqwest::Method::GET, "/api/v1/incidents?sort=soonish", None)
        .await;
    assert_eq!(
        (status, e["error"]["code"].as_str()),
        (422, Some("invalid_input"))
    );
    let dashboard = d.page("/dashboard").await;
    assert!(
        dashboard.contains("id=\"overdue\"") && dashboard.contains("data-due=\"first_response\""),
        "the dashboard names what is overdue: {dashboard}"
    );
    let queue = d.page("/incidents?overdue=1&sort=due").await;
    assert!(
        queue.contains("badge overdue") && queue.contains("First response"),
        "{queue}"
    );
    let metrics = d
        .srv
        .client()
        .get(d.srv.url("/metrics"))
        .bearer_auth(&d.token)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains("renkei_incidents_overdue_first_response 1"),
        "{metrics}"
    );

    // The owner asks the reporter: first response given, the reply clock runs.
    let (status, v) = d
        .call(
            reqwest::Method::PATCH,
            &format!("/api/v1/incidents/{incident}"),
            Some(json!({"owner_id": d.owner.id})),
        )
        .await;
    assert_eq!(status, 200, "{v}");
    let (status, v) = d
        .post(
            &format!("/api/v1/reports/{report}/mail"),
            json!({"to": ["yamada@shop.example.jp"], "template": "ask_logs", "lang": "ja", "question": true}),
        )
        .await;
    assert_eq!(status, 202, "{v}");
    let asked_at = d.srv.clock.now();
    let i = d.get(&format!("/api/v1/incidents/{incident}")).await;
    assert_eq!(i["state"], "waiting_for_reply");
    assert_eq!(i["due_kind"], "reply", "{i}");
    let wait = due(&i).with_timezone(&chrono::Utc) - asked_at;
    assert!(
        (wait - chrono::Duration::hours(72)).num_seconds().abs() <= 5,
        "{wait}"
    );
    assert!(i["first_response_at"].is_string());
    let to_reporter = d.mail_to("yamada@shop.example.jp", 1).await;
    assert!(
        to_reporter.iter().any(|s| s.contains("ログ")),
        "{to_reporter:?}"
    );

    // Nothing to remind before the reply clock runs out.
    assert_eq!(d.remind().await.mails, 0);
    d.srv.clock.advance(73 * HOUR);
    // (The node's own clock worker may be the one to send it; either way, once.)
    let r = d.remind().await;
    assert!(r.reminded == vec![incident] || r.mails == 0, "{r:?}");
    assert_eq!(d.remind().await.mails, 0, "one reminder per question");
    let to_owner = d.mail_to(&d.owner.email, 1).await;
    assert_eq!(to_owner.len(), 1, "{to_owner:?}");
    assert!(to_owner[0].contains("1"), "{to_owner:?}");

    // Still no answer 48 hours after the reminder: the lead hears of it.
    d.srv.clock.advance(47 * HOUR);
    assert_eq!(d.remind().await.mails, 0);
    d.srv.clock.advance(2 * HOUR);
    let r = d.remind().await;
    assert!(r.escalated == vec![incident] || r.mails == 0, "{r:?}");
    assert_eq!(d.remind().await.mails, 0, "one escalation per question");
    let to_lead = d.mail_to(LEAD, 1).await;
    assert!(
        to_lead.len() == 1 && to_lead[0].contains("Escalation"),
        "{to_lead:?}"
    );
    let timeline = d.page(&format!("/reports/{report}")).await;
    assert!(
        timeline.contains("owner reminded") && timeline.contains("escalated, still no answer"),
        "the timeline tells of the reminder and the escalation"
    );

    // The answer comes (a coordinator notes it); the incident is closed: the
    // quarter's handling times are the five hours to the first response and the
    // whole time to closing.
    let (status, _) = d
        .call(
            reqwest::Method::PATCH,
            &format!("/api/v1/incidents/{incident}"),
            Some(json!({"state": "closed"})),
        )
        .await;
    assert_eq!(status, 200);
    let i = d.get(&format!("/api/v1/incidents/{incident}")).await;
    assert_eq!(
        (i["due_kind"].clone(), i["closed_at"].is_string()),
        (Value::Null, true),
        "{i}"
    );
    let from = created.format("%Y-%m-%d").to_string();
    let stats = d
        .get(&format!(
            "/api/v1/statistics/incidents?from={from}&to={}",
            created.date_naive() + chrono::Days::new(365)
        ))
        .await;
    assert_eq!(stats["time_to_first_response"]["count"], 1, "{stats}");
    let near = |v: &Value, secs: i64| (v.as_i64().unwrap() - secs).abs() <= 30;
    assert!(
        near(&stats["time_to_first_response"]["median_secs"], 5 * HOUR),
        "{stats}"
    );
    assert_eq!(stats["time_to_close"]["count"], 1);
    // Beyond a day the summaries keep durations in steps of 0.5 %, so within 0.25 %.
    let close = (5 + 73 + 49) * HOUR;
    let p90 = stats["time_to_close"]["p90_secs"].as_i64().unwrap();
    assert!((p90 - close).abs() * 400 <= close, "{stats}");
    // Reopened, the clocks start again and nothing is reminded twice by accident.
    let (status, _) = d
        .call(
            reqwest::Method::PATCH,
            &format!("/api/v1/incidents/{incident}"),
            Some(json!({"state": "coordinating"})),
        )
        .await;
    assert_eq!(status, 200);
    let i = d.get(&format!("/api/v1/incidents/{incident}")).await;
    assert_eq!(
        (i["due_kind"].as_str(), i["closed_at"].clone()),
        (Some("close"), Value::Null),
        "{i}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_takedown_is_requested_goes_down_is_verified_and_a_return_reopens_the_incident() {
    takedowns(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_takedown_is_tracked_the_same_way_on_postgres() {
    if renkei_testkit::postgres_configured() {
        takedowns(Backend::Postgres).await;
    }
}

async fn takedowns(backend: Backend) {
    let Some(d) = desk(backend).await else {
        return;
    };
    let (report, incident) = d
        .report("Phishing site imitating our bank at https://bank.example.test/login, hosted on 192.0.2.44")
        .await;
    for bad in ["bank.example.test", "javascript:alert(1)", "https://a b"] {
        let (status, e) = d
            .post(
                &format!("/api/v1/incidents/{incident}/takedowns"),
                json!({"url": bad}),
            )
            .await;
        assert_eq!(
            (status, e["error"]["code"].as_str()),
            (422, Some("invalid_input")),
            "{bad}"
        );
    }
    let (status, t) = d
        .post(
            &format!("/api/v1/incidents/{incident}/takedowns"),
            json!({"url": "https://bank.example.test/login"}),
        )
        .await;
    assert_eq!(status, 201, "{t}");
    let id = t["id"].as_i64().unwrap();
    assert_eq!(t["stage"], "requested");
    let (status, _) = d
        .post(
            &format!("/api/v1/incidents/{incident}/takedowns"),
            json!({"url": "https://bank.example.test/login"}),
        )
        .await;
    assert_eq!(status, 422, "one takedown per site and incident");

    let check = |up: bool, note: &'static str| {
        let d = &d;
        async move {
            let (status, t) = d
                .post(
                    &format!("/api/v1/takedowns/{id}/checks"),
                    json!({"result": if up { "up" } else { "down" }, "note": note}),
                )
                .await;
            assert_eq!(status, 200, "{t}");
            t
        }
    };
    assert_eq!(check(true, "still there").await["stage"], "requested");
    d.srv.clock.advance(HOUR);
    let t = check(false, "404 from the host").await;
    assert_eq!(
        (t["stage"].as_str(), t["down_at"].is_string()),
        (Some("down"), true)
    );
    d.srv.clock.advance(24 * HOUR);
    let t = check(false, "still gone").await;
    assert_eq!(t["stage"], "verified");
    assert_eq!(t["checks"].as_array().unwrap().len(), 3);
    assert_eq!(
        t["checks"][1]["checked_by"], d.owner.email,
        "who checked is kept"
    );

    // Closed, then the site comes back: requested again, the incident reopened.
    let (status, _) = d
        .call(
            reqwest::Method::PATCH,
            &format!("/api/v1/incidents/{incident}"),
            Some(json!({"state": "closed"})),
        )
        .await;
    assert_eq!(status, 200);
    d.srv.clock.advance(24 * HOUR);
    let t = check(true, "back on another path").await;
    assert_eq!(
        (
            t["stage"].as_str(),
            t["returns"].as_i64(),
            t["down_at"].clone()
        ),
        (Some("requested"), Some(1), Value::Null)
    );
    assert_eq!(
        d.get(&format!("/api/v1/incidents/{incident}")).await["state"],
        "coordinating"
    );
    let (status, e) = d
        .post(
            &format!("/api/v1/takedowns/{id}/checks"),
            json!({"result": "maybe"}),
        )
        .await;
    assert_eq!(
        (status, e["error"]["code"].as_str()),
        (422, Some("invalid_input"))
    );
    let (status, _) = d
        .post("/api/v1/takedowns/999999/checks", json!({"result": "down"}))
        .await;
    assert_eq!(status, 404);

    let listed = d
        .get(&format!("/api/v1/incidents/{incident}/takedowns"))
        .await;
    assert_eq!(ids(&listed), vec![id]);
    let stats = d.get(&around_now()).await;
    assert_eq!(
        stats["takedowns"],
        json!({"requested": 1, "down": 1, "returned": 1}),
        "{stats}"
    );
    let page = d.page(&format!("/reports/{report}")).await;
    assert!(
        page.contains(&format!("id=\"takedown-{id}\"")) && page.contains("takedown requested"),
        "{page}"
    );
    assert!(
        page.contains("the site is back"),
        "the timeline tells of the return"
    );

    // Staff only.
    let constituent = d.srv.token(&d.srv.user(Role::Constituent).await).await;
    let r = d
        .srv
        .client()
        .get(d.srv.url(&format!("/api/v1/takedowns/{id}")))
        .bearer_auth(&constituent)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_referral_template_points_to_the_directory_entry_of_the_topic_and_counts_it() {
    let Some(d) = desk(Backend::Sqlite).await else {
        return;
    };
    let org = |name: &'static str, topics: &'static str, region: &'static str| {
        let d = &d;
        async move {
            let (status, o) = d
                .post(
                    "/api/v1/orgs",
                    json!({"name": name, "kind": "referral", "topics": topics, "region": region, "domain": "consumer.example"}),
                )
                .await;
            assert_eq!(status, 201, "{o}");
            o["id"].as_i64().unwrap()
        }
    };
    let consumer = org("Consumer Affairs Centre", "consumer, fraud", "JP").await;
    let police = org("Prefectural Police Cyber Desk", "Police", "JP-13").await;
    let (status, _) = d
        .post(
            &format!("/api/v1/orgs/{consumer}/contacts"),
            json!({"name": "Soudan", "email": "soudan@consumer.example", "phone": "188"}),
        )
        .await;
    assert_eq!(status, 201);
    let (status, e) = d
        .post(
            "/api/v1/orgs",
            json!({"name": "Nowhere", "kind": "referral", "region": "Tokyo"}),
        )
        .await;
    assert_eq!(
        (status, e["error"]["code"].as_str()),
        (422, Some("invalid_input")),
        "{e}"
    );
    let listed = d.get("/api/v1/orgs?kind=referral").await;
    assert_eq!(listed.as_array().map(Vec::len), Some(2), "{listed}");
    assert_eq!(
        d.get(&format!("/api/v1/orgs/{police}")).await["topics"],
        "police",
        "topics are kept as lower-case words"
    );

    let (report, _) = d
        .report("I paid for goods that never came; the shop site is gone")
        .await;
    let (status, p) = d
        .post(
            &format!("/api/v1/reports/{report}/mail/preview"),
            json!({"to": ["yamada@shop.example.jp"], "template": "referral", "referral_topic": "consumer", "lang": "ja"}),
        )
        .await;
    assert_eq!(status, 200, "{p}");
    let body = p["body"].as_str().unwrap();
    assert!(
        body.contains("Consumer Affairs Centre")
            && body.contains("soudan@consumer.example")
            && body.contains("188"),
        "{body}"
    );
    assert!(!body.contains("Police"), "only the topic asked for: {body}");
    let (status, m) = d
        .post(
            &format!("/api/v1/reports/{report}/mail"),
            json!({"to": ["yamada@shop.example.jp"], "template": "referral", "referrals": [police], "lang": "en"}),
        )
        .await;
    assert_eq!(status, 202, "{m}");
    let (status, e) = d
        .post(
            &format!("/api/v1/reports/{report}/mail/preview"),
            json!({"to": ["yamada@shop.example.jp"], "template": "referral", "referrals": [999999]}),
        )
        .await;
    assert_eq!(
        (status, e["error"]["code"].as_str()),
        (422, Some("invalid_input")),
        "{e}"
    );
    let stats = d.get(&around_now()).await;
    assert_eq!(
        stats["referrals"],
        json!([{"key": "Prefectural Police Cyber Desk", "count": 1}]),
        "{stats}"
    );
    let page = d
        .page(&format!("/reports/{report}/write?template=referral"))
        .await;
    assert!(page.contains("id=\"mail-referrals\"") && page.contains("Consumer Affairs Centre"));

    // A file added on the compose page goes with the mail and stays with the report.
    let browser = d.srv.signed_in(&d.owner).await;
    let (content_type, body) = crate::conversations::multipart(
        &[
            ("_csrf", browser.csrf.as_str()),
            ("to", "yamada@shop.example.jp"),
            ("subject", "Our findings"),
            ("body", "Please see the attached summary."),
        ],
        &[("upload", "summary.txt", b"the shop's server sent the scans")],
    );
    let r = browser
        .client
        .post(d.srv.url(&format!("/reports/{report}/write/preview")))
        .header("content-type", content_type)
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let preview = r.text().await.unwrap();
    assert!(preview.contains("summary.txt (32 B)"), "{preview}");
    let files = renkei_incident::incidents::attachments(&d.srv.store, report)
        .await
        .unwrap();
    assert_eq!(
        files.last().unwrap().added_by.as_deref(),
        Some(d.owner.email.as_str())
    );
}

/// Statistics for the years either side of now (a period is at most ten years).
fn around_now() -> String {
    let year = chrono::Datelike::year(&chrono::Utc::now());
    format!(
        "/api/v1/statistics/incidents?from={}-01-01&to={}-01-01",
        year - 4,
        year + 4
    )
}
