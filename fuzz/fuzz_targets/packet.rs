#![no_main]
//! The sensor's decoder on any bytes: as a whole capture file, as one frame of
//! every link type, as firewall log lines; and the collector's batch and sketch
//! readers.
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    use renkei_formats::packet::{self, linktype};
    let _ = packet::read_capture(data, |_, _| {});
    for link in [
        linktype::ETHERNET,
        linktype::RAW,
        linktype::LINUX_SLL,
        linktype::LINUX_SLL2,
        linktype::NULL,
        linktype::IPV6,
    ] {
        let fast = packet::decode(link, data);
        if link == linktype::ETHERNET {
            // The hand-read fast path must agree with etherparse.
            assert_eq!(fast, packet::decode_sliced(link, data));
        }
    }
    if let Ok(text) = std::str::from_utf8(data) {
        let now = chrono::DateTime::from_timestamp(1_800_000_000, 0).unwrap();
        for line in text.lines() {
            let _ = renkei_formats::fwlog::parse_line(line, now);
        }
    }
    let _ = renkei_observe::batch::Batch::parse(data);
    let _ = renkei_observe::sketch::Sketch::from_bytes(data);
    let mut agg = renkei_observe::aggregate::Aggregator::new(3600);
    let _ = renkei_observe::aggregate::read_capture(&mut agg, data);
    let _ = agg.finish();
});
