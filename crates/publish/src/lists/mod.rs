//! Mailing lists: readers subscribe with double opt-in (a confirmation link by
//! mail), in Japanese or English, and leave with one click (RFC 8058). Sending an
//! alert or a weekly report to a list writes one delivery per subscriber; the
//! [`ListSender`] works through them over pooled relay connections and marks each
//! one sent as the relay takes it, so a send stopped by a crash resumes where it
//! was. A message whose fate a crash left unknown (handed to the relay, not yet
//! marked) goes again under the same Message-ID, which mail clients use to show it
//! once.
//!
//! # Layout
//! - here: the lists and their subscribers (double opt-in, one-click leave, import);
//! - [`sends`]: a send of an alert or weekly report to a list, and its progress;
//! - [`sender`]: the [`ListSender`] that delivers them, and bounces.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration as StdDuration;

use chrono::{DateTime, Duration, Utc};
use renkei_core::access::UserInfo;
use renkei_core::audit::{self, Actor, Event};
use renkei_core::i18n::catalog;
use renkei_core::jobs::Queue;
use renkei_core::lang::Lang;
use renkei_core::secrets::random_token;
use renkei_core::tlp::Tlp;
use renkei_core::{Store, time};
use renkei_mail::compose::{ListBody, ListMail, compose_list, list_body};
use renkei_mail::{NewMail, RelayClient, TeamKey};
use serde::Serialize;
use serde_json::json;
use sha2::{Digest, Sha256};
use sqlx::AssertSqlSafe;

use crate::alerts::{self, Viewer};
use crate::{PublishError, Result, markdown, weekly};

mod sender;
mod sends;

pub use sender::*;
pub use sends::*;

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

#[derive(Debug, Clone, Serialize, PartialEq, sqlx::FromRow)]
pub struct MailingList {
    pub slug: String,
    pub name_ja: String,
    pub name_en: String,
    pub subscribers: i64,
}

pub async fn lists(store: &Store) -> Result<Vec<MailingList>> {
    Ok(sqlx::query_as(
        "SELECT l.slug, l.name_ja, l.name_en, (SELECT COUNT(*) FROM subscribers s WHERE s.list_id = l.id AND s.status = 'active') AS subscribers FROM mailing_lists l ORDER BY l.id",
    )
    .fetch_all(store.pool())
    .await?)
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
    let (id, status): (i64, String) =
        sqlx::query_as("SELECT id, status FROM subscribers WHERE list_id = $1 AND email_key = $2")
            .bind(list)
            .bind(&key)
            .fetch_one(tx.conn())
            .await?;
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
    let (name_ja, name_en): (String, String) =
        sqlx::query_as("SELECT name_ja, name_en FROM mailing_lists WHERE id = $1")
            .bind(list)
            .fetch_one(tx.conn())
            .await?;
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
            cc: "",
            encrypt_to: &[],
            exercise: false,
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
    sqlx::query_as(
        "SELECT l.slug, s.email, s.status FROM subscribers s JOIN mailing_lists l ON l.id = s.list_id WHERE s.token = $1",
    )
    .bind(token.trim())
    .fetch_optional(store.pool())
    .await?
    .ok_or(PublishError::NotFound("subscription"))
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

#[cfg(test)]
mod tests {
    use super::*;

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
}
