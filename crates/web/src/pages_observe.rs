//! Observation pages: the public overview for a period (top 1–5 and 6–10 ports,
//! backscatter apart, ICMP, trend notes with their evidence), a page per port with
//! its graphs and annotations, the SVG charts themselves, and the coordinators'
//! sensor-health page where sensors are registered.

use askama::Template;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use renkei_observe::collector::{self, Health};
use renkei_observe::stats::{self, Annotation, Family, Period, PortRank};
use renkei_observe::trends::{self, Trend};
use renkei_observe::{Class, ObserveError, Proto};
use renkei_publish::charts::Marker;

use crate::api_observe::{ViewQuery, chart_svg, icmp_view, parse_port, svg, top_view};
use crate::error::AppError;
use crate::pages::{Page, Shell, html, html_status, see_other};
use crate::pages_vuln::{field, fields};
use crate::state::AppState;

/// A trend note as a line a reader understands, with its evidence.
pub struct TrendLine {
    pub day: String,
    pub proto: &'static str,
    pub port: u16,
    pub label: String,
    pub kind: String,
    pub evidence: String,
}

fn trend_lines(list: Vec<Trend>) -> Vec<TrendLine> {
    list.into_iter()
        .map(|t| {
            let p = Proto::parse(t.proto).unwrap_or(Proto::Tcp);
            let ev = &t.evidence;
            let evidence = match t.kind.as_str() {
                "surge" => format!(
                    "{} sources (baseline {} ± {} over {} days, score {:.1}), {} sensors",
                    ev["sources"],
                    ev["baseline_mean"],
                    ev["baseline_sd"],
                    ev["baseline_days"],
                    t.score,
                    ev["sensors"]
                ),
                "calmed" => format!(
                    "surge on {} ({} sources); last days {} ≤ {}",
                    ev["surge_day"].as_str().unwrap_or("?"),
                    ev["surge_sources"],
                    ev["last_days_sources"],
                    ev["ceiling"]
                ),
                _ => format!(
                    "{} packets from {} sources on {} sensors; silent {} days before{}",
                    ev["packets"],
                    ev["sources"],
                    ev["sensors"],
                    ev["silent_days"],
                    ev["last_seen_before"]
                        .as_str()
                        .map(|d| format!(" (last seen {d})"))
                        .unwrap_or_default()
                ),
            };
            TrendLine {
                day: t.day,
                proto: t.proto,
                port: t.port,
                label: stats::label(p, t.port),
                kind: t.kind,
                evidence,
            }
        })
        .collect()
}

fn query_of(period: &Period) -> String {
    format!("period={}..{}", period.from, period.to)
}

#[derive(Template)]
#[template(path = "observation.html")]
struct OverviewPage<'a> {
    shell: Shell<'a>,
    period: Period,
    q: String,
    top: Vec<PortRank>,
    next: Vec<PortRank>,
    backscatter: Vec<PortRank>,
    trends: Vec<TrendLine>,
    reporting_days: usize,
}

impl OverviewPage<'_> {
    fn label(&self, r: &PortRank) -> String {
        stats::label(Proto::parse(r.proto).unwrap_or(Proto::Tcp), r.port)
    }
}

pub async fn overview(
    State(state): State<AppState>,
    page: Page,
    Query(q): Query<ViewQuery>,
) -> Result<Response, AppError> {
    let period = q.period(&state)?;
    let top = stats::top(&state.store, &period, Class::Scan, Family::Ports, 1..=10).await?;
    let (top, next): (Vec<PortRank>, Vec<PortRank>) = top.into_iter().partition(|r| r.rank <= 5);
    let backscatter = stats::top(
        &state.store,
        &period,
        Class::Backscatter,
        Family::Ports,
        1..=5,
    )
    .await?;
    let reporting_days = stats::reporting(&state.store, &period).await?.len();
    html(&OverviewPage {
        shell: page.shell("observation"),
        q: query_of(&period),
        trends: trend_lines(trends::list(&state.store, &period, None).await?),
        period,
        top,
        next,
        backscatter,
        reporting_days,
    })
}

#[derive(Template)]
#[template(path = "observe_port.html")]
struct PortPage<'a> {
    shell: Shell<'a>,
    period: Period,
    q: String,
    proto: &'static str,
    port: u16,
    label: String,
    total_packets: i64,
    peak_sources: i64,
    trends: Vec<TrendLine>,
    annotations: Vec<Annotation>,
    by_sensor: Vec<stats::SensorPortDay>,
    day: String,
    error: Option<String>,
}

async fn port_page<'a>(
    state: &AppState,
    page: &'a Page,
    q: &ViewQuery,
    p: Proto,
    n: u16,
    error: Option<String>,
) -> Result<PortPage<'a>, AppError> {
    let period = q.period(state)?;
    let chart = stats::chart(&state.store, &period, Class::Scan, &[(p, n)]).await?;
    let s = chart.series.first();
    let day = q
        .day
        .clone()
        .unwrap_or_else(|| state.observe.day_of(state.clock.now().timestamp()));
    Ok(PortPage {
        shell: page.shell("observation"),
        q: query_of(&period),
        proto: p.as_str(),
        port: n,
        label: stats::label(p, n),
        total_packets: s.map(|s| s.packets.iter().sum()).unwrap_or(0),
        peak_sources: s.and_then(|s| s.sources.iter().max().copied()).unwrap_or(0),
        trends: trend_lines(trends::list(&state.store, &period, Some((p, n))).await?),
        annotations: stats::annotations(
            &state.store,
            Some((p, n)),
            None,
            &state.disclosure().await?,
        )
        .await?,
        by_sensor: if page.auth.principal.role().is_some_and(|r| r.is_staff()) {
            stats::port_day_by_sensor(&state.store, p, n, Class::Scan, &day).await?
        } else {
            Vec::new()
        },
        day,
        period,
        error,
    })
}

pub async fn port(
    State(state): State<AppState>,
    page: Page,
    Path((proto, port)): Path<(String, String)>,
    Query(q): Query<ViewQuery>,
) -> Result<Response, AppError> {
    let (p, n) = parse_port(&proto, &port)?;
    html(&port_page(&state, &page, &q, p, n, None).await?)
}

/// A coordinator annotates the port.
pub async fn port_annotate(
    State(state): State<AppState>,
    page: Page,
    Path((proto, port)): Path<(String, String)>,
    body: Bytes,
) -> Result<Response, AppError> {
    let (p, n) = parse_port(&proto, &port)?;
    let f = fields(&body)?;
    let opt = |k: &str| Some(field(&f, k)).filter(|v| !v.is_empty());
    let result = stats::annotate(
        &state.store,
        &page.auth.principal,
        stats::NewAnnotation {
            proto: p,
            port: n,
            day: field(&f, "day"),
            text_ja: field(&f, "text_ja"),
            text_en: field(&f, "text_en"),
            note_id: opt("note_id"),
            cve: opt("cve"),
        },
    )
    .await;
    match result {
        Ok(_) => Ok(see_other(&format!("/observation/ports/{}/{n}", p.as_str()))),
        Err(e)
            if e.is_user_error()
                && !matches!(e, ObserveError::NotFound(_) | ObserveError::Core(_)) =>
        {
            let view = port_page(
                &state,
                &page,
                &ViewQuery::default(),
                p,
                n,
                Some(e.to_string()),
            )
            .await?;
            html_status(StatusCode::UNPROCESSABLE_ENTITY, &view)
        }
        Err(e) => Err(e.into()),
    }
}

pub async fn top_chart(
    State(state): State<AppState>,
    Query(q): Query<ViewQuery>,
) -> Result<Response, AppError> {
    let (period, _, chart) = top_view(&state, &q).await?;
    let class = q.class()?;
    let title = format!(
        "{} {} ({} – {})",
        if class == Class::Backscatter {
            "Backscatter, top"
        } else {
            "Destination ports, top"
        },
        q.ranks.as_deref().unwrap_or("1-5"),
        period.from,
        period.to
    );
    Ok(svg(chart_svg(
        &title,
        &chart,
        "per_sensor",
        Vec::new(),
        "packets per sensor",
    )?))
}

pub async fn icmp_chart(
    State(state): State<AppState>,
    Query(q): Query<ViewQuery>,
) -> Result<Response, AppError> {
    let chart = icmp_view(&state, &q).await?;
    let title = format!("ICMP ({} – {})", chart.period.from, chart.period.to);
    Ok(svg(chart_svg(
        &title,
        &chart,
        "per_sensor",
        Vec::new(),
        "packets per sensor",
    )?))
}

pub async fn port_chart(
    State(state): State<AppState>,
    Path((proto, port)): Path<(String, String)>,
    Query(q): Query<ViewQuery>,
) -> Result<Response, AppError> {
    let (p, n) = parse_port(&proto, &port)?;
    let period = q.period(&state)?;
    let chart = stats::chart(&state.store, &period, q.class()?, &[(p, n)]).await?;
    let markers = stats::annotations(
        &state.store,
        Some((p, n)),
        Some(&period),
        &state.disclosure().await?,
    )
    .await?
    .into_iter()
    .filter_map(|a| {
        let index = chart.days.iter().position(|d| *d == a.day)?;
        let label = a.note_id.or(a.cve).unwrap_or_else(|| {
            if q.lang.as_deref() == Some("ja") {
                a.text_ja
            } else {
                a.text_en
            }
        });
        Some(Marker {
            index,
            label: label.chars().take(24).collect(),
        })
    })
    .collect();
    let metric = q.metric.as_deref().unwrap_or("per_sensor");
    let (what, y) = match metric {
        "sources" => ("distinct sources", "sources"),
        _ => ("per sensor", "packets per sensor"),
    };
    let title = format!(
        "{} {what} ({} – {})",
        stats::label(p, n),
        period.from,
        period.to
    );
    Ok(svg(chart_svg(&title, &chart, metric, markers, y)?))
}

#[derive(Template)]
#[template(path = "sensors.html")]
struct SensorsPage<'a> {
    shell: Shell<'a>,
    sensors: Vec<Health>,
    issued: Option<(String, String)>,
    error: Option<String>,
}

impl SensorsPage<'_> {
    fn percent(&self, x: &f64) -> String {
        format!("{:.0} %", x * 100.0)
    }
}

pub async fn sensors(State(state): State<AppState>, page: Page) -> Result<Response, AppError> {
    html(&SensorsPage {
        shell: page.shell("sensors"),
        sensors: collector::health(&state.store, state.clock.now()).await?,
        issued: None,
        error: None,
    })
}

pub async fn sensors_action(
    State(state): State<AppState>,
    page: Page,
    body: Bytes,
) -> Result<Response, AppError> {
    let f = fields(&body)?;
    let actor = page.auth.actor();
    let result = match field(&f, "action").as_str() {
        "register" => collector::register(
            &state.store,
            &actor,
            collector::NewSensor {
                name: field(&f, "name"),
                location: field(&f, "location"),
                address_range: field(&f, "address_range"),
                public_key: field(&f, "public_key"),
            },
        )
        .await
        .map(|(s, token)| Some((s.name, token))),
        "disable" | "enable" => {
            let id: i64 = field(&f, "id")
                .parse()
                .map_err(|_| AppError::bad_request("invalid_input", "id"))?;
            collector::set_disabled(&state.store, &actor, id, field(&f, "action") == "disable")
                .await
                .map(|_| None)
        }
        other => Err(ObserveError::invalid(
            "action",
            format!("unknown action {other:?}"),
        )),
    };
    match result {
        Ok(None) => Ok(see_other("/observation/sensors")),
        // The token is shown once, on this page, never again.
        Ok(issued @ Some(_)) => html(&SensorsPage {
            shell: page.shell("sensors"),
            sensors: collector::health(&state.store, state.clock.now()).await?,
            issued,
            error: None,
        }),
        Err(e)
            if e.is_user_error()
                && !matches!(e, ObserveError::NotFound(_) | ObserveError::Core(_)) =>
        {
            html_status(
                StatusCode::UNPROCESSABLE_ENTITY,
                &SensorsPage {
                    shell: page.shell("sensors"),
                    sensors: collector::health(&state.store, state.clock.now()).await?,
                    issued: None,
                    error: Some(e.to_string()),
                },
            )
        }
        Err(e) => Err(e.into()),
    }
}
