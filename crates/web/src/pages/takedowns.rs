//! Takedowns on the report page: ask for a site to be taken down, record what a
//! check found.

use axum::extract::Path;
use axum::response::Response;
use renkei_incident::takedowns;
use serde::Deserialize;

use crate::api::takedowns::found_up;
use crate::http::error::AppError;
use crate::http::form::Form;
use crate::pages::{Page, see_other};

#[derive(Deserialize)]
pub struct RequestForm {
    url: String,
}

pub(crate) async fn request(
    page: Page,
    Path(id): Path<i64>,
    Form(f): Form<RequestForm>,
) -> Result<Response, AppError> {
    let t = takedowns::request(page.store(), &page.auth.actor(), id, &f.url).await?;
    back_to(&page, t.incident_id, t.id).await
}

#[derive(Deserialize)]
pub struct CheckForm {
    result: String,
    #[serde(default)]
    note: String,
}

pub(crate) async fn check(
    page: Page,
    Path(id): Path<i64>,
    Form(f): Form<CheckForm>,
) -> Result<Response, AppError> {
    let up = found_up(&f.result)?;
    let t = takedowns::check(page.store(), &page.auth.actor(), id, up, &f.note).await?;
    back_to(&page, t.incident_id, t.id).await
}

async fn back_to(page: &Page, incident: i64, takedown: i64) -> Result<Response, AppError> {
    let i = renkei_incident::incidents::get(page.store(), incident).await?;
    Ok(see_other(&format!(
        "/reports/{}#takedown-{takedown}",
        i.report_id
    )))
}
