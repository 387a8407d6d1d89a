//! Bad input gets a clear 4xx with a code, never a panic, and writes nothing.

use renkei_core::access::Role;
use renkei_testkit::{Backend, TestServer, both_backends};
use serde_json::{Value, json};

async fn error_of(r: reqwest::Response) -> (u16, String, String) {
    let status = r.status().as_u16();
    assert_eq!(r.headers()["content-type"], "application/json");
    let body: Value = r.json().await.expect("a JSON error body");
    (
        status,
        body["error"]["code"].as_str().unwrap().to_string(),
        body["error"]["message"].as_str().unwrap().to_string(),
    )
}

async fn orgs_and_audit(srv: &TestServer) -> (i64, i64) {
    let c = renkei_core::counts::counts(&srv.store).await.unwrap();
    (c.organizations, c.audit_entries)
}

both_backends! {
    async fn an_unknown_api_route_is_a_json_404_and_an_unknown_page_a_readable_one(srv) {
        let http = reqwest::Client::new();
        let (status, code, _) = error_of(http.get(srv.url("/api/v1/nothing-here")).send().await.unwrap()).await;
        assert_eq!((status, code.as_str()), (404, "no_route"));
        let r = http.get(srv.url("/no/such/page")).send().await.unwrap();
        assert_eq!(r.status(), 404);
        assert!(r.headers()["content-type"].to_str().unwrap().starts_with("text/html"));
        let page = r.text().await.unwrap();
        assert!(page.contains("id=\"error-message\"") && page.contains("<html"));
        // In Japanese, in words: no English message and no bare code as the text.
        let page = http.get(srv.url("/no/such/page")).header("accept-language", "ja").send().await.unwrap().text().await.unwrap();
        assert!(page.contains("ページが見つかりません") && page.contains("このアドレスには何もありません"), "{page}");
        assert!(!page.contains("nothing at this address"), "{page}");
    }

    async fn malformed_or_invalid_json_is_refused_with_a_code_and_nothing_is_written(srv) {
        let user = srv.user(Role::Coordinator).await;
        let token = srv.token(&user).await;
        let before = orgs_and_audit(&srv).await;
        let http = reqwest::Client::new();
        let post = |body: &'static str, ctype: &'static str| {
            http.post(srv.url("/api/v1/orgs")).bearer_auth(&token).header("content-type", ctype).body(body).send()
        };
        assert_eq!(error_of(post("{\"name\": ", "application/json").await.unwrap()).await.1, "malformed_json");
        assert_eq!(error_of(post("{\"name\": \"X\"}", "text/plain").await.unwrap()).await.1, "unsupported_media_type");
        let (status, code, message) = error_of(post("{\"name\": \"X\", \"kind\": \"bank\"}", "application/json").await.unwrap()).await;
        assert_eq!((status, code.as_str()), (422, "invalid_input"));
        assert!(message.contains("kind") || message.contains("bank"), "{message}");
        let (status, _, message) = error_of(post("{\"name\": \"X\", \"kind\": \"isp\", \"country\": \"Japan\"}", "application/json").await.unwrap()).await;
        assert_eq!(status, 422);
        assert!(message.starts_with("country:"), "the message names the field: {message}");
        let (status, code, _) = error_of(post("{\"name\": \"X\", \"kind\": \"isp\", \"color\": 1}", "application/json").await.unwrap()).await;
        assert_eq!((status, code.as_str()), (422, "invalid_input"), "unknown fields are refused");
        assert_eq!(orgs_and_audit(&srv).await, before);
        let r = post("{\"name\": \"Dup\", \"kind\": \"isp\"}", "application/json").await.unwrap();
        assert_eq!(r.status(), 201);
        let (status, code, _) = error_of(post("{\"name\": \"Dup\", \"kind\": \"csirt\"}", "application/json").await.unwrap()).await;
        assert_eq!((status, code.as_str()), (409, "conflict"));
    }

    async fn a_wrong_method_or_a_non_numeric_id_is_a_json_4xx(srv) {
        let user = srv.user(Role::Admin).await;
        let token = srv.token(&user).await;
        let http = reqwest::Client::new();
        let (status, code, _) = error_of(http.put(srv.url("/api/v1/orgs")).bearer_auth(&token).send().await.unwrap()).await;
        assert_eq!((status, code.as_str()), (405, "method_not_allowed"));
        let (status, _, _) = error_of(http.get(srv.url("/api/v1/orgs/abc")).bearer_auth(&token).send().await.unwrap()).await;
        assert_eq!(status, 400);
        let (status, code, _) = error_of(http.get(srv.url("/api/v1/orgs/999999")).bearer_auth(&token).send().await.unwrap()).await;
        assert_eq!((status, code.as_str()), (404, "not_found"));
        let (status, code, _) = error_of(http.get(srv.url("/api/v1/me")).bearer_auth("rk_not-a-token").send().await.unwrap()).await;
        assert_eq!((status, code.as_str()), (401, "invalid_token"));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_body_over_the_configured_limit_is_refused_with_413_and_nothing_is_written() {
    body_over_the_limit(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_body_over_the_configured_limit_is_refused_with_413_on_postgres_too() {
    if renkei_testkit::postgres_configured() {
        body_over_the_limit(Backend::Postgres).await;
    }
}

async fn body_over_the_limit(backend: Backend) {
    let srv = TestServer::start_with(backend, |c| c.server.body_limit_bytes = 4096).await;
    let user = srv.user(Role::Coordinator).await;
    let token = srv.token(&user).await;
    let before = orgs_and_audit(&srv).await;
    let notes = "x".repeat(10_000);
    let http = reqwest::Client::new();
    let r = http
        .post(srv.url("/api/v1/orgs"))
        .bearer_auth(&token)
        .json(&json!({"name": "Big", "kind": "isp", "notes": notes}))
        .send()
        .await
        .unwrap();
    let (status, code, _) = error_of(r).await;
    assert_eq!((status, code.as_str()), (413, "payload_too_large"));
    let r = http
        .post(srv.url("/login"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!("email=a%40b.org&password={notes}"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 413);
    assert!(
        r.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
    assert_eq!(orgs_and_audit(&srv).await, before);
}
