//! Enrichment and notifications over the JSON API: look up an address, enrich
//! incidents again, preview and send notifications, list them with their mail's state,
//! edit the templates, and count what was sent.

use std::collections::HashMap;

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use renkei_incident::{incidents, notify};
use serde::Deserialize;

use crate::api::ApiJson;
use crate::api::incidents::Period;
use crate::http::context::Ctx;
use crate::http::error::AppError;
use crate::http::state::AppState;

#[derive(Deserialize)]
pub struct LookupQuery {
    ip: String,
}

pub(crate) async fn lookup(
    State(state): State<AppState>,
    Query(q): Query<LookupQuery>,
) -> Result<Response, AppError> {
    Ok(Json(state.enricher.lookup(&q.ip)).into_response())
}

pub(crate) async fn sources(State(state): State<AppState>) -> Result<Response, AppError> {
    let tables = state.enricher.tables();
    Ok(Json(serde_json::json!({
        "sources": renkei_enrich::sources::list(&state.store).await?,
        "entries": tables.sizes().into_iter().collect::<HashMap<_, _>>(),
        "failing_contacts": renkei_enrich::sources::all_failing(&state.store).await?,
    }))
    .into_response())
}

pub(crate) async fn enrich_incident(c: Ctx, Path(id): Path<i64>) -> Result<Response, AppError> {
    let tables = c.state.enricher.tables();
    let mut out = incidents::enrich(c.store(), &c.auth.actor(), &tables, &[id]).await?;
    Ok(Json(out.remove(0)).into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NotifyBody {
    incidents: Vec<i64>,
    /// Incident number → recipient address, replacing the one resolved.
    #[serde(default)]
    recipients: HashMap<String, String>,
}

impl NotifyBody {
    fn overrides(&self) -> Result<HashMap<i64, String>, AppError> {
        if self.incidents.is_empty() {
            return Err(AppError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid_input",
                "incidents: name at least one incident",
            ));
        }
        self.recipients
            .iter()
            .map(|(k, v)| {
                k.parse::<i64>().map(|k| (k, v.clone())).map_err(|_| {
                    AppError::new(
                        StatusCode::UNPROCESSABLE_ENTITY,
                        "invalid_input",
                        format!("recipients: {k:?} is not an incident number"),
                    )
                })
            })
            .collect()
    }
}

pub(crate) async fn preview(
    State(state): State<AppState>,
    ApiJson(body): ApiJson<NotifyBody>,
) -> Result<Response, AppError> {
    let overrides = body.overrides()?;
    Ok(
        Json(notify::preview(&state.store, &state.notify, &body.incidents, &overrides).await?)
            .into_response(),
    )
}

pub(crate) async fn send(c: Ctx, ApiJson(body): ApiJson<NotifyBody>) -> Result<Response, AppError> {
    let overrides = body.overrides()?;
    let (sent, unresolved) = notify::send(
        c.store(),
        &c.state.notify,
        &c.auth.actor(),
        &body.incidents,
        &overrides,
    )
    .await?;
    Ok((
        StatusCode::CREATED,
        Json(serde_json::json!({"sent": sent, "unresolved": unresolved})),
    )
        .into_response())
}

#[derive(Deserialize)]
pub struct ListQuery {
    status: Option<String>,
    limit: Option<i64>,
}

pub(crate) async fn list(
    State(state): State<AppState>,
    Query(q): Query<ListQuery>,
) -> Result<Response, AppError> {
    let limit = q.limit.unwrap_or(100).clamp(1, 1000);
    Ok(Json(notify::list(&state.store, q.status.as_deref(), limit).await?).into_response())
}

pub(crate) async fn for_incident(
    State(state): State<AppState>,
    Path(id): Path<i64>,
) -> Result<Response, AppError> {
    incidents::get(&state.store, id).await?;
    Ok(Json(notify::for_incident(&state.store, id).await?).into_response())
}

pub(crate) async fn template(
    State(state): State<AppState>,
    Path(lang): Path<String>,
) -> Result<Response, AppError> {
    Ok(Json(notify::template(&state.store, &lang).await?).into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TemplateBody {
    subject: String,
    body: String,
}

pub(crate) async fn template_set(
    c: Ctx,
    Path(lang): Path<String>,
    ApiJson(t): ApiJson<TemplateBody>,
) -> Result<Response, AppError> {
    Ok(
        Json(notify::set_template(c.store(), &c.auth.actor(), &lang, &t.subject, &t.body).await?)
            .into_response(),
    )
}

pub(crate) async fn statistics(
    State(state): State<AppState>,
    Query(p): Query<Period>,
) -> Result<Response, AppError> {
    let (from, to) = p.resolve(state.store.now().date_naive())?;
    Ok(Json(notify::statistics(&state.store, &from, &to).await?).into_response())
}
