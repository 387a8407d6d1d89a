//! Partner coordinators on a case: other CSIRTs (CERT/CC, a national CSIRT abroad,
//! the receiving body for domestic reports) taking part before publication. Each
//! carries its own tracking ID for the case (`VU#123456`), shown beside ours, and has
//! its own thread with the team. Its people read the case and the vendor table —
//! never a vendor's thread or statement — propose dates and add the vendors of their
//! constituency; what only the team does (editing the case, scheduling, exports)
//! stays the team's.

use renkei_core::orgs::{self, OrgKind};

use super::*;

#[derive(Debug, Clone, Serialize, PartialEq, sqlx::FromRow)]
pub struct CasePartner {
    pub id: i64,
    pub org_id: i64,
    pub name: String,
    /// Their own tracking ID for the case, e.g. `VU#123456`; empty until given.
    pub tracking_id: String,
    pub added_at: String,
}

pub(crate) async fn partners_of(store: &Store, case_id: i64) -> Result<Vec<CasePartner>> {
    Ok(sqlx::query_as(
        "SELECT cp.id, cp.org_id, o.name, cp.tracking_id, cp.added_at FROM case_partners cp \
         JOIN organizations o ON o.id = cp.org_id WHERE cp.case_id = $1 ORDER BY o.name, cp.id",
    )
    .bind(case_id)
    .fetch_all(store.pool())
    .await?)
}

fn check_tracking(id: &str) -> Result<&str> {
    let id = id.trim();
    if id.chars().count() > 100 || id.chars().any(char::is_control) {
        return Err(VulnError::invalid(
            "tracking_id",
            "one line, at most 100 characters (e.g. VU#123456)",
        ));
    }
    Ok(id)
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AddPartner {
    /// An organization of kind `csirt` from the address book.
    pub org_id: i64,
    /// Their tracking ID for the case, if known already.
    #[serde(default)]
    pub tracking_id: String,
}

/// Adds a partner coordinator to the case (coordinators). Its contacts are told by
/// a mail that points to the portal. A case coordinated with a partner abroad moves
/// to the overseas series (JVNVU#) while it has no note yet.
pub async fn add_partner(
    store: &Store,
    settings: &Settings,
    principal: &Principal,
    key: &str,
    add: AddPartner,
    now: DateTime<Utc>,
) -> Result<CaseDetail> {
    let (detail, view) = authorize(store, settings, principal, key, now).await?;
    coordinator_only(view)?;
    let tracking = check_tracking(&add.tracking_id)?;
    let org = orgs::get(store, add.org_id).await?;
    if org.kind != OrgKind::Csirt {
        return Err(VulnError::invalid(
            "org_id",
            format!(
                "{} is not a CSIRT; a partner coordinator is an organization of kind csirt",
                org.name
            ),
        ));
    }
    let c = &detail.case;
    let team_country: Option<String> = sqlx::query_scalar(
        "SELECT country FROM organizations WHERE kind = 'team' AND country IS NOT NULL ORDER BY id LIMIT 1",
    )
    .fetch_optional(store.pool())
    .await?;
    let abroad =
        matches!((&team_country, &org.country), (Some(a), Some(b)) if !a.eq_ignore_ascii_case(b));
    let to_overseas = abroad && c.note.is_none() && c.series == Series::Domestic;
    let now_s = time::format(now);
    let by = principal
        .user()
        .map(|u| u.email.clone())
        .unwrap_or_default();
    let mut tx = store.begin().await?;
    let id: i64 = sqlx::query_scalar(
        "INSERT INTO case_partners (case_id, org_id, tracking_id, added_at, added_by) VALUES ($1, $2, $3, $4, $5) RETURNING id",
    )
    .bind(c.id)
    .bind(org.id)
    .bind(tracking)
    .bind(&now_s)
    .bind(&by)
    .fetch_one(tx.conn())
    .await
    .map_err(|e| VulnError::from_insert(e, "this partner on the case"))?;
    if to_overseas {
        sqlx::query("UPDATE cases SET series = 'overseas', updated_at = $1 WHERE id = $2")
            .bind(&now_s)
            .bind(c.id)
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
    let mut mails = Vec::new();
    if !settings.from.is_empty() {
        let portal = format!("{}/cases/{}", settings.public_url, c.key);
        for contact in orgs::contacts(store, org.id).await? {
            let words = renkei_core::i18n::catalog(contact.lang);
            let body = words.fill(
                "vuln.mail_partner_body",
                &[
                    ("name", &contact.name),
                    ("case", &c.key),
                    ("portal", &portal),
                ],
            );
            let subject = format!("[{}] {}", c.key, words.get("vuln.mail_partner_subject"));
            mails.push(
                queue_mail(
                    &mut tx,
                    settings,
                    "case.partner_notification",
                    &c.key,
                    &contact.email,
                    &subject,
                    &body,
                    None,
                )
                .await?,
            );
        }
    }
    audit::record(
        &mut tx,
        &actor_of(principal),
        Event {
            action: "case.partner_add",
            object_type: "case",
            object_id: c.key.clone(),
            changes: json!({"partner": id, "org": org.id, "name": org.name, "tracking_id": tracking,
                "series": to_overseas.then_some([c.series.as_str(), "overseas"]), "mails": mails}),
        },
    )
    .await?;
    tx.commit().await?;
    detail_for_team(store, settings, key, now).await
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrackingUpdate {
    /// Coordinators: the partner organization; a partner sets its own.
    #[serde(default)]
    pub org_id: Option<i64>,
    pub tracking_id: String,
}

/// A partner records its own tracking ID for the case (or a coordinator for it).
pub async fn set_tracking(
    store: &Store,
    settings: &Settings,
    principal: &Principal,
    key: &str,
    upd: TrackingUpdate,
    now: DateTime<Utc>,
) -> Result<CaseDetail> {
    let (detail, view) = authorize(store, settings, principal, key, now).await?;
    let org = match (view, upd.org_id) {
        (CaseView::Partner { org_id }, _) => org_id,
        (CaseView::Coordinator, Some(org)) => org,
        (CaseView::Coordinator, None) => {
            return Err(VulnError::invalid(
                "org_id",
                "name the partner organization",
            ));
        }
        _ => return Err(VulnError::Core(renkei_core::CoreError::Forbidden)),
    };
    let partner = detail
        .partners
        .iter()
        .find(|p| p.org_id == org)
        .ok_or(VulnError::NotFound("partner on this case"))?;
    let tracking = check_tracking(&upd.tracking_id)?;
    let mut tx = store.begin().await?;
    sqlx::query("UPDATE case_partners SET tracking_id = $1 WHERE id = $2")
        .bind(tracking)
        .bind(partner.id)
        .execute(tx.conn())
        .await?;
    audit::record(
        &mut tx,
        &actor_of(principal),
        Event {
            action: "case.partner_tracking",
            object_type: "case",
            object_id: detail.case.key.clone(),
            changes: json!({"org": org, "tracking_id": [&partner.tracking_id, tracking]}),
        },
    )
    .await?;
    tx.commit().await?;
    Ok(authorize(store, settings, principal, key, now).await?.0)
}
