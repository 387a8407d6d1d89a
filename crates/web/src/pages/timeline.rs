//! One timeline for a report, or for one of its incidents: mail in and out, notes,
//! and what happened to the incidents (state changes, assignments, notifications),
//! in time order, in the reader's language, with a filter.

use renkei_core::Store;
use renkei_core::audit::{self, AuditEntry};
use renkei_core::i18n::Catalog;
use renkei_incident::incidents;
use renkei_mail::conversations::Message;
use serde::Deserialize;
use serde_json::Value;

use crate::http::error::AppError;

/// One line of the timeline: a message, or something that happened.
pub struct Entry {
    pub at: String,
    pub message: Option<Message>,
    pub event: Option<Happened>,
}

pub struct Happened {
    pub actor: String,
    pub words: String,
}

/// `?show=` (all, mail, notes, events) and `?incident=` (one incident's).
#[derive(Debug, Default, Clone, Deserialize)]
pub struct TimelineQuery {
    pub show: Option<String>,
    pub incident: Option<i64>,
}

impl TimelineQuery {
    /// The filter asked for, one of [`SHOWS`] (all when none or an unknown one).
    pub fn show(&self) -> &'static str {
        match self.show.as_deref() {
            Some("mail") => "mail",
            Some("notes") => "notes",
            Some("events") => "events",
            _ => "all",
        }
    }
}

/// The filters offered, in order.
pub const SHOWS: [&str; 4] = ["all", "mail", "notes", "events"];

pub async fn build(
    store: &Store,
    words: &'static Catalog,
    report: i64,
    incidents_of_report: &[i64],
    q: &TimelineQuery,
) -> Result<Vec<Entry>, AppError> {
    let focus = q.incident.filter(|i| incidents_of_report.contains(i));
    let messages = match focus {
        Some(i) => incidents::incident_thread(store, i).await?,
        None => incidents::thread(store, report).await?,
    };
    let mut out: Vec<Entry> = Vec::new();
    let show = q.show();
    for m in messages {
        let is_note = m.direction.as_str() == "note";
        if show == "all" || (show == "notes" && is_note) || (show == "mail" && !is_note) {
            out.push(Entry {
                at: m.created_at.clone(),
                message: Some(m),
                event: None,
            });
        }
    }
    if show == "all" || show == "events" {
        let ids: Vec<i64> = match focus {
            Some(i) => vec![i],
            None => incidents_of_report.to_vec(),
        };
        for i in ids {
            for e in audit::for_object(store, "incident", &i.to_string()).await? {
                if let Some(w) = event_words(words, i, &e) {
                    out.push(Entry {
                        at: e.at.clone(),
                        message: None,
                        event: Some(Happened {
                            actor: e.actor,
                            words: w,
                        }),
                    });
                }
            }
        }
    }
    out.sort_by(|a, b| a.at.cmp(&b.at));
    Ok(out)
}

/// The old and new value of a change, as either form of the audit row keeps it.
fn old_new(v: &Value) -> (Option<&str>, Option<&str>) {
    match v {
        Value::Array(a) => (
            a.first().and_then(Value::as_str),
            a.get(1).and_then(Value::as_str),
        ),
        Value::Object(o) => (
            o.get("old").and_then(Value::as_str),
            o.get("new").and_then(Value::as_str),
        ),
        _ => (None, None),
    }
}

/// What an audit row of an incident says, in the reader's words; `None` for the
/// rows a timeline leaves to the audit log.
fn event_words(words: &'static Catalog, incident: i64, e: &AuditEntry) -> Option<String> {
    let n: &dyn std::fmt::Display = &incident;
    Some(match e.action.as_str() {
        "incident.state_changed" => {
            let (old, new) = old_new(&e.changes["state"]);
            let old = old.map(|s| words.name("incident_state", s)).unwrap_or("—");
            let new = new.map(|s| words.name("incident_state", s)).unwrap_or("—");
            words.fill(
                "timeline.state_changed",
                &[("incident", n), ("old", &old), ("new", &new)],
            )
        }
        "incident.assigned" => words.fill("timeline.assigned", &[("incident", n)]),
        "incident.tlp_changed" => {
            let (_, new) = old_new(&e.changes["tlp"]);
            let new = new.unwrap_or("—");
            words.fill("timeline.tlp_changed", &[("incident", n), ("tlp", &new)])
        }
        "incident.notified" => {
            let to = e.changes["recipient"].as_str().unwrap_or("—");
            words.fill("timeline.notified", &[("incident", n), ("recipient", &to)])
        }
        "incident.enriched" => words.fill("timeline.enriched", &[("incident", n)]),
        "incident.merged" => words.fill("timeline.merged", &[("incident", n)]),
        "incident.takedown_requested" => {
            let url = e.changes["url"].as_str().unwrap_or("—");
            words.fill(
                "timeline.takedown_requested",
                &[("incident", n), ("url", &url)],
            )
        }
        "incident.takedown_checked" | "incident.takedown_back" => {
            let url = e.changes["url"].as_str().unwrap_or("—");
            let result = words.name(
                "takedown_result",
                e.changes["result"].as_str().unwrap_or(""),
            );
            let key = match e.action.as_str() {
                "incident.takedown_back" => "timeline.takedown_back",
                _ => "timeline.takedown_checked",
            };
            words.fill(key, &[("incident", n), ("url", &url), ("result", &result)])
        }
        "incident.reminded" => words.fill("timeline.reminded", &[("incident", n)]),
        "incident.escalated" => words.fill("timeline.escalated", &[("incident", n)]),
        _ => return None,
    })
}
