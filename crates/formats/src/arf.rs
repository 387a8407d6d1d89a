//! The Abuse Reporting Format (RFC 5965): the machine-readable part of a feedback
//! loop report, `message/feedback-report`, a block of header fields naming the
//! kind of abuse (`Feedback-Type`), the address the mail came from (`Source-IP`)
//! and when it arrived (`Arrival-Date`). The third part, the reported message, is
//! evidence: the addresses in its `Received:` lines are relays, never sources.

use std::net::IpAddr;

use chrono::{DateTime, Utc};

/// What a feedback report says.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Feedback {
    /// `abuse`, `fraud`, `virus`, `other`, `not-spam`, `auth-failure` (lowercased).
    pub feedback_type: String,
    pub source_ip: Option<IpAddr>,
    pub arrival_date: Option<DateTime<Utc>>,
    pub reported_domains: Vec<String>,
    pub reported_uris: Vec<String>,
    pub original_mail_from: Option<String>,
    pub user_agent: Option<String>,
    /// Fields that could not be read, named; the rest of the report still counts.
    pub problems: Vec<String>,
}

impl Feedback {
    /// The report's type as a classifier hint, e.g. `arf/abuse`.
    pub fn hint(&self) -> String {
        format!("arf/{}", self.feedback_type)
    }
}

/// Reads the fields of a `message/feedback-report` part. Returns `None` when the
/// part has no `Feedback-Type`, the one field RFC 5965 requires for it to be one.
pub fn parse(part: &[u8]) -> Option<Feedback> {
    let text = String::from_utf8_lossy(part);
    let mut feedback = Feedback::default();
    let mut found_type = false;
    for (name, value) in fields(&text) {
        let value = value.trim();
        match name.to_ascii_lowercase().as_str() {
            "feedback-type" => {
                feedback.feedback_type = value.to_ascii_lowercase();
                found_type = !value.is_empty();
            }
            "source-ip" => match value
                .trim_start_matches('[')
                .trim_end_matches(']')
                .parse::<IpAddr>()
            {
                Ok(ip) => feedback.source_ip = Some(ip),
                Err(_) => feedback
                    .problems
                    .push(format!("Source-IP {value:?} is not an IP address")),
            },
            "arrival-date" | "received-date" => match mail_date(value) {
                Some(t) => feedback.arrival_date = Some(t),
                None => feedback
                    .problems
                    .push(format!("Arrival-Date {value:?} is not an RFC 5322 date")),
            },
            "reported-domain" => feedback.reported_domains.push(value.to_ascii_lowercase()),
            "reported-uri" => feedback.reported_uris.push(value.to_string()),
            "original-mail-from" => {
                feedback.original_mail_from = Some(
                    value
                        .trim_start_matches('<')
                        .trim_end_matches('>')
                        .to_string(),
                )
            }
            "user-agent" => feedback.user_agent = Some(value.to_string()),
            _ => {}
        }
    }
    found_type.then_some(feedback)
}

/// An RFC 5322 date; a weekday that does not match the date (RFC 5965's own
/// example has one) is not worth losing the date over.
fn mail_date(value: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc2822(value)
        .ok()
        .or_else(|| {
            let (_, rest) = value.split_once(',')?;
            DateTime::parse_from_rfc2822(rest.trim()).ok()
        })
        .map(|t| t.with_timezone(&Utc))
}

/// Header-style fields with folded continuation lines joined.
fn fields(text: &str) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = Vec::new();
    for line in text.lines() {
        if line.trim().is_empty() {
            continue;
        }
        if line.starts_with([' ', '\t']) {
            if let Some((_, v)) = out.last_mut() {
                v.push(' ');
                v.push_str(line.trim());
            }
            continue;
        }
        if let Some((name, value)) = line.split_once(':')
            && !name.is_empty()
            && name.bytes().all(|b| b.is_ascii_graphic())
        {
            out.push((name.to_string(), value.to_string()));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_fields_of_rfc_5965_s_example_are_read() {
        // RFC 5965, Appendix B.2's second part (its example addresses).
        let part = b"Feedback-Type: abuse\r\nUser-Agent: SomeGenerator/1.0\r\nVersion: 1\r\nOriginal-Mail-From: <somespammer@example.net>\r\nOriginal-Rcpt-To: <user@example.com>\r\nArrival-Date: Thu, 8 Mar 2005 14:00:00 EDT\r\nReporting-MTA: dns; mail.example.com\r\nSource-IP: 192.0.2.1\r\nAuthentication-Results: mail.example.com;\r\n               spf=fail smtp.mail=somespammer@example.com\r\nReported-Domain: example.net\r\nReported-Uri: http://example.net/earn_money.html\r\nReported-Uri: mailto:user@example.com\r\nRemoved-Recipient: user@example.com\r\n";
        let f = parse(part).unwrap();
        assert_eq!(f.feedback_type, "abuse");
        assert_eq!(f.source_ip, Some("192.0.2.1".parse().unwrap()));
        assert_eq!(f.reported_domains, vec!["example.net"]);
        assert_eq!(f.reported_uris.len(), 2);
        assert_eq!(
            f.original_mail_from.as_deref(),
            Some("somespammer@example.net")
        );
        assert!(f.arrival_date.is_some(), "{:?}", f.problems);
        assert_eq!(f.hint(), "arf/abuse");
    }

    #[test]
    fn a_bad_field_is_named_and_the_rest_is_kept() {
        let f =
            parse(b"Feedback-Type: fraud\nSource-IP: not-an-ip\nReported-Domain: Phish.Example\n")
                .unwrap();
        assert_eq!(f.source_ip, None);
        assert_eq!(f.reported_domains, vec!["phish.example"]);
        assert!(f.problems[0].contains("Source-IP"));
        assert!(parse(b"Version: 1\nSource-IP: 192.0.2.1\n").is_none());
    }
}
