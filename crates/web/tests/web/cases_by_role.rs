//! Every case route × every role × (the vendor on the case that acknowledged it, one
//! that has not yet, another vendor): who gets in, who is refused, and that whoever
//! may not see the case — signed in or not — gets exactly what a missing case gives:
//! a 404 that reveals nothing, and nothing written. A vendor that has not
//! acknowledged reads the summary and may acknowledge; every other door, the files
//! and the exports included, answers 403 `acknowledgement_required`. A partner
//! coordinator (a CSIRT taking part) reads the case, its own thread and the shared
//! files, adds vendors, proposes dates and keeps its tracking ID; every other route
//! answers it 403.

use crate::common;

use common::{Api, registered_vendor};
use renkei_core::access::Role;
use renkei_core::accounts::{self, NewUser};
use renkei_core::audit::Actor;
use renkei_core::lang::Lang;
use renkei_core::orgs::OrgKind;
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
    UnacknowledgedVendor,
    Partner,
    Admin,
    Coordinator,
}

/// Routes a vendor on the case may not use (coordinators', and partners' below).
const COORDINATOR_ONLY: &[(&str, &str)] = &[
    ("PATCH", "/api/v1/cases/{id}"),
    ("GET", "/api/v1/cases/{id}/suggestions"),
    ("POST", "/api/v1/cases/{id}/vendors"),
    ("POST", "/api/v1/cases/{id}/date"),
    ("POST", "/api/v1/cases/{id}/publication"),
    ("POST", "/api/v1/cases/{id}/revisions"),
    ("GET", "/api/v1/cases/{id}/export"),
    ("POST", "/api/v1/cases/{id}/files"),
    ("GET", "/api/v1/cases/{id}/finder"),
    ("POST", "/api/v1/cases/{id}/finder/messages"),
    ("POST", "/api/v1/cases/{id}/finder/link"),
    ("POST", "/api/v1/cases/{id}/partners"),
    // Coordinators and the partner itself.
    ("POST", "/api/v1/cases/{id}/partners/tracking"),
];

/// What a partner coordinator may do.
const PARTNER_MAY: &[(&str, &str)] = &[
    ("GET", "/api/v1/cases/{id}"),
    ("GET", "/api/v1/cases/{id}/messages"),
    ("POST", "/api/v1/cases/{id}/messages"),
    ("POST", "/api/v1/cases/{id}/vendors"),
    ("POST", "/api/v1/cases/{id}/date"),
    ("GET", "/api/v1/cases/{id}/files/{file}"),
    ("POST", "/api/v1/cases/{id}/partners/tracking"),
];

/// What a vendor that has not acknowledged may do.
const BEFORE_ACKNOWLEDGEMENT: &[(&str, &str)] = &[
    ("GET", "/api/v1/cases/{id}"),
    ("POST", "/api/v1/cases/{id}/acknowledge"),
];

fn body_for(method: &str, path: &str, third_vendor: i64, partner_org: i64) -> Option<Value> {
    Some(match (method, path) {
        ("PATCH", _) => json!({"title": "Stored XSS in Router X (updated)"}),
        ("POST", p) if p.ends_with("/vendors") => json!({"vendor_id": third_vendor}),
        ("POST", p) if p.ends_with("/status") => json!({"statement_en": "Looking into it."}),
        ("POST", p) if p.ends_with("/date") => json!({"publish_at": "2099-01-01T10:00:00+09:00"}),
        ("POST", p) if p.ends_with("/answer") => json!({"accept": true}),
        ("POST", p) if p.ends_with("/publication") => json!({}),
        ("POST", p) if p.ends_with("/revisions") => json!({"summary": "typo"}),
        ("POST", p) if p.ends_with("/messages") => json!({"body": "hello"}),
        ("POST", p) if p.ends_with("/acknowledge") => json!({}),
        ("POST", p) if p.ends_with("/partners") => json!({"org_id": partner_org}),
        ("POST", p) if p.ends_with("/tracking") => json!({"tracking_id": "VU#123456"}),
        ("POST", p) if p.ends_with("/files") => json!({"a file": "as JSON"}),
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
    let (late, _, late_token) =
        registered_vendor(&api, &coordinator, "Late Corp", &["Late Box"]).await;
    let certcc = srv.org("CERT/CC", OrgKind::Csirt).await;
    let partner_user = accounts::create_user(
        &srv.store,
        &Actor::system("test"),
        NewUser {
            email: "analyst@cert.example".into(),
            display_name: "CERT/CC analyst".into(),
            role: Role::Constituent,
            org_id: Some(certcc),
            password: None,
            lang: Lang::En,
        },
    )
    .await
    .unwrap();
    let partner_token = srv
        .token(&renkei_testkit::TestUser {
            id: partner_user.id,
            email: partner_user.email.clone(),
            role: Role::Constituent,
            org_id: Some(certcc),
        })
        .await;
    let (_, created) = api
        .post(
            Some(&coordinator),
            "/api/v1/cases",
            json!({"title": "Stored XSS in Router X", "description": "Echoed device name."}),
        )
        .await;
    let key = created["case"].as_str().unwrap().to_string();
    for v in [acme, late] {
        let (s, _) = api
            .post(
                Some(&coordinator),
                &format!("/api/v1/cases/{key}/vendors"),
                json!({"vendor_id": v}),
            )
            .await;
        assert_eq!(s, 201);
    }
    let (s, _) = api
        .post(
            Some(&acme_token),
            &format!("/api/v1/cases/{key}/acknowledge"),
            json!({}),
        )
        .await;
    assert_eq!(s, 200);
    let (s, r) = api
        .post(
            Some(&coordinator),
            &format!("/api/v1/cases/{key}/partners"),
            json!({"org_id": certcc, "tracking_id": "VU#000001"}),
        )
        .await;
    assert_eq!(s, 201, "{r}");
    let file = api
        .http
        .post(srv.url(&format!(
            "/api/v1/cases/{key}/files?name=poc.txt&shared_with=vendors"
        )))
        .bearer_auth(&coordinator)
        .body("proof of concept")
        .send()
        .await
        .unwrap();
    assert_eq!(file.status(), 201);
    let file: Value = file.json().await.unwrap();
    let file_id = file["id"].as_i64().unwrap().to_string();

    let callers = [
        (Caller::Anonymous, None),
        (Caller::Sensor, Some(sensor)),
        (Caller::Constituent, Some(constituent)),
        (Caller::OtherVendor, Some(other_token)),
        (Caller::CaseVendor, Some(acme_token)),
        (Caller::UnacknowledgedVendor, Some(late_token)),
        (Caller::Partner, Some(partner_token)),
        (Caller::Admin, Some(admin)),
        (Caller::Coordinator, Some(coordinator)),
    ];
    let case_routes: Vec<_> = srv
        .routes
        .iter()
        .filter(|r| r.api.is_some() && r.path.starts_with("/api/v1/cases/{id}"))
        .collect();
    assert!(case_routes.len() >= 18, "{}", case_routes.len());
    let mut checked = 0;
    for route in &case_routes {
        let method = route.method.as_str();
        let coordinator_only = COORDINATOR_ONLY.contains(&(method, route.path));
        let before_ack = BEFORE_ACKNOWLEDGEMENT.contains(&(method, route.path));
        for (caller, token) in &callers {
            let call = |key: &str| {
                let mut path = route.path.replace("{id}", key).replace("{file}", &file_id);
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
                let body = body_for(method, route.path, third, certcc);
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
                Caller::UnacknowledgedVendor if before_ack => {
                    assert_eq!(status, 200, "{what}");
                    if method == "GET" {
                        assert_eq!(answer["view"], "vendor_summary", "{what}");
                        assert_eq!(answer["case"]["description"], "", "{what}");
                        assert_eq!(answer["files"], json!([]), "{what}");
                    }
                }
                Caller::Partner if PARTNER_MAY.contains(&(method, route.path)) => {
                    assert!(
                        ![401, 403, 404].contains(&status),
                        "should be let in: {what}"
                    );
                    if method == "GET" && route.path == "/api/v1/cases/{id}" {
                        assert_eq!(answer["view"], "partner", "{what}");
                        assert_eq!(
                            answer["partners"][0]["tracking_id"]
                                .as_str()
                                .map(|t| t.starts_with("VU#")),
                            Some(true),
                            "{what}"
                        );
                    }
                }
                Caller::Partner => assert_eq!((status, code), (403, "forbidden"), "{what}"),
                Caller::UnacknowledgedVendor => {
                    assert_eq!(status, 403, "{what}");
                    assert!(
                        ["acknowledgement_required", "forbidden"].contains(&code),
                        "{what}"
                    );
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
                || (*caller == Caller::UnacknowledgedVendor && !before_ack)
                || (*caller == Caller::Partner && !PARTNER_MAY.contains(&(method, route.path)))
            {
                assert_eq!(
                    audit_rows(srv).await,
                    before,
                    "a refused request wrote to the audit log: {what}"
                );
            }
            if *caller == Caller::UnacknowledgedVendor {
                // It stays unacknowledged for the next route.
                sqlx::query("UPDATE case_vendors SET acknowledged_at = NULL WHERE vendor_id = $1")
                    .bind(late)
                    .execute(srv.store.pool())
                    .await
                    .unwrap();
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
