//! Health, metrics, languages, graceful shutdown.

use renkei_core::access::Role;
use renkei_testkit::{Backend, TestServer, both_backends, csrf_from};

both_backends! {
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
