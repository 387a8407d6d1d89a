//! Bulk feeds as CSV: daily lists of scanning, infected or vulnerable hosts (the
//! Shadowserver reports are the best known). A [`Mapping`] says which column holds
//! what; built-in mappings cover the common Shadowserver layouts, others come from a
//! small TOML file.

use serde::{Deserialize, Serialize};

use crate::error::FormatError;

/// Which columns of a feed hold what; names are matched against the header row.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Mapping {
    /// The column with the host's address (required).
    pub ip: String,
    #[serde(default)]
    pub time: Option<String>,
    #[serde(default)]
    pub port: Option<String>,
    #[serde(default)]
    pub protocol: Option<String>,
    /// What the feed reports: scan, infected, vulnerable, … (fixed for the feed).
    pub category: String,
    /// A column naming the event (the infection, the exposed service); else `event_type`.
    #[serde(default)]
    pub type_column: Option<String>,
    #[serde(default)]
    pub event_type: Option<String>,
    /// Keep the columns not mapped above on each event, as its details (a
    /// Shadowserver row's `hostname`, `tag`, `version`…): the site notified sees what
    /// the feed said, not only the address.
    #[serde(default)]
    pub details: bool,
}

impl Mapping {
    /// A mapping read from a TOML file.
    pub fn from_toml(text: &str) -> Result<Mapping, FormatError> {
        toml_lite(text)
    }

    /// The built-in layouts by name.
    pub fn builtin(name: &str) -> Option<Mapping> {
        let m =
            |ip: &str, time: &str, port: &str, proto: &str, category: &str, ty: Option<&str>| {
                Mapping {
                    ip: ip.into(),
                    time: Some(time.into()),
                    port: Some(port.into()),
                    protocol: Some(proto.into()),
                    category: category.into(),
                    type_column: ty.map(str::to_string),
                    event_type: None,
                    details: true,
                }
            };
        Some(match name {
            // Scan reports (scan_ssh, scan_rdp, scan_telnet, …): an exposed service.
            "shadowserver-scan" => m(
                "ip",
                "timestamp",
                "port",
                "protocol",
                "vulnerable",
                Some("tag"),
            ),
            // Sinkhole and honeypot event reports: an infected host talking to a sinkhole.
            "shadowserver-infection" => m(
                "src_ip",
                "timestamp",
                "src_port",
                "protocol",
                "infected",
                Some("infection"),
            ),
            // Honeypot scan events: a host scanning others.
            "shadowserver-honeypot-scan" => m(
                "src_ip",
                "timestamp",
                "dst_port",
                "protocol",
                "scan",
                Some("tag"),
            ),
            _ => return None,
        })
    }

    pub const BUILTIN: [&'static str; 3] = [
        "shadowserver-scan",
        "shadowserver-infection",
        "shadowserver-honeypot-scan",
    ];
}

/// The column positions of a mapping in one file.
#[derive(Debug, Clone)]
pub struct Columns {
    pub ip: usize,
    pub time: Option<usize>,
    pub port: Option<usize>,
    pub protocol: Option<usize>,
    pub event_type: Option<usize>,
    /// The other columns, by position and name, when the mapping keeps details.
    pub details: Vec<(usize, String)>,
}

impl Columns {
    pub fn find(mapping: &Mapping, header: &csv::ByteRecord) -> Result<Columns, FormatError> {
        let pos = |name: &str| {
            header
                .iter()
                .position(|h| h.trim_ascii().eq_ignore_ascii_case(name.as_bytes()))
        };
        let ip = pos(&mapping.ip).ok_or_else(|| {
            FormatError::malformed(
                "feed",
                format!("the header has no column {:?} for the address", mapping.ip),
            )
        })?;
        let mut columns = Columns {
            ip,
            time: mapping.time.as_deref().and_then(pos),
            port: mapping.port.as_deref().and_then(pos),
            protocol: mapping.protocol.as_deref().and_then(pos),
            event_type: mapping.type_column.as_deref().and_then(pos),
            details: Vec::new(),
        };
        if mapping.details {
            let mapped = [
                Some(columns.ip),
                columns.time,
                columns.port,
                columns.protocol,
                columns.event_type,
            ];
            columns.details = header
                .iter()
                .enumerate()
                .filter(|(i, _)| !mapped.contains(&Some(*i)))
                .map(|(i, h)| (i, crate::lossy_text(h.trim_ascii())))
                .filter(|(_, h)| !h.is_empty())
                .collect();
        }
        Ok(columns)
    }
}

/// A tiny reader for the mapping file: `key = "value"` lines, `#` comments, and an
/// optional `[feed]` header. The mapping is flat, so this is all TOML it needs.
fn toml_lite(text: &str) -> Result<Mapping, FormatError> {
    let mut fields: Vec<(String, serde_json::Value)> = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.split('#').next().unwrap_or("").trim();
        if line.is_empty() || line == "[feed]" {
            continue;
        }
        let Some((k, v)) = line.split_once('=') else {
            return Err(FormatError::malformed(
                "feed mapping",
                format!("line {}: expected key = \"value\"", n + 1),
            ));
        };
        let v = v.trim();
        if let Ok(flag) = v.parse::<bool>() {
            fields.push((k.trim().to_string(), serde_json::Value::Bool(flag)));
            continue;
        }
        let v = v
            .strip_prefix('"')
            .and_then(|v| v.strip_suffix('"'))
            .ok_or_else(|| {
                FormatError::malformed("feed mapping", format!("line {}: quote the value", n + 1))
            })?;
        fields.push((
            k.trim().to_string(),
            serde_json::Value::String(v.to_string()),
        ));
    }
    let json: serde_json::Map<String, serde_json::Value> = fields.into_iter().collect();
    serde_json::from_value(serde_json::Value::Object(json))
        .map_err(|e| FormatError::malformed("feed mapping", e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_mapping_file_names_the_columns_and_rejects_unknown_keys() {
        let m = Mapping::from_toml(
            "[feed]\nip = \"src\"  # the host\ncategory = \"scan\"\nevent_type = \"ssh-scan\"\ndetails = true\n",
        )
        .unwrap();
        assert!(m.details);
        assert_eq!(m.ip, "src");
        assert_eq!(m.event_type.as_deref(), Some("ssh-scan"));
        assert!(
            Mapping::from_toml("ip = \"src\"\ncategory = \"scan\"\ncolour = \"red\"\n").is_err()
        );
        assert!(
            Mapping::from_toml("category = \"scan\"\n").is_err(),
            "ip is required"
        );
    }

    #[test]
    fn the_built_in_layouts_exist() {
        for name in Mapping::BUILTIN {
            assert!(Mapping::builtin(name).is_some());
        }
    }
}
