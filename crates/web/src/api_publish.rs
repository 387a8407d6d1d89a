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

use renkei_publish::weekly::{self, Schedule, WeeklyText};

pub(crate) async fn schedule(state: &AppState) -> Result<Schedule, AppError> {
    Ok(Schedule::load(&state.store, &state.config.publish).await?)
}

#[derive(Deserialize)]
pub struct ScheduleQuery {
    from: Option<String>,
    weeks: Option<usize>,
}

/// The issue days ahead, with the weeks holidays skip.
pub async fn weekly_schedule(
    State(state): State<AppState>,
    Query(q): Query<ScheduleQuery>,
) -> Result<Response, AppError> {
    let from = match q.from.as_deref() {
        Some(d) => weekly::parse_date(d)?,
        None => state.clock.now().date_naive(),
    };
    let s = schedule(&state).await?;
    let days = s.upcoming(from, q.weeks.unwrap_or(12).clamp(1, 104));
    Ok(Json(
        json!({"weekday": format!("{:?}", s.weekday), "next": s.next_issue(from), "weeks": days}),
    )
    .into_response())
}

pub async fn weekly_list(
    State(state): State<AppState>,
    Extension(auth): Extension<Auth>,
) -> Result<Response, AppError> {
    let list = weekly::list(&state.store, viewer(&auth.principal), 100).await?;
    Ok(Json(json!({"reports": list})).into_response())
}

pub async fn weekly_get(
    State(state): State<AppState>,
    Extension(auth): Extension<Auth>,
    Path(key): Path<String>,
) -> Result<Response, AppError> {
    let w = weekly::get(&state.store, &key, viewer(&auth.principal))
        .await?
        .ok_or_else(AppError::not_found)?;
    Ok(Json(w).into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewWeekly {
    issue_date: Option<String>,
}

pub async fn weekly_create(
    State(state): State<AppState>,
    Extension(auth): Extension<Auth>,
    ApiJson(n): ApiJson<NewWeekly>,
) -> Result<Response, AppError> {
    let date = n
        .issue_date
        .as_deref()
        .map(weekly::parse_date)
        .transpose()?;
    let s = schedule(&state).await?;
    let w = weekly::create(&state.store, &s, signed_in(&auth)?, date, state.clock.now()).await?;
    Ok((StatusCode::CREATED, Json(w)).into_response())
}

pub async fn weekly_write(
    State(state): State<AppState>,
    Extension(auth): Extension<Auth>,
    Path(key): Path<String>,
    ApiJson(text): ApiJson<WeeklyText>,
) -> Result<Response, AppError> {
    let date = weekly::parse_date(&key)?;
    Ok(Json(weekly::write(&state.store, signed_in(&auth)?, date, &text).await?).into_response())
}

pub async fn weekly_publish(
    State(state): State<AppState>,
    Extension(auth): Extension<Auth>,
    Path(key): Path<String>,
) -> Result<Response, AppError> {
    let date = weekly::parse_date(&key)?;
    Ok(
        Json(weekly::publish(&state.store, signed_in(&auth)?, date, state.clock.now()).await?)
            .into_response(),
    )
}
