//! Operations: the nodes sharing the database, the depth of every queue that lives in
//! it, and the job leases, for the operations page, its API and /metrics.

use askama::Template;
use axum::Json;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use renkei_core::jobs::{self, Lease};
use renkei_core::nodes::{self, Node};
use renkei_core::privacy::retention;
use serde::Serialize;

use crate::http::error::AppError;
use crate::http::state::AppState;
use crate::pages::{Page, Shell, html};

/// How much work waits, queue by queue.
#[derive(Debug, Clone, Serialize, Default)]
pub struct Queues {
    pub outbox_queued: i64,
    pub outbox_sending: i64,
    pub outbox_failed: i64,
    /// Given up on, or still waiting an hour after it was queued.
    pub outbox_stuck: i64,
    pub list_queued: i64,
    pub list_sending: i64,
    pub sensor_batches_waiting: i64,
    /// Chunks of bulk feeds not yet counted.
    pub feed_chunks_waiting: i64,
    /// Sensor batches on the bus not yet handed to a node, and handed but not yet
    /// acknowledged (none without a bus).
    pub bus_batches_pending: Option<u64>,
    pub bus_batches_unacked: Option<u64>,
    /// The same for bulk-feed chunks.
    pub bus_feeds_pending: Option<u64>,
    pub bus_feeds_unacked: Option<u64>,
}

pub(crate) async fn queues(state: &AppState) -> Result<Queues, AppError> {
    let store = &state.store;
    let lag = |lane| async move {
        let b = state.bus.as_ref()?;
        match b.lag(lane).await {
            Ok(lag) => Some(lag),
            Err(e) => {
                tracing::warn!(error = %e, "bus lag not read");
                None
            }
        }
    };
    let (batches, feeds) = match &state.bus {
        Some(b) => (lag(&b.batches).await, lag(&b.feeds).await),
        None => (None, None),
    };
    let (outbox_queued, outbox_sending, outbox_failed) = renkei_mail::outbox::depth(store)
        .await
        .map_err(AppError::internal)?;
    let (list_queued, list_sending) = renkei_publish::lists::depth(store).await?;
    let hour_ago = renkei_core::time::format(store.now() - chrono::Duration::hours(1));
    let week_ago = renkei_core::time::format(store.now() - chrono::Duration::days(7));
    let outbox_stuck = renkei_mail::outbox::stuck(store, &hour_ago, &week_ago)
        .await
        .map_err(AppError::internal)?;
    Ok(Queues {
        outbox_queued,
        outbox_sending,
        outbox_failed,
        outbox_stuck,
        list_queued,
        list_sending,
        sensor_batches_waiting: renkei_observe::collector::waiting(store).await?,
        feed_chunks_waiting: renkei_incident::feeds::chunks_waiting(store).await?,
        bus_batches_pending: batches.map(|l| l.0),
        bus_batches_unacked: batches.map(|l| l.1),
        bus_feeds_pending: feeds.map(|l| l.0),
        bus_feeds_unacked: feeds.map(|l| l.1),
    })
}

#[derive(Debug, Clone, Serialize)]
pub struct Operations {
    /// The node that answered.
    pub this_node: String,
    pub nodes: Vec<Node>,
    pub queues: Queues,
    pub leases: Vec<Lease>,
    pub retention: Retention,
}

/// What the team keeps how long, and what the daily job removed.
#[derive(Debug, Clone, Serialize)]
pub struct Retention {
    /// Each kind with its days (0: for ever) and what the last run removed.
    pub kinds: Vec<RetentionKind>,
    /// The latest runs, newest first.
    pub runs: Vec<retention::Run>,
}

#[derive(Debug, Clone, Serialize)]
pub struct RetentionKind {
    pub kind: &'static str,
    pub days: u64,
    pub last_removed: Option<u64>,
}

async fn retention_state(state: &AppState) -> Result<Retention, AppError> {
    let runs = retention::runs(&state.store, 7).await?;
    let last = runs
        .iter()
        .find(|r| r.error.is_none() && r.finished_at.is_some());
    let kinds = retention::Kind::ALL
        .into_iter()
        .map(|k| RetentionKind {
            kind: k.as_str(),
            days: k.days(&state.config.retention),
            last_removed: last.and_then(|r| r.removed.get(k.as_str()).copied()),
        })
        .collect();
    Ok(Retention { kinds, runs })
}

async fn operations(state: &AppState) -> Result<Operations, AppError> {
    Ok(Operations {
        this_node: state.node_id.to_string(),
        nodes: nodes::nodes(&state.store).await?,
        queues: queues(state).await?,
        leases: jobs::leases(&state.store).await?,
        retention: retention_state(state).await?,
    })
}

pub(crate) async fn api(State(state): State<AppState>) -> Result<Response, AppError> {
    Ok(Json(operations(&state).await?).into_response())
}

#[derive(Template)]
#[template(path = "operations.html")]
struct OperationsPage<'a> {
    shell: Shell<'a>,
    ops: Operations,
    /// Whether mail can leave at all.
    relay_set: bool,
}

pub(crate) async fn page(page: Page) -> Result<Response, AppError> {
    let ops = operations(&page.state).await?;
    html(&OperationsPage {
        shell: page.shell("operations"),
        ops,
        relay_set: !page.state.config.mail.relay.trim().is_empty(),
    })
}
