//! IODEF 1.0 (RFC 5070) and 2.0 (RFC 7970) incident documents.
//!
//! Reads what coordination needs: who reports (Contact), when (ReportTime,
//! GenerationTime, DetectTime, StartTime), what (Description, the Impact type, record
//! data), and the systems involved (EventData/Flow/System, source or target, with
//! addresses, names and services). Checks the elements each version requires.

use std::net::IpAddr;

use chrono::{DateTime, Utc};

use crate::error::FormatError;
use crate::extract::Proto;
use crate::report::{Format, Host, ParsedReport, Party};
use crate::xml::{self, Element};

const NAME: &str = "IODEF";
const NS1: &str = "urn:ietf:params:xml:ns:iodef-1.0";
const NS2: &str = "urn:ietf:params:xml:ns:iodef-2.0";

fn time(e: Option<&Element>) -> Option<DateTime<Utc>> {
    e.and_then(Element::text_trimmed)
        .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
        .map(|t| t.with_timezone(&Utc))
}

fn proto(service: &Element) -> Option<Proto> {
    match service
        .attr("ip_protocol")
        .or_else(|| service.attr("ip-protocol"))?
    {
        "6" => Some(Proto::Tcp),
        "17" => Some(Proto::Udp),
        "1" | "58" => Some(Proto::Icmp),
        _ => None,
    }
}

/// "22", "80,443", "1000-1010" — ranges are capped so a hostile list stays small.
pub fn ports(list: &str) -> Vec<u16> {
    let mut out = Vec::new();
    for part in list.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        match part.split_once('-') {
            Some((a, b)) => {
                if let (Ok(a), Ok(b)) = (a.trim().parse::<u16>(), b.trim().parse::<u16>()) {
                    out.extend((a.min(b)..=a.max(b)).take(1024));
                }
            }
            None => {
                if let Ok(p) = part.parse() {
                    out.push(p);
                }
            }
        }
        if out.len() > 4096 {
            break;
        }
    }
    out
}

fn host(system: &Element) -> Host {
    let mut h = Host::default();
    for node in system.children_named("Node") {
        for addr in node.children_named("Address") {
            let text = addr.text_trimmed().unwrap_or_default();
            let bare = text.split('/').next().unwrap_or(text);
            if h.ip.is_none()
                && let Ok(ip) = bare.parse::<IpAddr>()
            {
                h.ip = Some(ip);
            }
        }
        if h.name.is_none() {
            h.name = node
                .child("NodeName")
                .or_else(|| node.child("DomainData").and_then(|d| d.child("Name")))
                .and_then(Element::text_trimmed)
                .map(str::to_string);
        }
    }
    for service in system.children_named("Service") {
        h.proto = h.proto.or_else(|| proto(service));
        if let Some(p) = service
            .child("Port")
            .and_then(Element::text_trimmed)
            .and_then(|p| p.parse().ok())
        {
            h.ports.push(p);
        }
        if let Some(list) = service.child("Portlist").and_then(Element::text_trimmed) {
            h.ports.extend(ports(list));
        }
    }
    h
}

/// Parses an IODEF 1.0 or 2.0 document, with all its incidents, into one report.
pub fn parse(bytes: &[u8]) -> Result<ParsedReport, FormatError> {
    let root = xml::parse(NAME, bytes)?;
    if root.name != "IODEF-Document" {
        return Err(FormatError::malformed(
            NAME,
            format!("the root element is <{}>, not <IODEF-Document>", root.name),
        ));
    }
    let version = match (root.attr("version"), root.namespace.as_deref()) {
        (Some("2.00"), _) | (None, Some(NS2)) => Format::Iodef2,
        (Some("1.00"), _) | (None, Some(NS1)) => Format::Iodef1,
        (Some(v), _) => {
            return Err(FormatError::malformed(
                NAME,
                format!("unknown version {v:?} (expected 1.00 or 2.00)"),
            ));
        }
        (None, _) => {
            return Err(FormatError::malformed(
                NAME,
                "IODEF-Document has no version attribute",
            ));
        }
    };
    let incidents: Vec<&Element> = root.children_named("Incident").collect();
    let mut problems = Vec::new();
    if incidents.is_empty() {
        problems.push("IODEF-Document: at least one Incident is required".to_string());
    }
    for (i, inc) in incidents.iter().enumerate() {
        let at = format!("Incident {}", i + 1);
        if inc
            .child("IncidentID")
            .and_then(Element::text_trimmed)
            .is_none()
        {
            problems.push(format!("{at}: IncidentID is required"));
        }
        let required_time = if version == Format::Iodef1 {
            "ReportTime"
        } else {
            "GenerationTime"
        };
        match inc.child(required_time) {
            None => problems.push(format!("{at}: {required_time} is required")),
            Some(t) if time(Some(t)).is_none() => problems.push(format!(
                "{at}: {required_time} {:?} is not a date-time",
                t.text.trim()
            )),
            Some(_) => {}
        }
        if inc.child("Contact").is_none() {
            problems.push(format!("{at}: at least one Contact is required"));
        }
        if version == Format::Iodef1 && inc.child("Assessment").is_none() {
            problems.push(format!("{at}: at least one Assessment is required"));
        }
    }
    if !problems.is_empty() {
        return Err(FormatError::Invalid {
            format: NAME,
            problems,
        });
    }

    let mut report = ParsedReport::new(version);
    let mut text = String::new();
    let mut indicated: Vec<Host> = Vec::new();
    for inc in incidents {
        if report.external_id.is_none() {
            let id = inc.child("IncidentID");
            report.external_id =
                id.and_then(Element::text_trimmed)
                    .map(|t| match id.and_then(|i| i.attr("name")) {
                        Some(name) => format!("{name}#{t}"),
                        None => t.to_string(),
                    });
        }
        report.occurred_at = report.occurred_at.or_else(|| {
            time(inc.child("StartTime"))
                .or_else(|| time(inc.child("DetectTime")))
                .or_else(|| time(inc.child("ReportTime")))
                .or_else(|| time(inc.child("GenerationTime")))
        });
        for d in inc.children_named("Description") {
            if let Some(t) = d.text_trimmed() {
                text.push_str(t);
                text.push('\n');
            }
        }
        if report.hint.is_none() {
            report.hint = inc
                .descendants("Impact")
                .into_iter()
                .chain(inc.descendants("SystemImpact"))
                .find_map(|i| i.attr("type"))
                .map(|t| format!("iodef/{t}"));
        }
        if report.reporter.email.is_none() {
            let contacts: Vec<&Element> = inc.children_named("Contact").collect();
            let chosen = contacts
                .iter()
                .find(|c| matches!(c.attr("role"), Some("creator" | "reporter" | "irt")))
                .or(contacts.first());
            if let Some(c) = chosen {
                let email = c.child("Email").and_then(|e| {
                    e.text_trimmed()
                        .or_else(|| e.child("EmailTo").and_then(Element::text_trimmed))
                });
                report.reporter = Party {
                    name: c
                        .child("ContactName")
                        .and_then(Element::text_trimmed)
                        .map(str::to_string),
                    email: email.map(str::to_string),
                    org: c
                        .child("ContactName")
                        .and_then(Element::text_trimmed)
                        .map(str::to_string),
                };
            }
        }
        for system in inc.descendants("System") {
            let h = host(system);
            if h.ip.is_none() && h.name.is_none() {
                continue;
            }
            match system.attr("category") {
                Some("source") => report.sources.push(h),
                Some("target") => report.targets.push(h),
                _ => {
                    // Neither: keep it readable for extraction, without a role.
                    if let Some(ip) = h.ip {
                        text.push_str(&format!("host {ip}\n"));
                    }
                }
            }
        }
        for record in inc.descendants("RecordItem") {
            record.all_text(&mut text);
        }
        // RFC 7970 §3.29: indicators of the attack (its infrastructure) are
        // evidence; an address observed directly is a source when no flow names one.
        for indicator in inc.descendants("Indicator") {
            for d in indicator.children_named("Description") {
                if let Some(t) = d.text_trimmed() {
                    text.push_str(t);
                    text.push('\n');
                }
            }
            for observable in indicator.descendants("Observable") {
                for a in observable.children_named("Address") {
                    let Some(value) = a.text_trimmed() else {
                        continue;
                    };
                    text.push_str(&format!("indicator {value}\n"));
                    if let Ok(ip) = value.parse() {
                        indicated.push(Host {
                            ip: Some(ip),
                            ..Host::default()
                        });
                    }
                }
                for name in observable.descendants("Name") {
                    if let Some(n) = name.text_trimmed() {
                        text.push_str(&format!("indicator {n}\n"));
                    }
                }
                for url in observable.descendants("URL") {
                    if let Some(u) = url.text_trimmed() {
                        text.push_str(&format!("indicator {u}\n"));
                    }
                }
            }
        }
    }
    if report.sources.is_empty() {
        report.sources = indicated;
    }
    report.text = text;
    Ok(report)
}

/// One incident to write as IODEF 2.0 (RFC 7970).
#[derive(Debug, Clone, Default)]
pub struct OutIncident {
    /// The issuing team's name for its incident numbers (usually its domain).
    pub id_name: String,
    pub id: String,
    /// public, partner, need-to-know, private, default, white, green, amber or red.
    pub restriction: String,
    /// RFC 3339, UTC.
    pub generation_time: String,
    pub detect_time: Option<String>,
    pub description: String,
    pub contact_name: String,
    pub contact_email: String,
    /// The source address (the host to be dealt with).
    pub source: Option<String>,
    pub source_ports: Vec<u16>,
    pub asn: Option<u32>,
    pub as_name: Option<String>,
    pub country: Option<String>,
    /// e.g. "scan", "intrusion": written as the Assessment's impact type.
    pub category: Option<String>,
}

fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            // Characters XML 1.0 cannot carry are dropped.
            c if (c as u32) < 0x20 && !matches!(c, '\t' | '\n' | '\r') => {}
            c => out.push(c),
        }
    }
    out
}

/// The IODEF 2.0 SystemImpact type (RFC 7970 §3.12.1) closest to a Renkei category.
fn impact(category: &str) -> &'static str {
    match category {
        "intrusion" => "takeover-system",
        "phishing" | "forged" => "breach-credential",
        "dos" => "availability-service",
        _ => "unknown",
    }
}

/// Writes incidents as one IODEF 2.0 document.
pub fn write_v2(incidents: &[OutIncident]) -> String {
    let mut x = String::from(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<IODEF-Document version=\"2.00\" xml:lang=\"en\" xmlns=\"urn:ietf:params:xml:ns:iodef-2.0\">\n",
    );
    for i in incidents {
        x.push_str(&format!(
            "  <Incident purpose=\"reporting\" restriction=\"{}\">\n    <IncidentID name=\"{}\">{}</IncidentID>\n",
            esc(&i.restriction),
            esc(&i.id_name),
            esc(&i.id)
        ));
        if let Some(t) = &i.detect_time {
            x.push_str(&format!("    <DetectTime>{}</DetectTime>\n", esc(t)));
        }
        x.push_str(&format!(
            "    <GenerationTime>{}</GenerationTime>\n",
            esc(&i.generation_time)
        ));
        if !i.description.is_empty() {
            x.push_str(&format!(
                "    <Description>{}</Description>\n",
                esc(&i.description)
            ));
        }
        if let Some(c) = &i.category {
            x.push_str(&format!(
                "    <Assessment>\n      <SystemImpact type=\"{}\" severity=\"medium\">\n        <Description>{}</Description>\n      </SystemImpact>\n    </Assessment>\n",
                impact(c),
                esc(c)
            ));
        }
        x.push_str(&format!(
            "    <Contact role=\"creator\" type=\"organization\">\n      <ContactName>{}</ContactName>\n      <Email>\n        <EmailTo>{}</EmailTo>\n      </Email>\n    </Contact>\n",
            esc(&i.contact_name),
            esc(&i.contact_email)
        ));
        if let Some(ip) = &i.source {
            let category = if ip.contains(':') {
                "ipv6-addr"
            } else {
                "ipv4-addr"
            };
            x.push_str("    <EventData>\n      <Flow>\n        <System category=\"source\">\n          <Node>\n");
            x.push_str(&format!(
                "            <Address category=\"{category}\">{}</Address>\n",
                esc(ip)
            ));
            x.push_str("          </Node>\n");
            if !i.source_ports.is_empty() {
                let ports: Vec<String> = i.source_ports.iter().map(u16::to_string).collect();
                x.push_str(&format!(
                    "          <Service ip-protocol=\"6\">\n            <Portlist>{}</Portlist>\n          </Service>\n",
                    ports.join(",")
                ));
            }
            let mut notes = Vec::new();
            if let Some(asn) = i.asn {
                notes.push(format!("AS{asn}"));
            }
            if let Some(n) = &i.as_name {
                notes.push(n.clone());
            }
            if let Some(c) = &i.country {
                notes.push(c.clone());
            }
            if !notes.is_empty() {
                x.push_str(&format!(
                    "          <Description>{}</Description>\n",
                    esc(&notes.join(" / "))
                ));
            }
            x.push_str("        </System>\n      </Flow>\n    </EventData>\n");
        }
        x.push_str("  </Incident>\n");
    }
    x.push_str("</IODEF-Document>\n");
    x
}
