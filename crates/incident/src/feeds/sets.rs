//! A finished file's events by address and by AS, as the indicator pages read them:
//! per file, its keys' entries sorted and cut into buckets by a hash of the key, one
//! row per bucket (`feed_sets`). A file writes a few thousand rows, in the order of
//! its number (appended, never spread over an index of every address ever seen), and
//! a page asks each file for the one bucket that can hold its key.
//!
//! An entry is the key (16 bytes for an address, IPv4 mapped into IPv6; 4 for an
//! AS), the day (days since 1970-01-01), the events, and the notification that
//! listed them (0 for none), all big-endian, so that sorted bytes are sorted keys.

use std::net::IpAddr;

/// What a set is of.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SetKind {
    Ip,
    Asn,
}

impl SetKind {
    pub fn as_str(self) -> &'static str {
        match self {
            SetKind::Ip => "ip",
            SetKind::Asn => "asn",
        }
    }

    pub fn key_len(self) -> usize {
        match self {
            SetKind::Ip => 16,
            SetKind::Asn => 4,
        }
    }

    fn entry_len(self) -> usize {
        self.key_len() + 16
    }
}

/// An address as a set's key.
pub fn ip_key(ip: IpAddr) -> [u8; 16] {
    match ip {
        IpAddr::V4(a) => a.to_ipv6_mapped().octets(),
        IpAddr::V6(a) => a.octets(),
    }
}

/// An AS as a set's key.
pub fn asn_key(asn: u32) -> [u8; 4] {
    asn.to_be_bytes()
}

/// The key's hash, whose top bits pick its bucket (FNV-1a, fixed here for good:
/// the buckets of stored files were cut by it).
pub fn hash(key: &[u8]) -> u32 {
    let mut h: u32 = 0x811c_9dc5;
    for b in key {
        h ^= u32::from(*b);
        h = h.wrapping_mul(0x0100_0193);
    }
    // FNV's low bits mix better than its high ones; the bucket is the high bits.
    h.rotate_left(16) ^ (h >> 7)
}

/// The bucket of a hash in a file cut into `2^bits` buckets.
pub fn bucket(hash: u32, bits: u8) -> u32 {
    if bits == 0 {
        0
    } else {
        hash >> (32 - u32::from(bits))
    }
}

/// Entries per bucket the cut aims at: a page reads one bucket per file, and a file
/// writes one row per bucket.
const PER_BUCKET: usize = 256;

/// The bits of a file's cut for `entries` entries: the fewest that leave about
/// [`PER_BUCKET`] in a bucket (at most 16 bits).
pub fn bits_for(entries: usize) -> u8 {
    let mut bits = 0u8;
    while bits < 16 && (entries >> bits) > PER_BUCKET {
        bits += 1;
    }
    bits
}

/// One entry as gathered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Entry<K> {
    pub key: K,
    pub day: u32,
    pub notification: i64,
    pub events: u32,
}

/// Sorts entries, adds up those of one key, day and notification, and cuts them into
/// buckets: `(bucket, bytes)` in bucket order, empty buckets left out.
pub fn cut<K: AsRef<[u8]> + Ord + Copy>(
    kind: SetKind,
    mut entries: Vec<Entry<K>>,
) -> (u8, Vec<(u32, Vec<u8>)>) {
    entries.sort_unstable_by(|a, b| {
        (a.key, a.day, a.notification).cmp(&(b.key, b.day, b.notification))
    });
    entries.dedup_by(|later, kept| {
        let same =
            (later.key, later.day, later.notification) == (kept.key, kept.day, kept.notification);
        if same {
            kept.events = kept.events.saturating_add(later.events);
        }
        same
    });
    let bits = bits_for(entries.len());
    let mut by_bucket: Vec<(u32, usize)> = entries
        .iter()
        .enumerate()
        .map(|(i, e)| (bucket(hash(e.key.as_ref()), bits), i))
        .collect();
    // Stable: a bucket's entries stay in key order.
    by_bucket.sort_by_key(|(b, _)| *b);
    let mut out: Vec<(u32, Vec<u8>)> = Vec::new();
    for (b, i) in by_bucket {
        if out.last().is_none_or(|(last, _)| *last != b) {
            out.push((b, Vec::with_capacity(PER_BUCKET * kind.entry_len())));
        }
        let e = &entries[i];
        if let Some((_, bytes)) = out.last_mut() {
            bytes.extend_from_slice(e.key.as_ref());
            bytes.extend_from_slice(&e.day.to_be_bytes());
            bytes.extend_from_slice(&e.events.to_be_bytes());
            bytes.extend_from_slice(&e.notification.to_be_bytes());
        }
    }
    (bits, out)
}

/// What a bucket holds for one key: `(day, events, notification)`, by day. A bucket
/// that does not read (cut short) yields what it holds up to the damage.
pub fn find(kind: SetKind, bytes: &[u8], key: &[u8]) -> Vec<(u32, u32, i64)> {
    let width = kind.entry_len();
    let n = bytes.len() / width;
    let key_at = |i: usize| &bytes[i * width..i * width + kind.key_len()];
    // The first entry whose key is not below the one asked for.
    let (mut lo, mut hi) = (0usize, n);
    while lo < hi {
        let mid = (lo + hi) / 2;
        if key_at(mid) < key {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    let mut found = Vec::new();
    let mut i = lo;
    while i < n && key_at(i) == key {
        let rest = &bytes[i * width + kind.key_len()..(i + 1) * width];
        let u32_at =
            |at: usize| u32::from_be_bytes([rest[at], rest[at + 1], rest[at + 2], rest[at + 3]]);
        let mut notification = [0u8; 8];
        notification.copy_from_slice(&rest[8..16]);
        found.push((u32_at(0), u32_at(4), i64::from_be_bytes(notification)));
        i += 1;
    }
    found
}

/// Days since 1970-01-01 of `YYYY-MM-DD`; none for anything else.
pub fn day_number(day: &str) -> Option<u32> {
    let d = chrono::NaiveDate::parse_from_str(day.get(..10)?, "%Y-%m-%d").ok()?;
    u32::try_from((d - chrono::NaiveDate::default()).num_days()).ok()
}

/// `YYYY-MM-DD` of a day number.
pub fn day_text(number: u32) -> String {
    (chrono::NaiveDate::default() + chrono::Days::new(u64::from(number)))
        .format("%Y-%m-%d")
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn days_count_from_1970_and_back() {
        assert_eq!(day_number("1970-01-01"), Some(0));
        assert_eq!(day_number("2024-03-01"), Some(19783));
        assert_eq!(day_text(19783), "2024-03-01");
        assert_eq!(day_number("2024-03-01 12:00:00"), Some(19783));
        assert_eq!(day_number("yesterday"), None);
        assert_eq!(day_number("1969-12-31"), None);
    }

    #[test]
    fn a_file_is_cut_into_about_256_entries_a_bucket() {
        assert_eq!(bits_for(0), 0);
        assert_eq!(bits_for(256), 0);
        assert_eq!(bits_for(257), 1);
        assert_eq!(bits_for(1_000_000), 12);
        assert_eq!(bits_for(usize::MAX), 16);
    }

    proptest! {
        /// Every key put in is found in its bucket with its days and summed events,
        /// and a key not put in is found nowhere.
        #[test]
        fn every_key_is_found_in_its_bucket(
            raw in proptest::collection::vec((0u32..2000, 0u32..3, 0i64..3, 1u32..5), 0..3000),
            missing in 2000u32..4000,
        ) {
            let entries: Vec<Entry<[u8; 4]>> = raw
                .iter()
                .map(|(k, d, n, e)| Entry { key: asn_key(*k), day: *d, notification: *n, events: *e })
                .collect();
            let (bits, buckets) = cut(SetKind::Asn, entries.clone());
            let mut expected: std::collections::BTreeMap<(u32, u32, i64), u32> = Default::default();
            for (k, d, n, e) in &raw {
                *expected.entry((*k, *d, *n)).or_default() += e;
            }
            for (k, d, n) in expected.keys() {
                let key = asn_key(*k);
                let b = bucket(hash(&key), bits);
                let bytes = &buckets.iter().find(|(x, _)| *x == b).expect("its bucket").1;
                let found = find(SetKind::Asn, bytes, &key);
                prop_assert!(found.contains(&(*d, expected[&(*k, *d, *n)], *n)));
            }
            let key = asn_key(missing);
            let b = bucket(hash(&key), bits);
            if let Some((_, bytes)) = buckets.iter().find(|(x, _)| *x == b) {
                prop_assert!(find(SetKind::Asn, bytes, &key).is_empty());
            }
        }

        /// A bucket cut short or full of noise is read without a panic.
        #[test]
        fn a_damaged_bucket_reads_without_panic(bytes in proptest::collection::vec(any::<u8>(), 0..500), key in any::<[u8; 16]>()) {
            let _ = find(SetKind::Ip, &bytes, &key);
        }
    }
}
