//! Sign-in through the organization's OpenID Connect provider: the authorization
//! code flow with PKCE, a nonce and a state bound to the browser.
//!
//! `GET /login/sso` discovers the provider, keeps the PKCE verifier and the nonce on
//! the server (`sso_logins`, keyed by a digest of the state) and sends the browser
//! there with the state also in a cookie. `GET /login/sso/callback` checks that the
//! state came back to the browser that left, trades the code for tokens, verifies the
//! ID token (signature, issuer, audience, expiry, nonce), reads the claims (the ID
//! token's and the UserInfo answer's), maps them to an account — its role from
//! `sso.role_map`, its organization from `sso.org_claim` — and opens a session.

use axum::extract::{Query, State};
use axum::http::{StatusCode, header};
use axum::response::Response;
use openidconnect::core::{CoreAuthenticationFlow, CoreClient, CoreProviderMetadata};
use openidconnect::{
    AuthorizationCode, ClientId, ClientSecret, CsrfToken, IssuerUrl, Nonce, OAuth2TokenResponse,
    PkceCodeChallenge, PkceCodeVerifier, RedirectUrl, Scope, TokenResponse,
};
use renkei_core::access::Role;
use renkei_core::accounts::{self, NewUser};
use renkei_core::audit::Actor;
use renkei_core::orgs;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::http::auth::{self, CookieSpec};
use crate::http::error::AppError;
use crate::http::state::AppState;
use crate::pages::{Page, open_session, see_other};

const STATE_COOKIE: &str = "renkei_sso";
const MINUTES: i64 = 10;

fn refused(message: impl Into<String>) -> AppError {
    AppError::new(StatusCode::FORBIDDEN, "sso_refused", message)
}

fn provider_error(e: impl std::fmt::Display) -> AppError {
    tracing::warn!(error = %e, "the OpenID Connect provider could not be used");
    AppError::new(
        StatusCode::BAD_GATEWAY,
        "sso_unavailable",
        "the sign-in provider could not be reached or answered wrongly; try again, or sign in with a password",
    )
}

fn http() -> Result<reqwest::Client, AppError> {
    // The provider's answers are followed by us, never its redirects.
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(std::time::Duration::from_secs(15))
        .build()
        .map_err(AppError::internal)
}

fn redirect_url(state: &AppState) -> String {
    format!("{}/login/sso/callback", state.config.public_url())
}

async fn discover(
    state: &AppState,
    http: &reqwest::Client,
) -> Result<CoreProviderMetadata, AppError> {
    let sso = &state.config.sso;
    if sso.issuer_url.is_empty() {
        return Err(AppError::not_found());
    }
    let issuer = IssuerUrl::new(sso.issuer_url.clone()).map_err(provider_error)?;
    CoreProviderMetadata::discover_async(issuer, http)
        .await
        .map_err(provider_error)
}

fn state_cookie(state: &AppState, value: &str, max_age: i64) -> axum::http::HeaderValue {
    // Lax: the provider sends the browser back with a top-level GET.
    auth::set_cookie(
        state,
        CookieSpec {
            name: STATE_COOKIE,
            value,
            max_age: Some(max_age),
            same_site: "Lax",
            http_only: true,
        },
    )
}

#[derive(Deserialize)]
pub struct StartQuery {
    next: Option<String>,
}

/// Sends the browser to the provider.
pub(crate) async fn start(
    State(state): State<AppState>,
    Query(q): Query<StartQuery>,
) -> Result<Response, AppError> {
    let http = http()?;
    let metadata = discover(&state, &http).await?;
    let sso = &state.config.sso;
    let client = CoreClient::from_provider_metadata(
        metadata,
        ClientId::new(sso.client_id.clone()),
        (!sso.client_secret.is_empty()).then(|| ClientSecret::new(sso.client_secret.clone())),
    )
    .set_redirect_uri(RedirectUrl::new(redirect_url(&state)).map_err(AppError::internal)?);
    let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
    let (url, csrf, nonce) = client
        .authorize_url(
            CoreAuthenticationFlow::AuthorizationCode,
            CsrfToken::new_random,
            Nonce::new_random,
        )
        .add_scope(Scope::new("email".into()))
        .add_scope(Scope::new("profile".into()))
        .set_pkce_challenge(challenge)
        .url();
    let login = accounts::SsoLogin {
        verifier: verifier.secret().clone(),
        nonce: nonce.secret().clone(),
        next: auth::safe_next(q.next.as_deref()),
    };
    accounts::sso_login_begin(&state.store, csrf.secret(), &login, MINUTES).await?;
    let mut response = see_other(url.as_str());
    response.headers_mut().append(
        header::SET_COOKIE,
        state_cookie(&state, csrf.secret(), MINUTES * 60),
    );
    Ok(response)
}

#[derive(Deserialize)]
pub struct CallbackQuery {
    code: Option<String>,
    state: Option<String>,
    error: Option<String>,
}

/// The provider sent the browser back: check, trade, verify, map, sign in.
pub(crate) async fn callback(
    page: Page,
    headers: axum::http::HeaderMap,
    Query(q): Query<CallbackQuery>,
) -> Result<Response, AppError> {
    if let Some(e) = q.error {
        return Err(refused(format!("the provider refused the sign-in: {e}")));
    }
    let (Some(code), Some(returned)) = (q.code, q.state) else {
        return Err(AppError::bad_request(
            "invalid_input",
            "code and state are required",
        ));
    };
    // The state must come back to the browser that left with it.
    let kept = auth::cookie(&headers, STATE_COOKIE).unwrap_or_default();
    if kept.is_empty()
        || !bool::from(subtle::ConstantTimeEq::ct_eq(
            kept.as_bytes(),
            returned.as_bytes(),
        ))
    {
        return Err(refused(
            "this sign-in was not started in this browser; start again",
        ));
    }
    // One use: whatever comes of it, the state is spent.
    let Some(login) = accounts::sso_login_take(page.store(), &returned).await? else {
        return Err(refused(
            "this sign-in was used, is unknown or took too long; start again",
        ));
    };
    let accounts::SsoLogin {
        verifier,
        nonce,
        next,
    } = login;

    let http = http()?;
    let metadata = discover(&page.state, &http).await?;
    let userinfo_url = metadata.userinfo_endpoint().map(|u| u.url().clone());
    let sso = &page.state.config.sso;
    let client = CoreClient::from_provider_metadata(
        metadata,
        ClientId::new(sso.client_id.clone()),
        (!sso.client_secret.is_empty()).then(|| ClientSecret::new(sso.client_secret.clone())),
    )
    .set_redirect_uri(RedirectUrl::new(redirect_url(&page.state)).map_err(AppError::internal)?);
    let tokens = client
        .exchange_code(AuthorizationCode::new(code))
        .map_err(provider_error)?
        .set_pkce_verifier(PkceCodeVerifier::new(verifier))
        .request_async(&http)
        .await
        .map_err(provider_error)?;
    let id_token = tokens
        .id_token()
        .ok_or_else(|| provider_error("no ID token in the token response"))?;
    let claims = id_token
        .claims(&client.id_token_verifier(), &Nonce::new(nonce))
        .map_err(|e| {
            tracing::warn!(error = %e, "an ID token did not verify");
            refused("the provider's ID token did not verify")
        })?;
    let subject = claims.subject().as_str().to_string();
    // Everything the provider says of the person: the ID token, then UserInfo.
    let mut said: serde_json::Map<String, Value> = serde_json::to_value(claims)
        .ok()
        .and_then(|v| v.as_object().cloned())
        .unwrap_or_default();
    if let Some(url) = userinfo_url {
        let info: Value = http
            .get(url)
            .bearer_auth(tokens.access_token().secret())
            .header(header::ACCEPT, "application/json")
            .send()
            .await
            .map_err(provider_error)?
            .error_for_status()
            .map_err(provider_error)?
            .json()
            .await
            .map_err(provider_error)?;
        if info["sub"].as_str() != Some(subject.as_str()) {
            return Err(refused("the provider's UserInfo names someone else"));
        }
        if let Some(map) = info.as_object() {
            said.extend(map.clone());
        }
    }
    let user_id = account_for(&page.state, &subject, &said, &page.auth.client).await?;
    open_session(&page.state, &page, user_id, &next, "sso")
        .await
        .map(|mut r| {
            r.headers_mut()
                .append(header::SET_COOKIE, state_cookie(&page.state, "", 0));
            r
        })
}

/// The claim's values: a string, or a list of strings.
fn values(said: &serde_json::Map<String, Value>, claim: &str) -> Vec<String> {
    match said.get(claim) {
        Some(Value::String(s)) => vec![s.clone()],
        Some(Value::Array(items)) => items
            .iter()
            .filter_map(|v| v.as_str().map(str::to_string))
            .collect(),
        _ => Vec::new(),
    }
}

/// The role the claims give: the first entry of `sso.role_map` whose value the
/// person has, else `sso.default_role`, else none.
fn role_for(state: &AppState, said: &serde_json::Map<String, Value>) -> Option<Role> {
    let have = values(said, &state.config.sso.role_claim);
    let map = state.config.sso_role_map().unwrap_or_default();
    map.into_iter()
        .find(|(value, _)| have.iter().any(|h| h == value))
        .map(|(_, role)| role)
        .or_else(|| Role::parse(&state.config.sso.default_role).ok())
}

/// The account the provider's claims name, created or brought in line with them.
async fn account_for(
    state: &AppState,
    subject: &str,
    said: &serde_json::Map<String, Value>,
    from: &str,
) -> Result<i64, AppError> {
    let email = said
        .get("email")
        .and_then(Value::as_str)
        .map(str::to_string)
        .ok_or_else(|| refused("the provider gave no e-mail address; ask for the email scope"))?;
    if said.get("email_verified").and_then(Value::as_bool) == Some(false) {
        return Err(refused("the provider has not verified this e-mail address"));
    }
    let Some(role) = role_for(state, said) else {
        return Err(refused(
            "the provider's account has no role in this team (sso.role_map)",
        ));
    };
    if role == Role::Sensor {
        return Err(refused("sensors do not sign in"));
    }
    let org_id = match values(said, &state.config.sso.org_claim).first() {
        Some(name) if role.needs_org() => Some(
            orgs::list(&state.store, None)
                .await?
                .into_iter()
                .find(|o| o.name.eq_ignore_ascii_case(name.trim()))
                .map(|o| o.id)
                .ok_or_else(|| refused(format!("no organization {name:?} here")))?,
        ),
        _ => None,
    };
    let actor = Actor {
        user_id: None,
        label: format!("sso:{subject}@{from}"),
    };
    let user = match accounts::find_user_by_email(&state.store, &email).await? {
        Some(u) if u.disabled => return Err(refused("this account is disabled")),
        Some(u) => {
            if u.role != role || (role.needs_org() && org_id.is_some() && u.org_id != org_id) {
                accounts::set_role(&state.store, &actor, u.id, role, org_id.or(u.org_id)).await?;
            }
            u
        }
        None if !state.config.sso.create_accounts => {
            return Err(refused("there is no account for this address here"));
        }
        None => {
            let name = said
                .get("name")
                .and_then(Value::as_str)
                .unwrap_or(&email)
                .to_string();
            accounts::create_user(
                &state.store,
                &actor,
                NewUser {
                    email: email.clone(),
                    display_name: name,
                    role,
                    org_id,
                    password: None,
                    lang: renkei_core::lang::Lang::Ja,
                },
            )
            .await?
        }
    };
    renkei_core::audit::record_alone(
        &state.store,
        &Actor::user(user.id, &user.email),
        renkei_core::audit::Event {
            action: "login.sso",
            object_type: "user",
            object_id: user.id.to_string(),
            changes: json!({"subject": subject, "issuer": state.config.sso.issuer_url, "from": from, "role": role.as_str()}),
        },
    )
    .await?;
    Ok(user.id)
}
