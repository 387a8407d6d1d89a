//! The quarterly report's content, gathered from the pillars for one quarter and one
//! language. Every number comes from the same statistics functions that serve the
//! API, so the report and the pages always agree.
//!
//! # Layout
//! - here: the report's parts ([`QuarterlyReport`]), [`build`] gathering them
//!   section by section, and the rules that put them in words;
//! - [`topics`](mod@topics): the topics the coordinators write for a quarter;
//! - [`texts`]: the explanations printed beside the tables, editable by the team;
//! - [`compare`]: figures against earlier quarters, in sentences;
//! - [`document`]: the report laid out once as blocks (cover, contents, headings,
//!   tables with a column per month, figures) that the HTML and the PDF both print;
//! - [`render`]: those blocks as HTML, through templates that escape every text.

use askama::Template;
use chrono::{DateTime, Duration, NaiveDate, Utc};
use renkei_core::access::UserInfo;
use renkei_core::audit::{self, Actor, Event};
use renkei_core::i18n::catalog;
use renkei_core::lang::Lang;
use renkei_core::{Store, time};
use renkei_incident::notify::NotificationStatistics;
use renkei_incident::stats::Statistics as IncidentStatistics;
use renkei_observe::stats::{self as observe, Period, PortRank};
use renkei_observe::{Class, Proto};
use renkei_publish::alerts::{self, Publication, Viewer};
use renkei_publish::charts::{BarChart, Line, Marker, bar_svg};
use renkei_publish::{lists, markdown, weekly};
use renkei_vuln::stats::Statistics as VulnStatistics;
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::charts::{Metric, observation_svg};
use crate::{Quarter, ReportError, Result};

pub mod compare;
pub mod document;
mod render;
pub mod texts;
mod topics;

pub use render::standalone;
pub use topics::*;
/// One chart of the report, drawn once and used by the page, the PDF and the files.
#[derive(Debug, Clone, Serialize)]
pub struct Figure {
    /// The figure's number in the report, `2-1`.
    pub number: String,
    /// File name of its SVG: `fig-2-1-top1-5-quarter.svg`.
    pub file: String,
    pub caption: String,
    #[serde(skip)]
    pub svg: String,
}

/// A weekly issue of the quarter.
#[derive(Debug, Clone, Serialize)]
pub struct Issue {
    pub number: Option<i64>,
    pub date: String,
    pub items: usize,
    pub memo: bool,
}

/// A port the report explains: the coordinators' notes and the trends found.
#[derive(Debug, Clone, Serialize)]
pub struct NotablePort {
    pub label: String,
    pub notes: Vec<String>,
    /// The figure that shows it.
    pub figure: String,
}

/// One of the quarter's port trends, in words.
#[derive(Debug, Clone, Serialize)]
pub struct TrendLine {
    pub label: String,
    pub kind: String,
    pub text: String,
}

/// How many of a quarter's trends the report lists.
pub const MAX_TREND_LINES: usize = 40;

/// What a public report may name beside a port: the notes and CVEs already
/// public, and the public alerts.
struct PublicLinks<'a> {
    notes: &'a renkei_vuln::notes::Disclosure,
    alerts: &'a std::collections::BTreeMap<String, String>,
}

impl renkei_core::access::NoteDisclosure for PublicLinks<'_> {
    fn note_key(&self, key: &str) -> bool {
        renkei_core::access::NoteDisclosure::note_key(self.notes, key)
    }

    fn cve(&self, cve: &str) -> bool {
        renkei_core::access::NoteDisclosure::cve(self.notes, cve)
    }

    fn alert(&self, number: &str) -> bool {
        self.alerts.contains_key(number)
    }
}

/// One line of a ranking table.
#[derive(Debug, Clone, Serialize)]
pub struct Ranked {
    pub rank: usize,
    pub label: String,
    pub per_sensor: f64,
    /// The same figure per column of its table: per month for the quarter's
    /// ranking, per quarter for the year's.
    pub parts: Vec<f64>,
}

/// One month of the quarter: its figures, for the tables' month columns.
#[derive(Debug, Clone, Serialize)]
pub struct Month {
    /// `2007-10`.
    pub key: String,
    /// `10 月`, `October`.
    pub label: String,
    pub incidents: IncidentStatistics,
    pub notifications: NotificationStatistics,
}

#[derive(Debug, Clone, Serialize)]
pub struct SeriesLine {
    pub prefix: String,
    pub published: i64,
    pub cumulative: i64,
}

/// One of the report's headline figures beside the quarter before and the same
/// quarter a year before, with its sentence.
#[derive(Debug, Clone, Serialize)]
pub struct Comparison {
    /// `reports`, `incidents`, `notifications`, `alerts`, `notes`.
    pub key: &'static str,
    pub figures: compare::Compared,
    pub sentence: String,
}

/// The quarterly activity report (活動概要).
#[derive(Debug, Clone, Serialize)]
pub struct QuarterlyReport {
    pub quarter: Quarter,
    pub lang: Lang,
    pub team: String,
    pub span: String,
    pub generated_at: String,
    pub topics: Vec<Topic>,
    // §1 Information published.
    pub alerts: Vec<Publication>,
    pub alerts_first: usize,
    pub alerts_updates: usize,
    pub issues: Vec<Issue>,
    pub weekly_items: usize,
    pub weekly_memos: usize,
    pub subscribers: i64,
    // §2 Incident reports.
    pub incidents: IncidentStatistics,
    pub notifications: NotificationStatistics,
    /// The quarter's three months, each with its own figures.
    pub months: Vec<Month>,
    /// The headline figures against the quarter before and a year before.
    pub compared: Vec<Comparison>,
    /// Each category's count in the quarter before, for the table's arrows.
    pub categories_before: Vec<(String, i64)>,
    // §3 Observation.
    pub top_quarter: Vec<Ranked>,
    pub top_year: Vec<Ranked>,
    /// The column heads of the year's ranking: the year's quarters up to this one.
    pub year_columns: Vec<String>,
    pub notable: Vec<NotablePort>,
    /// The quarter's port trends (first seen, back, surge, calmed), oldest first,
    /// at most [`MAX_TREND_LINES`], and how many more there were.
    pub trend_lines: Vec<TrendLine>,
    pub more_trends: usize,
    pub sensors_reporting: usize,
    // §4 Vulnerability coordination.
    pub vuln: VulnStatistics,
    pub series: Vec<SeriesLine>,
    pub figures: Vec<Figure>,
    /// The explanations beside the tables, in the report's language, by key.
    pub texts: std::collections::BTreeMap<String, String>,
    /// When the report is the published copy: its revision and day.
    pub publication: Option<Published>,
}

/// The published copy's revision, day and change note, for its cover.
#[derive(Debug, Clone, Serialize)]
pub struct Published {
    pub revision: i64,
    /// `2008-01-20`, in the team's zone.
    pub day: String,
    pub change_note: String,
}

impl QuarterlyReport {
    pub fn figure(&self, number: &str) -> Option<&Figure> {
        self.figures.iter().find(|f| f.number == number)
    }

    /// The report's title in its language: 活動概要, Activity report.
    pub fn title(&self) -> &'static str {
        Words { lang: self.lang }.t("title")
    }

    /// The category's name as the report prints it (the incident taxonomy's words).
    pub fn category_name(&self, key: &str) -> String {
        category_name(key, self.lang)
    }

    /// The comparison of one headline figure, when the report has it.
    pub fn compared(&self, key: &str) -> Option<&Comparison> {
        self.compared.iter().find(|c| c.key == key)
    }

    /// A category's count the quarter before, and the arrow from it to this one.
    pub fn category_before(&self, key: &str, now: &i64) -> (i64, &'static str) {
        compare::against(&self.categories_before, key, *now)
    }

    /// A weakness's name in the report's language, when it is one of the common ones.
    pub fn cwe_name(&self, id: &str) -> &'static str {
        renkei_formats::cwe::name_for(id, self.lang == Lang::Ja).unwrap_or("")
    }

    pub fn notes_published(&self) -> i64 {
        self.vuln.published.iter().map(|s| s.count).sum()
    }

    pub fn notes_cumulative(&self) -> i64 {
        self.vuln.cumulative.iter().map(|s| s.count).sum()
    }

    /// The median, as the report prints it.
    pub fn median_days(&self) -> String {
        self.vuln
            .median_days_to_publication
            .map(|d| format!("{d:.0}"))
            .unwrap_or_else(|| "—".into())
    }

    pub fn category_count(&self, key: &str) -> i64 {
        self.incidents
            .by_category
            .iter()
            .find(|c| c.key == key)
            .map(|c| c.count)
            .unwrap_or(0)
    }
}

/// The team's name in the report's language.
pub fn team_name(vuln: &renkei_core::config::VulnConfig, lang: Lang) -> &str {
    match lang {
        Lang::Ja if !vuln.publisher_name_ja.trim().is_empty() => &vuln.publisher_name_ja,
        _ => &vuln.publisher_name,
    }
}

/// The category's name as the report prints it (the incident taxonomy's words).
fn category_name(key: &str, lang: Lang) -> String {
    catalog(lang)
        .lookup(&format!("quarterly.cat_{key}"))
        .unwrap_or(key)
        .to_string()
}

/// The labels of the report, in its language: the `quarterly.*` messages of the
/// catalogs every part of Renkei reads.
pub struct Words {
    pub lang: Lang,
}

impl Words {
    pub fn t(&self, key: &str) -> &'static str {
        catalog(self.lang)
            .lookup(&format!("quarterly.{key}"))
            .unwrap_or("")
    }

    /// A message with its `{name}` places filled.
    pub fn fill(&self, key: &str, args: &[(&str, &dyn std::fmt::Display)]) -> String {
        catalog(self.lang).fill(&format!("quarterly.{key}"), args)
    }

    /// Seconds as hours, one decimal; a dash when nothing was measured.
    pub fn hours(&self, secs: Option<i64>) -> String {
        match renkei_incident::stats::Spread::hours(secs) {
            Some(h) => self.fill("hours", &[("n", &h)]),
            None => "—".into(),
        }
    }
}

async fn ranked(
    store: &Store,
    period: &Period,
    ranks: std::ops::RangeInclusive<usize>,
) -> Result<(Vec<PortRank>, observe::Chart)> {
    Ok(observe::top_chart(store, period, Class::Scan, ranks).await?)
}

fn period(from: NaiveDate, to: NaiveDate) -> Result<Period> {
    Ok(Period::between(&from.to_string(), &to.to_string())?)
}

struct Figures {
    list: Vec<Figure>,
}

impl Figures {
    fn add(&mut self, number: &str, slug: &str, caption: String, svg: String) -> String {
        self.list.push(Figure {
            number: number.into(),
            file: format!("fig-{number}-{slug}.svg"),
            caption,
            svg,
        });
        number.to_string()
    }
}

/// Gathers the report of `quarter` in one language. `now` bounds what counts as
/// published (a note whose day has not come is not counted).
pub async fn build(
    store: &Store,
    vuln_settings: &renkei_vuln::Settings,
    quarter: Quarter,
    lang: Lang,
    now: DateTime<Utc>,
) -> Result<QuarterlyReport> {
    let w = Words { lang };
    let (from, to) = quarter.bounds();
    let mut figures = Figures { list: Vec::new() };
    // The report is a public document: it names a note only once the note is.
    let disclosure = renkei_vuln::notes::Disclosure::at(store, now).await?;

    // §1
    let alerts = alerts::published_between(store, &from, &to).await?;
    let first_day = quarter.first_day().to_string();
    let end_day = quarter.end().to_string();
    let issues: Vec<Issue> = weekly::list(store, Viewer::Public, 1000)
        .await?
        .into_iter()
        .filter(|r| r.issue_date >= first_day && r.issue_date < end_day)
        .rev()
        .map(|r| Issue {
            number: r.number,
            date: r.issue_date.clone(),
            items: r.items.len(),
            memo: !r.memo_ja.trim().is_empty() || !r.memo_en.trim().is_empty(),
        })
        .collect();
    let subscribers = lists::lists(store)
        .await?
        .iter()
        .find(|l| l.slug == "alerts")
        .map(|l| l.subscribers)
        .unwrap_or(0);

    // §2
    let incidents = renkei_incident::stats::statistics(store, &from, &to).await?;
    let notifications = renkei_incident::notify::statistics(store, &from, &to).await?;
    let months = quarter.months();
    let mut month_stats = Vec::with_capacity(3);
    for (i, key) in months.iter().enumerate() {
        let first = quarter
            .first_day()
            .checked_add_months(chrono::Months::new(i as u32))
            .expect("a month of the quarter");
        let next = first
            .checked_add_months(chrono::Months::new(1))
            .expect("the month after");
        let (a, b) = (
            format!("{first}T00:00:00.000000Z"),
            format!("{next}T00:00:00.000000Z"),
        );
        month_stats.push(Month {
            key: key.clone(),
            label: catalog(lang)
                .lookup(&format!("month.m{}", chrono::Datelike::month(&first)))
                .unwrap_or(key)
                .to_string(),
            incidents: renkei_incident::stats::statistics(store, &a, &b).await?,
            notifications: renkei_incident::notify::statistics(store, &a, &b).await?,
        });
    }
    let mut categories: Vec<String> = incidents
        .by_category
        .iter()
        .map(|c| c.key.clone())
        .collect();
    categories.sort();
    let bars = BarChart {
        title: w.t("chart_by_type"),
        categories: &months,
        series: categories
            .iter()
            .map(|c| Line {
                label: category_name(c, lang),
                values: months
                    .iter()
                    .map(|m| {
                        incidents
                            .by_month
                            .iter()
                            .filter(|x| &x.month == m && &x.category == c)
                            .map(|x| x.count as f64)
                            .sum()
                    })
                    .collect(),
            })
            .collect(),
        y_label: w.t("axis_reports"),
        width: 900,
        height: 380,
    };
    figures.add(
        "1-1",
        "incidents-by-type",
        w.t("chart_by_type_caption").to_string(),
        bar_svg(&bars)?,
    );

    // §3
    let quarter_period = period(quarter.first_day(), quarter.last_day())?;
    let year_period = period(
        NaiveDate::from_ymd_opt(quarter.year, 1, 1).expect("1 January"),
        quarter.last_day(),
    )?;
    let sensors_reporting = observe::reporting(store, &quarter_period).await?.len();
    let y = w.t("per_sensor");
    let mut tops: [Vec<Ranked>; 2] = [Vec::new(), Vec::new()];
    // The columns of the two rankings: the quarter's months, the year's quarters.
    let year_quarters: Vec<Quarter> = (1..=quarter.quarter)
        .map(|q| Quarter {
            year: quarter.year,
            quarter: q,
        })
        .collect();
    let year_columns: Vec<String> = year_quarters
        .iter()
        .map(|q| w.fill("quarter_n", &[("n", &q.quarter)]))
        .collect();
    let column_of = |which: usize, day: &str| -> Option<usize> {
        if which == 0 {
            months.iter().position(|m| day.starts_with(m.as_str()))
        } else {
            let month: u32 = day.get(5..7)?.parse().ok()?;
            Some(((month - 1) / 3) as usize)
        }
    };
    for (n, (p, ranks, slug, which)) in [
        (&quarter_period, 1..=5, "top1-5-quarter", 0),
        (&quarter_period, 6..=10, "top6-10-quarter", 0),
        (&year_period, 1..=5, "top1-5-year", 1),
        (&year_period, 6..=10, "top6-10-year", 1),
    ]
    .into_iter()
    .enumerate()
    {
        let (ranks_list, chart) = ranked(store, p, ranks.clone()).await?;
        let columns = if which == 0 { 3 } else { year_quarters.len() };
        tops[which].extend(ranks_list.iter().map(|r| {
            let mut parts = vec![0.0; columns];
            if let Some(series) = chart
                .series
                .iter()
                .find(|s| s.proto == r.proto && s.port == r.port)
            {
                for (day, v) in chart.days.iter().zip(&series.per_sensor) {
                    if let Some(part) = column_of(which, day).and_then(|c| parts.get_mut(c)) {
                        *part += v;
                    }
                }
            }
            Ranked {
                rank: r.rank,
                label: observe::label(Proto::parse(r.proto).unwrap_or(Proto::Tcp), r.port),
                per_sensor: r.per_sensor,
                parts,
            }
        }));
        let caption = w.fill(
            "chart_ports_caption",
            &[
                ("first", ranks.start()),
                ("last", ranks.end()),
                ("from", &p.from),
                ("to", &p.to),
            ],
        );
        let svg = observation_svg(&caption, &chart, Metric::PerSensor, vec![], y)?;
        figures.add(&format!("2-{}", n + 1), slug, caption, svg);
    }
    let [top_quarter, top_year] = tops;
    let mut notable = Vec::new();
    let mut seen: Vec<(Proto, u16)> = Vec::new();
    // The alerts a note on a port may name in a public report: the public ones.
    let public_alerts: std::collections::BTreeMap<String, String> =
        alerts::published_between(store, "0000", "9999")
            .await?
            .into_iter()
            .map(|a| (a.number.clone(), a.title(lang).to_string()))
            .collect();
    let disclosure = PublicLinks {
        notes: &disclosure,
        alerts: &public_alerts,
    };
    let annotations = observe::annotations(store, None, Some(&quarter_period), &disclosure).await?;
    let trends = renkei_observe::trends::list(store, &quarter_period, None).await?;
    // Every change of the quarter, oldest first, in words with its evidence.
    let mut trend_lines: Vec<TrendLine> = trends
        .iter()
        .rev()
        .filter_map(|t| {
            let proto = Proto::parse(t.proto)?;
            Some(TrendLine {
                label: observe::label(proto, t.port),
                kind: t.kind.clone(),
                text: trend_words(&t.kind, &t.day, &t.evidence, lang),
            })
        })
        .collect();
    let more_trends = trend_lines.len().saturating_sub(MAX_TREND_LINES);
    trend_lines.truncate(MAX_TREND_LINES);
    let mut candidates: Vec<(Proto, u16)> = Vec::new();
    for (proto, port) in annotations
        .iter()
        .map(|a| (a.proto, a.port))
        .chain(trends.iter().rev().map(|t| (t.proto, t.port)))
    {
        if let Some(p) = Proto::parse(proto)
            && !candidates.contains(&(p, port))
            && matches!(p, Proto::Tcp | Proto::Udp)
        {
            candidates.push((p, port));
        }
    }
    let long = period(quarter.first_day() - Duration::days(92), quarter.last_day())?;
    for (proto, port) in candidates.into_iter().take(4) {
        seen.push((proto, port));
        let label = observe::label(proto, port);
        let mut notes: Vec<String> = annotations
            .iter()
            .filter(|a| a.proto == proto.as_str() && a.port == port)
            .map(|a| {
                let mut line = format!("{}: {}", a.day, lang.pick(&a.text_ja, &a.text_en));
                let mut links = Vec::new();
                if let Some(n) = &a.note_id {
                    links.push(n.clone());
                }
                if let Some(c) = &a.cve {
                    links.push(c.clone());
                }
                if let Some((number, title)) = a
                    .alert
                    .as_ref()
                    .and_then(|n| public_alerts.get_key_value(n))
                {
                    links.push(w.fill("alert_link", &[("number", number), ("title", title)]));
                }
                if !links.is_empty() {
                    line.push_str(&w.fill("related", &[("links", &links.join(", "))]));
                }
                line
            })
            .collect();
        let mut kinds: Vec<&renkei_observe::trends::Trend> = trends
            .iter()
            .filter(|t| t.proto == proto.as_str() && t.port == port)
            .collect();
        kinds.sort_by(|a, b| a.kind.cmp(&b.kind).then(a.day.cmp(&b.day)));
        kinds.dedup_by(|a, b| a.kind == b.kind);
        for t in kinds {
            notes.push(trend_words(&t.kind, &t.day, &t.evidence, lang));
        }
        let chart = observe::chart(store, &long, Class::Scan, &[(proto, port)]).await?;
        let markers = observe::annotations(store, Some((proto, port)), Some(&long), &disclosure)
            .await?
            .iter()
            .filter_map(|a| {
                Some(Marker {
                    index: chart.days.iter().position(|d| *d == a.day)?,
                    label: a
                        .note_id
                        .clone()
                        .or_else(|| a.cve.clone())
                        .unwrap_or_default(),
                })
            })
            .collect();
        let caption = format!("{label} ({} – {})", long.from, long.to);
        let n = format!(
            "2-{}",
            figures
                .list
                .iter()
                .filter(|f| f.number.starts_with("2-"))
                .count()
                + 1
        );
        let figure = figures.add(
            &n,
            &format!("{}-{port}", proto.as_str()),
            caption.clone(),
            observation_svg(&caption, &chart, Metric::PerSensor, markers, y)?,
        );
        notable.push(NotablePort {
            label,
            notes,
            figure,
        });
    }
    let icmp = observe::icmp_chart(store, &quarter_period).await?;
    let n = format!(
        "2-{}",
        figures
            .list
            .iter()
            .filter(|f| f.number.starts_with("2-"))
            .count()
            + 1
    );
    let caption = format!(
        "{} ({} – {})",
        w.t("icmp"),
        quarter_period.from,
        quarter_period.to
    );
    figures.add(
        &n,
        "icmp",
        caption.clone(),
        observation_svg(&caption, &icmp, Metric::PerSensor, vec![], y)?,
    );

    // §4
    let start = quarter
        .first_day()
        .and_hms_opt(0, 0, 0)
        .expect("midnight")
        .and_utc();
    let end = quarter
        .end()
        .and_hms_opt(0, 0, 0)
        .expect("midnight")
        .and_utc();
    let vuln = renkei_vuln::stats::statistics(store, vuln_settings, start, end, now).await?;
    let (compared, categories_before) = comparisons(
        store,
        vuln_settings,
        quarter,
        lang,
        now,
        [
            incidents.reports,
            incidents.incidents,
            notifications.notifications,
            alerts.len() as i64,
            vuln.published.iter().map(|s| s.count).sum(),
        ],
    )
    .await?;
    let series: Vec<SeriesLine> = vuln
        .cumulative
        .iter()
        .map(|c| SeriesLine {
            prefix: c.prefix.clone(),
            cumulative: c.count,
            published: vuln
                .published
                .iter()
                .find(|p| p.series == c.series)
                .map(|p| p.count)
                .unwrap_or(0),
        })
        .collect();
    // The last eight quarters, as the cumulative charts show them.
    let mut quarters = vec![quarter];
    while quarters.len() < 8 {
        let q = quarters[0].previous();
        quarters.insert(0, q);
    }
    let labels: Vec<String> = quarters.iter().map(|q| q.to_string()).collect();
    let cumulative = |series: Option<renkei_vuln::model::Series>| -> Vec<f64> {
        quarters
            .iter()
            .map(|q| {
                vuln.per_quarter
                    .iter()
                    .filter(|x| x.series == series && x.quarter.as_str() <= q.to_string().as_str())
                    .map(|x| x.count as f64)
                    .sum()
            })
            .collect()
    };
    let notes_chart = BarChart {
        title: w.t("chart_notes"),
        categories: &labels,
        series: vuln
            .cumulative
            .iter()
            .map(|c| Line {
                label: c.prefix.clone(),
                values: cumulative(Some(c.series)),
            })
            .collect(),
        y_label: w.t("axis_notes"),
        width: 900,
        height: 360,
    };
    figures.add(
        "3-1",
        "notes-cumulative",
        notes_chart.title.to_string(),
        bar_svg(&notes_chart)?,
    );
    let vendors: Vec<f64> = quarters
        .iter()
        .map(|q| {
            vuln.vendors_registered
                .iter()
                .filter(|x| x.quarter.as_str() <= q.to_string().as_str())
                .map(|x| x.count)
                .next_back()
                .unwrap_or(0) as f64
        })
        .collect();
    let vendors_chart = BarChart {
        title: w.t("chart_vendors"),
        categories: &labels,
        series: vec![Line {
            label: w.t("vendors_text").into(),
            values: vendors,
        }],
        y_label: w.t("axis_vendors"),
        width: 900,
        height: 360,
    };
    figures.add(
        "3-2",
        "vendors-cumulative",
        vendors_chart.title.to_string(),
        bar_svg(&vendors_chart)?,
    );

    Ok(QuarterlyReport {
        quarter,
        lang,
        team: team_name(&vuln_settings.vuln, lang).to_string(),
        span: quarter.span(lang),
        generated_at: time::format(now),
        topics: topics(store, quarter).await?,
        alerts_first: alerts.iter().filter(|a| !a.is_update()).count(),
        alerts_updates: alerts.iter().filter(|a| a.is_update()).count(),
        alerts,
        weekly_items: issues.iter().map(|i| i.items).sum(),
        weekly_memos: issues.iter().filter(|i| i.memo).count(),
        issues,
        subscribers,
        incidents,
        notifications,
        months: month_stats,
        compared,
        categories_before,
        top_quarter,
        top_year,
        year_columns,
        notable,
        trend_lines,
        more_trends,
        sensors_reporting,
        vuln,
        series,
        figures: figures.list,
        texts: texts::resolved(store, lang).await?,
        publication: None,
    })
}

/// The headline figures of `quarter` (`now`: reports, incidents, notifications,
/// alerts, notes, as the report counted them) against the quarter before and the
/// same quarter a year before, each with its sentence; reports also against every
/// earlier quarter, to name a record. With them, each category's count the quarter
/// before, for the table's arrows.
async fn comparisons(
    store: &Store,
    vuln_settings: &renkei_vuln::Settings,
    quarter: Quarter,
    lang: Lang,
    now: DateTime<Utc>,
    figures_now: [i64; 5],
) -> Result<(Vec<Comparison>, Vec<(String, i64)>)> {
    let previous = quarter.previous();
    let year_ago = Quarter::new(quarter.year - 1, quarter.quarter)?;
    let mut before = Vec::new();
    let mut categories_before = Vec::new();
    for q in [previous, year_ago] {
        let (from, to) = q.bounds();
        let i = renkei_incident::stats::statistics(store, &from, &to).await?;
        let n = renkei_incident::notify::statistics(store, &from, &to).await?;
        let a = alerts::published_between(store, &from, &to).await?.len() as i64;
        let midnight = |d: NaiveDate| d.and_hms_opt(0, 0, 0).expect("midnight").and_utc();
        let v = renkei_vuln::stats::statistics(
            store,
            vuln_settings,
            midnight(q.first_day()),
            midnight(q.end()),
            now,
        )
        .await?;
        let notes: i64 = v.published.iter().map(|s| s.count).sum();
        before.push([i.reports, i.incidents, n.notifications, a, notes]);
        if q == previous {
            categories_before = i
                .by_category
                .into_iter()
                .map(|c| (c.key, c.count))
                .collect();
        }
    }
    // Reports by quarter before this one, from the months.
    let mut history: std::collections::BTreeMap<(i32, u32), i64> = Default::default();
    for (month, n) in renkei_incident::stats::reports_by_month(store, &quarter.bounds().0).await? {
        let (Some(y), Some(m)) = (
            month.get(..4).and_then(|y| y.parse::<i32>().ok()),
            month.get(5..7).and_then(|m| m.parse::<u32>().ok()),
        ) else {
            continue;
        };
        *history.entry((y, (m - 1) / 3 + 1)).or_default() += n;
    }
    let reports_history: Vec<i64> = history.into_values().collect();
    let w = Words { lang };
    let labels: [(&'static str, &str, &[i64]); 5] = [
        ("reports", w.t("compare_reports"), &reports_history),
        ("incidents", w.t("compare_incidents"), &[]),
        ("notifications", w.t("compare_notifications"), &[]),
        ("alerts", w.t("compare_alerts"), &[]),
        ("notes", w.t("compare_notes"), &[]),
    ];
    let compared = labels
        .into_iter()
        .enumerate()
        .map(|(i, (key, what, history))| {
            let figures =
                compare::Compared::new(figures_now[i], before[0][i], before[1][i], history);
            Comparison {
                key,
                sentence: figures.sentence(what, lang),
                figures,
            }
        })
        .collect();
    Ok((compared, categories_before))
}

/// A port trend as the report says it, with the numbers that justify it when the
/// detector kept them. The kinds are those the trend detector stores
/// (`renkei_observe::trends`); one it does not know is said as "a change", never as
/// its stored word.
fn trend_words(kind: &str, day: &str, evidence: &serde_json::Value, lang: Lang) -> String {
    let key = match kind {
        "first_seen" | "new" => "first_seen",
        "back" | "surge" | "calmed" => kind,
        _ => "other",
    };
    let words = Words { lang };
    let n = |k: &str| evidence.get(k).and_then(serde_json::Value::as_f64);
    let fmt = |x: f64| {
        if (x - x.round()).abs() < 0.05 {
            format!("{x:.0}")
        } else {
            format!("{x:.1}")
        }
    };
    let detail = match key {
        "first_seen" => n("sources").zip(n("sensors")).map(|(sources, sensors)| {
            words.fill(
                "trend_detail_first_seen",
                &[("sources", &fmt(sources)), ("sensors", &fmt(sensors))],
            )
        }),
        "back" => n("sources").map(|sources| {
            let last = evidence
                .get("last_seen_before")
                .and_then(serde_json::Value::as_str)
                .unwrap_or("—");
            words.fill(
                "trend_detail_back",
                &[("sources", &fmt(sources)), ("last", &last)],
            )
        }),
        "surge" => n("sources").zip(n("baseline_mean")).map(|(sources, mean)| {
            let days = n("baseline_days").unwrap_or(0.0);
            words.fill(
                "trend_detail_surge",
                &[
                    ("sources", &fmt(sources)),
                    ("mean", &fmt(mean)),
                    ("days", &fmt(days)),
                ],
            )
        }),
        "calmed" => {
            // After a recorded surge: its sources, and the days since; after a
            // sustained level: that level, and the calm days' average.
            let recent: Option<Vec<f64>> = evidence
                .get("last_days_sources")
                .and_then(serde_json::Value::as_array)
                .map(|a| a.iter().filter_map(serde_json::Value::as_f64).collect());
            let surge = n("surge_sources")
                .zip(recent.filter(|r| !r.is_empty()))
                .map(|(high, r)| (high, r.iter().sum::<f64>() / r.len() as f64, r.len() as f64));
            let level = n("level_sources")
                .zip(n("recent_sources"))
                .map(|(high, low)| (high, low, n("calm_days").unwrap_or(0.0)));
            surge.or(level).map(|(high, low, days)| {
                words.fill(
                    "trend_detail_calmed",
                    &[
                        ("high", &fmt(high)),
                        ("low", &fmt(low)),
                        ("days", &fmt(days)),
                    ],
                )
            })
        }
        _ => None,
    };
    match detail {
        Some(d) => format!("{day}: {}{d}", words.t(&format!("trend_{key}"))),
        None => format!("{day}: {}", words.t(&format!("trend_{key}"))),
    }
}

#[cfg(test)]
mod trend_word_tests {
    use renkei_core::lang::Lang;

    #[test]
    fn every_trend_kind_the_detector_stores_reads_as_words_in_both_languages() {
        for kind in ["first_seen", "back", "surge", "calmed", "unheard_of"] {
            let ja = super::trend_words(kind, "2026-10-01", &serde_json::Value::Null, Lang::Ja);
            assert!(
                !ja.chars().any(|c| c.is_ascii_alphabetic()),
                "{kind} in Japanese: {ja}"
            );
            let en = super::trend_words(kind, "2026-10-01", &serde_json::Value::Null, Lang::En);
            assert!(!en.ends_with(&format!(": {kind}")), "{kind} said raw: {en}");
        }
        let none = serde_json::Value::Null;
        assert_eq!(
            super::trend_words("first_seen", "2026-10-01", &none, Lang::Ja),
            "2026-10-01: 新たに観測"
        );
        assert_eq!(
            super::trend_words("back", "2026-10-01", &none, Lang::En),
            "2026-10-01: seen again after a quiet spell"
        );
    }

    #[test]
    fn a_trend_is_said_with_its_evidence() {
        let surge =
            serde_json::json!({"sources": 120, "baseline_mean": 12.14, "baseline_days": 28});
        assert_eq!(
            super::trend_words("surge", "2007-11-05", &surge, Lang::Ja),
            "2007-11-05: 急増（発信元 120、過去 28 日の平均 12.1 を大きく上回る）"
        );
        let level = serde_json::json!({"level_sources": 60.4, "level_days": 7, "recent_sources": 5, "calm_days": 3});
        assert_eq!(
            super::trend_words("calmed", "2007-12-10", &level, Lang::En),
            "2007-12-10: calmed down (sources down from 60.4 to an average of 5 over the last 3 days)"
        );
        let after_surge = serde_json::json!({"surge_sources": 90, "last_days_sources": [4, 5, 6]});
        assert!(
            super::trend_words("calmed", "2007-12-10", &after_surge, Lang::Ja)
                .contains("発信元 90")
        );
    }
}
