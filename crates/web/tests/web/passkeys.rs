//! Security keys and passkeys (WebAuthn) as a second factor: registered from the
//! account page and used at sign-in in a real headless Chromium with a virtual
//! security key (WebDriver's WebAuthn extension), on SQLite and PostgreSQL; what a
//! forged or replayed answer gets, over HTTP.

use renkei_core::access::Role;
use renkei_testkit::browser::Browser;
use renkei_testkit::{Backend, PASSWORD, TestServer, TestUser, csrf_from};

async fn sign_in(browser: &Browser, srv: &TestServer, user: &TestUser, next: &str) {
    browser.goto(&srv.url(&format!("/login?next={next}"))).await;
    browser.type_into("#email", &user.email).await;
    browser.type_into("#password", PASSWORD).await;
    browser.click("#login-submit").await;
}

/// Signs out and waits until the browser shows a page without the sign-out button.
async fn sign_out(browser: &Browser) {
    browser.click("#logout").await;
    for _ in 0..100 {
        if !browser.exists("#logout").await {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    panic!("still signed in on {}", browser.current_url().await);
}

async fn wait_for(browser: &Browser, css: &str) {
    for _ in 0..100 {
        if browser.exists(css).await {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    panic!("{css} never appeared on {}", browser.current_url().await);
}

async fn passkey_rows(srv: &TestServer, user_id: i64) -> Vec<(String, Option<String>)> {
    sqlx::query_as("SELECT dynamic_state, last_used_at FROM passkeys WHERE user_id = $1")
        .bind(user_id)
        .fetch_all(srv.store.pool())
        .await
        .unwrap()
}

async fn a_staff_member_registers_a_security_key_and_signs_in_with_it(backend: Backend) {
    let srv = TestServer::start_at_localhost(backend, |c| {
        c.security.require_second_factor_for_staff = true;
    })
    .await;
    let Some(browser) = Browser::launch().await else {
        return;
    };
    let key = browser.add_security_key().await;
    let user = srv.user(Role::Coordinator).await;

    // Staff without a second factor reach only the account page; a key will do.
    sign_in(&browser, &srv, &user, "/incidents").await;
    browser.wait_url("/account").await;
    browser
        .type_into("#passkey-new-name", "YubiKey 5 NFC")
        .await;
    browser.click("#passkey-begin").await;
    wait_for(&browser, "#passkey-create:not([hidden])").await;
    browser.click("#passkey-create").await;
    wait_for(&browser, "#recovery-codes").await;
    let codes = browser
        .script(
            "return [...document.querySelectorAll('#recovery-codes code')].map(c => c.textContent)",
        )
        .await;
    let codes: Vec<String> = serde_json::from_value(codes).unwrap();
    assert_eq!(codes.len(), 10);
    let held = browser.security_key_credentials(&key).await;
    assert_eq!(held.len(), 1, "{held:?}");
    assert_eq!(held[0]["rpId"], "localhost");
    assert_eq!(passkey_rows(&srv, user.id).await.len(), 1);
    let before = passkey_rows(&srv, user.id).await[0].0.clone();
    // The policy is met: the rest of Renkei opens.
    browser.goto(&srv.url("/incidents")).await;
    browser.wait_url("/incidents").await;

    // Signing in again: the password, then the key. The answer is kept (in the
    // tab's storage) to be replayed below.
    sign_out(&browser).await;
    sign_in(&browser, &srv, &user, "/incidents").await;
    browser.wait_url("/login/code").await;
    wait_for(&browser, "#passkey-use:not([hidden])").await;
    browser
        .script(
            "const f = document.getElementById('passkey-form');
             f.submit = function () {
               sessionStorage.setItem('answer', f.elements.credential.value);
               HTMLFormElement.prototype.submit.call(f);
             };
             return true;",
        )
        .await;
    browser.click("#passkey-use").await;
    browser.wait_url("/incidents").await;
    let answer = browser
        .script("return sessionStorage.getItem('answer')")
        .await;
    let answer = answer.as_str().expect("the key's answer").to_string();
    assert!(answer.contains("authenticatorData"), "{answer}");
    let rows = passkey_rows(&srv, user.id).await;
    assert!(rows[0].1.is_some(), "the key's last use is noted");
    assert_ne!(rows[0].0, before, "the signature counter moved on");
    let actions = srv.audit_actions().await;
    assert!(actions.contains(&"second_factor.enrolled".to_string()));
    assert!(actions.contains(&"second_factor.passed".to_string()));

    // The same answer again, on a new sign-in, is refused: each request's
    // challenge is new. A fresh request on the same page then works.
    sign_out(&browser).await;
    sign_in(&browser, &srv, &user, "/incidents").await;
    browser.wait_url("/login/code").await;
    wait_for(&browser, "#passkey-use:not([hidden])").await;
    browser
        .script(&format!(
            "const f = document.getElementById('passkey-form');
             f.elements.credential.value = {};
             HTMLFormElement.prototype.submit.call(f);
             return true;",
            serde_json::to_string(&answer).unwrap()
        ))
        .await;
    wait_for(&browser, "#code-error").await;
    assert!(browser.current_url().await.contains("/login/passkey"));
    assert!(
        srv.audit_actions()
            .await
            .contains(&"second_factor.failed".to_string())
    );
    wait_for(&browser, "#passkey-use:not([hidden])").await;
    browser.click("#passkey-use").await;
    browser.wait_url("/incidents").await;

    // The key is lost: a recovery code signs in instead, once.
    browser.remove_security_key(&key).await;
    sign_out(&browser).await;
    sign_in(&browser, &srv, &user, "/incidents").await;
    browser.wait_url("/login/code").await;
    browser.type_into("#code", &codes[1]).await;
    browser.click("#code-submit").await;
    browser.wait_url("/incidents").await;

    // Removing the key takes a recovery code; with it the last factor goes, and
    // so do the recovery codes.
    browser.goto(&srv.url("/account")).await;
    wait_for(&browser, "#passkey-list").await;
    browser
        .type_into("#passkey-list input[name=code]", &codes[0])
        .await;
    browser.click("#passkey-list button[type=submit]").await;
    for _ in 0..100 {
        if !browser.exists("#passkey-list").await {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(
        !browser.exists("#passkey-list").await,
        "the key is still listed"
    );
    assert!(browser.exists("#passkey-add").await);
    assert!(passkey_rows(&srv, user.id).await.is_empty());
    let left: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM recovery_codes WHERE user_id = $1")
        .bind(user.id)
        .fetch_one(srv.store.pool())
        .await
        .unwrap();
    assert_eq!(left, 0);
    browser.quit().await;
    srv.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_staff_member_registers_a_security_key_in_a_browser_and_signs_in_with_it() {
    a_staff_member_registers_a_security_key_and_signs_in_with_it(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_security_key_works_the_same_on_postgres() {
    if renkei_testkit::postgres_configured() {
        a_staff_member_registers_a_security_key_and_signs_in_with_it(Backend::Postgres).await;
    }
}

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

async fn forged_and_foreign_answers_are_refused(backend: Backend) {
    let srv = TestServer::start_at_localhost(backend, |_| {}).await;
    let alice = srv.user(Role::Coordinator).await;
    let bob = srv.user(Role::Vendor).await;
    let (session, csrf) = srv.session_with_csrf(&alice).await;
    let http = client();
    let cookie = format!("renkei_session={session}; renkei_csrf={csrf}");

    // Registration: the options name this server as the relying party and carry
    // a challenge; a made-up answer is refused and nothing is kept.
    let page = http
        .post(srv.url("/account/passkeys/begin"))
        .header("cookie", &cookie)
        .form(&[("_csrf", csrf.as_str()), ("name", "Desk key")])
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 200);
    let page = page
        .text()
        .await
        .unwrap()
        .replace("&#34;", "\"")
        .replace("&quot;", "\"");
    assert!(
        page.contains("\"rp\":{\"name\":\"localhost\",\"id\":\"localhost\"}")
            || page.contains("\"id\":\"localhost\""),
        "{page}"
    );
    assert!(page.contains("\"challenge\":\""), "{page}");
    let forged = r#"{"id":"AAAA","rawId":"AAAA","type":"public-key","response":{"clientDataJSON":"e30","attestationObject":"oA"},"clientExtensionResults":{}}"#;
    let r = http
        .post(srv.url("/account/passkeys/finish"))
        .header("cookie", &cookie)
        .form(&[("_csrf", csrf.as_str()), ("credential", forged)])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 422);
    assert!(r.text().await.unwrap().contains("was not accepted"));
    assert!(passkey_rows(&srv, alice.id).await.is_empty());
    let under_way: i64 =
        sqlx::query_scalar("SELECT COUNT(*) FROM passkey_registrations WHERE user_id = $1")
            .bind(alice.id)
            .fetch_one(srv.store.pool())
            .await
            .unwrap();
    assert_eq!(under_way, 0, "a refused answer ends the registration");
    // A second try without a registration under way is refused the same way.
    let r = http
        .post(srv.url("/account/passkeys/finish"))
        .header("cookie", &cookie)
        .form(&[("_csrf", csrf.as_str()), ("credential", forged)])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 422);

    // Someone else's key cannot be removed (it is not found for this account).
    sqlx::query(
        "INSERT INTO passkeys (user_id, credential_id, user_handle, name, static_state, dynamic_state, transports, created_at) VALUES ($1, '00112233445566778899aabbccddeeff', '00', 'Bob''s key', '00', '00', 0, '2026-12-05T00:00:00Z')",
    )
    .bind(bob.id)
    .execute(srv.store.pool())
    .await
    .unwrap();
    let bobs: i64 = sqlx::query_scalar("SELECT id FROM passkeys WHERE user_id = $1")
        .bind(bob.id)
        .fetch_one(srv.store.pool())
        .await
        .unwrap();
    let r = http
        .post(srv.url(&format!("/account/passkeys/{bobs}/remove")))
        .header("cookie", &cookie)
        .form(&[("_csrf", csrf.as_str()), ("code", "123456")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    assert_eq!(passkey_rows(&srv, bob.id).await.len(), 1);

    // Bob has a key now, so his password opens a challenge that offers it; a
    // forged answer fails and counts as a try.
    let anonymous = client();
    let login = anonymous.get(srv.url("/login")).send().await.unwrap();
    let login_csrf = csrf_from(&login.text().await.unwrap()).unwrap();
    let r = anonymous
        .post(srv.url("/login"))
        .form(&[
            ("_csrf", login_csrf.as_str()),
            ("email", bob.email.as_str()),
            ("password", PASSWORD),
            ("next", "/"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303);
    assert!(
        r.headers()["location"]
            .to_str()
            .unwrap()
            .starts_with("/login/code")
    );
    let assertion = r#"{"id":"q80","rawId":"q80","type":"public-key","response":{"clientDataJSON":"e30","authenticatorData":"AA","signature":"AA","userHandle":null},"clientExtensionResults":{}}"#;
    let r = anonymous
        .post(srv.url("/login/passkey"))
        .form(&[
            ("_csrf", login_csrf.as_str()),
            ("credential", assertion),
            ("next", "/"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    let attempts: i64 = sqlx::query_scalar(
        "SELECT CAST(attempts AS BIGINT) FROM login_challenges WHERE user_id = $1",
    )
    .bind(bob.id)
    .fetch_one(srv.store.pool())
    .await
    .unwrap();
    assert_eq!(attempts, 1);
    srv.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forged_answers_and_other_peoples_keys_are_refused() {
    forged_and_foreign_answers_are_refused(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forged_answers_and_other_peoples_keys_are_refused_on_postgres_too() {
    if renkei_testkit::postgres_configured() {
        forged_and_foreign_answers_are_refused(Backend::Postgres).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_a_bare_ip_address_security_keys_are_not_offered() {
    let srv = TestServer::start(Backend::Sqlite).await;
    let user = srv.user(Role::Coordinator).await;
    let (session, csrf) = srv.session_with_csrf(&user).await;
    let cookie = format!("renkei_session={session}; renkei_csrf={csrf}");
    let http = client();
    let page = http
        .get(srv.url("/account"))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(page.contains("id=\"passkey-unavailable\""));
    assert!(!page.contains("id=\"passkey-add\""));
    let r = http
        .post(srv.url("/account/passkeys/begin"))
        .header("cookie", &cookie)
        .form(&[("_csrf", csrf.as_str()), ("name", "Desk key")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 422);
    srv.stop().await;
}
