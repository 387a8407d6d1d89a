//! Bulk feeds: a CSV of hosts seen scanning, infected or vulnerable becomes events
//! (no ticket per row), each enriched and assigned to a recipient; events are kept for
//! statistics and every recipient gets one notification per day covering its hosts.
//!
//! The file is stored as received before it is read, then split into chunks of rows
//! that any node may process (in this process, or pulled from the bus): each chunk
//! is counted once, keyed by the file (its hash, per feed) and its first row, and
//! keeps its events grouped per recipient and day. The node that finishes the last
//! chunk gathers every chunk's groups side by side and queues the file's
//! notifications, one per recipient and day, and its sets by address and AS, in the
//! same transaction. Sending the same file again resumes an unfinished import and
//! changes nothing in a finished one.
//!
//! # Layout
//! - [`aggregate`], [`split`], [`prepare`]: reading, no database.
//! - [`receive`], [`process_chunk`], [`import`]: storing the file, counting chunks.
//! - `finish`: the file's notifications and sets, once every chunk is counted.
//! - [`kept`]: a chunk's groups as kept until then; [`sets`]: the file's events by
//!   address and AS, as the indicator pages read them.
//! - [`status`], [`quiet_since`], Shadowserver's report types.

pub mod kept;
pub mod sets;

use std::borrow::Cow;
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

use crate::notify::{self, Recipient};
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
    data: impl std::io::Read,
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
fn open<R: std::io::Read>(mapping: &Mapping, data: R) -> Result<(csv::Reader<R>, Columns)> {
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

/// A slice of a feed's rows, with the header row in front so that it reads alone;
/// borrowed from the file as received, so that splitting copies nothing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Chunk<'a> {
    /// The number of the chunk's first row in the file, counted from 0: with the file
    /// (its report), the key that makes processing a chunk twice count it once.
    pub first_row: u64,
    /// What to add to a line number in `data` for the line in the whole file.
    pub line_offset: u64,
    /// The file's header row; empty when `rows` starts with it (a chunk from the bus).
    pub head: Cow<'a, [u8]>,
    pub rows: Cow<'a, [u8]>,
}

impl Chunk<'_> {
    /// A chunk that is one CSV with its header, as the bus carries it.
    pub fn whole(first_row: u64, line_offset: u64, data: Vec<u8>) -> Chunk<'static> {
        Chunk {
            first_row,
            line_offset,
            head: Cow::Borrowed(&[]),
            rows: Cow::Owned(data),
        }
    }

    /// The chunk as one CSV with its header.
    pub fn bytes(&self) -> Vec<u8> {
        [self.head.as_ref(), self.rows.as_ref()].concat()
    }

    fn reader(&self) -> impl std::io::Read + '_ {
        std::io::Read::chain(self.head.as_ref(), self.rows.as_ref())
    }
}

/// Splits a feed into chunks of at most `rows` rows, on record boundaries (a quoted
/// field may hold a line break). Fails when the header lacks the mapping's address
/// column.
pub fn split<'a>(mapping: &Mapping, data: &'a [u8], rows: usize) -> Result<Vec<Chunk<'a>>> {
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
            chunks.push(Chunk {
                first_row,
                line_offset: start.line() - body.line(),
                head: Cow::Borrowed(head),
                rows: Cow::Borrowed(&data[start.byte() as usize..end]),
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
pub struct Received<'a> {
    pub report: i64,
    pub sha256: String,
    /// The same file for the same feed came before; `chunks` are then those left to
    /// do (all of them: the done ones are skipped when processed), none if finished.
    pub duplicate: bool,
    pub chunks: Vec<Chunk<'a>>,
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
pub async fn receive<'a>(
    store: &Store,
    actor: &Actor,
    feed: &str,
    mapping: &Mapping,
    data: &'a [u8],
    tlp: Tlp,
    rows_per_chunk: usize,
) -> Result<Received<'a>> {
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
    .bind(data)
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

async fn received_before<'a>(
    store: &Store,
    feed: &str,
    sha256: &str,
    mapping: &Mapping,
    data: &'a [u8],
    rows_per_chunk: usize,
) -> Result<Option<Received<'a>>> {
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

/// Who a recipient's notification goes to, as kept with a chunk's groups until the
/// file's last chunk queues it (the address is the group's). A recipient's key is
/// kept once per chunk beside the groups (`feed_chunks.keys`), not in each group;
/// batches of chunks counted before this change carried it here.
#[derive(Serialize, Deserialize)]
struct KeptRecipient {
    name: Option<String>,
    kind: notify::RecipientKind,
    lang: String,
    country: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pgp_key: Option<String>,
}

impl KeptRecipient {
    fn of(r: &Recipient) -> KeptRecipient {
        KeptRecipient {
            name: r.name.clone(),
            kind: r.kind,
            lang: r.lang.clone(),
            country: r.country.clone(),
            pgp_key: None,
        }
    }

    fn recipient(self, email: String, keys: &HashMap<String, String>) -> Recipient {
        let pgp_key = self.pgp_key.or_else(|| keys.get(&email).cloned());
        Recipient {
            email,
            name: self.name,
            kind: self.kind,
            lang: self.lang,
            country: self.country,
            has_key: pgp_key.is_some(),
            pgp_key,
        }
    }
}

/// What processing a chunk did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChunkDone {
    /// The chunk had been counted already (a redelivery); nothing changed.
    pub duplicate: bool,
    /// This was the import's last chunk: its notifications are queued.
    pub finished: bool,
}

/// A day, an event type and a country, as `feed_counts` counts events.
type CountKey = (String, String, Option<String>);

/// A group of a chunk as written: its recipient and day, and where its rows and
/// its events are in the chunk's buffers.
type GroupSpan<'a> = (
    Option<u32>,
    &'a str,
    std::ops::Range<usize>,
    std::ops::Range<usize>,
);

/// A recipient's day of an earlier version's batches: recipient, day, details, rows.
type LegacyGroup = (Option<String>, String, Vec<u8>, Vec<u8>);

/// A chunk read, enriched and grouped per recipient and day, ready to be kept: the
/// part of processing a chunk that does not wait on the database.
pub struct Prepared {
    first_row: u64,
    rows: u64,
    events: u64,
    bad_rows: u64,
    unresolved: u64,
    problems: Vec<RowProblem>,
    /// Events per day, event type and country.
    counts: Vec<(CountKey, i64)>,
    /// The groups ([`kept`]'s format).
    kept: Vec<u8>,
    /// The recipients' keys, for those that have one.
    keys: HashMap<String, String>,
}

/// Reads a chunk and groups its events per recipient and day ([`kept`]): each
/// event's row of the attachment written once, here, on whichever node counts the
/// chunk.
pub fn prepare(
    tables: &Tables,
    mapping: &Mapping,
    home_country: Option<&str>,
    failing: &HashSet<String>,
    day: &str,
    chunk: &Chunk<'_>,
) -> Result<Prepared> {
    let agg = aggregate(
        tables,
        mapping,
        chunk.reader(),
        home_country,
        failing,
        day,
        chunk.line_offset,
    )?;
    let email = |e: &FeedEvent| {
        e.recipient
            .map(|r| agg.recipients[r as usize].email.as_str())
    };
    let mut order: Vec<u32> = (0..agg.events.len() as u32).collect();
    order.sort_by(|a, b| {
        let (a, b) = (&agg.events[*a as usize], &agg.events[*b as usize]);
        (email(a), a.day.as_str()).cmp(&(email(b), b.day.as_str()))
    });
    let mut counts: HashMap<(&str, u32, Option<[u8; 2]>), i64> = HashMap::new();
    for e in &agg.events {
        *counts
            .entry((e.day.as_str(), e.event_type, e.country))
            .or_default() += 1;
    }
    let details: Vec<Vec<u8>> = agg
        .recipients
        .iter()
        .map(|r| serde_json::to_vec(&KeptRecipient::of(r)).unwrap_or_default())
        .collect();
    // Every group's rows in one writer, cut at each group's end.
    let mut w = csv::WriterBuilder::new().from_writer(Vec::with_capacity(order.len() * 96));
    let mut groups: Vec<GroupSpan<'_>> = Vec::new();
    let mut sighted = Vec::with_capacity(order.len());
    let mut text = String::new();
    let (mut asn, mut port) = (String::new(), String::new());
    let mut i = 0;
    while i < order.len() {
        let first = &agg.events[order[i] as usize];
        let (recipient, day) = (first.recipient, first.day.as_str());
        let (rows_from, events_from) = (w.get_ref().len(), sighted.len());
        while i < order.len() {
            let e = &agg.events[order[i] as usize];
            if e.recipient != recipient || e.day != day {
                break;
            }
            use std::fmt::Write as _;
            text.clear();
            let _ = match e.prefix {
                Some(len) => write!(text, "{}/{len}", e.ip),
                None => write!(text, "{}", e.ip),
            };
            asn.clear();
            if let Some(a) = e.asn {
                let _ = write!(asn, "{a}");
            }
            port.clear();
            if let Some(p) = e.port {
                let _ = write!(port, "{p}");
            }
            let country = e.country.map(|c| renkei_formats::lossy_text(&c));
            notify::csv_record(
                &mut w,
                [
                    &text,
                    &asn,
                    "",
                    country.as_deref().unwrap_or_default(),
                    &agg.event_types[e.event_type as usize],
                    e.seen_at.as_deref().unwrap_or(&e.day),
                    "0",
                    &port,
                    e.details.as_deref().unwrap_or_default(),
                ],
            );
            sighted.push(kept::Sighted {
                key: sets::ip_key(e.ip),
                prefix: e.prefix,
                asn: e.asn,
            });
            i += 1;
        }
        w.flush()
            .map_err(|e| IncidentError::invalid("feed", e.to_string()))?;
        groups.push((
            recipient,
            day,
            rows_from..w.get_ref().len(),
            events_from..sighted.len(),
        ));
    }
    let written = w
        .into_inner()
        .map_err(|e| IncidentError::invalid("feed", e.to_string()))?;
    let kept = kept::encode(groups.iter().map(|(r, day, rows, events)| {
        kept::GroupOut {
            recipient: r.map(|r| agg.recipients[r as usize].email.as_str()),
            day,
            detail: r
                .map(|r| details[r as usize].as_slice())
                .unwrap_or_default(),
            events: &sighted[events.clone()],
            rows: &written[rows.clone()],
        }
    }))?;
    let mut counts: Vec<_> = counts
        .into_iter()
        .map(|((day, ty, country), n)| {
            (
                (
                    day.to_string(),
                    agg.event_types[ty as usize].clone(),
                    country.map(|c| renkei_formats::lossy_text(&c)),
                ),
                n,
            )
        })
        .collect();
    counts.sort();
    let keys = agg
        .recipients
        .iter()
        .filter_map(|r| Some((r.email.clone(), r.pgp_key.clone()?)))
        .collect();
    Ok(Prepared {
        first_row: chunk.first_row,
        rows: agg.rows,
        events: agg.events.len() as u64,
        bad_rows: agg.bad_rows,
        unresolved: agg.unresolved,
        problems: agg.problems,
        counts,
        kept,
        keys,
    })
}

/// The addresses that bounced before: their contacts are passed over.
async fn failing(store: &Store) -> Result<HashSet<String>> {
    Ok(renkei_enrich::sources::all_failing(store)
        .await?
        .into_iter()
        .map(|f| f.email)
        .collect())
}

/// Reads one chunk and keeps its groups and counts, once; the last chunk of an
/// import also queues the import's notifications.
#[allow(clippy::too_many_arguments)]
pub async fn process_chunk(
    store: &Store,
    tables: &Tables,
    settings: &notify::Settings,
    actor: &Actor,
    report: i64,
    chunk: &Chunk<'_>,
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
    let prepared = prepare(
        tables,
        &import.mapping,
        settings.home_country.as_deref(),
        &failing(store).await?,
        &import.day,
        chunk,
    )?;
    keep_chunk(store, settings, actor, &import, prepared, node).await
}

/// Keeps a prepared chunk: its groups and counts, and the import's progress; the
/// last chunk finishes the import in the same transaction.
async fn keep_chunk(
    store: &Store,
    settings: &notify::Settings,
    actor: &Actor,
    import: &Import,
    chunk: Prepared,
    node: &str,
) -> Result<ChunkDone> {
    let report = import.report;
    let mut tx = store.begin().await?;
    let problems = serde_json::to_string(&chunk.problems).unwrap_or_else(|_| "[]".into());
    let keys =
        (!chunk.keys.is_empty()).then(|| serde_json::to_string(&chunk.keys).unwrap_or_default());
    let claimed = sqlx::query(
        "INSERT INTO feed_chunks (report_id, first_row, row_count, events, bad_rows, unresolved, problems, node, done_at, data, recipient_keys) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) ON CONFLICT (report_id, first_row) DO NOTHING",
    )
    .bind(report)
    .bind(chunk.first_row as i64)
    .bind(chunk.rows as i64)
    .bind(chunk.events as i64)
    .bind(chunk.bad_rows as i64)
    .bind(chunk.unresolved as i64)
    .bind(problems)
    .bind(node)
    .bind(store.now_str())
    .bind(&chunk.kept)
    .bind(keys)
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
    for part in chunk.counts.chunks(40) {
        let sql = format!(
            "INSERT INTO feed_counts (report_id, feed, day, category, event_type, country, events) VALUES {}",
            renkei_core::store::value_rows(part.len(), 7)
        );
        let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
        for ((day, ty, country), n) in part {
            q = q
                .bind(report)
                .bind(&import.feed)
                .bind(day)
                .bind(&import.mapping.category)
                .bind(ty)
                .bind(country)
                .bind(*n);
        }
        q.execute(tx.conn()).await?;
    }
    let (done, total): (i64, i64) = sqlx::query_as(
        "UPDATE feed_imports SET chunks_done = chunks_done + 1 WHERE report_id = $1 RETURNING chunks_done, chunks",
    )
    .bind(report)
    .fetch_one(tx.conn())
    .await?;
    let finished = done >= total;
    let mut legacy = false;
    if finished {
        legacy = finish(&mut tx, store, settings, actor, import).await?;
    }
    tx.commit().await?;
    if legacy {
        // Chunks counted by an earlier version staged their addresses; after the
        // commit, so that the notifications do not wait on it.
        crate::indicators::merge_sightings(store, report).await?;
    }
    Ok(ChunkDone {
        duplicate: false,
        finished,
    })
}

/// Recipients' days gathered before their notifications are queued together: few
/// enough that their mails stay small in memory.
const DAYS_AT_ONCE: usize = 256;

/// Queues one notification per recipient and day over the whole file, gathering the
/// groups its chunks kept side by side; indexes the file's events by address and
/// by AS for the indicator pages; marks the import finished. Returns whether
/// chunks counted by an earlier version left addresses staged.
async fn finish(
    tx: &mut renkei_core::store::Tx,
    store: &Store,
    settings: &notify::Settings,
    actor: &Actor,
    import: &Import,
) -> Result<bool> {
    let started = std::time::Instant::now();
    let chunks: Vec<(Vec<u8>, Option<String>)> = sqlx::query_as(
        "SELECT data, recipient_keys FROM feed_chunks WHERE report_id = $1 AND data IS NOT NULL ORDER BY first_row",
    )
    .bind(import.report)
    .fetch_all(tx.conn())
    .await?;
    let mut keys: HashMap<String, String> = HashMap::new();
    for (_, k) in &chunks {
        if let Some(k) = k {
            keys.extend(serde_json::from_str::<HashMap<String, String>>(k).unwrap_or_default());
        }
    }
    let legacy = legacy_groups(tx, import.report).await?;
    let had_legacy = legacy.is_some();
    let mut merge = kept::Merge::new(
        legacy
            .iter()
            .map(Vec::as_slice)
            .chain(chunks.iter().map(|(d, _)| d.as_slice())),
    )?;

    let mut ip_entries: Vec<sets::Entry<[u8; 16]>> = Vec::new();
    let mut asn_days: HashMap<(u32, u32), u32> = HashMap::new();
    let mut queued = 0usize;
    let mut pending: Vec<(notify::FeedDay, Vec<kept::Sighted>)> = Vec::new();
    let mut unaddressed: Vec<(String, Vec<kept::Sighted>)> = Vec::new();
    loop {
        let next = merge.next()?;
        let at_end = next.is_none();
        if let Some(groups) = next {
            let (recipient, day, detail) = (
                groups[0].recipient.clone(),
                groups[0].day.clone(),
                groups[0].detail.clone(),
            );
            let mut rows = Vec::new();
            let mut events = Vec::new();
            let mut legacy_events = 0usize;
            for g in groups {
                if g.events.is_empty() && !g.rows.is_empty() {
                    // A batch of an earlier version: its events are in its rows.
                    legacy_events += g.rows.iter().filter(|b| **b == b'\n').count();
                }
                rows.extend_from_slice(&g.rows);
                events.extend(g.events);
            }
            match recipient {
                Some(email) => {
                    let kept: KeptRecipient = serde_json::from_slice(&detail).map_err(|_| {
                        IncidentError::invalid("feed", "a kept group lost its recipient")
                    })?;
                    pending.push((
                        notify::FeedDay {
                            recipient: kept.recipient(email, &keys),
                            day,
                            events: events.len() + legacy_events,
                            rows,
                        },
                        events,
                    ));
                }
                None => unaddressed.push((day, events)),
            }
        }
        if pending.len() >= DAYS_AT_ONCE || (at_end && !pending.is_empty()) {
            let batch = std::mem::take(&mut pending);
            let (days, sighted): (Vec<notify::FeedDay>, Vec<Vec<kept::Sighted>>) =
                batch.into_iter().unzip();
            let notifications = notify::queue_feed_days(
                tx,
                store,
                settings,
                actor,
                &import.feed,
                &import.mapping.category,
                import.tlp,
                &days,
            )
            .await?;
            queued += notifications.iter().flatten().count();
            let mut batch_rows = Vec::with_capacity(days.len());
            for ((d, events), notification) in days.iter().zip(&sighted).zip(&notifications) {
                index_events(
                    &d.day,
                    events,
                    notification.unwrap_or(0),
                    &mut ip_entries,
                    &mut asn_days,
                );
                batch_rows.push((
                    Some(d.recipient.email.as_str()),
                    d.day.as_str(),
                    *notification,
                    d.events,
                ));
            }
            keep_batches(tx, import, &batch_rows).await?;
        }
        if at_end {
            break;
        }
    }
    let rows: Vec<(Option<&str>, &str, Option<i64>, usize)> = unaddressed
        .iter()
        .map(|(day, events)| (None, day.as_str(), None, events.len()))
        .collect();
    keep_batches(tx, import, &rows).await?;
    for (day, events) in &unaddressed {
        index_events(day, events, 0, &mut ip_entries, &mut asn_days);
    }
    drop(merge);
    drop(chunks);
    let asn_entries: Vec<sets::Entry<[u8; 4]>> = asn_days
        .into_iter()
        .map(|((asn, day), events)| sets::Entry {
            key: sets::asn_key(asn),
            day,
            notification: 0,
            events,
        })
        .collect();
    let notified = started.elapsed();
    let ip_bits = write_set(tx, import.report, sets::SetKind::Ip, ip_entries).await?;
    let asn_bits = write_set(tx, import.report, sets::SetKind::Asn, asn_entries).await?;

    sqlx::query("UPDATE feed_imports SET finished_at = $1, ip_bits = $2, asn_bits = $3 WHERE report_id = $4")
        .bind(store.now_str())
        .bind(i64::from(ip_bits))
        .bind(i64::from(asn_bits))
        .bind(import.report)
        .execute(tx.conn())
        .await?;
    // The groups are in the notifications and the sets now.
    sqlx::query("UPDATE feed_chunks SET data = NULL, recipient_keys = NULL WHERE report_id = $1")
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
    tracing::info!(
        feed = %import.feed,
        report = import.report,
        rows,
        notifications = queued,
        notify_millis = notified.as_millis() as u64,
        finish_millis = started.elapsed().as_millis() as u64,
        "feed imported"
    );
    Ok(had_legacy)
}

/// A group's events into the file's entries by address and its counts by AS.
fn index_events(
    day: &str,
    events: &[kept::Sighted],
    notification: i64,
    ip_entries: &mut Vec<sets::Entry<[u8; 16]>>,
    asn_days: &mut HashMap<(u32, u32), u32>,
) {
    let Some(day) = sets::day_number(day) else {
        return;
    };
    for e in events {
        ip_entries.push(sets::Entry {
            key: e.key,
            day,
            notification,
            events: 1,
        });
        if let Some(asn) = e.asn {
            *asn_days.entry((asn, day)).or_default() += 1;
        }
    }
}

/// One row per recipient's day of the file (`feed_batches`): who was told, by which
/// notification, of how many events. The events themselves are in the
/// notification's attachment and the file's sets.
async fn keep_batches(
    tx: &mut renkei_core::store::Tx,
    import: &Import,
    rows: &[(Option<&str>, &str, Option<i64>, usize)],
) -> Result<()> {
    for part in rows.chunks(40) {
        let sql = format!(
            "INSERT INTO feed_batches (report_id, feed, day, recipient, notification_id, events, data) VALUES {}",
            renkei_core::store::value_rows(part.len(), 7)
        );
        let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
        for (recipient, day, notification, events) in part {
            q = q
                .bind(import.report)
                .bind(&import.feed)
                .bind(*day)
                .bind(*recipient)
                .bind(*notification)
                .bind(*events as i64)
                .bind(Vec::<u8>::new());
        }
        q.execute(tx.conn()).await?;
    }
    Ok(())
}

/// Writes a file's set of one kind, a row per bucket; returns the bits of its cut.
async fn write_set<K: AsRef<[u8]> + Ord + Copy>(
    tx: &mut renkei_core::store::Tx,
    report: i64,
    kind: sets::SetKind,
    entries: Vec<sets::Entry<K>>,
) -> Result<u8> {
    let (bits, buckets) = sets::cut(kind, entries);
    for part in buckets.chunks(50) {
        let sql = format!(
            "INSERT INTO feed_sets (report_id, kind, bucket, entries) VALUES {}",
            renkei_core::store::value_rows(part.len(), 4)
        );
        let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
        for (bucket, bytes) in part {
            q = q
                .bind(report)
                .bind(kind.as_str())
                .bind(i64::from(*bucket))
                .bind(bytes.as_slice());
        }
        q.execute(tx.conn()).await?;
    }
    Ok(bits)
}

/// The batches that chunks counted by an earlier version kept for this file (one
/// per recipient, day and chunk, each its CSV gzip'd), as one more chunk's groups in
/// [`kept`]'s format; they are replaced by the file's rows per recipient's day.
async fn legacy_groups(tx: &mut renkei_core::store::Tx, report: i64) -> Result<Option<Vec<u8>>> {
    type Batch = (Option<String>, Option<String>, String, Vec<u8>);
    let batches: Vec<Batch> = sqlx::query_as(
        "SELECT recipient, recipient_detail, day, data FROM feed_batches WHERE report_id = $1 ORDER BY recipient, day, id",
    )
    .bind(report)
    .fetch_all(tx.conn())
    .await?;
    if batches.is_empty() {
        return Ok(None);
    }
    let mut groups: Vec<LegacyGroup> = Vec::new();
    for (recipient, detail, day, data) in batches {
        let mut csv = Vec::new();
        std::io::Read::read_to_end(&mut flate2::read::GzDecoder::new(&data[..]), &mut csv)
            .map_err(|e| IncidentError::invalid("feed", format!("a kept batch: {e}")))?;
        // Its header row goes; the notification writes its own.
        let rows = match csv.iter().position(|b| *b == b'\n') {
            Some(end) => csv[end + 1..].to_vec(),
            None => Vec::new(),
        };
        match groups.last_mut() {
            Some(g) if g.0 == recipient && g.1 == day => g.3.extend_from_slice(&rows),
            _ => groups.push((
                recipient,
                day,
                detail.unwrap_or_default().into_bytes(),
                rows,
            )),
        }
    }
    groups.sort_by(|a, b| (&a.0, &a.1).cmp(&(&b.0, &b.1)));
    sqlx::query("DELETE FROM feed_batches WHERE report_id = $1")
        .bind(report)
        .execute(tx.conn())
        .await?;
    Ok(Some(kept::encode(groups.iter().map(
        |(r, day, detail, rows)| kept::GroupOut {
            recipient: r.as_deref(),
            day,
            detail,
            events: &[],
            rows,
        },
    ))?))
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

/// Chunks read ahead of the one being kept.
const READ_AHEAD: usize = 2;

/// Imports a feed in this process: stores the file, then processes its chunks, the
/// next one read on another thread while this one is kept. `progress(done, total)`
/// counts chunks.
#[allow(clippy::too_many_arguments)]
pub async fn import(
    store: &Store,
    tables: std::sync::Arc<Tables>,
    settings: &notify::Settings,
    actor: &Actor,
    feed: &str,
    mapping: &Mapping,
    data: &[u8],
    tlp: Tlp,
    progress: &(dyn Fn(u64, u64) + Send + Sync),
) -> Result<FeedReport> {
    let started = std::time::Instant::now();
    let received = receive(store, actor, feed, mapping, data, tlp, CHUNK_ROWS).await?;
    tracing::debug!(
        report = received.report,
        millis = started.elapsed().as_millis() as u64,
        "feed file stored and split"
    );
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
    let import = load_import(store, received.report).await?;
    let done: HashSet<i64> =
        sqlx::query_scalar("SELECT first_row FROM feed_chunks WHERE report_id = $1")
            .bind(received.report)
            .fetch_all(store.pool())
            .await?
            .into_iter()
            .collect();
    let failing = std::sync::Arc::new(failing(store).await?);
    let prepare_on_thread = |chunk: &Chunk<'_>| {
        let owned = Chunk {
            first_row: chunk.first_row,
            line_offset: chunk.line_offset,
            head: Cow::Owned(chunk.head.to_vec()),
            rows: Cow::Owned(chunk.rows.to_vec()),
        };
        let (tables, failing, mapping) = (tables.clone(), failing.clone(), import.mapping.clone());
        let (home, day) = (settings.home_country.clone(), import.day.clone());
        tokio::task::spawn_blocking(move || {
            prepare(&tables, &mapping, home.as_deref(), &failing, &day, &owned)
        })
    };
    let todo: Vec<&Chunk<'_>> = received
        .chunks
        .iter()
        .filter(|c| !done.contains(&(c.first_row as i64)))
        .collect();
    // Two chunks read at once (a machine has two cores at least) while the one
    // before them is kept: reading, not the database, is the longer part.
    let mut reading: std::collections::VecDeque<_> = todo
        .iter()
        .take(READ_AHEAD)
        .map(|c| prepare_on_thread(c))
        .collect();
    for n in 0..todo.len() {
        let Some(this) = reading.pop_front() else {
            break;
        };
        let prepared = this.await.map_err(|e| {
            IncidentError::invalid("feed", format!("reading a chunk failed: {e}"))
        })??;
        if let Some(c) = todo.get(n + READ_AHEAD) {
            reading.push_back(prepare_on_thread(c));
        }
        keep_chunk(store, settings, actor, &import, prepared, "local").await?;
        progress(done.len() as u64 + n as u64 + 1, total);
    }
    let mut report = status(store, received.report).await?;
    report.duplicate = received.duplicate;
    Ok(report)
}

/// A file's events about one key, from its set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SetHit {
    pub report: i64,
    pub feed: String,
    pub day: String,
    pub events: i64,
    /// The notification that listed them, if one was queued.
    pub notification: Option<i64>,
}

/// Every finished file's events about an address or an AS: one bucket read per
/// file, the key found in it by halving.
pub async fn set_hits(store: &Store, kind: sets::SetKind, key: &[u8]) -> Result<Vec<SetHit>> {
    let bits = match kind {
        sets::SetKind::Ip => "ip_bits",
        sets::SetKind::Asn => "asn_bits",
    };
    let rows: Vec<(i64, String, Vec<u8>)> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT f.report_id, f.feed, s.entries FROM feed_imports f
         JOIN feed_sets s ON s.report_id = f.report_id AND s.kind = $1 AND s.bucket = (CAST($2 AS BIGINT) >> (32 - f.{bits}))
         WHERE f.{bits} IS NOT NULL"
    )))
    .bind(kind.as_str())
    .bind(i64::from(sets::hash(key)))
    .fetch_all(store.pool())
    .await?;
    let mut hits = Vec::new();
    for (report, feed, entries) in rows {
        for (day, events, notification) in sets::find(kind, &entries, key) {
            hits.push(SetHit {
                report,
                feed: feed.clone(),
                day: sets::day_text(day),
                events: i64::from(events),
                notification: (notification != 0).then_some(notification),
            });
        }
    }
    Ok(hits)
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
    use crate::notify::Item;

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
            &data[..],
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
            &data[..],
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
                let part = read(&c.bytes(), c.line_offset);
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
