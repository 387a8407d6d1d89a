//! Correspondence end to end: a report mailed to the SMTP intake, the coordinator's
//! question to the reporter (from a template, with a copy, signed) sent through a
//! real SMTP relay (aiosmtpd on loopback), the reporter's answer coming back through
//! the SMTP listener and finding its conversation by its references, a stranger's
//! forged ticket tag kept out, an auto-reply that changes nothing; and, with GnuPG as
//! the site on the other side, an encrypted and signed exchange both ways.

use std::io::Write;
use std::process::{Command, Stdio};

use renkei_core::access::Role;
use renkei_core::audit::Actor;
use renkei_core::orgs::{self, NewContact, OrgKind};
use renkei_testkit::relay::{Relay, send_mail, signed_content};
use renkei_testkit::{Backend, TestServer};
use serde_json::{Value, json};

const TEAM: &str = "Example CSIRT <csirt@csirt.example>";
const INTAKE: &str = "incident@csirt.example";
/// A second intake address: a partner's secretariat forwards here.
const SECRETARIAT: &str = "secretariat@partner.example";

struct Setup {
    srv: TestServer,
    relay: Relay,
    smtp: String,
    token: String,
    team_public: String,
    _keys: tempfile::TempDir,
}

async fn setup(backend: Backend) -> Option<Setup> {
    let relay = Relay::start()?;
    let (team_secret, team_public) = renkei_mail::pgp::generate(TEAM).unwrap();
    let keys = tempfile::tempdir().unwrap();
    let key_file = keys.path().join("team.asc");
    std::fs::write(&key_file, &team_secret).unwrap();
    let srv = TestServer::start_with(backend, |c| {
        c.mail.from = TEAM.into();
        c.mail.relay = relay.url();
        c.mail.signing_key_file = key_file.display().to_string();
        c.intake.smtp.listen = "127.0.0.1:0".into();
        c.intake.smtp.addresses = vec![INTAKE.into(), SECRETARIAT.into()];
    })
    .await;
    let smtp = srv.smtp.clone().expect("the SMTP intake runs");
    let token = srv.token(&srv.user(Role::Coordinator).await).await;
    Some(Setup {
        srv,
        relay,
        smtp,
        token,
        team_public,
        _keys: keys,
    })
}

impl Setup {
    /// One outbox pass, as the worker makes it.
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

    async fn post(&self, path: &str, body: Value) -> reqwest::Response {
        self.srv
            .client()
            .post(self.srv.url(path))
            .bearer_auth(&self.token)
            .json(&body)
            .send()
            .await
            .unwrap()
    }

    async fn get(&self, path: &str) -> Value {
        let r = self
            .srv
            .client()
            .get(self.srv.url(path))
            .bearer_auth(&self.token)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "{path}");
        r.json().await.unwrap()
    }

    /// A mail through the SMTP listener; the number of the report it made or joined.
    async fn mail_in(&self, message: &str) -> (String, i64) {
        let reply = send_mail(&self.smtp, INTAKE, message).await;
        assert!(reply.starts_with("250"), "{reply}");
        let n = reply
            .rsplit('#')
            .next()
            .unwrap()
            .trim()
            .split(|c: char| !c.is_ascii_digit())
            .next()
            .unwrap()
            .parse()
            .unwrap();
        (reply, n)
    }

    async fn incident(&self, id: i64) -> Value {
        self.get(&format!("/api/v1/incidents/{id}")).await
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_coordinator_asks_the_reporter_and_the_answer_brings_the_incident_back() {
    conversation(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_coordinator_asks_the_reporter_and_the_answer_brings_the_incident_back_on_postgres() {
    if renkei_testkit::postgres_configured() {
        conversation(Backend::Postgres).await;
    }
}

async fn conversation(backend: Backend) {
    let Some(s) = setup(backend).await else {
        return;
    };
    let (reply, report) = s
        .mail_in(
            "From: Taro <taro@victim.example.jp>\r\nTo: incident@csirt.example\r\nSubject: ssh attack\r\nMessage-ID: <r1@victim.example.jp>\r\n\r\nsshd: Failed password for root from 203.0.113.10 port 40000 ssh2\r\n",
        )
        .await;
    assert!(reply.contains("report #"), "{reply}");
    let incident = s.get(&format!("/api/v1/reports/{report}")).await["incidents"][0]
        .as_i64()
        .unwrap();
    // The confirmation opens the conversation.
    assert_eq!(s.send_outbox().await, 1);
    let thread = s.get(&format!("/api/v1/reports/{report}/messages")).await;
    assert_eq!(thread[0]["direction"], "out");
    assert_eq!(thread[0]["automatic"], true);
    assert_eq!(thread[0]["delivery"], "sent");

    // The reporter is among the usual recipients.
    let suggested = s.get(&format!("/api/v1/reports/{report}/recipients")).await;
    assert!(
        suggested
            .as_array()
            .unwrap()
            .iter()
            .any(|x| x["role"] == "reporter" && x["email"] == "taro@victim.example.jp"),
        "{suggested}"
    );

    // Preview: the template in Japanese, the ticket tag, signed, nothing queued.
    let r = s
        .post(
            &format!("/api/v1/reports/{report}/mail/preview"),
            json!({"to": ["taro@victim.example.jp"], "template": "ask_logs", "lang": "ja"}),
        )
        .await;
    assert_eq!(r.status(), 200);
    let p: Value = r.json().await.unwrap();
    let subject = p["subject"].as_str().unwrap().to_string();
    assert!(
        subject.starts_with(&format!("[RENKEI#{report}] ")),
        "{subject}"
    );
    assert!(subject.contains("ログ"), "{subject}");
    assert!(p["body"].as_str().unwrap().contains("203.0.113.10"), "{p}");
    assert_eq!(
        (p["signed"].as_bool(), p["encrypted"].as_bool()),
        (Some(true), Some(false))
    );
    assert_eq!(s.send_outbox().await, 0, "a preview queues nothing");

    // The question goes out, with a copy; the incident waits for the answer.
    let r = s
        .post(
            &format!("/api/v1/reports/{report}/mail"),
            json!({"to": ["taro@victim.example.jp"], "cc": ["soc@victim.example.jp"], "template": "ask_logs", "lang": "ja", "question": true}),
        )
        .await;
    assert_eq!(r.status(), 202);
    let mailed: Value = r.json().await.unwrap();
    let message = mailed["id"].as_i64().unwrap();
    let message_id = mailed["message_id"].as_str().unwrap().to_string();
    assert_eq!(mailed["waiting"], json!([incident]));
    assert_eq!(s.incident(incident).await["state"], "waiting_for_reply");
    assert_eq!(s.send_outbox().await, 1);
    let got = s.relay.messages();
    let question = got.last().unwrap();
    let mut rcpt = question.rcpt_to.clone();
    rcpt.sort();
    assert_eq!(
        rcpt,
        vec!["soc@victim.example.jp", "taro@victim.example.jp"]
    );
    let text = String::from_utf8_lossy(&question.data).into_owned();
    assert!(text.contains("Cc: soc@victim.example.jp"), "{text}");
    assert!(text.contains(&format!("<{message_id}>")));
    let (signed, signature) = signed_content(&question.data);
    renkei_mail::pgp::verify_detached(&s.team_public, &signed, &signature).unwrap();
    let thread = s.get(&format!("/api/v1/reports/{report}/messages")).await;
    let sent = thread
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["id"] == message)
        .unwrap();
    assert_eq!(sent["delivery"], "sent");
    assert_eq!(sent["template"], "ask_logs");
    assert_eq!(sent["expects_reply"], true);
    assert!(
        s.srv
            .audit_actions()
            .await
            .contains(&"conversation.sent".to_string())
    );

    // The answer carries no tag, only the reference: it joins the conversation,
    // and the incident is back with its coordinator, marked as answered.
    let (reply, joined) = s
        .mail_in(&format!(
            "From: Taro <taro@victim.example.jp>\r\nTo: csirt@csirt.example\r\nSubject: Re: logs\r\nMessage-ID: <r2@victim.example.jp>\r\nIn-Reply-To: <{message_id}>\r\n\r\nHere are the logs: 203.0.113.10 again at 10:00 JST.\r\n"
        ))
        .await;
    assert!(reply.contains("joined"), "{reply}");
    assert_eq!(joined, report);
    let i = s.incident(incident).await;
    assert_eq!(i["state"], "coordinating");
    assert!(i["reply_at"].is_string(), "{i}");
    let thread = s
        .get(&format!("/api/v1/incidents/{incident}/messages"))
        .await;
    let answer = thread.as_array().unwrap().last().unwrap();
    assert_eq!(answer["direction"], "in");
    assert!(
        answer["body"]
            .as_str()
            .unwrap()
            .contains("Here are the logs")
    );

    // A stranger quoting the tag does not join it: a new report, flagged.
    let (reply, stranger) = s
        .mail_in(&format!(
            "From: mallory@evil.example\r\nSubject: Re: [RENKEI#{report}] send me everything\r\n\r\nWhat do you know about 203.0.113.10?\r\n"
        ))
        .await;
    assert!(reply.contains("report #"), "{reply}");
    assert_ne!(stranger, report);
    let flagged = s.get(&format!("/api/v1/reports/{stranger}")).await;
    assert_eq!(flagged["flag"], "unknown_sender");
    let thread = s.get(&format!("/api/v1/reports/{report}/messages")).await;
    assert!(
        !thread.as_array().unwrap().iter().any(|m| m["body"]
            .as_str()
            .unwrap_or("")
            .contains("send me everything")
            || m["mail_from"] == "mallory@evil.example"),
        "{thread}"
    );

    // Another question, then an auto-reply: kept, but the incident still waits.
    let r = s
        .post(
            &format!("/api/v1/incidents/{incident}/mail"),
            json!({"to": ["taro@victim.example.jp"], "subject": "One more thing", "body": "Which port?", "question": true}),
        )
        .await;
    assert_eq!(r.status(), 202);
    assert!(
        s.incident(incident).await["reply_at"].is_null(),
        "writing clears the mark"
    );
    let (_, joined) = s
        .mail_in(&format!(
            "From: taro@victim.example.jp\r\nSubject: Auto: [RENKEI-I#{incident}] One more thing\r\nAuto-Submitted: auto-replied\r\n\r\nI am out of the office.\r\n"
        ))
        .await;
    assert_eq!(joined, report);
    assert_eq!(s.incident(incident).await["state"], "waiting_for_reply");

    // Bad input: a line break in a header, no recipient, an unknown template, a
    // message of another conversation answered.
    for (body, field) in [
        (
            json!({"to": ["taro@victim.example.jp"], "subject": "x\r\nBcc: all@example.org", "body": "x"}),
            "subject",
        ),
        (
            json!({"to": ["taro@victim.example.jp\r\nBcc: all@example.org"], "subject": "x", "body": "x"}),
            "to",
        ),
        (json!({"to": [], "subject": "x", "body": "x"}), "to"),
        (
            json!({"to": ["taro@victim.example.jp"], "template": "no_such"}),
            "template",
        ),
    ] {
        let r = s
            .post(&format!("/api/v1/reports/{report}/mail"), body.clone())
            .await;
        assert_eq!(r.status(), 422, "{body}");
        let e: Value = r.json().await.unwrap();
        assert_eq!(e["error"]["code"], "invalid_input", "{e}");
        assert!(
            e["error"]["message"].as_str().unwrap().contains(field),
            "{e}"
        );
    }
    let r = s
        .post(
            &format!("/api/v1/reports/{stranger}/mail"),
            json!({"to": ["x@example.org"], "body": "x", "subject": "x", "reply_to": message}),
        )
        .await;
    assert_eq!(r.status(), 404, "a message of another conversation");
    // The second question, and the stranger's confirmation of their own report.
    assert_eq!(s.send_outbox().await, 2);

    // One timeline: mail, notes and what happened, filtered.
    let coordinator = s.srv.user(Role::Coordinator).await;
    let staff = s.srv.signed_in(&coordinator).await;
    let page = |q: String| {
        let (client, url) = (
            staff.client.clone(),
            s.srv.url(&format!("/reports/{report}{q}")),
        );
        async move { client.get(url).send().await.unwrap().text().await.unwrap() }
    };
    let all = page(String::new()).await;
    let state_line = format!("#{incident}: Waiting for reply → Coordinating");
    assert!(
        all.contains(&state_line),
        "state changes are on the timeline"
    );
    assert!(all.contains("Here are the logs"));
    let events = page("?show=events".into()).await;
    assert!(events.contains(&state_line) && !events.contains("Here are the logs"));
    let mail = page("?show=mail".into()).await;
    assert!(!mail.contains(&state_line) && mail.contains("Here are the logs"));
    let focused = page(format!("?incident={incident}")).await;
    assert!(focused.contains(&state_line) && focused.contains("Which port?"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_template_that_does_not_render_is_refused_with_its_name_and_line() {
    let srv = TestServer::start(Backend::Sqlite).await;
    let e = renkei_incident::correspond::set_template(
        &srv.store,
        &Actor::system("test"),
        "ask_logs",
        "ja",
        "ログ",
        "{{ team }}\n{% for i in incidents %}{{ i.ip }\n",
    )
    .await
    .unwrap_err()
    .to_string();
    assert!(e.contains("ask_logs/ja") && e.contains("line 2"), "{e}");
    // The shipped one is still in use.
    let t = renkei_incident::correspond::template(&srv.store, "ask_logs", "ja")
        .await
        .unwrap();
    assert!(!t.customized);
    // An edited one is used from then on.
    renkei_incident::correspond::set_template(
        &srv.store,
        &Actor::system("test"),
        "ask_logs",
        "ja",
        "ログをお願いします",
        "{{ team }} です。\n",
    )
    .await
    .unwrap();
    let t = renkei_incident::correspond::template(&srv.store, "ask_logs", "ja")
        .await
        .unwrap();
    assert!(t.customized && t.subject == "ログをお願いします");
}

/// GnuPG with a keyring of its own.
pub(crate) struct Gpg {
    home: tempfile::TempDir,
}

impl Gpg {
    pub(crate) fn start() -> Option<Gpg> {
        let have = Command::new("gpg")
            .arg("--version")
            .output()
            .is_ok_and(|o| o.status.success());
        if !have {
            let ci = std::env::var("CI").is_ok_and(|v| !v.is_empty() && v != "false");
            assert!(
                !ci,
                "CI is set but gpg is missing: .ci/run should install gnupg"
            );
            eprintln!("skipped: gpg is not installed");
            return None;
        }
        Some(Gpg {
            home: tempfile::tempdir().unwrap(),
        })
    }

    pub(crate) fn run(&self, args: &[&str], input: &[u8]) -> Vec<u8> {
        let mut child = Command::new("gpg")
            .arg("--homedir")
            .arg(self.home.path())
            .args([
                "--batch",
                "--yes",
                "--pinentry-mode",
                "loopback",
                "--passphrase",
                "",
            ])
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        child.stdin.take().unwrap().write_all(input).unwrap();
        let out = child.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "gpg {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        out.stdout
    }
}

fn armored_part(raw: &[u8]) -> String {
    let text = String::from_utf8_lossy(raw);
    let start = text
        .find("-----BEGIN PGP MESSAGE-----")
        .expect("an encrypted part");
    let end = text.find("-----END PGP MESSAGE-----").unwrap() + "-----END PGP MESSAGE-----".len();
    text[start..end].to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_gnupg_on_the_other_side_mail_goes_out_encrypted_and_a_signed_encrypted_answer_is_read()
 {
    let Some(gpg) = Gpg::start() else { return };
    let Some(s) = setup(Backend::Sqlite).await else {
        return;
    };
    // The site's key, made by GnuPG, is on file for its contact.
    gpg.run(
        &[
            "--quick-gen-key",
            "Site Abuse <abuse@site.example>",
            "default",
            "default",
            "never",
        ],
        b"",
    );
    let site_public =
        String::from_utf8(gpg.run(&["--armor", "--export", "abuse@site.example"], b"")).unwrap();
    gpg.run(&["--import"], s.team_public.as_bytes());
    let org = s.srv.org("Site KK", OrgKind::Constituent).await;
    orgs::add_contact(
        &s.srv.store,
        &Actor::system("test"),
        org,
        NewContact {
            name: "Site Abuse".into(),
            email: "abuse@site.example".into(),
            phone: None,
            pgp_key: Some(site_public),
            lang: renkei_core::lang::Lang::En,
            role: Some("abuse".into()),
        },
    )
    .await
    .unwrap();
    let (_, report) = s
        .mail_in("From: reporter@victim.example.jp\r\nSubject: phishing\r\n\r\nphishing page at 198.51.100.20\r\n")
        .await;

    // With a recipient who has no key, the preview says so and nothing is encrypted.
    let p: Value = s
        .post(
            &format!("/api/v1/reports/{report}/mail/preview"),
            json!({"to": ["abuse@site.example"], "cc": ["nokey@site.example"], "subject": "Phishing", "body": "Please take it down."}),
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(p["encrypted"], false);
    assert_eq!(p["without_key"], json!(["nokey@site.example"]));

    let r = s
        .post(
            &format!("/api/v1/reports/{report}/mail"),
            json!({"to": ["abuse@site.example"], "template": "advice", "question": true}),
        )
        .await;
    assert_eq!(r.status(), 202);
    let mailed: Value = r.json().await.unwrap();
    assert_eq!(
        (mailed["encrypted"].as_bool(), mailed["signed"].as_bool()),
        (Some(true), Some(true))
    );
    let message_id = mailed["message_id"].as_str().unwrap().to_string();
    s.send_outbox().await;
    let out = s.relay.messages();
    let to_site = out
        .iter()
        .find(|m| m.rcpt_to.contains(&"abuse@site.example".to_string()))
        .unwrap();
    // GnuPG opens it, and the team's signature inside verifies.
    let inner = gpg.run(&["--decrypt"], armored_part(&to_site.data).as_bytes());
    let (signed, signature) = signed_content(&inner);
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("signed"), &signed).unwrap();
    std::fs::write(dir.path().join("signed.asc"), &signature).unwrap();
    gpg.run(
        &[
            "--verify",
            dir.path().join("signed.asc").to_str().unwrap(),
            dir.path().join("signed").to_str().unwrap(),
        ],
        b"",
    );
    assert!(
        String::from_utf8_lossy(&signed).contains("What you can do")
            || String::from_utf8_lossy(&signed).contains("consider")
    );

    // The site answers signed with its key and encrypted to the team's (PGP/MIME,
    // RFC 3156), as a mail program using GnuPG would.
    let part = "Content-Type: text/plain; charset=utf-8\r\n\r\nThe page is down since 10:00.\r\n";
    let sig = String::from_utf8(gpg.run(
        &[
            "--armor",
            "--detach-sign",
            "--local-user",
            "abuse@site.example",
        ],
        part.as_bytes(),
    ))
    .unwrap();
    let signed_entity = format!(
        "Content-Type: multipart/signed; micalg=pgp-sha256; protocol=\"application/pgp-signature\"; boundary=\"s1\"\r\n\r\n--s1\r\n{part}\r\n--s1\r\nContent-Type: application/pgp-signature\r\n\r\n{sig}\r\n--s1--\r\n"
    );
    let encrypted = String::from_utf8(gpg.run(
        &[
            "--armor",
            "--encrypt",
            "--trust-model",
            "always",
            "--recipient",
            "csirt@csirt.example",
        ],
        signed_entity.as_bytes(),
    ))
    .unwrap();
    let answer = format!(
        "From: abuse@site.example\r\nTo: csirt@csirt.example\r\nSubject: Re: advice\r\nIn-Reply-To: <{message_id}>\r\nMIME-Version: 1.0\r\nContent-Type: multipart/encrypted; protocol=\"application/pgp-encrypted\"; boundary=\"e1\"\r\n\r\n--e1\r\nContent-Type: application/pgp-encrypted\r\n\r\nVersion: 1\r\n\r\n--e1\r\nContent-Type: application/octet-stream\r\n\r\n{}\r\n--e1--\r\n",
        encrypted.replace('\n', "\r\n").replace("\r\r\n", "\r\n")
    );
    let (reply, joined) = s.mail_in(&answer).await;
    assert!(reply.contains("joined"), "{reply}");
    assert_eq!(joined, report);
    let thread = s.get(&format!("/api/v1/reports/{report}/messages")).await;
    let last = thread.as_array().unwrap().last().unwrap().clone();
    assert_eq!(last["encrypted"], true, "{last}");
    assert_eq!(last["signed"], true);
    assert_eq!(last["signature"], "valid", "{last}");
    assert!(
        last["body"]
            .as_str()
            .unwrap()
            .contains("The page is down since 10:00."),
        "{last}"
    );
}

fn percentile(sorted: &[std::time::Duration], p: f64) -> std::time::Duration {
    sorted[((sorted.len() as f64 * p).ceil() as usize).clamp(1, sorted.len()) - 1]
}

/// `bench/conversations.sh` runs this in release mode: a report's page with a
/// thread of 1,000 messages (notes, mail out, mail in) timed over HTTP, then 10,000
/// notifications to 10,000 addresses and their 10,000 replies handed to the SMTP
/// listener (eight at a time, as a mail server delivers), timed until the last is
/// in its conversation.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a benchmark: bench/conversations.sh runs it in release mode"]
async fn bench_a_long_thread_and_ten_thousand_replies() {
    use std::time::Instant;
    // SQLite unless RENKEI_BENCH_BACKEND=postgres (with RENKEI_TEST_POSTGRES_URL).
    let backend = match std::env::var("RENKEI_BENCH_BACKEND").as_deref() {
        Ok("postgres") => Backend::Postgres,
        _ => Backend::Sqlite,
    };
    println!("backend: {backend:?}");
    let srv = TestServer::start_with(backend, |c| {
        c.mail.from = TEAM.into();
        c.mail.confirm_reports = false;
        c.intake.smtp.listen = "127.0.0.1:0".into();
        c.intake.smtp.addresses = vec![INTAKE.into()];
        c.database.max_connections = 8;
    })
    .await;
    let smtp = srv.smtp.clone().unwrap();
    let actor = Actor::system("bench");
    let settings = renkei_incident::Settings::default();
    let ingest = |raw: String| {
        let (srv, settings, actor) = (&srv, &settings, &actor);
        async move {
            renkei_incident::reports::ingest(
                &srv.store,
                settings,
                actor,
                renkei_incident::Channel::Mail,
                renkei_incident::InputFormat::Mail,
                raw.as_bytes(),
                renkei_core::tlp::Tlp::Amber,
                None,
            )
            .await
            .unwrap()
        }
    };

    // 1. A thread of 1,000 messages.
    let first = ingest(
        "From: taro@victim.example.jp\r\nSubject: scan\r\n\r\nscan from 203.0.113.5\r\n".into(),
    )
    .await;
    let notify_settings = renkei_incident::notify::Settings {
        from: TEAM.into(),
        ..Default::default()
    };
    let mut last_out = String::new();
    for n in 0..1000 {
        match n % 3 {
            0 => {
                renkei_incident::incidents::add_message(
                    &srv.store,
                    &actor,
                    first.report,
                    "note",
                    None,
                    &format!("note {n}: checked the logs again\nnothing new"),
                )
                .await
                .unwrap();
            }
            1 => {
                let m = renkei_incident::correspond::send(
                    &srv.store,
                    &notify_settings,
                    None,
                    &actor,
                    &renkei_incident::correspond::About::Report(first.report),
                    &renkei_incident::correspond::Letter {
                        to: vec!["taro@victim.example.jp".into()],
                        subject: format!("question {n}"),
                        body: format!("Could you tell us more about {n}?\nThank you."),
                        ..Default::default()
                    },
                )
                .await
                .unwrap();
                last_out = m.message_id;
            }
            _ => {
                ingest(format!(
                    "From: taro@victim.example.jp\r\nSubject: Re: question\r\nIn-Reply-To: <{last_out}>\r\n\r\nanswer {n}: it was port 22.\r\n"
                ))
                .await;
            }
        }
    }
    let thread = renkei_incident::incidents::thread(&srv.store, first.report)
        .await
        .unwrap();
    assert_eq!(thread.len(), 1000);
    let coordinator = srv.user(Role::Coordinator).await;
    let s = srv.signed_in(&coordinator).await;
    let token = srv.token(&coordinator).await;
    let mut page = Vec::new();
    let mut api = Vec::new();
    for _ in 0..200 {
        let t = Instant::now();
        let r = s
            .client
            .get(srv.url(&format!("/reports/{}", first.report)))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        let body = r.text().await.unwrap();
        page.push(t.elapsed());
        assert!(body.contains("answer 998"));
        let t = Instant::now();
        let r = srv
            .client()
            .get(srv.url(&format!("/api/v1/reports/{}/messages", first.report)))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap();
        let _ = r.bytes().await.unwrap();
        api.push(t.elapsed());
    }
    page.sort();
    api.sort();
    println!(
        "thread of 1,000 messages: report page p50 {:.1} ms, p99 {:.1} ms; GET /api/v1/reports/{{id}}/messages p50 {:.1} ms, p99 {:.1} ms",
        percentile(&page, 0.5).as_secs_f64() * 1e3,
        percentile(&page, 0.99).as_secs_f64() * 1e3,
        percentile(&api, 0.5).as_secs_f64() * 1e3,
        percentile(&api, 0.99).as_secs_f64() * 1e3,
    );

    // 2. 10,000 notifications, one per address, each to its own abuse desk.
    // RENKEI_BENCH_REPLIES makes a shorter run while working on it.
    let sites: usize = std::env::var("RENKEI_BENCH_REPLIES")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(10_000);
    let mut directory = String::from("network,email,lang\n");
    for n in 0..sites {
        directory.push_str(&format!(
            "10.{}.{}.{}/32,abuse-{n}@site-{n}.example,en\n",
            n / 65536,
            (n / 256) % 256,
            n % 256
        ));
    }
    renkei_enrich::sources::load(
        &srv.store,
        &actor,
        renkei_enrich::Kind::Contacts,
        renkei_enrich::Format::Csv,
        &[("sites.csv".into(), directory.into_bytes())],
    )
    .await
    .unwrap();
    srv.enricher.refresh(&srv.store).await.unwrap();
    let with_tables = renkei_incident::Settings {
        enricher: Some(srv.enricher.clone()),
        ..Default::default()
    };
    let mut ids = Vec::new();
    for chunk in 0..(sites / 1000) {
        let mut mail =
            String::from("From: sensor@victim.example.jp\r\nSubject: ssh brute force\r\n\r\n");
        for n in chunk * 1000..(chunk + 1) * 1000 {
            mail.push_str(&format!(
                "sshd[1]: Failed password for root from 10.{}.{}.{} port 22 ssh2\r\n",
                n / 65536,
                (n / 256) % 256,
                n % 256
            ));
        }
        let out = renkei_incident::reports::ingest(
            &srv.store,
            &with_tables,
            &actor,
            renkei_incident::Channel::Mail,
            renkei_incident::InputFormat::Mail,
            mail.as_bytes(),
            renkei_core::tlp::Tlp::Amber,
            None,
        )
        .await
        .unwrap();
        ids.extend(out.incidents);
    }
    assert_eq!(ids.len(), sites);
    let (sent, unresolved) = renkei_incident::notify::send(
        &srv.store,
        &notify_settings,
        &actor,
        &ids,
        &std::collections::HashMap::new(),
    )
    .await
    .unwrap();
    assert_eq!((sent.len(), unresolved.len()), (sites, 0));
    let rows: Vec<(String, String)> =
        sqlx::query_as("SELECT rcpt_to, message_id FROM outbox WHERE object_type = 'notification'")
            .fetch_all(srv.store.pool())
            .await
            .unwrap();
    let mails: Vec<String> = rows
        .iter()
        .map(|(to, mid)| format!("From: {to}\r\nTo: csirt@csirt.example\r\nSubject: Re: Suspicious activity from your network\r\nIn-Reply-To: <{mid}>\r\n\r\nWe have cleaned the host.\r\n"))
        .collect();
    let started = Instant::now();
    let mut senders = Vec::new();
    for part in mails.chunks(sites.div_ceil(8)) {
        let (part, smtp) = (part.to_vec(), smtp.clone());
        senders.push(tokio::spawn(async move {
            for m in part {
                let reply = send_mail(&smtp, INTAKE, &m).await;
                assert!(reply.contains("joined"), "{reply}");
            }
        }));
    }
    for t in senders {
        t.await.unwrap();
    }
    let took = started.elapsed();
    let waiting: i64 =
        sqlx::query_scalar("SELECT COUNT(*) FROM incidents WHERE state = 'waiting_for_reply'")
            .fetch_one(srv.store.pool())
            .await
            .unwrap();
    let answered: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM incidents WHERE reply_at IS NOT NULL AND state = 'coordinating'",
    )
    .fetch_one(srv.store.pool())
    .await
    .unwrap();
    // Mails received together share a timestamp: how many commits the listener made.
    let batches: i64 = sqlx::query_scalar(
        "SELECT COUNT(DISTINCT received_at) FROM reports WHERE channel = 'mail' AND status = 'threaded' AND reporter_email LIKE 'abuse-%'",
    )
    .fetch_one(srv.store.pool())
    .await
    .unwrap();
    println!(
        "10,000 replies to 10,000 notifications through the SMTP listener: {:.2} s ({:.0} mails/s); incidents answered {answered}, still waiting {waiting}; {batches} batches ({:.1} mails a batch)",
        took.as_secs_f64(),
        sites as f64 / took.as_secs_f64(),
        sites as f64 / batches.max(1) as f64
    );
    assert_eq!(answered as usize, sites);
}

/// A `multipart/form-data` body as a browser builds it: text fields, then files.
pub(crate) fn multipart(
    fields: &[(&str, &str)],
    files: &[(&str, &str, &[u8])],
) -> (String, Vec<u8>) {
    let boundary = "----renkei-test-boundary-7d9f";
    let mut body = Vec::new();
    for (name, value) in fields {
        body.extend_from_slice(
            format!(
                "--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n{value}\r\n"
            )
            .as_bytes(),
        );
    }
    for (name, filename, data) in files {
        body.extend_from_slice(
            format!("--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"; filename=\"{filename}\"\r\nContent-Type: text/plain\r\n\r\n")
                .as_bytes(),
        );
        body.extend_from_slice(data);
        body.extend_from_slice(b"\r\n");
    }
    body.extend_from_slice(format!("--{boundary}--\r\n").as_bytes());
    (format!("multipart/form-data; boundary={boundary}"), body)
}

/// The text of the last mail of a kind to an address, as queued.
async fn mail_body(s: &Setup, kind: &str, to: &str) -> String {
    sqlx::query_scalar(
        "SELECT body FROM outbox WHERE kind = $1 AND rcpt_to = $2 ORDER BY id DESC LIMIT 1",
    )
    .bind(kind)
    .bind(to)
    .fetch_one(s.srv.store.pool())
    .await
    .unwrap()
}

fn secret_in(text: &str) -> String {
    let at = text.find("/status/").expect("a status link") + "/status/".len();
    text[at..]
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_')
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_reporter_follows_the_report_by_its_secret_link_and_adds_information() {
    status_page(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_reporter_follows_the_report_by_its_secret_link_on_postgres_too() {
    if renkei_testkit::postgres_configured() {
        status_page(Backend::Postgres).await;
    }
}

async fn status_page(backend: Backend) {
    let Some(s) = setup(backend).await else {
        return;
    };
    let (_, report) = s
        .mail_in("From: taro@victim.example.jp\r\nSubject: scan\r\n\r\nscan from 203.0.113.77 to port 22\r\n")
        .await;
    let (_, other) = s
        .mail_in("From: hanako@elsewhere.example.jp\r\nSubject: phishing\r\n\r\nphishing at 198.51.100.9\r\n")
        .await;
    assert_eq!(s.send_outbox().await, 2);
    let secret = secret_in(&mail_body(&s, "report.confirmation", "taro@victim.example.jp").await);
    assert!(secret.len() > 40, "{secret}");
    let incident = s.get(&format!("/api/v1/reports/{report}")).await["incidents"][0]
        .as_i64()
        .unwrap();

    // A shared mail shows on the page; an unshared one and a note do not.
    for (body, share) in [
        ("Shared: we are on it.", true),
        ("Not for the reporter.", false),
    ] {
        let r = s
            .post(
                &format!("/api/v1/reports/{report}/mail"),
                json!({"to": ["taro@victim.example.jp"], "subject": "news", "body": body, "share": share}),
            )
            .await;
        assert_eq!(r.status(), 202);
    }
    s.post(
        &format!("/api/v1/reports/{report}/messages"),
        json!({"body": "internal: looks like Mirai"}),
    )
    .await;
    s.post(
        &format!("/api/v1/incidents/{incident}/mail"),
        json!({"to": ["abuse@isp.example"], "subject": "scan", "body": "Please look.", "question": true}),
    )
    .await;
    let reporter = reqwest::Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let page = reporter
        .get(s.srv.url(&format!("/status/{secret}")))
        .header("accept-language", "en")
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 200);
    let page = page.text().await.unwrap();
    assert!(page.contains(&format!("#{report}")));
    assert!(
        page.contains("In contact with those involved"),
        "the incident waits for the site"
    );
    assert!(page.contains("Shared: we are on it."));
    assert!(page.contains("received"), "the confirmation is shared");
    for hidden in [
        "Not for the reporter.",
        "looks like Mirai",
        "Please look.",
        "phishing",
        "hanako",
    ] {
        assert!(!page.contains(hidden), "{hidden} shows on the status page");
    }

    // The reporter adds information: it joins the conversation as an answer.
    let csrf = renkei_testkit::csrf_from(&page).unwrap();
    let r = reporter
        .post(s.srv.url(&format!("/status/{secret}")))
        .form(&[
            ("_csrf", csrf.as_str()),
            ("text", "It started again at 03:00 JST."),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303);
    let i = s.incident(incident).await;
    assert_eq!(i["state"], "coordinating");
    assert!(i["reply_at"].is_string());
    let thread = s.get(&format!("/api/v1/reports/{report}/messages")).await;
    let added = thread.as_array().unwrap().last().unwrap();
    assert_eq!(
        (added["direction"].as_str(), added["flag"].as_str()),
        (Some("in"), Some("status_page"))
    );
    let page = reporter
        .get(s.srv.url(&format!("/status/{secret}?added=1")))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(page.contains("It started again at 03:00 JST."));
    let r = reporter
        .post(s.srv.url(&format!("/status/{secret}")))
        .form(&[("_csrf", csrf.as_str()), ("text", "   ")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 422, "nothing to add");

    // Files, as a browser sends them (multipart): they become files of the report,
    // named in the message, for coordinators only.
    let (content_type, body) = multipart(
        &[("_csrf", csrf.as_str()), ("text", "The log, as asked.")],
        &[(
            "file",
            "../auth.log",
            b"sshd: Failed password for root from 203.0.113.77\n",
        )],
    );
    let r = reporter
        .post(s.srv.url(&format!("/status/{secret}")))
        .header("content-type", content_type)
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303);
    let files: Vec<renkei_incident::incidents::Attachment> =
        renkei_incident::incidents::attachments(&s.srv.store, report)
            .await
            .unwrap();
    assert_eq!(
        files
            .iter()
            .map(|f| (f.filename.clone(), f.added_by.clone()))
            .collect::<Vec<_>>(),
        vec![(
            Some("auth.log".to_string()),
            Some("reporter (status page)".to_string())
        )],
        "the path is dropped from the name"
    );
    let thread = s.get(&format!("/api/v1/reports/{report}/messages")).await;
    let last = thread.as_array().unwrap().last().unwrap()["body"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        last.contains("The log, as asked.") && last.contains("[auth.log (49 B)]"),
        "{last}"
    );
    // Without the form's token a multipart post is refused like any other.
    let (content_type, body) = multipart(&[("text", "no token")], &[]);
    let r = reporter
        .post(s.srv.url(&format!("/status/{secret}")))
        .header("content-type", content_type)
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);

    // Wrong, revoked and expired links are the same nothing.
    let wrong = reporter
        .get(s.srv.url("/status/s-not-a-link"))
        .header("x-request-id", "same-request")
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status(), 404);
    let wrong_body = wrong.text().await.unwrap();
    let coordinator = s.srv.user(Role::Coordinator).await;
    let staff = s.srv.signed_in(&coordinator).await;
    let r = staff
        .client
        .post(s.srv.url(&format!("/reports/{report}/status-link/revoke")))
        .form(&[("_csrf", staff.csrf.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303);
    let revoked = reporter
        .get(s.srv.url(&format!("/status/{secret}")))
        .header("x-request-id", "same-request")
        .send()
        .await
        .unwrap();
    assert_eq!(revoked.status(), 404);
    assert_eq!(
        revoked.text().await.unwrap(),
        wrong_body,
        "a revoked link says no more than a wrong one"
    );
    let r = reporter
        .post(s.srv.url(&format!("/status/{secret}")))
        .form(&[("_csrf", csrf.as_str()), ("text", "more")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    // A new link comes by mail; it expires with its days.
    let r = staff
        .client
        .post(s.srv.url(&format!("/reports/{report}/status-link")))
        .form(&[("_csrf", staff.csrf.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303);
    // The earlier mails of this conversation and the new link.
    assert_eq!(s.send_outbox().await, 4);
    let fresh = secret_in(&mail_body(&s, "report.status_link", "taro@victim.example.jp").await);
    assert_ne!(fresh, secret);
    let ok = reporter
        .get(s.srv.url(&format!("/status/{fresh}")))
        .send()
        .await
        .unwrap();
    assert_eq!(ok.status(), 200);
    s.srv.clock.advance(91 * 24 * 3600);
    let expired = reporter
        .get(s.srv.url(&format!("/status/{fresh}")))
        .send()
        .await
        .unwrap();
    assert_eq!(expired.status(), 404);
    let _ = other;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn phone_reports_intake_addresses_and_the_reporters_consent_are_kept_and_honoured() {
    let Some(s) = setup(Backend::Sqlite).await else {
        return;
    };
    // A mail to the second intake address: the address is kept and counted.
    let reply = send_mail(
        &s.smtp,
        SECRETARIAT,
        "From: member@partner.example\r\nSubject: scan\r\n\r\nscan from 203.0.113.99\r\n",
    )
    .await;
    let by_mail: i64 = reply.rsplit('#').next().unwrap().trim().parse().unwrap();
    assert_eq!(
        s.get(&format!("/api/v1/reports/{by_mail}")).await["intake_address"],
        SECRETARIAT
    );

    // A coordinator enters a report taken on the telephone, with the reporter's
    // answers to the consent questions.
    let phone = json!({"site_org": "Shop KK", "reporter_name": "Yamada", "reporter_email": "yamada@shop.example.jp",
        "description": "SSH attacks from 198.51.100.44", "received_by": "phone",
        "consent_mediation": true, "consent_named": false});
    let r = s.post("/api/v1/reports", phone.clone()).await;
    assert_eq!(r.status(), 201);
    let report = r.json::<Value>().await.unwrap()["report"].as_i64().unwrap();
    let got = s.get(&format!("/api/v1/reports/{report}")).await;
    assert_eq!(
        (
            got["channel"].as_str(),
            got["consent_mediation"].as_bool(),
            got["consent_named"].as_bool()
        ),
        (Some("phone"), Some(true), Some(false))
    );
    // Only staff say a report came by telephone.
    let constituent = s.srv.token(&s.srv.user(Role::Constituent).await).await;
    let r = s
        .srv
        .client()
        .post(s.srv.url("/api/v1/reports"))
        .bearer_auth(&constituent)
        .json(&phone)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    let stats = s.get("/api/v1/statistics/incidents").await;
    let count = |list: &str, key: &str| {
        stats[list]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["key"] == key)
            .map(|c| c["count"].as_i64().unwrap())
    };
    assert_eq!(count("by_channel", "phone"), Some(1), "{stats}");
    assert_eq!(count("by_intake_address", SECRETARIAT), Some(1), "{stats}");

    // A template that names the reporter names them only to themselves.
    renkei_incident::correspond::set_template(
        &s.srv.store,
        &Actor::system("test"),
        "advice",
        "en",
        "Advice",
        "{% if reporter %}Reported by {{ reporter.email }}.{% endif %}\nPlease look.\n{{ quoted }}",
    )
    .await
    .unwrap();
    let preview = |to: &'static str, reply_to: Option<i64>| {
        let s = &s;
        async move {
            let r = s.post(&format!("/api/v1/reports/{report}/mail/preview"),
                json!({"to": [to], "template": "advice", "lang": "en", "reply_to": reply_to, "quote": reply_to.is_some()})).await;
            assert_eq!(r.status(), 200);
            r.json::<Value>().await.unwrap()["body"]
                .as_str()
                .unwrap()
                .to_string()
        }
    };
    assert!(
        preview("yamada@shop.example.jp", None)
            .await
            .contains("Reported by yamada@shop.example.jp")
    );
    assert!(!preview("abuse@isp.example", None).await.contains("yamada"));
    // Quoting the reporter to the site leaves out who wrote.
    let r = s
        .post(
            &format!("/api/v1/reports/{report}/messages"),
            json!({"direction": "out", "subject": "call", "body": "called back"}),
        )
        .await;
    assert_eq!(r.status(), 201);
    let (_, joined) = s.mail_in(&format!("From: yamada@shop.example.jp\r\nSubject: Re: [RENKEI#{report}] more\r\n\r\nIt is still going on.\r\n")).await;
    assert_eq!(joined, report);
    let thread = s.get(&format!("/api/v1/reports/{report}/messages")).await;
    let answer = thread.as_array().unwrap().last().unwrap()["id"]
        .as_i64()
        .unwrap();
    let to_site = preview("abuse@isp.example", Some(answer)).await;
    assert!(
        to_site.contains("> It is still going on.") && !to_site.contains("yamada"),
        "{to_site}"
    );
    let to_reporter = preview("yamada@shop.example.jp", Some(answer)).await;
    assert!(
        to_reporter.contains("yamada@shop.example.jp:"),
        "{to_reporter}"
    );
}

/// A finder answers the coordinators by mail: the answer joins the finder's thread
/// on the case (and shows on their status page), by its reference to our mail.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_finder_answering_by_mail_joins_their_thread_on_the_case() {
    let Some(s) = setup(Backend::Sqlite).await else {
        return;
    };
    let r = s
        .srv
        .client()
        .post(s.srv.url("/api/v1/cases"))
        .json(&json!({"title": "Stored XSS in Kumo Gateway", "description": "The device name is echoed.",
            "reporter_name": "Hanako", "reporter_email": "hanako@research.example"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let created: Value = r.json().await.unwrap();
    let key = created["case"].as_str().unwrap().to_string();
    let status_url = created["status_url"].as_str().unwrap().to_string();
    let r = s
        .post(
            &format!("/api/v1/cases/{key}/finder/messages"),
            json!({"body": "Which firmware version did you test?"}),
        )
        .await;
    assert_eq!(r.status(), 201);
    let asked: String = sqlx::query_scalar("SELECT message_id FROM outbox WHERE kind = 'case.finder_message' AND rcpt_to = 'hanako@research.example'")
        .fetch_one(s.srv.store.pool())
        .await
        .unwrap();
    let reports_before: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM incidents")
        .fetch_one(s.srv.store.pool())
        .await
        .unwrap();
    let reply = send_mail(
        &s.smtp,
        INTAKE,
        &format!(
            "From: Hanako <hanako@research.example>\r\nTo: csirt@csirt.example\r\nSubject: Re: [{key}]\r\nMessage-ID: <f1@research.example>\r\nIn-Reply-To: <{}>\r\n\r\nFirmware 2.1.3, build 7781.\r\n",
            asked.trim_matches(['<', '>'])
        ),
    )
    .await;
    assert!(reply.starts_with("250"), "{reply}");
    let thread = s.get(&format!("/api/v1/cases/{key}/finder")).await;
    let last = thread.as_array().unwrap().last().unwrap();
    assert_eq!(last["direction"], "in", "{thread}");
    assert!(
        last["body"].as_str().unwrap().contains("Firmware 2.1.3"),
        "{thread}"
    );
    // The finder's own page shows it too; no incident came of it.
    let path = &status_url[status_url.find("/vulnerabilities/status/").unwrap()..];
    let page = s
        .srv
        .client()
        .get(s.srv.url(path))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(page.contains("Firmware 2.1.3"));
    let reports_after: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM incidents")
        .fetch_one(s.srv.store.pool())
        .await
        .unwrap();
    assert_eq!(reports_before, reports_after);
}
