//! Early warning end to end through a real SMTP relay (aiosmtpd on loopback), on
//! SQLite and PostgreSQL: a TLP:AMBER alert addressed to named organizations is
//! read only by them, route by route and role by role; each gets it by mail,
//! encrypted to its contact's key or as a notice without the text; receipts come
//! back from the portal and from the mail's link; and the restricted text never
//! reaches a list, a feed, a weekly report or the public, even while a lower TLP
//! waits in an unpublished revision.

use crate::common;

use common::Api;
use renkei_core::access::Role;
use renkei_core::accounts::{self, NewUser};
use renkei_core::audit::Actor;
use renkei_core::lang::Lang;
use renkei_core::orgs::{self, NewContact, OrgKind};
use renkei_testkit::relay::{Kept, Relay, signed_content};
use renkei_testkit::{Backend, TestServer};
use serde_json::{Value, json};

const TEAM: &str = "Renkei CSIRT <csirt@renkei.example>";
const TITLE: &str = "Exploitation of FooVPN gateways";
const BODY: &str = "Attackers use CVE-2026-9999 against FooVPN 3.x; patch before Friday.";

async fn outbox(srv: &TestServer, relay: &Relay) -> usize {
    let config = renkei_core::config::MailConfig {
        relay: relay.url(),
        ..Default::default()
    };
    renkei_mail::OutboxWorker::build(srv.store.clone(), &config)
        .send_due()
        .await
        .unwrap()
}

/// A member account of `org` (vendor or constituent), with an API token.
async fn member(srv: &TestServer, org: i64, role: Role, name: &str) -> String {
    let user = accounts::create_user(
        &srv.store,
        &Actor::system("test"),
        NewUser {
            email: format!("{name}@{}.example", org),
            display_name: name.into(),
            role,
            org_id: Some(org),
            password: Some(renkei_testkit::PASSWORD.into()),
            lang: Lang::En,
        },
    )
    .await
    .unwrap();
    let (_, token) = accounts::create_token(&srv.store, &Actor::system("test"), user.id, "t")
        .await
        .unwrap();
    token
}

async fn contact(
    srv: &TestServer,
    org: i64,
    email: &str,
    key: Option<&str>,
    lang: Lang,
    role: &str,
) {
    orgs::add_contact(
        &srv.store,
        &Actor::system("test"),
        org,
        NewContact {
            name: format!("Contact {email}"),
            email: email.into(),
            phone: None,
            pgp_key: key.map(String::from),
            lang,
            role: Some(role.into()),
        },
    )
    .await
    .unwrap();
}

fn mail_text(raw: &[u8]) -> String {
    let parsed = mail_parser::MessageParser::default().parse(raw).unwrap();
    parsed
        .parts
        .iter()
        .map(|p| String::from_utf8_lossy(p.contents()).into_owned())
        .collect()
}

fn subject(raw: &[u8]) -> String {
    mail_parser::MessageParser::default()
        .parse(raw)
        .unwrap()
        .subject()
        .unwrap_or("")
        .to_string()
}

fn to<'a>(messages: &'a [Kept], rcpt: &str) -> Vec<&'a Kept> {
    messages.iter().filter(|m| m.rcpt_to == [rcpt]).collect()
}

fn receipt_token(text: &str) -> String {
    let at = text.find("/warnings/receipt/").expect("a receipt link");
    text[at + "/warnings/receipt/".len()..]
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == '_' || *c == '-')
        .collect()
}

async fn page(srv: &TestServer, token: Option<&str>, path: &str) -> (u16, String) {
    let mut req = srv.client().get(srv.url(path));
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    let r = req.send().await.unwrap();
    (r.status().as_u16(), r.text().await.unwrap())
}

async fn warnings_end_to_end(backend: Backend) {
    let Some(relay) = Relay::start() else { return };
    let (team_secret, team_public) = renkei_mail::pgp::generate(TEAM).unwrap();
    let (power_secret, power_public) =
        renkei_mail::pgp::generate("Power SOC <soc@power.example>").unwrap();
    let key_dir = tempfile::tempdir().unwrap();
    let key_file = key_dir.path().join("team.asc");
    std::fs::write(&key_file, &team_secret).unwrap();
    let srv = TestServer::start_with(backend, |c| {
        c.mail.from = TEAM.into();
        c.mail.relay = relay.url();
        c.mail.signing_key_file = key_file.display().to_string();
    })
    .await;
    let api = Api {
        srv: &srv,
        http: srv.client(),
    };
    let author = srv.token(&srv.user(Role::Coordinator).await).await;
    let reviewer = srv.token(&srv.user(Role::Coordinator).await).await;

    // Power Co: a security contact with a key (and a general one, who is not the
    // point of contact for warnings); Water Co: one contact without a key; Rail Co
    // and a vendor: not addressed; Empty Co: nobody to tell.
    let power = srv.org("Power Co", OrgKind::Constituent).await;
    contact(
        &srv,
        power,
        "soc@power.example",
        Some(&power_public),
        Lang::Ja,
        "security",
    )
    .await;
    contact(&srv, power, "info@power.example", None, Lang::En, "general").await;
    let water = srv.org("Water Co", OrgKind::Constituent).await;
    contact(&srv, water, "ops@water.example", None, Lang::En, "general").await;
    let rail = srv.org("Rail Co", OrgKind::Constituent).await;
    contact(&srv, rail, "noc@rail.example", None, Lang::En, "general").await;
    let empty = srv.org("Empty Co", OrgKind::Constituent).await;
    let power_user = member(&srv, power, Role::Constituent, "power-analyst").await;
    let water_user = member(&srv, water, Role::Constituent, "water-analyst").await;
    let rail_user = member(&srv, rail, Role::Constituent, "rail-analyst").await;
    let vendor_user = srv.token(&srv.user(Role::Vendor).await).await;

    // A TLP:CLEAR alert is for everyone: early warning is refused for it.
    let (_, clear) = api.post(Some(&author), "/api/v1/alerts", json!({
        "category": "vulnerability", "tlp": "TLP:CLEAR", "title_en": "Public", "body_en": "x",
    })).await;
    let clear = clear["number"].as_str().unwrap().to_string();
    let (status, e) = api
        .post(
            Some(&author),
            &format!("/api/v1/alerts/{clear}/recipients"),
            json!({"org_id": power}),
        )
        .await;
    assert_eq!(
        (status, e["error"]["code"].as_str()),
        (409, Some("conflict")),
        "{e}"
    );

    let (status, a) = api.post(Some(&author), "/api/v1/alerts", json!({
        "category": "vulnerability", "tlp": "TLP:AMBER", "title_en": TITLE, "body_en": BODY,
        "title_ja": "FooVPN ゲートウェイへの攻撃", "body_ja": "CVE-2026-9999 を悪用した攻撃が確認されています。金曜日までに更新してください。",
    })).await;
    assert_eq!(status, 201, "{a}");
    let n = a["number"].as_str().unwrap().to_string();
    api.post(
        Some(&author),
        &format!("/api/v1/alerts/{n}/submit"),
        json!({}),
    )
    .await;
    let (status, e) = api
        .post(
            Some(&reviewer),
            &format!("/api/v1/alerts/{n}/publish"),
            json!({}),
        )
        .await;
    assert_eq!(status, 409, "an early warning goes to someone: {e}");

    // Bad recipients: an organization with nobody to tell, one that does not exist.
    for (org, why) in [(empty, "no contact"), (9999, "unknown")] {
        let (status, e) = api
            .post(
                Some(&author),
                &format!("/api/v1/alerts/{n}/recipients"),
                json!({"org_id": org}),
            )
            .await;
        assert_eq!(
            (status, e["error"]["code"].as_str()),
            (422, Some("invalid_input")),
            "{why}: {e}"
        );
    }
    for org in [power, water, water] {
        let (status, r) = api
            .post(
                Some(&author),
                &format!("/api/v1/alerts/{n}/recipients"),
                json!({"org_id": org}),
            )
            .await;
        assert_eq!(status, 201, "{r}");
    }
    let (_, r) = api
        .get(Some(&author), &format!("/api/v1/alerts/{n}/recipients"))
        .await;
    assert_eq!(
        r["recipients"].as_array().unwrap().len(),
        2,
        "adding twice is one: {r}"
    );

    // Before publication, no organization sees it.
    assert_eq!(
        api.get(Some(&power_user), &format!("/api/v1/alerts/{n}"))
            .await
            .0,
        404
    );
    assert_eq!(
        api.get(Some(&power_user), "/api/v1/warnings").await.1["warnings"],
        json!([])
    );

    let (status, p) = api
        .post(
            Some(&reviewer),
            &format!("/api/v1/alerts/{n}/publish"),
            json!({}),
        )
        .await;
    assert_eq!((status, p["tlp"].as_str()), (200, Some("TLP:AMBER")), "{p}");

    // Route by route, role by role: only the two organizations named and the staff.
    for (who, expect) in [
        (None, 404),
        (Some(&rail_user), 404),
        (Some(&vendor_user), 404),
        (Some(&power_user), 200),
        (Some(&water_user), 200),
        (Some(&author), 200),
    ] {
        let (status, v) = api
            .get(who.map(String::as_str), &format!("/api/v1/alerts/{n}"))
            .await;
        assert_eq!(status, expect, "{who:?}: {v}");
        let (status, html) = page(&srv, who.map(String::as_str), &format!("/alerts/{n}")).await;
        assert_eq!(status, expect, "page for {who:?}");
        assert_eq!(html.contains(TITLE), expect == 200);
        let (_, list) = api.get(who.map(String::as_str), "/api/v1/alerts").await;
        assert_eq!(
            list.to_string().contains(&n),
            expect == 200,
            "list for {who:?}"
        );
        let (_, inbox) = api.get(who.map(String::as_str), "/api/v1/warnings").await;
        if who.is_some() {
            assert_eq!(
                inbox.to_string().contains(&n),
                expect == 200,
                "inbox for {who:?}: {inbox}"
            );
        }
    }
    let (_, v) = api
        .get(Some(&power_user), &format!("/api/v1/alerts/{n}"))
        .await;
    assert!(v.get("pending").is_none() && v["status"] == "published");
    // A recipient never learns who else was told.
    let (_, html) = page(&srv, Some(&power_user), &format!("/alerts/{n}")).await;
    assert!(
        !html.contains("Water Co") && html.contains("id=\"acknowledge\""),
        "{html}"
    );
    assert_eq!(
        api.get(Some(&power_user), &format!("/api/v1/alerts/{n}/recipients"))
            .await
            .0,
        403
    );
    for feed in [
        "/feeds/alerts.rss",
        "/feeds/alerts.atom",
        "/feeds/alerts.rss?lang=en",
    ] {
        let (status, body) = page(&srv, Some(&power_user), feed).await;
        assert!(
            status == 200 && !body.contains(&n) && !body.contains(TITLE),
            "{feed}"
        );
    }
    // Never to a mailing list, whatever the staff ask.
    let (status, e) = api
        .post(
            Some(&author),
            "/api/v1/lists/alerts/sends",
            json!({"alert": n}),
        )
        .await;
    assert_eq!(status, 409, "{e}");
    // Nor into the weekly report, which is public.
    let (status, w) = api.post(Some(&author), "/api/v1/weekly", json!({})).await;
    assert_eq!(status, 201, "{w}");
    let date = w["issue_date"].as_str().unwrap().to_string();
    assert!(
        !w.to_string().contains(&n),
        "the issue is not prefilled with it: {w}"
    );
    let (status, _) = api.call(reqwest::Method::PUT, Some(&author), &format!("/api/v1/weekly/{date}"), Some(json!({
        "items": [{"kind": "alert", "ref": n, "title_en": "FooVPN", "url": format!("/alerts/{n}")}]
    }))).await;
    assert_eq!(status, 200);
    let (status, e) = api
        .post(
            Some(&author),
            &format!("/api/v1/weekly/{date}/publish"),
            json!({}),
        )
        .await;
    assert_eq!(status, 409, "{e}");

    // The mail: Power's security contact gets the text encrypted to its key and
    // signed by the team; its general contact gets nothing; Water's contact, who has
    // no key, a notice without the text.
    assert_eq!(outbox(&srv, &relay).await, 2);
    let got = relay.messages();
    assert!(to(&got, "info@power.example").is_empty());
    let soc = to(&got, "soc@power.example");
    assert_eq!(soc.len(), 1);
    let outer = String::from_utf8_lossy(&soc[0].data);
    assert!(
        outer.contains("multipart/encrypted")
            && !outer.contains("FooVPN")
            && !outer.contains("CVE-2026-9999")
    );
    let subj = subject(&soc[0].data);
    assert!(
        subj.contains(&n) && subj.contains("TLP:AMBER") && !subj.contains("FooVPN"),
        "{subj}"
    );
    let inner = renkei_mail::pgp::decrypt(&power_secret, "", &armored(&soc[0].data)).unwrap();
    let (content, signature) = signed_content(&inner);
    renkei_mail::pgp::verify_detached(&team_public, &content, &signature)
        .expect("signed by the team");
    let text = mail_text(&inner);
    assert!(
        text.contains("FooVPN ゲートウェイへの攻撃") && text.contains("CVE-2026-9999"),
        "in the contact's language: {text}"
    );
    assert!(
        text.contains("/warnings/receipt/ew_"),
        "with its receipt link"
    );
    let ops = to(&got, "ops@water.example");
    assert_eq!(ops.len(), 1);
    let notice = mail_text(&ops[0].data);
    assert!(
        !notice.contains("FooVPN") && !notice.contains("CVE-2026-9999"),
        "{notice}"
    );
    assert!(notice.contains(&format!("/alerts/{n}")));
    let ops_token = receipt_token(&notice);

    // Receipts: Power reads and acknowledges in the portal; Water by the mail's
    // link, which first shows a button (a scanner following it confirms nothing).
    let (_, html) = page(&srv, Some(&power_user), &format!("/alerts/{n}")).await;
    assert!(html.contains("id=\"acknowledge\""));
    let (status, ack) = api
        .post(
            Some(&power_user),
            &format!("/api/v1/alerts/{n}/acknowledge"),
            json!({}),
        )
        .await;
    assert_eq!(status, 200, "{ack}");
    assert!(ack["acknowledged_at"].is_string());
    assert_eq!(
        api.post(
            Some(&rail_user),
            &format!("/api/v1/alerts/{n}/acknowledge"),
            json!({})
        )
        .await
        .0,
        404
    );
    assert_eq!(
        api.post(
            Some(&author),
            &format!("/api/v1/alerts/{n}/acknowledge"),
            json!({})
        )
        .await
        .0,
        403
    );
    let (status, html) = page(&srv, None, &format!("/warnings/receipt/{ops_token}")).await;
    assert!(
        status == 200 && html.contains("receipt-button") && !html.contains("FooVPN"),
        "{html}"
    );
    let (_, r) = api
        .get(Some(&author), &format!("/api/v1/alerts/{n}/recipients"))
        .await;
    let water_row = r["recipients"]
        .as_array()
        .unwrap()
        .iter()
        .find(|x| x["org_id"] == water)
        .unwrap()
        .clone();
    assert!(
        water_row["receipts"]
            .as_array()
            .unwrap()
            .iter()
            .all(|x| x["kind"] == "read"),
        "the page alone acknowledges nothing: {water_row}"
    );
    let (status, link) = api
        .post(
            None,
            &format!("/api/v1/warnings/receipt/{ops_token}"),
            json!({}),
        )
        .await;
    assert_eq!(status, 200, "{link}");
    assert!(link["acknowledged_at"].is_string());
    assert_eq!(
        api.post(None, "/api/v1/warnings/receipt/ew_forged", json!({}))
            .await
            .0,
        404
    );

    let (_, r) = api
        .get(Some(&author), &format!("/api/v1/alerts/{n}/recipients"))
        .await;
    let by_org = |org: i64| -> Value {
        r["recipients"]
            .as_array()
            .unwrap()
            .iter()
            .find(|x| x["org_id"] == org)
            .unwrap()
            .clone()
    };
    let p = by_org(power);
    assert_eq!(p["deliveries"].as_array().unwrap().len(), 1);
    assert_eq!(
        (
            p["deliveries"][0]["encrypted"].as_bool(),
            p["deliveries"][0]["mail_status"].as_str()
        ),
        (Some(true), Some("sent"))
    );
    let kinds: Vec<(&str, &str)> = p["receipts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| (x["kind"].as_str().unwrap(), x["via"].as_str().unwrap()))
        .collect();
    assert_eq!(
        kinds,
        [("read", "portal"), ("acknowledged", "portal")],
        "{p}"
    );
    let w = by_org(water);
    assert_eq!(w["deliveries"][0]["encrypted"], false);
    let ack = w["receipts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|x| x["kind"] == "acknowledged")
        .unwrap();
    assert_eq!(
        (ack["via"].as_str(), ack["who"].as_str()),
        (Some("mail"), Some("ops@water.example")),
        "{w}"
    );
    let (_, inbox) = api.get(Some(&author), "/api/v1/warnings").await;
    let line = inbox["warnings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|x| x["number"] == n.as_str())
        .unwrap()
        .clone();
    assert_eq!(
        (
            line["organizations"].as_i64(),
            line["acknowledged"].as_i64()
        ),
        (Some(2), Some(2)),
        "{line}"
    );
    let (_, html) = page(&srv, Some(&author), &format!("/alerts/{n}")).await;
    assert!(
        html.contains("Water Co") && html.contains("ops@water.example"),
        "staff see every recipient"
    );

    // Taking Water off: it no longer reads the alert, and its link is dead.
    let (status, _) = api
        .call(
            reqwest::Method::DELETE,
            Some(&author),
            &format!("/api/v1/alerts/{n}/recipients/{water}"),
            None,
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(
        api.get(Some(&water_user), &format!("/api/v1/alerts/{n}"))
            .await
            .0,
        404
    );
    assert_eq!(
        api.post(
            None,
            &format!("/api/v1/warnings/receipt/{ops_token}"),
            json!({})
        )
        .await
        .0,
        404
    );
    // A late addition gets the published text at once.
    let (status, _) = api
        .post(
            Some(&author),
            &format!("/api/v1/alerts/{n}/recipients"),
            json!({"org_id": rail}),
        )
        .await;
    assert_eq!(status, 201);
    assert_eq!(
        api.get(Some(&rail_user), &format!("/api/v1/alerts/{n}"))
            .await
            .0,
        200
    );
    assert_eq!(outbox(&srv, &relay).await, 1);
    assert_eq!(to(&relay.messages(), "noc@rail.example").len(), 1);

    // Lowering the TLP in an update changes nothing until that update is published.
    let (status, v) = api.call(reqwest::Method::PUT, Some(&author), &format!("/api/v1/alerts/{n}"), Some(json!({
        "tlp": "TLP:CLEAR", "title_en": TITLE, "body_en": format!("{BODY} Now public."), "change_en": "Made public",
    }))).await;
    assert_eq!(
        (status, v["tlp"].as_str(), v["next_tlp"].as_str()),
        (200, Some("TLP:AMBER"), Some("TLP:CLEAR")),
        "{v}"
    );
    assert_eq!(
        api.get(None, &format!("/api/v1/alerts/{n}")).await.0,
        404,
        "still restricted"
    );
    assert_eq!(
        api.get(Some(&power_user), &format!("/api/v1/alerts/{n}"))
            .await
            .1
            .get("next_tlp"),
        None
    );
    api.post(
        Some(&author),
        &format!("/api/v1/alerts/{n}/submit"),
        json!({}),
    )
    .await;
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
    let (status, v) = api.get(None, &format!("/api/v1/alerts/{n}")).await;
    assert_eq!((status, v["tlp"].as_str()), (200, Some("TLP:CLEAR")), "{v}");
    // The organizations told before hear of the update too; Water, taken off, does not.
    assert_eq!(outbox(&srv, &relay).await, 2);
    let got = relay.messages();
    assert_eq!(to(&got, "soc@power.example").len(), 2);
    assert_eq!(to(&got, "ops@water.example").len(), 1);
    assert!(subject(&to(&got, "noc@rail.example")[1].data).contains("(update)"));

    let actions = srv.audit_actions().await;
    for a in [
        "alert.recipient.add",
        "alert.recipient.remove",
        "alert.acknowledge",
        "alert.publish",
    ] {
        assert!(actions.iter().any(|x| x == a), "{a} audited");
    }
}

fn armored(raw: &[u8]) -> String {
    let m = mail_parser::MessageParser::default().parse(raw).unwrap();
    m.parts
        .iter()
        .map(|p| String::from_utf8_lossy(p.contents()).into_owned())
        .find(|t| t.contains("-----BEGIN PGP MESSAGE-----"))
        .expect("an encrypted part")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn early_warning_reaches_only_the_organizations_named_encrypted_with_receipts() {
    warnings_end_to_end(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn early_warning_reaches_only_the_organizations_named_on_postgres_too() {
    if renkei_testkit::postgres_configured() {
        warnings_end_to_end(Backend::Postgres).await;
    }
}

/// The key flow in a real browser: a coordinator addresses a restricted alert to an
/// organization from the alert's page; once published, a member of that
/// organization finds it in the early-warning inbox and confirms receipt, and the
/// coordinator sees the receipt.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_coordinator_addresses_an_early_warning_and_the_organization_confirms_receipt_in_a_browser()
 {
    let Some(browser) = renkei_testkit::browser::Browser::launch().await else {
        return;
    };
    let srv = TestServer::start(Backend::Sqlite).await;
    let api = Api {
        srv: &srv,
        http: srv.client(),
    };
    let author = srv.user(Role::Coordinator).await;
    let author_token = srv.token(&author).await;
    let reviewer = srv.token(&srv.user(Role::Coordinator).await).await;
    let power = srv.org("Power Co", OrgKind::Constituent).await;
    contact(&srv, power, "soc@power.example", None, Lang::En, "security").await;
    member(&srv, power, Role::Constituent, "analyst").await;
    let (_, a) = api
        .post(
            Some(&author_token),
            "/api/v1/alerts",
            json!({
                "category": "incident", "tlp": "TLP:RED", "title_en": TITLE, "body_en": BODY,
            }),
        )
        .await;
    let n = a["number"].as_str().unwrap().to_string();

    let login = |email: String| {
        let browser = &browser;
        let srv = &srv;
        async move {
            browser.goto(&srv.url("/login")).await;
            browser.type_into("#email", &email).await;
            browser
                .type_into("#password", renkei_testkit::PASSWORD)
                .await;
            browser.click("#login-submit").await;
            browser.wait_url("/dashboard").await;
        }
    };
    let logout = || async {
        browser.click("#logout").await;
        for _ in 0..50 {
            if browser.exists("#login-link").await {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
    };
    login(author.email.clone()).await;
    browser.goto(&srv.url(&format!("/alerts/{n}"))).await;
    assert!(browser.exists("#no-recipients").await);
    browser
        .script(&format!(
            "document.querySelector('#recipient-org').value = '{power}'"
        ))
        .await;
    browser.click("#add-recipient-button").await;
    browser.wait_text("#recipient-list", "Power Co").await;
    logout().await;
    api.post(
        Some(&author_token),
        &format!("/api/v1/alerts/{n}/submit"),
        json!({}),
    )
    .await;
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

    login(format!("analyst@{power}.example")).await;
    // A member's dissemination menu opens on the early warnings addressed to it.
    browser.click("#nav-publish").await;
    browser.wait_text("#warnings", &n).await;
    assert!(browser.text("#warnings").await.contains(TITLE));
    browser
        .click(&format!("#warnings a[href='/alerts/{n}']"))
        .await;
    browser.wait_text("#tlp-banner", "TLP:RED").await;
    browser.click("#acknowledge").await;
    browser.wait_text("#acknowledged", "").await;
    logout().await;

    login(author.email.clone()).await;
    browser.goto(&srv.url(&format!("/alerts/{n}"))).await;
    let row = browser.wait_text("#recipient-list .ack", "(portal)").await;
    assert!(row.contains(&format!("analyst@{power}.example")), "{row}");
    browser.quit().await;
}
