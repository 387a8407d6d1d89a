//! Each request's id: the one the proxy in front sent as `X-Request-Id` when it is a
//! plain token, or one made here. It is in the span every log line of the request
//! is written in, in the answer's `X-Request-Id`, and in every error body, so that
//! an operator finds a user's "request 3f2a…" in the logs of whichever node took it.

use axum::extract::Request;
use axum::http::HeaderValue;
use axum::middleware::Next;
use axum::response::Response;
use tracing::Instrument as _;

pub const HEADER: &str = "x-request-id";

/// The id of the request being answered, in its extensions.
#[derive(Debug, Clone)]
pub struct RequestId(pub String);

/// Accepts ids of up to 128 letters, digits, `-`, `_`, `.` and `:`: what proxies
/// send (UUIDs, Amazon's trace ids), never anything a log reader could mistake
/// for another field.
fn acceptable(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 128
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b':'))
}

fn fresh() -> String {
    use rand::RngCore as _;
    let mut b = [0u8; 12];
    rand::rng().fill_bytes(&mut b);
    hex::encode(b)
}

/// Outermost layer: names the request before anything else logs about it.
pub async fn assign(mut request: Request, next: Next) -> Response {
    let id = request
        .headers()
        .get(HEADER)
        .and_then(|v| v.to_str().ok())
        .filter(|s| acceptable(s))
        .map(str::to_string)
        .unwrap_or_else(fresh);
    request.extensions_mut().insert(RequestId(id.clone()));
    // The path, not the query: a search's words may name a person.
    let span = tracing::info_span!(
        "request",
        request_id = %id,
        method = %request.method(),
        path = %request.uri().path()
    );
    let mut response = next.run(request).instrument(span).await;
    if let Ok(v) = HeaderValue::from_str(&id) {
        response.headers_mut().insert(HEADER, v);
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_plain_tokens_are_taken_from_the_proxy() {
        assert!(acceptable("3f2a9c0e-5b1d-4c3e-9f00-aa11bb22cc33"));
        assert!(!acceptable(""));
        assert!(!acceptable("a b"));
        assert!(!acceptable("x\" level=error"));
        assert!(!acceptable(&"a".repeat(129)));
        assert_eq!(fresh().len(), 24);
    }
}
