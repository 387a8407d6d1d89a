//! Packets seen by a sensor on an unused address: pcap and pcapng files, the link
//! types capture tools write, and the one fact the observation pillar keeps of each
//! packet — who sent what kind of probe to which port ([`Probe`]).
//!
//! Every packet read is either a [`Probe`] or counted as unparsed (not IP, a later
//! fragment, or cut short before the transport header). Nothing here panics on any
//! input; the fuzz target `packet` and the tcpdump test captures check it.

use std::io::Read;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use etherparse::{EtherType, LaxNetSlice, LaxSlicedPacket, TransportSlice};
use pcap_parser::{Block, PcapBlockOwned, PcapError};

use crate::FormatError;

/// The transport a probe used. For ICMP the "port" is the ICMP type, as every
/// observation system reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Proto {
    Tcp,
    Udp,
    Icmp,
    Icmpv6,
}

impl Proto {
    pub const ALL: [Proto; 4] = [Proto::Tcp, Proto::Udp, Proto::Icmp, Proto::Icmpv6];

    pub fn as_str(self) -> &'static str {
        match self {
            Proto::Tcp => "tcp",
            Proto::Udp => "udp",
            Proto::Icmp => "icmp",
            Proto::Icmpv6 => "icmpv6",
        }
    }

    pub fn parse(s: &str) -> Option<Proto> {
        Proto::ALL
            .into_iter()
            .find(|p| p.as_str().eq_ignore_ascii_case(s.trim()))
    }

    pub fn index(self) -> usize {
        self as usize
    }
}

/// What the packet means to an unused address.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Class {
    /// Someone looking: a TCP SYN, any UDP datagram, an ICMP echo request.
    Scan,
    /// Answers to packets forged with our address as their source: SYN-ACK, RST,
    /// ICMP errors and echo replies. They show attacks on others, not on us.
    Backscatter,
    /// The rest (TCP without SYN, other ICMP types).
    Other,
}

impl Class {
    pub const ALL: [Class; 3] = [Class::Scan, Class::Backscatter, Class::Other];

    pub fn as_str(self) -> &'static str {
        match self {
            Class::Scan => "scan",
            Class::Backscatter => "backscatter",
            Class::Other => "other",
        }
    }

    pub fn parse(s: &str) -> Option<Class> {
        Class::ALL
            .into_iter()
            .find(|c| c.as_str().eq_ignore_ascii_case(s.trim()))
    }

    pub fn index(self) -> usize {
        self as usize
    }

    /// A TCP segment by its flags: SYN alone looks; SYN-ACK and RST answer.
    pub fn of_tcp(syn: bool, ack: bool, rst: bool) -> Class {
        if rst || (syn && ack) {
            Class::Backscatter
        } else if syn {
            Class::Scan
        } else {
            Class::Other
        }
    }

    /// An ICMP message by its type: requests look; replies and errors answer.
    pub fn of_icmp(t: u8) -> Class {
        match t {
            8 | 13 | 15 | 17 => Class::Scan,
            0 | 3 | 4 | 5 | 11 | 12 | 14 | 16 | 18 => Class::Backscatter,
            _ => Class::Other,
        }
    }

    pub fn of_icmpv6(t: u8) -> Class {
        match t {
            128 => Class::Scan,
            1..=4 | 129 => Class::Backscatter,
            _ => Class::Other,
        }
    }
}

/// A packet reduced to what observation counts. The source is an IPv6 address;
/// IPv4 sources are IPv4-mapped (`::ffff:a.b.c.d`) so both share one key space.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Probe {
    pub src: u128,
    pub proto: Proto,
    pub port: u16,
    pub class: Class,
}

impl Probe {
    pub fn source(&self) -> IpAddr {
        source_ip(self.src)
    }
}

/// The source key of an address (see [`Probe::src`]).
pub fn source_key(ip: IpAddr) -> u128 {
    match ip {
        IpAddr::V4(v4) => u128::from(v4.to_ipv6_mapped()),
        IpAddr::V6(v6) => u128::from(v6),
    }
}

/// The address of a source key, IPv4 again when it was one.
pub fn source_ip(key: u128) -> IpAddr {
    let v6 = Ipv6Addr::from(key);
    match v6.to_ipv4_mapped() {
        Some(v4) => IpAddr::V4(v4),
        None => IpAddr::V6(v6),
    }
}

/// Link-layer header types (tcpdump.org/linktypes.html) this decoder reads.
pub mod linktype {
    pub const NULL: u32 = 0;
    pub const ETHERNET: u32 = 1;
    pub const PPP: u32 = 9;
    pub const RAW_BSD: u32 = 12;
    pub const RAW_OPENBSD: u32 = 14;
    pub const PPP_HDLC: u32 = 50;
    pub const RAW: u32 = 101;
    pub const C_HDLC: u32 = 104;
    pub const LOOP: u32 = 108;
    pub const LINUX_SLL: u32 = 113;
    pub const IPV4: u32 = 228;
    pub const IPV6: u32 = 229;
    /// Linux netfilter's `log group` (iptables NFLOG, nftables `log group N`).
    pub const NFLOG: u32 = 239;
    /// Apple's PKTAP: a header naming the inner frame's own link type.
    pub const PKTAP: u32 = 258;
    pub const LINUX_SLL2: u32 = 276;

    /// Every link type [`super::decode`] reads.
    pub const SUPPORTED: [u32; 15] = [
        NULL,
        ETHERNET,
        PPP,
        RAW_BSD,
        RAW_OPENBSD,
        PPP_HDLC,
        RAW,
        C_HDLC,
        LOOP,
        LINUX_SLL,
        IPV4,
        IPV6,
        NFLOG,
        PKTAP,
        LINUX_SLL2,
    ];

    pub fn supported(link: u32) -> bool {
        SUPPORTED.contains(&link)
    }

    /// The upper bits of a pcap header's link type say whether frames carry an
    /// FCS and how long it is (pcap-savefile(5), libpcap's LT_LINKTYPE); only the
    /// low 26 bits name the type.
    pub fn masked(raw: u32) -> u32 {
        raw & 0x03FF_FFFF
    }
}

/// Decodes one captured frame of link type `link` (already masked).
/// `None` means unparsed: not IP, a later fragment, or too short.
pub fn decode(link: u32, frame: &[u8]) -> Option<Probe> {
    if link == linktype::ETHERNET
        && let Some(p) = fast_ipv4(frame)
    {
        return p;
    }
    decode_sliced(link, frame)
}

/// The common case read by hand — Ethernet, IPv4 without options, a whole TCP, UDP
/// or ICMP header — because a sensor sees millions of these a second. `None`
/// means "not this case": [`decode_sliced`] (etherparse) decides everything else,
/// and a property test checks both agree.
#[inline]
fn fast_ipv4(f: &[u8]) -> Option<Option<Probe>> {
    let ip = f.get(14..34)?;
    if f[12] != 0x08 || f[13] != 0x00 || ip[0] != 0x45 {
        return None;
    }
    let total = usize::from(u16::from_be_bytes([ip[2], ip[3]]));
    let frag = u16::from_be_bytes([ip[6], ip[7]]);
    if frag & 0x3FFF != 0 {
        return Some(None);
    }
    let src = u128::from(u32::from_be_bytes([ip[12], ip[13], ip[14], ip[15]])) | (0xFFFF << 32);
    let l4 = &f[34..];
    let (proto, port, class) = match ip[9] {
        6 => {
            let t = l4.get(..20)?;
            let len = usize::from(t[12] >> 4) * 4;
            if len < 20 || l4.len() < len || total < 20 + len {
                return None;
            }
            let flags = t[13];
            let class = Class::of_tcp(flags & 0x02 != 0, flags & 0x10 != 0, flags & 0x04 != 0);
            (Proto::Tcp, u16::from_be_bytes([t[2], t[3]]), class)
        }
        17 => {
            let u = l4.get(..8)?;
            if total < 28 {
                return None;
            }
            (Proto::Udp, u16::from_be_bytes([u[2], u[3]]), Class::Scan)
        }
        1 => {
            let c = l4.get(..8)?;
            if total < 28 {
                return None;
            }
            (Proto::Icmp, u16::from(c[0]), Class::of_icmp(c[0]))
        }
        _ => return None,
    };
    Some(Some(Probe {
        src,
        proto,
        port,
        class,
    }))
}

/// Decodes any supported link type through etherparse.
pub fn decode_sliced(link: u32, frame: &[u8]) -> Option<Probe> {
    let sliced = match link {
        linktype::ETHERNET => LaxSlicedPacket::from_ethernet(frame).ok()?,
        linktype::RAW
        | linktype::RAW_BSD
        | linktype::RAW_OPENBSD
        | linktype::IPV4
        | linktype::IPV6 => LaxSlicedPacket::from_ip(frame).ok()?,
        linktype::LINUX_SLL => {
            // 16-byte cooked header; the protocol is the last two bytes.
            let proto = u16::from_be_bytes([*frame.get(14)?, *frame.get(15)?]);
            LaxSlicedPacket::from_ether_type(EtherType(proto), frame.get(16..)?)
        }
        linktype::LINUX_SLL2 => {
            // 20-byte cooked header v2; the protocol comes first.
            let proto = u16::from_be_bytes([*frame.first()?, *frame.get(1)?]);
            if frame.len() < 20 {
                return None;
            }
            LaxSlicedPacket::from_ether_type(EtherType(proto), &frame[20..])
        }
        linktype::NULL | linktype::LOOP => {
            // A 4-byte address family in the capturing host's byte order (NULL) or
            // network order (LOOP); 2 is IPv4, the IPv6 values differ per BSD.
            frame.get(..4)?;
            LaxSlicedPacket::from_ip(&frame[4..]).ok()?
        }
        linktype::PPP | linktype::PPP_HDLC => {
            // RFC 1661/1662: address 0xFF and control 0x03 (often left out), then
            // the protocol: 0x0021 IPv4, 0x0057 IPv6.
            let rest = match frame {
                [0xFF, 0x03, rest @ ..] => rest,
                rest => rest,
            };
            match rest {
                [0x00, 0x21, ip @ ..] | [0x00, 0x57, ip @ ..] | [0x21, ip @ ..] => {
                    LaxSlicedPacket::from_ip(ip).ok()?
                }
                _ => return None,
            }
        }
        linktype::C_HDLC => {
            // Cisco HDLC: address, control, then an EtherType.
            let proto = u16::from_be_bytes([*frame.get(2)?, *frame.get(3)?]);
            LaxSlicedPacket::from_ether_type(EtherType(proto), frame.get(4..)?)
        }
        linktype::NFLOG => {
            return nflog_payload(frame).and_then(|ip| decode_sliced(linktype::RAW, ip));
        }
        linktype::PKTAP => {
            // The header's length and the inner link type, in the capturing host's
            // (little-endian) byte order.
            let len = u32::from_le_bytes(frame.get(..4)?.try_into().ok()?) as usize;
            let inner = u32::from_le_bytes(frame.get(8..12)?.try_into().ok()?);
            if len < 12 || inner == linktype::PKTAP {
                return None;
            }
            return decode(linktype::masked(inner), frame.get(len..)?);
        }
        _ => return None,
    };
    probe_of(&sliced)
}

/// The packet inside an NFLOG record: a 4-byte header (family, version, group),
/// then TLVs of (length, type) in host (little-endian) order, each padded to four
/// bytes; type 9 (NFULA_PAYLOAD) holds the IP packet.
fn nflog_payload(frame: &[u8]) -> Option<&[u8]> {
    let mut at = 4;
    frame.get(..4)?;
    while at + 4 <= frame.len() {
        let len = usize::from(u16::from_le_bytes([frame[at], frame[at + 1]]));
        let kind = u16::from_le_bytes([frame[at + 2], frame[at + 3]]) & 0x7FFF;
        if len < 4 {
            return None;
        }
        if kind == 9 {
            return frame.get(at + 4..at + len);
        }
        at += len.div_ceil(4) * 4;
    }
    None
}

fn probe_of(p: &LaxSlicedPacket<'_>) -> Option<Probe> {
    let (src, fragmented) = match p.net.as_ref()? {
        LaxNetSlice::Ipv4(ip) => (
            u128::from(Ipv4Addr::from(ip.header().source()).to_ipv6_mapped()),
            ip.is_payload_fragmented(),
        ),
        LaxNetSlice::Ipv6(ip) => (
            u128::from_be_bytes(ip.header().source()),
            ip.is_payload_fragmented(),
        ),
        LaxNetSlice::Arp(_) => return None,
    };
    if fragmented {
        return None;
    }
    let (proto, port, class) = match p.transport.as_ref()? {
        TransportSlice::Tcp(tcp) => (
            Proto::Tcp,
            tcp.destination_port(),
            Class::of_tcp(tcp.syn(), tcp.ack(), tcp.rst()),
        ),
        TransportSlice::Udp(udp) => (Proto::Udp, udp.destination_port(), Class::Scan),
        TransportSlice::Icmpv4(icmp) => {
            let t = icmp.type_u8();
            (Proto::Icmp, u16::from(t), Class::of_icmp(t))
        }
        TransportSlice::Icmpv6(icmp) => {
            let t = icmp.type_u8();
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

/// How reading a capture ended.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CaptureEnd {
    /// Packet records read (each was handed to the callback).
    pub records: u64,
    /// Set when the file stopped early: cut short, or a damaged record after which
    /// nothing can be read. What came before was still counted.
    pub damage: Option<String>,
    /// Records of link types this decoder does not read, per link type: counted,
    /// not silently left unparsed.
    pub unknown_links: std::collections::BTreeMap<u32, u64>,
}

impl CaptureEnd {
    fn count(&mut self, link: u32) {
        self.records += 1;
        if !linktype::supported(link) {
            *self.unknown_links.entry(link).or_default() += 1;
        }
    }
}

const FORMAT: &str = "pcap";
/// Enough for any record libpcap writes (its maximum snapshot length is 256 KiB);
/// larger records are refused as damage rather than read into unbounded memory.
const MAX_BUFFER: usize = 16 << 20;

/// Reads a pcap or pcapng stream and hands each packet record to `packet` with its
/// timestamp (seconds since the epoch) and its decoded probe, if any.
///
/// A stream that is neither format is an error; a stream damaged part way ends the
/// reading with [`CaptureEnd::damage`] set, keeping what was read.
pub fn read_capture<R: Read + Send>(
    input: R,
    mut packet: impl FnMut(i64, Option<Probe>),
) -> Result<CaptureEnd, FormatError> {
    let mut input = input;
    // Enough to hold a pcapng section header with its options: the fallback
    // reader recognizes the format from its first read, which this is.
    let mut head = vec![0u8; 64 << 10];
    let got = read_full(&mut input, &mut head);
    let head = &head[..got];
    if let Ok((_, h)) = pcap_parser::parse_pcap_header(head)
        && !h.is_modified_format()
    {
        return read_legacy(
            linktype::masked(h.network.0 as u32),
            h.is_bigendian(),
            std::io::Cursor::new(head[24..].to_vec()).chain(input),
            packet,
        );
    }
    let input = std::io::Cursor::new(head.to_vec()).chain(input);
    let mut reader = match pcap_parser::create_reader(1 << 20, input) {
        Ok(r) => r,
        Err(PcapError::Eof) => return Err(FormatError::malformed(FORMAT, "the file is empty")),
        Err(_) => {
            return Err(FormatError::malformed(
                FORMAT,
                "not a pcap or pcapng capture (the header is not recognized)",
            ));
        }
    };
    let mut end = CaptureEnd::default();
    // Legacy pcap: one link type per file (seconds are the same at any precision).
    let mut legacy_link = linktype::ETHERNET;
    // pcapng: per interface of the current section, (link type, units per second, offset).
    let mut interfaces: Vec<(u32, u64, i64)> = Vec::new();
    let mut capacity = 1usize << 20;
    loop {
        match reader.next() {
            Ok((offset, block)) => {
                match block {
                    PcapBlockOwned::LegacyHeader(h) => {
                        legacy_link = linktype::masked(h.network.0 as u32);
                    }
                    PcapBlockOwned::Legacy(b) => {
                        end.count(legacy_link);
                        packet(i64::from(b.ts_sec), decode(legacy_link, b.data));
                    }
                    PcapBlockOwned::NG(Block::SectionHeader(_)) => interfaces.clear(),
                    PcapBlockOwned::NG(Block::InterfaceDescription(idb)) => {
                        let units = idb.ts_resolution().unwrap_or(1_000_000).max(1);
                        interfaces.push((
                            linktype::masked(idb.linktype.0 as u32),
                            units,
                            idb.ts_offset(),
                        ));
                    }
                    PcapBlockOwned::NG(Block::EnhancedPacket(epb)) => {
                        let (link, units, offset) = interfaces
                            .get(epb.if_id as usize)
                            .copied()
                            .unwrap_or((u32::MAX, 1_000_000, 0));
                        end.count(link);
                        let ticks = (u64::from(epb.ts_high) << 32) | u64::from(epb.ts_low);
                        let secs = (ticks / units) as i64 + offset;
                        // An unknown interface is damage in this record only.
                        packet(secs, decode(link, epb.data));
                    }
                    PcapBlockOwned::NG(Block::SimplePacket(spb)) => {
                        // Simple packets carry no time; they belong to interface 0.
                        let link = interfaces.first().map(|i| i.0).unwrap_or(u32::MAX);
                        end.count(link);
                        packet(0, decode(link, spb.data));
                    }
                    PcapBlockOwned::NG(_) => {}
                }
                reader.consume(offset);
            }
            Err(PcapError::Eof) => break,
            Err(PcapError::Incomplete(_)) => {
                if reader.refill().is_err() {
                    end.damage = Some("the capture could not be read further".into());
                    break;
                }
            }
            Err(PcapError::BufferTooSmall) => {
                if capacity >= MAX_BUFFER {
                    end.damage = Some("a record larger than 16 MiB".into());
                    break;
                }
                capacity *= 4;
                reader.grow(capacity);
            }
            Err(PcapError::UnexpectedEof) => {
                end.damage = Some(format!(
                    "the capture is cut short after {} records",
                    end.records
                ));
                break;
            }
            Err(e) => {
                end.damage = Some(
                    format!("damaged record after {} records: {e:?}", end.records)
                        .chars()
                        .take(200)
                        .collect(),
                );
                break;
            }
        }
    }
    Ok(end)
}

fn read_full(input: &mut impl Read, buf: &mut [u8]) -> usize {
    let mut n = 0;
    while n < buf.len() {
        match input.read(&mut buf[n..]) {
            Ok(0) | Err(_) => break,
            Ok(k) => n += k,
        }
    }
    n
}

/// Classic pcap, read in large chunks straight through pcap-parser's frame parser
/// (no streaming reader in between: this is the sensor's hot loop).
fn read_legacy<R: Read>(
    link: u32,
    big_endian: bool,
    mut input: R,
    mut packet: impl FnMut(i64, Option<Probe>),
) -> Result<CaptureEnd, FormatError> {
    let mut end = CaptureEnd::default();
    let mut buf = vec![0u8; 1 << 20];
    let (mut start, mut filled) = (0usize, 0usize);
    let parse = if big_endian {
        pcap_parser::parse_pcap_frame_be
    } else {
        pcap_parser::parse_pcap_frame
    };
    loop {
        loop {
            match parse(&buf[start..filled]) {
                Ok((rest, b)) => {
                    end.count(link);
                    packet(i64::from(b.ts_sec), decode(link, b.data));
                    start = filled - rest.len();
                }
                Err(pcap_parser::nom::Err::Incomplete(_)) => break,
                Err(_) => {
                    end.damage = Some(format!("damaged record after {} records", end.records));
                    return Ok(end);
                }
            }
        }
        buf.copy_within(start..filled, 0);
        filled -= start;
        start = 0;
        if filled == buf.len() {
            if buf.len() >= MAX_BUFFER {
                end.damage = Some("a record larger than 16 MiB".into());
                return Ok(end);
            }
            buf.resize(buf.len() * 4, 0);
        }
        match input.read(&mut buf[filled..]) {
            Ok(0) => {
                if filled > 0 {
                    end.damage = Some(format!(
                        "the capture is cut short after {} records",
                        end.records
                    ));
                }
                return Ok(end);
            }
            Ok(n) => filled += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => {
                end.damage = Some(format!("read error after {} records: {e}", end.records));
                return Ok(end);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn frame(proto: u8, total: u16, frag: u16, l4: &[u8]) -> Vec<u8> {
        let mut f = vec![0u8; 14];
        f[12] = 0x08;
        let mut ip = vec![
            0x45, 0, 0, 0, 0, 1, 0, 0, 64, proto, 0, 0, 198, 51, 100, 7, 203, 0, 113, 5,
        ];
        ip[2..4].copy_from_slice(&total.to_be_bytes());
        ip[6..8].copy_from_slice(&frag.to_be_bytes());
        f.extend_from_slice(&ip);
        f.extend_from_slice(l4);
        f
    }

    #[test]
    fn a_syn_is_a_scan_on_its_port_and_a_syn_ack_is_backscatter() {
        let mut tcp = [0u8; 20];
        tcp[2..4].copy_from_slice(&445u16.to_be_bytes());
        tcp[12] = 0x50;
        tcp[13] = 0x02;
        let p = decode(linktype::ETHERNET, &frame(6, 40, 0, &tcp)).unwrap();
        assert_eq!((p.proto, p.port, p.class), (Proto::Tcp, 445, Class::Scan));
        assert_eq!(p.source().to_string(), "198.51.100.7");
        tcp[13] = 0x12;
        assert_eq!(
            decode(linktype::ETHERNET, &frame(6, 40, 0, &tcp))
                .unwrap()
                .class,
            Class::Backscatter
        );
        assert_eq!(
            decode(linktype::ETHERNET, &frame(6, 40, 0x2000, &tcp)),
            None,
            "a fragment has no port"
        );
        assert_eq!(
            decode(linktype::ETHERNET, &frame(6, 40, 0, &tcp[..10])),
            None,
            "cut in the TCP header"
        );
    }

    #[test]
    fn probes_are_read_from_every_supported_link_type() {
        let mut tcp = [0u8; 20];
        tcp[2..4].copy_from_slice(&23u16.to_be_bytes());
        tcp[12] = 0x50;
        tcp[13] = 0x02;
        let eth = frame(6, 40, 0, &tcp);
        let ip = eth[14..].to_vec();
        let with = |head: &[u8], body: &[u8]| [head, body].concat();
        let mut nflog = vec![2, 0, 0, 1];
        nflog.extend_from_slice(&8u16.to_le_bytes());
        nflog.extend_from_slice(&1u16.to_le_bytes());
        nflog.extend_from_slice(&[0x08, 0x00, 3, 0]);
        nflog.extend_from_slice(&((4 + ip.len()) as u16).to_le_bytes());
        nflog.extend_from_slice(&9u16.to_le_bytes());
        nflog.extend_from_slice(&ip);
        let mut pktap = 12u32.to_le_bytes().to_vec();
        pktap.extend_from_slice(&1u32.to_le_bytes());
        pktap.extend_from_slice(&linktype::ETHERNET.to_le_bytes());
        pktap.extend_from_slice(&eth);
        let mut sll2 = vec![0x08, 0x00];
        sll2.extend_from_slice(&[0u8; 18]);
        sll2.extend_from_slice(&ip);
        for (link, f) in [
            (linktype::PPP, with(&[0xFF, 0x03, 0x00, 0x21], &ip)),
            (linktype::PPP, with(&[0x00, 0x21], &ip)),
            (linktype::PPP_HDLC, with(&[0xFF, 0x03, 0x00, 0x21], &ip)),
            (linktype::C_HDLC, with(&[0x0F, 0x00, 0x08, 0x00], &ip)),
            (linktype::NFLOG, nflog.clone()),
            (linktype::PKTAP, pktap.clone()),
            (linktype::LINUX_SLL2, sll2.clone()),
            (linktype::NULL, with(&2u32.to_le_bytes(), &ip)),
            (linktype::LOOP, with(&2u32.to_be_bytes(), &ip)),
            (linktype::RAW, ip.clone()),
        ] {
            let p = decode(link, &f).unwrap_or_else(|| panic!("link type {link}"));
            assert_eq!(
                (p.proto, p.port, p.source().to_string()),
                (Proto::Tcp, 23, "198.51.100.7".to_string()),
                "link type {link}"
            );
        }
        assert_eq!(
            decode(linktype::NFLOG, &nflog[..12]),
            None,
            "no payload TLV"
        );
    }

    #[test]
    fn records_of_unknown_link_types_are_counted_per_link_type() {
        let mut file = 0xa1b2_c3d4u32.to_le_bytes().to_vec();
        file.extend_from_slice(&2u16.to_le_bytes());
        file.extend_from_slice(&4u16.to_le_bytes());
        file.extend_from_slice(&[0; 8]);
        file.extend_from_slice(&65535u32.to_le_bytes());
        file.extend_from_slice(&147u32.to_le_bytes()); // LINKTYPE_USER0
        for _ in 0..3 {
            file.extend_from_slice(&1u32.to_le_bytes());
            file.extend_from_slice(&0u32.to_le_bytes());
            file.extend_from_slice(&4u32.to_le_bytes());
            file.extend_from_slice(&4u32.to_le_bytes());
            file.extend_from_slice(&[1, 2, 3, 4]);
        }
        let mut seen = 0;
        let end = read_capture(file.as_slice(), |_, p| {
            assert!(p.is_none());
            seen += 1;
        })
        .unwrap();
        assert_eq!((end.records, seen), (3, 3));
        assert_eq!(end.unknown_links.get(&147), Some(&3));
    }

    #[test]
    fn the_link_type_flag_bits_are_masked_off() {
        // FCS present (bit 26) and an FCS length of 4 (bits 28-31).
        assert_eq!(linktype::masked(0x4400_0001), linktype::ETHERNET);
    }

    proptest! {
        /// The hand-read fast path and etherparse agree on every Ethernet/IPv4
        /// frame, whatever its lengths, flags and offsets say.
        #[test]
        fn the_fast_path_agrees_with_etherparse(
            proto in prop_oneof![Just(1u8), Just(6u8), Just(17u8), any::<u8>()],
            total in prop_oneof![0u16..80, any::<u16>()],
            frag in prop_oneof![Just(0u16), Just(0x4000u16), any::<u16>()],
            l4 in proptest::collection::vec(any::<u8>(), 0..64),
        ) {
            let f = frame(proto, total, frag, &l4);
            prop_assert_eq!(decode(linktype::ETHERNET, &f), decode_sliced(linktype::ETHERNET, &f));
        }

        #[test]
        fn any_bytes_read_as_a_capture_without_a_panic(data in proptest::collection::vec(any::<u8>(), 0..256)) {
            let mut pcap = vec![0xd4, 0xc3, 0xb2, 0xa1, 2, 0, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 0, 0, 1, 0, 0, 0];
            pcap.extend_from_slice(&data);
            let mut n = 0;
            let end = read_capture(&pcap[..], |_, _| n += 1).unwrap();
            prop_assert_eq!(end.records, n);
        }
    }
}
