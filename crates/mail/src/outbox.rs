//! The outbox: mail the platform sends, written in the same transaction as the change
//! that causes it and delivered by a worker through the configured relay. A relay that
//! is down only delays mail: each message is retried with growing pauses and is marked
//! failed only after a day of trying.

use std::future::Future;
use std::time::Duration;

use lettre::message::Mailbox;
use lettre::message::header::{ContentType, Header, HeaderName, HeaderValue};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use renkei_core::config::MailConfig;
use renkei_core::store::Tx;
use renkei_core::{CoreError, Store, time};
use serde::Serialize;
use sqlx::Row;

#[derive(Debug, thiserror::Error)]
pub enum MailError {
    #[error("{0}")]
    Address(String),
    #[error(transparent)]
    Core(#[from] CoreError),
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),
}

/// One message to queue.
pub struct NewMail<'a> {
    /// What the mail is, e.g. "report.confirmation".
    pub kind: &'a str,
    pub object_type: &'a str,
    pub object_id: String,
    pub from: &'a str,
    pub to: &'a str,
    pub subject: &'a str,
    pub body: &'a str,
    pub in_reply_to: Option<&'a str>,
    /// Marks the mail `Auto-Submitted: auto-replied` (RFC 3834), so that other
    /// systems do not answer it automatically.
    pub auto_reply: bool,
}

fn domain_of(address: &str) -> String {
    let bare = address
        .rsplit('<')
        .next()
        .unwrap_or(address)
        .trim_end_matches('>')
        .trim();
    bare.rsplit_once('@')
        .map(|(_, d)| d.to_string())
        .unwrap_or_else(|| "renkei.invalid".into())
}

/// Queues a message inside the caller's transaction; returns its outbox number.
pub async fn enqueue(tx: &mut Tx, mail: NewMail<'_>) -> Result<i64, MailError> {
    mail.from
        .parse::<Mailbox>()
        .map_err(|e| MailError::Address(format!("sender {:?}: {e}", mail.from)))?;
    mail.to
        .parse::<Mailbox>()
        .map_err(|e| MailError::Address(format!("recipient {:?}: {e}", mail.to)))?;
    let now = time::now_str();
    let nonce = renkei_core::secrets::random_token("");
    let message_id = format!(
        "renkei.{}.{}@{}",
        mail.kind,
        &nonce[..16],
        domain_of(mail.from)
    );
    let id: i64 = sqlx::query_scalar(
        "INSERT INTO outbox (created_at, kind, object_type, object_id, message_id, mail_from, rcpt_to, subject, body, in_reply_to, auto_reply, status, attempts, next_attempt_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, 'queued', 0, $1) RETURNING id",
    )
    .bind(&now)
    .bind(mail.kind)
    .bind(mail.object_type)
    .bind(&mail.object_id)
    .bind(&message_id)
    .bind(mail.from)
    .bind(mail.to)
    .bind(mail.subject)
    .bind(mail.body)
    .bind(mail.in_reply_to)
    .bind(mail.auto_reply as i64)
    .fetch_one(tx.conn())
    .await?;
    Ok(id)
}

#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Queued {
    pub id: i64,
    pub kind: String,
    pub rcpt_to: String,
    pub subject: String,
    pub status: String,
    pub attempts: i64,
    pub last_error: Option<String>,
    pub message_id: String,
}

/// The mail queued about one object, oldest first.
pub async fn for_object(
    store: &Store,
    object_type: &str,
    object_id: &str,
) -> Result<Vec<Queued>, MailError> {
    let rows = sqlx::query(
        "SELECT id, kind, rcpt_to, subject, status, attempts, last_error, message_id FROM outbox WHERE object_type = $1 AND object_id = $2 ORDER BY id",
    )
    .bind(object_type)
    .bind(object_id)
    .fetch_all(store.pool())
    .await?;
    rows.iter()
        .map(|r| {
            Ok(Queued {
                id: r.try_get("id")?,
                kind: r.try_get("kind")?,
                rcpt_to: r.try_get("rcpt_to")?,
                subject: r.try_get("subject")?,
                status: r.try_get("status")?,
                attempts: r.try_get("attempts")?,
                last_error: r.try_get("last_error")?,
                message_id: r.try_get("message_id")?,
            })
        })
        .collect()
}

#[derive(Clone)]
struct AutoSubmitted(String);

impl Header for AutoSubmitted {
    fn name() -> HeaderName {
        HeaderName::new_from_ascii_str("Auto-Submitted")
    }

    fn parse(s: &str) -> Result<Self, Box<dyn std::error::Error + Send + Sync>> {
        Ok(AutoSubmitted(s.to_string()))
    }

    fn display(&self) -> HeaderValue {
        HeaderValue::new(Self::name(), self.0.clone())
    }
}

/// Gives up after this many attempts (about a day with the backoff below).
const MAX_ATTEMPTS: i64 = 12;

fn backoff(attempts: i64) -> chrono::Duration {
    chrono::Duration::minutes((1i64 << attempts.clamp(0, 9)).min(360))
}

pub struct OutboxWorker {
    store: Store,
    relay: String,
    poll: Duration,
}

impl OutboxWorker {
    pub fn build(store: Store, config: &MailConfig) -> OutboxWorker {
        OutboxWorker {
            store,
            relay: config.relay.clone(),
            poll: Duration::from_secs(config.poll_secs.max(1)),
        }
    }

    /// Sends what is due until `shutdown` resolves.
    pub async fn run(self, shutdown: impl Future<Output = ()> + Send) {
        if self.relay.is_empty() {
            tracing::warn!("mail.relay is not set: outgoing mail stays queued in the outbox");
        }
        tokio::pin!(shutdown);
        loop {
            if !self.relay.is_empty()
                && let Err(e) = self.send_due().await
            {
                tracing::warn!(error = %e, "outbox pass failed");
            }
            tokio::select! {
                _ = &mut shutdown => return,
                _ = tokio::time::sleep(self.poll) => {}
            }
        }
    }

    /// One pass: sends every message that is due; returns how many went out.
    pub async fn send_due(&self) -> Result<usize, MailError> {
        let now = time::now();
        // Messages claimed by a worker that died mid-send go back to the queue.
        let stale = time::format(now - chrono::Duration::minutes(10));
        let mut tx = self.store.begin().await?;
        sqlx::query(
            "UPDATE outbox SET status = 'queued' WHERE status = 'sending' AND next_attempt_at < $1",
        )
        .bind(&stale)
        .execute(tx.conn())
        .await?;
        tx.commit().await?;
        let due: Vec<i64> = sqlx::query_scalar("SELECT id FROM outbox WHERE status = 'queued' AND next_attempt_at <= $1 ORDER BY id LIMIT 100")
            .bind(time::format(now))
            .fetch_all(self.store.pool())
            .await?;
        let transport = match AsyncSmtpTransport::<Tokio1Executor>::from_url(&self.relay) {
            Ok(t) => t.timeout(Some(Duration::from_secs(30))).build(),
            Err(e) => {
                return Err(MailError::Address(format!(
                    "mail.relay {:?}: {e}",
                    self.relay
                )));
            }
        };
        let mut sent = 0;
        for id in due {
            // Claim it, so that two nodes never send the same message.
            let mut tx = self.store.begin().await?;
            let claimed = sqlx::query("UPDATE outbox SET status = 'sending', attempts = attempts + 1, next_attempt_at = $1 WHERE id = $2 AND status = 'queued'")
                .bind(time::now_str())
                .bind(id)
                .execute(tx.conn())
                .await?
                .rows_affected();
            tx.commit().await?;
            if claimed == 0 {
                continue;
            }
            let row = sqlx::query("SELECT message_id, mail_from, rcpt_to, subject, body, in_reply_to, auto_reply, attempts FROM outbox WHERE id = $1")
                .bind(id)
                .fetch_one(self.store.pool())
                .await?;
            let attempts: i64 = row.try_get("attempts")?;
            let result = match build_message(&row) {
                Ok(message) => transport
                    .send(message)
                    .await
                    .map(|_| ())
                    .map_err(|e| e.to_string()),
                Err(e) => Err(e),
            };
            let mut tx = self.store.begin().await?;
            match result {
                Ok(()) => {
                    sqlx::query("UPDATE outbox SET status = 'sent', sent_at = $1, last_error = NULL WHERE id = $2")
                        .bind(time::now_str())
                        .bind(id)
                        .execute(tx.conn())
                        .await?;
                    sent += 1;
                }
                Err(error) => {
                    let give_up = attempts >= MAX_ATTEMPTS;
                    tracing::warn!(outbox = id, attempts, %error, give_up, "sending failed");
                    sqlx::query("UPDATE outbox SET status = $1, last_error = $2, next_attempt_at = $3 WHERE id = $4")
                        .bind(if give_up { "failed" } else { "queued" })
                        .bind(&error)
                        .bind(time::format(time::now() + backoff(attempts)))
                        .bind(id)
                        .execute(tx.conn())
                        .await?;
                }
            }
            tx.commit().await?;
        }
        Ok(sent)
    }
}

fn build_message(row: &sqlx::any::AnyRow) -> Result<Message, String> {
    let get = |name: &str| row.try_get::<String, _>(name).map_err(|e| e.to_string());
    let from: Mailbox = get("mail_from")?
        .parse()
        .map_err(|e| format!("sender: {e}"))?;
    let to: Mailbox = get("rcpt_to")?
        .parse()
        .map_err(|e| format!("recipient: {e}"))?;
    let mut builder = Message::builder()
        .from(from)
        .to(to)
        .subject(get("subject")?)
        .message_id(Some(format!("<{}>", get("message_id")?)))
        .header(ContentType::TEXT_PLAIN);
    if let Some(parent) = row
        .try_get::<Option<String>, _>("in_reply_to")
        .map_err(|e| e.to_string())?
    {
        let parent = if parent.starts_with('<') {
            parent
        } else {
            format!("<{parent}>")
        };
        builder = builder.in_reply_to(parent.clone()).references(parent);
    }
    if row
        .try_get::<i64, _>("auto_reply")
        .map_err(|e| e.to_string())?
        != 0
    {
        builder = builder.header(AutoSubmitted("auto-replied".into()));
    }
    builder.body(get("body")?).map_err(|e| e.to_string())
}
