//! Statistics from summaries: what [`crate::stats`] prints for a period is added up
//! from counts kept per UTC day and per UTC month, so that a year costs a few
//! thousand summary rows instead of every report and incident in it.
//!
//! The summaries never have to be right for a reader to be right. Triggers mark a
//! day (`stats_dirty`) in the same transaction as any write that changes its figures,
//! whoever wrote it; a reader counts marked days, and the ragged hours at either end
//! of a period, from the rows themselves, and only the clean whole days and months
//! from the summaries. The clock worker recounts marked days a few at a time
//! ([`refresh`]); a bulk import recounts its days before it returns.
//!
//! Durations (time to first response, to close) are kept as counts per bucket:
//! to the minute under a day, then in steps of 0.5 %. A percentile read from them is
//! within 30 seconds under a day and within 0.25 % beyond.
//!
//! # Layout
//! - [`Tally`]: counts by dimension and key, and reports by month and category, that
//!   add up across days, months and rows.
//! - [`read`]: a period's tally, from summaries where they are clean.
//! - [`refresh`]: recounts marked days and their months.
//! - [`bucket`], [`bucket_secs`]: the duration buckets.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration as StdDuration, Instant};

use chrono::{DateTime, Datelike, Days, NaiveDate, NaiveTime, Utc};
use renkei_core::store::Dialect;
use renkei_core::{Store, time};
use sqlx::{AnyConnection, Row};

use crate::{IncidentError, Result};

/// The dimensions a summary row counts by.
pub(crate) mod dim {
    /// Keys: [`super::key`].
    pub const TOTAL: &str = "total";
    /// Reports (inquiries left out) by category.
    pub const CATEGORY: &str = "category";
    pub const TLD: &str = "tld";
    pub const PORT: &str = "port";
    /// Reports and inquiries by channel and by intake address.
    pub const CHANNEL: &str = "channel";
    pub const INTAKE: &str = "intake";
    /// Durations, by [`super::bucket`].
    pub const FIRST_RESPONSE: &str = "first_response";
    pub const CLOSE: &str = "close";
}

/// The keys of [`dim::TOTAL`].
pub(crate) mod key {
    pub const REPORTS: &str = "reports";
    pub const INQUIRIES: &str = "inquiries";
    pub const COMPREHENSIVE: &str = "comprehensive";
    pub const NEEDS_REVIEW: &str = "needs_review";
    pub const INCIDENTS: &str = "incidents";
}

/// Counts that add up across days, months and rows.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Tally {
    pub counts: BTreeMap<(String, String), i64>,
    /// Reports (inquiries left out) by UTC month and category.
    pub by_month: BTreeMap<(String, String), i64>,
}

impl Tally {
    fn add(&mut self, dim: &str, key: &str, n: i64) {
        if n != 0 {
            *self
                .counts
                .entry((dim.to_string(), key.to_string()))
                .or_default() += n;
        }
    }

    /// Adds a summary row of `month`.
    fn add_row(&mut self, month: &str, dim: &str, key: &str, n: i64) {
        if dim == dim::CATEGORY {
            *self
                .by_month
                .entry((month.to_string(), key.to_string()))
                .or_default() += n;
        }
        self.add(dim, key, n);
    }

    pub fn get(&self, dim: &str, key: &str) -> i64 {
        self.counts
            .get(&(dim.to_string(), key.to_string()))
            .copied()
            .unwrap_or(0)
    }

    /// The keys of one dimension with their counts.
    pub fn of<'a>(&'a self, dim: &'a str) -> impl Iterator<Item = (&'a str, i64)> + 'a {
        self.counts
            .range((dim.to_string(), String::new())..)
            .take_while(move |((d, _), _)| d == dim)
            .map(|((_, k), n)| (k.as_str(), *n))
    }

    /// A duration dimension as (bucket, count), shortest first.
    pub fn histogram(&self, dim: &str) -> Vec<(i64, i64)> {
        let mut h: Vec<(i64, i64)> = self
            .of(dim)
            .filter_map(|(k, n)| k.parse().ok().map(|b| (b, n)))
            .collect();
        h.sort_unstable();
        h
    }

    fn merge(&mut self, other: Tally) {
        for ((d, k), n) in other.counts {
            *self.counts.entry((d, k)).or_default() += n;
        }
        for (k, n) in other.by_month {
            *self.by_month.entry(k).or_default() += n;
        }
    }
}

/// Minutes below which a duration is kept to the minute.
const MINUTE_BUCKETS: i64 = 24 * 60;
/// The ratio between neighbouring buckets beyond a day.
const STEP: f64 = 1.005;

/// The bucket a duration of `secs` is counted in.
pub fn bucket(secs: i64) -> i64 {
    let minutes = secs.max(0) / 60;
    if minutes < MINUTE_BUCKETS {
        return minutes;
    }
    let steps = ((minutes as f64 / MINUTE_BUCKETS as f64).ln() / STEP.ln()).floor() as i64;
    MINUTE_BUCKETS + steps.max(0)
}

/// The duration a bucket stands for: its middle.
pub fn bucket_secs(bucket: i64) -> i64 {
    if bucket < MINUTE_BUCKETS {
        return bucket.max(0) * 60 + 30;
    }
    let low = MINUTE_BUCKETS as f64 * STEP.powi((bucket - MINUTE_BUCKETS) as i32);
    (low * STEP.sqrt() * 60.0).round() as i64
}

/// The `p`-th percentile (nearest rank) of a histogram, as [`crate::clocks::percentile`]
/// takes it of the values themselves.
pub fn percentile(histogram: &[(i64, i64)], p: f64) -> Option<i64> {
    let total: i64 = histogram.iter().map(|(_, n)| n).sum();
    if total == 0 {
        return None;
    }
    let rank = (((p / 100.0) * total as f64).ceil() as i64).clamp(1, total);
    let mut seen = 0;
    for (b, n) in histogram {
        seen += n;
        if seen >= rank {
            return Some(bucket_secs(*b));
        }
    }
    None
}

fn midnight(d: NaiveDate) -> String {
    time::format(d.and_time(NaiveTime::MIN).and_utc())
}

fn next_month(d: NaiveDate) -> NaiveDate {
    let (y, m) = if d.month() == 12 {
        (d.year() + 1, 1)
    } else {
        (d.year(), d.month() + 1)
    };
    NaiveDate::from_ymd_opt(y, m, 1).unwrap_or(d)
}

fn parse_bound(field: &'static str, s: &str) -> Result<DateTime<Utc>> {
    time::parse(s).ok_or_else(|| IncidentError::invalid(field, format!("{s:?} is not a time")))
}

/// The tally of `[from, to)` (RFC 3339): clean whole months and days from the
/// summaries, marked days and the ends of the period from the rows.
pub async fn read(store: &Store, from: &str, to: &str) -> Result<Tally> {
    let (from, to) = (parse_bound("from", from)?, parse_bound("to", to)?);
    let mut conn = store.pool().acquire().await?;
    let conn: &mut AnyConnection = &mut conn;
    let mut tally = Tally::default();
    if from >= to {
        return Ok(tally);
    }
    // Whole UTC days inside the period: [first, end).
    let first = if from.time() == NaiveTime::MIN {
        from.date_naive()
    } else {
        from.date_naive() + Days::new(1)
    };
    let end = to.date_naive();
    if first >= end {
        tally.merge(rows(conn, &time::format(from), &time::format(to)).await?);
        return Ok(tally);
    }
    if from < first.and_time(NaiveTime::MIN).and_utc() {
        tally.merge(rows(conn, &time::format(from), &midnight(first)).await?);
    }
    if end.and_time(NaiveTime::MIN).and_utc() < to {
        tally.merge(rows(conn, &midnight(end), &time::format(to)).await?);
    }
    let (first_s, end_s) = (first.to_string(), end.to_string());
    let dirty: BTreeSet<String> = sqlx::query_scalar(
        "SELECT DISTINCT day FROM stats_dirty WHERE day >= $1 AND day < $2 ORDER BY day",
    )
    .bind(&first_s)
    .bind(&end_s)
    .fetch_all(&mut *conn)
    .await?
    .into_iter()
    .collect();
    // Marked days, a run of neighbours at a time, from the rows.
    let mut runs: Vec<(NaiveDate, NaiveDate)> = Vec::new();
    for d in dirty.iter().filter_map(|d| d.parse::<NaiveDate>().ok()) {
        match runs.last_mut() {
            Some((_, e)) if *e == d => *e = d + Days::new(1),
            _ => runs.push((d, d + Days::new(1))),
        }
    }
    for (a, b) in &runs {
        tally.merge(rows(conn, &midnight(*a), &midnight(*b)).await?);
    }
    // Whole months with no marked day come from their month's row; the other days
    // from theirs.
    let mut clean_months = Vec::new();
    let mut m = NaiveDate::from_ymd_opt(first.year(), first.month(), 1).unwrap_or(first);
    if m < first {
        m = next_month(m);
    }
    while next_month(m) <= end {
        let month = m.format("%Y-%m").to_string();
        if !dirty.iter().any(|d| d.starts_with(&month)) {
            clean_months.push(month);
        }
        m = next_month(m);
    }
    if let (Some(a), Some(b)) = (clean_months.first(), clean_months.last()) {
        let found: Vec<(String, String, String, i64)> = sqlx::query_as(
            "SELECT month, dim, key, n FROM stats_months WHERE month >= $1 AND month <= $2",
        )
        .bind(a)
        .bind(b)
        .fetch_all(&mut *conn)
        .await?;
        let clean: BTreeSet<&str> = clean_months.iter().map(String::as_str).collect();
        for (month, d, k, n) in found {
            if clean.contains(month.as_str()) {
                tally.add_row(&month, &d, &k, n);
            }
        }
    }
    // The other days, between and around the clean months, from their own rows.
    let mut ranges = Vec::new();
    let mut cursor = first;
    for month in &clean_months {
        let Ok(start) = NaiveDate::parse_from_str(&format!("{month}-01"), "%Y-%m-%d") else {
            continue;
        };
        if cursor < start {
            ranges.push((cursor, start));
        }
        cursor = next_month(start);
    }
    if cursor < end {
        ranges.push((cursor, end));
    }
    for (a, b) in ranges {
        let days: Vec<(String, String, String, i64)> =
            sqlx::query_as("SELECT day, dim, key, n FROM stats_days WHERE day >= $1 AND day < $2")
                .bind(a.to_string())
                .bind(b.to_string())
                .fetch_all(&mut *conn)
                .await?;
        for (day, d, k, n) in days {
            if !dirty.contains(&day) {
                tally.add_row(day.get(..7).unwrap_or(""), &d, &k, n);
            }
        }
    }
    Ok(tally)
}

/// Counts `[from, to)` from the reports and incidents themselves: what a day's
/// summary holds.
async fn rows(conn: &mut AnyConnection, from: &str, to: &str) -> Result<Tally> {
    let mut t = Tally::default();
    let found = sqlx::query(
        "SELECT received_at, status, COALESCE(category, proposed_category) AS category, reporter_tld, scanned_ports, comprehensive_scan,
                channel, intake_address
         FROM reports WHERE received_at >= $1 AND received_at < $2 AND exercise = 0",
    )
    .bind(from)
    .bind(to)
    .fetch_all(&mut *conn)
    .await?;
    for r in &found {
        let status: String = r.try_get("status")?;
        match status.as_str() {
            "threaded" => continue,
            "needs_review" | "received" => {
                t.add(dim::TOTAL, key::NEEDS_REVIEW, 1);
                continue;
            }
            _ => {}
        }
        let category: String = r
            .try_get::<Option<String>, _>("category")?
            .unwrap_or_else(|| "other".into());
        t.add(dim::CHANNEL, &r.try_get::<String, _>("channel")?, 1);
        if let Some(a) = r.try_get::<Option<String>, _>("intake_address")? {
            t.add(dim::INTAKE, &a, 1);
        }
        if category == "inquiry" {
            t.add(dim::TOTAL, key::INQUIRIES, 1);
            continue;
        }
        t.add(dim::TOTAL, key::REPORTS, 1);
        let received: String = r.try_get("received_at")?;
        t.add_row(received.get(..7).unwrap_or(""), dim::CATEGORY, &category, 1);
        let tld = r
            .try_get::<Option<String>, _>("reporter_tld")?
            .unwrap_or_else(|| "(unknown)".into());
        t.add(dim::TLD, &tld, 1);
        if category == "scan" {
            if r.try_get::<i64, _>("comprehensive_scan")? != 0 {
                t.add(dim::TOTAL, key::COMPREHENSIVE, 1);
            } else {
                let list: Vec<u16> =
                    serde_json::from_str(&r.try_get::<String, _>("scanned_ports")?)
                        .unwrap_or_default();
                for p in list {
                    t.add(dim::PORT, &p.to_string(), 1);
                }
            }
        }
    }
    let incidents: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM incidents i JOIN reports r ON r.id = i.report_id
         WHERE r.received_at >= $1 AND r.received_at < $2 AND i.exercise = 0",
    )
    .bind(from)
    .bind(to)
    .fetch_one(&mut *conn)
    .await?;
    t.add(dim::TOTAL, key::INCIDENTS, incidents);
    let times: Vec<(String, Option<String>, Option<String>)> = sqlx::query_as(
        "SELECT created_at, first_response_at, closed_at FROM incidents
         WHERE created_at >= $1 AND created_at < $2 AND state NOT IN ('rejected', 'duplicate') AND exercise = 0
           AND (first_response_at IS NOT NULL OR closed_at IS NOT NULL)",
    )
    .bind(from)
    .bind(to)
    .fetch_all(&mut *conn)
    .await?;
    for (created, first, closed) in times {
        let Some(created) = time::parse(&created) else {
            continue;
        };
        for (d, at) in [(dim::FIRST_RESPONSE, first), (dim::CLOSE, closed)] {
            if let Some(at) = at.as_deref().and_then(time::parse) {
                let secs = (at - created).num_seconds().max(0);
                t.add(d, &bucket(secs).to_string(), 1);
            }
        }
    }
    Ok(t)
}

/// Recounts marked days, oldest first and each once, for up to `budget` (all of
/// them with `None`), each with its month in one transaction. Returns the days
/// recounted.
///
/// A day another node or process is recounting at the same moment is left for the
/// next run: the transaction that loses is rolled back whole and the marks stay.
pub async fn refresh(store: &Store, budget: Option<StdDuration>) -> Result<usize> {
    let started = Instant::now();
    let mut done = 0;
    // Each day once per run, oldest first: a day written to all the while (today,
    // on a busy desk) is marked again as soon as it is recounted, and waits for
    // the next run instead of holding this one.
    let mut after = String::new();
    loop {
        if budget.is_some_and(|b| started.elapsed() >= b) {
            return Ok(done);
        }
        let day: Option<String> =
            sqlx::query_scalar("SELECT MIN(day) FROM stats_dirty WHERE day > $1")
                .bind(&after)
                .fetch_one(store.pool())
                .await?;
        let Some(day) = day else {
            return Ok(done);
        };
        match recount(store, &day).await {
            Ok(()) => done += 1,
            Err(e) if e.is_contended() => {
                tracing::debug!(day, error = %e, "a day's statistics are being recounted elsewhere");
            }
            Err(e) => return Err(e),
        }
        after = day;
    }
}

async fn recount(store: &Store, day: &str) -> Result<()> {
    let Ok(d) = day.parse::<NaiveDate>() else {
        // Not a date (a row written with a time this code cannot read): nothing to
        // count it under.
        store
            .write(sqlx::query("DELETE FROM stats_dirty WHERE day = $1").bind(day))
            .await?;
        return Ok(());
    };
    let month_start = NaiveDate::from_ymd_opt(d.year(), d.month(), 1).unwrap_or(d);
    let month = month_start.format("%Y-%m").to_string();
    let mut tx = store.begin().await?;
    if tx.dialect() == Dialect::Postgres {
        sqlx::query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
            .execute(tx.conn())
            .await?;
    }
    // Writing first: on SQLite it takes the one writer's place before anything is
    // read; on PostgreSQL the marks removed are exactly those the snapshot sees.
    sqlx::query("DELETE FROM stats_dirty WHERE day = $1")
        .bind(day)
        .execute(tx.conn())
        .await?;
    let t = rows(tx.conn(), &midnight(d), &midnight(d + Days::new(1))).await?;
    sqlx::query("DELETE FROM stats_days WHERE day = $1")
        .bind(day)
        .execute(tx.conn())
        .await?;
    let entries: Vec<(&(String, String), &i64)> = t.counts.iter().collect();
    for chunk in entries.chunks(200) {
        let values: Vec<String> = (0..chunk.len())
            .map(|i| format!("($1, ${}, ${}, ${})", i * 3 + 2, i * 3 + 3, i * 3 + 4))
            .collect();
        let sql = format!(
            "INSERT INTO stats_days (day, dim, key, n) VALUES {}",
            values.join(", ")
        );
        let mut q = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(day);
        for ((dm, k), n) in chunk {
            q = q.bind(dm.as_str()).bind(k.as_str()).bind(**n);
        }
        q.execute(tx.conn()).await?;
    }
    sqlx::query("DELETE FROM stats_months WHERE month = $1")
        .bind(&month)
        .execute(tx.conn())
        .await?;
    sqlx::query(
        "INSERT INTO stats_months (month, dim, key, n)
         SELECT $1, dim, key, SUM(n) FROM stats_days WHERE day >= $2 AND day < $3 GROUP BY dim, key",
    )
    .bind(&month)
    .bind(month_start.to_string())
    .bind(next_month(month_start).to_string())
    .execute(tx.conn())
    .await?;
    tx.commit().await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_under_a_day_are_kept_to_the_minute_and_longer_ones_within_a_quarter_percent() {
        for secs in [0, 59, 60, 5 * 3600, 5 * 3600 + 17, 86_399] {
            let shown = bucket_secs(bucket(secs));
            assert!((shown - secs).abs() <= 30, "{secs} s shown as {shown} s");
        }
        for secs in [86_400, 127 * 3600, 30 * 86_400, 400 * 86_400] {
            let shown = bucket_secs(bucket(secs));
            let error = (shown - secs).abs() as f64 / secs as f64;
            assert!(error <= 0.0026, "{secs} s shown as {shown} s ({error})");
        }
        assert!(bucket(-5) == 0, "a clock set back counts as no time");
        let mut last = -1;
        for secs in (0..3_000_000).step_by(997) {
            let b = bucket(secs);
            assert!(b >= last, "buckets follow the durations");
            last = b;
        }
    }

    #[test]
    fn a_percentile_of_the_buckets_is_the_nearest_rank_of_the_values() {
        let values = [60 * 10, 60 * 20, 60 * 30, 60 * 40, 3600 * 30];
        let mut h: BTreeMap<i64, i64> = BTreeMap::new();
        for v in values {
            *h.entry(bucket(v)).or_default() += 1;
        }
        let h: Vec<(i64, i64)> = h.into_iter().collect();
        for p in [10.0, 50.0, 90.0, 100.0] {
            let exact = crate::clocks::percentile(&values, p).unwrap();
            let read = percentile(&h, p).unwrap();
            assert!(
                (read - exact).abs() as f64 <= 30.0_f64.max(exact as f64 * 0.0026),
                "p{p}: {read} against {exact}"
            );
        }
        assert_eq!(percentile(&[], 50.0), None);
    }
}
