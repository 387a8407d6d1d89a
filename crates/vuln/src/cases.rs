//! Confidential cases: intake from finders (form, API) and partner coordinators
//! (CSAF 2.0, CVE JSON 5), the vendors added to a case with their progress and
//! per-product status, the threads, and the one publication date.
//!
//! Every function that reads or changes a case takes the caller's [`Principal`] and
//! goes through [`authorize`], which asks [`CaseView::of`]: a caller who may not see
//! the case is told it does not exist, whatever the route.

use chrono::{DateTime, Datelike, Utc};
use renkei_core::access::{CaseView, Principal};
use renkei_core::audit::{self, Actor, Event};
use renkei_core::store::Tx;
use renkei_core::tlp::Tlp;
use renkei_core::{Store, accounts, time};
use renkei_formats::cvss::Cvss31;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use sqlx::Row;
use sqlx::any::AnyRow;

use crate::model::VendorState;
use crate::model::{CaseId, ProductStatus, Series, Stage};
use crate::vendors;
use crate::{Result, Settings, VulnError, notes};

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

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct CaseProduct {
    pub id: i64,
    pub name: String,
    pub cpe: Option<String>,
    pub purl: Option<String>,
    pub status: ProductStatus,
    pub fixed_in: Option<String>,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct CaseVendor {
    pub id: i64,
    pub vendor_id: i64,
    pub name: String,
    /// `published` once the note is public, whatever was recorded before.
    pub stage: Stage,
    pub unreachable: bool,
    /// `""` (not answered), `accepted` or `requested`.
    pub date_answer: String,
    pub requested_date: Option<String>,
    pub statement_ja: String,
    pub statement_en: String,
    pub notified_at: String,
    pub last_activity_at: Option<String>,
    /// `no_ack` (not acknowledged in time), `silent` (nothing said for too long),
    /// `unreachable`.
    pub flags: Vec<&'static str>,
    pub products: Vec<CaseProduct>,
    #[serde(skip)]
    pub org_id: i64,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct CaseDetail {
    pub case: Case,
    /// Every vendor for coordinators; the caller's own vendor only for a vendor.
    pub vendors: Vec<CaseVendor>,
    /// `coordinator` or `vendor`.
    pub view: &'static str,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct CaseSummary {
    pub key: String,
    pub title: String,
    pub state: String,
    pub series: Series,
    pub vendors: i64,
    pub note: Option<String>,
    pub published: bool,
    pub publish_at: Option<String>,
    pub received_at: String,
}

const CASE_COLUMNS: &str = "c.id, c.case_key, c.state, c.series, c.source, c.tlp, c.title, c.description, \
     c.affected, c.cvss_vector, c.cvss_score, c.cwe, c.cve, c.credit, c.reporter_name, c.reporter_email, \
     c.note_text, c.refs, c.proposed_at, c.proposed_tz, c.received_at, c.updated_at, \
     n.note_key, n.publish_at";

fn case_from(row: &AnyRow, now: DateTime<Utc>) -> Result<Case> {
    let vector: Option<String> = row.try_get("cvss_vector")?;
    let cvss = match vector {
        Some(v) => Cvss31::parse(&v).ok().map(|c| CaseCvss {
            vector: c.vector,
            score: c.score,
            severity: c.severity.as_str().to_string(),
        }),
        None => None,
    };
    let cwe: Option<String> = row.try_get("cwe")?;
    let note_key: Option<String> = row.try_get("note_key")?;
    let publish_at: Option<String> = row.try_get("publish_at")?;
    let note = match (note_key, publish_at) {
        (Some(key), Some(at)) => Some(NoteRef {
            published: time::parse(&at).is_some_and(|t| t <= now),
            key,
            publish_at: at,
        }),
        _ => None,
    };
    Ok(Case {
        id: row.try_get("id")?,
        key: row.try_get("case_key")?,
        state: row.try_get("state")?,
        series: Series::parse(&row.try_get::<String, _>("series")?)?,
        source: row.try_get("source")?,
        tlp: row.try_get("tlp")?,
        title: row.try_get("title")?,
        description: row.try_get("description")?,
        affected: row.try_get("affected")?,
        cvss,
        cwe_name: cwe.as_deref().and_then(renkei_formats::cwe::name),
        cwe,
        cve: row.try_get("cve")?,
        credit: row.try_get("credit")?,
        reporter: Some(json!({
            "name": row.try_get::<String, _>("reporter_name")?,
            "email": row.try_get::<String, _>("reporter_email")?,
        })),
        note_text: serde_json::from_str(&row.try_get::<String, _>("note_text")?)
            .unwrap_or_default(),
        references: serde_json::from_str(&row.try_get::<String, _>("refs")?).unwrap_or_default(),
        proposed_publish_at: row.try_get("proposed_at")?,
        proposed_tz: row.try_get("proposed_tz")?,
        received_at: row.try_get("received_at")?,
        updated_at: row.try_get("updated_at")?,
        note,
    })
}

struct Checked {
    cvss: Option<Cvss31>,
    cwe: Option<String>,
    cve: Option<String>,
    series: Series,
    tlp: Tlp,
}

fn check(new: &NewCase, default_series: Series) -> Result<Checked> {
    // What the web refuses at its door, an imported document may still carry.
    let optional = |v: &Option<String>| v.clone().unwrap_or_default();
    for (field, text) in [
        ("title", new.title.clone()),
        ("description", new.description.clone()),
        ("affected", new.affected.clone()),
        ("credit", new.credit.clone()),
        ("reporter_name", new.reporter_name.clone()),
        ("reporter_email", new.reporter_email.clone()),
        ("cvss_vector", optional(&new.cvss_vector)),
        ("cwe", optional(&new.cwe)),
        ("cve", optional(&new.cve)),
    ] {
        if text.contains('\0') {
            return Err(VulnError::invalid(
                field,
                "contains a NUL character, which no text field accepts",
            ));
        }
    }
    if new.title.trim().is_empty() || new.title.len() > 300 {
        return Err(VulnError::invalid(
            "title",
            "give a title (at most 300 characters)",
        ));
    }
    if new.description.trim().is_empty() {
        return Err(VulnError::invalid(
            "description",
            "describe the vulnerability",
        ));
    }
    let cvss = match new
        .cvss_vector
        .as_deref()
        .map(str::trim)
        .filter(|v| !v.is_empty())
    {
        Some(v) => {
            Some(Cvss31::parse(v).map_err(|e| VulnError::invalid("cvss_vector", e.to_string()))?)
        }
        None => None,
    };
    let cwe = match new.cwe.as_deref().map(str::trim).filter(|v| !v.is_empty()) {
        Some(c) => Some(renkei_formats::cwe::parse(c).ok_or_else(|| {
            VulnError::invalid(
                "cwe",
                format!("{c:?} is not a CWE identifier such as CWE-79"),
            )
        })?),
        None => None,
    };
    let cve = match new.cve.as_deref().map(str::trim).filter(|v| !v.is_empty()) {
        Some(c) if renkei_formats::cve5::valid_cve_id(&c.to_ascii_uppercase()) => {
            Some(c.to_ascii_uppercase())
        }
        Some(c) => {
            return Err(VulnError::invalid(
                "cve",
                format!("{c:?} is not a CVE ID such as CVE-2026-12345"),
            ));
        }
        None => None,
    };
    let series = match new.series.as_deref().filter(|s| !s.is_empty()) {
        Some(s) => Series::parse(s)?,
        None => default_series,
    };
    let tlp = match new.tlp.as_deref().filter(|s| !s.is_empty()) {
        Some(t) => Tlp::parse(t)?,
        None => Tlp::parse("TLP:AMBER")?,
    };
    Ok(Checked {
        cvss,
        cwe,
        cve,
        series,
        tlp,
    })
}

async fn insert(
    store: &Store,
    actor: &Actor,
    new: &NewCase,
    source: &str,
    default_series: Series,
    raw: &str,
    now: &str,
) -> Result<CaseId> {
    let checked = check(new, default_series)?;
    let year = time::parse(now).map(|t| t.year()).unwrap_or(2000);
    for _ in 0..5 {
        let mut tx = store.begin().await?;
        let taken: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM cases WHERE case_key LIKE $1")
            .bind(format!("CASE-{year:04}-%"))
            .fetch_one(tx.conn())
            .await?;
        let key = CaseId::new(year, taken + 1);
        let inserted = sqlx::query_scalar::<_, i64>(
            "INSERT INTO cases (case_key, state, series, source, tlp, title, description, affected, cvss_vector, \
             cvss_score, cwe, cve, credit, reporter_name, reporter_email, note_text, refs, raw, received_at, \
             created_at, updated_at) \
             VALUES ($1, 'draft', $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, '{}', '[]', $15, $16, $16, $16) \
             RETURNING id",
        )
        .bind(key.as_str())
        .bind(checked.series.as_str())
        .bind(source)
        .bind(checked.tlp.as_str())
        .bind(new.title.trim())
        .bind(new.description.trim())
        .bind(new.affected.trim())
        .bind(checked.cvss.as_ref().map(|c| c.vector.clone()))
        .bind(checked.cvss.as_ref().map(|c| c.score))
        .bind(&checked.cwe)
        .bind(&checked.cve)
        .bind(new.credit.trim())
        .bind(new.reporter_name.trim())
        .bind(new.reporter_email.trim())
        .bind(raw)
        .bind(now)
        .fetch_one(tx.conn())
        .await;
        let id = match inserted {
            Ok(id) => id,
            // Two cases opened at once took the same number: count again.
            Err(sqlx::Error::Database(db)) if db.is_unique_violation() => continue,
            Err(e) => return Err(e.into()),
        };
        audit::record(
            &mut tx,
            actor,
            Event {
                action: "case.create",
                object_type: "case",
                object_id: key.to_string(),
                changes: json!({"id": id, "source": source, "title": new.title.trim(), "series": checked.series}),
            },
        )
        .await?;
        tx.commit().await?;
        return Ok(key);
    }
    Err(VulnError::Conflict(
        "could not number the case; try again".into(),
    ))
}

/// A finder's report through the public form or the API: a draft case for the
/// coordinators. The submission is kept as sent.
pub async fn submit(store: &Store, actor: &Actor, new: NewCase, now: &str) -> Result<CaseId> {
    accounts::validate_email(&new.reporter_email).map_err(|_| {
        VulnError::invalid(
            "reporter_email",
            "give an address the coordinators can reach you at",
        )
    })?;
    let raw = serde_json::to_string(&new).unwrap_or_default();
    insert(store, actor, &new, "finder", Series::Domestic, &raw, now).await
}

/// A case a coordinator opens.
pub async fn create(store: &Store, actor: &Actor, new: NewCase, now: &str) -> Result<CaseId> {
    let raw = serde_json::to_string(&new).unwrap_or_default();
    insert(
        store,
        actor,
        &new,
        "coordinator",
        Series::Domestic,
        &raw,
        now,
    )
    .await
}

/// A partner coordinator's CSAF 2.0 advisory or CVE JSON 5 record as a draft case
/// in the overseas series. A document that does not validate is refused with every
/// problem listed by JSON path, and nothing is created.
pub async fn import(
    store: &Store,
    actor: &Actor,
    format: &str,
    bytes: &[u8],
    now: &str,
) -> Result<CaseId> {
    let text =
        std::str::from_utf8(bytes).map_err(|_| VulnError::invalid("document", "not UTF-8 text"))?;
    let (new, source) = match format {
        "csaf" => {
            let d = renkei_formats::csaf::read(bytes)?;
            let affected = d
                .products
                .iter()
                .map(|(v, p)| {
                    if v.is_empty() {
                        p.clone()
                    } else {
                        format!("{v} {p}")
                    }
                })
                .collect::<Vec<_>>()
                .join("\n");
            (
                NewCase {
                    title: d.title,
                    description: d.description,
                    affected,
                    cvss_vector: d
                        .cvss_vector
                        .filter(|v| v.starts_with("CVSS:3.1/"))
                        .map(|v| Cvss31::base_of(&v)),
                    cwe: d.cwe,
                    cve: d.cve,
                    credit: d.credits.join(", "),
                    reporter_name: d.publisher,
                    reporter_email: String::new(),
                    series: Some("overseas".into()),
                    tlp: None,
                },
                "csaf",
            )
        }
        "cve5" => {
            let d = renkei_formats::cve5::read(bytes)?;
            let affected = d
                .products
                .iter()
                .map(|(v, p)| format!("{v} {p}").trim().to_string())
                .collect::<Vec<_>>()
                .join("\n");
            (
                NewCase {
                    title: if d.title.is_empty() {
                        d.cve_id.clone()
                    } else {
                        d.title
                    },
                    description: d.description,
                    affected,
                    cvss_vector: d
                        .cvss_vector
                        .filter(|v| v.starts_with("CVSS:3.1/"))
                        .map(|v| Cvss31::base_of(&v)),
                    cwe: d.cwe,
                    cve: Some(d.cve_id).filter(|c| !c.is_empty()),
                    credit: d.credits.join(", "),
                    reporter_name: String::new(),
                    reporter_email: String::new(),
                    series: Some("overseas".into()),
                    tlp: None,
                },
                "cve5",
            )
        }
        other => {
            return Err(VulnError::invalid(
                "format",
                format!("unknown format {other:?}; use csaf or cve5"),
            ));
        }
    };
    insert(store, actor, &new, source, Series::Overseas, text, now).await
}

async fn load(store: &Store, key: &str, now: DateTime<Utc>) -> Result<Option<Case>> {
    let Ok(key) = CaseId::parse(key) else {
        return Ok(None);
    };
    let row = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {CASE_COLUMNS} FROM cases c LEFT JOIN notes n ON n.case_id = c.id WHERE c.case_key = $1"
    )))
    .bind(key.as_str())
    .fetch_optional(store.pool())
    .await?;
    row.map(|r| case_from(&r, now)).transpose()
}

async fn case_vendors(
    store: &Store,
    settings: &Settings,
    case: &Case,
    now: DateTime<Utc>,
) -> Result<Vec<CaseVendor>> {
    let rows = sqlx::query(
        "SELECT cv.id, cv.vendor_id, v.org_id, o.name, cv.stage, cv.unreachable, cv.date_answer, cv.requested_date, \
         cv.statement_ja, cv.statement_en, cv.notified_at, cv.last_activity_at \
         FROM case_vendors cv JOIN vendors v ON v.id = cv.vendor_id JOIN organizations o ON o.id = v.org_id \
         WHERE cv.case_id = $1 ORDER BY o.name",
    )
    .bind(case.id)
    .fetch_all(store.pool())
    .await?;
    let products = sqlx::query(
        "SELECT id, case_vendor_id, name, cpe, purl, status, fixed_in FROM case_products WHERE case_id = $1 ORDER BY name, id",
    )
    .bind(case.id)
    .fetch_all(store.pool())
    .await?;
    let published = case.note.as_ref().is_some_and(|n| n.published);
    let mut out = Vec::new();
    for r in rows {
        let id: i64 = r.try_get("id")?;
        let recorded = Stage::parse(&r.try_get::<String, _>("stage")?)?;
        let notified_at: String = r.try_get("notified_at")?;
        let last_activity_at: Option<String> = r.try_get("last_activity_at")?;
        let unreachable = r.try_get::<i64, _>("unreachable")? != 0;
        let mut flags = Vec::new();
        let days_since = |t: &str| time::parse(t).map(|t| (now - t).num_days()).unwrap_or(0);
        if !published {
            if recorded == Stage::Notified && days_since(&notified_at) > settings.vuln.ack_days {
                flags.push("no_ack");
            }
            let last = last_activity_at.as_deref().unwrap_or(&notified_at);
            if recorded != Stage::FixReady && days_since(last) > settings.vuln.silence_days {
                flags.push("silent");
            }
        }
        if unreachable {
            flags.push("unreachable");
        }
        out.push(CaseVendor {
            id,
            vendor_id: r.try_get("vendor_id")?,
            org_id: r.try_get("org_id")?,
            name: r.try_get("name")?,
            stage: if published {
                Stage::Published
            } else {
                recorded
            },
            unreachable,
            date_answer: r.try_get("date_answer")?,
            requested_date: r.try_get("requested_date")?,
            statement_ja: r.try_get("statement_ja")?,
            statement_en: r.try_get("statement_en")?,
            notified_at,
            last_activity_at,
            flags,
            products: products
                .iter()
                .filter(|p| p.try_get::<i64, _>("case_vendor_id").ok() == Some(id))
                .map(|p| {
                    Ok(CaseProduct {
                        id: p.try_get("id")?,
                        name: p.try_get("name")?,
                        cpe: p.try_get("cpe")?,
                        purl: p.try_get("purl")?,
                        status: ProductStatus::parse(&p.try_get::<String, _>("status")?)?,
                        fixed_in: p.try_get("fixed_in")?,
                    })
                })
                .collect::<Result<Vec<_>>>()?,
        });
    }
    Ok(out)
}

/// The case as the whole team sees it, for notes, exports and the command line.
pub async fn detail_for_team(
    store: &Store,
    settings: &Settings,
    key: &str,
    now: DateTime<Utc>,
) -> Result<CaseDetail> {
    let case = load(store, key, now)
        .await?
        .ok_or(VulnError::NotFound("case"))?;
    let vendors = case_vendors(store, settings, &case, now).await?;
    Ok(CaseDetail {
        case,
        vendors,
        view: "coordinator",
    })
}

/// The one gate to a case: the case and the caller's view of it, or "not found" for
/// anyone who may not see it (so that guessing keys reveals nothing).
pub async fn authorize(
    store: &Store,
    settings: &Settings,
    principal: &Principal,
    key: &str,
    now: DateTime<Utc>,
) -> Result<(CaseDetail, CaseView)> {
    let Some(mut case) = load(store, key, now).await? else {
        return Err(VulnError::NotFound("case"));
    };
    let mut vendors = case_vendors(store, settings, &case, now).await?;
    let orgs: Vec<i64> = vendors.iter().map(|v| v.org_id).collect();
    let view = CaseView::of(principal, &orgs);
    match view {
        CaseView::None => return Err(VulnError::NotFound("case")),
        CaseView::Vendor { org_id } => {
            vendors.retain(|v| v.org_id == org_id);
            case.reporter = None;
        }
        CaseView::Coordinator => {}
    }
    let view_name = if view == CaseView::Coordinator {
        "coordinator"
    } else {
        "vendor"
    };
    Ok((
        CaseDetail {
            case,
            vendors,
            view: view_name,
        },
        view,
    ))
}

pub(crate) fn actor_of(principal: &Principal) -> Actor {
    match principal.user() {
        Some(u) => Actor::user(u.id, &u.email),
        None => Actor::anonymous("unknown"),
    }
}

pub(crate) fn coordinator_only(view: CaseView) -> Result<()> {
    match view {
        CaseView::Coordinator => Ok(()),
        // A vendor on the case knows it exists; it may just not do this.
        _ => Err(VulnError::Core(renkei_core::CoreError::Forbidden)),
    }
}

/// Reads a case, and logs the read.
pub async fn read(
    store: &Store,
    settings: &Settings,
    principal: &Principal,
    key: &str,
    now: DateTime<Utc>,
) -> Result<CaseDetail> {
    let (detail, view) = authorize(store, settings, principal, key, now).await?;
    audit::record_alone(
        store,
        &actor_of(principal),
        Event {
            action: "case.read",
            object_type: "case",
            object_id: detail.case.key.clone(),
            changes: json!({"view": detail.view, "org": match view { CaseView::Vendor { org_id } => Some(org_id), _ => None }}),
        },
    )
    .await?;
    Ok(detail)
}

/// Cases the caller may see: all for coordinators, a vendor's own for vendor users,
/// none for anyone else.
pub async fn list(
    store: &Store,
    principal: &Principal,
    now: DateTime<Utc>,
) -> Result<Vec<CaseSummary>> {
    if principal.role().is_some_and(|r| r.is_staff()) {
        return summaries(store, None, now).await;
    }
    match CaseView::own_vendor_org(principal) {
        Some(org) => summaries(store, Some(org), now).await,
        None => Ok(Vec::new()),
    }
}

/// Every case, or (with `org`) the cases that vendor organization is on.
async fn summaries(
    store: &Store,
    org: Option<i64>,
    now: DateTime<Utc>,
) -> Result<Vec<CaseSummary>> {
    let staff = org.is_none();
    let filter = if staff {
        ""
    } else {
        "WHERE c.id IN (SELECT cv.case_id FROM case_vendors cv JOIN vendors v ON v.id = cv.vendor_id WHERE v.org_id = $1)"
    };
    let sql = format!(
        "SELECT c.case_key, c.title, c.state, c.series, c.received_at, n.note_key, n.publish_at, \
         (SELECT COUNT(*) FROM case_vendors x WHERE x.case_id = c.id) AS vendor_count \
         FROM cases c LEFT JOIN notes n ON n.case_id = c.id {filter} ORDER BY c.id DESC"
    );
    let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
    if let Some(org) = org {
        q = q.bind(org);
    }
    q.fetch_all(store.pool())
        .await?
        .iter()
        .map(|r| {
            let publish_at: Option<String> = r.try_get("publish_at")?;
            Ok(CaseSummary {
                key: r.try_get("case_key")?,
                title: r.try_get("title")?,
                state: r.try_get("state")?,
                series: Series::parse(&r.try_get::<String, _>("series")?)?,
                vendors: r.try_get("vendor_count")?,
                note: r.try_get("note_key")?,
                published: publish_at
                    .as_deref()
                    .and_then(time::parse)
                    .is_some_and(|t| t <= now),
                publish_at,
                received_at: r.try_get("received_at")?,
            })
        })
        .collect()
}

/// What a coordinator may change on a case.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CasePatch {
    pub title: Option<String>,
    pub description: Option<String>,
    pub affected: Option<String>,
    pub cvss_vector: Option<String>,
    pub cwe: Option<String>,
    pub cve: Option<String>,
    pub credit: Option<String>,
    pub series: Option<String>,
    pub tlp: Option<String>,
    pub note_text: Option<NoteText>,
    pub references: Option<Vec<String>>,
    /// `open` or `closed` (a case closed without publication).
    pub state: Option<String>,
}

pub async fn update(
    store: &Store,
    settings: &Settings,
    principal: &Principal,
    key: &str,
    patch: CasePatch,
    now: DateTime<Utc>,
) -> Result<CaseDetail> {
    let (detail, view) = authorize(store, settings, principal, key, now).await?;
    coordinator_only(view)?;
    let c = &detail.case;
    let merged = NewCase {
        title: patch.title.clone().unwrap_or_else(|| c.title.clone()),
        description: patch
            .description
            .clone()
            .unwrap_or_else(|| c.description.clone()),
        affected: patch.affected.clone().unwrap_or_else(|| c.affected.clone()),
        cvss_vector: patch
            .cvss_vector
            .clone()
            .or_else(|| c.cvss.as_ref().map(|x| x.vector.clone())),
        cwe: patch.cwe.clone().or_else(|| c.cwe.clone()),
        cve: patch.cve.clone().or_else(|| c.cve.clone()),
        credit: patch.credit.clone().unwrap_or_else(|| c.credit.clone()),
        reporter_name: String::new(),
        reporter_email: String::new(),
        series: Some(
            patch
                .series
                .clone()
                .unwrap_or_else(|| c.series.as_str().to_string()),
        ),
        tlp: Some(patch.tlp.clone().unwrap_or_else(|| c.tlp.clone())),
    };
    let checked = check(&merged, c.series)?;
    let references: Vec<String> = patch
        .references
        .clone()
        .unwrap_or_else(|| c.references.clone())
        .into_iter()
        .map(|r| r.trim().to_string())
        .filter(|r| !r.is_empty())
        .collect();
    if let Some(bad) = references
        .iter()
        .find(|r| !(r.starts_with("https://") || r.starts_with("http://")))
    {
        return Err(VulnError::invalid(
            "references",
            format!("{bad:?} is not an http(s) URL"),
        ));
    }
    let state = match patch.state.as_deref() {
        None => c.state.clone(),
        Some("open") | Some("closed") if c.note.is_none() => {
            patch.state.clone().unwrap_or_default()
        }
        Some("open") | Some("closed") => {
            return Err(VulnError::Conflict(
                "the case has a note; its state follows the publication".into(),
            ));
        }
        Some(other) => {
            return Err(VulnError::invalid(
                "state",
                format!("{other:?}: use open or closed"),
            ));
        }
    };
    if checked.series != c.series && c.note.is_some() {
        return Err(VulnError::Conflict(
            "the note's ID is given; the series can no longer change".into(),
        ));
    }
    let note_text = patch
        .note_text
        .clone()
        .unwrap_or_else(|| c.note_text.clone());
    let mut tx = store.begin().await?;
    sqlx::query(
        "UPDATE cases SET title = $1, description = $2, affected = $3, cvss_vector = $4, cvss_score = $5, cwe = $6, \
         cve = $7, credit = $8, series = $9, tlp = $10, note_text = $11, refs = $12, state = $13, updated_at = $14 \
         WHERE id = $15",
    )
    .bind(merged.title.trim())
    .bind(merged.description.trim())
    .bind(merged.affected.trim())
    .bind(checked.cvss.as_ref().map(|x| x.vector.clone()))
    .bind(checked.cvss.as_ref().map(|x| x.score))
    .bind(&checked.cwe)
    .bind(&checked.cve)
    .bind(merged.credit.trim())
    .bind(checked.series.as_str())
    .bind(checked.tlp.as_str())
    .bind(serde_json::to_string(&note_text).unwrap_or_default())
    .bind(serde_json::to_string(&references).unwrap_or_default())
    .bind(&state)
    .bind(time::format(now))
    .bind(c.id)
    .execute(tx.conn())
    .await?;
    audit::record(
        &mut tx,
        &actor_of(principal),
        Event {
            action: "case.update",
            object_type: "case",
            object_id: c.key.clone(),
            changes: json!({
                "title": patch.title, "cvss_vector": patch.cvss_vector, "cwe": patch.cwe, "cve": patch.cve,
                "series": patch.series, "tlp": patch.tlp, "state": patch.state,
                "text_changed": patch.description.is_some() || patch.note_text.is_some() || patch.affected.is_some(),
            }),
        },
    )
    .await?;
    tx.commit().await?;
    notes::refresh_pending(store, settings, &c.key, now).await?;
    detail_for_team(store, settings, key, now).await
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AddVendor {
    pub vendor_id: i64,
    /// Products to ask about; by default the vendor's products named in the case, or
    /// all of them when none is.
    #[serde(default)]
    pub products: Option<Vec<String>>,
}

/// Adds a vendor to a case and notifies its contacts: a mail without details that
/// points to the portal, or — for vendors that work by mail — the details encrypted
/// to each contact's key.
pub async fn add_vendor(
    store: &Store,
    settings: &Settings,
    principal: &Principal,
    key: &str,
    add: AddVendor,
    now: DateTime<Utc>,
) -> Result<CaseDetail> {
    let (detail, view) = authorize(store, settings, principal, key, now).await?;
    coordinator_only(view)?;
    let c = &detail.case;
    if c.note.as_ref().is_some_and(|n| n.published) {
        return Err(VulnError::Conflict(
            "the note is published; vendors can no longer be added".into(),
        ));
    }
    let vendor = vendors::get(store, add.vendor_id).await?;
    if matches!(
        vendor.vendor.state,
        VendorState::Withdrawn | VendorState::Suspended
    ) {
        return Err(VulnError::Conflict(format!(
            "{} is {}; it cannot receive unpublished information",
            vendor.vendor.name,
            vendor.vendor.state.as_str()
        )));
    }
    let products: Vec<String> = match add.products {
        Some(list) => list
            .into_iter()
            .map(|p| p.trim().to_string())
            .filter(|p| !p.is_empty())
            .collect(),
        None => {
            let text = format!("{}\n{}\n{}", c.title, c.description, c.affected);
            let named = vendors::suggest(store, &text)
                .await?
                .into_iter()
                .find(|s| s.vendor_id == add.vendor_id)
                .map(|s| s.products)
                .unwrap_or_default();
            if named.is_empty() {
                vendor.products.iter().map(|p| p.name.clone()).collect()
            } else {
                named
            }
        }
    };
    let now_s = time::format(now);
    let mut tx = store.begin().await?;
    let cv: i64 = sqlx::query_scalar(
        "INSERT INTO case_vendors (case_id, vendor_id, stage, notified_at) VALUES ($1, $2, 'notified', $3) RETURNING id",
    )
    .bind(c.id)
    .bind(add.vendor_id)
    .bind(&now_s)
    .fetch_one(tx.conn())
    .await
    .map_err(|e| VulnError::from_insert(e, "this vendor on the case"))?;
    let mut seen = std::collections::HashSet::new();
    for p in products.iter().filter(|p| seen.insert(p.to_lowercase())) {
        let known = vendor
            .products
            .iter()
            .find(|vp| vp.name.eq_ignore_ascii_case(p));
        sqlx::query(
            "INSERT INTO case_products (case_id, case_vendor_id, name, cpe, purl, status, updated_at) \
             VALUES ($1, $2, $3, $4, $5, 'unknown', $6)",
        )
        .bind(c.id)
        .bind(cv)
        .bind(p)
        .bind(known.and_then(|k| k.cpe.clone()))
        .bind(known.and_then(|k| k.purl.clone()))
        .bind(&now_s)
        .execute(tx.conn())
        .await?;
    }
    if c.state == "draft" {
        sqlx::query("UPDATE cases SET state = 'open', updated_at = $1 WHERE id = $2")
            .bind(&now_s)
            .bind(c.id)
            .execute(tx.conn())
            .await?;
    }
    let mails = notify_vendor(&mut tx, settings, c, &vendor).await?;
    audit::record(
        &mut tx,
        &actor_of(principal),
        Event {
            action: "case.vendor_add",
            object_type: "case",
            object_id: c.key.clone(),
            changes: json!({"vendor": add.vendor_id, "name": vendor.vendor.name, "products": products, "mails": mails}),
        },
    )
    .await?;
    tx.commit().await?;
    notes::refresh_pending(store, settings, &c.key, now).await?;
    detail_for_team(store, settings, key, now).await
}

async fn notify_vendor(
    tx: &mut Tx,
    settings: &Settings,
    case: &Case,
    vendor: &vendors::VendorDetail,
) -> Result<Vec<i64>> {
    if settings.from.is_empty() {
        tracing::warn!(case = %case.key, "mail.from is not set: the vendor was added but not notified by mail");
        return Ok(Vec::new());
    }
    let ja = vendor.vendor.languages.first().map(String::as_str) == Some("ja");
    let portal = format!("{}/cases/{}", settings.public_url, case.key);
    let subject = format!(
        "[{}] {}",
        case.key,
        if ja {
            "脆弱性情報の連絡"
        } else {
            "Vulnerability report for your products"
        }
    );
    let mut ids = Vec::new();
    for contact in &vendor.contacts {
        let encrypt = vendor.vendor.by_mail && contact.key_status != "expired";
        let details = match (&contact.pgp_key, encrypt) {
            (Some(_), true) => format!(
                "\n{}\n\n{}\n\n{}: {}\nCVSS: {}\n",
                case.title,
                case.description,
                if ja {
                    "影響を受ける製品"
                } else {
                    "Affected"
                },
                case.affected,
                case.cvss
                    .as_ref()
                    .map(|c| format!("{} ({})", c.score, c.vector))
                    .unwrap_or_else(|| "-".into())
            ),
            _ => String::new(),
        };
        let body = if ja {
            format!(
                "{} 様\n\n貴社製品に影響する可能性のある脆弱性情報を受け付けました（{}）。\n\
                 この情報は公表まで機密として扱ってください。\n{}\n\
                 詳細の確認と対応状況の登録はポータルから行えます:\n{portal}\n",
                contact.name, case.key, details
            )
        } else {
            format!(
                "Dear {},\n\nWe have received a vulnerability report that may affect your products ({}).\n\
                 Please keep it confidential until publication.\n{}\n\
                 Read the details and record your status in the portal:\n{portal}\n",
                contact.name, case.key, details
            )
        };
        let id = renkei_mail::enqueue(
            tx,
            renkei_mail::NewMail {
                kind: "case.vendor_notification",
                object_type: "case",
                object_id: case.key.clone(),
                from: &settings.from,
                to: &contact.email,
                subject: &subject,
                body: &body,
                in_reply_to: None,
                auto_reply: false,
                attachments: &[],
                sign: settings.team_key.as_ref(),
                encrypt_to: if details.is_empty() {
                    None
                } else {
                    contact.pgp_key.as_deref()
                },
            },
        )
        .await?;
        ids.push(id);
    }
    Ok(ids)
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProductUpdate {
    pub name: String,
    pub status: String,
    #[serde(default)]
    pub fixed_in: Option<String>,
}

/// What a vendor (or a coordinator on its behalf) records on a case.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VendorUpdate {
    /// Which vendor, when a coordinator records for one; vendors update their own.
    #[serde(default)]
    pub vendor_id: Option<i64>,
    #[serde(default)]
    pub stage: Option<String>,
    #[serde(default)]
    pub statement_ja: Option<String>,
    #[serde(default)]
    pub statement_en: Option<String>,
    #[serde(default)]
    pub products: Vec<ProductUpdate>,
    /// Coordinators only: the vendor cannot be reached.
    #[serde(default)]
    pub unreachable: Option<bool>,
}

fn target(detail: &CaseDetail, view: CaseView, vendor_id: Option<i64>) -> Result<&CaseVendor> {
    match (view, vendor_id) {
        (CaseView::Vendor { .. }, _) => detail.vendors.first().ok_or(VulnError::NotFound("case")),
        (CaseView::Coordinator, Some(id)) => detail
            .vendors
            .iter()
            .find(|v| v.vendor_id == id)
            .ok_or(VulnError::NotFound("vendor on this case")),
        (CaseView::Coordinator, None) => Err(VulnError::invalid(
            "vendor_id",
            "name the vendor this is for",
        )),
        (CaseView::None, _) => Err(VulnError::NotFound("case")),
    }
}

pub async fn update_vendor(
    store: &Store,
    settings: &Settings,
    principal: &Principal,
    key: &str,
    upd: VendorUpdate,
    now: DateTime<Utc>,
) -> Result<CaseDetail> {
    let (detail, view) = authorize(store, settings, principal, key, now).await?;
    let cv = target(&detail, view, upd.vendor_id)?.clone();
    if upd.unreachable.is_some() {
        coordinator_only(view)?;
    }
    let stage = match upd.stage.as_deref() {
        Some(s) => {
            let s = Stage::parse(s)?;
            if matches!(s, Stage::Notified | Stage::Published) {
                return Err(VulnError::invalid(
                    "stage",
                    "set acknowledged, investigating, date_agreed or fix_ready; published follows the note",
                ));
            }
            Some(s)
        }
        None => None,
    };
    let mut statuses = Vec::new();
    for p in &upd.products {
        let name = p.name.trim();
        if name.is_empty() || name.len() > 200 {
            return Err(VulnError::invalid(
                "products",
                "each product needs a name (at most 200 characters)",
            ));
        }
        statuses.push((
            name,
            ProductStatus::parse(&p.status)?,
            p.fixed_in
                .as_deref()
                .map(str::trim)
                .filter(|f| !f.is_empty()),
        ));
    }
    let now_s = time::format(now);
    let mut tx = store.begin().await?;
    // Fields not given keep their value; a vendor's own update also counts as activity.
    let from_vendor = matches!(view, CaseView::Vendor { .. });
    sqlx::query(
        "UPDATE case_vendors SET stage = COALESCE($1, stage), statement_ja = COALESCE($2, statement_ja), \
         statement_en = COALESCE($3, statement_en), unreachable = COALESCE($4, unreachable), \
         last_activity_at = COALESCE($5, last_activity_at) WHERE id = $6",
    )
    .bind(stage.map(|s| s.as_str()))
    .bind(upd.statement_ja.as_deref().map(str::trim))
    .bind(upd.statement_en.as_deref().map(str::trim))
    .bind(upd.unreachable.map(i64::from))
    .bind(from_vendor.then_some(now_s.as_str()))
    .bind(cv.id)
    .execute(tx.conn())
    .await?;
    for (name, status, fixed_in) in &statuses {
        let existing = cv
            .products
            .iter()
            .find(|p| p.name.eq_ignore_ascii_case(name));
        match existing {
            Some(p) => {
                sqlx::query("UPDATE case_products SET status = $1, fixed_in = $2, updated_at = $3 WHERE id = $4")
                    .bind(status.as_str())
                    .bind(*fixed_in)
                    .bind(&now_s)
                    .bind(p.id)
                    .execute(tx.conn())
                    .await?;
            }
            None => {
                sqlx::query(
                    "INSERT INTO case_products (case_id, case_vendor_id, name, status, fixed_in, updated_at) \
                     VALUES ($1, $2, $3, $4, $5, $6)",
                )
                .bind(detail.case.id)
                .bind(cv.id)
                .bind(*name)
                .bind(status.as_str())
                .bind(*fixed_in)
                .bind(&now_s)
                .execute(tx.conn())
                .await?;
            }
        }
    }
    audit::record(
        &mut tx,
        &actor_of(principal),
        Event {
            action: "case.vendor_status",
            object_type: "case",
            object_id: detail.case.key.clone(),
            changes: json!({
                "vendor": cv.vendor_id,
                "stage": stage.map(|s| [cv.stage, s]),
                "products": statuses.iter().map(|(n, s, f)| json!({"name": n, "status": s, "fixed_in": f})).collect::<Vec<_>>(),
                "statement": upd.statement_ja.is_some() || upd.statement_en.is_some(),
                "unreachable": upd.unreachable,
            }),
        },
    )
    .await?;
    tx.commit().await?;
    notes::refresh_pending(store, settings, &detail.case.key, now).await?;
    Ok(authorize(store, settings, principal, key, now).await?.0)
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DateProposal {
    /// RFC 3339 with its offset, e.g. `2026-12-01T10:00:00+09:00`.
    pub publish_at: String,
    /// The zone the date is meant in, shown to vendors (e.g. `Asia/Tokyo`).
    #[serde(default)]
    pub tz: Option<String>,
}

/// The coordinator proposes the publication moment; every vendor's earlier answer is
/// cleared, since it was to another date.
pub async fn propose_date(
    store: &Store,
    settings: &Settings,
    principal: &Principal,
    key: &str,
    p: DateProposal,
    now: DateTime<Utc>,
) -> Result<CaseDetail> {
    let (detail, view) = authorize(store, settings, principal, key, now).await?;
    coordinator_only(view)?;
    if detail.case.note.as_ref().is_some_and(|n| n.published) {
        return Err(VulnError::Conflict("the note is already published".into()));
    }
    let at = chrono::DateTime::parse_from_rfc3339(p.publish_at.trim()).map_err(|_| {
        VulnError::invalid(
            "publish_at",
            format!(
                "{:?} is not a date and time with its zone, e.g. 2026-12-01T10:00:00+09:00",
                p.publish_at
            ),
        )
    })?;
    let at = at.with_timezone(&Utc);
    if at <= now {
        return Err(VulnError::invalid(
            "publish_at",
            "the publication date must be in the future",
        ));
    }
    let tz = p.tz.unwrap_or_else(|| {
        p.publish_at
            .trim()
            .chars()
            .rev()
            .take(6)
            .collect::<String>()
            .chars()
            .rev()
            .collect()
    });
    let mut tx = store.begin().await?;
    sqlx::query(
        "UPDATE cases SET proposed_at = $1, proposed_tz = $2, updated_at = $3 WHERE id = $4",
    )
    .bind(time::format(at))
    .bind(tz.trim())
    .bind(time::format(now))
    .bind(detail.case.id)
    .execute(tx.conn())
    .await?;
    sqlx::query(
        "UPDATE case_vendors SET date_answer = '', requested_date = NULL WHERE case_id = $1",
    )
    .bind(detail.case.id)
    .execute(tx.conn())
    .await?;
    audit::record(
        &mut tx,
        &actor_of(principal),
        Event {
            action: "case.date_propose",
            object_type: "case",
            object_id: detail.case.key.clone(),
            changes: json!({"publish_at": [detail.case.proposed_publish_at, time::format(at)], "tz": tz.trim()}),
        },
    )
    .await?;
    tx.commit().await?;
    detail_for_team(store, settings, key, now).await
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DateAnswer {
    /// true: agree to the proposed date; false: ask for `requested_date` instead.
    pub accept: bool,
    #[serde(default)]
    pub requested_date: Option<String>,
    #[serde(default)]
    pub reason: Option<String>,
    /// Coordinators recording a vendor's answer name the vendor.
    #[serde(default)]
    pub vendor_id: Option<i64>,
}

pub async fn answer_date(
    store: &Store,
    settings: &Settings,
    principal: &Principal,
    key: &str,
    a: DateAnswer,
    now: DateTime<Utc>,
) -> Result<CaseDetail> {
    let (detail, view) = authorize(store, settings, principal, key, now).await?;
    let cv = target(&detail, view, a.vendor_id)?.clone();
    let Some(proposed) = detail.case.proposed_publish_at.clone() else {
        return Err(VulnError::Conflict(
            "no publication date has been proposed yet".into(),
        ));
    };
    let requested = if a.accept {
        None
    } else {
        let r = a
            .requested_date
            .as_deref()
            .and_then(|d| chrono::DateTime::parse_from_rfc3339(d.trim()).ok())
            .ok_or_else(|| {
                VulnError::invalid(
                    "requested_date",
                    "give the date and time you ask for, e.g. 2026-12-15T10:00:00+09:00",
                )
            })?;
        Some(time::format(r.with_timezone(&Utc)))
    };
    let now_s = time::format(now);
    let mut tx = store.begin().await?;
    sqlx::query("UPDATE case_vendors SET date_answer = $1, requested_date = $2, last_activity_at = $3 WHERE id = $4")
        .bind(if a.accept { "accepted" } else { "requested" })
        .bind(&requested)
        .bind(&now_s)
        .bind(cv.id)
        .execute(tx.conn())
        .await?;
    if a.accept
        && matches!(
            cv.stage,
            Stage::Notified | Stage::Acknowledged | Stage::Investigating
        )
    {
        sqlx::query("UPDATE case_vendors SET stage = 'date_agreed' WHERE id = $1")
            .bind(cv.id)
            .execute(tx.conn())
            .await?;
    }
    let text = match (
        &requested,
        a.reason.as_deref().filter(|r| !r.trim().is_empty()),
    ) {
        (None, _) => format!("Agreed to publication at {proposed}."),
        (Some(r), Some(why)) => {
            format!("Asked for publication at {r} instead of {proposed}: {why}")
        }
        (Some(r), None) => format!("Asked for publication at {r} instead of {proposed}."),
    };
    insert_message(
        &mut tx,
        detail.case.id,
        Some(cv.id),
        principal,
        matches!(view, CaseView::Vendor { .. }),
        &text,
        &now_s,
    )
    .await?;
    audit::record(
        &mut tx,
        &actor_of(principal),
        Event {
            action: "case.date_answer",
            object_type: "case",
            object_id: detail.case.key.clone(),
            changes: json!({"vendor": cv.vendor_id, "proposed": proposed, "accept": a.accept, "requested": requested}),
        },
    )
    .await?;
    tx.commit().await?;
    Ok(authorize(store, settings, principal, key, now).await?.0)
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Message {
    pub id: i64,
    /// The vendor whose thread this is; `null` for coordinators' internal notes.
    pub vendor_id: Option<i64>,
    pub author: String,
    pub from_vendor: bool,
    pub body: String,
    pub created_at: String,
}

async fn insert_message(
    tx: &mut Tx,
    case_id: i64,
    case_vendor_id: Option<i64>,
    principal: &Principal,
    from_vendor: bool,
    body: &str,
    now: &str,
) -> Result<i64> {
    let (author, author_id) = match principal.user() {
        Some(u) => (u.display_name.clone(), Some(u.id)),
        None => ("system".to_string(), None),
    };
    Ok(sqlx::query_scalar(
        "INSERT INTO case_messages (case_id, case_vendor_id, author, author_user_id, from_vendor, body, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id",
    )
    .bind(case_id)
    .bind(case_vendor_id)
    .bind(author)
    .bind(author_id)
    .bind(i64::from(from_vendor))
    .bind(body)
    .bind(now)
    .fetch_one(tx.conn())
    .await?)
}

/// The threads the caller may read: a vendor its own; coordinators every thread and
/// their internal notes.
pub async fn messages(
    store: &Store,
    settings: &Settings,
    principal: &Principal,
    key: &str,
    now: DateTime<Utc>,
) -> Result<Vec<Message>> {
    let (detail, view) = authorize(store, settings, principal, key, now).await?;
    let rows = sqlx::query(
        "SELECT m.id, cv.vendor_id, m.case_vendor_id, m.author, m.from_vendor, m.body, m.created_at \
         FROM case_messages m LEFT JOIN case_vendors cv ON cv.id = m.case_vendor_id \
         WHERE m.case_id = $1 ORDER BY m.id",
    )
    .bind(detail.case.id)
    .fetch_all(store.pool())
    .await?;
    let own = match view {
        CaseView::Vendor { .. } => detail.vendors.first().map(|v| v.id),
        _ => None,
    };
    let mut out = Vec::new();
    for r in rows {
        let thread: Option<i64> = r.try_get("case_vendor_id")?;
        if matches!(view, CaseView::Vendor { .. }) && (thread.is_none() || thread != own) {
            continue;
        }
        out.push(Message {
            id: r.try_get("id")?,
            vendor_id: r.try_get("vendor_id")?,
            author: r.try_get("author")?,
            from_vendor: r.try_get::<i64, _>("from_vendor")? != 0,
            body: r.try_get("body")?,
            created_at: r.try_get("created_at")?,
        });
    }
    audit::record_alone(
        store,
        &actor_of(principal),
        Event {
            action: "case.read_thread",
            object_type: "case",
            object_id: detail.case.key.clone(),
            changes: json!({"view": detail.view, "messages": out.len()}),
        },
    )
    .await?;
    Ok(out)
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewMessage {
    pub body: String,
    /// Coordinators: the vendor's thread to write in; none for an internal note.
    #[serde(default)]
    pub vendor_id: Option<i64>,
}

pub async fn post_message(
    store: &Store,
    settings: &Settings,
    principal: &Principal,
    key: &str,
    m: NewMessage,
    now: DateTime<Utc>,
) -> Result<Message> {
    let (detail, view) = authorize(store, settings, principal, key, now).await?;
    let body = m.body.trim();
    if body.is_empty() || body.len() > 100_000 {
        return Err(VulnError::invalid(
            "body",
            "write a message (at most 100,000 characters)",
        ));
    }
    let thread = match (view, m.vendor_id) {
        (CaseView::Coordinator, None) => None,
        (_, id) => Some(target(&detail, view, id)?.clone()),
    };
    let from_vendor = matches!(view, CaseView::Vendor { .. });
    let now_s = time::format(now);
    let mut tx = store.begin().await?;
    let id = insert_message(
        &mut tx,
        detail.case.id,
        thread.as_ref().map(|t| t.id),
        principal,
        from_vendor,
        body,
        &now_s,
    )
    .await?;
    if let (true, Some(t)) = (from_vendor, &thread) {
        sqlx::query("UPDATE case_vendors SET last_activity_at = $1 WHERE id = $2")
            .bind(&now_s)
            .bind(t.id)
            .execute(tx.conn())
            .await?;
    }
    if let (false, Some(t), false) = (from_vendor, &thread, settings.from.is_empty()) {
        // The vendor hears of a coordinator's message by a mail without its content.
        let vendor = vendors::get(store, t.vendor_id).await?;
        for contact in &vendor.contacts {
            renkei_mail::enqueue(
                &mut tx,
                renkei_mail::NewMail {
                    kind: "case.message",
                    object_type: "case",
                    object_id: detail.case.key.clone(),
                    from: &settings.from,
                    to: &contact.email,
                    subject: &format!("[{}] New message / 新しいメッセージ", detail.case.key),
                    body: &format!(
                        "A coordinator wrote on case {key}. Read it in the portal:\n{}/cases/{key}\n",
                        settings.public_url,
                        key = detail.case.key
                    ),
                    in_reply_to: None,
                    auto_reply: false,
                    attachments: &[],
                    sign: settings.team_key.as_ref(),
                    encrypt_to: None,
                },
            )
            .await?;
        }
    }
    audit::record(
        &mut tx,
        &actor_of(principal),
        Event {
            action: "case.message",
            object_type: "case",
            object_id: detail.case.key.clone(),
            changes: json!({"message": id, "vendor": thread.as_ref().map(|t| t.vendor_id), "from_vendor": from_vendor}),
        },
    )
    .await?;
    tx.commit().await?;
    Ok(Message {
        id,
        vendor_id: thread.map(|t| t.vendor_id),
        author: principal
            .user()
            .map(|u| u.display_name.clone())
            .unwrap_or_default(),
        from_vendor,
        body: body.to_string(),
        created_at: now_s,
    })
}

/// Vendors whose products the case names and that are not on it yet (coordinators).
pub async fn suggestions(
    store: &Store,
    settings: &Settings,
    principal: &Principal,
    key: &str,
    now: DateTime<Utc>,
) -> Result<Vec<vendors::Suggestion>> {
    let (d, view) = authorize(store, settings, principal, key, now).await?;
    coordinator_only(view)?;
    suggestions_for(store, &d).await
}

/// The same for a case already read through [`authorize`] with the coordinator's view.
pub async fn suggestions_for(store: &Store, d: &CaseDetail) -> Result<Vec<vendors::Suggestion>> {
    if d.view != "coordinator" {
        return Err(VulnError::Core(renkei_core::CoreError::Forbidden));
    }
    let text = format!(
        "{}\n{}\n{}",
        d.case.title, d.case.description, d.case.affected
    );
    let on_case: Vec<i64> = d.vendors.iter().map(|v| v.vendor_id).collect();
    Ok(vendors::suggest(store, &text)
        .await?
        .into_iter()
        .filter(|s| !on_case.contains(&s.vendor_id))
        .collect())
}

/// The case's note, published or not, for coordinators: it carries every vendor's
/// status, which a vendor must not see before publication.
pub async fn note_for_export(
    store: &Store,
    settings: &Settings,
    principal: &Principal,
    key: &str,
    now: DateTime<Utc>,
) -> Result<notes::Note> {
    let (d, view) = authorize(store, settings, principal, key, now).await?;
    coordinator_only(view)?;
    notes::for_export(store, &d.case.key, now).await
}

/// Every case with its note, for `renkei vuln list`.
pub async fn list_all(store: &Store, now: DateTime<Utc>) -> Result<Vec<CaseSummary>> {
    summaries(store, None, now).await
}
