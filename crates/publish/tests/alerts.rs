//! Alerts and early warnings at the store level, without HTTP: a second coordinator
//! publishes, the public reads only what is published and TLP:CLEAR, and a
//! restricted alert reaches only the organizations it is addressed to, by mail in
//! each contact's language.

use renkei_core::Store;
use renkei_core::access::{Reader, Role, UserInfo};
use renkei_core::accounts::{self, NewUser};
use renkei_core::audit::Actor;
use renkei_core::lang::Lang;
use renkei_core::orgs::{self, NewContact, NewOrganization, OrgKind};
use renkei_publish::alerts::{self, AlertNumber, AlertText, Viewer};
use renkei_publish::{PublishError, warnings};

struct Team {
    store: Store,
    author: UserInfo,
    reviewer: UserInfo,
    mail: warnings::Settings,
    _dir: tempfile::TempDir,
}

async fn team() -> Team {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("renkei.db").display());
    let store = Store::open(&url, 4).await.unwrap();
    let author = user(&store, "author@csirt.example", Role::Coordinator, None).await;
    let reviewer = user(&store, "reviewer@csirt.example", Role::Coordinator, None).await;
    Team {
        store,
        author,
        reviewer,
        mail: warnings::Settings {
            public_url: "https://csirt.example".into(),
            from: "CSIRT <csirt@csirt.example>".into(),
            team_key: None,
        },
        _dir: dir,
    }
}

async fn user(store: &Store, email: &str, role: Role, org_id: Option<i64>) -> UserInfo {
    accounts::create_user(
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
    .unwrap()
    .info()
}

fn text(tlp: &str) -> AlertText {
    AlertText {
        category: Some("vulnerability".into()),
        tlp: Some(tlp.into()),
        title_ja: "FooVPN の脆弱性".into(),
        title_en: "FooVPN vulnerability".into(),
        body_ja: "更新してください。".into(),
        body_en: "Please update.".into(),
        ..Default::default()
    }
}

/// An organization with one contact who reads Japanese.
async fn organization(t: &Team, name: &str) -> i64 {
    let org = orgs::create(
        &t.store,
        &Actor::system("test"),
        NewOrganization {
            name: name.into(),
            kind: OrgKind::Constituent,
            country: Some("JP".into()),
            domain: None,
            notes: String::new(),
            topics: String::new(),
            region: String::new(),
        },
    )
    .await
    .unwrap();
    orgs::add_contact(
        &t.store,
        &Actor::system("test"),
        org.id,
        NewContact {
            name: "PSIRT".into(),
            email: format!("psirt@{}.example", name.to_lowercase()),
            phone: None,
            pgp_key: None,
            lang: Lang::Ja,
            role: Some("security".into()),
        },
    )
    .await
    .unwrap();
    org.id
}

#[tokio::test]
async fn an_alert_reaches_the_public_only_once_a_second_coordinator_publishes_it() {
    let t = team().await;
    let now = t.store.now();
    let a = alerts::create(&t.store, &t.author, &text("TLP:CLEAR"), now)
        .await
        .unwrap();
    let number = AlertNumber::parse(&a.number).unwrap();
    assert!(
        alerts::list(&t.store, Viewer::Public, None, 100)
            .await
            .unwrap()
            .is_empty(),
        "a draft is the team's"
    );
    assert!(
        alerts::get(&t.store, &a.number, Viewer::Public, now)
            .await
            .unwrap()
            .is_none()
    );

    alerts::submit(&t.store, &t.author, &number).await.unwrap();
    let own = alerts::publish(&t.store, &t.author, &number, now, &t.mail).await;
    assert!(
        matches!(
            own,
            Err(PublishError::Conflict(_)) | Err(PublishError::Forbidden(_))
        ),
        "the author published their own alert: {own:?}"
    );
    assert!(
        alerts::list(&t.store, Viewer::Public, None, 100)
            .await
            .unwrap()
            .is_empty()
    );

    alerts::publish(&t.store, &t.reviewer, &number, now, &t.mail)
        .await
        .unwrap();
    let listed = alerts::list(&t.store, Viewer::Public, None, 100)
        .await
        .unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].title(Lang::Ja), "FooVPN の脆弱性");
    let read = alerts::get(&t.store, &a.number, Viewer::Public, now)
        .await
        .unwrap()
        .expect("published");
    assert!(
        read.pending.is_none() && read.next_tlp.is_none(),
        "{read:?}"
    );
    assert!(
        read.history.iter().all(|r| r.author_id.is_none()),
        "who wrote it is the team's business"
    );
    let from = renkei_core::time::format(now - chrono::Duration::days(1));
    let to = renkei_core::time::format(now + chrono::Duration::days(1));
    assert_eq!(
        alerts::published_between(&t.store, &from, &to)
            .await
            .unwrap()
            .len(),
        1
    );
}

#[tokio::test]
async fn a_restricted_alert_reaches_only_its_organizations_in_their_language() {
    let t = team().await;
    let now = t.store.now();
    let addressed = organization(&t, "Addressed").await;
    let other = organization(&t, "Other").await;
    let a = alerts::create(&t.store, &t.author, &text("TLP:AMBER"), now)
        .await
        .unwrap();
    let number = AlertNumber::parse(&a.number).unwrap();
    warnings::add(&t.store, &t.mail, &t.author, &number, addressed)
        .await
        .unwrap();
    alerts::submit(&t.store, &t.author, &number).await.unwrap();
    alerts::publish(&t.store, &t.reviewer, &number, now, &t.mail)
        .await
        .unwrap();

    assert!(
        alerts::list(&t.store, Viewer::Public, None, 100)
            .await
            .unwrap()
            .is_empty(),
        "TLP:AMBER is not for the public"
    );
    let inbox = warnings::inbox(&t.store, Reader::Org(addressed))
        .await
        .unwrap();
    assert_eq!(inbox.len(), 1);
    assert!(
        inbox[0].organizations.is_none(),
        "an organization never learns who else was addressed"
    );
    assert!(
        warnings::inbox(&t.store, Reader::Org(other))
            .await
            .unwrap()
            .is_empty()
    );
    assert!(
        alerts::get(&t.store, &a.number, Viewer::Org(other), now)
            .await
            .unwrap()
            .is_none()
    );

    // One message, to the addressed organization's contact, in Japanese, with no
    // text in clear (the contact has no key).
    let mail: Vec<(String, String, String)> =
        sqlx::query_as("SELECT rcpt_to, subject, body FROM outbox WHERE kind = 'early-warning'")
            .fetch_all(t.store.pool())
            .await
            .unwrap();
    assert_eq!(mail.len(), 1, "{mail:?}");
    let (to, subject, body) = &mail[0];
    assert!(to.contains("psirt@addressed.example"), "{to}");
    assert!(
        subject.contains("早期警戒情報") && subject.contains(&a.number),
        "{subject}"
    );
    assert!(
        !body.contains("FooVPN") && body.contains("ポータル"),
        "{body}"
    );
}
