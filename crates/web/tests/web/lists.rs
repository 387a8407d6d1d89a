//! Mailing lists through a real SMTP relay (aiosmtpd on loopback), on SQLite and
//! PostgreSQL: double opt-in, one subscription per address, a signed alert to
//! every reader in the reader's language, RFC 8058 one-click unsubscribe, and the
//! TLP rule that keeps restricted alerts off lists.

use crate::common;

use common::Api;
use renkei_core::access::Role;
use renkei_testkit::relay::{Kept, Relay, signed_content};
use renkei_testkit::{Backend, TestServer};
use serde_json::json;

const TEAM: &str = "Renkei CSIRT <csirt@renkei.example>";

fn text(k: &Kept) -> String {
    String::from_utf8_lossy(&k.data).into_owned()
}

fn header<'a>(msg: &'a str, name: &str) -> Option<&'a str> {
    msg.split("\r\n\r\n")
        .next()
        .unwrap_or("")
        .lines()
        .find_map(|l| {
            l.split_once(':')
                .filter(|(n, _)| n.eq_ignore_ascii_case(name))
                .map(|(_, v)| v.trim())
        })
}

async fn outbox(srv: &TestServer, relay: &Relay) {
    let config = renkei_core::config::MailConfig {
        relay: relay.url(),
        ..Default::default()
    };
    renkei_mail::OutboxWorker::build(srv.store.clone(), &config)
        .send_due()
        .await
        .unwrap();
}

async fn publish_alert(
    api: &Api<'_>,
    author: &str,
    reviewer: &str,
    tlp: &str,
    en: &str,
    ja: &str,
) -> String {
    let (_, a) = api.post(Some(author), "/api/v1/alerts", json!({
        "category": "vulnerability", "tlp": tlp, "title_en": en, "body_en": "Update **now**.", "title_ja": ja, "body_ja": "直ちに更新してください。",
    })).await;
    let number = a["number"].as_str().unwrap().to_string();
    if tlp != "TLP:CLEAR" {
        // Early warning is addressed to an organization before it is published.
        let org = api
            .srv
            .org("Grid Operator", renkei_core::orgs::OrgKind::Constituent)
            .await;
        renkei_core::orgs::add_contact(
            &api.srv.store,
            &renkei_core::audit::Actor::system("test"),
            org,
            renkei_core::orgs::NewContact {
                name: "SOC".into(),
                email: "soc@grid.example".into(),
                phone: None,
                pgp_key: None,
                lang: renkei_core::lang::Lang::En,
                role: None,
            },
        )
        .await
        .unwrap();
        let path = format!("/api/v1/alerts/{number}/recipients");
        assert_eq!(
            api.post(Some(author), &path, json!({"org_id": org}))
                .await
                .0,
            201
        );
    }
    api.post(
        Some(author),
        &format!("/api/v1/alerts/{number}/submit"),
        json!({}),
    )
    .await;
    assert_eq!(
        api.post(
            Some(reviewer),
            &format!("/api/v1/alerts/{number}/publish"),
            json!({})
        )
        .await
        .0,
        200
    );
    number
}

async fn subscribers(api: &Api<'_>, staff: &str) -> i64 {
    let (_, v) = api.get(Some(staff), "/api/v1/lists").await;
    v["lists"]
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["slug"] == "alerts")
        .unwrap()["subscribers"]
        .as_i64()
        .unwrap()
}

async fn lists_end_to_end(backend: Backend) {
    let Some(relay) = Relay::start() else { return };
    let (team_secret, team_public) = renkei_mail::pgp::generate(TEAM).unwrap();
    let key_dir = tempfile::tempdir().unwrap();
    let key_file = key_dir.path().join("team.asc");
    std::fs::write(&key_file, &team_secret).unwrap();
    let srv = TestServer::start_with(backend, |c| {
        c.mail.from = TEAM.into();
        c.mail.relay = relay.url();
        c.mail.signing_key_file = key_file.display().to_string();
        c.intake.smtp.listen = "127.0.0.1:0".into();
        c.intake.smtp.addresses = vec!["csirt@renkei.example".into()];
    })
    .await;
    let api = Api {
        srv: &srv,
        http: srv.client(),
    };
    let author = srv.token(&srv.user(Role::Coordinator).await).await;
    let reviewer = srv.token(&srv.user(Role::Coordinator).await).await;

    // Bad input: a bad address, an unknown list, an unknown language.
    let (status, e) = api
        .post(
            None,
            "/api/v1/lists/alerts/subscribe",
            json!({"email": "not an address"}),
        )
        .await;
    assert_eq!(
        (status, e["error"]["code"].as_str()),
        (422, Some("invalid_input")),
        "{e}"
    );
    assert_eq!(
        api.post(
            None,
            "/api/v1/lists/alerts/subscribe",
            json!({"email": "x@example.org\r\nBcc: y@example.org"})
        )
        .await
        .0,
        422
    );
    assert_eq!(
        api.post(
            None,
            "/api/v1/lists/nope/subscribe",
            json!({"email": "a@example.org"})
        )
        .await
        .0,
        404
    );
    assert_eq!(
        api.post(
            None,
            "/api/v1/lists/alerts/subscribe",
            json!({"email": "a@example.org", "lang": "fr"})
        )
        .await
        .0,
        422
    );

    // Two readers; the first asks twice, in another case: one subscription.
    for (email, lang) in [
        ("reader1@example.org", "en"),
        ("reader2@example.jp", "ja"),
        ("Reader1@Example.org", "en"),
    ] {
        let (status, v) = api
            .post(
                None,
                "/api/v1/lists/alerts/subscribe",
                json!({"email": email, "lang": lang}),
            )
            .await;
        assert_eq!(status, 202, "{v}");
    }
    let rows: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM subscribers")
        .fetch_one(srv.store.pool())
        .await
        .unwrap();
    assert_eq!(rows, 1 + 1);
    assert_eq!(
        subscribers(&api, &author).await,
        0,
        "nobody is subscribed before confirming"
    );

    // The confirmation links, by mail; the last one sent to each address counts.
    outbox(&srv, &relay).await;
    let mut links = std::collections::HashMap::new();
    for m in relay.messages() {
        // Japanese text travels encoded: read the body as a mail program would.
        let parsed = mail_parser::MessageParser::default()
            .parse(&m.data)
            .unwrap();
        let t: String = parsed
            .text_bodies()
            .map(|p| String::from_utf8_lossy(p.contents()).into_owned())
            .collect();
        if let Some(at) = t.find("/lists/confirm/") {
            let token: String = t[at + "/lists/confirm/".len()..]
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_' || *c == '-')
                .collect();
            links.insert(m.rcpt_to[0].to_ascii_lowercase(), token);
        }
    }
    assert_eq!(links.len(), 2, "{links:?}");
    for token in links.values() {
        // Following the link shows a button; only pressing it subscribes.
        let page = srv
            .client()
            .get(srv.url(&format!("/lists/confirm/{token}")))
            .send()
            .await
            .unwrap();
        assert_eq!(page.status(), 200);
        let r = reqwest::Client::new()
            .post(srv.url(&format!("/lists/confirm/{token}")))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
    }
    assert_eq!(subscribers(&api, &author).await, 2);
    assert_eq!(
        reqwest::Client::new()
            .post(srv.url("/lists/confirm/sub_forged"))
            .send()
            .await
            .unwrap()
            .status(),
        404
    );

    // A TLP:CLEAR alert goes to the list; a restricted one never does.
    let number = publish_alert(
        &api,
        &author,
        &reviewer,
        "TLP:CLEAR",
        "Foo under attack",
        "Foo への攻撃",
    )
    .await;
    let amber = publish_alert(
        &api,
        &author,
        &reviewer,
        "TLP:AMBER",
        "Power grid indicators",
        "電力の指標",
    )
    .await;
    let (status, e) = api
        .post(
            Some(&author),
            "/api/v1/lists/alerts/sends",
            json!({"alert": amber}),
        )
        .await;
    assert_eq!(
        (status, e["error"]["code"].as_str()),
        (409, Some("conflict")),
        "{e}"
    );
    // The send page offers the published alerts to pick, not a number to type.
    let signed = srv.signed_in(&srv.user(Role::Coordinator).await).await;
    let page = signed
        .client
        .get(srv.url("/lists/sends"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        page.contains(&format!("<option value=\"{number}\">")),
        "the published alert is in the picker"
    );
    let (status, send) = api
        .post(
            Some(&author),
            "/api/v1/lists/alerts/sends",
            json!({"alert": number}),
        )
        .await;
    assert_eq!(status, 202, "{send}");
    assert_eq!(send["total"], 2);
    assert_eq!(
        api.post(
            Some(&author),
            "/api/v1/lists/alerts/sends",
            json!({"alert": number})
        )
        .await
        .0,
        409,
        "once per revision"
    );
    assert_eq!(
        api.post(None, "/api/v1/lists/alerts/sends", json!({"alert": number}))
            .await
            .0,
        401
    );

    let before = relay.messages().len();
    assert_eq!(srv.deliver_lists().await, 2);
    let (_, p) = api
        .get(
            Some(&author),
            &format!("/api/v1/lists/sends/{}", send["id"]),
        )
        .await;
    assert_eq!(
        (p["sent"].as_i64(), p["done"].as_bool()),
        (Some(2), Some(true)),
        "{p}"
    );
    let sent: Vec<Kept> = relay.messages().into_iter().skip(before).collect();
    assert_eq!(sent.len(), 2);
    let mut unsubscribe = String::new();
    let mut ids = std::collections::HashSet::new();
    for m in &sent {
        let t = text(m);
        let parsed = mail_parser::MessageParser::default()
            .parse(&m.data)
            .unwrap();
        let subject = parsed.subject().unwrap().to_string();
        if m.rcpt_to[0] == "reader1@example.org" {
            assert!(subject.contains("Foo under attack"), "{subject}");
            unsubscribe = header(&t, "List-Unsubscribe")
                .unwrap()
                .trim_matches(['<', '>'])
                .to_string();
        } else {
            assert!(subject.contains("Foo への攻撃"), "{subject}");
        }
        assert_eq!(
            header(&t, "List-Unsubscribe-Post"),
            Some("List-Unsubscribe=One-Click")
        );
        assert!(header(&t, "List-Id").unwrap().contains("alerts."), "{t}");
        assert!(ids.insert(header(&t, "Message-ID").unwrap().to_string()));
        // PGP/MIME, signed by the team's key.
        let (signed, signature) = signed_content(&m.data);
        renkei_mail::pgp::verify_detached(&team_public, &signed, &signature)
            .expect("the team's signature verifies");
    }

    // One click (RFC 8058): the provider POSTs without cookies.
    assert!(
        unsubscribe.starts_with(&srv.url("/lists/unsubscribe/")),
        "{unsubscribe}"
    );
    let r = reqwest::Client::new()
        .post(&unsubscribe)
        .header("content-type", "application/x-www-form-urlencoded")
        .body("List-Unsubscribe=One-Click")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(subscribers(&api, &author).await, 1);

    // The next alert reaches the one reader left.
    let next = publish_alert(&api, &author, &reviewer, "TLP:CLEAR", "Bar too", "Bar も").await;
    let (_, send) = api
        .post(
            Some(&author),
            "/api/v1/lists/alerts/sends",
            json!({"alert": next}),
        )
        .await;
    assert_eq!(send["total"], 1);
    srv.deliver_lists().await;
    let last = relay.messages().into_iter().last().unwrap();
    assert_eq!(last.rcpt_to, vec!["reader2@example.jp".to_string()]);

    // Bounces that come back later as mail (RFC 3464), through the SMTP intake:
    // each delivery counts once, a bounce naming someone else counts for nothing,
    // and the third bounce ends the subscription.
    let smtp = srv.smtp.clone().expect("the SMTP intake runs");
    let bounce_of = |m: &Kept, rcpt: &str| {
        let mid = header(&text(m), "Message-ID").unwrap().to_string();
        format!(
            "From: MAILER-DAEMON@mx.example.jp\r\nTo: csirt@renkei.example\r\nSubject: Undelivered Mail\r\nMessage-ID: <b.{}@mx.example.jp>\r\nMIME-Version: 1.0\r\nContent-Type: multipart/report; report-type=delivery-status; boundary=\"B\"\r\n\r\n--B\r\nContent-Type: text/plain\r\n\r\nundeliverable\r\n--B\r\nContent-Type: message/delivery-status\r\n\r\nReporting-MTA: dns; mx.example.jp\r\n\r\nFinal-Recipient: rfc822; {rcpt}\r\nAction: failed\r\nStatus: 5.2.1\r\nDiagnostic-Code: smtp; 550 5.2.1 mailbox disabled\r\n\r\n--B\r\nContent-Type: text/rfc822-headers\r\n\r\nMessage-ID: {mid}\r\n--B--",
            rcpt.len() + mid.len(),
        )
    };
    let bounces = || async {
        sqlx::query_scalar::<_, i64>(
            "SELECT bounces FROM subscribers WHERE email = 'reader2@example.jp'",
        )
        .fetch_one(srv.store.pool())
        .await
        .unwrap()
    };
    let forged = bounce_of(&last, "someone@example.jp");
    assert!(
        renkei_testkit::relay::send_mail(&smtp, "csirt@renkei.example", &forged)
            .await
            .starts_with("250")
    );
    assert_eq!(
        bounces().await,
        0,
        "a bounce for another address counts for nothing"
    );
    for _ in 0..2 {
        let reply = renkei_testkit::relay::send_mail(
            &smtp,
            "csirt@renkei.example",
            &bounce_of(&last, "reader2@example.jp"),
        )
        .await;
        assert!(reply.starts_with("250"), "{reply}");
    }
    assert_eq!(bounces().await, 1, "one delivery, one bounce");
    for title in ["Baz", "Qux"] {
        let n = publish_alert(&api, &author, &reviewer, "TLP:CLEAR", title, title).await;
        api.post(
            Some(&author),
            "/api/v1/lists/alerts/sends",
            json!({"alert": n}),
        )
        .await;
        srv.deliver_lists().await;
        let m = relay.messages().into_iter().last().unwrap();
        renkei_testkit::relay::send_mail(
            &smtp,
            "csirt@renkei.example",
            &bounce_of(&m, "reader2@example.jp"),
        )
        .await;
    }
    assert_eq!(bounces().await, 3);
    assert_eq!(
        subscribers(&api, &author).await,
        0,
        "three bounces remove the address"
    );

    let actions = srv.audit_actions().await;
    for a in [
        "list.subscribe",
        "list.send",
        "list.unsubscribe",
        "list.bounce",
    ] {
        assert!(actions.iter().any(|x| x == a), "{a}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readers_opt_in_twice_get_signed_alerts_in_their_language_and_leave_with_one_click() {
    lists_end_to_end(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readers_opt_in_twice_get_signed_alerts_in_their_language_and_leave_with_one_click_on_postgres()
 {
    if renkei_testkit::postgres_configured() {
        lists_end_to_end(Backend::Postgres).await;
    }
}
