//! Distinct sources per port without keeping the sources: a HyperLogLog sketch
//! (2^14 registers, about 0.8 % standard error) that starts sparse — the hashes
//! themselves, so small counts are exact — and turns dense past 1,024 sources.
//! Sketches from several sensors merge into the sketch of their union, which is how
//! the collector counts a port's sources across sensors without double counting.
//!
//! The estimate is Ertl's improved raw estimator ("New cardinality estimation
//! algorithms for HyperLogLog sketches", 2017), which needs no bias tables and is
//! unbiased from one source to hundreds of millions.

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;

const P: u32 = 14;
const M: usize = 1 << P;
/// Hash bits left after the register index; register values run 0..=Q+1.
const Q: u32 = 32 - P;
const SPARSE_MAX: usize = 1024;
const VERSION: u8 = 1;

/// 32 well-mixed bits of a source key (SplitMix64's finalizer over both halves).
#[inline]
pub fn hash_source(src: u128) -> u32 {
    let mut z = (src as u64) ^ ((src >> 64) as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^= z >> 31;
    (z >> 32) as u32
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum Repr {
    /// An open-addressed set of hashes (0 marks a free slot; hash 0 is stored as 1).
    Sparse {
        slots: Vec<u32>,
        len: usize,
    },
    Dense(Box<[u8]>),
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Sketch(Repr);

impl Default for Sketch {
    fn default() -> Self {
        Sketch::new()
    }
}

#[inline]
fn register_of(h: u32) -> (usize, u8) {
    let idx = (h >> Q) as usize;
    // Leading zeros of the Q remaining bits, plus one; a sentinel bit caps it at Q+1.
    let w = (h << P) | (1 << (P - 1));
    (idx, (w.leading_zeros() + 1) as u8)
}

impl Sketch {
    pub fn new() -> Self {
        Sketch(Repr::Sparse {
            slots: Vec::new(),
            len: 0,
        })
    }

    /// Adds a source by its hash ([`hash_source`]).
    #[inline]
    pub fn insert_hash(&mut self, h: u32) {
        match &mut self.0 {
            Repr::Dense(regs) => {
                let (i, r) = register_of(h);
                if regs[i] < r {
                    regs[i] = r;
                }
            }
            Repr::Sparse { slots, len } => {
                let h = h.max(1);
                if slots.is_empty() {
                    slots.resize(16, 0);
                }
                let mask = slots.len() - 1;
                let mut i = h as usize & mask;
                loop {
                    let s = slots[i];
                    if s == h {
                        return;
                    }
                    if s == 0 {
                        slots[i] = h;
                        *len += 1;
                        break;
                    }
                    i = (i + 1) & mask;
                }
                let (n, cap) = (*len, slots.len());
                if n > SPARSE_MAX {
                    self.densify();
                } else if n * 2 > cap {
                    self.grow_sparse(cap * 2);
                }
            }
        }
    }

    fn grow_sparse(&mut self, cap: usize) {
        if let Repr::Sparse { slots, .. } = &mut self.0 {
            let old = std::mem::replace(slots, vec![0; cap]);
            let mask = cap - 1;
            for h in old.into_iter().filter(|&h| h != 0) {
                let mut i = h as usize & mask;
                while slots[i] != 0 {
                    i = (i + 1) & mask;
                }
                slots[i] = h;
            }
        }
    }

    pub fn insert(&mut self, src: u128) {
        self.insert_hash(hash_source(src));
    }

    fn densify(&mut self) {
        if let Repr::Sparse { slots, .. } = &self.0 {
            let mut regs = vec![0u8; M].into_boxed_slice();
            for &h in slots.iter().filter(|&&h| h != 0) {
                let (i, r) = register_of(h);
                regs[i] = regs[i].max(r);
            }
            self.0 = Repr::Dense(regs);
        }
    }

    /// The sketch of the union of both sets of sources.
    pub fn merge(&mut self, other: &Sketch) {
        match &other.0 {
            Repr::Sparse { slots, .. } => {
                for &h in slots.iter().filter(|&&h| h != 0) {
                    self.insert_hash(h);
                }
            }
            Repr::Dense(theirs) => {
                self.densify();
                if let Repr::Dense(mine) = &mut self.0 {
                    for (a, b) in mine.iter_mut().zip(theirs.iter()) {
                        *a = (*a).max(*b);
                    }
                }
            }
        }
    }

    pub fn is_dense(&self) -> bool {
        matches!(self.0, Repr::Dense(_))
    }

    /// Bytes held on the heap (for the memory benchmark and sizing).
    pub fn heap_bytes(&self) -> usize {
        match &self.0 {
            Repr::Sparse { slots, .. } => slots.capacity() * 4,
            Repr::Dense(r) => r.len(),
        }
    }

    /// The number of distinct sources, estimated (exact while sparse, barring
    /// 32-bit hash collisions).
    pub fn estimate(&self) -> u64 {
        match &self.0 {
            Repr::Sparse { len, .. } => *len as u64,
            Repr::Dense(regs) => {
                let mut c = [0u32; (Q + 2) as usize];
                for &r in regs.iter() {
                    c[r as usize] += 1;
                }
                let m = M as f64;
                let mut z = m * tau(1.0 - f64::from(c[(Q + 1) as usize]) / m);
                for k in (1..=Q as usize).rev() {
                    z = 0.5 * (z + f64::from(c[k]));
                }
                z += m * sigma(f64::from(c[0]) / m);
                let alpha_inf = 1.0 / (2.0 * std::f64::consts::LN_2);
                (alpha_inf * m * m / z).round() as u64
            }
        }
    }

    /// The length of [`Sketch::to_bytes`].
    pub fn byte_len(&self) -> usize {
        match &self.0 {
            Repr::Sparse { len, .. } => 2 + 4 * len,
            Repr::Dense(r) => 2 + r.len(),
        }
    }

    /// A compact, versioned byte form: sparse as the sorted hashes, dense as the
    /// registers.
    pub fn to_bytes(&self) -> Vec<u8> {
        match &self.0 {
            Repr::Sparse { slots, .. } => {
                let mut hs: Vec<u32> = slots.iter().copied().filter(|&h| h != 0).collect();
                hs.sort_unstable();
                let mut out = Vec::with_capacity(2 + hs.len() * 4);
                out.extend_from_slice(&[VERSION, 0]);
                for h in hs {
                    out.extend_from_slice(&h.to_le_bytes());
                }
                out
            }
            Repr::Dense(regs) => {
                let mut out = Vec::with_capacity(2 + M);
                out.extend_from_slice(&[VERSION, 1]);
                out.extend_from_slice(regs);
                out
            }
        }
    }

    pub fn from_bytes(b: &[u8]) -> Result<Sketch, String> {
        match b {
            [VERSION, 0, rest @ ..] if rest.len() % 4 == 0 && rest.len() / 4 <= SPARSE_MAX + 1 => {
                let mut s = Sketch::new();
                for c in rest.chunks_exact(4) {
                    s.insert_hash(u32::from_le_bytes([c[0], c[1], c[2], c[3]]));
                }
                Ok(s)
            }
            [VERSION, 1, rest @ ..] if rest.len() == M => {
                if rest.iter().any(|&r| u32::from(r) > Q + 1) {
                    return Err("a register is out of range".into());
                }
                Ok(Sketch(Repr::Dense(rest.to_vec().into_boxed_slice())))
            }
            _ => Err("not a source sketch of this version".into()),
        }
    }

    pub fn to_base64(&self) -> String {
        B64.encode(self.to_bytes())
    }

    pub fn from_base64(s: &str) -> Result<Sketch, String> {
        let b = B64.decode(s).map_err(|e| format!("sources: {e}"))?;
        Sketch::from_bytes(&b)
    }
}

fn sigma(mut x: f64) -> f64 {
    if x == 1.0 {
        return f64::INFINITY;
    }
    let mut y = 1.0;
    let mut z = x;
    loop {
        x *= x;
        let z_old = z;
        z += x * y;
        y += y;
        if z == z_old {
            return z;
        }
    }
}

fn tau(mut x: f64) -> f64 {
    if x == 0.0 || x == 1.0 {
        return 0.0;
    }
    let mut y = 1.0;
    let mut z = 1.0 - x;
    loop {
        x = x.sqrt();
        let z_old = z;
        y *= 0.5;
        z -= (1.0 - x).powi(2) * y;
        if z == z_old {
            return z / 3.0;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn filled(from: u128, n: u128) -> Sketch {
        let mut s = Sketch::new();
        for i in from..from + n {
            s.insert(i);
        }
        s
    }

    #[test]
    fn small_counts_are_exact_and_repeats_count_once() {
        let mut s = filled(0, 700);
        for i in 0..700 {
            s.insert(i);
        }
        assert!(!s.is_dense());
        assert_eq!(s.estimate(), 700);
    }

    #[test]
    fn large_counts_stay_within_three_standard_errors() {
        for n in [2_000u128, 50_000, 1_000_000] {
            let est = filled(1 << 40, n).estimate() as f64;
            let err = (est - n as f64).abs() / n as f64;
            assert!(err < 0.025, "n={n} estimate={est} error={err}");
        }
    }

    #[test]
    fn merging_counts_the_union_once() {
        let mut a = filled(0, 30_000);
        let b = filled(20_000, 30_000);
        a.merge(&b);
        let err = (a.estimate() as f64 - 50_000.0).abs() / 50_000.0;
        assert!(err < 0.025, "{}", a.estimate());
        let mut small = filled(0, 10);
        small.merge(&filled(5, 10));
        assert_eq!(small.estimate(), 15);
    }

    #[test]
    fn bytes_read_back_to_the_same_sketch_and_garbage_is_refused() {
        for s in [filled(0, 100), filled(0, 5000)] {
            let back = Sketch::from_bytes(&s.to_bytes()).unwrap();
            assert_eq!(back.estimate(), s.estimate());
        }
        assert!(Sketch::from_bytes(&[1, 1, 0]).is_err());
        assert!(Sketch::from_bytes(&[]).is_err());
        let mut dense = filled(0, 5000).to_bytes();
        dense[10] = 200;
        assert!(Sketch::from_bytes(&dense).is_err());
    }

    proptest! {
        #[test]
        fn from_bytes_never_panics(b in proptest::collection::vec(any::<u8>(), 0..64)) {
            let _ = Sketch::from_bytes(&b);
        }

        #[test]
        fn merge_is_commutative(x in 0u128..5000, y in 0u128..5000) {
            let (a, b) = (filled(0, x), filled(3000, y));
            let mut ab = a.clone();
            ab.merge(&b);
            let mut ba = b.clone();
            ba.merge(&a);
            prop_assert_eq!(ab.estimate(), ba.estimate());
        }
    }
}
