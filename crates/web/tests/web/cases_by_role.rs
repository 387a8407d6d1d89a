//! Every case route × every role × (the vendor on the case, another vendor): who gets
//! in, who is refused, and that whoever may not see the case — signed in or not — gets
//! exactly what a missing case gives: a 404 that reveals nothing, and nothing written.

use crate::common;

use common::{Api, registered_vendor};
use renkei_core::access::Role;
use renkei_testkit::{TestServer, both_backends};
use renkei_web::http::routes::Method;
use serde_json::{Value, json};

#[derive(Debug, Clone, Copy, PartialEq)]
enum Caller {
    Anonymous,
    Sensor,
    Constituent,
    OtherVendor,
    CaseVendor,
    Admin,
    Coordinator,
}

/// Routes only coordinators may use, even on a case the vendor is on.
const COORDINATOR_ONLY: &[(&str, &str)] = &[
    ("PATCH", "/api/v1/cases/{id}"),
    ("GET", "/api/v1/cases/{id}/suggestions"),
    ("POST", "/api/v1/cases/{id}/vendors"),
    ("POST", "/api/v1/cases/{id}/date"),
    ("POST", "/api/v1/cases/{id}/publication"),
    ("POST", "/api/v1/cases/{id}/revisions"),
    ("GET", "/api/v1/cases/{id}/export"),
];

fn body_for(method: &str, path: &str, third_vendor: i64) -> Option<Value> {
    Some(match (method, path) {
        ("PATCH", _) => json!({"title": "Stored XSS in Router X (updated)"}),
        ("POST", p) if p.ends_with("/vendors") => json!({"vendor_id": third_vendor}),
        ("POST", p) if p.ends_with("/status") => json!({"statement_en": "Looking into it."}),
        ("POST", p) if p.ends_with("/date") => json!({"publish_at": "2099-01-01T10:00:00+09:00"}),
        ("POST", p) if p.ends_with("/answer") => json!({"accept": true}),
        ("POST", p) if p.ends_with("/publication") => json!({}),
        ("POST", p) if p.ends_with("/revisions") => json!({"summary": "typo"}),
        ("POST", p) if p.ends_with("/messages") => json!({"body": "hello"}),
        _ => return None,
    })
}

async fn audit_rows(srv: &TestServer) -> i64 {
    sqlx::query_scalar("SELECT COUNT(*) FROM audit_log")
        .fetch_one(srv.store.pool())
        .await
        .unwrap()
}

async fn table(srv: &TestServer) {
    let api = Api {
        srv,
        http: reqwest::Client::new(),
    };
    let coordinator = srv.token(&srv.user(Role::Coordinator).await).await;
    let admin = srv.token(&srv.user(Role::Admin).await).await;
    let constituent = srv.token(&srv.user(Role::Constituent).await).await;
    let sensor = srv.token(&srv.user(Role::Sensor).await).await;
    let (acme, _, acme_token) = registered_vendor(&api, &coordinator, "Acme", &["Router X"]).await;
    let (_, _, other_token) =
        registered_vendor(&api, &coordinator, "Other Corp", &["Other Box"]).await;
    let (third, _, _) = registered_vendor(&api, &coordinator, "Third", &["Third Thing"]).await;
    let (_, created) = api
        .post(
            Some(&coordinator),
            "/api/v1/cases",
            json!({"title": "Stored XSS in Router X", "description": "Echoed device name."}),
        )
        .await;
    let key = created["case"].as_str().unwrap().to_string();
    let (s, _) = api
        .post(
            Some(&coordinator),
            &format!("/api/v1/cases/{key}/vendors"),
            json!({"vendor_id": acme}),
        )
        .await;
    assert_eq!(s, 201);

    let callers = [
        (Caller::Anonymous, None),
        (Caller::Sensor, Some(sensor)),
        (Caller::Constituent, Some(constituent)),
        (Caller::OtherVendor, Some(other_token)),
        (Caller::CaseVendor, Some(acme_token)),
        (Caller::Admin, Some(admin)),
        (Caller::Coordinator, Some(coordinator)),
    ];
    let case_routes: Vec<_> = srv
        .routes
        .iter()
        .filter(|r| r.api.is_some() && r.path.starts_with("/api/v1/cases/{id}"))
        .collect();
    assert!(case_routes.len() >= 12, "{}", case_routes.len());
    let mut checked = 0;
    for route in &case_routes {
        let method = route.method.as_str();
        let coordinator_only = COORDINATOR_ONLY.contains(&(method, route.path));
        for (caller, token) in &callers {
            let call = |key: &str| {
                let mut path = route.path.replace("{id}", key);
                if path.ends_with("/export") {
                    path.push_str("?format=csaf");
                }
                let m = match route.method {
                    Method::GET => reqwest::Method::GET,
                    Method::POST => reqwest::Method::POST,
                    Method::PATCH => reqwest::Method::PATCH,
                    Method::PUT => reqwest::Method::PUT,
                    Method::DELETE => reqwest::Method::DELETE,
                };
                let body = body_for(method, route.path, third);
                let api = &api;
                let token = token.clone();
                async move { api.call(m, token.as_deref(), &path, body).await }
            };
            let before = audit_rows(srv).await;
            let (status, answer) = call(&key).await;
            let what = format!("{method} {} as {caller:?}: {status} {answer}", route.path);
            let code = answer["error"]["code"].as_str().unwrap_or("");
            match caller {
                Caller::Anonymous | Caller::Sensor | Caller::Constituent | Caller::OtherVendor => {
                    // A sensor's token is refused for its scope before any case is
                    // looked at: the same answer for a case that exists and one that
                    // does not.
                    let expected = match caller {
                        Caller::Sensor => (403, "insufficient_scope"),
                        _ => (404, "not_found"),
                    };
                    assert_eq!((status, code), expected, "{what}");
                    let missing = call("CASE-2099-0001").await;
                    assert_eq!(
                        (status, &answer),
                        (missing.0, &missing.1),
                        "an existing case must look missing: {what}"
                    );
                }
                Caller::CaseVendor if coordinator_only => {
                    assert_eq!((status, code), (403, "forbidden"), "{what}")
                }
                Caller::CaseVendor | Caller::Admin | Caller::Coordinator => {
                    assert!(
                        ![401, 403, 404].contains(&status),
                        "should be let in: {what}"
                    );
                }
            }
            if matches!(
                caller,
                Caller::Anonymous | Caller::Sensor | Caller::Constituent | Caller::OtherVendor
            ) || (*caller == Caller::CaseVendor && coordinator_only)
            {
                assert_eq!(
                    audit_rows(srv).await,
                    before,
                    "a refused request wrote to the audit log: {what}"
                );
            }
            checked += 1;
        }
    }
    assert_eq!(checked, case_routes.len() * callers.len());
}

both_backends! {
    async fn every_case_route_admits_coordinators_and_the_vendor_on_the_case_and_hides_the_case_from_everyone_else(srv) {
        table(&srv).await;
    }
}
