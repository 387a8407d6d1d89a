//! `renkei vuln list|export|import`, as scripts call them, on SQLite and PostgreSQL:
//! the exports are checked by the BSI CSAF validator and the CVE JSON 5 schema.

use std::process::Command;

use renkei_core::access::{Principal, Role};
use renkei_core::accounts;
use renkei_testkit::{TestServer, both_backends, validators};
use renkei_vuln::{cases, notes, vendors};
use serde_json::Value;

fn renkei() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_renkei"));
    for var in ["RENKEI_DATABASE_URL", "RENKEI_CONFIG", "RENKEI_TOKEN"] {
        c.env_remove(var);
    }
    c
}

fn lines(out: &std::process::Output) -> Vec<Value> {
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

async fn principal(srv: &TestServer, role: Role) -> Principal {
    let u = srv.user(role).await;
    Principal::User(accounts::get_user(&srv.store, u.id).await.unwrap().info())
}

/// A case with one vendor, its statuses, and publication scheduled in ten days.
async fn scheduled_case(srv: &TestServer) -> String {
    let settings =
        renkei_vuln::Settings::from_config(&renkei_core::config::Config::default(), None);
    let now = srv.store.now();
    let now_s = renkei_core::time::format(now);
    let coordinator = principal(srv, Role::Coordinator).await;
    let actor = renkei_core::audit::Actor::system("test");
    let v = vendors::apply(
        &srv.store,
        "127.0.0.1",
        vendors::Application {
            company: "Acme".into(),
            name: "PSIRT".into(),
            email: "psirt@acme.example".into(),
            pgp_key: None,
            products: vec!["Router X".into()],
            languages: vec!["en".into()],
            country: None,
            by_mail: false,
        },
        &now_s,
    )
    .await
    .unwrap();
    let key = cases::create(
        &srv.store,
        &actor,
        cases::NewCase {
            title: "Stored XSS in Router X".into(),
            description: "The device name is echoed.".into(),
            cvss_vector: Some("CVSS:3.1/AV:N/AC:L/PR:N/UI:R/S:C/C:L/I:L/A:N".into()),
            cwe: Some("CWE-79".into()),
            cve: Some("CVE-2026-23456".into()),
            credit: "Hanako Yamada".into(),
            ..Default::default()
        },
        &now_s,
    )
    .await
    .unwrap()
    .to_string();
    cases::add_vendor(
        &srv.store,
        &settings,
        &coordinator,
        &key,
        cases::AddVendor {
            vendor_id: v.id,
            products: None,
        },
        now,
    )
    .await
    .unwrap();
    cases::update_vendor(
        &srv.store,
        &settings,
        &coordinator,
        &key,
        cases::VendorUpdate {
            vendor_id: Some(v.id),
            stage: Some("fix_ready".into()),
            statement_en: Some("Fixed in 2.1.".into()),
            products: vec![cases::ProductUpdate {
                name: "Router X".into(),
                status: "vulnerable".into(),
                fixed_in: Some("2.1".into()),
            }],
            ..Default::default()
        },
        now,
    )
    .await
    .unwrap();
    let at = (now + chrono::Duration::days(10)).to_rfc3339();
    cases::propose_date(
        &srv.store,
        &settings,
        &coordinator,
        &key,
        cases::DateProposal {
            publish_at: at,
            tz: None,
        },
        now,
    )
    .await
    .unwrap();
    cases::answer_date(
        &srv.store,
        &settings,
        &coordinator,
        &key,
        cases::DateAnswer {
            accept: true,
            requested_date: None,
            reason: None,
            vendor_id: Some(v.id),
        },
        now,
    )
    .await
    .unwrap();
    notes::schedule(
        &srv.store,
        &settings,
        &coordinator,
        &key,
        notes::Schedule::default(),
        now,
    )
    .await
    .unwrap();
    key
}

both_backends! {
    async fn cases_are_listed_and_their_notes_exported_as_csaf_cve5_and_jvnrss(srv) {
        let db = srv.database.url.clone();
        let key = scheduled_case(&srv).await;
        let out = renkei().args(["vuln", "list", "--json", "--database-url", &db]).output().unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        let listed = lines(&out);
        assert_eq!(listed.len(), 1);
        assert_eq!(listed[0]["case"], key.as_str());
        assert_eq!(listed[0]["published"], false);
        let note = listed[0]["note"].as_str().unwrap().to_string();
        assert!(note.starts_with("JVN#"), "{note}");

        for id in [key.as_str(), note.as_str()] {
            let out = renkei().args(["vuln", "export", "--format", "csaf", "--database-url", &db, id]).output().unwrap();
            assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
            let doc: Value = serde_json::from_slice(&out.stdout).unwrap();
            assert_eq!(doc["document"]["tracking"]["id"], note.as_str());
            assert_eq!(renkei_formats::csaf::validate(&doc), Vec::<String>::new());
            if let Some(r) = validators::csaf(&doc) {
                r.unwrap_or_else(|report| panic!("{report}"));
            }
        }
        let out = renkei().args(["vuln", "export", "--format", "cve5", "--database-url", &db, &key]).output().unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        let cve: Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(cve["containers"]["cna"]["affected"][0]["vendor"], "Acme");
        if let Some(r) = validators::cve5(&cve) {
            r.unwrap_or_else(|report| panic!("{report}"));
        }
        let out = renkei().args(["vuln", "export", "--format", "jvnrss", "--lang", "ja", "--database-url", &db, &key]).output().unwrap();
        let rss = String::from_utf8_lossy(&out.stdout);
        assert!(rss.contains("<rdf:RDF") && rss.contains(&format!("<sec:identifier>{note}</sec:identifier>")), "{rss}");

        let out = renkei().args(["vuln", "export", "--format", "csaf", "--database-url", &db, "CASE-2099-0001"]).output().unwrap();
        assert_eq!(out.status.code(), Some(2), "{}", String::from_utf8_lossy(&out.stderr));
    }

    async fn partner_documents_open_draft_cases_and_invalid_ones_are_refused_by_path(srv) {
        let db = srv.database.url.clone();
        let dir = tempfile::tempdir().unwrap();
        let good = dir.path().join("good.json");
        std::fs::copy(concat!(env!("CARGO_MANIFEST_DIR"), "/../formats/tests/data/csaf/bsi-2022-0001.json"), &good).unwrap();
        let bad = dir.path().join("bad.json");
        std::fs::write(&bad, r#"{"document": {"category": "csaf_security_advisory"}}"#).unwrap();
        let out = renkei().args(["vuln", "import", "--format", "csaf", "--database-url", &db]).arg(&good).arg(&bad).output().unwrap();
        assert_eq!(out.status.code(), Some(2));
        let got = lines(&out);
        assert!(got[0]["case"].as_str().unwrap().starts_with("CASE-"), "{got:?}");
        let errors: Vec<&str> = got[1]["errors"].as_array().unwrap().iter().map(|e| e.as_str().unwrap()).collect();
        assert!(errors.contains(&"document.csaf_version: required field missing"), "{errors:?}");
        assert!(String::from_utf8_lossy(&out.stderr).contains("bad.json: document.title: required field missing"));

        // A document whose title carries a NUL is refused naming the field, on
        // PostgreSQL too (whose text cannot hold one), and nothing is half-written.
        let cases_before: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM cases").fetch_one(srv.store.pool()).await.unwrap();
        let text = std::fs::read_to_string(&good).unwrap();
        let title = serde_json::from_str::<serde_json::Value>(&text).unwrap()["document"]["title"].as_str().unwrap().to_string();
        let nul = dir.path().join("nul.json");
        std::fs::write(&nul, text.replace(&format!("\"{title}\""), &format!("\"{title}\\u0000\""))).unwrap();
        let out = renkei().args(["vuln", "import", "--format", "csaf", "--database-url", &db]).arg(&nul).output().unwrap();
        assert_eq!(out.status.code(), Some(2), "{}", String::from_utf8_lossy(&out.stderr));
        assert!(String::from_utf8_lossy(&out.stderr).contains("title"), "{}", String::from_utf8_lossy(&out.stderr));
        let cases_after: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM cases").fetch_one(srv.store.pool()).await.unwrap();
        assert_eq!(cases_after, cases_before);
    }
}
