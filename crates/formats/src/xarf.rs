//! X-ARF v4 (JSON) abuse reports, validated against the published core and type
//! schemas, which are embedded.

use std::sync::OnceLock;

use base64::Engine as _;
use serde_json::Value;

use crate::error::FormatError;
use crate::extract::Proto;
use crate::report::{Format, Host, ParsedReport, Party};
use crate::schema::Schemas;
use crate::xarf_schemas::TYPE_SCHEMAS;

const NAME: &str = "X-ARF";

fn core() -> &'static Value {
    static CORE: OnceLock<Value> = OnceLock::new();
    CORE.get_or_init(|| {
        serde_json::from_str(include_str!("../data/xarf-v4/xarf-core.json"))
            .expect("embedded X-ARF core schema")
    })
}

/// The type schemas, parsed once, by file name.
fn type_schemas() -> &'static Vec<(&'static str, Value)> {
    static TYPES: OnceLock<Vec<(&'static str, Value)>> = OnceLock::new();
    TYPES.get_or_init(|| {
        TYPE_SCHEMAS
            .iter()
            .map(|(name, text)| {
                (
                    *name,
                    serde_json::from_str(text).expect("embedded X-ARF type schema"),
                )
            })
            .collect()
    })
}

fn type_schema(category: &str, kind: &str) -> Option<&'static Value> {
    let exact = format!("{category}-{kind}");
    let dashed = format!("{category}-{}", kind.replace('_', "-"));
    type_schemas()
        .iter()
        .find(|(name, _)| *name == exact || *name == dashed)
        .map(|(_, v)| v)
}

/// Every category/type pair the embedded schemas define, e.g. "connection/port_scan".
pub fn known_types() -> Vec<String> {
    type_schemas()
        .iter()
        .filter_map(|(_, v)| {
            let part = v["allOf"]
                .as_array()?
                .iter()
                .find(|p| p.get("properties").is_some())?;
            Some(format!(
                "{}/{}",
                part["properties"]["category"]["const"].as_str()?,
                part["properties"]["type"]["const"].as_str()?
            ))
        })
        .collect()
}

/// Parses and validates one X-ARF v4 document.
pub fn parse(bytes: &[u8]) -> Result<ParsedReport, FormatError> {
    let value: Value = serde_json::from_slice(bytes)
        .map_err(|e| FormatError::malformed(NAME, format!("not JSON: {e}")))?;
    let obj = value
        .as_object()
        .ok_or_else(|| FormatError::malformed(NAME, "the document is not a JSON object"))?;
    let schemas = Schemas {
        core: core(),
        externals: &[],
    };
    let mut problems = Vec::new();
    schemas.validate(core(), &value, "", &mut problems);
    let category = obj
        .get("category")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let kind = obj.get("type").and_then(Value::as_str).unwrap_or_default();
    if problems.is_empty() {
        match type_schema(category, kind) {
            Some(ts) => schemas.validate(ts, &value, "", &mut problems),
            None => problems.push(format!("type: {category}/{kind} is not an X-ARF v4 type")),
        }
    }
    if !problems.is_empty() {
        return Err(FormatError::Invalid {
            format: NAME,
            problems,
        });
    }

    let text_of = |k: &str| obj.get(k).and_then(Value::as_str).map(str::to_string);
    let mut report = ParsedReport::new(Format::Xarf);
    report.reporter = Party {
        name: None,
        email: value
            .pointer("/reporter/contact")
            .and_then(Value::as_str)
            .map(str::to_string),
        org: value
            .pointer("/reporter/org")
            .and_then(Value::as_str)
            .map(str::to_string),
    };
    report.external_id = text_of("report_id");
    report.hint = Some(format!("{category}/{kind}"));
    report.occurred_at = text_of("first_seen")
        .or_else(|| text_of("timestamp"))
        .and_then(|t| chrono::DateTime::parse_from_rfc3339(&t).ok())
        .map(|t| t.with_timezone(&chrono::Utc));
    let proto = text_of("protocol").and_then(|p| match p.as_str() {
        "tcp" => Some(Proto::Tcp),
        "udp" => Some(Proto::Udp),
        "icmp" => Some(Proto::Icmp),
        _ => None,
    });
    let source_id = text_of("source_identifier").unwrap_or_default();
    let mut source = Host {
        proto,
        ..Host::default()
    };
    match source_id.parse() {
        Ok(ip) => source.ip = Some(ip),
        Err(_) => source.name = Some(source_id.clone()),
    }
    if let Some(p) = obj
        .get("source_port")
        .and_then(Value::as_u64)
        .and_then(|p| u16::try_from(p).ok())
    {
        source.ports.push(p);
    }
    report.sources.push(source);
    let mut target = Host {
        proto,
        ..Host::default()
    };
    target.ip = text_of("destination_ip").and_then(|d| d.parse().ok());
    if let Some(p) = obj
        .get("destination_port")
        .and_then(Value::as_u64)
        .and_then(|p| u16::try_from(p).ok())
    {
        target.ports.push(p);
    }
    if let Some(list) = obj.get("ports_scanned").and_then(Value::as_array) {
        target.ports.extend(
            list.iter()
                .filter_map(Value::as_u64)
                .filter_map(|p| u16::try_from(p).ok()),
        );
    }
    if target.ip.is_some() || !target.ports.is_empty() {
        report.targets.push(target);
    }
    let mut text = Vec::new();
    if let Some(d) = text_of("description") {
        text.push(d);
    }
    text.push(format!("X-ARF {category}/{kind} from {source_id}"));
    for url in ["url", "source_url", "destination_url"]
        .iter()
        .filter_map(|k| text_of(k))
    {
        text.push(url);
    }
    for item in obj
        .get("evidence")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let ctype = item
            .get("content_type")
            .and_then(Value::as_str)
            .unwrap_or("application/octet-stream")
            .to_string();
        let payload = item
            .get("payload")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let Ok(data) = base64::engine::general_purpose::STANDARD.decode(payload.trim()) else {
            report
                .warnings
                .push("an evidence payload is not valid base64; kept as given".into());
            continue;
        };
        if ctype.starts_with("text/")
            && let Ok(t) = std::str::from_utf8(&data)
        {
            text.push(t.to_string());
        }
        report.attachments.push(crate::report::Attachment {
            filename: item
                .get("description")
                .and_then(Value::as_str)
                .map(str::to_string),
            content_type: ctype,
            size: data.len(),
            data,
            truncated: false,
        });
    }
    report.text = text.join("\n");
    Ok(report)
}
