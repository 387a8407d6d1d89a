//! The subset of JSON Schema (2020-12) that the X-ARF v4 schemas use: type, enum,
//! const, required, properties, additionalProperties: false, items, minimum, maximum,
//! minLength, maxLength, minItems, maxItems, uniqueItems, prefixItems, minProperties,
//! pattern, format, anyOf, oneOf, allOf,
//! local `$ref`s and `$ref`s to documents handed in by URL (CSAF's CVSS schemas).
//! Enough to tell a reporter exactly which field is wrong, without a general engine.

use serde_json::Value;

pub struct Schemas<'a> {
    /// Resolves `$ref` targets: the core schema by name, its `$defs` by pointer.
    pub core: &'a Value,
    /// Other documents a schema refers to by URL (CSAF's CVSS schemas), by the
    /// URL's ending.
    pub externals: &'a [(&'a str, &'a Value)],
}

impl Schemas<'_> {
    pub fn validate(&self, schema: &Value, value: &Value, path: &str, errors: &mut Vec<String>) {
        if errors.len() >= 20 {
            return;
        }
        let Some(s) = schema.as_object() else { return };
        if let Some(r) = s.get("$ref").and_then(Value::as_str)
            && let Some(target) = self.resolve(r)
        {
            self.validate(target, value, path, errors);
        }
        if let Some(all) = s.get("allOf").and_then(Value::as_array) {
            for sub in all {
                self.validate(sub, value, path, errors);
            }
        }
        if let Some(any) = s.get("anyOf").and_then(Value::as_array) {
            let ok = any.iter().any(|sub| {
                let mut e = Vec::new();
                self.validate(sub, value, path, &mut e);
                e.is_empty()
            });
            if !ok {
                errors.push(format!("{path}: matches none of the allowed forms"));
            }
        }
        if let Some(one) = s.get("oneOf").and_then(Value::as_array) {
            let matching = one
                .iter()
                .filter(|sub| {
                    let mut e = Vec::new();
                    self.validate(sub, value, path, &mut e);
                    e.is_empty()
                })
                .count();
            if matching != 1 {
                errors.push(format!(
                    "{path}: must match exactly one of the allowed forms, matches {matching}"
                ));
            }
        }
        if let Some(t) = s.get("type") {
            let allowed: Vec<&str> = match t {
                Value::String(one) => vec![one.as_str()],
                Value::Array(many) => many.iter().filter_map(Value::as_str).collect(),
                _ => vec![],
            };
            if !allowed.is_empty() && !allowed.iter().any(|t| type_matches(t, value)) {
                errors.push(format!(
                    "{path}: expected {}, found {}",
                    allowed.join(" or "),
                    type_name(value)
                ));
                return;
            }
        }
        if let Some(c) = s.get("const")
            && c != value
        {
            errors.push(format!("{path}: must be {c}"));
        }
        if let Some(e) = s.get("enum").and_then(Value::as_array)
            && !e.contains(value)
        {
            let shown: Vec<String> = e.iter().take(12).map(Value::to_string).collect();
            errors.push(format!(
                "{path}: {value} is not one of {}",
                shown.join(", ")
            ));
        }
        match value {
            Value::Object(obj) => {
                if let Some(req) = s.get("required").and_then(Value::as_array) {
                    for r in req.iter().filter_map(Value::as_str) {
                        if !obj.contains_key(r) {
                            errors.push(format!("{}: required field missing", join(path, r)));
                        }
                    }
                }
                if let Some(min) = s.get("minProperties").and_then(Value::as_u64)
                    && (obj.len() as u64) < min
                {
                    errors.push(format!("{path}: needs at least {min} fields"));
                }
                let props = s.get("properties").and_then(Value::as_object);
                if let Some(props) = props {
                    for (k, v) in obj {
                        if let Some(ps) = props.get(k) {
                            self.validate(ps, v, &join(path, k), errors);
                        }
                    }
                }
                if s.get("additionalProperties") == Some(&Value::Bool(false))
                    && let Some(props) = props
                {
                    for k in obj.keys().filter(|k| !props.contains_key(*k)) {
                        errors.push(format!("{}: unknown field", join(path, k)));
                    }
                }
            }
            Value::Array(items) => {
                if let Some(min) = s.get("minItems").and_then(Value::as_u64)
                    && (items.len() as u64) < min
                {
                    errors.push(format!("{path}: needs at least {min} items"));
                }
                if let Some(max) = s.get("maxItems").and_then(Value::as_u64)
                    && (items.len() as u64) > max
                {
                    errors.push(format!("{path}: allows at most {max} items"));
                }
                if s.get("uniqueItems") == Some(&Value::Bool(true))
                    && let Some(i) = (1..items.len()).find(|&i| items[..i].contains(&items[i]))
                {
                    errors.push(format!("{path}[{i}]: repeats an earlier item"));
                }
                // 2020-12: `prefixItems` judges the first items one by one, `items`
                // the rest.
                let prefix = s.get("prefixItems").and_then(Value::as_array);
                for (i, (sub, v)) in prefix.into_iter().flatten().zip(items).enumerate() {
                    self.validate(sub, v, &format!("{path}[{i}]"), errors);
                }
                if let Some(item) = s.get("items") {
                    let skip = prefix.map_or(0, Vec::len);
                    for (i, v) in items.iter().enumerate().skip(skip) {
                        self.validate(item, v, &format!("{path}[{i}]"), errors);
                    }
                }
            }
            Value::Number(n) => {
                if let (Some(min), Some(x)) = (s.get("minimum").and_then(Value::as_f64), n.as_f64())
                    && x < min
                {
                    errors.push(format!("{path}: {n} is below the minimum {min}"));
                }
                if let (Some(max), Some(x)) = (s.get("maximum").and_then(Value::as_f64), n.as_f64())
                    && x > max
                {
                    errors.push(format!("{path}: {n} is above the maximum {max}"));
                }
            }
            Value::String(text) => {
                if let Some(min) = s.get("minLength").and_then(Value::as_u64)
                    && (text.chars().count() as u64) < min
                {
                    errors.push(format!("{path}: shorter than {min} characters"));
                }
                if let Some(max) = s.get("maxLength").and_then(Value::as_u64)
                    && text.chars().count() as u64 > max
                {
                    errors.push(format!("{path}: longer than {max} characters"));
                }
                if let Some(p) = s.get("pattern").and_then(Value::as_str)
                    && let Some(re) = pattern(p)
                    && !re.is_match(text)
                {
                    errors.push(format!("{path}: {text:?} does not match {p}"));
                }
                if let Some(f) = s.get("format").and_then(Value::as_str)
                    && !format_matches(f, text)
                {
                    errors.push(format!("{path}: {text:?} is not a valid {f}"));
                }
            }
            _ => {}
        }
    }

    fn resolve(&self, r: &str) -> Option<&Value> {
        if r.ends_with("xarf-core.json") {
            return Some(self.core);
        }
        let (document, pointer) = r.split_once('#').unwrap_or((r, ""));
        let root = if document.is_empty() {
            self.core
        } else {
            self.externals
                .iter()
                .find(|(name, _)| document.ends_with(name))
                .map(|(_, v)| *v)?
        };
        root.pointer(pointer)
    }
}

fn join(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_string()
    } else {
        format!("{path}.{key}")
    }
}

fn type_matches(t: &str, v: &Value) -> bool {
    match t {
        "string" => v.is_string(),
        "integer" => v.as_i64().is_some() || v.as_u64().is_some(),
        "number" => v.is_number(),
        "boolean" => v.is_boolean(),
        "array" => v.is_array(),
        "object" => v.is_object(),
        "null" => v.is_null(),
        _ => true,
    }
}

fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

fn format_matches(f: &str, s: &str) -> bool {
    match f {
        "date-time" => chrono::DateTime::parse_from_rfc3339(s).is_ok(),
        "email" => s.split_once('@').is_some_and(|(l, d)| {
            !l.is_empty() && d.contains('.') && !s.contains(char::is_whitespace)
        }),
        "ipv4" => s.parse::<std::net::Ipv4Addr>().is_ok(),
        "ipv6" => s.parse::<std::net::Ipv6Addr>().is_ok(),
        "uuid" => {
            let parts: Vec<&str> = s.split('-').collect();
            parts.len() == 5
                && [8, 4, 4, 4, 12]
                    .iter()
                    .zip(&parts)
                    .all(|(n, p)| p.len() == *n && p.chars().all(|c| c.is_ascii_hexdigit()))
        }
        "hostname" => {
            !s.is_empty()
                && s.len() <= 253
                && s.split('.').all(|l| {
                    !l.is_empty() && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
                })
        }
        "uri" => s.contains(':') && !s.contains(char::is_whitespace),
        _ => true,
    }
}

/// Compiled patterns, kept: the schemas have a handful, used on every document.
fn pattern(p: &str) -> Option<regex::Regex> {
    use std::collections::HashMap;
    use std::sync::{Mutex, OnceLock};
    static CACHE: OnceLock<Mutex<HashMap<String, Option<regex::Regex>>>> = OnceLock::new();
    let mut cache = CACHE
        .get_or_init(Default::default)
        .lock()
        .unwrap_or_else(|e| e.into_inner());
    cache
        .entry(p.to_string())
        .or_insert_with(|| regex::Regex::new(p).ok())
        .clone()
}
