//! Mailing lists: readers subscribe with double opt-in (a confirmation link by
//! mail), in Japanese or English, and leave with one click (RFC 8058). Sending an
//! alert or a weekly report to a list writes one delivery per subscriber; the
//! [`ListSender`] works through them over pooled relay connections and marks each
//! one sent as the relay takes it, so a send stopped by a crash resumes where it
//! was. A message whose fate a crash left unknown (handed to the relay, not yet
//! marked) goes again under the same Message-ID, which mail clients use to show it
//! once.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration as StdDuration;

use chrono::{DateTime, Duration, Utc};
use renkei_core::access::UserInfo;
use renkei_core::audit::{self, Actor, Event};
use renkei_core::lang::Lang;
use renkei_core::secrets::random_token;
use renkei_core::store::Dialect;
use renkei_core::tlp::Tlp;
use renkei_core::{Store, time};
use renkei_mail::compose::{ListBody, ListMail, compose_list, list_body};
use renkei_mail::{NewMail, RelayClient, TeamKey};
use serde::Serialize;
use serde_json::json;
use sha2::{Digest, Sha256};
use sqlx::{AssertSqlSafe, Row};

use crate::alerts::{self, Viewer};
use crate::{PublishError, Result, markdown, weekly};

/// What list mail needs to know about the installation.
#[derive(Clone)]
pub struct Settings {
    pub public_url: String,
    /// The sender; empty: the server sends no mail and subscriptions are refused.
    pub from: String,
    pub relay: String,
    pub team_key: Option<TeamKey>,
    /// Connections kept open to the relay.
    pub connections: u32,
    /// How long a claimed delivery is held before it may go again.
    pub lease_secs: i64,
    /// How long an idle sender waits before it looks for new deliveries.
    pub idle_secs: u64,
}

impl Settings {
    pub fn from_config(
        config: &renkei_core::config::Config,
        team_key: Option<TeamKey>,
    ) -> Settings {
        Settings {
            public_url: config.public_url(),
            from: config.mail.from.clone(),
            relay: config.mail.relay.clone(),
            team_key,
            connections: config.publish.list_connections,
            lease_secs: config.publish.list_lease_secs as i64,
            idle_secs: config.publish.list_poll_secs.max(1),
        }
    }
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct MailingList {
    pub slug: String,
    pub name_ja: String,
    pub name_en: String,
    pub subscribers: i64,
}

pub async fn lists(store: &Store) -> Result<Vec<MailingList>> {
    let rows = sqlx::query(
        "SELECT l.slug, l.name_ja, l.name_en, (SELECT COUNT(*) FROM subscribers s WHERE s.list_id = l.id AND s.status = 'active') AS n FROM mailing_lists l ORDER BY l.id",
    )
    .fetch_all(store.pool())
    .await?;
    rows.iter()
        .map(|r| {
            Ok(MailingList {
                slug: r.try_get("slug")?,
                name_ja: r.try_get("name_ja")?,
                name_en: r.try_get("name_en")?,
                subscribers: r.try_get("n")?,
            })
        })
        .collect()
}

async fn list_id(store: &Store, slug: &str) -> Result<i64> {
    sqlx::query_scalar("SELECT id FROM mailing_lists WHERE slug = $1")
        .bind(slug.trim())
        .fetch_optional(store.pool())
        .await?
        .ok_or(PublishError::NotFound("mailing list"))
}

/// An address as people type it, checked strictly: one `@`, a local part without
/// spaces or specials, a domain of at least two labels. Returns it trimmed.
pub fn check_email(s: &str) -> Result<String> {
    let s = s.trim();
    let bad = || {
        PublishError::invalid(
            "email",
            format!("{s:?} is not a mail address like name@example.org"),
        )
    };
    let (local, domain) = s.rsplit_once('@').ok_or_else(bad)?;
    if s.len() > 254
        || local.is_empty()
        || local.len() > 64
        || local.starts_with('.')
        || local.ends_with('.')
        || local.contains("..")
        || !local
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "!#$%&'*+-/=?^_`{|}~.".contains(c))
    {
        return Err(bad());
    }
    let labels: Vec<&str> = domain.split('.').collect();
    let label_ok = |l: &&str| {
        !l.is_empty()
            && l.len() <= 63
            && !l.starts_with('-')
            && !l.ends_with('-')
            && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
    };
    // A top-level domain is letters, or an internationalized one in its A-label form.
    let tld_ok = labels.last().is_some_and(|t| {
        t.len() >= 2 && (t.chars().all(|c| c.is_ascii_alphabetic()) || t.starts_with("xn--"))
    });
    if labels.len() < 2 || !labels.iter().all(label_ok) || !tld_ok {
        return Err(bad());
    }
    Ok(s.to_string())
}

/// Asks for a subscription: a pending one is (re)sent its confirmation link; an
/// active one is left as it is. The answer is the same either way, so nobody
/// learns who reads a list.
pub async fn subscribe(
    store: &Store,
    settings: &Settings,
    slug: &str,
    email: &str,
    lang: Lang,
) -> Result<()> {
    let list = list_id(store, slug).await?;
    let email = check_email(email)?;
    if settings.from.trim().is_empty() {
        return Err(PublishError::Conflict(
            "this server sends no mail (mail.from is not set)".into(),
        ));
    }
    let key = email.to_ascii_lowercase();
    let now = store.now_str();
    let mut tx = store.begin().await?;
    sqlx::query(
        "INSERT INTO subscribers (list_id, email, email_key, lang, status, token, created_at) VALUES ($1, $2, $3, $4, 'pending', $5, $6) ON CONFLICT (list_id, email_key) DO NOTHING",
    )
    .bind(list)
    .bind(&email)
    .bind(&key)
    .bind(lang.as_str())
    .bind(random_token("sub_"))
    .bind(&now)
    .execute(tx.conn())
    .await?;
    let row = sqlx::query(
        "SELECT id, status, token FROM subscribers WHERE list_id = $1 AND email_key = $2",
    )
    .bind(list)
    .bind(&key)
    .fetch_one(tx.conn())
    .await?;
    let status: String = row.try_get("status")?;
    let id: i64 = row.try_get("id")?;
    if status == "active" {
        tx.commit().await?;
        return Ok(());
    }
    // Pending, or coming back after leaving: a fresh link, in the language asked for now.
    let token = random_token("sub_");
    sqlx::query("UPDATE subscribers SET status = 'pending', token = $1, lang = $2 WHERE id = $3")
        .bind(&token)
        .bind(lang.as_str())
        .bind(id)
        .execute(tx.conn())
        .await?;
    let (name_ja, name_en): (String, String) = {
        let r = sqlx::query("SELECT name_ja, name_en FROM mailing_lists WHERE id = $1")
            .bind(list)
            .fetch_one(tx.conn())
            .await?;
        (r.try_get("name_ja")?, r.try_get("name_en")?)
    };
    let link = format!("{}/lists/confirm/{token}", settings.public_url);
    let (subject, body) = match lang {
        Lang::Ja => (
            format!("メーリングリスト「{name_ja}」購読の確認"),
            format!(
                "メーリングリスト「{name_ja}」への購読のお申し込みを受け付けました。\n次のページで購読を確定してください:\n\n{link}\n\nお心当たりのない場合は、このメールを破棄してください。購読は確定されません。\n"
            ),
        ),
        _ => (
            format!("Please confirm your subscription to \"{name_en}\""),
            format!(
                "Someone, hopefully you, asked to subscribe this address to \"{name_en}\".\nConfirm on this page:\n\n{link}\n\nIf it was not you, ignore this message: nothing is subscribed.\n"
            ),
        ),
    };
    renkei_mail::enqueue(
        &mut tx,
        NewMail {
            kind: "list.confirm",
            object_type: "subscriber",
            object_id: id.to_string(),
            from: &settings.from,
            to: &email,
            subject: &subject,
            body: &body,
            in_reply_to: None,
            auto_reply: false,
            attachments: &[],
            sign: settings.team_key.as_ref(),
            encrypt_to: None,
        },
    )
    .await
    .map_err(|e| match e {
        renkei_mail::MailError::Address(m) => PublishError::invalid("email", m),
        other => PublishError::Conflict(other.to_string()),
    })?;
    tx.commit().await?;
    Ok(())
}

/// The list and address a confirmation or unsubscribe token stands for.
pub async fn by_token(store: &Store, token: &str) -> Result<(String, String, String)> {
    let row = sqlx::query(
        "SELECT l.slug, s.email, s.status FROM subscribers s JOIN mailing_lists l ON l.id = s.list_id WHERE s.token = $1",
    )
    .bind(token.trim())
    .fetch_optional(store.pool())
    .await?
    .ok_or(PublishError::NotFound("subscription"))?;
    Ok((
        row.try_get("slug")?,
        row.try_get("email")?,
        row.try_get("status")?,
    ))
}

/// Confirms a pending subscription (the second opt-in).
pub async fn confirm(store: &Store, token: &str) -> Result<()> {
    let (slug, email, status) = by_token(store, token).await?;
    if status == "active" {
        return Ok(());
    }
    if status != "pending" {
        return Err(PublishError::Conflict(
            "this link is no longer valid: subscribe again".into(),
        ));
    }
    let mut tx = store.begin().await?;
    sqlx::query("UPDATE subscribers SET status = 'active', confirmed_at = $1 WHERE token = $2 AND status = 'pending'")
        .bind(store.now_str())
        .bind(token.trim())
        .execute(tx.conn())
        .await?;
    audit::record(
        &mut tx,
        &Actor::anonymous("list-link"),
        Event {
            action: "list.subscribe",
            object_type: "mailing_list",
            object_id: slug,
            changes: json!({"email": email}),
        },
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

/// Ends a subscription (the one-click link; repeating it changes nothing).
pub async fn unsubscribe(store: &Store, token: &str) -> Result<()> {
    let (slug, email, status) = by_token(store, token).await?;
    if status == "left" {
        return Ok(());
    }
    let mut tx = store.begin().await?;
    sqlx::query("UPDATE subscribers SET status = 'left', left_at = $1 WHERE token = $2")
        .bind(store.now_str())
        .bind(token.trim())
        .execute(tx.conn())
        .await?;
    // What is still queued for this reader is not sent.
    sqlx::query(
        "UPDATE list_deliveries SET status = 'failed', last_error = 'unsubscribed' WHERE status = 'queued' AND subscriber_id = (SELECT id FROM subscribers WHERE token = $1)",
    )
    .bind(token.trim())
    .execute(tx.conn())
    .await?;
    audit::record(
        &mut tx,
        &Actor::anonymous("list-link"),
        Event {
            action: "list.unsubscribe",
            object_type: "mailing_list",
            object_id: slug,
            changes: json!({"email": email}),
        },
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

/// Adds confirmed subscribers in bulk (a list moved from another system, whose
/// readers opted in there). Returns how many were new.
pub async fn import(
    store: &Store,
    actor: &Actor,
    slug: &str,
    rows: &[(String, Lang)],
) -> Result<usize> {
    let list = list_id(store, slug).await?;
    let now = store.now_str();
    let mut added = 0;
    let mut tx = store.begin().await?;
    for (email, lang) in rows {
        let email = check_email(email)?;
        added += sqlx::query(
            "INSERT INTO subscribers (list_id, email, email_key, lang, status, token, created_at, confirmed_at) VALUES ($1, $2, $3, $4, 'active', $5, $6, $6) ON CONFLICT (list_id, email_key) DO NOTHING",
        )
        .bind(list)
        .bind(&email)
        .bind(email.to_ascii_lowercase())
        .bind(lang.as_str())
        .bind(random_token("sub_"))
        .bind(&now)
        .execute(tx.conn())
        .await?
        .rows_affected() as usize;
    }
    audit::record(
        &mut tx,
        actor,
        Event {
            action: "list.import",
            object_type: "mailing_list",
            object_id: slug.into(),
            changes: json!({"rows": rows.len(), "added": added}),
        },
    )
    .await?;
    tx.commit().await?;
    Ok(added)
}

/// What to send to a list.
#[derive(Debug, Clone)]
pub enum Publication {
    Alert(String),
    Weekly(String),
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct SendProgress {
    pub id: i64,
    pub list: String,
    pub object_type: String,
    pub object_id: String,
    pub total: i64,
    pub queued: i64,
    pub sending: i64,
    pub sent: i64,
    pub failed: i64,
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
            let text = |ja: bool| {
                let mut t = markdown::to_text(r.body(ja));
                if r.revision > 1 && !r.change(ja).is_empty() {
                    t = format!(
                        "{} {}\n\n{t}",
                        if ja { "更新:" } else { "Updated:" },
                        r.change(ja)
                    );
                }
                format!("{t}\n\n{url}\n")
            };
            (
                "alert",
                a.number.clone(),
                r.revision,
                (
                    format!("[{}] {}", a.number, r.title(true)),
                    format!("[{}] {}", a.number, r.title(false)),
                ),
                (text(true), text(false)),
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
            let text = |ja: bool| {
                let mut t = String::new();
                for (i, it) in w.items.iter().enumerate() {
                    t.push_str(&format!("{}. {}\n", i + 1, it.title(ja)));
                    if !it.summary(ja).is_empty() {
                        t.push_str(&format!("   {}\n", it.summary(ja)));
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
                if !w.memo(ja).is_empty() {
                    t.push_str(&format!(
                        "■ {}\n{}\n\n",
                        w.memo_title(ja),
                        markdown::to_text(w.memo(ja))
                    ));
                }
                format!("{t}{url}\n")
            };
            (
                "weekly",
                w.issue_date.clone(),
                w.number.unwrap_or(0),
                (weekly::title(&w, true), weekly::title(&w, false)),
                (text(true), text(false)),
            )
        }
    };
    let footer = |ja: bool| {
        if ja {
            format!(
                "\n--\n購読の解除: このメールの List-Unsubscribe、または {}/lists\n",
                settings.public_url
            )
        } else {
            format!(
                "\n--\nTo unsubscribe: your mail program's unsubscribe button, or {}/lists\n",
                settings.public_url
            )
        }
    };
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
    .bind(bodies.0 + &footer(true))
    .bind(bodies.1 + &footer(false))
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
    let row = sqlx::query(
        "SELECT s.id, l.slug, s.object_type, s.object_id, s.total, s.created_at, s.finished_at FROM list_sends s JOIN mailing_lists l ON l.id = s.list_id WHERE s.id = $1",
    )
    .bind(id)
    .fetch_optional(store.pool())
    .await?
    .ok_or(PublishError::NotFound("send"))?;
    let counts = sqlx::query(
        "SELECT status, COUNT(*) AS n FROM list_deliveries WHERE send_id = $1 GROUP BY status",
    )
    .bind(id)
    .fetch_all(store.pool())
    .await?;
    let mut by: HashMap<String, i64> = HashMap::new();
    for c in counts {
        by.insert(c.try_get("status")?, c.try_get("n")?);
    }
    let get = |k: &str| by.get(k).copied().unwrap_or(0);
    Ok(SendProgress {
        id,
        list: row.try_get("slug")?,
        object_type: row.try_get("object_type")?,
        object_id: row.try_get("object_id")?,
        total: row.try_get("total")?,
        queued: get("queued"),
        sending: get("sending"),
        sent: get("sent"),
        failed: get("failed"),
        done: get("queued") + get("sending") == 0,
        created_at: row.try_get("created_at")?,
        finished_at: row.try_get("finished_at")?,
    })
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

const BATCH: i64 = 1000;
/// Permanent refusals (5xx at RCPT or DATA) before an address is removed.
const BOUNCES_TO_REMOVE: i64 = 3;

struct Claimed {
    send_id: i64,
    subscriber_id: i64,
    email: String,
    lang: String,
    token: String,
}

/// A send's subject, signed body and List-Id in one language.
type Prepared = (String, Arc<ListBody>, String);

/// List deliveries waiting and being sent, over every send.
pub async fn depth(store: &Store) -> Result<(i64, i64)> {
    let row = sqlx::query(
        "SELECT CAST(COALESCE(SUM(CASE WHEN status = 'queued' THEN 1 ELSE 0 END), 0) AS BIGINT) AS q,
                CAST(COALESCE(SUM(CASE WHEN status = 'sending' THEN 1 ELSE 0 END), 0) AS BIGINT) AS s
         FROM list_deliveries WHERE status IN ('queued', 'sending')",
    )
    .fetch_one(store.pool())
    .await?;
    Ok((row.try_get("q")?, row.try_get("s")?))
}

/// Works through queued deliveries of every send.
pub struct ListSender {
    store: Store,
    settings: Settings,
    /// Bodies signed once per send and language.
    bodies: Mutex<HashMap<(i64, bool), Prepared>>,
}

fn message_id(send: i64, subscriber: i64, from: &str) -> String {
    let digest = hex::encode(Sha256::digest(
        format!("list {send} {subscriber}").as_bytes(),
    ));
    let domain = from
        .rsplit_once('@')
        .map(|(_, d)| d.trim_end_matches('>'))
        .unwrap_or("renkei.invalid");
    format!("list.{send}.{subscriber}.{}@{domain}", &digest[..10])
}

impl ListSender {
    pub fn build(store: Store, settings: Settings) -> ListSender {
        ListSender {
            store,
            settings,
            bodies: Mutex::new(HashMap::new()),
        }
    }

    /// Sends until `shutdown` resolves.
    pub async fn run(self, shutdown: impl std::future::Future<Output = ()> + Send) {
        if self.settings.relay.is_empty() || self.settings.from.is_empty() {
            return;
        }
        let relay = match RelayClient::new(&self.settings.relay, self.settings.connections) {
            Ok(r) => r,
            Err(e) => {
                tracing::warn!(error = %e, "mailing lists cannot send");
                return;
            }
        };
        tokio::pin!(shutdown);
        loop {
            let pause = match self.pass(&relay).await {
                Ok(0) => StdDuration::from_secs(self.settings.idle_secs.max(1)),
                Ok(_) => StdDuration::ZERO,
                Err(e) => {
                    tracing::warn!(error = %e, "list delivery pass failed; will retry");
                    StdDuration::from_secs(5)
                }
            };
            tokio::select! {
                _ = &mut shutdown => return,
                _ = tokio::time::sleep(pause) => {}
            }
        }
    }

    /// One batch: claims up to [`BATCH`] deliveries and sends them; returns how many
    /// were claimed.
    pub async fn pass(&self, relay: &RelayClient) -> Result<usize> {
        let now = self.store.now();
        let claimed = self.claim(now).await?;
        if claimed.is_empty() {
            self.finish(now).await?;
            return Ok(0);
        }
        // Results go to one marker, in order of arrival: one writer does not wait
        // on the database's write lock the way many would.
        let (done_tx, mut done_rx) =
            tokio::sync::mpsc::unbounded_channel::<(i64, i64, std::result::Result<(), String>)>();
        let store = self.store.clone();
        let marker = tokio::spawn(async move {
            while let Some((send, sub, result)) = done_rx.recv().await {
                if let Err(e) = mark(&store, send, sub, result).await {
                    tracing::warn!(error = %e, "a delivery could not be marked");
                }
            }
        });
        let mut tasks = tokio::task::JoinSet::new();
        let limit = Arc::new(tokio::sync::Semaphore::new(
            self.settings.connections.max(1) as usize,
        ));
        for c in &claimed {
            let (subject, body, list_id) = self.body(c.send_id, c.lang == "ja").await?;
            let raw = compose_list(
                &ListMail {
                    from: &self.settings.from,
                    to: &c.email,
                    subject: &subject,
                    message_id: &message_id(c.send_id, c.subscriber_id, &self.settings.from),
                    list_id: &list_id,
                    unsubscribe: &format!(
                        "{}/lists/unsubscribe/{}",
                        self.settings.public_url, c.token
                    ),
                },
                &body,
            );
            let permit = limit
                .clone()
                .acquire_owned()
                .await
                .map_err(|e| PublishError::Conflict(e.to_string()))?;
            let (relay, from, to, done) = (
                relay.clone(),
                self.settings.from.clone(),
                c.email.clone(),
                done_tx.clone(),
            );
            let (send, sub) = (c.send_id, c.subscriber_id);
            tasks.spawn(async move {
                let result = match raw {
                    Ok(raw) => relay.send(&from, &to, &raw).await,
                    Err(e) => Err(format!("550 {e}")),
                };
                drop(permit);
                let _ = done.send((send, sub, result));
            });
        }
        drop(done_tx);
        while tasks.join_next().await.is_some() {}
        let _ = marker.await;
        Ok(claimed.len())
    }

    async fn claim(&self, now: DateTime<Utc>) -> Result<Vec<Claimed>> {
        let at = time::format(now);
        let lease = time::format(now + Duration::seconds(self.settings.lease_secs.max(1)));
        let skip_locked = match self.store.dialect() {
            Dialect::Postgres => " FOR UPDATE SKIP LOCKED",
            Dialect::Sqlite => "",
        };
        let mut tx = self.store.begin().await?;
        // A lease that ran out belongs to a sender that stopped: its deliveries go again.
        sqlx::query("UPDATE list_deliveries SET status = 'queued' WHERE status = 'sending' AND lease_until < $1")
            .bind(&at)
            .execute(tx.conn())
            .await?;
        // Only constants go into the text.
        let rows = sqlx::query(AssertSqlSafe(format!(
            "UPDATE list_deliveries SET status = 'sending', lease_until = $1, attempts = attempts + 1
             WHERE (send_id, subscriber_id) IN (
               SELECT send_id, subscriber_id FROM list_deliveries
               WHERE status = 'queued' AND (lease_until IS NULL OR lease_until < $2)
               ORDER BY send_id, subscriber_id LIMIT {BATCH}{skip_locked})
             RETURNING send_id, subscriber_id"
        )))
        .bind(&lease)
        .bind(&at)
        .fetch_all(tx.conn())
        .await?;
        tx.commit().await?;
        let mut claimed: Vec<(i64, i64)> = Vec::with_capacity(rows.len());
        for r in rows {
            claimed.push((r.try_get("send_id")?, r.try_get("subscriber_id")?));
        }
        let mut details: HashMap<i64, (String, String, String)> = HashMap::new();
        for chunk in claimed.chunks(500) {
            let ids: Vec<String> = chunk.iter().map(|(_, s)| s.to_string()).collect();
            // Only numbers go into the text.
            let rows = sqlx::query(AssertSqlSafe(format!(
                "SELECT id, email, lang, token FROM subscribers WHERE id IN ({})",
                ids.join(",")
            )))
            .fetch_all(self.store.pool())
            .await?;
            for s in rows {
                details.insert(
                    s.try_get("id")?,
                    (s.try_get("email")?, s.try_get("lang")?, s.try_get("token")?),
                );
            }
        }
        Ok(claimed
            .into_iter()
            .filter_map(|(send_id, subscriber_id)| {
                details
                    .get(&subscriber_id)
                    .map(|(email, lang, token)| Claimed {
                        send_id,
                        subscriber_id,
                        email: email.clone(),
                        lang: lang.clone(),
                        token: token.clone(),
                    })
            })
            .collect())
    }

    async fn body(&self, send: i64, ja: bool) -> Result<Prepared> {
        if let Some(b) = self
            .bodies
            .lock()
            .map_err(|_| PublishError::Conflict("poisoned".into()))?
            .get(&(send, ja))
        {
            return Ok(b.clone());
        }
        let r = sqlx::query(
            "SELECT s.subject_ja, s.subject_en, s.body_ja, s.body_en, l.slug, l.name_en FROM list_sends s JOIN mailing_lists l ON l.id = s.list_id WHERE s.id = $1",
        )
        .bind(send)
        .fetch_one(self.store.pool())
        .await?;
        let pick = |a: &str, b: &str| -> Result<String> {
            let (x, y): (String, String) = (r.try_get(a)?, r.try_get(b)?);
            Ok(if !x.trim().is_empty() || y.trim().is_empty() {
                x
            } else {
                y
            })
        };
        let subject = if ja {
            pick("subject_ja", "subject_en")?
        } else {
            pick("subject_en", "subject_ja")?
        };
        let text = if ja {
            pick("body_ja", "body_en")?
        } else {
            pick("body_en", "body_ja")?
        };
        let host = self
            .settings
            .public_url
            .split("://")
            .nth(1)
            .unwrap_or("renkei.invalid")
            .split(['/', ':'])
            .next()
            .unwrap_or("renkei.invalid")
            .to_string();
        let list_id = format!(
            "{} <{}.{host}>",
            r.try_get::<String, _>("name_en")?,
            r.try_get::<String, _>("slug")?
        );
        let body = Arc::new(
            list_body(&text, self.settings.team_key.as_ref())
                .map_err(|e| PublishError::Conflict(e.to_string()))?,
        );
        let entry = (subject, body, list_id);
        self.bodies
            .lock()
            .map_err(|_| PublishError::Conflict("poisoned".into()))?
            .insert((send, ja), entry.clone());
        Ok(entry)
    }

    async fn finish(&self, now: DateTime<Utc>) -> Result<()> {
        self.store.write(
sqlx::query(
            "UPDATE list_sends SET finished_at = $1 WHERE finished_at IS NULL AND NOT EXISTS (SELECT 1 FROM list_deliveries d WHERE d.send_id = list_sends.id AND d.status IN ('queued', 'sending'))",
        )
        .bind(time::format(now))
        )
        .await?;
        Ok(())
    }
}

/// Records what the relay said of one delivery, at once: the mark is what lets a
/// restarted sender skip it.
async fn mark(
    store: &Store,
    send: i64,
    subscriber: i64,
    result: std::result::Result<(), String>,
) -> Result<()> {
    match result {
        Ok(()) => {
            store.write(
sqlx::query("UPDATE list_deliveries SET status = 'sent', sent_at = $1, last_error = NULL WHERE send_id = $2 AND subscriber_id = $3")
                .bind(store.now_str())
                .bind(send)
                .bind(subscriber)
                )
                .await?;
        }
        Err(error) => {
            let permanent = error.trim_start().starts_with('5') || error.contains("permanent");
            let attempts: i64 = sqlx::query_scalar(
                "SELECT attempts FROM list_deliveries WHERE send_id = $1 AND subscriber_id = $2",
            )
            .bind(send)
            .bind(subscriber)
            .fetch_one(store.pool())
            .await?;
            let give_up = permanent || attempts >= 5;
            store.write(
sqlx::query("UPDATE list_deliveries SET status = $1, last_error = $2, lease_until = $3 WHERE send_id = $4 AND subscriber_id = $5")
                .bind(if give_up { "failed" } else { "queued" })
                .bind(&error)
                .bind(time::format(store.now() + Duration::seconds(30 << attempts.clamp(0, 6))))
                .bind(send)
                .bind(subscriber)
                )
                .await?;
            if permanent {
                let mut tx = store.begin().await?;
                count_bounce(&mut tx, subscriber).await?;
                tx.commit().await?;
            }
        }
    }
    Ok(())
}

/// A refused address counts as a bounce; repeated ones end the subscription.
/// Returns whether this bounce removed the subscriber.
async fn count_bounce(tx: &mut renkei_core::store::Tx, subscriber: i64) -> Result<bool> {
    sqlx::query(AssertSqlSafe(format!(
        "UPDATE subscribers SET bounces = bounces + 1, status = CASE WHEN bounces + 1 >= {BOUNCES_TO_REMOVE} THEN 'removed' ELSE status END WHERE id = $1"
    )))
    .bind(subscriber)
    .execute(tx.conn())
    .await?;
    let status: String = sqlx::query_scalar("SELECT status FROM subscribers WHERE id = $1")
        .bind(subscriber)
        .fetch_one(tx.conn())
        .await?;
    Ok(status == "removed")
}

/// The send and subscriber a list message's Message-ID names, if it is one of ours.
fn delivery_of(message_id: &str) -> Option<(i64, i64)> {
    let bare = message_id.trim().trim_matches(['<', '>']);
    let mut parts = bare.strip_prefix("list.")?.splitn(3, '.');
    let send = parts.next()?.parse().ok()?;
    let subscriber = parts.next()?.parse().ok()?;
    Some((send, subscriber))
}

/// A bounce that came back later as mail (RFC 3464) for a list message. The
/// delivery is marked failed, and the bounce counts against the subscriber like a
/// refusal at sending time. It counts once per delivery, and only when the DSN names
/// the subscriber's own address as failed, so that a forged or repeated bounce
/// cannot remove anyone. Returns whether the DSN was about a list message.
pub async fn bounced(store: &Store, dsn: &renkei_formats::dsn::Dsn) -> Result<bool> {
    let Some((send, subscriber)) = dsn.original_message_id.as_deref().and_then(delivery_of) else {
        return Ok(false);
    };
    let Some(email) = sqlx::query_scalar::<_, String>(
        "SELECT s.email FROM list_deliveries d JOIN subscribers s ON s.id = d.subscriber_id WHERE d.send_id = $1 AND d.subscriber_id = $2",
    )
    .bind(send)
    .bind(subscriber)
    .fetch_optional(store.pool())
    .await?
    else {
        return Ok(false);
    };
    let Some(failed) = dsn.failed().find(|r| {
        r.recipient
            .rsplit(';')
            .next()
            .unwrap_or("")
            .trim()
            .eq_ignore_ascii_case(&email)
    }) else {
        return Ok(true);
    };
    let error = format!(
        "bounced: {} {}",
        failed.status.as_deref().unwrap_or(""),
        failed.diagnostic.as_deref().unwrap_or("")
    );
    let mut tx = store.begin().await?;
    let marked = sqlx::query(
        "UPDATE list_deliveries SET status = 'failed', last_error = $1 WHERE send_id = $2 AND subscriber_id = $3 AND status <> 'failed'",
    )
    .bind(error.trim())
    .bind(send)
    .bind(subscriber)
    .execute(tx.conn())
    .await?
    .rows_affected();
    if marked > 0 {
        let removed = count_bounce(&mut tx, subscriber).await?;
        audit::record(
            &mut tx,
            &Actor::system("bounce"),
            Event {
                action: "list.bounce",
                object_type: "subscriber",
                object_id: subscriber.to_string(),
                changes: json!({"send": send, "status": failed.status, "diagnostic": failed.diagnostic, "removed": removed}),
            },
        )
        .await?;
    }
    tx.commit().await?;
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bounce_finds_its_delivery_by_the_message_id() {
        let id = message_id(12, 345, "CSIRT <csirt@example.org>");
        assert_eq!(delivery_of(&format!("<{id}>")), Some((12, 345)));
        for other in ["renkei.5.abc@example.org", "list.x.1.a@b", "list.1@b", ""] {
            assert_eq!(delivery_of(other), None, "{other}");
        }
    }

    #[test]
    fn addresses_are_checked_strictly() {
        for ok in [
            "a@example.org",
            "first.last+tag@sub.example.co.jp",
            "x@xn--r8jz45g.jp",
        ] {
            assert!(check_email(ok).is_ok(), "{ok}");
        }
        for bad in [
            "",
            "a",
            "a@",
            "@example.org",
            "a@example",
            "a b@example.org",
            "a@exa mple.org",
            "a..b@example.org",
            "a@-example.org",
            "<a@example.org>",
            "a@example.org\r\nBcc: x@y.z",
            "a@example.1",
        ] {
            assert!(check_email(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn a_delivery_keeps_its_message_id() {
        assert_eq!(
            message_id(3, 9, "CSIRT <csirt@example.org>"),
            message_id(3, 9, "CSIRT <csirt@example.org>")
        );
        assert_ne!(
            message_id(3, 9, "x@example.org"),
            message_id(3, 10, "x@example.org")
        );
        assert!(message_id(3, 9, "CSIRT <csirt@example.org>").ends_with("@example.org"));
    }
}
