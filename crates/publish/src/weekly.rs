//! The weekly report (週報): issued on one weekday (Wednesday by default) unless it
//! is a holiday, numbered in order of issue. A coordinator opens the next issue,
//! which comes filled with the alerts and vulnerability notes published since the
//! last one; adds outside news and the one-point memo; and publishes it.

use std::collections::HashMap;

use chrono::{DateTime, Datelike, Duration, NaiveDate, Utc, Weekday};
use renkei_core::access::UserInfo;
use renkei_core::audit::{self, Actor, Event};
use renkei_core::config::PublishConfig;
use renkei_core::i18n::catalog;
use renkei_core::lang::Lang;
use renkei_core::{Store, time};
use renkei_formats::syndication;
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::alerts::{self, Viewer};
use crate::{PublishError, Result, calendar, clip, markdown};

/// When issues come out: the weekday, and the days skipped.
#[derive(Debug, Clone)]
pub struct Schedule {
    pub weekday: Weekday,
    japanese: bool,
    loaded: HashMap<NaiveDate, String>,
}

/// One week of the schedule: its issue day, or the holiday that skips it.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct ScheduledDay {
    pub date: NaiveDate,
    pub issued: bool,
    pub holiday: Option<String>,
}

impl Schedule {
    pub async fn load(store: &Store, config: &PublishConfig) -> Result<Schedule> {
        let rows: Vec<(String, String)> = sqlx::query_as("SELECT day, name FROM holidays")
            .fetch_all(store.pool())
            .await?;
        let mut loaded = HashMap::new();
        for (day, name) in rows {
            if let Ok(d) = NaiveDate::parse_from_str(&day, "%Y-%m-%d") {
                loaded.insert(d, name);
            }
        }
        Ok(Schedule {
            weekday: config.weekly_day.parse().unwrap_or(Weekday::Wed),
            japanese: config.holidays == "jp",
            loaded,
        })
    }

    /// The holiday on `day`, if the schedule skips it.
    pub fn holiday(&self, day: NaiveDate) -> Option<String> {
        if let Some(name) = self.loaded.get(&day) {
            return Some(if name.is_empty() {
                "holiday".into()
            } else {
                name.clone()
            });
        }
        self.japanese
            .then(|| calendar::japanese_holiday(day))
            .flatten()
            .map(String::from)
    }

    /// The issue weekday of the week holding `day` or after it.
    fn weekday_on_or_after(&self, day: NaiveDate) -> NaiveDate {
        let ahead =
            (7 + self.weekday.num_days_from_monday() - day.weekday().num_days_from_monday()) % 7;
        day + Duration::days(i64::from(ahead))
    }

    /// `weeks` weeks of the schedule from `from` on.
    pub fn upcoming(&self, from: NaiveDate, weeks: usize) -> Vec<ScheduledDay> {
        let mut d = self.weekday_on_or_after(from);
        (0..weeks)
            .map(|_| {
                let holiday = self.holiday(d);
                let day = ScheduledDay {
                    date: d,
                    issued: holiday.is_none(),
                    holiday,
                };
                d += Duration::days(7);
                day
            })
            .collect()
    }

    /// The first issue day on or after `from`.
    pub fn next_issue(&self, from: NaiveDate) -> NaiveDate {
        let mut d = self.weekday_on_or_after(from);
        // A year of holidays on the issue day cannot happen; the bound only keeps a
        // loaded file that marks every day from looping forever.
        for _ in 0..520 {
            if self.holiday(d).is_none() {
                return d;
            }
            d += Duration::days(7);
        }
        d
    }

    /// Refuses a day that is not an issue day, saying why.
    pub fn check(&self, day: NaiveDate) -> Result<()> {
        if day.weekday() != self.weekday {
            return Err(PublishError::invalid(
                "issue_date",
                format!(
                    "{day} is a {:?}; the weekly report comes out on {:?}",
                    day.weekday(),
                    self.weekday
                ),
            ));
        }
        if let Some(h) = self.holiday(day) {
            return Err(PublishError::invalid(
                "issue_date",
                format!(
                    "{day} is a holiday ({h}): that week has no issue; the next is {}",
                    self.next_issue(day + Duration::days(1))
                ),
            ));
        }
        Ok(())
    }
}

/// Loads holidays (replacing the names of days already loaded); returns how many.
pub async fn load_holidays(
    store: &Store,
    actor: &Actor,
    days: &[(NaiveDate, String)],
) -> Result<usize> {
    let now = store.now_str();
    let mut tx = store.begin().await?;
    for (day, name) in days {
        sqlx::query(
            "INSERT INTO holidays (day, name, loaded_at) VALUES ($1, $2, $3) ON CONFLICT (day) DO UPDATE SET name = excluded.name, loaded_at = excluded.loaded_at",
        )
        .bind(day.to_string())
        .bind(name)
        .bind(&now)
        .execute(tx.conn())
        .await?;
    }
    audit::record(
        &mut tx,
        actor,
        Event {
            action: "holidays.load",
            object_type: "holidays",
            object_id: String::new(),
            changes: json!({"days": days.len(), "first": days.iter().map(|d| d.0).min(), "last": days.iter().map(|d| d.0).max()}),
        },
    )
    .await?;
    tx.commit().await?;
    Ok(days.len())
}

/// Where an item comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ItemKind {
    Alert,
    Note,
    News,
}

impl ItemKind {
    fn parse(s: &str) -> Option<ItemKind> {
        match s {
            "alert" => Some(ItemKind::Alert),
            "note" => Some(ItemKind::Note),
            "news" => Some(ItemKind::News),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            ItemKind::Alert => "alert",
            ItemKind::Note => "note",
            ItemKind::News => "news",
        }
    }
}

/// A kind this version does not know reads as news: the item still shows.
impl From<String> for ItemKind {
    fn from(s: String) -> ItemKind {
        ItemKind::parse(&s).unwrap_or(ItemKind::News)
    }
}

renkei_core::text_column!(ItemKind);

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, sqlx::FromRow)]
#[serde(deny_unknown_fields)]
pub struct WeeklyItem {
    pub kind: ItemKind,
    /// The alert number or note ID (empty for news).
    #[serde(default, rename = "ref")]
    #[sqlx(rename = "ref")]
    pub reference: String,
    #[serde(default)]
    pub title_ja: String,
    #[serde(default)]
    pub title_en: String,
    #[serde(default)]
    pub summary_ja: String,
    #[serde(default)]
    pub summary_en: String,
    /// Where the reader goes for more: a page of ours or an outside address.
    #[serde(default)]
    pub url: String,
}

impl WeeklyItem {
    pub fn title(&self, lang: Lang) -> &str {
        lang.pick(&self.title_ja, &self.title_en)
    }

    pub fn summary(&self, lang: Lang) -> &str {
        lang.pick(&self.summary_ja, &self.summary_en)
    }
}

#[derive(Debug, Clone, Serialize, PartialEq, sqlx::FromRow)]
pub struct WeeklyReport {
    pub issue_date: String,
    pub number: Option<i64>,
    pub status: String,
    pub memo_title_ja: String,
    pub memo_title_en: String,
    pub memo_ja: String,
    pub memo_en: String,
    #[sqlx(skip)]
    pub items: Vec<WeeklyItem>,
    pub created_at: String,
    pub updated_at: String,
    pub published_at: Option<String>,
}

impl WeeklyReport {
    pub fn memo_title(&self, lang: Lang) -> &str {
        lang.pick(&self.memo_title_ja, &self.memo_title_en)
    }

    pub fn memo(&self, lang: Lang) -> &str {
        lang.pick(&self.memo_ja, &self.memo_en)
    }

    pub fn is_published(&self) -> bool {
        self.status == "published"
    }
}

/// What a coordinator changes in a draft; what is left out stays.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WeeklyText {
    pub items: Option<Vec<WeeklyItem>>,
    pub memo_title_ja: Option<String>,
    pub memo_title_en: Option<String>,
    pub memo_ja: Option<String>,
    pub memo_en: Option<String>,
}

fn staff(user: &UserInfo) -> Result<Actor> {
    crate::staff(user, "the weekly report is")
}

pub fn parse_date(s: &str) -> Result<NaiveDate> {
    NaiveDate::parse_from_str(s.trim(), "%Y-%m-%d").map_err(|_| {
        PublishError::invalid("issue_date", format!("{s:?} is not a date like 2026-11-25"))
    })
}

fn check_items(items: &[WeeklyItem]) -> Result<()> {
    if items.len() > 100 {
        return Err(PublishError::invalid("items", "at most 100 items"));
    }
    for (i, it) in items.iter().enumerate() {
        let at = |m: &str| PublishError::invalid("items", format!("item {}: {m}", i + 1));
        if it.title_ja.trim().is_empty() && it.title_en.trim().is_empty() {
            return Err(at("a title in Japanese or English"));
        }
        if [&it.title_ja, &it.title_en]
            .iter()
            .any(|t| t.chars().count() > 300)
        {
            return Err(at("titles are at most 300 characters"));
        }
        if [&it.summary_ja, &it.summary_en]
            .iter()
            .any(|t| t.len() > 10_000)
        {
            return Err(at("summaries are at most 10,000 bytes"));
        }
        let url = it.url.trim();
        let web = url.starts_with("https://") || url.starts_with("http://");
        match it.kind {
            ItemKind::News if !web => {
                return Err(at(
                    "outside news links to its source (an http or https address)",
                ));
            }
            _ if !(web || url.starts_with('/') || url.is_empty()) => {
                return Err(at(
                    "the link is an http or https address or a path of this site",
                ));
            }
            _ => {}
        }
    }
    Ok(())
}

async fn write_items(
    tx: &mut renkei_core::store::Tx,
    report: i64,
    items: &[WeeklyItem],
) -> Result<()> {
    sqlx::query("DELETE FROM weekly_items WHERE report_id = $1")
        .bind(report)
        .execute(tx.conn())
        .await?;
    for (i, it) in items.iter().enumerate() {
        sqlx::query(
            "INSERT INTO weekly_items (report_id, position, kind, ref, title_ja, title_en, summary_ja, summary_en, url) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        )
        .bind(report)
        .bind(i as i64)
        .bind(it.kind.as_str())
        .bind(it.reference.trim())
        .bind(it.title_ja.trim())
        .bind(it.title_en.trim())
        .bind(it.summary_ja.trim())
        .bind(it.summary_en.trim())
        .bind(it.url.trim())
        .execute(tx.conn())
        .await?;
    }
    Ok(())
}

/// What was published since the last issue, as items: alerts first, then notes.
async fn suggested(
    store: &Store,
    since: &str,
    until: &str,
    now: DateTime<Utc>,
) -> Result<Vec<WeeklyItem>> {
    let mut items = Vec::new();
    for a in alerts::list(store, Viewer::Public, None, 200).await? {
        let at = a.published_at.clone().unwrap_or_default();
        if at.as_str() > since && at.as_str() <= until {
            items.push(WeeklyItem {
                kind: ItemKind::Alert,
                reference: a.number.clone(),
                title_ja: a.title_ja.clone(),
                title_en: a.title_en.clone(),
                summary_ja: clip(&markdown::to_text(&a.body_ja), 200),
                summary_en: clip(&markdown::to_text(&a.body_en), 200),
                url: alerts::page_path(&a.number),
            });
        }
    }
    for n in renkei_vuln::notes::list_published(store, now, 500).await? {
        if n.publish_at.as_str() > since && n.publish_at.as_str() <= until {
            items.push(WeeklyItem {
                kind: ItemKind::Note,
                reference: n.key.clone(),
                title_ja: n.title.ja.clone(),
                title_en: n.title.en.clone(),
                summary_ja: String::new(),
                summary_en: String::new(),
                url: renkei_vuln::notes::page_path(&n.key),
            });
        }
    }
    Ok(items)
}

/// Opens the issue of `date` (or the next issue day) as a draft, filled with what
/// was published since the previous issue.
pub async fn create(
    store: &Store,
    schedule: &Schedule,
    user: &UserInfo,
    date: Option<NaiveDate>,
    now: DateTime<Utc>,
) -> Result<WeeklyReport> {
    let actor = staff(user)?;
    let date = match date {
        Some(d) => d,
        None => schedule.next_issue(now.date_naive()),
    };
    schedule.check(date)?;
    let previous: Option<String> =
        sqlx::query_scalar("SELECT MAX(issue_date) FROM weekly_reports WHERE issue_date < $1")
            .bind(date.to_string())
            .fetch_one(store.pool())
            .await?;
    // Items cover the days after the previous issue up to the day before this one.
    let since = previous.unwrap_or_else(|| (date - Duration::days(7)).to_string());
    let until = format!("{}T00:00:00Z", date);
    let items = suggested(store, &format!("{since}T00:00:00Z"), &until, now).await?;
    let at = time::format(now);
    let mut tx = store.begin().await?;
    let exists: Option<i64> =
        sqlx::query_scalar("SELECT id FROM weekly_reports WHERE issue_date = $1")
            .bind(date.to_string())
            .fetch_optional(tx.conn())
            .await?;
    if exists.is_some() {
        return Err(PublishError::Conflict(format!(
            "the issue of {date} exists already"
        )));
    }
    let id: i64 = sqlx::query_scalar(
        "INSERT INTO weekly_reports (issue_date, status, created_by, created_at, updated_at) VALUES ($1, 'draft', $2, $3, $3) RETURNING id",
    )
    .bind(date.to_string())
    .bind(user.id)
    .bind(&at)
    .fetch_one(tx.conn())
    .await?;
    write_items(&mut tx, id, &items).await?;
    audit::record(
        &mut tx,
        &actor,
        Event {
            action: "weekly.create",
            object_type: "weekly",
            object_id: date.to_string(),
            changes: json!({"items": items.len()}),
        },
    )
    .await?;
    tx.commit().await?;
    get(store, &date.to_string(), Viewer::Staff)
        .await?
        .ok_or(PublishError::NotFound("weekly report"))
}

async fn draft_id(tx: &mut renkei_core::store::Tx, date: NaiveDate) -> Result<i64> {
    let (id, status): (i64, String) =
        sqlx::query_as("SELECT id, status FROM weekly_reports WHERE issue_date = $1")
            .bind(date.to_string())
            .fetch_optional(tx.conn())
            .await?
            .ok_or(PublishError::NotFound("weekly report"))?;
    if status != "draft" {
        return Err(PublishError::Conflict(format!(
            "the issue of {date} is published and stays as it was"
        )));
    }
    Ok(id)
}

/// Changes a draft's items and memo.
pub async fn write(
    store: &Store,
    user: &UserInfo,
    date: NaiveDate,
    text: &WeeklyText,
) -> Result<WeeklyReport> {
    let actor = staff(user)?;
    if let Some(items) = &text.items {
        check_items(items)?;
    }
    for (field, v, max) in [
        ("memo_title_ja", &text.memo_title_ja, 300),
        ("memo_title_en", &text.memo_title_en, 300),
        ("memo_ja", &text.memo_ja, 50_000),
        ("memo_en", &text.memo_en, 50_000),
    ] {
        if v.as_ref().is_some_and(|v| v.len() > max) {
            return Err(PublishError::invalid(field, format!("at most {max} bytes")));
        }
    }
    let mut tx = store.begin().await?;
    let id = draft_id(&mut tx, date).await?;
    if let Some(items) = &text.items {
        write_items(&mut tx, id, items).await?;
    }
    sqlx::query(
        "UPDATE weekly_reports SET memo_title_ja = COALESCE($1, memo_title_ja), memo_title_en = COALESCE($2, memo_title_en), memo_ja = COALESCE($3, memo_ja), memo_en = COALESCE($4, memo_en), updated_at = $5 WHERE id = $6",
    )
    .bind(text.memo_title_ja.as_deref().map(str::trim))
    .bind(text.memo_title_en.as_deref().map(str::trim))
    .bind(text.memo_ja.as_deref().map(str::trim_end))
    .bind(text.memo_en.as_deref().map(str::trim_end))
    .bind(store.now_str())
    .bind(id)
    .execute(tx.conn())
    .await?;
    audit::record(
        &mut tx,
        &actor,
        Event {
            action: "weekly.write",
            object_type: "weekly",
            object_id: date.to_string(),
            changes: json!({"items": text.items.as_ref().map(Vec::len), "memo": text.memo_ja.is_some() || text.memo_en.is_some()}),
        },
    )
    .await?;
    tx.commit().await?;
    get(store, &date.to_string(), Viewer::Staff)
        .await?
        .ok_or(PublishError::NotFound("weekly report"))
}

/// An issue is public: an item may only name an alert or a note the public can
/// read, never early warning or a note still under embargo.
async fn check_public(
    store: &Store,
    i: usize,
    item: &WeeklyItem,
    now: DateTime<Utc>,
) -> Result<()> {
    let key = item.reference.trim();
    let public = match item.kind {
        _ if key.is_empty() => true,
        ItemKind::Alert => alerts::get(store, key, Viewer::Public, now)
            .await?
            .is_some(),
        ItemKind::Note => renkei_vuln::notes::get(store, key, now, false)
            .await?
            .is_some(),
        ItemKind::News => true,
    };
    if public {
        return Ok(());
    }
    Err(PublishError::Conflict(format!(
        "item {}: {key} is not public (unpublished, or not TLP:CLEAR); the weekly report only names what everyone may read",
        i + 1
    )))
}

/// Publishes a draft with the next issue number. Issues are published in date
/// order, so numbers and dates never cross.
pub async fn publish(
    store: &Store,
    user: &UserInfo,
    date: NaiveDate,
    now: DateTime<Utc>,
) -> Result<WeeklyReport> {
    let actor = staff(user)?;
    if let Some(draft) = get(store, &date.to_string(), Viewer::Staff).await? {
        for (i, item) in draft.items.iter().enumerate() {
            check_public(store, i, item, now).await?;
        }
    }
    let mut tx = store.begin().await?;
    let id = draft_id(&mut tx, date).await?;
    let items: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM weekly_items WHERE report_id = $1")
        .bind(id)
        .fetch_one(tx.conn())
        .await?;
    if items == 0 {
        return Err(PublishError::invalid(
            "items",
            "an issue has at least one item",
        ));
    }
    let later: Option<String> = sqlx::query_scalar(
        "SELECT MAX(issue_date) FROM weekly_reports WHERE status = 'published' AND issue_date > $1",
    )
    .bind(date.to_string())
    .fetch_one(tx.conn())
    .await?;
    if let Some(later) = later {
        return Err(PublishError::Conflict(format!(
            "the issue of {later} is out already; issues come out in date order"
        )));
    }
    let number: i64 = sqlx::query_scalar("SELECT COALESCE(MAX(number), 0) + 1 FROM weekly_reports")
        .fetch_one(tx.conn())
        .await?;
    sqlx::query("UPDATE weekly_reports SET status = 'published', number = $1, published_at = $2, published_by = $3 WHERE id = $4")
        .bind(number)
        .bind(time::format(now))
        .bind(user.id)
        .bind(id)
        .execute(tx.conn())
        .await?;
    audit::record(
        &mut tx,
        &actor,
        Event {
            action: "weekly.publish",
            object_type: "weekly",
            object_id: date.to_string(),
            changes: json!({"number": number, "status": ["draft", "published"]}),
        },
    )
    .await?;
    tx.commit().await?;
    get(store, &date.to_string(), Viewer::Staff)
        .await?
        .ok_or(PublishError::NotFound("weekly report"))
}

/// One issue by its date or its number; drafts for staff only.
pub async fn get(store: &Store, key: &str, viewer: Viewer) -> Result<Option<WeeklyReport>> {
    let key = key.trim();
    /// An issue with its row id, to read its items by.
    #[derive(sqlx::FromRow)]
    struct Stored {
        id: i64,
        #[sqlx(flatten)]
        report: WeeklyReport,
    }
    let row: Option<Stored> = if let Ok(n) = key.parse::<i64>() {
        sqlx::query_as("SELECT * FROM weekly_reports WHERE number = $1")
            .bind(n)
            .fetch_optional(store.pool())
            .await?
    } else {
        sqlx::query_as("SELECT * FROM weekly_reports WHERE issue_date = $1")
            .bind(key)
            .fetch_optional(store.pool())
            .await?
    };
    let Some(Stored { id, mut report }) = row else {
        return Ok(None);
    };
    if viewer != Viewer::Staff && report.status != "published" {
        return Ok(None);
    }
    report.items =
        sqlx::query_as("SELECT * FROM weekly_items WHERE report_id = $1 ORDER BY position")
            .bind(id)
            .fetch_all(store.pool())
            .await?;
    Ok(Some(report))
}

/// Issues newest first (drafts too, for staff).
pub async fn list(store: &Store, viewer: Viewer, limit: i64) -> Result<Vec<WeeklyReport>> {
    let sql = match viewer {
        Viewer::Public | Viewer::Org(_) => {
            "SELECT issue_date FROM weekly_reports WHERE status = 'published' ORDER BY issue_date DESC LIMIT $1"
        }
        Viewer::Staff => "SELECT issue_date FROM weekly_reports ORDER BY issue_date DESC LIMIT $1",
    };
    let dates: Vec<String> = sqlx::query_scalar(sql)
        .bind(limit.clamp(1, 1000))
        .fetch_all(store.pool())
        .await?;
    let mut out = Vec::with_capacity(dates.len());
    for d in dates {
        if let Some(w) = get(store, &d, viewer).await? {
            out.push(w);
        }
    }
    Ok(out)
}

/// The public address of an issue.
pub fn page_path(issue_date: &str) -> String {
    format!("/weekly/{issue_date}")
}

/// The title of an issue: its number and date.
pub fn title(w: &WeeklyReport, lang: Lang) -> String {
    let n = w
        .number
        .map(|n| n.to_string())
        .unwrap_or_else(|| "-".into());
    catalog(lang).fill(
        "publish.weekly_issue",
        &[("number", &n), ("date", &w.issue_date)],
    )
}

/// The weekly feed (Atom or RSS 2.0) in one language.
pub fn feed(
    settings: &renkei_vuln::Settings,
    reports: &[WeeklyReport],
    lang: Lang,
    now: DateTime<Utc>,
    self_path: &str,
) -> syndication::Feed {
    syndication::Feed {
        id: format!("{}/feeds/weekly", settings.public_url),
        title: format!(
            "{} — {}",
            settings.vuln.publisher_name,
            catalog(lang).get("publish.feed_weekly")
        ),
        self_link: format!("{}{self_path}", settings.public_url),
        link: format!("{}/weekly", settings.public_url),
        lang: lang.as_str().into(),
        updated: reports
            .iter()
            .filter_map(|w| w.published_at.clone())
            .max()
            .unwrap_or_else(|| time::format(now)),
        entries: reports
            .iter()
            .map(|w| {
                let url = format!("{}{}", settings.public_url, page_path(&w.issue_date));
                syndication::Entry {
                    id: url.clone(),
                    title: title(w, lang),
                    link: url,
                    published: w.published_at.clone().unwrap_or_default(),
                    updated: w.published_at.clone().unwrap_or_default(),
                    summary: w
                        .items
                        .iter()
                        .map(|i| i.title(lang))
                        .collect::<Vec<_>>()
                        .join(" / "),
                }
            })
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn schedule(loaded: &[(&str, &str)]) -> Schedule {
        Schedule {
            weekday: Weekday::Wed,
            japanese: true,
            loaded: loaded
                .iter()
                .map(|(d, n)| {
                    (
                        NaiveDate::parse_from_str(d, "%Y-%m-%d").unwrap(),
                        n.to_string(),
                    )
                })
                .collect(),
        }
    }

    fn day(s: &str) -> NaiveDate {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
    }

    #[test]
    fn a_wednesday_holiday_skips_its_week() {
        let s = schedule(&[]);
        // 2026-09-23 (秋分の日) is a Wednesday.
        let weeks = s.upcoming(day("2026-09-14"), 3);
        assert_eq!(
            weeks
                .iter()
                .map(|w| (w.date.to_string(), w.issued))
                .collect::<Vec<_>>(),
            vec![
                ("2026-09-16".into(), true),
                ("2026-09-23".into(), false),
                ("2026-09-30".into(), true)
            ]
        );
        assert_eq!(weeks[1].holiday.as_deref(), Some("秋分の日"));
        assert_eq!(s.next_issue(day("2026-09-17")), day("2026-09-30"));
        assert_eq!(s.next_issue(day("2026-11-23")), day("2026-11-25"));
        assert!(s.check(day("2026-09-23")).is_err());
        assert!(s.check(day("2026-11-24")).is_err());
        assert!(s.check(day("2026-11-25")).is_ok());
    }

    #[test]
    fn loaded_days_are_skipped_too() {
        let s = schedule(&[("2026-12-30", "年末休暇")]);
        assert_eq!(s.next_issue(day("2026-12-29")), day("2027-01-06"));
        assert_eq!(s.holiday(day("2026-12-30")).as_deref(), Some("年末休暇"));
    }

    #[test]
    fn news_needs_a_web_link() {
        let item = |kind, url: &str| WeeklyItem {
            kind,
            reference: String::new(),
            title_ja: "t".into(),
            title_en: String::new(),
            summary_ja: String::new(),
            summary_en: String::new(),
            url: url.into(),
        };
        assert!(check_items(&[item(ItemKind::News, "https://example.org/x")]).is_ok());
        assert!(check_items(&[item(ItemKind::News, "")]).is_err());
        assert!(check_items(&[item(ItemKind::Alert, "javascript:alert(1)")]).is_err());
        assert!(check_items(&[item(ItemKind::Note, "/notes/JVN%2312")]).is_ok());
    }
}
