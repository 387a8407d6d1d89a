#![no_main]
// A feed CSV read, enriched (empty tables) and grouped, with each built-in mapping;
// and split into chunks, each of which must read alone.
use renkei_formats::feed::Mapping;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let tables = renkei_enrich::Tables::default();
    for name in Mapping::BUILTIN {
        let mapping = Mapping::builtin(name).unwrap();
        let _ = renkei_incident::feeds::aggregate(&tables, &mapping, data, Some("JP"), &Default::default(), "2026-01-01", 0);
        if let Ok(chunks) = renkei_incident::feeds::split(&mapping, data, 3) {
            for c in chunks {
                let _ = renkei_incident::feeds::aggregate(&tables, &mapping, &c.data, None, &Default::default(), "2026-01-01", c.line_offset);
            }
        }
    }
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = Mapping::from_toml(text);
    }
});
