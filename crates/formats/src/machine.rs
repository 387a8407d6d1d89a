//! Reports that machines put inside mail: an ARF feedback report, an X-ARF report
//! of any version, an IODEF document or an ACNS copyright notice, as a part of their
//! own or (ACNS) inline in the text. What such a part says is the report; the
//! envelope around it is not: the hosts in the mail's own `Received:` lines, in the
//! reported message's, and in the sender's links and signature are never sources.
//!
//! A part that claims to be one of these formats but breaks its rules is named in a
//! warning and the rest of the mail is still read.

use mail_parser::{Message, MessagePart, MimeHeaders, PartType};
use serde_json::Value;

use crate::report::{Host, ParsedReport};
use crate::{acns, arf, iodef, xarf, xarf_legacy};

/// Reads every structured part of `message` into `report`: the sources and
/// targets they declare, the first one's type as the classifier's hint, and in
/// `report.read_as` the name of each format read.
pub(crate) fn read(message: &Message<'_>, report: &mut ParsedReport) {
    // X-ARF 0.1 marks the mail `X-ARF: YES`, 0.2 `X-XARF: PLAIN`.
    let header = |name: &str| {
        message
            .header_raw(name)
            .map(|v| v.trim().to_ascii_lowercase())
    };
    let marked = if header("X-XARF").is_some() {
        Some("0.2")
    } else if header("X-ARF").is_some_and(|v| v == "yes") {
        Some("0.1")
    } else {
        None
    };
    for part in &message.parts {
        if matches!(part.body, PartType::Multipart(_) | PartType::Message(_)) {
            continue;
        }
        let ctype = content_type(part);
        let name = part.attachment_name().unwrap_or("").to_ascii_lowercase();
        let bytes = body(part);
        if ctype == "message/feedback-report" {
            match arf::parse(bytes) {
                Some(f) => {
                    for p in &f.problems {
                        report.warnings.push(format!("ARF report: {p}"));
                    }
                    let domains = f.reported_domains.iter().map(|d| Host {
                        name: Some(d.clone()),
                        ..Host::default()
                    });
                    let mut sources: Vec<Host> = f
                        .source_ip
                        .map(|ip| Host {
                            ip: Some(ip),
                            ..Host::default()
                        })
                        .into_iter()
                        .collect();
                    // A fraud report (phishing) is about the sites it names.
                    if f.feedback_type == "fraud" || sources.is_empty() {
                        sources.extend(domains);
                    }
                    found(
                        report,
                        "ARF (RFC 5965)",
                        f.hint(),
                        sources,
                        f.arrival_date,
                        None,
                    );
                }
                None => report.warnings.push(
                    "a message/feedback-report part has no Feedback-Type; it was not read as ARF"
                        .into(),
                ),
            }
            continue;
        }
        let text_like = ctype.starts_with("text/") || ctype.is_empty();
        let head = String::from_utf8_lossy(&bytes[..bytes.len().min(4096)]).into_owned();
        if text_like && looks_like_xarf_yaml(&head) {
            match xarf_legacy::parse_yaml(bytes, marked) {
                Ok(l) => legacy(report, l),
                Err(e) => report.warnings.push(e.to_string()),
            }
            continue;
        }
        let json = ctype == "application/json"
            || name.ends_with(".json")
            || head.trim_start().starts_with('{') && !text_like;
        if json {
            if let Ok(value) = serde_json::from_slice::<Value>(bytes) {
                if value.get("xarf_version").is_some() {
                    match xarf::parse(bytes) {
                        Ok(p) => {
                            let hint = p.hint.clone().unwrap_or_default();
                            found(
                                report,
                                "X-ARF 4",
                                hint,
                                p.sources,
                                p.occurred_at,
                                p.external_id,
                            );
                            report.targets.extend(p.targets);
                        }
                        Err(e) => report.warnings.push(e.to_string()),
                    }
                } else if xarf_legacy::is_abusix_json(&value) {
                    match xarf_legacy::parse_json(&value) {
                        Ok(l) => legacy(report, l),
                        Err(e) => report.warnings.push(e.to_string()),
                    }
                }
            }
            continue;
        }
        let xml = ctype.contains("xml") || name.ends_with(".xml") || head.contains("<?xml");
        if xml && head.contains("IODEF-Document") {
            match iodef::parse(bytes) {
                Ok(p) => {
                    let hint = p.hint.clone().unwrap_or_default();
                    let label = if p.format == crate::Format::Iodef1 {
                        "IODEF 1.0"
                    } else {
                        "IODEF 2.0"
                    };
                    found(report, label, hint, p.sources, p.occurred_at, p.external_id);
                    report.targets.extend(p.targets);
                }
                Err(e) => report.warnings.push(e.to_string()),
            }
            continue;
        }
        // ACNS notices come attached or, as often, pasted into the text.
        if (xml || text_like)
            && let Some(notice) = inline_acns(bytes)
        {
            match acns::parse(notice) {
                Ok(n) => found(
                    report,
                    "ACNS",
                    "acns/copyright".into(),
                    vec![n.source],
                    n.seen_at,
                    n.case_id,
                ),
                Err(e) => report.warnings.push(e.to_string()),
            }
        }
    }
}

fn legacy(report: &mut ParsedReport, l: xarf_legacy::Legacy) {
    let mut sources = Vec::new();
    if l.source.ip.is_some() || l.source.name.is_some() {
        sources.push(l.source.clone());
    } else if let Some(url) = &l.source_url
        && let Some(host) = url
            .split("://")
            .nth(1)
            .and_then(|r| r.split(['/', ':', '?', '#']).next())
    {
        sources.push(Host {
            ip: host.parse().ok(),
            name: host
                .parse::<std::net::IpAddr>()
                .is_err()
                .then(|| host.to_ascii_lowercase()),
            ..Host::default()
        });
    }
    let hint = l.hint();
    found(report, &l.version, hint, sources, l.date, l.report_id);
}

fn found(
    report: &mut ParsedReport,
    format: &str,
    hint: String,
    sources: Vec<Host>,
    at: Option<chrono::DateTime<chrono::Utc>>,
    id: Option<String>,
) {
    report.read_as.push(format.to_string());
    if report.hint.is_none() && !hint.is_empty() {
        report.hint = Some(hint);
    }
    for s in sources {
        if !report.sources.contains(&s) {
            report.sources.push(s);
        }
    }
    if report.occurred_at.is_none() || report.read_as.len() == 1 {
        report.occurred_at = at.or(report.occurred_at);
    }
    if report.external_id.is_none() {
        report.external_id = id;
    }
}

fn looks_like_xarf_yaml(head: &str) -> bool {
    let has = |k: &str| {
        head.lines().any(|l| {
            l.len() > k.len() && l.as_bytes()[..k.len()].eq_ignore_ascii_case(k.as_bytes())
        })
    };
    has("Report-Type:") && has("Source:") && (has("Source-Type:") || has("Reported-From:"))
}

/// The `<Infringement>` element in a text, with the XML declaration before it.
fn inline_acns(bytes: &[u8]) -> Option<&[u8]> {
    let find = |needle: &[u8], from: usize| {
        bytes[from..]
            .windows(needle.len())
            .position(|w| w == needle)
            .map(|p| p + from)
    };
    let root = find(b"<Infringement", 0)?;
    let start = bytes[..root]
        .windows(5)
        .rposition(|w| w == b"<?xml")
        .filter(|s| root - s < 512)
        .unwrap_or(root);
    let end = find(b"</Infringement>", root)? + b"</Infringement>".len();
    Some(&bytes[start..end])
}

pub(crate) fn content_type(part: &MessagePart<'_>) -> String {
    part.content_type()
        .map(|c| match c.subtype() {
            Some(sub) => format!("{}/{}", c.ctype(), sub).to_lowercase(),
            None => c.ctype().to_lowercase(),
        })
        .unwrap_or_default()
}

/// A part's bytes, decoded from its transfer encoding.
pub(crate) fn body<'a>(part: &'a MessagePart<'a>) -> &'a [u8] {
    match &part.body {
        PartType::Text(t) | PartType::Html(t) => t.as_bytes(),
        PartType::Binary(b) | PartType::InlineBinary(b) => b.as_ref(),
        PartType::Message(m) => m.raw_message(),
        PartType::Multipart(_) => &[],
    }
}

/// The text of a human-written part that can name sources: without quoted lines
/// (an earlier mail's), the signature (after `-- `), and the "... wrote:" line.
pub fn evidence_of(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for line in text.lines() {
        let trimmed = line.trim_end();
        if trimmed == "--" || trimmed == "-- " || line == "-- " {
            break;
        }
        let t = trimmed.trim_start();
        if t.starts_with('>') {
            continue;
        }
        if (t.starts_with("On ") && t.ends_with("wrote:")) || t.ends_with("さんは書きました:")
        {
            continue;
        }
        out.push_str(line);
        out.push('\n');
    }
    out
}

/// The body of an attached message, without its header (whose `Received:` lines
/// name relays, not sources).
pub fn body_of_message(raw: &[u8]) -> &[u8] {
    let crlf = raw.windows(4).position(|w| w == b"\r\n\r\n").map(|p| p + 4);
    let lf = raw.windows(2).position(|w| w == b"\n\n").map(|p| p + 2);
    match (crlf, lf) {
        (Some(a), Some(b)) => &raw[a.min(b)..],
        (Some(a), None) | (None, Some(a)) => &raw[a..],
        (None, None) => &[],
    }
}
