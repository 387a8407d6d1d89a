//! Observation pages: the public overview for a period (top 1–5 and 6–10 ports,
//! backscatter apart, ICMP, trend notes with their evidence), a page per port with
//! its graphs and annotations, the SVG charts themselves, and the coordinators'
//! sensor-health page where sensors are registered.

use askama::Template;
use axum::extract::{Path, Query};
use axum::http::StatusCode;
use axum::response::Response;
use renkei_core::Classify;
use renkei_observe::collector::{self, Health};
use renkei_observe::stats::{self, Annotation, Family, Period, PortRank};
use renkei_observe::trends::{self, Trend};
use renkei_observe::{Class, ObserveError, Proto};
use renkei_publish::charts::Marker;

use crate::api::observe::{ViewQuery, chart_svg, icmp_view, parse_port, svg, top_view};
use crate::http::error::AppError;
use crate::http::form::{Form, blank};
use crate::http::i18n::{self, Catalog};
use crate::http::state::AppState;
use crate::pages::{Page, Shell, html, html_status, see_other};
use renkei_core::lang::Lang;
use serde::Deserialize;

/// A trend note as a line a reader understands, with its evidence.
pub struct TrendLine {
    pub day: String,
    pub proto: &'static str,
    pub port: u16,
    pub label: String,
    pub kind: String,
    pub evidence: String,
}

/// A trend's evidence in the reader's language, from the numbers the detector kept.
fn trend_evidence(words: &Catalog, t: &Trend) -> String {
    let ev = &t.evidence;
    let score = format!("{:.1}", t.score);
    match t.kind.as_str() {
        "surge" => words.fill(
            "observe.evidence_surge",
            &[
                ("sources", &ev["sources"]),
                ("mean", &ev["baseline_mean"]),
                ("sd", &ev["baseline_sd"]),
                ("days", &ev["baseline_days"]),
                ("score", &score),
                ("sensors", &ev["sensors"]),
            ],
        ),
        "calmed" => words.fill(
            "observe.evidence_calmed",
            &[
                ("day", &ev["surge_day"].as_str().unwrap_or("?")),
                ("sources", &ev["surge_sources"]),
                ("recent", &ev["last_days_sources"]),
                ("ceiling", &ev["ceiling"]),
            ],
        ),
        _ => {
            let quiet = words.fill(
                "observe.evidence_new",
                &[
                    ("packets", &ev["packets"]),
                    ("sources", &ev["sources"]),
                    ("sensors", &ev["sensors"]),
                    ("days", &ev["silent_days"]),
                ],
            );
            match ev["last_seen_before"].as_str() {
                Some(d) => format!(
                    "{quiet}{}",
                    words.fill("observe.evidence_last_seen", &[("day", &d)])
                ),
                None => quiet,
            }
        }
    }
}

fn trend_lines(words: &Catalog, list: Vec<Trend>) -> Vec<TrendLine> {
    list.into_iter()
        .map(|t| {
            let p = Proto::parse(t.proto).unwrap_or(Proto::Tcp);
            let evidence = trend_evidence(words, &t);
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

pub(crate) async fn overview(page: Page, Query(q): Query<ViewQuery>) -> Result<Response, AppError> {
    let mut period = q.period(&page.state)?;
    // Unchosen, the quarter of today; when the sensors sent nothing in it, the
    // quarter of the latest day they did.
    if !q.chosen()
        && stats::reporting(page.store(), &period).await?.is_empty()
        && let Some(d) = stats::latest_day(page.store())
            .await?
            .and_then(|d| chrono::NaiveDate::parse_from_str(&d, "%Y-%m-%d").ok())
    {
        period = Period::quarter_of(d);
    }
    let top = stats::top(page.store(), &period, Class::Scan, Family::Ports, 1..=10).await?;
    let (top, next): (Vec<PortRank>, Vec<PortRank>) = top.into_iter().partition(|r| r.rank <= 5);
    let backscatter = stats::top(
        page.store(),
        &period,
        Class::Backscatter,
        Family::Ports,
        1..=5,
    )
    .await?;
    let reporting_days = stats::reporting(page.store(), &period).await?.len();
    html(&OverviewPage {
        shell: page.shell("observation"),
        q: query_of(&period),
        trends: trend_lines(
            i18n::catalog(page.lang),
            trends::list(page.store(), &period, None).await?,
        ),
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
    // The per-sensor table's day: the one asked for, or the period's last day with
    // traffic on this port (its last day when there was none).
    let day = q.day.clone().unwrap_or_else(|| {
        let busy = s.and_then(|s| s.packets.iter().rposition(|n| *n > 0));
        busy.and_then(|i| chart.days.get(i))
            .or(chart.days.last())
            .cloned()
            .unwrap_or_else(|| state.observe.day_of(state.store.now().timestamp()))
    });
    Ok(PortPage {
        shell: page.shell("observation"),
        q: query_of(&period),
        proto: p.as_str(),
        port: n,
        label: stats::label(p, n),
        total_packets: s.map(|s| s.packets.iter().sum()).unwrap_or(0),
        peak_sources: s.and_then(|s| s.sources.iter().max().copied()).unwrap_or(0),
        trends: trend_lines(
            i18n::catalog(page.lang),
            trends::list(&state.store, &period, Some((p, n))).await?,
        ),
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

pub(crate) async fn port(
    page: Page,
    Path((proto, port)): Path<(String, String)>,
    Query(q): Query<ViewQuery>,
) -> Result<Response, AppError> {
    let (p, n) = parse_port(&proto, &port)?;
    html(&port_page(&page.state, &page, &q, p, n, None).await?)
}

/// A coordinator annotates the port.
#[derive(Deserialize)]
pub(crate) struct AnnotationForm {
    #[serde(default)]
    day: String,
    #[serde(default)]
    text_ja: String,
    #[serde(default)]
    text_en: String,
    #[serde(default, deserialize_with = "blank")]
    note_id: Option<String>,
    #[serde(default, deserialize_with = "blank")]
    cve: Option<String>,
    #[serde(default, deserialize_with = "blank")]
    alert: Option<String>,
}

pub(crate) async fn port_annotate(
    page: Page,
    Path((proto, port)): Path<(String, String)>,
    Form(f): Form<AnnotationForm>,
) -> Result<Response, AppError> {
    let (p, n) = parse_port(&proto, &port)?;
    let result = stats::annotate(
        page.store(),
        page.caller(),
        stats::NewAnnotation {
            proto: p,
            port: n,
            day: f.day.trim().to_string(),
            text_ja: f.text_ja.trim().to_string(),
            text_en: f.text_en.trim().to_string(),
            note_id: f.note_id,
            cve: f.cve,
            alert: f.alert,
        },
    )
    .await;
    match result {
        Ok(_) => Ok(see_other(&format!("/observation/ports/{}/{n}", p.as_str()))),
        Err(e)
            if e.kind().is_user_error()
                && !matches!(e, ObserveError::NotFound(_) | ObserveError::Core(_)) =>
        {
            let view = port_page(
                &page.state,
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

/// The language a chart is drawn in: the page's, or `lang=` when a chart is linked
/// on its own.
fn chart_lang(page: &Page, q: &ViewQuery) -> Lang {
    q.lang
        .as_deref()
        .and_then(|l| Lang::parse(l).ok())
        .unwrap_or(page.lang)
}

fn chart_words(page: &Page, q: &ViewQuery) -> &'static Catalog {
    i18n::catalog(chart_lang(page, q))
}

pub(crate) async fn top_chart(
    page: Page,
    Query(q): Query<ViewQuery>,
) -> Result<Response, AppError> {
    let (period, _, chart) = top_view(&page.state, &q).await?;
    let words = chart_words(&page, &q);
    let key = if q.class()? == Class::Backscatter {
        "observe.chart_backscatter"
    } else {
        "observe.chart_top"
    };
    let title = words.fill(
        key,
        &[
            ("ranks", &q.ranks.as_deref().unwrap_or("1-5")),
            ("from", &period.from),
            ("to", &period.to),
        ],
    );
    Ok(svg(chart_svg(
        &title,
        &chart,
        "per_sensor",
        Vec::new(),
        words.get("observe.axis_per_sensor"),
    )?))
}

pub(crate) async fn icmp_chart(
    page: Page,
    Query(q): Query<ViewQuery>,
) -> Result<Response, AppError> {
    let chart = icmp_view(&page.state, &q).await?;
    let words = chart_words(&page, &q);
    let title = words.fill(
        "observe.chart_icmp",
        &[("from", &chart.period.from), ("to", &chart.period.to)],
    );
    Ok(svg(chart_svg(
        &title,
        &chart,
        "per_sensor",
        Vec::new(),
        words.get("observe.axis_per_sensor"),
    )?))
}

pub(crate) async fn port_chart(
    page: Page,
    Path((proto, port)): Path<(String, String)>,
    Query(q): Query<ViewQuery>,
) -> Result<Response, AppError> {
    let lang = chart_lang(&page, &q);
    let words = i18n::catalog(lang);
    let (p, n) = parse_port(&proto, &port)?;
    let period = q.period(&page.state)?;
    let chart = stats::chart(page.store(), &period, q.class()?, &[(p, n)]).await?;
    let markers = stats::annotations(
        page.store(),
        Some((p, n)),
        Some(&period),
        &page.state.disclosure().await?,
    )
    .await?
    .into_iter()
    .filter_map(|a| {
        let index = chart.days.iter().position(|d| *d == a.day)?;
        let label = a.note_id.or(a.cve).unwrap_or_else(|| {
            if lang == Lang::Ja {
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
    let (key, y) = match metric {
        "sources" => ("observe.chart_port_sources", "observe.axis_sources"),
        _ => ("observe.chart_port", "observe.axis_per_sensor"),
    };
    let title = words.fill(
        key,
        &[
            ("port", &stats::label(p, n)),
            ("from", &period.from),
            ("to", &period.to),
        ],
    );
    Ok(svg(chart_svg(
        &title,
        &chart,
        metric,
        markers,
        words.get(y),
    )?))
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

    fn any_silent(&self) -> bool {
        self.sensors.iter().any(|h| h.silent)
    }
}

pub(crate) async fn sensors(page: Page) -> Result<Response, AppError> {
    html(&SensorsPage {
        shell: page.shell("sensors"),
        sensors: collector::health(page.store(), page.now).await?,
        issued: None,
        error: None,
    })
}

#[derive(Deserialize)]
pub(crate) struct NewSensorForm {
    #[serde(default)]
    name: String,
    #[serde(default)]
    location: String,
    #[serde(default)]
    address_range: String,
    #[serde(default)]
    public_key: String,
}

/// Registers a sensor; its token is shown once, on this page, never again.
pub(crate) async fn sensor_register(
    page: Page,
    Form(f): Form<NewSensorForm>,
) -> Result<Response, AppError> {
    let new = collector::NewSensor {
        name: f.name.trim().to_string(),
        location: f.location.trim().to_string(),
        address_range: f.address_range.trim().to_string(),
        public_key: f.public_key.trim().to_string(),
    };
    let result = collector::register(page.store(), &page.auth.actor(), new).await;
    after_sensor_form(
        &page.state,
        &page,
        result.map(|(s, token)| Some((s.name, token))),
    )
    .await
}

pub(crate) async fn sensor_disable(page: Page, Path(id): Path<i64>) -> Result<Response, AppError> {
    let result = collector::set_disabled(page.store(), &page.auth.actor(), id, true).await;
    after_sensor_form(&page.state, &page, result.map(|_| None)).await
}

pub(crate) async fn sensor_enable(page: Page, Path(id): Path<i64>) -> Result<Response, AppError> {
    let result = collector::set_disabled(page.store(), &page.auth.actor(), id, false).await;
    after_sensor_form(&page.state, &page, result.map(|_| None)).await
}

async fn after_sensor_form(
    state: &AppState,
    page: &Page,
    result: Result<Option<(String, String)>, ObserveError>,
) -> Result<Response, AppError> {
    let shown = |issued, error| async move {
        Ok::<_, AppError>(SensorsPage {
            shell: page.shell("sensors"),
            sensors: collector::health(&state.store, state.store.now()).await?,
            issued,
            error,
        })
    };
    match result {
        Ok(None) => Ok(see_other("/observation/sensors")),
        Ok(issued @ Some(_)) => html(&shown(issued, None).await?),
        Err(e)
            if e.kind().is_user_error()
                && !matches!(e, ObserveError::NotFound(_) | ObserveError::Core(_)) =>
        {
            let view = shown(None, Some(e.to_string())).await?;
            html_status(StatusCode::UNPROCESSABLE_ENTITY, &view)
        }
        Err(e) => Err(e.into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn trend(kind: &str, evidence: serde_json::Value) -> Trend {
        Trend {
            day: "2007-11-01".into(),
            proto: "tcp",
            port: 445,
            kind: kind.into(),
            score: 4.25,
            evidence,
        }
    }

    #[test]
    fn trend_evidence_reads_in_japanese_with_the_detector_s_numbers() {
        let ja = i18n::catalog(Lang::Ja);
        let surge = trend(
            "surge",
            json!({"sources": 120, "baseline_mean": 20.5, "baseline_sd": 3.1, "baseline_days": 28, "sensors": 3}),
        );
        assert_eq!(
            trend_evidence(ja, &surge),
            "送信元 120（基準 20.5 ± 3.1、28 日間、スコア 4.2）、センサー 3 台"
        );
        let back = trend(
            "back",
            json!({"packets": 40, "sources": 5, "sensors": 2, "silent_days": 30, "last_seen_before": "2007-09-01"}),
        );
        let said = trend_evidence(ja, &back);
        assert!(
            said.contains("30 日間観測なし") && said.contains("前回の観測 2007-09-01"),
            "{said}"
        );
        let calmed = trend(
            "calmed",
            json!({"surge_day": "2007-10-20", "surge_sources": 120, "last_days_sources": [21, 19, 20], "ceiling": 26.7}),
        );
        let said = trend_evidence(i18n::catalog(Lang::En), &calmed);
        assert_eq!(
            said,
            "surge on 2007-10-20 (120 sources); last days [21,19,20] ≤ 26.7"
        );
    }
}
