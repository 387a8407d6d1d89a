//! Renkei's web face: the server-rendered pages and the JSON API under /api/v1.
//!
//! [`build`] turns a [`Config`] into a ready [`Server`] (database opened and migrated,
//! routes assembled); [`Server::run`] serves it on a listener until `shutdown`
//! resolves. The binary and the integration tests call the same two functions.

pub mod api;
pub mod api_feeds;
pub mod api_incidents;
pub mod api_notify;
pub mod api_observe;
pub mod api_publish;
pub mod api_vuln;
pub mod auth;
pub mod error;
pub mod feeds_vuln;
pub mod i18n;
pub mod limiter;
pub mod metrics;
pub mod openapi;
pub mod ops;
pub mod pages;
pub mod pages_incidents;
pub mod pages_notify;
pub mod pages_observe;
pub mod pages_passkey;
pub mod pages_publish;
pub mod pages_report;
pub mod pages_vuln;
pub mod routes;
pub mod serve;
pub mod sso;
pub mod state;
pub mod text_input;

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::DefaultBodyLimit;
use axum::http::StatusCode;
use axum::middleware::{from_fn, from_fn_with_state};
use axum::{Extension, Router};
use renkei_core::config::Config;
use renkei_core::{CoreError, Store, accounts, settings};
use tokio::net::TcpListener;
use tower_http::trace::TraceLayer;

pub use error::AppError;
pub use routes::RouteSpec;
use state::AppState;

#[derive(Debug, thiserror::Error)]
pub enum WebError {
    #[error(transparent)]
    Core(#[from] CoreError),
    #[error("server: {0}")]
    Io(#[from] std::io::Error),
    #[error(transparent)]
    Enrich(#[from] renkei_enrich::EnrichError),
    #[error("{0}")]
    SigningKey(String),
    #[error("bus: {0}")]
    Bus(#[from] renkei_bus::BusError),
}

/// The route list, handed to the handlers that describe the API.
#[derive(Clone)]
pub struct Specs(pub Arc<Vec<&'static RouteSpec>>);

pub struct Server {
    state: AppState,
    router: Router,
    specs: Arc<Vec<&'static RouteSpec>>,
    setup_token: Option<String>,
}

/// Rolls up the accepted sensor batches, one roll-up at a time in this process.
pub(crate) fn roll_up(
    state: &AppState,
) -> impl Future<Output = Result<renkei_observe::collector::RollUp, renkei_observe::ObserveError>>
+ Send
+ 'static {
    let (store, settings, lock) = (
        state.store.clone(),
        state.observe.clone(),
        state.roll_up.clone(),
    );
    async move {
        let _one = lock.lock().await;
        renkei_observe::collector::roll_up(&store, &settings).await
    }
}

/// Refuses a body whose declared length is over the limit before reading it:
/// `server.body_limit_bytes`, or `observe.max_batch_bytes` for sensor batches (an
/// hour of a busy sensor is megabytes). Extractors enforce the same limits on
/// bodies sent without a length.
async fn body_limit(
    axum::extract::State(state): axum::extract::State<AppState>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Result<axum::response::Response, AppError> {
    let limit = body_limit_for(&state, request.uri().path());
    let declared = request
        .headers()
        .get(axum::http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > limit as u64) {
        return Err(AppError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload_too_large",
            "the request body is larger than this server accepts",
        ));
    }
    Ok(next.run(request).await)
}

/// The largest body a route takes: feeds and sensor batches have their own limits.
pub(crate) fn body_limit_for(state: &AppState, path: &str) -> usize {
    let server = state.config.server.body_limit_bytes;
    if api_feeds::is_upload(path) {
        server.max(state.config.intake.max_feed_bytes)
    } else if path == api_observe::BATCH_PATH {
        server.max(state.config.observe.max_batch_bytes)
    } else {
        server
    }
}

/// One kind of work on the bus: its stream, its subject, and the durable consumer
/// every node pulls from.
pub struct Lane {
    pub stream: String,
    pub subject: String,
    pub durable: String,
}

impl Lane {
    fn named(prefix: &str, kind: &str) -> Lane {
        Lane {
            stream: format!(
                "{}_{}",
                prefix.to_ascii_uppercase(),
                kind.to_ascii_uppercase()
            ),
            subject: format!("{prefix}.{kind}"),
            durable: format!("{prefix}-{kind}"),
        }
    }
}

/// The work that goes through NATS JetStream when `[bus] nats_url` is set: sensor
/// batches and bulk-feed chunks, each taken by whichever node pulls it first.
pub struct WorkBus {
    pub bus: renkei_bus::Bus,
    pub batches: Lane,
    pub feeds: Lane,
    pub ack_wait: Duration,
}

impl WorkBus {
    pub async fn connect(
        url: &str,
        config: &renkei_core::config::BusConfig,
    ) -> Result<WorkBus, WebError> {
        let bus = renkei_bus::Bus::connect(url).await?;
        let b = WorkBus {
            bus,
            batches: Lane::named(&config.prefix, "batches"),
            feeds: Lane::named(&config.prefix, "feeds"),
            ack_wait: Duration::from_secs(config.ack_wait_secs),
        };
        // A repeat of the same message within ten minutes is dropped by JetStream
        // itself; later ones by the database's keys (sensor and sequence number; feed
        // file and first row).
        for lane in [&b.batches, &b.feeds] {
            b.bus
                .ensure_stream(&lane.stream, &lane.subject, Duration::from_secs(600))
                .await?;
        }
        Ok(b)
    }

    /// The key JetStream drops repeated batches by.
    pub fn batch_id(sensor_id: i64, seq: i64) -> String {
        format!("batch.{sensor_id}.{seq}")
    }

    /// The key JetStream drops repeated feed chunks by: the import (one per feed and
    /// file hash) and the chunk's first row.
    pub fn chunk_id(report: i64, first_row: u64) -> String {
        format!("feed.{report}.{first_row}")
    }

    /// (pending, unacknowledged) of a lane.
    pub async fn lag(&self, lane: &Lane) -> Result<(u64, u64), renkei_bus::BusError> {
        self.bus.lag(&lane.stream, &lane.durable).await
    }
}

/// Runs `job` every `period` (the first time at once) until `shutdown`: the shape of
/// every background worker here.
async fn every<F, Fut>(period: Duration, shutdown: impl Future<Output = ()>, mut job: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = ()>,
{
    let mut tick = tokio::time::interval(period);
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = &mut shutdown => return,
        }
        job().await;
    }
}

/// The lease that lets one node at a time compute observation trend notes.
pub const TREND_JOB: &str = "observe.trends";

pub async fn build(config: Config) -> Result<Server, WebError> {
    config.validate()?;
    let store = Store::open(&config.database.url, config.database.max_connections).await?;
    build_with_store(config, store).await
}

/// Assembles the application on an already open store.
pub async fn build_with_store(config: Config, store: Store) -> Result<Server, WebError> {
    let csrf_key = settings::secret(&store, "csrf_key").await?;
    let setup_token =
        accounts::first_admin_setup_token(&store, config.security.setup_link_ttl_hours).await?;
    let limit = config.server.body_limit_bytes;
    let enricher = renkei_enrich::Enricher::open(&store).await?;
    let notify = Arc::new(
        renkei_incident::notify::Settings::from_config(&config)
            .map_err(|e| WebError::SigningKey(e.to_string()))?,
    );
    let vuln = Arc::new(renkei_vuln::Settings::from_config(
        &config,
        notify.team_key.clone(),
    ));
    let lists = Arc::new(renkei_publish::lists::Settings {
        public_url: vuln.public_url.clone(),
        from: config.mail.from.clone(),
        relay: config.mail.relay.clone(),
        team_key: notify.team_key.clone(),
        connections: config.publish.list_connections,
        lease_secs: config.publish.list_lease_secs as i64,
    });
    let warnings = Arc::new(renkei_publish::warnings::Settings {
        public_url: lists.public_url.clone(),
        from: lists.from.clone(),
        team_key: lists.team_key.clone(),
    });
    let bus = match config.bus.nats_url.as_str() {
        "" => None,
        url => {
            let b = WorkBus::connect(url, &config.bus).await?;
            tracing::info!(batches = %b.batches.stream, feeds = %b.feeds.stream, "sensor batches and feed chunks go through NATS JetStream");
            Some(Arc::new(b))
        }
    };
    let relying_party =
        renkei_core::second_factor::passkey::RelyingParty::from_public_url(&config.public_url())
            .map(Arc::new);
    let state = AppState {
        relying_party,
        bus,
        vuln,
        lists,
        warnings,
        observe: Arc::new(renkei_observe::Settings::from_config(&config)),
        roll_up: Arc::new(tokio::sync::Mutex::new(())),
        batches_seen: Arc::default(),
        clock: renkei_core::time::Clock::system(),
        node_id: Arc::new(renkei_core::nodes::new_node_id()),
        limiter: Arc::new(limiter::LoginLimiter::new(
            store.clone(),
            config.security.login_max_attempts,
            Duration::from_secs(config.security.login_window_secs),
        )),
        metrics: Arc::new(metrics::Metrics::default()),
        intake: Arc::new(renkei_incident::Settings {
            attachment_limit: config.intake.attachment_limit_bytes,
            link_window_days: config.intake.link_window_days,
            confirm_from: (config.mail.confirm_reports && !config.mail.from.is_empty())
                .then(|| config.mail.from.clone()),
            enricher: Some(enricher.clone()),
        }),
        enricher,
        notify,
        form_limiter: Arc::new(limiter::RateLimiter::new(
            store.clone(),
            "form",
            config.intake.form_reports_per_hour.max(1),
            Duration::from_secs(3600),
        )),
        csrf_key: Arc::new(csrf_key),
        config: Arc::new(config),
        store,
    };
    let (routes, specs) = routes::build(state.clone());
    let specs = Arc::new(specs);
    let router = routes
        .fallback(|| async {
            AppError::new(
                StatusCode::NOT_FOUND,
                "no_route",
                "there is nothing at this address",
            )
        })
        .layer(Extension(Specs(specs.clone())))
        .layer(from_fn_with_state(state.clone(), auth::resolve))
        .layer(from_fn_with_state(state.clone(), text_input::refuse_nul))
        .layer(DefaultBodyLimit::max(limit))
        .layer(from_fn_with_state(state.clone(), body_limit))
        .layer(from_fn(error::render_errors))
        .layer(from_fn(error::security_headers))
        .layer(from_fn_with_state(state.clone(), metrics::track))
        .layer(serve::body_timeout(Duration::from_secs(
            state.config.server.body_timeout_secs,
        )))
        .layer(TraceLayer::new_for_http())
        .with_state(state.clone());
    Ok(Server {
        state,
        router,
        specs,
        setup_token,
    })
}

impl Server {
    pub fn store(&self) -> &Store {
        &self.state.store
    }

    pub fn config(&self) -> &Config {
        &self.state.config
    }

    pub fn routes(&self) -> &[&'static RouteSpec] {
        &self.specs
    }

    /// The one-time link for creating the first admin, on an installation without
    /// accounts.
    pub fn setup_url(&self) -> Option<String> {
        self.setup_token
            .as_ref()
            .map(|t| format!("{}/setup/{t}", self.state.config.public_url()))
    }

    /// The built-in SMTP intake listener, when `[intake.smtp] listen` is set: each
    /// accepted message becomes a report (or joins a thread), stored before it is read.
    pub fn smtp_intake(&self) -> Option<renkei_mail::SmtpServer> {
        let cfg = &self.state.config.intake.smtp;
        if cfg.listen.is_empty() {
            return None;
        }
        let store = self.state.store.clone();
        let settings = self.state.intake.clone();
        let sink: renkei_mail::Sink = Arc::new(move |envelope, data| {
            let store = store.clone();
            let settings = settings.clone();
            Box::pin(async move {
                use renkei_incident::reports::{self, Channel, InputFormat};
                let actor = renkei_core::audit::Actor {
                    user_id: None,
                    label: format!("smtp:{}", envelope.peer),
                };
                let tlp = renkei_core::tlp::Tlp::Amber;
                let result = reports::ingest(
                    &store,
                    &settings,
                    &actor,
                    Channel::Mail,
                    InputFormat::Mail,
                    &data,
                    tlp,
                    None,
                )
                .await;
                if result.is_ok() {
                    crate::api_publish::list_bounce(&store, &data).await;
                }
                match result {
                    Ok(out) => Ok(match out.thread_of {
                        Some(t) => format!("report #{} (joined #{t})", out.report),
                        None => format!("report #{}", out.report),
                    }),
                    Err(e) => Err(renkei_mail::Rejected(e.to_string())),
                }
            })
        });
        let hostname = self
            .state
            .config
            .public_url()
            .split("://")
            .nth(1)
            .and_then(|h| h.split([':', '/']).next())
            .unwrap_or("renkei")
            .to_string();
        Some(renkei_mail::SmtpServer::build(
            renkei_mail::SmtpConfig {
                hostname,
                addresses: cfg.addresses.clone(),
                max_message_bytes: cfg.max_message_bytes,
                idle_timeout: Duration::from_secs(300),
            },
            sink,
        ))
    }

    /// The clock embargoes and deadlines are judged by; tests move it forward.
    pub fn clock(&self) -> &renkei_core::time::Clock {
        &self.state.clock
    }

    /// The worker that sends alerts and weekly reports to the mailing lists.
    pub fn list_sender(&self) -> renkei_publish::lists::ListSender {
        renkei_publish::lists::ListSender::build(
            self.state.store.clone(),
            (*self.state.lists).clone(),
        )
    }

    pub fn list_settings(&self) -> &Arc<renkei_publish::lists::Settings> {
        &self.state.lists
    }

    pub fn observe_settings(&self) -> &Arc<renkei_observe::Settings> {
        &self.state.observe
    }

    /// Counts every accepted sensor batch into the observation views now (the
    /// server does it right after each batch and every minute).
    pub fn observation_roll_up(
        &self,
    ) -> impl Future<
        Output = Result<renkei_observe::collector::RollUp, renkei_observe::ObserveError>,
    > + Send
    + 'static {
        roll_up(&self.state)
    }

    /// The enrichment tables in use on this node.
    pub fn enricher(&self) -> &renkei_enrich::Enricher {
        &self.state.enricher
    }

    /// Keeps this node's enrichment tables in step with the database (loads made on
    /// any node, or with `renkei enrich load`).
    pub fn enrich_refresher(
        &self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> impl Future<Output = ()> + Send + 'static {
        let enricher = self.state.enricher.clone();
        let store = self.state.store.clone();
        let every = Duration::from_secs(self.state.config.enrich.refresh_secs.max(1));
        async move { enricher.run(store, every, shutdown).await }
    }

    /// Recomputes observation trend notes for the days sensor batches touched, every
    /// minute, until `shutdown`.
    pub fn trend_worker(
        &self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> impl Future<Output = ()> + Send + 'static {
        let store = self.state.store.clone();
        let settings = self.state.observe.clone();
        let clock = self.state.clock.clone();
        let state = self.state.clone();
        async move {
            let mut tick = tokio::time::interval(Duration::from_secs(60));
            tokio::pin!(shutdown);
            loop {
                tokio::select! {
                    _ = tick.tick() => {}
                    _ = &mut shutdown => return,
                }
                if let Err(e) = roll_up(&state).await {
                    tracing::warn!(error = %e, "sensor batches not rolled up; will retry");
                }
                // One node computes the notes at a time; if it dies, its lease runs
                // out and the next node's tick takes the job.
                let me = state.node_id.as_str();
                match renkei_core::nodes::lease(
                    &store,
                    TREND_JOB,
                    me,
                    chrono::Duration::minutes(10),
                )
                .await
                {
                    Ok(true) => {}
                    Ok(false) => continue,
                    Err(e) => {
                        tracing::warn!(error = %e, "trend lease not read; will retry");
                        continue;
                    }
                }
                let today = settings.day_of(clock.now().timestamp());
                match renkei_observe::trends::run_due(&store, &settings, &today).await {
                    Ok(0) => {}
                    Ok(n) => tracing::info!(days = n, "observation trend notes recomputed"),
                    Err(e) => tracing::warn!(error = %e, "trend notes not recomputed; will retry"),
                }
                if let Err(e) = renkei_core::nodes::release(&store, TREND_JOB, me).await {
                    tracing::warn!(error = %e, "trend lease not released; it runs out by itself");
                }
            }
        }
    }

    /// With a bus: pulls sensor batches from it and stores each once, acknowledging
    /// only after the commit, until `shutdown`. Without one: does nothing.
    pub fn batch_consumer(
        &self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> impl Future<Output = ()> + Send + 'static {
        self.consumer(
            |b| &b.batches,
            |state, d| async move { crate::api_observe::store_from_bus(&state, d).await },
            shutdown,
        )
    }

    /// With a bus: pulls bulk-feed chunks from it and counts each once (the node that
    /// counts a file's last chunk queues its notifications), until `shutdown`.
    pub fn feed_consumer(
        &self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> impl Future<Output = ()> + Send + 'static {
        self.consumer(
            |b| &b.feeds,
            |state, d| async move { crate::api_feeds::chunk_from_bus(&state, d).await },
            shutdown,
        )
    }

    fn consumer<H, F>(
        &self,
        lane: fn(&WorkBus) -> &Lane,
        handle: H,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> impl Future<Output = ()> + Send + 'static
    where
        H: Fn(AppState, renkei_bus::Delivery) -> F + Send + Sync + 'static,
        F: Future<Output = renkei_bus::Handled> + Send,
    {
        let state = self.state.clone();
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

    /// Every minute, tries again the reports still waiting two minutes after they
    /// came in (processing failed, or a node died on the way); one that fails again
    /// is set aside for review with the reason. Until `shutdown`.
    pub fn intake_retry(
        &self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> impl Future<Output = ()> + Send + 'static {
        let store = self.state.store.clone();
        let settings = self.state.intake.clone();
        every(Duration::from_secs(60), shutdown, move || {
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
        })
    }

    /// With `audit.checkpoint_file` set: every `audit.checkpoint_interval_secs`, when
    /// the audit log has grown, signs its head with the team key and sends it out of
    /// the database's reach (the file, the log, `audit.checkpoint_mail`). Until
    /// `shutdown`.
    pub fn audit_checkpointer(
        &self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> impl Future<Output = ()> + Send + 'static {
        let store = self.state.store.clone();
        let key = self.state.notify.team_key.clone();
        let audit = self.state.config.audit.clone();
        let from = self.state.config.mail.from.clone();
        let last = Arc::new(std::sync::atomic::AtomicI64::new(-1));
        async move {
            let Some(key) = key.filter(|_| !audit.checkpoint_file.is_empty()) else {
                return;
            };
            let period = Duration::from_secs(audit.checkpoint_interval_secs);
            every(period, shutdown, || async {
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
    pub fn heartbeat(
        &self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> impl Future<Output = ()> + Send + 'static {
        let store = self.state.store.clone();
        let address = self.state.config.public_url();
        let me = self.state.node_id.clone();
        every(Duration::from_secs(10), shutdown, move || {
            let (store, me, address) = (store.clone(), me.clone(), address.clone());
            async move {
                if let Err(e) = renkei_core::nodes::heartbeat(&store, &me, &address).await {
                    tracing::warn!(error = %e, "heartbeat not written");
                }
            }
        })
    }

    /// The worker that sends queued mail through `[mail] relay`.
    pub fn outbox_worker(&self) -> renkei_mail::OutboxWorker {
        renkei_mail::OutboxWorker::build(self.state.store.clone(), &self.state.config.mail)
    }

    pub fn router(&self) -> Router {
        self.router.clone()
    }

    /// Serves until `shutdown` resolves, then lets in-flight requests finish for up to
    /// `server.shutdown_grace_secs`.
    pub async fn run(
        self,
        listener: TcpListener,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> Result<(), WebError> {
        let server = &self.state.config.server;
        let limits = serve::Limits {
            header_timeout: Duration::from_secs(server.header_timeout_secs),
            per_address: server.max_connections_per_address,
            grace: Duration::from_secs(server.shutdown_grace_secs),
        };
        serve::serve(listener, self.router, limits, shutdown).await;
        self.state.store.close().await;
        Ok(())
    }

    /// Serves `/metrics` alone, to whoever reaches `listener` (`server.metrics_listen`),
    /// until `shutdown`.
    pub fn serve_metrics(
        &self,
        listener: TcpListener,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> impl Future<Output = ()> + Send + 'static {
        let router = Router::new()
            .route("/metrics", axum::routing::get(pages::metrics))
            .with_state(self.state.clone());
        let limits = serve::Limits {
            header_timeout: Duration::from_secs(self.state.config.server.header_timeout_secs),
            per_address: 0,
            grace: Duration::from_secs(1),
        };
        serve::serve(listener, router, limits, shutdown)
    }
}
