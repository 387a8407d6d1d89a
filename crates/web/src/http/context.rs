//! The request context: what a handler needs of the node and of its caller — the
//! shared state (store, settings), who is calling, and the clock read once for the
//! request — taken by one extractor instead of three.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use chrono::{DateTime, Utc};
use renkei_core::Store;
use renkei_core::access::Principal;

use crate::http::auth::Auth;
use crate::http::error::AppError;
use crate::http::state::AppState;

pub struct Ctx {
    pub state: AppState,
    pub auth: Auth,
    /// "Now" for everything this request decides (embargoes, deadlines).
    pub now: DateTime<Utc>,
}

impl FromRequestParts<AppState> for Ctx {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, AppError> {
        let auth = parts
            .extensions
            .get::<Auth>()
            .cloned()
            .ok_or_else(|| AppError::internal("a request without its caller"))?;
        Ok(Ctx {
            state: state.clone(),
            auth,
            now: state.store.now(),
        })
    }
}

impl Ctx {
    pub fn store(&self) -> &Store {
        &self.state.store
    }

    pub fn caller(&self) -> &Principal {
        &self.auth.principal
    }

    /// The store, with the incidents' due times brought up to date first: what a
    /// reader of incidents starts with (cheap when nothing changed).
    pub async fn settled(&self) -> Result<&Store, AppError> {
        renkei_incident::clocks::settle_some(&self.state.store, &self.state.clocks).await?;
        Ok(&self.state.store)
    }

    /// What every call into the vulnerability pillar starts with.
    pub fn vuln(&self) -> (&Store, &renkei_vuln::Settings, &Principal) {
        (&self.state.store, &self.state.vuln, &self.auth.principal)
    }
}
