//! Bulk feeds: a CSV of hosts seen scanning, infected or vulnerable becomes events
//! (no ticket per row), each enriched and assigned to a recipient; events are kept for
//! statistics and every recipient gets one notification per day covering its hosts.
//! The file is stored as received before it is read.

use std::collections::{HashMap, HashSet};
use std::net::IpAddr;

use renkei_core::audit::{self, Actor, Event};
use renkei_core::tlp::Tlp;
use renkei_core::{Store, time};
use renkei_enrich::Tables;
use renkei_formats::feed::{Columns, Mapping};
use serde::Serialize;
use serde_json::json;
use sha2::{Digest, Sha256};

use crate::notify::{self, Item, Recipient};
use crate::{IncidentError, Result};

/// One row as read.
#[derive(Debug, Clone)]
pub struct FeedEvent {
    pub ip: IpAddr,
    pub day: String,
    pub seen_at: Option<String>,
    pub port: Option<u16>,
    pub protocol: Option<String>,
    pub event_type: u32,
    pub asn: Option<u32>,
    pub country: Option<[u8; 2]>,
    /// Index into [`Aggregated::recipients`].
    pub recipient: Option<u32>,
}

/// A bad row.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct RowProblem {
    pub line: u64,
    pub message: String,
}

/// A feed read, enriched and grouped per recipient.
#[derive(Debug, Default)]
pub struct Aggregated {
    pub events: Vec<FeedEvent>,
    pub event_types: Vec<String>,
    pub recipients: Vec<Recipient>,
    pub rows: u64,
    pub bad_rows: u64,
    pub problems: Vec<RowProblem>,
    /// Rows whose address has no recipient.
    pub unresolved: u64,
}

const MAX_PROBLEMS: usize = 100;

/// Reads, enriches and groups a feed: the part of an import that does not touch the
/// database.
pub fn aggregate(
    tables: &Tables,
    mapping: &Mapping,
    data: &[u8],
    home_country: Option<&str>,
    failing: &HashSet<String>,
    today: &str,
) -> Result<Aggregated> {
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(true)
        .flexible(true)
        .from_reader(data);
    let header = reader
        .byte_headers()
        .map_err(|e| IncidentError::invalid("feed", format!("unreadable header: {e}")))?
        .clone();
    let cols = Columns::find(mapping, &header)
        .map_err(|e| IncidentError::invalid("feed", e.to_string()))?;
    let mut out = Aggregated::default();
    let mut types: HashMap<Vec<u8>, u32> = HashMap::new();
    let fixed_type = mapping
        .event_type
        .clone()
        .unwrap_or_else(|| mapping.category.clone());
    let mut by_email: HashMap<String, u32> = HashMap::new();
    let mut record = csv::ByteRecord::new();
    loop {
        let line = reader.position().line();
        match reader.read_byte_record(&mut record) {
            Ok(false) => break,
            Ok(true) => {}
            Err(e) => {
                out.bad_rows += 1;
                if out.problems.len() < MAX_PROBLEMS {
                    out.problems.push(RowProblem {
                        line,
                        message: format!("unreadable CSV: {e}"),
                    });
                }
                continue;
            }
        }
        out.rows += 1;
        let field = |i: Option<usize>| {
            i.and_then(|i| record.get(i))
                .map(<[u8]>::trim_ascii)
                .filter(|f| !f.is_empty())
        };
        let ip = match field(Some(cols.ip))
            .and_then(|f| std::str::from_utf8(f).ok())
            .and_then(|s| s.parse::<IpAddr>().ok())
        {
            Some(ip) => ip,
            None => {
                out.bad_rows += 1;
                if out.problems.len() < MAX_PROBLEMS {
                    out.problems.push(RowProblem {
                        line,
                        message: format!(
                            "{:?} is not an IP address",
                            String::from_utf8_lossy(field(Some(cols.ip)).unwrap_or_default())
                        ),
                    });
                }
                continue;
            }
        };
        let seen_at = field(cols.time).map(|t| String::from_utf8_lossy(t).into_owned());
        let day = match &seen_at {
            Some(t) if t.len() >= 10 && t.as_bytes()[4] == b'-' && t.as_bytes()[7] == b'-' => {
                t[..10].to_string()
            }
            _ => today.to_string(),
        };
        let type_bytes = field(cols.event_type).unwrap_or(fixed_type.as_bytes());
        let event_type = match types.get(type_bytes) {
            Some(t) => *t,
            None => {
                let t = out.event_types.len() as u32;
                out.event_types
                    .push(String::from_utf8_lossy(type_bytes).into_owned());
                types.insert(type_bytes.to_vec(), t);
                t
            }
        };
        let hit = tables.hit(ip);
        let country = hit
            .country
            .as_ref()
            .and_then(|c| std::str::from_utf8(c).ok());
        let choice = notify::choose(
            country,
            hit.abuse,
            hit.csirt,
            home_country,
            failing,
            &mut Vec::new(),
        );
        let recipient = choice.map(|c| match by_email.get(c.email()) {
            Some(i) => *i,
            None => {
                let i = out.recipients.len() as u32;
                by_email.insert(c.email().to_string(), i);
                out.recipients.push(c.recipient(country));
                i
            }
        });
        if recipient.is_none() {
            out.unresolved += 1;
        }
        out.events.push(FeedEvent {
            ip,
            day,
            seen_at,
            port: field(cols.port)
                .and_then(|p| std::str::from_utf8(p).ok())
                .and_then(|p| p.parse().ok()),
            protocol: field(cols.protocol).map(|p| String::from_utf8_lossy(p).to_ascii_lowercase()),
            event_type,
            asn: hit.asn,
            country: hit.country,
            recipient,
        });
    }
    Ok(out)
}

/// What an import did.
#[derive(Debug, Clone, Serialize)]
pub struct FeedReport {
    pub feed: String,
    /// The report holding the file as received.
    pub report: i64,
    pub rows: u64,
    pub events: u64,
    pub bad_rows: u64,
    pub problems: Vec<RowProblem>,
    pub recipients: usize,
    /// Notifications queued (one per recipient and day; none for a day already sent).
    pub notifications: usize,
    pub unresolved: u64,
}

/// Imports a feed: stores the file, reads it, keeps the events and queues one
/// notification per recipient per day. `progress(done, total)` follows the writing.
#[allow(clippy::too_many_arguments)]
pub async fn import(
    store: &Store,
    tables: &Tables,
    settings: &notify::Settings,
    actor: &Actor,
    feed: &str,
    mapping: &Mapping,
    data: &[u8],
    tlp: Tlp,
    progress: &(dyn Fn(u64, u64) + Send + Sync),
) -> Result<FeedReport> {
    let feed = feed.trim();
    if feed.is_empty() || feed.len() > 100 {
        return Err(IncidentError::invalid(
            "feed",
            "give the feed a name (at most 100 characters)",
        ));
    }
    // The file as received, first.
    let started = std::time::Instant::now();
    let now = time::now_str();
    let mut tx = store.begin().await?;
    let report: i64 = sqlx::query_scalar(
        "INSERT INTO reports (received_at, channel, format, raw, raw_sha256, raw_size, status, tlp, subject) VALUES ($1, 'import', 'csv', $2, $3, $4, 'feed', $5, $6) RETURNING id",
    )
    .bind(&now)
    .bind(data.to_vec())
    .bind(hex::encode(Sha256::digest(data)))
    .bind(data.len() as i64)
    .bind(tlp.as_str())
    .bind(format!("feed {feed}"))
    .fetch_one(tx.conn())
    .await?;
    audit::record(
        &mut tx,
        actor,
        Event {
            action: "report.received",
            object_type: "report",
            object_id: report.to_string(),
            changes: json!({"channel": "import", "format": "csv", "feed": feed, "size": data.len()}),
        },
    )
    .await?;
    tx.commit().await?;

    let failing: HashSet<String> = renkei_enrich::sources::all_failing(store)
        .await?
        .into_iter()
        .map(|f| f.email)
        .collect();
    let today = &now[..10];
    let agg = aggregate(
        tables,
        mapping,
        data,
        settings.home_country.as_deref(),
        &failing,
        today,
    )?;
    let total = agg.events.len() as u64;
    let read_at = started.elapsed();

    // Events per recipient and day, as compressed CSV (a few rows, whatever the
    // feed's size), counts per day, type and country, then one mail per recipient
    // per day.
    let mut groups: HashMap<(Option<u32>, &str), Vec<&FeedEvent>> = HashMap::new();
    let mut counts: HashMap<(&str, u32, Option<[u8; 2]>), i64> = HashMap::new();
    for e in &agg.events {
        groups
            .entry((e.recipient, e.day.as_str()))
            .or_default()
            .push(e);
        *counts
            .entry((e.day.as_str(), e.event_type, e.country))
            .or_default() += 1;
    }
    let mut keys: Vec<(Option<u32>, &str)> = groups.keys().copied().collect();
    keys.sort();
    let mut tx = store.begin().await?;
    let mut count_rows: Vec<_> = counts.into_iter().collect();
    count_rows.sort();
    for chunk in count_rows.chunks(40) {
        let sql = format!(
            "INSERT INTO feed_counts (report_id, feed, day, category, event_type, country, events) VALUES {}",
            renkei_core::store::value_rows(chunk.len(), 7)
        );
        let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
        for ((day, ty, country), n) in chunk {
            q = q
                .bind(report)
                .bind(feed)
                .bind(day.to_string())
                .bind(mapping.category.clone())
                .bind(agg.event_types[*ty as usize].clone())
                .bind(country.map(|c| String::from_utf8_lossy(&c).into_owned()))
                .bind(*n);
        }
        q.execute(tx.conn()).await?;
    }
    let mut queued = 0;
    let mut done = 0u64;
    for key in keys {
        let events = &groups[&key];
        let items: Vec<Item> = events
            .iter()
            .map(|e| Item {
                incident: 0,
                ip: e.ip.to_string(),
                category: agg.event_types[e.event_type as usize].clone(),
                first_seen: e.seen_at.clone().unwrap_or_else(|| e.day.clone()),
                asn: e.asn,
                as_name: None,
                country: e.country.map(|c| String::from_utf8_lossy(&c).into_owned()),
                ports: e.port.into_iter().collect(),
            })
            .collect();
        let recipient = key.0.map(|r| &agg.recipients[r as usize]);
        let notification = match recipient {
            Some(r) => {
                notify::queue_feed(
                    &mut tx,
                    store,
                    settings,
                    actor,
                    r,
                    feed,
                    key.1,
                    &mapping.category,
                    &items,
                    tlp,
                )
                .await?
            }
            None => None,
        };
        queued += notification.is_some() as usize;
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        std::io::Write::write_all(&mut gz, &notify::csv_of(&items))
            .map_err(|e| IncidentError::invalid("feed", e.to_string()))?;
        let packed = gz
            .finish()
            .map_err(|e| IncidentError::invalid("feed", e.to_string()))?;
        sqlx::query("INSERT INTO feed_batches (report_id, feed, day, recipient, notification_id, events, data) VALUES ($1, $2, $3, $4, $5, $6, $7)")
            .bind(report)
            .bind(feed)
            .bind(key.1)
            .bind(recipient.map(|r| r.email.clone()))
            .bind(notification)
            .bind(items.len() as i64)
            .bind(packed)
            .execute(tx.conn())
            .await?;
        done += items.len() as u64;
        progress(done, total);
    }
    audit::record(
        &mut tx,
        actor,
        Event {
            action: "feed.imported",
            object_type: "report",
            object_id: report.to_string(),
            changes: json!({"feed": feed, "rows": agg.rows, "events": total, "bad_rows": agg.bad_rows, "notifications": queued, "unresolved": agg.unresolved}),
        },
    )
    .await?;
    tx.commit().await?;
    tracing::info!(
        feed,
        rows = agg.rows,
        stored_and_read_ms = read_at.as_millis() as u64,
        total_ms = started.elapsed().as_millis() as u64,
        "feed imported"
    );
    Ok(FeedReport {
        feed: feed.to_string(),
        report,
        rows: agg.rows,
        events: total,
        bad_rows: agg.bad_rows,
        problems: agg.problems,
        recipients: agg.recipients.len(),
        notifications: queued,
        unresolved: agg.unresolved,
    })
}
