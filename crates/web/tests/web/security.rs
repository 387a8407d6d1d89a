//! What an outside probe found, each checked as the attacker would try it: NUL
//! bytes, open redirects, embargoed identifiers in public answers, login
//! throttling, token scopes, slow clients, `/metrics`, and sessions.

use crate::common;

use std::time::Duration;

use common::Api;
use renkei_core::access::Role;
use renkei_testkit::{Backend, PASSWORD, TestServer, both_backends, csrf_from, set_cookie};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

async fn login_csrf(srv: &TestServer, client: &reqwest::Client) -> String {
    let page = client.get(srv.url("/login")).send().await.unwrap();
    csrf_from(&page.text().await.unwrap()).unwrap()
}

async fn error_code(r: reqwest::Response) -> (u16, String, String) {
    let status = r.status().as_u16();
    let code = r
        .headers()
        .get("x-renkei-error")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    (status, code, r.text().await.unwrap_or_default())
}

async fn report_status(srv: &TestServer, id: i64) -> (String, Option<String>, i64) {
    sqlx::query_as(
        "SELECT status, problem, CAST(process_attempts AS BIGINT) FROM reports WHERE id = $1",
    )
    .bind(id)
    .fetch_one(srv.store.pool())
    .await
    .unwrap()
}

both_backends! {
    async fn a_nul_in_any_text_field_is_refused_naming_the_field_and_writes_nothing(srv) {
        let api = Api { srv: &srv, http: srv.client() };
        let coordinator = srv.token(&srv.user(Role::Coordinator).await).await;
        let audit_before = srv.audit_actions().await.len();

        // The web form (a page: an HTML answer), and the login form.
        let client = srv.client();
        let csrf = login_csrf(&srv, &client).await;
        let r = client.post(srv.url("/report")).form(&[
            ("_csrf", csrf.as_str()), ("site_org", "Example\0 Corp"), ("contact_email", "a@b.example"),
            ("hosts", "192.0.2.1"), ("description", "scan"),
        ]).send().await.unwrap();
        let (status, code, page) = error_code(r).await;
        assert_eq!((status, code.as_str()), (422, "invalid_input"), "{page}");
        assert!(page.contains("site_org"), "the answer names the field: {page}");
        let r = client.post(srv.url("/login")).form(&[("_csrf", csrf.as_str()), ("email", "a\0@b.example"), ("password", "x")]).send().await.unwrap();
        let (status, _, page) = error_code(r).await;
        assert_eq!(status, 422);
        assert!(page.contains("email"), "{page}");

        // The JSON API: a finder's case, a vendor's application, a coordinator's case.
        for (who, path, body, field) in [
            (None, "/api/v1/cases", json!({"title": "XSS\u{0}", "description": "d", "affected": "a", "reporter_name": "n", "reporter_email": "f@x.example"}), "title"),
            (None, "/api/v1/vendors/apply", json!({"company": "Acme", "name": "PSIRT", "email": "p@acme.example", "products": ["Router\u{0}"]}), "products[0]"),
            (Some(coordinator.as_str()), "/api/v1/cases", json!({"title": "t", "description": "d\u{0}", "affected": "a", "reporter_name": "n", "reporter_email": "f@x.example"}), "description"),
        ] {
            let (status, e) = api.post(who, path, body).await;
            assert_eq!((status, e["error"]["code"].as_str()), (422, Some("invalid_input")), "{path}: {e}");
            let message = e["error"]["message"].as_str().unwrap();
            assert!(message.starts_with(&format!("{field}:")), "{path}: {message}");
        }
        // A query parameter, and a path.
        let (status, e) = api.get(Some(&coordinator), "/api/v1/incidents?q=a%00b").await;
        assert_eq!(status, 422, "{e}");
        for path in ["/api/v1/notes/JVN%2300%00", "/notes/JVN%2300%00", "/api/v1/orgs/1%00"] {
            let r = api.http.get(srv.url(path)).bearer_auth(&coordinator).send().await.unwrap();
            assert_eq!(r.status(), 404, "{path}");
        }
        assert_eq!(srv.audit_actions().await.len(), audit_before, "nothing was written");
    }

    async fn a_mail_with_nul_bytes_is_stored_as_received_and_read_with_the_nul_replaced(srv) {
        let coordinator = srv.token(&srv.user(Role::Coordinator).await).await;
        let mail = b"From: Abuse Desk <abuse@isp.example>\r\nTo: csirt@renkei.example\r\nSubject: scan from 198.51.100.23\0\r\nMessage-ID: <nul-1@isp.example>\r\n\r\nPort scan from 198.51.100.23\0 against our hosts.\r\n".to_vec();
        let r = reqwest::Client::new()
            .post(srv.url("/api/v1/reports/import?format=mail"))
            .bearer_auth(&coordinator)
            .header("content-type", "message/rfc822")
            .body(mail.clone())
            .send()
            .await
            .unwrap();
        let status = r.status().as_u16();
        let body: Value = r.json().await.unwrap();
        assert!((200..300).contains(&status), "{status} {body}");
        let id = body["report"].as_i64().unwrap();
        let (state, _, _) = report_status(&srv, id).await;
        assert_eq!(state, "processed", "the report was read, not left waiting");
        let raw: Vec<u8> = sqlx::query_scalar("SELECT raw FROM reports WHERE id = $1").bind(id).fetch_one(srv.store.pool()).await.unwrap();
        assert_eq!(raw, mail, "the bytes are kept exactly as received");
        let subject: String = sqlx::query_scalar("SELECT subject FROM reports WHERE id = $1").bind(id).fetch_one(srv.store.pool()).await.unwrap();
        assert_eq!(subject, "scan from 198.51.100.23\u{FFFD}");
        let incidents: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM incidents WHERE report_id = $1").bind(id).fetch_one(srv.store.pool()).await.unwrap();
        assert_eq!(incidents, 1);
    }

    async fn a_report_whose_processing_fails_is_kept_retried_and_then_set_aside_with_the_reason(srv) {
        use renkei_incident::reports::{self, Channel, InputFormat};
        let actor = renkei_core::audit::Actor::system("test");
        let settings = renkei_incident::Settings::default();
        // One that a node took in and died before reading: retried, and read.
        let waiting = reports::receive(&srv.store, &actor, Channel::Mail, InputFormat::Mail,
            b"From: a@isp.example\r\nSubject: scan\r\n\r\nscan from 203.0.113.9\r\n", renkei_core::tlp::Tlp::Amber, None).await.unwrap();
        // One that cannot be read by this version (a format it does not know).
        let broken = reports::receive(&srv.store, &actor, Channel::Api, InputFormat::Mail, b"x", renkei_core::tlp::Tlp::Amber, None).await.unwrap();
        sqlx::query("UPDATE reports SET format = 'iodef-9' WHERE id = $1").bind(broken).execute(srv.store.pool()).await.unwrap();
        // Too young to be retried: the request that received it may still be reading it.
        assert_eq!(reports::retry_stuck(&srv.store, &settings, chrono::Duration::minutes(2), 10).await.unwrap(), 0);
        assert_eq!(reports::retry_stuck(&srv.store, &settings, chrono::Duration::zero(), 10).await.unwrap(), 2);
        assert_eq!(report_status(&srv, waiting).await.0, "processed");
        let (state, problem, attempts) = report_status(&srv, broken).await;
        assert_eq!((state.as_str(), attempts), ("needs_review", 2));
        assert!(problem.unwrap().contains("iodef-9"), "the reason is kept for the coordinator");
        assert!(srv.audit_actions().await.contains(&"report.needs_review".to_string()));
    }

    async fn redirect_targets_never_leave_the_site(srv) {
        let user = srv.user(Role::Coordinator).await;
        let signed = srv.signed_in(&user).await;
        for next in ["/%09/evil.example", "/%5Cevil.example", "//evil.example", "/%0d%0a//evil.example", "https://evil.example"] {
            let r = signed.client.get(srv.url(&format!("/login?next={next}"))).send().await.unwrap();
            assert_eq!(r.status(), 303, "{next}");
            assert_eq!(r.headers()["location"], "/dashboard", "{next}");
        }
        let r = signed.client.get(srv.url("/login?next=/cases%3Fstate%3Dopen")).send().await.unwrap();
        assert_eq!(r.headers()["location"], "/cases?state=open");
        for back in ["/\\evil.example", "/\t/evil.example", "//evil.example"] {
            let r = signed.client.post(srv.url("/lang")).form(&[("_csrf", signed.csrf.as_str()), ("lang", "en"), ("back", back)]).send().await.unwrap();
            assert_eq!(r.status(), 303, "{back:?}");
            assert_eq!(r.headers()["location"], "/", "{back:?}");
        }
    }

    async fn an_embargoed_note_is_named_in_no_public_answer_until_its_moment(srv) {
        let api = Api { srv: &srv, http: srv.client() };
        let coordinator = srv.token(&srv.user(Role::Coordinator).await).await;
        let reviewer = srv.token(&srv.user(Role::Coordinator).await).await;
        // A case with a CVE, scheduled for publication in three days.
        let (s, c) = api.post(Some(&coordinator), "/api/v1/cases", json!({
            "title": "Buffer overflow in Foo", "description": "d", "affected": "Foo 1.0",
            "reporter_name": "n", "reporter_email": "f@x.example", "cve": "CVE-2026-12345",
        })).await;
        assert_eq!(s, 201, "{c}");
        let key = c["case"].as_str().unwrap().to_string();
        let at = srv.clock.now() + chrono::Duration::days(3);
        let (s, r) = api.post(Some(&coordinator), &format!("/api/v1/cases/{key}/date"), json!({"publish_at": at.to_rfc3339()})).await;
        assert_eq!(s, 200, "{r}");
        let (s, r) = api.post(Some(&coordinator), &format!("/api/v1/cases/{key}/publication"), json!({})).await;
        assert_eq!(s, 200, "{r}");
        let note = r["case"]["note"]["key"].as_str().unwrap().to_string();

        // An alert published ahead of the note, and an annotation written in the embargo.
        let (s, a) = api.post(Some(&coordinator), "/api/v1/alerts", json!({
            "category": "vulnerability", "tlp": "TLP:CLEAR", "title_ja": "Foo の注意喚起", "title_en": "Foo alert",
            "body_ja": "本文", "body_en": "Body", "notes": [note.clone()],
        })).await;
        assert_eq!(s, 201, "{a}");
        let number = a["number"].as_str().unwrap().to_string();
        api.post(Some(&coordinator), &format!("/api/v1/alerts/{number}/submit"), json!({})).await;
        let (s, p) = api.post(Some(&reviewer), &format!("/api/v1/alerts/{number}/publish"), json!({})).await;
        assert_eq!(s, 200, "{p}");
        let (s, v) = api.post(Some(&coordinator), "/api/v1/observation/annotations", json!({
            "proto": "tcp", "port": 8443, "day": "2026-12-01", "text_en": "Exploits for Foo", "note_id": note, "cve": "CVE-2026-12345",
        })).await;
        assert_eq!(s, 201, "{v}");

        let public = |path: String| { let api = &api; async move { let (s, v) = api.get(None, &path).await; assert_eq!(s, 200, "{path}: {v}"); v.to_string() } };
        let alert_path = format!("/api/v1/alerts/{number}");
        let annotations = "/api/v1/observation/annotations?period=2026-11-01..2026-12-31".to_string();
        let alert = public(alert_path.clone()).await;
        assert!(!alert.contains(&note), "{alert}");
        assert!(!alert.contains("author_id") && !alert.contains("reviewer_id"), "no account ids in public: {alert}");
        let ann = public(annotations.clone()).await;
        assert!(!ann.contains(&note) && !ann.contains("CVE-2026-12345"), "{ann}");
        let page = api.http.get(srv.url(&format!("/alerts/{number}"))).send().await.unwrap().text().await.unwrap();
        assert!(!page.contains(&note), "the alert page");
        // Staff still see what they wrote.
        let (_, staff) = api.get(Some(&coordinator), &alert_path).await;
        assert!(staff.to_string().contains(&note) && staff.to_string().contains("author_id"));

        // At the moment of publication, every answer names it.
        srv.clock.advance(3 * 86_400 + 60);
        assert!(public(alert_path).await.contains(&note));
        let ann = public(annotations).await;
        assert!(ann.contains(&note) && ann.contains("CVE-2026-12345"), "{ann}");
    }

    async fn parallel_wrong_passwords_get_no_more_tries_than_the_limit(srv) {
        let user = srv.user(Role::Coordinator).await;
        let client = srv.client();
        let csrf = login_csrf(&srv, &client).await;
        let mut tries = Vec::new();
        for _ in 0..30 {
            let (client, csrf, email, url) = (client.clone(), csrf.clone(), user.email.clone(), srv.url("/login"));
            tries.push(tokio::spawn(async move {
                client.post(url).form(&[("email", email.as_str()), ("password", "wrong-wrong"), ("_csrf", csrf.as_str())]).send().await.unwrap().status().as_u16()
            }));
        }
        let mut statuses = Vec::new();
        for t in tries { statuses.push(t.await.unwrap()); }
        let checked = statuses.iter().filter(|s| **s == 401).count();
        assert_eq!(checked, 5, "exactly the allowance was checked: {statuses:?}");
        assert_eq!(statuses.iter().filter(|s| **s == 429).count(), 25);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nobody_without_the_password_can_lock_the_rightful_user_out() {
    for backend in backends() {
        let srv = TestServer::start_with(backend, |c| c.server.trust_forwarded_for = true).await;
        let user = srv.user(Role::Coordinator).await;
        let login = |from: &'static str, password: &'static str| {
            let (srv, email) = (&srv, user.email.clone());
            async move {
                let client = srv.client();
                let csrf = login_csrf(srv, &client).await;
                client
                    .post(srv.url("/login"))
                    .header("x-forwarded-for", from)
                    .form(&[
                        ("email", email.as_str()),
                        ("password", password),
                        ("_csrf", csrf.as_str()),
                    ])
                    .send()
                    .await
                    .unwrap()
                    .status()
                    .as_u16()
            }
        };
        // An attacker spends its tries, and more, on the account from one address…
        for _ in 0..5 {
            assert_eq!(login("198.51.100.66", "guess").await, 401);
        }
        assert_eq!(login("198.51.100.66", "guess").await, 429);
        assert_eq!(
            login("198.51.100.66", PASSWORD).await,
            429,
            "that address is held back, even with the password"
        );
        // …and the rightful user, elsewhere, signs in at once.
        assert_eq!(login("203.0.113.10", PASSWORD).await, 303);

        // Behind the attacker's own address (one NAT), the slower path: with two-step
        // sign-in on, the password and a code together get in, once per window.
        use renkei_core::second_factor;
        let secret = second_factor::begin(&srv.store, user.id).await.unwrap();
        second_factor::confirm(
            &srv.store,
            &renkei_core::audit::Actor::system("test"),
            user.id,
            &code(&secret, 0),
        )
        .await
        .unwrap();
        let with_code = |password: &'static str, code: String| {
            let (srv, email) = (&srv, user.email.clone());
            async move {
                let client = srv.client();
                let csrf = login_csrf(srv, &client).await;
                client
                    .post(srv.url("/login"))
                    .header("x-forwarded-for", "198.51.100.66")
                    .form(&[
                        ("email", email.as_str()),
                        ("password", password),
                        ("code", code.as_str()),
                        ("_csrf", csrf.as_str()),
                    ])
                    .send()
                    .await
                    .unwrap()
            }
        };
        let r = with_code("guess", code(&secret, 1)).await;
        assert_eq!(r.status(), 429, "a wrong password spends the slow try");
        assert!(
            r.text().await.unwrap().contains("id=\"slow-path\""),
            "the held-back form offers the slower path"
        );
        // The window has one slow try, spent above: a fresh window would admit the
        // right pair. Wind the slow key's clock back instead of waiting.
        sqlx::query("DELETE FROM rate_events WHERE key LIKE 'login-slow:%'")
            .execute(srv.store.pool())
            .await
            .unwrap();
        assert_eq!(
            with_code(PASSWORD, code(&secret, 1)).await.status(),
            303,
            "password and code together get in"
        );
        assert_eq!(
            with_code(PASSWORD, code(&secret, -1)).await.status(),
            429,
            "once per window"
        );
    }
}

fn backends() -> Vec<Backend> {
    let mut b = vec![Backend::Sqlite];
    if renkei_testkit::postgres_configured() {
        b.push(Backend::Postgres);
    }
    b
}

async fn new_token(api: &Api<'_>, who: &str, body: Value) -> (u16, Value) {
    api.post(Some(who), "/api/v1/tokens", body).await
}

mod tokens_and_sessions {
    use super::*;

    both_backends! {
        async fn tokens_do_only_what_their_scopes_name_and_never_mint_wider_ones(srv) {
            let api = Api { srv: &srv, http: srv.client() };
            let admin = srv.user(Role::Admin).await;
            let admin_token = srv.token(&admin).await;
            let coordinator = srv.user(Role::Coordinator).await;
            let sensor = srv.user(Role::Sensor).await;
            let sensor_token = srv.token(&sensor).await;

            // A sensor token mints nothing and files no reports.
            let (s, e) = new_token(&api, &sensor_token, json!({"name": "more"})).await;
            assert_eq!((s, e["error"]["code"].as_str()), (403, Some("insufficient_scope")), "{e}");
            let (s, e) = api.post(Some(&sensor_token), "/api/v1/reports", json!({"description": "x"})).await;
            assert_eq!((s, e["error"]["code"].as_str()), (403, Some("insufficient_scope")), "{e}");

            // An admin's token with the admin scope issues a read-only token for a coordinator.
            let (s, t) = new_token(&api, &admin_token, json!({"name": "reader", "user_id": coordinator.id, "scopes": ["read"], "expires_in_days": 30})).await;
            assert_eq!(s, 201, "{t}");
            assert_eq!(t["token"]["scopes"], json!(["read"]));
            assert!(t["token"]["expires_at"].is_string());
            let reader = t["secret"].as_str().unwrap().to_string();
            assert_eq!(api.get(Some(&reader), "/api/v1/incidents").await.0, 200);
            let (s, e) = api.post(Some(&reader), "/api/v1/orgs", json!({"name": "X", "kind": "isp"})).await;
            assert_eq!((s, e["error"]["code"].as_str()), (403, Some("insufficient_scope")), "{e}");
            let (s, _) = new_token(&api, &reader, json!({"name": "wider"})).await;
            assert_eq!(s, 403, "a read token issues nothing");

            // Without the admin scope, an admin's own token issues nothing either; with it,
            // never a scope it lacks, nor one the account's role may not hold.
            let (s, t) = new_token(&api, &admin_token, json!({"name": "ops", "scopes": ["read", "write"]})).await;
            assert_eq!(s, 201, "{t}");
            let ops = t["secret"].as_str().unwrap().to_string();
            assert_eq!(new_token(&api, &ops, json!({"name": "x", "scopes": ["read"]})).await.0, 403);
            let (s, t) = new_token(&api, &admin_token, json!({"name": "limited-admin", "scopes": ["admin", "read"]})).await;
            assert_eq!(s, 201, "{t}");
            let limited = t["secret"].as_str().unwrap().to_string();
            let (s, e) = new_token(&api, &limited, json!({"name": "x", "scopes": ["read", "write"]})).await;
            assert_eq!(s, 422, "{e}");
            assert!(e["error"]["message"].as_str().unwrap().contains("wider than itself"), "{e}");
            let (s, e) = new_token(&api, &admin_token, json!({"name": "x", "user_id": sensor.id, "scopes": ["read"]})).await;
            assert_eq!(s, 422, "a sensor account's token is a sensor token: {e}");
            let (s, e) = new_token(&api, &admin_token, json!({"name": "x", "scopes": ["root"]})).await;
            assert_eq!((s, e["error"]["code"].as_str()), (422, Some("invalid_input")));

            // An expired token is no token.
            let (_, t) = new_token(&api, &admin_token, json!({"name": "short", "scopes": ["read"], "expires_in_days": 1})).await;
            let short = t["secret"].as_str().unwrap().to_string();
            assert_eq!(api.get(Some(&short), "/api/v1/me").await.0, 200);
            sqlx::query("UPDATE api_tokens SET expires_at = '2000-01-01T00:00:00Z' WHERE name = 'short'").execute(srv.store.pool()).await.unwrap();
            let (s, e) = api.get(Some(&short), "/api/v1/me").await;
            assert_eq!((s, e["error"]["code"].as_str()), (401, Some("invalid_token")));

            // The account page lists each token's scopes and expiry.
            let signed = srv.signed_in(&admin).await;
            let page = signed.client.get(srv.url("/account?lang=en")).send().await.unwrap().text().await.unwrap();
            let row = page.split("<tr>").find(|r| r.contains("limited-admin")).expect("the token is listed");
            assert!(row.contains("read, admin"), "{row}");
            let row = page.split("<tr>").find(|r| r.contains("<td>short</td>")).expect("the token is listed");
            assert!(row.contains("2000-01-01"), "its expiry is shown: {row}");
        }

        async fn metrics_are_for_staff_and_metrics_tokens_never_for_the_public(srv) {
            let api = Api { srv: &srv, http: srv.client() };
            let r = api.http.get(srv.url("/metrics")).send().await.unwrap();
            assert_eq!(r.status(), 303, "the public is sent to sign in");
            let vendor = srv.token(&srv.user(Role::Vendor).await).await;
            assert_eq!(api.http.get(srv.url("/metrics")).bearer_auth(&vendor).send().await.unwrap().status(), 403);
            let admin = srv.token(&srv.user(Role::Admin).await).await;
            let (s, t) = new_token(&api, &admin, json!({"name": "prometheus", "scopes": ["metrics"]})).await;
            assert_eq!(s, 201, "{t}");
            let scrape = t["secret"].as_str().unwrap();
            let r = api.http.get(srv.url("/metrics")).bearer_auth(scrape).send().await.unwrap();
            assert_eq!(r.status(), 200);
            assert!(r.text().await.unwrap().contains("renkei_http_requests_total"));
            assert_eq!(api.get(Some(scrape), "/api/v1/me").await.0, 403, "a metrics token reads nothing else");
        }

        async fn a_sign_in_over_a_planted_session_cookie_keeps_the_new_session_and_the_old_csrf_token_dies(srv) {
            let user = srv.user(Role::Coordinator).await;
            // A browser without a cookie store of its own: every cookie is set by hand.
            let client = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
            let page = client.get(srv.url("/login")).send().await.unwrap();
            let csrf_cookie = set_cookie(&page, "renkei_csrf").unwrap().split(';').next().unwrap().to_string();
            let csrf = csrf_from(&page.text().await.unwrap()).unwrap();
            let r = client
                .post(srv.url("/login"))
                .header("cookie", format!("renkei_session=rs_planted; {csrf_cookie}"))
                .form(&[("email", user.email.as_str()), ("password", PASSWORD), ("_csrf", csrf.as_str())])
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), 303);
            let sessions: Vec<&str> = r.headers().get_all("set-cookie").iter().filter_map(|v| v.to_str().ok()).filter(|v| v.starts_with("renkei_session=")).collect();
            assert_eq!(sessions.len(), 1, "one Set-Cookie for the session: {sessions:?}");
            assert!(!sessions[0].starts_with("renkei_session=;"), "{sessions:?}");
            let r_csrf = set_cookie(&r, "renkei_csrf").map(|c| c.split(';').next().unwrap().trim_start_matches("renkei_csrf=").to_string());
            let sessions: Vec<String> = sessions.into_iter().map(str::to_string).collect();
            let session = sessions[0].split(';').next().unwrap().to_string();
            // The token from before sign-in does not work for the signed-in session.
            let r = client.post(srv.url("/account/lang"))
                .header("cookie", format!("{session}; {csrf_cookie}"))
                .form(&[("_csrf", csrf.as_str()), ("lang", "ja")]).send().await.unwrap();
            assert_eq!(error_code(r).await.1, "csrf_failed");
            // The one the sign-in set does.
            let fresh = r_csrf.unwrap();
            let r = client.post(srv.url("/account/lang"))
                .header("cookie", format!("{session}; renkei_csrf={fresh}"))
                .form(&[("_csrf", fresh.as_str()), ("lang", "ja")]).send().await.unwrap();
            assert_eq!(r.status(), 303);
        }

        async fn the_owner_lists_and_ends_their_sessions(srv) {
            let user = srv.user(Role::Constituent).await;
            let laptop = srv.signed_in(&user).await;
            let phone = srv.signed_in(&user).await;
            let page = laptop.client.get(srv.url("/account?lang=en")).send().await.unwrap().text().await.unwrap();
            let at = page.find("id=\"sessions\"").unwrap();
            let ids: Vec<String> = page[at..].split("/account/sessions/").skip(1).map(|s| s[..16].to_string()).collect();
            assert_eq!(ids.len(), 2, "{page}");
            assert_eq!(page[at..].matches("this browser").count(), 1, "{page}");
            // End the other one (the one not marked as this browser).
            let rows: Vec<&str> = page[at..].split("<tr>").skip(2).collect();
            let other = rows.iter().find(|r| !r.contains("this browser")).unwrap();
            let id = other.split("/account/sessions/").nth(1).unwrap()[..16].to_string();
            let r = laptop.client.post(srv.url(&format!("/account/sessions/{id}/revoke"))).form(&[("_csrf", laptop.csrf.as_str())]).send().await.unwrap();
            assert_eq!(r.status(), 303);
            let r = phone.client.get(srv.url("/account")).send().await.unwrap();
            assert_eq!(r.status(), 303, "the phone is signed out");
            let r = laptop.client.get(srv.url("/account")).send().await.unwrap();
            assert_eq!(r.status(), 200, "the laptop is not");
            assert!(srv.audit_actions().await.contains(&"session.revoked".to_string()));
            // Another account's session is not found.
            let stranger = srv.signed_in(&srv.user(Role::Constituent).await).await;
            let theirs = ids.iter().find(|i| **i != id).unwrap();
            let r = stranger.client.post(srv.url(&format!("/account/sessions/{theirs}/revoke"))).form(&[("_csrf", stranger.csrf.as_str())]).send().await.unwrap();
            assert_eq!(r.status(), 404);
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_sends_its_headers_slowly_is_cut_off() {
    let srv = TestServer::start_with(Backend::Sqlite, |c| c.server.header_timeout_secs = 1).await;
    let address = srv.base.trim_start_matches("http://").to_string();
    let mut slow = tokio::net::TcpStream::connect(&address).await.unwrap();
    slow.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
        .await
        .unwrap();
    let started = std::time::Instant::now();
    let mut buf = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(10), slow.read_to_end(&mut buf)).await;
    assert!(read.is_ok(), "the server closed the connection");
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    // A client that sends its headers in time is served.
    let r = reqwest::get(srv.url("/healthz")).await.unwrap();
    assert_eq!(r.status(), 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_address_holds_no_more_connections_than_allowed() {
    let srv = TestServer::start_with(Backend::Sqlite, |c| {
        c.server.max_connections_per_address = 3
    })
    .await;
    let address = srv.base.trim_start_matches("http://").to_string();
    let mut held = Vec::new();
    for _ in 0..3 {
        let mut s = tokio::net::TcpStream::connect(&address).await.unwrap();
        s.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
            .await
            .unwrap();
        let mut buf = [0u8; 512];
        let n = s.read(&mut buf).await.unwrap();
        assert!(String::from_utf8_lossy(&buf[..n]).starts_with("HTTP/1.1 200"));
        held.push(s);
    }
    let mut fourth = tokio::net::TcpStream::connect(&address).await.unwrap();
    let _ = fourth
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        .await;
    let mut buf = [0u8; 512];
    let n = tokio::time::timeout(Duration::from_secs(5), fourth.read(&mut buf))
        .await
        .expect("closed at once")
        .unwrap_or(0);
    assert_eq!(n, 0, "the fourth connection is closed unanswered");
    drop(held);
    // Once the others are gone, the address is served again.
    let mut ok = false;
    for _ in 0..50 {
        if reqwest::get(srv.url("/healthz"))
            .await
            .is_ok_and(|r| r.status() == 200)
        {
            ok = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(ok);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_on_their_own_listener_need_no_token() {
    let database = renkei_testkit::FreshDatabase::create(Backend::Sqlite).await;
    let mut config = renkei_core::config::Config::default();
    config.database.url = database.url.clone();
    config.server.listen = "127.0.0.1:0".into();
    config.server.metrics_listen = "127.0.0.1:0".into();
    let listeners = renkei_web::Listeners::bind(&config).await.unwrap();
    let server = renkei_web::build(config).await.unwrap();
    let running = server.start(listeners).unwrap();
    let address = running.addresses().metrics.expect("a metrics listener");
    let r = reqwest::get(format!("http://{address}/metrics"))
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert!(r.text().await.unwrap().contains("renkei_nodes_alive"));
    let r = reqwest::get(format!("http://{address}/api/v1/me"))
        .await
        .unwrap();
    assert_eq!(r.status(), 404, "nothing else is served there");
    running.stop().await;
}

/// The key shown on the set-up page, decoded.
fn shown_secret(page: &str) -> Vec<u8> {
    let at =
        page.find("id=\"totp-secret\">").expect("the key is shown") + "id=\"totp-secret\">".len();
    let b32 = &page[at..at + page[at..].find('<').unwrap()];
    data_encoding::BASE32_NOPAD.decode(b32.as_bytes()).unwrap()
}

fn code(secret: &[u8], steps_ahead: i64) -> String {
    use renkei_core::second_factor::totp;
    totp::code_at(
        secret,
        totp::step_of(chrono::Utc::now().timestamp()) + steps_ahead,
    )
}

async fn password_step(
    srv: &TestServer,
    email: &str,
) -> (reqwest::Client, String, reqwest::Response) {
    let client = srv.client();
    let csrf = login_csrf(srv, &client).await;
    let r = client
        .post(srv.url("/login"))
        .form(&[
            ("email", email),
            ("password", PASSWORD),
            ("_csrf", csrf.as_str()),
            ("next", "/orgs"),
        ])
        .send()
        .await
        .unwrap();
    (client, csrf, r)
}

mod second_factor {
    use super::*;

    both_backends! {
        async fn an_authenticator_app_is_set_up_and_then_asked_for_at_every_sign_in(srv) {
            let user = srv.user(Role::Coordinator).await;
            let signed = srv.signed_in(&user).await;
            let page = signed.client.post(srv.url("/account/second-factor/begin")).form(&[("_csrf", signed.csrf.as_str())]).send().await.unwrap().text().await.unwrap();
            assert!(page.contains("otpauth://totp/"), "{page}");
            let secret = shown_secret(&page);
            let r = signed.client.post(srv.url("/account/second-factor/confirm")).form(&[("_csrf", signed.csrf.as_str()), ("code", "000000")]).send().await.unwrap();
            assert_eq!(r.status(), 422, "a wrong code turns nothing on");
            let page = signed.client.post(srv.url("/account/second-factor/confirm")).form(&[("_csrf", signed.csrf.as_str()), ("code", &code(&secret, 0))]).send().await.unwrap().text().await.unwrap();
            let at = page.find("id=\"recovery-codes\"").expect("recovery codes are shown");
            let recovery: Vec<String> = page[at..].split("<code>").skip(1).map(|c| c[..c.find('<').unwrap()].to_string()).collect();
            assert_eq!(recovery.len(), 10, "{page}");

            // The password alone opens no session.
            let (client, csrf, r) = password_step(&srv, &user.email).await;
            assert_eq!(r.status(), 303);
            assert!(r.headers()["location"].to_str().unwrap().starts_with("/login/code"), "{:?}", r.headers());
            assert!(set_cookie(&r, "renkei_session").is_none());
            assert_eq!(client.get(srv.url("/dashboard")).send().await.unwrap().status(), 303, "not signed in yet");
            let r = client.post(srv.url("/login/code")).form(&[("_csrf", csrf.as_str()), ("code", "123456"), ("next", "/orgs")]).send().await.unwrap();
            assert_eq!(r.status(), 401);
            let next_code = code(&secret, 1);
            let r = client.post(srv.url("/login/code")).form(&[("_csrf", csrf.as_str()), ("code", next_code.as_str()), ("next", "/orgs")]).send().await.unwrap();
            assert_eq!(r.status(), 303);
            assert_eq!(r.headers()["location"], "/orgs");
            assert!(set_cookie(&r, "renkei_session").is_some());
            assert_eq!(client.get(srv.url("/dashboard")).send().await.unwrap().status(), 200);

            // A code works once; a recovery code works once.
            let (client, csrf, _) = password_step(&srv, &user.email).await;
            let r = client.post(srv.url("/login/code")).form(&[("_csrf", csrf.as_str()), ("code", next_code.as_str())]).send().await.unwrap();
            assert_eq!(r.status(), 401, "a code seen over a shoulder cannot be replayed");
            let r = client.post(srv.url("/login/code")).form(&[("_csrf", csrf.as_str()), ("code", recovery[3].to_uppercase().as_str())]).send().await.unwrap();
            assert_eq!(r.status(), 303);
            let (client, csrf, _) = password_step(&srv, &user.email).await;
            let r = client.post(srv.url("/login/code")).form(&[("_csrf", csrf.as_str()), ("code", recovery[3].as_str())]).send().await.unwrap();
            assert_eq!(r.status(), 401);
            // A challenge without its cookie is nothing.
            let stranger = srv.client();
            let c = login_csrf(&srv, &stranger).await;
            let r = stranger.post(srv.url("/login/code")).form(&[("_csrf", c.as_str()), ("code", recovery[4].as_str())]).send().await.unwrap();
            assert_eq!(r.status(), 401);
            let actions = srv.audit_actions().await;
            assert!(actions.contains(&"second_factor.enrolled".to_string()) && actions.contains(&"second_factor.failed".to_string()));
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn staff_required_to_use_a_second_factor_reach_only_its_set_up_until_they_do() {
    for backend in backends() {
        let srv = TestServer::start_with(backend, |c| {
            c.security.require_second_factor_for_staff = true
        })
        .await;
        let coordinator = srv.user(Role::Coordinator).await;
        // Signed in with the password; the account page is all there is.
        let (client, _, r) = password_step(&srv, &coordinator.email).await;
        assert_eq!(r.status(), 303);
        let page = client
            .get(srv.url("/account"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        let signed = renkei_testkit::SignedIn {
            client,
            csrf: csrf_from(&page).unwrap(),
        };
        let r = signed
            .client
            .get(srv.url("/incidents"))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 303);
        assert_eq!(r.headers()["location"], "/account#second-factor");
        let r = signed
            .client
            .get(srv.url("/api/v1/incidents"))
            .send()
            .await
            .unwrap();
        assert_eq!(error_code(r).await.1, "second_factor_required");
        let page = signed
            .client
            .get(srv.url("/account?lang=en"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert!(page.contains("id=\"second-factor-required\""), "{page}");
        // Constituents are not staff: the policy does not hold them.
        let member = srv.signed_in(&srv.user(Role::Constituent).await).await;
        assert_eq!(
            member
                .client
                .get(srv.url("/dashboard"))
                .send()
                .await
                .unwrap()
                .status(),
            200
        );
        // Set up, and the coordinator's day begins.
        let page = signed
            .client
            .post(srv.url("/account/second-factor/begin"))
            .form(&[("_csrf", signed.csrf.as_str())])
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        let secret = shown_secret(&page);
        let r = signed
            .client
            .post(srv.url("/account/second-factor/confirm"))
            .form(&[("_csrf", signed.csrf.as_str()), ("code", &code(&secret, 0))])
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        assert_eq!(
            signed
                .client
                .get(srv.url("/incidents"))
                .send()
                .await
                .unwrap()
                .status(),
            200
        );
    }
}

mod refusals {
    use super::*;

    both_backends! {
        async fn a_refused_upload_is_answered_after_its_body_so_the_client_reads_the_status(srv) {
            // 8 MB to the sensor route from a coordinator, and from nobody: the server
            // reads the body (up to the route's limit) before it answers, so the
            // client sees 403 and 401, never a broken pipe.
            let coordinator = srv.token(&srv.user(Role::Coordinator).await).await;
            let body = vec![0u8; 8 << 20];
            for round in 0..3 {
                let r = reqwest::Client::new().post(srv.url("/api/v1/sensors/batches")).bearer_auth(&coordinator)
                    .header("content-type", "application/octet-stream").body(body.clone()).send().await
                    .unwrap_or_else(|e| panic!("round {round}: the client saw {e} instead of the answer"));
                assert_eq!(r.status(), 403, "round {round}");
                let r = reqwest::Client::new().post(srv.url("/api/v1/sensors/batches"))
                    .header("content-type", "application/octet-stream").body(body.clone()).send().await
                    .unwrap_or_else(|e| panic!("round {round}: the client saw {e} instead of the answer"));
                assert_eq!(r.status(), 401, "round {round}");
            }
        }
    }
}
