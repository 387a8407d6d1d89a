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

    browser.click("form.lang button").await;
    browser
        .wait_text("#dashboard-title", "ダッシュボード")
        .await;
    assert_eq!(browser.title().await, "ダッシュボード · Renkei");

    let shots = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("screenshots");
    std::fs::create_dir_all(&shots).unwrap();
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
}
