//! The bus between nodes, on NATS JetStream. A stream holds what one node took in
//! (a sensor batch, a feed row) until some node has handled it. Every node pulls
//! from one durable consumer with explicit acks: a message is acknowledged only after
//! its effect is committed, so a node killed while handling it loses nothing (the
//! message comes again after `ack_wait`). Handlers make the effect idempotent on the
//! message's own key, so a redelivery counts nothing twice. JetStream also drops a
//! second publication with the same `Nats-Msg-Id` within the stream's duplicate
//! window, which is how a sender that retries learns its first try arrived.
//!
//! # Layout
//! One module: [`Bus`] connects and keeps the streams, `publish` sends with a
//! message id, and a consumer pulls, hands each message to its handler and acks
//! only after the handler's effect is committed.

use std::future::Future;
use std::time::Duration;

use async_nats::HeaderMap;
use async_nats::jetstream::{self, AckKind, consumer::pull, stream};
use bytes::Bytes;
use futures_util::StreamExt;

#[derive(Debug, thiserror::Error)]
pub enum BusError {
    #[error("NATS: {0}")]
    Nats(String),
}

fn nats(e: impl std::fmt::Display) -> BusError {
    BusError::Nats(e.to_string())
}

pub type Result<T> = std::result::Result<T, BusError>;

/// A connection to JetStream, cheap to clone.
#[derive(Clone)]
pub struct Bus {
    js: jetstream::Context,
}

/// What a handler decided about one message.
#[derive(Debug, PartialEq, Eq)]
pub enum Handled {
    /// Its effect is committed (or was already): acknowledge.
    Done,
    /// It cannot be handled now (the database is away): it comes again later.
    Retry(String),
    /// It can never be handled: drop it, with the reason logged.
    Reject(String),
}

/// One message as a handler sees it.
pub struct Delivery {
    pub payload: Bytes,
    pub headers: Vec<(String, String)>,
    /// How many times it has been delivered (1 the first time).
    pub attempt: i64,
}

impl Delivery {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// Whether a publication was new or a repeat JetStream had already.
#[derive(Debug, PartialEq, Eq)]
pub enum Published {
    New,
    Duplicate,
}

impl Bus {
    pub async fn connect(url: &str) -> Result<Bus> {
        let client = async_nats::connect(url).await.map_err(nats)?;
        Ok(Bus {
            js: jetstream::new(client),
        })
    }

    /// Creates the stream if it is not there: kept on disk, each message until it is
    /// acknowledged (a work queue), repeats dropped within `dedupe`.
    pub async fn ensure_stream(&self, name: &str, subject: &str, dedupe: Duration) -> Result<()> {
        self.js
            .get_or_create_stream(stream::Config {
                name: name.to_string(),
                subjects: vec![subject.to_string()],
                retention: stream::RetentionPolicy::WorkQueue,
                storage: stream::StorageType::File,
                duplicate_window: dedupe,
                ..Default::default()
            })
            .await
            .map_err(nats)?;
        Ok(())
    }

    /// Publishes and waits until JetStream has stored it.
    pub async fn publish(
        &self,
        subject: &str,
        msg_id: &str,
        headers: &[(&str, &str)],
        payload: Vec<u8>,
    ) -> Result<Published> {
        let mut h = HeaderMap::new();
        h.insert("Nats-Msg-Id", msg_id);
        for (k, v) in headers {
            h.insert(*k, *v);
        }
        let ack = self
            .js
            .publish_with_headers(subject.to_string(), h, Bytes::from(payload))
            .await
            .map_err(nats)?
            .await
            .map_err(nats)?;
        Ok(if ack.duplicate {
            Published::Duplicate
        } else {
            Published::New
        })
    }

    async fn consumer(
        &self,
        stream_name: &str,
        durable: &str,
        ack_wait: Duration,
    ) -> Result<jetstream::consumer::Consumer<pull::Config>> {
        let s = self.js.get_stream(stream_name).await.map_err(nats)?;
        s.get_or_create_consumer(
            durable,
            pull::Config {
                durable_name: Some(durable.to_string()),
                ack_policy: jetstream::consumer::AckPolicy::Explicit,
                ack_wait,
                ..Default::default()
            },
        )
        .await
        .map_err(nats)
    }

    /// Messages waiting for the durable consumer and handed out but not yet
    /// acknowledged: the consumer's lag.
    pub async fn lag(&self, stream_name: &str, durable: &str) -> Result<(u64, u64)> {
        let mut c = self
            .consumer(stream_name, durable, Duration::from_secs(30))
            .await?;
        let info = c.info().await.map_err(nats)?;
        Ok((info.num_pending, info.num_ack_pending as u64))
    }

    /// Pulls from the durable consumer and hands each message to `handle`, until
    /// `shutdown`. Acknowledges only what the handler says is done.
    pub async fn consume<F, Fut>(
        &self,
        stream_name: &str,
        durable: &str,
        ack_wait: Duration,
        handle: F,
        shutdown: impl Future<Output = ()>,
    ) -> Result<()>
    where
        F: Fn(Delivery) -> Fut,
        Fut: Future<Output = Handled>,
    {
        let consumer = self.consumer(stream_name, durable, ack_wait).await?;
        let mut messages = consumer.messages().await.map_err(nats)?;
        tokio::pin!(shutdown);
        loop {
            let next = tokio::select! {
                m = messages.next() => m,
                _ = &mut shutdown => return Ok(()),
            };
            let Some(message) = next else {
                return Ok(());
            };
            let message = match message {
                Ok(m) => m,
                Err(e) => {
                    tracing::warn!(error = %e, "the bus stream failed; pulling again");
                    tokio::time::sleep(Duration::from_millis(500)).await;
                    continue;
                }
            };
            let attempt = message.info().map(|i| i.delivered).unwrap_or(1);
            let headers = message
                .headers
                .as_ref()
                .map(|h| {
                    h.iter()
                        .flat_map(|(k, vs)| {
                            vs.iter()
                                .map(move |v| (k.to_string(), v.as_str().to_string()))
                        })
                        .collect()
                })
                .unwrap_or_default();
            let delivery = Delivery {
                payload: message.payload.clone(),
                headers,
                attempt,
            };
            let outcome = handle(delivery).await;
            let ack = match &outcome {
                Handled::Done => message.ack().await,
                Handled::Retry(why) => {
                    tracing::warn!(reason = %why, attempt, "a bus message waits for another try");
                    message
                        .ack_with(AckKind::Nak(Some(Duration::from_secs(2))))
                        .await
                }
                Handled::Reject(why) => {
                    tracing::warn!(reason = %why, "a bus message was dropped");
                    message.ack_with(AckKind::Term).await
                }
            };
            if let Err(e) = ack {
                // Not acknowledged: it comes again, and the handler's key keeps it once.
                tracing::warn!(error = %e, "ack not sent");
            }
        }
    }
}
