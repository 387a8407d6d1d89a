//! What each registration step leaves behind, and what it needs before it may be
//! taken: the documents sent to the vendor and returned signed (kept whole with
//! their SHA-256), the record of the meeting, and each contact's OpenPGP key
//! confirmed by its fingerprint read out over another channel. Completing
//! registration gives every contact an account of the vendor's organization and a
//! welcome mail with a one-time link to set its password.
//!
//! # Layout
//! - documents: [`add_document`], [`documents`], [`document`]
//! - the meeting: [`record_meeting`], [`meetings`]
//! - keys: [`confirm_key`]
//! - steps: [`missing_for`] (what a step still needs), used by
//!   [`crate::vendors::set_state`]
//! - accounts: [`welcome_contacts`]

use renkei_core::access::Role;
use renkei_core::audit::{self, Actor, Event};
use renkei_core::lang::Lang;
use renkei_core::{Store, accounts, time};
use serde::{Deserialize, Serialize};
use serde_json::json;
use sha2::{Digest, Sha256};

use crate::model::VendorState;
use crate::vendors::{self, VendorDetail};
use crate::{Result, Settings, VulnError};

/// The largest registration document kept (a signed PDF, a scanned form).
pub const MAX_DOCUMENT_BYTES: usize = 20 * 1024 * 1024;
/// How long a welcome link works.
pub const WELCOME_LINK_HOURS: u64 = 14 * 24;

#[derive(Debug, Clone, Serialize, PartialEq, sqlx::FromRow)]
pub struct VendorDocument {
    pub id: i64,
    /// `sent`: from the team (forms, terms); `returned`: signed by the vendor.
    pub direction: String,
    pub filename: String,
    pub content_type: String,
    pub size: i64,
    pub sha256: String,
    pub added_by: String,
    pub added_at: String,
}

#[derive(Debug, Clone, Serialize, PartialEq, sqlx::FromRow)]
pub struct VendorMeeting {
    pub id: i64,
    /// The day it was held, `YYYY-MM-DD`.
    pub held_on: String,
    pub attendees: String,
    pub minutes: String,
    pub recorded_by: String,
    pub recorded_at: String,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewMeeting {
    pub held_on: String,
    pub attendees: String,
    pub minutes: String,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeyConfirmation {
    /// The fingerprint as the contact read it out (spaces and case do not matter).
    pub fingerprint: String,
}

/// Who got an account when registration completed, and who did not and why.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct Welcomed {
    /// Contacts given a new account and sent a welcome mail.
    pub created: Vec<String>,
    /// Contacts whose address already has an account of another organization or
    /// of the team: nothing is made or sent for them.
    pub skipped: Vec<String>,
}

/// Keeps a document exchanged during registration, whole, with its digest.
#[allow(clippy::too_many_arguments)]
pub async fn add_document(
    store: &Store,
    actor: &Actor,
    vendor_id: i64,
    direction: &str,
    filename: &str,
    content_type: &str,
    data: &[u8],
    now: &str,
) -> Result<VendorDocument> {
    vendors::get(store, vendor_id).await?;
    if !matches!(direction, "sent" | "returned") {
        return Err(VulnError::invalid(
            "direction",
            "a registration document is either sent (by the team) or returned (by the vendor)",
        ));
    }
    if data.is_empty() || data.len() > MAX_DOCUMENT_BYTES {
        return Err(VulnError::invalid(
            "file",
            format!(
                "a document must hold something and at most {} MB",
                MAX_DOCUMENT_BYTES / 1024 / 1024
            ),
        ));
    }
    let filename = crate::cases::clean_name(filename);
    let content_type = if content_type.trim().is_empty() || content_type.len() > 100 {
        "application/octet-stream".to_string()
    } else {
        content_type.trim().to_string()
    };
    let sha256 = hex::encode(Sha256::digest(data));
    let mut tx = store.begin().await?;
    let id: i64 = sqlx::query_scalar(
        "INSERT INTO vendor_documents (vendor_id, direction, filename, content_type, size, sha256, data, added_by, added_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING id",
    )
    .bind(vendor_id)
    .bind(direction)
    .bind(&filename)
    .bind(&content_type)
    .bind(data.len() as i64)
    .bind(&sha256)
    .bind(data)
    .bind(&actor.label)
    .bind(now)
    .fetch_one(tx.conn())
    .await?;
    audit::record(
        &mut tx,
        actor,
        Event {
            action: "vendor.document_add",
            object_type: "vendor",
            object_id: vendor_id.to_string(),
            changes: json!({"document": id, "direction": direction, "filename": filename, "size": data.len(), "sha256": sha256}),
        },
    )
    .await?;
    tx.commit().await?;
    Ok(VendorDocument {
        id,
        direction: direction.to_string(),
        filename,
        content_type,
        size: data.len() as i64,
        sha256,
        added_by: actor.label.clone(),
        added_at: now.to_string(),
    })
}

pub async fn documents(store: &Store, vendor_id: i64) -> Result<Vec<VendorDocument>> {
    Ok(sqlx::query_as(
        "SELECT id, direction, filename, content_type, size, sha256, added_by, added_at \
         FROM vendor_documents WHERE vendor_id = $1 ORDER BY id",
    )
    .bind(vendor_id)
    .fetch_all(store.pool())
    .await?)
}

/// One document with its bytes.
pub async fn document(store: &Store, vendor_id: i64, id: i64) -> Result<(VendorDocument, Vec<u8>)> {
    #[derive(sqlx::FromRow)]
    struct Row {
        #[sqlx(flatten)]
        doc: VendorDocument,
        data: Vec<u8>,
    }
    let row: Option<Row> = sqlx::query_as(
        "SELECT id, direction, filename, content_type, size, sha256, added_by, added_at, data \
         FROM vendor_documents WHERE vendor_id = $1 AND id = $2",
    )
    .bind(vendor_id)
    .bind(id)
    .fetch_optional(store.pool())
    .await?;
    row.map(|r| (r.doc, r.data))
        .ok_or(VulnError::NotFound("document"))
}

/// Records the registration meeting: when, who took part, what was agreed.
pub async fn record_meeting(
    store: &Store,
    actor: &Actor,
    vendor_id: i64,
    new: NewMeeting,
    now: &str,
) -> Result<VendorMeeting> {
    vendors::get(store, vendor_id).await?;
    let held_on = new.held_on.trim();
    if chrono::NaiveDate::parse_from_str(held_on, "%Y-%m-%d").is_err() {
        return Err(VulnError::invalid(
            "held_on",
            "give the day of the meeting as YYYY-MM-DD",
        ));
    }
    let attendees = new.attendees.trim();
    let minutes = new.minutes.trim();
    if attendees.is_empty() || minutes.is_empty() {
        return Err(VulnError::invalid(
            "minutes",
            "a meeting record names who took part and what was agreed",
        ));
    }
    if attendees.len() > 2000 || minutes.len() > 100_000 {
        return Err(VulnError::invalid(
            "minutes",
            "the record is too long (attendees 2,000 and minutes 100,000 characters at most)",
        ));
    }
    let mut tx = store.begin().await?;
    let id: i64 = sqlx::query_scalar(
        "INSERT INTO vendor_meetings (vendor_id, held_on, attendees, minutes, recorded_by, recorded_at) \
         VALUES ($1, $2, $3, $4, $5, $6) RETURNING id",
    )
    .bind(vendor_id)
    .bind(held_on)
    .bind(attendees)
    .bind(minutes)
    .bind(&actor.label)
    .bind(now)
    .fetch_one(tx.conn())
    .await?;
    audit::record(
        &mut tx,
        actor,
        Event {
            action: "vendor.meeting_record",
            object_type: "vendor",
            object_id: vendor_id.to_string(),
            changes: json!({"meeting": id, "held_on": held_on, "attendees": attendees}),
        },
    )
    .await?;
    tx.commit().await?;
    Ok(VendorMeeting {
        id,
        held_on: held_on.to_string(),
        attendees: attendees.to_string(),
        minutes: minutes.to_string(),
        recorded_by: actor.label.clone(),
        recorded_at: now.to_string(),
    })
}

pub async fn meetings(store: &Store, vendor_id: i64) -> Result<Vec<VendorMeeting>> {
    Ok(sqlx::query_as(
        "SELECT id, held_on, attendees, minutes, recorded_by, recorded_at \
         FROM vendor_meetings WHERE vendor_id = $1 ORDER BY held_on, id",
    )
    .bind(vendor_id)
    .fetch_all(store.pool())
    .await?)
}

/// A fingerprint as people write it: hex digits only, upper case.
fn normal_fingerprint(s: &str) -> String {
    s.chars()
        .filter(|c| !c.is_whitespace() && *c != ':')
        .flat_map(char::to_uppercase)
        .collect()
}

/// Confirms a contact's OpenPGP key: the fingerprint the contact read out by
/// another channel (telephone, the meeting) must be the imported key's, whole.
pub async fn confirm_key(
    store: &Store,
    actor: &Actor,
    vendor_id: i64,
    contact_id: i64,
    given: &KeyConfirmation,
    now: &str,
) -> Result<vendors::VendorContact> {
    let detail = vendors::get(store, vendor_id).await?;
    let contact = detail
        .contacts
        .iter()
        .find(|c| c.id == contact_id)
        .ok_or(VulnError::NotFound("contact"))?;
    let Some(fingerprint) = contact.key_fingerprint.as_deref() else {
        return Err(VulnError::invalid(
            "fingerprint",
            "this contact has no OpenPGP key to confirm; import the key first",
        ));
    };
    let read_out = normal_fingerprint(&given.fingerprint);
    if read_out != normal_fingerprint(fingerprint) {
        let mut tx = store.begin().await?;
        audit::record(
            &mut tx,
            actor,
            Event {
                action: "vendor.key_mismatch",
                object_type: "vendor",
                object_id: vendor_id.to_string(),
                changes: json!({"contact": contact_id, "imported": fingerprint, "read_out": read_out}),
            },
        )
        .await?;
        tx.commit().await?;
        return Err(VulnError::invalid(
            "fingerprint",
            "the fingerprint read out is not the imported key's: do not use this key until the contact sends the right one",
        ));
    }
    let mut tx = store.begin().await?;
    sqlx::query(
        "UPDATE vendor_contacts SET key_confirmed_at = $1, key_confirmed_by = $2 WHERE id = $3 AND vendor_id = $4",
    )
    .bind(now)
    .bind(&actor.label)
    .bind(contact_id)
    .bind(vendor_id)
    .execute(tx.conn())
    .await?;
    audit::record(
        &mut tx,
        actor,
        Event {
            action: "vendor.key_confirmed",
            object_type: "vendor",
            object_id: vendor_id.to_string(),
            changes: json!({"contact": contact_id, "fingerprint": fingerprint}),
        },
    )
    .await?;
    tx.commit().await?;
    vendors::get(store, vendor_id)
        .await?
        .contacts
        .into_iter()
        .find(|c| c.id == contact_id)
        .ok_or(VulnError::NotFound("contact"))
}

/// What the vendor still lacks before it may take the step `to`, in words for the
/// coordinator; empty when nothing is missing.
pub async fn missing_for(
    store: &Store,
    detail: &VendorDetail,
    to: VendorState,
) -> Result<Vec<String>> {
    let id = detail.vendor.id;
    let count = |direction: &'static str| async move {
        sqlx::query_scalar::<_, i64>(
            "SELECT COUNT(*) FROM vendor_documents WHERE vendor_id = $1 AND direction = $2",
        )
        .bind(id)
        .bind(direction)
        .fetch_one(store.pool())
        .await
    };
    let mut missing = Vec::new();
    match to {
        VendorState::DocumentsSent if count("sent").await? == 0 => {
            missing.push("upload the documents sent to the vendor (direction sent)".to_string());
        }
        VendorState::DocumentsReturned if count("returned").await? == 0 => {
            missing.push(
                "upload the documents the vendor returned signed (direction returned)".to_string(),
            );
        }
        VendorState::MeetingHeld if meetings(store, id).await?.is_empty() => {
            missing.push("record the meeting (day, who took part, what was agreed)".to_string());
        }
        VendorState::Registered if detail.vendor.registered_at.is_none() => {
            for c in &detail.contacts {
                if c.has_key && c.key_confirmed_at.is_none() {
                    missing.push(format!(
                        "confirm the OpenPGP key of {} by its fingerprint",
                        c.email
                    ));
                }
            }
            if detail.vendor.by_mail
                && !detail.contacts.iter().any(|c| c.key_confirmed_at.is_some())
            {
                missing.push(
                    "the vendor takes case details by encrypted mail: import and confirm a contact's OpenPGP key"
                        .to_string(),
                );
            }
        }
        _ => {}
    }
    Ok(missing)
}

/// The language a vendor works in first.
fn first_lang(detail: &VendorDetail) -> Lang {
    detail
        .vendor
        .languages
        .first()
        .and_then(|l| Lang::parse(l).ok())
        .unwrap_or_default()
}

/// Gives each contact of a registered vendor that has no account one (a vendor
/// account of the vendor's organization, no password yet) and sends it a welcome
/// mail with a one-time link to set the password, encrypted to the contact's key
/// when it has one. `only`: that contact alone, and a fresh link even when it already
/// has an account of the vendor that has never signed in (a link that ran out).
pub async fn welcome_contacts(
    store: &Store,
    settings: &Settings,
    actor: &Actor,
    vendor_id: i64,
    only: Option<i64>,
) -> Result<Welcomed> {
    let detail = vendors::get(store, vendor_id).await?;
    if detail.vendor.state != VendorState::Registered {
        return Err(VulnError::Conflict(
            "accounts are made when the vendor is registered".into(),
        ));
    }
    let lang = first_lang(&detail);
    let words = renkei_core::i18n::catalog(lang);
    let mut out = Welcomed::default();
    for c in detail
        .contacts
        .iter()
        .filter(|c| only.is_none_or(|id| id == c.id))
    {
        let existing = accounts::find_user_by_email(store, &c.email).await?;
        let user = match existing {
            None => {
                accounts::create_user(
                    store,
                    actor,
                    accounts::NewUser {
                        email: c.email.clone(),
                        display_name: c.name.clone(),
                        role: Role::Vendor,
                        org_id: Some(detail.vendor.org_id),
                        password: None,
                        lang,
                    },
                )
                .await?
            }
            Some(u)
                if only.is_some()
                    && u.org_id == Some(detail.vendor.org_id)
                    && !accounts::has_password(store, u.id).await? =>
            {
                u
            }
            // An account of the vendor already (nothing to say about it), or of
            // someone else (never taken over).
            Some(u) => {
                if only.is_some() || u.org_id != Some(detail.vendor.org_id) {
                    out.skipped.push(c.email.clone());
                }
                continue;
            }
        };
        let now = store.now();
        let mut tx = store.begin().await?;
        let token = accounts::issue_welcome_link(&mut tx, user.id, WELCOME_LINK_HOURS, now).await?;
        if !settings.from.trim().is_empty() {
            let link = format!("{}/account/welcome/{token}", settings.public_url);
            let expires = time::format(now + chrono::Duration::hours(WELCOME_LINK_HOURS as i64));
            let body = words.fill(
                "vuln.mail_welcome_body",
                &[
                    ("name", &c.name),
                    ("company", &detail.vendor.name),
                    ("email", &c.email),
                    ("link", &link),
                    ("expires", &&expires[..10]),
                ],
            );
            let encrypt: Vec<&str> = c.pgp_key.as_deref().into_iter().collect();
            renkei_mail::enqueue(
                &mut tx,
                renkei_mail::NewMail {
                    kind: "vendor.welcome",
                    object_type: "vendor",
                    object_id: vendor_id.to_string(),
                    from: &settings.from,
                    to: &c.email,
                    subject: words.get("vuln.mail_welcome_subject"),
                    body: &body,
                    in_reply_to: None,
                    auto_reply: true,
                    attachments: &[],
                    sign: settings.team_key.as_ref(),
                    cc: "",
                    encrypt_to: &encrypt,
                    exercise: false,
                },
            )
            .await?;
        }
        audit::record(
            &mut tx,
            actor,
            Event {
                action: "vendor.welcome",
                object_type: "vendor",
                object_id: vendor_id.to_string(),
                changes: json!({"contact": c.id, "user": user.id, "email": c.email}),
            },
        )
        .await?;
        tx.commit().await?;
        out.created.push(c.email.clone());
    }
    Ok(out)
}
