//! The one gate to a case ([`authorize`]), and reading cases as each caller may.

use super::*;

async fn load(store: &Store, key: &str, now: DateTime<Utc>) -> Result<Option<Case>> {
    let Ok(key) = CaseId::parse(key) else {
        return Ok(None);
    };
    let row: Option<CaseRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {CASE_COLUMNS} FROM cases c LEFT JOIN notes n ON n.case_id = c.id WHERE c.case_key = $1"
    )))
    .bind(key.as_str())
    .fetch_optional(store.pool())
    .await?;
    Ok(row.map(|r| r.into_case(now)))
}

async fn case_vendors(
    store: &Store,
    settings: &Settings,
    case: &Case,
    now: DateTime<Utc>,
) -> Result<Vec<CaseVendor>> {
    let mut vendors: Vec<CaseVendor> = sqlx::query_as(
        "SELECT cv.id, cv.vendor_id, v.org_id, o.name, cv.stage, cv.unreachable, cv.date_answer, cv.requested_date, \
         cv.statement_ja, cv.statement_en, cv.notified_at, cv.last_activity_at, cv.acknowledged_at, cv.acknowledged_by, \
         cv.reminded_at, cv.escalated_at \
         FROM case_vendors cv JOIN vendors v ON v.id = cv.vendor_id JOIN organizations o ON o.id = v.org_id \
         WHERE cv.case_id = $1 ORDER BY o.name",
    )
    .bind(case.id)
    .fetch_all(store.pool())
    .await?;
    #[derive(sqlx::FromRow)]
    struct OfVendor {
        case_vendor_id: i64,
        #[sqlx(flatten)]
        product: CaseProduct,
    }
    let products: Vec<OfVendor> = sqlx::query_as(
        "SELECT id, case_vendor_id, name, cpe, purl, status, fixed_in FROM case_products WHERE case_id = $1 ORDER BY name, id",
    )
    .bind(case.id)
    .fetch_all(store.pool())
    .await?;
    let published = case.note.as_ref().is_some_and(|n| n.published);
    let days_since = |t: &str| time::parse(t).map(|t| (now - t).num_days()).unwrap_or(0);
    for v in &mut vendors {
        if published {
            v.stage = Stage::Published;
        } else {
            if v.acknowledged_at.is_none() && days_since(&v.notified_at) > settings.vuln.ack_days {
                v.flags.push("no_ack");
            }
            if v.acknowledged_at.is_none() && v.escalated_at.is_some() {
                v.flags.push("escalated");
            }
            let last = v.last_activity_at.as_deref().unwrap_or(&v.notified_at);
            if v.stage != Stage::FixReady && days_since(last) > settings.vuln.silence_days {
                v.flags.push("silent");
            }
        }
        if v.unreachable {
            v.flags.push("unreachable");
        }
        v.products = products
            .iter()
            .filter(|p| p.case_vendor_id == v.id)
            .map(|p| p.product.clone())
            .collect();
    }
    Ok(vendors)
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
    let files = files::list_files(store, case.id, None).await?;
    let partners = partners_of(store, case.id).await?;
    let vulnerabilities = vulnerabilities_of(store, case.id).await?;
    Ok(CaseDetail {
        case,
        vendors,
        view: "coordinator",
        files,
        partners,
        vulnerabilities,
    })
}

/// The one gate to a case: the case and the caller's view of it, or "not found" for
/// anyone who may not see it (so that guessing keys reveals nothing). A vendor that
/// has not acknowledged the case is refused here too: only [`read`] and
/// [`acknowledge`] let it in, through [`authorize_summary`], with the summary.
pub async fn authorize(
    store: &Store,
    settings: &Settings,
    principal: &Principal,
    key: &str,
    now: DateTime<Utc>,
) -> Result<(CaseDetail, CaseView)> {
    let (detail, view) = authorize_summary(store, settings, principal, key, now).await?;
    if detail.view == "vendor_summary" {
        return Err(VulnError::NotAcknowledged);
    }
    Ok((detail, view))
}

/// The gate for the two things a vendor may do before acknowledging — read the
/// summary and acknowledge: the case with its details left out for such a vendor
/// (`view` is `vendor_summary`), as [`authorize`] for everyone else.
pub(crate) async fn authorize_summary(
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
    let mut partners = partners_of(store, case.id).await?;
    let partner_orgs: Vec<i64> = partners.iter().map(|p| p.org_id).collect();
    let view = CaseView::of(principal, &orgs, &partner_orgs);
    let view_name = match view {
        CaseView::None => return Err(VulnError::NotFound("case")),
        CaseView::Vendor { org_id } => {
            vendors.retain(|v| v.org_id == org_id);
            case.reporter = None;
            if vendors.iter().any(|v| v.acknowledged_at.is_some()) {
                "vendor"
            } else {
                case.keep_summary_only();
                "vendor_summary"
            }
        }
        CaseView::Partner { .. } => {
            // The vendor table, never what a vendor said to the team alone.
            case.reporter = None;
            for v in &mut vendors {
                v.statement_ja.clear();
                v.statement_en.clear();
            }
            "partner"
        }
        CaseView::Coordinator => "coordinator",
    };
    if matches!(view, CaseView::Vendor { .. }) {
        partners.clear();
    }
    let files = match view_name {
        "coordinator" => files::list_files(store, case.id, None).await?,
        "vendor" | "partner" => files::list_files(store, case.id, Some("vendors")).await?,
        _ => Vec::new(),
    };
    let vulnerabilities = if view_name == "vendor_summary" {
        Vec::new()
    } else {
        vulnerabilities_of(store, case.id).await?
    };
    Ok((
        CaseDetail {
            case,
            vendors,
            view: view_name,
            files,
            partners,
            vulnerabilities,
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

/// What partner coordinators may do as well as the team: add vendors, propose the
/// date.
pub(crate) fn coordinator_or_partner(view: CaseView) -> Result<()> {
    match view {
        CaseView::Coordinator | CaseView::Partner { .. } => Ok(()),
        _ => Err(VulnError::Core(renkei_core::CoreError::Forbidden)),
    }
}

pub(crate) fn coordinator_only(view: CaseView) -> Result<()> {
    match view {
        CaseView::Coordinator => Ok(()),
        // A vendor on the case knows it exists; it may just not do this.
        _ => Err(VulnError::Core(renkei_core::CoreError::Forbidden)),
    }
}

/// Reads a case — a vendor that has not acknowledged it reads the summary — and
/// logs the read.
pub async fn read(
    store: &Store,
    settings: &Settings,
    principal: &Principal,
    key: &str,
    now: DateTime<Utc>,
) -> Result<CaseDetail> {
    let (detail, view) = authorize_summary(store, settings, principal, key, now).await?;
    audit::record_alone(
        store,
        &actor_of(principal),
        Event {
            action: "case.read",
            object_type: "case",
            object_id: detail.case.key.clone(),
            changes: json!({"view": detail.view, "org": match view { CaseView::Vendor { org_id } | CaseView::Partner { org_id } => Some(org_id), _ => None }}),
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
        return summaries(store, Among::All, now).await;
    }
    if let Some(org) = CaseView::own_vendor_org(principal) {
        return summaries(store, Among::Vendor(org), now).await;
    }
    match CaseView::own_partner_org(principal) {
        Some(org) => summaries(store, Among::Partner(org), now).await,
        None => Ok(Vec::new()),
    }
}

/// Which cases a list holds.
enum Among {
    All,
    /// Those this vendor organization is on.
    Vendor(i64),
    /// Those this partner organization takes part in.
    Partner(i64),
}

async fn summaries(store: &Store, among: Among, now: DateTime<Utc>) -> Result<Vec<CaseSummary>> {
    let (filter, org) = match among {
        Among::All => ("", None),
        Among::Vendor(org) => (
            "WHERE c.id IN (SELECT cv.case_id FROM case_vendors cv JOIN vendors v ON v.id = cv.vendor_id WHERE v.org_id = $1)",
            Some(org),
        ),
        Among::Partner(org) => (
            "WHERE c.id IN (SELECT cp.case_id FROM case_partners cp WHERE cp.org_id = $1)",
            Some(org),
        ),
    };
    let sql = format!(
        "SELECT c.case_key, c.title, c.state, c.series, c.received_at, n.note_key, n.publish_at, \
         (SELECT COUNT(*) FROM case_vendors x WHERE x.case_id = c.id) AS vendor_count \
         FROM cases c LEFT JOIN notes n ON n.case_id = c.id {filter} ORDER BY c.id DESC"
    );
    let mut q = sqlx::query_as::<_, CaseSummary>(sqlx::AssertSqlSafe(sql));
    if let Some(org) = org {
        q = q.bind(org);
    }
    let mut summaries = q.fetch_all(store.pool()).await?;
    for s in &mut summaries {
        s.published = s
            .publish_at
            .as_deref()
            .and_then(time::parse)
            .is_some_and(|t| t <= now);
    }
    Ok(summaries)
}

/// The case's note, published or not, for coordinators: it carries every vendor's
/// status, which a vendor must not see before publication. A case with no note yet
/// gives a draft (to send to a partner coordinator), marked with the case's TLP.
pub async fn note_for_export(
    store: &Store,
    settings: &Settings,
    principal: &Principal,
    key: &str,
    now: DateTime<Utc>,
) -> Result<notes::Note> {
    let (d, view) = authorize(store, settings, principal, key, now).await?;
    coordinator_only(view)?;
    if d.case.note.is_none() {
        return Ok(notes::draft(&d, now));
    }
    notes::for_export(store, &d.case.key, now).await
}

/// Every case with its note, for `renkei vuln list`.
pub async fn list_all(store: &Store, now: DateTime<Utc>) -> Result<Vec<CaseSummary>> {
    summaries(store, Among::All, now).await
}

/// Cases not yet out whose publication is set or proposed between `from` and `to`:
/// the week's dates a coordinator must not miss.
pub async fn dated_between(store: &Store, from: &str, to: &str) -> Result<i64> {
    Ok(sqlx::query_scalar(
        "SELECT COUNT(*) FROM cases c LEFT JOIN notes n ON n.case_id = c.id
         WHERE c.state IN ('open', 'scheduled')
         AND ((n.publish_at >= $1 AND n.publish_at < $2)
              OR (n.id IS NULL AND c.proposed_at >= $1 AND c.proposed_at < $2))",
    )
    .bind(from)
    .bind(to)
    .fetch_one(store.pool())
    .await?)
}

/// A case whose text names an indicator (an address, a domain), for the
/// indicator's page.
#[derive(Debug, Clone, Serialize, sqlx::FromRow, PartialEq)]
pub struct Mention {
    pub case_key: String,
    pub title: String,
    pub state: String,
    pub tlp: String,
    pub updated_at: String,
}

/// The cases whose title, description, affected products, note or references
/// name `text` as a whole word, newest first: only for staff, who see every
/// case; anyone else gets none. Cases are thousands, not millions, so this
/// reads them rather than keeping an index in step.
pub async fn naming(store: &Store, principal: &Principal, text: &str) -> Result<Vec<Mention>> {
    if !principal.role().is_some_and(|r| r.is_staff()) || text.trim().is_empty() {
        return Ok(Vec::new());
    }
    let needle = text.trim().to_lowercase();
    let pattern = format!(
        "%{}%",
        needle
            .replace('\\', "\\\\")
            .replace('%', "\\%")
            .replace('_', "\\_")
    );
    let rows: Vec<(String, String, String, String, String, String)> = sqlx::query_as(
        "SELECT case_key, title, state, tlp, updated_at, LOWER(title || ' ' || description || ' ' || affected || ' ' || note_text || ' ' || refs) FROM cases
         WHERE LOWER(title || ' ' || description || ' ' || affected || ' ' || note_text || ' ' || refs) LIKE $1 ESCAPE '\\'
         ORDER BY id DESC LIMIT 200",
    )
    .bind(pattern)
    .fetch_all(store.pool())
    .await?;
    // 203.0.113.5 is not 203.0.113.50, nor example.jp my-example.jp; a full stop
    // after it ends a sentence.
    let alnum = |c: Option<char>| c.is_some_and(char::is_alphanumeric);
    let ends = |rest: &str| {
        let mut after = rest.chars();
        match after.next() {
            // 192.0.2.7:8443 names 192.0.2.7; 2001:db8::1 is not 2001:db8::1:5.
            Some(':') if !needle.contains(':') => true,
            Some('.' | '-' | ':') => !alnum(after.next()),
            c => !alnum(c),
        }
    };
    Ok(rows
        .into_iter()
        .filter(|(.., text)| {
            text.match_indices(&needle).any(|(at, m)| {
                let before = text[..at].chars().next_back();
                !alnum(before) && before != Some('-') && ends(&text[at + m.len()..])
            })
        })
        .map(|(case_key, title, state, tlp, updated_at, _)| Mention {
            case_key,
            title,
            state,
            tlp,
            updated_at,
        })
        .collect())
}
