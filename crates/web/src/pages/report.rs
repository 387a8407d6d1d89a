//! The quarterly activity report in the web UI and the API: the same report the CLI
//! writes. The staff work on a quarter's draft at `/activity/{quarter}/draft` (its
//! topics, the explanations beside the tables, the PDF, HTML and JSON) and publish
//! it; the public reads the published copy at `/activity/{quarter}`, every
//! revision with its change note, and finds it in the document list.

use std::collections::HashMap;

use askama::Template;
use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use renkei_core::lang::Lang;
use renkei_report::quarterly::{self, QuarterlyReport, Topic, texts};
use renkei_report::{Quarter, publication};
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
    texts: Vec<texts::Text>,
    revisions: Vec<publication::Revision>,
    /// The quarter has ended: it can be published.
    ended: bool,
    lang: Lang,
}

impl ActivityPage<'_> {
    /// An explanation's name: the category's, or the observation section's.
    fn text_name(&self, key: &str) -> &'static str {
        self.shell.t(match key {
            "scan" => "quarterly.cat_scan",
            "forged" => "quarterly.cat_forged",
            "intrusion" => "quarterly.cat_intrusion",
            "phishing" => "quarterly.cat_phishing",
            "dos" => "quarterly.cat_dos",
            "malware" => "quarterly.cat_malware",
            "other" => "quarterly.cat_other",
            _ => "quarterly.s3",
        })
    }
}

fn staff(page: &Page) -> bool {
    page.caller().user().is_some_and(|u| u.role.is_staff())
}

/// The report of the last complete quarter.
#[derive(Deserialize)]
pub struct Chosen {
    #[serde(default)]
    quarter: Option<String>,
}

/// The quarter a report is opened on: the one chosen in the picker; else the last
/// complete one, or the quarter of the latest report when nothing came in since.
/// The public is sent to the published reports in the document list.
pub(crate) async fn index(page: Page, Query(chosen): Query<Chosen>) -> Result<Response, AppError> {
    if !staff(&page) {
        return Ok(see_other("/documents?kind=activity"));
    }
    let state = &page.state;
    if let Some(q) = chosen
        .quarter
        .as_deref()
        .map(str::trim)
        .filter(|q| !q.is_empty())
    {
        let q = Quarter::parse(q)?;
        return Ok(see_other(&format!("/activity/{q}/draft")));
    }
    let mut q = Quarter::last_complete(state.store.now().date_naive());
    let latest = renkei_incident::stats::latest_report_at(&state.store).await?;
    if let Some(at) = latest.as_deref().and_then(renkei_core::time::parse) {
        q = q.min(Quarter::of(at.date_naive()));
    }
    Ok(see_other(&format!("/activity/{q}/draft")))
}

/// The staff's working copy of a quarter's report, with what they write for it.
pub(crate) async fn draft(
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
    let zone = page.state.config.server.team_zone();
    html(&ActivityPage {
        shell: page.shell("activity"),
        quarter: report.quarter.to_string(),
        quarters: quarters.iter().map(|q| q.to_string()).collect(),
        body: report.html_body()?,
        topics: report.topics.clone(),
        texts: texts::list(page.store()).await?,
        revisions: publication::revisions(page.store(), shown).await?,
        ended: shown.end() <= page.now.with_timezone(&zone).date_naive(),
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
    Ok(see_other(&format!("/activity/{q}/draft#topics-form")))
}

/// The explanations form: two texts per key; both emptied, the default returns.
pub(crate) async fn texts_save(
    page: Page,
    Form(f): Form<HashMap<String, String>>,
) -> Result<Response, AppError> {
    let user = crate::api::publish::signed_in(&page.auth)?;
    let list: Vec<texts::Text> = texts::KEYS
        .iter()
        .filter(|k| f.contains_key(&format!("ja_{k}")) || f.contains_key(&format!("en_{k}")))
        .map(|k| texts::Text {
            key: k.to_string(),
            text_ja: f.get(&format!("ja_{k}")).cloned().unwrap_or_default(),
            text_en: f.get(&format!("en_{k}")).cloned().unwrap_or_default(),
            custom: false,
        })
        .collect();
    texts::set(page.store(), user, &list).await?;
    let back = f
        .get("quarter")
        .and_then(|q| Quarter::parse(q).ok())
        .map(|q| format!("/activity/{q}/draft#texts-form"))
        .unwrap_or_else(|| "/activity".into());
    Ok(see_other(&back))
}

/// Publishes the quarter's report as it reads now; a later one is a correction.
pub(crate) async fn publish(
    page: Page,
    Path(quarter): Path<String>,
    Form(f): Form<HashMap<String, String>>,
) -> Result<Response, AppError> {
    let q = Quarter::parse(&quarter)?;
    let user = crate::api::publish::signed_in(&page.auth)?;
    publication::publish(
        page.store(),
        &page.state.vuln,
        user,
        q,
        f.get("change_note").map(String::as_str).unwrap_or(""),
        page.state.config.server.team_zone(),
        page.now,
    )
    .await?;
    Ok(see_other(&format!("/activity/{q}")))
}

#[derive(Deserialize, Default)]
pub struct CopyQuery {
    lang: Option<String>,
    revision: Option<i64>,
}

#[derive(Template)]
#[template(path = "activity_published.html")]
struct PublishedPage<'a> {
    shell: Shell<'a>,
    copy: publication::Copy,
    revisions: Vec<publication::Revision>,
    lang: Lang,
    latest: bool,
    staff: bool,
}

impl PublishedPage<'_> {
    fn title(&self) -> &str {
        self.copy.revision.title(self.lang)
    }

    /// The query that keeps the reader's language and revision.
    fn query(&self, revision: &i64) -> String {
        let mut q = Vec::new();
        if !self.lang.is_ja() {
            q.push("lang=en".to_string());
        }
        if !self.latest || *revision != self.copy.revision.revision {
            q.push(format!("revision={revision}"));
        }
        if q.is_empty() {
            String::new()
        } else {
            format!("?{}", q.join("&"))
        }
    }
}

/// A quarter's published report, as the public reads it (the latest revision, or
/// the one asked for).
pub(crate) async fn published(
    page: Page,
    Path(quarter): Path<String>,
    Query(q): Query<CopyQuery>,
) -> Result<Response, AppError> {
    let quarter = Quarter::parse(&quarter)?;
    let lang = q
        .lang
        .as_deref()
        .and_then(|l| Lang::parse(l).ok())
        .unwrap_or(page.lang);
    let Some(copy) = publication::copy(page.store(), quarter, q.revision, lang).await? else {
        if staff(&page) && q.revision.is_none() {
            return Ok(see_other(&format!("/activity/{quarter}/draft")));
        }
        return Err(AppError::not_found());
    };
    let revisions = publication::revisions(page.store(), quarter).await?;
    let latest = revisions
        .first()
        .is_some_and(|r| r.revision == copy.revision.revision);
    let mut r = html(&PublishedPage {
        staff: staff(&page),
        shell: page.shell("documents"),
        copy,
        revisions,
        lang,
        latest,
    })?;
    crate::api::vuln::public_cache(&mut r);
    Ok(r)
}

/// A published revision's file, named for its quarter, language and revision.
fn published_file(
    content_type: &'static str,
    quarter: Quarter,
    lang: Lang,
    revision: i64,
    extension: &str,
    body: Vec<u8>,
) -> Response {
    let name = format!(
        "activity-{quarter}-{}-r{revision}.{extension}",
        lang.as_str()
    );
    let mut r = download(content_type, name, body);
    crate::api::vuln::public_cache(&mut r);
    r
}

pub(crate) async fn published_pdf(
    page: Page,
    Path(quarter): Path<String>,
    Query(q): Query<CopyQuery>,
) -> Result<Response, AppError> {
    let quarter = Quarter::parse(&quarter)?;
    let lang = reading_lang(&LangQuery { lang: q.lang }, page.lang);
    let (revision, bytes) = publication::pdf(page.store(), quarter, q.revision, lang)
        .await?
        .ok_or_else(AppError::not_found)?;
    Ok(published_file(
        "application/pdf",
        quarter,
        lang,
        revision.revision,
        "pdf",
        bytes,
    ))
}

pub(crate) async fn published_html(
    page: Page,
    Path(quarter): Path<String>,
    Query(q): Query<CopyQuery>,
) -> Result<Response, AppError> {
    let quarter = Quarter::parse(&quarter)?;
    let lang = reading_lang(&LangQuery { lang: q.lang }, page.lang);
    let copy = publication::copy(page.store(), quarter, q.revision, lang)
        .await?
        .ok_or_else(AppError::not_found)?;
    let body = quarterly::standalone(copy.revision.title(lang), lang, &copy.html)?;
    Ok(published_file(
        "text/html; charset=utf-8",
        quarter,
        lang,
        copy.revision.revision,
        "html",
        body.into_bytes(),
    ))
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

pub(crate) async fn api_texts(State(state): State<AppState>) -> Result<Response, AppError> {
    Ok(Json(json!({"texts": texts::list(&state.store).await?})).into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TextsBody {
    texts: Vec<texts::Text>,
}

pub(crate) async fn api_texts_put(
    c: Ctx,
    ApiJson(body): ApiJson<TextsBody>,
) -> Result<Response, AppError> {
    let user = crate::api::publish::signed_in(&c.auth)?;
    let texts = texts::set(c.store(), user, &body.texts).await?;
    Ok(Json(json!({"texts": texts})).into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PublishBody {
    #[serde(default)]
    change_note: String,
}

pub(crate) async fn api_publish(
    c: Ctx,
    Path(quarter): Path<String>,
    ApiJson(body): ApiJson<PublishBody>,
) -> Result<Response, AppError> {
    let q = Quarter::parse(&quarter)?;
    let user = crate::api::publish::signed_in(&c.auth)?;
    let revision = publication::publish(
        c.store(),
        &c.state.vuln,
        user,
        q,
        &body.change_note,
        c.state.config.server.team_zone(),
        c.state.store.now(),
    )
    .await?;
    Ok((axum::http::StatusCode::CREATED, Json(revision)).into_response())
}

/// A quarter's published revisions, newest first (anyone may read them).
pub(crate) async fn api_revisions(
    State(state): State<AppState>,
    Path(quarter): Path<String>,
) -> Result<Response, AppError> {
    let q = Quarter::parse(&quarter)?;
    Ok(Json(json!({
        "quarter": q.to_string(),
        "revisions": publication::revisions(&state.store, q).await?,
    }))
    .into_response())
}
