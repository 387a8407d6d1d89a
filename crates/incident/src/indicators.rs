//! Everything incident handling knows about one indicator — an address, an AS or a
//! domain — for its page: the incidents about it, the reports that name it, the
//! feed events that saw it (by day), and the notifications that told someone of it,
//! each with a count and when it was first and last seen.
//!
//! Each part is an index range on keys shared with search ([`renkei_formats::keys`]):
//! incidents by `ip_key`, `asn` or `host_key`; reports through the full-text index
//! (an address as one word, [`crate::search::ip_token`]); feed events through
//! `feed_sightings` (by address) and `feed_asn_days` (by AS), written with the
//! events themselves. Counting stops at [`COUNT_CAP`]: "more than 10,000" answers
//! the question, and reading a million rows to print their number would not.
//!
//! # Layout
//! - [`Indicator`]: what a page is about, parsed from its path.
//! - [`profile`]: the page's incident-handling half.
//! - [`stage_sightings`], [`merge_sightings`]: written by a feed import, chunk
//!   by chunk, then in key order once the file is finished.
//! - [`backfill`]: feed events kept before the sightings were.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::net::IpAddr;

use renkei_core::Store;
use renkei_core::store::{JsonCol, Tx, json_rows};
use serde::Serialize;
use sqlx::AssertSqlSafe;

use crate::feeds::{self, sets::SetKind};
use crate::incidents::{self, Filter, Incident};
use crate::search::{self, Query};
use crate::{IncidentError, Result};

/// The most rows of one kind a page counts exactly.
pub const COUNT_CAP: i64 = incidents::COUNT_CAP;

/// How many of each kind a page lists, newest first.
pub const LATEST: i64 = 20;

/// How many days of feed events a page lists (the totals cover every day).
pub const FEED_DAYS: i64 = 90;

/// What an indicator page is about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Indicator {
    Ip(IpAddr),
    Asn(u32),
    /// A domain, lower case; its page covers its subdomains.
    Domain(String),
}

impl Indicator {
    /// `kind` is `ip`, `asn` or `domain`; an AS may be written `AS64500`.
    pub fn parse(kind: &str, value: &str) -> Result<Indicator> {
        let value = value.trim();
        match kind {
            "ip" => value.parse().map(Indicator::Ip).map_err(|_| {
                IncidentError::invalid("ip", format!("{value:?} is not an IP address"))
            }),
            "asn" => {
                let digits = value
                    .strip_prefix("AS")
                    .or_else(|| value.strip_prefix("as"))
                    .unwrap_or(value);
                digits.parse().map(Indicator::Asn).map_err(|_| {
                    IncidentError::invalid("asn", format!("{value:?} is not an AS number"))
                })
            }
            "domain" => search::host_key(value)
                .filter(|_| value.contains('.'))
                .map(|_| Indicator::Domain(value.trim_end_matches('.').to_lowercase()))
                .ok_or_else(|| {
                    IncidentError::invalid("domain", format!("{value:?} is not a domain name"))
                }),
            other => Err(IncidentError::invalid(
                "kind",
                format!("{other:?} is not a kind of indicator; use ip, asn or domain"),
            )),
        }
    }

    pub fn kind(&self) -> &'static str {
        match self {
            Indicator::Ip(_) => "ip",
            Indicator::Asn(_) => "asn",
            Indicator::Domain(_) => "domain",
        }
    }

    /// The value as its page's address writes it (`203.0.113.5`, `64500`,
    /// `example.jp`).
    pub fn value(&self) -> String {
        match self {
            Indicator::Ip(ip) => ip.to_string(),
            Indicator::Asn(n) => n.to_string(),
            Indicator::Domain(d) => d.clone(),
        }
    }

    /// The queue's search for the indicator's incidents.
    pub fn query(&self) -> Query {
        let mut q = Query::default();
        match self {
            Indicator::Ip(ip) => {
                let key = search::ip_key(*ip);
                q.ips.push((key.clone(), key));
            }
            Indicator::Asn(n) => q.asns.push(i64::from(*n)),
            Indicator::Domain(d) => q.domains.extend(search::host_key(d)),
        }
        q
    }

    /// The same search as the queue's search box writes it.
    pub fn search_text(&self) -> String {
        match self {
            Indicator::Ip(ip) => format!("ip:{ip}"),
            Indicator::Asn(n) => format!("asn:{n}"),
            Indicator::Domain(d) => format!("domain:{d}"),
        }
    }
}

/// How many, and the first and last time seen. `count` stops at [`COUNT_CAP`] + 1
/// (`capped`); then `first` is the earliest of those counted.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct Seen {
    pub count: i64,
    pub capped: bool,
    pub first: Option<String>,
    pub last: Option<String>,
}

impl Seen {
    fn of(count: i64, first: Option<String>, last: Option<String>) -> Seen {
        Seen {
            count: count.min(COUNT_CAP + 1),
            capped: count > COUNT_CAP,
            first,
            last,
        }
    }
}

/// A report that names the indicator, or that opened an incident about it.
#[derive(Debug, Clone, Serialize, sqlx::FromRow, PartialEq)]
pub struct ReportRow {
    pub id: i64,
    pub received_at: String,
    pub channel: String,
    pub format: String,
    pub subject: Option<String>,
    pub category: Option<String>,
}

/// Feed events about the indicator on one day, from one feed.
#[derive(Debug, Clone, Serialize, sqlx::FromRow, PartialEq)]
pub struct FeedDay {
    pub day: String,
    pub feed: String,
    pub events: i64,
    /// Files (imports) that had them.
    pub files: i64,
}

/// A notification that covered the indicator: about one of its incidents, or a
/// feed's daily notification that listed it.
#[derive(Debug, Clone, Serialize, sqlx::FromRow, PartialEq)]
pub struct NotificationRow {
    pub id: i64,
    pub created_at: String,
    pub recipient: String,
    pub recipient_name: Option<String>,
    pub subject: String,
    pub addresses: i64,
    pub feed: Option<String>,
    pub feed_day: Option<String>,
    /// The mail's state in the outbox: `queued`, `sent`, `failed`, …
    pub status: Option<String>,
    pub sent_at: Option<String>,
}

/// What incident handling knows about an indicator.
#[derive(Debug, Clone, Serialize)]
pub struct Profile {
    pub incidents: Seen,
    pub latest_incidents: Vec<Incident>,
    pub reports: Seen,
    pub latest_reports: Vec<ReportRow>,
    /// `count` is events (over every day); first and last are days.
    pub feed_events: Seen,
    /// The most recent [`FEED_DAYS`] rows, newest first.
    pub feed_days: Vec<FeedDay>,
    pub notifications: Seen,
    pub latest_notifications: Vec<NotificationRow>,
}

/// The page's incident-handling half: every part through an index, none counting
/// past [`COUNT_CAP`].
pub async fn profile(store: &Store, indicator: &Indicator) -> Result<Profile> {
    let filter = Filter {
        search: Some(indicator.query()),
        limit: LATEST,
        descending: true,
        ..Filter::default()
    };
    // One walk of the indicator's index range, newest first, up to the cap: the
    // count, the last seen, and the reports, from the same rows.
    let (cond, binds) = incident_condition(indicator);
    let sql = format!(
        "SELECT i.created_at, i.report_id FROM incidents i WHERE {cond} AND i.exercise = 0 ORDER BY i.id DESC LIMIT {}",
        COUNT_CAP + 1
    );
    let mut q = sqlx::query_as::<_, (String, i64)>(AssertSqlSafe(sql));
    for b in &binds {
        q = q.bind(b.clone());
    }
    let walked = q.fetch_all(store.pool()).await?;
    let latest_incidents = incidents::list(store, &filter).await?;
    let first = match walked.last() {
        Some((at, _)) if (walked.len() as i64) <= COUNT_CAP => Some(at.clone()),
        _ => incident_first(store, indicator).await?,
    };
    let incidents = Seen::of(
        walked.len() as i64,
        first,
        walked.first().map(|(at, _)| at.clone()),
    );

    let (reports, latest_reports) =
        reports_naming(store, indicator, walked.iter().map(|(_, r)| *r)).await?;
    let hits = set_hits(store, indicator).await?;
    let (feed_events, feed_days) = feed_days(store, indicator, &hits).await?;
    let (notifications, latest_notifications) = notifications(store, indicator, &hits).await?;
    Ok(Profile {
        incidents,
        latest_incidents,
        reports,
        latest_reports,
        feed_events,
        feed_days,
        notifications,
        latest_notifications,
    })
}

/// The indicator's incidents' condition, with its binds (all text or all numbers).
fn incident_condition(indicator: &Indicator) -> (&'static str, Vec<String>) {
    match indicator {
        Indicator::Ip(ip) => ("i.ip_key = $1", vec![search::ip_key(*ip)]),
        Indicator::Asn(n) => ("i.asn = CAST($1 AS BIGINT)", vec![n.to_string()]),
        Indicator::Domain(d) => {
            let key = search::host_key(d).unwrap_or_default();
            (
                "(i.host_key = $1 OR (i.host_key > $2 AND i.host_key < $3))",
                vec![key.clone(), format!("{key}."), format!("{key}/")],
            )
        }
    }
}

/// When the first incident about the indicator came in: the start of its index
/// range in number order.
async fn incident_first(store: &Store, indicator: &Indicator) -> Result<Option<String>> {
    let (cond, binds) = incident_condition(indicator);
    let sql = format!(
        "SELECT i.created_at FROM incidents i WHERE {cond} AND i.exercise = 0 ORDER BY i.id ASC LIMIT 1"
    );
    let mut q = sqlx::query_scalar::<_, String>(AssertSqlSafe(sql));
    for b in &binds {
        q = q.bind(b.clone());
    }
    Ok(q.fetch_optional(store.pool()).await?)
}

/// Reports that opened an incident about the indicator, and (for an address or a
/// domain) reports whose text names it, found in the full-text index.
async fn reports_naming(
    store: &Store,
    indicator: &Indicator,
    opened: impl Iterator<Item = i64>,
) -> Result<(Seen, Vec<ReportRow>)> {
    let cap = COUNT_CAP + 1;
    let mut ids: BTreeSet<i64> = opened.collect();
    let words = match indicator {
        Indicator::Ip(ip) => Some(vec![vec![search::ip_token(*ip)]]),
        Indicator::Domain(d) => Some(vec![
            search::search_text(d)
                .split(' ')
                .map(str::to_string)
                .collect(),
        ]),
        Indicator::Asn(_) => None,
    };
    if let Some(words) = words {
        let matched = search::text_match(store.dialect(), &words);
        let sql = match store.dialect() {
            renkei_core::store::Dialect::Sqlite => format!(
                "SELECT rowid FROM report_search WHERE report_search MATCH $1 ORDER BY rowid DESC LIMIT {cap}"
            ),
            renkei_core::store::Dialect::Postgres => format!(
                "SELECT report_id FROM report_search WHERE body @@ to_tsquery('simple', $1) ORDER BY report_id DESC LIMIT {cap}"
            ),
        };
        ids.extend(
            sqlx::query_scalar::<_, i64>(AssertSqlSafe(sql))
                .bind(matched)
                .fetch_all(store.pool())
                .await?,
        );
    }
    // Drills are never counted (a handful of rows, through their own index).
    let drills: Vec<i64> = sqlx::query_scalar("SELECT id FROM reports WHERE exercise <> 0")
        .fetch_all(store.pool())
        .await?;
    for d in drills {
        ids.remove(&d);
    }
    let latest: Vec<i64> = ids.iter().rev().take(LATEST as usize).copied().collect();
    let rows = if latest.is_empty() {
        Vec::new()
    } else {
        let list = latest
            .iter()
            .map(i64::to_string)
            .collect::<Vec<_>>()
            .join(",");
        sqlx::query_as::<_, ReportRow>(AssertSqlSafe(format!(
            "SELECT r.id, r.received_at, r.channel, r.format, r.subject, r.category FROM reports r
             WHERE r.id IN ({list}) ORDER BY r.id DESC"
        )))
        .fetch_all(store.pool())
        .await?
    };
    // The newest is the first row listed; the oldest is read on its own.
    let last = rows.first().map(|r| r.received_at.clone());
    let first = match ids.first() {
        Some(id) => {
            sqlx::query_scalar("SELECT received_at FROM reports WHERE id = $1")
                .bind(*id)
                .fetch_optional(store.pool())
                .await?
        }
        None => None,
    };
    Ok((Seen::of(ids.len() as i64, first, last), rows))
}

/// The finished files' events about the indicator, from their sets
/// ([`crate::feeds::sets`]). Feeds name addresses, so a domain has none.
async fn set_hits(store: &Store, indicator: &Indicator) -> Result<Vec<feeds::SetHit>> {
    match indicator {
        Indicator::Ip(ip) => feeds::set_hits(store, SetKind::Ip, &feeds::sets::ip_key(*ip)).await,
        Indicator::Asn(n) => feeds::set_hits(store, SetKind::Asn, &feeds::sets::asn_key(*n)).await,
        Indicator::Domain(_) => Ok(Vec::new()),
    }
}

/// Feed events by day: from the files' sets, and from what was kept before them,
/// by address in `feed_sightings` and by AS in `feed_asn_days`.
async fn feed_days(
    store: &Store,
    indicator: &Indicator,
    hits: &[feeds::SetHit],
) -> Result<(Seen, Vec<FeedDay>)> {
    let (table, cond, bind) = match indicator {
        Indicator::Ip(ip) => ("feed_sightings", "ip_key = $1", search::ip_key(*ip)),
        Indicator::Asn(n) => ("feed_asn_days", "asn = CAST($1 AS BIGINT)", n.to_string()),
        Indicator::Domain(_) => return Ok((Seen::default(), Vec::new())),
    };
    let (mut events, mut first, mut last): (i64, Option<String>, Option<String>) =
        sqlx::query_as(AssertSqlSafe(format!(
            "SELECT CAST(COALESCE(SUM(events), 0) AS BIGINT), MIN(day), MAX(day) FROM {table} WHERE {cond}"
        )))
        .bind(&bind)
        .fetch_one(store.pool())
        .await?;
    let before = sqlx::query_as::<_, FeedDay>(AssertSqlSafe(format!(
        "SELECT day, feed, CAST(SUM(events) AS BIGINT) AS events, CAST(COUNT(*) AS BIGINT) AS files FROM {table}
         WHERE {cond} GROUP BY day, feed ORDER BY day DESC, feed LIMIT {FEED_DAYS}"
    )))
    .bind(&bind)
    .fetch_all(store.pool())
    .await?;
    // Each source's newest days hold the newest of both: a day among the newest
    // overall is among the newest of each source that has it.
    // (newest day first, feed) -> (events, files with sets, files before them)
    type Days = BTreeMap<(std::cmp::Reverse<String>, String), (i64, BTreeSet<i64>, i64)>;
    let mut by_day = Days::new();
    for d in before {
        let e = by_day
            .entry((std::cmp::Reverse(d.day), d.feed))
            .or_default();
        e.0 += d.events;
        e.2 += d.files;
    }
    for h in hits {
        events += h.events;
        if first.as_ref().is_none_or(|f| h.day < *f) {
            first = Some(h.day.clone());
        }
        if last.as_ref().is_none_or(|l| h.day > *l) {
            last = Some(h.day.clone());
        }
        let e = by_day
            .entry((std::cmp::Reverse(h.day.clone()), h.feed.clone()))
            .or_default();
        e.0 += h.events;
        e.1.insert(h.report);
    }
    let days = by_day
        .into_iter()
        .take(FEED_DAYS as usize)
        .map(|((day, feed), (events, files, old_files))| FeedDay {
            day: day.0,
            feed,
            events,
            files: files.len() as i64 + old_files,
        })
        .collect();
    Ok((
        Seen {
            count: events,
            capped: false,
            first,
            last,
        },
        days,
    ))
}

/// Notifications about the indicator's incidents, and (for an address) the feed
/// notifications whose batches listed it.
async fn notifications(
    store: &Store,
    indicator: &Indicator,
    hits: &[feeds::SetHit],
) -> Result<(Seen, Vec<NotificationRow>)> {
    const COLS: &str = "n.id, n.created_at, n.recipient, n.recipient_name, n.subject, n.addresses, n.feed, n.feed_day, o.status, o.sent_at";
    let cap = COUNT_CAP + 1;
    let (cond, binds) = incident_condition(indicator);
    let mut sources = vec![format!(
        "SELECT ni.notification_id AS id FROM incidents i JOIN notification_incidents ni ON ni.incident_id = i.id WHERE {cond} AND i.exercise = 0"
    )];
    if let Indicator::Ip(_) = indicator {
        sources.push(format!(
            "SELECT b.notification_id AS id FROM feed_sightings s JOIN feed_batches b ON b.id = s.batch_id WHERE s.ip_key = ${} AND b.notification_id IS NOT NULL",
            binds.len() + 1
        ));
    }
    let sql = format!(
        "SELECT DISTINCT id FROM ({}) AS found ORDER BY id DESC LIMIT {cap}",
        sources.join(" UNION ALL ")
    );
    let mut q = sqlx::query_scalar::<_, i64>(AssertSqlSafe(sql));
    for b in &binds {
        q = q.bind(b.clone());
    }
    if let Indicator::Ip(ip) = indicator {
        q = q.bind(search::ip_key(*ip));
    }
    let mut ids = q.fetch_all(store.pool()).await?;
    if let Indicator::Ip(_) = indicator {
        // The files' sets name the feed notifications that listed the address.
        ids.extend(hits.iter().filter_map(|h| h.notification));
        ids.sort_unstable_by(|a, b| b.cmp(a));
        ids.dedup();
        ids.truncate(cap as usize);
    }
    if ids.is_empty() {
        return Ok((Seen::default(), Vec::new()));
    }
    let ends = [ids[0], *ids.last().unwrap_or(&ids[0])];
    let shown: Vec<i64> = ids
        .iter()
        .take(LATEST as usize)
        .chain(ends.iter())
        .copied()
        .collect();
    let list = shown
        .iter()
        .map(i64::to_string)
        .collect::<Vec<_>>()
        .join(",");
    let rows = sqlx::query_as::<_, NotificationRow>(AssertSqlSafe(format!(
        "SELECT {COLS} FROM notifications n LEFT JOIN outbox o ON o.id = n.outbox_id WHERE n.id IN ({list}) ORDER BY n.id DESC"
    )))
    .fetch_all(store.pool())
    .await?;
    let by_id: HashMap<i64, &NotificationRow> = rows.iter().map(|r| (r.id, r)).collect();
    let when = |id: i64| by_id.get(&id).map(|r| r.created_at.clone());
    let seen = Seen::of(ids.len() as i64, when(ends[1]), when(ends[0]));
    let latest = ids
        .iter()
        .take(LATEST as usize)
        .filter_map(|id| by_id.get(id).map(|r| (*r).clone()))
        .collect();
    Ok((seen, latest))
}

/// One address's events in a chunk: its key, day, the batch that holds them (which
/// names the recipient and, once sent, the notification), its AS, and how many.
pub struct Sighting {
    pub ip_key: String,
    pub day: String,
    pub batch_id: i64,
    pub asn: Option<i64>,
    pub events: i64,
}

/// Stages a feed chunk's events by address, appended as they come: random writes
/// into an index of millions of addresses, chunk by chunk, cost more than the rest
/// of the import. [`merge_sightings`] puts a finished file's in place in one pass.
pub async fn stage_sightings(
    tx: &mut Tx,
    report: i64,
    feed: &str,
    rows: impl Iterator<Item = Sighting>,
) -> Result<()> {
    let rows: Vec<serde_json::Value> = rows
        .map(|s| {
            serde_json::json!({"k": s.ip_key, "d": s.day, "b": s.batch_id, "a": s.asn, "n": s.events})
        })
        .collect();
    let sql = format!(
        "INSERT INTO feed_sightings_staged (report_id, feed, ip_key, day, batch_id, asn, events)
         SELECT $2, $1, j.k, j.d, j.b, j.a, j.n FROM {}",
        json_rows(
            tx.dialect(),
            3,
            &[
                ("k", JsonCol::Text),
                ("d", JsonCol::Text),
                ("b", JsonCol::Int),
                ("a", JsonCol::Int),
                ("n", JsonCol::Int),
            ]
        )
    );
    for chunk in rows.chunks(5000) {
        sqlx::query(AssertSqlSafe(sql.clone()))
            .bind(feed)
            .bind(report)
            .bind(serde_json::Value::Array(chunk.to_vec()).to_string())
            .execute(tx.conn())
            .await?;
    }
    Ok(())
}

/// Moves a file's staged sightings into `feed_sightings` (by address) and
/// `feed_asn_days` (by AS), in key order, adding to what is there; returns how
/// many staged rows it moved.
pub async fn merge_sightings(store: &Store, report: i64) -> Result<u64> {
    let mut tx = store.begin().await?;
    sqlx::query(
        "INSERT INTO feed_sightings (ip_key, day, feed, report_id, batch_id, events)
         SELECT ip_key, day, feed, report_id, MIN(batch_id), SUM(events) FROM feed_sightings_staged
         WHERE report_id = $1 GROUP BY ip_key, day, feed, report_id ORDER BY ip_key, day, feed
         ON CONFLICT (ip_key, day, feed, report_id) DO UPDATE SET events = feed_sightings.events + excluded.events",
    )
    .bind(report)
    .execute(tx.conn())
    .await?;
    sqlx::query(
        "INSERT INTO feed_asn_days (asn, day, feed, report_id, events)
         SELECT asn, day, feed, report_id, SUM(events) FROM feed_sightings_staged
         WHERE report_id = $1 AND asn IS NOT NULL GROUP BY asn, day, feed, report_id ORDER BY asn, day, feed
         ON CONFLICT (asn, day, feed, report_id) DO UPDATE SET events = feed_asn_days.events + excluded.events",
    )
    .bind(report)
    .execute(tx.conn())
    .await?;
    let moved = sqlx::query("DELETE FROM feed_sightings_staged WHERE report_id = $1")
        .bind(report)
        .execute(tx.conn())
        .await?
        .rows_affected();
    tx.commit().await?;
    Ok(moved)
}

/// Merges what finished files left staged (a node that stopped between a file's
/// last chunk and its merge). Returns how many files it merged.
pub async fn merge_finished(store: &Store) -> Result<usize> {
    let reports: Vec<i64> = sqlx::query_scalar(
        "SELECT DISTINCT s.report_id FROM feed_sightings_staged s JOIN feed_imports f ON f.report_id = s.report_id
         WHERE f.chunks_done >= f.chunks",
    )
    .fetch_all(store.pool())
    .await?;
    for report in &reports {
        merge_sightings(store, *report).await?;
    }
    Ok(reports.len())
}

/// Setting that marks how far back the feed batches kept before sightings existed
/// have been read: the next batch to read is at or below it; 0 when done.
const FEED_MARK: &str = "indicators.backfill.feed_batches";

/// Reads up to `limit` feed batches kept before sightings existed, newest first,
/// into `feed_sightings` and `feed_asn_days`. Returns how many it read (0: done).
pub async fn backfill(store: &Store, limit: i64) -> Result<usize> {
    let mark: Option<String> = sqlx::query_scalar("SELECT value FROM settings WHERE key = $1")
        .bind(FEED_MARK)
        .fetch_optional(store.pool())
        .await?;
    let mark: i64 = mark.and_then(|m| m.parse().ok()).unwrap_or(0);
    if mark <= 0 {
        return Ok(0);
    }
    let batches: Vec<(i64, i64, String, String, Vec<u8>)> = sqlx::query_as(
        "SELECT id, report_id, feed, day, data FROM feed_batches WHERE id <= $1 ORDER BY id DESC LIMIT $2",
    )
    .bind(mark)
    .bind(limit)
    .fetch_all(store.pool())
    .await?;
    let mut tx = store.begin().await?;
    let mut staged = BTreeSet::new();
    for (id, report, feed, day, data) in &batches {
        if data.is_empty() {
            // A file's row per recipient's day since sets: its events are there.
            continue;
        }
        let mut csv = Vec::new();
        let read =
            std::io::Read::read_to_end(&mut flate2::read::GzDecoder::new(&data[..]), &mut csv);
        if read.is_err() {
            // A batch that does not unpack has nothing to index; it is still read.
            tracing::warn!(batch = id, "a feed batch does not unpack; not indexed");
            continue;
        }
        let mut by_ip: HashMap<String, (Option<i64>, i64)> = HashMap::new();
        for item in crate::notify::items_of_csv(&csv) {
            let address = item.ip.split('/').next().unwrap_or_default();
            if let Ok(ip) = address.parse::<IpAddr>() {
                let seen = by_ip
                    .entry(search::ip_key(ip))
                    .or_insert((item.asn.map(i64::from), 0));
                seen.1 += 1;
            }
        }
        stage_sightings(
            &mut tx,
            *report,
            feed,
            by_ip.into_iter().map(|(ip_key, (asn, events))| Sighting {
                ip_key,
                day: day.clone(),
                batch_id: *id,
                asn,
                events,
            }),
        )
        .await?;
        staged.insert(*report);
    }
    let next = batches.last().map_or(0, |b| b.0 - 1);
    sqlx::query("UPDATE settings SET value = $1 WHERE key = $2")
        .bind(next.to_string())
        .bind(FEED_MARK)
        .execute(tx.conn())
        .await?;
    tx.commit().await?;
    for report in staged {
        merge_sightings(store, report).await?;
    }
    Ok(batches.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_indicator_is_read_from_its_kind_and_value() {
        assert_eq!(
            Indicator::parse("ip", "203.0.113.5").unwrap(),
            Indicator::Ip("203.0.113.5".parse().unwrap())
        );
        assert_eq!(
            Indicator::parse("asn", "AS64500").unwrap(),
            Indicator::Asn(64500)
        );
        assert_eq!(
            Indicator::parse("domain", "WWW.Example.JP.").unwrap(),
            Indicator::Domain("www.example.jp".into())
        );
        let bad = Indicator::parse("ip", "203.0.113.999")
            .unwrap_err()
            .to_string();
        assert!(bad.contains("203.0.113.999"), "{bad}");
        assert!(Indicator::parse("asn", "AS-x").is_err());
        assert!(Indicator::parse("domain", "localhost").is_err());
        assert!(Indicator::parse("url", "x").is_err());
    }
}
