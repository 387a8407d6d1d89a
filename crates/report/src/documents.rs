//! The list of what the team has published (the seeds' 「発行文書一覧」): alerts
//! and their updates, weekly issues, vulnerability notes and the activity reports,
//! newest first, each with its public address, and the same list as an Atom feed.
//! Only what the public may read is listed: TLP:CLEAR alerts, published issues,
//! notes whose day has come, published reports.

use chrono::{DateTime, Utc};
use renkei_core::i18n::catalog;
use renkei_core::lang::Lang;
use renkei_core::{Store, time};
use renkei_formats::syndication::{Entry, Feed};
use renkei_publish::alerts::{self, Viewer};
use renkei_publish::weekly;
use serde::Serialize;

use crate::{Result, publication};

/// The kinds of document, in the order the list's filter offers them.
pub const KINDS: [&str; 4] = ["alert", "weekly", "note", "activity"];

/// One published document.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Document {
    /// `alert`, `weekly`, `note`, `activity`.
    pub kind: &'static str,
    /// The alert's or note's number, the issue's date, the quarter.
    pub number: String,
    pub title: String,
    /// Its public page, from the site's root.
    pub path: String,
    /// When this text came out (RFC 3339).
    pub published_at: String,
    /// 1 for a first text; higher for a correction or an update.
    pub revision: i64,
}

/// What the list shows: a kind, a year, at most `limit` documents.
#[derive(Debug, Clone, Default)]
pub struct Filter {
    pub kind: Option<String>,
    pub year: Option<i32>,
    pub limit: usize,
}

/// The published documents, newest first, in `lang`.
pub async fn list(
    store: &Store,
    lang: Lang,
    filter: &Filter,
    now: DateTime<Utc>,
) -> Result<Vec<Document>> {
    let wanted = |kind: &str| filter.kind.as_deref().is_none_or(|k| k == kind);
    let mut docs = Vec::new();
    if wanted("alert") {
        let all = alerts::published_between(store, "0000", "9999").await?;
        docs.extend(all.into_iter().map(|a| Document {
            kind: "alert",
            title: a.title(lang).to_string(),
            path: format!("/alerts/{}", a.number),
            number: a.number,
            published_at: a.published_at,
            revision: a.revision,
        }));
    }
    if wanted("weekly") {
        for w in weekly::list(store, Viewer::Public, 10_000).await? {
            let Some(at) = w.published_at.clone() else {
                continue;
            };
            docs.push(Document {
                kind: "weekly",
                title: weekly::title(&w, lang),
                path: format!("/weekly/{}", w.issue_date),
                number: w.issue_date,
                published_at: at,
                revision: 1,
            });
        }
    }
    if wanted("note") {
        for n in renkei_vuln::notes::list_published(store, now, 10_000).await? {
            docs.push(Document {
                kind: "note",
                title: n.title.get(lang).to_string(),
                path: format!("/notes/{}", n.key),
                number: n.key,
                published_at: if n.revision > 1 {
                    n.updated_at
                } else {
                    n.publish_at
                },
                revision: n.revision,
            });
        }
    }
    if wanted("activity") {
        for r in publication::all(store).await? {
            docs.push(Document {
                kind: "activity",
                title: r.title(lang).to_string(),
                path: format!("/activity/{}", r.quarter),
                number: r.quarter,
                published_at: r.published_at,
                revision: r.revision,
            });
        }
    }
    if let Some(year) = filter.year {
        let prefix = format!("{year:04}-");
        docs.retain(|d| d.published_at.starts_with(&prefix));
    }
    docs.sort_by(|a, b| {
        b.published_at
            .cmp(&a.published_at)
            .then_with(|| b.number.cmp(&a.number))
    });
    if filter.limit > 0 {
        docs.truncate(filter.limit);
    }
    Ok(docs)
}

/// The years that have documents, newest first, for the list's filter.
pub fn years(docs: &[Document]) -> Vec<i32> {
    let mut years: Vec<i32> = docs
        .iter()
        .filter_map(|d| d.published_at.get(..4)?.parse().ok())
        .collect();
    years.sort_unstable_by(|a, b| b.cmp(a));
    years.dedup();
    years
}

/// A document's kind as a reader reads it: 注意喚起, 週報, ….
pub fn kind_name(kind: &str, lang: Lang) -> &'static str {
    catalog(lang)
        .lookup(&format!("documents.kind_{kind}"))
        .unwrap_or("")
}

/// The list as an Atom feed; `base` is the site's public address.
pub fn feed(
    docs: &[Document],
    lang: Lang,
    base: &str,
    self_path: &str,
    now: DateTime<Utc>,
) -> Feed {
    let w = catalog(lang);
    let entries: Vec<Entry> = docs
        .iter()
        .map(|d| {
            let link = format!("{base}{}", d.path);
            let title = if d.revision > 1 {
                format!(
                    "[{}] {} ({})",
                    kind_name(d.kind, lang),
                    d.title,
                    w.fill("documents.revision", &[("n", &d.revision)])
                )
            } else {
                format!("[{}] {}", kind_name(d.kind, lang), d.title)
            };
            Entry {
                // Each revision is its own entry: a correction reaches the readers.
                id: format!("{link}#revision-{}", d.revision),
                summary: format!("{} {}", kind_name(d.kind, lang), d.number),
                title,
                link,
                published: d.published_at.clone(),
                updated: d.published_at.clone(),
            }
        })
        .collect();
    Feed {
        id: format!("{base}/documents"),
        title: w.lookup("documents.title").unwrap_or("").to_string(),
        self_link: format!("{base}{self_path}"),
        link: format!("{base}/documents"),
        lang: lang.as_str().to_string(),
        updated: entries
            .iter()
            .map(|e| e.updated.clone())
            .max()
            .unwrap_or_else(|| time::format(now)),
        entries,
    }
}
