//! Text that comes in with a request holds no NUL character.
//!
//! PostgreSQL's text cannot store U+0000, and no field a person fills in needs it, so
//! a NUL anywhere a request carries text is refused here, once, before any handler
//! runs: in the path (404: no such address), in a query parameter or a form field or
//! a JSON string (422, naming the field). Raw documents (a mail, a feed, a sensor
//! batch) come with other content types and are kept as bytes; what is read from
//! them is cleaned where it is read (`ParsedReport::without_nul`).

use axum::body::{Body, to_bytes};
use axum::extract::{Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::Next;
use axum::response::Response;
use serde_json::Value;

use crate::http::error::AppError;
use crate::http::state::AppState;

fn has_nul(s: &str) -> bool {
    s.contains('\0')
}

fn refused(field: &str) -> AppError {
    AppError::new(
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid_input",
        format!("{field}: contains a NUL character, which no text field accepts"),
    )
}

/// The first field of a urlencoded string whose name or value holds a NUL.
pub fn nul_in_urlencoded(text: &[u8]) -> Option<String> {
    if !text.windows(3).any(|w| w == b"%00") && !text.contains(&0) {
        return None;
    }
    form_urlencoded_pairs(text)
        .into_iter()
        .find(|(k, v)| has_nul(k) || has_nul(v))
        .map(|(k, _)| k.replace('\0', "\u{FFFD}"))
}

fn form_urlencoded_pairs(text: &[u8]) -> Vec<(String, String)> {
    serde_urlencoded::from_bytes::<Vec<(String, String)>>(text).unwrap_or_default()
}

/// The JSON path of the first string (or key) that holds a NUL.
pub fn nul_in_json(body: &[u8]) -> Option<String> {
    // Only an escape can put a NUL in a JSON string (a raw one is malformed JSON,
    // which the extractor refuses): parse only when one may be there.
    if !body.windows(6).any(|w| w.eq_ignore_ascii_case(b"\\u0000")) {
        return None;
    }
    let value: Value = serde_json::from_slice(body).ok()?;
    find_in_value(&value, "")
}

fn find_in_value(v: &Value, at: &str) -> Option<String> {
    let here = || {
        if at.is_empty() {
            "body".to_string()
        } else {
            at.to_string()
        }
    };
    match v {
        Value::String(s) if has_nul(s) => Some(here()),
        Value::Array(items) => items
            .iter()
            .enumerate()
            .find_map(|(i, x)| find_in_value(x, &format!("{}[{i}]", here()))),
        Value::Object(map) => map.iter().find_map(|(k, x)| {
            let name = k.replace('\0', "\u{FFFD}");
            let path = if at.is_empty() {
                name
            } else {
                format!("{at}.{name}")
            };
            if has_nul(k) {
                Some(path)
            } else {
                find_in_value(x, &path)
            }
        }),
        _ => None,
    }
}

/// The middleware: runs on every request, before authentication.
pub async fn refuse_nul(
    State(state): State<AppState>,
    request: Request,
    next: Next,
) -> Result<Response, AppError> {
    let raw_path = request.uri().path();
    let path_has_nul = raw_path.contains('\0') || percent_decoded_has_nul(raw_path.as_bytes());
    if path_has_nul {
        return Err(AppError::new(
            StatusCode::NOT_FOUND,
            "no_route",
            "there is nothing at this address",
        ));
    }
    if let Some(field) = request
        .uri()
        .query()
        .and_then(|q| nul_in_urlencoded(q.as_bytes()))
    {
        return Err(refused(&field));
    }
    let kind = request
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(|v| {
            v.split(';')
                .next()
                .unwrap_or_default()
                .trim()
                .to_ascii_lowercase()
        })
        .unwrap_or_default();
    let is_form = kind == "application/x-www-form-urlencoded";
    let is_json = kind == "application/json" || kind.ends_with("+json");
    if !is_form && !is_json {
        return Ok(next.run(request).await);
    }
    let (parts, body) = request.into_parts();
    let bytes = to_bytes(body, crate::body_limit_for(&state, parts.uri.path()))
        .await
        .map_err(|_| {
            AppError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "payload_too_large",
                "the request body is larger than this server accepts",
            )
        })?;
    let found = if is_form {
        nul_in_urlencoded(&bytes)
    } else {
        nul_in_json(&bytes)
    };
    if let Some(field) = found {
        return Err(refused(&field));
    }
    Ok(next
        .run(Request::from_parts(parts, Body::from(bytes)))
        .await)
}

fn percent_decoded_has_nul(path: &[u8]) -> bool {
    path.windows(3).any(|w| w == b"%00")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_nul_is_found_in_forms_and_json_and_named_by_its_field() {
        assert_eq!(
            nul_in_urlencoded(b"email=a%40b&password=x%00y").as_deref(),
            Some("password")
        );
        assert_eq!(nul_in_urlencoded(b"email=a%40b&password=x"), None);
        assert_eq!(
            nul_in_urlencoded(b"a=%2500"),
            None,
            "an encoded percent sign is no NUL"
        );
        assert_eq!(
            nul_in_json(br#"{"company":"A","products":["x","y\u0000"]}"#).as_deref(),
            Some("products[1]")
        );
        assert_eq!(
            nul_in_json(br#"{"a":{"b":"\u0000"}}"#).as_deref(),
            Some("a.b")
        );
        assert_eq!(
            nul_in_json(br#"{"a":"\\u0000"}"#),
            None,
            "an escaped backslash is text"
        );
        assert_eq!(nul_in_json(br#"{"a":"x"}"#), None);
    }
}
