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
    sources: Sources,
}

/// Most rows of scan traffic see a few dozen sources, each once, and a sensor
/// holds a hundred thousand rows per bucket: such a row keeps its IPv4 sources
/// themselves, sorted, four bytes each, which gives the exact count and the top
/// sources (all tied at one packet) with nothing else. The sketch and the
/// Space-Saving list appear with a row's first repeated source, its first IPv6
/// source, or its 1,025th source.
#[derive(Clone, Debug)]
enum Sources {
    Few(Vec<u32>),
    Many(Box<(Sketch, TopSources)>),
}

/// Past this many sources a row's sketch goes dense (as [`Sketch`] would).
const FEW_MAX: usize = 1024;

#[inline]
fn v4_of(src: u128) -> Option<u32> {
    (src >> 32 == 0xFFFF).then_some(src as u32)
}

#[inline]
fn v4_key(a: u32) -> u128 {
    0xFFFF_0000_0000 | u128::from(a)
}

impl PortRow {
    fn new(key: u32) -> PortRow {
        let (proto, class, port) = unkey(key);
        PortRow {
            proto,
            port,
            class,
            packets: 0,
            sources: Sources::Few(Vec::new()),
        }
    }

    fn key(&self) -> u32 {
        pack(self.proto, self.class, self.port)
    }
    #[inline]
    fn add(&mut self, src: u128) {
        self.packets += 1;
        if let Sources::Few(v) = &mut self.sources
            && let Some(a) = v4_of(src)
        {
            match v.binary_search(&a) {
                Err(i) if v.len() < FEW_MAX => {
                    if v.len() == v.capacity() {
                        // Grow by an eighth: the rows are many and small.
                        v.reserve_exact((v.len() / 8).max(4));
                    }
                    v.insert(i, a);
                    return;
                }
                _ => {}
            }
        }
        if let Sources::Few(v) = &self.sources {
            let mut sketch = Sketch::new();
            let mut top = TopSources::default();
            for &a in v {
                sketch.insert(v4_key(a));
            }
            // Every source so far sent one packet, so any K of them at one packet
            // each is a valid Space-Saving state for what was seen.
            for &a in v.iter().take(crate::top::K) {
                top.add(v4_key(a), 1);
            }
            self.sources = Sources::Many(Box::new((sketch, top)));
        }
        if let Sources::Many(m) = &mut self.sources {
            m.0.insert_hash(hash_source(src));
            m.1.add(src, 1);
        }
    }

    /// The distinct-source sketch.
    pub fn sketch(&self) -> Sketch {
        match &self.sources {
            Sources::Few(v) => {
                let mut s = Sketch::new();
                for &a in v {
                    s.insert(v4_key(a));
                }
                s
            }
            Sources::Many(m) => m.0.clone(),
        }
    }

    /// Adds this row's sources to `s`.
    pub fn merge_into(&self, s: &mut Sketch) {
        match &self.sources {
            Sources::Few(v) => {
                for &a in v {
                    s.insert(v4_key(a));
                }
            }
            Sources::Many(m) => s.merge(&m.0),
        }
    }

    /// The length of [`Sketch::to_bytes`] of this row's sketch, without making it.
    pub fn sketch_bytes(&self) -> usize {
        match &self.sources {
            Sources::Few(v) => 2 + 4 * v.len(),
            Sources::Many(m) => m.0.byte_len(),
        }
    }

    /// Distinct sources (exact while the row is small).
    pub fn distinct(&self) -> u64 {
        match &self.sources {
            Sources::Few(v) => v.len() as u64,
            Sources::Many(m) => m.0.estimate(),
        }
    }

    /// The heaviest sources and their packets, heaviest first.
    pub fn top(&self) -> Vec<(u128, u64)> {
        match &self.sources {
            Sources::Few(v) => v
                .iter()
                .take(crate::top::K)
                .map(|&a| (v4_key(a), 1))
                .collect(),
            Sources::Many(m) => m.1.list(),
        }
    }
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

/// Protocol, class and port in 20 bits: the index of a row within its bucket.
const KEY_BITS: u32 = 20;

#[inline]
fn pack(proto: Proto, class: Class, port: u16) -> u32 {
    ((proto.index() as u32) << 18) | ((class.index() as u32) << 16) | u32::from(port)
}

#[inline]
fn key(p: &Probe) -> u32 {
    pack(p.proto, p.class, p.port)
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
    rows: Vec<PortRow>,
}

/// Packets are buffered and sorted by row (a radix sort on the 20-bit key) before
/// they are counted, so each row is looked up once per run and its sketch stays
/// in cache while the run's sources go in: scan traffic spreads over a hundred
/// thousand rows, and counting packet by packet would miss the cache on each.
const BATCH: usize = 1 << 16;

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
            for (i, row) in open.rows.iter().enumerate() {
                self.index[row.key() as usize] = i as u32;
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
                open.rows.push(PortRow::new(k));
            }
            let row = &mut open.rows[*at as usize];
            for r in &recs[i..j] {
                row.add(u128::from_ne_bytes(r.src));
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
                rows: open.rows,
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
    pub buckets: Vec<BucketSummary>,
    pub by_port: Vec<PortSummary>,
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
    // a lone row's count is read as it is.
    let mut rows: Vec<&PortRow> = rows.collect();
    rows.sort_unstable_by_key(|r| (r.proto, r.port));
    let mut out = Vec::new();
    for group in rows.chunk_by(|a, b| (a.proto, a.port) == (b.proto, b.port)) {
        let mut c = [0u64; 3];
        for r in group {
            c[r.class.index()] += r.packets;
        }
        let sources = match group {
            [one] => one.distinct(),
            [first, rest @ ..] => {
                let mut s = first.sketch();
                for r in rest {
                    r.merge_into(&mut s);
                }
                s.estimate()
            }
            [] => 0,
        };
        out.push(PortSummary {
            proto: group[0].proto.as_str(),
            port: group[0].port,
            packets: c.iter().sum(),
            sources,
            scan: c[Class::Scan.index()],
            backscatter: c[Class::Backscatter.index()],
            other: c[Class::Other.index()],
        });
    }
    // The keys are unique, so the unstable sort (which needs no scratch buffer of
    // the same size) gives one order.
    out.sort_unstable_by(|a, b| {
        b.packets
            .cmp(&a.packets)
            .then(a.proto.cmp(b.proto))
            .then(a.port.cmp(&b.port))
    });
    out
}

impl BucketSummary {
    fn of(b: &Bucket) -> BucketSummary {
        BucketSummary {
            start: chrono::DateTime::from_timestamp(b.start, 0)
                .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
                .unwrap_or_default(),
            packets: b.packets,
            unparsed: b.unparsed,
            by_port: summarize_rows(b.rows.iter()),
        }
    }
}

impl Summary {
    pub fn of(buckets: &[Bucket], bucket_seconds: i64) -> Summary {
        Summary {
            packets: buckets.iter().map(|b| b.packets).sum(),
            unparsed: buckets.iter().map(|b| b.unparsed).sum(),
            bucket_seconds,
            buckets: buckets.iter().map(BucketSummary::of).collect(),
            by_port: summarize_rows(buckets.iter().flat_map(|b| b.rows.iter())),
        }
    }

    /// Writes the JSON of [`Summary::of`] with one bucket's summary in memory at a
    /// time: a day of scan traffic makes millions of bucket rows.
    pub fn write_json(
        buckets: &[Bucket],
        bucket_seconds: i64,
        out: impl std::io::Write,
    ) -> serde_json::Result<()> {
        struct Lazy<'a>(&'a [Bucket]);
        impl Serialize for Lazy<'_> {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.collect_seq(self.0.iter().map(BucketSummary::of))
            }
        }
        struct AllPorts<'a>(&'a [Bucket]);
        impl Serialize for AllPorts<'_> {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                summarize_rows(self.0.iter().flat_map(|b| b.rows.iter())).serialize(s)
            }
        }
        #[derive(Serialize)]
        struct Streamed<'a> {
            packets: u64,
            unparsed: u64,
            bucket_seconds: i64,
            buckets: Lazy<'a>,
            by_port: AllPorts<'a>,
        }
        serde_json::to_writer(
            out,
            &Streamed {
                packets: buckets.iter().map(|b| b.packets).sum(),
                unparsed: buckets.iter().map(|b| b.unparsed).sum(),
                bucket_seconds,
                buckets: Lazy(buckets),
                by_port: AllPorts(buckets),
            },
        )
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
    fn a_small_row_keeps_its_sources_until_one_repeats_and_then_counts_the_same() {
        let v4 = |i: u32| v4_key(0xC000_0200 + i);
        let mut row = PortRow::new(key(&Probe {
            src: 0,
            proto: Proto::Tcp,
            port: 23,
            class: Class::Scan,
        }));
        for i in 0..20 {
            row.add(v4(i));
        }
        assert!(matches!(row.sources, Sources::Few(_)));
        assert_eq!((row.packets, row.distinct()), (20, 20));
        assert_eq!(row.top().len(), crate::top::K);
        assert!(row.top().iter().all(|&(_, n)| n == 1));
        // The first repeat: a source outside the listed eight comes back twice.
        row.add(v4(15));
        row.add(v4(15));
        assert!(matches!(row.sources, Sources::Many(_)));
        assert_eq!((row.packets, row.distinct()), (22, 20));
        assert_eq!(row.top()[0], (v4(15), 3));
        // An IPv6 source and many more sources: the sketch takes over.
        row.add(0x2001_0db8 << 96);
        for i in 100..3000 {
            row.add(v4(i));
        }
        let est = row.distinct() as f64;
        assert!((est - 2921.0).abs() / 2921.0 < 0.03, "{est}");
        assert_eq!(row.sketch().estimate(), row.distinct());
    }

    #[test]
    fn a_row_past_the_small_limit_goes_to_the_sketch() {
        let mut row = PortRow::new(0);
        for i in 0..(FEW_MAX as u32 + 1) {
            row.add(v4_key(i * 7919));
        }
        assert!(matches!(row.sources, Sources::Many(_)));
        assert_eq!(row.packets, FEW_MAX as u64 + 1);
        let est = row.distinct() as f64;
        assert!((est - 1025.0).abs() < 30.0, "{est}");
    }

    #[test]
    fn the_streamed_json_is_the_summary_json() {
        let mut a = Aggregator::new(60);
        for i in 0..5000u128 {
            a.packet(
                (i % 300) as i64,
                probe(0xFFFF_0000_0000 | (i % 1700), (i % 70) as u16, Class::Scan),
            );
        }
        let b = a.finish();
        let mut streamed = Vec::new();
        Summary::write_json(&b, 60, &mut streamed).unwrap();
        assert_eq!(
            String::from_utf8(streamed).unwrap(),
            serde_json::to_string(&Summary::of(&b, 60)).unwrap()
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
        assert_eq!(rest[0].rows[0].distinct(), 2);
    }
}
