//! Coordination statistics as the quarterly report prints them: notes published per
//! series per quarter and in total, product developers registered over time, and how
//! long cases take from receipt to publication.

use std::collections::BTreeMap;

use chrono::{DateTime, Datelike, Utc};
use renkei_core::{Store, time};
use serde::Serialize;
use sqlx::Row;

use crate::model::Series;
use crate::{Result, Settings};

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct SeriesCount {
    pub series: Series,
    pub prefix: String,
    pub count: i64,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct QuarterCount {
    /// `2026Q4`.
    pub quarter: String,
    pub series: Option<Series>,
    pub count: i64,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Statistics {
    pub from: String,
    pub to: String,
    /// Notes published in the period, per series.
    pub published: Vec<SeriesCount>,
    /// Notes published since the beginning up to the end of the period, per series.
    pub cumulative: Vec<SeriesCount>,
    /// Notes published per quarter and series, from the first note to the period's end.
    pub per_quarter: Vec<QuarterCount>,
    /// Registered product developers at the end of each quarter (series: null).
    pub vendors_registered: Vec<QuarterCount>,
    pub vendors_registered_total: i64,
    /// Median days from receipt to publication over the notes published in the period.
    pub median_days_to_publication: Option<f64>,
    /// Share of those published within 45 days of receipt (0 to 1).
    pub within_45_days: Option<f64>,
}

fn quarter_of(t: DateTime<Utc>) -> String {
    format!("{}Q{}", t.year(), (t.month0() / 3) + 1)
}

/// Statistics for `[from, to)`; notes whose moment has not come by `now` are not
/// counted (they are not published yet).
pub async fn statistics(
    store: &Store,
    settings: &Settings,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Result<Statistics> {
    let rows = sqlx::query(
        "SELECT n.series, n.publish_at, c.received_at FROM notes n JOIN cases c ON c.id = n.case_id",
    )
    .fetch_all(store.pool())
    .await?;
    let cutoff = to.min(now);
    let mut published: BTreeMap<&str, i64> = BTreeMap::new();
    let mut cumulative: BTreeMap<&str, i64> = BTreeMap::new();
    let mut per_quarter: BTreeMap<(String, &str), i64> = BTreeMap::new();
    let mut days = Vec::new();
    for r in &rows {
        let series = Series::parse(&r.try_get::<String, _>("series")?)?;
        let Some(at) = time::parse(&r.try_get::<String, _>("publish_at")?) else {
            continue;
        };
        if at > cutoff || at >= to {
            continue;
        }
        *cumulative.entry(series.as_str()).or_default() += 1;
        *per_quarter
            .entry((quarter_of(at), series.as_str()))
            .or_default() += 1;
        if at >= from {
            *published.entry(series.as_str()).or_default() += 1;
            if let Some(received) = time::parse(&r.try_get::<String, _>("received_at")?) {
                days.push((at - received).num_seconds() as f64 / 86_400.0);
            }
        }
    }
    let counts = |m: &BTreeMap<&str, i64>| {
        Series::ALL
            .iter()
            .map(|s| SeriesCount {
                series: *s,
                prefix: settings.prefix(*s).to_string(),
                count: m.get(s.as_str()).copied().unwrap_or(0),
            })
            .collect::<Vec<_>>()
    };
    days.sort_by(f64::total_cmp);
    let median = match days.len() {
        0 => None,
        n if n % 2 == 1 => Some(days[n / 2]),
        n => Some((days[n / 2 - 1] + days[n / 2]) / 2.0),
    };
    let within = (!days.is_empty())
        .then(|| days.iter().filter(|d| **d <= 45.0).count() as f64 / days.len() as f64);

    let registered: Vec<DateTime<Utc>> = sqlx::query(
        "SELECT registered_at FROM vendors WHERE registered_at IS NOT NULL AND state <> 'withdrawn'",
    )
    .fetch_all(store.pool())
    .await?
    .iter()
    .filter_map(|r| r.try_get::<String, _>("registered_at").ok().and_then(|t| time::parse(&t)))
    .filter(|t| *t < to)
    .collect();
    let mut vendors_registered = Vec::new();
    if let Some(first) = registered.iter().min() {
        let mut y = first.year();
        let mut q = first.month0() / 3;
        loop {
            let end_month = q * 3 + 4;
            let (ey, em) = if end_month > 12 {
                (y + 1, end_month - 12)
            } else {
                (y, end_month)
            };
            let end = chrono::NaiveDate::from_ymd_opt(ey, em, 1)
                .and_then(|d| d.and_hms_opt(0, 0, 0))
                .map(|d| d.and_utc())
                .unwrap_or(to);
            vendors_registered.push(QuarterCount {
                quarter: format!("{y}Q{}", q + 1),
                series: None,
                count: registered.iter().filter(|t| **t < end).count() as i64,
            });
            if end >= to || vendors_registered.len() > 400 {
                break;
            }
            q += 1;
            if q == 4 {
                q = 0;
                y += 1;
            }
        }
    }
    Ok(Statistics {
        from: time::format(from),
        to: time::format(to),
        published: counts(&published),
        cumulative: counts(&cumulative),
        per_quarter: per_quarter
            .into_iter()
            .map(|((quarter, series), count)| QuarterCount {
                quarter,
                series: Series::parse(series).ok(),
                count,
            })
            .collect(),
        vendors_registered_total: registered.len() as i64,
        vendors_registered,
        median_days_to_publication: median,
        within_45_days: within,
    })
}
