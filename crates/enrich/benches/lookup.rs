//! Lookup speed and memory with real tables.
//!
//! `RENKEI_BENCH_IPDB=DIR` points at the unpacked ip-location-db packages (see
//! `scripts/fetch-ip-location-db.sh`); `RENKEI_BENCH_IPASN=FILE` at an ipasn file, the
//! same one `bench/enrich-vs-pyasn.sh` gives pyasn. Without them a synthetic table of
//! the same size (400,000 IPv4 ranges, 100,000 IPv6) is used.

use std::hint::black_box;
use std::net::{IpAddr, Ipv4Addr};
use std::path::{Path, PathBuf};

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use renkei_enrich::{Format, Kind, Tables};

fn find(dir: &Path, name: &str) -> Option<PathBuf> {
    for entry in std::fs::read_dir(dir).ok()?.flatten() {
        let p = entry.path();
        if p.is_dir() {
            if let Some(found) = find(&p, name) {
                return Some(found);
            }
        } else if p.file_name().and_then(|n| n.to_str()) == Some(name) {
            return Some(p);
        }
    }
    None
}

fn tables() -> (Tables, &'static str) {
    if let Ok(dir) = std::env::var("RENKEI_BENCH_IPDB") {
        let dir = PathBuf::from(dir);
        let files: Vec<(Kind, &str)> = vec![
            (Kind::Asn, "asn-ipv4.csv"),
            (Kind::Asn, "asn-ipv6.csv"),
            (Kind::Country, "geo-whois-asn-country-ipv4.csv"),
            (Kind::Country, "geo-whois-asn-country-ipv6.csv"),
        ];
        let data: Vec<(Kind, String, Vec<u8>)> = files
            .into_iter()
            .map(|(k, n)| {
                let p = find(&dir, n).unwrap_or_else(|| panic!("{n} not under {dir:?}"));
                (k, n.to_string(), std::fs::read(p).unwrap())
            })
            .collect();
        let (t, problems) = Tables::build(
            data.iter()
                .map(|(k, n, d)| (*k, Format::IpLocationDb, n.as_str(), d.as_slice())),
        )
        .unwrap();
        assert!(problems.is_empty(), "{problems:?}");
        return (t, "ip-location-db");
    }
    // Synthetic: ranges of 256 to 4096 addresses with gaps, like the real table.
    let mut csv = String::new();
    let mut at: u32 = 1 << 24;
    for i in 0..400_000u32 {
        let len = 256u32 << (i % 5);
        csv.push_str(&format!(
            "{},{},{},AS{}\n",
            Ipv4Addr::from(at),
            Ipv4Addr::from(at + len - 1),
            i % 70_000,
            i % 70_000
        ));
        at += len + 256 * (i % 3);
    }
    let (t, _) =
        Tables::build([(Kind::Asn, Format::IpLocationDb, "synthetic", csv.as_bytes())]).unwrap();
    (t, "synthetic")
}

fn addresses(n: usize) -> Vec<IpAddr> {
    // A fixed xorshift sequence: the same addresses every run, spread over the space.
    let mut x: u32 = 0x9e37_79b9;
    (0..n)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            IpAddr::V4(Ipv4Addr::from(x))
        })
        .collect()
}

fn lookup(c: &mut Criterion) {
    let started = std::time::Instant::now();
    let (t, what) = tables();
    eprintln!(
        "{what}: built in {:?}, {:?}, about {} MB of tables",
        started.elapsed(),
        t.sizes(),
        t.heap_bytes() / (1 << 20)
    );
    let ips = addresses(1_000_000);
    let mut g = c.benchmark_group("lookup");
    g.throughput(Throughput::Elements(ips.len() as u64));
    g.bench_function(format!("asn, 1M IPv4 ({what})"), |b| {
        b.iter(|| {
            let mut found = 0u32;
            for ip in &ips {
                found += t.asn(*ip).is_some() as u32;
            }
            black_box(found)
        })
    });
    g.bench_function(format!("asn+country+contacts, 1M IPv4 ({what})"), |b| {
        b.iter(|| {
            let mut found = 0u32;
            for ip in &ips {
                let h = t.hit(*ip);
                found += h.asn.is_some() as u32 + h.country.is_some() as u32;
            }
            black_box(found)
        })
    });
    if let Ok(file) = std::env::var("RENKEI_BENCH_IPASN") {
        let data = std::fs::read(&file).unwrap();
        let (ipasn, _) =
            Tables::build([(Kind::Asn, Format::Ipasn, file.as_str(), data.as_slice())]).unwrap();
        g.bench_function("asn, 1M IPv4 (ipasn file, as given to pyasn)", |b| {
            b.iter(|| {
                let mut found = 0u32;
                for ip in &ips {
                    found += ipasn.asn(*ip).is_some() as u32;
                }
                black_box(found)
            })
        });
    }
    g.finish();
}

criterion_group!(benches, lookup);
criterion_main!(benches);
