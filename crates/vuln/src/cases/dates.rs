//! The one publication date: the coordinator proposes, each vendor answers.

use super::*;

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
    coordinator_or_partner(view)?;
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
    // A partner reads the answer as its own view shows the case.
    Ok(authorize(store, settings, principal, key, now).await?.0)
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
        None,
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
