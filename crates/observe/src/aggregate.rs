//! Counting what a sensor sees: per time bucket × protocol × destination port ×
//! class, the packets, the distinct sources (a [`Sketch`]) and the heaviest sources.
//! The sensor and `renkei observe aggregate` both count through [`Aggregator`], so
//! an offline analysis gives the numbers the sensor would have sent.

use std::collections::BTreeMap;
use std::io::Read;

use renkei_formats::packet::{self, Class, Probe, Proto};
use serde::Serialize;

use crate::sketch::{Sketch, hash_source};
use crate::top::TopSources;

/// A port's counts in one bucket.
#[derive(Clone, Debug)]
pub struct PortRow {
    pub proto: Proto,
    pub port: u16,
    pub class: Class,
    pub packets: u64,
    pub sources: Sketch,
    pub top: TopSources,
}

/// One closed time bucket.
#[derive(Clone, Debug)]
pub struct Bucket {
    pub start: i64,
    pub seconds: i64,
    /// Every packet record in the bucket, parsed or not.
    pub packets: u64,
    pub unparsed: u64,
    pub rows: Vec<PortRow>,
}

#[derive(Default, Clone, Copy)]
struct Totals {
    packets: u64,
    unparsed: u64,
}

/// A row while counting: small, because scan traffic makes many rows of one
/// packet; the sketch and top list appear with a row's second distinct source.
struct Slot {
    key: u32,
    packets: u64,
    first: u128,
    more: Option<Box<(Sketch, TopSources)>>,
}

impl Slot {
    fn add(&mut self, src: u128) {
        match &mut self.more {
            Some(m) => {
                m.0.insert_hash(hash_source(src));
                m.1.add(src, 1);
            }
            None if self.first == src => {}
            None => {
                let mut sketch = Sketch::new();
                sketch.insert(self.first);
                sketch.insert(src);
                let mut top = TopSources::default();
                // Every packet so far but this one came from the first source.
                top.add(self.first, self.packets - 1);
                top.add(src, 1);
                self.more = Some(Box::new((sketch, top)));
            }
        }
    }

    fn into_row(self) -> PortRow {
        let (proto, class, port) = unkey(self.key);
        let (sources, top) = match self.more {
            Some(b) => *b,
            None => {
                let mut s = Sketch::new();
                s.insert(self.first);
                let mut t = TopSources::default();
                t.add(self.first, self.packets);
                (s, t)
            }
        };
        PortRow {
            proto,
            port,
            class,
            packets: self.packets,
            sources,
            top,
        }
    }
}

/// Protocol, class and port in 20 bits: the index of a row within its bucket.
const KEY_BITS: u32 = 20;

#[inline]
fn key(p: &Probe) -> u32 {
    ((p.proto.index() as u32) << 18) | ((p.class.index() as u32) << 16) | u32::from(p.port)
}

fn unkey(k: u32) -> (Proto, Class, u16) {
    (
        Proto::ALL[((k >> 18) & 3) as usize],
        Class::ALL[(((k >> 16) & 3) as usize).min(2)],
        (k & 0xFFFF) as u16,
    )
}

/// 20 bytes (a u128 would align the record to 32).
#[derive(Clone, Copy, Default)]
struct Rec {
    src: [u8; 16],
    key: u32,
}

#[derive(Default)]
struct Open {
    totals: Totals,
    rows: Vec<Slot>,
}

/// Packets are buffered and sorted by row (a radix sort on the 20-bit key) before
/// they are counted, so each row is looked up once per run and its sketch stays
/// in cache while the run's sources go in: scan traffic spreads over a hundred
/// thousand rows, and counting packet by packet would miss the cache on each.
const BATCH: usize = 1 << 20;

/// Counts packets into buckets of `bucket_seconds`.
pub struct Aggregator {
    seconds: i64,
    buckets: BTreeMap<i64, Open>,
    /// Row index by key for the bucket `active` (u32::MAX: no row yet).
    index: Vec<u32>,
    active: Option<i64>,
    pending: Vec<Rec>,
    pending_bucket: i64,
    pending_totals: Totals,
    scratch: Vec<Rec>,
}

impl Aggregator {
    pub fn new(bucket_seconds: i64) -> Self {
        Aggregator {
            seconds: bucket_seconds.max(1),
            buckets: BTreeMap::new(),
            index: Vec::new(),
            active: None,
            pending: Vec::with_capacity(BATCH),
            pending_bucket: i64::MIN,
            pending_totals: Totals::default(),
            scratch: Vec::new(),
        }
    }

    pub fn bucket_seconds(&self) -> i64 {
        self.seconds
    }

    /// The start of the bucket holding `ts`.
    pub fn bucket_of(&self, ts: i64) -> i64 {
        ts.div_euclid(self.seconds) * self.seconds
    }

    /// Counts one packet record at `ts` (seconds); `None` counts it as unparsed.
    #[inline]
    pub fn packet(&mut self, ts: i64, probe: Option<Probe>) {
        let start = ts.div_euclid(self.seconds) * self.seconds;
        if start != self.pending_bucket {
            self.flush();
            self.pending_bucket = start;
        }
        self.pending_totals.packets += 1;
        match probe {
            None => self.pending_totals.unparsed += 1,
            Some(p) => {
                self.pending.push(Rec {
                    src: p.src.to_ne_bytes(),
                    key: key(&p),
                });
                if self.pending.len() == BATCH {
                    self.flush();
                }
            }
        }
    }

    fn flush(&mut self) {
        if self.pending_totals.packets == 0 {
            return;
        }
        let start = self.pending_bucket;
        radix_sort(&mut self.pending, &mut self.scratch);
        let open = self.buckets.entry(start).or_default();
        open.totals.packets += self.pending_totals.packets;
        open.totals.unparsed += self.pending_totals.unparsed;
        self.pending_totals = Totals::default();
        if self.active != Some(start) {
            if self.index.is_empty() {
                self.index = vec![u32::MAX; 1 << KEY_BITS];
            } else {
                self.index.fill(u32::MAX);
            }
            for (i, slot) in open.rows.iter().enumerate() {
                self.index[slot.key as usize] = i as u32;
            }
            self.active = Some(start);
        }
        let recs = &self.pending;
        let mut i = 0;
        while i < recs.len() {
            let k = recs[i].key;
            let mut j = i + 1;
            while j < recs.len() && recs[j].key == k {
                j += 1;
            }
            let at = &mut self.index[k as usize];
            if *at == u32::MAX {
                *at = open.rows.len() as u32;
                open.rows.push(Slot {
                    key: k,
                    packets: 0,
                    first: u128::from_ne_bytes(recs[i].src),
                    more: None,
                });
            }
            let slot = &mut open.rows[*at as usize];
            for r in &recs[i..j] {
                slot.packets += 1;
                slot.add(u128::from_ne_bytes(r.src));
            }
            i = j;
        }
        self.pending.clear();
    }

    /// Marks the bucket holding `ts` as observed even if nothing arrives in it, so
    /// the collector knows the sensor was up.
    pub fn touch(&mut self, ts: i64) {
        let start = self.bucket_of(ts);
        self.buckets.entry(start).or_default();
    }

    /// Takes out every bucket that ends at or before `ts` (a sensor closes buckets
    /// as its clock passes them).
    pub fn take_closed(&mut self, ts: i64) -> Vec<Bucket> {
        self.flush();
        let open_from = self.bucket_of(ts);
        let closed: Vec<i64> = self.buckets.range(..open_from).map(|(k, _)| *k).collect();
        let mut out = Vec::with_capacity(closed.len());
        for start in closed {
            let Some(open) = self.buckets.remove(&start) else {
                continue;
            };
            if self.active == Some(start) {
                self.active = None;
            }
            out.push(Bucket {
                start,
                seconds: self.seconds,
                packets: open.totals.packets,
                unparsed: open.totals.unparsed,
                rows: open.rows.into_iter().map(Slot::into_row).collect(),
            });
        }
        out
    }

    /// Every bucket, in time order.
    pub fn finish(mut self) -> Vec<Bucket> {
        self.take_closed(i64::MAX - self.seconds)
    }
}

/// LSD radix sort on the 20-bit key, two passes of 10 bits.
fn radix_sort(a: &mut Vec<Rec>, tmp: &mut Vec<Rec>) {
    for shift in [0u32, 10] {
        let mut counts = [0usize; 1024];
        for r in a.iter() {
            counts[((r.key >> shift) & 1023) as usize] += 1;
        }
        let mut sum = 0;
        for c in counts.iter_mut() {
            let n = *c;
            *c = sum;
            sum += n;
        }
        tmp.clear();
        tmp.resize(a.len(), Rec::default());
        for r in a.iter() {
            let d = &mut counts[((r.key >> shift) & 1023) as usize];
            tmp[*d] = *r;
            *d += 1;
        }
        std::mem::swap(a, tmp);
    }
}

/// Reads firewall log lines into `agg`; returns the packet lines counted (other
/// syslog lines are skipped). A packet line without a usable time counts as
/// unparsed at `now`, which also fixes the year of traditional syslog stamps.
pub fn read_log(
    agg: &mut Aggregator,
    input: impl std::io::BufRead,
    now: chrono::DateTime<chrono::Utc>,
) -> std::io::Result<u64> {
    use renkei_formats::fwlog::{FwLine, parse_line};
    let mut packets = 0;
    for line in input.split(b'\n') {
        match parse_line(&String::from_utf8_lossy(&line?), now) {
            FwLine::NotFirewall => continue,
            FwLine::Unparsed(ts) => agg.packet(ts.unwrap_or_else(|| now.timestamp()), None),
            FwLine::Probe(ts, p) => agg.packet(ts, Some(p)),
        }
        packets += 1;
    }
    Ok(packets)
}

/// Reads one capture stream into `agg`; damage part way is counted as one unparsed
/// record and returned.
pub fn read_capture<R: Read + Send>(
    agg: &mut Aggregator,
    input: R,
) -> Result<Option<String>, renkei_formats::FormatError> {
    let mut last_ts = 0;
    let end = packet::read_capture(input, |ts, probe| {
        last_ts = ts;
        agg.packet(ts, probe);
    })?;
    if end.damage.is_some() {
        agg.packet(last_ts, None);
    }
    Ok(end.damage)
}

/// The JSON `renkei observe aggregate` prints (DESIGN.md: `packets`, `unparsed`,
/// `by_port` with `proto`, `port`, `packets`, `sources`), with each port's packets
/// split by class and the buckets behind the totals.
#[derive(Debug, Serialize)]
pub struct Summary {
    pub packets: u64,
    pub unparsed: u64,
    pub bucket_seconds: i64,
    pub by_port: Vec<PortSummary>,
    pub buckets: Vec<BucketSummary>,
}

#[derive(Debug, Serialize)]
pub struct PortSummary {
    pub proto: &'static str,
    pub port: u16,
    pub packets: u64,
    pub sources: u64,
    pub scan: u64,
    pub backscatter: u64,
    pub other: u64,
}

#[derive(Debug, Serialize)]
pub struct BucketSummary {
    pub start: String,
    pub packets: u64,
    pub unparsed: u64,
    pub by_port: Vec<PortSummary>,
}

fn summarize_rows<'a>(rows: impl Iterator<Item = &'a PortRow>) -> Vec<PortSummary> {
    // Sketches are merged only where a port has several rows (classes, buckets);
    // a lone row's estimate is read as it is.
    let mut groups: BTreeMap<(Proto, u16), Vec<&PortRow>> = BTreeMap::new();
    for r in rows {
        groups.entry((r.proto, r.port)).or_default().push(r);
    }
    let by = groups.into_iter().map(|(key, rows)| {
        let mut c = [0u64; 3];
        for r in &rows {
            c[r.class.index()] += r.packets;
        }
        let sources = match rows.as_slice() {
            [one] => one.sources.estimate(),
            [first, rest @ ..] => {
                let mut s = first.sources.clone();
                for r in rest {
                    s.merge(&r.sources);
                }
                s.estimate()
            }
            [] => 0,
        };
        (key, (c.iter().sum::<u64>(), c, sources))
    });
    let mut out: Vec<PortSummary> = by
        .into_iter()
        .map(|((proto, port), (packets, c, sources))| PortSummary {
            proto: proto.as_str(),
            port,
            packets,
            sources,
            scan: c[Class::Scan.index()],
            backscatter: c[Class::Backscatter.index()],
            other: c[Class::Other.index()],
        })
        .collect();
    out.sort_by(|a, b| {
        b.packets
            .cmp(&a.packets)
            .then(a.proto.cmp(b.proto))
            .then(a.port.cmp(&b.port))
    });
    out
}

impl Summary {
    pub fn of(buckets: &[Bucket], bucket_seconds: i64) -> Summary {
        Summary {
            packets: buckets.iter().map(|b| b.packets).sum(),
            unparsed: buckets.iter().map(|b| b.unparsed).sum(),
            bucket_seconds,
            by_port: summarize_rows(buckets.iter().flat_map(|b| b.rows.iter())),
            buckets: buckets
                .iter()
                .map(|b| BucketSummary {
                    start: chrono::DateTime::from_timestamp(b.start, 0)
                        .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
                        .unwrap_or_default(),
                    packets: b.packets,
                    unparsed: b.unparsed,
                    by_port: summarize_rows(b.rows.iter()),
                })
                .collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn probe(src: u128, port: u16, class: Class) -> Option<Probe> {
        Some(Probe {
            src,
            proto: Proto::Tcp,
            port,
            class,
        })
    }

    #[test]
    fn packets_are_counted_per_bucket_port_and_class() {
        let mut a = Aggregator::new(3600);
        a.packet(10, probe(1, 445, Class::Scan));
        a.packet(20, probe(2, 445, Class::Scan));
        a.packet(30, probe(2, 445, Class::Backscatter));
        a.packet(3700, probe(3, 23, Class::Scan));
        a.packet(3800, None);
        let b = a.finish();
        assert_eq!(b.len(), 2);
        assert_eq!((b[0].start, b[0].packets, b[0].unparsed), (0, 3, 0));
        assert_eq!((b[1].start, b[1].packets, b[1].unparsed), (3600, 2, 1));
        let s = Summary::of(&b, 3600);
        let p445 = s.by_port.iter().find(|p| p.port == 445).unwrap();
        assert_eq!(
            (p445.packets, p445.sources, p445.scan, p445.backscatter),
            (3, 2, 2, 1)
        );
    }

    #[test]
    fn closing_buckets_keeps_the_open_one_counting() {
        let mut a = Aggregator::new(60);
        a.packet(10, probe(1, 80, Class::Scan));
        a.packet(70, probe(1, 80, Class::Scan));
        let closed = a.take_closed(65);
        assert_eq!(closed.len(), 1);
        a.packet(80, probe(2, 80, Class::Scan));
        let rest = a.finish();
        assert_eq!(rest.len(), 1);
        assert_eq!(rest[0].rows[0].packets, 2);
        assert_eq!(rest[0].rows[0].sources.estimate(), 2);
    }
}
