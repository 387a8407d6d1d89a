//! Sensors gone silent: a sensor that has sent nothing for a day is either down or
//! cut off, and the counts it should add are missing from every chart. The
//! dashboard shows the silent ones; the administrators are told once per outage by
//! mail, in their language.

use chrono::{DateTime, Duration, Utc};
use renkei_core::audit::{self, Actor, Event};
use renkei_core::i18n::catalog;
use renkei_core::{Store, time};
use serde::Serialize;
use serde_json::json;

use crate::Result;

/// How long a sensor may stay quiet before it counts as silent.
pub const SILENT_AFTER_HOURS: i64 = 24;

/// A sensor that has sent nothing since `since` (its last batch, or its
/// registration when it never sent one).
#[derive(Debug, Clone, Serialize, PartialEq, sqlx::FromRow)]
pub struct Silent {
    pub id: i64,
    pub name: String,
    pub location: String,
    pub last_batch_at: Option<String>,
    pub since: String,
}

/// The enabled sensors that have sent nothing for `after` at `now`, the longest
/// silent first.
pub async fn silent(store: &Store, now: DateTime<Utc>, after: Duration) -> Result<Vec<Silent>> {
    let before = time::format(now - after);
    Ok(sqlx::query_as(
        "SELECT id, name, location, last_batch_at, COALESCE(last_batch_at, created_at) AS since
         FROM sensors WHERE disabled = 0 AND COALESCE(last_batch_at, created_at) < $1
         ORDER BY COALESCE(last_batch_at, created_at), name",
    )
    .bind(before)
    .fetch_all(store.pool())
    .await?)
}

/// Tells the administrators of sensors that fell silent and were not warned of
/// since they last spoke; returns the sensors warned of. Each is claimed in the
/// same transaction as the mail is queued, so two nodes never both warn. Times in
/// the mail are the team's (`zone`).
pub async fn warn(
    store: &Store,
    from: &str,
    zone: chrono::FixedOffset,
    now: DateTime<Utc>,
) -> Result<Vec<i64>> {
    let silent = silent(store, now, Duration::hours(SILENT_AFTER_HOURS)).await?;
    if silent.is_empty() {
        return Ok(Vec::new());
    }
    let admins = renkei_core::accounts::admin_addresses(store).await?;
    if admins.is_empty() || from.trim().is_empty() {
        return Ok(Vec::new());
    }
    let now_str = time::format(now);
    let mut tx = store.begin().await?;
    let mut warned = Vec::new();
    for s in &silent {
        let claimed = sqlx::query(
            "UPDATE sensors SET outage_warned_at = $1 WHERE id = $2
             AND (outage_warned_at IS NULL OR outage_warned_at < COALESCE(last_batch_at, created_at))",
        )
        .bind(&now_str)
        .bind(s.id)
        .execute(tx.conn())
        .await?
        .rows_affected();
        if claimed == 1 {
            warned.push(s);
        }
    }
    if warned.is_empty() {
        tx.commit().await?;
        return Ok(Vec::new());
    }
    for (to, lang) in &admins {
        let words = catalog(*lang);
        let lines: Vec<String> = warned
            .iter()
            .map(|s| {
                words.fill(
                    "observe.outage_line",
                    &[
                        ("name", &s.name),
                        ("location", &s.location),
                        ("since", &time::shown_str(&s.since, zone)),
                    ],
                )
            })
            .collect();
        let subject = words.fill("observe.outage_subject", &[("n", &warned.len())]);
        let body = words.fill(
            "observe.outage_body",
            &[
                ("sensors", &lines.join("\n")),
                ("hours", &SILENT_AFTER_HOURS),
            ],
        );
        renkei_mail::outbox::enqueue(
            &mut tx,
            renkei_mail::outbox::NewMail {
                kind: "sensor.outage",
                object_type: "sensor",
                object_id: warned[0].id.to_string(),
                from,
                to,
                cc: "",
                subject: &subject,
                body: &body,
                in_reply_to: None,
                auto_reply: false,
                attachments: &[],
                sign: None,
                encrypt_to: &[],
                exercise: false,
            },
        )
        .await?;
    }
    let ids: Vec<i64> = warned.iter().map(|s| s.id).collect();
    audit::record(
        &mut tx,
        &Actor::system("observe"),
        Event {
            action: "sensor.outage_warned",
            object_type: "sensor",
            object_id: ids
                .iter()
                .map(i64::to_string)
                .collect::<Vec<_>>()
                .join(","),
            changes: json!({"sensors": warned.iter().map(|s| &s.name).collect::<Vec<_>>(), "admins": admins.len()}),
        },
    )
    .await?;
    tx.commit().await?;
    Ok(ids)
}
