//! Renkei's web face: the server-rendered pages and the JSON API under /api/v1.
//!
//! [`build`] turns a [`Config`] into a ready [`Server`] (database opened and migrated,
//! routes assembled); [`Server::start`] runs it with every background part until
//! [`Running::stop`]. The binary, the demo and the integration tests call the same
//! functions.
//!
//! # Layout
//! - [`http`]: what every request goes through — the route registry with each
//!   route's access (`http/routes.rs`, the one table to read first), sign-in and
//!   CSRF, the error boundary, limits, the shared state, the request's language;
//! - `api/`: the JSON API's handlers, one file per pillar;
//! - `pages/`: the server-rendered pages, one file per pillar, and sign-in flows;
//! - [`runtime`]: the listeners and background parts of a node, started and stopped
//!   together.

pub(crate) mod api;
pub mod http;
pub(crate) mod pages;
pub mod runtime;

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::DefaultBodyLimit;
use axum::http::StatusCode;
use axum::middleware::{from_fn, from_fn_with_state};
use axum::{Extension, Router};
use renkei_core::config::Config;
use renkei_core::{CoreError, Store, accounts, settings};
use tower_http::trace::TraceLayer;

pub use http::error::AppError;
pub use http::routes::RouteSpec;
use http::state::AppState;
pub use runtime::{Addresses, Listeners, Running, TREND_JOB};

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
    #[error("{0}")]
    Listen(String),
    /// A setting the configuration's own checks cannot judge (a clock rule).
    #[error("configuration: {0}")]
    Setting(String),
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
    if api::feeds::is_upload(path) {
        server.max(state.config.intake.max_feed_bytes)
    } else if path == api::observe::BATCH_PATH {
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

pub async fn build(config: Config) -> Result<Server, WebError> {
    config.validate()?;
    let store = Store::open(&config.database.url, config.database.max_connections).await?;
    build_with_store(config, store).await
}

/// Assembles the application on an already open store.
pub async fn build_with_store(config: Config, store: Store) -> Result<Server, WebError> {
    let schema = store.schema().await?;
    if schema.applied > schema.embedded {
        // A rolling upgrade: a newer node migrated first. This node still works
        // (migrations within a release only add), and should be upgraded next.
        tracing::warn!(
            database = schema.applied,
            node = schema.embedded,
            "the database was migrated by a newer Renkei; upgrade this node"
        );
    }
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
    let lists = Arc::new(renkei_publish::lists::Settings::from_config(
        &config,
        notify.team_key.clone(),
    ));
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
    let clocks = Arc::new(
        renkei_incident::clocks::Clocks::from_config(&config.clocks)
            .map_err(|e| WebError::Setting(e.to_string()))?,
    );
    let state = AppState {
        clocks,
        relying_party,
        bus,
        vuln,
        lists,
        warnings,
        observe: Arc::new(renkei_observe::Settings::from_config(&config)),
        roll_up: Arc::new(tokio::sync::Mutex::new(())),
        background: tokio_util::task::TaskTracker::new(),
        batches_seen: Arc::default(),
        node_id: Arc::new(renkei_core::nodes::new_node_id()),
        limiter: Arc::new(http::limiter::LoginLimiter::new(
            store.clone(),
            config.security.login_max_attempts,
            Duration::from_secs(config.security.login_window_secs),
        )),
        metrics: Arc::new(http::metrics::Metrics::default()),
        intake: Arc::new(renkei_incident::Settings {
            attachment_limit: config.intake.attachment_limit_bytes,
            link_window_days: config.intake.link_window_days,
            confirm_from: (config.mail.confirm_reports && !config.mail.from.is_empty())
                .then(|| config.mail.from.clone()),
            enricher: Some(enricher.clone()),
            team_key: notify.team_key.clone(),
            reply_window_days: config.intake.reply_window_days,
            public_url: config.public_url(),
            status_link_days: config.intake.status_link_days,
            unpack: unpack_limits(&config),
            feed_notify: Some((*notify).clone()),
            exercise_tags: config.mail.exercise_tags.clone(),
        }),
        enricher,
        notify,
        form_limiter: Arc::new(http::limiter::RateLimiter::new(
            store.clone(),
            "form",
            config.intake.form_reports_per_hour.max(1),
            Duration::from_secs(3600),
        )),
        csrf_key: Arc::new(csrf_key),
        config: Arc::new(config),
        store,
    };
    let (routes, specs) = http::routes::build(state.clone());
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
        .layer(from_fn_with_state(state.clone(), http::auth::resolve))
        .layer(from_fn_with_state(
            state.clone(),
            http::text_input::refuse_nul,
        ))
        .layer(DefaultBodyLimit::max(limit))
        .layer(from_fn_with_state(state.clone(), body_limit))
        .layer(from_fn(http::error::render_errors))
        .layer(from_fn(http::error::security_headers))
        .layer(from_fn_with_state(state.clone(), http::metrics::track))
        .layer(http::serve::body_timeout(Duration::from_secs(
            state.config.server.body_timeout_secs,
        )))
        .layer(TraceLayer::new_for_http())
        .layer(from_fn(http::request_id::assign))
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

    /// The clock embargoes and deadlines are judged by; tests move it forward.
    pub fn clock(&self) -> &renkei_core::time::Clock {
        self.state.store.clock()
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

    pub fn router(&self) -> Router {
        self.router.clone()
    }
}

/// How far a packed attachment may unpack, from `[intake]`.
pub fn unpack_limits(config: &Config) -> renkei_formats::archive::Limits {
    renkei_formats::archive::Limits {
        max_bytes: config.intake.unpack_max_bytes,
        max_ratio: config.intake.unpack_max_ratio,
        max_files: config.intake.unpack_max_files,
    }
}
