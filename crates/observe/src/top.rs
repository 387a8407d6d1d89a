//! The heaviest sources of a port, kept in fixed space: the Space-Saving algorithm
//! (Metwally et al., 2005) with a handful of counters. A source that sent more than
//! 1/K of the port's packets is always listed; counts are upper bounds whose error
//! is at most the smallest count kept.

use serde::{Deserialize, Serialize};

pub const K: usize = 8;

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TopSources {
    keys: [u128; K],
    counts: [u64; K],
    len: usize,
}

/// One listed source: its address and (at most) how many packets it sent.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TopSource(pub String, pub u64);

impl TopSources {
    #[inline]
    pub fn add(&mut self, src: u128, n: u64) {
        if let Some(i) = self.keys[..self.len].iter().position(|&k| k == src) {
            self.counts[i] += n;
            return;
        }
        if self.len < K {
            self.keys[self.len] = src;
            self.counts[self.len] = n;
            self.len += 1;
            return;
        }
        let (i, _) = self
            .counts
            .iter()
            .enumerate()
            .min_by_key(|(_, c)| **c)
            .unwrap_or((0, &0));
        self.keys[i] = src;
        self.counts[i] += n;
    }

    /// The sources, heaviest first.
    pub fn list(&self) -> Vec<(u128, u64)> {
        let mut v: Vec<(u128, u64)> = self.keys[..self.len]
            .iter()
            .copied()
            .zip(self.counts[..self.len].iter().copied())
            .collect();
        v.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
        v
    }

    pub fn merge(&mut self, other: &TopSources) {
        for (k, n) in other.list() {
            self.add(k, n);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_source_with_more_than_one_kth_of_the_packets_is_always_listed() {
        let mut t = TopSources::default();
        for i in 0..10_000u128 {
            t.add(i + 100, 1);
            if i % 4 == 0 {
                t.add(7, 1);
            }
        }
        let list = t.list();
        assert_eq!(list[0].0, 7);
        assert!(list[0].1 >= 2_500);
        assert!(list.len() == K);
    }
}
