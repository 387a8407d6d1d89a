#![no_main]
// A feed CSV read, enriched (empty tables) and grouped, with each built-in mapping.
use renkei_formats::feed::Mapping;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let tables = renkei_enrich::Tables::default();
    for name in Mapping::BUILTIN {
        let mapping = Mapping::builtin(name).unwrap();
        let _ = renkei_incident::feeds::aggregate(&tables, &mapping, data, Some("JP"), &Default::default(), "2026-01-01");
    }
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = Mapping::from_toml(text);
    }
});
