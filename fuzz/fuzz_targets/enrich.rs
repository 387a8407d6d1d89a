#![no_main]
// Every table loader, and the table built from what it read, on the same bytes.
use renkei_enrich::{SUPPORTED, Tables};

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    for (kind, format) in SUPPORTED {
        if let Ok((tables, _)) = Tables::build([(kind, format, "fuzz", data)]) {
            let _ = tables.lookup_str("192.0.2.1");
            let _ = tables.lookup_str("2001:db8::1");
        }
    }
});
