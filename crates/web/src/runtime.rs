//! The one runtime of a Renkei node: the web server and every background part
//! (SMTP intake, metrics listener, outbox and mailing-list senders, report retries,
//! audit checkpoints, enrichment refresh, observation roll-up and trends, the node's
//! heartbeat, retention, bus consumers), started together by [`Server::start`] and stopped
//! together by [`Running::stop`].
//!
//! `renkei serve`, `renkei demo seed` and the integration tests all go through
//! [`Listeners::bind`] and [`Server::start`], so the tests run the production wiring.
//!
//! # Layout
//! - [`Listeners`]: the sockets a node serves on, bound before the server is built
//!   (links must name the port actually bound).
//! - [`Server::start`] / [`Running`]: start everything; stop in order — the listeners
//!   first, then the workers, then work handlers left running, the pool last.
//! - The workers, one function each, below.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use renkei_core::Store;
use renkei_core::config::Config;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::http::serve;
use crate::http::state::AppState;
use crate::{Lane, Server, WebError, WorkBus, pages, roll_up};

/// The lease that lets one node at a time compute observation trend notes.
pub const TREND_JOB: &str = "observe.trends";
/// The lease that lets one node at a time send clock reminders.
pub const CLOCK_JOB: &str = "incident.clocks";

/// The sockets a node serves on.
pub struct Listeners {
    pub http: TcpListener,
    /// `[intake.smtp] listen`, when set.
    pub smtp: Option<TcpListener>,
    /// `server.metrics_listen`, when set.
    pub metrics: Option<TcpListener>,
}

impl Listeners {
    /// Binds every address `config` names (`:0` picks a free port).
    pub async fn bind(config: &Config) -> Result<Listeners, WebError> {
        let bind = |what: &'static str, addr: String| async move {
            TcpListener::bind(&addr)
                .await
                .map_err(|e| WebError::Listen(format!("cannot listen{what} on {addr}: {e}")))
        };
        let optional = |addr: &str| (!addr.is_empty()).then(|| addr.to_string());
        let http = bind("", config.server.listen.clone()).await?;
        let smtp = match optional(&config.intake.smtp.listen) {
            Some(addr) => Some(bind(" for SMTP", addr).await?),
            None => None,
        };
        let metrics = match optional(&config.server.metrics_listen) {
            Some(addr) => Some(bind(" for metrics", addr).await?),
            None => None,
        };
        Ok(Listeners {
            http,
            smtp,
            metrics,
        })
    }

    pub fn http_address(&self) -> std::io::Result<SocketAddr> {
        self.http.local_addr()
    }
}

/// Where a running node listens.
#[derive(Debug, Clone, Copy)]
pub struct Addresses {
    pub http: SocketAddr,
    pub smtp: Option<SocketAddr>,
    pub metrics: Option<SocketAddr>,
}

/// A started node. Dropping it stops every part without waiting; [`Running::stop`]
/// waits for each to finish and closes the database last.
pub struct Running {
    stop: watch::Sender<bool>,
    server: Option<JoinHandle<()>>,
    workers: Vec<(&'static str, JoinHandle<()>)>,
    state: AppState,
    addresses: Addresses,
}

impl Server {
    /// Starts the web server on `listeners.http` and every background part this
    /// configuration asks for.
    pub fn start(self, listeners: Listeners) -> Result<Running, WebError> {
        let addresses = Addresses {
            http: listeners.http.local_addr()?,
            smtp: listeners
                .smtp
                .as_ref()
                .map(|l| l.local_addr())
                .transpose()?,
            metrics: listeners
                .metrics
                .as_ref()
                .map(|l| l.local_addr())
                .transpose()?,
        };
        let (stop, stopped) = watch::channel(false);
        let signal = move || {
            let mut rx = stopped.clone();
            async move {
                let _ = rx.wait_for(|s| *s).await;
            }
        };
        let state = self.state.clone();
        let mut workers: Vec<(&'static str, JoinHandle<()>)> = Vec::new();
        let mut spawn = |name, task| workers.push((name, tokio::spawn(task)));
        if let (Some(listener), Some((smtp, batcher))) = (listeners.smtp, smtp_intake(&state)) {
            spawn(
                "smtp batches",
                Box::pin(batcher) as std::pin::Pin<Box<dyn Future<Output = ()> + Send>>,
            );
            let shutdown = signal();
            spawn(
                "smtp intake",
                Box::pin(async move {
                    if let Err(e) = smtp.run(listener, shutdown).await {
                        tracing::error!(error = %e, "SMTP intake stopped");
                    }
                }) as std::pin::Pin<Box<dyn Future<Output = ()> + Send>>,
            );
        }
        if let Some(listener) = listeners.metrics {
            spawn(
                "metrics",
                Box::pin(serve_metrics(&state, listener, signal())),
            );
        }
        let outbox = renkei_mail::OutboxWorker::build(state.store.clone(), &state.config.mail);
        spawn("outbox", Box::pin(outbox.run(signal())));
        let lists =
            renkei_publish::lists::ListSender::build(state.store.clone(), (*state.lists).clone());
        spawn("mailing lists", Box::pin(lists.run(signal())));
        spawn("intake retry", Box::pin(intake_retry(&state, signal())));
        spawn(
            "audit checkpoints",
            Box::pin(audit_checkpointer(&state, signal())),
        );
        spawn(
            "enrichment refresh",
            Box::pin(enrich_refresher(&state, signal())),
        );
        spawn(
            "observation trends",
            Box::pin(trend_worker(&state, signal())),
        );
        spawn("heartbeat", Box::pin(heartbeat(&state, signal())));
        spawn("clocks", Box::pin(clock_worker(&state, signal())));
        spawn("retention", Box::pin(retention_worker(&state, signal())));
        spawn(
            "bus: sensor batches",
            Box::pin(consumer(
                &state,
                |b| &b.batches,
                |state, d| async move { crate::api::observe::store_from_bus(&state, d).await },
                signal(),
            )),
        );
        spawn(
            "bus: feed chunks",
            Box::pin(consumer(
                &state,
                |b| &b.feeds,
                |state, d| async move { crate::api::feeds::chunk_from_bus(&state, d).await },
                signal(),
            )),
        );
        let limits = serve::Limits {
            header_timeout: Duration::from_secs(state.config.server.header_timeout_secs),
            per_address: state.config.server.max_connections_per_address,
            grace: Duration::from_secs(state.config.server.shutdown_grace_secs),
        };
        let server = tokio::spawn(serve::serve(listeners.http, self.router, limits, signal()));
        Ok(Running {
            stop,
            server: Some(server),
            workers,
            state,
            addresses,
        })
    }
}

impl Running {
    pub fn addresses(&self) -> Addresses {
        self.addresses
    }

    /// Tells every part to stop, without waiting (what dropping does).
    fn signal_stop(&self) {
        let _ = self.stop.send(true);
    }

    /// Runs until `shutdown` resolves (or the web server ends), then stops.
    pub async fn run_until(mut self, shutdown: impl Future<Output = ()>) {
        let server = self.server.take();
        match server {
            Some(mut server) => {
                tokio::select! {
                    _ = shutdown => {}
                    _ = &mut server => {}
                }
                self.server = Some(server);
            }
            None => shutdown.await,
        }
        self.stop().await
    }

    /// Stops every part in order: the web server lets requests in flight finish
    /// (`server.shutdown_grace_secs`), each worker finishes the step it is in, work
    /// started by requests (a roll-up after a sensor batch) completes, and only then
    /// is the database pool closed.
    pub async fn stop(mut self) {
        self.signal_stop();
        if let Some(server) = self.server.take() {
            let _ = server.await;
        }
        for (name, task) in std::mem::take(&mut self.workers) {
            if let Err(e) = task.await {
                tracing::error!(worker = name, error = %e, "a background part failed");
            }
        }
        self.state.background.close();
        self.state.background.wait().await;
        if let Err(e) = renkei_core::nodes::leave(&self.state.store, &self.state.node_id).await {
            tracing::warn!(error = %e, "this node could not say it stopped; it reads as silent until forgotten");
        }
        self.state.store.close().await;
        tracing::info!("renkei stopped");
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        self.signal_stop();
    }
}

/// Runs `job` every `period` (the first time at once) until `shutdown`: the shape of
/// every periodic worker here.
async fn every<F, Fut>(
    name: &'static str,
    period: Duration,
    shutdown: impl Future<Output = ()>,
    mut job: F,
) where
    F: FnMut() -> Fut,
    Fut: Future<Output = ()>,
{
    use tracing::Instrument as _;
    let mut tick = tokio::time::interval(period);
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = &mut shutdown => return,
        }
        // One span per run: what the job logs is found by it, and traced with it.
        job()
            .instrument(tracing::info_span!("job", job = name))
            .await;
    }
}

/// The built-in SMTP intake, when `[intake.smtp] listen` is set: each accepted
/// message becomes a report (or joins a thread), stored before it is read and
/// answered only once committed.
fn smtp_intake(
    state: &AppState,
) -> Option<(
    renkei_mail::SmtpServer,
    impl Future<Output = ()> + Send + 'static,
)> {
    let cfg = &state.config.intake.smtp;
    if cfg.listen.is_empty() {
        return None;
    }
    let addresses = Arc::new(cfg.addresses.clone());
    let (to_batcher, batches) = tokio::sync::mpsc::channel::<Taken>(1024);
    let sink: renkei_mail::Sink = Arc::new(move |envelope, data| {
        let to_batcher = to_batcher.clone();
        let addresses = addresses.clone();
        Box::pin(async move {
            // Which intake address it reached (a team may run several).
            let reached = envelope
                .rcpt_to
                .iter()
                .find(|r| addresses.iter().any(|a| a.eq_ignore_ascii_case(r)))
                .or(envelope.rcpt_to.first())
                .cloned();
            let (answer, answered) = tokio::sync::oneshot::channel();
            let taken = Taken {
                peer: envelope.peer,
                reached,
                data,
                answer,
            };
            let gone = || renkei_mail::Rejected("the server is stopping".into());
            to_batcher.send(taken).await.map_err(|_| gone())?;
            answered.await.map_err(|_| gone())?
        })
    });
    let hostname = state
        .config
        .public_url()
        .split("://")
        .nth(1)
        .and_then(|h| h.split([':', '/']).next())
        .unwrap_or("renkei")
        .to_string();
    let server = renkei_mail::SmtpServer::build(
        renkei_mail::SmtpConfig {
            hostname,
            addresses: cfg.addresses.clone(),
            max_message_bytes: cfg.max_message_bytes,
            idle_timeout: Duration::from_secs(300),
            grace: Duration::from_secs(state.config.server.shutdown_grace_secs),
        },
        sink,
    );
    Some((server, batcher(state, batches)))
}

/// A mail the listener took, waiting for its batch; the session answers the
/// client with what became of it, only once it is committed.
struct Taken {
    peer: String,
    reached: Option<String>,
    data: Vec<u8>,
    answer: tokio::sync::oneshot::Sender<Result<String, renkei_mail::Rejected>>,
}

/// Takes the mails waiting when it is free, up to 64, and receives and processes
/// them together: under load, many mails share a commit instead of paying one
/// each; when quiet, a mail goes alone at once. Ends when the listener has gone.
fn batcher(
    state: &AppState,
    mut batches: tokio::sync::mpsc::Receiver<Taken>,
) -> impl Future<Output = ()> + Send + 'static {
    let store = state.store.clone();
    let settings = state.intake.clone();
    async move {
        use renkei_incident::reports::{self, Delivery};
        let mut waiting = Vec::with_capacity(64);
        while batches.recv_many(&mut waiting, 64).await > 0 {
            // One actor per peer host, as the audit log names who handed the mail
            // over; not per connection, or a busy relay's mails would each go alone.
            let mut by_peer: std::collections::BTreeMap<String, Vec<Taken>> = Default::default();
            for t in waiting.drain(..) {
                let host = t
                    .peer
                    .parse::<std::net::SocketAddr>()
                    .map(|a| a.ip().to_string())
                    .unwrap_or_else(|_| t.peer.clone());
                by_peer.entry(host).or_default().push(t);
            }
            for (peer, group) in by_peer {
                let actor = renkei_core::audit::Actor {
                    user_id: None,
                    label: format!("smtp:{peer}"),
                };
                let deliveries: Vec<Delivery> = group
                    .iter()
                    .map(|t| Delivery {
                        raw: &t.data,
                        reached: t.reached.as_deref(),
                    })
                    .collect();
                let tlp = renkei_core::tlp::Tlp::Amber;
                let result =
                    reports::ingest_mails(&store, &settings, &actor, &deliveries, tlp).await;
                match result {
                    Ok(outcomes) => {
                        for (t, out) in group.into_iter().zip(outcomes) {
                            crate::api::publish::list_bounce(&store, &t.data).await;
                            let _ = t.answer.send(Ok(match out.thread_of {
                                Some(j) => format!("report #{} (joined #{j})", out.report),
                                None => format!("report #{}", out.report),
                            }));
                        }
                    }
                    Err(e) => {
                        for t in group {
                            let _ = t.answer.send(Err(renkei_mail::Rejected(e.to_string())));
                        }
                    }
                }
            }
        }
    }
}

/// Serves `/metrics` alone, to whoever reaches `listener` (`server.metrics_listen`).
fn serve_metrics(
    state: &AppState,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> impl Future<Output = ()> + Send + 'static {
    let router = Router::new()
        .route("/metrics", axum::routing::get(pages::metrics))
        .with_state(state.clone());
    let limits = serve::Limits {
        header_timeout: Duration::from_secs(state.config.server.header_timeout_secs),
        per_address: 0,
        grace: Duration::from_secs(1),
    };
    serve::serve(listener, router, limits, shutdown)
}

/// Keeps this node's enrichment tables in step with the database (loads made on any
/// node, or with `renkei enrich load`).
fn enrich_refresher(
    state: &AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> impl Future<Output = ()> + Send + 'static {
    let enricher = state.enricher.clone();
    let store = state.store.clone();
    let every = Duration::from_secs(state.config.enrich.refresh_secs.max(1));
    async move { enricher.run(store, every, shutdown).await }
}

/// Every minute: rolls up the sensor batches not yet counted, and recomputes the
/// observation trend notes for the days they touched (one node at a time).
fn trend_worker(
    state: &AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> impl Future<Output = ()> + Send + 'static {
    let state = state.clone();
    let period = Duration::from_secs(60);
    async move {
        every("observation trends", period, shutdown, || async {
            if let Err(e) = roll_up(&state).await {
                tracing::warn!(error = %e, "sensor batches not rolled up; will retry");
            }
            // One node computes the notes at a time; if it dies, its lease runs out
            // and the next node's tick takes the job.
            let (store, me) = (&state.store, state.node_id.as_str());
            match renkei_core::jobs::lease(store, TREND_JOB, me, chrono::Duration::minutes(10))
                .await
            {
                Ok(true) => {}
                Ok(false) => return,
                Err(e) => {
                    tracing::warn!(error = %e, "trend lease not read; will retry");
                    return;
                }
            }
            let today = state.observe.day_of(state.store.now().timestamp());
            match renkei_observe::trends::run_due(store, &state.observe, &today).await {
                Ok(0) => {}
                Ok(n) => tracing::info!(days = n, "observation trend notes recomputed"),
                Err(e) => tracing::warn!(error = %e, "trend notes not recomputed; will retry"),
            }
            if let Err(e) = renkei_core::jobs::release(store, TREND_JOB, me).await {
                tracing::warn!(error = %e, "trend lease not released; it runs out by itself");
            }
        })
        .await
    }
}

/// Every minute: brings the incidents' due times up to date, reminds owners of
/// questions left unanswered and escalates those still unanswered after that;
/// reminds vendors that have not acknowledged a case, then escalates; warns vendor
/// contacts whose keys expire within 30 days; tells finders whose notes came out;
/// tells the administrators of sensors silent for a day (one node at a time, so
/// that nobody gets the same mail twice); makes rows from before search keys
/// existed searchable; recounts the statistics summaries of days written since.
fn clock_worker(
    state: &AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> impl Future<Output = ()> + Send + 'static {
    let state = state.clone();
    async move {
        every("clocks", Duration::from_secs(60), shutdown, || async {
            let (store, me) = (&state.store, state.node_id.as_str());
            match renkei_core::jobs::lease(store, CLOCK_JOB, me, chrono::Duration::minutes(5)).await
            {
                Ok(true) => {}
                Ok(false) => return,
                Err(e) => {
                    tracing::warn!(error = %e, "clock lease not read; will retry");
                    return;
                }
            }
            let public_url = state.config.public_url();
            match renkei_incident::clocks::remind(store, &state.clocks, &state.notify, &public_url)
                .await
            {
                Ok(r) if r.mails == 0 => {}
                Ok(r) => tracing::info!(
                    reminded = r.reminded.len(),
                    escalated = r.escalated.len(),
                    mails = r.mails,
                    "clock reminders sent"
                ),
                Err(e) => tracing::warn!(error = %e, "clock reminders not sent; will retry"),
            }
            let now = store.now();
            match renkei_vuln::cases::remind(store, &state.vuln, now).await {
                Ok(r) if r.mails == 0 && r.escalated.is_empty() => {}
                Ok(r) => tracing::info!(
                    reminded = r.reminded.len(),
                    escalated = r.escalated.len(),
                    mails = r.mails,
                    "vendors reminded to acknowledge"
                ),
                Err(e) => tracing::warn!(error = %e, "vendor reminders not sent; will retry"),
            }
            match renkei_vuln::vendors::warn_expiring_keys(store, &state.vuln, now).await {
                Ok(warned) if warned.is_empty() => {}
                Ok(warned) => tracing::info!(contacts = warned.len(), "vendor key expiry warned"),
                Err(e) => tracing::warn!(error = %e, "key expiry not warned; will retry"),
            }
            match renkei_vuln::cases::finder::tell_published(store, &state.vuln, now).await {
                Ok(told) if told.is_empty() => {}
                Ok(told) => tracing::info!(cases = ?told, "finders told their notes are out"),
                Err(e) => tracing::warn!(error = %e, "finders not told of publication; will retry"),
            }
            let zone = state.config.server.team_zone();
            match renkei_observe::outage::warn(store, &state.config.mail.from, zone, now).await {
                Ok(warned) if warned.is_empty() => {}
                Ok(warned) => {
                    tracing::warn!(sensors = ?warned, "administrators told of silent sensors")
                }
                Err(e) => tracing::warn!(error = %e, "silent sensors not warned of; will retry"),
            }
            // Rows from before search keys existed get them, a few thousand a minute.
            match renkei_incident::search::backfill(store, 5000).await {
                Ok(0) => {}
                Ok(n) => tracing::info!(rows = n, "older reports and incidents made searchable"),
                Err(e) => tracing::warn!(error = %e, "search keys not filled in; will retry"),
            }
            // Feed files whose node stopped before their sightings were merged.
            if let Err(e) = renkei_incident::indicators::merge_finished(store).await {
                tracing::warn!(error = %e, "staged feed sightings not merged; will retry");
            }
            // Days whose statistics changed are recounted into their summaries; until
            // then the statistics count them from their rows.
            match renkei_incident::summaries::refresh(store, Some(Duration::from_secs(20))).await {
                Ok(0) => {}
                Ok(n) => tracing::info!(days = n, "statistics summaries recounted"),
                Err(e) => {
                    tracing::warn!(error = %e, "statistics summaries not recounted; will retry")
                }
            }
            // Feed events and sensor listings kept before indicator pages existed.
            match renkei_incident::indicators::backfill(store, 500).await {
                Ok(0) => {}
                Ok(n) => tracing::info!(batches = n, "older feed events indexed by address"),
                Err(e) => tracing::warn!(error = %e, "feed events not indexed; will retry"),
            }
            match renkei_observe::sources::backfill(store).await {
                Ok(0) => {}
                Ok(n) => tracing::info!(rows = n, "older sensor listings indexed by address"),
                Err(e) => tracing::warn!(error = %e, "sensor listings not indexed; will retry"),
            }
            if let Err(e) = renkei_core::jobs::release(store, CLOCK_JOB, me).await {
                tracing::warn!(error = %e, "clock lease not released; it runs out by itself");
            }
        })
        .await
    }
}

/// Once a day, on one node: removes personal data older than `[retention]` keeps
/// it and records what went for the operations page. Looked at every ten minutes,
/// the first time a few minutes after start, so a node restarting in a loop does
/// not run it each time.
fn retention_worker(
    state: &AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> impl Future<Output = ()> + Send + 'static {
    use renkei_core::privacy::retention;
    let state = state.clone();
    async move {
        tokio::pin!(shutdown);
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_secs(300)) => {}
            _ = &mut shutdown => return,
        }
        every("retention", Duration::from_secs(600), shutdown, || async {
            let (store, me) = (&state.store, state.node_id.as_str());
            match retention::due(store).await {
                Ok(true) => {}
                Ok(false) => return,
                Err(e) => {
                    tracing::warn!(error = %e, "retention runs not read; will retry");
                    return;
                }
            }
            match renkei_core::jobs::lease(store, retention::JOB, me, chrono::Duration::hours(2))
                .await
            {
                Ok(true) => {}
                Ok(false) => return,
                Err(e) => {
                    tracing::warn!(error = %e, "retention lease not read; will retry");
                    return;
                }
            }
            // Another node may have finished a run while this one waited.
            if matches!(retention::due(store).await, Ok(true)) {
                match retention::run_recorded(store, &state.config.retention, me).await {
                    Ok(run) => tracing::info!(removed = ?run.removed, "retention applied"),
                    Err(e) => tracing::warn!(error = %e, "retention not applied; will retry"),
                }
            }
            if let Err(e) = renkei_core::jobs::release(store, retention::JOB, me).await {
                tracing::warn!(error = %e, "retention lease not released; it runs out by itself");
            }
        })
        .await
    }
}

/// With a bus: pulls work from one lane and handles each message once, acknowledging
/// only after the commit. Without one: nothing.
fn consumer<H, F>(
    state: &AppState,
    lane: fn(&WorkBus) -> &Lane,
    handle: H,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> impl Future<Output = ()> + Send + 'static
where
    H: Fn(AppState, renkei_bus::Delivery) -> F + Send + Sync + 'static,
    F: Future<Output = renkei_bus::Handled> + Send,
{
    let state = state.clone();
    async move {
        let Some(b) = state.bus.clone() else {
            return;
        };
        let lane = lane(&b);
        let run = |d| handle(state.clone(), d);
        if let Err(e) = b
            .bus
            .consume(&lane.stream, &lane.durable, b.ack_wait, run, shutdown)
            .await
        {
            tracing::error!(error = %e, stream = %lane.stream, "a bus consumer stopped");
        }
    }
}

/// Every minute, tries again the reports still waiting two minutes after they came in
/// (processing failed, or a node died on the way); one that fails again is set aside
/// for review with the reason.
fn intake_retry(
    state: &AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> impl Future<Output = ()> + Send + 'static {
    let store = state.store.clone();
    let settings = state.intake.clone();
    every(
        "intake retry",
        Duration::from_secs(60),
        shutdown,
        move || {
            let (store, settings) = (store.clone(), settings.clone());
            async move {
                let age = chrono::Duration::minutes(2);
                match renkei_incident::reports::retry_stuck(&store, &settings, age, 100).await {
                    Ok(0) => {}
                    Ok(n) => tracing::info!(reports = n, "waiting reports tried again"),
                    Err(e) => {
                        tracing::warn!(error = %e, "waiting reports not tried again; will retry")
                    }
                }
            }
        },
    )
}

/// With `audit.checkpoint_file` set: every `audit.checkpoint_interval_secs`, when the
/// audit log has grown, signs its head with the team key and sends it out of the
/// database's reach (the file, the log, `audit.checkpoint_mail`).
fn audit_checkpointer(
    state: &AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> impl Future<Output = ()> + Send + 'static {
    let store = state.store.clone();
    let key = state.notify.team_key.clone();
    let audit = state.config.audit.clone();
    let from = state.config.mail.from.clone();
    let last = Arc::new(std::sync::atomic::AtomicI64::new(-1));
    async move {
        let Some(key) = key.filter(|_| !audit.checkpoint_file.is_empty()) else {
            return;
        };
        let period = Duration::from_secs(audit.checkpoint_interval_secs);
        every("audit checkpoints", period, shutdown, || async {
            use std::sync::atomic::Ordering;
            match renkei_core::audit::head(&store).await {
                Ok(h) if h.seq == last.load(Ordering::Relaxed) => return,
                Ok(_) => {}
                Err(e) => {
                    tracing::warn!(error = %e, "audit head not read; will retry");
                    return;
                }
            }
            let to = renkei_mail::checkpoint::Destinations {
                file: Some(std::path::Path::new(&audit.checkpoint_file)),
                mail: (!audit.checkpoint_mail.is_empty() && !from.is_empty())
                    .then_some((from.as_str(), audit.checkpoint_mail.as_str())),
            };
            match renkei_mail::checkpoint::take(&store, &key, to).await {
                Ok(c) => last.store(c.seq, Ordering::Relaxed),
                Err(e) => tracing::error!(error = %e, "audit checkpoint not taken; will retry"),
            }
        })
        .await
    }
}

/// Says every ten seconds that this node is alive, for the operations page.
fn heartbeat(
    state: &AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> impl Future<Output = ()> + Send + 'static {
    let store: Store = state.store.clone();
    let address = state.config.public_url();
    let me = state.node_id.clone();
    every("heartbeat", Duration::from_secs(10), shutdown, move || {
        let (store, me, address) = (store.clone(), me.clone(), address.clone());
        async move {
            if let Err(e) = renkei_core::nodes::heartbeat(&store, &me, &address).await {
                tracing::warn!(error = %e, "heartbeat not written");
            }
        }
    })
}
