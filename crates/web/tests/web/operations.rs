//! Health, metrics, languages, graceful shutdown.

use renkei_core::access::Role;
use renkei_testkit::{Backend, TestServer, both_backends, csrf_from};

both_backends! {
    async fn liveness_and_readiness_answer_apart_and_readiness_fails_while_migrations_are_missing(srv) {
        let r = reqwest::get(srv.url("/livez")).await.unwrap();
        assert_eq!(r.status(), 200);
        let r = reqwest::get(srv.url("/readyz")).await.unwrap();
        assert_eq!(r.status(), 200);
        let v: serde_json::Value = r.json().await.unwrap();
        assert_eq!(v["status"], "ready");
        assert_eq!(v["schema"]["applied"], v["schema"]["embedded"]);
        assert!(v["schema"]["embedded"].as_i64().unwrap() >= 44);
        // The database as a node finds it before the last migration has run.
        let last = v["schema"]["embedded"].as_i64().unwrap();
        sqlx::query("DELETE FROM _sqlx_migrations WHERE version = $1").bind(last).execute(srv.store.pool()).await.unwrap();
        let r = reqwest::get(srv.url("/readyz")).await.unwrap();
        assert_eq!(r.status(), 503);
        let v: serde_json::Value = r.json().await.unwrap();
        assert_eq!(v["status"], "unready");
        assert!(v["reason"].as_str().unwrap().contains("migrations"), "{v}");
        // Alive all the same: nothing to restart for.
        assert_eq!(reqwest::get(srv.url("/livez")).await.unwrap().status(), 200);
    }

    async fn every_answer_carries_a_request_id_and_an_error_names_it(srv) {
        let client = srv.client();
        // Made here when the proxy sends none: in the header and in the error body.
        let r = client.get(srv.url("/api/v1/none")).send().await.unwrap();
        assert_eq!(r.status(), 404);
        let id = r.headers()["x-request-id"].to_str().unwrap().to_string();
        assert_eq!(id.len(), 24);
        let body: serde_json::Value = r.json().await.unwrap();
        assert_eq!(body["error"]["request_id"], id.as_str());
        assert_eq!(body["error"]["code"], "no_route");
        // The proxy's id is kept; one that could forge a log field is replaced.
        let r = client.get(srv.url("/api/v1/none")).header("x-request-id", "3f2a9c0e-5b1d-4c3e").send().await.unwrap();
        assert_eq!(r.headers()["x-request-id"], "3f2a9c0e-5b1d-4c3e");
        assert_eq!(r.json::<serde_json::Value>().await.unwrap()["error"]["request_id"], "3f2a9c0e-5b1d-4c3e");
        let r = client.get(srv.url("/healthz")).header("x-request-id", "x\" level=error").send().await.unwrap();
        let given = r.headers()["x-request-id"].to_str().unwrap();
        assert!(given.len() == 24 && given.bytes().all(|b| b.is_ascii_hexdigit()), "{given}");
        // A page's error shows it in the reader's language.
        let r = client.get(srv.url("/no-such-page")).header("accept-language", "ja").header("x-request-id", "req-42").send().await.unwrap();
        assert_eq!(r.status(), 404);
        let page = r.text().await.unwrap();
        assert!(page.contains("リクエスト ID") && page.contains("<code>req-42</code>"), "{page}");
    }

    async fn healthz_reports_that_the_database_answers(srv) {
        let r = reqwest::get(srv.url("/healthz")).await.unwrap();
        assert_eq!(r.status(), 200);
        let v: serde_json::Value = r.json().await.unwrap();
        assert_eq!(v["database"], "ok");
    }

    async fn metrics_count_requests_by_route_and_status_in_prometheus_format(srv) {
        for _ in 0..3 {
            reqwest::get(srv.url("/healthz")).await.unwrap();
        }
        reqwest::get(srv.url("/api/v1/none")).await.unwrap();
        // The monitoring scrapes with a token that has the metrics scope.
        let scrape = srv.token(&srv.user(Role::Coordinator).await).await;
        let text = reqwest::Client::new().get(srv.url("/metrics")).bearer_auth(&scrape).send().await.unwrap().text().await.unwrap();
        assert!(text.contains("renkei_http_requests_total{method=\"GET\",route=\"/healthz\",status=\"200\"} 3"), "{text}");
        assert!(text.contains("route=\"unmatched\",status=\"404\"} 1"), "{text}");
        assert!(text.contains("# TYPE renkei_http_request_duration_seconds histogram"));
        assert!(text.contains("renkei_users 1"));
    }

    async fn pages_speak_japanese_to_whoever_chose_japanese(srv) {
        let client = srv.client();
        let home = client.get(srv.url("/")).header("accept-language", "ja,en;q=0.5").send().await.unwrap().text().await.unwrap();
        assert!(home.contains("lang=\"ja\"") && home.contains("ログイン"));
        let page = client.get(srv.url("/")).send().await.unwrap().text().await.unwrap();
        assert!(page.contains("Sign in"), "English without a preference");
        let csrf = csrf_from(&page).unwrap();
        let r = client.post(srv.url("/lang")).form(&[("lang", "ja"), ("back", "/login"), ("_csrf", csrf.as_str())]).send().await.unwrap();
        assert_eq!(r.status(), 303);
        assert_eq!(r.headers()["location"], "/login");
        let login = client.get(srv.url("/login")).send().await.unwrap().text().await.unwrap();
        assert!(login.contains("メールアドレス"), "the cookie keeps the choice");
        // A signed-in person's language is kept on the account.
        let user = srv.user(Role::Constituent).await;
        let s = srv.signed_in(&user).await;
        let r = s.client.post(srv.url("/account/lang")).form(&[("lang", "ja"), ("_csrf", s.csrf.as_str())]).send().await.unwrap();
        assert_eq!(r.status(), 303);
        let dash = s.client.get(srv.url("/dashboard")).send().await.unwrap().text().await.unwrap();
        assert!(dash.contains("ダッシュボード") && dash.contains("インシデントハンドリング"));
        assert!(srv.audit_actions().await.contains(&"user.lang_changed".to_string()));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_server_stops_when_asked_and_then_refuses_connections() {
    let srv = TestServer::start(Backend::Sqlite).await;
    let url = srv.url("/healthz");
    assert_eq!(reqwest::get(&url).await.unwrap().status(), 200);
    tokio::time::timeout(std::time::Duration::from_secs(10), srv.stop())
        .await
        .expect("stops within the grace period");
    assert!(reqwest::get(&url).await.is_err());
}
