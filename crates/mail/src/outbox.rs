//! The outbox: mail the platform sends, written in the same transaction as the change
//! that causes it and delivered by a worker through the configured relay. A relay that
//! is down only delays mail: each message is retried with growing pauses and is marked
//! failed only after a day of trying.

use std::future::Future;
use std::time::Duration;

use lettre::address::{Address, Envelope};
use lettre::message::{Mailbox, Mailboxes};
use lettre::{AsyncSmtpTransport, AsyncTransport, Tokio1Executor};
use renkei_core::config::MailConfig;
use renkei_core::jobs::Queue;
use renkei_core::row::Bit;
use renkei_core::store::Tx;
use renkei_core::{CoreError, Store, time};
use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::compose::{Attachment, Draft, compose};
use crate::pgp::TeamKey;

#[derive(Debug, thiserror::Error)]
pub enum MailError {
    #[error("{0}")]
    Address(String),
    /// Something the user gave that cannot be sent as it is.
    #[error("{field}: {message}")]
    Invalid {
        field: &'static str,
        message: String,
    },
    /// A template that does not render: which one, and where.
    #[error("template {name}, line {line}: {message}")]
    Template {
        name: String,
        line: usize,
        message: String,
    },
    #[error(transparent)]
    Core(#[from] CoreError),
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),
    #[error("OpenPGP: {0}")]
    Pgp(String),
    #[error("audit checkpoint: {0}")]
    Checkpoint(String),
}

impl MailError {
    pub fn invalid(field: &'static str, message: impl Into<String>) -> MailError {
        MailError::Invalid {
            field,
            message: message.into(),
        }
    }
}

/// One message to queue.
pub struct NewMail<'a> {
    /// What the mail is, e.g. "report.confirmation".
    pub kind: &'a str,
    pub object_type: &'a str,
    pub object_id: String,
    pub from: &'a str,
    /// One address, or several separated by commas.
    pub to: &'a str,
    /// Copies, separated by commas; empty for none.
    pub cc: &'a str,
    pub subject: &'a str,
    pub body: &'a str,
    pub in_reply_to: Option<&'a str>,
    /// Marks the mail `Auto-Submitted: auto-replied` (RFC 3834), so that other
    /// systems do not answer it automatically.
    pub auto_reply: bool,
    pub attachments: &'a [Attachment],
    /// Signs the message (PGP/MIME) with the team's key.
    pub sign: Option<&'a TeamKey>,
    /// Encrypts the message to these armored public keys (every recipient's);
    /// empty, it goes unencrypted.
    pub encrypt_to: &'a [&'a str],
    /// Mail of a drill: its subject says so, and the sender delivers it to the
    /// exercise sink (`mail.exercise_sink`), never to its recipients.
    pub exercise: bool,
}

/// What an exercise's mail says first in its subject, in both languages.
pub const EXERCISE_TAG: &str = "[訓練 EXERCISE]";

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

/// The Message-ID of an outbox row: derived from the row alone (its number and when it
/// was queued), so that every attempt to send it, on any node, carries the same one.
pub fn message_id_for(id: i64, created_at: &str, from: &str) -> String {
    let digest = Sha256::digest(format!("{id}\n{created_at}").as_bytes());
    format!(
        "renkei.{id}.{}@{}",
        &hex::encode(digest)[..12],
        domain_of(from)
    )
}

/// The sender, recipients and copies must read as addresses before a mail is queued.
fn check_addresses(mail: &NewMail<'_>) -> Result<(), MailError> {
    mail.from
        .parse::<Mailbox>()
        .map_err(|e| MailError::Address(format!("sender {:?}: {e}", mail.from)))?;
    mail.to
        .parse::<Mailboxes>()
        .map_err(|e| MailError::Address(format!("recipient {:?}: {e}", mail.to)))?;
    if !mail.cc.trim().is_empty() {
        mail.cc
            .parse::<Mailboxes>()
            .map_err(|e| MailError::Address(format!("copy {:?}: {e}", mail.cc)))?;
    }
    Ok(())
}

/// Queues a message inside the caller's transaction; returns its outbox number. The
/// message is built whole now (attachments, signature, encryption), so what is sent
/// is exactly what was queued.
pub async fn enqueue(tx: &mut Tx, mail: NewMail<'_>) -> Result<i64, MailError> {
    check_addresses(&mail)?;
    let now = tx.now_str();
    let tagged;
    let subject = if mail.exercise && !mail.subject.starts_with(EXERCISE_TAG) {
        tagged = format!("{EXERCISE_TAG} {}", mail.subject);
        tagged.as_str()
    } else {
        mail.subject
    };
    let id: i64 = sqlx::query_scalar(
        "INSERT INTO outbox (created_at, kind, object_type, object_id, message_id, mail_from, rcpt_to, mail_cc, subject, body, in_reply_to, auto_reply, status, attempts, next_attempt_at, exercise)
         VALUES ($1, $2, $3, $4, '', $5, $6, $7, $8, $9, $10, $11, 'queued', 0, $1, $12) RETURNING id",
    )
    .bind(&now)
    .bind(mail.kind)
    .bind(mail.object_type)
    .bind(&mail.object_id)
    .bind(mail.from)
    .bind(mail.to)
    .bind(mail.cc)
    .bind(subject)
    .bind(mail.body)
    .bind(mail.in_reply_to)
    .bind(mail.auto_reply as i64)
    .bind(mail.exercise as i64)
    .fetch_one(tx.conn())
    .await?;
    let (message_id, raw) = build(&mail, subject, id, &now)?;
    sqlx::query("UPDATE outbox SET message_id = $1, raw = $2 WHERE id = $3")
        .bind(&message_id)
        .bind(raw)
        .bind(id)
        .execute(tx.conn())
        .await?;
    Ok(id)
}

/// The Message-ID and the whole message of outbox row `id`, queued at `now`.
fn build(
    mail: &NewMail<'_>,
    subject: &str,
    id: i64,
    now: &str,
) -> Result<(String, Vec<u8>), MailError> {
    let message_id = message_id_for(id, now, mail.from);
    let raw = compose(&Draft {
        from: mail.from,
        to: mail.to,
        cc: mail.cc,
        subject,
        text: mail.body,
        attachments: mail.attachments,
        message_id: &message_id,
        in_reply_to: mail.in_reply_to,
        auto_reply: mail.auto_reply,
        sign: mail.sign,
        encrypt_to: mail.encrypt_to,
    })?;
    Ok((message_id, raw))
}

/// A message queued by [`enqueue_many`]: its outbox number and Message-ID.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Enqueued {
    pub id: i64,
    pub message_id: String,
}

/// Mails built at once for a bulk sender (a feed's thousands of notifications): on
/// two threads when there are many, each mail with its number.
fn compose_all(
    mails: &[NewMail<'_>],
    ids: &[i64],
    now: &str,
) -> Result<Vec<(String, Vec<u8>)>, MailError> {
    let one = |(mail, id): (&NewMail<'_>, &i64)| build(mail, mail.subject, *id, now);
    if mails.len() < 64 {
        return mails.iter().zip(ids).map(one).collect();
    }
    let half = mails.len() / 2;
    std::thread::scope(|s| {
        let later = s.spawn(|| {
            mails[half..]
                .iter()
                .zip(&ids[half..])
                .map(one)
                .collect::<Result<Vec<_>, _>>()
        });
        let mut out = mails[..half]
            .iter()
            .zip(&ids[..half])
            .map(one)
            .collect::<Result<Vec<_>, _>>()?;
        out.extend(
            later
                .join()
                .map_err(|_| MailError::invalid("mail", "composing a mail failed"))??,
        );
        Ok(out)
    })
}

/// Queues many messages inside the caller's transaction, as [`enqueue`] does one:
/// numbers taken at once, mails built on two threads, rows written many to a
/// statement. An exercise's subject tag is the caller's to add.
pub async fn enqueue_many(tx: &mut Tx, mails: &[NewMail<'_>]) -> Result<Vec<Enqueued>, MailError> {
    for mail in mails {
        check_addresses(mail)?;
    }
    let now = tx.now_str();
    let ids = tx.reserve_ids("outbox", mails.len()).await?;
    let built = compose_all(mails, &ids, &now)?;
    // 15 values a row and 16 rows a statement: SQLite looks `$N` up linearly.
    const ROWS: usize = 16;
    for (at, part) in mails.chunks(ROWS).enumerate() {
        let sql = format!(
            "INSERT INTO outbox (id, created_at, kind, object_type, object_id, message_id, mail_from, rcpt_to, mail_cc, subject, body, in_reply_to, auto_reply, status, attempts, next_attempt_at, exercise, raw) VALUES {}",
            (0..part.len())
                .map(|r| {
                    let p = |k: usize| format!("${}", r * 15 + k);
                    format!(
                        "({}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, 'queued', 0, {}, {}, {})",
                        p(1), p(2), p(3), p(4), p(5), p(6), p(7), p(8), p(9), p(10), p(11), p(12), p(13), p(2), p(14), p(15)
                    )
                })
                .collect::<Vec<_>>()
                .join(", ")
        );
        let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
        for (i, mail) in part.iter().enumerate() {
            let n = at * ROWS + i;
            q = q
                .bind(ids[n])
                .bind(&now)
                .bind(mail.kind)
                .bind(mail.object_type)
                .bind(&mail.object_id)
                .bind(&built[n].0)
                .bind(mail.from)
                .bind(mail.to)
                .bind(mail.cc)
                .bind(mail.subject)
                .bind(mail.body)
                .bind(mail.in_reply_to)
                .bind(mail.auto_reply as i64)
                .bind(mail.exercise as i64)
                .bind(&built[n].1);
        }
        q.execute(tx.conn()).await?;
    }
    Ok(ids
        .into_iter()
        .zip(built)
        .map(|(id, (message_id, _))| Enqueued { id, message_id })
        .collect())
}

/// Notes that a message of ours arrived at the team's archive (its blind copy): the
/// relay took it. Returns whether the Message-ID was one of ours.
pub async fn archive_copy_seen(tx: &mut Tx, message_id: &str) -> Result<bool, MailError> {
    let bare = message_id
        .trim()
        .trim_start_matches('<')
        .trim_end_matches('>');
    let seen = sqlx::query(
        "UPDATE outbox SET archive_seen_at = $1, status = CASE WHEN status IN ('sending', 'queued') THEN 'sent' ELSE status END,
                sent_at = COALESCE(sent_at, $1)
         WHERE message_id = $2",
    )
    .bind(tx.now_str())
    .bind(bare)
    .execute(tx.conn())
    .await?
    .rows_affected();
    Ok(seen > 0)
}

/// Which of these Message-IDs (bare) name mail in the outbox, with the object each
/// was about (`notification`, `12`): a batch of incoming mail checked at once for
/// our own archive copies and for replies to notifications sent before
/// conversations were kept.
pub async fn mails_among(
    tx: &mut Tx,
    message_ids: &[String],
) -> Result<std::collections::HashMap<String, (String, String)>, MailError> {
    let mut found = std::collections::HashMap::new();
    for chunk in message_ids.chunks(100) {
        let sql = format!(
            "SELECT message_id, object_type, object_id FROM outbox WHERE message_id IN ({})",
            renkei_core::store::placeholders(1, chunk.len())
        );
        let mut q = sqlx::query_as::<_, (String, String, String)>(sqlx::AssertSqlSafe(sql));
        for id in chunk {
            q = q.bind(id);
        }
        for (mid, kind, object) in q.fetch_all(tx.conn()).await? {
            found.entry(mid).or_insert((kind, object));
        }
    }
    Ok(found)
}

#[derive(Debug, Clone, Serialize, PartialEq, Eq, sqlx::FromRow)]
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
    Ok(sqlx::query_as(
        "SELECT id, kind, rcpt_to, subject, status, attempts, last_error, message_id FROM outbox WHERE object_type = $1 AND object_id = $2 ORDER BY id",
    )
    .bind(object_type)
    .bind(object_id)
    .fetch_all(store.pool())
    .await?)
}

/// Messages by state: queued, being sent, given up on.
/// Records every queued message as delivered now, without sending it: for a
/// demonstration database whose recipients are at example domains and which has
/// no relay. Returns how many.
pub async fn record_queued_as_delivered(store: &Store) -> Result<u64, MailError> {
    Ok(store
        .write(
            sqlx::query("UPDATE outbox SET status = 'sent', sent_at = $1 WHERE status = 'queued'")
                .bind(store.now_str()),
        )
        .await?
        .rows_affected())
}

pub async fn depth(store: &Store) -> Result<(i64, i64, i64), MailError> {
    Ok(sqlx::query_as(
        "SELECT CAST(COALESCE(SUM(CASE WHEN status = 'queued' THEN 1 ELSE 0 END), 0) AS BIGINT) AS q,
                CAST(COALESCE(SUM(CASE WHEN status = 'sending' THEN 1 ELSE 0 END), 0) AS BIGINT) AS s,
                CAST(COALESCE(SUM(CASE WHEN status = 'failed' THEN 1 ELSE 0 END), 0) AS BIGINT) AS f
         FROM outbox WHERE status IN ('queued', 'sending', 'failed')",
    )
    .fetch_one(store.pool())
    .await?)
}

/// Mail that is not getting out: still queued after `before` (an hour, say: the
/// relay is away or refuses), or given up on since `failed_since` (a week: older
/// failures have been seen to). Each part reads the outbox's status index, so the
/// count stays quick however much mail went out over the years.
pub async fn stuck(store: &Store, before: &str, failed_since: &str) -> Result<i64, MailError> {
    Ok(sqlx::query_scalar(
        "SELECT (SELECT COUNT(*) FROM outbox WHERE status IN ('queued', 'sending') AND created_at < $1)
              + (SELECT COUNT(*) FROM outbox WHERE status = 'failed' AND created_at >= $2)",
    )
    .bind(before)
    .bind(failed_since)
    .fetch_one(store.pool())
    .await?)
}

/// Gives up after this many attempts (about a day with the backoff below).
const MAX_ATTEMPTS: i64 = 12;

fn backoff(attempts: i64) -> chrono::Duration {
    chrono::Duration::minutes((1i64 << attempts.clamp(0, 9)).min(360))
}

pub struct OutboxWorker {
    store: Store,
    relay: String,
    archive: Option<String>,
    /// Where a drill's mail goes instead of its recipients; none: it is held.
    exercise_sink: Option<String>,
    poll: Duration,
    lease: chrono::Duration,
}

impl OutboxWorker {
    pub fn build(store: Store, config: &MailConfig) -> OutboxWorker {
        OutboxWorker {
            store,
            relay: config.relay.clone(),
            archive: bare_address(&config.archive),
            exercise_sink: bare_address(&config.exercise_sink),
            poll: Duration::from_secs(config.poll_secs.max(1)),
            lease: chrono::Duration::seconds(config.send_lease_secs.max(1) as i64),
        }
    }

    /// Sends what is due until `shutdown` resolves.
    pub async fn run(self, shutdown: impl Future<Output = ()> + Send) {
        if self.relay.is_empty() {
            tracing::warn!("mail.relay is not set: outgoing mail stays queued in the outbox");
        }
        tokio::pin!(shutdown);
        // Each pass after a poll interval, the first too: a pass that raced the
        // node's first requests would take mail the caller means to send itself
        // (tests drive passes with `send_due`); what waited through a restart
        // waits one interval more.
        loop {
            tokio::select! {
                _ = &mut shutdown => return,
                _ = tokio::time::sleep(self.poll) => {}
            }
            if !self.relay.is_empty()
                && let Err(e) = self.send_due().await
            {
                tracing::warn!(error = %e, "outbox pass failed");
            }
        }
    }

    /// One pass: sends every message that is due (at most a hundred); returns how
    /// many went out.
    pub async fn send_due(&self) -> Result<usize, MailError> {
        // A message taken by a worker that died mid-send may or may not have reached
        // the relay. With an archive, its blind copy arriving says it did (and
        // `archive_copy_seen` marks it sent); only a message whose copy has not come
        // within the lease goes back to the queue. Without an archive it is sent
        // again under the same Message-ID, which receivers use to drop duplicates.
        let lease = if self.archive.is_some() {
            self.lease * 3
        } else {
            self.lease
        };
        self.store
            .write(sqlx::query(
                "UPDATE outbox SET status = 'sent', sent_at = archive_seen_at WHERE status = 'sending' AND archive_seen_at IS NOT NULL",
            ))
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
        let requeued = OUTBOX.give_back(&self.store).await?;
        if requeued > 0 {
            tracing::warn!(requeued, "messages interrupted mid-send go out again");
        }
        let mut sent = 0;
        for _ in 0..100 {
            // One message at a time, so that a lease covers one send, not a batch.
            let taken = OUTBOX.take::<(i64,)>(&self.store, 1, lease).await?;
            let Some(&(id,)) = taken.first() else {
                break;
            };
            let row: Sending = sqlx::query_as("SELECT message_id, mail_from, rcpt_to, mail_cc, subject, body, in_reply_to, auto_reply, attempts, raw, archive_seen_at, exercise FROM outbox WHERE id = $1")
                .bind(id)
                .fetch_one(self.store.pool())
                .await?;
            // A drill's mail with nowhere to go is held, never sent to its recipients.
            if row.exercise && self.exercise_sink.is_none() {
                self.store
                    .write(
                        sqlx::query("UPDATE outbox SET status = 'held', last_error = $1, lease_until = NULL WHERE id = $2")
                            .bind("exercise mail: mail.exercise_sink is not set")
                            .bind(id),
                    )
                    .await?;
                continue;
            }
            let attempts = row.attempts;
            let result = if row.archive_seen_at.is_some() {
                // Checked before any resend: the archive already has it.
                Ok(())
            } else {
                let raw = match &row.raw {
                    Some(raw) => Ok(raw.clone()),
                    None => build_message(&row),
                };
                match raw.and_then(|raw| Ok((self.envelope(&row)?, raw))) {
                    Ok((envelope, raw)) => transport
                        .send_raw(&envelope, &raw)
                        .await
                        .map(|_| ())
                        .map_err(|e| e.to_string()),
                    Err(e) => Err(e),
                }
            };
            let mut tx = self.store.begin().await?;
            match result {
                Ok(()) => {
                    sqlx::query("UPDATE outbox SET status = 'sent', sent_at = $1, last_error = NULL, lease_until = NULL WHERE id = $2")
                        .bind(self.store.now_str())
                        .bind(id)
                        .execute(tx.conn())
                        .await?;
                    sent += 1;
                }
                Err(error) => {
                    let give_up = attempts >= MAX_ATTEMPTS;
                    tracing::warn!(outbox = id, attempts, %error, give_up, "sending failed");
                    sqlx::query("UPDATE outbox SET status = $1, last_error = $2, next_attempt_at = $3, lease_until = NULL WHERE id = $4")
                        .bind(if give_up { "failed" } else { "queued" })
                        .bind(&error)
                        .bind(time::format(self.store.now() + backoff(attempts)))
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

/// The outbox as shared work: a queued message is taken once its retry is due, and
/// goes back if its sender stops before saying how it went (unless the archive's
/// copy says it went).
const OUTBOX: Queue = Queue {
    table: "outbox",
    key: "id",
    waiting: "status = 'queued'",
    due: Some("next_attempt_at"),
    take: "status = 'sending', attempts = attempts + 1",
    taken: "status = 'sending' AND archive_seen_at IS NULL",
    give_back: "status = 'queued'",
};

/// A message as the sender reads it from the outbox.
#[derive(sqlx::FromRow)]
struct Sending {
    message_id: String,
    mail_from: String,
    rcpt_to: String,
    mail_cc: String,
    subject: String,
    body: String,
    in_reply_to: Option<String>,
    #[sqlx(try_from = "Bit")]
    auto_reply: bool,
    attempts: i64,
    raw: Option<Vec<u8>>,
    archive_seen_at: Option<String>,
    #[sqlx(try_from = "Bit")]
    exercise: bool,
}

impl OutboxWorker {
    /// The envelope: the recipients and copies, and the archive as a blind copy.
    fn envelope(&self, row: &Sending) -> Result<Envelope, String> {
        let from = bare_address(&row.mail_from).ok_or("no sender")?;
        let mut rcpt = Vec::new();
        if row.exercise {
            // A drill: the sink alone, whoever the message names.
            let sink = self.exercise_sink.as_deref().ok_or("no exercise sink")?;
            rcpt.push(
                sink.parse::<Address>()
                    .map_err(|e| format!("exercise sink: {e}"))?,
            );
        }
        for list in [&row.rcpt_to, &row.mail_cc] {
            if row.exercise {
                break;
            }
            if list.trim().is_empty() {
                continue;
            }
            let boxes = list
                .parse::<Mailboxes>()
                .map_err(|e| format!("recipient: {e}"))?;
            rcpt.extend(boxes.into_iter().map(|m| m.email));
        }
        if rcpt.is_empty() {
            return Err("no recipient".into());
        }
        if let Some(archive) = &self.archive
            && let Ok(a) = archive.parse::<Address>()
        {
            rcpt.push(a);
        }
        Envelope::new(
            Some(
                from.parse::<Address>()
                    .map_err(|e| format!("sender: {e}"))?,
            ),
            rcpt,
        )
        .map_err(|e| e.to_string())
    }
}

/// `user@host` out of `Name <user@host>`.
fn bare_address(s: &str) -> Option<String> {
    let s = s.trim();
    if s.is_empty() {
        return None;
    }
    Some(
        s.rsplit('<')
            .next()
            .unwrap_or(s)
            .trim_end_matches('>')
            .trim()
            .to_string(),
    )
}

/// A message queued before messages were built at queue time: built now.
fn build_message(row: &Sending) -> Result<Vec<u8>, String> {
    compose(&Draft {
        from: &row.mail_from,
        to: &row.rcpt_to,
        cc: &row.mail_cc,
        subject: &row.subject,
        text: &row.body,
        attachments: &[],
        message_id: &row.message_id,
        in_reply_to: row.in_reply_to.as_deref(),
        auto_reply: row.auto_reply,
        sign: None,
        encrypt_to: &[],
    })
    .map_err(|e| e.to_string())
}

/// Connections to the relay for senders that deliver many messages at once
/// (mailing lists): each message goes over a connection already open.
///
/// A plain `smtp://host:port` relay (the local MTA, the usual case) gets
/// connections of our own with Nagle's algorithm off: lettre writes the message
/// and its final dot separately, and on a pooled connection that small last write
/// waits for the delayed ACK of the one before, 40 ms a message. Relays with TLS or
/// credentials go through lettre's pooled transport.
#[derive(Clone)]
pub struct RelayClient(std::sync::Arc<Relay>);

enum Relay {
    Pool(AsyncSmtpTransport<Tokio1Executor>),
    Direct {
        addr: String,
        idle: tokio::sync::Mutex<Vec<lettre::transport::smtp::client::AsyncSmtpConnection>>,
    },
}

impl RelayClient {
    pub fn new(url: &str, connections: u32) -> Result<RelayClient, MailError> {
        if let Some(rest) = url.strip_prefix("smtp://")
            && !rest.contains(['@', '?', '/'])
            && !rest.is_empty()
        {
            let addr = if rest.contains(':') {
                rest.to_string()
            } else {
                format!("{rest}:25")
            };
            return Ok(RelayClient(std::sync::Arc::new(Relay::Direct {
                addr,
                idle: tokio::sync::Mutex::new(Vec::new()),
            })));
        }
        let pool = lettre::transport::smtp::PoolConfig::new().max_size(connections.max(1));
        AsyncSmtpTransport::<Tokio1Executor>::from_url(url)
            .map(|b| {
                RelayClient(std::sync::Arc::new(Relay::Pool(
                    b.timeout(Some(Duration::from_secs(30)))
                        .pool_config(pool)
                        .build(),
                )))
            })
            .map_err(|e| MailError::Address(format!("mail.relay {url:?}: {e}")))
    }

    /// Hands one message to the relay; the error says what the relay answered.
    pub async fn send(&self, from: &str, to: &str, raw: &[u8]) -> Result<(), String> {
        let from = bare_address(from).ok_or("no sender")?;
        let envelope = Envelope::new(
            Some(
                from.parse::<Address>()
                    .map_err(|e| format!("sender: {e}"))?,
            ),
            vec![
                to.parse::<Address>()
                    .map_err(|e| format!("recipient: {e}"))?,
            ],
        )
        .map_err(|e| e.to_string())?;
        match &*self.0 {
            Relay::Pool(t) => t
                .send_raw(&envelope, raw)
                .await
                .map(|_| ())
                .map_err(|e| e.to_string()),
            Relay::Direct { addr, idle } => {
                let open = idle.lock().await.pop();
                let mut conn = match open {
                    Some(c) => c,
                    None => {
                        let stream = tokio::time::timeout(
                            Duration::from_secs(30),
                            tokio::net::TcpStream::connect(addr.as_str()),
                        )
                        .await
                        .map_err(|_| format!("{addr}: connection timed out"))?
                        .map_err(|e| format!("{addr}: {e}"))?;
                        stream.set_nodelay(true).map_err(|e| e.to_string())?;
                        lettre::transport::smtp::client::AsyncSmtpConnection::connect_with_transport(
                            Box::new(stream),
                            &lettre::transport::smtp::extension::ClientId::default(),
                        )
                        .await
                        .map_err(|e| e.to_string())?
                    }
                };
                let sent = tokio::time::timeout(Duration::from_secs(60), conn.send(&envelope, raw))
                    .await
                    .map_err(|_| format!("{addr}: no answer in 60 s"))?;
                match sent {
                    Ok(_) => {
                        idle.lock().await.push(conn);
                        Ok(())
                    }
                    // lettre closes a connection whose transaction failed.
                    Err(e) => Err(e.to_string()),
                }
            }
        }
    }
}
