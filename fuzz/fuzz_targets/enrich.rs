#![no_main]
// Every table loader on the same bytes, and the tables built from what they read.
use renkei_enrich::{SUPPORTED, Tables};

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    if let Ok((tables, _)) = Tables::build(SUPPORTED.map(|(kind, format)| (kind, format, "fuzz", data))) {
        let _ = tables.lookup_str("192.0.2.1");
        let _ = tables.lookup_str("2001:db8::1");
    }
});
