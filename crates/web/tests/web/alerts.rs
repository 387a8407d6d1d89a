//! Alerts end to end, on SQLite and PostgreSQL: a coordinator writes one in
//! Markdown, a second one publishes it, an update goes through the same review,
//! and the public reads the pages, the revision history and the feeds. Restricted
//! alerts never reach the public.

use crate::common;

use common::Api;
use quick_xml::events::Event;
use renkei_core::access::Role;
use renkei_testkit::{TestServer, both_backends};
use serde_json::{Value, json};

async fn put(api: &Api<'_>, who: &str, path: &str, body: Value) -> (u16, Value) {
    api.call(reqwest::Method::PUT, Some(who), path, Some(body))
        .await
}

async fn text(srv: &TestServer, path: &str) -> (u16, String, String) {
    let r = srv.client().get(srv.url(path)).send().await.unwrap();
    let status = r.status().as_u16();
    let ct = r
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    (status, ct, r.text().await.unwrap())
}

/// Every element of an XML document as (path, text), after checking that it is
/// well formed.
fn elements(xml: &str) -> Vec<(String, String)> {
    let mut reader = quick_xml::Reader::from_str(xml);
    let mut path: Vec<String> = Vec::new();
    let mut out: Vec<(String, String)> = Vec::new();
    loop {
        match reader.read_event().expect("well-formed XML") {
            Event::Start(e) => {
                path.push(e.name().into_inner().to_string());
                out.push((path.join("/"), String::new()));
            }
            Event::Empty(e) => {
                let mut p = path.join("/");
                p.push('/');
                p.push_str(e.name().into_inner());
                out.push((p, String::new()));
            }
            Event::Text(t) => {
                if let Some(last) = out.iter_mut().rev().find(|(p, _)| *p == path.join("/")) {
                    last.1.push_str(&t.xml10_content());
                }
            }
            Event::GeneralRef(r) => {
                if let Some(last) = out.iter_mut().rev().find(|(p, _)| *p == path.join("/")) {
                    let name: &str = r.as_ref();
                    last.1.push_str(match name {
                        "amp" => "&",
                        "lt" => "<",
                        "gt" => ">",
                        "quot" => "\"",
                        "apos" => "'",
                        other => panic!("unexpected entity {other}"),
                    });
                }
            }
            Event::End(_) => {
                path.pop();
            }
            Event::Eof => break,
            _ => {}
        }
    }
    assert!(path.is_empty(), "unclosed elements");
    out
}

fn count(els: &[(String, String)], path: &str) -> usize {
    els.iter().filter(|(p, _)| p == path).count()
}

fn texts<'a>(els: &'a [(String, String)], path: &str) -> Vec<&'a str> {
    els.iter()
        .filter(|(p, _)| p == path)
        .map(|(_, t)| t.as_str())
        .collect()
}

both_backends! {
    async fn an_alert_is_written_reviewed_by_a_second_coordinator_published_and_updated_with_its_history(srv) {
        let api = Api { srv: &srv, http: srv.client() };
        let author = srv.token(&srv.user(Role::Coordinator).await).await;
        let reviewer = srv.token(&srv.user(Role::Coordinator).await).await;
        let body_ja = "## 概要\n\nFoo サーバーの脆弱性を悪用する攻撃を確認しています。\n\n<script>alert(1)</script>\n\n| 製品 | 修正版 |\n|---|---|\n| Foo | 2.4.1 |\n";
        let (status, a) = api.post(Some(&author), "/api/v1/alerts", json!({
            "category": "vulnerability", "tlp": "TLP:CLEAR",
            "title_ja": "Foo サーバーの脆弱性に関する注意喚起", "title_en": "Alert on a vulnerability in Foo server",
            "body_ja": body_ja, "body_en": "## Overview\n\nAttacks on **Foo server** are seen. Update to 2.4.1.\n",
            "notes": ["JVN#99999999"],
        })).await;
        assert_eq!(status, 201, "{a}");
        let number = a["number"].as_str().unwrap().to_string();
        assert!(number.starts_with("AT-") && number.ends_with("-0001"), "{number}");
        assert_eq!(a["status"], "draft");
        let path = format!("/api/v1/alerts/{number}");

        // A draft does not exist for the public.
        assert_eq!(api.get(None, &path).await.0, 404);
        assert_eq!(text(&srv, &format!("/alerts/{number}")).await.0, 404);
        assert_eq!(api.get(None, "/api/v1/alerts").await.1["alerts"], json!([]));

        assert_eq!(api.post(Some(&author), &format!("{path}/submit"), json!({})).await.1["status"], "review");
        // Four eyes: the author never publishes.
        let (status, e) = api.post(Some(&author), &format!("{path}/publish"), json!({})).await;
        assert_eq!((status, e["error"]["code"].as_str()), (403, Some("forbidden")), "{e}");
        let (status, p) = api.post(Some(&reviewer), &format!("{path}/publish"), json!({})).await;
        assert_eq!(status, 200, "{p}");
        assert_eq!(p["status"], "published");

        let (status, public) = api.get(None, &path).await;
        assert_eq!(status, 200);
        assert_eq!(public["published"]["revision"], 1);
        assert!(public.get("pending").is_none(), "{public}");

        // The page renders the Markdown and shows pasted markup as text.
        let (status, _, page) = text(&srv, &format!("/alerts/{number}?lang=ja")).await;
        assert_eq!(status, 200);
        assert!(page.contains("Foo サーバーの脆弱性に関する注意喚起"), "{page}");
        assert!(page.contains("<h2>概要</h2>") && page.contains("<td>2.4.1</td>"), "{page}");
        assert!(!page.contains("<script>alert(1)") && page.contains("&lt;script&gt;"), "{page}");
        // The note is not published: the alert does not reveal it.
        assert!(!page.contains("JVN#99999999"), "{page}");
        let (_, _, en) = text(&srv, &format!("/alerts/{number}?lang=en")).await;
        assert!(en.contains("<strong>Foo server</strong>"), "{en}");

        // An update: a new revision, which the public does not see until published.
        let (status, w) = put(&api, &author, &path, json!({
            "title_ja": "Foo サーバーの脆弱性に関する注意喚起 (更新)", "title_en": "Alert on a vulnerability in Foo server (updated)",
            "body_ja": "## 概要\n\n修正版 2.4.2 が公開されました。\n", "body_en": "## Overview\n\nVersion 2.4.2 is out.\n",
        })).await;
        assert_eq!(status, 200, "{w}");
        assert_eq!((w["status"].as_str(), w["pending"]["revision"].as_i64()), (Some("draft"), Some(2)));
        assert_eq!(api.get(None, &path).await.1["published"]["title_en"], "Alert on a vulnerability in Foo server");
        // An update says what changed.
        let (status, e) = api.post(Some(&author), &format!("{path}/submit"), json!({})).await;
        assert_eq!(status, 422, "{e}");
        put(&api, &author, &path, json!({
            "title_ja": "Foo サーバーの脆弱性に関する注意喚起 (更新)", "title_en": "Alert on a vulnerability in Foo server (updated)",
            "body_ja": "## 概要\n\n修正版 2.4.2 が公開されました。\n", "body_en": "## Overview\n\nVersion 2.4.2 is out.\n",
            "change_ja": "修正版の情報を更新", "change_en": "Fixed version updated to 2.4.2",
        })).await;
        assert_eq!(api.post(Some(&author), &format!("{path}/submit"), json!({})).await.0, 200);
        assert_eq!(api.post(Some(&reviewer), &format!("{path}/publish"), json!({})).await.0, 200);

        let public = api.get(None, &path).await.1;
        assert_eq!(public["published"]["revision"], 2);
        let history: Vec<i64> = public["history"].as_array().unwrap().iter().map(|h| h["revision"].as_i64().unwrap()).collect();
        assert_eq!(history, vec![1, 2]);
        let (_, _, page) = text(&srv, &format!("/alerts/{number}?lang=en")).await;
        assert!(page.contains("Version 2.4.2 is out.") && page.contains("Fixed version updated to 2.4.2"), "{page}");
        assert!(!page.contains("Update to 2.4.1"), "the page shows the latest text only");

        let list = api.get(None, "/api/v1/alerts").await.1;
        assert_eq!(list["alerts"].as_array().unwrap().len(), 1, "{list}");
        assert_eq!(list["alerts"][0]["revision"], 2);

        let actions = srv.audit_actions().await;
        for a in ["alert.create", "alert.submit", "alert.publish", "alert.write"] {
            assert!(actions.iter().any(|x| x == a), "{a} audited: {actions:?}");
        }
    }

    async fn a_restricted_alert_never_reaches_the_public_other_roles_or_feeds(srv) {
        let api = Api { srv: &srv, http: srv.client() };
        let author = srv.token(&srv.user(Role::Coordinator).await).await;
        let reviewer = srv.token(&srv.user(Role::Coordinator).await).await;
        let vendor = srv.token(&srv.user(Role::Vendor).await).await;
        let constituent = srv.token(&srv.user(Role::Constituent).await).await;
        let (_, a) = api.post(Some(&author), "/api/v1/alerts", json!({
            "category": "incident", "tlp": "TLP:AMBER", "title_en": "Targeted attacks on power utilities",
            "body_en": "Indicators for the named organizations only.",
        })).await;
        let number = a["number"].as_str().unwrap().to_string();
        let path = format!("/api/v1/alerts/{number}");
        api.post(Some(&author), &format!("{path}/submit"), json!({})).await;
        // Early warning goes to named organizations: none named, nothing published.
        assert_eq!(api.post(Some(&reviewer), &format!("{path}/publish"), json!({})).await.0, 409);
        let utility = srv.org("Power Utility", renkei_core::orgs::OrgKind::Constituent).await;
        renkei_core::orgs::add_contact(&srv.store, &renkei_core::audit::Actor::system("test"), utility, renkei_core::orgs::NewContact {
            name: "SOC".into(), email: "soc@utility.example".into(), phone: None, pgp_key: None, lang: renkei_core::lang::Lang::En, role: None,
        }).await.unwrap();
        assert_eq!(api.post(Some(&author), &format!("{path}/recipients"), json!({"org_id": utility})).await.0, 201);
        assert_eq!(api.post(Some(&reviewer), &format!("{path}/publish"), json!({})).await.0, 200);
        // The staff see it; nobody else but the organization named does, anywhere.
        assert_eq!(api.get(Some(&reviewer), &path).await.0, 200);
        for who in [None, Some(vendor.as_str()), Some(constituent.as_str())] {
            assert_eq!(api.get(who, &path).await.0, 404);
            assert_eq!(api.get(who, "/api/v1/alerts").await.1["alerts"], json!([]));
        }
        assert_eq!(text(&srv, &format!("/alerts/{number}")).await.0, 404);
        for feed in ["/feeds/alerts.atom", "/feeds/alerts.rss", "/feeds/alerts.rss?lang=en", "/alerts"] {
            let (_, _, body) = text(&srv, feed).await;
            assert!(!body.contains("power utilities") && !body.contains(&number), "{feed}: {body}");
        }
        // Non-staff cannot write alerts at all.
        assert_eq!(api.post(Some(&vendor), "/api/v1/alerts", json!({"category": "x", "title_en": "x", "body_en": "x"})).await.0, 403);

        // A public alert cannot be made restricted after the fact.
        let (_, c) = api.post(Some(&author), "/api/v1/alerts", json!({"category": "malware", "title_en": "Emotet again", "body_en": "Watch out."})).await;
        let cpath = format!("/api/v1/alerts/{}", c["number"].as_str().unwrap());
        assert!(c["number"].as_str().unwrap().ends_with("-0002"), "{c}");
        api.post(Some(&author), &format!("{cpath}/submit"), json!({})).await;
        api.post(Some(&reviewer), &format!("{cpath}/publish"), json!({})).await;
        let (status, e) = put(&api, &author, &cpath, json!({"tlp": "TLP:RED", "title_en": "Emotet again", "body_en": "Watch out.", "change_en": "x"})).await;
        assert_eq!((status, e["error"]["code"].as_str()), (409, Some("conflict")), "{e}");
    }

    async fn the_alert_feeds_are_valid_rss_and_atom_and_every_page_announces_them(srv) {
        let api = Api { srv: &srv, http: srv.client() };
        let author = srv.token(&srv.user(Role::Coordinator).await).await;
        let reviewer = srv.token(&srv.user(Role::Coordinator).await).await;
        for (i, title) in ["Patch Foo now & check logs", "Phishing <mail> wave"].iter().enumerate() {
            let (_, a) = api.post(Some(&author), "/api/v1/alerts", json!({
                "category": "vulnerability", "title_ja": format!("注意喚起 {i}"), "body_ja": "本文です。",
                "title_en": title, "body_en": format!("Body **{i}**."),
            })).await;
            let path = format!("/api/v1/alerts/{}", a["number"].as_str().unwrap());
            api.post(Some(&author), &format!("{path}/submit"), json!({})).await;
            assert_eq!(api.post(Some(&reviewer), &format!("{path}/publish"), json!({})).await.0, 200);
        }

        let (status, ct, rss) = text(&srv, "/feeds/alerts.rss?lang=en").await;
        assert_eq!(status, 200);
        assert!(ct.starts_with("application/rss+xml"), "{ct}");
        let els = elements(&rss);
        assert_eq!(count(&els, "rss"), 1);
        assert!(rss.contains("<rss version=\"2.0\""));
        for required in ["rss/channel/title", "rss/channel/link", "rss/channel/description"] {
            assert_eq!(count(&els, required), 1, "{required}");
        }
        assert_eq!(count(&els, "rss/channel/item"), 2);
        let titles = texts(&els, "rss/channel/item/title");
        assert!(titles.iter().any(|t| t.ends_with("Patch Foo now & check logs")), "{titles:?}");
        assert!(titles.iter().any(|t| t.ends_with("Phishing <mail> wave")), "{titles:?}");
        for d in texts(&els, "rss/channel/item/pubDate") {
            chrono::DateTime::parse_from_rfc2822(d).unwrap_or_else(|e| panic!("{d}: {e}"));
        }
        let guids = texts(&els, "rss/channel/item/guid");
        assert_eq!(guids.len(), 2);
        assert_ne!(guids[0], guids[1]);
        assert!(texts(&els, "rss/channel/item/description").iter().any(|d| d.contains("Body 1.")), "summaries are plain text");

        let (status, ct, atom) = text(&srv, "/feeds/alerts.atom").await;
        assert_eq!(status, 200);
        assert!(ct.starts_with("application/atom+xml"), "{ct}");
        let els = elements(&atom);
        for required in ["feed/id", "feed/title", "feed/updated", "feed/author/name"] {
            assert_eq!(count(&els, required), 1, "{required}");
        }
        assert_eq!(count(&els, "feed/entry"), 2);
        for required in ["feed/entry/id", "feed/entry/title", "feed/entry/updated", "feed/entry/link"] {
            assert_eq!(count(&els, required), 2, "{required}");
        }
        for d in texts(&els, "feed/entry/updated") {
            chrono::DateTime::parse_from_rfc3339(d).unwrap_or_else(|e| panic!("{d}: {e}"));
        }
        assert!(texts(&els, "feed/entry/title").iter().any(|t| t.ends_with("注意喚起 0")), "Japanese by default");

        for page in ["/", "/alerts", "/notes", "/observation"] {
            let (_, _, html) = text(&srv, page).await;
            assert!(html.contains(r#"<link rel="alternate" type="application/rss+xml""#) && html.contains(r#"href="/feeds/alerts.rss""#), "{page}");
            assert!(html.contains(r#"href="/feeds/alerts.atom""#) && html.contains(r#"href="/feeds/vulnerabilities.atom""#), "{page}");
        }
        // The unknown alert and the malformed number.
        assert_eq!(api.get(None, "/api/v1/alerts/AT-2000-0042").await.0, 404);
        assert_eq!(put(&api, &author, "/api/v1/alerts/not-a-number", json!({"title_en": "x", "body_en": "y"})).await.0, 422);
    }

    async fn coordinators_write_submit_and_publish_an_alert_in_a_browser(srv) {
        let Some(browser) = renkei_testkit::browser::Browser::launch().await else {
            return;
        };
        let author = srv.user(Role::Coordinator).await;
        let reviewer = srv.user(Role::Coordinator).await;
        let login = |who: &renkei_testkit::TestUser| {
            let email = who.email.clone();
            let browser = &browser;
            let srv = &srv;
            async move {
                browser.goto(&srv.url("/login")).await;
                browser.type_into("#email", &email).await;
                browser.type_into("#password", renkei_testkit::PASSWORD).await;
                browser.click("#login-submit").await;
                browser.wait_url("/dashboard").await;
            }
        };
        login(&author).await;
        browser.goto(&srv.url("/alerts")).await;
        browser.click("#new-alert").await;
        browser.wait_url("/alerts/new").await;
        browser.type_into("#alert-form input[name=category]", "malware").await;
        browser.type_into("#alert-form input[name=title_en]", "Ransomware hitting VPN appliances").await;
        browser.type_into("#alert-form textarea[name=body_en]", "## What to do\n\nPatch the **VPN** now.").await;
        browser.click("#save-alert").await;
        browser.wait_text("#alert-status", "Draft").await;
        let url = browser.current_url().await;
        let number = url.rsplit('/').next().unwrap().to_string();
        assert!(number.starts_with("AT-"), "{url}");
        assert!(browser.text("#pending-title").await.contains("Ransomware hitting VPN appliances"));
        browser.click("#submit-alert").await;
        browser.wait_text("#alert-status", "In review").await;
        // The author is not offered a way around the second pair of eyes.
        browser.click("#publish-alert").await;
        browser.wait_text("#error", "second coordinator").await;

        browser.click("#logout").await;
        // Signed out when the public header is back.
        for _ in 0..50 {
            if browser.exists("#login-link").await {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        login(&reviewer).await;
        browser.goto(&srv.url(&format!("/alerts/{number}"))).await;
        browser.click("#publish-alert").await;
        browser.wait_text("#alert-status", "Published").await;
        assert_eq!(browser.text("#alert-body h2").await, "What to do");
        // The history is dated in the team's zone (JST by default), which is a day ahead of UTC
        // from 15:00 UTC on.
        let jst = chrono::FixedOffset::east_opt(9 * 3600).unwrap();
        let today = chrono::Utc::now().with_timezone(&jst).format("%Y-%m-%d").to_string();
        assert!(browser.text("#alert-history").await.contains(&today));
        browser.quit().await;

        let public = srv.client().get(srv.url(&format!("/alerts/{number}?lang=en"))).send().await.unwrap();
        assert_eq!(public.status(), 200);
        assert!(public.text().await.unwrap().contains("Patch the <strong>VPN</strong> now."));
    }
}
