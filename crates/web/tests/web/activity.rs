//! The quarterly activity report in the web UI and the API, on SQLite and
//! PostgreSQL: the staff read the quarter's numbers, write its topics (by the API and
//! by the page's form), and download the PDF with the topics typeset in it.

use crate::common;

use common::Api;
use renkei_core::access::Role;
use renkei_report::Quarter;
use renkei_testkit::both_backends;
use serde_json::{Value, json};

async fn put(api: &Api<'_>, who: &str, path: &str, body: Value) -> (u16, Value) {
    api.call(reqwest::Method::PUT, Some(who), path, Some(body))
        .await
}

/// What feedparser (the reader the world's aggregators use) makes of a feed: whether
/// it stumbled, and each entry's title and link.
fn feedparser(xml: &str) -> Option<Value> {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("feed.xml");
    std::fs::write(&file, xml).unwrap();
    let out = std::process::Command::new("python3")
        .arg("-c")
        .arg("import feedparser, json, sys; f = feedparser.parse(sys.argv[1]); print(json.dumps({'bozo': f.bozo, 'title': f.feed.get('title'), 'entries': [{'title': e.title, 'link': e.link} for e in f.entries]}))")
        .arg(&file)
        .output()
        .ok()?;
    if !out.status.success() {
        assert!(
            std::env::var("CI").is_err(),
            "feedparser is needed in CI: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        return None;
    }
    serde_json::from_slice(&out.stdout).ok()
}

both_backends! {
    async fn the_activity_report_opens_on_the_latest_quarter_with_data_and_reaches_back_to_the_first(srv) {
        // One report, in 2007 Q4; the server's clock is today.
        let now = srv.clock.now();
        srv.clock.set(chrono::DateTime::parse_from_rfc3339("2007-11-05T03:00:00Z").unwrap().with_timezone(&chrono::Utc));
        let client = srv.client();
        let form = client.get(srv.url("/report")).send().await.unwrap().text().await.unwrap();
        let csrf = renkei_testkit::csrf_from(&form).unwrap();
        let r = client.post(srv.url("/report")).form(&[("_csrf", csrf.as_str()), ("site_org", "Shop"), ("reporter_name", "Taro"),
            ("reporter_email", "taro@shop.example.co.jp"), ("description", "SSH brute force from 198.51.100.7")]).send().await.unwrap();
        assert_eq!(r.status(), 200);
        srv.clock.set(now);
        let staff = srv.signed_in(&srv.user(Role::Coordinator).await).await;
        let r = staff.client.get(srv.url("/activity")).send().await.unwrap();
        assert_eq!(r.status(), 303);
        assert!(r.headers()["location"].to_str().unwrap().ends_with("/activity/2007Q4/draft"));
        let page = staff.client.get(srv.url("/activity/2007Q4/draft")).send().await.unwrap().text().await.unwrap();
        let last = Quarter::last_complete(now.date_naive()).to_string();
        assert!(page.contains("<option value=\"2007Q4\" selected>") && page.contains(&format!("href=\"/activity/{last}/draft\"")), "the picker reaches from the last quarter back to the first with data");
        let r = staff.client.get(srv.url("/activity?quarter=2008Q1")).send().await.unwrap();
        assert!(r.headers()["location"].to_str().unwrap().ends_with("/activity/2008Q1/draft"), "a quarter picked opens");
    }

    async fn the_quarter_is_compared_with_the_one_before_and_a_year_before_in_words(srv) {
        let api = Api { srv: &srv, http: srv.client() };
        let coordinator = srv.user(Role::Coordinator).await;
        let token = srv.token(&coordinator).await;
        let now = srv.clock.now();
        // One report in 2006 Q4, two in 2007 Q3, four in 2007 Q4.
        for (at, n) in [("2006-11-10T03:00:00Z", 1), ("2007-08-10T03:00:00Z", 2), ("2007-11-10T03:00:00Z", 4)] {
            srv.clock.set(chrono::DateTime::parse_from_rfc3339(at).unwrap().with_timezone(&chrono::Utc));
            for i in 0..n {
                let (status, r) = api.post(Some(&token), "/api/v1/reports", json!({
                    "site_org": "Example Corp", "reporter_name": "SOC", "reporter_email": "soc@example.co.jp",
                    "description": format!("Port scan {at} {i}"),
                    "logs": format!("Nov 20 10:00:01 fw kernel: DROP IN=eth0 SRC=203.0.113.{} DST=192.0.2.1 PROTO=TCP SPT=4000 DPT=22", i + 1),
                })).await;
                assert_eq!(status, 201, "{r}");
            }
        }
        srv.clock.set(now);
        let (status, report) = api.get(Some(&token), "/api/v1/activity/2007Q4?lang=ja").await;
        assert_eq!(status, 200, "{report}");
        let reports = report["compared"].as_array().unwrap().iter().find(|c| c["key"] == "reports").unwrap();
        assert_eq!(reports["figures"], json!({"now": 4, "previous": 2, "year_ago": 1, "record": true}), "{reports}");
        let sentence = reports["sentence"].as_str().unwrap();
        assert_eq!(sentence, "報告件数は 4 件で、前四半期の 2.0 倍、前年同期の 4.0 倍でした。過去最高を更新しました。");
        let staff = srv.signed_in(&coordinator).await;
        let page = staff.client.get(srv.url("/activity/2007Q4/draft?lang=en")).send().await.unwrap().text().await.unwrap();
        assert!(page.contains("Reports received: 4, 2.0 times the previous quarter, and 4.0 times the same quarter a year before. A record high."), "{}", page.split("id=\"compare-reports\"").nth(1).unwrap_or("no comparison"));
        assert!(page.contains("<span class=\"arrow\">↑</span>"), "the category table points up");
        // The statistics page compares the same way: a quarter with the quarter
        // before, any other period with the period of the same length before it.
        let stats = staff.client.get(srv.url("/statistics?period=2007Q4")).send().await.unwrap().text().await.unwrap();
        assert!(stats.contains("Reports: 4, 2.0 times the previous quarter, and 4.0 times the same quarter a year before."), "{}", stats.split("id=\"stats-compared\"").nth(1).unwrap_or("none"));
        let stats = staff.client.get(srv.url("/statistics?from=2007-11-01&to=2007-11-30")).send().await.unwrap().text().await.unwrap();
        assert!(stats.contains("times the period before") || stats.contains("on the period before") || stats.contains("from none in the period before"), "{}", stats.split("id=\"stats-compared\"").nth(1).unwrap_or("none"));
        // A quarter with fewer than the one before says so, and names no record.
        let (_, q3) = api.get(Some(&token), "/api/v1/activity/2008Q1?lang=ja").await;
        let reports = q3["compared"].as_array().unwrap().iter().find(|c| c["key"] == "reports").unwrap();
        assert_eq!(reports["figures"]["record"], false);
        assert!(reports["sentence"].as_str().unwrap().contains("前年同期も 0 件") || reports["sentence"].as_str().unwrap().contains("減少"), "{reports}");
    }

    async fn the_staff_read_the_quarter_write_its_topics_and_download_the_pdf(srv) {
        let api = Api { srv: &srv, http: srv.client() };
        let coordinator = srv.user(Role::Coordinator).await;
        let author = srv.token(&coordinator).await;
        let reviewer = srv.token(&srv.user(Role::Coordinator).await).await;
        let q = Quarter::of(srv.clock.now().date_naive()).to_string();

        // This quarter: one public alert, one restricted (never counted), one report.
        let (_, a) = api.post(Some(&author), "/api/v1/alerts", json!({"category": "malware", "title_en": "Emotet again", "body_en": "Watch out.", "title_ja": "Emotet の再流行", "body_ja": "注意してください。"})).await;
        let n = a["number"].as_str().unwrap().to_string();
        api.post(Some(&author), &format!("/api/v1/alerts/{n}/submit"), json!({})).await;
        assert_eq!(api.post(Some(&reviewer), &format!("/api/v1/alerts/{n}/publish"), json!({})).await.0, 200);
        let (status, r) = api.post(Some(&author), "/api/v1/reports", json!({
            "site_org": "Example Corp", "reporter_name": "SOC", "reporter_email": "soc@example.co.jp",
            "description": "Port scan against TCP 22 from 203.0.113.9.", "logs": "Nov 20 10:00:01 fw kernel: DROP IN=eth0 SRC=203.0.113.9 DST=192.0.2.1 PROTO=TCP SPT=4000 DPT=22",
        })).await;
        assert_eq!(status, 201, "{r}");

        let (status, report) = api.get(Some(&author), &format!("/api/v1/activity/{q}?lang=en")).await;
        assert_eq!(status, 200, "{report}");
        assert_eq!(report["alerts"].as_array().unwrap().len(), 1, "{}", report["alerts"]);
        assert_eq!(report["alerts"][0]["number"], n.as_str());
        assert_eq!(report["incidents"]["reports"], 1);
        assert_eq!(report["incidents"]["reporter_tlds"][0]["key"], "jp");
        assert!(report["figures"].as_array().unwrap().len() >= 8);

        // Bad input: an unknown quarter, a topic without a title, an unknown field.
        let (status, e) = api.get(Some(&author), "/api/v1/activity/2026Q5").await;
        assert_eq!((status, e["error"]["code"].as_str()), (422, Some("invalid_input")), "{e}");
        let (status, e) = put(&api, &author, &format!("/api/v1/activity/{q}/topics"), json!({"topics": [{"body_en": "no title"}]})).await;
        assert_eq!((status, e["error"]["code"].as_str()), (422, Some("invalid_input")), "{e}");
        assert_eq!(put(&api, &author, &format!("/api/v1/activity/{q}/topics"), json!({"topics": [], "extra": 1})).await.0, 422);

        let (status, t) = put(&api, &author, &format!("/api/v1/activity/{q}/topics"), json!({"topics": [
            {"title_ja": "脆弱性研究者ミーティングを開催", "title_en": "Vulnerability researchers' meeting", "body_ja": "国内外の研究者と**意見交換**しました。", "body_en": "We met researchers from **four** countries."},
        ]})).await;
        assert_eq!(status, 200, "{t}");
        let (_, t) = api.get(Some(&author), &format!("/api/v1/activity/{q}/topics")).await;
        assert_eq!(t["topics"][0]["title_en"], "Vulnerability researchers' meeting");

        // The page: the report in the site's frame, the topic rendered from Markdown.
        let staff = srv.signed_in(&coordinator).await;
        let page = staff.client.get(srv.url(&format!("/activity/{q}/draft?lang=ja"))).send().await.unwrap();
        assert_eq!(page.status(), 200);
        let html = page.text().await.unwrap();
        assert!(html.contains("脆弱性研究者ミーティングを開催") && html.contains("<strong>意見交換</strong>"), "{html}");
        assert!(html.contains(&n) && html.contains("id=\"reports\">1<"));
        // The form adds a second topic and keeps the first.
        let r = staff.client.post(srv.url(&format!("/activity/{q}/topics"))).form(&[
            ("_csrf", staff.csrf.as_str()),
            ("title_ja_0", "脆弱性研究者ミーティングを開催"), ("title_en_0", "Vulnerability researchers' meeting"),
            ("body_ja_0", "国内外の研究者と意見交換しました。"), ("body_en_0", ""),
            ("title_ja_1", "インシデント対応訓練"), ("title_en_1", "Incident response drill"), ("body_ja_1", "12 の経済地域が参加しました。"), ("body_en_1", ""),
        ]).send().await.unwrap();
        assert_eq!(r.status(), 303);
        let (_, t) = api.get(Some(&author), &format!("/api/v1/activity/{q}/topics")).await;
        assert_eq!(t["topics"].as_array().unwrap().len(), 2, "{t}");

        // The PDF: typeset, with the topics in it as text.
        let pdf = staff.client.get(srv.url(&format!("/activity/{q}/draft/report.pdf?lang=ja"))).send().await.unwrap();
        assert_eq!(pdf.status(), 200);
        assert_eq!(pdf.headers()["content-type"], "application/pdf");
        let bytes = pdf.bytes().await.unwrap();
        assert!(bytes.starts_with(b"%PDF-"));
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("r.pdf");
        std::fs::write(&file, &bytes).unwrap();
        if let Ok(out) = std::process::Command::new("pdftotext").arg(&file).arg("-").output() {
            let text = String::from_utf8_lossy(&out.stdout);
            assert!(text.contains("インシデント対応訓練") && text.contains(&n), "{text}");
        }
        let html_file = staff.client.get(srv.url(&format!("/activity/{q}/draft/report.html?lang=en"))).send().await.unwrap();
        assert!(html_file.text().await.unwrap().contains("Incident response drill"));

        // /activity opens the last complete quarter.
        let r = staff.client.get(srv.url("/activity")).send().await.unwrap();
        assert_eq!(r.status(), 303);
        let prev = Quarter::parse(&q).unwrap().previous().to_string();
        assert!(r.headers()["location"].to_str().unwrap().ends_with(&format!("{prev}/draft")));

        // Only staff: a vendor or a constituent gets 403, the public 401.
        for role in [Role::Vendor, Role::Constituent] {
            let t = srv.token(&srv.user(role).await).await;
            assert_eq!(api.get(Some(&t), &format!("/api/v1/activity/{q}")).await.0, 403);
            assert_eq!(put(&api, &t, &format!("/api/v1/activity/{q}/topics"), json!({"topics": []})).await.0, 403);
        }
        assert_eq!(api.get(None, &format!("/api/v1/activity/{q}")).await.0, 401);
        assert!(srv.audit_actions().await.iter().any(|a| a == "report.topics"));
    }

    async fn a_published_report_is_public_frozen_and_corrected_by_new_revisions(srv) {
        let api = Api { srv: &srv, http: srv.client() };
        let author = srv.token(&srv.user(Role::Coordinator).await).await;
        let reviewer = srv.token(&srv.user(Role::Coordinator).await).await;
        let at = |s: &str| chrono::DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&chrono::Utc);
        let report = |n: u32| json!({
            "site_org": "Example Corp", "reporter_name": "SOC", "reporter_email": "soc@example.co.jp",
            "description": format!("Web scan {n} from 203.0.113.{n}."),
            "logs": format!("Nov 20 10:00:01 fw kernel: DROP IN=eth0 SRC=203.0.113.{n} DST=192.0.2.1 PROTO=TCP SPT=4000 DPT=80"),
        });
        srv.clock.set(at("2007-11-10T03:00:00Z"));
        for n in 1..=2 {
            let (status, r) = api.post(Some(&author), "/api/v1/reports", report(n)).await;
            assert_eq!(status, 201, "{r}");
        }
        let (_, a) = api.post(Some(&author), "/api/v1/alerts", json!({"category": "vulnerability", "title_ja": "TCP 80 番ポートへのスキャンの増加", "title_en": "More scans of TCP 80", "body_ja": "注意してください。", "body_en": "Watch out."})).await;
        let alert = a["number"].as_str().unwrap().to_string();
        api.post(Some(&author), &format!("/api/v1/alerts/{alert}/submit"), json!({})).await;
        assert_eq!(api.post(Some(&reviewer), &format!("/api/v1/alerts/{alert}/publish"), json!({})).await.0, 200);

        // A quarter that has not ended is not published.
        let (status, e) = api.post(Some(&author), "/api/v1/activity/2007Q4/publish", json!({})).await;
        assert_eq!((status, e["error"]["code"].as_str()), (422, Some("invalid_input")), "{e}");
        srv.clock.set(at("2008-01-15T03:00:00Z"));
        // Only the staff publish.
        let vendor = srv.token(&srv.user(Role::Vendor).await).await;
        assert_eq!(api.post(Some(&vendor), "/api/v1/activity/2007Q4/publish", json!({})).await.0, 403);
        assert_eq!(api.post(None, "/api/v1/activity/2007Q4/publish", json!({})).await.0, 401);
        // Before it is published the public finds nothing.
        let public = srv.client();
        assert_eq!(public.get(srv.url("/activity/2007Q4")).send().await.unwrap().status(), 404);
        let (status, first) = api.post(Some(&author), "/api/v1/activity/2007Q4/publish", json!({})).await;
        assert_eq!(status, 201, "{first}");
        assert_eq!(first["revision"], 1);

        // The public reads it, with its cover, contents and the port named.
        let page = public.get(srv.url("/activity/2007Q4?lang=ja")).send().await.unwrap();
        assert_eq!(page.status(), 200);
        let page = page.text().await.unwrap();
        assert!(page.contains("id=\"reports\">2<") && page.contains("id=\"cover\"") && page.contains("id=\"contents\""), "{page}");
        assert!(page.contains("80 (http)"), "the scanned port has its service name");
        assert!(page.contains("第 1 版"), "the cover names the revision");
        let pdf = public.get(srv.url("/activity/2007Q4/report.pdf?lang=ja")).send().await.unwrap();
        assert_eq!(pdf.headers()["content-type"], "application/pdf");
        assert!(pdf.bytes().await.unwrap().starts_with(b"%PDF-"));

        // New data in the quarter does not change the published copy; the draft has it.
        srv.clock.set(at("2007-12-01T03:00:00Z"));
        assert_eq!(api.post(Some(&author), "/api/v1/reports", report(3)).await.0, 201);
        srv.clock.set(at("2008-01-20T03:00:00Z"));
        let page = public.get(srv.url("/activity/2007Q4?lang=ja")).send().await.unwrap().text().await.unwrap();
        assert!(page.contains("id=\"reports\">2<"), "the published copy is frozen");
        let (_, live) = api.get(Some(&author), "/api/v1/activity/2007Q4").await;
        assert_eq!(live["incidents"]["reports"], 3);

        // A correction says what changed, and becomes the copy the public reads.
        let (status, e) = api.post(Some(&author), "/api/v1/activity/2007Q4/publish", json!({})).await;
        assert_eq!((status, e["error"]["code"].as_str()), (422, Some("invalid_input")), "{e}");
        let (status, second) = api.post(Some(&author), "/api/v1/activity/2007Q4/publish", json!({"change_note": "12 月に届いた報告 1 件を追加"})).await;
        assert_eq!((status, &second["revision"]), (201, &json!(2)), "{second}");
        let page = public.get(srv.url("/activity/2007Q4?lang=ja")).send().await.unwrap().text().await.unwrap();
        assert!(page.contains("id=\"reports\">3<") && page.contains("12 月に届いた報告 1 件を追加"), "{page}");
        let old = public.get(srv.url("/activity/2007Q4?revision=1&lang=ja")).send().await.unwrap().text().await.unwrap();
        assert!(old.contains("id=\"reports\">2<") && old.contains("id=\"old-revision\""));
        // The draft page's form publishes a third revision.
        let staff = srv.signed_in(&srv.user(Role::Coordinator).await).await;
        let draft = staff.client.get(srv.url("/activity/2007Q4/draft?lang=ja")).send().await.unwrap().text().await.unwrap();
        assert!(draft.contains("id=\"publish-report\"") && draft.contains("id=\"revisions\""), "{draft}");
        let r = staff.client.post(srv.url("/activity/2007Q4/publish")).form(&[("_csrf", staff.csrf.as_str()), ("change_note", "表の誤記を訂正")]).send().await.unwrap();
        assert_eq!(r.status(), 303);
        assert!(r.headers()["location"].to_str().unwrap().ends_with("/activity/2007Q4"));
        let (status, revisions) = api.get(None, "/api/v1/activity/2007Q4/revisions").await;
        assert_eq!((status, revisions["revisions"].as_array().map(Vec::len)), (200, Some(3)), "{revisions}");
        assert_eq!(revisions["revisions"][0]["change_note"], "表の誤記を訂正");
        assert!(srv.audit_actions().await.iter().filter(|a| *a == "report.published").count() == 3);

        // The list of publications: the report (each revision) and the alert, newest first.
        let list = public.get(srv.url("/documents?lang=ja")).send().await.unwrap();
        assert_eq!(list.status(), 200);
        let list = list.text().await.unwrap();
        assert!(list.contains("href=\"/activity/2007Q4\"") && list.contains(&format!("href=\"/alerts/{alert}\"")), "{list}");
        let only = public.get(srv.url("/documents?kind=alert")).send().await.unwrap().text().await.unwrap();
        assert!(!only.contains("href=\"/activity/2007Q4\"") && only.contains(&alert));
        assert_eq!(public.get(srv.url("/documents?kind=memo")).send().await.unwrap().status(), 422);
        let feed = public.get(srv.url("/feeds/documents.atom")).send().await.unwrap();
        assert_eq!(feed.headers()["content-type"], "application/atom+xml; charset=utf-8");
        let feed = feed.text().await.unwrap();
        if let Some(read) = feedparser(&feed) {
            assert!(read["bozo"] == json!(false) || read["bozo"] == json!(0), "feedparser stumbled: {read}");
            assert_eq!(read["title"], "発行文書一覧");
            let entries = read["entries"].as_array().unwrap();
            assert_eq!(entries.len(), 4, "three revisions of the report and the alert: {read}");
            assert!(entries[0]["title"].as_str().unwrap().contains("活動概要") && entries[0]["title"].as_str().unwrap().contains("第 3 版"), "{read}");
            assert!(entries.iter().any(|e| e["link"].as_str().unwrap().ends_with(&format!("/alerts/{alert}"))), "{read}");
        }
    }

    async fn the_explanations_beside_the_tables_are_the_teams_own_once_edited(srv) {
        let api = Api { srv: &srv, http: srv.client() };
        let author = srv.token(&srv.user(Role::Coordinator).await).await;
        let (status, t) = api.get(Some(&author), "/api/v1/activity/texts").await;
        assert_eq!(status, 200, "{t}");
        let scan = t["texts"].as_array().unwrap().iter().find(|x| x["key"] == "scan").unwrap().clone();
        assert_eq!(scan["custom"], false);
        assert!(scan["text_ja"].as_str().unwrap().contains("探査"), "{scan}");
        let (status, t) = put(&api, &author, "/api/v1/activity/texts", json!({"texts": [{"key": "scan", "text_ja": "スキャンとは**探査**のことです。", "text_en": "A scan is a probe."}]})).await;
        assert_eq!(status, 200, "{t}");
        assert_eq!(put(&api, &author, "/api/v1/activity/texts", json!({"texts": [{"key": "memo", "text_ja": "x"}]})).await.0, 422);
        let constituent = srv.token(&srv.user(Role::Constituent).await).await;
        assert_eq!(put(&api, &constituent, "/api/v1/activity/texts", json!({"texts": []})).await.0, 403);
        // A report with a scan prints the team's explanation beside the scan table.
        let (status, r) = api.post(Some(&author), "/api/v1/reports", json!({
            "site_org": "Example Corp", "reporter_name": "SOC", "reporter_email": "soc@example.co.jp",
            "description": "Port scan from 203.0.113.9.", "logs": "Nov 20 10:00:01 fw kernel: DROP IN=eth0 SRC=203.0.113.9 DST=192.0.2.1 PROTO=TCP SPT=4000 DPT=445",
        })).await;
        assert_eq!(status, 201, "{r}");
        let q = Quarter::of(srv.clock.now().date_naive());
        let staff = srv.signed_in(&srv.user(Role::Coordinator).await).await;
        let page = staff.client.get(srv.url(&format!("/activity/{q}/draft?lang=ja"))).send().await.unwrap().text().await.unwrap();
        assert!(page.contains("スキャンとは<strong>探査</strong>のことです。"), "{page}");
        assert!(page.contains("445 (microsoft-ds)"));
        // Emptied in both languages, the default returns.
        put(&api, &author, "/api/v1/activity/texts", json!({"texts": [{"key": "scan"}]})).await;
        let (_, t) = api.get(Some(&author), "/api/v1/activity/texts").await;
        assert_eq!(t["texts"][0]["custom"], false, "{t}");
        assert!(srv.audit_actions().await.iter().any(|a| a == "report.texts"));
    }
}

/// The key flow in a real browser: a coordinator opens the activity report from the
/// menu, writes a topic in the form, and finds it at the head of the report.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_coordinator_writes_a_topic_and_reads_it_in_the_report_in_a_browser() {
    let Some(browser) = renkei_testkit::browser::Browser::launch().await else {
        return;
    };
    let srv = renkei_testkit::TestServer::start(renkei_testkit::Backend::Sqlite).await;
    let coordinator = srv.user(Role::Coordinator).await;
    browser.goto(&srv.url("/login")).await;
    browser.type_into("#email", &coordinator.email).await;
    browser
        .type_into("#password", renkei_testkit::PASSWORD)
        .await;
    browser.click("#login-submit").await;
    browser.wait_url("/dashboard").await;
    // The reports pillar in the top bar opens on the activity report.
    browser.click("#nav-reports").await;
    browser.wait_url("/activity/").await;
    assert!(browser.exists("#report-title").await);
    assert!(
        browser.exists("#fig-1-1 svg").await,
        "the charts are inline"
    );
    browser
        .type_into("#new-title-en", "Incident response drill with 13 teams")
        .await;
    browser
        .type_into("#new-body-en", "Twelve **economies** took part.")
        .await;
    browser.click("#save-topics").await;
    let topics = browser
        .wait_text("#topics + h3", "Incident response drill")
        .await;
    assert!(topics.contains("13 teams"), "{topics}");
    assert_eq!(browser.text("#report .topic strong").await, "economies");
    browser.quit().await;
}

/// The published report as the public reads it in a real browser: the cover, the
/// contents whose links reach their sections, the month columns, the charts, and
/// the list of publications leading to it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_public_reads_a_published_report_and_finds_it_in_the_list_in_a_browser() {
    let Some(browser) = renkei_testkit::browser::Browser::launch().await else {
        return;
    };
    let srv = renkei_testkit::TestServer::start(renkei_testkit::Backend::Sqlite).await;
    let api = Api {
        srv: &srv,
        http: srv.client(),
    };
    let token = srv.token(&srv.user(Role::Coordinator).await).await;
    let at = |s: &str| {
        chrono::DateTime::parse_from_rfc3339(s)
            .unwrap()
            .with_timezone(&chrono::Utc)
    };
    srv.clock.set(at("2007-11-10T03:00:00Z"));
    let (status, r) = api.post(Some(&token), "/api/v1/reports", json!({
        "site_org": "Example Corp", "reporter_name": "SOC", "reporter_email": "soc@example.co.jp",
        "description": "Port scan from 203.0.113.9.", "logs": "Nov 20 10:00:01 fw kernel: DROP IN=eth0 SRC=203.0.113.9 DST=192.0.2.1 PROTO=TCP SPT=4000 DPT=445",
    })).await;
    assert_eq!(status, 201, "{r}");
    srv.clock.set(at("2008-01-15T03:00:00Z"));
    let (status, p) = api
        .post(Some(&token), "/api/v1/activity/2007Q4/publish", json!({}))
        .await;
    assert_eq!(status, 201, "{p}");

    browser.goto(&srv.url("/documents?lang=ja")).await;
    browser.click("#documents a[href='/activity/2007Q4']").await;
    browser.wait_url("/activity/2007Q4").await;
    // In the browser's language first, then in Japanese.
    assert!(browser.exists("#report-title").await);
    browser.goto(&srv.url("/activity/2007Q4?lang=ja")).await;
    assert!(browser.text("#report-title").await.contains("活動概要"));
    assert!(browser.text("#issued").await.contains("2008-01-15"));
    // The contents lead to their sections.
    browser.click("#contents a[href='#s2']").await;
    assert!(browser.current_url().await.ends_with("#s2"));
    // The month columns and the total, the port with its service name.
    let head = browser.text("#ports thead").await;
    assert!(
        head.contains("11 月") && head.contains("四半期計"),
        "{head}"
    );
    assert!(browser.text("#ports").await.contains("445 (microsoft-ds)"));
    assert!(
        browser.exists("#fig-1-1 svg").await,
        "the charts are inline"
    );
    assert!(browser.exists("#revision-1").await);
    browser.quit().await;
}
