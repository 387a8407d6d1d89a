//! Bulk feed import: reading, enriching and grouping per recipient (the part that does
//! not wait on the database), on a million Shadowserver-style scan rows.
//!
//! `RENKEI_BENCH_IPDB=DIR` loads the real ip-location-db tables (see
//! scripts/fetch-ip-location-db.sh); otherwise a synthetic table of the same size.

use std::collections::HashSet;
use std::hint::black_box;
use std::net::Ipv4Addr;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use renkei_enrich::{Format, Kind, Tables};
use renkei_formats::feed::Mapping;

fn xorshift(x: &mut u32) -> u32 {
    *x ^= *x << 13;
    *x ^= *x >> 17;
    *x ^= *x << 5;
    *x
}

fn read_tree(dir: &std::path::Path, name: &str) -> Option<Vec<u8>> {
    for e in std::fs::read_dir(dir).ok()?.flatten() {
        let p = e.path();
        if p.is_dir() {
            if let Some(d) = read_tree(&p, name) {
                return Some(d);
            }
        } else if p.file_name().and_then(|n| n.to_str()) == Some(name) {
            return std::fs::read(p).ok();
        }
    }
    None
}

fn tables() -> Tables {
    let mut files: Vec<(Kind, Format, String, Vec<u8>)> = Vec::new();
    if let Ok(dir) = std::env::var("RENKEI_BENCH_IPDB") {
        let dir = std::path::PathBuf::from(dir);
        for (k, n) in [
            (Kind::Asn, "asn-ipv4.csv"),
            (Kind::Country, "geo-whois-asn-country-ipv4.csv"),
        ] {
            files.push((
                k,
                Format::IpLocationDb,
                n.into(),
                read_tree(&dir, n).expect(n),
            ));
        }
    } else {
        let (mut asn, mut cc) = (String::new(), String::new());
        let mut at: u32 = 1 << 24;
        for i in 0..400_000u32 {
            let len = 256u32 << (i % 5);
            let (s, e) = (Ipv4Addr::from(at), Ipv4Addr::from(at + len - 1));
            asn.push_str(&format!("{s},{e},{},AS{}\n", i % 70_000, i % 70_000));
            cc.push_str(&format!(
                "{s},{e},{}\n",
                ["JP", "US", "DE", "CN"][(i % 4) as usize]
            ));
            at += len + 256 * (i % 3);
        }
        files.push((
            Kind::Asn,
            Format::IpLocationDb,
            "asn".into(),
            asn.into_bytes(),
        ));
        files.push((
            Kind::Country,
            Format::IpLocationDb,
            "cc".into(),
            cc.into_bytes(),
        ));
    }
    // A contact per AS for the first 20,000 ASes, and CSIRTs for the big countries.
    let mut contacts = String::from("network,email,lang\n");
    for asn in 0..20_000 {
        contacts.push_str(&format!("AS{asn},abuse@as{asn}.example,en\n"));
    }
    files.push((
        Kind::Contacts,
        Format::Csv,
        "contacts".into(),
        contacts.into_bytes(),
    ));
    files.push((
        Kind::Csirts,
        Format::Csv,
        "csirts".into(),
        b"country,name,email\nUS,US,cert@us.example\nDE,DE,cert@de.example\nCN,CN,cert@cn.example\n".to_vec(),
    ));
    Tables::build(
        files
            .iter()
            .map(|(k, f, n, d)| (*k, *f, n.as_str(), d.as_slice())),
    )
    .unwrap()
    .0
}

fn feed(rows: usize) -> Vec<u8> {
    let mut x = 0x1234_5678u32;
    let mut out = String::from(
        "\"timestamp\",\"ip\",\"protocol\",\"port\",\"hostname\",\"tag\",\"asn\",\"geo\",\"region\",\"city\"\n",
    );
    for i in 0..rows {
        let ip = Ipv4Addr::from(xorshift(&mut x) | 0x0100_0000);
        out.push_str(&format!(
            "\"2026-11-21 {:02}:{:02}:07\",\"{ip}\",\"tcp\",\"{}\",\"\",\"{}\",,\"\",\"\",\"\"\n",
            i % 24,
            i % 60,
            [22, 23, 3389, 445][i % 4],
            ["ssh", "telnet", "rdp", "smb"][i % 4]
        ));
    }
    out.into_bytes()
}

fn bench(c: &mut Criterion) {
    let tables = tables();
    let data = feed(1_000_000);
    let mapping = Mapping::builtin("shadowserver-scan").unwrap();
    let failing = HashSet::new();
    let mut g = c.benchmark_group("feed");
    g.sample_size(10);
    g.throughput(Throughput::Elements(1_000_000));
    g.bench_function("read+enrich+group 1M scan rows", |b| {
        b.iter(|| {
            let agg = renkei_incident::feeds::aggregate(
                &tables,
                &mapping,
                &data[..],
                Some("JP"),
                &failing,
                "2026-11-21",
                0,
            )
            .unwrap();
            assert_eq!(agg.rows, 1_000_000);
            black_box(agg.recipients.len())
        })
    });
    g.bench_function("split 1M scan rows into chunks", |b| {
        b.iter(|| {
            let chunks =
                renkei_incident::feeds::split(&mapping, &data, renkei_incident::feeds::CHUNK_ROWS)
                    .unwrap();
            assert_eq!(chunks.len(), 100);
            black_box(chunks.len())
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
