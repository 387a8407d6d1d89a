//! Replies: a mail that answers one of our conversations joins it instead of opening
//! a report. It is matched, in this order, by the ticket tag in its subject
//! (`[RENKEI#n]` a report, `[RENKEI-N#n]` a notification, `[RENKEI-I#n]` an
//! incident, `[RENKEI-M#n]` one of our mails) when its sender takes part in that
//! conversation, by `In-Reply-To`/`References` naming a mail we sent, and by its
//! sender being a contact we notified within the reply window. A tag from someone
//! who takes part in nothing it names joins nothing: the mail becomes a new report,
//! flagged. A human reply (not an auto-reply) moves the incidents waiting for it
//! back to coordinating and marks them as having a new reply.

use std::collections::{BTreeSet, HashMap};

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
    /// It answers these conversations (as named; [`keep`] adds what they stand for).
    Joined(Vec<Owner>),
    /// It named a conversation its sender has no part in.
    Stranger(String),
    /// It answers nothing of ours.
    Nothing,
}

/// What routing a batch of mail needs from the database, looked up once for the
/// whole batch: a busy listener hands over dozens of mails together, and each
/// statement is a round trip.
#[derive(Default)]
pub(crate) struct Lookups {
    /// Mail in our outbox by bare Message-ID, with the object it was about: an
    /// archive copy coming back, or a notification sent before conversations.
    outbox: HashMap<String, (String, String)>,
    /// The conversations of the mails we sent, by bare Message-ID.
    referenced: HashMap<String, Vec<Owner>>,
    /// The latest notification each address took part in within the reply window.
    notified: HashMap<String, Owner>,
}

impl Lookups {
    /// Looks up, in at most three statements, what routing `mails` needs: the
    /// mails of ours they refer to; the outbox, for their own Message-IDs (our
    /// archive copies) and for references to notifications older than
    /// conversations; and, for those that refer to nothing of ours, the
    /// notifications their senders were sent lately.
    pub(crate) async fn load(
        tx: &mut Tx,
        settings: &Settings,
        mails: &[&ParsedReport],
    ) -> Result<Lookups> {
        let references: BTreeSet<String> = mails
            .iter()
            .flat_map(|p| reference_ids(&p.in_reply_to))
            .collect();
        let mut found = Lookups {
            referenced: conversations::threads_of_each_message_id(
                tx,
                &references.into_iter().collect::<Vec<_>>(),
            )
            .await?,
            ..Default::default()
        };
        let mut in_outbox: BTreeSet<String> = BTreeSet::new();
        for p in mails {
            in_outbox.extend(p.message_id.as_deref().map(conversations::strip_angles));
            let refs = reference_ids(&p.in_reply_to);
            if !refs.iter().any(|m| found.referenced.contains_key(m)) {
                in_outbox.extend(refs.into_iter().take(20));
            }
        }
        in_outbox.remove("");
        found.outbox =
            renkei_mail::outbox::mails_among(tx, &in_outbox.into_iter().collect::<Vec<_>>())
                .await?;
        if settings.reply_window_days > 0 {
            let senders: BTreeSet<String> = mails
                .iter()
                .filter(|p| found.owners_of(&p.in_reply_to).is_empty())
                .filter_map(|p| sender_of(p))
                .collect();
            if !senders.is_empty() {
                let since = time::format(tx.now() - Duration::days(settings.reply_window_days));
                found.notified = conversations::latest_thread_of_parties(
                    tx,
                    NOTIFICATION,
                    &senders.into_iter().collect::<Vec<_>>(),
                    &since,
                )
                .await?;
            }
        }
        Ok(found)
    }

    /// Whether a mail with this Message-ID is one we sent (our archive copy).
    pub(crate) fn is_ours(&self, message_id: &str) -> bool {
        self.outbox
            .contains_key(&conversations::strip_angles(message_id))
    }

    /// The conversations of the mails of ours that these Message-IDs name.
    fn owners_of(&self, message_ids: &[String]) -> Vec<Owner> {
        let ids = reference_ids(message_ids);
        let found: BTreeSet<&Owner> = ids
            .iter()
            .filter_map(|m| self.referenced.get(m))
            .flatten()
            .collect();
        if !found.is_empty() {
            return found.into_iter().cloned().collect();
        }
        // Notifications sent before conversations were kept: found by the outbox row.
        ids.iter()
            .take(20)
            .filter_map(|m| self.outbox.get(m))
            .find(|(kind, _)| kind == NOTIFICATION)
            .and_then(|(_, n)| n.parse().ok())
            .map(|n| vec![Owner::new(NOTIFICATION, n)])
            .unwrap_or_default()
    }
}

/// The Message-IDs a reply names, as kept (bare), at most 50.
fn reference_ids(message_ids: &[String]) -> Vec<String> {
    message_ids
        .iter()
        .map(|m| conversations::strip_angles(m))
        .filter(|m| !m.is_empty())
        .take(50)
        .collect()
}

/// The sender's bare address, if the mail has one.
fn sender_of(parsed: &ParsedReport) -> Option<String> {
    parsed
        .reporter
        .email
        .as_deref()
        .map(conversations::bare)
        .filter(|s| !s.is_empty())
}

/// Finds the conversations a mail answers.
pub(crate) async fn route(
    tx: &mut Tx,
    id: i64,
    parsed: &ParsedReport,
    lookups: &Lookups,
) -> Result<Routed> {
    let sender = sender_of(parsed).unwrap_or_default();
    let subject = parsed.subject.as_deref().unwrap_or("");
    let mut owners: Vec<Owner> = Vec::new();
    let mut stranger = None;

    // A reference to a mail we sent: whoever quotes it had it.
    let by_reference = lookups.owners_of(&parsed.in_reply_to);

    for (kind, n) in conversations::tags(subject) {
        // A tag naming a conversation the mail also answers by reference needs
        // no look: it exists, and whoever quotes our mail had it.
        let named = match kind {
            'N' => Some(Owner::new(NOTIFICATION, n)),
            'I' => Some(Owner::new(INCIDENT, n)),
            'R' if n != id => Some(Owner::new(REPORT, n)),
            _ => None,
        };
        if let Some(o) = named.filter(|o| by_reference.contains(o)) {
            owners.push(o);
            continue;
        }
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
    if owners.is_empty()
        && let Some(latest) = lookups.notified.get(&sender)
    {
        owners.push(latest.clone());
    }
    Ok(match (owners.is_empty(), stranger) {
        (false, _) => Routed::Joined(owners),
        (true, Some(tag)) => Routed::Stranger(tag),
        (true, None) => Routed::Nothing,
    })
}

/// The conversations of the mails of ours these Message-IDs name.
pub(crate) async fn owners_of(tx: &mut Tx, message_ids: &[String]) -> Result<Vec<Owner>> {
    let ids = reference_ids(message_ids);
    let lookups = Lookups {
        outbox: renkei_mail::outbox::mails_among(tx, &ids).await?,
        referenced: conversations::threads_of_each_message_id(tx, &ids).await?,
        notified: HashMap::new(),
    };
    Ok(lookups.owners_of(message_ids))
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
    let owners = expand_all(tx, vec![owners]).await?.remove(0);
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

/// A notification stands for the incidents it covered, an incident for its report
/// too: a reply shows wherever the coordinator looks. Each list of owners is
/// expanded, all in at most two statements.
async fn expand_all(tx: &mut Tx, lists: Vec<Vec<Owner>>) -> Result<Vec<Vec<Owner>>> {
    let ids = |kind: &str| -> Vec<i64> {
        lists
            .iter()
            .flatten()
            .filter(|o| o.kind == kind)
            .map(|o| o.id)
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect()
    };
    let mut covered: HashMap<i64, Vec<(i64, i64)>> = HashMap::new();
    for chunk in ids(NOTIFICATION).chunks(200) {
        let sql = format!(
            "SELECT ni.notification_id, i.id, i.report_id FROM notification_incidents ni JOIN incidents i ON i.id = ni.incident_id WHERE ni.notification_id IN ({})",
            renkei_core::store::placeholders(1, chunk.len())
        );
        let mut q = sqlx::query_as::<_, (i64, i64, i64)>(sqlx::AssertSqlSafe(sql));
        for n in chunk {
            q = q.bind(*n);
        }
        for (n, i, r) in q.fetch_all(tx.conn()).await? {
            covered.entry(n).or_default().push((i, r));
        }
    }
    // An incident a notification covered is known already: a notification's
    // thread names them both.
    let mut report_of: HashMap<i64, i64> = covered.values().flatten().copied().collect();
    let unknown: Vec<i64> = ids(INCIDENT)
        .into_iter()
        .filter(|i| !report_of.contains_key(i))
        .collect();
    for chunk in unknown.chunks(200) {
        let sql = format!(
            "SELECT id, report_id FROM incidents WHERE id IN ({})",
            renkei_core::store::placeholders(1, chunk.len())
        );
        let mut q = sqlx::query_as::<_, (i64, i64)>(sqlx::AssertSqlSafe(sql));
        for i in chunk {
            q = q.bind(*i);
        }
        report_of.extend(q.fetch_all(tx.conn()).await?);
    }
    Ok(lists
        .into_iter()
        .map(|owners| {
            let mut all: BTreeSet<Owner> = BTreeSet::new();
            for o in owners {
                match o.kind.as_str() {
                    NOTIFICATION => {
                        for (i, r) in covered.get(&o.id).into_iter().flatten() {
                            all.insert(Owner::new(INCIDENT, *i));
                            all.insert(Owner::new(REPORT, *r));
                        }
                    }
                    INCIDENT => {
                        if let Some(r) = report_of.get(&o.id) {
                            all.insert(Owner::new(REPORT, *r));
                        }
                    }
                    _ => {}
                }
                all.insert(o);
            }
            all.into_iter().collect()
        })
        .collect())
}

/// A reply routed and opened, waiting to be kept with the others of its batch.
pub(crate) struct Reply {
    /// The report row the mail came in as.
    pub(crate) mail: i64,
    /// The conversations it answers, as routed.
    owners: Vec<Owner>,
    author: String,
    reporter_email: Option<String>,
    subject: Option<String>,
    body: String,
    message_id: Option<String>,
    in_reply_to: Option<String>,
    signed: bool,
    encrypted: bool,
    signature: Option<&'static str>,
    flag: Option<&'static str>,
    automatic: bool,
    raw: Vec<u8>,
}

impl Reply {
    /// Opens a routed mail: decrypted with the team key, its signature checked
    /// against the sender's key on file.
    pub(crate) async fn open(
        tx: &mut Tx,
        settings: &Settings,
        mail: i64,
        parsed: &ParsedReport,
        raw: Vec<u8>,
        owners: Vec<Owner>,
    ) -> Result<Reply> {
        let sender = sender_of(parsed).unwrap_or_default();
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
            crate::correspond::key_on_file(tx.conn(), settings.enricher.as_ref(), &sender).await?
        };
        let opened = opened::open(&raw, settings.team_key.as_ref(), key.as_deref());
        // The text as written (the reading for classification puts the subject first).
        let written = opened::text_of(&opened.content);
        let text = if written.trim().is_empty() && !(opened.encrypted || opened.signed) {
            parsed.text.clone()
        } else {
            written
        };
        Ok(Reply {
            mail,
            owners,
            author: parsed
                .reporter
                .email
                .clone()
                .unwrap_or_else(|| "unknown sender".into()),
            reporter_email: parsed.reporter.email.clone(),
            subject: parsed.subject.clone(),
            body: truncate(&text, 1 << 20),
            message_id: parsed.message_id.clone(),
            in_reply_to: parsed.in_reply_to.first().cloned(),
            signed: opened.signed,
            encrypted: opened.encrypted,
            signature: opened.signature,
            flag: opened.problem.as_ref().map(|_| "not_decrypted"),
            automatic: parsed.auto_submitted,
            raw,
        })
    }
}

/// Keeps replies in their conversations, in a handful of statements however many
/// there are: the messages, the mails' own rows (threaded), and what a human answer
/// does to the incidents waiting for it. Returns, per reply, the first report among
/// its conversations.
pub(crate) async fn keep(
    tx: &mut Tx,
    replies: Vec<Reply>,
    events: &mut Vec<Event<'static>>,
) -> Result<Vec<Option<i64>>> {
    if replies.is_empty() {
        return Ok(Vec::new());
    }
    let owners = expand_all(tx, replies.iter().map(|r| r.owners.clone()).collect()).await?;
    let incoming: Vec<Incoming> = replies
        .iter()
        .map(|r| Incoming {
            author: &r.author,
            mail_from: Some(&r.author),
            subject: r.subject.as_deref(),
            body: &r.body,
            message_id: r.message_id.as_deref(),
            in_reply_to: r.in_reply_to.as_deref(),
            signed: r.signed,
            encrypted: r.encrypted,
            signature: r.signature,
            flag: r.flag,
            automatic: r.automatic,
            raw: Some(&r.raw),
            ..Default::default()
        })
        .collect();
    let items: Vec<(&[Owner], &Incoming)> = owners
        .iter()
        .map(Vec::as_slice)
        .zip(incoming.iter())
        .collect();
    let messages = conversations::record_many(tx, Direction::In, &items).await?;
    let first_reports: Vec<Option<i64>> = owners
        .iter()
        .map(|o| o.iter().find(|o| o.kind == REPORT).map(|o| o.id))
        .collect();

    // The mails' own rows say they joined a conversation, in one statement.
    let rows: Vec<serde_json::Value> = replies
        .iter()
        .zip(&first_reports)
        .map(|(r, first)| {
            json!({"id": r.mail, "thread_of": first, "subject": r.subject,
                   "reporter_email": r.reporter_email, "message_id": r.message_id})
        })
        .collect();
    use renkei_core::store::JsonCol::{Int, Text};
    let sql = format!(
        "UPDATE reports SET status = 'threaded', thread_of = j.thread_of, subject = j.subject, reporter_email = j.reporter_email, message_id = j.message_id
         FROM {} WHERE reports.id = j.id",
        renkei_core::store::json_rows(
            tx.dialect(),
            1,
            &[
                ("id", Int),
                ("thread_of", Int),
                ("subject", Text),
                ("reporter_email", Text),
                ("message_id", Text),
            ]
        )
    );
    sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(serde_json::Value::Array(rows).to_string())
        .execute(tx.conn())
        .await?;

    // The incidents each answer is about: those named, else (an answer in a
    // report's conversation) the report's.
    let mut of_report: HashMap<i64, Vec<i64>> = HashMap::new();
    let only_reports: Vec<i64> = owners
        .iter()
        .filter(|o| !o.iter().any(|o| o.kind == INCIDENT))
        .flatten()
        .filter(|o| o.kind == REPORT)
        .map(|o| o.id)
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    for chunk in only_reports.chunks(200) {
        let sql = format!(
            "SELECT report_id, id FROM incidents WHERE report_id IN ({}) ORDER BY id",
            renkei_core::store::placeholders(1, chunk.len())
        );
        let mut q = sqlx::query_as::<_, (i64, i64)>(sqlx::AssertSqlSafe(sql));
        for r in chunk {
            q = q.bind(*r);
        }
        for (r, i) in q.fetch_all(tx.conn()).await? {
            of_report.entry(r).or_default().push(i);
        }
    }
    let answers: Vec<Answer> = owners
        .iter()
        .zip(&messages)
        .map(|(owners, message)| {
            let named: Vec<i64> = owners
                .iter()
                .filter(|o| o.kind == INCIDENT)
                .map(|o| o.id)
                .collect();
            let reports: Vec<i64> = owners
                .iter()
                .filter(|o| o.kind == REPORT)
                .map(|o| o.id)
                .collect();
            let incidents = if named.is_empty() {
                reports
                    .iter()
                    .flat_map(|r| of_report.get(r).into_iter().flatten().copied())
                    .collect()
            } else {
                named
            };
            Answer {
                message: *message,
                incidents,
                reports,
            }
        })
        .collect();
    // An auto-reply ("I am out of office") is kept but changes nothing.
    let human: Vec<Answer> = answers
        .iter()
        .zip(&replies)
        .filter(|(_, r)| !r.automatic)
        .map(|(a, _)| a.clone())
        .collect();
    let resumed = answered_all(tx, &human, events).await?;
    for ((r, owners), message) in replies.iter().zip(&owners).zip(&messages) {
        events.push(Event {
            action: "conversation.reply",
            object_type: "message",
            object_id: message.to_string(),
            changes: json!({
                "mail": r.mail,
                "from": r.reporter_email,
                "threads": owners.iter().map(|o| format!("{}/{}", o.kind, o.id)).collect::<Vec<_>>(),
                "automatic": r.automatic,
                "signature": r.signature,
                "encrypted": r.encrypted,
                "resumed": resumed.get(message).cloned().unwrap_or_default(),
            }),
        });
    }
    Ok(first_reports)
}

/// An answer to incidents and reports, by the message that brought it.
#[derive(Debug, Clone)]
pub(crate) struct Answer {
    pub(crate) message: i64,
    pub(crate) incidents: Vec<i64>,
    pub(crate) reports: Vec<i64>,
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
    let answer = Answer {
        message,
        incidents: incidents.to_vec(),
        reports: reports.to_vec(),
    };
    let mut resumed = answered_all(tx, &[answer], events).await?;
    Ok(resumed.remove(&message).unwrap_or_default())
}

/// [`answered`] for many answers at once, in three statements; an incident
/// answered twice in the batch came back with the first. Returns the incidents
/// that came back, by message.
async fn answered_all(
    tx: &mut Tx,
    answers: &[Answer],
    events: &mut Vec<Event<'static>>,
) -> Result<HashMap<i64, Vec<i64>>> {
    let incidents: Vec<i64> = answers
        .iter()
        .flat_map(|a| a.incidents.iter().copied())
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    let reports: Vec<i64> = answers
        .iter()
        .flat_map(|a| a.reports.iter().copied())
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    let now = tx.now_str();
    let waiting: BTreeSet<i64> = tx
        .ids_among(
            "SELECT id FROM incidents WHERE state = 'waiting_for_reply' AND id IN ({ids})",
            &[],
            &incidents,
        )
        .await?
        .into_iter()
        .collect();
    tx.execute_for_ids(
        "UPDATE incidents SET reply_at = $1, updated_at = $1, state = CASE WHEN state = 'waiting_for_reply' THEN 'coordinating' ELSE state END WHERE id IN ({ids})",
        &[&now],
        &incidents,
    )
    .await?;
    tx.execute_for_ids(
        "UPDATE reports SET reply_at = $1 WHERE id IN ({ids})",
        &[&now],
        &reports,
    )
    .await?;
    let mut taken = BTreeSet::new();
    let mut resumed: HashMap<i64, Vec<i64>> = HashMap::new();
    for a in answers {
        let mine: Vec<i64> = a
            .incidents
            .iter()
            .copied()
            .filter(|i| waiting.contains(i) && taken.insert(*i))
            .collect();
        for i in &mine {
            events.push(Event {
                action: "incident.state_changed",
                object_type: "incident",
                object_id: i.to_string(),
                changes: json!({"state": {"old": "waiting_for_reply", "new": "coordinating"}, "because": {"message": a.message}}),
            });
        }
        resumed.insert(a.message, mine);
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
