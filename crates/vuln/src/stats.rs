//! Coordination statistics as the quarterly report prints them: notes published per
//! series per quarter and in total, product developers registered over time, how
//! long cases take from receipt to publication, the weaknesses the notes concern
//! (the seeds remark on how many are XSS), and those about control systems.

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
    /// Notes published in the period per CWE, most frequent first (`None`: no CWE).
    pub cwe: Vec<CweCount>,
    /// Notes published in the period about industrial control systems.
    pub control_systems: i64,
    /// Notes published in the period per partner coordinator they were coordinated
    /// with (`partner: null`: with none, reported to the team directly) and per
    /// series; a note coordinated with two partners counts for each.
    pub per_partner: Vec<PartnerCount>,
    /// Vulnerability reports received in the period (cases opened from them).
    pub received: i64,
    /// Of those, the ones about industrial control systems.
    pub control_system_cases: i64,
    /// The notes published in the period by how long they took from receipt:
    /// within 45 days, 46 to 90, 91 to 180, and longer.
    pub days_to_publication: [i64; 4],
    /// The 90th percentile of those days.
    pub p90_days_to_publication: Option<f64>,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct PartnerCount {
    pub partner: Option<String>,
    pub series: Series,
    pub prefix: String,
    pub count: i64,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct CweCount {
    pub cwe: Option<String>,
    pub name: Option<&'static str>,
    pub count: i64,
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
        "SELECT n.series, n.publish_at, c.received_at, c.cwe, c.control_systems FROM notes n JOIN cases c ON c.id = n.case_id",
    )
    .fetch_all(store.pool())
    .await?;
    let cutoff = to.min(now);
    let mut published: BTreeMap<&str, i64> = BTreeMap::new();
    let mut cumulative: BTreeMap<&str, i64> = BTreeMap::new();
    let mut per_quarter: BTreeMap<(String, &str), i64> = BTreeMap::new();
    let mut days = Vec::new();
    let mut cwe: BTreeMap<Option<String>, i64> = BTreeMap::new();
    let mut control_systems = 0;
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
            *cwe.entry(r.try_get::<Option<String>, _>("cwe")?)
                .or_default() += 1;
            if r.try_get::<i64, _>("control_systems")? != 0 {
                control_systems += 1;
            }
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
    let p90 = (!days.is_empty()).then(|| days[((days.len() * 9).div_ceil(10)).max(1) - 1]);
    let mut days_to_publication = [0i64; 4];
    for d in &days {
        days_to_publication[match *d {
            d if d <= 45.0 => 0,
            d if d <= 90.0 => 1,
            d if d <= 180.0 => 2,
            _ => 3,
        }] += 1;
    }

    let mut per_partner: BTreeMap<(Option<String>, &str), i64> = BTreeMap::new();
    for r in sqlx::query(
        "SELECT n.publish_at, n.series, o.name FROM notes n LEFT JOIN case_partners cp ON cp.case_id = n.case_id \
         LEFT JOIN organizations o ON o.id = cp.org_id",
    )
    .fetch_all(store.pool())
    .await?
    {
        let at = time::parse(&r.try_get::<String, _>("publish_at")?);
        if at.is_some_and(|at| at >= from && at <= cutoff && at < to) {
            let series = Series::parse(&r.try_get::<String, _>("series")?)?;
            *per_partner
                .entry((r.try_get::<Option<String>, _>("name")?, series.as_str()))
                .or_default() += 1;
        }
    }
    let (received, control_system_cases): (i64, i64) = sqlx::query_as(
        "SELECT COUNT(*), CAST(COALESCE(SUM(CASE WHEN control_systems <> 0 THEN 1 ELSE 0 END), 0) AS BIGINT) \
         FROM cases WHERE received_at >= $1 AND received_at < $2",
    )
    .bind(time::format(from))
    .bind(time::format(to))
    .fetch_one(store.pool())
    .await?;

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
        cwe: {
            let mut counts: Vec<CweCount> = cwe
                .into_iter()
                .map(|(cwe, count)| CweCount {
                    name: cwe.as_deref().and_then(renkei_formats::cwe::name),
                    cwe,
                    count,
                })
                .collect();
            counts.sort_by(|a, b| b.count.cmp(&a.count).then_with(|| a.cwe.cmp(&b.cwe)));
            counts
        },
        control_systems,
        per_partner: per_partner
            .into_iter()
            .filter_map(|((partner, series), count)| {
                let series = Series::parse(series).ok()?;
                Some(PartnerCount {
                    partner,
                    prefix: settings.prefix(series).to_string(),
                    series,
                    count,
                })
            })
            .collect(),
        received,
        control_system_cases,
        days_to_publication,
        p90_days_to_publication: p90,
    })
}
