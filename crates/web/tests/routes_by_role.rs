//! Every route × every role: allowed or denied exactly as the route declares, and a
//! denied request writes nothing.

use renkei_core::access::{Principal, Role};
use renkei_core::accounts;
use renkei_core::audit::Actor;
use renkei_core::lang::Lang;
use renkei_core::orgs::{self, NewContact, OrgKind};
use renkei_testkit::{TestServer, TestUser, both_backends};
use renkei_web::routes::Method;

const CALLERS: [Option<Role>; 6] = [
    None,
    Some(Role::Admin),
    Some(Role::Coordinator),
    Some(Role::Vendor),
    Some(Role::Constituent),
    Some(Role::Sensor),
];

async fn audit_head(srv: &TestServer) -> i64 {
    renkei_core::counts::counts(&srv.store)
        .await
        .unwrap()
        .audit_entries
}

async fn csrf_cookie(srv: &TestServer) -> String {
    let r = srv.client().get(srv.url("/login")).send().await.unwrap();
    let c = renkei_testkit::set_cookie(&r, "renkei_csrf")
        .expect("csrf cookie")
        .to_string();
    c.split(';')
        .next()
        .unwrap()
        .trim_start_matches("renkei_csrf=")
        .to_string()
}

async fn check_every_route(srv: &TestServer) {
    let org = srv.org("Matrix ISP", OrgKind::Isp).await;
    let mut users: Vec<(Role, TestUser)> = Vec::new();
    for role in renkei_core::access::Role::ALL {
        users.push((role, srv.user(role).await));
    }
    let victim = srv.user(Role::Coordinator).await;
    let csrf = csrf_cookie(srv).await;
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let mut checked = 0;
    for spec in &srv.routes {
        for caller in CALLERS {
            let user = caller.map(|r| &users.iter().find(|(role, _)| *role == r).unwrap().1);
            // Objects the path names: a real organization and contact, the caller's own token.
            let contact = orgs::add_contact(
                &srv.store,
                &Actor::system("test"),
                org,
                NewContact {
                    name: "NOC".into(),
                    email: "noc@isp.example".into(),
                    phone: None,
                    pgp_key: None,
                    lang: Lang::Ja,
                    role: None,
                },
            )
            .await
            .unwrap()
            .id;
            let token_id = match user {
                Some(u) => {
                    accounts::create_token(&srv.store, &Actor::system("test"), u.id, "matrix")
                        .await
                        .unwrap()
                        .0
                        .id
                }
                None => 1,
            };
            let id = if spec.path.contains("/tokens/") {
                token_id
            } else if spec.path.contains("/users/") {
                victim.id
            } else {
                org
            };
            let path = spec
                .path
                .replace("{id}", &id.to_string())
                .replace("{contact_id}", &contact.to_string())
                .replace("{token}", "not-a-setup-token");
            let method = match spec.method {
                Method::GET => reqwest::Method::GET,
                Method::POST => reqwest::Method::POST,
                Method::PUT => reqwest::Method::PUT,
                Method::PATCH => reqwest::Method::PATCH,
                Method::DELETE => reqwest::Method::DELETE,
            };
            let mut req = http.request(method, srv.url(&path));
            let mut cookies = format!("renkei_csrf={csrf}");
            match user {
                Some(u) if u.role == Role::Sensor => {
                    req = req.bearer_auth(srv.token(u).await);
                }
                Some(u) => {
                    let session = srv.session(u).await;
                    cookies.push_str(&format!("; renkei_session={session}"));
                }
                None => {}
            }
            req = req.header("cookie", cookies).header("x-csrf-token", &csrf);
            if matches!(spec.method, Method::POST | Method::PUT | Method::PATCH) {
                req = if spec.api.is_some() {
                    req.header("content-type", "application/json").body("{}")
                } else {
                    req.header("content-type", "application/x-www-form-urlencoded")
                        .body("")
                };
            }
            let before = audit_head(srv).await;
            let response = req.send().await.unwrap();
            let status = response.status().as_u16();
            let code = response
                .headers()
                .get("x-renkei-error")
                .and_then(|v| v.to_str().ok())
                .unwrap_or("")
                .to_string();
            let location = response
                .headers()
                .get("location")
                .and_then(|v| v.to_str().ok())
                .unwrap_or("")
                .to_string();
            let principal = match user {
                Some(u) => {
                    Principal::User(accounts::get_user(&srv.store, u.id).await.unwrap().info())
                }
                None => Principal::Anonymous,
            };
            let who = caller.map(|r| r.as_str()).unwrap_or("anonymous");
            let what = format!(
                "{} {} as {who}: {status} {code} {location}",
                spec.method.as_str(),
                spec.path
            );
            if spec.access.allows(&principal) {
                assert!(
                    ![401, 403, 405].contains(&status),
                    "should be allowed: {what}"
                );
                assert_ne!(code, "no_route", "route missing: {what}");
                assert!(
                    !location.starts_with("/login"),
                    "should not ask to sign in: {what}"
                );
            } else {
                match (caller, spec.api.is_some(), spec.method) {
                    (None, false, Method::GET) => {
                        assert_eq!(status, 303, "{what}");
                        assert!(location.starts_with("/login?next="), "{what}");
                    }
                    (None, _, _) => {
                        assert_eq!((status, code.as_str()), (401, "unauthenticated"), "{what}")
                    }
                    (Some(_), _, _) => {
                        assert_eq!((status, code.as_str()), (403, "forbidden"), "{what}")
                    }
                }
                assert_eq!(
                    audit_head(srv).await,
                    before,
                    "a denied request wrote to the audit log: {what}"
                );
            }
            checked += 1;
        }
    }
    assert_eq!(checked, srv.routes.len() * CALLERS.len());
    assert!(
        srv.routes.len() >= 30,
        "the route list looks truncated: {}",
        srv.routes.len()
    );
}

both_backends! {
    async fn every_route_admits_exactly_the_roles_it_declares_and_denials_write_nothing(srv) {
        check_every_route(&srv).await;
    }
}
