//! Security keys and passkeys in the browser: registering one from the account page
//! and answering the sign-in challenge with it. The ceremonies themselves are
//! `renkei_core::second_factor::passkey`'s; here are the forms around them and the
//! small script that hands the options to `navigator.credentials`.

use crate::http::form::Form;
use askama::Template;
use axum::extract::Path;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use renkei_core::CoreError;
use renkei_core::second_factor::{self, passkey};
use serde::Deserialize;

use crate::http::error::AppError;
use crate::http::state::AppState;
use crate::pages::{
    Page, SecondFactorPage, Shell, account_page, answer_login_challenge, html, html_status,
    see_other,
};

/// The script that runs the browser's side of both ceremonies. Served from this
/// origin: the content policy allows no inline script.
const SCRIPT: &str = include_str!("../../static/passkey.js");

pub(crate) async fn passkey_script() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/javascript; charset=utf-8"),
            (header::CACHE_CONTROL, "public, max-age=3600"),
        ],
        SCRIPT,
    )
        .into_response()
}

#[derive(Template)]
#[template(path = "passkey.html")]
struct PasskeyPage<'a> {
    shell: Shell<'a>,
    name: String,
    /// PublicKeyCredentialCreationOptionsJSON for `navigator.credentials.create`.
    options: String,
}

#[derive(Deserialize)]
pub struct PasskeyNameForm {
    name: String,
}

/// The account page again with what went wrong.
async fn account_with(
    state: &AppState,
    page: &Page,
    message: String,
) -> Result<Response, AppError> {
    html_status(
        StatusCode::UNPROCESSABLE_ENTITY,
        &account_page(state, page, Some(message)).await?,
    )
}

/// Starts registering a key: the page whose button asks the browser for it.
pub(crate) async fn passkey_begin(
    page: Page,
    Form(form): Form<PasskeyNameForm>,
) -> Result<Response, AppError> {
    let user = page.user()?;
    let Some(rp) = &page.state.relying_party else {
        let message = page.shell("account").t("passkey.unavailable").to_string();
        return account_with(&page.state, &page, message).await;
    };
    match passkey::begin_registration(
        page.store(),
        rp,
        user.id,
        &user.email,
        &user.display_name,
        &form.name,
    )
    .await
    {
        Ok(options) => html(&PasskeyPage {
            name: form.name.trim().to_string(),
            options,
            shell: page.shell("account"),
        }),
        Err(CoreError::Invalid { .. }) => {
            let message = page.shell("account").t("passkey.name_needed").to_string();
            account_with(&page.state, &page, message).await
        }
        Err(e) => Err(e.into()),
    }
}

#[derive(Deserialize)]
pub struct CredentialForm {
    credential: String,
    next: Option<String>,
}

/// Keeps the key the browser made; the first second factor of the account also
/// brings its recovery codes, shown once.
pub(crate) async fn passkey_finish(
    page: Page,
    Form(form): Form<CredentialForm>,
) -> Result<Response, AppError> {
    let user = page.user()?;
    let Some(rp) = &page.state.relying_party else {
        let message = page.shell("account").t("passkey.unavailable").to_string();
        return account_with(&page.state, &page, message).await;
    };
    match passkey::finish_registration(
        page.store(),
        rp,
        &page.auth.actor(),
        user.id,
        &form.credential,
    )
    .await
    {
        Ok((_, codes)) if codes.is_empty() => Ok(see_other("/account#passkeys")),
        Ok((_, codes)) => html(&SecondFactorPage {
            secret: String::new(),
            uri: String::new(),
            recovery_codes: codes,
            error: None,
            shell: page.shell("account"),
        }),
        Err(e @ (CoreError::Invalid { .. } | CoreError::Conflict(_))) => {
            tracing::info!(error = %e, "a security key's registration was refused");
            let message = page.shell("account").t("passkey.refused").to_string();
            account_with(&page.state, &page, message).await
        }
        Err(e) => Err(e.into()),
    }
}

#[derive(Deserialize)]
pub struct RemoveForm {
    code: String,
}

/// Removes one of the account's keys, with a code from the app or a recovery code.
pub(crate) async fn passkey_remove(
    page: Page,
    Path(id): Path<i64>,
    Form(form): Form<RemoveForm>,
) -> Result<Response, AppError> {
    let user = page.user()?;
    match passkey::remove(page.store(), &page.auth.actor(), user.id, id, &form.code).await {
        Ok(()) => Ok(see_other("/account#passkeys")),
        Err(CoreError::Invalid { .. }) => {
            let message = page.shell("account").t("second_factor.wrong").to_string();
            account_with(&page.state, &page, message).await
        }
        Err(e) => Err(e.into()),
    }
}

/// The sign-in challenge answered with a security key.
pub(crate) async fn login_passkey(
    page: Page,
    headers: axum::http::HeaderMap,
    Form(form): Form<CredentialForm>,
) -> Result<Response, AppError> {
    let Some(rp) = page.state.relying_party.clone() else {
        return Err(CoreError::NotFound("security key sign-in").into());
    };
    let proof = second_factor::Proof::Passkey(&rp, &form.credential);
    answer_login_challenge(&page.state, &page, &headers, proof, form.next.as_deref()).await
}
