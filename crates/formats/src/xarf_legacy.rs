//! The X-ARF versions before v4, still sent by blocklist services and abuse desks:
//!
//! - 0.1 and 0.2: a mail marked `X-ARF: YES` (0.1) or `X-XARF: PLAIN` (0.2) whose
//!   second part is a flat YAML report (`Reported-From`, `Category`, `Report-Type`,
//!   `Source`, `Source-Type`, `Date`, …);
//! - the JSON versions 1 to 3 (Abusix's schema, called "X-ARF v3" by its senders):
//!   `{"Version", "ReporterInfo": {…}, "Report": {"ReportClass", "ReportType",
//!   "Date", "SourceIp", …}}`.
//!
//! Each is recognized by its version and checked against its own required fields;
//! a problem names the version that was read. The reports carry their type as a
//! classifier hint `xarf/<type>` (lowercase, `-` and `_` dropped: `loginattack`).

use std::collections::BTreeMap;
use std::net::IpAddr;

use chrono::{DateTime, Utc};
use serde_json::Value;

use crate::error::FormatError;
use crate::report::Host;

/// What a legacy X-ARF report says.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Legacy {
    /// "X-ARF 0.2", "X-ARF 3", … as the coordinator reads it.
    pub version: String,
    pub report_type: String,
    pub category: Option<String>,
    pub source: Host,
    pub source_url: Option<String>,
    pub date: Option<DateTime<Utc>>,
    pub report_id: Option<String>,
    pub reported_from: Option<String>,
}

impl Legacy {
    pub fn hint(&self) -> String {
        format!("xarf/{}", normalize_type(&self.report_type))
    }
}

/// `Login-Attack`, `login_attack` and `LoginAttack` are one type.
pub fn normalize_type(t: &str) -> String {
    t.chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .collect::<String>()
        .to_ascii_lowercase()
}

const REQUIRED_01: [&str; 6] = [
    "Reported-From",
    "Category",
    "Report-Type",
    "Date",
    "Source",
    "Source-Type",
];
const REQUIRED_02: [&str; 9] = [
    "Reported-From",
    "Category",
    "Report-Type",
    "Report-ID",
    "Date",
    "Source",
    "Source-Type",
    "User-Agent",
    "Version",
];

/// Reads a YAML report of X-ARF 0.1 or 0.2 (flat `Key: value` lines; quoted values
/// and comments allowed). `marked` is the version the mail's header announced,
/// when it did.
pub fn parse_yaml(bytes: &[u8], marked: Option<&str>) -> Result<Legacy, FormatError> {
    let text = String::from_utf8_lossy(bytes);
    let mut map: BTreeMap<String, String> = BTreeMap::new();
    for line in text.lines() {
        let line = line.trim_end();
        if line.is_empty() || line.starts_with('#') || line == "---" {
            continue;
        }
        if let Some((k, v)) = line.split_once(':')
            && !k.starts_with([' ', '\t', '-'])
        {
            let v = v.trim();
            let v = v
                .strip_prefix('"')
                .and_then(|v| v.strip_suffix('"'))
                .or_else(|| v.strip_prefix('\'').and_then(|v| v.strip_suffix('\'')))
                .unwrap_or(v);
            map.insert(k.trim().to_ascii_lowercase(), v.to_string());
        }
    }
    let declared = map.get("version").cloned();
    let version = match declared.as_deref().or(marked) {
        Some(v) if v.starts_with("0.1") => "0.1",
        Some(v) if v.starts_with("0.2") => "0.2",
        Some(v) => {
            return Err(FormatError::malformed(
                "X-ARF",
                format!("version {v:?} is not one this reader knows (0.1, 0.2)"),
            ));
        }
        // Without a version: 0.2 needs a Report-ID, 0.1 does not.
        None if map.contains_key("report-id") => "0.2",
        None => "0.1",
    };
    let name: &'static str = if version == "0.1" {
        "X-ARF 0.1"
    } else {
        "X-ARF 0.2"
    };
    let required: &[&str] = if version == "0.1" {
        &REQUIRED_01
    } else {
        &REQUIRED_02
    };
    let mut problems: Vec<String> = required
        .iter()
        .filter(|k| {
            map.get(&k.to_ascii_lowercase())
                .is_none_or(|v| v.is_empty())
        })
        .map(|k| format!("{k}: required in {name}, missing"))
        .collect();
    let get = |k: &str| map.get(k).filter(|v| !v.is_empty()).cloned();
    let source_text = get("source").unwrap_or_default();
    let source_type = get("source-type").unwrap_or_default().to_ascii_lowercase();
    let mut source = Host::default();
    let mut source_url = None;
    match source_type.as_str() {
        "ipv4" | "ipv6" | "ip-address" | "ip" => match source_text.parse::<IpAddr>() {
            Ok(ip) => source.ip = Some(ip),
            Err(_) if !source_text.is_empty() => problems.push(format!(
                "Source: {source_text:?} is not an IP address though Source-Type is {source_type}"
            )),
            Err(_) => {}
        },
        "uri" | "url" => source_url = Some(source_text.clone()),
        "" => {}
        other => match source_text.parse::<IpAddr>() {
            Ok(ip) => source.ip = Some(ip),
            Err(_) => {
                source.name = Some(source_text.clone());
                if !source_text.is_empty() && !matches!(other, "domain" | "hostname" | "fqdn") {
                    problems.push(format!("Source-Type: {other:?} is not one of {name}'s"));
                }
            }
        },
    }
    if let Some(p) = get("port").and_then(|p| p.parse::<u16>().ok()) {
        source.ports.push(p);
    }
    if !problems.is_empty() {
        return Err(FormatError::Invalid {
            format: name,
            problems,
        });
    }
    Ok(Legacy {
        version: name.to_string(),
        report_type: get("report-type").unwrap_or_default(),
        category: get("category"),
        source,
        source_url,
        date: get("date").and_then(|d| parse_date(&d)),
        report_id: get("report-id"),
        reported_from: get("reported-from"),
    })
}

/// Whether a JSON value is one of the Abusix-schema X-ARF versions (1–3).
pub fn is_abusix_json(value: &Value) -> bool {
    value.get("ReporterInfo").is_some() && value.get("Report").is_some_and(Value::is_object)
}

/// Reads an X-ARF JSON report of the versions 1 to 3.
pub fn parse_json(value: &Value) -> Result<Legacy, FormatError> {
    let version = match value.get("Version") {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Number(n)) => n.to_string(),
        _ => String::new(),
    };
    let name: &'static str = match version.split('.').next().unwrap_or("") {
        "1" => "X-ARF 1",
        "2" => "X-ARF 2",
        "3" => "X-ARF 3",
        _ => {
            return Err(FormatError::malformed(
                "X-ARF",
                format!("JSON report with version {version:?}: this reader knows 1, 2 and 3"),
            ));
        }
    };
    let report = &value["Report"];
    let text = |k: &str| report.get(k).and_then(Value::as_str).map(str::to_string);
    let mut problems = Vec::new();
    for k in ["ReportClass", "ReportType", "Date"] {
        if text(k).is_none_or(|v| v.is_empty()) {
            problems.push(format!("/Report/{k}: required in {name}, missing"));
        }
    }
    if !value["ReporterInfo"].is_object() {
        problems.push(format!("/ReporterInfo: required in {name}, not an object"));
    }
    let mut source = Host::default();
    if let Some(ip) = text("SourceIp") {
        match ip.parse::<IpAddr>() {
            Ok(ip) => source.ip = Some(ip),
            Err(_) => problems.push(format!("/Report/SourceIp: {ip:?} is not an IP address")),
        }
    }
    if let Some(p) = report
        .get("SourcePort")
        .and_then(Value::as_u64)
        .and_then(|p| u16::try_from(p).ok())
    {
        source.ports.push(p);
    }
    let source_url = text("SourceUrl").or_else(|| text("Url"));
    if source.ip.is_none() && source_url.is_none() && text("SourceDomain").is_none() {
        problems.push(format!(
            "/Report: {name} needs a source (SourceIp, SourceUrl or SourceDomain)"
        ));
    }
    source.name = text("SourceDomain");
    if !problems.is_empty() {
        return Err(FormatError::Invalid {
            format: name,
            problems,
        });
    }
    let reporter = &value["ReporterInfo"];
    Ok(Legacy {
        version: name.to_string(),
        report_type: text("ReportType").unwrap_or_default(),
        category: text("ReportClass"),
        source,
        source_url,
        date: text("Date").and_then(|d| parse_date(&d)),
        report_id: text("ReportId").or_else(|| text("ReportID")),
        reported_from: reporter
            .get("ReporterOrgEmail")
            .or_else(|| reporter.get("ReporterContactEmail"))
            .and_then(Value::as_str)
            .map(str::to_string),
    })
}

/// The dates these senders write: RFC 3339, RFC 2822, and pyxarf's
/// `Jan  1 2014 02:13:35 +0100`.
fn parse_date(s: &str) -> Option<DateTime<Utc>> {
    let s = s.trim();
    DateTime::parse_from_rfc3339(s)
        .or_else(|_| DateTime::parse_from_rfc2822(s))
        .or_else(|_| DateTime::parse_from_str(s, "%b %e %Y %H:%M:%S %z"))
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_version_0_2_report_is_read_with_its_source() {
        let yaml = b"---\nReported-From: abuse@blocklist.example\nCategory: abuse\nReport-Type: login-attack\nService: ssh\nVersion: 0.2\nUser-Agent: fail2ban-reporter 1.0\nReport-ID: 3a1f@blocklist.example\nDate: Jan  1 2014 02:13:35 +0100\nSource: 198.51.100.23\nSource-Type: ipv4\nPort: 22\nAttachment: text/plain\nSchema-URL: http://www.x-arf.org/schema/abuse_login-attack_0.1.2.json\n";
        let r = parse_yaml(yaml, Some("0.2")).unwrap();
        assert_eq!(r.version, "X-ARF 0.2");
        assert_eq!(r.source.ip, Some("198.51.100.23".parse().unwrap()));
        assert_eq!(r.source.ports, vec![22]);
        assert_eq!(r.hint(), "xarf/loginattack");
        assert!(r.date.is_some());
    }

    #[test]
    fn each_version_is_held_to_its_own_required_fields() {
        // Report-ID is required from 0.2 on.
        let yaml = b"Reported-From: a@b.example\nCategory: abuse\nReport-Type: info\nDate: 2014-01-01T00:00:00Z\nSource: 192.0.2.1\nSource-Type: ipv4\n";
        assert!(parse_yaml(yaml, Some("0.1")).is_ok());
        let e = parse_yaml(yaml, Some("0.2")).unwrap_err().to_string();
        assert!(e.contains("X-ARF 0.2") && e.contains("Report-ID"), "{e}");
        let e = parse_yaml(b"Version: 0.9\n", None).unwrap_err().to_string();
        assert!(e.contains("0.9"), "{e}");
    }

    #[test]
    fn a_json_version_3_report_is_read_and_a_bad_one_named() {
        let v: Value = serde_json::from_str(r#"{"Version":"3","ReporterInfo":{"ReporterOrg":"ExampleOrg","ReporterOrgEmail":"reports@example.com"},"Disclosure":true,"Report":{"ReportClass":"Content","ReportType":"Copyright","Date":"2020-08-03T11:17:10Z","SourceIp":"192.0.2.55","SourcePort":54321}}"#).unwrap();
        assert!(is_abusix_json(&v));
        let r = parse_json(&v).unwrap();
        assert_eq!(r.version, "X-ARF 3");
        assert_eq!(r.hint(), "xarf/copyright");
        assert_eq!(r.source.ip, Some("192.0.2.55".parse().unwrap()));
        let bad: Value = serde_json::from_str(
            r#"{"Version":"3","ReporterInfo":{},"Report":{"ReportType":"Spam","SourceIp":"x"}}"#,
        )
        .unwrap();
        let e = parse_json(&bad).unwrap_err().to_string();
        assert!(
            e.contains("X-ARF 3") && e.contains("ReportClass") && e.contains("SourceIp"),
            "{e}"
        );
    }
}
