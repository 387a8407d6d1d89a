//! Publishing a quarter's report: the coordinators generate it once more, in
//! Japanese and English, as HTML and PDF, and that copy is what the public reads at
//! `/activity/{quarter}` from then on, whatever the data does later. A correction
//! is a new revision with a note of what changed, as alerts are; every revision
//! stays readable.

use chrono::{DateTime, FixedOffset, Utc};
use renkei_core::access::UserInfo;
use renkei_core::audit::{self, Actor, Event};
use renkei_core::lang::Lang;
use renkei_core::{Store, time};
use serde::Serialize;
use serde_json::json;

use crate::quarterly::{self, Published};
use crate::{Quarter, ReportError, Result};

/// One published revision, without its bodies.
#[derive(Debug, Clone, Serialize, PartialEq, sqlx::FromRow)]
pub struct Revision {
    pub quarter: String,
    pub revision: i64,
    pub published_at: String,
    pub change_note: String,
    pub title_ja: String,
    pub title_en: String,
}

impl Revision {
    pub fn title(&self, lang: Lang) -> &str {
        lang.pick(&self.title_ja, &self.title_en)
    }
}

/// A published revision's page (the report's body as HTML) in one language.
#[derive(Debug, Clone, Serialize)]
pub struct Copy {
    #[serde(flatten)]
    pub revision: Revision,
    pub html: String,
}

/// Publishes `quarter`'s report as it reads now (a coordinator or an
/// administrator). The first publication needs no note; a later one is a
/// correction and says what changed.
pub async fn publish(
    store: &Store,
    vuln: &renkei_vuln::Settings,
    user: &UserInfo,
    quarter: Quarter,
    change_note: &str,
    zone: FixedOffset,
    now: DateTime<Utc>,
) -> Result<Revision> {
    if !user.role.is_staff() {
        return Err(ReportError::Forbidden(
            "the team's staff publish the activity report".into(),
        ));
    }
    if quarter.end() > now.with_timezone(&zone).date_naive() {
        return Err(ReportError::invalid(
            "quarter",
            format!("{quarter} has not ended yet; a report is published after its quarter"),
        ));
    }
    let change_note = change_note.trim();
    if change_note.chars().count() > 2000 {
        return Err(ReportError::invalid(
            "change_note",
            "a change note is at most 2,000 characters",
        ));
    }
    let previous = revisions(store, quarter).await?;
    let revision = previous.first().map_or(1, |r| r.revision + 1);
    if revision > 1 && change_note.is_empty() {
        return Err(ReportError::invalid(
            "change_note",
            "a correction says what changed",
        ));
    }
    let published = Published {
        revision,
        day: time::day_str(&time::format(now), zone),
        change_note: change_note.to_string(),
    };
    let mut copies = Vec::with_capacity(2);
    for lang in [Lang::Ja, Lang::En] {
        let mut report = quarterly::build(store, vuln, quarter, lang, now).await?;
        report.publication = Some(published.clone());
        let title = format!("{} {} [{}]", report.team, report.title(), report.span);
        let html = report.html_body()?;
        // Typesetting takes a moment of CPU: off the async workers.
        let pdf = tokio::task::spawn_blocking(move || report.pdf())
            .await
            .map_err(|e| ReportError::Typeset(e.to_string()))??;
        copies.push((title, html, pdf));
    }
    let [(title_ja, html_ja, pdf_ja), (title_en, html_en, pdf_en)]: [(String, String, Vec<u8>); 2] =
        copies
            .try_into()
            .map_err(|_| ReportError::Typeset("two languages".into()))?;
    let at = time::format(now);
    let mut tx = store.begin().await?;
    sqlx::query(
        "INSERT INTO report_publications (quarter, revision, published_at, published_by, change_note, title_ja, title_en, html_ja, html_en, pdf_ja, pdf_en) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
    )
    .bind(quarter.to_string())
    .bind(revision)
    .bind(&at)
    .bind(user.id)
    .bind(change_note)
    .bind(&title_ja)
    .bind(&title_en)
    .bind(&html_ja)
    .bind(&html_en)
    .bind(&pdf_ja)
    .bind(&pdf_en)
    .execute(tx.conn())
    .await?;
    audit::record(
        &mut tx,
        &Actor::user(user.id, &user.email),
        Event {
            action: "report.published",
            object_type: "quarterly_report",
            object_id: quarter.to_string(),
            changes: json!({"revision": revision, "change_note": change_note}),
        },
    )
    .await?;
    tx.commit().await?;
    Ok(Revision {
        quarter: quarter.to_string(),
        revision,
        published_at: at,
        change_note: change_note.to_string(),
        title_ja,
        title_en,
    })
}

/// A quarter's published revisions, newest first.
pub async fn revisions(store: &Store, quarter: Quarter) -> Result<Vec<Revision>> {
    Ok(sqlx::query_as(
        "SELECT quarter, revision, published_at, change_note, title_ja, title_en FROM report_publications \
         WHERE quarter = $1 ORDER BY revision DESC",
    )
    .bind(quarter.to_string())
    .fetch_all(store.pool())
    .await?)
}

/// Every published revision of every quarter, newest first: the document list.
pub async fn all(store: &Store) -> Result<Vec<Revision>> {
    Ok(sqlx::query_as(
        "SELECT quarter, revision, published_at, change_note, title_ja, title_en FROM report_publications \
         ORDER BY published_at DESC, quarter DESC, revision DESC",
    )
    .fetch_all(store.pool())
    .await?)
}

/// A revision (the latest when `revision` is `None`) as its page, in `lang`.
pub async fn copy(
    store: &Store,
    quarter: Quarter,
    revision: Option<i64>,
    lang: Lang,
) -> Result<Option<Copy>> {
    let Some(revision) = pick(store, quarter, revision).await? else {
        return Ok(None);
    };
    let html: String = sqlx::query_scalar(if lang == Lang::Ja {
        "SELECT html_ja FROM report_publications WHERE quarter = $1 AND revision = $2"
    } else {
        "SELECT html_en FROM report_publications WHERE quarter = $1 AND revision = $2"
    })
    .bind(quarter.to_string())
    .bind(revision.revision)
    .fetch_one(store.pool())
    .await?;
    Ok(Some(Copy { revision, html }))
}

/// A revision's PDF (the latest when `revision` is `None`), in `lang`.
pub async fn pdf(
    store: &Store,
    quarter: Quarter,
    revision: Option<i64>,
    lang: Lang,
) -> Result<Option<(Revision, Vec<u8>)>> {
    let Some(revision) = pick(store, quarter, revision).await? else {
        return Ok(None);
    };
    let pdf: Vec<u8> = sqlx::query_scalar(if lang == Lang::Ja {
        "SELECT pdf_ja FROM report_publications WHERE quarter = $1 AND revision = $2"
    } else {
        "SELECT pdf_en FROM report_publications WHERE quarter = $1 AND revision = $2"
    })
    .bind(quarter.to_string())
    .bind(revision.revision)
    .fetch_one(store.pool())
    .await?;
    Ok(Some((revision, pdf)))
}

async fn pick(store: &Store, quarter: Quarter, revision: Option<i64>) -> Result<Option<Revision>> {
    let all = revisions(store, quarter).await?;
    Ok(match revision {
        None => all.into_iter().next(),
        Some(n) => all.into_iter().find(|r| r.revision == n),
    })
}
