//! A send of a published alert or weekly report to a list: one delivery per
//! subscriber, in the subscriber's language, and how far it has got.

use super::*;

/// What to send to a list.
#[derive(Debug, Clone)]
pub enum Publication {
    Alert(String),
    Weekly(String),
}

#[derive(Debug, Clone, Serialize, PartialEq, sqlx::FromRow)]
pub struct SendProgress {
    pub id: i64,
    pub list: String,
    pub object_type: String,
    pub object_id: String,
    pub total: i64,
    #[sqlx(skip)]
    pub queued: i64,
    #[sqlx(skip)]
    pub sending: i64,
    #[sqlx(skip)]
    pub sent: i64,
    #[sqlx(skip)]
    pub failed: i64,
    #[sqlx(skip)]
    pub done: bool,
    pub created_at: String,
    pub finished_at: Option<String>,
}

/// Starts sending a published alert or weekly report to every active subscriber.
/// Only TLP:CLEAR goes to a list: a list is open to anyone who subscribes.
pub async fn start_send(
    store: &Store,
    settings: &Settings,
    user: &UserInfo,
    slug: &str,
    what: &Publication,
) -> Result<SendProgress> {
    if !user.role.is_staff() {
        return Err(PublishError::Forbidden(
            "lists are sent to by the team's staff".into(),
        ));
    }
    let list = list_id(store, slug).await?;
    let (object_type, object_id, revision, subjects, bodies) = match what {
        Publication::Alert(number) => {
            let a = alerts::get(store, number, Viewer::Staff, store.now())
                .await?
                .ok_or(PublishError::NotFound("alert"))?;
            if a.exercise {
                return Err(PublishError::Conflict(format!(
                    "{} is an exercise: a mailing list's readers are real, so it is not sent to a list",
                    a.number
                )));
            }
            if a.tlp != Tlp::Clear {
                return Err(PublishError::Conflict(format!(
                    "{} is {}: a mailing list gets TLP:CLEAR only (early warning goes to named organizations)",
                    a.number,
                    a.tlp.as_str()
                )));
            }
            let r = a
                .published
                .as_ref()
                .ok_or_else(|| PublishError::Conflict("the alert is not published".into()))?;
            let url = format!("{}{}", settings.public_url, alerts::page_path(&a.number));
            let text = |lang: Lang| {
                let mut t = markdown::to_text(r.body(lang));
                if r.revision > 1 && !r.change(lang).is_empty() {
                    t = format!(
                        "{} {}\n\n{t}",
                        catalog(lang).get("publish.mail_updated"),
                        r.change(lang)
                    );
                }
                format!("{t}\n\n{url}\n")
            };
            (
                "alert",
                a.number.clone(),
                r.revision,
                (
                    format!("[{}] {}", a.number, r.title(Lang::Ja)),
                    format!("[{}] {}", a.number, r.title(Lang::En)),
                ),
                (text(Lang::Ja), text(Lang::En)),
            )
        }
        Publication::Weekly(date) => {
            let w = weekly::get(store, date, Viewer::Public)
                .await?
                .ok_or(PublishError::NotFound("weekly report"))?;
            let url = format!(
                "{}{}",
                settings.public_url,
                weekly::page_path(&w.issue_date)
            );
            let text = |lang: Lang| {
                let mut t = String::new();
                for (i, it) in w.items.iter().enumerate() {
                    t.push_str(&format!("{}. {}\n", i + 1, it.title(lang)));
                    if !it.summary(lang).is_empty() {
                        t.push_str(&format!("   {}\n", it.summary(lang)));
                    }
                    if !it.url.is_empty() {
                        let link = if it.url.starts_with('/') {
                            format!("{}{}", settings.public_url, it.url)
                        } else {
                            it.url.clone()
                        };
                        t.push_str(&format!("   {link}\n"));
                    }
                    t.push('\n');
                }
                if !w.memo(lang).is_empty() {
                    t.push_str(&format!(
                        "■ {}\n{}\n\n",
                        w.memo_title(lang),
                        markdown::to_text(w.memo(lang))
                    ));
                }
                format!("{t}{url}\n")
            };
            (
                "weekly",
                w.issue_date.clone(),
                w.number.unwrap_or(0),
                (weekly::title(&w, Lang::Ja), weekly::title(&w, Lang::En)),
                (text(Lang::Ja), text(Lang::En)),
            )
        }
    };
    let lists_page = format!("{}/lists", settings.public_url);
    let footer = |lang: Lang| catalog(lang).fill("publish.list_footer", &[("lists", &lists_page)]);
    let now = store.now_str();
    let mut tx = store.begin().await?;
    let exists: Option<i64> = sqlx::query_scalar(
        "SELECT id FROM list_sends WHERE list_id = $1 AND object_type = $2 AND object_id = $3 AND revision = $4",
    )
    .bind(list)
    .bind(object_type)
    .bind(&object_id)
    .bind(revision)
    .fetch_optional(tx.conn())
    .await?;
    if let Some(id) = exists {
        return Err(PublishError::Conflict(format!(
            "{object_id} was sent to this list already (send {id})"
        )));
    }
    let id: i64 = sqlx::query_scalar(
        "INSERT INTO list_sends (list_id, object_type, object_id, revision, subject_ja, subject_en, body_ja, body_en, created_by, created_at, total) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, 0) RETURNING id",
    )
    .bind(list)
    .bind(object_type)
    .bind(&object_id)
    .bind(revision)
    .bind(&subjects.0)
    .bind(&subjects.1)
    .bind(bodies.0 + &footer(Lang::Ja))
    .bind(bodies.1 + &footer(Lang::En))
    .bind(user.id)
    .bind(&now)
    .fetch_one(tx.conn())
    .await?;
    let total = sqlx::query(
        "INSERT INTO list_deliveries (send_id, subscriber_id, status) SELECT $1, id, 'queued' FROM subscribers WHERE list_id = $2 AND status = 'active'",
    )
    .bind(id)
    .bind(list)
    .execute(tx.conn())
    .await?
    .rows_affected() as i64;
    sqlx::query("UPDATE list_sends SET total = $1 WHERE id = $2")
        .bind(total)
        .bind(id)
        .execute(tx.conn())
        .await?;
    audit::record(
        &mut tx,
        &Actor::user(user.id, &user.email),
        Event {
            action: "list.send",
            object_type: "mailing_list",
            object_id: slug.into(),
            changes: json!({"send": id, "object_type": object_type, "object_id": object_id, "revision": revision, "total": total}),
        },
    )
    .await?;
    tx.commit().await?;
    progress(store, id).await
}

pub async fn progress(store: &Store, id: i64) -> Result<SendProgress> {
    let mut progress: SendProgress = sqlx::query_as(
        "SELECT s.id, l.slug AS list, s.object_type, s.object_id, s.total, s.created_at, s.finished_at FROM list_sends s JOIN mailing_lists l ON l.id = s.list_id WHERE s.id = $1",
    )
    .bind(id)
    .fetch_optional(store.pool())
    .await?
    .ok_or(PublishError::NotFound("send"))?;
    let by: HashMap<String, i64> = sqlx::query_as::<_, (String, i64)>(
        "SELECT status, COUNT(*) AS n FROM list_deliveries WHERE send_id = $1 GROUP BY status",
    )
    .bind(id)
    .fetch_all(store.pool())
    .await?
    .into_iter()
    .collect();
    let get = |k: &str| by.get(k).copied().unwrap_or(0);
    progress.queued = get("queued");
    progress.sending = get("sending");
    progress.sent = get("sent");
    progress.failed = get("failed");
    progress.done = get("queued") + get("sending") == 0;
    Ok(progress)
}

pub async fn sends(store: &Store, limit: i64) -> Result<Vec<SendProgress>> {
    let ids: Vec<i64> = sqlx::query_scalar("SELECT id FROM list_sends ORDER BY id DESC LIMIT $1")
        .bind(limit.clamp(1, 500))
        .fetch_all(store.pool())
        .await?;
    let mut out = Vec::new();
    for id in ids {
        out.push(progress(store, id).await?);
    }
    Ok(out)
}
