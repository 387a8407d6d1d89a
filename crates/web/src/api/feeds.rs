//! Bulk feeds by API: a feed file sent is stored as received, split into chunks of
//! rows, and counted on this node (no bus) or by whichever nodes pull its chunks from
//! the bus. Sending the same file again is safe: it is the same import, resumed if it
//! was cut short.

use axum::Json;
use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use renkei_core::Classify;
use renkei_core::tlp::Tlp;
use renkei_formats::feed::Mapping;
use renkei_incident::feeds::{self, Chunk};
use serde::Deserialize;

use crate::http::context::Ctx;
use crate::http::error::AppError;
use crate::http::state::AppState;

/// Whether a request path is a feed upload (it has its own body limit).
pub(crate) fn is_upload(path: &str) -> bool {
    path.starts_with("/api/v1/feeds/") && path.ends_with("/imports")
}

const REPORT_HEADER: &str = "Renkei-Report";
const FIRST_ROW_HEADER: &str = "Renkei-First-Row";
const LINE_OFFSET_HEADER: &str = "Renkei-Line-Offset";

#[derive(Deserialize)]
pub struct UploadQuery {
    tlp: Option<String>,
}

/// The feed file as the body (CSV, gzip allowed). 201 when it was counted here, 202
/// when its chunks went to the bus, 200 when the file had been sent before.
pub(crate) async fn upload(
    c: Ctx,
    Path(feed): Path<String>,
    Query(q): Query<UploadQuery>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, AppError> {
    let Some(mapping) = Mapping::builtin(&feed) else {
        return Err(AppError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_input",
            format!(
                "no built-in layout for feed {feed:?} (built in: {}); import other feeds with `renkei incident import --format csv --feed NAME --mapping FILE`",
                Mapping::BUILTIN.join(", ")
            ),
        ));
    };
    let data = crate::api::large_body(
        body,
        &headers,
        c.state.config.intake.max_feed_bytes,
        "intake.max_feed_bytes",
    )
    .await?;
    if data.is_empty() {
        return Err(AppError::bad_request("invalid_input", "the body is empty"));
    }
    let tlp = match q.tlp.as_deref() {
        Some(t) => Tlp::parse(t)?,
        None => Tlp::Amber,
    };
    let actor = c.auth.actor();
    let received = feeds::receive(
        c.store(),
        &actor,
        &feed,
        &mapping,
        &data,
        tlp,
        feeds::CHUNK_ROWS,
    )
    .await?;
    let report = received.report;
    let code = match &c.state.bus {
        Some(b) if !received.chunks.is_empty() => {
            for chunk in &received.chunks {
                publish(b, report, chunk).await?;
            }
            StatusCode::ACCEPTED
        }
        _ => {
            let tables = c.state.enricher.tables();
            for chunk in &received.chunks {
                feeds::process_chunk(
                    c.store(),
                    &tables,
                    &c.state.notify,
                    &actor,
                    report,
                    chunk,
                    &c.state.node_id,
                )
                .await?;
            }
            if received.duplicate {
                StatusCode::OK
            } else {
                StatusCode::CREATED
            }
        }
    };
    let mut status = feeds::status(c.store(), report).await?;
    status.duplicate = received.duplicate;
    let mut response = (code, Json(status)).into_response();
    if let Ok(v) = HeaderValue::from_str(&format!("/api/v1/feeds/imports/{report}")) {
        response.headers_mut().insert(header::LOCATION, v);
    }
    Ok(response)
}

async fn publish(b: &crate::WorkBus, report: i64, chunk: &Chunk<'_>) -> Result<(), AppError> {
    let id = crate::WorkBus::chunk_id(report, chunk.first_row);
    let (report, first_row, offset) = (
        report.to_string(),
        chunk.first_row.to_string(),
        chunk.line_offset.to_string(),
    );
    b.bus
        .publish(
            &b.feeds.subject,
            &id,
            &[
                (REPORT_HEADER, report.as_str()),
                (FIRST_ROW_HEADER, first_row.as_str()),
                (LINE_OFFSET_HEADER, offset.as_str()),
            ],
            chunk.bytes(),
        )
        .await
        .map_err(|e| {
            tracing::warn!(error = %e, "the bus did not take a feed chunk");
            AppError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "unavailable",
                "the file is stored, but its rows cannot be queued now; send the same file again later to resume",
            )
        })?;
    Ok(())
}

/// An import's progress and figures.
pub(crate) async fn import_status(
    State(state): State<AppState>,
    Path(report): Path<i64>,
) -> Result<Response, AppError> {
    Ok(Json(feeds::status(&state.store, report).await?).into_response())
}

/// Counts one chunk pulled from the bus. A chunk already counted (a redelivery after
/// a node died between its commit and its ack) is done, not counted again.
pub(crate) async fn chunk_from_bus(
    state: &AppState,
    d: renkei_bus::Delivery,
) -> renkei_bus::Handled {
    use renkei_bus::Handled;
    let number = |name: &str| d.header(name).and_then(|v| v.parse::<u64>().ok());
    let (Some(report), Some(first_row), Some(line_offset)) = (
        number(REPORT_HEADER),
        number(FIRST_ROW_HEADER),
        number(LINE_OFFSET_HEADER),
    ) else {
        return Handled::Reject("a feed chunk without its import, first row or line".into());
    };
    let chunk = Chunk::whole(first_row, line_offset, d.payload.to_vec());
    let tables = state.enricher.tables();
    let actor = renkei_core::audit::Actor::system("feed import");
    match feeds::process_chunk(
        &state.store,
        &tables,
        &state.notify,
        &actor,
        report as i64,
        &chunk,
        &state.node_id,
    )
    .await
    {
        Ok(_) => Handled::Done,
        Err(e) if e.kind().is_user_error() => Handled::Reject(e.to_string()),
        Err(e) => Handled::Retry(e.to_string()),
    }
}
