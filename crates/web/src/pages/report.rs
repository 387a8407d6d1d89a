//! The quarterly activity report in the web UI and the API: the same report the CLI
//! writes, viewed in the site's frame, with the topics the coordinators write before
//! they generate it, and the PDF, HTML and JSON to download.

use std::collections::HashMap;

use askama::Template;
use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use renkei_core::lang::Lang;
use renkei_report::Quarter;
use renkei_report::quarterly::{self, QuarterlyReport, Topic};
use serde::Deserialize;
use serde_json::json;

use crate::api::ApiJson;
use crate::http::context::Ctx;
use crate::http::error::AppError;
use crate::http::form::Form;
use crate::http::state::AppState;
use crate::pages::{Page, Shell, html, see_other};

#[derive(Deserialize, Default)]
pub struct LangQuery {
    lang: Option<String>,
}

/// The language asked for (`?lang=`), else the reader's.
fn reading_lang(q: &LangQuery, fallback: Lang) -> Lang {
    q.lang
        .as_deref()
        .and_then(|l| Lang::parse(l).ok())
        .unwrap_or(fallback)
}

async fn build(state: &AppState, quarter: &str, lang: Lang) -> Result<QuarterlyReport, AppError> {
    let quarter = Quarter::parse(quarter)?;
    Ok(quarterly::build(&state.store, &state.vuln, quarter, lang, state.store.now()).await?)
}

#[derive(Template)]
#[template(path = "activity.html")]
struct ActivityPage<'a> {
    shell: Shell<'a>,
    quarter: String,
    quarters: Vec<String>,
    body: String,
    topics: Vec<Topic>,
    lang: Lang,
}

/// The report of the last complete quarter.
#[derive(Deserialize)]
pub struct Chosen {
    #[serde(default)]
    quarter: Option<String>,
}

/// The quarter a report is opened on: the one chosen in the picker; else the last
/// complete one, or the quarter of the latest report when nothing came in since.
pub(crate) async fn index(
    State(state): State<AppState>,
    Query(chosen): Query<Chosen>,
) -> Result<Response, AppError> {
    if let Some(q) = chosen
        .quarter
        .as_deref()
        .map(str::trim)
        .filter(|q| !q.is_empty())
    {
        let q = Quarter::parse(q)?;
        return Ok(see_other(&format!("/activity/{q}")));
    }
    let mut q = Quarter::last_complete(state.store.now().date_naive());
    let latest = renkei_incident::stats::latest_report_at(&state.store).await?;
    if let Some(at) = latest.as_deref().and_then(renkei_core::time::parse) {
        q = q.min(Quarter::of(at.date_naive()));
    }
    Ok(see_other(&format!("/activity/{q}")))
}

pub(crate) async fn page(
    page: Page,
    Path(quarter): Path<String>,
    Query(q): Query<LangQuery>,
) -> Result<Response, AppError> {
    let lang = reading_lang(&q, page.lang);
    let report = build(&page.state, &quarter, lang).await?;
    // From the last complete quarter back to the first with data (the one shown
    // included), at most fifty years.
    let shown = report.quarter;
    let earliest = renkei_incident::stats::earliest_report_at(page.store())
        .await?
        .as_deref()
        .and_then(renkei_core::time::parse)
        .map(|t| Quarter::of(t.date_naive()));
    let oldest = earliest.map_or(shown, |e| e.min(shown));
    let mut quarters = vec![Quarter::last_complete(page.now.date_naive()).max(shown)];
    while quarters.len() < 200 && quarters[quarters.len() - 1] > oldest {
        let p = quarters[quarters.len() - 1].previous();
        quarters.push(p);
    }
    while quarters.len() < 8 {
        let p = quarters[quarters.len() - 1].previous();
        quarters.push(p);
    }
    html(&ActivityPage {
        shell: page.shell("activity"),
        quarter: report.quarter.to_string(),
        quarters: quarters.iter().map(|q| q.to_string()).collect(),
        body: report.html_body()?,
        topics: report.topics.clone(),
        lang,
    })
}

/// The topics form: every topic's four fields, and one empty topic to add.
pub(crate) async fn topics_save(
    page: Page,
    Path(quarter): Path<String>,
    Form(f): Form<HashMap<String, String>>,
) -> Result<Response, AppError> {
    let q = Quarter::parse(&quarter)?;
    let user = crate::api::publish::signed_in(&page.auth)?;
    let mut topics = Vec::new();
    for i in 0..31 {
        let get = |k: &str| f.get(&format!("{k}_{i}")).cloned().unwrap_or_default();
        let t = Topic {
            title_ja: get("title_ja"),
            title_en: get("title_en"),
            body_ja: get("body_ja"),
            body_en: get("body_en"),
        };
        let empty = [&t.title_ja, &t.title_en, &t.body_ja, &t.body_en]
            .iter()
            .all(|x| x.trim().is_empty());
        if !empty && !f.contains_key(&format!("remove_{i}")) {
            topics.push(t);
        }
    }
    quarterly::set_topics(page.store(), user, q, &topics).await?;
    Ok(see_other(&format!("/activity/{q}#topics-form")))
}

fn download(content_type: &'static str, name: String, body: Vec<u8>) -> Response {
    let mut r = body.into_response();
    r.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    if let Ok(v) = HeaderValue::from_str(&format!("inline; filename=\"{name}\"")) {
        r.headers_mut().insert(header::CONTENT_DISPOSITION, v);
    }
    r
}

pub(crate) async fn pdf(
    page: Page,
    Path(quarter): Path<String>,
    Query(q): Query<LangQuery>,
) -> Result<Response, AppError> {
    let report = build(&page.state, &quarter, reading_lang(&q, page.lang)).await?;
    let name = format!("activity-{}.pdf", report.quarter);
    // Typesetting takes a moment of CPU: off the async workers.
    let bytes = tokio::task::spawn_blocking(move || report.pdf())
        .await
        .map_err(AppError::internal)??;
    Ok(download("application/pdf", name, bytes))
}

pub(crate) async fn html_file(
    page: Page,
    Path(quarter): Path<String>,
    Query(q): Query<LangQuery>,
) -> Result<Response, AppError> {
    let report = build(&page.state, &quarter, reading_lang(&q, page.lang)).await?;
    let name = format!("activity-{}.html", report.quarter);
    Ok(download(
        "text/html; charset=utf-8",
        name,
        report.html()?.into_bytes(),
    ))
}

/// The report's content as JSON (`?lang=en`).
pub(crate) async fn api_get(
    c: Ctx,
    Path(quarter): Path<String>,
    Query(q): Query<LangQuery>,
) -> Result<Response, AppError> {
    let fallback = c.caller().user().map(|u| u.lang).unwrap_or(Lang::En);
    let report = build(&c.state, &quarter, reading_lang(&q, fallback)).await?;
    Ok(Json(report).into_response())
}

pub(crate) async fn api_topics(
    State(state): State<AppState>,
    Path(quarter): Path<String>,
) -> Result<Response, AppError> {
    let q = Quarter::parse(&quarter)?;
    Ok(
        Json(
            json!({"quarter": q.to_string(), "topics": quarterly::topics(&state.store, q).await?}),
        )
        .into_response(),
    )
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TopicsBody {
    topics: Vec<Topic>,
}

pub(crate) async fn api_topics_put(
    c: Ctx,
    Path(quarter): Path<String>,
    ApiJson(body): ApiJson<TopicsBody>,
) -> Result<Response, AppError> {
    let q = Quarter::parse(&quarter)?;
    let user = crate::api::publish::signed_in(&c.auth)?;
    let topics = quarterly::set_topics(c.store(), user, q, &body.topics).await?;
    Ok(Json(json!({"quarter": q.to_string(), "topics": topics})).into_response())
}
