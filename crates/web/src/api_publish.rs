//! The JSON API of dissemination: alerts, written and reviewed by staff, read by
//! anyone once published.

use axum::Extension;
use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use renkei_core::access::{Principal, UserInfo};
use renkei_publish::alerts::{self, AlertNumber, AlertText, Viewer};
use serde::Deserialize;
use serde_json::json;

use crate::api::ApiJson;
use crate::auth::Auth;
use crate::error::AppError;
use crate::state::AppState;

pub(crate) fn viewer(p: &Principal) -> Viewer {
    match p.role() {
        Some(r) if r.is_staff() => Viewer::Staff,
        _ => Viewer::Public,
    }
}

pub(crate) fn signed_in(auth: &Auth) -> Result<&UserInfo, AppError> {
    auth.principal
        .user()
        .ok_or_else(|| AppError::new(StatusCode::UNAUTHORIZED, "unauthenticated", "sign in first"))
}

#[derive(Deserialize)]
pub struct ListQuery {
    category: Option<String>,
    limit: Option<i64>,
}

pub async fn list(
    State(state): State<AppState>,
    Extension(auth): Extension<Auth>,
    Query(q): Query<ListQuery>,
) -> Result<Response, AppError> {
    let list = alerts::list(
        &state.store,
        viewer(&auth.principal),
        q.category.as_deref(),
        q.limit.unwrap_or(100),
    )
    .await?;
    Ok(Json(json!({"alerts": list})).into_response())
}

pub async fn get(
    State(state): State<AppState>,
    Extension(auth): Extension<Auth>,
    Path(number): Path<String>,
) -> Result<Response, AppError> {
    let alert = alerts::get(&state.store, &number, viewer(&auth.principal))
        .await?
        .ok_or_else(AppError::not_found)?;
    Ok(Json(alert).into_response())
}

pub async fn create(
    State(state): State<AppState>,
    Extension(auth): Extension<Auth>,
    ApiJson(text): ApiJson<AlertText>,
) -> Result<Response, AppError> {
    let alert = alerts::create(&state.store, signed_in(&auth)?, &text, state.clock.now()).await?;
    Ok((StatusCode::CREATED, Json(alert)).into_response())
}

pub async fn write(
    State(state): State<AppState>,
    Extension(auth): Extension<Auth>,
    Path(number): Path<String>,
    ApiJson(text): ApiJson<AlertText>,
) -> Result<Response, AppError> {
    let number = AlertNumber::parse(&number)?;
    Ok(Json(alerts::write(&state.store, signed_in(&auth)?, &number, &text).await?).into_response())
}

pub async fn submit(
    State(state): State<AppState>,
    Extension(auth): Extension<Auth>,
    Path(number): Path<String>,
) -> Result<Response, AppError> {
    let number = AlertNumber::parse(&number)?;
    Ok(Json(alerts::submit(&state.store, signed_in(&auth)?, &number).await?).into_response())
}

pub async fn publish(
    State(state): State<AppState>,
    Extension(auth): Extension<Auth>,
    Path(number): Path<String>,
) -> Result<Response, AppError> {
    let number = AlertNumber::parse(&number)?;
    let alert =
        alerts::publish(&state.store, signed_in(&auth)?, &number, state.clock.now()).await?;
    Ok(Json(alert).into_response())
}
