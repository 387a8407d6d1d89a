//! The weekly report end to end, on SQLite and PostgreSQL: issue days skip
//! holidays, an issue opens filled with what was published since the last one,
//! the coordinator adds news and the one-point memo, and numbered issues reach the
//! public pages and the RSS and Atom feeds.

use crate::common;

use chrono::{Duration, Utc};
use common::Api;
use renkei_core::access::Role;
use renkei_testkit::both_backends;
use serde_json::{Value, json};

async fn put(api: &Api<'_>, who: &str, path: &str, body: Value) -> (u16, Value) {
    api.call(reqwest::Method::PUT, Some(who), path, Some(body))
        .await
}

both_backends! {
    async fn a_weekly_report_is_issued_on_schedule_with_the_weeks_alerts_news_and_memo(srv) {
        let api = Api { srv: &srv, http: srv.client() };
        let author = srv.token(&srv.user(Role::Coordinator).await).await;
        let reviewer = srv.token(&srv.user(Role::Coordinator).await).await;
        let today = Utc::now().date_naive();

        // The schedule skips holidays: 2026-09-23 (秋分の日) is a Wednesday.
        let (_, s) = api.get(None, "/api/v1/weekly/schedule?from=2026-09-14&weeks=3").await;
        assert_eq!(s["weeks"][1], json!({"date": "2026-09-23", "issued": false, "holiday": "秋分の日"}), "{s}");
        assert_eq!(s["weeks"][2]["date"], "2026-09-30");
        let (status, e) = api.post(Some(&author), "/api/v1/weekly", json!({"issue_date": "2026-09-23"})).await;
        assert_eq!(status, 422, "{e}");
        assert!(e["error"]["message"].as_str().unwrap().contains("秋分の日"), "{e}");
        assert_eq!(api.post(Some(&author), "/api/v1/weekly", json!({"issue_date": "2026-09-22"})).await.0, 422);

        // Last issue, some weeks ago.
        let from = (today - Duration::days(21)).to_string();
        let past = api.get(None, &format!("/api/v1/weekly/schedule?from={from}")).await.1["next"].as_str().unwrap().to_string();
        let (status, w) = api.post(Some(&author), "/api/v1/weekly", json!({"issue_date": past})).await;
        assert_eq!(status, 201, "{w}");
        assert_eq!(api.post(Some(&author), "/api/v1/weekly", json!({"issue_date": past})).await.0, 409);
        // An issue has something in it.
        assert_eq!(api.post(Some(&author), &format!("/api/v1/weekly/{past}/publish"), json!({})).await.0, 422);
        put(&api, &author, &format!("/api/v1/weekly/{past}"), json!({"items": [
            {"kind": "news", "title_ja": "ニュース", "title_en": "News", "url": "https://example.org/news"}
        ]})).await;
        let (status, p) = api.post(Some(&author), &format!("/api/v1/weekly/{past}/publish"), json!({})).await;
        assert_eq!((status, p["number"].as_i64()), (200, Some(1)), "{p}");

        // An alert published this week.
        let (_, a) = api.post(Some(&author), "/api/v1/alerts", json!({"category": "vulnerability", "title_ja": "Bar の脆弱性", "body_ja": "更新してください。", "title_en": "Bar vulnerability", "body_en": "Please update."})).await;
        let number = a["number"].as_str().unwrap().to_string();
        api.post(Some(&author), &format!("/api/v1/alerts/{number}/submit"), json!({})).await;
        api.post(Some(&reviewer), &format!("/api/v1/alerts/{number}/publish"), json!({})).await;

        // The next issue opens with it.
        let next = api.get(None, &format!("/api/v1/weekly/schedule?from={}", today + Duration::days(1))).await.1["next"].as_str().unwrap().to_string();
        let (status, w) = api.post(Some(&author), "/api/v1/weekly", json!({"issue_date": next})).await;
        assert_eq!(status, 201, "{w}");
        assert_eq!(w["items"][0]["kind"], "alert", "{w}");
        assert_eq!(w["items"][0]["ref"], number.as_str());
        assert_eq!(w["items"][0]["url"], format!("/alerts/{number}"));
        // A draft is not public.
        assert_eq!(api.get(None, &format!("/api/v1/weekly/{next}")).await.0, 404);

        let mut items = w["items"].as_array().unwrap().clone();
        items.push(json!({"kind": "news", "title_ja": "他組織の注意喚起", "title_en": "Another team's alert", "summary_en": "Worth reading.", "url": "https://csirt.example/alert"}));
        let (status, e) = put(&api, &author, &format!("/api/v1/weekly/{next}"), json!({"items": [{"kind": "news", "title_en": "x", "url": "javascript:alert(1)"}]})).await;
        assert_eq!(status, 422, "{e}");
        let (status, w) = put(&api, &author, &format!("/api/v1/weekly/{next}"), json!({
            "items": items, "memo_title_ja": "パスワードの使い回し", "memo_title_en": "Reused passwords",
            "memo_ja": "同じパスワードを**使い回さない**でください。", "memo_en": "Do **not** reuse passwords.",
        })).await;
        assert_eq!(status, 200, "{w}");
        assert_eq!(w["items"].as_array().unwrap().len(), 2);
        let (status, p) = api.post(Some(&author), &format!("/api/v1/weekly/{next}/publish"), json!({})).await;
        assert_eq!((status, p["number"].as_i64()), (200, Some(2)), "{p}");
        // A published issue stays as it was.
        assert_eq!(put(&api, &author, &format!("/api/v1/weekly/{next}"), json!({"memo_en": "changed"})).await.0, 409);

        // The public reads it by date or number, on the page and in the feeds.
        assert_eq!(api.get(None, "/api/v1/weekly/2").await.1["issue_date"], next.as_str());
        let page = srv.client().get(srv.url(&format!("/weekly/{next}?lang=en"))).send().await.unwrap().text().await.unwrap();
        assert!(page.contains("Weekly report No. 2") && page.contains("Bar vulnerability") && page.contains("Another team"), "{page}");
        assert!(page.contains("Do <strong>not</strong> reuse passwords."), "{page}");
        let page = srv.client().get(srv.url(&format!("/weekly/{next}?lang=ja"))).send().await.unwrap().text().await.unwrap();
        assert!(page.contains("週報 第2号") && page.contains("パスワードの使い回し"), "{page}");
        for (feed, ct) in [("/feeds/weekly.rss", "application/rss+xml"), ("/feeds/weekly.atom", "application/atom+xml")] {
            let r = srv.client().get(srv.url(feed)).send().await.unwrap();
            assert!(r.headers()["content-type"].to_str().unwrap().starts_with(ct));
            let body = r.text().await.unwrap();
            assert!(body.contains("週報 第2号") && body.contains("週報 第1号"), "{feed}: {body}");
        }
        let list = srv.client().get(srv.url("/weekly")).send().await.unwrap().text().await.unwrap();
        assert!(list.contains(r#"href="/feeds/weekly.rss""#) && list.contains(&format!("/weekly/{next}")), "{list}");

        let actions = srv.audit_actions().await;
        for a in ["weekly.create", "weekly.write", "weekly.publish"] {
            assert!(actions.iter().any(|x| x == a), "{a} audited");
        }
    }
}
