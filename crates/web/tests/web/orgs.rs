//! The shared address book: organizations and contacts, by API and by page.

use renkei_core::access::Role;
use renkei_testkit::both_backends;
use serde_json::{Value, json};

const KEY: &str =
    "-----BEGIN PGP PUBLIC KEY BLOCK-----\n\nmQENBF...\n-----END PGP PUBLIC KEY BLOCK-----";

both_backends! {
    async fn a_coordinator_keeps_organizations_and_contacts_and_every_change_is_audited(srv) {
        let coordinator = srv.user(Role::Coordinator).await;
        let token = srv.token(&coordinator).await;
        let http = reqwest::Client::new();
        let r = http.post(srv.url("/api/v1/orgs")).bearer_auth(&token)
            .json(&json!({"name": "Example Telecom", "kind": "isp", "country": "jp", "domain": "Example.NE.JP"}))
            .send().await.unwrap();
        assert_eq!(r.status(), 201);
        let org: Value = r.json().await.unwrap();
        assert_eq!(org["country"], "JP");
        assert_eq!(org["domain"], "example.ne.jp");
        let id = org["id"].as_i64().unwrap();
        let contacts = srv.url(&format!("/api/v1/orgs/{id}/contacts"));
        let r = http.post(&contacts).bearer_auth(&token).json(&json!({"name": "Abuse desk", "email": "abuse@example.ne.jp", "pgp_key": "not a key"})).send().await.unwrap();
        assert_eq!(r.status(), 422);
        let r = http.post(&contacts).bearer_auth(&token)
            .json(&json!({"name": "Abuse desk", "email": "Abuse@Example.ne.jp", "lang": "ja", "role": "abuse", "pgp_key": KEY, "phone": "+81-3-0000-0000"}))
            .send().await.unwrap();
        assert_eq!(r.status(), 201);
        let contact: Value = r.json().await.unwrap();
        assert_eq!(contact["email"], "abuse@example.ne.jp");
        let full: Value = http.get(srv.url(&format!("/api/v1/orgs/{id}"))).bearer_auth(&token).send().await.unwrap().json().await.unwrap();
        assert_eq!(full["contacts"][0]["role"], "abuse");
        assert_eq!(full["contacts"][0]["lang"], "ja");
        let listed: Value = http.get(srv.url("/api/v1/orgs?kind=isp")).bearer_auth(&token).send().await.unwrap().json().await.unwrap();
        assert_eq!(listed.as_array().unwrap().len(), 1);
        let none: Value = http.get(srv.url("/api/v1/orgs?kind=vendor")).bearer_auth(&token).send().await.unwrap().json().await.unwrap();
        assert_eq!(none.as_array().unwrap().len(), 0);
        let r = http.delete(srv.url(&format!("/api/v1/orgs/{id}/contacts/{}", contact["id"]))).bearer_auth(&token).send().await.unwrap();
        assert_eq!(r.status(), 204);
        let history = renkei_core::audit::for_object(&srv.store, "organization", &id.to_string()).await.unwrap();
        let actions: Vec<_> = history.iter().map(|e| e.action.as_str()).collect();
        assert_eq!(actions, ["org.created", "contact.created", "contact.removed"]);
        assert!(history.iter().all(|e| e.actor == coordinator.email && e.actor_user_id == Some(coordinator.id)));
    }

    async fn the_organization_page_shows_contacts_added_through_its_form(srv) {
        let admin = srv.user(Role::Admin).await;
        let s = srv.signed_in(&admin).await;
        let r = s.client.post(srv.url("/orgs")).form(&[("name", "JPCERT Partner"), ("kind", "csirt"), ("country", "JP"), ("_csrf", s.csrf.as_str())]).send().await.unwrap();
        assert_eq!(r.status(), 303);
        let at = r.headers()["location"].to_str().unwrap().to_string();
        let r = s.client.post(srv.url(&format!("{at}/contacts"))).form(&[("email", "pr@partner.example"), ("lang", "ja"), ("_csrf", s.csrf.as_str())]).send().await.unwrap();
        assert_eq!(r.status(), 422, "a contact needs a name field");
        let r = s.client.post(srv.url(&format!("{at}/contacts"))).form(&[("name", "窓口 担当"), ("email", "pr@partner.example"), ("lang", "ja"), ("_csrf", s.csrf.as_str())]).send().await.unwrap();
        assert_eq!(r.status(), 303);
        let page = s.client.get(srv.url(&at)).send().await.unwrap().text().await.unwrap();
        assert!(page.contains("窓口 担当") && page.contains("pr@partner.example"));
        assert!(page.contains("contact.created"), "the page shows the history");
    }

    async fn vendors_and_constituents_see_their_own_organization_only_through_me(srv) {
        let vendor = srv.user(Role::Vendor).await;
        let token = srv.token(&vendor).await;
        let me: Value = reqwest::Client::new().get(srv.url("/api/v1/me")).bearer_auth(&token).send().await.unwrap().json().await.unwrap();
        assert_eq!(me["organization"]["id"].as_i64(), vendor.org_id);
        assert_eq!(me["organization"]["kind"], "vendor");
        let r = reqwest::Client::new().get(srv.url("/api/v1/orgs")).bearer_auth(&token).send().await.unwrap();
        assert_eq!(r.status(), 403);
    }

    async fn an_organization_is_edited_with_old_and_new_values_in_the_audit_log(srv) {
        let coordinator = srv.user(Role::Coordinator).await;
        let token = srv.token(&coordinator).await;
        let id = srv.org("Old Name ISP", renkei_core::orgs::OrgKind::Isp).await;
        let http = reqwest::Client::new();
        let url = srv.url(&format!("/api/v1/orgs/{id}"));
        let r = http.put(&url).bearer_auth(&token).json(&json!({"name": "New Name ISP", "kind": "isp", "country": "JP", "domain": "new.example"})).send().await.unwrap();
        assert_eq!(r.status(), 200);
        let org: Value = r.json().await.unwrap();
        assert_eq!(org["name"], "New Name ISP");
        let r = http.put(&url).bearer_auth(&token).json(&json!({"name": "New Name ISP", "kind": "vendor"})).send().await.unwrap();
        assert_eq!(r.status(), 422, "the kind cannot change");
        let history = renkei_core::audit::for_object(&srv.store, "organization", &id.to_string()).await.unwrap();
        let update = history.iter().find(|e| e.action == "org.updated").expect("audited");
        assert_eq!(update.changes["name"], json!(["Old Name ISP", "New Name ISP"]));
        assert_eq!(update.changes["domain"], json!([null, "new.example"]));
        assert!(update.changes.get("country").is_none(), "only what changed is recorded");
    }

    async fn a_vendor_account_must_belong_to_a_product_developer(srv) {
        let isp = srv.org("Not A Vendor", renkei_core::orgs::OrgKind::Isp).await;
        let admin = srv.user(Role::Admin).await;
        let r = reqwest::Client::new().post(srv.url("/api/v1/users")).bearer_auth(srv.token(&admin).await)
            .json(&json!({"email": "psirt@isp.example", "role": "vendor", "org_id": isp})).send().await.unwrap();
        assert_eq!(r.status(), 422);
        let body: Value = r.json().await.unwrap();
        assert!(body["error"]["message"].as_str().unwrap().contains("product-developer"));
    }
}
