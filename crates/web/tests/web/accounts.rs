//! Signing in and out, sessions, CSRF, the first-admin link, API tokens.

use renkei_core::access::Role;
use renkei_testkit::{Backend, PASSWORD, TestServer, both_backends, csrf_from, set_cookie};

async fn login_form_csrf(srv: &TestServer, client: &reqwest::Client) -> String {
    let page = client
        .get(srv.url("/login"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    csrf_from(&page).unwrap()
}

async fn count(srv: &TestServer, table: &str) -> i64 {
    sqlx::query_scalar(sqlx::AssertSqlSafe(format!("SELECT COUNT(*) FROM {table}")))
        .fetch_one(srv.store.pool())
        .await
        .unwrap()
}

both_backends! {
    async fn the_audit_log_is_searched_by_who_what_which_object_and_when(srv) {
        let admin = srv.user(Role::Admin).await;
        let token = srv.token(&admin).await;
        let mut ids = Vec::new();
        for n in 0..3 {
            let u = renkei_core::accounts::create_user(&srv.store, &renkei_core::audit::Actor::system("test"), renkei_core::accounts::NewUser {
                email: format!("person{n}@csirt.example"), display_name: String::new(), role: Role::Coordinator,
                org_id: None, password: None, lang: renkei_core::lang::Lang::Ja,
            })
            .await
            .unwrap();
            ids.push(u.id);
        }
        let http = reqwest::Client::new();
        let get = |q: String| {
            let http = http.clone();
            let token = token.clone();
            let url = srv.url(&format!("/api/v1/audit?{q}"));
            async move {
                let r = http.get(url).bearer_auth(&token).send().await.unwrap();
                (r.status().as_u16(), r.json::<serde_json::Value>().await.unwrap())
            }
        };
        let actions = |v: &serde_json::Value| -> Vec<String> { v.as_array().unwrap().iter().map(|e| e["action"].as_str().unwrap().to_string()).collect() };
        // What: an action's family.
        let (s, family) = get("action=user".into()).await;
        assert_eq!(s, 200, "{family}");
        assert!(actions(&family).len() >= 4 && actions(&family).iter().all(|a| a.starts_with("user.")), "{family}");
        // Which object.
        let (_, one) = get(format!("action=user.created&object_type=user&object_id={}", ids[1])).await;
        assert_eq!(one.as_array().unwrap().len(), 1, "{one}");
        assert_eq!(one[0]["changes"]["email"], "person1@csirt.example");
        // Who, in any case; what a person types as % matches only itself.
        let (_, by) = get("actor=SYSTEM:TE&action=user.created".into()).await;
        assert_eq!(by.as_array().unwrap().len(), 4, "the three and the admin, all made by the test: {by}");
        let (_, none) = get("actor=%25".into()).await;
        assert_eq!(none, serde_json::json!([]));
        // When: days in the team's zone.
        let jst = chrono::FixedOffset::east_opt(9 * 3600).unwrap();
        let today = srv.clock.now().with_timezone(&jst).date_naive();
        let (_, later) = get(format!("from={}", today.succ_opt().unwrap())).await;
        assert_eq!(later, serde_json::json!([]));
        let (_, earlier) = get(format!("to={}", today.pred_opt().unwrap())).await;
        assert_eq!(earlier, serde_json::json!([]));
        let (_, now) = get(format!("from={today}&to={today}&action=user.created")).await;
        assert_eq!(now.as_array().unwrap().len(), 4, "{now}");
        let (s, bad) = get("from=someday".into()).await;
        assert_eq!((s, bad["error"]["code"].as_str()), (422, Some("invalid_input")), "{bad}");
        // The page: the same filters, kept in the form.
        let signed = srv.signed_in(&admin).await;
        let page = signed.client.get(srv.url("/admin/audit?action=user.created&actor=system")).send().await.unwrap().text().await.unwrap();
        assert!(page.contains("person2@csirt.example") && page.contains("value=\"user.created\""));
        assert!(!page.contains("<td>login</td>"), "sign-ins are filtered out");
    }

    async fn a_wrong_password_is_refused_audited_and_opens_no_session(srv) {
        let user = srv.user(Role::Coordinator).await;
        let client = srv.client();
        let csrf = login_form_csrf(&srv, &client).await;
        let r = client
            .post(srv.url("/login"))
            .form(&[("email", user.email.as_str()), ("password", "not the password"), ("_csrf", &csrf)])
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 401);
        assert!(set_cookie(&r, "renkei_session").is_none());
        let body = r.text().await.unwrap();
        assert!(body.contains("id=\"login-error\""), "the form says what went wrong");
        assert_eq!(count(&srv, "sessions").await, 0);
        let actions = srv.audit_actions().await;
        assert_eq!(actions.last().map(String::as_str), Some("login.failed"));
    }

    async fn a_successful_login_sets_an_http_only_same_site_session_cookie(srv) {
        let user = srv.user(Role::Admin).await;
        let client = srv.client();
        let csrf = login_form_csrf(&srv, &client).await;
        let r = client
            .post(srv.url("/login"))
            .form(&[("email", user.email.as_str()), ("password", PASSWORD), ("_csrf", &csrf), ("next", "/orgs")])
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 303);
        assert_eq!(r.headers()["location"], "/orgs");
        let cookie = set_cookie(&r, "renkei_session").expect("session cookie");
        assert!(cookie.contains("HttpOnly") && cookie.contains("SameSite=Lax"), "{cookie}");
        assert!(!cookie.contains("Secure"), "plain http by default: {cookie}");
        let csrf_cookie = set_cookie(&r, "renkei_csrf").expect("a fresh CSRF token at login");
        assert!(csrf_cookie.contains("SameSite=Strict") && csrf_cookie.contains("HttpOnly"));
        let stored: String = sqlx::query_scalar("SELECT token_hash FROM sessions")
            .fetch_one(srv.store.pool())
            .await
            .unwrap();
        assert!(!cookie.contains(&stored), "only a digest of the session secret is stored");
        let dash = client.get(srv.url("/dashboard")).send().await.unwrap();
        assert_eq!(dash.status(), 200);
        assert!(srv.audit_actions().await.contains(&"login.succeeded".to_string()));
    }

    async fn a_login_redirect_never_leaves_the_site(srv) {
        let user = srv.user(Role::Admin).await;
        let client = srv.client();
        let csrf = login_form_csrf(&srv, &client).await;
        let r = client
            .post(srv.url("/login"))
            .form(&[("email", user.email.as_str()), ("password", PASSWORD), ("_csrf", &csrf), ("next", "//evil.example/")])
            .send()
            .await
            .unwrap();
        assert_eq!(r.headers()["location"], "/dashboard");
    }

    async fn repeated_failures_are_throttled_even_with_the_right_password(srv) {
        let user = srv.user(Role::Coordinator).await;
        let client = srv.client();
        let csrf = login_form_csrf(&srv, &client).await;
        for _ in 0..5 {
            let r = client.post(srv.url("/login")).form(&[("email", user.email.as_str()), ("password", "wrong-wrong"), ("_csrf", &csrf)]).send().await.unwrap();
            assert_eq!(r.status(), 401);
        }
        let r = client.post(srv.url("/login")).form(&[("email", user.email.as_str()), ("password", PASSWORD), ("_csrf", &csrf)]).send().await.unwrap();
        assert_eq!(r.status(), 429);
        assert!(set_cookie(&r, "renkei_session").is_none());
        let actions = srv.audit_actions().await;
        assert_eq!(actions.iter().filter(|a| *a == "login.failed").count(), 5);
        assert_eq!(actions.last().map(String::as_str), Some("login.throttled"));
    }

    async fn an_expired_session_sends_the_browser_back_to_sign_in_saying_so(srv) {
        let user = srv.user(Role::Coordinator).await;
        let session = srv.session(&user).await;
        sqlx::query("UPDATE sessions SET expires_at = '2000-01-01T00:00:00.000000Z'")
            .execute(srv.store.pool())
            .await
            .unwrap();
        let client = srv.client();
        let r = client.get(srv.url("/dashboard")).header("cookie", format!("renkei_session={session}")).send().await.unwrap();
        assert_eq!(r.status(), 303);
        assert_eq!(r.headers()["location"], "/login?next=%2Fdashboard&expired=1");
        let cleared = set_cookie(&r, "renkei_session").expect("the dead cookie is cleared");
        assert!(cleared.contains("Max-Age=0"));
        let page = client.get(srv.url("/login?next=%2Fdashboard&expired=1")).send().await.unwrap().text().await.unwrap();
        assert!(page.contains("id=\"login-notice\""));
        let api = client.get(srv.url("/api/v1/me")).header("cookie", format!("renkei_session={session}")).send().await.unwrap();
        assert_eq!(api.status(), 401);
        let body: serde_json::Value = api.json().await.unwrap();
        assert!(body["error"]["message"].as_str().unwrap().contains("expired"));
    }

    async fn a_form_without_the_right_csrf_token_is_refused_and_changes_nothing(srv) {
        let admin = srv.user(Role::Admin).await;
        let s = srv.signed_in(&admin).await;
        let before = srv.audit_actions().await.len();
        for token in [None, Some("forged.token"), Some("")] {
            let mut form = vec![("name", "CSRF Victim Org"), ("kind", "isp")];
            if let Some(t) = token {
                form.push(("_csrf", t));
            }
            let r = s.client.post(srv.url("/orgs")).form(&form).send().await.unwrap();
            assert_eq!(r.status(), 403, "token {token:?}");
            assert_eq!(r.headers()["x-renkei-error"], "csrf_failed");
        }
        assert_eq!(count(&srv, "organizations").await, 0);
        assert_eq!(srv.audit_actions().await.len(), before);
        let r = s.client.post(srv.url("/orgs")).form(&[("name", "Real Org"), ("kind", "isp"), ("_csrf", s.csrf.as_str())]).send().await.unwrap();
        assert_eq!(r.status(), 303);
        assert_eq!(count(&srv, "organizations").await, 1);
    }

    async fn signing_out_ends_the_session_for_good(srv) {
        let user = srv.user(Role::Coordinator).await;
        let s = srv.signed_in(&user).await;
        let r = s.client.post(srv.url("/logout")).form(&[("_csrf", s.csrf.as_str())]).send().await.unwrap();
        assert_eq!(r.status(), 303);
        assert_eq!(count(&srv, "sessions").await, 0);
        let r = s.client.get(srv.url("/dashboard")).send().await.unwrap();
        assert_eq!(r.status(), 303);
        assert!(srv.audit_actions().await.contains(&"logout".to_string()));
    }

    async fn the_first_admin_is_created_once_through_the_setup_link(srv) {
        let link = srv.setup_url.clone().expect("a fresh installation prints a setup link");
        let path = link.strip_prefix(&srv.base).unwrap().to_string();
        let client = srv.client();
        let page = client.get(srv.url(&path)).send().await.unwrap();
        assert_eq!(page.status(), 200);
        let csrf = csrf_from(&page.text().await.unwrap()).unwrap();
        let r = client.post(srv.url(&path)).form(&[("email", "chief@csirt.example"), ("display_name", "Chief"), ("password", "long enough pw"), ("password_again", "different pw!"), ("_csrf", &csrf)]).send().await.unwrap();
        assert_eq!(r.status(), 422);
        assert_eq!(count(&srv, "users").await, 0);
        let r = client.post(srv.url(&path)).form(&[("email", "chief@csirt.example"), ("display_name", "Chief"), ("password", "long enough pw"), ("password_again", "long enough pw"), ("_csrf", &csrf)]).send().await.unwrap();
        assert_eq!(r.status(), 303);
        assert_eq!(r.headers()["location"], "/dashboard");
        let dash = client.get(srv.url("/dashboard")).send().await.unwrap();
        assert_eq!(dash.status(), 200);
        let me: serde_json::Value = client.get(srv.url("/api/v1/me")).send().await.unwrap().json().await.unwrap();
        assert_eq!(me["user"]["role"], "admin");
        let again = srv.client().get(srv.url(&path)).send().await.unwrap();
        assert_eq!(again.status(), 404, "the link works once");
        let hash: String = sqlx::query_scalar("SELECT password_hash FROM users").fetch_one(srv.store.pool()).await.unwrap();
        assert!(hash.starts_with("$argon2id$"), "{hash}");
    }

    async fn api_tokens_are_shown_once_work_as_bearer_and_die_when_revoked(srv) {
        let user = srv.user(Role::Coordinator).await;
        let bootstrap = srv.token(&user).await;
        let http = reqwest::Client::new();
        // A coordinator's token may not mint tokens (only a person signed in, or a
        // token with the admin scope, may).
        let r = http.post(srv.url("/api/v1/tokens")).bearer_auth(&bootstrap).json(&serde_json::json!({"name": "ticket sync"})).send().await.unwrap();
        assert_eq!(r.status(), 403);
        let signed = srv.signed_in(&user).await;
        let r = signed.client.post(srv.url("/api/v1/tokens")).header("x-csrf-token", &signed.csrf).json(&serde_json::json!({"name": "ticket sync"})).send().await.unwrap();
        assert_eq!(r.status(), 201);
        let issued: serde_json::Value = r.json().await.unwrap();
        let secret = issued["secret"].as_str().unwrap().to_string();
        let id = issued["token"]["id"].as_i64().unwrap();
        let me: serde_json::Value = http.get(srv.url("/api/v1/me")).bearer_auth(&secret).send().await.unwrap().json().await.unwrap();
        assert_eq!(me["user"]["email"], user.email.as_str());
        let listed: serde_json::Value = http.get(srv.url("/api/v1/tokens")).bearer_auth(&secret).send().await.unwrap().json().await.unwrap();
        assert!(!listed.to_string().contains(&secret), "listing never shows a secret");
        let stored: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM api_tokens WHERE token_hash = $1").bind(&secret).fetch_one(srv.store.pool()).await.unwrap();
        assert_eq!(stored, 0, "the secret itself is not stored");
        let r = http.delete(srv.url(&format!("/api/v1/tokens/{id}"))).bearer_auth(&bootstrap).send().await.unwrap();
        assert_eq!(r.status(), 204);
        let r = http.get(srv.url("/api/v1/me")).bearer_auth(&secret).send().await.unwrap();
        assert_eq!(r.status(), 401);
        let body: serde_json::Value = r.json().await.unwrap();
        assert_eq!(body["error"]["code"], "invalid_token");
    }

    async fn only_admins_issue_tokens_for_other_accounts(srv) {
        let admin = srv.user(Role::Admin).await;
        let coordinator = srv.user(Role::Coordinator).await;
        let sensor = srv.user(Role::Sensor).await;
        let http = reqwest::Client::new();
        let body = serde_json::json!({"name": "sensor-tokyo-1", "user_id": sensor.id});
        let r = http.post(srv.url("/api/v1/tokens")).bearer_auth(srv.token(&coordinator).await).json(&body).send().await.unwrap();
        assert_eq!(r.status(), 403);
        let r = http.post(srv.url("/api/v1/tokens")).bearer_auth(srv.token(&admin).await).json(&body).send().await.unwrap();
        assert_eq!(r.status(), 201);
        let issued = r.json::<serde_json::Value>().await.unwrap();
        assert_eq!(issued["token"]["user_id"], sensor.id);
        assert_eq!(issued["token"]["scopes"], serde_json::json!(["sensor"]), "a sensor's token is a sensor token");
        let secret = issued["secret"].as_str().unwrap().to_string();
        let r = http.get(srv.url("/api/v1/me")).bearer_auth(&secret).send().await.unwrap();
        assert_eq!(r.status(), 403, "and reads nothing");
    }

    async fn a_sensor_account_cannot_sign_in_with_a_password(srv) {
        let sensor = srv.user(Role::Sensor).await;
        let client = srv.client();
        let csrf = login_form_csrf(&srv, &client).await;
        let r = client.post(srv.url("/login")).form(&[("email", sensor.email.as_str()), ("password", PASSWORD), ("_csrf", &csrf)]).send().await.unwrap();
        assert_eq!(r.status(), 401);
    }

    async fn changing_the_password_ends_the_session_and_the_new_one_works(srv) {
        let user = srv.user(Role::Vendor).await;
        let s = srv.signed_in(&user).await;
        let r = s.client.post(srv.url("/account/password")).form(&[("current", "wrong current"), ("password", "a brand new secret"), ("password_again", "a brand new secret"), ("_csrf", s.csrf.as_str())]).send().await.unwrap();
        assert_eq!(r.status(), 422);
        let r = s.client.post(srv.url("/account/password")).form(&[("current", PASSWORD), ("password", "a brand new secret"), ("password_again", "a brand new secret"), ("_csrf", s.csrf.as_str())]).send().await.unwrap();
        assert_eq!(r.status(), 303);
        assert_eq!(s.client.get(srv.url("/dashboard")).send().await.unwrap().status(), 303, "signed out");
        let outcome = renkei_core::accounts::login(&srv.store, &user.email, "a brand new secret", "test").await.unwrap();
        assert!(matches!(outcome, renkei_core::accounts::LoginOutcome::Success(_)));
    }

    async fn a_disabled_account_loses_its_sessions_and_tokens_at_once(srv) {
        let admin = srv.user(Role::Admin).await;
        let leaver = srv.user(Role::Coordinator).await;
        let s = srv.signed_in(&leaver).await;
        let token = srv.token(&leaver).await;
        let admin_token = srv.token(&admin).await;
        let http = reqwest::Client::new();
        let url = srv.url(&format!("/api/v1/users/{}", leaver.id));
        let r = http.patch(&url).bearer_auth(&admin_token).json(&serde_json::json!({"disabled": true})).send().await.unwrap();
        assert_eq!(r.status(), 200);
        assert_eq!(r.json::<serde_json::Value>().await.unwrap()["disabled"], true);
        assert_eq!(s.client.get(srv.url("/dashboard")).send().await.unwrap().status(), 303);
        assert_eq!(http.get(srv.url("/api/v1/me")).bearer_auth(&token).send().await.unwrap().status(), 401);
        let outcome = renkei_core::accounts::login(&srv.store, &leaver.email, renkei_testkit::PASSWORD, "test").await.unwrap();
        assert_eq!(outcome, renkei_core::accounts::LoginOutcome::Failed);
        let own = srv.url(&format!("/api/v1/users/{}", admin.id));
        let r = http.patch(&own).bearer_auth(&admin_token).json(&serde_json::json!({"disabled": true})).send().await.unwrap();
        assert_eq!(r.status(), 422, "an admin cannot lock themselves out");
        let r = http.patch(&url).bearer_auth(&admin_token).json(&serde_json::json!({"disabled": false})).send().await.unwrap();
        assert_eq!(r.status(), 200);
        assert_eq!(http.get(srv.url("/api/v1/me")).bearer_auth(&token).send().await.unwrap().status(), 200);
        let actions = srv.audit_actions().await;
        assert!(actions.contains(&"user.disabled".to_string()) && actions.contains(&"user.enabled".to_string()));
    }

    async fn every_answer_carries_the_security_headers(srv) {
        for path in ["/", "/login", "/api/v1/openapi.json", "/no/such/page"] {
            let r = reqwest::get(srv.url(path)).await.unwrap();
            let h = r.headers();
            assert_eq!(h["x-content-type-options"], "nosniff", "{path}");
            assert_eq!(h["x-frame-options"], "DENY", "{path}");
            assert!(h["content-security-policy"].to_str().unwrap().contains("frame-ancestors 'none'"), "{path}");
            assert_eq!(h["cache-control"], "no-store", "{path}");
        }
    }
}

async fn failed_login_from(srv: &TestServer, forwarded: &str) -> u16 {
    let client = srv.client();
    let csrf = login_form_csrf(srv, &client).await;
    client
        .post(srv.url("/login"))
        .header("x-forwarded-for", forwarded)
        .form(&[
            ("email", "nobody@example.org"),
            ("password", "wrong-wrong"),
            ("_csrf", &csrf),
        ])
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

async fn last_login_source(srv: &TestServer) -> String {
    let entry = renkei_core::audit::list(&srv.store, None, 1)
        .await
        .unwrap()
        .remove(0);
    entry.changes["from"].as_str().unwrap().to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn behind_a_trusted_proxy_the_client_address_is_the_last_forwarded_hop() {
    let srv =
        TestServer::start_with(Backend::Sqlite, |c| c.server.trust_forwarded_for = true).await;
    assert_eq!(failed_login_from(&srv, "10.9.9.9, 198.51.100.7").await, 401);
    assert_eq!(last_login_source(&srv).await, "198.51.100.7");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_trusted_proxy_a_forwarded_header_cannot_fake_the_address() {
    let srv = TestServer::start(Backend::Sqlite).await;
    assert_eq!(failed_login_from(&srv, "198.51.100.7").await, 401);
    assert_eq!(last_login_source(&srv).await, "127.0.0.1");
}
