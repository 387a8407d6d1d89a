//! Takedowns through the API: ask for a site to be taken down, record checks.

use axum::Json;
use axum::extract::Path;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use renkei_incident::takedowns;
use serde::Deserialize;

use crate::api::ApiJson;
use crate::http::context::Ctx;
use crate::http::error::AppError;

pub(crate) async fn of_incident(c: Ctx, Path(id): Path<i64>) -> Result<Response, AppError> {
    renkei_incident::incidents::get(c.store(), id).await?;
    Ok(Json(takedowns::of_incidents(c.store(), &[id]).await?).into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RequestBody {
    url: String,
}

pub(crate) async fn request(
    c: Ctx,
    Path(id): Path<i64>,
    ApiJson(b): ApiJson<RequestBody>,
) -> Result<Response, AppError> {
    let t = takedowns::request(c.store(), &c.auth.actor(), id, &b.url).await?;
    Ok((StatusCode::CREATED, Json(t)).into_response())
}

pub(crate) async fn get(c: Ctx, Path(id): Path<i64>) -> Result<Response, AppError> {
    Ok(Json(takedowns::get(c.store(), id).await?).into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CheckBody {
    result: String,
    #[serde(default)]
    note: String,
}

/// "up" or "down", nothing else.
pub(crate) fn found_up(result: &str) -> Result<bool, AppError> {
    match result.trim() {
        "up" => Ok(true),
        "down" => Ok(false),
        other => Err(AppError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_input",
            format!("result: {other:?}; use up or down"),
        )),
    }
}

pub(crate) async fn check(
    c: Ctx,
    Path(id): Path<i64>,
    ApiJson(b): ApiJson<CheckBody>,
) -> Result<Response, AppError> {
    let up = found_up(&b.result)?;
    let t = takedowns::check(c.store(), &c.auth.actor(), id, up, &b.note).await?;
    Ok(Json(t).into_response())
}
