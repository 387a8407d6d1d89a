//! Replies: a mail that answers one of our conversations joins it instead of opening
//! a report. It is matched, in this order, by the ticket tag in its subject
//! (`[RENKEI#n]` a report, `[RENKEI-N#n]` a notification, `[RENKEI-I#n]` an
//! incident, `[RENKEI-M#n]` one of our mails) when its sender takes part in that
//! conversation, by `In-Reply-To`/`References` naming a mail we sent, and by its
//! sender being a contact we notified within the reply window. A tag from someone
//! who takes part in nothing it names joins nothing: the mail becomes a new report,
//! flagged. A human reply (not an auto-reply) moves the incidents waiting for it
//! back to coordinating and marks them as having a new reply.

use std::collections::BTreeSet;

use chrono::Duration;
use renkei_core::audit::Event;
use renkei_core::store::Tx;
use renkei_core::time;
use renkei_formats::report::ParsedReport;
use renkei_mail::conversations::{self, Direction, Incoming, Owner, opened};
use serde_json::json;

use crate::Result;
use crate::reports::Settings;

pub(crate) const REPORT: &str = "report";
pub(crate) const INCIDENT: &str = "incident";
pub(crate) const NOTIFICATION: &str = "notification";

/// Where a mail that came in belongs.
pub(crate) enum Routed {
    /// It joined these conversations; the first report among them, if any.
    Joined(Option<i64>),
    /// It named a conversation its sender has no part in.
    Stranger(String),
    /// It answers nothing of ours.
    Nothing,
}

/// Finds the conversations a mail answers and keeps it there.
pub(crate) async fn route(
    tx: &mut Tx,
    settings: &Settings,
    id: i64,
    parsed: &ParsedReport,
    raw: &[u8],
    events: &mut Vec<Event<'static>>,
) -> Result<Routed> {
    let sender = parsed
        .reporter
        .email
        .as_deref()
        .map(conversations::bare)
        .unwrap_or_default();
    let subject = parsed.subject.as_deref().unwrap_or("");
    let mut owners: Vec<Owner> = Vec::new();
    let mut stranger = None;

    // A reference to a mail we sent: whoever quotes it had it.
    let by_reference = owners_of(tx, &parsed.in_reply_to).await?;

    for (kind, n) in conversations::tags(subject) {
        let tagged = tagged_owners(tx, kind, n, id).await?;
        if tagged.is_empty() {
            continue;
        }
        let mut party = false;
        for o in &tagged {
            if !sender.is_empty() && conversations::is_party(tx, o, &sender).await? {
                party = true;
                break;
            }
        }
        if party || tagged.iter().any(|o| by_reference.contains(o)) {
            owners.extend(tagged);
        } else {
            stranger = Some(format!("[RENKEI{}#{n}]", tag_prefix(kind)));
        }
    }
    if owners.is_empty() {
        owners = by_reference;
    }
    if owners.is_empty() && settings.reply_window_days > 0 && !sender.is_empty() {
        let since = time::format(tx.now() - Duration::days(settings.reply_window_days));
        if let Some(latest) = conversations::threads_of_party(tx, NOTIFICATION, &sender, &since)
            .await?
            .into_iter()
            .next()
        {
            owners.push(latest);
        }
    }
    if owners.is_empty() {
        return Ok(match stranger {
            Some(tag) => Routed::Stranger(tag),
            None => Routed::Nothing,
        });
    }
    let owners = expand(tx, owners).await?;
    join(tx, settings, id, parsed, raw, &sender, &owners, events).await
}

/// The conversations of the mails of ours these Message-IDs name.
pub(crate) async fn owners_of(tx: &mut Tx, message_ids: &[String]) -> Result<Vec<Owner>> {
    let found = conversations::threads_of_message_ids(tx, message_ids).await?;
    if !found.is_empty() {
        return Ok(found);
    }
    legacy_notification_reference(tx, message_ids).await
}

/// Keeps a bounce in the conversations of the mail that bounced; it changes no
/// state. Returns the first report among them.
pub(crate) async fn keep_bounce(
    tx: &mut Tx,
    id: i64,
    owners: Vec<Owner>,
    parsed: &ParsedReport,
    raw: &[u8],
) -> Result<Option<i64>> {
    if owners.is_empty() {
        return Ok(None);
    }
    let owners = expand(tx, owners).await?;
    let author = parsed
        .reporter
        .email
        .clone()
        .unwrap_or_else(|| "mailer-daemon".into());
    conversations::record(
        tx,
        &owners,
        Direction::In,
        &Incoming {
            author: &author,
            mail_from: Some(&author),
            subject: parsed.subject.as_deref(),
            body: &truncate(&parsed.text, 1 << 20),
            message_id: parsed.message_id.as_deref(),
            flag: Some("bounce"),
            automatic: true,
            raw: Some(raw),
            ..Default::default()
        },
    )
    .await?;
    let first = owners.iter().find(|o| o.kind == REPORT).map(|o| o.id);
    sqlx::query("UPDATE reports SET thread_of = $1 WHERE id = $2")
        .bind(first)
        .bind(id)
        .execute(tx.conn())
        .await?;
    Ok(first)
}

fn tag_prefix(kind: char) -> &'static str {
    match kind {
        'N' => "-N",
        'I' => "-I",
        'M' => "-M",
        _ => "",
    }
}

/// The conversations a tag names, if they exist (a mail never joins itself).
async fn tagged_owners(tx: &mut Tx, kind: char, n: i64, this_report: i64) -> Result<Vec<Owner>> {
    let table = match kind {
        'R' if n != this_report => "reports",
        'N' => "notifications",
        'I' => "incidents",
        'M' => return Ok(conversations::threads_of_message(tx, n).await?),
        _ => return Ok(Vec::new()),
    };
    let found: Option<i64> = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
        "SELECT id FROM {table} WHERE id = $1"
    )))
    .bind(n)
    .fetch_optional(tx.conn())
    .await?;
    Ok(found
        .map(|_| {
            vec![Owner::new(
                match kind {
                    'R' => REPORT,
                    'N' => NOTIFICATION,
                    _ => INCIDENT,
                },
                n,
            )]
        })
        .unwrap_or_default())
}

/// Notifications sent before conversations were kept: found by the outbox row.
async fn legacy_notification_reference(tx: &mut Tx, ids: &[String]) -> Result<Vec<Owner>> {
    for mid in ids.iter().take(20) {
        let bare = mid.trim().trim_start_matches('<').trim_end_matches('>');
        let object: Option<String> = sqlx::query_scalar(
            "SELECT object_id FROM outbox WHERE message_id = $1 AND object_type = 'notification'",
        )
        .bind(bare)
        .fetch_optional(tx.conn())
        .await?;
        if let Some(n) = object.and_then(|o| o.parse::<i64>().ok()) {
            return Ok(vec![Owner::new(NOTIFICATION, n)]);
        }
    }
    Ok(Vec::new())
}

/// A notification stands for the incidents it covered, an incident for its report
/// too: a reply shows wherever the coordinator looks.
async fn expand(tx: &mut Tx, owners: Vec<Owner>) -> Result<Vec<Owner>> {
    let mut all: BTreeSet<Owner> = BTreeSet::new();
    for o in owners {
        match o.kind.as_str() {
            NOTIFICATION => {
                let incidents: Vec<(i64, i64)> = sqlx::query_as(
                    "SELECT i.id, i.report_id FROM notification_incidents ni JOIN incidents i ON i.id = ni.incident_id WHERE ni.notification_id = $1",
                )
                .bind(o.id)
                .fetch_all(tx.conn())
                .await?;
                for (i, r) in incidents {
                    all.insert(Owner::new(INCIDENT, i));
                    all.insert(Owner::new(REPORT, r));
                }
            }
            INCIDENT => {
                let report: Option<i64> =
                    sqlx::query_scalar("SELECT report_id FROM incidents WHERE id = $1")
                        .bind(o.id)
                        .fetch_optional(tx.conn())
                        .await?;
                if let Some(r) = report {
                    all.insert(Owner::new(REPORT, r));
                }
            }
            _ => {}
        }
        all.insert(o);
    }
    Ok(all.into_iter().collect())
}

#[allow(clippy::too_many_arguments)]
async fn join(
    tx: &mut Tx,
    settings: &Settings,
    id: i64,
    parsed: &ParsedReport,
    raw: &[u8],
    sender: &str,
    owners: &[Owner],
    events: &mut Vec<Event<'static>>,
) -> Result<Routed> {
    // The key on file is looked up only for mail with OpenPGP layers.
    let layered = raw
        .windows(10)
        .any(|w| w.eq_ignore_ascii_case(b"multipart/"))
        && ["multipart/signed", "multipart/encrypted"].iter().any(|k| {
            raw.windows(k.len())
                .any(|w| w.eq_ignore_ascii_case(k.as_bytes()))
        });
    let key = if sender.is_empty() || !layered {
        None
    } else {
        crate::correspond::key_on_file(tx.conn(), settings.enricher.as_ref(), sender).await?
    };
    let opened = opened::open(raw, settings.team_key.as_ref(), key.as_deref());
    // The text as written (the reading for classification puts the subject first).
    let written = opened::text_of(&opened.content);
    let text = if written.trim().is_empty() && !(opened.encrypted || opened.signed) {
        parsed.text.clone()
    } else {
        written
    };
    let author = parsed
        .reporter
        .email
        .clone()
        .unwrap_or_else(|| "unknown sender".into());
    let message = conversations::record(
        tx,
        owners,
        Direction::In,
        &Incoming {
            author: &author,
            mail_from: Some(&author),
            subject: parsed.subject.as_deref(),
            body: &truncate(&text, 1 << 20),
            message_id: parsed.message_id.as_deref(),
            in_reply_to: parsed.in_reply_to.first().map(String::as_str),
            signed: opened.signed,
            encrypted: opened.encrypted,
            signature: opened.signature,
            flag: opened.problem.as_ref().map(|_| "not_decrypted"),
            automatic: parsed.auto_submitted,
            raw: Some(raw),
            ..Default::default()
        },
    )
    .await?;
    let first_report = owners.iter().find(|o| o.kind == REPORT).map(|o| o.id);
    sqlx::query("UPDATE reports SET status = 'threaded', thread_of = $1, subject = $2, reporter_email = $3, message_id = $4 WHERE id = $5")
        .bind(first_report)
        .bind(&parsed.subject)
        .bind(&parsed.reporter.email)
        .bind(&parsed.message_id)
        .bind(id)
        .execute(tx.conn())
        .await?;
    // The incidents the answer is about: those named, else (an answer in a report's
    // conversation) the report's.
    let mut incidents: Vec<i64> = owners
        .iter()
        .filter(|o| o.kind == INCIDENT)
        .map(|o| o.id)
        .collect();
    if incidents.is_empty() {
        for o in owners.iter().filter(|o| o.kind == REPORT) {
            let of_report: Vec<i64> =
                sqlx::query_scalar("SELECT id FROM incidents WHERE report_id = $1")
                    .bind(o.id)
                    .fetch_all(tx.conn())
                    .await?;
            incidents.extend(of_report);
        }
    }
    let mut resumed = Vec::new();
    // An auto-reply ("I am out of office") is kept but changes nothing.
    if !parsed.auto_submitted {
        let reports: Vec<i64> = owners
            .iter()
            .filter(|o| o.kind == REPORT)
            .map(|o| o.id)
            .collect();
        resumed = answered(tx, &incidents, &reports, message, events).await?;
    }
    events.push(Event {
        action: "conversation.reply",
        object_type: "message",
        object_id: message.to_string(),
        changes: json!({
            "mail": id,
            "from": parsed.reporter.email,
            "threads": owners.iter().map(|o| format!("{}/{}", o.kind, o.id)).collect::<Vec<_>>(),
            "automatic": parsed.auto_submitted,
            "signature": opened.signature,
            "encrypted": opened.encrypted,
            "resumed": resumed,
        }),
    });
    Ok(Routed::Joined(first_report))
}

/// What an answer does, however it came (mail or status page): the incidents
/// waiting for it come back to coordinating, and they and the reports are marked
/// as having a new reply. Returns the incidents that came back.
pub(crate) async fn answered(
    tx: &mut Tx,
    incidents: &[i64],
    reports: &[i64],
    message: i64,
    events: &mut Vec<Event<'static>>,
) -> Result<Vec<i64>> {
    let now = tx.now_str();
    let resumed = tx
        .ids_among(
            "SELECT id FROM incidents WHERE state = 'waiting_for_reply' AND id IN ({ids})",
            &[],
            incidents,
        )
        .await?;
    tx.execute_for_ids(
        "UPDATE incidents SET reply_at = $1, updated_at = $1, state = CASE WHEN state = 'waiting_for_reply' THEN 'coordinating' ELSE state END WHERE id IN ({ids})",
        &[&now],
        incidents,
    )
    .await?;
    tx.execute_for_ids(
        "UPDATE reports SET reply_at = $1 WHERE id IN ({ids})",
        &[&now],
        reports,
    )
    .await?;
    for i in &resumed {
        events.push(Event {
            action: "incident.state_changed",
            object_type: "incident",
            object_id: i.to_string(),
            changes: json!({"state": {"old": "waiting_for_reply", "new": "coordinating"}, "because": {"message": message}}),
        });
    }
    Ok(resumed)
}

fn truncate(s: &str, max: usize) -> String {
    if s.len() <= max {
        return s.to_string();
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    s[..end].to_string()
}
