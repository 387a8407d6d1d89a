//! The key flow in a real headless Chromium: sign in through the login page, see the
//! dashboard, switch to Japanese, sign out.

use renkei_core::access::Role;
use renkei_testkit::browser::Browser;
use renkei_testkit::{PASSWORD, TestServer, both_backends};

async fn sign_in_and_see_the_dashboard(srv: &TestServer) {
    let Some(browser) = Browser::launch().await else {
        return;
    };
    let user = srv.user(Role::Coordinator).await;

    browser.goto(&srv.url("/dashboard")).await;
    browser.wait_url("/login?next=%2Fdashboard").await;

    browser.type_into("#email", &user.email).await;
    browser.type_into("#password", "not my password").await;
    browser.click("#login-submit").await;
    browser
        .wait_text("#login-error", "Wrong e-mail address or password")
        .await;

    browser.type_into("#password", PASSWORD).await;
    browser.click("#login-submit").await;
    browser.wait_url("/dashboard").await;
    browser.wait_text("#dashboard-title", "Dashboard").await;
    assert!(
        browser
            .text("#pillar-incidents")
            .await
            .contains("Incident handling")
    );
    assert!(
        browser.exists("a[href='/orgs']").await,
        "a coordinator sees the address book"
    );
    for (pillar, href) in [
        ("observe", "/observation"),
        ("publish", "/alerts"),
        ("reports", "/activity"),
    ] {
        assert!(
            browser
                .exists(&format!("#pillar-{pillar} a[href='{href}']"))
                .await,
            "every built pillar links to its pages, none says it is coming: {pillar}"
        );
    }

    // A report as the coordinator reads it: raw message beside what was read from it.
    let raw = "From: 山田 <taro@shop.example.co.jp>\r\nSubject: 不正アクセスの報告\r\n\r\n弊社サーバ 192.0.2.10 への総当たり攻撃です。\r\nJan 15 07:22:18 web sshd[11]: Failed password for root from 198.51.100.7 port 40001 ssh2\r\n";
    let out = renkei_incident::reports::ingest(
        &srv.store,
        &renkei_incident::Settings::default(),
        &renkei_core::audit::Actor::system("test"),
        renkei_incident::Channel::Mail,
        renkei_incident::InputFormat::Mail,
        raw.as_bytes(),
        renkei_core::tlp::Tlp::Amber,
        None,
    )
    .await
    .unwrap();
    browser
        .goto(&srv.url(&format!("/reports/{}", out.report)))
        .await;
    browser.wait_text("#proposed-category", "Scan").await;
    assert!(
        browser
            .text("#raw-message")
            .await
            .contains("Failed password")
    );
    let shots = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("screenshots");
    std::fs::create_dir_all(&shots).unwrap();
    browser
        .screenshot(&shots.join(format!("report-{:?}.png", srv.backend)))
        .await;
    browser.goto(&srv.url("/dashboard")).await;

    browser.click("form.lang button").await;
    browser
        .wait_text("#dashboard-title", "ダッシュボード")
        .await;
    assert_eq!(browser.title().await, "ダッシュボード · Renkei");

    browser
        .screenshot(&shots.join(format!("dashboard-{:?}.png", srv.backend)))
        .await;

    browser.click("#logout").await;
    browser.wait_text("#login-link", "ログイン").await;
    browser.goto(&srv.url("/dashboard")).await;
    browser.wait_url("/login").await;
    browser.quit().await;
}

both_backends! {
    async fn a_coordinator_signs_in_through_the_login_page_and_sees_the_dashboard(srv) {
        sign_in_and_see_the_dashboard(&srv).await;
    }

    async fn a_reporter_submits_the_public_form_in_a_browser_and_sees_the_tracking_number(srv) {
        let Some(browser) = Browser::launch().await else { return };
        browser.goto(&srv.url("/")).await;
        browser.click("#home-report").await;
        browser.wait_url("/report").await;
        browser.type_into("#site_org", "Example Shop KK").await;
        browser.type_into("#reporter_name", "Hanako Suzuki").await;
        browser.type_into("#reporter_email", "hanako@shop.example.co.jp").await;
        browser.type_into("#hosts", "192.0.2.10").await;
        browser.type_into("#description", "Port scans against our web server.").await;
        browser.type_into("#logs", "2024-01-15T07:22:18+09:00 gw kernel: SRC=203.0.113.5 DST=192.0.2.10 PROTO=TCP SPT=4444 DPT=23").await;
        browser.click("#report-submit").await;
        let tracking = browser.wait_text("#tracking-number", "#").await;
        let id: i64 = tracking.trim_start_matches('#').parse().unwrap();
        let report = renkei_incident::incidents::report(&srv.store, id).await.unwrap();
        assert_eq!(report.proposed_category.as_deref(), Some("scan"));
        assert_eq!(report.tlp, "TLP:AMBER", "AMBER when the reporter leaves the default");
        let shots = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("screenshots");
        std::fs::create_dir_all(&shots).unwrap();
        browser.screenshot(&shots.join(format!("report-thanks-{:?}.png", srv.backend))).await;
        browser.quit().await;
    }
}

/// A coordinator notifies the site behind an incident from the report page.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_coordinator_notifies_the_network_owner_from_the_report_page_in_a_browser() {
    let srv = TestServer::start_with(renkei_testkit::Backend::Sqlite, |c| {
        c.mail.from = "Example CSIRT <csirt@csirt.example>".into();
    })
    .await;
    let Some(browser) = Browser::launch().await else {
        return;
    };
    let actor = renkei_core::audit::Actor::system("test");
    use renkei_enrich::{Format, Kind, sources};
    sources::load(
        &srv.store,
        &actor,
        Kind::Asn,
        Format::IpLocationDb,
        &[(
            "asn.csv".into(),
            b"198.51.100.0,198.51.100.255,64511,Far Away Networks\n".to_vec(),
        )],
    )
    .await
    .unwrap();
    sources::load(
        &srv.store,
        &actor,
        Kind::Contacts,
        Format::Csv,
        &[(
            "c.csv".into(),
            b"network,email,lang\nAS64511,abuse@far-away.example,en\n".to_vec(),
        )],
    )
    .await
    .unwrap();
    srv.enricher.refresh(&srv.store).await.unwrap();
    let settings = renkei_incident::Settings {
        enricher: Some(srv.enricher.clone()),
        ..Default::default()
    };
    let raw = "From: taro@shop.example.co.jp\r\nSubject: brute force\r\n\r\nJan 15 07:22:18 web sshd[11]: Failed password for root from 198.51.100.7 port 40001 ssh2\r\n";
    let out = renkei_incident::reports::ingest(
        &srv.store,
        &settings,
        &actor,
        renkei_incident::Channel::Mail,
        renkei_incident::InputFormat::Mail,
        raw.as_bytes(),
        renkei_core::tlp::Tlp::Amber,
        None,
    )
    .await
    .unwrap();

    let user = srv.user(Role::Coordinator).await;
    browser.goto(&srv.url("/login")).await;
    browser.type_into("#email", &user.email).await;
    browser.type_into("#password", PASSWORD).await;
    browser.click("#login-submit").await;
    browser.wait_url("/dashboard").await;
    browser
        .goto(&srv.url(&format!("/reports/{}", out.report)))
        .await;
    browser.wait_text(".enrichment", "AS64511").await;
    browser.click(".notify-link").await;
    browser
        .wait_text(".recipient", "abuse@far-away.example")
        .await;
    browser.click("#notify-send").await;
    browser.wait_url("/notifications").await;
    browser
        .wait_text("#notifications", "abuse@far-away.example")
        .await;
    assert!(browser.text("#notifications").await.contains("queued"));
    let shots = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("screenshots");
    std::fs::create_dir_all(&shots).unwrap();
    browser.screenshot(&shots.join("notifications.png")).await;
    browser.quit().await;
}

/// A coordinator writes to the reporter from the report page, starting from a
/// template, previews and sends; the reporter's answer comes back marked as new,
/// and the coordinator answers it with the message quoted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_coordinator_writes_to_the_reporter_and_answers_the_reply_in_a_browser() {
    let srv = TestServer::start_with(renkei_testkit::Backend::Sqlite, |c| {
        c.mail.from = "Example CSIRT <csirt@csirt.example>".into();
    })
    .await;
    let Some(browser) = Browser::launch().await else {
        return;
    };
    let actor = renkei_core::audit::Actor::system("test");
    let raw = "From: Taro <taro@shop.example.co.jp>\r\nSubject: brute force\r\n\r\nJan 15 07:22:18 web sshd[11]: Failed password for root from 198.51.100.7 port 40001 ssh2\r\n";
    let ingest = |raw: String| {
        let srv = &srv;
        let actor = actor.clone();
        async move {
            renkei_incident::reports::ingest(
                &srv.store,
                &renkei_incident::Settings::default(),
                &actor,
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
    let out = ingest(raw.to_string()).await;

    let user = srv.user(Role::Coordinator).await;
    browser.goto(&srv.url("/login")).await;
    browser.type_into("#email", &user.email).await;
    browser.type_into("#password", PASSWORD).await;
    browser.click("#login-submit").await;
    browser.wait_url("/dashboard").await;
    browser
        .goto(&srv.url(&format!("/reports/{}", out.report)))
        .await;
    browser
        .click(&format!(
            "#write-links a[href^='/reports/{}/write?template=ask_logs']",
            out.report
        ))
        .await;
    browser.wait_text("#write-title", "Write a mail").await;
    browser
        .script("document.querySelector('#mail-lang').value = 'en'")
        .await;
    browser.click("#mail-question").await;
    browser.click("#mail-preview-button").await;
    let subject = browser
        .wait_text("#preview-subject", &format!("[RENKEI#{}]", out.report))
        .await;
    assert!(subject.contains("Could you send us logs?"), "{subject}");
    assert!(
        browser
            .text("#preview-to")
            .await
            .contains("taro@shop.example.co.jp")
    );
    browser.click("#mail-send").await;
    browser
        .wait_url(&format!("/reports/{}#message-", out.report))
        .await;
    browser
        .wait_text("#timeline", "Could you send us logs?")
        .await;
    let incident = out.incidents[0];
    let state = renkei_incident::incidents::get(&srv.store, incident)
        .await
        .unwrap()
        .state;
    assert_eq!(state.as_str(), "waiting_for_reply");

    // The reporter answers; the report says there is a new reply.
    let sent = renkei_incident::incidents::thread(&srv.store, out.report)
        .await
        .unwrap()
        .into_iter()
        .rfind(|m| m.direction.as_str() == "out")
        .unwrap();
    let answer = ingest(format!(
        "From: taro@shop.example.co.jp\r\nSubject: Re: logs\r\nIn-Reply-To: <{}>\r\n\r\nThe logs are attached to my first mail.\r\n",
        sent.message_id.unwrap()
    ))
    .await;
    assert_eq!(answer.thread_of, Some(out.report));
    browser
        .goto(&srv.url(&format!("/reports/{}", out.report)))
        .await;
    browser.wait_text("#report-new-reply", "New reply").await;
    browser.click("#timeline .message-in .reply-link").await;
    browser
        .wait_text("#answering", "The logs are attached")
        .await;
    browser.type_into("#mail-subject", "Thank you").await;
    browser
        .type_into("#mail-body", "Thank you, we will look at them.")
        .await;
    browser.click("#mail-send").await;
    browser
        .wait_url(&format!("/reports/{}#message-", out.report))
        .await;
    let timeline = browser.wait_text("#timeline", "we will look at them").await;
    assert!(
        timeline.contains("> The logs are attached"),
        "the answer quotes: {timeline}"
    );
    assert!(
        !browser.exists("#report-new-reply").await,
        "answered, no longer new"
    );
    let shots = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("screenshots");
    std::fs::create_dir_all(&shots).unwrap();
    browser.screenshot(&shots.join("conversation.png")).await;

    // The coordinator sends the reporter a link to the status page; the reporter
    // opens it, reads the shared messages and adds information.
    browser.click("#status-link-send").await;
    browser.wait_text("#status-link", "A link is live.").await;
    let body: String = sqlx::query_scalar(
        "SELECT body FROM outbox WHERE kind = 'report.status_link' ORDER BY id DESC LIMIT 1",
    )
    .fetch_one(srv.store.pool())
    .await
    .unwrap();
    let at = body.find("/status/").unwrap();
    let link: String = body[at..]
        .chars()
        .take_while(|c| !c.is_whitespace())
        .collect();
    browser.goto(&srv.url(&link)).await;
    browser.wait_text("#status-standing", "Being handled").await;
    browser
        .type_into("#status-text", "It started again at 03:00 JST.")
        .await;
    browser.click("#status-send").await;
    browser.wait_text("#status-added", "Thank you").await;
    assert!(
        browser
            .text("#status-messages")
            .await
            .contains("It started again at 03:00 JST.")
    );
    browser.screenshot(&shots.join("status-page.png")).await;
    browser.quit().await;
}

/// A finder reports a vulnerability in the browser, opens their status page from
/// the link, chooses to be credited by a handle and writes to the coordinators; a
/// vendor added to the case reads the summary and acknowledges to open the details.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_finder_follows_their_report_and_a_vendor_acknowledges_before_reading_in_a_browser() {
    use crate::common::{Api, registered_vendor};
    let srv = TestServer::start_with(renkei_testkit::Backend::Sqlite, |c| {
        c.mail.from = "Example CSIRT <csirt@csirt.example>".into();
    })
    .await;
    let Some(browser) = Browser::launch().await else {
        return;
    };
    browser.goto(&srv.url("/vulnerabilities/report")).await;
    browser
        .type_into("#title", "Stored XSS in Router X admin page")
        .await;
    browser
        .type_into(
            "#description",
            "The device name is echoed without escaping.",
        )
        .await;
    browser.type_into("#reporter_name", "Hanako Yamada").await;
    browser
        .type_into("#reporter_email", "hanako@finder.example")
        .await;
    browser.click("#vuln-report-submit").await;
    let key = browser.wait_text("#case-key", "CASE-").await;
    browser.click("#finder-link").await;
    browser.wait_url("/vulnerabilities/status/").await;
    browser.wait_text("#finder-case", &key).await;
    browser.wait_text("#finder-standing", "Received").await;

    browser.click("#credit-as-handle").await;
    browser
        .script("document.querySelector('#finder-credit-text').value = ''")
        .await;
    browser.type_into("#finder-credit-text", "@hanako").await;
    browser.click("#finder-credit-save").await;
    browser.wait_text("#finder-credited", "@hanako").await;
    browser
        .type_into("#finder-text", "Router X 2.0 is affected too.")
        .await;
    browser.click("#finder-send").await;
    browser.wait_text("#finder-done", "Sent").await;
    browser
        .wait_text("#finder-messages", "Router X 2.0 is affected too.")
        .await;
    let finder_url = browser.current_url().await;

    // A coordinator adds a vendor and answers the finder.
    let api = Api {
        srv: &srv,
        http: reqwest::Client::new(),
    };
    let coordinator = srv.token(&srv.user(Role::Coordinator).await).await;
    let (acme, acme_user, acme_token) =
        registered_vendor(&api, &coordinator, "Acme", &["Router X"]).await;
    let (s, _) = api
        .post(
            Some(&coordinator),
            &format!("/api/v1/cases/{key}/vendors"),
            serde_json::json!({"vendor_id": acme}),
        )
        .await;
    assert_eq!(s, 201);
    let (s, r) = api
        .post(
            Some(&coordinator),
            &format!("/api/v1/cases/{key}/finder/messages"),
            serde_json::json!({"body": "Thank you. We have contacted the vendor."}),
        )
        .await;
    assert_eq!(s, 201, "{r}");
    browser.goto(&finder_url).await;
    browser
        .wait_text("#finder-standing", "Coordinating with the vendors")
        .await;
    browser
        .wait_text("#finder-messages", "We have contacted the vendor.")
        .await;

    // The vendor signs in: the summary first, then the details after acknowledging.
    browser.goto(&srv.url("/login")).await;
    browser.type_into("#email", &acme_user.email).await;
    browser.type_into("#password", PASSWORD).await;
    browser.click("#login-submit").await;
    browser.wait_url("/dashboard").await;
    browser.goto(&srv.url(&format!("/cases/{key}"))).await;
    browser.wait_text("#summary-only", "summary").await;
    assert!(!browser.exists("#case-description").await);
    assert!(
        browser.text("#case-summary").await.contains("Router X"),
        "its products are in the summary"
    );
    browser.click("#acknowledge").await;
    browser
        .wait_text("#case-description", "echoed without escaping")
        .await;
    browser.quit().await;

    // A partner coordinator, in its own browser, reads the case and the vendor
    // table beside its tracking ID, and never what the vendor told the team alone.
    let (s, r) = api
        .post(
            Some(&acme_token),
            &format!("/api/v1/cases/{key}/status"),
            serde_json::json!({"stage": "investigating", "statement_en": "Between us: the fix ships in 2.1."}),
        )
        .await;
    assert_eq!(s, 200, "{r}");
    let certcc = srv.org("CERT/CC", renkei_core::orgs::OrgKind::Csirt).await;
    let (s, r) = api
        .post(
            Some(&coordinator),
            &format!("/api/v1/cases/{key}/partners"),
            serde_json::json!({"org_id": certcc, "tracking_id": "VU#777001"}),
        )
        .await;
    assert_eq!(s, 201, "{r}");
    renkei_core::accounts::create_user(
        &srv.store,
        &renkei_core::audit::Actor::system("test"),
        renkei_core::accounts::NewUser {
            email: "analyst@certcc.example".into(),
            display_name: "CERT/CC analyst".into(),
            role: Role::Constituent,
            org_id: Some(certcc),
            password: Some(PASSWORD.into()),
            lang: renkei_core::lang::Lang::En,
        },
    )
    .await
    .unwrap();
    let Some(partner) = Browser::launch().await else {
        return;
    };
    partner.goto(&srv.url("/login")).await;
    partner.type_into("#email", "analyst@certcc.example").await;
    partner.type_into("#password", PASSWORD).await;
    partner.click("#login-submit").await;
    partner.wait_url("/dashboard").await;
    partner.goto(&srv.url(&format!("/cases/{key}"))).await;
    partner.wait_text("#case-partners", "VU#777001").await;
    partner.wait_text("#case-vendors", "Acme").await;
    assert!(
        partner
            .text("#case-description")
            .await
            .contains("echoed without escaping"),
        "a partner reads the details"
    );
    let everything = partner.script("document.body.innerText").await;
    assert!(
        !everything.to_string().contains("Between us"),
        "a vendor's statement stays with the team"
    );
    partner.quit().await;
}
