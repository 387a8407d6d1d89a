//! The reporter's status page, opened by the secret link of the confirmation: the
//! report's state in plain words, the messages coordinators chose to share, and a
//! form to add information, which joins the conversation as an answer does. No
//! account; nothing of any other report.

use chrono::Duration;
use renkei_core::audit::{self, Actor, Event};
use renkei_core::{Store, time};
use renkei_mail::conversations::{self, Direction, Incoming, Message, Owner, links};
use serde::Serialize;
use serde_json::json;

use crate::incidents::{self, State};
use crate::replies::REPORT;
use crate::{IncidentError, Result};

/// Where a report stands, as a reporter reads it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Standing {
    /// Received, not yet looked at.
    Received,
    /// Coordinators are working on it.
    InProgress,
    /// Coordinators are in contact with those involved and wait for an answer.
    InContact,
    /// Done.
    Closed,
}

impl Standing {
    pub fn as_str(self) -> &'static str {
        match self {
            Standing::Received => "received",
            Standing::InProgress => "in_progress",
            Standing::InContact => "in_contact",
            Standing::Closed => "closed",
        }
    }

    fn of(states: &[State]) -> Standing {
        // Resolved is done, as far as the reporter is concerned.
        let open: Vec<State> = states
            .iter()
            .copied()
            .filter(|s| s.is_open() && *s != State::Resolved)
            .collect();
        if open.is_empty() {
            return if states.is_empty() {
                Standing::Received
            } else {
                Standing::Closed
            };
        }
        if open.contains(&State::WaitingForReply) {
            Standing::InContact
        } else if open.iter().any(|s| *s != State::New) {
            Standing::InProgress
        } else {
            Standing::Received
        }
    }
}

/// What the reporter sees.
#[derive(Debug, Clone, Serialize)]
pub struct StatusView {
    pub report: i64,
    pub received_at: String,
    pub subject: Option<String>,
    pub standing: Standing,
    /// The messages shared with the reporter, and what the reporter added.
    pub messages: Vec<Message>,
}

async fn report_of(store: &Store, secret: &str) -> Result<Option<i64>> {
    Ok(links::open(store, secret)
        .await?
        .filter(|o| o.kind == REPORT)
        .map(|o| o.id))
}

/// The status page a secret opens, or nothing (wrong, revoked or expired alike).
pub async fn view(store: &Store, secret: &str) -> Result<Option<StatusView>> {
    let Some(id) = report_of(store, secret).await? else {
        return Ok(None);
    };
    let report = incidents::report(store, id).await?;
    let mut states = Vec::new();
    for i in &report.incidents {
        states.push(incidents::get(store, *i).await?.state);
    }
    let messages = conversations::thread(store, &[Owner::new(REPORT, id)])
        .await?
        .into_iter()
        .filter(|m| m.shared)
        .collect();
    Ok(Some(StatusView {
        report: id,
        received_at: report.received_at,
        subject: report.subject,
        standing: Standing::of(&states),
        messages,
    }))
}

/// Adds the reporter's text to the conversation; `None` when the secret opens
/// nothing. It counts as an answer: waiting incidents come back to their
/// coordinator, marked.
pub async fn add(
    store: &Store,
    secret: &str,
    text: &str,
    files: &[incidents::Upload],
) -> Result<Option<i64>> {
    let text = text.trim();
    if text.is_empty() && files.is_empty() {
        return Err(IncidentError::invalid("text", "write what you want to add"));
    }
    if text.chars().count() > 20_000 {
        return Err(IncidentError::invalid("text", "at most 20,000 characters"));
    }
    let Some(id) = report_of(store, secret).await? else {
        return Ok(None);
    };
    let report = incidents::report(store, id).await?;
    let author = report
        .reporter_email
        .clone()
        .unwrap_or_else(|| "reporter".into());
    let mut tx = store.begin().await?;
    let owner = Owner::new(REPORT, id);
    // The files become files of the report; the message names them.
    let added = incidents::add_files(&mut tx, id, files, "reporter (status page)").await?;
    let mut body = text.to_string();
    for ((_, name), f) in added.iter().zip(files) {
        body.push_str(&format!("\n[{name} ({} B)]", f.data.len()));
    }
    let message = conversations::record(
        &mut tx,
        std::slice::from_ref(&owner),
        Direction::In,
        &Incoming {
            author: &author,
            body: body.trim(),
            flag: Some("status_page"),
            ..Default::default()
        },
    )
    .await?;
    // Shown back to the reporter with the rest.
    conversations::share(&mut tx, message, true).await?;
    let mut events = Vec::new();
    let resumed =
        crate::replies::answered(&mut tx, &report.incidents, &[id], message, &mut events).await?;
    events.insert(
        0,
        Event {
            action: "conversation.reply",
            object_type: "message",
            object_id: message.to_string(),
            changes: json!({"threads": [format!("{REPORT}/{id}")], "via": "status_page", "resumed": resumed}),
        },
    );
    audit::record_many(&mut tx, &Actor::system("status page"), events).await?;
    tx.commit().await?;
    Ok(Some(message))
}

/// Ends the report's status links (a reporter who forwarded the mail by mistake).
pub async fn revoke(store: &Store, actor: &Actor, report: i64) -> Result<u64> {
    incidents::report(store, report).await?;
    let mut tx = store.begin().await?;
    let n = links::revoke(&mut tx, &Owner::new(REPORT, report)).await?;
    audit::record(
        &mut tx,
        actor,
        Event {
            action: "report.status_link_revoked",
            object_type: REPORT,
            object_id: report.to_string(),
            changes: json!({"links": n}),
        },
    )
    .await?;
    tx.commit().await?;
    Ok(n)
}

/// Sends the reporter a new link (the old ones end), as a shared message of the
/// conversation.
pub async fn send_new_link(
    store: &Store,
    settings: &crate::notify::Settings,
    intake: &crate::Settings,
    actor: &Actor,
    report: i64,
) -> Result<i64> {
    let r = incidents::report(store, report).await?;
    let to = r
        .reporter_email
        .clone()
        .filter(|e| !e.trim().is_empty())
        .ok_or_else(|| {
            IncidentError::invalid("reporter_email", "the report has no reporter address")
        })?;
    if settings.from.trim().is_empty() || intake.public_url.is_empty() {
        return Err(IncidentError::invalid(
            "mail.from",
            "set the team's sender address and server.public_url first",
        ));
    }
    let days = intake.status_link_days.max(1);
    let owner = Owner::new(REPORT, report);
    let mut tx = store.begin().await?;
    links::revoke(&mut tx, &owner).await?;
    let until = time::format(tx.now() + Duration::days(days));
    let secret = links::issue(&mut tx, &owner, &until).await?;
    let exercise = crate::exercise::of_owners(&mut tx, std::slice::from_ref(&owner)).await?;
    let subject = format!("[RENKEI#{report}] 対応状況のページ / Your report's status page");
    let body = format!(
        "受付番号 #{report} の対応状況のページへのリンクを新しくお送りします。以前のリンクは使えなくなりました。\n\
         Here is a new link to the status page of report #{report}; the earlier one no longer works.\n{}",
        crate::reports::status_link_text(&intake.public_url, &secret)
    );
    let sent = conversations::send(
        &mut tx,
        std::slice::from_ref(&owner),
        &conversations::Outgoing {
            kind: "report.status_link",
            author: actor,
            from: &settings.from,
            to: std::slice::from_ref(&to),
            cc: &[],
            subject: &subject,
            body: &body,
            template: None,
            in_reply_to: None,
            attachments: &[],
            sign: settings.team_key.as_ref(),
            encrypt_to: &[],
            shared: false,
            expects_reply: false,
            automatic: true,
            exercise,
        },
    )
    .await?;
    audit::record(
        &mut tx,
        actor,
        Event {
            action: "report.status_link_sent",
            object_type: REPORT,
            object_id: report.to_string(),
            changes: json!({"to": to, "message": sent.message}),
        },
    )
    .await?;
    tx.commit().await?;
    Ok(sent.message)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_report_stands_where_its_least_advanced_open_incident_does() {
        use State::*;
        assert_eq!(Standing::of(&[]), Standing::Received);
        assert_eq!(Standing::of(&[New, New]), Standing::Received);
        assert_eq!(Standing::of(&[New, Coordinating]), Standing::InProgress);
        assert_eq!(
            Standing::of(&[Coordinating, WaitingForReply]),
            Standing::InContact
        );
        assert_eq!(Standing::of(&[Closed, Resolved]), Standing::Closed);
        assert_eq!(Standing::of(&[Closed, Triaged]), Standing::InProgress);
    }
}
