//! What every request goes through: the route registry with each route's access,
//! sign-in and CSRF ([`auth`]), the request context extractor ([`context::Ctx`]), the one error boundary ([`error`]), rate limits, the
//! connection-level server, request metrics, each request's id ([`request_id`]), the
//! shared state and the request's language.

pub mod auth;
pub mod context;
pub mod error;
pub mod form;
pub mod i18n;
pub mod limiter;
pub mod metrics;
pub mod request_id;
pub mod routes;
pub mod serve;
pub mod state;
pub mod text_input;
