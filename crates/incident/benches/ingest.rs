//! Store-level intake on a fresh SQLite file (the embedded default): an IODEF document
//! received (raw bytes committed), parsed, classified and turned into incidents, with
//! its audit rows. One by one (as the API and mail take reports) and in batches of
//! 200 (as `renkei incident import` takes files). Each document names a different
//! scanner, as a real backlog does.

use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use renkei_core::Store;
use renkei_core::audit::{self, Actor, Event};
use renkei_core::tlp::Tlp;
use renkei_incident::reports::{self, Channel, InputFormat, Settings};

fn benches(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("bench.db").display());
    let store = rt.block_on(Store::open(&url, 4)).unwrap();
    let settings = Settings::default();
    let actor = Actor::system("bench");
    let template = String::from_utf8(
        include_bytes!("../../formats/tests/data/iodef/rfc5070-recon.xml").to_vec(),
    )
    .unwrap();
    let mut n = 0u32;
    let mut next_doc = move || {
        n += 1;
        template
            .replace(
                "192.0.2.200",
                &format!("10.{}.{}.{}", (n >> 16) & 255, (n >> 8) & 255, n & 255),
            )
            .into_bytes()
    };

    let mut g = c.benchmark_group("store");
    g.throughput(Throughput::Elements(1));
    g.sample_size(20);
    g.bench_function("iodef_ingest_one_by_one_sqlite", |b| {
        b.iter_batched(
            &mut next_doc,
            |doc| {
                rt.block_on(reports::ingest(
                    &store,
                    &settings,
                    &actor,
                    Channel::Import,
                    InputFormat::Iodef,
                    &doc,
                    Tlp::Amber,
                    None,
                ))
                .unwrap()
            },
            BatchSize::SmallInput,
        )
    });
    let doc = next_doc();
    g.bench_function("receive_only_sqlite", |b| {
        b.iter(|| {
            rt.block_on(reports::receive(
                &store,
                &actor,
                Channel::Import,
                InputFormat::Iodef,
                &doc,
                Tlp::Amber,
                None,
            ))
            .unwrap()
        })
    });
    g.bench_function("audit_record_alone_sqlite", |b| {
        b.iter(|| {
            rt.block_on(audit::record_alone(
                &store,
                &actor,
                Event {
                    action: "bench",
                    object_type: "bench",
                    object_id: "1".into(),
                    changes: serde_json::json!({}),
                },
            ))
            .unwrap()
        })
    });
    g.bench_function("select_one_sqlite", |b| {
        b.iter(|| rt.block_on(renkei_core::counts::ping(&store)).unwrap())
    });
    g.finish();

    let mut g = c.benchmark_group("store_batch");
    g.throughput(Throughput::Elements(200));
    g.sample_size(20);
    g.bench_function("iodef_ingest_batches_of_200_sqlite", |b| {
        b.iter_batched(
            || (0..200).map(|_| next_doc()).collect::<Vec<_>>(),
            |docs| {
                let batch: Vec<(&[u8], Tlp)> =
                    docs.iter().map(|d| (d.as_slice(), Tlp::Amber)).collect();
                rt.block_on(reports::ingest_many(
                    &store,
                    &settings,
                    &actor,
                    Channel::Import,
                    InputFormat::Iodef,
                    &batch,
                    None,
                ))
                .unwrap()
            },
            BatchSize::SmallInput,
        )
    });
    g.finish();
}

criterion_group!(store, benches);
criterion_main!(store);
