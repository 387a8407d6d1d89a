//! Confidential cases: intake from finders (form, API) and partner coordinators
//! (CSAF 2.0, CVE JSON 5), the vendors added to a case with their progress and
//! per-product status, the threads, and the one publication date.
//!
//! Every function that reads or changes a case takes the caller's [`Principal`] and
//! goes through [`authorize`], which asks [`CaseView::of`]: a caller who may not see
//! the case is told it does not exist, whatever the route.
//!
//! # Layout
//! - this file: the case's types and how a row becomes a [`Case`];
//! - [`access`]: the gate ([`authorize`]) and reading (`read`, `list`, details);
//! - [`intake`]: new cases from finders, coordinators and partners, checked first;
//! - [`edit`], [`participants`], [`dates`], [`threads`], [`files`]: what happens on
//!   a case;
//! - [`partners`]: partner coordinators (other CSIRTs) taking part, with their own
//!   tracking IDs and threads;
//! - [`acknowledge`]: a vendor reads the summary first and the details once it has
//!   acknowledged; reminders, then escalation, when it does not;
//! - [`finder`]: the finder's status page behind a secret link, their thread with
//!   the coordinators, their credit, and word when the note is out.

use chrono::{DateTime, Datelike, Utc};
use renkei_core::access::{CaseView, Principal};
use renkei_core::audit::{self, Actor, Event};
use renkei_core::row::{Bit, JsonText};
use renkei_core::store::Tx;
use renkei_core::tlp::Tlp;
use renkei_core::{Store, accounts, time};
use renkei_formats::cvss::Cvss31;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::model::VendorState;
use crate::model::{CaseId, ProductStatus, Series, Stage};
use crate::vendors;
use crate::{Result, Settings, VulnError, notes};

mod access;
mod acknowledge;
mod dates;
mod edit;
mod files;
pub mod finder;
mod intake;
mod participants;
mod partners;
mod threads;

pub use access::*;
pub use acknowledge::*;
pub use dates::*;
pub use edit::*;
pub use files::*;
pub use intake::*;
pub use participants::*;
pub use partners::*;
pub use threads::*;

/// A report of a vulnerability, from a finder or a coordinator.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct NewCase {
    pub title: String,
    pub description: String,
    /// The products and versions the reporter believes affected, in their words.
    #[serde(default)]
    pub affected: String,
    #[serde(default)]
    pub cvss_vector: Option<String>,
    #[serde(default)]
    pub cwe: Option<String>,
    #[serde(default)]
    pub cve: Option<String>,
    /// How the reporter wants to be credited; empty: not named.
    #[serde(default)]
    pub credit: String,
    #[serde(default)]
    pub reporter_name: String,
    #[serde(default)]
    pub reporter_email: String,
    /// domestic (default), overseas or technical.
    #[serde(default)]
    pub series: Option<String>,
    #[serde(default)]
    pub tlp: Option<String>,
}

/// A note's text in one language; empty fields fall back to the case's own text.
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct NoteLang {
    pub title: String,
    pub overview: String,
    pub solution: String,
    pub workaround: String,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct NoteText {
    pub ja: NoteLang,
    pub en: NoteLang,
}

// Kept with the case as JSON; what no longer parses reads as no text yet.
renkei_core::json_column!(NoteText);

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct CaseCvss {
    pub vector: String,
    pub score: f64,
    pub severity: String,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct NoteRef {
    pub key: String,
    pub publish_at: String,
    pub published: bool,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Case {
    pub key: String,
    pub state: String,
    pub series: Series,
    pub source: String,
    pub tlp: String,
    pub title: String,
    pub description: String,
    pub affected: String,
    pub cvss: Option<CaseCvss>,
    pub cwe: Option<String>,
    pub cwe_name: Option<&'static str>,
    pub cve: Option<String>,
    pub credit: String,
    /// `name`, `handle` or `anonymous`: how the finder chose to be credited.
    pub credit_as: String,
    /// What a vendor reads before acknowledging; empty: said from CWE and CVSS.
    pub summary: String,
    /// The case concerns industrial control systems (counted apart).
    pub control_systems: bool,
    /// Shown to coordinators only.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reporter: Option<Value>,
    pub note_text: NoteText,
    pub references: Vec<String>,
    pub proposed_publish_at: Option<String>,
    pub proposed_tz: Option<String>,
    pub received_at: String,
    pub updated_at: String,
    pub note: Option<NoteRef>,
    #[serde(skip)]
    pub id: i64,
}

#[derive(Debug, Clone, Serialize, PartialEq, sqlx::FromRow)]
pub struct CaseProduct {
    pub id: i64,
    pub name: String,
    pub cpe: Option<String>,
    pub purl: Option<String>,
    pub status: ProductStatus,
    pub fixed_in: Option<String>,
}

#[derive(Debug, Clone, Serialize, PartialEq, sqlx::FromRow)]
pub struct CaseVendor {
    pub id: i64,
    pub vendor_id: i64,
    pub name: String,
    /// `published` once the note is public, whatever was recorded before.
    pub stage: Stage,
    #[sqlx(try_from = "Bit")]
    pub unreachable: bool,
    /// `""` (not answered), `accepted` or `requested`.
    pub date_answer: String,
    pub requested_date: Option<String>,
    pub statement_ja: String,
    pub statement_en: String,
    pub notified_at: String,
    pub last_activity_at: Option<String>,
    /// When one of the vendor's people acknowledged, opening the details; `None`:
    /// the vendor has read the summary only.
    pub acknowledged_at: Option<String>,
    /// Who acknowledged (and how, when a coordinator recorded it for them).
    pub acknowledged_by: String,
    pub reminded_at: Option<String>,
    pub escalated_at: Option<String>,
    /// `no_ack` (not acknowledged in time), `silent` (nothing said for too long),
    /// `unreachable`.
    #[sqlx(skip)]
    pub flags: Vec<&'static str>,
    #[sqlx(skip)]
    pub products: Vec<CaseProduct>,
    #[serde(skip)]
    pub org_id: i64,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct CaseDetail {
    pub case: Case,
    /// Every vendor for coordinators; the caller's own vendor only for a vendor.
    pub vendors: Vec<CaseVendor>,
    /// `coordinator`, `vendor`, `vendor_summary` for a vendor that has not
    /// acknowledged yet (the details are left out), or `partner` for a partner
    /// coordinator (every vendor, without their statements).
    pub view: &'static str,
    /// The case's files the caller may fetch.
    pub files: Vec<CaseFile>,
    /// The partner coordinators and their tracking IDs (coordinators and partners).
    pub partners: Vec<CasePartner>,
    /// Each vulnerability of an imported CSAF document, with all its scores; empty
    /// for a case opened here and for a vendor's summary.
    pub vulnerabilities: Vec<CaseVulnerability>,
}

/// One vulnerability of a case imported from a CSAF document.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct CaseVulnerability {
    pub position: i64,
    pub title: String,
    pub cve: Option<String>,
    pub cwe: Option<String>,
    pub description: String,
    /// Every CVSS score the document gave (v2, v3.0, v3.1, v4.0).
    pub scores: Vec<renkei_formats::csaf::Score>,
}

pub(crate) async fn vulnerabilities_of(
    store: &Store,
    case_id: i64,
) -> Result<Vec<CaseVulnerability>> {
    #[derive(sqlx::FromRow)]
    struct Row {
        position: i64,
        title: String,
        cve: Option<String>,
        cwe: Option<String>,
        description: String,
        scores: String,
    }
    let rows: Vec<Row> = sqlx::query_as(
        "SELECT position, title, cve, cwe, description, scores FROM case_vulnerabilities \
         WHERE case_id = $1 ORDER BY position",
    )
    .bind(case_id)
    .fetch_all(store.pool())
    .await?;
    Ok(rows
        .into_iter()
        .map(|r| CaseVulnerability {
            position: r.position,
            title: r.title,
            cve: r.cve,
            cwe: r.cwe,
            description: r.description,
            scores: serde_json::from_str(&r.scores).unwrap_or_default(),
        })
        .collect())
}

#[derive(Debug, Clone, Serialize, PartialEq, sqlx::FromRow)]
pub struct CaseSummary {
    #[sqlx(rename = "case_key")]
    pub key: String,
    pub title: String,
    pub state: String,
    pub series: Series,
    #[sqlx(rename = "vendor_count")]
    pub vendors: i64,
    #[sqlx(rename = "note_key")]
    pub note: Option<String>,
    #[sqlx(skip)]
    pub published: bool,
    pub publish_at: Option<String>,
    pub received_at: String,
}

const CASE_COLUMNS: &str = "c.id, c.case_key, c.state, c.series, c.source, c.tlp, c.title, c.description, \
     c.affected, c.cvss_vector, c.cvss_score, c.cwe, c.cve, c.credit, c.reporter_name, c.reporter_email, \
     c.note_text, c.refs, c.proposed_at, c.proposed_tz, c.received_at, c.updated_at, c.credit_as, c.summary, c.control_systems, \
     n.note_key, n.publish_at";

/// A case's row, read with [`CASE_COLUMNS`].
#[derive(sqlx::FromRow)]
struct CaseRow {
    id: i64,
    case_key: String,
    state: String,
    series: Series,
    source: String,
    tlp: String,
    title: String,
    description: String,
    affected: String,
    cvss_vector: Option<String>,
    cwe: Option<String>,
    cve: Option<String>,
    credit: String,
    credit_as: String,
    summary: String,
    #[sqlx(try_from = "Bit")]
    control_systems: bool,
    reporter_name: String,
    reporter_email: String,
    note_text: NoteText,
    #[sqlx(try_from = "JsonText")]
    refs: Vec<String>,
    proposed_at: Option<String>,
    proposed_tz: Option<String>,
    received_at: String,
    updated_at: String,
    note_key: Option<String>,
    publish_at: Option<String>,
}

impl CaseRow {
    /// The case as of `now`: whether its note is public yet depends on the time.
    fn into_case(self, now: DateTime<Utc>) -> Case {
        let cvss = self
            .cvss_vector
            .and_then(|v| Cvss31::parse(&v).ok())
            .map(|c| CaseCvss {
                vector: c.vector,
                score: c.score,
                severity: c.severity.as_str().to_string(),
            });
        let note = match (self.note_key, self.publish_at) {
            (Some(key), Some(at)) => Some(NoteRef {
                published: time::parse(&at).is_some_and(|t| t <= now),
                key,
                publish_at: at,
            }),
            _ => None,
        };
        Case {
            id: self.id,
            key: self.case_key,
            state: self.state,
            series: self.series,
            source: self.source,
            tlp: self.tlp,
            title: self.title,
            description: self.description,
            affected: self.affected,
            cvss,
            cwe_name: self.cwe.as_deref().and_then(renkei_formats::cwe::name),
            cwe: self.cwe,
            cve: self.cve,
            credit: self.credit,
            credit_as: self.credit_as,
            summary: self.summary,
            control_systems: self.control_systems,
            reporter: Some(json!({
                "name": self.reporter_name,
                "email": self.reporter_email,
            })),
            note_text: self.note_text,
            references: self.refs,
            proposed_publish_at: self.proposed_at,
            proposed_tz: self.proposed_tz,
            received_at: self.received_at,
            updated_at: self.updated_at,
            note,
        }
    }
}

/// A mail about a case through the outbox, in the caller's transaction, signed with
/// the team's key when it has one and encrypted to `encrypt_to` when given.
#[allow(clippy::too_many_arguments)]
pub(crate) async fn queue_mail(
    tx: &mut Tx,
    settings: &Settings,
    kind: &str,
    case_key: &str,
    to: &str,
    subject: &str,
    body: &str,
    encrypt_to: Option<&str>,
) -> Result<i64> {
    Ok(renkei_mail::enqueue(
        tx,
        renkei_mail::NewMail {
            kind,
            object_type: "case",
            object_id: case_key.to_string(),
            from: &settings.from,
            to,
            subject,
            body,
            in_reply_to: None,
            auto_reply: false,
            attachments: &[],
            sign: settings.team_key.as_ref(),
            cc: "",
            encrypt_to: encrypt_to.as_slice(),
            exercise: false,
        },
    )
    .await?)
}

impl CaseSummary {
    /// Where the case stands, as a word of the `case_state` catalog group: a
    /// case whose note is out is published, whatever its stored state says.
    pub fn standing(&self) -> &str {
        if self.published {
            "published"
        } else {
            &self.state
        }
    }
}

impl Case {
    /// Where the case stands, as a word of the `case_state` catalog group.
    pub fn standing(&self) -> &str {
        if self.note.as_ref().is_some_and(|n| n.published) {
            "published"
        } else {
            &self.state
        }
    }

    /// The credit as it goes into the note, CSAF `acknowledgments` and CVE
    /// `credits`: what the finder gave, unless they chose to stay anonymous. An
    /// empty credit names nobody: a name is never published that was not given
    /// for it.
    pub fn credited(&self) -> Option<String> {
        let given = self.credit.trim();
        (self.credit_as != "anonymous" && !given.is_empty()).then(|| given.to_string())
    }

    /// The finder's `name` or `email` as they gave it; empty when not shown to the
    /// caller or not given.
    pub fn reporter_field(&self, field: &str) -> &str {
        self.reporter
            .as_ref()
            .and_then(|r| r[field].as_str())
            .unwrap_or("")
            .trim()
    }

    /// Leaves only what a vendor may read before acknowledging: the title, the
    /// summary, the scoring and weakness (the impact), TLP and the proposed date.
    pub(crate) fn keep_summary_only(&mut self) {
        self.description.clear();
        self.affected.clear();
        self.cve = None;
        self.credit.clear();
        self.reporter = None;
        self.note_text = NoteText::default();
        self.references.clear();
    }
}
