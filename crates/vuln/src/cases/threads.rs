//! The threads of a case: each vendor's and each partner coordinator's with the
//! team, and the team's internal notes.

use super::*;

#[derive(Debug, Clone, Serialize, PartialEq, sqlx::FromRow)]
pub struct Message {
    pub id: i64,
    /// The vendor whose thread this is; `null` for a partner's thread or an
    /// internal note.
    pub vendor_id: Option<i64>,
    /// The partner organization whose thread this is.
    pub partner_org_id: Option<i64>,
    pub author: String,
    #[sqlx(try_from = "Bit")]
    pub from_vendor: bool,
    pub body: String,
    pub created_at: String,
}

#[allow(clippy::too_many_arguments)]
pub(super) async fn insert_message(
    tx: &mut Tx,
    case_id: i64,
    case_vendor_id: Option<i64>,
    case_partner_id: Option<i64>,
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
        "INSERT INTO case_messages (case_id, case_vendor_id, case_partner_id, author, author_user_id, from_vendor, body, created_at) \
         VALUES ($1, $2, $8, $3, $4, $5, $6, $7) RETURNING id",
    )
    .bind(case_id)
    .bind(case_vendor_id)
    .bind(author)
    .bind(author_id)
    .bind(i64::from(from_vendor))
    .bind(body)
    .bind(now)
    .bind(case_partner_id)
    .fetch_one(tx.conn())
    .await?)
}

/// The threads the caller may read: a vendor or a partner its own; coordinators
/// every thread and their internal notes.
pub async fn messages(
    store: &Store,
    settings: &Settings,
    principal: &Principal,
    key: &str,
    now: DateTime<Utc>,
) -> Result<Vec<Message>> {
    let (detail, view) = authorize(store, settings, principal, key, now).await?;
    #[derive(sqlx::FromRow)]
    struct InThread {
        case_vendor_id: Option<i64>,
        #[sqlx(flatten)]
        message: Message,
    }
    let rows: Vec<InThread> = sqlx::query_as(
        "SELECT m.id, cv.vendor_id, cp.org_id AS partner_org_id, m.case_vendor_id, m.author, m.from_vendor, m.body, m.created_at \
         FROM case_messages m LEFT JOIN case_vendors cv ON cv.id = m.case_vendor_id \
         LEFT JOIN case_partners cp ON cp.id = m.case_partner_id \
         WHERE m.case_id = $1 ORDER BY m.id",
    )
    .bind(detail.case.id)
    .fetch_all(store.pool())
    .await?;
    let own = match view {
        CaseView::Vendor { .. } => detail.vendors.first().map(|v| v.id),
        _ => None,
    };
    let out: Vec<Message> = rows
        .into_iter()
        .filter(|r| match view {
            CaseView::Vendor { .. } => r.case_vendor_id.is_some() && r.case_vendor_id == own,
            CaseView::Partner { org_id } => r.message.partner_org_id == Some(org_id),
            _ => true,
        })
        .map(|r| r.message)
        .collect();
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
    /// Coordinators: the partner organization's thread to write in.
    #[serde(default)]
    pub partner_org_id: Option<i64>,
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
    let partner = match (view, m.partner_org_id) {
        (CaseView::Partner { org_id }, _) => Some(org_id),
        (CaseView::Coordinator, Some(org)) if m.vendor_id.is_none() => Some(org),
        _ => None,
    }
    .map(|org| {
        detail
            .partners
            .iter()
            .find(|p| p.org_id == org)
            .cloned()
            .ok_or(VulnError::NotFound("partner on this case"))
    })
    .transpose()?;
    let thread = match (view, m.vendor_id) {
        _ if partner.is_some() => None,
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
        partner.as_ref().map(|p| p.id),
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
    // The vendor or partner hears of a coordinator's message by a mail without its
    // content.
    if matches!(view, CaseView::Coordinator) && !settings.from.is_empty() {
        let to: Vec<String> = match (&thread, &partner) {
            (Some(t), _) => vendors::get(store, t.vendor_id)
                .await?
                .contacts
                .into_iter()
                .map(|c| c.email)
                .collect(),
            (None, Some(p)) => renkei_core::orgs::contacts(store, p.org_id)
                .await?
                .into_iter()
                .map(|c| c.email)
                .collect(),
            (None, None) => Vec::new(),
        };
        let key = &detail.case.key;
        let subject = format!("[{key}] New message / 新しいメッセージ");
        let body = format!(
            "A coordinator wrote on case {key}. Read it in the portal:\n{}/cases/{key}\n",
            settings.public_url
        );
        for address in &to {
            queue_mail(
                &mut tx,
                settings,
                "case.message",
                key,
                address,
                &subject,
                &body,
                None,
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
            changes: json!({"message": id, "vendor": thread.as_ref().map(|t| t.vendor_id),
                "partner": partner.as_ref().map(|p| p.org_id), "from_vendor": from_vendor}),
        },
    )
    .await?;
    tx.commit().await?;
    Ok(Message {
        id,
        vendor_id: thread.map(|t| t.vendor_id),
        partner_org_id: partner.map(|p| p.org_id),
        author: principal
            .user()
            .map(|u| u.display_name.clone())
            .unwrap_or_default(),
        from_vendor,
        body: body.to_string(),
        created_at: now_s,
    })
}
