//! The OpenAPI document describes exactly the API the router serves.

use std::collections::BTreeSet;

use renkei_testkit::both_backends;
use serde_json::Value;

fn refs(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::Object(m) => {
            for (k, val) in m {
                if k == "$ref" {
                    out.push(val.as_str().unwrap().to_string());
                }
                refs(val, out);
            }
        }
        Value::Array(a) => a.iter().for_each(|x| refs(x, out)),
        _ => {}
    }
}

both_backends! {
    async fn the_openapi_document_lists_exactly_the_api_routes_and_resolves_every_reference(srv) {
        let doc: Value = reqwest::get(srv.url("/api/v1/openapi.json")).await.unwrap().json().await.unwrap();
        assert_eq!(doc["openapi"], "3.1.0");
        let documented: BTreeSet<(String, String)> = doc["paths"]
            .as_object()
            .unwrap()
            .iter()
            .flat_map(|(path, ops)| ops.as_object().unwrap().keys().map(move |m| (m.to_uppercase(), path.clone())))
            .collect();
        let served: BTreeSet<(String, String)> = srv
            .routes
            .iter()
            .filter(|r| r.path.starts_with("/api/"))
            .map(|r| (r.method.as_str().to_string(), r.path.to_string()))
            .collect();
        assert_eq!(documented, served);
        let schemas = doc["components"]["schemas"].as_object().unwrap();
        let mut all = Vec::new();
        refs(&doc, &mut all);
        assert!(!all.is_empty());
        for r in all {
            let name = r.strip_prefix("#/components/schemas/").unwrap_or_else(|| panic!("unexpected ref {r}"));
            assert!(schemas.contains_key(name), "unresolved {r}");
        }
        for (path, ops) in doc["paths"].as_object().unwrap() {
            for (method, op) in ops.as_object().unwrap() {
                assert!(op["responses"].as_object().is_some_and(|r| !r.is_empty()), "{method} {path} has no responses");
            }
        }
    }
}
