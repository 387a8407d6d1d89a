//! The public list of everything the team has published (発行文書一覧): alerts,
//! weekly issues, vulnerability notes and activity reports, newest first, by kind
//! and by year, and the same list as an Atom feed.

use askama::Template;
use axum::extract::{Query, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use renkei_core::lang::Lang;
use renkei_report::ReportError;
use renkei_report::documents::{self, Document, Filter};
use serde::Deserialize;

use crate::http::error::AppError;
use crate::http::state::AppState;
use crate::pages::{Page, Shell, html};

#[derive(Deserialize, Default)]
pub struct DocumentQuery {
    kind: Option<String>,
    year: Option<String>,
    lang: Option<String>,
}

impl DocumentQuery {
    fn filter(&self, limit: usize) -> Result<Filter, ReportError> {
        let kind = self
            .kind
            .as_deref()
            .map(str::trim)
            .filter(|k| !k.is_empty());
        if let Some(k) = kind
            && !documents::KINDS.contains(&k)
        {
            return Err(ReportError::invalid(
                "kind",
                format!("{k:?} is not one of {}", documents::KINDS.join(", ")),
            ));
        }
        let year = match self
            .year
            .as_deref()
            .map(str::trim)
            .filter(|y| !y.is_empty())
        {
            None => None,
            Some(y) => Some(
                y.parse::<i32>()
                    .ok()
                    .filter(|y| (1970..=9999).contains(y))
                    .ok_or_else(|| ReportError::invalid("year", format!("{y:?} is not a year")))?,
            ),
        };
        Ok(Filter {
            kind: kind.map(str::to_string),
            year,
            limit,
        })
    }
}

#[derive(Template)]
#[template(path = "documents.html")]
struct DocumentsPage<'a> {
    shell: Shell<'a>,
    docs: Vec<Document>,
    years: Vec<i32>,
    kind: String,
    year: Option<i32>,
    lang: Lang,
}

impl DocumentsPage<'_> {
    fn kind_name(&self, kind: &str) -> &'static str {
        documents::kind_name(kind, self.lang)
    }

    fn revision(&self, n: &i64) -> String {
        renkei_core::i18n::catalog(self.lang).fill("documents.revision", &[("n", n)])
    }

    fn is_year(&self, y: &i32) -> bool {
        self.year == Some(*y)
    }

    fn kinds(&self) -> &'static [&'static str] {
        &documents::KINDS
    }
}

pub(crate) async fn list(page: Page, Query(q): Query<DocumentQuery>) -> Result<Response, AppError> {
    let filter = q.filter(2000)?;
    let lang = q
        .lang
        .as_deref()
        .and_then(|l| Lang::parse(l).ok())
        .unwrap_or(page.lang);
    let all = documents::list(
        page.store(),
        lang,
        &Filter {
            kind: filter.kind.clone(),
            ..Filter::default()
        },
        page.now,
    )
    .await?;
    let years = documents::years(&all);
    let docs: Vec<Document> = all
        .into_iter()
        .filter(|d| {
            filter
                .year
                .is_none_or(|y| d.published_at.starts_with(&format!("{y:04}-")))
        })
        .take(filter.limit)
        .collect();
    html(&DocumentsPage {
        shell: page.shell("documents"),
        docs,
        years,
        kind: filter.kind.unwrap_or_default(),
        year: filter.year,
        lang,
    })
}

/// The list as Atom (Japanese unless `?lang=en`; `kind` and `year` narrow it).
pub(crate) async fn atom(
    State(state): State<AppState>,
    Query(q): Query<DocumentQuery>,
) -> Result<Response, AppError> {
    let filter = q.filter(100)?;
    let lang = match q.lang.as_deref() {
        Some("en") => Lang::En,
        _ => Lang::Ja,
    };
    let now = state.store.now();
    let docs = documents::list(&state.store, lang, &filter, now).await?;
    let mut self_path = "/feeds/documents.atom".to_string();
    let query: Vec<String> = [
        filter.kind.as_ref().map(|k| format!("kind={k}")),
        filter.year.map(|y| format!("year={y}")),
        (lang == Lang::En).then(|| "lang=en".to_string()),
    ]
    .into_iter()
    .flatten()
    .collect();
    if !query.is_empty() {
        self_path = format!("{self_path}?{}", query.join("&"));
    }
    let feed = documents::feed(&docs, lang, &state.vuln.public_url, &self_path, now);
    let mut r = (
        [(header::CONTENT_TYPE, "application/atom+xml; charset=utf-8")],
        renkei_formats::syndication::atom(&feed),
    )
        .into_response();
    crate::api::vuln::public_cache(&mut r);
    Ok(r)
}
