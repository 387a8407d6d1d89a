//! The sender: takes deliveries in batches (a lease each, so another node takes
//! over from one that stops), sends them over pooled relay connections, marks each
//! as the relay answers, and removes addresses that bounce for good.

use super::*;

const BATCH: i64 = 1000;
/// Permanent refusals (5xx at RCPT or DATA) before an address is removed.
const BOUNCES_TO_REMOVE: i64 = 3;

/// A send's deliveries as shared work: the senders of every node take them in
/// batches, and a batch whose sender stops goes back.
const DELIVERIES: Queue = Queue {
    table: "list_deliveries",
    key: "send_id, subscriber_id",
    // A delivery that failed for now waits out its backoff in its lease.
    waiting: "status = 'queued'",
    due: None,
    take: "status = 'sending', attempts = attempts + 1",
    taken: "status = 'sending'",
    give_back: "status = 'queued'",
};

struct Claimed {
    send_id: i64,
    subscriber_id: i64,
    email: String,
    lang: String,
    token: String,
}

/// A send's subject, signed body and List-Id in one language.
type Prepared = (String, Arc<ListBody>, String);

/// List deliveries waiting and being sent, over every send.
pub async fn depth(store: &Store) -> Result<(i64, i64)> {
    Ok(sqlx::query_as(
        "SELECT CAST(COALESCE(SUM(CASE WHEN status = 'queued' THEN 1 ELSE 0 END), 0) AS BIGINT) AS q,
                CAST(COALESCE(SUM(CASE WHEN status = 'sending' THEN 1 ELSE 0 END), 0) AS BIGINT) AS s
         FROM list_deliveries WHERE status IN ('queued', 'sending')",
    )
    .fetch_one(store.pool())
    .await?)
}

/// Works through queued deliveries of every send.
pub struct ListSender {
    store: Store,
    settings: Settings,
    /// Bodies signed once per send and language.
    bodies: Mutex<HashMap<(i64, Lang), Prepared>>,
}

fn message_id(send: i64, subscriber: i64, from: &str) -> String {
    let digest = hex::encode(Sha256::digest(
        format!("list {send} {subscriber}").as_bytes(),
    ));
    let domain = from
        .rsplit_once('@')
        .map(|(_, d)| d.trim_end_matches('>'))
        .unwrap_or("renkei.invalid");
    format!("list.{send}.{subscriber}.{}@{domain}", &digest[..10])
}

impl ListSender {
    pub fn build(store: Store, settings: Settings) -> ListSender {
        ListSender {
            store,
            settings,
            bodies: Mutex::new(HashMap::new()),
        }
    }

    /// Sends until `shutdown` resolves.
    pub async fn run(self, shutdown: impl std::future::Future<Output = ()> + Send) {
        if self.settings.relay.is_empty() || self.settings.from.is_empty() {
            return;
        }
        let relay = match RelayClient::new(&self.settings.relay, self.settings.connections) {
            Ok(r) => r,
            Err(e) => {
                tracing::warn!(error = %e, "mailing lists cannot send");
                return;
            }
        };
        tokio::pin!(shutdown);
        loop {
            let pause = match self.pass(&relay).await {
                Ok(0) => StdDuration::from_secs(self.settings.idle_secs.max(1)),
                Ok(_) => StdDuration::ZERO,
                Err(e) => {
                    tracing::warn!(error = %e, "list delivery pass failed; will retry");
                    StdDuration::from_secs(5)
                }
            };
            tokio::select! {
                _ = &mut shutdown => return,
                _ = tokio::time::sleep(pause) => {}
            }
        }
    }

    /// One batch: claims up to [`BATCH`] deliveries and sends them; returns how many
    /// were claimed.
    pub async fn pass(&self, relay: &RelayClient) -> Result<usize> {
        let now = self.store.now();
        let claimed = self.claim().await?;
        if claimed.is_empty() {
            self.finish(now).await?;
            return Ok(0);
        }
        // Results go to one marker, in order of arrival: one writer does not wait
        // on the database's write lock the way many would.
        let (done_tx, mut done_rx) =
            tokio::sync::mpsc::unbounded_channel::<(i64, i64, std::result::Result<(), String>)>();
        let store = self.store.clone();
        let marker = tokio::spawn(async move {
            while let Some((send, sub, result)) = done_rx.recv().await {
                if let Err(e) = mark(&store, send, sub, result).await {
                    tracing::warn!(error = %e, "a delivery could not be marked");
                }
            }
        });
        let mut tasks = tokio::task::JoinSet::new();
        let limit = Arc::new(tokio::sync::Semaphore::new(
            self.settings.connections.max(1) as usize,
        ));
        for c in &claimed {
            let (subject, body, list_id) = self
                .body(c.send_id, Lang::parse(&c.lang).unwrap_or_default())
                .await?;
            let raw = compose_list(
                &ListMail {
                    from: &self.settings.from,
                    to: &c.email,
                    subject: &subject,
                    message_id: &message_id(c.send_id, c.subscriber_id, &self.settings.from),
                    list_id: &list_id,
                    unsubscribe: &format!(
                        "{}/lists/unsubscribe/{}",
                        self.settings.public_url, c.token
                    ),
                },
                &body,
            );
            let permit = limit
                .clone()
                .acquire_owned()
                .await
                .map_err(|e| PublishError::Conflict(e.to_string()))?;
            let (relay, from, to, done) = (
                relay.clone(),
                self.settings.from.clone(),
                c.email.clone(),
                done_tx.clone(),
            );
            let (send, sub) = (c.send_id, c.subscriber_id);
            tasks.spawn(async move {
                let result = match raw {
                    Ok(raw) => relay.send(&from, &to, &raw).await,
                    Err(e) => Err(format!("550 {e}")),
                };
                drop(permit);
                let _ = done.send((send, sub, result));
            });
        }
        drop(done_tx);
        while tasks.join_next().await.is_some() {}
        let _ = marker.await;
        Ok(claimed.len())
    }

    async fn claim(&self) -> Result<Vec<Claimed>> {
        // A lease that ran out belongs to a sender that stopped: its deliveries go again.
        let claimed: Vec<(i64, i64)> = DELIVERIES
            .claim(
                &self.store,
                BATCH,
                Duration::seconds(self.settings.lease_secs.max(1)),
            )
            .await?
            .taken;
        let mut details: HashMap<i64, (String, String, String)> = HashMap::new();
        for chunk in claimed.chunks(500) {
            let ids: Vec<String> = chunk.iter().map(|(_, s)| s.to_string()).collect();
            // Only numbers go into the text.
            let rows: Vec<(i64, String, String, String)> = sqlx::query_as(AssertSqlSafe(format!(
                "SELECT id, email, lang, token FROM subscribers WHERE id IN ({})",
                ids.join(",")
            )))
            .fetch_all(self.store.pool())
            .await?;
            for (id, email, lang, token) in rows {
                details.insert(id, (email, lang, token));
            }
        }
        Ok(claimed
            .into_iter()
            .filter_map(|(send_id, subscriber_id)| {
                details
                    .get(&subscriber_id)
                    .map(|(email, lang, token)| Claimed {
                        send_id,
                        subscriber_id,
                        email: email.clone(),
                        lang: lang.clone(),
                        token: token.clone(),
                    })
            })
            .collect())
    }

    async fn body(&self, send: i64, lang: Lang) -> Result<Prepared> {
        if let Some(b) = self
            .bodies
            .lock()
            .map_err(|_| PublishError::Conflict("poisoned".into()))?
            .get(&(send, lang))
        {
            return Ok(b.clone());
        }
        let (subject_ja, subject_en, body_ja, body_en, slug, name_en): (
            String,
            String,
            String,
            String,
            String,
            String,
        ) = sqlx::query_as(
            "SELECT s.subject_ja, s.subject_en, s.body_ja, s.body_en, l.slug, l.name_en FROM list_sends s JOIN mailing_lists l ON l.id = s.list_id WHERE s.id = $1",
        )
        .bind(send)
        .fetch_one(self.store.pool())
        .await?;
        // The reader's language, or the other when that one was left empty.
        let pick = |x: String, y: String| {
            if !x.trim().is_empty() || y.trim().is_empty() {
                x
            } else {
                y
            }
        };
        let (subject, text) = match lang {
            Lang::Ja => (pick(subject_ja, subject_en), pick(body_ja, body_en)),
            Lang::En => (pick(subject_en, subject_ja), pick(body_en, body_ja)),
        };
        let host = self
            .settings
            .public_url
            .split("://")
            .nth(1)
            .unwrap_or("renkei.invalid")
            .split(['/', ':'])
            .next()
            .unwrap_or("renkei.invalid")
            .to_string();
        let list_id = format!("{name_en} <{slug}.{host}>");
        let body = Arc::new(
            list_body(&text, self.settings.team_key.as_ref())
                .map_err(|e| PublishError::Conflict(e.to_string()))?,
        );
        let entry = (subject, body, list_id);
        self.bodies
            .lock()
            .map_err(|_| PublishError::Conflict("poisoned".into()))?
            .insert((send, lang), entry.clone());
        Ok(entry)
    }

    async fn finish(&self, now: DateTime<Utc>) -> Result<()> {
        self.store.write(
sqlx::query(
            "UPDATE list_sends SET finished_at = $1 WHERE finished_at IS NULL AND NOT EXISTS (SELECT 1 FROM list_deliveries d WHERE d.send_id = list_sends.id AND d.status IN ('queued', 'sending'))",
        )
        .bind(time::format(now))
        )
        .await?;
        Ok(())
    }
}

/// Records what the relay said of one delivery, at once: the mark is what lets a
/// restarted sender skip it.
async fn mark(
    store: &Store,
    send: i64,
    subscriber: i64,
    result: std::result::Result<(), String>,
) -> Result<()> {
    match result {
        Ok(()) => {
            store.write(
sqlx::query("UPDATE list_deliveries SET status = 'sent', sent_at = $1, last_error = NULL WHERE send_id = $2 AND subscriber_id = $3")
                .bind(store.now_str())
                .bind(send)
                .bind(subscriber)
                )
                .await?;
        }
        Err(error) => {
            let permanent = error.trim_start().starts_with('5') || error.contains("permanent");
            let attempts: i64 = sqlx::query_scalar(
                "SELECT attempts FROM list_deliveries WHERE send_id = $1 AND subscriber_id = $2",
            )
            .bind(send)
            .bind(subscriber)
            .fetch_one(store.pool())
            .await?;
            let give_up = permanent || attempts >= 5;
            let retry = renkei_core::jobs::db_now(store).await?
                + Duration::seconds(30 << attempts.clamp(0, 6));
            store.write(
sqlx::query("UPDATE list_deliveries SET status = $1, last_error = $2, lease_until = $3 WHERE send_id = $4 AND subscriber_id = $5")
                .bind(if give_up { "failed" } else { "queued" })
                .bind(&error)
                .bind(time::format(retry))
                .bind(send)
                .bind(subscriber)
                )
                .await?;
            if permanent {
                let mut tx = store.begin().await?;
                count_bounce(&mut tx, subscriber).await?;
                tx.commit().await?;
            }
        }
    }
    Ok(())
}

/// A refused address counts as a bounce; repeated ones end the subscription.
/// Returns whether this bounce removed the subscriber.
async fn count_bounce(tx: &mut renkei_core::store::Tx, subscriber: i64) -> Result<bool> {
    sqlx::query(AssertSqlSafe(format!(
        "UPDATE subscribers SET bounces = bounces + 1, status = CASE WHEN bounces + 1 >= {BOUNCES_TO_REMOVE} THEN 'removed' ELSE status END WHERE id = $1"
    )))
    .bind(subscriber)
    .execute(tx.conn())
    .await?;
    let status: String = sqlx::query_scalar("SELECT status FROM subscribers WHERE id = $1")
        .bind(subscriber)
        .fetch_one(tx.conn())
        .await?;
    Ok(status == "removed")
}

/// The send and subscriber a list message's Message-ID names, if it is one of ours.
fn delivery_of(message_id: &str) -> Option<(i64, i64)> {
    let bare = message_id.trim().trim_matches(['<', '>']);
    let mut parts = bare.strip_prefix("list.")?.splitn(3, '.');
    let send = parts.next()?.parse().ok()?;
    let subscriber = parts.next()?.parse().ok()?;
    Some((send, subscriber))
}

/// A bounce that came back later as mail (RFC 3464) for a list message. The
/// delivery is marked failed, and the bounce counts against the subscriber like a
/// refusal at sending time. It counts once per delivery, and only when the DSN names
/// the subscriber's own address as failed, so that a forged or repeated bounce
/// cannot remove anyone. Returns whether the DSN was about a list message.
pub async fn bounced(store: &Store, dsn: &renkei_formats::dsn::Dsn) -> Result<bool> {
    let Some((send, subscriber)) = dsn.original_message_id.as_deref().and_then(delivery_of) else {
        return Ok(false);
    };
    let Some(email) = sqlx::query_scalar::<_, String>(
        "SELECT s.email FROM list_deliveries d JOIN subscribers s ON s.id = d.subscriber_id WHERE d.send_id = $1 AND d.subscriber_id = $2",
    )
    .bind(send)
    .bind(subscriber)
    .fetch_optional(store.pool())
    .await?
    else {
        return Ok(false);
    };
    let Some(failed) = dsn.failed().find(|r| {
        r.recipient
            .rsplit(';')
            .next()
            .unwrap_or("")
            .trim()
            .eq_ignore_ascii_case(&email)
    }) else {
        return Ok(true);
    };
    let error = format!(
        "bounced: {} {}",
        failed.status.as_deref().unwrap_or(""),
        failed.diagnostic.as_deref().unwrap_or("")
    );
    let mut tx = store.begin().await?;
    let marked = sqlx::query(
        "UPDATE list_deliveries SET status = 'failed', last_error = $1 WHERE send_id = $2 AND subscriber_id = $3 AND status <> 'failed'",
    )
    .bind(error.trim())
    .bind(send)
    .bind(subscriber)
    .execute(tx.conn())
    .await?
    .rows_affected();
    if marked > 0 {
        let removed = count_bounce(&mut tx, subscriber).await?;
        audit::record(
            &mut tx,
            &Actor::system("bounce"),
            Event {
                action: "list.bounce",
                object_type: "subscriber",
                object_id: subscriber.to_string(),
                changes: json!({"send": send, "status": failed.status, "diagnostic": failed.diagnostic, "removed": removed}),
            },
        )
        .await?;
    }
    tx.commit().await?;
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bounce_finds_its_delivery_by_the_message_id() {
        let id = message_id(12, 345, "CSIRT <csirt@example.org>");
        assert_eq!(delivery_of(&format!("<{id}>")), Some((12, 345)));
        for other in ["renkei.5.abc@example.org", "list.x.1.a@b", "list.1@b", ""] {
            assert_eq!(delivery_of(other), None, "{other}");
        }
    }

    #[test]
    fn a_delivery_keeps_its_message_id() {
        assert_eq!(
            message_id(3, 9, "CSIRT <csirt@example.org>"),
            message_id(3, 9, "CSIRT <csirt@example.org>")
        );
        assert_ne!(
            message_id(3, 9, "x@example.org"),
            message_id(3, 10, "x@example.org")
        );
        assert!(message_id(3, 9, "CSIRT <csirt@example.org>").ends_with("@example.org"));
    }
}
