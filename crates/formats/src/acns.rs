//! ACNS (Automated Copyright Notice System) notices: the XML that rights holders'
//! agents attach to copyright complaints, `<Infringement>` with the case, the
//! complainant, the `<Source>` (address, port, protocol, time) and the content.
//! Read on the safe XML tree: no DTD, no entities.

use std::net::IpAddr;

use chrono::{DateTime, Utc};

use crate::error::FormatError;
use crate::report::Host;
use crate::xml::{self, Element};

const NAME: &str = "ACNS";

/// What a notice says.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Notice {
    pub case_id: Option<String>,
    pub complainant: Option<String>,
    pub complainant_email: Option<String>,
    pub source: Host,
    pub seen_at: Option<DateTime<Utc>>,
    /// The protocol or network the work was shared on (BitTorrent, …).
    pub network: Option<String>,
    pub titles: Vec<String>,
}

/// Whether the bytes look like an ACNS notice (its root element), without parsing.
pub fn looks_like(bytes: &[u8]) -> bool {
    let head = String::from_utf8_lossy(&bytes[..bytes.len().min(2048)]);
    head.contains("<Infringement")
}

/// Reads one notice. The source address is required: a notice without one names
/// nobody to notify.
pub fn parse(bytes: &[u8]) -> Result<Notice, FormatError> {
    let root = xml::parse(NAME, bytes)?;
    if root.name != "Infringement" {
        return Err(FormatError::malformed(
            NAME,
            format!("the root element is <{}>, not <Infringement>", root.name),
        ));
    }
    let text = |e: Option<&Element>, name: &str| {
        e.and_then(|e| e.child(name))
            .and_then(Element::text_trimmed)
            .map(str::to_string)
    };
    let source = root.child("Source");
    let Some(address) = text(source, "IP_Address") else {
        return Err(FormatError::Invalid {
            format: NAME,
            problems: vec!["Infringement/Source/IP_Address: required, missing".into()],
        });
    };
    let ip: IpAddr = address.parse().map_err(|_| FormatError::Invalid {
        format: NAME,
        problems: vec![format!(
            "Infringement/Source/IP_Address: {address:?} is not an IP address"
        )],
    })?;
    let mut host = Host {
        ip: Some(ip),
        ..Host::default()
    };
    if let Some(p) = text(source, "Port").and_then(|p| p.parse().ok()) {
        host.ports.push(p);
    }
    host.name = text(source, "DNS_Name");
    let complainant = root.child("Complainant");
    Ok(Notice {
        case_id: text(root.child("Case"), "ID"),
        complainant: text(complainant, "Entity"),
        complainant_email: text(complainant, "Email"),
        source: host,
        seen_at: text(source, "TimeStamp")
            .and_then(|t| DateTime::parse_from_rfc3339(&t).ok())
            .map(|t| t.with_timezone(&Utc)),
        network: text(source, "Type").or_else(|| text(source, "Protocol")),
        titles: root
            .descendants("Title")
            .iter()
            .filter_map(|t| t.text_trimmed().map(str::to_string))
            .take(20)
            .collect(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    // Written from the ACNS 2.0 layout, with documentation addresses.
    const NOTICE: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<Infringement xmlns="http://www.acns.net/ACNS" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">
  <Case><ID>A1B2C3</ID><Status>Open</Status><Severity>Normal</Severity></Case>
  <Complainant><Entity>Example Pictures</Entity><Contact>Agent</Contact><Email>antipiracy@rights.example</Email></Complainant>
  <Service_Provider><Entity>Example ISP</Entity></Service_Provider>
  <Source>
    <TimeStamp>2024-03-03T23:32:13Z</TimeStamp>
    <IP_Address>203.0.113.44</IP_Address>
    <Port>51413</Port>
    <Type>BitTorrent</Type>
  </Source>
  <Content><Item><Title>An Example Film</Title></Item></Content>
</Infringement>"#;

    #[test]
    fn a_notice_yields_its_source_and_case() {
        assert!(looks_like(NOTICE.as_bytes()));
        let n = parse(NOTICE.as_bytes()).unwrap();
        assert_eq!(n.source.ip, Some("203.0.113.44".parse().unwrap()));
        assert_eq!(n.source.ports, vec![51413]);
        assert_eq!(n.case_id.as_deref(), Some("A1B2C3"));
        assert_eq!(n.network.as_deref(), Some("BitTorrent"));
        assert_eq!(n.titles, vec!["An Example Film"]);
        assert!(n.seen_at.is_some());
    }

    #[test]
    fn a_notice_without_an_address_is_refused_by_name() {
        let e = parse(b"<Infringement><Source><Port>1</Port></Source></Infringement>")
            .unwrap_err()
            .to_string();
        assert!(e.contains("IP_Address"), "{e}");
        assert!(
            parse(b"<!DOCTYPE x [<!ENTITY a SYSTEM \"file:///etc/passwd\">]><Infringement/>")
                .is_err()
        );
    }
}
