//! Enrichment and notifications end to end: tables loaded, incidents enriched when
//! created, notifications grouped per recipient, signed and encrypted, sent through a
//! real SMTP relay (aiosmtpd) on loopback, then the replies and bounces that come back.

use renkei_core::audit::Actor;
use renkei_core::tlp::Tlp;
use renkei_enrich::{Format, Kind, sources};
use renkei_incident::reports::{self, Channel, InputFormat, Settings, Status};
use renkei_testkit::relay::{Relay, signed_content};
use renkei_testkit::{Backend, TestServer};
use serde_json::{Value, json};

const TEAM: &str = "Example CSIRT <csirt@csirt.example>";

struct Keys {
    team_secret: String,
    team_public: String,
    isp_secret: String,
    isp_public: String,
}

fn keys() -> Keys {
    let (team_secret, team_public) = renkei_mail::pgp::generate(TEAM).unwrap();
    let (isp_secret, isp_public) =
        renkei_mail::pgp::generate("ISP A abuse <abuse@isp-a.example>").unwrap();
    Keys {
        team_secret,
        team_public,
        isp_secret,
        isp_public,
    }
}

/// Small tables: ISP A (JP) holds 203.0.113.0/24 and has a key on file; 198.51.100.0/24
/// is in the US, where a national CSIRT is known.
async fn load_tables(srv: &TestServer, isp_public: &str) {
    let actor = Actor::system("test");
    let files = |name: &str, text: String| vec![(name.to_string(), text.into_bytes())];
    sources::load(&srv.store, &actor, Kind::Asn, Format::IpLocationDb, &files("asn.csv",
        "203.0.113.0,203.0.113.255,64500,ISP A Networks\n198.51.100.0,198.51.100.255,64511,\"Far Away, Inc.\"\n".into())).await.unwrap();
    sources::load(
        &srv.store,
        &actor,
        Kind::Country,
        Format::IpLocationDb,
        &files(
            "country.csv",
            "203.0.113.0,203.0.113.255,JP\n198.51.100.0,198.51.100.255,US\n".into(),
        ),
    )
    .await
    .unwrap();
    let mut directory = csv_line(&["network", "email", "lang", "pgp_key", "name"]);
    directory.push_str(&csv_line(&[
        "203.0.113.0/24",
        "abuse@isp-a.example",
        "ja",
        isp_public,
        "ISP A abuse",
    ]));
    directory.push_str(&csv_line(&[
        "AS64511",
        "abuse@far-away.example",
        "en",
        "",
        "",
    ]));
    sources::load(
        &srv.store,
        &actor,
        Kind::Contacts,
        Format::Csv,
        &files("contacts.csv", directory),
    )
    .await
    .unwrap();
    sources::load(
        &srv.store,
        &actor,
        Kind::Csirts,
        Format::Csv,
        &files(
            "csirts.csv",
            "country,name,email,lang\nUS,US-CERT,cert@us-csirt.example,en\n".into(),
        ),
    )
    .await
    .unwrap();
    assert!(srv.enricher.refresh(&srv.store).await.unwrap());
}

fn csv_line(fields: &[&str]) -> String {
    let quoted: Vec<String> = fields
        .iter()
        .map(|f| format!("\"{}\"", f.replace('"', "\"\"")))
        .collect();
    quoted.join(",") + "\n"
}

async fn report_with_three_sources(srv: &TestServer) -> Vec<i64> {
    let mail = "From: Taro <taro@victim.example.jp>\r\nTo: report@csirt.example\r\nSubject: ssh brute force\r\nMessage-ID: <r1@victim.example.jp>\r\n\r\n\
Our server was attacked:\r\n\
Nov 20 10:00:01 host sshd[1]: Failed password for root from 203.0.113.10 port 40000 ssh2\r\n\
Nov 20 10:00:02 host sshd[1]: Failed password for root from 203.0.113.20 port 40001 ssh2\r\n\
Nov 20 10:00:03 host sshd[1]: Failed password for root from 198.51.100.7 port 40002 ssh2\r\n";
    let outcome = ingest(srv, mail.as_bytes()).await;
    assert_eq!(outcome.incidents.len(), 3, "{outcome:?}");
    // In address order: ISP A's two, then the one abroad.
    let mut by_ip = Vec::new();
    for id in outcome.incidents {
        let i = renkei_incident::incidents::get(&srv.store, id)
            .await
            .unwrap();
        by_ip.push((i.source_ip.unwrap(), id));
    }
    by_ip.sort_by(|a, b| {
        b.0.starts_with("203.")
            .cmp(&a.0.starts_with("203."))
            .then(a.0.cmp(&b.0))
    });
    assert_eq!(by_ip[0].0, "203.0.113.10");
    by_ip.into_iter().map(|(_, id)| id).collect()
}

async fn ingest(srv: &TestServer, raw: &[u8]) -> reports::Outcome {
    let settings = Settings {
        enricher: Some(srv.enricher.clone()),
        ..Settings::default()
    };
    reports::ingest(
        &srv.store,
        &settings,
        &Actor::system("test"),
        Channel::Mail,
        InputFormat::Mail,
        raw,
        Tlp::Amber,
        None,
    )
    .await
    .unwrap()
}

fn relay_config(relay: String) -> renkei_core::config::MailConfig {
    renkei_core::config::MailConfig {
        relay,
        ..Default::default()
    }
}

fn armored_message(raw: &[u8]) -> String {
    let m = mail_parser::MessageParser::default().parse(raw).unwrap();
    m.parts
        .iter()
        .map(|p| String::from_utf8_lossy(p.contents()).into_owned())
        .find(|t| t.contains("-----BEGIN PGP MESSAGE-----"))
        .expect("an encrypted part")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn notifications_go_out_grouped_per_recipient_signed_and_encrypted_through_a_real_relay() {
    notify_end_to_end(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn notifications_go_out_grouped_per_recipient_signed_and_encrypted_on_postgres_too() {
    if renkei_testkit::postgres_configured() {
        notify_end_to_end(Backend::Postgres).await;
    }
}

async fn notify_end_to_end(backend: Backend) {
    let Some(relay) = Relay::start() else { return };
    let k = keys();
    let key_dir = tempfile::tempdir().unwrap();
    let key_file = key_dir.path().join("team.asc");
    std::fs::write(&key_file, &k.team_secret).unwrap();
    let srv = TestServer::start_with(backend, |c| {
        c.mail.from = TEAM.into();
        c.mail.relay = relay.url();
        c.mail.signing_key_file = key_file.display().to_string();
        c.enrich.home_country = "JP".into();
    })
    .await;
    load_tables(&srv, &k.isp_public).await;
    let ids = report_with_three_sources(&srv).await;

    // Enriched at creation, and the values are kept with the incident.
    let client = srv.client();
    let coordinator = srv.user(renkei_core::access::Role::Coordinator).await;
    let token = srv.token(&coordinator).await;
    let first: Value = client
        .get(srv.url(&format!("/api/v1/incidents/{}", ids[0])))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(first["enrichment"]["asn"], 64500);
    assert_eq!(first["enrichment"]["country"], "JP");
    assert_eq!(
        first["enrichment"]["abuse"][0]["email"],
        "abuse@isp-a.example"
    );

    let preview: Value = client
        .post(srv.url("/api/v1/notifications/preview"))
        .bearer_auth(&token)
        .json(&json!({"incidents": ids}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let mails = preview["mails"].as_array().unwrap();
    assert_eq!(mails.len(), 2, "one mail per recipient: {preview}");
    let isp = mails
        .iter()
        .find(|m| m["recipient"]["email"] == "abuse@isp-a.example")
        .unwrap();
    assert_eq!(
        isp["items"].as_array().unwrap().len(),
        2,
        "both ISP A addresses in one mail"
    );
    assert_eq!(isp["recipient"]["lang"], "ja");
    assert_eq!(isp["encrypted"], true);
    assert_eq!(isp["signed"], true);
    // Abroad (US, home is JP): the national CSIRT, not the abuse contact.
    let csirt = mails
        .iter()
        .find(|m| m["recipient"]["email"] == "cert@us-csirt.example")
        .unwrap();
    assert_eq!(csirt["recipient"]["kind"], "csirt");
    assert!(csirt["attachments"].to_string().contains(".iodef.xml"));
    assert!(
        renkei_mail::outbox::for_object(&srv.store, "notification", "1")
            .await
            .unwrap()
            .is_empty(),
        "a preview sends nothing"
    );

    let response = client
        .post(srv.url("/api/v1/notifications"))
        .bearer_auth(&token)
        .json(&json!({"incidents": ids}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201);
    let sent: Value = response.json().await.unwrap();
    assert_eq!(sent["sent"].as_array().unwrap().len(), 2);

    let worker = renkei_mail::OutboxWorker::build(srv.store.clone(), &relay_config(relay.url()));
    assert_eq!(worker.send_due().await.unwrap(), 2);
    assert_eq!(worker.send_due().await.unwrap(), 0, "each goes out once");
    let got = relay.messages();
    assert_eq!(got.len(), 2);

    // ISP A's mail: encrypted to its key; inside, signed by the team.
    let to_isp = got
        .iter()
        .find(|m| m.rcpt_to == ["abuse@isp-a.example"])
        .expect("ISP A's mail");
    assert_eq!(to_isp.mail_from, "csirt@csirt.example");
    let outer = String::from_utf8_lossy(&to_isp.data);
    assert!(outer.contains("multipart/encrypted"));
    assert!(!outer.contains("203.0.113.10"), "no address in clear text");
    let inner =
        renkei_mail::pgp::decrypt(&k.isp_secret, "", &armored_message(&to_isp.data)).unwrap();
    let (content, signature) = signed_content(&inner);
    renkei_mail::pgp::verify_detached(&k.team_public, &content, &signature)
        .expect("the team's signature verifies");
    let mut tampered = content.clone();
    tampered[10] ^= 1;
    assert!(renkei_mail::pgp::verify_detached(&k.team_public, &tampered, &signature).is_err());
    let parsed = mail_parser::MessageParser::default().parse(&inner).unwrap();
    let text: String = parsed
        .parts
        .iter()
        .map(|p| String::from_utf8_lossy(p.contents()).into_owned())
        .collect();
    assert!(
        text.contains("203.0.113.10")
            && text.contains("203.0.113.20")
            && !text.contains("198.51.100.7")
    );
    assert!(
        text.contains("ip,asn,as_name,country,category,first_seen,incident"),
        "CSV attached"
    );
    assert!(text.contains("ご担当者様"), "in the recipient's language");
    let headers = mail_parser::MessageParser::default()
        .parse(&to_isp.data)
        .unwrap();
    let subject = headers.subject().unwrap().to_string();
    assert!(subject.starts_with("[TLP:AMBER] [RENKEI-N#"), "{subject}");

    // The CSIRT's mail: signed, with IODEF 2.0 the partner can read.
    let to_csirt = got
        .iter()
        .find(|m| m.rcpt_to == ["cert@us-csirt.example"])
        .unwrap();
    let (content, signature) = signed_content(&to_csirt.data);
    renkei_mail::pgp::verify_detached(&k.team_public, &content, &signature).unwrap();
    let parsed = mail_parser::MessageParser::default()
        .parse(&to_csirt.data)
        .unwrap();
    let iodef = parsed
        .parts
        .iter()
        .map(|p| p.contents().to_vec())
        .find(|c| c.starts_with(b"<?xml"))
        .expect("IODEF attached");
    let read = renkei_formats::iodef::parse(&iodef).expect("valid IODEF 2.0");
    assert!(
        read.sources
            .iter()
            .any(|h| h.ip.iter().any(|ip| ip.to_string() == "198.51.100.7")),
        "{read:?}"
    );

    // The incidents wait for the sites' answers; the notifications are listed as sent.
    let inc: Value = client
        .get(srv.url(&format!("/api/v1/incidents/{}", ids[0])))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(inc["state"], "waiting_for_reply");
    let list: Value = client
        .get(srv.url(&format!("/api/v1/incidents/{}/notifications", ids[0])))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(list[0]["mail_status"], "sent");
    assert_eq!(list[0]["encrypted"], true);
    let isp_message_id = list[0]["message_id"].as_str().unwrap().to_string();
    let isp_notification = list[0]["id"].as_i64().unwrap();

    // ISP A answers: the reply lands in the incident's thread, not in a new report.
    let reply = format!(
        "From: abuse@isp-a.example\r\nTo: csirt@csirt.example\r\nSubject: Re: {subject}\r\nMessage-ID: <reply1@isp-a.example>\r\nIn-Reply-To: <{isp_message_id}>\r\n\r\nWe have cleaned the hosts.\r\n"
    );
    let out = ingest(&srv, reply.as_bytes()).await;
    assert_eq!(out.status, Status::Threaded);
    assert!(out.incidents.is_empty());
    let report_id = inc["report_id"].as_i64().unwrap();
    assert_eq!(out.thread_of, Some(report_id));
    let thread = renkei_incident::incidents::thread(&srv.store, report_id)
        .await
        .unwrap();
    assert!(
        thread
            .iter()
            .any(|m| m.direction.as_str() == "in" && m.body.contains("cleaned the hosts"))
    );
    assert!(thread.iter().any(|m| {
        m.direction.as_str() == "out"
            && m.subject
                .as_deref()
                .unwrap_or("")
                .contains(&format!("RENKEI-N#{isp_notification}"))
    }));

    // The CSIRT's mailbox bounces: recognized as a DSN, the contact marked failing.
    let csirt_mid = renkei_incident::notify::list(&srv.store, None, 10)
        .await
        .unwrap()
        .into_iter()
        .find(|n| n.recipient == "cert@us-csirt.example")
        .unwrap()
        .message_id
        .unwrap();
    let bounce = format!(
        "From: MAILER-DAEMON@relay.example\r\nTo: csirt@csirt.example\r\nSubject: Undelivered Mail Returned to Sender\r\nMessage-ID: <b1@relay.example>\r\nMIME-Version: 1.0\r\nContent-Type: multipart/report; report-type=delivery-status; boundary=\"B\"\r\n\r\n--B\r\nContent-Type: text/plain\r\n\r\nundeliverable\r\n--B\r\nContent-Type: message/delivery-status\r\n\r\nReporting-MTA: dns; relay.example\r\n\r\nFinal-Recipient: rfc822; cert@us-csirt.example\r\nAction: failed\r\nStatus: 5.1.1\r\nDiagnostic-Code: smtp; 550 5.1.1 user unknown\r\n\r\n--B\r\nContent-Type: text/rfc822-headers\r\n\r\nMessage-ID: <{csirt_mid}>\r\n--B--\r\n"
    );
    let out = ingest(&srv, bounce.as_bytes()).await;
    assert_eq!(out.status, Status::Bounce);
    assert!(
        out.incidents.is_empty(),
        "a bounce is not an incident report"
    );
    let failing = sources::failing(&srv.store, &["cert@us-csirt.example".into()])
        .await
        .unwrap();
    assert_eq!(failing.len(), 1);
    assert_eq!(failing[0].last_status.as_deref(), Some("5.1.1"));
    assert!(
        srv.audit_actions()
            .await
            .contains(&"contact.failing".to_string())
    );

    // Statistics for the quarterly report.
    let stats: Value = client
        .get(srv.url("/api/v1/statistics/notifications"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(stats["notifications"], 2);
    assert_eq!(stats["addresses"], 3);
    assert_eq!(stats["sent"], 2);
    let countries = stats["by_country"].to_string();
    assert!(
        countries.contains("JP") && countries.contains("US"),
        "{countries}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_the_relay_down_notifications_stay_queued_visibly_and_go_out_when_it_is_back() {
    let Some(relay) = Relay::start() else { return };
    // A port nothing listens on.
    let dead = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let srv = TestServer::start_with(Backend::Sqlite, |c| {
        c.mail.from = TEAM.into();
        c.mail.relay = format!("smtp://{dead}");
    })
    .await;
    load_tables(&srv, "").await;
    let ids = report_with_three_sources(&srv).await;
    let coordinator = srv.user(renkei_core::access::Role::Coordinator).await;
    let token = srv.token(&coordinator).await;
    let client = srv.client();
    let r = client
        .post(srv.url("/api/v1/notifications"))
        .bearer_auth(&token)
        .json(&json!({"incidents": ids, "recipients": {ids[2].to_string(): "noc@other.example"}}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let down = renkei_mail::OutboxWorker::build(
        srv.store.clone(),
        &relay_config(format!("smtp://{dead}")),
    );
    assert_eq!(down.send_due().await.unwrap(), 0);
    let listed: Value = client
        .get(srv.url("/api/v1/notifications?status=queued"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    // ISP A's two addresses in one mail, and the host abroad sent by hand elsewhere.
    assert_eq!(listed.as_array().unwrap().len(), 2, "{listed}");
    assert!(
        listed[0]["mail_error"]
            .as_str()
            .is_some_and(|e| !e.is_empty())
    );
    assert!(
        listed.to_string().contains("noc@other.example"),
        "the recipient given by hand"
    );
    // The coordinator sees them in the UI.
    let session = srv.signed_in(&coordinator).await;
    let page = session
        .client
        .get(srv.url("/notifications"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(page.contains("queued") && page.contains("noc@other.example"));

    // The relay is back (and the retry is due).
    sqlx::query("UPDATE outbox SET next_attempt_at = '2000-01-01T00:00:00.000000Z'")
        .execute(srv.store.pool())
        .await
        .unwrap();
    let up = renkei_mail::OutboxWorker::build(srv.store.clone(), &relay_config(relay.url()));
    assert_eq!(up.send_due().await.unwrap(), 2);
    assert_eq!(relay.messages().len(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_message_interrupted_mid_send_is_not_sent_again_once_its_archive_copy_has_arrived() {
    let Some(relay) = Relay::start() else { return };
    let srv = TestServer::start_with(Backend::Sqlite, |c| {
        c.mail.from = TEAM.into();
        c.mail.relay = relay.url();
        c.mail.archive = "archive@csirt.example".into();
    })
    .await;
    load_tables(&srv, "").await;
    let ids = report_with_three_sources(&srv).await;
    let settings = renkei_incident::notify::Settings {
        from: TEAM.into(),
        ..Default::default()
    };
    let (sent, _) = renkei_incident::notify::send(
        &srv.store,
        &settings,
        &Actor::system("test"),
        &ids[..1],
        &Default::default(),
    )
    .await
    .unwrap();
    let outbox = sent[0].outbox;
    let config = renkei_core::config::MailConfig {
        relay: relay.url(),
        archive: "archive@csirt.example".into(),
        ..Default::default()
    };
    let worker = renkei_mail::OutboxWorker::build(srv.store.clone(), &config);
    assert_eq!(worker.send_due().await.unwrap(), 1);
    let got = relay.messages();
    assert_eq!(
        got[0].rcpt_to,
        ["abuse@isp-a.example", "archive@csirt.example"],
        "the archive gets a blind copy"
    );
    // Simulate the crash: the relay took it, but the worker died before recording it.
    sqlx::query("UPDATE outbox SET status = 'sending', sent_at = NULL, lease_until = '2000-01-01T00:00:00.000000Z' WHERE id = $1")
        .bind(outbox).execute(srv.store.pool()).await.unwrap();
    // The archive copy comes back through intake: it proves delivery, it is no report.
    let out = ingest(&srv, &got[0].data).await;
    assert_eq!(out.status, Status::Archived);
    assert!(out.incidents.is_empty());
    assert_eq!(
        worker.send_due().await.unwrap(),
        0,
        "checked before any resend"
    );
    assert_eq!(relay.messages().len(), 1, "sent exactly once");
    let status: String = sqlx::query_scalar("SELECT status FROM outbox WHERE id = $1")
        .bind(outbox)
        .fetch_one(srv.store.pool())
        .await
        .unwrap();
    assert_eq!(status, "sent");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_about_page_gives_the_data_attribution_to_everyone() {
    let srv = TestServer::start(Backend::Sqlite).await;
    let page = srv.client().get(srv.url("/about")).send().await.unwrap();
    assert_eq!(page.status(), 200);
    let text = page.text().await.unwrap();
    assert!(text.contains("CC BY 4.0") && text.contains("RouteViews") && text.contains("DB-IP"));
    assert!(text.contains("CC0"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_coordinator_previews_and_sends_notifications_from_the_web_pages() {
    let srv = TestServer::start_with(Backend::Sqlite, |c| c.mail.from = TEAM.into()).await;
    load_tables(&srv, "").await;
    let ids = report_with_three_sources(&srv).await;
    let coordinator = srv.user(renkei_core::access::Role::Coordinator).await;
    let s = srv.signed_in(&coordinator).await;
    let q: Vec<String> = ids.iter().map(|i| format!("ids={i}")).collect();
    let page = s
        .client
        .get(srv.url(&format!("/notify?{}", q.join("&"))))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        page.contains("abuse@isp-a.example") && page.contains("abuse@far-away.example"),
        "{page}"
    );
    let csrf = renkei_testkit::csrf_from(&page).unwrap();
    let mut form: Vec<(String, String)> = ids
        .iter()
        .map(|i| ("ids".to_string(), i.to_string()))
        .collect();
    form.push(("_csrf".into(), csrf));
    form.push((format!("to_{}", ids[2]), "noc@elsewhere.example".into()));
    form.push(("do".into(), "send".into()));
    let r = s
        .client
        .post(srv.url("/notify"))
        .form(&form)
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success() || r.status().is_redirection());
    let list = s
        .client
        .get(srv.url("/notifications"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(list.contains("abuse@isp-a.example") && list.contains("noc@elsewhere.example"));
    assert!(
        !list.contains("abuse@far-away.example"),
        "the address given by hand replaced it"
    );
    assert!(
        list.contains("no-relay"),
        "the page says mail waits for a relay"
    );
}

/// A drill as a team runs it: an exercise report by the API and one by mail with
/// the subject's tag, their incidents notified, an exercise alert published. Every
/// mail goes to the exercise sink through a real relay, none to its recipients;
/// the statistics, the queue's views, the public pages and the feeds keep the
/// drill apart.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_drill_runs_the_real_workflow_apart_from_statistics_and_real_recipients() {
    let Some(relay) = Relay::start() else { return };
    let srv = TestServer::start_with(Backend::Sqlite, |c| {
        c.mail.from = TEAM.into();
        c.mail.relay = relay.url();
        c.mail.exercise_sink = "drill@csirt.example".into();
    })
    .await;
    load_tables(&srv, "").await;
    let coordinator = srv.user(renkei_core::access::Role::Coordinator).await;
    let token = srv.token(&coordinator).await;
    let reviewer = srv
        .token(&srv.user(renkei_core::access::Role::Coordinator).await)
        .await;
    let api = crate::common::Api {
        srv: &srv,
        http: srv.client(),
    };
    let form = |exercise: bool| {
        json!({
            "site_org": "Example Shop", "reporter_name": "SOC", "reporter_email": "soc@shop.example.jp",
            "description": "SSH brute force", "exercise": exercise,
            "logs": "Nov 20 10:00:01 host sshd[1]: Failed password for root from 203.0.113.10 port 40000 ssh2",
        })
    };

    // A real report, and the same attack as a drill: only the staff run one.
    let (status, real) = api.post(Some(&token), "/api/v1/reports", form(false)).await;
    assert_eq!(status, 201, "{real}");
    let vendor = srv
        .token(&srv.user(renkei_core::access::Role::Vendor).await)
        .await;
    assert_eq!(
        api.post(Some(&vendor), "/api/v1/reports", form(true))
            .await
            .0,
        403
    );
    let (status, drill) = api.post(Some(&token), "/api/v1/reports", form(true)).await;
    assert_eq!(status, 201, "{drill}");
    // By mail, the subject's tag marks it.
    let mail = "From: Hanako <hanako@victim.example.jp>\r\nTo: report@csirt.example\r\nSubject: [訓練] 不正アクセスの報告\r\nMessage-ID: <drill1@victim.example.jp>\r\n\r\n\
Nov 20 10:00:01 host sshd[1]: Failed password for root from 203.0.113.20 port 40000 ssh2\r\n";
    let mailed = ingest(&srv, mail.as_bytes()).await;
    let drill_incidents: Vec<i64> = drill["incidents"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|v| v.as_i64())
        .chain(mailed.incidents.iter().copied())
        .collect();
    assert_eq!(drill_incidents.len(), 2, "{drill} {mailed:?}");
    for id in &drill_incidents {
        assert!(
            renkei_incident::incidents::get(&srv.store, *id)
                .await
                .unwrap()
                .exercise
        );
    }
    let real_incident = real["incidents"][0].as_i64().unwrap();
    assert!(
        !renkei_incident::incidents::get(&srv.store, real_incident)
            .await
            .unwrap()
            .exercise
    );

    // Listed apart: the queue shows the real one, the drill's view the drill's.
    let (_, queue) = api.get(Some(&token), "/api/v1/incidents").await;
    let ids = |v: &Value| -> Vec<i64> {
        v["incidents"]
            .as_array()
            .or(v.as_array())
            .unwrap()
            .iter()
            .map(|i| i["id"].as_i64().unwrap())
            .collect()
    };
    assert_eq!(ids(&queue), vec![real_incident], "{queue}");
    let (_, drills) = api.get(Some(&token), "/api/v1/incidents?exercise=1").await;
    let mut listed = ids(&drills);
    listed.sort();
    let mut expected = drill_incidents.clone();
    expected.sort();
    assert_eq!(listed, expected, "{drills}");
    let staff = srv.signed_in(&coordinator).await;
    let page = staff
        .client
        .get(srv.url("/incidents?exercise=1"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(page.contains("id=\"exercise-notice\""));

    // Not counted.
    let (_, stats) = api.get(Some(&token), "/api/v1/statistics/incidents").await;
    assert_eq!(
        (&stats["reports"], &stats["incidents"]),
        (&json!(1), &json!(1)),
        "{stats}"
    );

    // A drill's incidents are notified apart from real ones, and the mail goes to
    // the sink, never to the ISP.
    let (status, e) = api
        .post(
            Some(&token),
            "/api/v1/notifications",
            json!({"incidents": [real_incident, drill_incidents[0]]}),
        )
        .await;
    assert_eq!(
        (status, e["error"]["code"].as_str()),
        (422, Some("invalid_input")),
        "{e}"
    );
    let (status, sent) = api
        .post(
            Some(&token),
            "/api/v1/notifications",
            json!({"incidents": drill_incidents}),
        )
        .await;
    assert_eq!(status, 201, "{sent}");
    let mut mail_config = relay_config(relay.url());
    mail_config.exercise_sink = "drill@csirt.example".into();
    let worker = renkei_mail::OutboxWorker::build(srv.store.clone(), &mail_config);
    assert!(worker.send_due().await.unwrap() >= 1);
    let kept = relay.messages();
    assert!(!kept.is_empty());
    for m in &kept {
        assert_eq!(
            m.rcpt_to,
            vec!["drill@csirt.example".to_string()],
            "a drill's mail reaches the sink alone"
        );
        let text = String::from_utf8_lossy(&m.data);
        assert!(text.contains("EXERCISE"), "its subject says it is a drill");
    }
    let (_, nstats) = api
        .get(Some(&token), "/api/v1/statistics/notifications")
        .await;
    assert_eq!(nstats["notifications"], 0, "{nstats}");

    // An exercise alert goes through review and publication, and the public never
    // sees it: not its page, not the list, not the feed, not the document list.
    let (status, a) = api.post(Some(&token), "/api/v1/alerts", json!({"category": "incident", "title_ja": "訓練: ランサムウエアの注意喚起", "title_en": "Drill: ransomware", "body_ja": "訓練です。", "body_en": "A drill.", "exercise": true})).await;
    assert_eq!(status, 201, "{a}");
    let n = a["number"].as_str().unwrap().to_string();
    api.post(
        Some(&token),
        &format!("/api/v1/alerts/{n}/submit"),
        json!({}),
    )
    .await;
    assert_eq!(
        api.post(
            Some(&reviewer),
            &format!("/api/v1/alerts/{n}/publish"),
            json!({})
        )
        .await
        .0,
        200
    );
    let public = srv.client();
    assert_eq!(
        public
            .get(srv.url(&format!("/alerts/{n}")))
            .send()
            .await
            .unwrap()
            .status(),
        404
    );
    for path in [
        "/alerts",
        "/feeds/alerts.atom",
        "/documents",
        "/feeds/documents.atom",
    ] {
        let body = public
            .get(srv.url(path))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert!(!body.contains(&n), "{path} shows the drill's alert");
    }
    let (_, staff_list) = api.get(Some(&token), "/api/v1/alerts").await;
    assert!(staff_list.to_string().contains(&n), "the staff see it");
    let (status, e) = api
        .post(
            Some(&token),
            "/api/v1/lists/alerts/sends",
            json!({"alert": n}),
        )
        .await;
    assert!(
        status == 409 || status == 422,
        "a drill is never sent to a list: {status} {e}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_an_exercise_sink_a_drills_mail_is_held_and_never_sent() {
    let Some(relay) = Relay::start() else { return };
    let srv = TestServer::start_with(Backend::Sqlite, |c| {
        c.mail.from = TEAM.into();
        c.mail.relay = relay.url();
    })
    .await;
    load_tables(&srv, "").await;
    let mail = "From: Hanako <hanako@victim.example.jp>\r\nTo: report@csirt.example\r\nSubject: [EXERCISE] ssh\r\nMessage-ID: <drill2@victim.example.jp>\r\n\r\n\
Nov 20 10:00:01 host sshd[1]: Failed password for root from 203.0.113.20 port 40000 ssh2\r\n";
    let out = ingest(&srv, mail.as_bytes()).await;
    let settings = renkei_incident::notify::Settings {
        from: TEAM.into(),
        ..Default::default()
    };
    renkei_incident::notify::send(
        &srv.store,
        &settings,
        &Actor::system("test"),
        &out.incidents,
        &Default::default(),
    )
    .await
    .unwrap();
    let worker = renkei_mail::OutboxWorker::build(srv.store.clone(), &relay_config(relay.url()));
    assert_eq!(worker.send_due().await.unwrap(), 0);
    assert!(relay.messages().is_empty(), "nothing left for the ISP");
    let held: i64 =
        sqlx::query_scalar("SELECT COUNT(*) FROM outbox WHERE status = 'held' AND exercise = 1")
            .fetch_one(srv.store.pool())
            .await
            .unwrap();
    assert_eq!(held, 1);
}
