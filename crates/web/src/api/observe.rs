//! Internet observation over HTTP: sensors send signed batches here; coordinators
//! register sensors and annotate ports; anyone reads the rankings, per-port series,
//! ICMP, trend notes and charts (JSON, CSV or SVG) for any period.

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use renkei_observe::stats::{self, Period};
use renkei_observe::{Class, Proto, collector, trends};
use renkei_publish::charts::Marker;
use serde::Deserialize;
use serde_json::json;

use crate::api::ApiJson;
use crate::api::vuln::public_cache;
use crate::http::context::Ctx;
use crate::http::error::AppError;
use crate::http::state::AppState;

#[derive(Deserialize, Default)]
pub struct ViewQuery {
    pub period: Option<String>,
    pub from: Option<String>,
    pub to: Option<String>,
    pub class: Option<String>,
    pub ranks: Option<String>,
    pub format: Option<String>,
    pub metric: Option<String>,
    pub day: Option<String>,
    pub lang: Option<String>,
}

impl ViewQuery {
    /// The period asked for: `period=2007Q4|2007|2007-10|A..B`, or `from`/`to`, or
    /// the current quarter.
    pub fn period(&self, state: &AppState) -> Result<Period, AppError> {
        let p = match (&self.period, &self.from, &self.to) {
            (Some(p), _, _) if !p.trim().is_empty() => Period::parse(p)?,
            (_, Some(f), Some(t)) if !f.is_empty() && !t.is_empty() => Period::between(f, t)?,
            _ => {
                let today = state.observe.day_of(state.store.now().timestamp());
                let d = chrono::NaiveDate::parse_from_str(&today, "%Y-%m-%d").unwrap_or_default();
                Period::quarter_of(d)
            }
        };
        Ok(p)
    }

    /// Whether the reader chose a period (or the page picks one).
    pub fn chosen(&self) -> bool {
        [&self.period, &self.from, &self.to]
            .iter()
            .any(|v| v.as_deref().is_some_and(|v| !v.trim().is_empty()))
    }

    pub fn class(&self) -> Result<Class, AppError> {
        match self.class.as_deref().filter(|c| !c.is_empty()) {
            None => Ok(Class::Scan),
            Some(c) => Class::parse(c).ok_or_else(|| {
                AppError::bad_request("invalid_input", "class: scan, backscatter or other")
            }),
        }
    }

    pub fn ranks(&self) -> Result<std::ops::RangeInclusive<usize>, AppError> {
        match self.ranks.as_deref().unwrap_or("1-5") {
            "1-5" => Ok(1..=5),
            "6-10" => Ok(6..=10),
            "1-10" => Ok(1..=10),
            _ => Err(AppError::bad_request(
                "invalid_input",
                "ranks: 1-5, 6-10 or 1-10",
            )),
        }
    }
}

pub(crate) fn parse_port(proto: &str, port: &str) -> Result<(Proto, u16), AppError> {
    let p = Proto::parse(proto).ok_or_else(AppError::not_found)?;
    let n: u16 = port
        .trim_end_matches(".svg")
        .parse()
        .map_err(|_| AppError::not_found())?;
    Ok((p, n))
}

fn csv(name: &str, body: String) -> Response {
    let mut r = (
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8".to_string()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"{name}.csv\""),
            ),
        ],
        body,
    )
        .into_response();
    public_cache(&mut r);
    r
}

pub(crate) fn svg(body: String) -> Response {
    let mut r = (
        [(header::CONTENT_TYPE, "image/svg+xml; charset=utf-8")],
        body,
    )
        .into_response();
    public_cache(&mut r);
    r
}

fn public_json(v: serde_json::Value) -> Response {
    let mut r = Json(v).into_response();
    public_cache(&mut r);
    r
}

/// The ranked ports and their series for a period.
pub(crate) async fn top_view(
    state: &AppState,
    q: &ViewQuery,
) -> Result<(Period, Vec<stats::PortRank>, stats::Chart), AppError> {
    let period = q.period(state)?;
    let (ranked, chart) = stats::top_chart(&state.store, &period, q.class()?, q.ranks()?).await?;
    Ok((period, ranked, chart))
}

/// The five most frequent ICMP types for a period, per day.
pub(crate) async fn icmp_view(state: &AppState, q: &ViewQuery) -> Result<stats::Chart, AppError> {
    let period = q.period(state)?;
    Ok(stats::icmp_chart(&state.store, &period).await?)
}

pub(crate) fn chart_svg(
    title: &str,
    chart: &stats::Chart,
    metric: &str,
    markers: Vec<Marker>,
    y_label: &str,
) -> Result<String, AppError> {
    renkei_report::charts::observation_svg(
        title,
        chart,
        renkei_report::charts::Metric::parse(metric),
        markers,
        y_label,
    )
    .map_err(AppError::internal)
}

pub(crate) async fn top(
    State(state): State<AppState>,
    Query(q): Query<ViewQuery>,
) -> Result<Response, AppError> {
    let (period, ranked, chart) = top_view(&state, &q).await?;
    if q.format.as_deref() == Some("csv") {
        return Ok(csv(
            &format!("top-{}-{}", period.from, period.to),
            chart.to_csv(),
        ));
    }
    Ok(public_json(
        json!({"period": period, "class": chart.class, "ports": ranked, "chart": chart}),
    ))
}

pub(crate) async fn icmp(
    State(state): State<AppState>,
    Query(q): Query<ViewQuery>,
) -> Result<Response, AppError> {
    let chart = icmp_view(&state, &q).await?;
    if q.format.as_deref() == Some("csv") {
        return Ok(csv(
            &format!("icmp-{}-{}", chart.period.from, chart.period.to),
            chart.to_csv(),
        ));
    }
    Ok(public_json(json!({"period": chart.period, "chart": chart})))
}

pub(crate) async fn port(
    State(state): State<AppState>,
    Path((proto, port)): Path<(String, String)>,
    Query(q): Query<ViewQuery>,
) -> Result<Response, AppError> {
    let (p, n) = parse_port(&proto, &port)?;
    let period = q.period(&state)?;
    let chart = stats::chart(&state.store, &period, q.class()?, &[(p, n)]).await?;
    if q.format.as_deref() == Some("csv") {
        return Ok(csv(
            &format!("{}-{}-{}-{}", p.as_str(), n, period.from, period.to),
            chart.to_csv(),
        ));
    }
    let notes = trends::list(&state.store, &period, Some((p, n))).await?;
    let annotations = stats::annotations(
        &state.store,
        Some((p, n)),
        Some(&period),
        &state.disclosure().await?,
    )
    .await?;
    Ok(public_json(
        json!({"period": period, "chart": chart, "trends": notes, "annotations": annotations}),
    ))
}

pub(crate) async fn trend_list(
    State(state): State<AppState>,
    Query(q): Query<ViewQuery>,
) -> Result<Response, AppError> {
    let period = q.period(&state)?;
    Ok(public_json(
        json!({"period": period, "trends": trends::list(&state.store, &period, None).await?}),
    ))
}

pub(crate) async fn annotation_list(
    State(state): State<AppState>,
    Query(q): Query<ViewQuery>,
) -> Result<Response, AppError> {
    let period = q.period(&state)?;
    Ok(public_json(
        json!({"period": period, "annotations": stats::annotations(&state.store, None, Some(&period), &state.disclosure().await?).await?}),
    ))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewAnnotation {
    pub proto: String,
    pub port: u16,
    pub day: String,
    #[serde(default)]
    pub text_ja: String,
    #[serde(default)]
    pub text_en: String,
    pub note_id: Option<String>,
    pub cve: Option<String>,
    pub alert: Option<String>,
}

pub(crate) async fn annotation_add(
    c: Ctx,
    ApiJson(a): ApiJson<NewAnnotation>,
) -> Result<Response, AppError> {
    let proto = Proto::parse(&a.proto)
        .ok_or_else(|| AppError::bad_request("invalid_input", "proto: tcp, udp, icmp or icmpv6"))?;
    let created = stats::annotate(
        c.store(),
        c.caller(),
        stats::NewAnnotation {
            proto,
            port: a.port,
            day: a.day,
            text_ja: a.text_ja,
            text_en: a.text_en,
            note_id: a.note_id,
            cve: a.cve,
            alert: a.alert,
        },
    )
    .await?;
    Ok((StatusCode::CREATED, Json(created)).into_response())
}

/// Who sent what on a port that day, per sensor, with the heaviest sources.
pub(crate) async fn port_sensors(
    State(state): State<AppState>,
    Path((proto, port)): Path<(String, String)>,
    Query(q): Query<ViewQuery>,
) -> Result<Response, AppError> {
    let (p, n) = parse_port(&proto, &port)?;
    let day = q
        .day
        .clone()
        .unwrap_or_else(|| state.observe.day_of(state.store.now().timestamp()));
    Ok(Json(json!({"day": day, "sensors": stats::port_day_by_sensor(&state.store, p, n, q.class()?, &day).await?})).into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewSensor {
    pub name: String,
    #[serde(default)]
    pub location: String,
    pub address_range: String,
    pub public_key: String,
}

pub(crate) async fn sensor_register(
    c: Ctx,
    ApiJson(s): ApiJson<NewSensor>,
) -> Result<Response, AppError> {
    let (sensor, token) = collector::register(
        c.store(),
        &c.auth.actor(),
        collector::NewSensor {
            name: s.name,
            location: s.location,
            address_range: s.address_range,
            public_key: s.public_key,
        },
    )
    .await?;
    Ok((
        StatusCode::CREATED,
        Json(json!({"sensor": sensor, "token": token})),
    )
        .into_response())
}

pub(crate) async fn sensor_list(State(state): State<AppState>) -> Result<Response, AppError> {
    Ok(Json(collector::health(&state.store, state.store.now()).await?).into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SensorState {
    pub disabled: bool,
}

pub(crate) async fn sensor_state(
    c: Ctx,
    Path(id): Path<i64>,
    ApiJson(s): ApiJson<SensorState>,
) -> Result<Response, AppError> {
    Ok(
        Json(collector::set_disabled(c.store(), &c.auth.actor(), id, s.disabled).await?)
            .into_response(),
    )
}

/// A sensor's batch: the body as signed (gzip allowed in transit), the signature
/// in `Renkei-Signature`.
/// How long after the last batch the views are rolled up.
const ROLL_UP_QUIET_MS: u64 = 1_000;

pub const BATCH_PATH: &str = "/api/v1/sensors/batches";

pub(crate) async fn batch(
    c: Ctx,
    headers: HeaderMap,
    body: axum::body::Body,
) -> Result<Response, AppError> {
    let body = crate::api::large_body(
        body,
        &headers,
        c.state.observe.observe.max_batch_bytes,
        "observe.max_batch_bytes",
    )
    .await?;
    let signature = headers
        .get(renkei_observe::batch::SIGNATURE_HEADER)
        .and_then(|v| v.to_str().ok());
    if let Some(b) = c.state.bus.clone() {
        // Checked here, stored by whichever node pulls it from the stream.
        let checked =
            collector::check(c.store(), &c.state.observe, c.caller(), signature, &body).await?;
        let id = crate::WorkBus::batch_id(checked.sensor_id, checked.receipt.seq);
        let sensor = checked.sensor_id.to_string();
        let published = b
            .bus
            .publish(
                &b.batches.subject,
                &id,
                &[(SENSOR_HEADER, sensor.as_str())],
                body,
            )
            .await
            .map_err(|e| {
                tracing::warn!(error = %e, "the bus did not take a batch");
                AppError::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "unavailable",
                    "the collector cannot take batches now; send again later",
                )
            })?;
        if published == renkei_bus::Published::Duplicate {
            return Err(renkei_observe::ObserveError::Duplicate {
                sensor: checked.receipt.sensor,
                seq: checked.receipt.seq,
            }
            .into());
        }
        return Ok((StatusCode::ACCEPTED, Json(checked.receipt)).into_response());
    }
    let receipt =
        collector::ingest(c.store(), &c.state.observe, c.caller(), signature, &body).await?;
    roll_up_soon(&c.state);
    Ok((StatusCode::CREATED, Json(receipt)).into_response())
}

/// The batch is stored; the views count it once the sensors have been quiet for a
/// moment (or at the trend worker's next minute), so that a sensor sending its
/// backlog is not held up by them and the backlog is merged in one roll-up. SQLite
/// has one writer: rolling up batch by batch would make each batch wait for the
/// last one's roll-up.
fn roll_up_soon(state: &AppState) {
    use std::sync::atomic::Ordering;
    let n = state.batches_seen.fetch_add(1, Ordering::SeqCst) + 1;
    let seen = state.batches_seen.clone();
    let rolled = crate::roll_up(state);
    state.background.spawn(async move {
        tokio::time::sleep(std::time::Duration::from_millis(ROLL_UP_QUIET_MS)).await;
        if seen.load(Ordering::SeqCst) != n {
            return;
        }
        if let Err(e) = rolled.await {
            tracing::warn!(error = %e, "sensor batches not rolled up; the trend worker retries");
        }
    });
}

/// The header that names the sensor of a batch on the bus.
const SENSOR_HEADER: &str = "Renkei-Sensor-Id";

/// Stores one batch pulled from the bus. A batch already stored (a redelivery after a
/// node died between its commit and its ack) is done, not counted again.
pub(crate) async fn store_from_bus(
    state: &AppState,
    d: renkei_bus::Delivery,
) -> renkei_bus::Handled {
    use renkei_bus::Handled;
    let Some(sensor) = d.header(SENSOR_HEADER).and_then(|v| v.parse::<i64>().ok()) else {
        return Handled::Reject("a batch without its sensor".into());
    };
    match collector::store_checked(&state.store, &state.observe, sensor, &d.payload).await {
        Ok(_) | Err(renkei_observe::ObserveError::Duplicate { .. }) => {
            roll_up_soon(state);
            Handled::Done
        }
        Err(
            e @ (renkei_observe::ObserveError::Invalid { .. }
            | renkei_observe::ObserveError::NotFound(_)),
        ) => Handled::Reject(e.to_string()),
        Err(e) => Handled::Retry(e.to_string()),
    }
}
