//! Cases at the store level, without HTTP: who may see a case and which threads,
//! and the one publication date agreed by every vendor on it.

use renkei_core::Store;
use renkei_core::access::{Principal, Role};
use renkei_core::accounts::{self, NewUser};
use renkei_core::audit::Actor;
use renkei_core::lang::Lang;
use renkei_vuln::{Settings, VulnError, cases, notes, vendors};

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
