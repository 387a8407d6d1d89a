#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let _ = renkei_formats::dsn::parse(data);
});
