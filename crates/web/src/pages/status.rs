//! The reporter's status page behind the secret link of the confirmation, and the
//! coordinator's controls for that link (revoke it, send a new one).

use askama::Template;
use axum::extract::{Path, Query};
use axum::http::StatusCode;
use axum::response::Response;
use renkei_incident::status::{self, StatusView};
use serde::Deserialize;

use crate::http::error::AppError;
use crate::http::form::WithFiles;
use crate::pages::{Page, Shell, html, html_status, see_other};

#[derive(Template)]
#[template(path = "status.html")]
struct StatusPage<'a> {
    shell: Shell<'a>,
    view: StatusView,
    secret: String,
    text: String,
    error: Option<String>,
    added: bool,
}

/// A wrong, revoked or expired link: the same answer as any page that is not there.
fn nothing() -> AppError {
    AppError::not_found()
}

#[derive(Deserialize)]
pub struct Shown {
    #[serde(default)]
    added: Option<String>,
}

pub(crate) async fn show(
    page: Page,
    Path(secret): Path<String>,
    Query(shown): Query<Shown>,
) -> Result<Response, AppError> {
    let view = status::view(page.store(), &secret)
        .await?
        .ok_or_else(nothing)?;
    let added = shown.added.is_some();
    html(&StatusPage {
        shell: page.shell("report"),
        view,
        secret,
        text: String::new(),
        error: None,
        added,
    })
}

pub(crate) async fn add(
    page: Page,
    Path(secret): Path<String>,
    form: WithFiles,
) -> Result<Response, AppError> {
    let text = form.get("text");
    let view = status::view(page.store(), &secret)
        .await?
        .ok_or_else(nothing)?;
    let refuse = |status: StatusCode, error: String, view: StatusView| {
        html_status(
            status,
            &StatusPage {
                shell: page.shell("report"),
                view,
                secret: secret.clone(),
                text: text.clone(),
                error: Some(error),
                added: false,
            },
        )
    };
    if !page.state.form_limiter.allow(&page.auth.client).await {
        let words = page.shell("report").t("report.throttled").to_string();
        return refuse(StatusCode::TOO_MANY_REQUESTS, words, view);
    }
    match status::add(page.store(), &secret, &text, &form.files).await {
        Ok(Some(_)) => Ok(see_other(&format!("/status/{secret}?added=1"))),
        Ok(None) => Err(nothing()),
        Err(e) => {
            let e = AppError::from(e);
            if e.status != StatusCode::UNPROCESSABLE_ENTITY {
                return Err(e);
            }
            refuse(StatusCode::UNPROCESSABLE_ENTITY, e.message, view)
        }
    }
}

pub(crate) async fn revoke(page: Page, Path(id): Path<i64>) -> Result<Response, AppError> {
    status::revoke(page.store(), &page.auth.actor(), id).await?;
    Ok(see_other(&format!("/reports/{id}#status-link")))
}

pub(crate) async fn send_new(page: Page, Path(id): Path<i64>) -> Result<Response, AppError> {
    let message = status::send_new_link(
        page.store(),
        &page.state.notify,
        &page.state.intake,
        &page.auth.actor(),
        id,
    )
    .await?;
    Ok(see_other(&format!("/reports/{id}#message-{message}")))
}
