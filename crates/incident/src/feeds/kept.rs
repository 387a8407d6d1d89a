//! A chunk's events as kept until its file is finished (`feed_chunks.data`): grouped
//! by recipient and day in that order, each group its rows of the notification's
//! attachment and, per event, the address and AS the indicator pages index; gzip'd.
//! The file's last chunk reads every chunk's groups side by side, in order, so that
//! a recipient's day is gathered from all chunks (and nodes) and composed once, in
//! memory bounded by the largest group rather than the file.
//!
//! A group: `G`, recipient (u32 length, `u32::MAX` for none, then its address),
//! day (u8 length), the recipient's details (u32 length, JSON), events (u32), then
//! per event the address key (16 bytes), prefix length (255 for none) and AS (u32,
//! `u32::MAX` for none), then the attachment's rows (u32 length). `E` ends a chunk.
//! Integers are little-endian.

use std::io::{Read, Write};

use crate::{IncidentError, Result};

/// One event's indexed part.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sighted {
    pub key: [u8; 16],
    pub prefix: Option<u8>,
    pub asn: Option<u32>,
}

/// One group as written by a chunk.
pub struct GroupOut<'a> {
    pub recipient: Option<&'a str>,
    pub day: &'a str,
    pub detail: &'a [u8],
    pub events: &'a [Sighted],
    pub rows: &'a [u8],
}

/// A group as read back.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Group {
    pub recipient: Option<String>,
    pub day: String,
    pub detail: Vec<u8>,
    pub events: Vec<Sighted>,
    pub rows: Vec<u8>,
}

fn damaged(what: &str) -> IncidentError {
    IncidentError::invalid("feed", format!("a kept chunk is damaged: {what}"))
}

/// Writes a chunk's groups, which must come in (recipient, day) order.
pub fn encode<'a>(groups: impl Iterator<Item = GroupOut<'a>>) -> Result<Vec<u8>> {
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    let mut head = Vec::with_capacity(256);
    let mut events = Vec::new();
    for g in groups {
        head.clear();
        head.push(b'G');
        match g.recipient {
            Some(r) => {
                head.extend_from_slice(&(r.len() as u32).to_le_bytes());
                head.extend_from_slice(r.as_bytes());
            }
            None => head.extend_from_slice(&u32::MAX.to_le_bytes()),
        }
        head.push(g.day.len().min(255) as u8);
        head.extend_from_slice(&g.day.as_bytes()[..g.day.len().min(255)]);
        head.extend_from_slice(&(g.detail.len() as u32).to_le_bytes());
        head.extend_from_slice(g.detail);
        head.extend_from_slice(&(g.events.len() as u32).to_le_bytes());
        events.clear();
        for e in g.events {
            events.extend_from_slice(&e.key);
            events.push(e.prefix.unwrap_or(255));
            events.extend_from_slice(&e.asn.unwrap_or(u32::MAX).to_le_bytes());
        }
        events.extend_from_slice(&(g.rows.len() as u32).to_le_bytes());
        gz.write_all(&head)
            .and_then(|_| gz.write_all(&events))
            .and_then(|_| gz.write_all(g.rows))
            .map_err(|e| IncidentError::invalid("feed", e.to_string()))?;
    }
    gz.write_all(b"E")
        .and_then(|_| gz.finish())
        .map_err(|e| IncidentError::invalid("feed", e.to_string()))
}

/// Reads a chunk's groups one at a time.
pub struct Reader<R: Read> {
    inner: flate2::read::GzDecoder<R>,
    done: bool,
}

/// The longest part of a group taken as sound: a chunk holds at most
/// [`super::CHUNK_ROWS`] rows of at most a few kilobytes each.
const MAX_PART: usize = 256 << 20;

impl<R: Read> Reader<R> {
    pub fn new(data: R) -> Self {
        Reader {
            inner: flate2::read::GzDecoder::new(data),
            done: false,
        }
    }

    fn bytes<const N: usize>(&mut self) -> Result<[u8; N]> {
        let mut b = [0u8; N];
        self.inner
            .read_exact(&mut b)
            .map_err(|_| damaged("cut short"))?;
        Ok(b)
    }

    fn part(&mut self, len: usize) -> Result<Vec<u8>> {
        if len > MAX_PART {
            return Err(damaged("a part too long"));
        }
        let mut v = Vec::new();
        (&mut self.inner)
            .take(len as u64)
            .read_to_end(&mut v)
            .map_err(|_| damaged("cut short"))?;
        if v.len() != len {
            return Err(damaged("cut short"));
        }
        Ok(v)
    }

    /// The next group, or none after the last.
    pub fn next_group(&mut self) -> Result<Option<Group>> {
        if self.done {
            return Ok(None);
        }
        match self.bytes::<1>()? {
            [b'E'] => {
                self.done = true;
                return Ok(None);
            }
            [b'G'] => {}
            _ => return Err(damaged("no group where one should start")),
        }
        let len = u32::from_le_bytes(self.bytes()?);
        let recipient = if len == u32::MAX {
            None
        } else {
            Some(String::from_utf8(self.part(len as usize)?).map_err(|_| damaged("recipient"))?)
        };
        let [len] = self.bytes::<1>()?;
        let day = String::from_utf8(self.part(len as usize)?).map_err(|_| damaged("day"))?;
        let len = u32::from_le_bytes(self.bytes()?) as usize;
        let detail = self.part(len)?;
        let n = u32::from_le_bytes(self.bytes()?) as usize;
        let raw = self.part(n.checked_mul(21).ok_or_else(|| damaged("count"))?)?;
        let events = raw
            .chunks_exact(21)
            .map(|e| {
                let mut key = [0u8; 16];
                key.copy_from_slice(&e[..16]);
                let asn = u32::from_le_bytes([e[17], e[18], e[19], e[20]]);
                Sighted {
                    key,
                    prefix: (e[16] != 255).then_some(e[16]),
                    asn: (asn != u32::MAX).then_some(asn),
                }
            })
            .collect();
        let len = u32::from_le_bytes(self.bytes()?) as usize;
        let rows = self.part(len)?;
        Ok(Some(Group {
            recipient,
            day,
            detail,
            events,
            rows,
        }))
    }
}

/// Every chunk's groups side by side: [`Merge::next`] gives the next (recipient,
/// day) with its groups from all chunks, in the chunks' order.
pub struct Merge<R: Read> {
    readers: Vec<Reader<R>>,
    heads: Vec<Option<Group>>,
}

impl<R: Read> Merge<R> {
    pub fn new(chunks: impl IntoIterator<Item = R>) -> Result<Self> {
        let mut readers: Vec<Reader<R>> = chunks.into_iter().map(Reader::new).collect();
        let heads = readers
            .iter_mut()
            .map(Reader::next_group)
            .collect::<Result<Vec<_>>>()?;
        Ok(Merge { readers, heads })
    }

    /// The next recipient and day, with its groups in chunk order; none when every
    /// chunk is read.
    #[allow(clippy::should_implement_trait)]
    pub fn next(&mut self) -> Result<Option<Vec<Group>>> {
        let Some(least) = self
            .heads
            .iter()
            .flatten()
            .map(|g| (g.recipient.clone(), g.day.clone()))
            .min()
        else {
            return Ok(None);
        };
        let mut out = Vec::new();
        for i in 0..self.readers.len() {
            let here = self.heads[i]
                .as_ref()
                .is_some_and(|g| (&g.recipient, &g.day) == (&least.0, &least.1));
            if here {
                let next = self.readers[i].next_group()?;
                if let Some(g) = std::mem::replace(&mut self.heads[i], next) {
                    out.push(g);
                }
            }
        }
        Ok(Some(out))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn sighted(n: u8) -> Sighted {
        Sighted {
            key: [n; 16],
            prefix: n.is_multiple_of(2).then_some(24),
            asn: (!n.is_multiple_of(3)).then_some(u32::from(n) * 7),
        }
    }

    fn chunk(groups: &[(Option<&str>, &str, Vec<u8>)]) -> Vec<u8> {
        let events: Vec<Vec<Sighted>> = groups
            .iter()
            .map(|(_, _, ns)| ns.iter().map(|n| sighted(*n)).collect())
            .collect();
        let rows: Vec<String> = groups
            .iter()
            .map(|(_, _, ns)| ns.iter().map(|n| format!("row {n}\n")).collect())
            .collect();
        encode(groups.iter().enumerate().map(|(i, (r, d, _))| GroupOut {
            recipient: *r,
            day: d,
            detail: b"{}",
            events: &events[i],
            rows: rows[i].as_bytes(),
        }))
        .unwrap()
    }

    #[test]
    fn a_recipients_day_is_gathered_from_every_chunk_in_order() {
        let a = chunk(&[
            (None, "2024-03-01", vec![9]),
            (Some("a@x.example"), "2024-03-01", vec![1, 2]),
            (Some("b@x.example"), "2024-03-01", vec![3]),
        ]);
        let b = chunk(&[
            (Some("a@x.example"), "2024-03-01", vec![4]),
            (Some("a@x.example"), "2024-03-02", vec![5]),
        ]);
        let empty = chunk(&[]);
        let mut m = Merge::new([&a[..], &empty[..], &b[..]]).unwrap();
        let mut seen = Vec::new();
        while let Some(groups) = m.next().unwrap() {
            let rows: Vec<u8> = groups.iter().flat_map(|g| g.rows.clone()).collect();
            let events: Vec<Sighted> = groups.iter().flat_map(|g| g.events.clone()).collect();
            seen.push((
                groups[0].recipient.clone(),
                groups[0].day.clone(),
                String::from_utf8(rows).unwrap(),
                events,
            ));
        }
        assert_eq!(
            seen,
            vec![
                (
                    None,
                    "2024-03-01".into(),
                    "row 9\n".into(),
                    vec![sighted(9)]
                ),
                (
                    Some("a@x.example".into()),
                    "2024-03-01".into(),
                    "row 1\nrow 2\nrow 4\n".into(),
                    vec![sighted(1), sighted(2), sighted(4)]
                ),
                (
                    Some("a@x.example".into()),
                    "2024-03-02".into(),
                    "row 5\n".into(),
                    vec![sighted(5)]
                ),
                (
                    Some("b@x.example".into()),
                    "2024-03-01".into(),
                    "row 3\n".into(),
                    vec![sighted(3)]
                ),
            ]
        );
    }

    proptest! {
        /// A damaged chunk is an error, never a panic or a runaway allocation.
        #[test]
        fn a_damaged_chunk_is_an_error_not_a_panic(bytes in proptest::collection::vec(any::<u8>(), 0..300), cut in 0usize..200) {
            let mut r = Reader::new(&bytes[..]);
            while let Ok(Some(_)) = r.next_group() {}
            let good = chunk(&[(Some("a@x.example"), "2024-03-01", vec![1, 2, 3])]);
            let short = &good[..cut.min(good.len())];
            let mut r = Reader::new(short);
            while let Ok(Some(_)) = r.next_group() {}
        }
    }
}
