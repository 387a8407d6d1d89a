//! The tcpdump project's test captures (hundreds of link types, truncated and
//! malformed packets; `.ci/run` fetches them from Debian's tcpdump source into
//! RENKEI_PCAP_CORPUS) all read without a panic, and every record read is counted
//! either as a port or as unparsed.

use std::collections::BTreeMap;
use std::path::PathBuf;

use renkei_observe::aggregate::{Aggregator, Summary, read_capture};

fn corpus() -> Option<PathBuf> {
    let dir = std::env::var_os("RENKEI_PCAP_CORPUS")
        .map(PathBuf::from)
        .or_else(|| {
            std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache/renkei-pcap-corpus"))
        })?;
    dir.is_dir().then_some(dir)
}

#[test]
fn the_tcpdump_test_captures_read_without_a_panic_and_every_record_is_counted() {
    let Some(dir) = corpus() else {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI must provide the pcap corpus (see .ci/run)"
        );
        eprintln!("no pcap corpus (RENKEI_PCAP_CORPUS): skipped");
        return;
    };
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "pcap" || x == "pcapng"))
        .collect();
    files.sort();
    assert!(files.len() > 500, "{} captures", files.len());
    let (mut read, mut refused, mut damaged) = (0, 0, 0);
    let (mut packets, mut unparsed) = (0u64, 0u64);
    let mut protos: BTreeMap<&'static str, u64> = BTreeMap::new();
    let mut unknown_links: BTreeMap<u32, u64> = BTreeMap::new();
    for f in &files {
        let mut agg = Aggregator::new(3600);
        match read_capture(
            &mut agg,
            std::fs::File::open(f).unwrap(),
            &mut unknown_links,
        ) {
            Ok(d) => {
                read += 1;
                damaged += usize::from(d.is_some());
            }
            Err(_) => {
                refused += 1;
                continue;
            }
        }
        let s = Summary::of(&agg.finish(), 3600);
        let counted: u64 = s.by_port.iter().map(|p| p.packets).sum();
        assert_eq!(
            counted + s.unparsed,
            s.packets,
            "{}: every record is a port or unparsed",
            f.display()
        );
        packets += s.packets;
        unparsed += s.unparsed;
        for p in &s.by_port {
            *protos.entry(p.proto).or_default() += p.packets;
        }
    }
    let not_read: u64 = unknown_links.values().sum();
    eprintln!(
        "{} captures: {read} read ({damaged} ended early), {refused} refused; {packets} packets, {unparsed} unparsed ({not_read} of link types not read: {unknown_links:?}); {protos:?}",
        files.len()
    );
    assert!(
        not_read <= unparsed,
        "records of unread link types are unparsed"
    );
    for link in renkei_formats::packet::linktype::SUPPORTED {
        assert!(
            !unknown_links.contains_key(&link),
            "link type {link} is read"
        );
    }
    assert!(read > files.len() * 9 / 10);
    assert!(
        protos.len() == 4,
        "TCP, UDP, ICMP and ICMPv6 all seen: {protos:?}"
    );
}
