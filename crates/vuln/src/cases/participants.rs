//! The vendors on a case: adding one (and telling its contacts), what each records,
//! and the vendors a case should have.

use super::*;

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
    coordinator_or_partner(view)?;
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
    if let CaseView::Partner { org_id } = view {
        let partner = renkei_core::orgs::get(store, org_id).await?;
        let vendor_org = renkei_core::orgs::get(store, vendor.vendor.org_id).await?;
        if !serves(&partner.region, vendor_org.country.as_deref()) {
            return Err(VulnError::invalid(
                "vendor_id",
                format!(
                    "{} is not in {}'s constituency ({}); ask the coordinators to add it",
                    vendor.vendor.name, partner.name, partner.region
                ),
            ));
        }
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
    let mails = notify_vendor(&mut tx, settings, c, &vendor, &products).await?;
    audit::record(
        &mut tx,
        &actor_of(principal),
        Event {
            action: "case.vendor_add",
            object_type: "case",
            object_id: c.key.clone(),
            changes: json!({"vendor": add.vendor_id, "name": vendor.vendor.name, "products": products, "mails": mails,
                "by_partner": match view { CaseView::Partner { org_id } => Some(org_id), _ => None }}),
        },
    )
    .await?;
    tx.commit().await?;
    notes::refresh_pending(store, settings, &c.key, now).await?;
    Ok(authorize(store, settings, principal, key, now).await?.0)
}

/// Tells a vendor's contacts that a case concerns them. The mail carries the summary
/// (encrypted, to contacts with a key) or only a pointer to the portal; the details
/// open when one of the vendor's people acknowledges.
async fn notify_vendor(
    tx: &mut Tx,
    settings: &Settings,
    case: &Case,
    vendor: &vendors::VendorDetail,
    products: &[String],
) -> Result<Vec<i64>> {
    if settings.from.is_empty() {
        tracing::warn!(case = %case.key, "mail.from is not set: the vendor was added but not notified by mail");
        return Ok(Vec::new());
    }
    let lang = vendor_lang(vendor);
    let words = renkei_core::i18n::catalog(lang);
    let portal = format!("{}/cases/{}", settings.public_url, case.key);
    let subject = format!("[{}] {}", case.key, words.get("vuln.mail_notify_subject"));
    let mut ids = Vec::new();
    for contact in &vendor.contacts {
        let key = usable_key(contact);
        let summary = match key {
            Some(_) => summary_text(case, products, lang),
            None => String::new(),
        };
        let body = words.fill(
            "vuln.mail_notify_body",
            &[
                ("name", &contact.name),
                ("case", &case.key),
                ("details", &summary),
                ("portal", &portal),
            ],
        );
        let id = queue_mail(
            tx,
            settings,
            "case.vendor_notification",
            &case.key,
            &contact.email,
            &subject,
            &body,
            key,
        )
        .await?;
        ids.push(id);
    }
    Ok(ids)
}

/// The vendor's first language; English for anyone who has not said.
pub(super) fn vendor_lang(vendor: &vendors::VendorDetail) -> renkei_core::lang::Lang {
    vendor
        .vendor
        .languages
        .first()
        .and_then(|l| renkei_core::lang::Lang::parse(l).ok())
        .unwrap_or_default()
}

/// A contact's key, if it can still be encrypted to.
pub(super) fn usable_key(contact: &vendors::VendorContact) -> Option<&str> {
    contact
        .pgp_key
        .as_deref()
        .filter(|_| contact.key_status != "expired")
}

/// The impact in a line: what the coordinators wrote, or else the weakness and the
/// score.
pub fn impact(case: &Case, lang: renkei_core::lang::Lang) -> String {
    if !case.summary.trim().is_empty() {
        return case.summary.trim().to_string();
    }
    let mut parts = Vec::new();
    if let Some(cwe) = &case.cwe {
        let japanese = lang == renkei_core::lang::Lang::Ja;
        parts.push(match renkei_formats::cwe::name_for(cwe, japanese) {
            Some(n) => format!("{cwe} {n}"),
            None => cwe.clone(),
        });
    }
    if let Some(c) = &case.cvss {
        parts.push(format!("CVSS v3.1 {} ({})", c.score, c.severity));
    }
    if parts.is_empty() {
        renkei_core::i18n::catalog(lang)
            .get("vuln.impact_unstated")
            .to_string()
    } else {
        parts.join(" · ")
    }
}

/// The proposed publication moment as people read it: in the zone it was proposed
/// in when that is an offset (`2026-12-15 10:00 +09:00`), else in UTC with the zone
/// named.
pub fn proposed_moment(case: &Case) -> Option<String> {
    let at = time::parse(case.proposed_publish_at.as_deref()?)?;
    let tz = case.proposed_tz.as_deref().unwrap_or("").trim();
    Some(
        match renkei_core::config::utc_offset_seconds(tz)
            .and_then(|s| chrono::FixedOffset::east_opt(s as i32))
        {
            Some(offset) => at
                .with_timezone(&offset)
                .format("%Y-%m-%d %H:%M %:z")
                .to_string(),
            None if tz.is_empty() => at.format("%Y-%m-%d %H:%M UTC").to_string(),
            None => format!("{} ({tz})", at.format("%Y-%m-%d %H:%M UTC")),
        },
    )
}

/// The summary a vendor reads before acknowledging, as mail text.
pub(super) fn summary_text(
    case: &Case,
    products: &[String],
    lang: renkei_core::lang::Lang,
) -> String {
    let words = renkei_core::i18n::catalog(lang);
    let date =
        proposed_moment(case).unwrap_or_else(|| words.get("vuln.date_not_proposed").to_string());
    words.fill(
        "vuln.mail_summary",
        &[
            ("title", &case.title),
            ("products", &products.join(", ")),
            ("impact", &impact(case, lang)),
            ("date", &date),
        ],
    )
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

pub(super) fn target(
    detail: &CaseDetail,
    view: CaseView,
    vendor_id: Option<i64>,
) -> Result<&CaseVendor> {
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
        // Partners take part in the coordination, not in a vendor's own record.
        (CaseView::Partner { .. }, _) => Err(VulnError::Core(renkei_core::CoreError::Forbidden)),
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

/// Whether a partner serving `region` (a country, `JP`, or a subdivision, `JP-13`;
/// empty: everywhere) speaks for a vendor based in `country`. A vendor whose country
/// is not known is the team's to add.
fn serves(region: &str, country: Option<&str>) -> bool {
    let region = region.trim();
    if region.is_empty() {
        return true;
    }
    let served = region.split('-').next().unwrap_or(region);
    country.is_some_and(|c| c.eq_ignore_ascii_case(served))
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_partner_serves_the_vendors_of_its_country() {
        use super::serves;
        assert!(serves("", None));
        assert!(serves("US", Some("us")));
        assert!(serves("JP-13", Some("JP")));
        assert!(!serves("US", Some("JP")));
        assert!(!serves("US", None));
    }
}
