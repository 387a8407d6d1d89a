//! Vulnerability coordination end to end: a vendor registers, a finder reports, the
//! coordinator adds the vendors, each records its status, all agree on one date, and
//! the note goes public — with every vendor's status at once — when the clock reaches
//! that moment, not before. The exports are checked by the validators the world uses.

use crate::common;

use common::{Api, registered_vendor};
use renkei_core::access::Role;
use renkei_testkit::{TestServer, both_backends, validators};
use serde_json::{Value, json};

fn enc(key: &str) -> String {
    key.replace('#', "%23")
}

async fn coordination_end_to_end(srv: &TestServer) {
    let api = Api {
        srv,
        http: reqwest::Client::new(),
    };
    let coordinator = srv.token(&srv.user(Role::Coordinator).await).await;
    let constituent = srv.token(&srv.user(Role::Constituent).await).await;
    let (acme, _, acme_token) =
        registered_vendor(&api, &coordinator, "Acme", &["Router X", "Switch Z"]).await;
    let (beta, _, beta_token) = registered_vendor(
        &api,
        &coordinator,
        "Beta Systems",
        &["Router X Firmware Kit", "Beta Cam"],
    )
    .await;
    let (_gamma, _, gamma_token) =
        registered_vendor(&api, &coordinator, "Gamma", &["Gamma Phone"]).await;
    let (s, reg) = api.get(Some(&acme_token), "/api/v1/vendors/me").await;
    assert_eq!(
        (s, reg["state"].as_str(), reg["terms_version"].as_str()),
        (200, Some("registered"), Some("2026-04")),
        "{reg}"
    );
    assert_eq!(
        api.get(Some(&acme_token), &format!("/api/v1/vendors/{beta}"))
            .await
            .0,
        403,
        "vendors read only their own entry"
    );
    // A vendor keeps its own entry up to date; each change is logged as its user's.
    let (s, p) = api
        .post(
            Some(&acme_token),
            "/api/v1/vendors/me/products",
            json!({
            "name": "Router X Pro", "cpe": "cpe:2.3:h:acme:router_x_pro:*:*:*:*:*:*:*:*"}),
        )
        .await;
    assert_eq!(s, 201, "{p}");
    let (s, c) = api
        .post(
            Some(&acme_token),
            "/api/v1/vendors/me/contacts",
            json!({
            "name": "PSIRT night desk", "email": "night@acme.example"}),
        )
        .await;
    assert_eq!(s, 201, "{c}");
    let (_, me) = api.get(Some(&acme_token), "/api/v1/vendors/me").await;
    assert!(
        me["products"]
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p["name"] == "Router X Pro"),
        "{me}"
    );
    let by_vendor: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM audit_log WHERE action IN ('vendor.product_add', 'vendor.contact_add') AND object_id = $1 AND actor LIKE 'user-%'",
    )
    .bind(acme.to_string())
    .fetch_one(srv.store.pool())
    .await
    .unwrap();
    assert_eq!(by_vendor, 2);
    let (s, _) = api
        .post(
            Some(&constituent),
            "/api/v1/vendors/me/products",
            json!({"name": "Not mine"}),
        )
        .await;
    assert_eq!(s, 404, "only a vendor's own entry");

    // A finder reports; a bad vector is refused with a message naming the field.
    let report = json!({
        "title": "Stored XSS in Router X admin page",
        "description": "The device name is echoed without escaping on the Router X admin page; Beta Cam embeds the same web UI.",
        "affected": "Router X 2.0 and earlier",
        "cvss_vector": "CVSS:3.1/AV:N/AC:L/PR:N/UI:R/S:C/C:L/I:L",
        "cwe": "CWE-79",
        "credit": "Hanako Yamada",
        "reporter_name": "Hanako Yamada",
        "reporter_email": "hanako@finder.example",
    });
    let (s, e) = api.post(None, "/api/v1/cases", report.clone()).await;
    assert_eq!(
        (s, e["error"]["code"].as_str()),
        (422, Some("invalid_input")),
        "{e}"
    );
    assert!(
        e["error"]["message"]
            .as_str()
            .unwrap()
            .contains("cvss_vector: CVSS v3.1: missing base metrics: A"),
        "{e}"
    );
    let mut report = report;
    report["cvss_vector"] = json!("CVSS:3.1/AV:N/AC:L/PR:N/UI:R/S:C/C:L/I:L/A:N");
    let (s, created) = api.post(None, "/api/v1/cases", report).await;
    assert_eq!(s, 201, "{created}");
    let key = created["case"].as_str().unwrap().to_string();
    assert!(key.starts_with("CASE-"), "{key}");
    assert!(
        created["status_url"]
            .as_str()
            .is_some_and(|u| u.contains("/vulnerabilities/status/s-")),
        "the finder gets a status page: {created}"
    );

    // Vendors whose products the case names are suggested; the coordinator adds them.
    let (_, suggested) = api
        .get(
            Some(&coordinator),
            &format!("/api/v1/cases/{key}/suggestions"),
        )
        .await;
    let names: Vec<&str> = suggested
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["name"].as_str().unwrap())
        .collect();
    assert!(
        names.contains(&"Acme") && names.contains(&"Beta Systems") && !names.contains(&"Gamma"),
        "{suggested}"
    );
    for v in [acme, beta] {
        let (s, d) = api
            .post(
                Some(&coordinator),
                &format!("/api/v1/cases/{key}/vendors"),
                json!({"vendor_id": v}),
            )
            .await;
        assert_eq!(s, 201, "{d}");
    }
    let mails: i64 =
        sqlx::query_scalar("SELECT COUNT(*) FROM outbox WHERE kind = 'case.vendor_notification'")
            .fetch_one(srv.store.pool())
            .await
            .unwrap();
    assert_eq!(mails, 0, "no mail.from configured: nothing queued");
    let (s, patch) = api
        .call(reqwest::Method::PATCH, Some(&coordinator), &format!("/api/v1/cases/{key}"), Some(json!({
            "cve": "CVE-2026-12345",
            "note_text": {"ja": {"title": "Router X における格納型クロスサイトスクリプティングの脆弱性", "solution": "最新版へアップデートしてください"},
                          "en": {"solution": "Update to the latest version."}},
            "references": ["https://acme.example/security/2026-01"],
            "control_systems": true,
        })))
        .await;
    assert_eq!(s, 200, "{patch}");
    // CERT/CC takes part, with its own tracking ID.
    let certcc = srv.org("CERT/CC", renkei_core::orgs::OrgKind::Csirt).await;
    let (s, d) = api
        .post(
            Some(&coordinator),
            &format!("/api/v1/cases/{key}/partners"),
            json!({"org_id": certcc, "tracking_id": "VU#123456"}),
        )
        .await;
    assert_eq!(
        (s, d["partners"][0]["tracking_id"].as_str()),
        (201, Some("VU#123456")),
        "{d}"
    );
    // Before any note, the case goes to a partner as a CSAF draft marked with its
    // TLP; a partner's draft comes back in through the import.
    let (s, draft) = api
        .get(
            Some(&coordinator),
            &format!("/api/v1/cases/{key}/export?format=csaf"),
        )
        .await;
    assert_eq!(s, 200, "{draft}");
    assert_eq!(draft["document"]["tracking"]["status"], "draft", "{draft}");
    assert_eq!(draft["document"]["tracking"]["id"], key.as_str());
    assert_eq!(draft["document"]["distribution"]["tlp"]["label"], "AMBER");
    assert_eq!(renkei_formats::csaf::validate(&draft), Vec::<String>::new());
    if let Some(result) = validators::csaf(&draft) {
        result.unwrap_or_else(|report| {
            panic!("the BSI validator rejects the draft:\n{report}\n{draft:#}")
        });
    }
    let r = api
        .http
        .post(srv.url("/api/v1/cases/import?format=csaf"))
        .bearer_auth(&coordinator)
        .body(draft.to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201, "a partner's draft is read as a case");

    // Before acknowledging, a vendor reads the summary and nothing else opens.
    let (s, summary) = api
        .get(Some(&acme_token), &format!("/api/v1/cases/{key}"))
        .await;
    assert_eq!(
        (s, summary["view"].as_str()),
        (200, Some("vendor_summary")),
        "{summary}"
    );
    assert_eq!(summary["case"]["description"], "", "{summary}");
    assert_eq!(
        summary["case"]["title"],
        "Stored XSS in Router X admin page"
    );
    let (s, e) = api
        .get(Some(&acme_token), &format!("/api/v1/cases/{key}/messages"))
        .await;
    assert_eq!(
        (s, e["error"]["code"].as_str()),
        (403, Some("acknowledgement_required")),
        "{e}"
    );
    for t in [&acme_token, &beta_token] {
        let (s, d) = api
            .post(
                Some(t),
                &format!("/api/v1/cases/{key}/acknowledge"),
                json!({}),
            )
            .await;
        assert_eq!((s, d["view"].as_str()), (200, Some("vendor")), "{d}");
    }

    // Each vendor sees the shared text and its own entry only; nobody else sees a thing.
    let (s, seen) = api
        .get(Some(&acme_token), &format!("/api/v1/cases/{key}"))
        .await;
    assert_eq!(s, 200, "{seen}");
    assert_eq!(seen["view"], "vendor");
    assert_eq!(seen["vendors"].as_array().unwrap().len(), 1);
    assert_eq!(seen["vendors"][0]["name"], "Acme");
    assert!(
        seen["case"].get("reporter").is_none(),
        "the finder's address is the coordinators' only: {seen}"
    );
    assert_eq!(seen["vendors"][0]["products"][0]["name"], "Router X");
    let (_, team) = api
        .get(Some(&coordinator), &format!("/api/v1/cases/{key}"))
        .await;
    assert_eq!(team["vendors"].as_array().unwrap().len(), 2);
    assert_eq!(team["case"]["cvss"]["score"], 6.1);
    let nonexistent = "CASE-2099-9999";
    for who in [&gamma_token, &constituent] {
        let real = api.get(Some(who), &format!("/api/v1/cases/{key}")).await;
        let fake = api
            .get(Some(who), &format!("/api/v1/cases/{nonexistent}"))
            .await;
        assert_eq!(real.0, 404);
        assert_eq!(
            real, fake,
            "an existing case must look exactly like a missing one"
        );
    }
    let (_, gamma_list) = api.get(Some(&gamma_token), "/api/v1/cases").await;
    assert_eq!(gamma_list, json!([]));

    // Statuses, statements, the thread.
    let (s, r) = api
        .post(Some(&acme_token), &format!("/api/v1/cases/{key}/status"), json!({
            "stage": "fix_ready", "statement_en": "Fixed in firmware 2.1.", "statement_ja": "ファームウェア 2.1 で修正しました。",
            "products": [{"name": "Router X", "status": "vulnerable", "fixed_in": "2.1"}],
        }))
        .await;
    assert_eq!(s, 200, "{r}");
    let (s, r) = api
        .post(Some(&beta_token), &format!("/api/v1/cases/{key}/status"), json!({
            "stage": "investigating", "products": [{"name": "Beta Cam", "status": "not_vulnerable"}, {"name": "Router X Firmware Kit", "status": "bogus"}],
        }))
        .await;
    assert_eq!(s, 422, "{r}");
    let (s, _) = api
        .post(Some(&beta_token), &format!("/api/v1/cases/{key}/status"), json!({
            "stage": "investigating", "products": [{"name": "Beta Cam", "status": "not_vulnerable"}, {"name": "Router X Firmware Kit", "status": "investigating_likely_not_vulnerable"}],
        }))
        .await;
    assert_eq!(s, 200);
    api.post(
        Some(&acme_token),
        &format!("/api/v1/cases/{key}/messages"),
        json!({"body": "Patch ready next week."}),
    )
    .await;
    api.post(
        Some(&coordinator),
        &format!("/api/v1/cases/{key}/messages"),
        json!({"body": "Internal: Beta is slow."}),
    )
    .await;
    let (_, beta_thread) = api
        .get(Some(&beta_token), &format!("/api/v1/cases/{key}/messages"))
        .await;
    assert_eq!(
        beta_thread,
        json!([]),
        "Beta sees neither Acme's thread nor internal notes"
    );
    let (_, acme_thread) = api
        .get(Some(&acme_token), &format!("/api/v1/cases/{key}/messages"))
        .await;
    assert_eq!(acme_thread.as_array().unwrap().len(), 1);
    assert_eq!(
        api.post(
            Some(&acme_token),
            &format!("/api/v1/cases/{key}/date"),
            json!({"publish_at": "2030-01-01T10:00:00+09:00"})
        )
        .await
        .0,
        403,
        "vendors do not set the date"
    );

    // One date for all: publication is refused until everyone agreed.
    let at = (srv.clock.now() + chrono::Duration::days(10))
        .with_timezone(&chrono::FixedOffset::east_opt(9 * 3600).unwrap());
    let (s, r) = api
        .post(
            Some(&coordinator),
            &format!("/api/v1/cases/{key}/date"),
            json!({"publish_at": at.to_rfc3339(), "tz": "Asia/Tokyo"}),
        )
        .await;
    assert_eq!(s, 200, "{r}");
    api.post(
        Some(&acme_token),
        &format!("/api/v1/cases/{key}/date/answer"),
        json!({"accept": true}),
    )
    .await;
    let (s, r) = api
        .post(Some(&beta_token), &format!("/api/v1/cases/{key}/date/answer"), json!({"accept": false, "requested_date": (at + chrono::Duration::days(7)).to_rfc3339(), "reason": "QA"}))
        .await;
    assert_eq!(s, 200, "{r}");
    let (s, r) = api
        .post(
            Some(&coordinator),
            &format!("/api/v1/cases/{key}/publication"),
            json!({}),
        )
        .await;
    assert_eq!(s, 409, "{r}");
    assert!(
        r["error"]["message"]
            .as_str()
            .unwrap()
            .contains("Beta Systems"),
        "{r}"
    );
    let (_, team) = api
        .get(Some(&coordinator), &format!("/api/v1/cases/{key}"))
        .await;
    let answers: Vec<(&str, &str)> = team["vendors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| {
            (
                v["name"].as_str().unwrap(),
                v["date_answer"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        answers,
        vec![("Acme", "accepted"), ("Beta Systems", "requested")]
    );
    api.post(
        Some(&beta_token),
        &format!("/api/v1/cases/{key}/date/answer"),
        json!({"accept": true}),
    )
    .await;
    let (s, scheduled) = api
        .post(
            Some(&coordinator),
            &format!("/api/v1/cases/{key}/publication"),
            json!({}),
        )
        .await;
    assert_eq!(s, 200, "{scheduled}");
    let note = scheduled["case"]["note"]["key"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(note.starts_with("JVN#") && note.len() == 12, "{note}");
    assert_eq!(scheduled["case"]["note"]["published"], false);

    // Before the moment: nothing public, by any route.
    let public_paths = |note: &str| {
        vec![
            format!("/api/v1/notes/{}", enc(note)),
            format!("/api/v1/notes/{}?format=csaf", enc(note)),
            format!("/api/v1/notes/{}?format=cve5", enc(note)),
            format!("/api/v1/notes/{}?format=jvnrss", enc(note)),
        ]
    };
    for p in public_paths(&note) {
        assert_eq!(api.get(None, &p).await.0, 404, "{p} before publication");
        assert_eq!(
            api.get(Some(&gamma_token), &p).await.0,
            404,
            "{p} before publication"
        );
    }
    let (_, listed) = api.get(None, "/api/v1/notes").await;
    assert_eq!(listed, json!([]));
    for p in [
        "/feeds/vulnerabilities.atom",
        "/.well-known/csaf/white/index.txt",
        "/.well-known/csaf/white/changes.csv",
        "/.well-known/csaf/white/feed-tlp-white.json",
    ] {
        let (_, body) = api.get(None, p).await;
        assert!(
            !body.to_string().contains(&note[4..]),
            "{p} shows the note early: {body}"
        );
    }
    // A status recorded after scheduling still makes it into the note.
    api.post(
        Some(&beta_token),
        &format!("/api/v1/cases/{key}/status"),
        json!({"statement_en": "Beta Cam is not affected."}),
    )
    .await;
    srv.clock.advance(10 * 86_400 - 120);
    assert_eq!(
        api.get(None, &public_paths(&note)[0]).await.0,
        404,
        "two minutes early is still early"
    );

    // At the moment: the note and every vendor's status, everywhere at once.
    srv.clock.advance(180);
    let (s, public) = api.get(None, &public_paths(&note)[0]).await;
    assert_eq!(s, 200, "{public}");
    let vendors = public["content"]["vendors"].as_array().unwrap();
    assert_eq!(vendors.len(), 2);
    assert_eq!(vendors[1]["statement"]["en"], "Beta Cam is not affected.");
    assert_eq!(
        public["content"]["title"]["ja"],
        "Router X における格納型クロスサイトスクリプティングの脆弱性"
    );
    assert_eq!(
        public["content"]["title"]["en"],
        "Stored XSS in Router X admin page"
    );
    let (_, team) = api
        .get(Some(&coordinator), &format!("/api/v1/cases/{key}"))
        .await;
    assert!(
        team["vendors"]
            .as_array()
            .unwrap()
            .iter()
            .all(|v| v["stage"] == "published"),
        "{team}"
    );
    let (_, atom) = api.get(None, "/feeds/vulnerabilities.atom").await;
    assert!(atom.as_str().unwrap().contains(&enc(&note)), "{atom}");
    let (_, index) = api.get(None, "/.well-known/csaf/white/index.txt").await;
    let path = index.as_str().unwrap().lines().next().unwrap().to_string();
    assert!(
        path.ends_with(&format!("jvn_{}.json", &note[4..])),
        "{path}"
    );
    let (s, meta) = api
        .get(None, "/.well-known/csaf/provider-metadata.json")
        .await;
    assert_eq!((s, meta["role"].as_str()), (200, Some("csaf_provider")));
    assert_eq!(
        renkei_formats::csaf::validate_provider_metadata(&meta),
        Vec::<String>::new(),
        "{meta}"
    );
    assert!(
        !renkei_formats::csaf::validate_provider_metadata(&json!({"role": "csaf_provider"}))
            .is_empty()
    );
    let (s, advisory) = api
        .get(None, &format!("/.well-known/csaf/white/{path}"))
        .await;
    assert_eq!(s, 200, "{advisory}");
    let (_, sha) = api
        .get(None, &format!("/.well-known/csaf/white/{path}.sha256"))
        .await;
    assert_eq!(
        sha.as_str()
            .unwrap()
            .split_whitespace()
            .next()
            .unwrap()
            .len(),
        64
    );
    assert_eq!(
        renkei_formats::csaf::validate(&advisory),
        Vec::<String>::new()
    );
    if let Some(result) = validators::csaf(&advisory) {
        result.unwrap_or_else(|report| {
            panic!("the BSI validator rejects the advisory:\n{report}\n{advisory:#}")
        });
    }
    let status = &advisory["vulnerabilities"][0]["product_status"];
    assert_eq!(
        status["known_affected"].as_array().unwrap().len(),
        1,
        "{status}"
    );
    assert_eq!(status["fixed"].as_array().unwrap().len(), 1, "{status}");
    assert_eq!(
        status["known_not_affected"].as_array().unwrap().len(),
        1,
        "{status}"
    );
    assert_eq!(
        status["under_investigation"].as_array().unwrap().len(),
        1,
        "{status}"
    );
    assert_eq!(
        advisory["vulnerabilities"][0]["scores"][0]["cvss_v3"]["baseScore"],
        6.1
    );
    let (s, cve) = api.get(None, &public_paths(&note)[2]).await;
    assert_eq!(s, 200, "{cve}");
    assert_eq!(cve["cveMetadata"]["cveId"], "CVE-2026-12345");
    if let Some(result) = validators::cve5(&cve) {
        result.unwrap_or_else(|report| {
            panic!("the CVE schema rejects the record:\n{report}\n{cve:#}")
        });
    }
    let (s, rss) = api.get(None, &public_paths(&note)[3]).await;
    assert_eq!(s, 200);
    assert!(
        rss.as_str()
            .unwrap()
            .contains(&format!("<sec:identifier>{note}</sec:identifier>")),
        "{rss}"
    );

    // An update is a new revision; product IDs stay.
    let (s, revised) = api
        .post(
            Some(&coordinator),
            &format!("/api/v1/cases/{key}/revisions"),
            json!({"summary": "Added Beta's statement in Japanese"}),
        )
        .await;
    assert_eq!(s, 201, "{revised}");
    assert_eq!(revised["revisions"].as_array().unwrap().len(), 2);
    let (_, again) = api.get(None, &public_paths(&note)[1]).await;
    assert_eq!(again["document"]["tracking"]["version"], "2");
    let ids = |doc: &Value| {
        let mut v: Vec<String> =
            serde_json::to_string(&doc["vulnerabilities"][0]["product_status"])
                .unwrap()
                .split('"')
                .filter(|s| s.starts_with("CSAFPID-"))
                .map(str::to_string)
                .collect();
        v.sort();
        v
    };
    assert_eq!(ids(&advisory), ids(&again));
    if let Some(result) = validators::csaf(&again) {
        result.unwrap_or_else(|report| panic!("revision 2 fails:\n{report}"));
    }

    // Every read of the case was logged.
    let reads: i64 =
        sqlx::query_scalar("SELECT COUNT(*) FROM audit_log WHERE action = 'case.read'")
            .fetch_one(srv.store.pool())
            .await
            .unwrap();
    assert!(reads >= 4, "{reads}");

    // Statistics count the note in its quarter.
    let year = chrono::Datelike::year(&chrono::Utc::now());
    let (s, st) = api
        .get(
            Some(&coordinator),
            &format!(
                "/api/v1/statistics/vulnerabilities?from={}-01-01&to={}-01-01",
                year - 4,
                year + 4
            ),
        )
        .await;
    assert_eq!(s, 200, "{st}");
    assert_eq!(st["published"][0]["count"], 1, "{st}");
    assert_eq!(st["vendors_registered_total"], 3);
    assert_eq!(st["within_45_days"], 1.0);
    assert_eq!(st["control_systems"], 1, "{st}");
    assert_eq!(
        (
            st["per_partner"].as_array().map(Vec::len),
            &st["per_partner"][0]["partner"],
            &st["per_partner"][0]["count"],
        ),
        (Some(1), &json!("CERT/CC"), &json!(1)),
        "{st}"
    );
    assert!(
        st["per_partner"][0]["prefix"]
            .as_str()
            .is_some_and(|p| p.starts_with("JVN")),
        "notes per partner name their series: {st}"
    );
    // Two came in, the finder's report and a partner's advisory imported as a case;
    // the first concerns control systems.
    assert_eq!(
        (&st["received"], &st["control_system_cases"]),
        (&json!(2), &json!(1)),
        "the reports received in the period are counted: {st}"
    );
    assert_eq!(st["days_to_publication"], json!([1, 0, 0, 0]), "{st}");
    assert_eq!(
        (st["cwe"][0]["cwe"].as_str(), st["cwe"][0]["count"].as_i64()),
        (Some("CWE-79"), Some(1)),
        "{st}"
    );
}

mod mail {
    use super::*;
    use renkei_testkit::Backend;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn vendors_are_told_without_details_or_with_them_encrypted_and_silence_is_flagged() {
        for backend in [Backend::Sqlite, Backend::Postgres] {
            if backend == Backend::Postgres && !renkei_testkit::postgres_configured() {
                continue;
            }
            let srv = TestServer::start_with(backend, |c| {
                c.mail.from = "Example CSIRT <csirt@csirt.example>".into()
            })
            .await;
            mail_and_deadlines(&srv).await;
        }
    }
}

both_backends! {
    async fn a_finder_who_reports_signed_in_follows_the_report_from_their_account(srv) {
        finder_with_an_account(&srv).await;
    }

    async fn the_pages_take_a_finder_a_coordinator_and_a_vendor_through_to_the_public_note(srv) {
        pages_flow(&srv).await;
    }

    async fn a_case_goes_from_report_to_a_public_note_at_the_agreed_moment_and_not_before(srv) {
        coordination_end_to_end(&srv).await;
    }

    async fn an_invalid_partner_advisory_is_refused_with_its_problems_by_json_path_and_mandatory_test(srv) {
        let api = Api { srv: &srv, http: reqwest::Client::new() };
        let coordinator = srv.token(&srv.user(Role::Coordinator).await).await;
        let bad = json!({"document": {"category": "csaf_security_advisory", "csaf_version": "2.0", "title": 5}});
        let r = api.http.post(srv.url("/api/v1/cases/import?format=csaf")).bearer_auth(&coordinator).body(bad.to_string()).send().await.unwrap();
        assert_eq!(r.status(), 422);
        let e: Value = r.json().await.unwrap();
        assert_eq!(e["error"]["code"], "invalid_document");
        let details: Vec<&str> = e["error"]["details"].as_array().unwrap().iter().map(|d| d.as_str().unwrap()).collect();
        assert!(details.contains(&"document.title: expected string, found number"), "{details:?}");
        assert!(details.contains(&"document.publisher: required field missing"), "{details:?}");
        let cases: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM cases").fetch_one(srv.store.pool()).await.unwrap();
        assert_eq!(cases, 0, "nothing is created from an invalid document");

        let sample = include_str!("../../../formats/tests/data/csaf/bsi-2022-0001.json");
        let r = api.http.post(srv.url("/api/v1/cases/import?format=csaf")).bearer_auth(&coordinator).body(sample).send().await.unwrap();
        let status = r.status().as_u16();
        let out: Value = r.json().await.unwrap();
        assert_eq!(status, 201, "{out}");
        let (_, case) = api.get(Some(&coordinator), &format!("/api/v1/cases/{}", out["case"].as_str().unwrap())).await;
        assert_eq!((case["case"]["source"].as_str(), case["case"]["series"].as_str(), case["case"]["state"].as_str()), (Some("csaf"), Some("overseas"), Some("draft")), "{case}");
        assert!(!case["case"]["affected"].as_str().unwrap().is_empty(), "{case}");
        assert_eq!(case["vulnerabilities"].as_array().map(Vec::len), Some(1), "{case}");

        // Several vulnerabilities become one case that keeps each, with every CVSS
        // version it was scored in.
        let mut several: Value = serde_json::from_str(sample).unwrap();
        let mut second = several["vulnerabilities"][0].clone();
        second["cve"] = json!("CVE-2022-99999");
        let product = second["scores"][0]["products"][0].clone();
        second["scores"] = json!([{"products": [product],
            "cvss_v2": {"version": "2.0", "vectorString": "AV:N/AC:L/Au:N/C:P/I:P/A:P", "baseScore": 7.5},
            "cvss_v3": {"version": "3.0", "vectorString": "CVSS:3.0/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H", "baseScore": 9.8, "baseSeverity": "CRITICAL"}}]);
        several["vulnerabilities"].as_array_mut().unwrap().push(second);
        several["document"]["tracking"]["id"] = json!("BSI-2022-0001-SEVERAL");
        let r = api.http.post(srv.url("/api/v1/cases/import?format=csaf")).bearer_auth(&coordinator).body(several.to_string()).send().await.unwrap();
        let out: Value = r.json().await.unwrap();
        let key = out["case"].as_str().unwrap_or_else(|| panic!("{out}")).to_string();
        let (_, case) = api.get(Some(&coordinator), &format!("/api/v1/cases/{key}")).await;
        let vulns = case["vulnerabilities"].as_array().unwrap();
        assert_eq!(vulns.len(), 2, "{case}");
        assert_eq!(case["case"]["cve"], "CVE-2022-27193", "the case records the first");
        let versions: Vec<&str> = vulns[1]["scores"].as_array().unwrap().iter().map(|s| s["version"].as_str().unwrap()).collect();
        assert_eq!((vulns[1]["cve"].as_str(), versions), (Some("CVE-2022-99999"), vec!["2.0", "3.0"]));
        let page = api.http.get(srv.url(&format!("/cases/{key}"))).bearer_auth(&coordinator).send().await.unwrap().text().await.unwrap();
        assert!(page.contains("CVE-2022-99999") && page.contains("CVSS:3.0/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"), "the case page lists each vulnerability");

        // A document that breaks a mandatory test is refused with the test's number
        // and the JSON pointer, and nothing is created.
        let before: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM cases").fetch_one(srv.store.pool()).await.unwrap();
        let mut contradicting: Value = serde_json::from_str(sample).unwrap();
        contradicting["vulnerabilities"][0]["product_status"]["known_not_affected"] = json!(["CSAFPID-0001"]);
        let r = api.http.post(srv.url("/api/v1/cases/import?format=csaf")).bearer_auth(&coordinator).body(contradicting.to_string()).send().await.unwrap();
        assert_eq!(r.status(), 422);
        let e: Value = r.json().await.unwrap();
        let details: Vec<&str> = e["error"]["details"].as_array().unwrap().iter().map(|d| d.as_str().unwrap()).collect();
        assert!(details.iter().any(|d| d.starts_with("6.1.6 /vulnerabilities/0/product_status/known_not_affected/0: product CSAFPID-0001 is both affected and not affected")), "{details:?}");
        let after: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM cases").fetch_one(srv.store.pool()).await.unwrap();
        assert_eq!(before, after);

        let cve = json!({"dataType": "CVE_RECORD", "dataVersion": "5.1", "cveMetadata": {"cveId": "CVE-2026-0042", "assignerOrgId": "2f1d5f80-6f0e-4c53-8b0f-1d9e0a7c3b11", "state": "PUBLISHED"},
            "containers": {"cna": {"providerMetadata": {"orgId": "2f1d5f80-6f0e-4c53-8b0f-1d9e0a7c3b11"}, "title": "Overflow in Widget",
                "descriptions": [{"lang": "en", "value": "A buffer overflow in Widget 1.0."}],
                "affected": [{"vendor": "Widgets Inc", "product": "Widget", "defaultStatus": "affected"}],
                "references": [{"url": "https://widgets.example/sec"}]}}});
        let r = api.http.post(srv.url("/api/v1/cases/import?format=cve5")).bearer_auth(&coordinator).body(cve.to_string()).send().await.unwrap();
        assert_eq!(r.status(), 201);
        let r = api.http.post(srv.url("/api/v1/cases/import?format=cve5")).bearer_auth(&coordinator).body(r#"{"dataType":"CVE_RECORD","containers":{"cna":{}}}"#).send().await.unwrap();
        let e: Value = r.json().await.unwrap();
        assert!(e["error"]["details"].as_array().unwrap().iter().any(|d| d == "containers.cna.affected: needs at least 1 items"), "{e}");
    }
}

/// Vendors hear of a case by mail: without details and with the portal's address, or
/// — for vendors that work by mail — with the details, encrypted to their key. Those
/// that stay silent are flagged as the deadlines pass.
async fn mail_and_deadlines(srv: &TestServer) {
    let api = Api {
        srv,
        http: reqwest::Client::new(),
    };
    let coordinator = srv.token(&srv.user(Role::Coordinator).await).await;
    let (secret, public) = renkei_mail::pgp::generate("Acme PSIRT <psirt@acme.example>").unwrap();
    let (s, v) = api
        .post(
            None,
            "/api/v1/vendors/apply",
            json!({"company": "Acme", "name": "PSIRT", "email": "psirt@acme.example",
            "pgp_key": public, "products": ["Router X"], "languages": ["en"], "by_mail": true}),
        )
        .await;
    assert_eq!(s, 201, "{v}");
    let acme = v["id"].as_i64().unwrap();
    let (_, detail) = api
        .get(Some(&coordinator), &format!("/api/v1/vendors/{acme}"))
        .await;
    assert_eq!(detail["contacts"][0]["key_status"], "valid", "{detail}");
    assert_eq!(
        detail["contacts"][0]["key_fingerprint"]
            .as_str()
            .unwrap()
            .len(),
        40
    );
    let (s, bad) = api
        .post(None, "/api/v1/vendors/apply", json!({"company": "Broken Key Inc", "name": "x", "email": "x@broken.example", "pgp_key": "-----BEGIN PGP PUBLIC KEY BLOCK-----\nnope"}))
        .await;
    assert_eq!(
        (s, bad["error"]["code"].as_str()),
        (422, Some("invalid_input")),
        "{bad}"
    );
    let (_, beta_v) = api.post(None, "/api/v1/vendors/apply", json!({"company": "Beta", "name": "PSIRT", "email": "psirt@beta.example", "products": ["Beta Cam"]})).await;
    let beta = beta_v["id"].as_i64().unwrap();
    let (_, created) = api
        .post(Some(&coordinator), "/api/v1/cases", json!({"title": "Secret flaw in Router X", "description": "The confidential details of the flaw."}))
        .await;
    let key = created["case"].as_str().unwrap().to_string();
    for v in [acme, beta] {
        let (s, r) = api
            .post(
                Some(&coordinator),
                &format!("/api/v1/cases/{key}/vendors"),
                json!({"vendor_id": v}),
            )
            .await;
        assert_eq!(s, 201, "{r}");
    }
    let rows: Vec<(String, Vec<u8>)> = sqlx::query_as(
        "SELECT rcpt_to, raw FROM outbox WHERE kind = 'case.vendor_notification' ORDER BY id",
    )
    .fetch_all(srv.store.pool())
    .await
    .unwrap();
    assert_eq!(rows.len(), 2);
    let acme_mail = String::from_utf8_lossy(&rows[0].1).to_string();
    assert_eq!(rows[0].0, "psirt@acme.example");
    assert!(
        acme_mail.contains("BEGIN PGP MESSAGE") && !acme_mail.contains("confidential details"),
        "{acme_mail}"
    );
    let armored = acme_mail
        .split("-----BEGIN PGP MESSAGE-----")
        .nth(1)
        .unwrap()
        .split("-----END PGP MESSAGE-----")
        .next()
        .unwrap();
    let plain = renkei_mail::pgp::decrypt(
        &secret,
        "",
        &format!("-----BEGIN PGP MESSAGE-----{armored}-----END PGP MESSAGE-----"),
    )
    .unwrap();
    let plain = String::from_utf8_lossy(&plain).to_string();
    assert!(
        plain.contains("Secret flaw in Router X") && !plain.contains("confidential details"),
        "the vendor that works by mail gets the summary first, encrypted: {plain}"
    );
    let beta_text = mail_parser::MessageParser::default()
        .parse(rows[1].1.as_slice())
        .unwrap()
        .body_text(0)
        .unwrap()
        .to_string();
    assert!(
        !beta_text.contains("confidential details")
            && !beta_text.contains("Secret flaw")
            && beta_text.contains(&format!("/cases/{key}")),
        "no key, no summary in the mail: only the portal's address: {beta_text}"
    );

    // Beta never answers; Acme acknowledges by phone, which the coordinator records,
    // and Acme, working by mail, then receives the details, encrypted.
    let (s, r) = api
        .post(
            Some(&coordinator),
            &format!("/api/v1/cases/{key}/acknowledge"),
            json!({"vendor_id": acme, "via": "phone"}),
        )
        .await;
    assert_eq!(s, 200, "{r}");
    let details: Vec<Vec<u8>> =
        sqlx::query_scalar("SELECT raw FROM outbox WHERE kind = 'case.vendor_details'")
            .fetch_all(srv.store.pool())
            .await
            .unwrap();
    assert_eq!(details.len(), 1);
    let text = String::from_utf8_lossy(&details[0]).to_string();
    assert!(!text.contains("confidential details"), "{text}");
    let armored = text
        .split("-----BEGIN PGP MESSAGE-----")
        .nth(1)
        .unwrap()
        .split("-----END PGP MESSAGE-----")
        .next()
        .unwrap();
    let plain = renkei_mail::pgp::decrypt(
        &secret,
        "",
        &format!("-----BEGIN PGP MESSAGE-----{armored}-----END PGP MESSAGE-----"),
    )
    .unwrap();
    assert!(
        String::from_utf8_lossy(&plain).contains("The confidential details of the flaw."),
        "the details follow the acknowledgement"
    );
    let flags = |d: &Value, id: i64| -> Vec<String> {
        d["vendors"]
            .as_array()
            .unwrap()
            .iter()
            .find(|v| v["vendor_id"] == id)
            .unwrap()["flags"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| f.as_str().unwrap().to_string())
            .collect()
    };
    let (_, d) = api
        .get(Some(&coordinator), &format!("/api/v1/cases/{key}"))
        .await;
    assert!(flags(&d, beta).is_empty());
    srv.clock.advance(8 * 86_400);
    let (_, d) = api
        .get(Some(&coordinator), &format!("/api/v1/cases/{key}"))
        .await;
    assert_eq!(flags(&d, beta), vec!["no_ack"]);
    assert!(flags(&d, acme).is_empty());
    srv.clock.advance(23 * 86_400);
    let (_, d) = api
        .get(Some(&coordinator), &format!("/api/v1/cases/{key}"))
        .await;
    assert_eq!(flags(&d, beta), vec!["no_ack", "silent"]);
    assert_eq!(flags(&d, acme), vec!["silent"]);
    api.post(
        Some(&coordinator),
        &format!("/api/v1/cases/{key}/status"),
        json!({"vendor_id": beta, "unreachable": true}),
    )
    .await;
    let (_, d) = api
        .get(Some(&coordinator), &format!("/api/v1/cases/{key}"))
        .await;
    assert!(flags(&d, beta).contains(&"unreachable".to_string()));
}

async fn pages_flow(srv: &TestServer) {
    let api = Api {
        srv,
        http: reqwest::Client::new(),
    };
    let coordinator_user = srv.user(Role::Coordinator).await;
    let coordinator = srv.token(&coordinator_user).await;
    let (acme, acme_user, _) = registered_vendor(&api, &coordinator, "Acme", &["Router X"]).await;
    let (_, gamma_user, _) = registered_vendor(&api, &coordinator, "Gamma", &["Gamma Phone"]).await;

    // A finder uses the public form.
    let anon = srv.client();
    let form = anon
        .get(srv.url("/vulnerabilities/report"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let csrf = renkei_testkit::csrf_from(&form).unwrap();
    let r = anon
        .post(srv.url("/vulnerabilities/report"))
        .form(&[
            ("_csrf", csrf.as_str()),
            ("title", "XSS in Router X"),
            ("description", "Echoed name."),
            ("cvss_vector", "CVSS:3.1/AV:N"),
            ("reporter_email", "f@finder.example"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 422);
    assert!(
        r.text().await.unwrap().contains("missing base metrics"),
        "the form says what is wrong"
    );
    let r = anon
        .post(srv.url("/vulnerabilities/report"))
        .form(&[
            ("_csrf", csrf.as_str()),
            ("title", "XSS in Router X"),
            ("description", "Echoed name."),
            ("reporter_email", "f@finder.example"),
        ])
        .send()
        .await
        .unwrap();
    let page = r.text().await.unwrap();
    let key = page
        .split("id=\"case-key\">")
        .nth(1)
        .unwrap()
        .split('<')
        .next()
        .unwrap()
        .to_string();
    // The finder's status page, linked once on the thanks page.
    let link = page
        .split("id=\"finder-link\" href=\"")
        .nth(1)
        .expect("the status link is shown")
        .split('"')
        .next()
        .unwrap()
        .to_string();
    let path = &link[link.find("/vulnerabilities/status/").unwrap()..];
    let finder_page = anon.get(srv.url(path)).send().await.unwrap();
    assert_eq!(finder_page.status(), 200);
    let finder_page = finder_page.text().await.unwrap();
    assert!(finder_page.contains(&key) && finder_page.contains("finder-standing"));
    let wrong = anon
        .get(srv.url("/vulnerabilities/status/s-wrong"))
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status(), 404);

    // The coordinator adds Acme from the case page.
    let coord = srv.signed_in(&coordinator_user).await;
    let page = coord
        .client
        .get(srv.url(&format!("/cases/{key}")))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(page.contains("★ Acme"), "Acme is suggested: {page}");
    let r = coord
        .client
        .post(srv.url(&format!("/cases/{key}/vendors")))
        .form(&[
            ("_csrf", coord.csrf.as_str()),
            ("vendor_id", &acme.to_string()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303);
    let r = coord
        .client
        .post(srv.url(&format!("/cases/{key}/date")))
        .form(&[
            ("_csrf", coord.csrf.as_str()),
            ("publish_at", "2001-01-01T00:00:00+09:00"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 422);
    assert!(r.text().await.unwrap().contains("must be in the future"));

    // Acme's user reads the summary, acknowledges, and records its status; Gamma's
    // gets a 404.
    let acme_web = srv.signed_in(&acme_user).await;
    let summary = acme_web
        .client
        .get(srv.url(&format!("/cases/{key}")))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        summary.contains("id=\"summary-only\"") && !summary.contains("Echoed name."),
        "{summary}"
    );
    let r = acme_web
        .client
        .post(srv.url(&format!("/cases/{key}/acknowledge")))
        .form(&[("_csrf", acme_web.csrf.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303);
    let page = acme_web
        .client
        .get(srv.url(&format!("/cases/{key}")))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        page.contains("Router X")
            && page.contains("Echoed name.")
            && !page.contains("add-vendor-form"),
        "{page}"
    );
    let product_id = page
        .split("name=\"status_")
        .nth(1)
        .unwrap()
        .split('"')
        .next()
        .unwrap()
        .to_string();
    let r = acme_web
        .client
        .post(srv.url(&format!("/cases/{key}/status")))
        .form(&[
            ("_csrf", acme_web.csrf.as_str()),
            ("stage", "fix_ready"),
            (&format!("status_{product_id}"), "vulnerable"),
            (&format!("fixed_{product_id}"), "2.1"),
            ("statement_ja", "修正済み"),
            ("statement_en", "Fixed"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303);
    let gamma_web = srv.signed_in(&gamma_user).await;
    for path in [format!("/cases/{key}"), "/cases/CASE-2099-0001".to_string()] {
        let r = gamma_web.client.get(srv.url(&path)).send().await.unwrap();
        assert_eq!(r.status(), 404, "{path}");
    }
    let r = gamma_web
        .client
        .post(srv.url(&format!("/cases/{key}/messages")))
        .form(&[("_csrf", gamma_web.csrf.as_str()), ("body", "hi")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);

    // Date, agreement, schedule; the note page appears at the moment.
    let at = (srv.clock.now() + chrono::Duration::days(3)).to_rfc3339();
    coord
        .client
        .post(srv.url(&format!("/cases/{key}/date")))
        .form(&[("_csrf", coord.csrf.as_str()), ("publish_at", at.as_str())])
        .send()
        .await
        .unwrap();
    let r = acme_web
        .client
        .post(srv.url(&format!("/cases/{key}/date/answer")))
        .form(&[("_csrf", acme_web.csrf.as_str()), ("accept", "yes")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303);
    let r = coord
        .client
        .post(srv.url(&format!("/cases/{key}/schedule")))
        .form(&[("_csrf", coord.csrf.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303);
    let page = coord
        .client
        .get(srv.url(&format!("/cases/{key}")))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let note = page
        .split("id=\"note-key\">")
        .nth(1)
        .unwrap()
        .split('<')
        .next()
        .unwrap()
        .to_string();
    let note_path = format!("/notes/{}", note.replace('#', "%23"));
    assert_eq!(
        anon.get(srv.url(&note_path)).send().await.unwrap().status(),
        404
    );
    srv.clock.advance(3 * 86_400 + 60);
    let page = anon
        .get(srv.url(&format!("{note_path}?lang=ja")))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        page.contains("該当製品あり") && page.contains("修正済み") && page.contains(&note),
        "{page}"
    );
    let page = anon
        .get(srv.url(&format!("{note_path}?lang=en")))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        page.contains("Vulnerable") && page.contains("Fixed"),
        "{page}"
    );
    let list = anon
        .get(srv.url("/notes"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        list.contains("rel=\"alternate\" type=\"application/atom+xml\"") && list.contains(&note),
        "{list}"
    );
}

/// A case with 150 vendors (VINCE's users report 10 s pages at 121), built through
/// the public API paths: each vendor applies and is registered, is added, reads the
/// summary, acknowledges, records two products' status and a statement, and writes
/// in its thread. Then the coordinator's case page and API read, and one vendor's
/// page, each requested 200 times: p50 and p99.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a benchmark: bench/case-page.sh runs it in release mode"]
async fn bench_a_case_with_150_vendors() {
    use renkei_testkit::Backend;
    use std::time::{Duration, Instant};
    let backend = match std::env::var("RENKEI_BENCH_BACKEND").as_deref() {
        Ok("postgres") => Backend::Postgres,
        _ => Backend::Sqlite,
    };
    println!("backend: {backend:?}");
    let srv = TestServer::start_with(backend, |c| {
        c.mail.from = "Example CSIRT <csirt@csirt.example>".into();
        // 150 applications from one address: the bench is not a flood.
        c.intake.form_reports_per_hour = 1000;
    })
    .await;
    let api = Api {
        srv: &srv,
        http: reqwest::Client::new(),
    };
    let coordinator_user = srv.user(Role::Coordinator).await;
    let coordinator = srv.token(&coordinator_user).await;
    let (_, created) = api
        .post(
            Some(&coordinator),
            "/api/v1/cases",
            json!({
            "title": "Memory corruption in a widely used TCP/IP stack",
            "description": "A crafted packet corrupts memory in the stack many products embed.",
            "cvss_vector": "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H", "cwe": "CWE-787"}),
        )
        .await;
    let key = created["case"].as_str().unwrap().to_string();
    let built = Instant::now();
    let mut first_vendor = None;
    for n in 0..150 {
        let company = format!("Vendor {n:03}");
        let products = [format!("Gateway {n:03}"), format!("Camera {n:03}")];
        let (id, user, token) = registered_vendor(
            &api,
            &coordinator,
            &company,
            &[products[0].as_str(), products[1].as_str()],
        )
        .await;
        let (s, r) = api
            .post(
                Some(&coordinator),
                &format!("/api/v1/cases/{key}/vendors"),
                json!({"vendor_id": id}),
            )
            .await;
        assert_eq!(s, 201, "{r}");
        let (s, _) = api.get(Some(&token), &format!("/api/v1/cases/{key}")).await;
        assert_eq!(s, 200);
        let (s, _) = api
            .post(
                Some(&token),
                &format!("/api/v1/cases/{key}/acknowledge"),
                json!({}),
            )
            .await;
        assert_eq!(s, 200);
        let (s, r) = api
            .post(
                Some(&token),
                &format!("/api/v1/cases/{key}/status"),
                json!({
                "stage": "investigating", "statement_en": format!("{company} is investigating."),
                "products": [{"name": products[0], "status": "vulnerable", "fixed_in": "2.1"},
                             {"name": products[1], "status": "not_vulnerable"}]}),
            )
            .await;
        assert_eq!(s, 200, "{r}");
        let (s, _) = api
            .post(
                Some(&token),
                &format!("/api/v1/cases/{key}/messages"),
                json!({"body": format!("{company}: we are looking into it.")}),
            )
            .await;
        assert_eq!(s, 201);
        if first_vendor.is_none() {
            first_vendor = Some(user);
        }
    }
    println!(
        "built 150 vendors in {:.1} s",
        built.elapsed().as_secs_f64()
    );
    let coord = srv.signed_in(&coordinator_user).await;
    let vendor = srv.signed_in(&first_vendor.unwrap()).await;
    let time = |label: &'static str,
                client: reqwest::Client,
                url: String,
                token: Option<String>| async move {
        let mut times = Vec::with_capacity(200);
        for i in 0..220 {
            let mut req = client.get(&url);
            if let Some(t) = &token {
                req = req.bearer_auth(t);
            }
            let start = Instant::now();
            let r = req.send().await.unwrap();
            assert_eq!(r.status(), 200, "{label}");
            let body = r.bytes().await.unwrap();
            let took = start.elapsed();
            assert!(!body.is_empty());
            if i >= 20 {
                times.push(took);
            }
        }
        times.sort();
        let ms = |d: Duration| d.as_secs_f64() * 1000.0;
        println!(
            "{label}: p50 {:.1} ms, p99 {:.1} ms over {} requests",
            ms(times[times.len() / 2]),
            ms(times[times.len() * 99 / 100]),
            times.len()
        );
    };
    time("healthz", reqwest::Client::new(), srv.url("/healthz"), None).await;
    time(
        "case page (coordinator, 150 vendors)",
        coord.client.clone(),
        srv.url(&format!("/cases/{key}")),
        None,
    )
    .await;
    time(
        "case API (coordinator, 150 vendors)",
        reqwest::Client::new(),
        srv.url(&format!("/api/v1/cases/{key}")),
        Some(coordinator.clone()),
    )
    .await;
    time(
        "case page (one vendor)",
        vendor.client.clone(),
        srv.url(&format!("/cases/{key}")),
        None,
    )
    .await;
}

/// Renkei as a CSAF trusted provider: each advisory is signed with the team's key
/// (GnuPG verifies the `.asc`), the key is listed in provider-metadata.json and
/// served where it says, the ROLIE feed lists every advisory with its hashes and
/// signature, and security.txt (RFC 9116) says how to reach the team.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_team_signs_its_csaf_advisories_lists_its_key_in_a_rolie_feed_and_in_security_txt() {
    let Some(gpg) = crate::conversations::Gpg::start() else {
        return;
    };
    let (team_secret, team_public) =
        renkei_mail::pgp::generate("Example CSIRT <csirt@csirt.example>").unwrap();
    let keys = tempfile::tempdir().unwrap();
    let key_file = keys.path().join("team.asc");
    std::fs::write(&key_file, &team_secret).unwrap();
    let srv = TestServer::start_with(renkei_testkit::Backend::Sqlite, |c| {
        c.mail.from = "Example CSIRT <csirt@csirt.example>".into();
        c.mail.signing_key_file = key_file.display().to_string();
        // Behind its reverse proxy, as a CSAF provider must be: the feed's links are
        // https.
        c.server.public_url = Some("https://csaf.csirt.example".into());
    })
    .await;
    let api = Api {
        srv: &srv,
        http: reqwest::Client::new(),
    };
    let coordinator = srv.token(&srv.user(Role::Coordinator).await).await;
    let (acme, _, acme_token) = registered_vendor(&api, &coordinator, "Acme", &["Router X"]).await;
    let (_, created) = api
        .post(
            Some(&coordinator),
            "/api/v1/cases",
            json!({"title": "XSS in Router X", "description": "Echoed name."}),
        )
        .await;
    let key = created["case"].as_str().unwrap().to_string();
    api.post(
        Some(&coordinator),
        &format!("/api/v1/cases/{key}/vendors"),
        json!({"vendor_id": acme}),
    )
    .await;
    api.post(
        Some(&acme_token),
        &format!("/api/v1/cases/{key}/acknowledge"),
        json!({}),
    )
    .await;
    let at = (srv.clock.now() + chrono::Duration::days(2)).to_rfc3339();
    api.post(
        Some(&coordinator),
        &format!("/api/v1/cases/{key}/date"),
        json!({"publish_at": at}),
    )
    .await;
    api.post(
        Some(&acme_token),
        &format!("/api/v1/cases/{key}/date/answer"),
        json!({"accept": true}),
    )
    .await;
    let (s, r) = api
        .post(
            Some(&coordinator),
            &format!("/api/v1/cases/{key}/publication"),
            json!({}),
        )
        .await;
    assert_eq!(s, 200, "{r}");
    srv.clock.advance(2 * 86_400 + 60);
    // Once out, the case reads as published, and dates are no longer proposed or
    // scheduled on its page.
    let page = |path: String| {
        let http = api.http.clone();
        let token = coordinator.clone();
        let url = srv.url(&path);
        async move {
            http.get(url)
                .bearer_auth(&token)
                .send()
                .await
                .unwrap()
                .text()
                .await
                .unwrap()
        }
    };
    let case_page = page(format!("/cases/{key}")).await;
    assert!(
        case_page.contains("Published"),
        "the case reads as published"
    );
    assert!(
        !case_page.contains("id=\"schedule-form\"") && !case_page.contains("id=\"propose-form\"")
    );
    let list = page("/cases".into()).await;
    assert!(
        list.contains("<td>Published</td>") && !list.contains("<td>scheduled</td>"),
        "states are words"
    );

    let (_, meta) = api
        .get(None, "/.well-known/csaf/provider-metadata.json")
        .await;
    assert_eq!(
        renkei_formats::csaf::validate_provider_metadata(&meta),
        Vec::<String>::new(),
        "{meta}"
    );
    let fingerprint = meta["public_openpgp_keys"][0]["fingerprint"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(fingerprint.len(), 40);
    let key_url = meta["public_openpgp_keys"][0]["url"].as_str().unwrap();
    let key_path = &key_url[key_url.find("/.well-known/").unwrap()..];
    let served_key = api
        .http
        .get(srv.url(key_path))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(served_key.contains("BEGIN PGP PUBLIC KEY BLOCK"));
    assert_eq!(
        renkei_mail::pgp::key_facts(&served_key)
            .unwrap()
            .fingerprint
            .to_ascii_uppercase(),
        renkei_mail::pgp::key_facts(&team_public)
            .unwrap()
            .fingerprint
            .to_ascii_uppercase()
    );

    let feed_url = meta["distributions"][0]["rolie"]["feeds"][0]["url"]
        .as_str()
        .unwrap();
    let (s, feed) = api
        .get(None, &feed_url[feed_url.find("/.well-known/").unwrap()..])
        .await;
    assert_eq!(s, 200, "{feed}");
    assert_eq!(
        renkei_formats::csaf::validate_rolie_feed(&feed),
        Vec::<String>::new(),
        "{feed}"
    );
    let entry = &feed["feed"]["entry"][0];
    let links: Vec<(&str, &str)> = entry["link"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| (l["rel"].as_str().unwrap(), l["href"].as_str().unwrap()))
        .collect();
    let href = |rel: &str| links.iter().find(|(r, _)| *r == rel).unwrap().1.to_string();
    let doc_url = href("self");
    assert!(doc_url.ends_with(".json"), "{links:?}");
    assert_eq!(href("signature"), format!("{doc_url}.asc"));
    assert_eq!(links.iter().filter(|(r, _)| *r == "hash").count(), 2);
    let path = |u: &str| u[u.find("/.well-known/").unwrap()..].to_string();
    let doc = api
        .http
        .get(srv.url(&path(&doc_url)))
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    let advisory: Value = serde_json::from_slice(&doc).unwrap();
    assert_eq!(advisory["document"]["tracking"]["status"], "final");
    if let Some(result) = validators::csaf(&advisory) {
        result.unwrap_or_else(|report| panic!("the BSI validator rejects it:\n{report}"));
    }
    let signature = api
        .http
        .get(srv.url(&path(&href("signature"))))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(signature.contains("BEGIN PGP SIGNATURE"), "{signature}");
    // GnuPG, with only the key provider-metadata.json points to, verifies it.
    gpg.run(&["--import"], served_key.as_bytes());
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("a.json"), &doc).unwrap();
    std::fs::write(dir.path().join("a.json.asc"), &signature).unwrap();
    gpg.run(
        &[
            "--verify",
            &dir.path().join("a.json.asc").display().to_string(),
            &dir.path().join("a.json").display().to_string(),
        ],
        b"",
    );

    let txt = api
        .http
        .get(srv.url("/.well-known/security.txt"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    for field in [
        "Contact: mailto:csirt@csirt.example",
        "Expires: ",
        "Encryption: ",
        "Preferred-Languages: ja, en",
        "Canonical: ",
        "CSAF: ",
    ] {
        assert!(txt.contains(field), "{field} missing:\n{txt}");
    }
    let expires = txt
        .lines()
        .find_map(|l| l.strip_prefix("Expires: "))
        .unwrap();
    let expires = chrono::DateTime::parse_from_rfc3339(expires).unwrap();
    let now = srv.clock.now();
    assert!(
        expires > now && expires < now + chrono::Duration::days(366),
        "RFC 9116: less than a year ahead"
    );
}

/// Registration with substance, over HTTP: each step refused until its record is
/// there (the documents each way, kept with their SHA-256; the meeting), then the
/// contact's account and welcome mail; the welcome link sets the password once and
/// signs the contact in to their own vendor entry.
async fn registration_and_welcome(srv: &TestServer) {
    let api = Api {
        srv,
        http: reqwest::Client::new(),
    };
    let coordinator_user = srv.user(Role::Coordinator).await;
    let coordinator = srv.token(&coordinator_user).await;
    let (s, v) = api
        .post(
            None,
            "/api/v1/vendors/apply",
            json!({
                "company": "Kumo Networks", "name": "Kumo PSIRT", "email": "psirt@kumo.example",
                "products": ["Kumo Gateway"], "languages": ["ja"],
            }),
        )
        .await;
    assert_eq!(s, 201, "{v}");
    let id = v["id"].as_i64().unwrap();
    let step = |state: &'static str| {
        let api = &api;
        let coordinator = coordinator.clone();
        async move {
            api.post(
                Some(&coordinator),
                &format!("/api/v1/vendors/{id}/state"),
                json!({"state": state, "terms_version": "2026-04"}),
            )
            .await
        }
    };
    let (s, e) = step("documents_sent").await;
    assert_eq!(
        (s, e["error"]["code"].as_str()),
        (409, Some("conflict")),
        "{e}"
    );
    assert!(
        e["error"]["message"]
            .as_str()
            .unwrap()
            .contains("documents sent"),
        "{e}"
    );
    let form = b"%PDF-1.4 Kumo registration form";
    let (s, doc) = api
        .post_bytes(
            &coordinator,
            &format!("/api/v1/vendors/{id}/documents?direction=sent&name=form.pdf"),
            form,
        )
        .await;
    assert_eq!(s, 201, "{doc}");
    let sha = {
        use sha2::Digest;
        hex::encode(sha2::Sha256::digest(form))
    };
    assert_eq!(doc["sha256"], sha.as_str());
    // The document comes back whole, as an attachment with its digest.
    let r = api
        .http
        .get(srv.url(&format!("/api/v1/vendors/{id}/documents/{}", doc["id"])))
        .bearer_auth(&coordinator)
        .send()
        .await
        .unwrap();
    assert_eq!(r.headers()["x-content-sha256"], sha.as_str());
    assert_eq!(r.headers()["content-type"], "application/octet-stream");
    assert_eq!(&r.bytes().await.unwrap()[..], form);
    assert_eq!(step("documents_sent").await.0, 200);
    api.post_bytes(
        &coordinator,
        &format!("/api/v1/vendors/{id}/documents?direction=returned&name=signed.pdf"),
        b"%PDF signed",
    )
    .await;
    assert_eq!(step("documents_returned").await.0, 200);
    assert_eq!(step("meeting_held").await.0, 409, "no meeting record yet");
    let (s, m) = api
        .post(Some(&coordinator), &format!("/api/v1/vendors/{id}/meetings"), json!({
            "held_on": "2026-04-10", "attendees": "Kumo PSIRT (2), coordinators (2)", "minutes": "Contacts and terms agreed.",
        }))
        .await;
    assert_eq!(s, 201, "{m}");
    assert_eq!(step("meeting_held").await.0, 200);
    api.post(
        Some(&coordinator),
        "/api/v1/vendor-terms",
        json!({"version": "2026-04", "body": "Keep it confidential."}),
    )
    .await;
    assert_eq!(step("terms_agreed").await.0, 200);
    let (s, done) = step("registered").await;
    assert_eq!(s, 200, "{done}");
    assert_eq!(done["welcomed"]["created"], json!(["psirt@kumo.example"]));
    let (_, detail) = api
        .get(Some(&coordinator), &format!("/api/v1/vendors/{id}"))
        .await;
    assert_eq!(detail["documents"].as_array().unwrap().len(), 2, "{detail}");
    assert_eq!(detail["meetings"][0]["held_on"], "2026-04-10");
    assert_eq!(detail["contacts"][0]["has_account"], true);
    // The coordinator's page shows each step's record in words.
    let signed = srv.signed_in(&coordinator_user).await;
    let page = signed
        .client
        .get(srv.url(&format!("/vendors/{id}")))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    for shown in [
        "Sent to the vendor",
        "Returned by the vendor",
        &sha[..16],
        "Contacts and terms agreed.",
        "has an account",
        "psirt@kumo.example",
    ] {
        assert!(page.contains(shown), "{shown} missing from the vendor page");
    }
    let applied = renkei_core::time::parse(v["applied_at"].as_str().unwrap()).unwrap();
    let jst = chrono::FixedOffset::east_opt(9 * 3600).unwrap();
    assert!(
        page.contains(
            &applied
                .with_timezone(&jst)
                .format("%Y-%m-%d %H:%M +09:00")
                .to_string()
        ),
        "times in the team's zone (JST by default) with the offset"
    );

    // The welcome mail, in the vendor's language, carries the one-time link.
    let body: String = sqlx::query_scalar(
        "SELECT body FROM outbox WHERE kind = 'vendor.welcome' AND rcpt_to = 'psirt@kumo.example'",
    )
    .fetch_one(srv.store.pool())
    .await
    .unwrap();
    assert!(body.contains("パスワード"), "{body}");
    let link = body
        .split_whitespace()
        .find(|w| w.contains("/account/welcome/"))
        .unwrap()
        .to_string();
    let path = &link[link.find("/account/welcome/").unwrap()..];
    let client = srv.client();
    let page = client.get(srv.url(path)).send().await.unwrap();
    assert_eq!(page.status(), 200);
    let page = page.text().await.unwrap();
    assert!(page.contains("psirt@kumo.example"));
    let csrf = renkei_testkit::csrf_from(&page).unwrap();
    let r = client
        .post(srv.url(path))
        .form(&[
            ("password", "kumo gateway psirt"),
            ("password_again", "something else!"),
            ("_csrf", &csrf),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 422);
    let r = client
        .post(srv.url(path))
        .form(&[
            ("password", "kumo gateway psirt"),
            ("password_again", "kumo gateway psirt"),
            ("_csrf", &csrf),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303);
    let me: Value = client
        .get(srv.url("/api/v1/vendors/me"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        me["name"], "Kumo Networks",
        "signed in as the vendor's own contact: {me}"
    );
    assert!(
        me["meetings"].as_array().unwrap().is_empty(),
        "the team's meeting record stays the team's"
    );
    let again = srv.client().get(srv.url(path)).send().await.unwrap();
    assert_eq!(again.status(), 404, "the link works once");
    // Registration documents are the team's: a vendor reaches none by the API.
    let (_, me_token) = {
        let user = renkei_core::accounts::find_user_by_email(&srv.store, "psirt@kumo.example")
            .await
            .unwrap()
            .unwrap();
        let t = renkei_core::accounts::create_token(
            &srv.store,
            &renkei_core::audit::Actor::system("test"),
            user.id,
            "t",
        )
        .await
        .unwrap();
        (user, t.1)
    };
    let r = api
        .http
        .get(srv.url(&format!("/api/v1/vendors/{id}/documents/{}", doc["id"])))
        .bearer_auth(&me_token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
}

/// A finder who reports while signed in lists the report in their account and opens
/// its status page from there; no one else can.
async fn finder_with_an_account(srv: &TestServer) {
    let researcher = srv.user(Role::Constituent).await;
    let signed = srv.signed_in(&researcher).await;
    let r = signed
        .client
        .post(srv.url("/api/v1/cases"))
        .header("x-csrf-token", &signed.csrf)
        .json(&json!({"title": "SQL injection in Kumo Gateway", "description": "The search box reaches the query.",
            "reporter_name": "Hanako", "reporter_email": "hanako@lab.example"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let created: Value = r.json().await.unwrap();
    let key = created["case"].as_str().unwrap().to_string();
    let mine: Value = signed
        .client
        .get(srv.url("/api/v1/vulnerabilities/mine"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        (mine[0]["case"].as_str(), mine[0]["standing"].as_str()),
        (Some(key.as_str()), Some("received")),
        "{mine}"
    );
    let page = signed
        .client
        .get(srv.url("/vulnerabilities/mine"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(page.contains(&key));
    let r = signed
        .client
        .post(srv.url(&format!("/vulnerabilities/mine/{key}/open")))
        .form(&[("_csrf", signed.csrf.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303);
    let to = r.headers()["location"].to_str().unwrap().to_string();
    assert!(to.starts_with("/vulnerabilities/status/s-"), "{to}");
    let status = signed.client.get(srv.url(&to)).send().await.unwrap();
    assert_eq!(status.status(), 200);
    assert!(
        status
            .text()
            .await
            .unwrap()
            .contains("SQL injection in Kumo Gateway")
    );
    // Another account sees no such report and cannot open it.
    let other = srv.user(Role::Constituent).await;
    let other = srv.signed_in(&other).await;
    let r = other
        .client
        .post(srv.url(&format!("/vulnerabilities/mine/{key}/open")))
        .form(&[("_csrf", other.csrf.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    let theirs: Value = other
        .client
        .get(srv.url("/api/v1/vulnerabilities/mine"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(theirs, json!([]));
}

mod registration {
    use super::*;
    use renkei_testkit::Backend;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_vendor_is_registered_step_by_step_and_its_contact_sets_a_password_from_the_welcome_mail()
     {
        for backend in [Backend::Sqlite, Backend::Postgres] {
            if backend == Backend::Postgres && !renkei_testkit::postgres_configured() {
                continue;
            }
            let srv = TestServer::start_with(backend, |c| {
                c.mail.from = "Example CSIRT <csirt@csirt.example>".into()
            })
            .await;
            registration_and_welcome(&srv).await;
        }
    }
}
