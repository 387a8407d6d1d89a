//! Firewall log lines as Linux netfilter writes them (iptables `LOG`, nftables
//! `log`): `… SRC=198.51.100.7 DST=203.0.113.5 … PROTO=TCP SPT=44321 DPT=23 … SYN …`,
//! behind a syslog timestamp (traditional `Nov 22 10:00:01` or RFC 3339).
//!
//! A sensor without a capture device reads these instead of packets; each line gives
//! the same [`Probe`] a captured packet would.

use chrono::{DateTime, Datelike, NaiveDateTime, TimeZone, Utc};

use crate::packet::{Class, Probe, Proto, source_key};

/// What one log line was.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FwLine {
    /// Not a netfilter packet line (other syslog traffic); not counted.
    NotFirewall,
    /// A packet line missing what a probe needs (a later fragment, a damaged line).
    Unparsed(Option<i64>),
    /// A packet, with its time in seconds since the epoch.
    Probe(i64, Probe),
}

/// Parses one line. `now` fixes the year of traditional syslog stamps, which have
/// none: the latest year that does not put the line more than a day in the future.
pub fn parse_line(line: &str, now: DateTime<Utc>) -> FwLine {
    if !line.contains(" SRC=") || !line.contains(" PROTO=") {
        return FwLine::NotFirewall;
    }
    let ts = timestamp(line, now);
    match probe(line) {
        Some(p) => match ts {
            Some(t) => FwLine::Probe(t, p),
            None => FwLine::Unparsed(None),
        },
        None => FwLine::Unparsed(ts),
    }
}

fn field<'a>(line: &'a str, key: &str) -> Option<&'a str> {
    line.split_ascii_whitespace()
        .find_map(|w| w.strip_prefix(key)?.strip_prefix('='))
}

fn has_word(line: &str, word: &str) -> bool {
    line.split_ascii_whitespace().any(|w| w == word)
}

fn probe(line: &str) -> Option<Probe> {
    let src = source_key(field(line, "SRC")?.parse().ok()?);
    let proto = field(line, "PROTO")?;
    let (proto, port, class) = match proto {
        "TCP" => {
            let port = field(line, "DPT")?.parse().ok()?;
            let class = Class::of_tcp(
                has_word(line, "SYN"),
                has_word(line, "ACK"),
                has_word(line, "RST"),
            );
            (Proto::Tcp, port, class)
        }
        "UDP" | "UDPLITE" => (Proto::Udp, field(line, "DPT")?.parse().ok()?, Class::Scan),
        "ICMP" => {
            let t: u8 = field(line, "TYPE")?.parse().ok()?;
            (Proto::Icmp, u16::from(t), Class::of_icmp(t))
        }
        "ICMPv6" => {
            let t: u8 = field(line, "TYPE")?.parse().ok()?;
            (Proto::Icmpv6, u16::from(t), Class::of_icmpv6(t))
        }
        _ => return None,
    };
    Some(Probe {
        src,
        proto,
        port,
        class,
    })
}

fn timestamp(line: &str, now: DateTime<Utc>) -> Option<i64> {
    let first = line.split_ascii_whitespace().next()?;
    if first.len() >= 19 && first.as_bytes()[4] == b'-' {
        // RFC 3339 (rsyslog high precision) or journalctl's +0900 offsets.
        if let Ok(t) = DateTime::parse_from_rfc3339(first) {
            return Some(t.timestamp());
        }
        if let Ok(t) = DateTime::parse_from_str(first, "%Y-%m-%dT%H:%M:%S%.f%z") {
            return Some(t.timestamp());
        }
        return NaiveDateTime::parse_from_str(first, "%Y-%m-%dT%H:%M:%S%.f")
            .ok()
            .map(|t| t.and_utc().timestamp());
    }
    // "Nov 22 10:00:01": the host's zone is unknown here; syslog on sensors runs in UTC.
    let stamp: String = line.get(..15)?.to_string();
    for year in [now.year(), now.year() - 1] {
        let candidate = format!("{year} {stamp}");
        let t = NaiveDateTime::parse_from_str(&candidate, "%Y %b %e %H:%M:%S").ok()?;
        let t = Utc.from_utc_datetime(&t);
        if t.timestamp() <= now.timestamp() + 86_400 {
            return Some(t.timestamp());
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::packet::source_ip;

    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 22, 12, 0, 0).unwrap()
    }

    #[test]
    fn an_iptables_syn_line_is_a_tcp_scan_on_its_destination_port() {
        let line = "Nov 22 10:00:01 sensor1 kernel: [812.123] RENKEI IN=eth0 OUT= MAC=00:11:22:33:44:55:66:77:88:99:aa:bb:08:00 SRC=198.51.100.7 DST=203.0.113.5 LEN=40 TOS=0x00 PREC=0x00 TTL=240 ID=54321 PROTO=TCP SPT=44321 DPT=2967 WINDOW=1024 RES=0x00 SYN URGP=0";
        let FwLine::Probe(ts, p) = parse_line(line, now()) else {
            panic!("{:?}", parse_line(line, now()))
        };
        assert_eq!(
            ts,
            Utc.with_ymd_and_hms(2026, 11, 22, 10, 0, 1)
                .unwrap()
                .timestamp()
        );
        assert_eq!((p.proto, p.port, p.class), (Proto::Tcp, 2967, Class::Scan));
        assert_eq!(source_ip(p.src).to_string(), "198.51.100.7");
    }

    #[test]
    fn a_december_line_read_in_january_belongs_to_the_year_before() {
        let jan = Utc.with_ymd_and_hms(2027, 1, 2, 0, 0, 0).unwrap();
        let line = "Dec 31 23:59:59 s kernel: IN=eth0 SRC=198.51.100.7 DST=203.0.113.5 PROTO=UDP SPT=5 DPT=53 LEN=20";
        let FwLine::Probe(ts, p) = parse_line(line, jan) else {
            panic!()
        };
        assert_eq!(
            ts,
            Utc.with_ymd_and_hms(2026, 12, 31, 23, 59, 59)
                .unwrap()
                .timestamp()
        );
        assert_eq!((p.proto, p.port), (Proto::Udp, 53));
    }

    #[test]
    fn nftables_icmpv6_lines_with_rfc3339_stamps_are_read() {
        let line = "2026-11-22T09:15:00.123456+09:00 s kernel: renkei IN=eth0 OUT= SRC=2001:db8::7 DST=2001:db8::1 LEN=64 TC=0 HOPLIMIT=60 FLOWLBL=0 PROTO=ICMPv6 TYPE=128 CODE=0 ID=1 SEQ=1";
        let FwLine::Probe(ts, p) = parse_line(line, now()) else {
            panic!()
        };
        assert_eq!(
            ts,
            Utc.with_ymd_and_hms(2026, 11, 22, 0, 15, 0)
                .unwrap()
                .timestamp()
        );
        assert_eq!(
            (p.proto, p.port, p.class),
            (Proto::Icmpv6, 128, Class::Scan)
        );
    }

    #[test]
    fn rst_and_syn_ack_lines_are_backscatter_and_other_syslog_is_ignored() {
        let rst = "Nov 22 10:00:01 s kernel: IN=eth0 SRC=192.0.2.1 DST=203.0.113.5 PROTO=TCP SPT=80 DPT=31337 WINDOW=0 RES=0x00 ACK RST URGP=0";
        assert!(
            matches!(parse_line(rst, now()), FwLine::Probe(_, p) if p.class == Class::Backscatter)
        );
        assert_eq!(
            parse_line("Nov 22 10:00:01 s sshd[1]: Accepted publickey", now()),
            FwLine::NotFirewall
        );
        let frag = "Nov 22 10:00:01 s kernel: IN=eth0 SRC=192.0.2.1 DST=203.0.113.5 LEN=1500 ID=7 FRAG:185 PROTO=UDP";
        assert!(matches!(parse_line(frag, now()), FwLine::Unparsed(Some(_))));
    }
}
