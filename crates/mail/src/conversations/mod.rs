//! Conversations: the one engine every pillar talks through. A message (a mail in,
//! a mail out, a coordinator's note) belongs to one or more threads, each named by
//! its owner — a report, an incident, a notification, a case — as a kind and an id,
//! so that no pillar reads another's tables. The engine keeps who takes part in a
//! thread, routes a mail that comes in to the threads it answers, and sends through
//! the outbox, whose row then says how delivery went. The pillars decide who may read
//! a thread and what a message does to their own states.
//!
//! # Layout
//! - here: owners, messages, sending, reading a thread, and routing by Message-ID and
//!   by party.
//! - `templates`: the starting texts coordinators write from (ja/en), edited at run
//!   time, rendered by minijinja.
//! - `opened`: a PGP/MIME mail that came in, decrypted and its signature checked.
//! - `links`: secret links that let someone outside follow one thread.

pub mod links;
pub mod opened;
pub mod templates;

use renkei_core::audit::Actor;
use renkei_core::row::Bit;
use renkei_core::store::{Tx, placeholders};
use renkei_core::{Store, time};
use serde::Serialize;
use sqlx::AssertSqlSafe;

use crate::outbox::{NewMail, enqueue};
use crate::{Attachment, MailError, TeamKey};

/// What a thread belongs to: `report` 12, `incident` 7, `notification` 3.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, sqlx::FromRow)]
pub struct Owner {
    #[sqlx(rename = "owner_kind")]
    pub kind: String,
    #[sqlx(rename = "owner_id")]
    pub id: i64,
}

impl Owner {
    pub fn new(kind: &str, id: i64) -> Owner {
        Owner {
            kind: kind.to_string(),
            id,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    In,
    Out,
    Note,
}

impl Direction {
    pub fn as_str(self) -> &'static str {
        match self {
            Direction::In => "in",
            Direction::Out => "out",
            Direction::Note => "note",
        }
    }
}

impl TryFrom<String> for Direction {
    type Error = MailError;
    fn try_from(s: String) -> Result<Direction, MailError> {
        match s.as_str() {
            "in" => Ok(Direction::In),
            "out" => Ok(Direction::Out),
            "note" => Ok(Direction::Note),
            other => Err(MailError::invalid(
                "direction",
                format!("unknown direction {other:?}"),
            )),
        }
    }
}

renkei_core::text_column!(Direction);

/// One message of a thread, as the coordinator reads it.
#[derive(Debug, Clone, PartialEq, Serialize, sqlx::FromRow)]
pub struct Message {
    pub id: i64,
    pub direction: Direction,
    pub author: String,
    pub author_user_id: Option<i64>,
    pub mail_from: Option<String>,
    pub mail_to: String,
    pub mail_cc: String,
    pub subject: Option<String>,
    pub body: String,
    pub template: Option<String>,
    pub message_id: Option<String>,
    pub in_reply_to: Option<String>,
    #[sqlx(try_from = "Bit")]
    pub signed: bool,
    #[sqlx(try_from = "Bit")]
    pub encrypted: bool,
    /// A signed mail that came in: `valid`, `invalid` or `no_key`.
    pub signature: Option<String>,
    /// Why a mail that came in needs a look (`unknown_sender`).
    pub flag: Option<String>,
    #[sqlx(try_from = "Bit")]
    pub shared: bool,
    #[sqlx(try_from = "Bit")]
    pub expects_reply: bool,
    #[sqlx(try_from = "Bit")]
    pub automatic: bool,
    pub created_at: String,
    /// A mail that went out: `queued`, `sending`, `sent` or `failed`.
    pub delivery: Option<String>,
    /// What the relay said when it refused or could not be reached.
    pub delivery_error: Option<String>,
    pub delivered_at: Option<String>,
}

const COLUMNS: &str = "m.id, m.direction, m.author, m.author_user_id, m.mail_from, m.mail_to, m.mail_cc, m.subject, m.body, m.template, m.message_id, m.in_reply_to, m.signed, m.encrypted, m.signature, m.flag, m.shared, m.expects_reply, m.automatic, m.created_at, o.status AS delivery, o.last_error AS delivery_error, o.sent_at AS delivered_at";

/// A message that came in, a note, or a record of correspondence, to be kept.
#[derive(Debug, Clone, Default)]
pub struct Incoming<'a> {
    pub author: &'a str,
    pub author_user_id: Option<i64>,
    pub mail_from: Option<&'a str>,
    pub mail_to: &'a [String],
    pub mail_cc: &'a [String],
    pub subject: Option<&'a str>,
    pub body: &'a str,
    pub message_id: Option<&'a str>,
    pub in_reply_to: Option<&'a str>,
    pub signed: bool,
    pub encrypted: bool,
    pub signature: Option<&'a str>,
    pub flag: Option<&'a str>,
    pub automatic: bool,
    pub raw: Option<&'a [u8]>,
}

/// A mail to send from a thread.
pub struct Outgoing<'a> {
    /// What the outbox calls it, e.g. `conversation`.
    pub kind: &'a str,
    pub author: &'a Actor,
    pub from: &'a str,
    pub to: &'a [String],
    pub cc: &'a [String],
    pub subject: &'a str,
    pub body: &'a str,
    pub template: Option<&'a str>,
    pub in_reply_to: Option<&'a str>,
    pub attachments: &'a [Attachment],
    pub sign: Option<&'a TeamKey>,
    /// Every recipient's armored public key; empty, the mail goes unencrypted.
    pub encrypt_to: &'a [&'a str],
    /// Shown to the reporter on the status page.
    pub shared: bool,
    /// A question: the thread waits for an answer.
    pub expects_reply: bool,
    /// Marked `Auto-Submitted: auto-replied`.
    pub automatic: bool,
    /// Mail of a drill: it goes to the exercise sink, not to its recipients.
    pub exercise: bool,
}

/// What sending queued.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Sent {
    pub message: i64,
    pub outbox: i64,
    pub message_id: String,
}

/// Refuses what would break a header: a CR or LF (header injection), or nothing at all.
pub fn header_field(field: &'static str, value: &str) -> Result<(), MailError> {
    if value.contains(['\r', '\n']) {
        return Err(MailError::invalid(
            field,
            "line breaks are not allowed in a header",
        ));
    }
    Ok(())
}

/// `user@host`, lower case, out of `Name <User@Host>`: how parties are compared.
pub fn bare(address: &str) -> String {
    let s = address.trim();
    s.rsplit('<')
        .next()
        .unwrap_or(s)
        .trim_end_matches('>')
        .trim()
        .to_ascii_lowercase()
}

/// Splits addresses typed into one field (commas, semicolons, spaces or lines).
pub fn address_list(typed: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut current = String::new();
    let mut in_angle = false;
    let mut in_quote = false;
    for c in typed.chars() {
        match c {
            '"' => {
                in_quote = !in_quote;
                current.push(c);
            }
            '<' => {
                in_angle = true;
                current.push(c);
            }
            '>' => {
                in_angle = false;
                current.push(c);
            }
            ',' | ';' | '\n' | '\r' if !in_angle && !in_quote => {
                push_address(&mut out, &current);
                current.clear();
            }
            _ => current.push(c),
        }
    }
    push_address(&mut out, &current);
    out
}

fn push_address(out: &mut Vec<String>, typed: &str) {
    let t = typed.trim();
    if !t.is_empty() && !out.iter().any(|o| bare(o) == bare(t)) {
        out.push(t.to_string());
    }
}

/// Checks addresses for a header: each a mailbox, none breaking the header.
pub fn check_addresses(field: &'static str, addresses: &[String]) -> Result<(), MailError> {
    for a in addresses {
        header_field(field, a)?;
        a.parse::<lettre::message::Mailbox>()
            .map_err(|e| MailError::invalid(field, format!("{a:?} is not an address: {e}")))?;
    }
    Ok(())
}

/// Keeps a message that came in, a note, or a record of correspondence held
/// elsewhere (a phone call) in the owners' threads; the sender of a mail joins them
/// as a party. Returns the message's number.
pub async fn record(
    tx: &mut Tx,
    owners: &[Owner],
    direction: Direction,
    m: &Incoming<'_>,
) -> Result<i64, MailError> {
    let ids = record_many(tx, direction, &[(owners, m)]).await?;
    Ok(ids[0])
}

/// Keeps several messages at once (see [`record`]), each in its own threads, in a
/// few statements whatever their number: a busy listener's replies arrive together.
/// Returns their numbers in the order given.
pub async fn record_many(
    tx: &mut Tx,
    direction: Direction,
    items: &[(&[Owner], &Incoming<'_>)],
) -> Result<Vec<i64>, MailError> {
    const COLUMNS: usize = 17;
    let now = tx.now_str();
    let mut ids = Vec::with_capacity(items.len());
    // 15 rows (255 values) a statement: SQLite finds each `$N` by a linear search.
    for chunk in items.chunks(15) {
        let sql = format!(
            "INSERT INTO messages (direction, author_user_id, author, mail_from, mail_to, mail_cc, subject, body, message_id, in_reply_to, signed, encrypted, signature, flag, automatic, raw, created_at)
             VALUES {} RETURNING id",
            renkei_core::store::value_rows(chunk.len(), COLUMNS)
        );
        let mut q = sqlx::query_scalar::<_, i64>(AssertSqlSafe(sql));
        for (_, m) in chunk {
            q = q
                .bind(direction.as_str())
                .bind(m.author_user_id)
                .bind(m.author)
                .bind(m.mail_from)
                .bind(m.mail_to.join(", "))
                .bind(m.mail_cc.join(", "))
                .bind(m.subject)
                .bind(m.body)
                .bind(m.message_id.map(strip_angles))
                .bind(m.in_reply_to.map(strip_angles))
                .bind(m.signed as i64)
                .bind(m.encrypted as i64)
                .bind(m.signature)
                .bind(m.flag)
                .bind(m.automatic as i64)
                .bind(m.raw.map(<[u8]>::to_vec))
                .bind(&now);
        }
        // Both dialects hand out ids in row order within one statement, though
        // they need not return them so.
        let mut got = q.fetch_all(tx.conn()).await?;
        got.sort_unstable();
        if got.len() != chunk.len() {
            return Err(MailError::invalid(
                "messages",
                "the database returned fewer ids than rows inserted",
            ));
        }
        ids.extend(got);
    }
    let links: Vec<(i64, &Owner)> = ids
        .iter()
        .zip(items)
        .flat_map(|(id, (owners, _))| {
            owners
                .iter()
                .collect::<std::collections::BTreeSet<_>>()
                .into_iter()
                .map(move |o| (*id, o))
        })
        .collect();
    link_rows(tx, &links).await?;
    // A stranger's mail does not make them a party: only the coordinator's answer to
    // them does.
    let parties: Vec<(&Owner, String, &str)> = items
        .iter()
        .filter(|(_, m)| m.flag.is_none())
        .filter_map(|(owners, m)| m.mail_from.map(|from| (*owners, bare(from))))
        .flat_map(|(owners, from)| owners.iter().map(move |o| (o, from.clone(), "sender")))
        .collect();
    join_rows(tx, &parties).await?;
    Ok(ids)
}

/// Sends a mail from the owners' threads through the outbox (in the caller's
/// transaction, so that it goes out exactly when the change that caused it is
/// kept); everyone it is sent to becomes a party of the threads.
pub async fn send(tx: &mut Tx, owners: &[Owner], out: &Outgoing<'_>) -> Result<Sent, MailError> {
    if out.to.is_empty() {
        return Err(MailError::invalid("to", "at least one recipient"));
    }
    header_field("subject", out.subject)?;
    if out.subject.trim().is_empty() {
        return Err(MailError::invalid("subject", "a subject is needed"));
    }
    check_addresses("to", out.to)?;
    check_addresses("cc", out.cc)?;
    if let Some(parent) = out.in_reply_to {
        header_field("in_reply_to", parent)?;
    }
    let to = out.to.join(", ");
    let cc = out.cc.join(", ");
    let object = owners
        .first()
        .map(|o| (o.kind.clone(), o.id.to_string()))
        .unwrap_or_else(|| ("conversation".into(), String::new()));
    let outbox = enqueue(
        tx,
        NewMail {
            kind: out.kind,
            object_type: &object.0,
            object_id: object.1,
            from: out.from,
            to: &to,
            cc: &cc,
            subject: out.subject,
            body: out.body,
            in_reply_to: out.in_reply_to,
            auto_reply: out.automatic,
            attachments: out.attachments,
            sign: out.sign,
            encrypt_to: out.encrypt_to,
            exercise: out.exercise,
        },
    )
    .await?;
    let message_id: String = sqlx::query_scalar("SELECT message_id FROM outbox WHERE id = $1")
        .bind(outbox)
        .fetch_one(tx.conn())
        .await?;
    let now = tx.now_str();
    let id: i64 = sqlx::query_scalar(
        "INSERT INTO messages (direction, author_user_id, author, mail_from, mail_to, mail_cc, subject, body, template, message_id, in_reply_to, outbox_id, signed, encrypted, shared, expects_reply, automatic, created_at)
         VALUES ('out', $1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17) RETURNING id",
    )
    .bind(out.author.user_id)
    .bind(&out.author.label)
    .bind(out.from)
    .bind(&to)
    .bind(&cc)
    .bind(out.subject)
    .bind(out.body)
    .bind(out.template)
    .bind(&message_id)
    .bind(out.in_reply_to.map(strip_angles))
    .bind(outbox)
    .bind(out.sign.is_some() as i64)
    .bind(!out.encrypt_to.is_empty() as i64)
    .bind(out.shared as i64)
    .bind(out.expects_reply as i64)
    .bind(out.automatic as i64)
    .bind(&now)
    .fetch_one(tx.conn())
    .await?;
    link(tx, id, owners).await?;
    for a in out.to {
        join_all(tx, owners, a, "to").await?;
    }
    for a in out.cc {
        join_all(tx, owners, a, "cc").await?;
    }
    Ok(Sent {
        message: id,
        outbox,
        message_id,
    })
}

/// A mail its pillar built and queued in the outbox itself (a notification), to be
/// kept in threads.
#[derive(Debug, Clone, Copy, Default)]
pub struct Queued<'a> {
    pub outbox: i64,
    pub template: Option<&'a str>,
    pub signed: bool,
    pub encrypted: bool,
    pub expects_reply: bool,
}

/// Keeps a mail already in the outbox in the owners' threads; its recipients join
/// them, so that their replies find the way back.
pub async fn keep_queued(
    tx: &mut Tx,
    owners: &[Owner],
    author: &Actor,
    q: Queued<'_>,
) -> Result<i64, MailError> {
    #[derive(sqlx::FromRow)]
    struct Row {
        mail_from: String,
        rcpt_to: String,
        mail_cc: String,
        subject: String,
        body: String,
        message_id: String,
        in_reply_to: Option<String>,
        #[sqlx(try_from = "Bit")]
        auto_reply: bool,
    }
    let row: Row = sqlx::query_as(
        "SELECT mail_from, rcpt_to, mail_cc, subject, body, message_id, in_reply_to, auto_reply FROM outbox WHERE id = $1",
    )
    .bind(q.outbox)
    .fetch_one(tx.conn())
    .await?;
    let now = tx.now_str();
    let id: i64 = sqlx::query_scalar(
        "INSERT INTO messages (direction, author_user_id, author, mail_from, mail_to, mail_cc, subject, body, template, message_id, in_reply_to, outbox_id, signed, encrypted, expects_reply, automatic, created_at)
         VALUES ('out', $1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16) RETURNING id",
    )
    .bind(author.user_id)
    .bind(&author.label)
    .bind(&row.mail_from)
    .bind(&row.rcpt_to)
    .bind(&row.mail_cc)
    .bind(&row.subject)
    .bind(&row.body)
    .bind(q.template)
    .bind(&row.message_id)
    .bind(&row.in_reply_to)
    .bind(q.outbox)
    .bind(q.signed as i64)
    .bind(q.encrypted as i64)
    .bind(q.expects_reply as i64)
    .bind(row.auto_reply as i64)
    .bind(&now)
    .fetch_one(tx.conn())
    .await?;
    link(tx, id, owners).await?;
    for a in address_list(&row.rcpt_to) {
        join_all(tx, owners, &a, "to").await?;
    }
    for a in address_list(&row.mail_cc) {
        join_all(tx, owners, &a, "cc").await?;
    }
    Ok(id)
}

/// A mail queued by [`crate::enqueue_many`], as its thread keeps it.
pub struct KeptMail<'a> {
    pub owner: Owner,
    pub queued: Queued<'a>,
    pub message_id: &'a str,
    pub from: &'a str,
    pub to: &'a str,
    pub subject: &'a str,
    pub body: &'a str,
}

/// Keeps many mails of one author in their threads, as [`keep_queued`] does one,
/// in a few statements: a feed's thousands of notifications.
pub async fn keep_queued_many(
    tx: &mut Tx,
    author: &Actor,
    mails: &[KeptMail<'_>],
) -> Result<(), MailError> {
    let ids = tx.reserve_ids("messages", mails.len()).await?;
    let now = tx.now_str();
    const ROWS: usize = 20;
    for (at, part) in mails.chunks(ROWS).enumerate() {
        let sql = format!(
            "INSERT INTO messages (id, direction, author_user_id, author, mail_from, mail_to, mail_cc, subject, body, template, message_id, in_reply_to, outbox_id, signed, encrypted, expects_reply, automatic, created_at)
             VALUES {}",
            (0..part.len())
                .map(|r| {
                    let p = |k: usize| format!("${}", r * 14 + k);
                    format!(
                        "({}, 'out', {}, {}, {}, {}, '', {}, {}, {}, {}, NULL, {}, {}, {}, {}, 0, {})",
                        p(1), p(2), p(3), p(4), p(5), p(6), p(7), p(8), p(9), p(10), p(11), p(12), p(13), p(14)
                    )
                })
                .collect::<Vec<_>>()
                .join(", ")
        );
        let mut q = sqlx::query(AssertSqlSafe(sql));
        for (i, m) in part.iter().enumerate() {
            q = q
                .bind(ids[at * ROWS + i])
                .bind(author.user_id)
                .bind(&author.label)
                .bind(m.from)
                .bind(m.to)
                .bind(m.subject)
                .bind(m.body)
                .bind(m.queued.template)
                .bind(m.message_id)
                .bind(m.queued.outbox)
                .bind(m.queued.signed as i64)
                .bind(m.queued.encrypted as i64)
                .bind(m.queued.expects_reply as i64)
                .bind(&now);
        }
        q.execute(tx.conn()).await?;
    }
    let links: Vec<(i64, &Owner)> = ids
        .iter()
        .copied()
        .zip(mails.iter().map(|m| &m.owner))
        .collect();
    link_rows(tx, &links).await?;
    let parties: Vec<(&Owner, String, &str)> = mails
        .iter()
        .flat_map(|m| {
            address_list(m.to)
                .into_iter()
                .map(move |a| (&m.owner, bare(&a), "to"))
        })
        .collect();
    join_rows(tx, &parties).await
}

async fn link(tx: &mut Tx, message: i64, owners: &[Owner]) -> Result<(), MailError> {
    let owners: std::collections::BTreeSet<&Owner> = owners.iter().collect();
    let rows: Vec<(i64, &Owner)> = owners.into_iter().map(|o| (message, o)).collect();
    link_rows(tx, &rows).await
}

/// Puts messages in threads, 100 rows a statement: on SQLite each statement is a
/// round trip to the database's thread.
async fn link_rows(tx: &mut Tx, rows: &[(i64, &Owner)]) -> Result<(), MailError> {
    for chunk in rows.chunks(100) {
        let sql = format!(
            "INSERT INTO message_threads (message_id, owner_kind, owner_id) VALUES {}",
            renkei_core::store::value_rows(chunk.len(), 3)
        );
        let mut q = sqlx::query(AssertSqlSafe(sql));
        for (message, o) in chunk {
            q = q.bind(*message).bind(&o.kind).bind(o.id);
        }
        q.execute(tx.conn()).await?;
    }
    Ok(())
}

/// Adds someone to several threads at once (see [`join`]).
pub async fn join_all(
    tx: &mut Tx,
    owners: &[Owner],
    address: &str,
    role: &str,
) -> Result<(), MailError> {
    let address = bare(address);
    let rows: Vec<(&Owner, String, &str)> =
        owners.iter().map(|o| (o, address.clone(), role)).collect();
    join_rows(tx, &rows).await
}

/// Adds each address to its thread, all in one role: the reporters of a batch of
/// reports, say.
pub async fn join_each(
    tx: &mut Tx,
    parties: &[(&Owner, &str)],
    role: &str,
) -> Result<(), MailError> {
    let rows: Vec<(&Owner, String, &str)> =
        parties.iter().map(|(o, a)| (*o, bare(a), role)).collect();
    join_rows(tx, &rows).await
}

/// Adds parties to threads: (thread, bare address, role), 100 a statement. An
/// address already in a thread keeps its role and is marked as seen now.
async fn join_rows(tx: &mut Tx, rows: &[(&Owner, String, &str)]) -> Result<(), MailError> {
    // PostgreSQL refuses a statement that would update one row twice; the first
    // role given for a party in a thread is the one kept.
    let mut seen = std::collections::BTreeSet::new();
    let rows: Vec<&(&Owner, String, &str)> = rows
        .iter()
        .filter(|(o, a, _)| !a.is_empty() && seen.insert((*o, a)))
        .collect();
    if rows.is_empty() {
        return Ok(());
    }
    let now = tx.now_str();
    for chunk in rows.chunks(100) {
        let sql = format!(
            "INSERT INTO thread_parties (owner_kind, owner_id, address, role, last_at) VALUES {}
             ON CONFLICT (owner_kind, owner_id, address) DO UPDATE SET last_at = excluded.last_at",
            renkei_core::store::value_rows(chunk.len(), 5)
        );
        let mut q = sqlx::query(AssertSqlSafe(sql));
        for (o, address, role) in chunk {
            q = q
                .bind(&o.kind)
                .bind(o.id)
                .bind(address)
                .bind(*role)
                .bind(&now);
        }
        q.execute(tx.conn()).await?;
    }
    Ok(())
}

/// Adds someone to a thread (the reporter when the report comes in, say), or notes
/// that they took part again.
pub async fn join(tx: &mut Tx, owner: &Owner, address: &str, role: &str) -> Result<(), MailError> {
    join_all(tx, std::slice::from_ref(owner), address, role).await
}

/// Whether an address takes part in a thread.
pub async fn is_party(tx: &mut Tx, owner: &Owner, address: &str) -> Result<bool, MailError> {
    let found: Option<i64> = sqlx::query_scalar(
        "SELECT 1 FROM thread_parties WHERE owner_kind = $1 AND owner_id = $2 AND address = $3",
    )
    .bind(&owner.kind)
    .bind(owner.id)
    .bind(bare(address))
    .fetch_optional(tx.conn())
    .await?;
    Ok(found.is_some())
}

/// The threads of the mails of ours with these Message-IDs (bare, as
/// [`strip_angles`] leaves them), by Message-ID: a batch of replies looked up at once.
pub async fn threads_of_each_message_id(
    tx: &mut Tx,
    message_ids: &[String],
) -> Result<std::collections::HashMap<String, Vec<Owner>>, MailError> {
    let mut found: std::collections::HashMap<String, Vec<Owner>> = Default::default();
    for chunk in message_ids.chunks(100) {
        let sql = format!(
            "SELECT DISTINCT m.message_id, t.owner_kind, t.owner_id FROM messages m JOIN message_threads t ON t.message_id = m.id
             WHERE m.direction = 'out' AND m.message_id IN ({}) ORDER BY t.owner_kind, t.owner_id",
            placeholders(1, chunk.len())
        );
        let mut q = sqlx::query_as::<_, (String, String, i64)>(AssertSqlSafe(sql));
        for id in chunk {
            q = q.bind(id);
        }
        for (mid, kind, id) in q.fetch_all(tx.conn()).await? {
            found.entry(mid).or_default().push(Owner { kind, id });
        }
    }
    Ok(found)
}

/// For each address, the latest thread of one kind it took part in since `since`
/// (by its last message, then the thread's number), for many addresses at once.
pub async fn latest_thread_of_parties(
    tx: &mut Tx,
    kind: &str,
    addresses: &[String],
    since: &str,
) -> Result<std::collections::HashMap<String, Owner>, MailError> {
    let mut found = std::collections::HashMap::new();
    for chunk in addresses.chunks(100) {
        let sql = format!(
            "SELECT address, owner_kind, owner_id FROM (
                SELECT address, owner_kind, owner_id,
                       ROW_NUMBER() OVER (PARTITION BY address ORDER BY last_at DESC, owner_id DESC) AS n
                FROM thread_parties WHERE owner_kind = $1 AND last_at >= $2 AND address IN ({})
             ) AS latest WHERE n = 1",
            placeholders(3, chunk.len())
        );
        let mut q = sqlx::query_as::<_, (String, String, i64)>(AssertSqlSafe(sql))
            .bind(kind)
            .bind(since);
        for a in chunk {
            q = q.bind(bare(a));
        }
        for (address, kind, id) in q.fetch_all(tx.conn()).await? {
            found.insert(address, Owner { kind, id });
        }
    }
    Ok(found)
}

/// The threads a message of ours belongs to, by its number (`[RENKEI-M#n]`).
pub async fn threads_of_message(tx: &mut Tx, message: i64) -> Result<Vec<Owner>, MailError> {
    Ok(sqlx::query_as(
        "SELECT owner_kind, owner_id FROM message_threads WHERE message_id = $1 ORDER BY owner_kind, owner_id",
    )
    .bind(message)
    .fetch_all(tx.conn())
    .await?)
}

/// The messages of these threads (a message in several is shown once), oldest first,
/// with the delivery state of what went out.
pub async fn thread(store: &Store, owners: &[Owner]) -> Result<Vec<Message>, MailError> {
    if owners.is_empty() {
        return Ok(Vec::new());
    }
    let mut conds = Vec::new();
    for (i, _) in owners.iter().enumerate() {
        conds.push(format!(
            "(t.owner_kind = ${} AND t.owner_id = ${})",
            2 * i + 1,
            2 * i + 2
        ));
    }
    let sql = format!(
        "SELECT {COLUMNS} FROM messages m LEFT JOIN outbox o ON o.id = m.outbox_id
         WHERE m.id IN (SELECT t.message_id FROM message_threads t WHERE {})
         ORDER BY m.created_at, m.id",
        conds.join(" OR ")
    );
    let mut q = sqlx::query_as(AssertSqlSafe(sql));
    for o in owners {
        q = q.bind(&o.kind).bind(o.id);
    }
    Ok(q.fetch_all(store.pool()).await?)
}

/// One message, if it belongs to one of these threads (so that a caller allowed to
/// read a thread reads only its messages).
pub async fn message_in(
    store: &Store,
    owners: &[Owner],
    id: i64,
) -> Result<Option<Message>, MailError> {
    Ok(thread(store, owners)
        .await?
        .into_iter()
        .find(|m| m.id == id))
}

/// The raw mail of a message that came in.
pub async fn raw(store: &Store, id: i64) -> Result<Option<Vec<u8>>, MailError> {
    Ok(sqlx::query_scalar("SELECT raw FROM messages WHERE id = $1")
        .bind(id)
        .fetch_optional(store.pool())
        .await?
        .flatten())
}

/// Marks what a coordinator chose to show on the reporter's status page.
pub async fn share(tx: &mut Tx, id: i64, shared: bool) -> Result<(), MailError> {
    sqlx::query("UPDATE messages SET shared = $1 WHERE id = $2")
        .bind(shared as i64)
        .bind(id)
        .execute(tx.conn())
        .await?;
    Ok(())
}

/// Quotes a message for a reply: `> ` before each line, under when it was written
/// and, when `name_sender`, who wrote it (a reporter who did not agree to be named
/// to a site is quoted without their address).
pub fn quote(m: &Message, name_sender: bool) -> String {
    let who = if name_sender {
        m.mail_from.as_deref().unwrap_or(&m.author)
    } else {
        "—"
    };
    let when = time::parse(&m.created_at)
        .map(|t| t.format("%Y-%m-%d %H:%M UTC").to_string())
        .unwrap_or_else(|| m.created_at.clone());
    let mut out = format!("{when} {who}:\n");
    for line in m.body.lines() {
        out.push('>');
        if !line.is_empty() {
            out.push(' ');
        }
        out.push_str(line);
        out.push('\n');
    }
    out
}

/// A Message-ID as kept: without its angle brackets.
pub fn strip_angles(m: &str) -> String {
    m.trim()
        .trim_start_matches('<')
        .trim_end_matches('>')
        .to_string()
}

/// The tags a subject carries: `[RENKEI#12]` (a report), `[RENKEI-N#3]` (a
/// notification), `[RENKEI-I#7]` (an incident), `[RENKEI-M#40]` (one of our messages).
pub fn tags(subject: &str) -> Vec<(char, i64)> {
    let mut out = Vec::new();
    let mut rest = subject;
    while let Some(at) = rest.find("[RENKEI") {
        rest = &rest[at + "[RENKEI".len()..];
        let Some(end) = rest.find(']') else { break };
        let inner = &rest[..end];
        let (kind, number) = match inner.strip_prefix('#') {
            Some(n) => ('R', n),
            None => match inner.split_once('#') {
                Some((k, n)) if k.len() == 2 && k.starts_with('-') => {
                    (k.chars().nth(1).unwrap_or('?').to_ascii_uppercase(), n)
                }
                _ => continue,
            },
        };
        if let Ok(n) = number.trim().parse::<i64>()
            && n > 0
        {
            out.push((kind, n));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags_are_read_whatever_surrounds_them() {
        assert_eq!(tags("Re: [RENKEI#42] scan"), vec![('R', 42)]);
        assert_eq!(
            tags("AW: [RENKEI-N#7] x [RENKEI-I#3]"),
            vec![('N', 7), ('I', 3)]
        );
        assert_eq!(tags("[renkei#4]"), vec![]);
        assert_eq!(
            tags("[RENKEI#] [RENKEI#abc] [RENKEI-XY#3] [RENKEI#-1]"),
            vec![]
        );
        assert_eq!(tags("[RENKEI-M#9"), vec![]);
    }

    #[test]
    fn typed_address_lists_split_outside_quotes_and_angles() {
        assert_eq!(
            address_list("a@x.example, \"Doe, Jane\" <j@y.example>; b@z.example\nA@X.example"),
            vec![
                "a@x.example".to_string(),
                "\"Doe, Jane\" <j@y.example>".to_string(),
                "b@z.example".to_string()
            ]
        );
        assert!(address_list(" , ;").is_empty());
    }

    #[test]
    fn a_line_break_in_a_header_is_refused() {
        assert!(header_field("subject", "hello\r\nBcc: x@y").is_err());
        assert!(header_field("subject", "hello\nthere").is_err());
        assert!(header_field("subject", "hello there").is_ok());
    }

    #[test]
    fn quoting_marks_every_line() {
        let m = Message {
            id: 1,
            direction: Direction::In,
            author: "r@example.org".into(),
            author_user_id: None,
            mail_from: Some("r@example.org".into()),
            mail_to: String::new(),
            mail_cc: String::new(),
            subject: None,
            body: "line one\n\nline three".into(),
            template: None,
            message_id: None,
            in_reply_to: None,
            signed: false,
            encrypted: false,
            signature: None,
            flag: None,
            shared: false,
            expects_reply: false,
            automatic: false,
            created_at: "2026-12-01T00:00:00.000000Z".into(),
            delivery: None,
            delivery_error: None,
            delivered_at: None,
        };
        let q = quote(&m, true);
        assert!(q.ends_with("> line one\n>\n> line three\n"), "{q}");
        assert!(q.contains("r@example.org"));
        assert!(!quote(&m, false).contains("r@example.org"));
    }
}
