//! Helpers the vulnerability tests share: an API caller, and a vendor walked through
//! registration with a signed-in user.

use renkei_core::access::Role;
use renkei_core::accounts::{self, NewUser};
use renkei_core::audit::Actor;
use renkei_core::lang::Lang;
use renkei_testkit::{TestServer, TestUser};
use serde_json::{Value, json};

pub struct Api<'a> {
    pub srv: &'a TestServer,
    pub http: reqwest::Client,
}

impl Api<'_> {
    pub async fn call(
        &self,
        method: reqwest::Method,
        who: Option<&str>,
        path: &str,
        body: Option<Value>,
    ) -> (u16, Value) {
        let mut req = self.http.request(method, self.srv.url(path));
        if let Some(token) = who {
            req = req.bearer_auth(token);
        }
        if let Some(b) = body {
            req = req.json(&b);
        }
        let r = req.send().await.unwrap();
        let status = r.status().as_u16();
        let text = r.text().await.unwrap();
        let mut value = serde_json::from_str(&text).unwrap_or(Value::String(text));
        // Every error names its request; taken out here, so that two answers can be
        // compared (an existing case must look exactly like a missing one).
        if let Some(error) = value.get_mut("error").and_then(Value::as_object_mut) {
            let id = error.remove("request_id");
            assert!(
                id.as_ref()
                    .and_then(Value::as_str)
                    .is_some_and(|s| !s.is_empty()),
                "an error without its request id: {path}"
            );
        }
        (status, value)
    }
    /// Posts bytes as they are (a file), as a coordinator.
    pub async fn post_bytes(&self, who: &str, path: &str, body: &[u8]) -> (u16, Value) {
        let r = self
            .http
            .post(self.srv.url(path))
            .bearer_auth(who)
            .header("content-type", "application/pdf")
            .body(body.to_vec())
            .send()
            .await
            .unwrap();
        let status = r.status().as_u16();
        (status, r.json().await.unwrap_or(Value::Null))
    }
    pub async fn get(&self, who: Option<&str>, path: &str) -> (u16, Value) {
        self.call(reqwest::Method::GET, who, path, None).await
    }
    pub async fn post(&self, who: Option<&str>, path: &str, body: Value) -> (u16, Value) {
        self.call(reqwest::Method::POST, who, path, Some(body))
            .await
    }
}

/// A vendor that applied through the public API, walked to `registered`, with one
/// signed-in user.
pub async fn registered_vendor(
    api: &Api<'_>,
    coordinator: &str,
    company: &str,
    products: &[&str],
) -> (i64, TestUser, String) {
    let (status, v) = api
        .post(None, "/api/v1/vendors/apply", json!({
            "company": company, "name": "PSIRT", "email": format!("psirt@{}.example", company.to_lowercase().replace(' ', "")),
            "products": products, "languages": ["ja", "en"],
        }))
        .await;
    assert_eq!(status, 201, "{v}");
    let id = v["id"].as_i64().unwrap();
    let org = v["org_id"].as_i64().unwrap();
    let (_, terms) = api.get(Some(coordinator), "/api/v1/vendor-terms").await;
    if terms.as_array().unwrap().is_empty() {
        let (s, t) = api.post(Some(coordinator), "/api/v1/vendor-terms", json!({"version": "2026-04", "body": "The vendor keeps unpublished information confidential."})).await;
        assert_eq!(s, 201, "{t}");
    }
    for state in [
        "documents_sent",
        "documents_returned",
        "meeting_held",
        "terms_agreed",
        "registered",
    ] {
        // Each step with its record: the documents each way, the meeting.
        match state {
            "documents_sent" | "documents_returned" => {
                let direction = state.trim_start_matches("documents_");
                let (s, r) = api
                    .post_bytes(
                        coordinator,
                        &format!("/api/v1/vendors/{id}/documents?direction={direction}&name={direction}.pdf"),
                        format!("%PDF {company} {direction}").as_bytes(),
                    )
                    .await;
                assert_eq!(s, 201, "{r}");
            }
            "meeting_held" => {
                let (s, r) = api
                    .post(Some(coordinator), &format!("/api/v1/vendors/{id}/meetings"), json!({
                        "held_on": "2026-04-10", "attendees": format!("{company} PSIRT, coordinators"), "minutes": "規約と窓口について合意。",
                    }))
                    .await;
                assert_eq!(s, 201, "{r}");
            }
            _ => {}
        }
        let (s, r) = api
            .post(
                Some(coordinator),
                &format!("/api/v1/vendors/{id}/state"),
                json!({"state": state, "terms_version": "2026-04"}),
            )
            .await;
        assert_eq!(s, 200, "{state}: {r}");
    }
    let email = format!(
        "user-{}@{}.example",
        id,
        company.to_lowercase().replace(' ', "")
    );
    let user = accounts::create_user(
        &api.srv.store,
        &Actor::system("test"),
        NewUser {
            email: email.clone(),
            display_name: format!("{company} PSIRT"),
            role: Role::Vendor,
            org_id: Some(org),
            password: Some(renkei_testkit::PASSWORD.into()),
            lang: Lang::En,
        },
    )
    .await
    .unwrap();
    let user = TestUser {
        id: user.id,
        email,
        role: Role::Vendor,
        org_id: Some(org),
    };
    let token = api.srv.token(&user).await;
    (id, user, token)
}
