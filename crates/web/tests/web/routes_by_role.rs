//! Every route × every role: allowed or denied exactly as the route declares, and a
//! denied request writes nothing. Then every route × every role × every token scope
//! the role may hold: a token is admitted only where its account is and its scope
//! is the one the route needs.

use renkei_core::access::{Principal, Role, Scope, Scopes};
use renkei_core::accounts;
use renkei_core::audit::Actor;
use renkei_core::lang::Lang;
use renkei_core::orgs::{self, NewContact, OrgKind};
use renkei_testkit::{TestServer, TestUser, both_backends};
use renkei_web::http::routes::Method;

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

/// The CSRF cookie the login page gives a browser that is not signed in.
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

/// The request every caller makes of a route: real objects in its path.
struct Target {
    org: i64,
    victim: i64,
}

impl Target {
    async fn path(&self, srv: &TestServer, spec: &renkei_web::RouteSpec, token_id: i64) -> String {
        let contact = orgs::add_contact(
            &srv.store,
            &Actor::system("test"),
            self.org,
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
        let id = if spec.path.contains("/tokens/") {
            token_id
        } else if spec.path.contains("/users/") {
            self.victim
        } else {
            self.org
        };
        spec.path
            .replace("{id}", &id.to_string())
            .replace("{contact_id}", &contact.to_string())
            .replace("{token}", "not-a-setup-token")
    }
}

fn request(
    http: &reqwest::Client,
    srv: &TestServer,
    spec: &renkei_web::RouteSpec,
    path: &str,
) -> reqwest::RequestBuilder {
    let method = match spec.method {
        Method::GET => reqwest::Method::GET,
        Method::POST => reqwest::Method::POST,
        Method::PUT => reqwest::Method::PUT,
        Method::PATCH => reqwest::Method::PATCH,
        Method::DELETE => reqwest::Method::DELETE,
    };
    let req = http.request(method, srv.url(path));
    if matches!(spec.method, Method::POST | Method::PUT | Method::PATCH) {
        if spec.api.is_some() {
            req.header("content-type", "application/json").body("{}")
        } else {
            req.header("content-type", "application/x-www-form-urlencoded")
                .body("")
        }
    } else {
        req
    }
}

fn error_code(response: &reqwest::Response) -> String {
    response
        .headers()
        .get("x-renkei-error")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string()
}

async fn check_every_route(srv: &TestServer) {
    let org = srv.org("Matrix ISP", OrgKind::Isp).await;
    let mut users: Vec<(Role, TestUser)> = Vec::new();
    for role in renkei_core::access::Role::ALL {
        users.push((role, srv.user(role).await));
    }
    let target = Target {
        org,
        victim: srv.user(Role::Coordinator).await.id,
    };
    let anonymous_csrf = csrf_cookie(srv).await;
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let mut checked = 0;
    for spec in &srv.routes {
        for caller in CALLERS {
            let user = caller.map(|r| &users.iter().find(|(role, _)| *role == r).unwrap().1);
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
            let path = target.path(srv, spec, token_id).await;
            let mut req = request(&http, srv, spec, &path);
            let (cookies, csrf) = match user {
                Some(u) if u.role == Role::Sensor => {
                    req = req.bearer_auth(srv.token(u).await);
                    (
                        format!("renkei_csrf={anonymous_csrf}"),
                        anonymous_csrf.clone(),
                    )
                }
                Some(u) => {
                    // A session of its own each time: a route may end it (logout).
                    let (session, csrf) = srv.session_with_csrf(u).await;
                    (
                        format!("renkei_csrf={csrf}; renkei_session={session}"),
                        csrf,
                    )
                }
                None => (
                    format!("renkei_csrf={anonymous_csrf}"),
                    anonymous_csrf.clone(),
                ),
            };
            req = req.header("cookie", cookies).header("x-csrf-token", &csrf);
            let before = audit_head(srv).await;
            let response = req.send().await.unwrap();
            let status = response.status().as_u16();
            let code = error_code(&response);
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
            // The sensor calls with its token, which carries the sensor scope only.
            let scope_ok = caller != Some(Role::Sensor)
                || Scope::needed(spec.access, spec.method == Method::GET, spec.scope)
                    == Scope::Sensor;
            if spec.access.allows(&principal) && !scope_ok {
                assert_eq!(
                    (status, code.as_str()),
                    (403, "insufficient_scope"),
                    "{what}"
                );
                assert_eq!(
                    audit_head(srv).await,
                    before,
                    "a denied request wrote: {what}"
                );
            } else if spec.access.allows(&principal) {
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

/// Every route × every role × every scope its tokens may carry, one token per
/// scope. Returns how many requests were checked.
async fn check_every_route_by_scope(srv: &TestServer) -> usize {
    let org = srv.org("Scope ISP", OrgKind::Isp).await;
    let target = Target {
        org,
        victim: srv.user(Role::Coordinator).await.id,
    };
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let mut checked = 0;
    for role in Role::ALL {
        let user = srv.user(role).await;
        let principal = Principal::User(
            accounts::get_user(&srv.store, user.id)
                .await
                .unwrap()
                .info(),
        );
        for scope in Scope::allowed_for(role) {
            let new = accounts::NewToken {
                name: "scope matrix",
                scopes: Some(Scopes::of(&[*scope])),
                expires_in_days: None,
            };
            let (token, secret) = accounts::issue_token(
                &srv.store,
                &Actor::system("test"),
                &accounts::Issuer::System,
                user.id,
                new,
            )
            .await
            .unwrap();
            for spec in &srv.routes {
                // A route that revokes a token gets one of its own to revoke.
                let victim_token = match spec.path.contains("/tokens/") {
                    true => {
                        accounts::create_token(
                            &srv.store,
                            &Actor::system("test"),
                            user.id,
                            "victim",
                        )
                        .await
                        .unwrap()
                        .0
                        .id
                    }
                    false => token.id,
                };
                let path = target.path(srv, spec, victim_token).await;
                let before = audit_head(srv).await;
                let response = request(&http, srv, spec, &path)
                    .bearer_auth(&secret)
                    .send()
                    .await
                    .unwrap();
                let status = response.status().as_u16();
                let code = error_code(&response);
                let reads = spec.method == Method::GET;
                let needed = Scope::needed(spec.access, reads, spec.scope);
                let what = format!(
                    "{} {} as {} with scope {}: {status} {code}",
                    spec.method.as_str(),
                    spec.path,
                    role.as_str(),
                    scope.as_str()
                );
                match (spec.access.allows(&principal), needed == *scope) {
                    (true, true) => {
                        assert!(![401, 403].contains(&status), "should be allowed: {what}")
                    }
                    (true, false) => {
                        assert_eq!(
                            (status, code.as_str()),
                            (403, "insufficient_scope"),
                            "{what}"
                        )
                    }
                    (false, _) => assert_eq!((status, code.as_str()), (403, "forbidden"), "{what}"),
                }
                if status == 403 {
                    assert_eq!(
                        audit_head(srv).await,
                        before,
                        "a denied request wrote: {what}"
                    );
                }
                checked += 1;
            }
        }
    }
    checked
}

both_backends! {
    async fn every_route_admits_exactly_the_roles_it_declares_and_denials_write_nothing(srv) {
        check_every_route(&srv).await;
    }

    async fn every_route_admits_a_token_only_with_the_scope_it_needs(srv) {
        let checked = check_every_route_by_scope(&srv).await;
        let tokens: usize = Role::ALL.iter().map(|r| Scope::allowed_for(*r).len()).sum();
        assert_eq!(checked, srv.routes.len() * tokens);
        println!("route x role x scope: {checked} requests checked ({} routes, {tokens} tokens)", srv.routes.len());
    }
}
