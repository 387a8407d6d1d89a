//! The coordinator's working day, on SQLite and PostgreSQL: a queue worked page by
//! page, sorted by any column and through saved views; one incident on a page of
//! its own; a dashboard that counts what waits for a person and links to it; a
//! weekly issue composed, previewed and published from its form; an alert's
//! Markdown previewed before it is saved; and every page a Japanese coordinator
//! opens speaks Japanese. Then the same day in a real browser, by keyboard.

use crate::common;

use common::Api;
use renkei_core::access::Role;
use renkei_core::audit::Actor;
use renkei_core::lang::Lang;
use renkei_testkit::{SignedIn, TestServer, both_backends, csrf_from};
use serde_json::json;

/// Reports an attack from `sources` addresses (198.51.100.1 and up, one log line
/// each) through the public form: one incident per source. Returns the report's
/// tracking number.
async fn report_hosts(srv: &TestServer, sources: usize) -> i64 {
    // A Japanese reporter: the form, and the words Renkei adds to the report, are
    // in Japanese.
    let client = srv.client();
    let form = client
        .get(srv.url("/report"))
        .header("accept-language", "ja")
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let csrf = csrf_from(&form).unwrap();
    let logs: Vec<String> = (1..=sources)
        .map(|i| format!("Jan 15 07:22:18 web sshd[11]: Failed password for root from 198.51.100.{i} port 40001 ssh2"))
        .collect();
    let r = client
        .post(srv.url("/report"))
        .header("accept-language", "ja")
        .form(&[
            ("_csrf", csrf.as_str()),
            ("site_org", "株式会社サンプル"),
            ("reporter_name", "山田 太郎"),
            ("reporter_email", "taro@shop.example.co.jp"),
            ("hosts", "192.0.2.10"),
            (
                "description",
                "社内のサーバーが多数の送信元から SSH の総当たり攻撃を受けています。",
            ),
            ("logs", logs.join("\n").as_str()),
            ("tlp", "TLP:GREEN"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let page = r.text().await.unwrap();
    page.split("id=\"tracking-number\">#")
        .nth(1)
        .unwrap()
        .split('<')
        .next()
        .unwrap()
        .parse()
        .unwrap()
}

async fn get(s: &SignedIn, srv: &TestServer, path: &str) -> (u16, String) {
    let r = s.client.get(srv.url(path)).send().await.unwrap();
    (r.status().as_u16(), r.text().await.unwrap())
}

/// The incident numbers of the queue's rows, in order.
fn rows(page: &str) -> Vec<i64> {
    page.split("<tr data-id=\"")
        .skip(1)
        .map(|r| r.split('"').next().unwrap().parse().unwrap())
        .collect()
}

/// The source address of each row, in order.
fn sources(page: &str) -> Vec<String> {
    page.split("<tr data-id=\"")
        .skip(1)
        .map(|r| {
            r.split("<td>")
                .nth(3)
                .unwrap()
                .split(['<', ' '])
                .next()
                .unwrap()
                .to_string()
        })
        .collect()
}

async fn a_coordinator_works_the_queue_page_by_page_sorted_and_through_saved_views(
    srv: &TestServer,
) {
    let tracking = report_hosts(srv, 60).await;
    let me = srv.user(Role::Coordinator).await;
    let s = srv.signed_in(&me).await;

    // The total, and the first of two pages.
    let (status, first) = get(&s, srv, "/incidents").await;
    assert_eq!(status, 200);
    assert!(
        first.contains("data-total=\"60\""),
        "the queue says how many there are"
    );
    assert!(
        first.contains("1–50 of 60"),
        "and which of them this page shows"
    );
    assert_eq!(rows(&first).len(), 50);
    assert!(
        first.contains("id=\"page-next\""),
        "a second page is offered"
    );
    let (_, second) = get(&s, srv, "/incidents?page=2").await;
    assert_eq!(rows(&second).len(), 10);
    assert!(second.contains("51–60 of 60"));
    let all: std::collections::BTreeSet<i64> =
        rows(&first).into_iter().chain(rows(&second)).collect();
    assert_eq!(all.len(), 60, "the pages neither overlap nor leave a gap");
    assert!(
        rows(&first).windows(2).all(|w| w[0] > w[1]),
        "newest first by default"
    );

    // Any column sorts, both ways; the heading says which way.
    let (_, by_source) = get(&s, srv, "/incidents?sort=source&dir=asc").await;
    let shown = sources(&by_source);
    let mut sorted = shown.clone();
    sorted.sort();
    assert_eq!(shown, sorted, "sorted by source address");
    assert!(by_source.contains("aria-sort=\"ascending\""));
    assert!(
        by_source.contains("href=\"/incidents?sort=source&#38;dir=desc\""),
        "the heading turns the order around"
    );
    let (_, desc) = get(&s, srv, "/incidents?sort=source&dir=desc").await;
    let shown = sources(&desc);
    let mut reversed = shown.clone();
    reversed.sort_by(|a, b| b.cmp(a));
    assert_eq!(shown, reversed, "and the other way");
    for column in [
        "id", "category", "state", "tlp", "owner", "report", "created", "due", "updated",
    ] {
        let (status, _) = get(&s, srv, &format!("/incidents?sort={column}")).await;
        assert_eq!(status, 200, "sorting by {column}");
    }
    let (status, bad) = get(&s, srv, "/incidents?sort=colour").await;
    assert_eq!(status, 422, "an unknown column is refused: {bad}");

    // The API pages the same way and says the total beside the list.
    let token = srv.token(&me).await;
    let r = srv
        .client()
        .get(srv.url("/api/v1/incidents?limit=5&sort=source"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.headers()["x-total-count"], "60");
    assert_eq!(
        r.json::<serde_json::Value>()
            .await
            .unwrap()
            .as_array()
            .unwrap()
            .len(),
        5
    );

    // Saved views: mine (after assigning one to me from the bulk bar), new today,
    // ageing.
    let id = rows(&first)[0];
    let r = s
        .client
        .post(srv.url("/incidents/bulk/assign"))
        .form(&[
            ("_csrf", s.csrf.as_str()),
            ("ids", &id.to_string()),
            ("owner", &me.id.to_string()),
            ("back", "/incidents?sort=source"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303);
    assert_eq!(
        r.headers()["location"],
        "/incidents?sort=source",
        "back to the queue as it was"
    );
    let (_, mine) = get(&s, srv, &format!("/incidents?owner={}", me.id)).await;
    assert_eq!(rows(&mine), vec![id]);
    assert!(
        mine.contains("id=\"view-mine\" aria-current=\"page\""),
        "the view is marked as the one shown"
    );
    let today = chrono::Utc::now()
        .with_timezone(&chrono::FixedOffset::east_opt(9 * 3600).unwrap())
        .date_naive();
    let (_, new_today) = get(&s, srv, &format!("/incidents?from={today}")).await;
    assert!(
        new_today.contains("data-total=\"60\""),
        "all came in today (in the team's zone)"
    );
    let (_, ageing) = get(&s, srv, "/incidents?idle=7").await;
    assert!(
        ageing.contains("data-total=\"0\""),
        "nothing has waited a week"
    );
    srv.clock.advance(8 * 86_400);
    // A week is longer than a session lasts: signed in again.
    let s = srv.signed_in(&me).await;
    let (_, ageing) = get(&s, srv, "/incidents?idle=7").await;
    assert!(
        ageing.contains("data-total=\"60\""),
        "a week on, all are ageing"
    );
    let (status, _) = get(&s, srv, "/incidents?idle=forever").await;
    assert_eq!(status, 422);

    // One incident, on a page of its own, with the next one a link away; assigning
    // from it comes back to it.
    let (status, page) = get(&s, srv, &format!("/incidents/{id}")).await;
    assert_eq!(status, 200);
    assert!(page.contains("id=\"incident-title\""));
    assert!(
        page.contains(&format!("href=\"/reports/{tracking}\"")),
        "its report is a link away"
    );
    assert!(
        page.contains("<mark>"),
        "its address is marked in the report's text"
    );
    assert!(
        page.contains("id=\"next-incident\""),
        "the next open incident is offered"
    );
    let r = s
        .client
        .post(srv.url(&format!("/incidents/{id}")))
        .form(&[
            ("_csrf", s.csrf.as_str()),
            ("state", "coordinating"),
            ("back", &format!("/incidents/{id}")),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.headers()["location"], format!("/incidents/{id}").as_str());
    let (_, page) = get(&s, srv, &format!("/incidents/{id}")).await;
    assert!(page.contains("data-state=\"coordinating\""));
    assert!(
        page.contains("State changed"),
        "its history names what happened in words"
    );

    // A view of one's own: saved under a name, shown beside the common ones, only
    // to its owner; a query the queue cannot read is refused.
    let query = format!("owner={}&category=scan", me.id);
    let r = s
        .client
        .post(srv.url("/incidents/views"))
        .form(&[
            ("_csrf", s.csrf.as_str()),
            ("name", "自分のスキャン"),
            ("query", query.as_str()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303);
    let (_, mine) = get(&s, srv, &format!("/incidents?{query}")).await;
    assert!(
        mine.contains("aria-current=\"page\">自分のスキャン</a>"),
        "the saved view is the one shown"
    );
    let other = srv.signed_in(&srv.user(Role::Coordinator).await).await;
    let (_, theirs) = get(&other, srv, "/incidents").await;
    assert!(
        !theirs.contains("自分のスキャン"),
        "a saved view is its owner's alone"
    );
    let r = s
        .client
        .post(srv.url("/incidents/views"))
        .form(&[
            ("_csrf", s.csrf.as_str()),
            ("name", "bad"),
            ("query", "sort=colour"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 422, "a query the queue cannot read is not kept");
    let view = renkei_incident::views::list(&srv.store, me.id)
        .await
        .unwrap()[0]
        .id;
    let r = other
        .client
        .post(srv.url(&format!("/incidents/views/{view}/remove")))
        .form(&[("_csrf", other.csrf.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404, "nobody removes another's view");
    let r = s
        .client
        .post(srv.url(&format!("/incidents/views/{view}/remove")))
        .form(&[("_csrf", s.csrf.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303);
    assert!(
        renkei_incident::views::list(&srv.store, me.id)
            .await
            .unwrap()
            .is_empty()
    );
}

async fn the_dashboard_counts_what_waits_for_a_person_and_links_to_it(srv: &TestServer) {
    let admin = srv.user(Role::Admin).await;
    let s = srv.signed_in(&admin).await;
    let (_, page) = get(&s, srv, "/dashboard").await;
    for key in [
        "mine",
        "replies",
        "overdue",
        "review",
        "case_dates",
        "alerts_review",
        "weekly",
        "sensors",
        "feeds",
        "mail",
    ] {
        assert!(
            page.contains(&format!("id=\"work-{key}\"")),
            "the dashboard counts {key}"
        );
    }
    assert!(
        !page.contains("Accounts:") && !page.contains("Audit entries"),
        "no housekeeping counts"
    );
    assert!(
        page.contains("id=\"work-weekly\" data-count=\"1\""),
        "the next weekly issue is due and not started"
    );

    // Some work: two incidents of mine, an alert waiting for review, a silent sensor.
    report_hosts(srv, 2).await;
    let api = Api {
        srv,
        http: srv.client(),
    };
    let token = srv.token(&admin).await;
    let list = api.get(Some(&token), "/api/v1/incidents").await.1;
    for i in list.as_array().unwrap() {
        renkei_incident::incidents::assign(
            &srv.store,
            &Actor::system("test"),
            i["id"].as_i64().unwrap(),
            Some(admin.id),
        )
        .await
        .unwrap();
    }
    let author = srv.token(&srv.user(Role::Coordinator).await).await;
    let (status, a) = api.post(Some(&author), "/api/v1/alerts", json!({
        "category": "vulnerability", "tlp": "TLP:CLEAR", "title_ja": "注意喚起", "title_en": "Alert",
        "body_ja": "本文", "body_en": "Body",
    })).await;
    assert_eq!(status, 201, "{a}");
    let n = a["number"].as_str().unwrap();
    assert_eq!(
        api.post(
            Some(&author),
            &format!("/api/v1/alerts/{n}/submit"),
            json!({})
        )
        .await
        .0,
        200
    );
    let (sensor, _) = renkei_observe::collector::register(
        &srv.store,
        &Actor::system("test"),
        renkei_observe::collector::NewSensor {
            name: "tokyo-1".into(),
            location: "東京".into(),
            address_range: "203.0.113.0/24".into(),
            public_key: renkei_observe::batch::SensorKey::generate().public(),
        },
    )
    .await
    .unwrap();

    let (_, page) = get(&s, srv, "/dashboard").await;
    assert!(page.contains("id=\"work-mine\" data-count=\"2\""), "{page}");
    assert!(
        page.contains(&format!(
            "href=\"/incidents?owner={}\" id=\"work-mine\"",
            admin.id
        )),
        "and links to them"
    );
    assert!(page.contains("id=\"work-alerts_review\" data-count=\"1\""));
    assert!(
        page.contains("id=\"work-sensors\" data-count=\"0\""),
        "a sensor registered now is not silent"
    );

    // A day and more without a batch: silent on the dashboard, on the sensors page,
    // and the administrators are told once by mail.
    srv.clock.advance(25 * 3600);
    let s = srv.signed_in(&admin).await;
    let (_, page) = get(&s, srv, "/dashboard").await;
    assert!(
        page.contains("id=\"work-sensors\" data-count=\"1\""),
        "{page}"
    );
    assert!(page.contains("tokyo-1"), "named");
    let (_, sensors) = get(&s, srv, "/observation/sensors").await;
    assert!(sensors.contains("id=\"silent-sensors\"") && sensors.contains("badge overdue silent"));
    let now = srv.store.now();
    let zone = chrono::FixedOffset::east_opt(9 * 3600).unwrap();
    let warned = renkei_observe::outage::warn(&srv.store, "csirt@example.org", zone, now)
        .await
        .unwrap();
    assert_eq!(warned, vec![sensor.id]);
    assert!(
        renkei_observe::outage::warn(&srv.store, "csirt@example.org", zone, now)
            .await
            .unwrap()
            .is_empty(),
        "once per outage"
    );
    let mails = renkei_mail::outbox::for_object(&srv.store, "sensor", &sensor.id.to_string())
        .await
        .unwrap();
    assert_eq!(mails.len(), 1, "one mail to the one administrator");
    assert_eq!(mails[0].rcpt_to, admin.email);
    assert!(mails[0].subject.contains("silent"), "{}", mails[0].subject);
    assert!(
        srv.audit_actions()
            .await
            .contains(&"sensor.outage_warned".to_string())
    );

    // Reports set aside for review are listed where the count links.
    let (status, review) = get(&s, srv, "/reports/review").await;
    assert_eq!(status, 200);
    assert!(review.contains("id=\"review-none\""), "{review}");
}

async fn a_weekly_issue_is_composed_previewed_and_published_from_its_form(srv: &TestServer) {
    let author = srv.user(Role::Coordinator).await;
    let s = srv.signed_in(&author).await;
    let (_, list) = get(&s, srv, "/weekly").await;
    assert!(
        list.contains("id=\"weekly-new\""),
        "staff can start the next issue from the list"
    );
    let r = s
        .client
        .post(srv.url("/weekly/new"))
        .form(&[("_csrf", s.csrf.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303);
    let edit = r.headers()["location"].to_str().unwrap().to_string();
    assert!(
        edit.starts_with("/weekly/") && edit.ends_with("/edit"),
        "{edit}"
    );
    let date = edit
        .trim_start_matches("/weekly/")
        .trim_end_matches("/edit")
        .to_string();
    // Asking again goes to the same issue.
    let r = s
        .client
        .post(srv.url("/weekly/new"))
        .form(&[("_csrf", s.csrf.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(r.headers()["location"], edit.as_str());

    let (status, form) = get(&s, srv, &edit).await;
    assert_eq!(status, 200);
    assert!(form.contains("id=\"weekly-form\""));
    let fields = |memo: &str, preview: bool| {
        let mut f: Vec<(&str, String)> = vec![
            ("_csrf", s.csrf.clone()),
            ("kind", "news".into()),
            ("ref", "".into()),
            ("url", "https://www.example.org/news/1".into()),
            ("title_ja", "ランサムウェア被害の増加".into()),
            ("summary_ja", "国内の被害が増えています。".into()),
            ("title_en", "Ransomware on the rise".into()),
            ("summary_en", "Cases in Japan are increasing.".into()),
            // An empty row is dropped.
            ("kind", "news".into()),
            ("ref", "".into()),
            ("url", "".into()),
            ("title_ja", "".into()),
            ("summary_ja", "".into()),
            ("title_en", "".into()),
            ("summary_en", "".into()),
            ("memo_title_ja", "パスワードの使い回し".into()),
            ("memo_title_en", "Reused passwords".into()),
            ("memo_ja", memo.into()),
            ("memo_en", "Use **different** passwords.".into()),
        ];
        if preview {
            f.push(("preview", "1".into()));
        }
        f
    };
    let r = s
        .client
        .post(srv.url(&edit))
        .form(&fields("**別々の**パスワードを。", true))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let preview = r.text().await.unwrap();
    assert!(
        preview.contains("id=\"memo-preview\"") && preview.contains("<strong>別々の</strong>"),
        "the memo as readers will see it"
    );
    assert!(
        preview.contains("ランサムウェア被害の増加"),
        "the form keeps what was typed"
    );
    let (_, public) = get(&s, srv, &format!("/api/v1/weekly/{date}")).await;
    assert!(
        !public.contains("ランサムウェア"),
        "a preview saves nothing"
    );

    let r = s
        .client
        .post(srv.url(&edit))
        .form(&fields("**別々の**パスワードを。", false))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303);
    let (_, draft) = get(&s, srv, &format!("/weekly/{date}")).await;
    assert!(
        draft.contains("Ransomware on the rise"),
        "the draft shows the items, in the reader's language"
    );
    assert!(
        draft.contains("id=\"weekly-edit\""),
        "a draft offers its form again"
    );

    let r = s
        .client
        .post(srv.url(&format!("/weekly/{date}/publish")))
        .form(&[("_csrf", s.csrf.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303);
    let public = srv
        .client()
        .get(srv.url(&format!("/weekly/{date}?lang=ja")))
        .send()
        .await
        .unwrap();
    assert_eq!(public.status(), 200, "published for everyone");
    let public = public.text().await.unwrap();
    assert!(
        public.contains("ランサムウェア被害の増加") && public.contains("<strong>別々の</strong>")
    );
    // A published issue's form sends the reader to the issue.
    let r = s.client.get(srv.url(&edit)).send().await.unwrap();
    assert_eq!(r.status(), 303);
}

async fn an_alerts_markdown_is_previewed_before_it_is_saved(srv: &TestServer) {
    let author = srv.user(Role::Coordinator).await;
    let s = srv.signed_in(&author).await;
    let r = s
        .client
        .post(srv.url("/alerts/new"))
        .form(&[
            ("_csrf", s.csrf.as_str()),
            ("category", "vulnerability"),
            ("tlp", "TLP:CLEAR"),
            ("title_ja", "プレビューの確認"),
            ("title_en", "Preview"),
            ("body_ja", "## 対策\n\n- **更新**してください\n"),
            ("body_en", "## Fix\n\n- **Update**\n"),
            ("notes", ""),
            ("preview", "1"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let page = r.text().await.unwrap();
    assert!(page.contains("id=\"alert-preview\""));
    assert!(
        page.contains("<strong>更新</strong>") && page.contains("<strong>Update</strong>"),
        "{page}"
    );
    assert!(page.contains("## 対策"), "the form keeps the Markdown");
    let token = srv.token(&author).await;
    let api = Api {
        srv,
        http: srv.client(),
    };
    assert_eq!(
        api.get(Some(&token), "/api/v1/alerts").await.1["alerts"],
        json!([]),
        "nothing saved"
    );
}

/// Words in a page's visible text that are not Japanese: runs of three or more
/// English words (a sentence or a label left untranslated).
fn english_runs(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut run: Vec<&str> = Vec::new();
    let flush = |run: &mut Vec<&str>, out: &mut Vec<String>| {
        if run.len() >= 3 {
            out.push(run.join(" "));
        }
        run.clear();
    };
    for w in text.split(|c: char| c.is_whitespace()) {
        let bare = w.trim_matches(|c: char| ",.:;()!?\"'“”".contains(c));
        let english = bare.len() >= 2
            && bare.chars().all(|c| c.is_ascii_alphabetic())
            && bare.chars().any(|c| c.is_ascii_lowercase());
        if english {
            run.push(bare);
        } else {
            flush(&mut run, &mut out);
        }
    }
    flush(&mut run, &mut out);
    out
}

/// The routes of pages a person reads, for the Japanese walks: not feeds, files,
/// charts, scripts or machine documents, nor pages behind a secret the walk does
/// not have or a provider elsewhere.
fn page_routes(srv: &TestServer) -> Vec<&'static str> {
    const NOT_PAGES: [&str; 21] = [
        ".atom",
        ".rss",
        ".svg",
        ".js",
        ".json",
        ".txt",
        ".csv",
        ".pdf",
        "/raw",
        "/metrics",
        "/healthz",
        "/livez",
        "/readyz",
        "/csaf/",
        "/charts/",
        "/files/",
        "/documents/",
        "{secret}",
        "{token}",
        "/login/sso",
        "/report.html",
    ];
    srv.routes
        .iter()
        .filter(|s| s.method == renkei_web::http::routes::Method::GET && s.api.is_none())
        .filter(|s| !NOT_PAGES.iter().any(|k| s.path.contains(k)))
        .map(|s| s.path)
        .collect()
}

/// A page without what people sent (a report's text and logs, a raw message), which
/// is shown as it came in whatever its language, and without what is marked as
/// English on purpose (the language switch, a licence's required attribution).
fn without_data(html: &str) -> String {
    let mut html = html.to_string();
    for (open, close) in [
        ("<pre", "</pre>"),
        ("<span lang=\"en\"", "</span>"),
        (
            "<button class=\"link\" name=\"lang\" value=\"en\" lang=\"en\"",
            "</button>",
        ),
    ] {
        let mut out = String::new();
        let mut rest = html.as_str();
        while let Some(at) = rest.find(open) {
            out.push_str(&rest[..at]);
            match rest[at..].find(close) {
                Some(end) => rest = &rest[at + end + close.len()..],
                None => rest = "",
            }
        }
        out.push_str(rest);
        html = out;
    }
    html
}

async fn every_page_a_japanese_coordinator_opens_speaks_japanese(srv: &TestServer) {
    let tracking = report_hosts(srv, 3).await;
    let admin = srv.user(Role::Admin).await;
    renkei_core::accounts::set_lang(&srv.store, &Actor::system("test"), admin.id, Lang::Ja)
        .await
        .unwrap();
    let s = srv.signed_in(&admin).await;
    let token = srv.token(&admin).await;
    let api = Api {
        srv,
        http: srv.client(),
    };
    let first = api.get(Some(&token), "/api/v1/incidents").await.1[0].clone();
    let incident = first["id"].as_i64().unwrap();
    let indicator = format!("/indicators/ip/{}", first["source_ip"].as_str().unwrap());
    let org = srv
        .org("サンプル ISP", renkei_core::orgs::OrgKind::Isp)
        .await;
    // A registered vendor with a user, a case with it, a published alert, a weekly
    // issue: the pages that show them are walked too.
    let (vendor, vendor_user, _) =
        common::registered_vendor(&api, &token, "サンプル電機", &["ルーター X"]).await;
    let (status, created) = api
        .post(
            None,
            "/api/v1/cases",
            json!({
                "title": "ルーター X の管理画面における格納型クロスサイトスクリプティング",
                "description": "機器名がエスケープされずに管理画面に表示されます。",
                "affected": "ルーター X 2.0 以前",
                "cvss_vector": "CVSS:3.1/AV:N/AC:L/PR:N/UI:R/S:C/C:L/I:L/A:N",
                "cwe": "CWE-79",
                "credit": "山田 花子",
                "reporter_name": "山田 花子",
                "reporter_email": "hanako@finder.example",
            }),
        )
        .await;
    assert_eq!(status, 201, "{created}");
    let case = created["case"].as_str().unwrap().to_string();
    let (status, d) = api
        .post(
            Some(&token),
            &format!("/api/v1/cases/{case}/vendors"),
            json!({"vendor_id": vendor}),
        )
        .await;
    assert_eq!(status, 201, "{d}");
    let author = srv.token(&srv.user(Role::Coordinator).await).await;
    let (_, a) = api
        .post(
            Some(&author),
            "/api/v1/alerts",
            json!({
                "category": "vulnerability", "tlp": "TLP:CLEAR",
                "title_ja": "ルーター X の脆弱性に関する注意喚起", "title_en": "Router X",
                "body_ja": "## 対策\n\n最新版に更新してください。", "body_en": "Update.",
            }),
        )
        .await;
    let alert = a["number"].as_str().unwrap().to_string();
    assert_eq!(
        api.post(
            Some(&author),
            &format!("/api/v1/alerts/{alert}/submit"),
            json!({})
        )
        .await
        .0,
        200
    );
    assert_eq!(
        api.post(
            Some(&token),
            &format!("/api/v1/alerts/{alert}/publish"),
            json!({})
        )
        .await
        .0,
        200
    );
    let r = s
        .client
        .post(srv.url("/weekly/new"))
        .form(&[("_csrf", s.csrf.as_str())])
        .send()
        .await
        .unwrap();
    let weekly_edit = r.headers()["location"].to_str().unwrap().to_string();
    let weekly = weekly_edit.trim_end_matches("/edit").to_string();
    let today = srv.store.now().date_naive();
    let quarter = format!(
        "{}Q{}",
        chrono::Datelike::year(&today),
        (chrono::Datelike::month(&today) - 1) / 3 + 1
    );

    let fill = |path: &str| -> Option<String> {
        Some(match path {
            p if p.contains("{id}") && p.starts_with("/reports/") => {
                p.replace("{id}", &tracking.to_string())
            }
            p if p.contains("{id}") && p.starts_with("/incidents/") => {
                p.replace("{id}", &incident.to_string())
            }
            p if p.contains("{id}") && p.starts_with("/orgs/") => {
                p.replace("{id}", &org.to_string())
            }
            p if p.contains("{id}") && p.starts_with("/vendors/") => {
                p.replace("{id}", &vendor.to_string())
            }
            p if p.contains("{id}") && p.starts_with("/cases/") => p.replace("{id}", &case),
            p if p.contains("{number}") => p.replace("{number}", &alert),
            p if p.contains("{quarter}") => p.replace("{quarter}", &quarter),
            "/weekly/{date}/edit" => weekly_edit.clone(),
            "/weekly/{date}" => weekly.clone(),
            "/observation/ports/{proto}/{port}" => "/observation/ports/tcp/22".into(),
            "/indicators/{kind}/{value}" => indicator.clone(),
            p if p.contains('{') => return None,
            p => p.to_string(),
        })
    };
    let pages: Vec<String> = page_routes(srv).into_iter().filter_map(fill).collect();

    // Every page as the administrator, then as the vendor's own user, in Japanese.
    renkei_core::accounts::set_lang(&srv.store, &Actor::system("test"), vendor_user.id, Lang::Ja)
        .await
        .unwrap();
    let vendor_session = srv.signed_in(&vendor_user).await;
    let team = renkei_core::config::VulnConfig::default().publisher_name;
    let mut walked = 0;
    let mut found = Vec::new();
    for (who, session) in [("admin", &s), ("vendor", &vendor_session)] {
        for path in &pages {
            let (status, page) = get(session, srv, path).await;
            // A page that needs a choice first (a selection, a recipient), sends the
            // reader elsewhere or is not this reader's is reached another way.
            if matches!(status, 303 | 400 | 403 | 404 | 422) {
                continue;
            }
            assert_eq!(status, 200, "{path} as {who}");
            assert!(
                page.contains("lang=\"ja\""),
                "{path} is not in Japanese for {who}"
            );
            walked += 1;
            let raw = crate::words::raw_identifiers_in(&page);
            // The team's name is its own, as configured.
            let page = page.replace(&team, "");
            let english = english_runs(&crate::words::visible_text(&without_data(&page)));
            if !raw.is_empty() || !english.is_empty() {
                found.push(format!("{path} ({who}): {raw:?} {english:?}"));
            }
        }
    }
    assert!(walked >= 60, "the walk reached {walked} pages");
    eprintln!(
        "the Japanese walk over HTTP: {walked} pages, {} with a raw identifier or English",
        found.len()
    );
    assert!(
        found.is_empty(),
        "pages with raw identifiers or English:\n{}",
        found.join("\n")
    );
}

both_backends! {
    async fn the_queue_pages_sorts_and_keeps_views(srv) {
        a_coordinator_works_the_queue_page_by_page_sorted_and_through_saved_views(&srv).await;
    }

    async fn the_dashboard_counts_the_days_work(srv) {
        the_dashboard_counts_what_waits_for_a_person_and_links_to_it(&srv).await;
    }

    async fn a_weekly_issue_is_written_in_its_form(srv) {
        a_weekly_issue_is_composed_previewed_and_published_from_its_form(&srv).await;
    }

    async fn an_alert_is_previewed(srv) {
        an_alerts_markdown_is_previewed_before_it_is_saved(&srv).await;
    }

    async fn the_japanese_walk_finds_no_raw_word(srv) {
        every_page_a_japanese_coordinator_opens_speaks_japanese(&srv).await;
    }
}

/// The day in a real browser, by keyboard: the dashboard, the queue worked with
/// j/x/a/o, an incident page, a weekly issue composed and published, an alert sent
/// to a list by picking it; the top bar fits at 1,280 px in both languages without
/// wrapping a word; screenshots of each page in Japanese and English are kept.
#[tokio::test]
async fn a_coordinator_works_the_day_by_keyboard_in_a_real_browser() {
    let Some(browser) = renkei_testkit::browser::Browser::launch().await else {
        return;
    };
    let srv = TestServer::start(renkei_testkit::Backend::Sqlite).await;
    let tracking = report_hosts(&srv, 60).await;
    let me = srv.user(Role::Coordinator).await;
    let shots = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("screenshots");
    std::fs::create_dir_all(&shots).unwrap();

    browser.goto(&srv.url("/login")).await;
    browser.type_into("#email", &me.email).await;
    browser
        .type_into("#password", renkei_testkit::PASSWORD)
        .await;
    browser.click("#login-submit").await;
    browser.wait_url("/dashboard").await;

    // The top bar: one menu per pillar, on one line, no word broken, in either
    // language at 1,280 px.
    let fits = r#"
        const bar = document.querySelector('header .bar');
        const links = Array.from(document.querySelectorAll('header .bar nav > a, header .bar .pillar-link, #subnav a'));
        return {
            overflow: bar.scrollWidth - bar.clientWidth,
            height: bar.getBoundingClientRect().height,
            broken: links.filter(a => a.getClientRects().length > 1 || a.getBoundingClientRect().height > 40).map(a => a.textContent),
            width: window.innerWidth,
        };
    "#;
    for lang in ["en", "ja"] {
        if lang == "ja" {
            browser.click("form.lang button").await;
            browser
                .wait_text("#dashboard-title", "ダッシュボード")
                .await;
        }
        let m = browser.script(fits).await;
        assert_eq!(m["width"], 1280, "{m}");
        assert!(
            m["overflow"].as_i64().unwrap() <= 0,
            "the top bar overflows in {lang}: {m}"
        );
        assert!(
            m["height"].as_f64().unwrap() < 60.0,
            "the top bar wraps in {lang}: {m}"
        );
        assert_eq!(m["broken"], json!([]), "a menu word breaks in {lang}: {m}");
        browser
            .screenshot(&shots.join(format!("day-dashboard-{lang}.png")))
            .await;
        for (page, path) in [
            ("queue", "/incidents".to_string()),
            ("report", format!("/reports/{tracking}")),
        ] {
            browser.goto(&srv.url(&path)).await;
            let m = browser.script(fits).await;
            assert!(
                m["overflow"].as_i64().unwrap() <= 0 && m["broken"] == json!([]),
                "{path} in {lang}: {m}"
            );
            browser
                .screenshot(&shots.join(format!("day-{page}-{lang}.png")))
                .await;
        }
        browser.goto(&srv.url("/dashboard")).await;
    }
    assert!(
        browser.text("#work").await.contains("自分の担当"),
        "the dashboard counts the day's work"
    );

    // The queue by keyboard: down to the second row, select it, assign it to me.
    browser.goto(&srv.url("/incidents")).await;
    browser.wait_text("#queue-total", "60").await;
    browser.press("jj").await;
    let focused = browser
        .script("return document.querySelector('#queue tr.focused').dataset.id")
        .await;
    let second = browser
        .script("return document.querySelectorAll('#queue tbody tr')[1].dataset.id")
        .await;
    assert_eq!(focused, second, "j moves down a row");
    browser.press("x").await;
    browser.wait_text("#bulk-count", "1").await;
    browser.press("a").await;
    browser.wait_text("#queue-total", "60").await;
    let id: i64 = second.as_str().unwrap().parse().unwrap();
    for _ in 0..50 {
        if renkei_incident::incidents::get(&srv.store, id)
            .await
            .unwrap()
            .owner_id
            == Some(me.id)
        {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(
        renkei_incident::incidents::get(&srv.store, id)
            .await
            .unwrap()
            .owner_id,
        Some(me.id),
        "a assigns the selection to me"
    );

    // s goes to the state selector with the focused row selected; the arrow key
    // chooses the next state and Enter sets it.
    browser.press("j").await;
    let first = browser
        .script("return document.querySelector('#queue tr.focused').dataset.id")
        .await;
    let first: i64 = first.as_str().unwrap().parse().unwrap();
    browser.press("s\u{E015}\u{E007}").await;
    let mut state = String::new();
    for _ in 0..50 {
        state = renkei_incident::incidents::get(&srv.store, first)
            .await
            .unwrap()
            .state
            .as_str()
            .to_string();
        if state != "new" {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(state, "triaged", "s, down, Enter sets the next state");
    browser.wait_text("#queue-total", "60").await;

    // o opens the focused row's incident; j goes on to the next open one.
    browser.press("jo").await;
    browser.wait_url("/incidents/").await;
    browser.wait_text("#incident-title", "#").await;
    let here = browser.current_url().await;
    browser.press("j").await;
    for _ in 0..50 {
        if browser.current_url().await != here {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_ne!(
        browser.current_url().await,
        here,
        "j goes to the next open incident"
    );

    // A weekly issue, composed and published from its form.
    browser.goto(&srv.url("/weekly")).await;
    browser.click("#weekly-new").await;
    browser.wait_url("/edit").await;
    browser
        .type_into("fieldset.weekly-item input[name=title_ja]", "週の話題")
        .await;
    browser
        .type_into("fieldset.weekly-item input[name=title_en]", "This week")
        .await;
    browser
        .type_into(
            "fieldset.weekly-item input[name=url]",
            "https://www.example.org/topic",
        )
        .await;
    browser.type_into("#w-memo-ja", "**大切**なこと").await;
    browser.click("#weekly-preview").await;
    browser.wait_text("#memo-preview", "大切").await;
    browser.click("#weekly-save").await;
    browser.wait_text("#weekly-items", "週の話題").await;
    browser.click("#weekly-edit").await;
    browser.wait_url("/edit").await;
    browser.click("#weekly-publish").await;
    browser.wait_text("#weekly-title", "1").await;
    assert!(
        !browser.exists("#weekly-status").await,
        "published: no draft badge"
    );

    // An alert sent to a list by picking it.
    let api = Api {
        srv: &srv,
        http: srv.client(),
    };
    let author = srv.token(&srv.user(Role::Coordinator).await).await;
    let reviewer = srv.token(&me).await;
    let (_, a) = api.post(Some(&author), "/api/v1/alerts", json!({
        "category": "vulnerability", "tlp": "TLP:CLEAR", "title_ja": "一覧から選ぶ注意喚起", "title_en": "Picked alert",
        "body_ja": "本文", "body_en": "Body",
    })).await;
    let n = a["number"].as_str().unwrap().to_string();
    assert_eq!(
        api.post(
            Some(&author),
            &format!("/api/v1/alerts/{n}/submit"),
            json!({})
        )
        .await
        .0,
        200
    );
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
    browser.goto(&srv.url("/lists/sends")).await;
    browser
        .click(&format!("#send-alert option[value='{n}']"))
        .await;
    browser.click("#send-form button").await;
    browser.wait_text("#sends", &n).await;

    // Every page the coordinator reaches, as the browser renders it in Japanese:
    // no stored identifier, no English sentence in what a person reads (what
    // people sent — report texts, raw mail — is theirs, in their language).
    let mut pages: Vec<String> = page_routes(&srv)
        .into_iter()
        .filter(|p| !p.contains('{'))
        .map(str::to_string)
        .collect();
    pages.extend([
        format!("/incidents/{id}"),
        format!("/reports/{tracking}"),
        format!("/alerts/{n}"),
    ]);
    let read = r#"
        const text = (el) => {
            if (!el) return '';
            const c = el.cloneNode(true);
            c.querySelectorAll('pre, code, textarea, script, style, [lang="en"]').forEach(e => e.remove());
            return c.textContent;
        };
        return [document.documentElement.lang, text(document.querySelector('header')) + '\n' + text(document.querySelector('main'))];
    "#;
    let team = renkei_core::config::VulnConfig::default().publisher_name;
    let mut found = Vec::new();
    let mut walked = 0;
    for path in &pages {
        browser.goto(&srv.url(path)).await;
        let v = browser.script(read).await;
        if v[0] != "ja" {
            continue;
        }
        walked += 1;
        // The team's name is its own, as configured.
        let text = v[1].as_str().unwrap_or_default().replace(&team, "");
        let text = text.as_str();
        let raw = crate::words::raw_identifiers_in(text);
        let english = english_runs(text);
        if !raw.is_empty() || !english.is_empty() {
            found.push(format!("{path}: {raw:?} {english:?}"));
        }
    }
    assert!(
        walked >= 30,
        "the browser walked {walked} pages in Japanese"
    );
    assert!(
        found.is_empty(),
        "raw identifiers or English in the browser:\n{}",
        found.join("\n")
    );
    eprintln!("the Japanese walk in Chromium: {walked} pages, 0 with a raw identifier or English");
    browser.quit().await;
}
