//! Signing in through the organization's OpenID Connect provider, against a real
//! one (panva's oidc-provider on Node.js, run here on 127.0.0.1): authorization code
//! with PKCE, the ID token verified, claims mapped to roles and organizations.

use renkei_core::access::Role;
use renkei_core::orgs::OrgKind;
use renkei_testkit::oidc::Provider;
use renkei_testkit::{Backend, TestServer, set_cookie};

async fn server_with(backend: Backend, provider: &mut Provider, create: bool) -> TestServer {
    let issuer = provider.issuer.clone();
    let srv = TestServer::start_with(backend, |c| {
        c.sso.issuer_url = issuer;
        c.sso.client_id = Provider::CLIENT_ID.into();
        c.sso.client_secret = Provider::CLIENT_SECRET.into();
        c.sso.label = "CSIRT login".into();
        c.sso.role_claim = "groups".into();
        c.sso.role_map =
            "csirt-admins=admin, csirt-staff=coordinator, partner-vendors=vendor".into();
        c.sso.org_claim = "organization".into();
        c.sso.create_accounts = create;
        c.security.require_second_factor_for_staff = true;
    })
    .await;
    provider.serve(&srv.url("/login/sso/callback")).await;
    srv
}

fn action_of(page: &str) -> String {
    let at = page.find("action=\"").expect("a form") + "action=\"".len();
    page[at..at + page[at..].find('"').unwrap()].replace("&amp;", "&")
}

/// Walks a browser through the provider's sign-in and consent pages as `login`;
/// returns Renkei's last answer (the callback's).
async fn sign_in_as(
    srv: &TestServer,
    provider: &Provider,
    client: &reqwest::Client,
    login: &str,
) -> reqwest::Response {
    let absolute =
        |base: &str, to: &str| url::Url::parse(base).unwrap().join(to).unwrap().to_string();
    let mut response = client
        .get(srv.url("/login/sso?next=/orgs"))
        .send()
        .await
        .unwrap();
    for _ in 0..20 {
        let here = response.url().to_string();
        if here.starts_with(&srv.url("/login/sso/callback")) {
            return response;
        }
        if response.status().is_redirection() {
            let to = absolute(&here, response.headers()["location"].to_str().unwrap());
            response = client.get(&to).send().await.unwrap();
            continue;
        }
        assert_eq!(response.status(), 200, "{here}");
        let page = response.text().await.unwrap();
        let action = absolute(&provider.issuer, &action_of(&page));
        let form: Vec<(&str, &str)> = if page.contains("name=\"login\"") {
            vec![("prompt", "login"), ("login", login), ("password", "any")]
        } else {
            vec![("prompt", "consent")]
        };
        response = client.post(&action).form(&form).send().await.unwrap();
    }
    panic!("the sign-in never came back to Renkei");
}

fn browser() -> reqwest::Client {
    reqwest::Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

async fn staff_vendors_and_strangers_sign_in_as_the_provider_says(backend: Backend) {
    let Some(mut provider) = Provider::start() else {
        return;
    };
    let srv = server_with(backend, &mut provider, true).await;
    let vendor_org = srv.org("Example Vendor KK", OrgKind::Vendor).await;

    // The sign-in page offers the provider.
    let page = browser()
        .get(srv.url("/login?next=/orgs"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        page.contains("id=\"sso-login\"") && page.contains("CSIRT login"),
        "{page}"
    );

    // A coordinator: the account is made at the first sign-in, with the mapped role,
    // and the session counts as two-step (the provider asked for its own factor).
    let client = browser();
    let r = sign_in_as(&srv, &provider, &client, "coordinator").await;
    assert_eq!(r.status(), 303, "{:?}", r.headers());
    assert_eq!(r.headers()["location"], "/orgs");
    assert!(set_cookie(&r, "renkei_session").is_some());
    assert_eq!(
        client
            .get(srv.url("/incidents"))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    let user = renkei_core::accounts::find_user_by_email(&srv.store, "coordinator@csirt.example")
        .await
        .unwrap()
        .expect("the account was made");
    assert_eq!(user.role, Role::Coordinator);
    assert!(srv.audit_actions().await.contains(&"login.sso".to_string()));

    // A vendor lands in the organization the provider names.
    let r = sign_in_as(&srv, &provider, &browser(), "vendor").await;
    assert_eq!(r.status(), 303);
    let vendor = renkei_core::accounts::find_user_by_email(&srv.store, "vendor@csirt.example")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (vendor.role, vendor.org_id),
        (Role::Vendor, Some(vendor_org))
    );

    // Someone the provider knows but the team does not map is refused.
    let r = sign_in_as(&srv, &provider, &browser(), "outsider").await;
    assert_eq!(r.status(), 403);
    assert!(
        renkei_core::accounts::find_user_by_email(&srv.store, "outsider@csirt.example")
            .await
            .unwrap()
            .is_none()
    );

    // A callback this browser never started (a forged or replayed one) is refused.
    let r = browser()
        .get(srv.url("/login/sso/callback?code=abc&state=forged"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn staff_vendors_and_strangers_sign_in_through_the_provider_as_it_says() {
    staff_vendors_and_strangers_sign_in_as_the_provider_says(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn staff_vendors_and_strangers_sign_in_through_the_provider_on_postgres_too() {
    if renkei_testkit::postgres_configured() {
        staff_vendors_and_strangers_sign_in_as_the_provider_says(Backend::Postgres).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_account_creation_only_existing_accounts_sign_in_and_get_their_role_from_the_provider()
 {
    let Some(mut provider) = Provider::start() else {
        return;
    };
    let srv = server_with(Backend::Sqlite, &mut provider, false).await;
    let r = sign_in_as(&srv, &provider, &browser(), "admin").await;
    assert_eq!(r.status(), 403, "no account, none made");
    // An existing coordinator account that the provider says is an admin now.
    let store = srv.store.clone();
    renkei_core::accounts::create_user(
        &store,
        &renkei_core::audit::Actor::system("test"),
        renkei_core::accounts::NewUser {
            email: "admin@csirt.example".into(),
            display_name: "A".into(),
            role: Role::Coordinator,
            org_id: None,
            password: None,
            lang: renkei_core::lang::Lang::Ja,
        },
    )
    .await
    .unwrap();
    let r = sign_in_as(&srv, &provider, &browser(), "admin").await;
    assert_eq!(r.status(), 303);
    let user = renkei_core::accounts::find_user_by_email(&store, "admin@csirt.example")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(user.role, Role::Admin);
    assert!(
        srv.audit_actions()
            .await
            .contains(&"user.role_changed".to_string())
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_coordinator_signs_in_through_the_provider_in_a_browser() {
    let Some(mut provider) = Provider::start() else {
        return;
    };
    let srv = server_with(Backend::Sqlite, &mut provider, true).await;
    let Some(browser) = renkei_testkit::browser::Browser::launch().await else {
        return;
    };
    browser.goto(&srv.url("/login?next=/incidents")).await;
    browser.click("#sso-login").await;
    browser.wait_url("/interaction/").await;
    browser.type_into("input[name=login]", "coordinator").await;
    browser.type_into("input[name=password]", "any").await;
    browser.click("button[type=submit]").await;
    // The consent page, then back to Renkei, signed in, where the person wanted to go.
    for _ in 0..50 {
        if browser.current_url().await.starts_with(&srv.base) {
            break;
        }
        // The page may move on between looking and clicking.
        browser.click_if_present("button[type=submit]").await;
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    browser.wait_url("/incidents").await;
    assert!(
        browser
            .current_url()
            .await
            .starts_with(&srv.url("/incidents"))
    );
    browser.quit().await;
}
