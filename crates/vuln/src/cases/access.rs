//! The one gate to a case ([`authorize`]), and reading cases as each caller may.

use super::*;

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
