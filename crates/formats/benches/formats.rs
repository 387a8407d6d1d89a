//! Throughput of the intake parsers. Targets (issue 3): extraction (+ classification,
//! measured in renkei-incident) of a 5 KB report at 20,000 reports/s on one core, and
//! IODEF import at 5,000 documents/s.

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use renkei_formats::{extract, iodef, mime, xarf};

/// A 5 KB report as they arrive: prose in two languages, a pasted sshd log, a
/// firewall excerpt, a defanged URL.
pub fn five_kb_report() -> String {
    let mut s = String::from(
        "お世話になっております。弊社サーバへの不正アクセスについて報告します。\n\
         Dear CSIRT, we observed brute-force attempts against our SSH service since 2024-01-15 07:00:00 JST.\n\
         攻撃元IP: 203.0.113.77 (hxxp://203.0.113[.]77/panel) 宛先: 192.0.2.10\n\
         Contact: abuse-desk@example.co.jp, see https://www.example.co.jp/security/\n\n",
    );
    let mut i = 0u32;
    while s.len() < 5 * 1024 {
        i += 1;
        s.push_str(&format!(
            "Jan 15 07:{:02}:{:02} web01 sshd[{}]: Failed password for invalid user admin from 198.51.100.{} port {} ssh2\n",
            i % 60,
            (i * 7) % 60,
            4000 + i,
            i % 200 + 1,
            40000 + i
        ));
        if i.is_multiple_of(5) {
            s.push_str(&format!(
                "2024-01-15T07:22:{:02}+09:00 gw kernel: [UFW BLOCK] IN=eth0 OUT= SRC=203.0.113.{} DST=192.0.2.10 LEN=40 PROTO=TCP SPT=4444 DPT=23\n",
                i % 60,
                i % 250 + 1
            ));
        }
    }
    s
}

fn benches(c: &mut Criterion) {
    let report = five_kb_report();
    let mut g = c.benchmark_group("intake");
    g.throughput(Throughput::Elements(1));
    g.bench_function("extract_5kb_report", |b| {
        b.iter(|| extract::extract(std::hint::black_box(&report)))
    });
    let v1 = include_bytes!("../tests/data/iodef/rfc5070-recon.xml");
    let v2 = include_bytes!("../tests/data/iodef/rfc7970-scan.xml");
    g.bench_function("iodef1_parse", |b| {
        b.iter(|| iodef::parse(std::hint::black_box(v1)).unwrap())
    });
    g.bench_function("iodef2_parse", |b| {
        b.iter(|| iodef::parse(std::hint::black_box(v2)).unwrap())
    });
    let x = include_bytes!("../tests/data/xarf/connection-port-scan.json");
    g.bench_function("xarf_parse", |b| {
        b.iter(|| xarf::parse(std::hint::black_box(x)).unwrap())
    });
    let mail = format!(
        "From: r@example.jp\r\nSubject: report\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n{report}"
    );
    g.bench_function("mail_parse_5kb", |b| {
        b.iter(|| mime::parse(std::hint::black_box(mail.as_bytes()), 1 << 20).unwrap())
    });
    g.finish();
}

criterion_group!(intake, benches);
criterion_main!(intake);
