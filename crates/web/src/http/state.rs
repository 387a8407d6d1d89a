//! What every handler shares.

use std::sync::Arc;

use renkei_core::Store;
use renkei_core::config::Config;

use crate::http::limiter::{LoginLimiter, RateLimiter};
use crate::http::metrics::Metrics;

#[derive(Clone)]
pub struct AppState {
    pub store: Store,
    pub config: Arc<Config>,
    pub csrf_key: Arc<Vec<u8>>,
    pub limiter: Arc<LoginLimiter>,
    pub metrics: Arc<Metrics>,
    pub intake: Arc<renkei_incident::Settings>,
    pub form_limiter: Arc<RateLimiter>,
    pub enricher: renkei_enrich::Enricher,
    pub notify: Arc<renkei_incident::notify::Settings>,
    /// What each incident is owed and by when (`[clocks]`).
    pub clocks: Arc<renkei_incident::clocks::Clocks>,
    pub vuln: Arc<renkei_vuln::Settings>,
    pub lists: Arc<renkei_publish::lists::Settings>,
    pub warnings: Arc<renkei_publish::warnings::Settings>,
    pub observe: Arc<renkei_observe::Settings>,
    /// One roll-up of sensor batches at a time in this process.
    pub roll_up: Arc<tokio::sync::Mutex<()>>,
    /// Work a request leaves running after its answer (a roll-up after a sensor
    /// batch); the runtime waits for it before closing the database.
    pub background: tokio_util::task::TaskTracker,
    /// Sensor batches accepted by this process, so that a burst is rolled up once
    /// it is over rather than batch by batch.
    pub batches_seen: Arc<std::sync::atomic::AtomicU64>,
    /// This server's name among the nodes sharing the database.
    pub node_id: Arc<String>,
    /// Sensor batches and feed chunks through NATS JetStream, when `[bus] nats_url` is set.
    pub bus: Option<Arc<crate::WorkBus>>,
    /// Renkei to browsers for security keys, when `server.public_url` names a host
    /// (WebAuthn refuses bare IP addresses).
    pub relying_party: Option<Arc<renkei_core::second_factor::passkey::RelyingParty>>,
}

impl AppState {
    /// Which note IDs and CVEs a public answer may name, now.
    pub async fn disclosure(
        &self,
    ) -> Result<renkei_vuln::notes::Disclosure, crate::http::error::AppError> {
        Ok(renkei_vuln::notes::Disclosure::at(&self.store, self.store.now()).await?)
    }

    /// Public submissions (a finder's report, a vendor's application) without an
    /// account are limited per client address; signed-in callers are not.
    pub async fn anonymous_submission_throttled(&self, auth: &crate::http::auth::Auth) -> bool {
        auth.principal.user().is_none() && !self.form_limiter.allow(&auth.client).await
    }
}
