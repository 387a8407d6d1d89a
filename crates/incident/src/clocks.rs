//! Clocks: what each open incident is owed, and by when. Three clocks run, each
//! with limits the team sets per category and TLP (`[clocks]`):
//!
//! - **first response**: from creation to the first mail a coordinator sends about
//!   the incident (to the reporter, the site or a partner; a notification counts);
//! - **reply wait**: a question left unanswered reminds the incident's owner, and
//!   after a further while goes to a second coordinator (escalation);
//! - **close**: from creation to resolved or closed.
//!
//! What falls due next is kept on the incident (`due_at`, `due_kind`) so that the
//! queue sorts and filters on an index. The database's triggers mark an incident
//! whenever its state, category, TLP or first response changes, whoever wrote it,
//! and [`settle`] brings the marked ones up to date with the team's limits (the
//! limits are configuration, so the database alone cannot). Readers settle before
//! they read; a worker settles and reminds every minute.
//!
//! # Layout
//! - [`Clocks`]: the limits, read from `[clocks]` ([`Clocks::from_config`]).
//! - [`Due`], [`Clocks::due_of`]: what falls due next for one incident (pure).
//! - [`settle`], [`settle_some`]: `due_at` brought up to date for the marked
//!   incidents (all of them, or what a reader can wait for).
//! - [`remind`]: owners reminded of unanswered questions, then escalation.
//! - [`overdue`]: counts for the dashboard and `/metrics`.
//! - [`durations`]: times to first response and to close, for the quarterly report.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Duration, Utc};
use renkei_core::Store;
use renkei_core::audit::{self, Actor, Event};
use renkei_core::config::ClocksConfig;
use renkei_core::time;
use renkei_mail::outbox::{self, NewMail};
use serde::Serialize;
use serde_json::json;

use crate::incidents::State;
use crate::{IncidentError, Result};

/// What falls due.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Due {
    /// Nobody has written about the incident yet.
    FirstResponse,
    /// A question is waiting for its answer.
    Reply,
    /// The incident should be closed by then.
    Close,
}

impl Due {
    pub const ALL: [Due; 3] = [Due::FirstResponse, Due::Reply, Due::Close];

    pub fn as_str(self) -> &'static str {
        match self {
            Due::FirstResponse => "first_response",
            Due::Reply => "reply",
            Due::Close => "close",
        }
    }

    pub fn parse(s: &str) -> Result<Due> {
        Due::ALL
            .into_iter()
            .find(|d| d.as_str() == s.trim())
            .ok_or_else(|| IncidentError::invalid("due", format!("unknown clock {s:?}")))
    }
}

/// The limits for one kind of incident; `None` is a clock turned off.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Limits {
    pub first_response: Option<Duration>,
    pub reply_wait: Option<Duration>,
    pub escalate_after: Option<Duration>,
    pub close: Option<Duration>,
}

/// Other limits for incidents of a category and TLP (`None`: any).
#[derive(Debug, Clone, PartialEq)]
struct Rule {
    category: Option<String>,
    tlp: Option<String>,
    first_response: Option<Option<Duration>>,
    reply_wait: Option<Option<Duration>>,
    escalate_after: Option<Option<Duration>>,
    close: Option<Option<Duration>>,
}

/// The team's clocks.
#[derive(Debug, Clone, PartialEq)]
pub struct Clocks {
    base: Limits,
    rules: Vec<Rule>,
    /// Who gets escalations; empty: the administrators.
    pub escalate_to: Vec<String>,
}

impl Default for Clocks {
    fn default() -> Self {
        Clocks::from_config(&ClocksConfig::default()).unwrap_or(Clocks {
            base: Limits::default(),
            rules: Vec::new(),
            escalate_to: Vec::new(),
        })
    }
}

fn hours(h: u64) -> Option<Duration> {
    (h > 0).then(|| Duration::hours(h.min(24 * 365 * 10) as i64))
}

/// "4h", "7d", "0" (off).
fn span(text: &str) -> Option<Option<Duration>> {
    let text = text.trim();
    if text == "0" {
        return Some(None);
    }
    let (n, unit) = text.split_at(text.len().checked_sub(1)?);
    let n: i64 = n.parse().ok().filter(|n| (0..=87_600).contains(n))?;
    let d = match unit {
        "h" => Duration::hours(n),
        "d" => Duration::days(n),
        _ => return None,
    };
    Some((n > 0).then_some(d))
}

impl Clocks {
    /// The clocks `[clocks]` sets; a rule that does not read says where.
    pub fn from_config(c: &ClocksConfig) -> Result<Clocks> {
        let base = Limits {
            first_response: hours(c.first_response_hours),
            reply_wait: hours(c.reply_wait_hours),
            escalate_after: hours(c.escalate_after_hours),
            close: hours(c.close_days.saturating_mul(24)),
        };
        let bad = |rule: &str, why: &str| {
            IncidentError::invalid("clocks.rules", format!("{rule:?}: {why}"))
        };
        let mut rules = Vec::new();
        for text in c.rules.split(';').map(str::trim).filter(|r| !r.is_empty()) {
            let (what, limits) = text
                .split_once(':')
                .ok_or_else(|| bad(text, "write category/tlp: first=4h …"))?;
            let (category, tlp) = what.trim().split_once('/').ok_or_else(|| {
                bad(
                    text,
                    "name the category and TLP as category/tlp (* for any)",
                )
            })?;
            let any = |s: &str| {
                let s = s.trim().to_ascii_lowercase();
                (s != "*").then_some(s)
            };
            let category = any(category);
            if let Some(c) = &category {
                crate::classify::Category::parse(c).map_err(|_| bad(text, "unknown category"))?;
            }
            let tlp = any(tlp);
            if let Some(t) = &tlp {
                renkei_core::tlp::Tlp::parse(t).map_err(|_| bad(text, "unknown TLP"))?;
            }
            let mut rule = Rule {
                category,
                tlp: tlp.map(|t| {
                    renkei_core::tlp::Tlp::parse(&t)
                        .map(|t| t.as_str().to_string())
                        .unwrap_or(t)
                }),
                first_response: None,
                reply_wait: None,
                escalate_after: None,
                close: None,
            };
            for item in limits.split_whitespace() {
                let (name, value) = item
                    .split_once('=')
                    .ok_or_else(|| bad(text, "limits read name=value, e.g. first=4h"))?;
                let value = span(value).ok_or_else(|| {
                    bad(
                        text,
                        "a limit is a number with h or d, e.g. 4h or 7d (0: off)",
                    )
                })?;
                match name {
                    "first" => rule.first_response = Some(value),
                    "reply" => rule.reply_wait = Some(value),
                    "escalate" => rule.escalate_after = Some(value),
                    "close" => rule.close = Some(value),
                    _ => return Err(bad(text, "the limits are first, reply, escalate and close")),
                }
            }
            rules.push(rule);
        }
        Ok(Clocks {
            base,
            rules,
            escalate_to: c.escalate_to.clone(),
        })
    }

    /// The limits for an incident of this category and TLP.
    pub fn limits(&self, category: Option<&str>, tlp: &str) -> Limits {
        let matches = |r: &&Rule| {
            r.category.as_deref().is_none_or(|c| Some(c) == category)
                && r.tlp.as_deref().is_none_or(|t| t == tlp)
        };
        match self.rules.iter().find(matches) {
            None => self.base,
            Some(r) => Limits {
                first_response: r.first_response.unwrap_or(self.base.first_response),
                reply_wait: r.reply_wait.unwrap_or(self.base.reply_wait),
                escalate_after: r.escalate_after.unwrap_or(self.base.escalate_after),
                close: r.close.unwrap_or(self.base.close),
            },
        }
    }

    /// What falls due next for an incident, and when: the earliest of the clocks
    /// running for it. Nothing once it is resolved or closed.
    pub fn due_of(&self, t: &Terms<'_>) -> Option<(DateTime<Utc>, Due)> {
        if !t.state.is_open() || t.state == State::Resolved {
            return None;
        }
        let limits = self.limits(t.category, t.tlp);
        let first = limits
            .first_response
            .filter(|_| t.first_response_at.is_none())
            .map(|d| (t.created_at + d, Due::FirstResponse));
        let reply = match (t.state, t.waiting_since, limits.reply_wait) {
            (State::WaitingForReply, Some(since), Some(d)) => Some((since + d, Due::Reply)),
            _ => None,
        };
        let close = limits.close.map(|d| (t.created_at + d, Due::Close));
        [first, reply, close].into_iter().flatten().min()
    }
}

/// What the clocks of one incident read.
#[derive(Debug, Clone)]
pub struct Terms<'a> {
    pub state: State,
    pub category: Option<&'a str>,
    pub tlp: &'a str,
    pub created_at: DateTime<Utc>,
    pub first_response_at: Option<DateTime<Utc>>,
    pub waiting_since: Option<DateTime<Utc>>,
}

#[derive(sqlx::FromRow)]
struct Marked {
    id: i64,
    state: State,
    category: Option<String>,
    tlp: String,
    created_at: String,
    first_response_at: Option<String>,
    waiting_since: Option<String>,
    due_stale: i64,
}

/// Brings `due_at` up to date for every incident whose terms changed since it was
/// last worked out (what the clock worker does). Returns how many were settled.
pub async fn settle(store: &Store, clocks: &Clocks) -> Result<u64> {
    settle_rounds(store, clocks, usize::MAX).await
}

/// What a reader does before it reads: settles up to 2,000 incidents, enough for
/// what people change by hand; after a bulk import the clock worker settles the
/// rest within the minute, and the page does not wait for it. Cheap when nothing
/// changed (one look at an index).
pub async fn settle_some(store: &Store, clocks: &Clocks) -> Result<u64> {
    settle_rounds(store, clocks, 1).await
}

async fn settle_rounds(store: &Store, clocks: &Clocks, rounds: usize) -> Result<u64> {
    let mut settled = 0;
    // Each round takes what is marked now; what is marked meanwhile waits for the
    // next round (or the next call), never lost: the update only clears the mark
    // it read. The order is the partial index's own: ordered by id alone, SQLite
    // walks every incident to find the few marked, on every request that settles.
    for _ in 0..rounds {
        let marked: Vec<Marked> = sqlx::query_as(
            "SELECT id, state, category, tlp, created_at, first_response_at, waiting_since, due_stale
             FROM incidents WHERE due_stale > 0 ORDER BY due_stale, id LIMIT 2000",
        )
        .fetch_all(store.pool())
        .await?;
        if marked.is_empty() {
            break;
        }
        let round = marked.len();
        let mut groups: BTreeMap<(Option<String>, Option<Due>, i64), Vec<i64>> = BTreeMap::new();
        for m in &marked {
            let read = |s: &Option<String>| s.as_deref().and_then(time::parse);
            let due = time::parse(&m.created_at).and_then(|created_at| {
                clocks.due_of(&Terms {
                    state: m.state,
                    category: m.category.as_deref(),
                    tlp: &m.tlp,
                    created_at,
                    first_response_at: read(&m.first_response_at),
                    waiting_since: read(&m.waiting_since),
                })
            });
            groups
                .entry((
                    due.map(|(at, _)| time::format(at)),
                    due.map(|(_, k)| k),
                    m.due_stale,
                ))
                .or_default()
                .push(m.id);
        }
        let mut tx = store.begin().await?;
        for ((at, kind, mark), ids) in groups {
            // The mark is a number of our own reading, not text from outside.
            let only = format!("due_stale = 0 WHERE due_stale = {mark} AND id IN ({{ids}})");
            settled += match (at, kind) {
                (Some(at), Some(kind)) => {
                    let sql = format!("UPDATE incidents SET due_at = $1, due_kind = $2, {only}");
                    tx.execute_for_ids(&sql, &[&at, kind.as_str()], &ids)
                        .await?
                }
                _ => {
                    let sql =
                        format!("UPDATE incidents SET due_at = NULL, due_kind = NULL, {only}");
                    tx.execute_for_ids(&sql, &[], &ids).await?
                }
            };
        }
        tx.commit().await?;
        if round < 2000 {
            break;
        }
    }
    Ok(settled)
}

/// How many open incidents are past each clock.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct Overdue {
    pub first_response: i64,
    pub reply: i64,
    pub close: i64,
}

impl Overdue {
    pub fn total(&self) -> i64 {
        self.first_response + self.reply + self.close
    }

    pub fn of(&self, due: Due) -> i64 {
        match due {
            Due::FirstResponse => self.first_response,
            Due::Reply => self.reply,
            Due::Close => self.close,
        }
    }
}

/// The open incidents past their clocks now.
pub async fn overdue(store: &Store, clocks: &Clocks) -> Result<Overdue> {
    settle_some(store, clocks).await?;
    let rows: Vec<(String, i64)> = sqlx::query_as(
        "SELECT due_kind, COUNT(*) FROM incidents WHERE due_at IS NOT NULL AND due_at <= $1 GROUP BY due_kind",
    )
    .bind(store.now_str())
    .fetch_all(store.pool())
    .await?;
    let mut o = Overdue::default();
    for (kind, n) in rows {
        match Due::parse(&kind) {
            Ok(Due::FirstResponse) => o.first_response = n,
            Ok(Due::Reply) => o.reply = n,
            Ok(Due::Close) => o.close = n,
            Err(_) => {}
        }
    }
    Ok(o)
}

/// Reminders and escalations sent by one [`remind`].
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct Reminded {
    /// Incidents whose owner was reminded.
    pub reminded: Vec<i64>,
    /// Incidents escalated.
    pub escalated: Vec<i64>,
    /// Mails queued.
    pub mails: usize,
}

#[derive(sqlx::FromRow)]
struct Waiting {
    id: i64,
    category: Option<String>,
    tlp: String,
    source_ip: Option<String>,
    waiting_since: Option<String>,
    reminded_at: Option<String>,
    owner_email: Option<String>,
    owner_lang: Option<String>,
}

/// One mail per person listing what they are reminded of: a busy coordinator gets
/// one mail a minute at most, not one per incident.
struct Letter {
    lang: String,
    incidents: Vec<(i64, Option<String>, String)>,
}

/// Reminds owners of questions waiting past the reply clock, and escalates those
/// still unanswered `escalate_after` later, by mail through the outbox. Each
/// incident is reminded once and escalated once per question. Incidents nobody
/// owns are escalated at once: there is no one else to remind.
pub async fn remind(
    store: &Store,
    clocks: &Clocks,
    settings: &crate::notify::Settings,
    public_url: &str,
) -> Result<Reminded> {
    settle(store, clocks).await?;
    let mut done = Reminded::default();
    if settings.from.trim().is_empty() {
        return Ok(done);
    }
    let now = store.now();
    let now_str = time::format(now);
    let waiting: Vec<Waiting> = sqlx::query_as(
        "SELECT i.id, i.category, i.tlp, i.source_ip, i.waiting_since, i.reminded_at,
                u.email AS owner_email, u.lang AS owner_lang
         FROM incidents i LEFT JOIN users u ON u.id = i.owner_id AND u.disabled_at IS NULL
         WHERE i.due_kind = 'reply' AND i.due_at <= $1 AND i.due_stale = 0
           AND i.state = 'waiting_for_reply' AND i.escalated_at IS NULL
         ORDER BY i.id LIMIT 2000",
    )
    .bind(&now_str)
    .fetch_all(store.pool())
    .await?;
    if waiting.is_empty() {
        return Ok(done);
    }
    let escalate_to =
        match clocks.escalate_to.is_empty() {
            false => clocks.escalate_to.clone(),
            true => sqlx::query_scalar(
                "SELECT email FROM users WHERE role = 'admin' AND disabled_at IS NULL ORDER BY id",
            )
            .fetch_all(store.pool())
            .await?,
        };
    let mut reminders: BTreeMap<String, Letter> = BTreeMap::new();
    let mut escalations: Vec<(i64, Option<String>, String)> = Vec::new();
    for w in waiting {
        let limits = clocks.limits(w.category.as_deref(), &w.tlp);
        let since = w.waiting_since.clone().unwrap_or_default();
        match (&w.reminded_at, &w.owner_email) {
            (None, Some(owner)) => {
                reminders
                    .entry(owner.clone())
                    .or_insert_with(|| Letter {
                        lang: w.owner_lang.clone().unwrap_or_else(|| "en".into()),
                        incidents: Vec::new(),
                    })
                    .incidents
                    .push((w.id, w.source_ip.clone(), since));
                done.reminded.push(w.id);
            }
            (Some(at), Some(_)) => {
                let after = limits.escalate_after.unwrap_or(Duration::zero());
                if limits.escalate_after.is_some()
                    && time::parse(at).is_some_and(|at| at + after <= now)
                {
                    escalations.push((w.id, w.source_ip.clone(), since));
                }
            }
            // Nobody owns it: there is no one to remind first.
            (_, None) => escalations.push((w.id, w.source_ip.clone(), since)),
        }
    }
    if escalate_to.is_empty() {
        escalations.clear();
    }
    done.escalated = escalations.iter().map(|e| e.0).collect();
    if done.reminded.is_empty() && done.escalated.is_empty() {
        return Ok(done);
    }
    let actor = Actor::system("clocks");
    let mut tx = store.begin().await?;
    // Claimed first, so that two callers at once never send the same reminder: the
    // second finds the incidents already marked.
    let reminded: BTreeSet<i64> = tx
        .ids_among(
            "UPDATE incidents SET reminded_at = $1 WHERE reminded_at IS NULL AND escalated_at IS NULL AND id IN ({ids}) RETURNING id",
            &[&now_str],
            &done.reminded,
        )
        .await?
        .into_iter()
        .collect();
    let escalated: BTreeSet<i64> = tx
        .ids_among(
            "UPDATE incidents SET escalated_at = $1, reminded_at = COALESCE(reminded_at, $1) WHERE escalated_at IS NULL AND id IN ({ids}) RETURNING id",
            &[&now_str],
            &done.escalated,
        )
        .await?
        .into_iter()
        .collect();
    done.reminded.retain(|i| reminded.contains(i));
    done.escalated.retain(|i| escalated.contains(i));
    for letter in reminders.values_mut() {
        letter.incidents.retain(|(i, _, _)| reminded.contains(i));
    }
    reminders.retain(|_, l| !l.incidents.is_empty());
    escalations.retain(|(i, _, _)| escalated.contains(i));
    for (to, letter) in &reminders {
        let (subject, body) = reminder_text(&letter.lang, &letter.incidents, public_url);
        let first = letter.incidents[0].0;
        queue(
            &mut tx,
            settings,
            to,
            &subject,
            &body,
            "incident.reminder",
            first,
        )
        .await?;
        done.mails += 1;
    }
    if !escalations.is_empty() {
        let (subject, body) = escalation_text(&escalations, public_url);
        queue(
            &mut tx,
            settings,
            &escalate_to.join(", "),
            &subject,
            &body,
            "incident.escalation",
            escalations[0].0,
        )
        .await?;
        done.mails += 1;
    }
    let mut events = Vec::new();
    for (to, letter) in &reminders {
        for (id, _, since) in &letter.incidents {
            events.push(Event {
                action: "incident.reminded",
                object_type: "incident",
                object_id: id.to_string(),
                changes: json!({"to": to, "waiting_since": since}),
            });
        }
    }
    for (id, _, since) in &escalations {
        events.push(Event {
            action: "incident.escalated",
            object_type: "incident",
            object_id: id.to_string(),
            changes: json!({"to": escalate_to, "waiting_since": since}),
        });
    }
    audit::record_many(&mut tx, &actor, events).await?;
    tx.commit().await?;
    Ok(done)
}

async fn queue(
    tx: &mut renkei_core::store::Tx,
    settings: &crate::notify::Settings,
    to: &str,
    subject: &str,
    body: &str,
    kind: &str,
    first_incident: i64,
) -> Result<i64> {
    // A drill's reminder goes where all its mail goes.
    let exercise: i64 = sqlx::query_scalar("SELECT exercise FROM incidents WHERE id = $1")
        .bind(first_incident)
        .fetch_optional(tx.conn())
        .await?
        .unwrap_or(0);
    Ok(outbox::enqueue(
        tx,
        NewMail {
            kind,
            object_type: "incident",
            object_id: first_incident.to_string(),
            from: &settings.from,
            to,
            cc: "",
            subject,
            body,
            in_reply_to: None,
            auto_reply: true,
            attachments: &[],
            sign: settings.team_key.as_ref(),
            encrypt_to: &[],
            exercise: exercise != 0,
        },
    )
    .await?)
}

fn lines(incidents: &[(i64, Option<String>, String)], public_url: &str) -> String {
    incidents
        .iter()
        .map(|(id, ip, since)| {
            format!(
                "- #{id} {} ({since}) {}/incidents/{id}",
                ip.as_deref().unwrap_or("-"),
                public_url.trim_end_matches('/')
            )
        })
        .collect::<Vec<_>>()
        .join("\n")
}

fn reminder_text(
    lang: &str,
    incidents: &[(i64, Option<String>, String)],
    public_url: &str,
) -> (String, String) {
    let n = incidents.len();
    let list = lines(incidents, public_url);
    if lang == "ja" {
        (
            format!("[Renkei] 返信待ちの期限を過ぎたインシデント {n} 件"),
            format!(
                "担当のインシデントのうち、次の {n} 件は問い合わせへの返信を待つ期限を過ぎました。\n\
                 催促するか、状態を見直してください。\n\n{list}\n\n\
                 このまま返信がなければ、エスカレーション先にも知らせます。\n"
            ),
        )
    } else {
        (
            format!("[Renkei] {n} incident(s) past their reply wait"),
            format!(
                "These {n} incident(s) of yours have waited for an answer longer than the team's limit.\n\
                 Write again, or move them on.\n\n{list}\n\n\
                 If no answer comes, they go to the escalation contact as well.\n"
            ),
        )
    }
}

/// Escalations go to addresses, not accounts: both languages, Japanese first.
fn escalation_text(
    incidents: &[(i64, Option<String>, String)],
    public_url: &str,
) -> (String, String) {
    let n = incidents.len();
    let list = lines(incidents, public_url);
    (
        format!(
            "[Renkei] エスカレーション: 返信のないインシデント {n} 件 / Escalation: {n} incident(s) without an answer"
        ),
        format!(
            "次の {n} 件は、問い合わせへの返信がないまま、担当者への催促の後も期限を過ぎました（担当者のいないものを含みます）。\n\
             The following {n} incident(s) are still without an answer after their owner was reminded (or have no owner).\n\n\
             {list}\n"
        ),
    )
}

/// The `p`-th percentile (nearest rank) of sorted values.
pub fn percentile(sorted: &[i64], p: f64) -> Option<i64> {
    if sorted.is_empty() {
        return None;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    Some(sorted[rank.clamp(1, sorted.len()) - 1])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> DateTime<Utc> {
        time::parse(s).unwrap()
    }

    fn config(rules: &str) -> ClocksConfig {
        ClocksConfig {
            rules: rules.into(),
            ..ClocksConfig::default()
        }
    }

    #[test]
    fn rules_override_the_limits_they_name_for_their_category_and_tlp_first_match_wins() {
        let c = Clocks::from_config(&config(
            "phishing/*: first=4h close=7d; */red: first=2h reply=0",
        ))
        .unwrap();
        // Incidents keep their TLP as its label.
        let base = c.limits(Some("scan"), "TLP:AMBER");
        assert_eq!(base.first_response, Some(Duration::hours(24)));
        assert_eq!(base.close, Some(Duration::days(30)));
        let phishing = c.limits(Some("phishing"), "TLP:RED");
        assert_eq!(phishing.first_response, Some(Duration::hours(4)));
        assert_eq!(phishing.close, Some(Duration::days(7)));
        assert_eq!(
            phishing.reply_wait,
            Some(Duration::hours(72)),
            "first match wins"
        );
        let red = c.limits(Some("scan"), "TLP:RED");
        assert_eq!(red.first_response, Some(Duration::hours(2)));
        assert_eq!(red.reply_wait, None, "0 turns the clock off");
    }

    #[test]
    fn a_rule_that_does_not_read_is_refused_with_what_is_wrong() {
        for (rule, why) in [
            ("phishing: first=4h", "category/tlp"),
            ("phishing/*: first=4", "h or d"),
            ("phishing/*: soon=4h", "first, reply"),
            ("nonsense/*: first=4h", "unknown category"),
            ("*/purple: first=4h", "unknown TLP"),
            ("*/* first=4h", "category/tlp:"),
        ] {
            let e = Clocks::from_config(&config(rule)).unwrap_err().to_string();
            assert!(e.contains(why) && e.contains("clocks.rules"), "{rule}: {e}");
        }
    }

    #[test]
    fn what_falls_due_is_the_earliest_running_clock() {
        let c = Clocks::default();
        let created = at("2026-12-01T00:00:00Z");
        let mut t = Terms {
            state: State::New,
            category: Some("scan"),
            tlp: "TLP:AMBER",
            created_at: created,
            first_response_at: None,
            waiting_since: None,
        };
        assert_eq!(
            c.due_of(&t),
            Some((created + Duration::hours(24), Due::FirstResponse))
        );
        t.first_response_at = Some(created + Duration::hours(1));
        assert_eq!(
            c.due_of(&t),
            Some((created + Duration::days(30), Due::Close))
        );
        t.state = State::WaitingForReply;
        t.waiting_since = Some(created + Duration::hours(2));
        assert_eq!(
            c.due_of(&t),
            Some((created + Duration::hours(74), Due::Reply))
        );
        t.state = State::Resolved;
        assert_eq!(c.due_of(&t), None);
        t.state = State::Closed;
        assert_eq!(c.due_of(&t), None);
    }

    #[test]
    fn percentiles_take_the_nearest_rank() {
        let v: Vec<i64> = (1..=10).collect();
        assert_eq!(percentile(&v, 50.0), Some(5));
        assert_eq!(percentile(&v, 90.0), Some(9));
        assert_eq!(percentile(&[7], 90.0), Some(7));
        assert_eq!(percentile(&[], 50.0), None);
    }
}
