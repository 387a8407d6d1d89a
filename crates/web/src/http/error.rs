//! The one HTTP error boundary.
//!
//! Handlers return [`AppError`]; it carries a status, a stable code and a message
//! that is safe to show. Internal errors are logged with an id and shown only as
//! "internal error (id)". [`render_errors`] then turns every error response — ours,
//! or one axum produced itself (unknown route, wrong method, body too large) — into a
//! JSON body under /api and a readable page elsewhere.

use axum::body::Body;
use axum::extract::Request;
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use renkei_core::lang::Lang;
use renkei_core::{Classify, CoreError, Kind};

use crate::http::i18n;
use crate::http::request_id::RequestId;

/// Responses that already are complete pages (a login form showing "wrong password")
/// carry this so that the boundary leaves them as they are.
#[derive(Clone, Copy)]
pub struct Rendered;

#[derive(Debug, Clone)]
pub struct AppError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
    /// Each problem found, for errors that have several (a document's schema
    /// errors by JSON path).
    pub details: Vec<String>,
}

impl AppError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        AppError {
            status,
            code,
            message: message.into(),
            details: Vec::new(),
        }
    }

    pub fn bad_request(code: &'static str, message: impl Into<String>) -> Self {
        AppError::new(StatusCode::BAD_REQUEST, code, message)
    }

    pub fn not_found() -> Self {
        AppError::new(StatusCode::NOT_FOUND, "not_found", "not found")
    }

    pub fn internal(err: impl std::fmt::Display) -> Self {
        let id = renkei_core::secrets::random_token("")[..10].to_string();
        tracing::error!(error_id = %id, error = %err, "internal error");
        AppError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            format!("internal error ({id}); the administrators can find it in the log"),
        )
    }
}

impl AppError {
    /// The answer for an error of any library crate: its kind gives the status, its
    /// code and message go to the caller; internal ones are logged and hidden.
    pub fn classified(err: &dyn Classify) -> Self {
        let status = match err.kind() {
            Kind::Invalid => StatusCode::UNPROCESSABLE_ENTITY,
            Kind::NotFound => StatusCode::NOT_FOUND,
            Kind::Conflict => StatusCode::CONFLICT,
            Kind::Unauthenticated => StatusCode::UNAUTHORIZED,
            Kind::Forbidden => StatusCode::FORBIDDEN,
            Kind::Config | Kind::Internal => return AppError::internal(err),
        };
        AppError {
            details: err.details(),
            ..AppError::new(status, err.code(), err.message())
        }
    }
}

/// `?` on any library crate's error in a handler.
macro_rules! from_classified {
    ($($error:ty),* $(,)?) => {
        $(impl From<$error> for AppError {
            fn from(err: $error) -> Self {
                AppError::classified(&err)
            }
        })*
    };
}

from_classified!(
    CoreError,
    renkei_incident::IncidentError,
    renkei_vuln::VulnError,
    renkei_observe::ObserveError,
    renkei_report::ReportError,
    renkei_publish::PublishError,
    renkei_enrich::EnrichError,
);

impl From<askama::Error> for AppError {
    fn from(err: askama::Error) -> Self {
        AppError::internal(format!("template: {err}"))
    }
}

impl IntoResponse for AppError {
    fn into_response(self) -> Response {
        let mut response = self.status.into_response();
        response.extensions_mut().insert(self);
        response
    }
}

fn code_for_status(status: StatusCode) -> &'static str {
    match status {
        StatusCode::BAD_REQUEST => "bad_request",
        StatusCode::UNAUTHORIZED => "unauthenticated",
        StatusCode::FORBIDDEN => "forbidden",
        StatusCode::NOT_FOUND => "no_route",
        StatusCode::METHOD_NOT_ALLOWED => "method_not_allowed",
        StatusCode::PAYLOAD_TOO_LARGE => "payload_too_large",
        StatusCode::UNSUPPORTED_MEDIA_TYPE => "unsupported_media_type",
        StatusCode::UNPROCESSABLE_ENTITY => "invalid_input",
        StatusCode::TOO_MANY_REQUESTS => "rate_limited",
        s if s.is_server_error() => "internal",
        _ => "error",
    }
}

fn message_for_status(status: StatusCode) -> String {
    match status {
        StatusCode::NOT_FOUND => "there is nothing at this address".into(),
        StatusCode::METHOD_NOT_ALLOWED => "this address does not accept that method".into(),
        StatusCode::PAYLOAD_TOO_LARGE => {
            "the request body is larger than this server accepts".into()
        }
        s => s.canonical_reason().unwrap_or("error").to_lowercase(),
    }
}

pub fn is_api_path(path: &str) -> bool {
    path == "/api" || path.starts_with("/api/")
}

/// Outermost middleware: gives every error response its final form.
pub async fn render_errors(request: Request, next: Next) -> Response {
    let api = is_api_path(request.uri().path());
    let lang = i18n::request_lang(request.headers(), None);
    let request_id = request
        .extensions()
        .get::<RequestId>()
        .map(|r| r.0.clone())
        .unwrap_or_default();
    let response = next.run(request).await;
    let status = response.status();
    if !(status.is_client_error() || status.is_server_error())
        || response.extensions().get::<Rendered>().is_some()
    {
        return response;
    }
    let error = match response.extensions().get::<AppError>() {
        Some(e) => e.clone(),
        None => AppError::new(status, code_for_status(status), message_for_status(status)),
    };
    let (mut parts, _) = response.into_parts();
    parts.headers.remove(header::CONTENT_LENGTH);
    parts
        .headers
        .insert("x-renkei-error", HeaderValue::from_static(error.code));
    let body = if api {
        parts.headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        let mut body = serde_json::json!({"code": error.code, "message": error.message, "request_id": request_id});
        if !error.details.is_empty() {
            body["details"] = serde_json::json!(error.details);
        }
        serde_json::json!({ "error": body }).to_string()
    } else {
        parts.headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/html; charset=utf-8"),
        );
        error_page(&error, lang, &request_id)
    };
    Response::from_parts(parts, Body::from(body))
}

fn error_page(error: &AppError, lang: Lang, request_id: &str) -> String {
    use askama::Template;
    let page = crate::pages::ErrorPage {
        catalog: i18n::catalog(lang),
        lang: lang.as_str(),
        status: error.status.as_u16(),
        code: error.code,
        message: &error.message,
        request_id,
    };
    page.render().unwrap_or_else(|_| {
        format!(
            "<!doctype html><title>{}</title><p>{}</p>",
            error.status, error.code
        )
    })
}

/// Headers every answer carries: no sniffing, no framing (clickjacking), no referrer
/// leaking case paths to other sites, a strict content policy for pages, and no
/// caching of anything that may be confidential.
pub async fn security_headers(request: Request, next: Next) -> Response {
    let mut response = next.run(request).await;
    let h = response.headers_mut();
    h.insert(
        "x-content-type-options",
        HeaderValue::from_static("nosniff"),
    );
    h.insert("x-frame-options", HeaderValue::from_static("DENY"));
    h.insert("referrer-policy", HeaderValue::from_static("same-origin"));
    h.insert(
        "content-security-policy",
        HeaderValue::from_static(
            "default-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
        ),
    );
    if !h.contains_key(header::CACHE_CONTROL) {
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    response
}
