#![no_main]
// Mail as machines send it: mbox files, ARF and legacy X-ARF parts, ACNS notices,
// packed attachments and Shadowserver file detection.
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    use renkei_formats::{acns, archive, arf, mbox, mime, shadowserver, xarf_legacy};
    for m in mbox::split(data) {
        let _ = mime::parse(&m, 1 << 20);
    }
    let _ = arf::parse(data);
    let _ = xarf_legacy::parse_yaml(data, None);
    if let Ok(v) = serde_json::from_slice(data) {
        let _ = xarf_legacy::parse_json(&v);
    }
    let _ = acns::parse(data);
    let limits = archive::Limits { max_bytes: 1 << 20, max_ratio: 100, max_files: 10 };
    let _ = archive::unpack("fuzz.zip", data, &limits);
    let text = String::from_utf8_lossy(data);
    let header: Vec<String> = text.split(',').take(30).map(str::to_string).collect();
    let _ = shadowserver::detect(&text, &header, &[]);
});
