#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let _ = renkei_formats::csaf::read(data);
    let _ = renkei_formats::cve5::read(data);
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = renkei_formats::cvss::Cvss31::parse(text);
        let _ = renkei_formats::cvss::Cvss31::parse(&renkei_formats::cvss::Cvss31::base_of(text));
        let _ = renkei_formats::cwe::parse(text);
        let _ = renkei_formats::purl::problem(text);
        let _ = renkei_formats::cvss::v3_base_score(text);
        let _ = renkei_formats::cvss::v2_base_score(text);
    }
});
