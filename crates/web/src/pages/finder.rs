//! The finder's status page behind the secret link of their report: where the case
//! stands, the agreed publication date, their thread with the coordinators (a form
//! to add a message and files) and how they want to be credited. No account needed;
//! nothing of any vendor or any other case. A finder who reported while signed in
//! also lists their reports in their account and opens each page from there.

use askama::Template;
use axum::extract::{Path, Query};
use axum::http::StatusCode;
use axum::response::Response;
use renkei_vuln::cases::finder::{self, FinderView, OwnReport, Upload};
use serde::Deserialize;

use crate::http::error::AppError;
use crate::http::form::{Form, WithFiles};
use crate::pages::{Page, Shell, html, html_status, see_other};

#[derive(Template)]
#[template(path = "finder.html")]
struct FinderPage<'a> {
    shell: Shell<'a>,
    view: FinderView,
    secret: String,
    text: String,
    error: Option<String>,
    /// `added` or `credit`: what the last form did.
    done: Option<String>,
}

impl FinderPage<'_> {
    fn credit_choices(&self) -> [&'static str; 3] {
        ["name", "handle", "anonymous"]
    }
}

/// A wrong, revoked or expired link: the same answer as any page that is not there.
fn nothing() -> AppError {
    AppError::not_found()
}

#[derive(Deserialize)]
pub struct Shown {
    #[serde(default)]
    done: Option<String>,
}

pub(crate) async fn show(
    page: Page,
    Path(secret): Path<String>,
    Query(shown): Query<Shown>,
) -> Result<Response, AppError> {
    let view = finder::view(page.store(), &page.state.vuln, &secret, page.now)
        .await?
        .ok_or_else(nothing)?;
    html(&FinderPage {
        shell: page.shell("vuln_report"),
        view,
        secret,
        text: String::new(),
        error: None,
        done: shown
            .done
            .filter(|d| matches!(d.as_str(), "added" | "credit")),
    })
}

async fn refuse(
    page: &Page,
    secret: &str,
    status: StatusCode,
    error: String,
    text: String,
) -> Result<Response, AppError> {
    let view = finder::view(page.store(), &page.state.vuln, secret, page.now)
        .await?
        .ok_or_else(nothing)?;
    html_status(
        status,
        &FinderPage {
            shell: page.shell("vuln_report"),
            view,
            secret: secret.to_string(),
            text,
            error: Some(error),
            done: None,
        },
    )
}

pub(crate) async fn add(
    page: Page,
    Path(secret): Path<String>,
    form: WithFiles,
) -> Result<Response, AppError> {
    let text = form.get("text");
    if !page.state.form_limiter.allow(&page.auth.client).await {
        let words = page.shell("report").t("report.throttled").to_string();
        return refuse(&page, &secret, StatusCode::TOO_MANY_REQUESTS, words, text).await;
    }
    let files: Vec<Upload> = form
        .files
        .into_iter()
        .map(|f| Upload {
            filename: f.filename,
            content_type: f.content_type,
            data: f.data,
        })
        .collect();
    match finder::add(page.store(), &secret, &text, &files).await {
        Ok(Some(_)) => Ok(see_other(&format!(
            "/vulnerabilities/status/{secret}?done=added"
        ))),
        Ok(None) => Err(nothing()),
        Err(e) => {
            let e = AppError::from(e);
            if e.status != StatusCode::UNPROCESSABLE_ENTITY {
                return Err(e);
            }
            refuse(&page, &secret, e.status, e.message, text).await
        }
    }
}

#[derive(Deserialize)]
pub(crate) struct CreditForm {
    #[serde(default)]
    credit_as: String,
    #[serde(default)]
    credit: String,
}

pub(crate) async fn credit(
    page: Page,
    Path(secret): Path<String>,
    Form(f): Form<CreditForm>,
) -> Result<Response, AppError> {
    match finder::set_credit(
        page.store(),
        &page.state.vuln,
        &secret,
        &f.credit_as,
        &f.credit,
        page.now,
    )
    .await
    {
        Ok(Some(_)) => Ok(see_other(&format!(
            "/vulnerabilities/status/{secret}?done=credit"
        ))),
        Ok(None) => Err(nothing()),
        Err(e) => {
            let e = AppError::from(e);
            if !matches!(
                e.status,
                StatusCode::UNPROCESSABLE_ENTITY | StatusCode::CONFLICT
            ) {
                return Err(e);
            }
            refuse(&page, &secret, e.status, e.message, String::new()).await
        }
    }
}

#[derive(Template)]
#[template(path = "finder_reports.html")]
struct ReportsPage<'a> {
    shell: Shell<'a>,
    reports: Vec<OwnReport>,
}

/// The reports the signed-in person made.
pub(crate) async fn mine(page: Page) -> Result<Response, AppError> {
    let user = page.user()?.id;
    let reports = finder::own_reports(page.store(), &page.state.vuln, user, page.now).await?;
    html(&ReportsPage {
        shell: page.shell("mine"),
        reports,
    })
}

/// Opens the status page of one of the person's own reports.
pub(crate) async fn open_mine(page: Page, Path(key): Path<String>) -> Result<Response, AppError> {
    let user = page.user()?.id;
    let secret = finder::open_own(page.store(), &page.state.vuln, user, &key).await?;
    Ok(see_other(&format!("/vulnerabilities/status/{secret}")))
}
