//! Extraction + classification of a 5 KB report (target: 20,000 reports/s on one
//! core), and IODEF import through to a ParsedReport (target: 5,000 documents/s).

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use renkei_formats::{extract, iodef};
use renkei_incident::classify;

#[path = "../../formats/benches/formats.rs"]
#[allow(dead_code)]
mod formats_bench;

fn benches(c: &mut Criterion) {
    let report = formats_bench::five_kb_report();
    assert_eq!(report.len() / 1024, 5);
    let mut g = c.benchmark_group("incident");
    g.throughput(Throughput::Elements(1));
    g.bench_function("extract_and_classify_5kb_report", |b| {
        b.iter(|| {
            let found = extract::extract(std::hint::black_box(&report));
            classify(&report, None, &found, &[])
        })
    });
    let v1 = include_bytes!("../../formats/tests/data/iodef/rfc5070-recon.xml");
    g.bench_function("iodef_import_parse_extract_classify", |b| {
        b.iter(|| {
            let parsed = iodef::parse(std::hint::black_box(v1)).unwrap();
            let found = extract::extract(&parsed.text);
            classify(&parsed.text, parsed.hint.as_deref(), &found, &[])
        })
    });
    g.finish();
}

criterion_group!(incident, benches);
criterion_main!(incident);
