//! Aggregation speed on scan-like traffic (target: 10 M packets/s on one core),
//! distinct-source counting, and the sketch merge the collector does per batch row.

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use renkei_observe::aggregate::{Aggregator, read_capture};
use renkei_observe::sketch::Sketch;
use renkei_observe::synth::Synth;

fn capture(packets: u64, sources: u64) -> Vec<u8> {
    let mut out = Vec::new();
    Synth {
        packets,
        sources,
        start: 1_191_164_400,
        seconds: 3_600,
        seed: 7,
    }
    .write(&mut out)
    .expect("in memory");
    out
}

fn aggregation(c: &mut Criterion) {
    let n = 2_000_000;
    let pcap = capture(n, 200_000);
    let mut g = c.benchmark_group("aggregate");
    g.throughput(Throughput::Elements(n));
    g.sample_size(10);
    g.bench_function("scan_pcap_2M_packets_1h_buckets", |b| {
        b.iter(|| {
            let mut agg = Aggregator::new(3600);
            read_capture(&mut agg, black_box(&pcap[..]), &mut Default::default())
                .expect("a capture");
            black_box(agg.finish().len())
        })
    });
    g.finish();
}

fn sketches(c: &mut Criterion) {
    let mut g = c.benchmark_group("sketch");
    g.throughput(Throughput::Elements(1_000_000));
    g.bench_function("insert_1M_distinct", |b| {
        b.iter(|| {
            let mut s = Sketch::new();
            for i in 0..1_000_000u128 {
                s.insert(black_box(i));
            }
            s.estimate()
        })
    });
    g.finish();
}

criterion_group!(benches, aggregation, sketches);
criterion_main!(benches);
