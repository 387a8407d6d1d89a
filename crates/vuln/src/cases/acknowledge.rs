//! Summary first: a vendor added to a case reads its summary (title, its products,
//! the impact, the proposed date); the details open when one of its people
//! acknowledges, or when a coordinator records that the vendor did (by phone, by
//! mail). A vendor that does not is reminded once, and if it still does not, the
//! coordinators are told once (escalation).

use super::participants::{summary_text, usable_key, vendor_lang};
use super::*;

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Acknowledge {
    /// Coordinators: the vendor they record the acknowledgement for.
    #[serde(default)]
    pub vendor_id: Option<i64>,
    /// Coordinators: how the vendor acknowledged (by phone, by mail, …).
    #[serde(default)]
    pub via: Option<String>,
}

/// Records the acknowledgement; the details open to the vendor's people at once, and
/// a vendor that works by mail receives them, encrypted to each contact's key.
/// Acknowledging twice changes nothing.
pub async fn acknowledge(
    store: &Store,
    settings: &Settings,
    principal: &Principal,
    key: &str,
    ack: Acknowledge,
    now: DateTime<Utc>,
) -> Result<CaseDetail> {
    let (detail, view) = authorize_summary(store, settings, principal, key, now).await?;
    let cv = match view {
        CaseView::Vendor { .. } => detail.vendors.first().ok_or(VulnError::NotFound("case"))?,
        CaseView::Coordinator => {
            let id = ack.vendor_id.ok_or_else(|| {
                VulnError::invalid("vendor_id", "name the vendor that acknowledged")
            })?;
            detail
                .vendors
                .iter()
                .find(|v| v.vendor_id == id)
                .ok_or(VulnError::NotFound("vendor on this case"))?
        }
        CaseView::Partner { .. } => {
            return Err(VulnError::Core(renkei_core::CoreError::Forbidden));
        }
        CaseView::None => return Err(VulnError::NotFound("case")),
    }
    .clone();
    let via = ack.via.as_deref().map(str::trim).unwrap_or("");
    if via.len() > 200 || via.contains(['\0', '\r', '\n']) {
        return Err(VulnError::invalid(
            "via",
            "say in one line how the vendor acknowledged (at most 200 characters)",
        ));
    }
    if cv.acknowledged_at.is_some() {
        return Ok(authorize(store, settings, principal, key, now).await?.0);
    }
    let from_vendor = matches!(view, CaseView::Vendor { .. });
    let user = principal.user();
    let by = match (from_vendor, user) {
        (true, Some(u)) => format!("{} <{}>", u.display_name, u.email),
        (false, Some(u)) if via.is_empty() => format!("recorded by {}", u.email),
        (false, Some(u)) => format!("{via} (recorded by {})", u.email),
        (_, None) => return Err(VulnError::NotFound("case")),
    };
    let now_s = time::format(now);
    let mut tx = store.begin().await?;
    let changed = sqlx::query(
        "UPDATE case_vendors SET acknowledged_at = $1, acknowledged_by = $2, \
         stage = CASE WHEN stage = 'notified' THEN 'acknowledged' ELSE stage END, \
         last_activity_at = COALESCE($3, last_activity_at) WHERE id = $4 AND acknowledged_at IS NULL",
    )
    .bind(&now_s)
    .bind(&by)
    .bind(from_vendor.then_some(now_s.as_str()))
    .bind(cv.id)
    .execute(tx.conn())
    .await?
    .rows_affected();
    if changed == 0 {
        // Someone else acknowledged in between: nothing left to do.
        drop(tx);
        return Ok(authorize(store, settings, principal, key, now).await?.0);
    }
    let vendor = vendors::get(store, cv.vendor_id).await?;
    let mut mails = Vec::new();
    if vendor.vendor.by_mail && !settings.from.is_empty() {
        // The full case, read as the team reads it: the caller saw the summary only.
        let full = detail_for_team(store, settings, key, now).await?;
        mails = send_details(&mut tx, settings, &full.case, &vendor).await?;
    }
    audit::record(
        &mut tx,
        &actor_of(principal),
        Event {
            action: "case.vendor_acknowledge",
            object_type: "case",
            object_id: detail.case.key.clone(),
            changes: json!({"vendor": cv.vendor_id, "by": by, "from_vendor": from_vendor, "mails": mails}),
        },
    )
    .await?;
    tx.commit().await?;
    notes::refresh_pending(store, settings, &detail.case.key, now).await?;
    Ok(authorize(store, settings, principal, key, now).await?.0)
}

/// The details, encrypted to each contact with a usable key, for a vendor that
/// works by mail; contacts without one read them in the portal.
async fn send_details(
    tx: &mut Tx,
    settings: &Settings,
    case: &Case,
    vendor: &vendors::VendorDetail,
) -> Result<Vec<i64>> {
    let lang = vendor_lang(vendor);
    let words = renkei_core::i18n::catalog(lang);
    let subject = format!("[{}] {}", case.key, words.get("vuln.mail_details_subject"));
    let portal = format!("{}/cases/{}", settings.public_url, case.key);
    let cvss = case
        .cvss
        .as_ref()
        .map(|c| format!("{} ({})", c.score, c.vector))
        .unwrap_or_else(|| "-".into());
    let mut ids = Vec::new();
    for contact in &vendor.contacts {
        let Some(key) = usable_key(contact) else {
            continue;
        };
        let body = words.fill(
            "vuln.mail_details_body",
            &[
                ("name", &contact.name),
                ("case", &case.key),
                ("title", &case.title),
                ("description", &case.description),
                ("affected", &case.affected),
                ("cvss", &cvss),
                ("portal", &portal),
            ],
        );
        ids.push(
            queue_mail(
                tx,
                settings,
                "case.vendor_details",
                &case.key,
                &contact.email,
                &subject,
                &body,
                Some(key),
            )
            .await?,
        );
    }
    Ok(ids)
}

/// What one [`remind`] did.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Reminded {
    /// `(case, vendor)` pairs whose contacts were reminded.
    pub reminded: Vec<(String, i64)>,
    /// `(case, vendor)` pairs the coordinators were told of.
    pub escalated: Vec<(String, i64)>,
    pub mails: usize,
}

#[derive(sqlx::FromRow)]
struct Waiting {
    id: i64,
    vendor_id: i64,
    case_id: i64,
    case_key: String,
    name: String,
    notified_at: String,
    reminded_at: Option<String>,
}

/// Reminds the contacts of vendors that have not acknowledged a case `ack_days`
/// after being told of it, and tells the coordinators of those still silent
/// `escalate_days` after the reminder: by mail through the outbox, and as an internal
/// note on the case. Each vendor on a case is reminded once and escalated once, even
/// with several nodes running this at once.
pub async fn remind(store: &Store, settings: &Settings, now: DateTime<Utc>) -> Result<Reminded> {
    let mut done = Reminded::default();
    if settings.from.trim().is_empty() {
        return Ok(done);
    }
    let now_s = time::format(now);
    let remind_before = time::format(now - chrono::Duration::days(settings.vuln.ack_days.max(0)));
    let escalate_before =
        time::format(now - chrono::Duration::days(settings.vuln.escalate_days.max(0)));
    let waiting: Vec<Waiting> = sqlx::query_as(
        "SELECT cv.id, cv.vendor_id, cv.case_id, c.case_key, o.name, cv.notified_at, cv.reminded_at \
         FROM case_vendors cv JOIN cases c ON c.id = cv.case_id JOIN vendors v ON v.id = cv.vendor_id \
         JOIN organizations o ON o.id = v.org_id LEFT JOIN notes n ON n.case_id = c.id \
         WHERE cv.acknowledged_at IS NULL AND cv.escalated_at IS NULL AND c.state <> 'closed' \
           AND (n.publish_at IS NULL OR n.publish_at > $1) \
           AND ((cv.reminded_at IS NULL AND cv.notified_at <= $2) OR cv.reminded_at <= $3) \
         ORDER BY cv.id LIMIT 1000",
    )
    .bind(&now_s)
    .bind(&remind_before)
    .bind(&escalate_before)
    .fetch_all(store.pool())
    .await?;
    if waiting.is_empty() {
        return Ok(done);
    }
    let escalate_to: Vec<String> = if settings.vuln.escalate_to.is_empty() {
        sqlx::query_scalar(
            "SELECT email FROM users WHERE role IN ('admin', 'coordinator') AND disabled_at IS NULL ORDER BY id",
        )
        .fetch_all(store.pool())
        .await?
    } else {
        settings.vuln.escalate_to.clone()
    };
    let actor = Actor::system("vuln reminders");
    let system = Principal::Anonymous;
    let mut tx = store.begin().await?;
    let mut escalations = Vec::new();
    let mut events = Vec::new();
    for w in &waiting {
        let escalate = w.reminded_at.is_some();
        // Claimed first, so that a second node running at the same time finds the
        // row already marked and sends nothing.
        let claim = if escalate {
            "UPDATE case_vendors SET escalated_at = $1 WHERE id = $2 AND escalated_at IS NULL AND acknowledged_at IS NULL"
        } else {
            "UPDATE case_vendors SET reminded_at = $1 WHERE id = $2 AND reminded_at IS NULL AND acknowledged_at IS NULL"
        };
        let claimed = sqlx::query(claim)
            .bind(&now_s)
            .bind(w.id)
            .execute(tx.conn())
            .await?
            .rows_affected();
        if claimed == 0 {
            continue;
        }
        if escalate {
            let words = renkei_core::i18n::catalog(renkei_core::lang::Lang::Ja);
            let note = words.fill(
                "vuln.escalation_note",
                &[("vendor", &w.name), ("since", &w.notified_at)],
            );
            insert_message(
                &mut tx, w.case_id, None, None, &system, false, &note, &now_s,
            )
            .await?;
            escalations.push(w);
            done.escalated.push((w.case_key.clone(), w.vendor_id));
            events.push(Event {
                action: "case.vendor_escalated",
                object_type: "case",
                object_id: w.case_key.clone(),
                changes: json!({"vendor": w.vendor_id, "notified_at": w.notified_at, "to": escalate_to}),
            });
            continue;
        }
        let vendor = vendors::get(store, w.vendor_id).await?;
        let lang = vendor_lang(&vendor);
        let words = renkei_core::i18n::catalog(lang);
        let subject = format!("[{}] {}", w.case_key, words.get("vuln.mail_remind_subject"));
        let portal = format!("{}/cases/{}", settings.public_url, w.case_key);
        let mut mails = Vec::new();
        let since = &w.notified_at[..10.min(w.notified_at.len())];
        for contact in &vendor.contacts {
            let body = words.fill(
                "vuln.mail_remind_body",
                &[
                    ("name", &contact.name),
                    ("case", &w.case_key),
                    ("since", &since),
                    ("portal", &portal),
                ],
            );
            mails.push(
                queue_mail(
                    &mut tx,
                    settings,
                    "case.vendor_reminder",
                    &w.case_key,
                    &contact.email,
                    &subject,
                    &body,
                    None,
                )
                .await?,
            );
        }
        done.mails += mails.len();
        done.reminded.push((w.case_key.clone(), w.vendor_id));
        events.push(Event {
            action: "case.vendor_reminded",
            object_type: "case",
            object_id: w.case_key.clone(),
            changes: json!({"vendor": w.vendor_id, "notified_at": w.notified_at, "mails": mails}),
        });
    }
    if !escalations.is_empty() && !escalate_to.is_empty() {
        let words = renkei_core::i18n::catalog(renkei_core::lang::Lang::Ja);
        let lines: Vec<String> = escalations
            .iter()
            .map(|w| {
                format!(
                    "- {} · {} · {}/cases/{}",
                    w.case_key, w.name, settings.public_url, w.case_key
                )
            })
            .collect();
        let body = words.fill("vuln.mail_escalate_body", &[("cases", &lines.join("\n"))]);
        queue_mail(
            &mut tx,
            settings,
            "case.vendor_escalation",
            &escalations[0].case_key,
            &escalate_to.join(", "),
            words.get("vuln.mail_escalate_subject"),
            &body,
            None,
        )
        .await?;
        done.mails += 1;
    }
    audit::record_many(&mut tx, &actor, events).await?;
    tx.commit().await?;
    Ok(done)
}

/// The summary of a case as a vendor's mail gives it, for the page that shows the
/// same to a vendor that has not acknowledged.
pub fn summary_for(case: &Case, vendor: &CaseVendor, lang: renkei_core::lang::Lang) -> String {
    let products: Vec<String> = vendor.products.iter().map(|p| p.name.clone()).collect();
    summary_text(case, &products, lang)
}
