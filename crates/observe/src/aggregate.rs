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
    fn add_v4(&mut self, a: u32) {
        if let Sources::Few(v) = &mut self.sources
            && v.len() < FEW_MAX
            && let Err(i) = v.binary_search(&a)
        {
            self.packets += 1;
            if v.len() == v.capacity() {
                // Grow by an eighth: the rows are many and small.
                v.reserve_exact((v.len() / 8).max(4));
            }
            v.insert(i, a);
            return;
        }
        self.add(v4_key(a));
    }

    fn add(&mut self, src: u128) {
        self.packets += 1;
        if let Sources::Few(v) = &mut self.sources
            && let Some(a) = v4_of(src)
        {
            match v.binary_search(&a) {
                Err(i) if v.len() < FEW_MAX => {
                    if v.len() == v.capacity() {
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

/// A buffered IPv4 packet: its row key in the high half, its source in the low.
/// IPv4 is nearly all of what sensors see; IPv6 packets wait apart with their
/// whole source ([`Aggregator::pending_v6`]).
type Rec = u64;

#[derive(Default)]
struct Open {
    totals: Totals,
    rows: Vec<PortRow>,
}

/// Packets are buffered and sorted by row (a radix sort on the 20-bit key) before
/// they are counted, so each row is looked up once per run and its sources stay
/// in cache while the run's sources go in: scan traffic spreads over a hundred
/// thousand rows, and counting packet by packet would miss the cache on each.
/// The larger the batch, the longer the runs; 1 MB of records (and as much to
/// sort into) keeps a sensor's memory small.
const BATCH: usize = 1 << 17;

/// Counts packets into buckets of `bucket_seconds`.
pub struct Aggregator {
    seconds: i64,
    buckets: BTreeMap<i64, Open>,
    /// Row index by key for the bucket `active` (u32::MAX: no row yet).
    index: Vec<u32>,
    active: Option<i64>,
    pending: Vec<Rec>,
    pending_v6: Vec<(u32, u128)>,
    /// The bucket the pending packets are in: its start and end.
    pending_bucket: (i64, i64),
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
            pending_v6: Vec::new(),
            pending_bucket: (i64::MIN, i64::MIN),
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
        // Captures are in time order, so the bucket rarely changes: a comparison
        // spares a division per packet.
        if ts < self.pending_bucket.0 || ts >= self.pending_bucket.1 {
            self.flush();
            let start = self.bucket_of(ts);
            self.pending_bucket = (start, start.saturating_add(self.seconds));
        }
        self.pending_totals.packets += 1;
        match probe {
            None => self.pending_totals.unparsed += 1,
            Some(p) => {
                let key = key(&p);
                match v4_of(p.src) {
                    Some(a) => {
                        self.pending.push((u64::from(key) << 32) | u64::from(a));
                        if self.pending.len() == BATCH {
                            self.flush();
                        }
                    }
                    None => self.pending_v6.push((key, p.src)),
                }
            }
        }
    }

    fn flush(&mut self) {
        if self.pending_totals.packets == 0 {
            return;
        }
        let start = self.pending_bucket.0;
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
        for run in self.pending.chunk_by(|a, b| a >> 32 == b >> 32) {
            let row = row_of(&mut self.index, &mut open.rows, (run[0] >> 32) as u32);
            for &r in run {
                row.add_v4(r as u32);
            }
        }
        for &(k, src) in &self.pending_v6 {
            row_of(&mut self.index, &mut open.rows, k).add(src);
        }
        self.pending.clear();
        self.pending_v6.clear();
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

/// The row of `key` in a bucket's rows, made if it is new.
#[inline]
fn row_of<'a>(index: &mut [u32], rows: &'a mut Vec<PortRow>, key: u32) -> &'a mut PortRow {
    let at = &mut index[key as usize];
    if *at == u32::MAX {
        *at = rows.len() as u32;
        rows.push(PortRow::new(key));
    }
    &mut rows[*at as usize]
}

/// LSD radix sort on the 20-bit row key (bits 32..52), two passes of 10 bits.
fn radix_sort(a: &mut Vec<Rec>, tmp: &mut Vec<Rec>) {
    for shift in [32u32, 42] {
        let mut counts = [0usize; 1024];
        for &r in a.iter() {
            counts[((r >> shift) & 1023) as usize] += 1;
        }
        let mut sum = 0;
        for c in counts.iter_mut() {
            let n = *c;
            *c = sum;
            sum += n;
        }
        tmp.clear();
        tmp.resize(a.len(), 0);
        for &r in a.iter() {
            let d = &mut counts[((r >> shift) & 1023) as usize];
            tmp[*d] = r;
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
/// record and returned. Records of link types the decoder does not read are
/// counted per link type into `unknown_links` (they are unparsed in `agg` too).
pub fn read_capture<R: Read + Send>(
    agg: &mut Aggregator,
    input: R,
    unknown_links: &mut BTreeMap<u32, u64>,
) -> Result<Option<String>, renkei_formats::FormatError> {
    let mut last_ts = 0;
    let end = packet::read_capture(input, |ts, probe| {
        last_ts = ts;
        agg.packet(ts, probe);
    })?;
    for (link, n) in &end.unknown_links {
        *unknown_links.entry(*link).or_default() += n;
    }
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
    /// Records of link types not read, per link type number (as text, a JSON key).
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub unparsed_link_types: BTreeMap<String, u64>,
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

/// A set of rows grouped by port and ordered as the summary lists them, heaviest
/// first, with each port's summary made only when it is read: a day of scan traffic
/// has hundreds of thousands of ports, and the summaries themselves would be the
/// largest thing in memory.
struct PortTable<'a> {
    /// Rows in port order (a counting sort on protocol and port: no comparisons,
    /// and each row is read twice in memory order rather than chased by a sort).
    rows: Vec<&'a PortRow>,
    /// Where each port's rows end in `rows`, by protocol and port.
    ends: Vec<u32>,
    /// Per port: its packets and its protocol and port, in the listing's order.
    groups: Vec<(u64, u32)>,
}

/// Protocol and port: 18 bits.
const PORT_KEYS: usize = 1 << 18;

impl<'a> PortTable<'a> {
    fn of(rows: impl Iterator<Item = &'a PortRow> + Clone) -> Self {
        let port_key = |r: &PortRow| (r.proto.index() << 16) | usize::from(r.port);
        let Some(any) = rows.clone().next() else {
            return PortTable {
                rows: Vec::new(),
                ends: Vec::new(),
                groups: Vec::new(),
            };
        };
        let mut ends = vec![0u32; PORT_KEYS];
        for r in rows.clone() {
            ends[port_key(r)] += 1;
        }
        let mut sum = 0;
        for e in ends.iter_mut() {
            let n = *e;
            *e = sum;
            sum += n;
        }
        let mut sorted = vec![any; sum as usize];
        for r in rows {
            let e = &mut ends[port_key(r)];
            sorted[*e as usize] = r;
            *e += 1;
        }
        // Each entry of `ends` is now where its port's rows end.
        let mut groups = Vec::new();
        let mut from = 0u32;
        for (k, &to) in ends.iter().enumerate() {
            if to > from {
                let packets: u64 = sorted[from as usize..to as usize]
                    .iter()
                    .map(|r| r.packets)
                    .sum();
                groups.push((packets, k as u32));
                from = to;
            }
        }
        // Heaviest first, then by protocol name and port. The keys are unique, so
        // the unstable sort (which needs no scratch buffer) gives one order.
        let tie = |k: u32| (name_rank(Proto::ALL[(k >> 16) as usize & 3]), k & 0xFFFF);
        groups.sort_unstable_by(|a, b| b.0.cmp(&a.0).then(tie(a.1).cmp(&tie(b.1))));
        PortTable {
            rows: sorted,
            ends,
            groups,
        }
    }

    fn port(&self, &(packets, k): &(u64, u32), scratch: &mut Vec<u32>) -> PortSummary {
        let from = match k {
            0 => 0,
            k => self.ends[k as usize - 1] as usize,
        };
        let group = &self.rows[from..self.ends[k as usize] as usize];
        let mut c = [0u64; 3];
        for r in group {
            c[r.class.index()] += r.packets;
        }
        PortSummary {
            proto: group[0].proto.as_str(),
            port: group[0].port,
            packets,
            sources: union_distinct(group, scratch),
            scan: c[Class::Scan.index()],
            backscatter: c[Class::Backscatter.index()],
            other: c[Class::Other.index()],
        }
    }

    fn ports(&self) -> impl Iterator<Item = PortSummary> + '_ {
        let mut scratch = Vec::new();
        self.groups.iter().map(move |g| self.port(g, &mut scratch))
    }
}

/// The order of the protocols' names, which breaks ties in the listings.
fn name_rank(p: Proto) -> u32 {
    match p {
        Proto::Icmp => 0,
        Proto::Icmpv6 => 1,
        Proto::Tcp => 2,
        Proto::Udp => 3,
    }
}

/// The distinct sources of several rows of one port (classes, buckets). Rows that
/// still list their sources are united exactly while the union is as small as a
/// sparse sketch (which is exact too); otherwise the sketches are merged.
fn union_distinct(group: &[&PortRow], scratch: &mut Vec<u32>) -> u64 {
    if let [one] = group {
        return one.distinct();
    }
    scratch.clear();
    for r in group {
        match &r.sources {
            Sources::Few(v) if scratch.len() + v.len() <= 4 * FEW_MAX => scratch.extend(v),
            _ => {
                scratch.clear();
                break;
            }
        }
    }
    if !scratch.is_empty() {
        scratch.sort_unstable();
        scratch.dedup();
        if scratch.len() <= FEW_MAX {
            return scratch.len() as u64;
        }
    }
    let mut s = Sketch::new();
    for r in group {
        r.merge_into(&mut s);
    }
    s.estimate()
}

impl Serialize for PortTable<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(self.ports())
    }
}

fn summarize_rows<'a>(rows: impl Iterator<Item = &'a PortRow> + Clone) -> Vec<PortSummary> {
    PortTable::of(rows).ports().collect()
}

fn bucket_start(start: i64) -> String {
    chrono::DateTime::from_timestamp(start, 0)
        .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
        .unwrap_or_default()
}

impl BucketSummary {
    fn of(b: &Bucket) -> BucketSummary {
        BucketSummary {
            start: bucket_start(b.start),
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
            unparsed_link_types: BTreeMap::new(),
        }
    }

    /// Writes the JSON of [`Summary::of`] with one bucket's summary in memory at a
    /// time: a day of scan traffic makes millions of bucket rows.
    pub fn write_json(
        buckets: &[Bucket],
        bucket_seconds: i64,
        unknown_links: &BTreeMap<u32, u64>,
        out: impl std::io::Write,
    ) -> serde_json::Result<()> {
        #[derive(Serialize)]
        struct LazyBucket<'a> {
            start: String,
            packets: u64,
            unparsed: u64,
            by_port: PortTable<'a>,
        }
        struct Lazy<'a>(&'a [Bucket]);
        impl Serialize for Lazy<'_> {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.collect_seq(self.0.iter().map(|b| LazyBucket {
                    start: bucket_start(b.start),
                    packets: b.packets,
                    unparsed: b.unparsed,
                    by_port: PortTable::of(b.rows.iter()),
                }))
            }
        }
        struct AllPorts<'a>(&'a [Bucket]);
        impl Serialize for AllPorts<'_> {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                PortTable::of(self.0.iter().flat_map(|b| b.rows.iter())).serialize(s)
            }
        }
        #[derive(Serialize)]
        struct Streamed<'a> {
            packets: u64,
            unparsed: u64,
            bucket_seconds: i64,
            buckets: Lazy<'a>,
            by_port: AllPorts<'a>,
            #[serde(skip_serializing_if = "BTreeMap::is_empty")]
            unparsed_link_types: BTreeMap<String, u64>,
        }
        serde_json::to_writer(
            out,
            &Streamed {
                packets: buckets.iter().map(|b| b.packets).sum(),
                unparsed: buckets.iter().map(|b| b.unparsed).sum(),
                bucket_seconds,
                buckets: Lazy(buckets),
                by_port: AllPorts(buckets),
                unparsed_link_types: unknown_links
                    .iter()
                    .map(|(k, v)| (k.to_string(), *v))
                    .collect(),
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
        Summary::write_json(&b, 60, &BTreeMap::new(), &mut streamed).unwrap();
        assert_eq!(
            String::from_utf8(streamed).unwrap(),
            serde_json::to_string(&Summary::of(&b, 60)).unwrap()
        );
    }

    #[test]
    fn ipv4_and_ipv6_sources_of_one_port_are_counted_together() {
        let mut a = Aggregator::new(3600);
        for i in 0..3000u128 {
            a.packet(5, probe(v4_key(i as u32 % 1500), 22, Class::Scan));
            a.packet(6, probe((0x2001_0db8 << 96) | (i % 500), 22, Class::Scan));
        }
        let b = a.finish();
        let row = &b[0].rows[0];
        assert_eq!(b[0].rows.len(), 1);
        assert_eq!(row.packets, 6000);
        let est = row.distinct() as f64;
        assert!((est - 2000.0).abs() < 60.0, "{est}");
    }

    #[test]
    fn a_packet_out_of_time_order_is_counted_in_its_own_bucket() {
        let mut a = Aggregator::new(60);
        a.packet(130, probe(1, 80, Class::Scan));
        a.packet(10, probe(2, 80, Class::Scan));
        a.packet(135, probe(3, 80, Class::Scan));
        a.packet(59, probe(4, 80, Class::Scan));
        let b = a.finish();
        let got: Vec<(i64, u64)> = b.iter().map(|b| (b.start, b.rows[0].distinct())).collect();
        assert_eq!(got, vec![(0, 2), (120, 2)]);
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
