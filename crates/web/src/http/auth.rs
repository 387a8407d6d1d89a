//! Who is calling, and may they: session cookies, bearer tokens, CSRF.
//!
//! [`resolve`] runs on every request and puts an [`Auth`] in its extensions.
//! [`authorize`] runs on every route with the route's declared [`Access`]; it asks
//! `renkei_core::access` — the one place access is decided — and checks the CSRF token
//! of every state-changing request that a browser session (not a bearer token) sends.
//!
//! CSRF tokens are signed double-submit cookies: a random value and its HMAC under an
//! installation key, in a SameSite=Strict cookie, echoed in a form field `_csrf` or an
//! `X-CSRF-Token` header. The HMAC covers the session too (a digest of its secret, or
//! nothing before sign-in), so a token planted in a browser, or left from another
//! session, is worthless once someone signs in.

use std::net::SocketAddr;

use axum::body::{Body, to_bytes};
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Redirect, Response};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use renkei_core::access::{Denied, Principal, Scope, Scopes};
use renkei_core::accounts::{self, SessionLookup};
use renkei_core::audit::Actor;
use sha2::Sha256;
use subtle::ConstantTimeEq;

use crate::http::error::{AppError, is_api_path};
use crate::http::routes::RouteSpec;
use crate::http::state::AppState;

pub const SESSION_COOKIE: &str = "renkei_session";
pub const CSRF_COOKIE: &str = "renkei_csrf";
pub const CSRF_FIELD: &str = "_csrf";
pub const CSRF_HEADER: &str = "x-csrf-token";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Via {
    Nothing,
    Session,
    Token,
}

/// The caller, as [`resolve`] found it.
#[derive(Debug, Clone)]
pub struct Auth {
    pub principal: Principal,
    pub via: Via,
    /// What the bearer token may be used for (`None`: not a token).
    pub scopes: Option<Scopes>,
    /// The session cookie's secret, to end the session at logout.
    pub session_token: Option<String>,
    /// A session cookie was sent but has run out.
    pub session_expired: bool,
    pub client: String,
    pub user_agent: String,
    /// How the session was opened (`password`, `second_factor`, `sso`).
    pub session_method: String,
}

impl Auth {
    /// Where a session opened by this request comes from.
    pub fn origin(&self) -> accounts::SessionOrigin<'_> {
        accounts::SessionOrigin {
            client: &self.client,
            user_agent: &self.user_agent,
            method: "password",
        }
    }

    /// What this caller's CSRF tokens are bound to.
    pub fn csrf_binding(&self) -> String {
        csrf_binding(self.session_token.as_deref())
    }

    pub fn actor(&self) -> Actor {
        match &self.principal {
            Principal::User(u) => Actor::user(u.id, &u.email),
            Principal::Anonymous => Actor::anonymous(&self.client),
        }
    }
}

/// The CSRF token for forms on the page being rendered.
#[derive(Debug, Clone)]
pub struct CsrfToken(pub String);

pub fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.to_string())
}

pub struct CookieSpec<'a> {
    pub name: &'a str,
    pub value: &'a str,
    pub max_age: Option<i64>,
    pub same_site: &'a str,
    pub http_only: bool,
}

pub fn set_cookie(state: &AppState, spec: CookieSpec<'_>) -> HeaderValue {
    let mut c = format!(
        "{}={}; Path=/; SameSite={}",
        spec.name, spec.value, spec.same_site
    );
    if spec.http_only {
        c.push_str("; HttpOnly");
    }
    if state.config.server.secure_cookies {
        c.push_str("; Secure");
    }
    if let Some(age) = spec.max_age {
        c.push_str(&format!("; Max-Age={age}"));
    }
    HeaderValue::from_str(&c).unwrap_or_else(|_| HeaderValue::from_static(""))
}

/// The session cookie: Lax, so that a link in a notification mail opens signed in.
pub fn session_cookie(state: &AppState, token: &str) -> HeaderValue {
    let ttl = state.config.security.session_ttl_minutes;
    set_cookie(
        state,
        CookieSpec {
            name: SESSION_COOKIE,
            value: token,
            max_age: Some((ttl * 60) as i64),
            same_site: "Lax",
            http_only: true,
        },
    )
}

pub fn clear_session_cookie(state: &AppState) -> HeaderValue {
    set_cookie(
        state,
        CookieSpec {
            name: SESSION_COOKIE,
            value: "",
            max_age: Some(0),
            same_site: "Lax",
            http_only: true,
        },
    )
}

/// The CSRF cookie: Strict, as no other site has any business sending it.
pub fn csrf_cookie(state: &AppState, token: &str) -> HeaderValue {
    set_cookie(
        state,
        CookieSpec {
            name: CSRF_COOKIE,
            value: token,
            max_age: None,
            same_site: "Strict",
            http_only: true,
        },
    )
}

/// What a CSRF token is bound to: the session's secret, digested, or nothing.
pub fn csrf_binding(session_token: Option<&str>) -> String {
    session_token
        .map(renkei_core::secrets::digest)
        .unwrap_or_default()
}

fn csrf_mac(key: &[u8], nonce: &[u8], binding: &str) -> Hmac<Sha256> {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("any key length works for HMAC");
    mac.update(nonce);
    mac.update(b"|");
    mac.update(binding.as_bytes());
    mac
}

pub fn issue_csrf(key: &[u8], binding: &str) -> String {
    let nonce = renkei_core::secrets::random_bytes::<16>();
    let mac = csrf_mac(key, &nonce, binding);
    format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(nonce),
        URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes())
    )
}

pub fn csrf_is_signed(key: &[u8], token: &str, binding: &str) -> bool {
    let Some((nonce, tag)) = token.split_once('.') else {
        return false;
    };
    let (Ok(nonce), Ok(tag)) = (URL_SAFE_NO_PAD.decode(nonce), URL_SAFE_NO_PAD.decode(tag)) else {
        return false;
    };
    csrf_mac(key, &nonce, binding).verify_slice(&tag).is_ok()
}

/// The client's address: the peer, or behind a trusted proxy the last address the
/// proxy appended to X-Forwarded-For.
pub fn client_address(request: &Request, trust_forwarded_for: bool) -> String {
    let peer = request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip().to_string())
        .unwrap_or_else(|| "unknown".into());
    if !trust_forwarded_for {
        return peer;
    }
    request
        .headers()
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|hop| hop.trim().parse::<std::net::IpAddr>().ok())
        .next_back()
        .map(|ip| ip.to_string())
        .unwrap_or(peer)
}

/// Finds out who is calling; sets the CSRF cookie when the browser has none.
pub async fn resolve(State(state): State<AppState>, mut request: Request, next: Next) -> Response {
    let client = client_address(&request, state.config.server.trust_forwarded_for);
    let headers = request.headers().clone();
    let mut auth = Auth {
        principal: Principal::Anonymous,
        via: Via::Nothing,
        scopes: None,
        session_token: None,
        session_expired: false,
        client,
        session_method: String::new(),
        user_agent: headers
            .get(header::USER_AGENT)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string(),
    };
    let mut clear_session = false;

    if let Some(value) = headers.get(header::AUTHORIZATION) {
        let secret = value
            .to_str()
            .ok()
            .and_then(|v| {
                v.strip_prefix("Bearer ")
                    .or_else(|| v.strip_prefix("bearer "))
            })
            .map(str::trim);
        let user = match secret {
            Some(s) => match accounts::token_user(&state.store, s).await {
                Ok(u) => u,
                Err(e) => return AppError::from(e).into_response(),
            },
            None => None,
        };
        match user {
            Some(holder) => {
                auth.principal = Principal::User(holder.user);
                auth.via = Via::Token;
                auth.scopes = Some(holder.scopes);
            }
            None => {
                return AppError::new(
                    StatusCode::UNAUTHORIZED,
                    "invalid_token",
                    "the bearer token is unknown, revoked or malformed",
                )
                .into_response();
            }
        }
    } else if let Some(token) = cookie(&headers, SESSION_COOKIE) {
        let ttl = state.config.security.session_ttl_minutes;
        match accounts::session(&state.store, &token, ttl).await {
            Ok(SessionLookup::Valid(u, method)) => {
                auth.principal = Principal::User(u);
                auth.session_method = method;
                auth.via = Via::Session;
                auth.session_token = Some(token);
            }
            Ok(SessionLookup::Expired) => {
                auth.session_expired = true;
                clear_session = true;
            }
            Ok(SessionLookup::Unknown) => clear_session = true,
            Err(e) => return AppError::from(e).into_response(),
        }
    }

    let binding = auth.csrf_binding();
    let existing =
        cookie(&headers, CSRF_COOKIE).filter(|t| csrf_is_signed(&state.csrf_key, t, &binding));
    let fresh = existing.is_none();
    let csrf = existing.unwrap_or_else(|| issue_csrf(&state.csrf_key, &binding));
    request.extensions_mut().insert(CsrfToken(csrf.clone()));
    request.extensions_mut().insert(auth);

    let mut response = next.run(request).await;
    let sets = |name: &str| {
        let prefix = format!("{name}=");
        response
            .headers()
            .get_all(header::SET_COOKIE)
            .iter()
            .any(|v| v.to_str().is_ok_and(|v| v.starts_with(&prefix)))
    };
    let set_by_handler = sets(CSRF_COOKIE);
    // A handler that opened a session (a sign-in over a stale or planted cookie)
    // has the last word on the session cookie.
    let session_set_by_handler = sets(SESSION_COOKIE);
    // Only pages carry forms; API answers need no CSRF cookie.
    let is_page = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("text/html"));
    if fresh && is_page && !set_by_handler {
        let value = csrf_cookie(&state, &csrf);
        response.headers_mut().append(header::SET_COOKIE, value);
    }
    if clear_session && !session_set_by_handler {
        let value = clear_session_cookie(&state);
        response.headers_mut().append(header::SET_COOKIE, value);
    }
    response
}

/// What staff without a second factor may still reach, when policy requires one.
const SETUP_PATHS: [&str; 10] = [
    "/account",
    "/static/passkey.js",
    "/static/site.js",
    "/account/second-factor/begin",
    "/account/second-factor/confirm",
    "/account/passkeys/begin",
    "/account/passkeys/finish",
    "/logout",
    "/lang",
    "/account/lang",
];

fn is_unsafe(method: &Method) -> bool {
    !matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS)
}

/// Runs before each route's handler with the access that route declared.
pub async fn authorize(
    State((state, spec)): State<(AppState, &'static RouteSpec)>,
    request: Request,
    next: Next,
) -> Response {
    let mut response = match check_and_run(&state, spec, request, next).await {
        Ok(r) => r,
        Err(e) => e.into_response(),
    };
    response
        .extensions_mut()
        .insert(crate::http::metrics::RouteLabel(spec.path));
    response
}

/// Whether the route admits this caller: `Ok(None)` to go on, `Ok(Some(page))` to
/// send the browser elsewhere (to sign in, to set up a second factor), or the
/// refusal.
async fn gate(
    state: &AppState,
    spec: &'static RouteSpec,
    auth: &Auth,
    method: &Method,
    uri: &axum::http::Uri,
) -> Result<Option<Response>, AppError> {
    let api = is_api_path(uri.path());
    match spec.access.check(&auth.principal) {
        Ok(()) => {}
        Err(Denied::Unauthenticated) if !api && *method == Method::GET => {
            let target = uri.path_and_query().map(|p| p.as_str()).unwrap_or("/");
            let mut to = format!("/login?next={}", urlencode(target));
            if auth.session_expired {
                to.push_str("&expired=1");
            }
            return Ok(Some(Redirect::to(&to).into_response()));
        }
        Err(Denied::Unauthenticated) => {
            let message = if auth.session_expired {
                "your session has expired; sign in again"
            } else {
                "sign in, or send an API token as Authorization: Bearer"
            };
            return Err(AppError::new(
                StatusCode::UNAUTHORIZED,
                "unauthenticated",
                message,
            ));
        }
        Err(Denied::Forbidden) => {
            return Err(AppError::new(
                StatusCode::FORBIDDEN,
                "forbidden",
                "your account may not do this",
            ));
        }
    }
    // Staff who must use a second factor and have none set up reach only what it
    // takes to set one up (a token is a credential of its own and passes, and so does
    // a sign-in through the organization's provider, which asks for its own).
    if auth.via == Via::Session
        && state.config.security.require_second_factor_for_staff
        && auth.principal.role().is_some_and(|r| r.is_staff())
        && !SETUP_PATHS.contains(&spec.path)
        && auth.session_method != "sso"
        && let Some(user) = auth.principal.user()
        && !renkei_core::second_factor::is_enrolled(&state.store, user.id).await?
    {
        if !api && *method == Method::GET {
            return Ok(Some(Redirect::to("/account#second-factor").into_response()));
        }
        return Err(AppError::new(
            StatusCode::FORBIDDEN,
            "second_factor_required",
            "set up two-step sign-in on your account page first",
        ));
    }
    // A token does only what its scopes name, within what its account may.
    if let Some(scopes) = &auth.scopes {
        let reads = matches!(*method, Method::GET | Method::HEAD);
        let needed = Scope::needed(spec.access, reads, spec.scope);
        if !scopes.has(needed) {
            return Err(AppError::new(
                StatusCode::FORBIDDEN,
                "insufficient_scope",
                format!(
                    "this token lacks the scope {:?} (it has: {})",
                    needed.as_str(),
                    scopes.as_string()
                ),
            ));
        }
    }
    Ok(None)
}

/// Reads what is left of a refused request's body (up to the route's limit), so
/// that a client still sending it reads the refusal instead of a broken pipe.
async fn drain(state: &AppState, request: Request) {
    let limit = crate::body_limit_for(state, request.uri().path());
    let _ = to_bytes(request.into_body(), limit).await;
}

async fn check_and_run(
    state: &AppState,
    spec: &'static RouteSpec,
    request: Request,
    next: Next,
) -> Result<Response, AppError> {
    let Some(auth) = request.extensions().get::<Auth>().cloned() else {
        return Err(AppError::internal("authorize ran without resolve"));
    };
    let (method, uri) = (request.method().clone(), request.uri().clone());
    match gate(state, spec, &auth, &method, &uri).await {
        Ok(None) => {}
        Ok(Some(elsewhere)) => {
            drain(state, request).await;
            return Ok(elsewhere);
        }
        Err(refusal) => {
            drain(state, request).await;
            return Err(refusal);
        }
    }
    // CSRF guards the credentials a browser sends by itself. An API call that carries
    // none (a finder's report, a vendor's application) has nothing to forge.
    let anonymous_api =
        auth.principal.user().is_none() && crate::http::error::is_api_path(request.uri().path());
    // A confirmation, unsubscribe or receipt link carries its own secret, which a
    // forging site cannot know; and mail providers post the one-click unsubscribe
    // (RFC 8058) without any cookie.
    let secret_link = [
        "/lists/confirm/",
        "/lists/unsubscribe/",
        "/warnings/receipt/",
    ]
    .iter()
    .any(|p| request.uri().path().starts_with(p));
    if is_unsafe(request.method()) && auth.via != Via::Token && !anonymous_api && !secret_link {
        return check_csrf(state, &auth, request, next).await;
    }
    Ok(next.run(request).await)
}

async fn check_csrf(
    state: &AppState,
    auth: &Auth,
    request: Request,
    next: Next,
) -> Result<Response, AppError> {
    let binding = auth.csrf_binding();
    let expected = cookie(request.headers(), CSRF_COOKIE)
        .filter(|t| csrf_is_signed(&state.csrf_key, t, &binding));
    let from_header = request
        .headers()
        .get(CSRF_HEADER)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let content_type = request
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    let is_form = content_type.starts_with("application/x-www-form-urlencoded")
        || content_type.starts_with("multipart/form-data");
    let (request, submitted) = match from_header {
        Some(t) => (request, Some(t)),
        None if is_form => {
            let (parts, body) = request.into_parts();
            let bytes = to_bytes(body, state.config.server.body_limit_bytes)
                .await
                .map_err(|_| {
                    AppError::new(
                        StatusCode::PAYLOAD_TOO_LARGE,
                        "payload_too_large",
                        "the request body is larger than this server accepts",
                    )
                })?;
            let token = if content_type.starts_with("multipart/form-data") {
                multipart_field(&parts.headers, bytes.clone(), CSRF_FIELD).await
            } else {
                form_urlencoded_field(&bytes, CSRF_FIELD)
            };
            (Request::from_parts(parts, Body::from(bytes)), token)
        }
        None => (request, None),
    };
    let ok = match (expected, submitted) {
        (Some(e), Some(s)) => bool::from(e.as_bytes().ct_eq(s.as_bytes())),
        _ => false,
    };
    if !ok {
        drain(state, request).await;
        return Err(AppError::new(
            StatusCode::FORBIDDEN,
            "csrf_failed",
            "the form was stale or did not come from this site; reload the page and try again",
        ));
    }
    Ok(next.run(request).await)
}

/// A text field of a `multipart/form-data` body (the body is read from a copy; the
/// handler gets it whole).
async fn multipart_field(
    headers: &axum::http::HeaderMap,
    body: axum::body::Bytes,
    name: &str,
) -> Option<String> {
    use axum::extract::FromRequest;
    let mut request = Request::new(Body::from(body));
    *request.headers_mut() = headers.clone();
    let mut form = axum::extract::Multipart::from_request(request, &())
        .await
        .ok()?;
    while let Ok(Some(field)) = form.next_field().await {
        if field.name() == Some(name) && field.file_name().is_none() {
            return field.text().await.ok();
        }
    }
    None
}

fn form_urlencoded_field(body: &[u8], name: &str) -> Option<String> {
    serde_urlencoded::from_bytes::<Vec<(String, String)>>(body)
        .ok()?
        .into_iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v)
}

pub fn urlencode(s: &str) -> String {
    serde_urlencoded::to_string([("", s)])
        .map(|v| v.trim_start_matches('=').to_string())
        .unwrap_or_default()
}

/// The one check for every redirect target a request may name (`next`, `back`): a
/// path on this site, or `None`.
///
/// Browsers forgive a lot before they resolve a `Location`: they drop tabs and line
/// breaks, read `\\` as `/`, and take `//host` as another host. So a target is refused
/// outright if it holds a control character or a backslash, and what is left is
/// resolved the way a browser does (WHATWG URL parsing) against a stand-in origin;
/// it passes only if it stays on that origin. What is returned is the normalised
/// path, query and fragment, so the header says exactly what was checked.
pub fn local_target(target: &str) -> Option<String> {
    if !target.starts_with('/') || target.chars().any(|c| c.is_control() || c == '\\') {
        return None;
    }
    let origin = url::Url::parse("http://renkei.invalid/").expect("a valid stand-in origin");
    let resolved = origin.join(target).ok()?;
    if resolved.origin() != origin.origin()
        || !resolved.username().is_empty()
        || resolved.password().is_some()
    {
        return None;
    }
    let mut out = resolved.path().to_string();
    // A path that a browser would read as a scheme-relative address once more.
    if out.starts_with("//") {
        return None;
    }
    if let Some(q) = resolved.query() {
        out.push('?');
        out.push_str(q);
    }
    if let Some(f) = resolved.fragment() {
        out.push('#');
        out.push_str(f);
    }
    Some(out)
}

/// Where to go after login: the named page if it is [`local_target`], else the
/// dashboard.
pub fn safe_next(next: Option<&str>) -> String {
    next.and_then(local_target)
        .unwrap_or_else(|| "/dashboard".to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_csrf_token_verifies_only_under_its_own_key_and_session() {
        let token = issue_csrf(b"key one", "");
        assert!(csrf_is_signed(b"key one", &token, ""));
        assert!(!csrf_is_signed(b"key two", &token, ""));
        assert!(!csrf_is_signed(b"key one", "forged.token", ""));
        assert!(!csrf_is_signed(b"key one", "", ""));
        let session = csrf_binding(Some("rs_secret"));
        let bound = issue_csrf(b"key one", &session);
        assert!(csrf_is_signed(b"key one", &bound, &session));
        assert!(
            !csrf_is_signed(b"key one", &bound, ""),
            "not before sign-in"
        );
        assert!(
            !csrf_is_signed(b"key one", &token, &session),
            "a token from before sign-in is not the session's"
        );
        assert!(!csrf_is_signed(
            b"key one",
            &bound,
            &csrf_binding(Some("rs_other"))
        ));
    }

    #[test]
    fn redirects_after_login_stay_on_this_site() {
        assert_eq!(safe_next(Some("/orgs?kind=vendor")), "/orgs?kind=vendor");
        assert_eq!(
            safe_next(Some("/cases/VU%231#vendors")),
            "/cases/VU%231#vendors"
        );
        assert_eq!(safe_next(Some("//evil.example/")), "/dashboard");
        assert_eq!(safe_next(Some("https://evil.example/")), "/dashboard");
        assert_eq!(safe_next(None), "/dashboard");
        for evil in [
            "/\t/evil.example",
            "/\\evil.example",
            "/\r\n//evil.example",
            "/\u{0}/evil.example",
            "/./\\/evil.example",
            "/..//evil.example",
            "/%2e%2e//evil.example",
            "/a/../..//evil.example",
            "https:evil.example",
            "evil.example",
            "",
        ] {
            assert_eq!(local_target(evil), None, "{evil:?}");
        }
    }

    proptest::proptest! {
        /// Whatever a request names, a target that passes resolves, in a browser's
        /// reading, on this site: the same origin from any page of it.
        #[test]
        fn no_redirect_target_leaves_the_site(target in "[/\\\\.:@%a-z0-9\t\r\n ?#]{0,24}", from in "/([a-z]{1,4}/?){0,3}") {
            if let Some(local) = local_target(&target) {
                let here = url::Url::parse("https://csirt.example/").unwrap().join(&from).unwrap();
                let there = here.join(&local).unwrap();
                proptest::prop_assert_eq!(there.origin(), here.origin());
                proptest::prop_assert!(local.starts_with('/') && !local.starts_with("//"));
                proptest::prop_assert!(!local.chars().any(|c| c.is_control() || c == '\\'));
            }
        }
    }
}
