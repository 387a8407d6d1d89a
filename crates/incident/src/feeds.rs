//! Bulk feeds: a CSV of hosts seen scanning, infected or vulnerable becomes events
//! (no ticket per row), each enriched and assigned to a recipient; events are kept for
//! statistics and every recipient gets one notification per day covering its hosts.
//!
//! The file is stored as received before it is read, then split into chunks of rows
//! that any node may process (in this process, or pulled from the bus): each chunk
//! is counted once, keyed by the file (its hash, per feed) and its first row, and the
//! node that finishes the last chunk queues the file's notifications in the same
//! transaction. Sending the same file again resumes an unfinished import and changes
//! nothing in a finished one.

use std::collections::{HashMap, HashSet};
use std::net::IpAddr;

use renkei_core::Store;
use renkei_core::audit::{self, Actor, Event};
use renkei_core::tlp::Tlp;
use renkei_enrich::Tables;
use renkei_formats::feed::{Columns, Mapping};
use serde::{Deserialize, Serialize};
use serde_json::json;
use sha2::{Digest, Sha256};

use crate::notify::{self, Item, Recipient};
use crate::{IncidentError, Result};

/// One row as read.
#[derive(Debug, Clone)]
pub struct FeedEvent {
    pub ip: IpAddr,
    /// The row named a range (a blocklist's CIDR), `ip` being its first address:
    /// the event is about the prefix, routed to the prefix's contact.
    pub prefix: Option<u8>,
    pub day: String,
    pub seen_at: Option<String>,
    pub port: Option<u16>,
    pub protocol: Option<String>,
    pub event_type: u32,
    pub asn: Option<u32>,
    pub country: Option<[u8; 2]>,
    /// Index into [`Aggregated::recipients`].
    pub recipient: Option<u32>,
    /// What else the row said, when the mapping keeps details:
    /// `hostname=host.example; tag=ssh`.
    pub details: Option<String>,
}

/// The longest details kept for one event; a row is a sighting, not a document.
const MAX_DETAILS: usize = 1000;

/// `name=value; name=value` of a row's non-empty detail columns, `;` and `\` in
/// values escaped with `\`, cut at [`MAX_DETAILS`] on a field's end.
fn details_of(record: &csv::ByteRecord, columns: &[(usize, String)]) -> Option<String> {
    let mut out = String::new();
    for (i, name) in columns {
        let Some(value) = record
            .get(*i)
            .map(<[u8]>::trim_ascii)
            .filter(|v| !v.is_empty())
        else {
            continue;
        };
        let value = renkei_formats::lossy_text(value);
        let escaped = value.replace('\\', "\\\\").replace(';', "\\;");
        if out.len() + name.len() + escaped.len() + 3 > MAX_DETAILS {
            break;
        }
        if !out.is_empty() {
            out.push_str("; ");
        }
        out.push_str(name);
        out.push('=');
        out.push_str(&escaped);
    }
    (!out.is_empty()).then_some(out)
}

/// A bad row.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
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
///
/// `line_offset` is added to the line numbers of problems: a chunk's rows keep the
/// lines they have in the whole file.
pub fn aggregate(
    tables: &Tables,
    mapping: &Mapping,
    data: &[u8],
    home_country: Option<&str>,
    failing: &HashSet<String>,
    today: &str,
    line_offset: u64,
) -> Result<Aggregated> {
    let (mut reader, cols) = open(mapping, data)?;
    let mut out = Aggregated::default();
    let mut types: HashMap<Vec<u8>, u32> = HashMap::new();
    let fixed_type = mapping
        .event_type
        .clone()
        .unwrap_or_else(|| mapping.category.clone());
    let mut by_email: HashMap<String, u32> = HashMap::new();
    let mut record = csv::ByteRecord::new();
    loop {
        let line = reader.position().line() + line_offset;
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
        let (ip, prefix) = match field(Some(cols.ip))
            .and_then(|f| std::str::from_utf8(f).ok())
            .and_then(address_or_prefix)
        {
            Some(found) => found,
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
        let seen_at = field(cols.time).map(renkei_formats::lossy_text);
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
                out.event_types.push(renkei_formats::lossy_text(type_bytes));
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
            prefix,
            day,
            seen_at,
            port: field(cols.port)
                .and_then(|p| std::str::from_utf8(p).ok())
                .and_then(|p| p.parse().ok()),
            protocol: field(cols.protocol)
                .map(|p| renkei_formats::lossy_text(p).to_ascii_lowercase()),
            event_type,
            asn: hit.asn,
            country: hit.country,
            recipient,
            details: details_of(&record, &cols.details),
        });
    }
    Ok(out)
}

/// An address, or a CIDR range as its first address and length (`192.0.2.0/24`;
/// host bits set are cleared). A full-length prefix is the address itself.
fn address_or_prefix(text: &str) -> Option<(IpAddr, Option<u8>)> {
    let Some((addr, len)) = text.split_once('/') else {
        return text.parse().ok().map(|ip| (ip, None));
    };
    let len: u8 = len.parse().ok()?;
    match addr.parse::<IpAddr>().ok()? {
        IpAddr::V4(a) if len <= 32 => {
            let mask = if len == 0 { 0 } else { u32::MAX << (32 - len) };
            let net = IpAddr::V4((u32::from(a) & mask).into());
            Some((net, (len < 32).then_some(len)))
        }
        IpAddr::V6(a) if len <= 128 => {
            let mask = if len == 0 {
                0
            } else {
                u128::MAX << (128 - len)
            };
            let net = IpAddr::V6((u128::from(a) & mask).into());
            Some((net, (len < 128).then_some(len)))
        }
        _ => None,
    }
}

/// Rows per chunk: small enough that a node killed mid-chunk loses seconds of work,
/// large enough that per-chunk costs (a transaction, a message) stay out of sight.
pub const CHUNK_ROWS: usize = 10_000;

/// A reader past the feed's header, and where the mapping's columns are in it; fails
/// when the header is unreadable or lacks the address column.
fn open<'a>(mapping: &Mapping, data: &'a [u8]) -> Result<(csv::Reader<&'a [u8]>, Columns)> {
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
    Ok((reader, cols))
}

/// A slice of a feed's rows, with the header row in front so that it reads alone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Chunk {
    /// The number of the chunk's first row in the file, counted from 0: with the file
    /// (its report), the key that makes processing a chunk twice count it once.
    pub first_row: u64,
    /// What to add to a line number in `data` for the line in the whole file.
    pub line_offset: u64,
    pub data: Vec<u8>,
}

/// Splits a feed into chunks of at most `rows` rows, on record boundaries (a quoted
/// field may hold a line break). Fails when the header lacks the mapping's address
/// column.
pub fn split(mapping: &Mapping, data: &[u8], rows: usize) -> Result<Vec<Chunk>> {
    let rows = rows.max(1);
    let (mut reader, _) = open(mapping, data)?;
    let body = reader.position().clone();
    let head = &data[..body.byte() as usize];
    let mut chunks = Vec::new();
    let mut record = csv::ByteRecord::new();
    let mut start = body.clone();
    let (mut in_chunk, mut first_row) = (0usize, 0u64);
    loop {
        let before = reader.position().byte();
        let at_end = matches!(reader.read_byte_record(&mut record), Ok(false));
        // A record that fails to read still moves the reader on; one that does not
        // would loop forever, so it ends the file.
        let stuck = !at_end && reader.position().byte() == before;
        if !at_end && !stuck {
            in_chunk += 1;
        }
        if in_chunk > 0 && (in_chunk == rows || at_end || stuck) {
            let end = reader.position().byte() as usize;
            let mut chunk = Vec::with_capacity(head.len() + end - start.byte() as usize);
            chunk.extend_from_slice(head);
            chunk.extend_from_slice(&data[start.byte() as usize..end]);
            chunks.push(Chunk {
                first_row,
                line_offset: start.line() - body.line(),
                data: chunk,
            });
            first_row += in_chunk as u64;
            in_chunk = 0;
            start = reader.position().clone();
        }
        if at_end || stuck {
            break;
        }
    }
    Ok(chunks)
}

/// What an import did, or has done so far.
#[derive(Debug, Clone, Serialize)]
pub struct FeedReport {
    pub feed: String,
    /// The report holding the file as received.
    pub report: i64,
    pub rows: u64,
    pub events: u64,
    pub bad_rows: u64,
    /// The first problems, by line.
    pub problems: Vec<RowProblem>,
    pub recipients: usize,
    /// Notifications queued (one per recipient and day; none for a day already sent).
    pub notifications: usize,
    pub unresolved: u64,
    pub chunks: u64,
    pub chunks_done: u64,
    /// Every chunk is counted and the notifications are queued.
    pub finished: bool,
    /// The file had been sent before: this is that import.
    pub duplicate: bool,
}

/// A feed file stored and split, ready for its chunks to be processed.
#[derive(Debug)]
pub struct Received {
    pub report: i64,
    pub sha256: String,
    /// The same file for the same feed came before; `chunks` are then those left to
    /// do (all of them: the done ones are skipped when processed), none if finished.
    pub duplicate: bool,
    pub chunks: Vec<Chunk>,
}

fn check_name(feed: &str) -> Result<&str> {
    let feed = feed.trim();
    if feed.is_empty() || feed.len() > 100 {
        return Err(IncidentError::invalid(
            "feed",
            "give the feed a name (at most 100 characters)",
        ));
    }
    Ok(feed)
}

/// Stores a feed file as received (its first act), then splits it. The same file for
/// the same feed again is the same import.
#[allow(clippy::too_many_arguments)]
pub async fn receive(
    store: &Store,
    actor: &Actor,
    feed: &str,
    mapping: &Mapping,
    data: &[u8],
    tlp: Tlp,
    rows_per_chunk: usize,
) -> Result<Received> {
    let feed = check_name(feed)?;
    let sha256 = hex::encode(Sha256::digest(data));
    if let Some(again) =
        received_before(store, feed, &sha256, mapping, data, rows_per_chunk).await?
    {
        return Ok(again);
    }
    let now = store.now_str();
    let split = split(mapping, data, rows_per_chunk);
    let mut tx = store.begin().await?;
    let report: i64 = sqlx::query_scalar(
        "INSERT INTO reports (received_at, channel, format, raw, raw_sha256, raw_size, status, tlp, subject) VALUES ($1, 'import', 'csv', $2, $3, $4, 'feed', $5, $6) RETURNING id",
    )
    .bind(&now)
    .bind(data.to_vec())
    .bind(&sha256)
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
            changes: json!({"channel": "import", "format": "csv", "feed": feed, "sha256": sha256, "size": data.len()}),
        },
    )
    .await?;
    let chunks = match split {
        Ok(chunks) => chunks,
        Err(e) => {
            // Kept, though it cannot be read.
            tx.commit().await?;
            return Err(e);
        }
    };
    let mapping_json = serde_json::to_string(mapping)
        .map_err(|e| IncidentError::invalid("feed", e.to_string()))?;
    let taken = sqlx::query(
        "INSERT INTO feed_imports (report_id, feed, sha256, mapping, tlp, day, chunks, received_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (feed, sha256) DO NOTHING",
    )
    .bind(report)
    .bind(feed)
    .bind(&sha256)
    .bind(mapping_json)
    .bind(tlp.as_str())
    .bind(&now[..10])
    .bind(chunks.len() as i64)
    .bind(&now)
    .execute(tx.conn())
    .await?
    .rows_affected();
    if taken == 0 {
        // Another node took the same file a moment ago.
        drop(tx);
        return received_before(store, feed, &sha256, mapping, data, rows_per_chunk)
            .await?
            .ok_or(IncidentError::NotFound("feed import"));
    }
    if chunks.is_empty() {
        let import = Import {
            report,
            feed: feed.to_string(),
            mapping: mapping.clone(),
            tlp,
            day: now[..10].to_string(),
        };
        finish(&mut tx, store, &notify::Settings::default(), actor, &import).await?;
    }
    tx.commit().await?;
    Ok(Received {
        report,
        sha256,
        duplicate: false,
        chunks,
    })
}

async fn received_before(
    store: &Store,
    feed: &str,
    sha256: &str,
    mapping: &Mapping,
    data: &[u8],
    rows_per_chunk: usize,
) -> Result<Option<Received>> {
    let row: Option<(i64, Option<String>)> = sqlx::query_as(
        "SELECT report_id, finished_at FROM feed_imports WHERE feed = $1 AND sha256 = $2",
    )
    .bind(feed)
    .bind(sha256)
    .fetch_optional(store.pool())
    .await?;
    let Some((report, finished)) = row else {
        return Ok(None);
    };
    let chunks = match finished {
        Some(_) => Vec::new(),
        None => split(mapping, data, rows_per_chunk)?,
    };
    Ok(Some(Received {
        report,
        sha256: sha256.to_string(),
        duplicate: true,
        chunks,
    }))
}

/// An import as stored: what processing one of its chunks needs.
struct Import {
    report: i64,
    feed: String,
    mapping: Mapping,
    tlp: Tlp,
    day: String,
}

async fn load_import(store: &Store, report: i64) -> Result<Import> {
    let (feed, mapping, tlp, day): (String, String, String, String) =
        sqlx::query_as("SELECT feed, mapping, tlp, day FROM feed_imports WHERE report_id = $1")
            .bind(report)
            .fetch_optional(store.pool())
            .await?
            .ok_or(IncidentError::NotFound("feed import"))?;
    Ok(Import {
        report,
        feed,
        mapping: serde_json::from_str(&mapping)
            .map_err(|e| IncidentError::invalid("feed", format!("stored mapping: {e}")))?,
        tlp: Tlp::parse(&tlp)?,
        day,
    })
}

/// Who a batch's notification goes to, as kept with the batch until the import's
/// last chunk is done (the address is the batch's `recipient`).
#[derive(Serialize, Deserialize)]
struct KeptRecipient {
    name: Option<String>,
    kind: notify::RecipientKind,
    lang: String,
    country: Option<String>,
    pgp_key: Option<String>,
}

/// What processing a chunk did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChunkDone {
    /// The chunk had been counted already (a redelivery); nothing changed.
    pub duplicate: bool,
    /// This was the import's last chunk: its notifications are queued.
    pub finished: bool,
}

/// Reads one chunk and keeps its events, counts and batches, once; the last chunk of
/// an import also queues the import's notifications.
#[allow(clippy::too_many_arguments)]
pub async fn process_chunk(
    store: &Store,
    tables: &Tables,
    settings: &notify::Settings,
    actor: &Actor,
    report: i64,
    chunk: &Chunk,
    node: &str,
) -> Result<ChunkDone> {
    let import = load_import(store, report).await?;
    let seen: Option<i64> = sqlx::query_scalar(
        "SELECT report_id FROM feed_chunks WHERE report_id = $1 AND first_row = $2",
    )
    .bind(report)
    .bind(chunk.first_row as i64)
    .fetch_optional(store.pool())
    .await?;
    if seen.is_some() {
        return Ok(ChunkDone {
            duplicate: true,
            finished: false,
        });
    }
    let failing: HashSet<String> = renkei_enrich::sources::all_failing(store)
        .await?
        .into_iter()
        .map(|f| f.email)
        .collect();
    let agg = aggregate(
        tables,
        &import.mapping,
        &chunk.data,
        settings.home_country.as_deref(),
        &failing,
        &import.day,
        chunk.line_offset,
    )?;

    // Events per recipient and day, as compressed CSV (a few rows per chunk, however
    // many events), and counts per day, type and country.
    let mut groups: HashMap<(Option<u32>, &str), Vec<Item>> = HashMap::new();
    let mut counts: HashMap<(&str, u32, Option<[u8; 2]>), i64> = HashMap::new();
    type Sighted = (Option<u32>, Option<u32>, i64);
    let mut sightings: HashMap<(IpAddr, &str), Sighted> = HashMap::new();
    for e in &agg.events {
        groups
            .entry((e.recipient, e.day.as_str()))
            .or_default()
            .push(Item {
                incident: 0,
                ip: match e.prefix {
                    Some(len) => format!("{}/{len}", e.ip),
                    None => e.ip.to_string(),
                },
                category: agg.event_types[e.event_type as usize].clone(),
                first_seen: e.seen_at.clone().unwrap_or_else(|| e.day.clone()),
                asn: e.asn,
                as_name: None,
                country: e.country.map(|c| renkei_formats::lossy_text(&c)),
                ports: e.port.into_iter().collect(),
                details: e.details.clone(),
            });
        *counts
            .entry((e.day.as_str(), e.event_type, e.country))
            .or_default() += 1;
        // The indicator pages' rows: by address, with its batch and AS.
        let sighting = sightings
            .entry((e.ip, e.day.as_str()))
            .or_insert((e.recipient, e.asn, 0));
        sighting.2 += 1;
    }
    let mut keys: Vec<(Option<u32>, &str)> = groups.keys().copied().collect();
    keys.sort();
    let mut count_rows: Vec<_> = counts.into_iter().collect();
    count_rows.sort();
    let mut packed = Vec::with_capacity(keys.len());
    for key in &keys {
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        std::io::Write::write_all(&mut gz, &notify::csv_of(&groups[key]))
            .and_then(|_| gz.finish())
            .map(|data| packed.push(data))
            .map_err(|e| IncidentError::invalid("feed", e.to_string()))?;
    }

    let mut tx = store.begin().await?;
    let problems = serde_json::to_string(&agg.problems).unwrap_or_else(|_| "[]".into());
    let claimed = sqlx::query(
        "INSERT INTO feed_chunks (report_id, first_row, row_count, events, bad_rows, unresolved, problems, node, done_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) ON CONFLICT (report_id, first_row) DO NOTHING",
    )
    .bind(report)
    .bind(chunk.first_row as i64)
    .bind(agg.rows as i64)
    .bind(agg.events.len() as i64)
    .bind(agg.bad_rows as i64)
    .bind(agg.unresolved as i64)
    .bind(problems)
    .bind(node)
    .bind(store.now_str())
    .execute(tx.conn())
    .await?
    .rows_affected();
    if claimed == 0 {
        // Another node counted it between our look and now.
        return Ok(ChunkDone {
            duplicate: true,
            finished: false,
        });
    }
    for chunk in count_rows.chunks(40) {
        let sql = format!(
            "INSERT INTO feed_counts (report_id, feed, day, category, event_type, country, events) VALUES {}",
            renkei_core::store::value_rows(chunk.len(), 7)
        );
        let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
        for ((day, ty, country), n) in chunk {
            q = q
                .bind(report)
                .bind(import.feed.clone())
                .bind(day.to_string())
                .bind(import.mapping.category.clone())
                .bind(agg.event_types[*ty as usize].clone())
                .bind(country.map(|c| renkei_formats::lossy_text(&c)))
                .bind(*n);
        }
        q.execute(tx.conn()).await?;
    }
    let mut batch_ids: HashMap<(Option<u32>, &str), i64> = HashMap::with_capacity(keys.len());
    for (key, data) in keys.iter().zip(packed) {
        let recipient = key.0.map(|r| &agg.recipients[r as usize]);
        let kept = recipient.map(|r| {
            serde_json::to_string(&KeptRecipient {
                name: r.name.clone(),
                kind: r.kind,
                lang: r.lang.clone(),
                country: r.country.clone(),
                pgp_key: r.pgp_key.clone(),
            })
            .unwrap_or_default()
        });
        let id: i64 = sqlx::query_scalar("INSERT INTO feed_batches (report_id, feed, day, recipient, recipient_detail, events, data) VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id")
            .bind(report)
            .bind(&import.feed)
            .bind(key.1)
            .bind(recipient.map(|r| r.email.clone()))
            .bind(kept)
            .bind(groups[key].len() as i64)
            .bind(data)
            .fetch_one(tx.conn())
            .await?;
        batch_ids.insert(*key, id);
    }
    let sighted = sightings
        .into_iter()
        .filter_map(|((ip, day), (recipient, asn, events))| {
            Some(crate::indicators::Sighting {
                ip_key: renkei_formats::keys::ip_key(ip),
                day: day.to_string(),
                batch_id: *batch_ids.get(&(recipient, day))?,
                asn: asn.map(i64::from),
                events,
            })
        });
    crate::indicators::stage_sightings(&mut tx, report, &import.feed, sighted).await?;
    let (done, total): (i64, i64) = sqlx::query_as(
        "UPDATE feed_imports SET chunks_done = chunks_done + 1 WHERE report_id = $1 RETURNING chunks_done, chunks",
    )
    .bind(report)
    .fetch_one(tx.conn())
    .await?;
    let finished = done >= total;
    if finished {
        finish(&mut tx, store, settings, actor, &import).await?;
    }
    tx.commit().await?;
    if finished {
        // After the commit, so that the file's notifications do not wait on it; a
        // node that stops here leaves it to the clock worker's merge_finished.
        crate::indicators::merge_sightings(store, report).await?;
    }
    Ok(ChunkDone {
        duplicate: false,
        finished,
    })
}

/// Queues one notification per recipient and day over the whole file, gathering the
/// batches its chunks kept, and marks the import finished.
async fn finish(
    tx: &mut renkei_core::store::Tx,
    store: &Store,
    settings: &notify::Settings,
    actor: &Actor,
    import: &Import,
) -> Result<()> {
    type Batch = (String, Option<String>, String, Vec<u8>);
    let batches: Vec<Batch> = sqlx::query_as(
        "SELECT recipient, recipient_detail, day, data FROM feed_batches WHERE report_id = $1 AND recipient IS NOT NULL ORDER BY recipient, day, id",
    )
    .bind(import.report)
    .fetch_all(tx.conn())
    .await?;
    let mut queued = 0usize;
    let mut i = 0;
    while i < batches.len() {
        let (email, detail, day) = (&batches[i].0, &batches[i].1, &batches[i].2);
        let mut items = Vec::new();
        while i < batches.len() && &batches[i].0 == email && &batches[i].2 == day {
            let mut csv = Vec::new();
            std::io::Read::read_to_end(
                &mut flate2::read::GzDecoder::new(&batches[i].3[..]),
                &mut csv,
            )
            .map_err(|e| IncidentError::invalid("feed", format!("a kept batch: {e}")))?;
            items.extend(notify::items_of_csv(&csv));
            i += 1;
        }
        let kept: KeptRecipient = detail
            .as_deref()
            .and_then(|d| serde_json::from_str(d).ok())
            .ok_or_else(|| IncidentError::invalid("feed", "a kept batch lost its recipient"))?;
        let recipient = Recipient {
            email: email.clone(),
            name: kept.name,
            kind: kept.kind,
            lang: kept.lang,
            country: kept.country,
            has_key: kept.pgp_key.is_some(),
            pgp_key: kept.pgp_key,
        };
        let notification = notify::queue_feed(
            tx,
            store,
            settings,
            actor,
            &recipient,
            &import.feed,
            day,
            &import.mapping.category,
            &items,
            import.tlp,
        )
        .await?;
        if let Some(id) = notification {
            queued += 1;
            sqlx::query("UPDATE feed_batches SET notification_id = $1 WHERE report_id = $2 AND recipient = $3 AND day = $4")
                .bind(id)
                .bind(import.report)
                .bind(email)
                .bind(day)
                .execute(tx.conn())
                .await?;
        }
    }
    sqlx::query("UPDATE feed_imports SET finished_at = $1 WHERE report_id = $2")
        .bind(store.now_str())
        .bind(import.report)
        .execute(tx.conn())
        .await?;
    let (rows, events, bad_rows, unresolved) = totals(tx.conn(), import.report).await?;
    audit::record(
        tx,
        actor,
        Event {
            action: "feed.imported",
            object_type: "report",
            object_id: import.report.to_string(),
            changes: json!({"feed": import.feed, "rows": rows, "events": events, "bad_rows": bad_rows, "notifications": queued, "unresolved": unresolved}),
        },
    )
    .await?;
    tracing::info!(feed = %import.feed, report = import.report, rows, notifications = queued, "feed imported");
    Ok(())
}

/// Rows, events, bad rows and unresolved rows of an import's counted chunks.
async fn totals(conn: &mut sqlx::AnyConnection, report: i64) -> Result<(i64, i64, i64, i64)> {
    Ok(sqlx::query_as(
            "SELECT CAST(COALESCE(SUM(row_count), 0) AS BIGINT), CAST(COALESCE(SUM(events), 0) AS BIGINT), CAST(COALESCE(SUM(bad_rows), 0) AS BIGINT), CAST(COALESCE(SUM(unresolved), 0) AS BIGINT) FROM feed_chunks WHERE report_id = $1",
        )
    .bind(report)
    .fetch_one(conn)
    .await?)
}

/// An import's figures: done so far, or final once `finished`.
pub async fn status(store: &Store, report: i64) -> Result<FeedReport> {
    let (feed, chunks, chunks_done, finished): (String, i64, i64, Option<String>) = sqlx::query_as(
        "SELECT feed, chunks, chunks_done, finished_at FROM feed_imports WHERE report_id = $1",
    )
    .bind(report)
    .fetch_optional(store.pool())
    .await?
    .ok_or(IncidentError::NotFound("feed import"))?;
    let (rows, events, bad_rows, unresolved) =
        totals(&mut *store.pool().acquire().await?, report).await?;
    let (recipients, notifications): (i64, i64) = sqlx::query_as(
        "SELECT COUNT(DISTINCT recipient), COUNT(DISTINCT notification_id) FROM feed_batches WHERE report_id = $1",
    )
    .bind(report)
    .fetch_one(store.pool())
    .await?;
    let mut problems = Vec::new();
    let lists: Vec<String> = sqlx::query_scalar(
        "SELECT problems FROM feed_chunks WHERE report_id = $1 AND bad_rows > 0 ORDER BY first_row",
    )
    .bind(report)
    .fetch_all(store.pool())
    .await?;
    for list in lists {
        problems.extend(serde_json::from_str::<Vec<RowProblem>>(&list).unwrap_or_default());
        if problems.len() >= MAX_PROBLEMS {
            problems.truncate(MAX_PROBLEMS);
            break;
        }
    }
    Ok(FeedReport {
        feed,
        report,
        rows: rows as u64,
        events: events as u64,
        bad_rows: bad_rows as u64,
        problems,
        recipients: recipients as usize,
        notifications: notifications as usize,
        unresolved: unresolved as u64,
        chunks: chunks as u64,
        chunks_done: chunks_done as u64,
        finished: finished.is_some(),
        duplicate: false,
    })
}

/// Imports a feed in this process: stores the file, then processes its chunks one
/// after the other. `progress(done, total)` counts chunks.
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
    let received = receive(store, actor, feed, mapping, data, tlp, CHUNK_ROWS).await?;
    // Said before the rows are read, not after: the file is kept, and sending it
    // again once the sender is set resumes it.
    if settings.from.trim().is_empty() && !received.chunks.is_empty() {
        return Err(IncidentError::invalid(
            "mail.from",
            format!(
                "set the team's sender address (mail.from) before importing feeds, whose recipients are notified; the file is kept as report {} and resumes when sent again",
                received.report
            ),
        ));
    }
    let total = received.chunks.len() as u64;
    for (n, chunk) in received.chunks.iter().enumerate() {
        process_chunk(
            store,
            tables,
            settings,
            actor,
            received.report,
            chunk,
            "local",
        )
        .await?;
        progress(n as u64 + 1, total);
    }
    let mut report = status(store, received.report).await?;
    report.duplicate = received.duplicate;
    Ok(report)
}

/// Chunks of unfinished imports not yet counted, for the operations page.
/// The feeds that came in since `since` but not since `today` (the team's midnight),
/// with when each last came: a daily feed missing today is worth a look. Reports
/// are numbered as they come, so the week's feed batches are those of reports from
/// the first one of the week on (an index range, however many mails came).
pub async fn quiet_since(store: &Store, since: &str, today: &str) -> Result<Vec<(String, String)>> {
    let rows: Vec<(String, String)> = sqlx::query_as(
        "SELECT feed, MAX(received_at) AS last FROM (
             SELECT feed, received_at FROM feed_imports WHERE received_at >= $1
             UNION ALL
             SELECT b.feed, r.received_at FROM feed_batches b JOIN reports r ON r.id = b.report_id
             WHERE b.report_id >= (SELECT id FROM reports WHERE received_at >= $1 ORDER BY received_at LIMIT 1)
         ) x GROUP BY feed ORDER BY feed",
    )
    .bind(since)
    .fetch_all(store.pool())
    .await?;
    Ok(rows
        .into_iter()
        .filter(|(_, last)| last.as_str() < today)
        .collect())
}

pub async fn chunks_waiting(store: &Store) -> Result<i64> {
    Ok(sqlx::query_scalar(
        "SELECT CAST(COALESCE(SUM(chunks - chunks_done), 0) AS BIGINT) FROM feed_imports WHERE finished_at IS NULL",
    )
    .fetch_one(store.pool())
    .await?)
}

/// Where a refreshed table of Shadowserver report types is kept (a JSON array),
/// for every node; without it the embedded table is used.
const SHADOWSERVER_TYPES: &str = "feeds.shadowserver_types";

/// The Shadowserver report types known here: a refreshed table, else the embedded.
pub async fn shadowserver_types_in(tx: &mut renkei_core::store::Tx) -> Result<Vec<String>> {
    let stored: Option<String> = sqlx::query_scalar("SELECT value FROM settings WHERE key = $1")
        .bind(SHADOWSERVER_TYPES)
        .fetch_optional(tx.conn())
        .await?;
    Ok(stored
        .and_then(|s| serde_json::from_str::<Vec<String>>(&s).ok())
        .unwrap_or_else(|| {
            renkei_formats::shadowserver::TYPES
                .iter()
                .map(|t| t.to_string())
                .collect()
        }))
}

/// Replaces the table of Shadowserver report types with those of a schema file in
/// Shadowserver's published layout; returns the types, audited.
pub async fn refresh_shadowserver_types(
    store: &Store,
    actor: &Actor,
    schema: &[u8],
) -> Result<Vec<String>> {
    let types = renkei_formats::shadowserver::types_of_schema(schema)
        .map_err(|e| IncidentError::invalid("schema", e.to_string()))?;
    let mut tx = store.begin().await?;
    let before = shadowserver_types_in(&mut tx).await?;
    sqlx::query(
        "INSERT INTO settings (key, value) VALUES ($1, $2) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
    )
    .bind(SHADOWSERVER_TYPES)
    .bind(serde_json::to_string(&types).unwrap_or_default())
    .execute(tx.conn())
    .await?;
    let added: Vec<&String> = types.iter().filter(|t| !before.contains(t)).collect();
    let removed: Vec<&String> = before.iter().filter(|t| !types.contains(t)).collect();
    audit::record(
        &mut tx,
        actor,
        Event {
            action: "feeds.shadowserver_types_refreshed",
            object_type: "settings",
            object_id: SHADOWSERVER_TYPES.to_string(),
            changes: json!({"types": types.len(), "added": added, "removed": removed}),
        },
    )
    .await?;
    tx.commit().await?;
    Ok(types)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_blocklist_row_may_name_a_range() {
        assert_eq!(
            address_or_prefix("192.0.2.7"),
            Some(("192.0.2.7".parse().unwrap(), None))
        );
        assert_eq!(
            address_or_prefix("192.0.2.77/24"),
            Some(("192.0.2.0".parse().unwrap(), Some(24)))
        );
        assert_eq!(
            address_or_prefix("192.0.2.7/32"),
            Some(("192.0.2.7".parse().unwrap(), None))
        );
        assert_eq!(
            address_or_prefix("2001:db8::1/32"),
            Some(("2001:db8::".parse().unwrap(), Some(32)))
        );
        assert_eq!(address_or_prefix("192.0.2.0/33"), None);
        assert_eq!(address_or_prefix("example/8"), None);
    }
    use proptest::prelude::*;

    /// A feed in the Shadowserver scan layout; some rows have a quoted host name with
    /// a line break in it, some an address that does not read.
    fn feed(rows: &[(u8, bool, bool)]) -> Vec<u8> {
        let mut out =
            String::from("\"timestamp\",\"ip\",\"protocol\",\"port\",\"hostname\",\"tag\"\r\n");
        for (i, (n, multiline, bad)) in rows.iter().enumerate() {
            let ip = if *bad {
                "bogus".to_string()
            } else {
                format!("192.0.2.{n}")
            };
            let host = if *multiline { "\"a\nb\"" } else { "h" };
            out.push_str(&format!(
                "2026-11-2{} 01:00:00,{ip},tcp,{},{host},ssh\n",
                i % 3,
                22 + *n as u16
            ));
        }
        out.into_bytes()
    }

    fn read(data: &[u8], offset: u64) -> Aggregated {
        let mapping = Mapping::builtin("shadowserver-scan").unwrap();
        aggregate(
            &Tables::default(),
            &mapping,
            data,
            None,
            &HashSet::new(),
            "2026-11-22",
            offset,
        )
        .unwrap()
    }

    #[test]
    fn a_shadowserver_row_keeps_what_else_it_said_as_details() {
        let data = b"\"timestamp\",\"ip\",\"protocol\",\"port\",\"hostname\",\"tag\",\"asn\",\"version\",\"naics\"\n\
            2026-11-21 01:00:00,192.0.2.7,tcp,23,gw.example.jp,telnet,64500,\"Busy;Box 1.2\",\n";
        let mapping = renkei_formats::shadowserver::mapping(
            "scan_telnet",
            &[
                "timestamp",
                "ip",
                "protocol",
                "port",
                "hostname",
                "tag",
                "asn",
                "version",
                "naics",
            ]
            .map(String::from),
        );
        let agg = aggregate(
            &Tables::default(),
            &mapping,
            data,
            None,
            &HashSet::new(),
            "2026-11-22",
            0,
        )
        .unwrap();
        let e = &agg.events[0];
        assert_eq!(
            (e.port, agg.event_types[e.event_type as usize].as_str()),
            (Some(23), "telnet")
        );
        // Mapped columns are not repeated; an empty one is left out.
        assert_eq!(
            e.details.as_deref(),
            Some("hostname=gw.example.jp; asn=64500; version=Busy\\;Box 1.2")
        );
        // A mapping written by hand keeps only what it names.
        let plain = Mapping {
            details: false,
            ..mapping
        };
        let agg = aggregate(
            &Tables::default(),
            &plain,
            data,
            None,
            &HashSet::new(),
            "2026-11-22",
            0,
        )
        .unwrap();
        assert_eq!(agg.events[0].details, None);
    }

    proptest! {
        #[test]
        fn chunks_hold_every_row_once_and_keep_its_line(
            rows in prop::collection::vec((any::<u8>(), any::<bool>(), prop::bool::weighted(0.1)), 0..80),
            per in 1usize..9,
        ) {
            let data = feed(&rows);
            let mapping = Mapping::builtin("shadowserver-scan").unwrap();
            let chunks = split(&mapping, &data, per).unwrap();
            let whole = read(&data, 0);
            let mut next = 0u64;
            let (mut ips, mut problems, mut counted) = (Vec::new(), Vec::new(), 0u64);
            for c in &chunks {
                prop_assert_eq!(c.first_row, next);
                let part = read(&c.data, c.line_offset);
                prop_assert!(part.rows as usize <= per);
                next += part.rows;
                counted += part.rows;
                ips.extend(part.events.iter().map(|e| (e.ip, e.port, e.day.clone())));
                problems.extend(part.problems);
            }
            prop_assert_eq!(counted, whole.rows);
            prop_assert_eq!(counted as usize, rows.len());
            let all: Vec<_> = whole.events.iter().map(|e| (e.ip, e.port, e.day.clone())).collect();
            prop_assert_eq!(ips, all);
            prop_assert_eq!(problems, whole.problems);
        }
    }

    #[test]
    fn a_header_without_the_address_column_is_refused() {
        let mapping = Mapping::builtin("shadowserver-scan").unwrap();
        let err = split(&mapping, b"when,who\n1,2\n", 10).unwrap_err();
        assert!(err.to_string().contains("\"ip\""), "{err}");
    }

    #[test]
    fn a_file_of_only_a_header_has_no_chunks() {
        let mapping = Mapping::builtin("shadowserver-scan").unwrap();
        assert!(split(&mapping, b"timestamp,ip\n", 10).unwrap().is_empty());
        assert!(split(&mapping, b"timestamp,ip", 10).unwrap().is_empty());
    }

    #[test]
    fn items_come_back_from_their_csv() {
        let items = vec![Item {
            incident: 0,
            ip: "192.0.2.1".into(),
            category: "ssh, \"quoted\"".into(),
            first_seen: "2026-11-21 01:00:00".into(),
            asn: Some(64500),
            as_name: None,
            country: Some("JP".into()),
            ports: vec![22, 2222],
            details: Some("hostname=h.example; banner=a\\;b, \"c\" =d".into()),
        }];
        assert_eq!(notify::items_of_csv(&notify::csv_of(&items)), items);
    }
}
