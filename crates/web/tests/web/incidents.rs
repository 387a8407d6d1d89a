//! Incident intake over HTTP: the public form, the API (fields and raw documents), the
//! coordinator's queue and report page, bulk actions, statistics.

use renkei_core::access::Role;
use renkei_testkit::{Backend, TestServer, both_backends, csrf_from};
use serde_json::{Value, json};

const SSH_LOG: &str = "Jan 15 07:22:18 web sshd[11]: Failed password for root from 198.51.100.7 port 40001 ssh2\nJan 15 07:22:19 web sshd[12]: Failed password for admin from 203.0.113.9 port 40002 ssh2";

async fn form_page(srv: &TestServer, client: &reqwest::Client) -> String {
    let page = client
        .get(srv.url("/report"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    csrf_from(&page).expect("the report form has a CSRF field")
}

fn fields<'a>(csrf: &'a str, email: &'a str) -> Vec<(&'a str, &'a str)> {
    vec![
        ("_csrf", csrf),
        ("site_org", "Example Shop KK"),
        ("site_url", "https://shop.example.co.jp/"),
        ("reporter_name", "山田 太郎"),
        ("reporter_email", email),
        ("hosts", "192.0.2.10\nwww.shop.example.co.jp"),
        ("description", "SSH への総当たり攻撃を受けています。"),
        ("logs", SSH_LOG),
        ("tlp", "TLP:GREEN"),
    ]
}

both_backends! {
    async fn anyone_reports_through_the_public_form_and_gets_a_tracking_number(srv) {
        let client = srv.client();
        let csrf = form_page(&srv, &client).await;
        let r = client.post(srv.url("/report")).form(&fields(&csrf, "taro@shop.example.co.jp")).send().await.unwrap();
        assert_eq!(r.status(), 200);
        let page = r.text().await.unwrap();
        let tracking: i64 = page.split("id=\"tracking-number\">#").nth(1).unwrap().split('<').next().unwrap().parse().unwrap();
        assert!(page.contains(&format!("[RENKEI#{tracking}]")));

        let coordinator = srv.user(Role::Coordinator).await;
        let token = srv.token(&coordinator).await;
        let http = reqwest::Client::new();
        let report: Value = http.get(srv.url(&format!("/api/v1/reports/{tracking}"))).bearer_auth(&token).send().await.unwrap().json().await.unwrap();
        assert_eq!(report["tlp"], "TLP:GREEN");
        assert_eq!(report["channel"], "web");
        assert_eq!(report["proposed_category"], "scan");
        assert_eq!(report["incidents"].as_array().unwrap().len(), 2);
        let raw: Value = http.get(srv.url(&format!("/api/v1/reports/{tracking}/raw"))).bearer_auth(&token).send().await.unwrap().json().await.unwrap();
        assert_eq!(raw["reporter_name"], "山田 太郎", "the raw form is kept as submitted");

        let s = srv.signed_in(&coordinator).await;
        let queue = s.client.get(srv.url("/incidents")).send().await.unwrap().text().await.unwrap();
        assert!(queue.contains("198.51.100.7") && queue.contains("203.0.113.9"));
        let page = s.client.get(srv.url(&format!("/reports/{tracking}"))).send().await.unwrap().text().await.unwrap();
        assert!(page.contains("id=\"raw-message\"") && page.contains("Failed password for root"));
        assert!(page.contains("intrusion-attempts/brute-force"));
        // The reporter's words and logs read as text, the addresses found in them marked.
        let text = page.split("id=\"report-text\"").nth(1).expect("the report's text is shown").split("</pre>").next().unwrap();
        assert!(text.contains("SSH への総当たり攻撃を受けています。") && text.contains("Failed password for root"));
        assert!(text.contains("<mark>198.51.100.7</mark>") && text.contains("<mark>203.0.113.9</mark>"), "{text}");
        assert!(!text.contains("\\r\\n") && !text.contains("\\n"), "no JSON escapes: {text}");
    }

    async fn a_time_typed_in_the_form_is_the_team_s_and_one_that_cannot_be_read_is_refused(srv) {
        let client = srv.client();
        let csrf = form_page(&srv, &client).await;
        let mut f = fields(&csrf, "taro@shop.example.co.jp");
        f.push(("occurred_at", "2024-01-15 07:22"));
        let r = client.post(srv.url("/report")).form(&f).send().await.unwrap();
        assert_eq!(r.status(), 200);
        let page = r.text().await.unwrap();
        let id: i64 = page.split("id=\"tracking-number\">#").nth(1).unwrap().split('<').next().unwrap().parse().unwrap();
        let coordinator = srv.user(Role::Coordinator).await;
        let token = srv.token(&coordinator).await;
        let report: Value = reqwest::Client::new().get(srv.url(&format!("/api/v1/reports/{id}"))).bearer_auth(&token).send().await.unwrap().json().await.unwrap();
        let at = renkei_core::time::parse(report["occurred_at"].as_str().unwrap_or_else(|| panic!("{report}"))).unwrap();
        assert_eq!(at, renkei_core::time::parse("2024-01-14T22:22:00Z").unwrap(), "07:22 JST: {report}");
        let s = srv.signed_in(&coordinator).await;
        let page = s.client.get(srv.url(&format!("/reports/{id}"))).send().await.unwrap().text().await.unwrap();
        assert!(page.contains("2024-01-15 07:22 +09:00"), "shown in the team's zone");

        let mut f = fields(&csrf, "taro@shop.example.co.jp");
        f.push(("occurred_at", "last Tuesday night"));
        let r = client.post(srv.url("/report")).form(&f).send().await.unwrap();
        assert_eq!(r.status(), 422);
        let page = r.text().await.unwrap();
        assert!(page.contains("When it happened") && page.contains("last Tuesday night"), "the problem is named, the value kept");
        let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM reports").fetch_one(srv.store.pool()).await.unwrap();
        assert_eq!(n, 1, "nothing stored from the refused form");
    }

    async fn the_statistics_open_on_the_latest_quarter_with_data_and_say_when_a_period_is_empty(srv) {
        let coordinator = srv.user(Role::Coordinator).await;
        let s = srv.signed_in(&coordinator).await;
        let page = s.client.get(srv.url("/statistics")).send().await.unwrap().text().await.unwrap();
        assert!(page.contains("id=\"stats-empty\""), "nothing at all: said so");
        // A report from a past quarter: the page opens on that quarter.
        let now = srv.clock.now();
        srv.clock.set(chrono::DateTime::parse_from_rfc3339("2007-11-05T03:00:00Z").unwrap().with_timezone(&chrono::Utc));
        let client = srv.client();
        let csrf = form_page(&srv, &client).await;
        let r = client.post(srv.url("/report")).form(&fields(&csrf, "taro@shop.example.co.jp")).send().await.unwrap();
        assert_eq!(r.status(), 200);
        srv.clock.set(now);
        let page = s.client.get(srv.url("/statistics")).send().await.unwrap().text().await.unwrap();
        assert!(page.contains("value=\"2007-10-01\"") && page.contains("value=\"2008-01-01\""), "the 2007 Q4 period");
        assert!(page.contains("id=\"stats-reports\">1<") && !page.contains("id=\"stats-empty\""));
        // A chosen period without data says so.
        let page = s.client.get(srv.url("/statistics?from=2020-01-01&to=2020-04-01")).send().await.unwrap().text().await.unwrap();
        assert!(page.contains("id=\"stats-empty\""));
    }

    async fn a_form_with_a_mistake_comes_back_with_the_problem_and_the_values_kept(srv) {
        let client = srv.client();
        let csrf = form_page(&srv, &client).await;
        let r = client.post(srv.url("/report")).form(&fields(&csrf, "not-an-address")).send().await.unwrap();
        assert_eq!(r.status(), 422);
        let page = r.text().await.unwrap();
        assert!(page.contains("id=\"report-error\"") && page.contains("not-an-address"));
        assert!(page.contains("Example Shop KK"), "what was typed is kept");
        let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM reports").fetch_one(srv.store.pool()).await.unwrap();
        assert_eq!(n, 0);
    }

    async fn the_api_takes_form_fields_and_raw_documents_and_keeps_what_it_cannot_read(srv) {
        let constituent = srv.user(Role::Constituent).await;
        let token = srv.token(&constituent).await;
        let http = reqwest::Client::new();
        let r = http.post(srv.url("/api/v1/reports")).bearer_auth(&token)
            .json(&json!({"site_org": "Example Univ", "reporter_name": "CSIRT", "reporter_email": "csirt@example.ac.jp", "description": "phishing site hxxps://login-example[.]com/ imitating our webmail"}))
            .send().await.unwrap();
        assert_eq!(r.status(), 201);
        let out: Value = r.json().await.unwrap();
        assert_eq!(out["category"], "phishing");
        let xarf = include_bytes!("../../../formats/tests/data/xarf/connection-port-scan.json");
        let r = http.post(srv.url("/api/v1/reports/import?format=xarf")).bearer_auth(&token).body(xarf.to_vec()).send().await.unwrap();
        assert_eq!(r.status(), 201);
        let out: Value = r.json().await.unwrap();
        assert_eq!((out["status"].as_str(), out["category"].as_str()), (Some("processed"), Some("scan")));
        let hostile = b"<?xml version=\"1.0\"?><!DOCTYPE x [<!ENTITY e SYSTEM \"file:///etc/passwd\">]><IODEF-Document version=\"2.00\">&e;</IODEF-Document>".to_vec();
        let r = http.post(srv.url("/api/v1/reports/import?format=iodef")).bearer_auth(&token).body(hostile.clone()).send().await.unwrap();
        assert_eq!(r.status(), 201);
        let out: Value = r.json().await.unwrap();
        assert_eq!(out["status"], "needs_review");
        assert!(out["problem"].as_str().unwrap().contains("DOCTYPE"));
        let coordinator = srv.user(Role::Coordinator).await;
        let raw = http.get(srv.url(&format!("/api/v1/reports/{}/raw", out["report"]))).bearer_auth(srv.token(&coordinator).await).send().await.unwrap().bytes().await.unwrap();
        assert_eq!(raw.to_vec(), hostile, "kept byte for byte");
        let r = http.post(srv.url("/api/v1/reports/import?format=pdf")).bearer_auth(&token).body("x").send().await.unwrap();
        assert_eq!(r.status(), 422);
        let r = http.get(srv.url(&format!("/api/v1/reports/{}", out["report"]))).bearer_auth(&token).send().await.unwrap();
        assert_eq!(r.status(), 403, "constituents report but do not read the queue");
    }

    async fn coordinators_work_the_queue_by_api_and_by_bulk_form(srv) {
        let coordinator = srv.user(Role::Coordinator).await;
        let token = srv.token(&coordinator).await;
        let http = reqwest::Client::new();
        let submit = |desc: &'static str, logs: &'static str| {
            http.post(srv.url("/api/v1/reports")).bearer_auth(&token)
                .json(&json!({"site_org": "Org", "reporter_name": "R", "reporter_email": "r@example.com", "description": desc, "logs": logs}))
                .send()
        };
        let a: Value = submit("scan", SSH_LOG).await.unwrap().json().await.unwrap();
        let b: Value = submit("DDoS from 198.51.100.99 against our site", "").await.unwrap().json().await.unwrap();
        let scan: Value = http.get(srv.url("/api/v1/incidents?category=scan")).bearer_auth(&token).send().await.unwrap().json().await.unwrap();
        assert_eq!(scan.as_array().unwrap().len(), 2);
        let found: Value = http.get(srv.url("/api/v1/incidents?q=ddos")).bearer_auth(&token).send().await.unwrap().json().await.unwrap();
        assert_eq!(found.as_array().unwrap().len(), 1);
        let id = b["incidents"][0].as_i64().unwrap();
        let r = http.patch(srv.url(&format!("/api/v1/incidents/{id}"))).bearer_auth(&token)
            .json(&json!({"state": "coordinating", "owner_id": coordinator.id, "tlp": "TLP:RED"})).send().await.unwrap();
        assert_eq!(r.status(), 200);
        let i: Value = r.json().await.unwrap();
        assert_eq!((i["state"].as_str(), i["tlp"].as_str(), i["owner_id"].as_i64()), (Some("coordinating"), Some("TLP:RED"), Some(coordinator.id)));
        let r = http.patch(srv.url(&format!("/api/v1/incidents/{id}"))).bearer_auth(&token).json(&json!({"state": "exploded"})).send().await.unwrap();
        assert_eq!(r.status(), 422);

        let s = srv.signed_in(&coordinator).await;
        let ids: Vec<String> = a["incidents"].as_array().unwrap().iter().map(|v| v.to_string()).collect();
        let mut form: Vec<(&str, &str)> = vec![("_csrf", s.csrf.as_str()), ("state", "triaged")];
        for id in &ids {
            form.push(("ids", id));
        }
        let r = s.client.post(srv.url("/incidents/bulk/state")).form(&form).send().await.unwrap();
        assert_eq!(r.status(), 303);
        let triaged: Value = http.get(srv.url("/api/v1/incidents?state=triaged")).bearer_auth(&token).send().await.unwrap().json().await.unwrap();
        assert_eq!(triaged.as_array().unwrap().len(), 2);
        let r = s.client.post(srv.url("/incidents/bulk/state")).form(&[("_csrf", s.csrf.as_str()), ("state", "closed")]).send().await.unwrap();
        assert_eq!(r.status(), 422, "nothing selected");
        // Each button of the bulk bar posts to its own route.
        let owner = coordinator.id.to_string();
        let mut form: Vec<(&str, &str)> = vec![("_csrf", s.csrf.as_str()), ("owner", owner.as_str())];
        for id in &ids {
            form.push(("ids", id));
        }
        let r = s.client.post(srv.url("/incidents/bulk/assign")).form(&form).send().await.unwrap();
        assert_eq!(r.status(), 303);
        let mine: Value = http.get(srv.url(&format!("/api/v1/incidents?owner={}", coordinator.id))).bearer_auth(&token).send().await.unwrap().json().await.unwrap();
        let owned: Vec<String> = mine.as_array().unwrap().iter().map(|i| i["id"].to_string()).collect();
        assert!(ids.iter().all(|id| owned.contains(id)), "{ids:?} not all in {mine}");
        let r = s.client.post(srv.url("/incidents/bulk")).form(&form).send().await.unwrap();
        assert!(r.status().is_client_error(), "no route dispatches on an action's name: {}", r.status());
        let r = s.client.post(srv.url(&format!("/reports/{}/category", a["report"]))).form(&[("_csrf", s.csrf.as_str()), ("category", "intrusion")]).send().await.unwrap();
        assert_eq!(r.status(), 303);
        let rep: Value = http.get(srv.url(&format!("/api/v1/reports/{}", a["report"]))).bearer_auth(&token).send().await.unwrap().json().await.unwrap();
        assert_eq!((rep["category"].as_str(), rep["proposed_category"].as_str()), (Some("intrusion"), Some("scan")), "both are kept");

        let year = chrono::Datelike::year(&chrono::Utc::now());
        let years = format!("from={}-01-01&to={}-01-01", year - 4, year + 4);
        let stats: Value = http.get(srv.url(&format!("/api/v1/statistics/incidents?{years}"))).bearer_auth(&token).send().await.unwrap().json().await.unwrap();
        assert_eq!((stats["reports"].as_i64(), stats["incidents"].as_i64()), (Some(2), Some(3)));
        let r = http.get(srv.url("/api/v1/statistics/incidents?from=2020-01-01&to=2019-01-01")).bearer_auth(&token).send().await.unwrap();
        assert_eq!(r.status(), 422);
        // A period over ten years is refused, the limit named.
        let r = http.get(srv.url("/api/v1/statistics/incidents?from=2000-01-01&to=2100-01-01")).bearer_auth(&token).send().await.unwrap();
        assert_eq!(r.status(), 422);
        let e: Value = r.json().await.unwrap();
        assert!(e["error"]["message"].as_str().unwrap().contains("at most 10 years"), "{e}");
        let page = s.client.get(srv.url(&format!("/statistics?{years}"))).send().await.unwrap().text().await.unwrap();
        assert!(page.contains("id=\"stats-incidents\">3<"));
    }

    async fn the_search_box_finds_addresses_networks_reporters_and_japanese_words_by_index(srv) {
        let coordinator = srv.user(Role::Coordinator).await;
        let token = srv.token(&coordinator).await;
        let http = reqwest::Client::new();
        let submit = |email: &'static str, desc: &'static str, logs: &'static str| {
            http.post(srv.url("/api/v1/reports")).bearer_auth(&token)
                .json(&json!({"site_org": "Org", "reporter_name": "R", "reporter_email": email, "description": desc, "logs": logs}))
                .send()
        };
        submit("soc@shop.example.jp", "弊社サーバへの不正アクセスと攻撃を確認しました。", "Nov 20 10:00:01 host sshd[1]: Failed password for root from 203.0.113.5 port 40000 ssh2").await.unwrap();
        submit("noc@isp.example.com", "Brute force over SSH", "Nov 20 10:00:01 host sshd[1]: Failed password for root from 198.51.100.7 port 40000 ssh2\nNov 20 10:00:02 host sshd[1]: Failed password for root from 2001:db8::9 port 40001 ssh2").await.unwrap();
        let found = |q: &str| {
            let url = srv.url(&format!("/api/v1/incidents?q={}", urlencode(q)));
            let http = http.clone();
            let token = token.clone();
            async move {
                let r = http.get(url).bearer_auth(&token).send().await.unwrap();
                let status = r.status().as_u16();
                let v: Value = r.json().await.unwrap();
                let ips: Vec<String> = v.as_array().map(|a| a.iter().filter_map(|i| i["source_ip"].as_str().map(str::to_string)).collect()).unwrap_or_default();
                (status, ips, v)
            }
        };
        assert_eq!(found("203.0.113.5").await.1, vec!["203.0.113.5"]);
        assert_eq!(found("ip:203.0.113.0/24").await.1, vec!["203.0.113.5"]);
        assert_eq!(found("ip:198.51.100.0-198.51.100.10").await.1, vec!["198.51.100.7"]);
        assert_eq!(found("2001:db8::/32").await.1, vec!["2001:db8::9"]);
        assert!(found("ip:192.0.2.0/24").await.1.is_empty());
        // Two Japanese characters, a longer phrase, an English word, a reporter.
        assert_eq!(found("攻撃").await.1, vec!["203.0.113.5"]);
        assert_eq!(found("\"不正アクセス\"").await.1, vec!["203.0.113.5"]);
        let mut brute = found("brute").await.1;
        brute.sort();
        assert_eq!(brute, vec!["198.51.100.7", "2001:db8::9"]);
        assert_eq!(found("email:soc@shop.example.jp").await.1, vec!["203.0.113.5"]);
        assert_eq!(found("brute ip:2001:db8::/32").await.1, vec!["2001:db8::9"], "parts narrow together");
        // Bad input names the token; a search for everything is refused.
        for q in ["ip:203.0.113.0/33", "asn:sixty", "%", "colour:red"] {
            let (status, _, e) = found(q).await;
            assert_eq!(status, 422, "{q}: {e}");
            assert!(e["error"]["message"].as_str().unwrap_or("").contains(q), "{q}: {e}");
        }
        // Rows from before search keys existed are found once the clock worker's
        // backfill has keyed them.
        for sql in ["UPDATE incidents SET ip_key = NULL, host_key = NULL, keyed = 0", "UPDATE reports SET searchable = 0", "DELETE FROM report_search"] {
            sqlx::query(sql).execute(srv.store.pool()).await.unwrap();
        }
        assert!(found("203.0.113.5").await.1.is_empty() && found("攻撃").await.1.is_empty());
        assert!(renkei_incident::search::backfill(&srv.store, 100).await.unwrap() >= 5);
        assert_eq!(renkei_incident::search::backfill(&srv.store, 100).await.unwrap(), 0, "each row once");
        assert_eq!(found("203.0.113.5").await.1, vec!["203.0.113.5"]);
        assert_eq!(found("攻撃").await.1, vec!["203.0.113.5"]);
        // The page says it beside the box and lists nothing.
        let s = srv.signed_in(&coordinator).await;
        let page = s.client.get(srv.url("/incidents?q=ip%3A203.0.113.0%2F33")).send().await.unwrap().text().await.unwrap();
        assert!(page.contains("id=\"search-error\"") && page.contains("search-help"), "{page}");
    }
}

fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_public_form_is_rate_limited_per_client_address() {
    let srv = TestServer::start_with(Backend::Sqlite, |c| c.intake.form_reports_per_hour = 2).await;
    let client = srv.client();
    let csrf = form_page(&srv, &client).await;
    for expected in [200, 200, 429] {
        let r = client
            .post(srv.url("/report"))
            .form(&fields(&csrf, "a@example.org"))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), expected);
    }
    let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM reports")
        .fetch_one(srv.store.pool())
        .await
        .unwrap();
    assert_eq!(n, 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mail_to_the_smtp_intake_becomes_a_report_and_replies_join_its_thread() {
    let srv = TestServer::start_with(Backend::Sqlite, |c| {
        c.intake.smtp.listen = "127.0.0.1:0".into();
        c.intake.smtp.addresses = vec!["incident@csirt.example".into()];
    })
    .await;
    let smtp = srv.smtp.clone().expect("the SMTP intake runs");
    let reply = renkei_testkit::relay::send_mail(&smtp, "incident@csirt.example", "From: reporter@example.jp\r\nSubject: =?UTF-8?B?44K544Kt44Oj44Oz44Gu5aCx5ZGK?=\r\nMessage-ID: <s1@example.jp>\r\n\r\n攻撃元: 203.0.113.50 ポート 23 へのスキャン").await;
    assert!(
        reply.starts_with("250") && reply.contains("report #"),
        "{reply}"
    );
    let id: i64 = reply
        .split("report #")
        .nth(1)
        .unwrap()
        .trim()
        .split(|c: char| !c.is_ascii_digit())
        .next()
        .unwrap()
        .parse()
        .unwrap();
    let report = renkei_incident::incidents::report(&srv.store, id)
        .await
        .unwrap();
    assert_eq!(report.channel, "mail");
    assert_eq!(report.subject.as_deref(), Some("スキャンの報告"));
    assert_eq!(report.proposed_category.as_deref(), Some("scan"));
    assert_eq!(report.incidents.len(), 1);
    let reply = renkei_testkit::relay::send_mail(
        &smtp,
        "incident@csirt.example",
        &format!(
            "From: reporter@example.jp\r\nSubject: Re: [RENKEI#{id}] update\r\n\r\nStill going on."
        ),
    )
    .await;
    assert!(reply.contains(&format!("joined #{id}")), "{reply}");
    assert_eq!(
        renkei_incident::incidents::thread(&srv.store, id)
            .await
            .unwrap()
            .len(),
        1
    );
    let refused = renkei_testkit::relay::send_mail(&smtp, "postmaster@csirt.example", "x").await;
    assert!(refused.starts_with("550"), "{refused}");
}

type Relayed = std::sync::Arc<std::sync::Mutex<Vec<(renkei_mail::Envelope, Vec<u8>)>>>;

/// A real SMTP server on loopback standing in for the site's relay.
async fn relay(accept: &[&str]) -> (String, Relayed) {
    let got: Relayed = Default::default();
    let store = got.clone();
    let sink: renkei_mail::Sink = std::sync::Arc::new(move |env, data| {
        let store = store.clone();
        Box::pin(async move {
            store.lock().unwrap().push((env, data));
            Ok("relay".to_string())
        })
    });
    let server = renkei_mail::SmtpServer::build(
        renkei_mail::SmtpConfig {
            hostname: "relay.test".into(),
            addresses: accept.iter().map(|a| a.to_string()).collect(),
            max_message_bytes: 1 << 20,
            idle_timeout: std::time::Duration::from_secs(10),
            grace: std::time::Duration::from_secs(1),
        },
        sink,
    );
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap().to_string();
    tokio::spawn(server.run(l, std::future::pending::<()>()));
    (addr, got)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reporters_get_a_confirmation_mail_with_the_tracking_number_through_the_relay() {
    let (relay_addr, relayed) = relay(&["taro@shop.example.co.jp"]).await;
    let srv = TestServer::start_with(Backend::Sqlite, |c| {
        c.mail.from = "Example CSIRT <csirt@example.org>".into();
        c.mail.relay = format!("smtp://{relay_addr}");
        // The server's own outbox worker sends it.
        c.mail.poll_secs = 1;
    })
    .await;
    let client = srv.client();
    let csrf = form_page(&srv, &client).await;
    let page = client
        .post(srv.url("/report"))
        .form(&fields(&csrf, "taro@shop.example.co.jp"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let tracking: i64 = page
        .split("id=\"tracking-number\">#")
        .nth(1)
        .unwrap()
        .split('<')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    let queued = renkei_mail::outbox::for_object(&srv.store, "report", &tracking.to_string())
        .await
        .unwrap();
    assert_eq!(queued.len(), 1, "one confirmation is queued");
    let waited = std::time::Instant::now();
    while relayed.lock().unwrap().is_empty() {
        assert!(
            waited.elapsed() < std::time::Duration::from_secs(30),
            "the server's outbox worker sent nothing"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let got = relayed.lock().unwrap().clone();
    assert_eq!(got.len(), 1);
    let (envelope, data) = &got[0];
    assert_eq!(envelope.rcpt_to, vec!["taro@shop.example.co.jp"]);
    assert_eq!(envelope.mail_from, "csirt@example.org");
    let parsed = renkei_formats::mime::parse(data, 1 << 20).unwrap();
    assert!(
        parsed
            .subject
            .unwrap()
            .contains(&format!("[RENKEI#{tracking}]"))
    );
    assert!(parsed.text.contains(&format!("#{tracking}")) && parsed.text.contains("受付番号"));
    assert!(String::from_utf8_lossy(data).contains("Auto-Submitted: auto-replied"));
    // The worker marks it sent once the relay has answered.
    loop {
        let status = renkei_mail::outbox::for_object(&srv.store, "report", &tracking.to_string())
            .await
            .unwrap()[0]
            .status
            .clone();
        if status == "sent" {
            break;
        }
        assert!(
            waited.elapsed() < std::time::Duration::from_secs(30),
            "still {status}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    // Two more of the worker's passes go by: nothing goes out again.
    tokio::time::sleep(std::time::Duration::from_millis(2500)).await;
    assert_eq!(relayed.lock().unwrap().len(), 1, "sent once only");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_relay_that_is_down_delays_mail_and_machines_get_no_auto_reply() {
    let srv = TestServer::start_with(Backend::Sqlite, |c| {
        c.mail.from = "csirt@example.org".into();
        c.mail.relay = "smtp://127.0.0.1:9".into();
    })
    .await;
    let coordinator = srv.user(Role::Coordinator).await;
    let token = srv.token(&coordinator).await;
    let http = reqwest::Client::new();
    let import = |mail: &'static str| {
        http.post(srv.url("/api/v1/reports/import?format=mail"))
            .bearer_auth(&token)
            .body(mail)
            .send()
    };
    let person: Value = import("From: hanako@example.jp\r\nSubject: scan\r\nMessage-ID: <p1@example.jp>\r\n\r\nscan from 198.51.100.5 port 22\r\n").await.unwrap().json().await.unwrap();
    let robot: Value = import("From: alerts@ids.example.jp\r\nAuto-Submitted: auto-generated\r\nSubject: alert\r\n\r\nscan from 198.51.100.6 port 22\r\n").await.unwrap().json().await.unwrap();
    let daemon: Value =
        import("From: MAILER-DAEMON@mx.example.jp\r\nSubject: Undelivered\r\n\r\nbounce\r\n")
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
    for quiet in [&robot, &daemon] {
        assert!(
            renkei_mail::outbox::for_object(&srv.store, "report", &quiet["report"].to_string())
                .await
                .unwrap()
                .is_empty()
        );
    }
    let mut config = renkei_core::config::Config::default();
    config.mail.relay = "smtp://127.0.0.1:9".into();
    let worker = renkei_mail::OutboxWorker::build(srv.store.clone(), &config.mail);
    assert_eq!(worker.send_due().await.unwrap(), 0);
    let q = renkei_mail::outbox::for_object(&srv.store, "report", &person["report"].to_string())
        .await
        .unwrap();
    assert_eq!(
        (q[0].status.as_str(), q[0].attempts),
        ("queued", 1),
        "kept for a later try"
    );
    assert!(q[0].last_error.is_some());
    assert_eq!(worker.send_due().await.unwrap(), 0);
    let q = renkei_mail::outbox::for_object(&srv.store, "report", &person["report"].to_string())
        .await
        .unwrap();
    assert_eq!(
        q[0].attempts, 1,
        "not retried before its backoff has passed"
    );
}
