//! Longest-prefix-match tables flattened into sorted, disjoint intervals.
//!
//! Every source (RouteViews prefixes, ip-location-db ranges, nested RPSL inetnums) is
//! reduced once, at load, to intervals that do not overlap, each carrying the value of
//! the most specific entry covering it. A lookup is then a bucket jump on the top bits
//! of the address and a binary search over a handful of starts: no pointers to chase,
//! which is what makes ten million lookups a second on one core possible.

use std::cmp::Reverse;
use std::collections::BinaryHeap;

/// An address family's integer form.
pub trait Addr: Copy + Ord + std::fmt::Debug + Send + Sync + 'static {
    const BITS: u32;
    /// How many top bits index the bucket array.
    const BUCKET_BITS: u32;
    fn to_u128(self) -> u128;
    fn from_u128(v: u128) -> Self;
    fn bucket(self) -> usize {
        (self.to_u128() >> (Self::BITS - Self::BUCKET_BITS)) as usize
    }
}

impl Addr for u32 {
    const BITS: u32 = 32;
    const BUCKET_BITS: u32 = 16;
    fn to_u128(self) -> u128 {
        self as u128
    }
    fn from_u128(v: u128) -> Self {
        v as u32
    }
}

impl Addr for u128 {
    const BITS: u32 = 128;
    // IPv6 space in use is concentrated under 2000::/3: 20 bits spread it well.
    const BUCKET_BITS: u32 = 20;
    fn to_u128(self) -> u128 {
        self
    }
    fn from_u128(v: u128) -> Self {
        v
    }
}

/// One entry as loaded: an inclusive range and its value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Entry<A, V> {
    pub start: A,
    pub end: A,
    pub value: V,
}

/// Disjoint intervals with a bucket index over them.
#[derive(Debug, Clone)]
pub struct Table<A: Addr, V> {
    starts: Vec<A>,
    ends: Vec<A>,
    values: Vec<V>,
    /// `index[b]` is the first interval whose start lies in bucket `b` or later.
    index: Vec<u32>,
}

impl<A: Addr, V: Copy + PartialEq> Default for Table<A, V> {
    fn default() -> Self {
        Table::build(Vec::new())
    }
}

impl<A: Addr, V: Copy + PartialEq> Table<A, V> {
    /// Builds the table; where entries overlap, the smallest covering entry wins, and
    /// among equal sizes the one given last.
    pub fn build(entries: Vec<Entry<A, V>>) -> Table<A, V> {
        let flat = flatten(entries);
        let mut starts = Vec::with_capacity(flat.len());
        let mut ends = Vec::with_capacity(flat.len());
        let mut values = Vec::with_capacity(flat.len());
        for e in flat {
            starts.push(e.start);
            ends.push(e.end);
            values.push(e.value);
        }
        // An empty table needs no index (and an IPv6 index is 4 MB).
        let buckets = if starts.is_empty() {
            0
        } else {
            1usize << A::BUCKET_BITS
        };
        let mut index = vec![0u32; buckets + 1];
        let mut i = 0usize;
        for (b, slot) in index.iter_mut().enumerate() {
            while i < starts.len() && starts[i].bucket() < b {
                i += 1;
            }
            *slot = i as u32;
        }
        Table {
            starts,
            ends,
            values,
            index,
        }
    }

    pub fn len(&self) -> usize {
        self.starts.len()
    }

    pub fn is_empty(&self) -> bool {
        self.starts.is_empty()
    }

    /// The value and the interval that hold `addr`.
    #[inline]
    pub fn find(&self, addr: A) -> Option<(A, A, V)> {
        if self.starts.is_empty() {
            return None;
        }
        let b = addr.bucket();
        let lo = self.index[b] as usize;
        let hi = self.index[b + 1] as usize;
        // The last interval starting at or before addr: in this bucket, or the last one
        // of an earlier bucket reaching into this one.
        let within = self.starts[lo..hi].partition_point(|s| *s <= addr);
        let i = if within > 0 {
            lo + within - 1
        } else if lo > 0 {
            lo - 1
        } else {
            return None;
        };
        if self.ends[i] >= addr {
            Some((self.starts[i], self.ends[i], self.values[i]))
        } else {
            None
        }
    }

    #[inline]
    pub fn get(&self, addr: A) -> Option<V> {
        self.find(addr).map(|(_, _, v)| v)
    }

    /// The intervals, in order.
    pub fn intervals(&self) -> impl Iterator<Item = Entry<A, V>> + '_ {
        (0..self.starts.len()).map(|i| Entry {
            start: self.starts[i],
            end: self.ends[i],
            value: self.values[i],
        })
    }

    /// Bytes held, for the memory figure.
    pub fn heap_bytes(&self) -> usize {
        self.starts.capacity() * std::mem::size_of::<A>() * 2
            + self.values.capacity() * std::mem::size_of::<V>()
            + self.index.capacity() * 4
    }
}

/// Reduces possibly overlapping entries to disjoint ones, most specific first.
fn flatten<A: Addr, V: Copy + PartialEq>(entries: Vec<Entry<A, V>>) -> Vec<Entry<A, V>> {
    // Fast path: sorted and disjoint already (the ip-location-db files are).
    let mut entries: Vec<(usize, Entry<A, V>)> = entries
        .into_iter()
        .filter(|e| e.start <= e.end)
        .enumerate()
        .collect();
    entries.sort_by(|(ia, a), (ib, b)| a.start.cmp(&b.start).then(ia.cmp(ib)));
    if entries.windows(2).all(|w| w[0].1.end < w[1].1.start) {
        return merge_adjacent(entries.into_iter().map(|(_, e)| e));
    }
    // Sweep over boundaries, keeping the active entries in a heap ordered by size
    // (smallest first), then by load order (latest first). Finished entries leave
    // lazily, when they reach the top.
    let mut out: Vec<Entry<A, V>> = Vec::new();
    let mut heap: BinaryHeap<(Reverse<u128>, usize, u128, usize)> = BinaryHeap::new();
    let mut next = 0usize;
    let n = entries.len();
    // The position from which nothing has been written yet.
    let mut cursor: Option<u128> = entries.first().map(|(_, e)| e.start.to_u128());
    let emit = |out: &mut Vec<Entry<A, V>>, from: u128, to: u128, value: V| {
        out.push(Entry {
            start: A::from_u128(from),
            end: A::from_u128(to),
            value,
        });
    };
    while let Some(pos) = cursor {
        while next < n && entries[next].1.start.to_u128() <= pos {
            let (seq, e) = entries[next];
            let size = e.end.to_u128() - e.start.to_u128();
            heap.push((Reverse(size), seq, e.end.to_u128(), next));
            next += 1;
        }
        while heap.peek().is_some_and(|(_, _, end, _)| *end < pos) {
            heap.pop();
        }
        let Some(&(_, _, end, at)) = heap.peek() else {
            cursor = (next < n).then(|| entries[next].1.start.to_u128());
            continue;
        };
        // The winner holds until it ends or the next entry starts.
        let stop = if next < n {
            end.min(entries[next].1.start.to_u128() - 1)
        } else {
            end
        };
        emit(&mut out, pos, stop, entries[at].1.value);
        cursor = if stop == u128::MAX || (A::BITS == 32 && stop == u32::MAX as u128) {
            None
        } else {
            Some(stop + 1)
        };
    }
    merge_adjacent(out.into_iter())
}

fn merge_adjacent<A: Addr, V: Copy + PartialEq>(
    entries: impl Iterator<Item = Entry<A, V>>,
) -> Vec<Entry<A, V>> {
    let mut out: Vec<Entry<A, V>> = Vec::new();
    for e in entries {
        if let Some(last) = out.last_mut()
            && last.value == e.value
            && last.end.to_u128().checked_add(1) == Some(e.start.to_u128())
        {
            last.end = e.end;
            continue;
        }
        out.push(e);
    }
    out
}

/// Overlays two tables into one whose intervals carry both values, so that one
/// probe answers what two would.
pub fn overlay<A: Addr, X: Copy + PartialEq, Y: Copy + PartialEq>(
    x: &Table<A, X>,
    y: &Table<A, Y>,
) -> Table<A, (Option<X>, Option<Y>)> {
    // Every point where either table changes value starts a new interval.
    let mut cuts: Vec<u128> = Vec::with_capacity(2 * (x.len() + y.len()));
    for e in x.intervals() {
        cuts.push(e.start.to_u128());
        cuts.push(e.end.to_u128().saturating_add(1));
    }
    for e in y.intervals() {
        cuts.push(e.start.to_u128());
        cuts.push(e.end.to_u128().saturating_add(1));
    }
    cuts.sort_unstable();
    cuts.dedup();
    let max = if A::BITS == 32 {
        u32::MAX as u128
    } else {
        u128::MAX
    };
    let mut entries = Vec::with_capacity(cuts.len());
    for (i, &start) in cuts.iter().enumerate() {
        if start > max {
            break;
        }
        let end = cuts.get(i + 1).map(|n| n - 1).unwrap_or(max).min(max);
        let at = A::from_u128(start);
        let value = (x.get(at), y.get(at));
        if value.0.is_some() || value.1.is_some() {
            entries.push(Entry {
                start: at,
                end: A::from_u128(end),
                value,
            });
        }
    }
    Table::build(entries)
}

/// The largest CIDR block inside `start..=end` that contains `addr`: how a range is
/// shown as a prefix.
pub fn block_containing<A: Addr>(start: A, end: A, addr: A) -> (A, u32) {
    let (s, e, a) = (start.to_u128(), end.to_u128(), addr.to_u128());
    for len in 0..=A::BITS {
        let host_bits = A::BITS - len;
        let mask: u128 = if host_bits >= 128 {
            u128::MAX
        } else {
            (1u128 << host_bits) - 1
        };
        let lo = a & !mask;
        let hi = lo | mask;
        let hi = if A::BITS == 32 { hi & 0xffff_ffff } else { hi };
        if lo >= s && hi <= e {
            return (A::from_u128(lo), len);
        }
    }
    (addr, A::BITS)
}

/// The inclusive range of a prefix.
pub fn prefix_range<A: Addr>(network: A, len: u32) -> Option<(A, A)> {
    if len > A::BITS {
        return None;
    }
    let host_bits = A::BITS - len;
    let mask: u128 = if host_bits >= 128 {
        u128::MAX
    } else {
        (1u128 << host_bits) - 1
    };
    let start = network.to_u128() & !mask;
    let end = start | mask;
    let end = if A::BITS == 32 {
        end & 0xffff_ffff
    } else {
        end
    };
    Some((A::from_u128(start), A::from_u128(end)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn e(start: u32, end: u32, value: u8) -> Entry<u32, u8> {
        Entry { start, end, value }
    }

    #[test]
    fn the_most_specific_entry_wins_inside_a_larger_one() {
        let t = Table::build(vec![e(0, 255, 1), e(16, 31, 2), e(20, 21, 3)]);
        assert_eq!(t.get(0), Some(1));
        assert_eq!(t.get(15), Some(1));
        assert_eq!(t.get(16), Some(2));
        assert_eq!(t.get(20), Some(3));
        assert_eq!(t.get(22), Some(2));
        assert_eq!(t.get(32), Some(1));
        assert_eq!(t.get(255), Some(1));
        assert_eq!(t.get(256), None);
    }

    #[test]
    fn gaps_between_entries_find_nothing() {
        let t = Table::build(vec![e(10, 20, 1), e(100_000, 200_000, 2)]);
        assert_eq!(t.get(9), None);
        assert_eq!(t.get(21), None);
        assert_eq!(t.get(99_999), None);
        assert_eq!(t.get(150_000), Some(2));
        assert_eq!(t.get(200_001), None);
    }

    #[test]
    fn an_entry_reaching_the_end_of_the_space_is_found() {
        let t = Table::build(vec![e(0, u32::MAX, 1), e(u32::MAX - 5, u32::MAX, 2)]);
        assert_eq!(t.get(u32::MAX), Some(2));
        assert_eq!(t.get(7), Some(1));
    }

    #[test]
    fn a_range_is_shown_as_the_largest_block_holding_the_address() {
        // 1.0.4.0 - 1.0.7.255 is a /22.
        let s = u32::from(std::net::Ipv4Addr::new(1, 0, 4, 0));
        let end = u32::from(std::net::Ipv4Addr::new(1, 0, 7, 255));
        assert_eq!(block_containing(s, end, s + 300), (s, 22));
        // An unaligned range: 10 - 20 holds 16/29 (16..=23 is too big), 16..=19 is /30.
        assert_eq!(block_containing(10u32, 20, 17), (16, 30));
    }

    proptest::proptest! {
        #[test]
        fn an_overlay_answers_what_both_tables_answer(
            a in proptest::collection::vec((0u32..5000, 0u32..400, 0u8..8), 0..30),
            b in proptest::collection::vec((0u32..5000, 0u32..400, 0u8..8), 0..30),
            probes in proptest::collection::vec(0u32..6000, 50),
        ) {
            let ta = Table::build(a.iter().map(|(s, l, v)| e(*s, s + l, *v)).collect());
            let tb = Table::build(b.iter().map(|(s, l, v)| e(*s, s + l, *v)).collect());
            let both = overlay(&ta, &tb);
            for p in probes {
                let got = both.get(p).unwrap_or((None, None));
                proptest::prop_assert_eq!(got, (ta.get(p), tb.get(p)), "probe {}", p);
            }
        }


        #[test]
        fn lookups_agree_with_a_scan_of_the_entries(
            raw in proptest::collection::vec((0u32..5000, 0u32..400, 0u8..8), 0..40),
            probes in proptest::collection::vec(0u32..6000, 50),
        ) {
            let entries: Vec<_> = raw.iter().map(|(s, l, v)| e(*s, s + l, *v)).collect();
            let t = Table::build(entries.clone());
            for p in probes {
                // Smallest covering entry, the later one on a tie.
                let want = entries
                    .iter()
                    .enumerate()
                    .filter(|(_, x)| x.start <= p && p <= x.end)
                    .min_by_key(|(i, x)| (x.end - x.start, std::cmp::Reverse(*i)))
                    .map(|(_, x)| x.value);
                proptest::prop_assert_eq!(t.get(p), want, "probe {}", p);
            }
        }
    }
}
