//! Cases at the store level, without HTTP: who may see a case and which threads,
//! and the one publication date agreed by every vendor on it.

use renkei_core::Store;
use renkei_core::access::{Principal, Role};
use renkei_core::accounts::{self, NewUser};
use renkei_core::audit::Actor;
use renkei_core::lang::Lang;
use renkei_vuln::{Settings, VulnError, cases, notes, registration, vendors};

struct Team {
    store: Store,
    settings: Settings,
    coordinator: Principal,
    _dir: tempfile::TempDir,
}

async fn team() -> Team {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("renkei.db").display());
    let store = Store::open(&url, 4).await.unwrap();
    let coordinator = user(&store, "coordinator@csirt.example", Role::Coordinator, None).await;
    Team {
        store,
        settings: Settings::from_config(&renkei_core::config::Config::default(), None),
        coordinator,
        _dir: dir,
    }
}

async fn user(store: &Store, email: &str, role: Role, org_id: Option<i64>) -> Principal {
    let u = accounts::create_user(
        store,
        &Actor::system("test"),
        NewUser {
            email: email.into(),
            display_name: email.into(),
            role,
            org_id,
            password: None,
            lang: Lang::En,
        },
    )
    .await
    .unwrap();
    Principal::User(u.info())
}

/// A registered vendor and one of its users.
async fn vendor(t: &Team, company: &str) -> (i64, Principal) {
    let v = vendors::apply(
        &t.store,
        "127.0.0.1",
        vendors::Application {
            company: company.into(),
            name: "PSIRT".into(),
            email: format!("psirt@{}.example", company.to_lowercase()),
            pgp_key: None,
            products: vec![format!("{company} Router")],
            languages: vec!["en".into()],
            country: None,
            by_mail: false,
        },
        &t.store.now_str(),
    )
    .await
    .unwrap();
    let org = vendors::get(&t.store, v.id).await.unwrap().vendor.org_id;
    let email = format!("user@{}.example", company.to_lowercase());
    (v.id, user(&t.store, &email, Role::Vendor, Some(org)).await)
}

async fn case_with(t: &Team, vendor_ids: &[i64]) -> String {
    let key = cases::create(
        &t.store,
        &Actor::system("test"),
        cases::NewCase {
            title: "Stored XSS in the admin console".into(),
            description: "A crafted device name runs script in the console.".into(),
            ..Default::default()
        },
        &t.store.now_str(),
    )
    .await
    .unwrap()
    .to_string();
    for id in vendor_ids {
        cases::add_vendor(
            &t.store,
            &t.settings,
            &t.coordinator,
            &key,
            cases::AddVendor {
                vendor_id: *id,
                products: None,
            },
            t.store.now(),
        )
        .await
        .unwrap();
    }
    key
}

/// Each vendor user acknowledges the case, opening its details.
async fn acknowledge(t: &Team, key: &str, users: &[&Principal]) {
    for u in users {
        cases::acknowledge(
            &t.store,
            &t.settings,
            u,
            key,
            cases::Acknowledge::default(),
            t.store.now(),
        )
        .await
        .unwrap();
    }
}

fn is_not_found<T: std::fmt::Debug>(r: Result<T, VulnError>) -> bool {
    matches!(r, Err(VulnError::NotFound(_)))
}

#[tokio::test]
async fn a_case_is_seen_by_the_team_and_its_vendors_and_is_not_there_for_anyone_else() {
    let t = team().await;
    let (acme, acme_user) = vendor(&t, "Acme").await;
    let (_, other_user) = vendor(&t, "Other").await;
    let member_org = renkei_core::orgs::create(
        &t.store,
        &Actor::system("test"),
        renkei_core::orgs::NewOrganization {
            name: "A member".into(),
            kind: renkei_core::orgs::OrgKind::Constituent,
            country: None,
            domain: None,
            notes: String::new(),
            topics: String::new(),
            region: String::new(),
        },
    )
    .await
    .unwrap()
    .id;
    let member = user(
        &t.store,
        "someone@member.example",
        Role::Constituent,
        Some(member_org),
    )
    .await;
    let key = case_with(&t, &[acme]).await;
    let now = t.store.now();

    let seen = cases::read(&t.store, &t.settings, &acme_user, &key, now)
        .await
        .unwrap();
    assert_eq!(seen.case.key, key);
    assert_eq!(seen.view, "vendor_summary");
    acknowledge(&t, &key, &[&acme_user]).await;
    let seen = cases::read(&t.store, &t.settings, &acme_user, &key, now)
        .await
        .unwrap();
    assert_eq!(seen.view, "vendor");
    for outsider in [&other_user, &member, &Principal::Anonymous] {
        assert!(
            is_not_found(cases::read(&t.store, &t.settings, outsider, &key, now).await),
            "{outsider:?} must be told the case does not exist"
        );
        assert!(
            is_not_found(cases::messages(&t.store, &t.settings, outsider, &key, now).await),
            "nor read its threads"
        );
    }
    assert_eq!(
        cases::list(&t.store, &acme_user, now).await.unwrap().len(),
        1
    );
    assert!(
        cases::list(&t.store, &other_user, now)
            .await
            .unwrap()
            .is_empty()
    );
    assert!(
        cases::list(&t.store, &member, now)
            .await
            .unwrap()
            .is_empty()
    );
}

#[tokio::test]
async fn each_vendor_reads_its_own_thread_and_never_another_vendors_or_the_teams_notes() {
    let t = team().await;
    let (acme, acme_user) = vendor(&t, "Acme").await;
    let (beta, beta_user) = vendor(&t, "Beta").await;
    let key = case_with(&t, &[acme, beta]).await;
    acknowledge(&t, &key, &[&acme_user, &beta_user]).await;
    let now = t.store.now();
    let post = |who: Principal, body: &'static str, vendor_id: Option<i64>| {
        let (t, key) = (&t, &key);
        async move {
            cases::post_message(
                &t.store,
                &t.settings,
                &who,
                key,
                cases::NewMessage {
                    body: body.into(),
                    vendor_id,
                    partner_org_id: None,
                },
                now,
            )
            .await
        }
    };
    post(t.coordinator.clone(), "to Acme", Some(acme))
        .await
        .unwrap();
    post(t.coordinator.clone(), "to Beta", Some(beta))
        .await
        .unwrap();
    post(t.coordinator.clone(), "internal: Beta is slow", None)
        .await
        .unwrap();
    post(acme_user.clone(), "Acme's answer", None)
        .await
        .unwrap();

    let bodies = |who: Principal| {
        let (t, key) = (&t, &key);
        async move {
            cases::messages(&t.store, &t.settings, &who, key, now)
                .await
                .unwrap()
                .into_iter()
                .map(|m| m.body)
                .collect::<Vec<_>>()
        }
    };
    assert_eq!(
        bodies(acme_user.clone()).await,
        ["to Acme", "Acme's answer"]
    );
    assert_eq!(bodies(beta_user.clone()).await, ["to Beta"]);
    let all = bodies(t.coordinator.clone()).await;
    assert_eq!(all.len(), 4, "the team reads every thread: {all:?}");
    // A vendor cannot write into another vendor's thread by naming it.
    let m = post(beta_user.clone(), "into Acme's thread?", Some(acme)).await;
    if let Ok(m) = m {
        assert_eq!(m.vendor_id, Some(beta), "it lands in Beta's own thread");
    }
    assert!(
        !bodies(acme_user)
            .await
            .iter()
            .any(|b| b.contains("Acme's thread?")),
        "Acme never sees what Beta wrote"
    );
}

#[tokio::test]
async fn the_date_is_agreed_only_when_every_vendor_on_the_case_has_accepted_it() {
    let t = team().await;
    let (acme, acme_user) = vendor(&t, "Acme").await;
    let (beta, beta_user) = vendor(&t, "Beta").await;
    let key = case_with(&t, &[acme, beta]).await;
    acknowledge(&t, &key, &[&acme_user, &beta_user]).await;
    let now = t.store.now();
    let at = (now + chrono::Duration::days(45)).to_rfc3339();
    cases::propose_date(
        &t.store,
        &t.settings,
        &t.coordinator,
        &key,
        cases::DateProposal {
            publish_at: at,
            tz: None,
        },
        now,
    )
    .await
    .unwrap();
    let answer = |who: Principal| {
        let (t, key) = (&t, &key);
        async move {
            cases::answer_date(
                &t.store,
                &t.settings,
                &who,
                key,
                cases::DateAnswer {
                    accept: true,
                    requested_date: None,
                    reason: None,
                    vendor_id: None,
                },
                now,
            )
            .await
        }
    };
    let schedule = || {
        notes::schedule(
            &t.store,
            &t.settings,
            &t.coordinator,
            &key,
            notes::Schedule {
                override_reason: None,
            },
            now,
        )
    };
    answer(acme_user.clone()).await.unwrap();
    match schedule().await {
        Err(VulnError::Conflict(m)) => assert!(m.contains("Beta"), "{m}"),
        other => panic!("scheduled with Beta not answering: {other:?}"),
    }
    answer(beta_user.clone()).await.unwrap();
    let scheduled = schedule().await.expect("every vendor accepted");
    assert!(
        scheduled
            .vendors
            .iter()
            .all(|v| v.date_answer == "accepted")
    );
    assert!(
        scheduled.case.note.is_some_and(|n| !n.published),
        "scheduled, not yet out"
    );
}

/// The team's settings with a sender, so that mails are queued.
fn with_sender(t: &mut Team) {
    t.settings.from = "csirt@csirt.example".into();
    t.settings.public_url = "https://renkei.example".into();
}

async fn outbox(t: &Team, kind: &str) -> Vec<(String, String)> {
    sqlx::query_as("SELECT rcpt_to, body FROM outbox WHERE kind = $1 ORDER BY id")
        .bind(kind)
        .fetch_all(t.store.pool())
        .await
        .unwrap()
}

fn refused_for_no_ack<T: std::fmt::Debug>(r: Result<T, VulnError>) -> bool {
    matches!(r, Err(VulnError::NotAcknowledged))
}

#[tokio::test]
async fn a_vendor_reads_the_summary_until_it_acknowledges_and_no_other_door_opens_before() {
    let mut t = team().await;
    with_sender(&mut t);
    let (acme, acme_user) = vendor(&t, "Acme").await;
    let key = case_with(&t, &[acme]).await;
    let now = t.store.now();
    cases::update(
        &t.store,
        &t.settings,
        &t.coordinator,
        &key,
        cases::CasePatch {
            cvss_vector: Some("CVSS:3.1/AV:N/AC:L/PR:N/UI:R/S:C/C:L/I:L/A:N".into()),
            cwe: Some("CWE-79".into()),
            ..Default::default()
        },
        now,
    )
    .await
    .unwrap();
    let file = cases::add_file(
        &t.store,
        &t.settings,
        &t.coordinator,
        &key,
        "poc.html",
        "text/html",
        "vendors",
        b"<script>alert(1)</script>",
        now,
    )
    .await
    .unwrap();

    let summary = cases::read(&t.store, &t.settings, &acme_user, &key, now)
        .await
        .unwrap();
    assert_eq!(summary.view, "vendor_summary");
    assert_eq!(summary.case.title, "Stored XSS in the admin console");
    assert!(summary.case.description.is_empty(), "no details before");
    assert!(summary.files.is_empty(), "no files before");
    assert_eq!(summary.vendors[0].products.len(), 1, "its products");
    assert!(
        summary.case.cvss.is_some() && summary.case.cwe.is_some(),
        "the impact"
    );
    assert!(cases::impact(&summary.case, Lang::En).contains("CWE-79"));
    // The notification mail points to the portal and carries no detail.
    let mails = outbox(&t, "case.vendor_notification").await;
    assert_eq!(mails.len(), 1);
    assert!(
        !mails[0].1.contains("crafted device name"),
        "{}",
        mails[0].1
    );

    let p = &acme_user;
    assert!(refused_for_no_ack(
        cases::messages(&t.store, &t.settings, p, &key, now).await
    ));
    assert!(refused_for_no_ack(
        cases::post_message(
            &t.store,
            &t.settings,
            p,
            &key,
            cases::NewMessage {
                body: "hello".into(),
                vendor_id: None,
                partner_org_id: None
            },
            now
        )
        .await
    ));
    assert!(refused_for_no_ack(
        cases::update_vendor(
            &t.store,
            &t.settings,
            p,
            &key,
            cases::VendorUpdate {
                statement_en: Some("x".into()),
                ..Default::default()
            },
            now
        )
        .await
    ));
    assert!(refused_for_no_ack(
        cases::fetch(&t.store, &t.settings, p, &key, file.id, now).await
    ));
    assert!(refused_for_no_ack(
        cases::note_for_export(&t.store, &t.settings, p, &key, now).await
    ));

    let opened = cases::acknowledge(
        &t.store,
        &t.settings,
        p,
        &key,
        cases::Acknowledge::default(),
        now,
    )
    .await
    .unwrap();
    assert_eq!(opened.view, "vendor");
    assert!(opened.case.description.contains("crafted device name"));
    assert_eq!(opened.files.len(), 1);
    assert_eq!(opened.vendors[0].stage, renkei_vuln::Stage::Acknowledged);
    assert!(
        opened.vendors[0]
            .acknowledged_by
            .contains("user@acme.example")
    );
    let (_, bytes) = cases::fetch(&t.store, &t.settings, p, &key, file.id, now)
        .await
        .unwrap();
    assert_eq!(bytes, b"<script>alert(1)</script>");
    // A second acknowledgement changes nothing and is not logged again.
    cases::acknowledge(&t.store, &t.settings, p, &key, Default::default(), now)
        .await
        .unwrap();
    let logged: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM audit_log WHERE action = 'case.vendor_acknowledge' AND object_id = $1",
    )
    .bind(&key)
    .fetch_one(t.store.pool())
    .await
    .unwrap();
    assert_eq!(logged, 1);
}

#[tokio::test]
async fn a_team_file_stays_with_the_team_even_for_a_vendor_that_acknowledged() {
    let t = team().await;
    let (acme, acme_user) = vendor(&t, "Acme").await;
    let key = case_with(&t, &[acme]).await;
    acknowledge(&t, &key, &[&acme_user]).await;
    let now = t.store.now();
    let file = cases::add_file(
        &t.store,
        &t.settings,
        &t.coordinator,
        &key,
        "finder-notes.txt",
        "text/plain",
        "team",
        b"who the finder is",
        now,
    )
    .await
    .unwrap();
    assert!(is_not_found(
        cases::fetch(&t.store, &t.settings, &acme_user, &key, file.id, now).await
    ));
    let read = cases::read(&t.store, &t.settings, &acme_user, &key, now)
        .await
        .unwrap();
    assert!(read.files.is_empty());
    let (meta, bytes) = cases::fetch(&t.store, &t.settings, &t.coordinator, &key, file.id, now)
        .await
        .unwrap();
    assert_eq!(bytes, b"who the finder is");
    // The digest is SHA-256 of the bytes, as `sha256sum` gives it.
    assert_eq!(
        meta.sha256,
        "07463bb2d3ee5eb8c16a179e0b6ddeec490d3126571866196504895ecfb62ebc"
    );
}

#[tokio::test]
async fn vendors_that_do_not_acknowledge_are_reminded_once_then_escalated_once() {
    let mut t = team().await;
    with_sender(&mut t);
    let (acme, _) = vendor(&t, "Acme").await;
    let (beta, beta_user) = vendor(&t, "Beta").await;
    let key = case_with(&t, &[acme, beta]).await;
    acknowledge(&t, &key, &[&beta_user]).await;
    let start = t.store.now();
    let at = |days: i64| start + chrono::Duration::days(days);

    let early = cases::remind(&t.store, &t.settings, at(3)).await.unwrap();
    assert!(early.reminded.is_empty() && early.escalated.is_empty());

    let first = cases::remind(&t.store, &t.settings, at(8)).await.unwrap();
    assert_eq!(
        first.reminded,
        [(key.clone(), acme)],
        "Acme only: Beta acknowledged"
    );
    assert!(first.escalated.is_empty());
    let again = cases::remind(&t.store, &t.settings, at(9)).await.unwrap();
    assert!(again.reminded.is_empty(), "reminded once");
    let reminders = outbox(&t, "case.vendor_reminder").await;
    assert_eq!(reminders.len(), 1);
    assert_eq!(reminders[0].0, "psirt@acme.example");
    assert!(reminders[0].1.contains(&key));

    let escalated = cases::remind(&t.store, &t.settings, at(16)).await.unwrap();
    assert_eq!(escalated.escalated, [(key.clone(), acme)]);
    let escalations = outbox(&t, "case.vendor_escalation").await;
    assert_eq!(escalations.len(), 1);
    assert_eq!(escalations[0].0, "coordinator@csirt.example");
    assert!(escalations[0].1.contains("Acme"));
    assert!(
        cases::remind(&t.store, &t.settings, at(30))
            .await
            .unwrap()
            .escalated
            .is_empty(),
        "escalated once"
    );
    // The team sees it on the case: an internal note, and the vendor flagged.
    let notes = cases::messages(&t.store, &t.settings, &t.coordinator, &key, at(16))
        .await
        .unwrap();
    assert!(
        notes
            .iter()
            .any(|m| m.vendor_id.is_none() && m.body.contains("Acme"))
    );
    let d = cases::read(&t.store, &t.settings, &t.coordinator, &key, at(16))
        .await
        .unwrap();
    let acme_row = d.vendors.iter().find(|v| v.vendor_id == acme).unwrap();
    assert!(acme_row.flags.contains(&"no_ack") && acme_row.flags.contains(&"escalated"));
}

#[tokio::test]
async fn a_coordinator_records_an_acknowledgement_made_by_phone() {
    let t = team().await;
    let (acme, acme_user) = vendor(&t, "Acme").await;
    let key = case_with(&t, &[acme]).await;
    let d = cases::acknowledge(
        &t.store,
        &t.settings,
        &t.coordinator,
        &key,
        cases::Acknowledge {
            vendor_id: Some(acme),
            via: Some("phone call with the PSIRT lead".into()),
        },
        t.store.now(),
    )
    .await
    .unwrap();
    let row = &d.vendors[0];
    assert!(row.acknowledged_at.is_some());
    assert!(
        row.acknowledged_by.contains("phone call")
            && row.acknowledged_by.contains("coordinator@csirt.example")
    );
    let seen = cases::read(&t.store, &t.settings, &acme_user, &key, t.store.now())
        .await
        .unwrap();
    assert_eq!(seen.view, "vendor");
}

async fn finder_view(
    t: &Team,
    secret: &str,
    at: chrono::DateTime<chrono::Utc>,
) -> cases::finder::FinderView {
    cases::finder::view(&t.store, &t.settings, secret, at)
        .await
        .unwrap()
        .unwrap()
}

async fn credits(t: &Team, key: &str) -> Vec<String> {
    let d = cases::detail_for_team(&t.store, &t.settings, key, t.store.now())
        .await
        .unwrap();
    notes::snapshot(&d).credits
}

#[tokio::test]
async fn a_finder_follows_the_case_by_link_chooses_the_credit_and_hears_of_publication() {
    use cases::finder::{self, Standing};
    let mut t = team().await;
    with_sender(&mut t);
    let submitted = cases::submit(
        &t.store,
        &t.settings,
        &Actor::anonymous("198.51.100.7"),
        cases::NewCase {
            title: "Stored XSS in Acme Router admin console".into(),
            description: "A crafted device name runs script.".into(),
            affected: "Acme Router 2.1".into(),
            reporter_name: "Hanako Yamada".into(),
            reporter_email: "hanako@finder.example".into(),
            credit: "Hanako Yamada".into(),
            ..Default::default()
        },
        Lang::Ja,
        &t.store.now_str(),
    )
    .await
    .unwrap();
    let key = submitted.case.to_string();
    let secret = submitted.secret.expect("a status link");
    let receipts = outbox(&t, "case.finder_receipt").await;
    assert_eq!(receipts.len(), 1);
    assert_eq!(receipts[0].0, "hanako@finder.example");
    assert!(receipts[0].1.contains(&finder::link(&t.settings, &secret)));
    assert!(
        receipts[0].1.contains("受付番号"),
        "in the finder's language"
    );

    let now = t.store.now();
    let v = finder_view(&t, &secret, now).await;
    assert_eq!(
        (v.case.as_str(), v.standing),
        (key.as_str(), Standing::Received)
    );
    assert!(
        finder::view(&t.store, &t.settings, "s-not-the-secret", now)
            .await
            .unwrap()
            .is_none()
    );

    // The finder adds a proof of concept; the team keeps it, no vendor sees it.
    finder::add(
        &t.store,
        &secret,
        "Here is the proof of concept.",
        &[finder::Upload {
            filename: "../poc.html".into(),
            content_type: "text/html".into(),
            data: b"<svg onload=alert(1)>".to_vec(),
        }],
    )
    .await
    .unwrap()
    .unwrap();
    let (acme, acme_user) = vendor(&t, "Acme").await;
    cases::add_vendor(
        &t.store,
        &t.settings,
        &t.coordinator,
        &key,
        cases::AddVendor {
            vendor_id: acme,
            products: None,
        },
        now,
    )
    .await
    .unwrap();
    acknowledge(&t, &key, &[&acme_user]).await;
    let team_view = cases::read(&t.store, &t.settings, &t.coordinator, &key, now)
        .await
        .unwrap();
    assert_eq!(team_view.files.len(), 1);
    assert_eq!(team_view.files[0].filename, "poc.html");
    assert!(
        cases::read(&t.store, &t.settings, &acme_user, &key, now)
            .await
            .unwrap()
            .files
            .is_empty(),
        "the finder's files stay with the team"
    );
    assert_eq!(
        finder_view(&t, &secret, now).await.standing,
        Standing::Coordinating
    );

    // The coordinator answers; the finder reads it on the page.
    finder::reply(
        &t.store,
        &t.settings,
        &t.coordinator,
        &key,
        "Thank you; we have contacted the vendor.",
        now,
    )
    .await
    .unwrap();
    let v = finder_view(&t, &secret, now).await;
    let bodies: Vec<&str> = v.messages.iter().map(|m| m.body.as_str()).collect();
    assert!(
        bodies
            .iter()
            .any(|b| b.starts_with("Here is the proof of concept."))
    );
    assert!(bodies.contains(&"Thank you; we have contacted the vendor."));
    // A vendor cannot reach the finder's thread.
    assert!(matches!(
        finder::thread(&t.store, &t.settings, &acme_user, &key, now).await,
        Err(VulnError::Core(_))
    ));

    // Credit: a handle, then anonymous; the note follows.
    assert_eq!(credits(&t, &key).await, ["Hanako Yamada"]);
    finder::set_credit(&t.store, &t.settings, &secret, "handle", "@hanako", now)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(credits(&t, &key).await, ["@hanako"]);
    finder::set_credit(&t.store, &t.settings, &secret, "anonymous", "", now)
        .await
        .unwrap()
        .unwrap();
    assert!(credits(&t, &key).await.is_empty());
    assert!(matches!(
        finder::set_credit(&t.store, &t.settings, &secret, "handle", "", now).await,
        Err(VulnError::Invalid { .. })
    ));

    // The date is agreed, publication scheduled, then the note comes out.
    let at = now + chrono::Duration::days(30);
    cases::propose_date(
        &t.store,
        &t.settings,
        &t.coordinator,
        &key,
        cases::DateProposal {
            publish_at: at.to_rfc3339(),
            tz: None,
        },
        now,
    )
    .await
    .unwrap();
    cases::answer_date(
        &t.store,
        &t.settings,
        &acme_user,
        &key,
        cases::DateAnswer {
            accept: true,
            requested_date: None,
            reason: None,
            vendor_id: None,
        },
        now,
    )
    .await
    .unwrap();
    let v = finder_view(&t, &secret, now).await;
    assert_eq!(v.standing, Standing::DateAgreed);
    assert!(v.publish_at.is_some());
    notes::schedule(
        &t.store,
        &t.settings,
        &t.coordinator,
        &key,
        notes::Schedule {
            override_reason: None,
        },
        now,
    )
    .await
    .unwrap();
    assert!(
        finder::tell_published(&t.store, &t.settings, now)
            .await
            .unwrap()
            .is_empty(),
        "not before the moment"
    );
    let after = at + chrono::Duration::minutes(1);
    assert_eq!(
        finder::tell_published(&t.store, &t.settings, after)
            .await
            .unwrap(),
        std::slice::from_ref(&key)
    );
    assert!(
        finder::tell_published(&t.store, &t.settings, after)
            .await
            .unwrap()
            .is_empty(),
        "told once"
    );
    let told = outbox(&t, "case.finder_published").await;
    assert_eq!(told.len(), 1);
    assert!(told[0].1.contains("https://renkei.example/notes/"));
    let v = finder_view(&t, &secret, after).await;
    assert_eq!(v.standing, Standing::Published);
    assert!(v.note_url.is_some());
    assert!(
        matches!(
            finder::set_credit(&t.store, &t.settings, &secret, "name", "", after).await,
            Err(VulnError::Conflict(_))
        ),
        "the published note's credits change only through the coordinators"
    );
}

#[tokio::test]
async fn vendors_are_proposed_from_the_cpe_or_package_url_a_report_names_with_the_reason() {
    let t = team().await;
    let (acme, _) = vendor(&t, "Acme").await;
    let (npm, _) = vendor(&t, "Widgets").await;
    for (id, product) in [
        (
            acme,
            vendors::NewProduct {
                name: "RX-9000".into(),
                cpe: Some("cpe:2.3:h:acme:rx-9000:*:*:*:*:*:*:*:*".into()),
                purl: None,
            },
        ),
        (
            npm,
            vendors::NewProduct {
                name: "widget-parser".into(),
                cpe: None,
                purl: Some("pkg:npm/widgets/widget-parser".into()),
            },
        ),
    ] {
        vendors::add_product(
            &t.store,
            &Actor::system("test"),
            id,
            product,
            &t.store.now_str(),
        )
        .await
        .unwrap();
    }
    let key = cases::create(
        &t.store,
        &Actor::system("test"),
        cases::NewCase {
            title: "Heap overflow in an HTTP parser".into(),
            description: "A long header overflows a buffer.".into(),
            affected:
                "cpe:2.3:h:acme:rx-9000:1.2:*:*:*:*:*:*:*\npkg:npm/widgets/widget-parser@3.1.0"
                    .into(),
            ..Default::default()
        },
        &t.store.now_str(),
    )
    .await
    .unwrap()
    .to_string();
    let s = cases::suggestions(&t.store, &t.settings, &t.coordinator, &key, t.store.now())
        .await
        .unwrap();
    let of = |id: i64| s.iter().find(|x| x.vendor_id == id).expect("proposed");
    assert_eq!(of(acme).products, ["RX-9000"]);
    assert_eq!(
        of(acme).reasons[0],
        "cpe: h:acme:rx-9000",
        "{:?}",
        of(acme).reasons
    );
    assert_eq!(of(npm).products, ["widget-parser"]);
    assert!(
        of(npm)
            .reasons
            .contains(&"purl: pkg:npm/widgets/widget-parser".to_string()),
        "{:?}",
        of(npm).reasons
    );
}

async fn org(t: &Team, name: &str, kind: renkei_core::orgs::OrgKind, country: &str) -> i64 {
    renkei_core::orgs::create(
        &t.store,
        &Actor::system("test"),
        renkei_core::orgs::NewOrganization {
            name: name.into(),
            kind,
            country: Some(country.into()),
            domain: None,
            notes: String::new(),
            topics: String::new(),
            region: String::new(),
        },
    )
    .await
    .unwrap()
    .id
}

fn is_forbidden<T: std::fmt::Debug>(r: Result<T, VulnError>) -> bool {
    matches!(r, Err(VulnError::Core(renkei_core::CoreError::Forbidden)))
}

#[tokio::test]
async fn a_partner_coordinator_reads_the_case_and_vendor_table_but_never_a_vendors_thread_or_statement()
 {
    use renkei_core::orgs::OrgKind;
    let t = team().await;
    org(&t, "Renkei CSIRT", OrgKind::Team, "JP").await;
    let certcc = org(&t, "CERT/CC", OrgKind::Csirt, "US").await;
    let other_csirt = org(&t, "Another CSIRT", OrgKind::Csirt, "DE").await;
    let partner = user(
        &t.store,
        "analyst@cert.example",
        Role::Constituent,
        Some(certcc),
    )
    .await;
    let stranger = user(
        &t.store,
        "someone@other.example",
        Role::Constituent,
        Some(other_csirt),
    )
    .await;
    let (acme, acme_user) = vendor(&t, "Acme").await;
    let (beta, _) = vendor(&t, "Beta").await;
    let key = case_with(&t, &[acme]).await;
    acknowledge(&t, &key, &[&acme_user]).await;
    let now = t.store.now();
    cases::update_vendor(
        &t.store,
        &t.settings,
        &acme_user,
        &key,
        cases::VendorUpdate {
            statement_en: Some("Acme's private statement".into()),
            ..Default::default()
        },
        now,
    )
    .await
    .unwrap();
    let say = |who: Principal,
               body: &'static str,
               vendor_id: Option<i64>,
               partner_org_id: Option<i64>| {
        let (t, key) = (&t, &key);
        async move {
            cases::post_message(
                &t.store,
                &t.settings,
                &who,
                key,
                cases::NewMessage {
                    body: body.into(),
                    vendor_id,
                    partner_org_id,
                },
                now,
            )
            .await
        }
    };
    say(acme_user.clone(), "Acme to the team", None, None)
        .await
        .unwrap();

    assert!(is_not_found(
        cases::read(&t.store, &t.settings, &partner, &key, now).await
    ));
    let d = cases::add_partner(
        &t.store,
        &t.settings,
        &t.coordinator,
        &key,
        cases::AddPartner {
            org_id: certcc,
            tracking_id: "VU#123456".into(),
        },
        now,
    )
    .await
    .unwrap();
    assert_eq!(
        d.case.series,
        renkei_vuln::Series::Overseas,
        "coordinated abroad: JVNVU#"
    );
    assert!(matches!(
        cases::add_partner(
            &t.store,
            &t.settings,
            &t.coordinator,
            &key,
            cases::AddPartner {
                org_id: certcc,
                tracking_id: String::new()
            },
            now,
        )
        .await,
        Err(VulnError::Conflict(_))
    ));

    let seen = cases::read(&t.store, &t.settings, &partner, &key, now)
        .await
        .unwrap();
    assert_eq!(seen.view, "partner");
    assert!(seen.case.description.contains("crafted device name"));
    assert!(seen.case.reporter.is_none());
    assert_eq!(seen.partners[0].tracking_id, "VU#123456");
    assert_eq!(seen.vendors.len(), 1);
    assert!(
        seen.vendors[0].statement_en.is_empty(),
        "no vendor's statement"
    );
    assert!(is_not_found(
        cases::read(&t.store, &t.settings, &stranger, &key, now).await
    ));
    assert_eq!(cases::list(&t.store, &partner, now).await.unwrap().len(), 1);
    assert!(
        cases::list(&t.store, &stranger, now)
            .await
            .unwrap()
            .is_empty()
    );
    // The vendor does not see who else coordinates.
    let acme_view = cases::read(&t.store, &t.settings, &acme_user, &key, now)
        .await
        .unwrap();
    assert!(acme_view.partners.is_empty());

    // Threads: the partner's own with the team; never a vendor's.
    say(
        partner.clone(),
        "CERT/CC: we track this as VU#123456",
        None,
        None,
    )
    .await
    .unwrap();
    say(t.coordinator.clone(), "Team to CERT/CC", None, Some(certcc))
        .await
        .unwrap();
    let bodies = |who: Principal| {
        let (t, key) = (&t, &key);
        async move {
            cases::messages(&t.store, &t.settings, &who, key, now)
                .await
                .unwrap()
                .into_iter()
                .map(|m| m.body)
                .collect::<Vec<_>>()
        }
    };
    assert_eq!(
        bodies(partner.clone()).await,
        ["CERT/CC: we track this as VU#123456", "Team to CERT/CC"]
    );
    assert_eq!(bodies(acme_user.clone()).await, ["Acme to the team"]);
    // Naming a vendor's thread does not take a partner into it.
    assert!(
        say(partner.clone(), "into Acme's thread?", Some(acme), None)
            .await
            .is_ok()
    );
    assert!(
        !bodies(acme_user.clone())
            .await
            .iter()
            .any(|b| b.contains("Acme's thread?"))
    );

    // What a partner may do: add the vendors of its constituency, propose dates,
    // keep its tracking ID; what it may not: the team's and the vendors' own steps.
    let set = |id: i64, region: &'static str, country: Option<&'static str>| {
        let store = t.store.clone();
        async move {
            let o = renkei_core::orgs::get(&store, id).await.unwrap();
            renkei_core::orgs::update(
                &store,
                &Actor::system("test"),
                id,
                renkei_core::orgs::NewOrganization {
                    name: o.name,
                    kind: o.kind,
                    country: country.map(String::from),
                    domain: o.domain,
                    notes: o.notes,
                    topics: o.topics,
                    region: region.into(),
                },
            )
            .await
            .unwrap();
        }
    };
    let beta_org = vendors::get(&t.store, beta).await.unwrap().vendor.org_id;
    set(certcc, "US", Some("US")).await;
    set(beta_org, "", Some("JP")).await;
    let outside = cases::add_vendor(
        &t.store,
        &t.settings,
        &partner,
        &key,
        cases::AddVendor {
            vendor_id: beta,
            products: None,
        },
        now,
    )
    .await;
    assert!(
        matches!(&outside, Err(VulnError::Invalid { field: "vendor_id", message }) if message.contains("constituency")),
        "{outside:?}"
    );
    set(beta_org, "", Some("US")).await;
    let d = cases::add_vendor(
        &t.store,
        &t.settings,
        &partner,
        &key,
        cases::AddVendor {
            vendor_id: beta,
            products: None,
        },
        now,
    )
    .await
    .unwrap();
    assert_eq!((d.view, d.vendors.len()), ("partner", 2));
    cases::propose_date(
        &t.store,
        &t.settings,
        &partner,
        &key,
        cases::DateProposal {
            publish_at: (now + chrono::Duration::days(30)).to_rfc3339(),
            tz: None,
        },
        now,
    )
    .await
    .unwrap();
    let d = cases::set_tracking(
        &t.store,
        &t.settings,
        &partner,
        &key,
        cases::TrackingUpdate {
            org_id: None,
            tracking_id: "VU#654321".into(),
        },
        now,
    )
    .await
    .unwrap();
    assert_eq!(d.partners[0].tracking_id, "VU#654321");
    assert!(is_forbidden(
        cases::update_vendor(
            &t.store,
            &t.settings,
            &partner,
            &key,
            cases::VendorUpdate {
                vendor_id: Some(acme),
                stage: Some("fix_ready".into()),
                ..Default::default()
            },
            now
        )
        .await
    ));
    assert!(is_forbidden(
        cases::update(
            &t.store,
            &t.settings,
            &partner,
            &key,
            cases::CasePatch::default(),
            now
        )
        .await
    ));
    assert!(is_forbidden(
        cases::note_for_export(&t.store, &t.settings, &partner, &key, now).await
    ));
    assert!(is_forbidden(
        cases::finder::thread(&t.store, &t.settings, &partner, &key, now).await
    ));
    assert!(is_forbidden(
        cases::acknowledge(
            &t.store,
            &t.settings,
            &partner,
            &key,
            Default::default(),
            now
        )
        .await
    ));
    // A constituent organization that is not a CSIRT cannot be made a partner.
    let member = org(&t, "A member", OrgKind::Constituent, "JP").await;
    assert!(matches!(
        cases::add_partner(
            &t.store,
            &t.settings,
            &t.coordinator,
            &key,
            cases::AddPartner {
                org_id: member,
                tracking_id: String::new()
            },
            now
        )
        .await,
        Err(VulnError::Invalid { .. })
    ));
}

/// A public key made by GnuPG that expires in `days`, or `None` without GnuPG (only
/// outside CI).
fn expiring_key(uid: &str, days: u32) -> Option<String> {
    use std::process::Command;
    if Command::new("gpg").arg("--version").output().is_err() {
        let ci = std::env::var("CI").is_ok_and(|v| !v.is_empty() && v != "false");
        assert!(!ci, "CI is set but gpg is missing: .ci/run installs gnupg");
        return None;
    }
    let home = tempfile::tempdir().unwrap();
    let gpg = |args: &[&str]| {
        let out = Command::new("gpg")
            .arg("--homedir")
            .arg(home.path())
            .args(["--batch", "--pinentry-mode", "loopback", "--passphrase", ""])
            .args(args)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "gpg {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        out.stdout
    };
    gpg(&[
        "--quick-gen-key",
        uid,
        "future-default",
        "default",
        &format!("{days}d"),
    ]);
    Some(String::from_utf8(gpg(&["--armor", "--export", uid])).unwrap())
}

#[tokio::test]
async fn a_contact_whose_key_expires_within_30_days_is_warned_once_encrypted_to_that_key() {
    let Some(key) = expiring_key("Acme PSIRT <psirt-keys@acme.example>", 20) else {
        return;
    };
    let mut t = team().await;
    with_sender(&mut t);
    let (acme, _) = vendor(&t, "Acme").await;
    let contact = vendors::add_contact(
        &t.store,
        &t.settings,
        &Actor::system("test"),
        acme,
        vendors::NewContact {
            name: "PSIRT keys".into(),
            email: "psirt-keys@acme.example".into(),
            pgp_key: Some(key),
        },
        &t.store.now_str(),
    )
    .await
    .unwrap();
    assert_eq!(contact.key_status, "expires_soon");
    let now = t.store.now();
    assert_eq!(
        vendors::warn_expiring_keys(&t.store, &t.settings, now)
            .await
            .unwrap(),
        [contact.id]
    );
    assert!(
        vendors::warn_expiring_keys(&t.store, &t.settings, now + chrono::Duration::days(1))
            .await
            .unwrap()
            .is_empty(),
        "warned once"
    );
    let mails = outbox(&t, "vendor.key_expiry").await;
    assert_eq!(mails.len(), 1);
    assert_eq!(mails[0].0, "psirt-keys@acme.example");
}

async fn step(t: &Team, vendor: i64, state: &str) -> Result<vendors::StateOutcome, VulnError> {
    vendors::set_state(
        &t.store,
        &t.settings,
        &Actor::system("test"),
        vendor,
        vendors::StateChange {
            state: state.into(),
            terms_version: Some("2026-04".into()),
        },
        &t.store.now_str(),
    )
    .await
}

fn refused_for_missing<T: std::fmt::Debug>(r: Result<T, VulnError>, says: &str) -> bool {
    matches!(&r, Err(VulnError::Conflict(m)) if m.contains(says))
}

#[tokio::test]
async fn each_registration_step_needs_its_record_and_registering_gives_the_contacts_accounts_and_a_welcome()
 {
    let mut t = team().await;
    with_sender(&mut t);
    let key = expiring_key("Acme PSIRT <psirt@acme.example>", 365);
    let coordinator = Actor::system("test");
    let now = t.store.now_str();
    let v = vendors::apply(
        &t.store,
        "192.0.2.7",
        vendors::Application {
            company: "Acme".into(),
            name: "PSIRT".into(),
            email: "psirt@acme.example".into(),
            pgp_key: key.clone(),
            products: vec!["Acme Router".into()],
            languages: vec!["ja".into(), "en".into()],
            country: None,
            by_mail: key.is_some(),
        },
        &now,
    )
    .await
    .unwrap();
    // The application is the first step's record.
    let d = vendors::get(&t.store, v.id).await.unwrap();
    assert_eq!(d.application["company"], "Acme");
    assert_eq!(d.application["from"], "192.0.2.7");

    // Documents first, sent, then returned: each step refused until it is on record.
    assert!(refused_for_missing(
        step(&t, v.id, "documents_sent").await,
        "documents sent"
    ));
    assert!(matches!(
        registration::add_document(
            &t.store,
            &coordinator,
            v.id,
            "lost",
            "x.pdf",
            "",
            b"x",
            &now
        )
        .await,
        Err(VulnError::Invalid {
            field: "direction",
            ..
        })
    ));
    let form = b"%PDF-1.4 registration form";
    let sent = registration::add_document(
        &t.store,
        &coordinator,
        v.id,
        "sent",
        "../../Registration form.pdf",
        "application/pdf",
        form,
        &now,
    )
    .await
    .unwrap();
    assert_eq!(sent.filename, "Registration form.pdf");
    assert_eq!(sent.sha256, sha256_hex(form));
    step(&t, v.id, "documents_sent").await.unwrap();
    assert!(refused_for_missing(
        step(&t, v.id, "documents_returned").await,
        "returned"
    ));
    registration::add_document(
        &t.store,
        &coordinator,
        v.id,
        "returned",
        "signed.pdf",
        "application/pdf",
        b"%PDF signed",
        &now,
    )
    .await
    .unwrap();
    step(&t, v.id, "documents_returned").await.unwrap();
    let (kept, bytes) = registration::document(&t.store, v.id, sent.id)
        .await
        .unwrap();
    assert_eq!(
        (kept.sha256.as_str(), bytes.as_slice()),
        (sent.sha256.as_str(), &form[..])
    );

    // The meeting, with its record.
    assert!(refused_for_missing(
        step(&t, v.id, "meeting_held").await,
        "record the meeting"
    ));
    assert!(matches!(
        registration::record_meeting(
            &t.store,
            &coordinator,
            v.id,
            registration::NewMeeting {
                held_on: "next Tuesday".into(),
                attendees: "A".into(),
                minutes: "B".into(),
            },
            &now
        )
        .await,
        Err(VulnError::Invalid {
            field: "held_on",
            ..
        })
    ));
    registration::record_meeting(
        &t.store,
        &coordinator,
        v.id,
        registration::NewMeeting {
            held_on: "2026-04-10".into(),
            attendees: "Acme PSIRT (2), coordinators (2)".into(),
            minutes: "Contacts, key exchange and the terms 2026-04 agreed.".into(),
        },
        &now,
    )
    .await
    .unwrap();
    step(&t, v.id, "meeting_held").await.unwrap();
    vendors::set_terms(
        &t.store,
        &coordinator,
        "2026-04",
        "Keep unpublished information confidential.",
        &now,
    )
    .await
    .unwrap();
    step(&t, v.id, "terms_agreed").await.unwrap();

    // A second contact without a key, whose welcome can be read.
    vendors::add_contact(
        &t.store,
        &t.settings,
        &coordinator,
        v.id,
        vendors::NewContact {
            name: "Hanako".into(),
            email: "hanako@acme.example".into(),
            pgp_key: None,
        },
        &now,
    )
    .await
    .unwrap();
    assert!(
        outbox(&t, "vendor.welcome").await.is_empty(),
        "no account before registration"
    );

    if key.is_some() {
        // The key is confirmed only by its own fingerprint, read out elsewhere.
        assert!(refused_for_missing(
            step(&t, v.id, "registered").await,
            "confirm the OpenPGP key of psirt@acme.example"
        ));
        let d = vendors::get(&t.store, v.id).await.unwrap();
        let psirt = d
            .contacts
            .iter()
            .find(|c| c.email == "psirt@acme.example")
            .unwrap();
        let fpr = psirt.key_fingerprint.clone().unwrap();
        let mut wrong = fpr.clone();
        wrong.replace_range(0..1, if fpr.starts_with('A') { "B" } else { "A" });
        assert!(matches!(
            registration::confirm_key(
                &t.store,
                &coordinator,
                v.id,
                psirt.id,
                &registration::KeyConfirmation { fingerprint: wrong },
                &now
            )
            .await,
            Err(VulnError::Invalid {
                field: "fingerprint",
                ..
            })
        ));
        let read_out: String = fpr
            .to_lowercase()
            .chars()
            .collect::<Vec<_>>()
            .chunks(4)
            .map(|c| c.iter().collect::<String>())
            .collect::<Vec<_>>()
            .join(" ");
        let c = registration::confirm_key(
            &t.store,
            &coordinator,
            v.id,
            psirt.id,
            &registration::KeyConfirmation {
                fingerprint: read_out,
            },
            &now,
        )
        .await
        .unwrap();
        assert!(c.key_confirmed_at.is_some());
        assert_eq!(c.key_confirmed_by, "system:test");
    }

    // Registered: every contact gets an account of the vendor and a welcome.
    let done = step(&t, v.id, "registered").await.unwrap();
    let welcomed = done.welcomed.unwrap();
    assert_eq!(
        welcomed.created,
        ["psirt@acme.example", "hanako@acme.example"]
    );
    assert!(welcomed.skipped.is_empty());
    let hanako = accounts::find_user_by_email(&t.store, "hanako@acme.example")
        .await
        .unwrap()
        .unwrap();
    assert_eq!((hanako.role, hanako.org_id), (Role::Vendor, Some(v.org_id)));
    let mails = outbox(&t, "vendor.welcome").await;
    assert_eq!(mails.len(), 2);
    if key.is_some() {
        let raw: Vec<u8> = sqlx::query_scalar("SELECT raw FROM outbox WHERE kind = 'vendor.welcome' AND rcpt_to = 'psirt@acme.example'")
            .fetch_one(t.store.pool())
            .await
            .unwrap();
        let raw = String::from_utf8_lossy(&raw);
        assert!(
            raw.contains("BEGIN PGP MESSAGE") && !raw.contains("/account/welcome/"),
            "the link travels encrypted to the contact's key"
        );
    }
    let body = &mails
        .iter()
        .find(|m| m.0 == "hanako@acme.example")
        .unwrap()
        .1;
    assert!(
        body.contains("Acme") && body.contains("アカウント"),
        "in the vendor's first language: {body}"
    );
    let token = body
        .split("https://renkei.example/account/welcome/")
        .nth(1)
        .unwrap()
        .split_whitespace()
        .next()
        .unwrap()
        .to_string();

    // The link sets the password once; a short password is refused and keeps it.
    assert!(
        accounts::use_welcome_link(&t.store, &token, "short".into())
            .await
            .is_err()
    );
    accounts::use_welcome_link(&t.store, &token, "correct horse battery".into())
        .await
        .unwrap();
    assert!(matches!(
        accounts::login(
            &t.store,
            "hanako@acme.example",
            "correct horse battery",
            "127.0.0.1"
        )
        .await
        .unwrap(),
        accounts::LoginOutcome::Success(_)
    ));
    assert!(
        accounts::welcome_link_user(&t.store, &token)
            .await
            .unwrap()
            .is_none(),
        "used up"
    );
    assert!(
        accounts::use_welcome_link(&t.store, &token, "another good one".into())
            .await
            .is_err()
    );

    // A contact added later, at a registered vendor, is welcomed at once.
    vendors::add_contact(
        &t.store,
        &t.settings,
        &coordinator,
        v.id,
        vendors::NewContact {
            name: "Taro".into(),
            email: "taro@acme.example".into(),
            pgp_key: None,
        },
        &now,
    )
    .await
    .unwrap();
    assert_eq!(outbox(&t, "vendor.welcome").await.len(), 3);
    let d = vendors::get(&t.store, v.id).await.unwrap();
    assert!(d.contacts.iter().all(|c| c.has_account));
    assert_eq!(d.documents.len(), 2);
    assert_eq!(d.meetings.len(), 1);

    // The vendor's own view leaves out the team's meeting record.
    let own = vendors::own(&t.store, &Principal::User(hanako.info()))
        .await
        .unwrap();
    assert!(own.meetings.is_empty());
    assert_eq!(own.documents.len(), 2);
    assert!(own.application.get("from").is_none());
}

fn sha256_hex(data: &[u8]) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(data))
}

#[tokio::test]
async fn a_finder_signed_in_finds_their_reports_in_their_account_and_no_one_else_does() {
    use cases::finder::{self, Standing};
    let t = team().await;
    let lab = org(
        &t,
        "Research Lab",
        renkei_core::orgs::OrgKind::Constituent,
        "JP",
    )
    .await;
    let researcher = user(
        &t.store,
        "hanako@finder.example",
        Role::Constituent,
        Some(lab),
    )
    .await;
    let Principal::User(info) = &researcher else {
        unreachable!()
    };
    let report = |actor: Actor| {
        let t = &t;
        async move {
            cases::submit(
                &t.store,
                &t.settings,
                &actor,
                cases::NewCase {
                    title: "SQL injection in Acme Shop search".into(),
                    description: "The search box reaches the query unescaped.".into(),
                    reporter_name: "Hanako".into(),
                    reporter_email: "hanako@finder.example".into(),
                    ..Default::default()
                },
                Lang::En,
                &t.store.now_str(),
            )
            .await
            .unwrap()
            .case
            .to_string()
        }
    };
    let mine = report(Actor::user(info.id, &info.email)).await;
    let anonymous = report(Actor::anonymous("198.51.100.7")).await;
    let now = t.store.now();
    let own = finder::own_reports(&t.store, &t.settings, info.id, now)
        .await
        .unwrap();
    assert_eq!(own.len(), 1, "the anonymous report is not theirs");
    assert_eq!(
        (own[0].case.as_str(), own[0].standing),
        (mine.as_str(), Standing::Received)
    );
    // The page opens for them, with a fresh link; for no other account, and not for
    // a case they did not report.
    let secret = finder::open_own(&t.store, &t.settings, info.id, &mine)
        .await
        .unwrap();
    assert_eq!(finder_view(&t, &secret, now).await.case, mine);
    let other = user(
        &t.store,
        "someone@else.example",
        Role::Constituent,
        Some(lab),
    )
    .await;
    let Principal::User(other) = other else {
        unreachable!()
    };
    assert!(is_not_found(
        finder::open_own(&t.store, &t.settings, other.id, &mine).await
    ));
    assert!(is_not_found(
        finder::open_own(&t.store, &t.settings, info.id, &anonymous).await
    ));
    assert!(
        finder::own_reports(&t.store, &t.settings, other.id, now)
            .await
            .unwrap()
            .is_empty()
    );
}
