//! Early warning (早期警戒情報): a restricted alert, with any TLP but CLEAR,
//! addressed to named organizations, most of them critical-infrastructure operators.
//! It is written and reviewed like any alert. Once published, each organization
//! named reads it in the portal. Nobody else learns that it exists, and the
//! organizations never see one another. Each organization's contacts get it by mail
//! in the same transaction as the publication. The text goes only encrypted to a
//! contact's OpenPGP key. A contact without a key gets a notice that names neither
//! the subject nor the text, and points to the portal. Receipts are kept: the mail's
//! fate (from the outbox), the first reading in the portal, and the acknowledgement
//! a person gives in the portal or by the link in the mail.
//!
//! TLP:RED and every other restricted label never reach a mailing list or a feed:
//! those carry TLP:CLEAR alone (see `lists` and `alerts::feed`).

use renkei_core::Store;
use renkei_core::access::{Reader, UserInfo};
use renkei_core::audit::{self, Actor, Event};
use renkei_core::i18n::catalog;
use renkei_core::lang::Lang;
use renkei_core::row::Bit;
use renkei_core::secrets::{digest, random_token};
use renkei_core::store::Tx;
use renkei_core::tlp::Tlp;
use renkei_mail::{MailError, NewMail, TeamKey};
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::alerts::{self, AlertNumber};
use crate::{PublishError, Result};

/// What early-warning mail needs to know about the installation.
#[derive(Clone)]
pub struct Settings {
    pub public_url: String,
    /// The sender; empty: no mail goes out, and recipients read in the portal only.
    pub from: String,
    pub team_key: Option<TeamKey>,
}

const RECIPIENTS: &str = "SELECT org_id FROM alert_recipients WHERE alert_id = $1 ORDER BY org_id";

/// The organizations an alert is addressed to.
pub(crate) async fn recipient_orgs(tx: &mut Tx, alert: i64) -> Result<Vec<i64>> {
    Ok(sqlx::query_scalar(RECIPIENTS)
        .bind(alert)
        .fetch_all(tx.conn())
        .await?)
}

/// The organizations an alert is addressed to, read outside any transaction.
pub(crate) async fn recipients_of(store: &Store, alert: i64) -> Result<Vec<i64>> {
    Ok(sqlx::query_scalar(RECIPIENTS)
        .bind(alert)
        .fetch_all(store.pool())
        .await?)
}

#[derive(sqlx::FromRow)]
struct Contact {
    email: String,
    name: String,
    pgp_key: Option<String>,
    lang: Lang,
}

/// The contacts that receive an organization's early warnings: those whose role is
/// `early-warning` if there are any, else its `security` contacts, else all of them.
async fn contacts_for(tx: &mut Tx, org: i64) -> Result<Vec<Contact>> {
    #[derive(sqlx::FromRow)]
    struct Listed {
        role: String,
        #[sqlx(flatten)]
        contact: Contact,
    }
    let rows: Vec<Listed> = sqlx::query_as(
        "SELECT email, name, pgp_key, lang, role FROM contacts WHERE org_id = $1 ORDER BY id",
    )
    .bind(org)
    .fetch_all(tx.conn())
    .await?;
    let mut all = Vec::new();
    for Listed { role, mut contact } in rows {
        // A key that does not parse gets the notice, not the text in clear.
        contact.pgp_key = contact
            .pgp_key
            .filter(|k| renkei_mail::pgp::parse_public_key(k).is_ok());
        all.push((role, contact));
    }
    for role in ["early-warning", "security"] {
        if all.iter().any(|(r, _)| r == role) {
            return Ok(all
                .into_iter()
                .filter(|(r, _)| r == role)
                .map(|(_, c)| c)
                .collect());
        }
    }
    Ok(all.into_iter().map(|(_, c)| c).collect())
}

/// What TLP 2.0 lets the reader do, in the reader's language.
fn tlp_rule(tlp: Tlp, lang: Lang) -> &'static str {
    catalog(lang).get(match tlp {
        Tlp::Red => "publish.tlp_red",
        Tlp::AmberStrict => "publish.tlp_amber_strict",
        Tlp::Amber => "publish.tlp_amber",
        Tlp::Green => "publish.tlp_green",
        Tlp::Clear => "publish.tlp_clear",
    })
}

/// The text of one revision, as the mail carries it.
struct Text {
    title: String,
    body: String,
    change: String,
}

/// One early-warning message. The subject travels in clear even when the body is
/// encrypted, so it names only the label and the number.
fn message(
    lang: Lang,
    number: &str,
    revision: i64,
    tlp: Tlp,
    text: Option<&Text>,
    portal: &str,
    receipt: &str,
) -> (String, String) {
    let words = catalog(lang);
    let update = if revision > 1 {
        words.get("publish.ew_update")
    } else {
        ""
    };
    let subject = words.fill(
        "publish.ew_subject",
        &[("tlp", &tlp), ("number", &number), ("update", &update)],
    );
    let body = match text {
        Some(t) => {
            let change = if t.change.is_empty() {
                String::new()
            } else {
                words.fill("publish.ew_change", &[("change", &t.change)])
            };
            words.fill(
                "publish.ew_body",
                &[
                    ("tlp", &tlp),
                    ("rule", &tlp_rule(tlp, lang)),
                    ("number", &number),
                    ("title", &t.title),
                    ("change", &change),
                    ("body", &t.body),
                    ("portal", &portal),
                    ("receipt", &receipt),
                ],
            )
        }
        None => words.fill(
            "publish.ew_notice",
            &[
                ("number", &number),
                ("tlp", &tlp),
                ("portal", &portal),
                ("receipt", &receipt),
            ],
        ),
    };
    (subject, body)
}

/// Queues the published `revision` for one organization's contacts, once per
/// contact and revision; returns how many messages were queued.
pub(crate) async fn queue(
    tx: &mut Tx,
    settings: &Settings,
    alert: i64,
    number: &AlertNumber,
    revision: i64,
    tlp: Tlp,
    org: i64,
) -> Result<i64> {
    if settings.from.is_empty() {
        return Ok(0);
    }
    let (title_ja, title_en, body_ja, body_en, change_ja, change_en): (String, String, String, String, String, String) = sqlx::query_as(
        "SELECT title_ja, title_en, body_ja, body_en, change_ja, change_en FROM alert_revisions WHERE alert_id = $1 AND revision = $2",
    )
    .bind(alert)
    .bind(revision)
    .fetch_one(tx.conn())
    .await?;
    let text = |lang: Lang| Text {
        title: lang.pick(&title_ja, &title_en).to_string(),
        body: lang.pick(&body_ja, &body_en).to_string(),
        change: lang.pick(&change_ja, &change_en).to_string(),
    };
    let portal = format!(
        "{}{}",
        settings.public_url,
        alerts::page_path(number.as_str())
    );
    let exercise: i64 = sqlx::query_scalar("SELECT exercise FROM alerts WHERE id = $1")
        .bind(alert)
        .fetch_one(tx.conn())
        .await?;
    let exercise = exercise != 0;
    let now = tx.now_str();
    let mut queued = 0;
    for c in contacts_for(tx, org).await? {
        let token = random_token("ew_");
        let inserted: Option<i64> = sqlx::query_scalar(
            "INSERT INTO alert_deliveries (alert_id, revision, org_id, email, lang, encrypted, receipt_hash, created_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT DO NOTHING RETURNING id",
        )
        .bind(alert)
        .bind(revision)
        .bind(org)
        .bind(&c.email)
        .bind(c.lang.as_str())
        .bind(c.pgp_key.is_some() as i64)
        .bind(digest(&token))
        .bind(&now)
        .fetch_optional(tx.conn())
        .await?;
        let Some(delivery) = inserted else { continue };
        let text = text(c.lang);
        let receipt = format!("{}/warnings/receipt/{token}", settings.public_url);
        let (subject, body) = message(
            c.lang,
            number.as_str(),
            revision,
            tlp,
            c.pgp_key.is_some().then_some(&text),
            &portal,
            &receipt,
        );
        let to = format!("\"{}\" <{}>", c.name.replace(['"', '\\'], ""), c.email);
        let outbox = renkei_mail::enqueue(
            tx,
            NewMail {
                kind: "early-warning",
                object_type: "alert",
                object_id: number.as_str().into(),
                from: &settings.from,
                to: &to,
                subject: &subject,
                body: &body,
                in_reply_to: None,
                auto_reply: false,
                attachments: &[],
                sign: settings.team_key.as_ref(),
                cc: "",
                encrypt_to: c.pgp_key.as_deref().as_slice(),
                exercise,
            },
        )
        .await
        .map_err(|e| match e {
            MailError::Core(e) => e.into(),
            MailError::Database(e) => e.into(),
            other => PublishError::invalid("recipients", format!("contact {}: {other}", c.email)),
        })?;
        sqlx::query("UPDATE alert_deliveries SET outbox_id = $1 WHERE id = $2")
            .bind(outbox)
            .bind(delivery)
            .execute(tx.conn())
            .await?;
        queued += 1;
    }
    Ok(queued)
}

/// One message of an early warning, as the staff follow it.
#[derive(Debug, Clone, Serialize, PartialEq, sqlx::FromRow)]
pub struct Delivery {
    pub revision: i64,
    pub email: String,
    pub lang: String,
    /// Whether the text went encrypted (else only a notice pointing to the portal).
    #[sqlx(try_from = "Bit")]
    pub encrypted: bool,
    /// The outbox's word: queued, sending, sent or failed.
    pub mail_status: Option<String>,
    pub sent_at: Option<String>,
}

/// A reading or an acknowledgement.
#[derive(Debug, Clone, Serialize, PartialEq, sqlx::FromRow)]
pub struct Receipt {
    pub revision: i64,
    /// read or acknowledged
    pub kind: String,
    /// portal or mail
    pub via: String,
    pub who: String,
    pub at: String,
}

/// An organization an early warning is addressed to, with what it received.
#[derive(Debug, Clone, Serialize, PartialEq, sqlx::FromRow)]
pub struct Recipient {
    pub org_id: i64,
    pub org_name: String,
    pub org_kind: String,
    pub added_at: String,
    #[sqlx(skip)]
    pub deliveries: Vec<Delivery>,
    #[sqlx(skip)]
    pub receipts: Vec<Receipt>,
}

impl Recipient {
    /// The first acknowledgement of `revision`, if any.
    pub fn acknowledged(&self, revision: i64) -> Option<&Receipt> {
        self.receipts
            .iter()
            .find(|r| r.revision == revision && r.kind == "acknowledged")
    }
}

fn staff(user: &UserInfo) -> Result<Actor> {
    crate::staff(user, "early warnings are")
}

/// The organizations an alert is addressed to, with deliveries and receipts (staff).
pub async fn recipients(
    store: &Store,
    user: &UserInfo,
    number: &AlertNumber,
) -> Result<Vec<Recipient>> {
    staff(user)?;
    let h = alerts::head_read(store, number).await?;
    let mut orgs: Vec<Recipient> = sqlx::query_as(
        "SELECT r.org_id, o.name AS org_name, o.kind AS org_kind, r.added_at FROM alert_recipients r JOIN organizations o ON o.id = r.org_id WHERE r.alert_id = $1 ORDER BY o.name",
    )
    .bind(h.id)
    .fetch_all(store.pool())
    .await?;
    /// A row that belongs to one of the organizations.
    #[derive(sqlx::FromRow)]
    struct Of<T> {
        org_id: i64,
        #[sqlx(flatten)]
        row: T,
    }
    let deliveries: Vec<Of<Delivery>> = sqlx::query_as(
        "SELECT d.org_id, d.revision, d.email, d.lang, d.encrypted, o.status AS mail_status, o.sent_at
         FROM alert_deliveries d LEFT JOIN outbox o ON o.id = d.outbox_id WHERE d.alert_id = $1 ORDER BY d.revision, d.id",
    )
    .bind(h.id)
    .fetch_all(store.pool())
    .await?;
    let receipts: Vec<Of<Receipt>> = sqlx::query_as(
        "SELECT org_id, revision, kind, via, who, at FROM alert_receipts WHERE alert_id = $1 ORDER BY at, id",
    )
    .bind(h.id)
    .fetch_all(store.pool())
    .await?;
    for r in &mut orgs {
        r.deliveries = deliveries
            .iter()
            .filter(|d| d.org_id == r.org_id)
            .map(|d| d.row.clone())
            .collect();
        r.receipts = receipts
            .iter()
            .filter(|x| x.org_id == r.org_id)
            .map(|x| x.row.clone())
            .collect();
    }
    Ok(orgs)
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewRecipient {
    pub org_id: i64,
}

/// Addresses an alert to one more organization. An alert already published goes
/// to it at once.
pub async fn add(
    store: &Store,
    settings: &Settings,
    user: &UserInfo,
    number: &AlertNumber,
    org: i64,
) -> Result<Vec<Recipient>> {
    let actor = staff(user)?;
    let mut tx = store.begin().await?;
    let h = alerts::head(&mut tx, number).await?;
    if h.coming_tlp() == Tlp::Clear && h.tlp == Tlp::Clear {
        return Err(PublishError::Conflict(
            "a TLP:CLEAR alert is for everyone (send it to a mailing list); early warning is for restricted alerts".into(),
        ));
    }
    let (name, kind): (String, String) =
        sqlx::query_as("SELECT name, kind FROM organizations WHERE id = $1")
            .bind(org)
            .fetch_optional(tx.conn())
            .await?
            .ok_or_else(|| PublishError::invalid("org_id", format!("no organization {org}")))?;
    if kind == "team" {
        return Err(PublishError::invalid(
            "org_id",
            "the team itself reads every alert already",
        ));
    }
    if contacts_for(&mut tx, org).await?.is_empty() {
        return Err(PublishError::invalid(
            "org_id",
            format!("{name} has no contact to tell: add one in the address book first"),
        ));
    }
    let added = sqlx::query(
        "INSERT INTO alert_recipients (alert_id, org_id, added_by, added_at) VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING",
    )
    .bind(h.id)
    .bind(org)
    .bind(user.id)
    .bind(store.now_str())
    .execute(tx.conn())
    .await?
    .rows_affected();
    if added > 0 {
        let messages = match h.published_revision {
            Some(revision) => queue(&mut tx, settings, h.id, number, revision, h.tlp, org).await?,
            None => 0,
        };
        audit::record(
            &mut tx,
            &actor,
            Event {
                action: "alert.recipient.add",
                object_type: "alert",
                object_id: number.as_str().into(),
                changes: json!({"org_id": org, "organization": name, "messages": messages}),
            },
        )
        .await?;
    }
    tx.commit().await?;
    recipients(store, user, number).await
}

/// Takes an organization off an alert: it no longer reads it in the portal (mail
/// already sent cannot be recalled; the audit log keeps that it was).
pub async fn remove(
    store: &Store,
    user: &UserInfo,
    number: &AlertNumber,
    org: i64,
) -> Result<Vec<Recipient>> {
    let actor = staff(user)?;
    let mut tx = store.begin().await?;
    let h = alerts::head(&mut tx, number).await?;
    let removed = sqlx::query("DELETE FROM alert_recipients WHERE alert_id = $1 AND org_id = $2")
        .bind(h.id)
        .bind(org)
        .execute(tx.conn())
        .await?
        .rows_affected();
    if removed == 0 {
        return Err(PublishError::NotFound("recipient"));
    }
    audit::record(
        &mut tx,
        &actor,
        Event {
            action: "alert.recipient.remove",
            object_type: "alert",
            object_id: number.as_str().into(),
            changes: json!({"org_id": org, "published": h.published_revision.is_some()}),
        },
    )
    .await?;
    tx.commit().await?;
    recipients(store, user, number).await
}

/// The published revision an organization member reads, if the alert is addressed
/// to their organization.
async fn addressed(store: &Store, reader: Reader, number: &AlertNumber) -> Result<(i64, i64, i64)> {
    let Reader::Org(org) = reader else {
        return Err(PublishError::Forbidden(
            "receipts are given by the organizations an early warning is addressed to".into(),
        ));
    };
    let h = alerts::head_read(store, number).await?;
    let orgs = recipients_of(store, h.id).await?;
    match h.published_revision {
        Some(revision) if reader.may_read_alert(h.tlp, true, &orgs) && orgs.contains(&org) => {
            Ok((h.id, revision, org))
        }
        _ => Err(PublishError::NotFound("alert")),
    }
}

async fn insert_receipt(
    tx: &mut Tx,
    (alert, revision, org): (i64, i64, i64),
    kind: &str,
    via: &str,
    who: &str,
) -> Result<bool> {
    Ok(sqlx::query(
        "INSERT INTO alert_receipts (alert_id, revision, org_id, kind, via, who, at) VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT DO NOTHING",
    )
    .bind(alert)
    .bind(revision)
    .bind(org)
    .bind(kind)
    .bind(via)
    .bind(who)
    .bind(tx.now_str())
    .execute(tx.conn())
    .await?
    .rows_affected()
        > 0)
}

/// Notes that a member of a recipient organization opened the alert in the portal
/// (the first time per person and revision). Others are ignored.
pub async fn record_read(store: &Store, user: &UserInfo, number: &AlertNumber) -> Result<()> {
    let reader = Reader::of(&renkei_core::access::Principal::User(user.clone()));
    let Ok(at) = addressed(store, reader, number).await else {
        return Ok(());
    };
    let mut tx = store.begin().await?;
    insert_receipt(&mut tx, at, "read", "portal", &user.email).await?;
    tx.commit().await?;
    Ok(())
}

/// A member of a recipient organization confirms receipt in the portal.
pub async fn acknowledge(store: &Store, user: &UserInfo, number: &AlertNumber) -> Result<()> {
    let reader = Reader::of(&renkei_core::access::Principal::User(user.clone()));
    let at = addressed(store, reader, number).await?;
    let mut tx = store.begin().await?;
    if insert_receipt(&mut tx, at, "acknowledged", "portal", &user.email).await? {
        audit::record(
            &mut tx,
            &Actor::user(user.id, &user.email),
            Event {
                action: "alert.acknowledge",
                object_type: "alert",
                object_id: number.as_str().into(),
                changes: json!({"revision": at.1, "org_id": at.2, "via": "portal"}),
            },
        )
        .await?;
    }
    tx.commit().await?;
    Ok(())
}

/// What a receipt link in a message stands for.
#[derive(Debug, Clone, Serialize, PartialEq, sqlx::FromRow)]
pub struct ReceiptLink {
    pub number: String,
    pub revision: i64,
    pub email: String,
    pub acknowledged_at: Option<String>,
}

#[derive(sqlx::FromRow)]
struct Linked {
    #[sqlx(flatten)]
    link: ReceiptLink,
    #[sqlx(rename = "alert_id")]
    alert: i64,
    #[sqlx(rename = "org_id")]
    org: i64,
    still: i64,
}

async fn by_token(store: &Store, token: &str) -> Result<Linked> {
    let linked: Linked = sqlx::query_as(
        "SELECT d.alert_id, d.revision, d.org_id, d.email, a.number,
                (SELECT MIN(at) FROM alert_receipts x WHERE x.alert_id = d.alert_id AND x.revision = d.revision AND x.org_id = d.org_id AND x.kind = 'acknowledged' AND x.who = d.email) AS acknowledged_at,
                (SELECT COUNT(*) FROM alert_recipients r WHERE r.alert_id = d.alert_id AND r.org_id = d.org_id) AS still
         FROM alert_deliveries d JOIN alerts a ON a.id = d.alert_id WHERE d.receipt_hash = $1",
    )
    .bind(digest(token.trim()))
    .fetch_optional(store.pool())
    .await?
    .ok_or(PublishError::NotFound("receipt link"))?;
    // An organization taken off the alert has nothing left to acknowledge.
    if linked.still == 0 {
        return Err(PublishError::NotFound("receipt link"));
    }
    Ok(linked)
}

/// The receipt link's page: what it acknowledges. It names the alert's number only,
/// never its text: a link can be forwarded.
pub async fn receipt_link(store: &Store, token: &str) -> Result<ReceiptLink> {
    Ok(by_token(store, token).await?.link)
}

/// The button behind the receipt link: the contact acknowledges by mail.
pub async fn acknowledge_link(store: &Store, token: &str) -> Result<ReceiptLink> {
    let l = by_token(store, token).await?;
    let mut tx = store.begin().await?;
    let at = (l.alert, l.link.revision, l.org);
    if insert_receipt(&mut tx, at, "acknowledged", "mail", &l.link.email).await? {
        audit::record(
            &mut tx,
            &Actor {
                user_id: None,
                label: format!("receipt-link:{}", l.link.email),
            },
            Event {
                action: "alert.acknowledge",
                object_type: "alert",
                object_id: l.link.number.clone(),
                changes: json!({"revision": l.link.revision, "org_id": l.org, "via": "mail"}),
            },
        )
        .await?;
    }
    tx.commit().await?;
    Ok(by_token(store, token).await?.link)
}

/// A line of the early-warning inbox.
#[derive(Debug, Clone, Serialize, PartialEq, sqlx::FromRow)]
pub struct Warning {
    pub number: String,
    pub tlp: Tlp,
    pub title_ja: String,
    pub title_en: String,
    #[sqlx(rename = "published_revision")]
    pub revision: Option<i64>,
    pub published_at: Option<String>,
    /// Organizations addressed (staff only; an organization never sees the others).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub organizations: Option<i64>,
    /// Organizations that acknowledged the current revision (staff), or when the
    /// reader's own organization did (`acknowledged_at`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub acknowledged: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub acknowledged_at: Option<String>,
}

impl Warning {
    pub fn title(&self, lang: Lang) -> &str {
        lang.pick(&self.title_ja, &self.title_en)
    }
}

/// The early warnings a reader has: for an organization, the published ones
/// addressed to it; for the staff, every restricted alert with how many
/// organizations acknowledged it. The public has none.
pub async fn inbox(store: &Store, reader: Reader) -> Result<Vec<Warning>> {
    let org = match reader {
        Reader::Public => return Ok(Vec::new()),
        Reader::Org(org) => org,
        Reader::Staff => -1,
    };
    let staff = reader == Reader::Staff;
    #[derive(sqlx::FromRow)]
    struct Listed {
        mine: i64,
        #[sqlx(flatten)]
        warning: Warning,
    }
    let rows: Vec<Listed> = sqlx::query_as(
        "SELECT a.id, a.number, a.tlp, a.published_revision, a.published_at, r.title_ja, r.title_en,
                (SELECT COUNT(*) FROM alert_recipients x WHERE x.alert_id = a.id) AS organizations,
                (SELECT COUNT(*) FROM alert_recipients x WHERE x.alert_id = a.id AND x.org_id = $1) AS mine,
                (SELECT COUNT(DISTINCT c.org_id) FROM alert_receipts c WHERE c.alert_id = a.id AND c.revision = a.published_revision AND c.kind = 'acknowledged') AS acknowledged,
                (SELECT MIN(c.at) FROM alert_receipts c WHERE c.alert_id = a.id AND c.revision = a.published_revision AND c.kind = 'acknowledged' AND c.org_id = $1) AS acknowledged_at
         FROM alerts a JOIN alert_revisions r ON r.alert_id = a.id
           AND r.revision = COALESCE(a.published_revision, (SELECT MAX(revision) FROM alert_revisions y WHERE y.alert_id = a.id))
         WHERE (a.tlp <> 'TLP:CLEAR' OR EXISTS (SELECT 1 FROM alert_recipients x WHERE x.alert_id = a.id))
           AND ($2 = 1 OR (a.exercise = 0 AND EXISTS (SELECT 1 FROM alert_recipients x WHERE x.alert_id = a.id AND x.org_id = $1)))
         ORDER BY a.id DESC LIMIT 500",
    )
    .bind(org)
    .bind(staff as i64)
    .fetch_all(store.pool())
    .await?;
    let mut out = Vec::new();
    for Listed { mine, mut warning } in rows {
        let recipients: &[i64] = if mine > 0 { &[org] } else { &[] };
        if !reader.may_read_alert(warning.tlp, warning.revision.is_some(), recipients) {
            continue;
        }
        // Staff see how many were addressed and acknowledged; an organization sees
        // only when it acknowledged.
        if staff {
            warning.acknowledged_at = None;
        } else {
            warning.organizations = None;
            warning.acknowledged = None;
        }
        out.push(warning);
    }
    Ok(out)
}

/// Whether `reader`'s organization acknowledged the published revision of an alert.
pub async fn acknowledged_by(
    store: &Store,
    reader: Reader,
    number: &AlertNumber,
) -> Result<Option<String>> {
    let Ok((alert, revision, org)) = addressed(store, reader, number).await else {
        return Ok(None);
    };
    Ok(sqlx::query_scalar(
        "SELECT MIN(at) FROM alert_receipts WHERE alert_id = $1 AND revision = $2 AND org_id = $3 AND kind = 'acknowledged'",
    )
    .bind(alert)
    .bind(revision)
    .bind(org)
    .fetch_one(store.pool())
    .await?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_notice_without_a_key_carries_neither_title_nor_text() {
        let t = Text {
            title: "Exploitation of FooVPN".into(),
            body: "Patch FooVPN 3.2 now.".into(),
            change: String::new(),
        };
        for lang in Lang::ALL {
            let (subject, body) = message(lang, "AT-2026-0003", 1, Tlp::Amber, None, "P", "R");
            assert!(subject.contains("AT-2026-0003") && subject.contains("TLP:AMBER"));
            for secret in [&t.title, &t.body] {
                assert!(!body.contains(secret.as_str()) && !subject.contains(secret.as_str()));
            }
            assert!(body.contains('P') && body.contains('R'));
            let (subject, body) = message(lang, "AT-2026-0003", 2, Tlp::Red, Some(&t), "P", "R");
            // The subject goes in clear even when the body is encrypted.
            assert!(!subject.contains(&t.title));
            assert!(body.contains(&t.title) && body.contains(&t.body));
            assert!(body.contains(tlp_rule(Tlp::Red, lang)));
        }
    }
}
