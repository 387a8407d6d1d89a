#![no_main]
// What coordinators and outside calendars hand the dissemination pillar: holiday
// files (CSV or iCalendar) and Markdown alert text, rendered and flattened.
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = renkei_publish::calendar::parse_holidays(text);
        let html = renkei_publish::markdown::to_html(text);
        assert!(!html.contains("<script"));
        let _ = renkei_publish::markdown::to_text(text);
    }
});
