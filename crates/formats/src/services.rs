//! Port numbers with their service names, as people read them: `80 (http)`,
//! `445 (microsoft-ds)`. The names are the IANA Service Name and Transport Protocol
//! Port Number Registry's (the first name it lists for a port), embedded in the
//! binary when the crate is built, so a report prints the same names on every
//! machine and no lookup leaves the process.

use std::sync::OnceLock;

/// The registry's table: `port\tproto\tname` lines, sorted by port then protocol.
const TABLE: &str = include_str!("../data/iana/service-names.tsv");

/// The transport a port number belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Transport {
    Tcp,
    Udp,
}

impl Transport {
    /// `tcp` or `udp`, in any case; anything else has no service names.
    pub fn parse(s: &str) -> Option<Transport> {
        if s.eq_ignore_ascii_case("tcp") {
            Some(Transport::Tcp)
        } else if s.eq_ignore_ascii_case("udp") {
            Some(Transport::Udp)
        } else {
            None
        }
    }
}

type Entry = (u16, Transport, &'static str);

fn table() -> &'static [Entry] {
    static PARSED: OnceLock<Vec<Entry>> = OnceLock::new();
    PARSED.get_or_init(|| {
        let mut entries: Vec<Entry> = TABLE
            .lines()
            .filter(|l| !l.starts_with('#'))
            .filter_map(|l| {
                let mut f = l.split('\t');
                let port = f.next()?.parse().ok()?;
                let transport = Transport::parse(f.next()?)?;
                Some((port, transport, f.next()?))
            })
            .collect();
        entries.sort_by_key(|&(port, transport, _)| (port, transport));
        entries
    })
}

/// The service name the registry gives `port` over `transport`, if it names one.
pub fn name(transport: Transport, port: u16) -> Option<&'static str> {
    let t = table();
    t.binary_search_by_key(&(port, transport), |&(p, tr, _)| (p, tr))
        .ok()
        .map(|i| t[i].2)
}

/// A port as the seeds' tables print it: `80 (http)`, or `5900` alone when the
/// registry has no name for it.
pub fn port_with_name(transport: Transport, port: u16) -> String {
    match name(transport, port) {
        Some(n) => format!("{port} ({n})"),
        None => port.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_ports_of_the_seeds_report_read_with_their_registered_names() {
        assert_eq!(port_with_name(Transport::Tcp, 80), "80 (http)");
        assert_eq!(port_with_name(Transport::Tcp, 22), "22 (ssh)");
        assert_eq!(port_with_name(Transport::Tcp, 445), "445 (microsoft-ds)");
        assert_eq!(port_with_name(Transport::Tcp, 1433), "1433 (ms-sql-s)");
        assert_eq!(port_with_name(Transport::Tcp, 5554), "5554 (sgi-esphttp)");
        assert_eq!(port_with_name(Transport::Tcp, 9898), "9898 (monkeycom)");
        assert_eq!(name(Transport::Udp, 53), Some("domain"));
        assert_eq!(name(Transport::Udp, 1434), Some("ms-sql-m"));
    }

    #[test]
    fn a_port_the_registry_does_not_name_is_printed_alone() {
        // 0 is reserved and carries no service name.
        assert_eq!(name(Transport::Tcp, 0), None);
        assert_eq!(port_with_name(Transport::Tcp, 0), "0");
        assert_eq!(Transport::parse("icmp"), None);
    }

    #[test]
    fn the_embedded_table_is_whole_and_sorted() {
        let t = table();
        assert!(t.len() > 10_000, "{} entries", t.len());
        assert!(t.windows(2).all(|w| (w[0].0, w[0].1) < (w[1].0, w[1].1)));
        assert!(t.iter().all(|&(_, _, n)| !n.is_empty() && !n.contains(' ')));
    }
}
