//! The threads of a case: each vendor's with the coordinators, and internal notes.

use super::*;

#[derive(Debug, Clone, Serialize, PartialEq, sqlx::FromRow)]
pub struct Message {
    pub id: i64,
    /// The vendor whose thread this is; `null` for coordinators' internal notes.
    pub vendor_id: Option<i64>,
    pub author: String,
    #[sqlx(try_from = "Bit")]
    pub from_vendor: bool,
    pub body: String,
    pub created_at: String,
}

pub(super) async fn insert_message(
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
    #[derive(sqlx::FromRow)]
    struct InThread {
        case_vendor_id: Option<i64>,
        #[sqlx(flatten)]
        message: Message,
    }
    let rows: Vec<InThread> = sqlx::query_as(
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
    let out: Vec<Message> = rows
        .into_iter()
        .filter(|r| {
            let thread = r.case_vendor_id;
            !(matches!(view, CaseView::Vendor { .. }) && (thread.is_none() || thread != own))
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
                    cc: "",
                    encrypt_to: &[],
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
