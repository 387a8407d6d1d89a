//! Scan-like traffic, made up deterministically, as a pcap file: what a sensor on an
//! unused address sees (TCP SYNs to the usual worm ports and a long tail, UDP
//! probes, ICMP echo requests, and backscatter). Benchmarks, the demo data set and
//! tests use it; the source count is exact, so distinct-source counting can be
//! checked against it.

use std::io::Write;

/// Popular scan targets, most popular first (roughly the 2007 top ten and today's).
const PORTS: &[(u8, u16)] = &[
    (6, 445),
    (6, 23),
    (6, 22),
    (6, 135),
    (6, 1433),
    (6, 139),
    (6, 3389),
    (6, 80),
    (6, 8080),
    (6, 2967),
    (6, 5900),
    (17, 1434),
    (17, 137),
    (17, 53),
    (6, 4899),
    (6, 1025),
];

pub struct Synth {
    /// Packets to write.
    pub packets: u64,
    /// Distinct source addresses (each packet's source is one of these).
    pub sources: u64,
    /// Seconds since the epoch of the first packet, and the span covered.
    pub start: i64,
    pub seconds: i64,
    pub seed: u64,
}

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        // xorshift64*
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
}

/// A bijection on 32-bit values, so source i maps to a scattered, unique address.
fn scatter(i: u32) -> u32 {
    let mut x = i.wrapping_mul(0x9E37_79B1);
    x ^= x >> 15;
    x = x.wrapping_mul(0x85EB_CA77);
    x ^= x >> 13;
    x
}

fn checksum(data: &[u8]) -> u16 {
    let mut sum = 0u32;
    for c in data.chunks(2) {
        sum += u32::from(u16::from_be_bytes([c[0], *c.get(1).unwrap_or(&0)]));
    }
    while sum > 0xFFFF {
        sum = (sum & 0xFFFF) + (sum >> 16);
    }
    !(sum as u16)
}

impl Synth {
    /// Writes the capture (classic pcap, Ethernet, microseconds).
    pub fn write(&self, out: &mut impl Write) -> std::io::Result<()> {
        let mut header = Vec::with_capacity(24);
        header.extend_from_slice(&0xA1B2_C3D4u32.to_le_bytes());
        header.extend_from_slice(&2u16.to_le_bytes());
        header.extend_from_slice(&4u16.to_le_bytes());
        header.extend_from_slice(&[0; 8]);
        header.extend_from_slice(&65535u32.to_le_bytes());
        header.extend_from_slice(&1u32.to_le_bytes());
        out.write_all(&header)?;
        let mut rng = Rng(self.seed | 1);
        let sources = self.sources.clamp(1, u64::from(u32::MAX));
        let mut frame = [0u8; 16 + 54];
        for i in 0..self.packets {
            let r = rng.next();
            // Every source appears once before any repeats, so the count is exact.
            let s = if i < sources { i } else { r % sources };
            let src = 0x0100_0000u32.wrapping_add(scatter(s as u32) % 0xDE00_0000);
            let pick = (r >> 32) % 100;
            let (proto, port, flags) = match pick {
                0..=59 => {
                    // Zipf-like over the popular ports.
                    let k = ((r >> 40) % 1000) as usize;
                    let idx = (k * k / 1000 * PORTS.len() / 1000).min(PORTS.len() - 1);
                    let (p, port) = PORTS[idx];
                    (p, port, 0x02)
                }
                60..=84 => (6u8, ((r >> 16) % 65535 + 1) as u16, 0x02),
                85..=89 => (17u8, ((r >> 16) % 65535 + 1) as u16, 0),
                90..=94 => (1u8, 8, 0),
                95..=97 => (6u8, ((r >> 16) % 65535 + 1) as u16, 0x12),
                _ => (6u8, ((r >> 16) % 65535 + 1) as u16, 0x04),
            };
            let ts = self.start + (i as i64 * self.seconds.max(1)) / self.packets.max(1) as i64;
            let (l4, caplen) = match proto {
                6 => (20usize, 54u32),
                _ => (8usize, 42u32),
            };
            let f = &mut frame[..16 + caplen as usize];
            f[0..4].copy_from_slice(&(ts as u32).to_le_bytes());
            f[4..8].copy_from_slice(&((r & 0xF_FFFF) as u32 % 1_000_000).to_le_bytes());
            f[8..12].copy_from_slice(&caplen.to_le_bytes());
            f[12..16].copy_from_slice(&caplen.to_le_bytes());
            let e = &mut f[16..];
            e[0..6].copy_from_slice(&[0x00, 0x16, 0x3e, 0x00, 0x00, 0x01]);
            e[6..12].copy_from_slice(&[0x00, 0x16, 0x3e, 0x00, 0x00, 0x02]);
            e[12..14].copy_from_slice(&[0x08, 0x00]);
            let ip = &mut e[14..34];
            ip[0] = 0x45;
            ip[1] = 0;
            ip[2..4].copy_from_slice(&((20 + l4) as u16).to_be_bytes());
            ip[4..6].copy_from_slice(&(r as u16).to_be_bytes());
            ip[6..8].copy_from_slice(&[0x40, 0]);
            ip[8] = 240;
            ip[9] = proto;
            ip[10..12].copy_from_slice(&[0, 0]);
            ip[12..16].copy_from_slice(&src.to_be_bytes());
            ip[16..20].copy_from_slice(&[203, 0, 113, (r >> 56) as u8]);
            let c = checksum(ip);
            ip[10..12].copy_from_slice(&c.to_be_bytes());
            let t = &mut e[34..34 + l4];
            t.fill(0);
            match proto {
                6 => {
                    t[0..2].copy_from_slice(&((r >> 20) as u16 | 1024).to_be_bytes());
                    t[2..4].copy_from_slice(&port.to_be_bytes());
                    t[4..8].copy_from_slice(&(r as u32).to_be_bytes());
                    t[12] = 0x50;
                    t[13] = flags;
                    t[14..16].copy_from_slice(&1024u16.to_be_bytes());
                }
                17 => {
                    t[0..2].copy_from_slice(&((r >> 20) as u16 | 1024).to_be_bytes());
                    t[2..4].copy_from_slice(&port.to_be_bytes());
                    t[4..6].copy_from_slice(&8u16.to_be_bytes());
                }
                _ => {
                    t[0] = 8;
                    t[4..8].copy_from_slice(&(r as u32).to_be_bytes());
                    let c = checksum(t);
                    t[2..4].copy_from_slice(&c.to_be_bytes());
                }
            }
            out.write_all(f)?;
        }
        Ok(())
    }
}
