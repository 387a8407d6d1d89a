//! CVE JSON 5 records: writing a published record with the CNA container, and reading
//! one into the facts a draft case needs.

use serde::Serialize;
use serde_json::{Map, Value, json};

use crate::FormatError;
use crate::cvss::Cvss31;

const FORMAT: &str = "CVE JSON 5";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Affected,
    Unaffected,
    Unknown,
}

impl Status {
    fn as_str(self) -> &'static str {
        match self {
            Status::Affected => "affected",
            Status::Unaffected => "unaffected",
            Status::Unknown => "unknown",
        }
    }
}

#[derive(Debug, Clone)]
pub struct Affected {
    pub vendor: String,
    pub product: String,
    pub status: Status,
    pub fixed_in: Option<String>,
    pub cpe: Option<String>,
}

#[derive(Debug, Clone)]
pub struct Record {
    pub cve_id: String,
    /// The CNA's UUID as the CVE Program issued it.
    pub assigner_org_id: String,
    pub assigner_short_name: String,
    pub title: String,
    pub description: String,
    pub lang: String,
    pub affected: Vec<Affected>,
    pub cwe: Option<(String, String)>,
    pub cvss: Option<Cvss31>,
    pub references: Vec<String>,
    pub credits: Vec<String>,
    /// RFC 3339.
    pub date_published: String,
    pub date_updated: String,
}

/// A CVE identifier as the program writes them: `CVE-YYYY-NNNN…`.
pub fn valid_cve_id(id: &str) -> bool {
    let Some(rest) = id.strip_prefix("CVE-") else {
        return false;
    };
    let Some((year, number)) = rest.split_once('-') else {
        return false;
    };
    year.len() == 4
        && year.bytes().all(|b| b.is_ascii_digit())
        && (4..=19).contains(&number.len())
        && number.bytes().all(|b| b.is_ascii_digit())
}

pub fn write(r: &Record) -> Result<Value, FormatError> {
    if !valid_cve_id(&r.cve_id) {
        return Err(FormatError::malformed(
            FORMAT,
            format!("{:?} is not a CVE ID such as CVE-2026-12345", r.cve_id),
        ));
    }
    if r.affected.is_empty() {
        return Err(FormatError::malformed(
            FORMAT,
            "a record needs at least one affected product",
        ));
    }
    let affected: Vec<Value> = r
        .affected
        .iter()
        .map(|a| {
            let mut item = json!({"vendor": a.vendor, "product": a.product});
            match a.fixed_in.as_deref().filter(|f| !f.trim().is_empty()) {
                Some(fixed) if a.status == Status::Affected => {
                    item["versions"] = json!([{
                        "version": "0",
                        "lessThan": fixed,
                        "status": "affected",
                        "versionType": "custom",
                    }]);
                    item["defaultStatus"] = json!("unaffected");
                }
                _ => item["defaultStatus"] = json!(a.status.as_str()),
            }
            if let Some(cpe) = a.cpe.as_deref().filter(|c| c.starts_with("cpe:2.3:")) {
                item["cpes"] = json!([cpe]);
            }
            item
        })
        .collect();
    let lang = if r.lang.is_empty() { "en" } else { &r.lang };
    let mut cna = Map::new();
    cna.insert(
        "providerMetadata".into(),
        json!({"orgId": r.assigner_org_id, "shortName": r.assigner_short_name, "dateUpdated": r.date_updated}),
    );
    cna.insert("title".into(), json!(r.title));
    cna.insert("datePublic".into(), json!(r.date_published));
    cna.insert(
        "descriptions".into(),
        json!([{"lang": lang, "value": r.description}]),
    );
    cna.insert("affected".into(), Value::Array(affected));
    if let Some((id, name)) = &r.cwe {
        cna.insert(
            "problemTypes".into(),
            json!([{"descriptions": [{"lang": "en", "cweId": id, "description": format!("{id} {name}"), "type": "CWE"}]}]),
        );
    }
    if let Some(c) = &r.cvss {
        cna.insert(
            "metrics".into(),
            json!([{
                "format": "CVSS",
                "scenarios": [{"lang": "en", "value": "GENERAL"}],
                "cvssV3_1": {"version": "3.1", "vectorString": c.vector, "baseScore": c.score, "baseSeverity": c.severity.as_str()},
            }]),
        );
    }
    let references: Vec<Value> = r.references.iter().map(|u| json!({"url": u})).collect();
    if references.is_empty() {
        return Err(FormatError::malformed(
            FORMAT,
            "a record needs at least one reference (the note's address is one)",
        ));
    }
    cna.insert("references".into(), Value::Array(references));
    if !r.credits.is_empty() {
        cna.insert(
            "credits".into(),
            Value::Array(
                r.credits
                    .iter()
                    .map(|c| json!({"lang": lang, "value": c, "type": "finder"}))
                    .collect(),
            ),
        );
    }
    Ok(json!({
        "dataType": "CVE_RECORD",
        "dataVersion": "5.1",
        "cveMetadata": {
            "cveId": r.cve_id,
            "assignerOrgId": r.assigner_org_id,
            "assignerShortName": r.assigner_short_name,
            "state": "PUBLISHED",
            "datePublished": r.date_published,
            "dateUpdated": r.date_updated,
        },
        "containers": {"cna": Value::Object(cna)},
    }))
}

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Imported {
    pub cve_id: String,
    pub title: String,
    pub description: String,
    pub cwe: Option<String>,
    pub cvss_vector: Option<String>,
    pub products: Vec<(String, String)>,
    pub references: Vec<String>,
    pub credits: Vec<String>,
}

/// Reads a CVE JSON 5 record (the whole record, or a bare CNA container). Problems
/// are listed by JSON path.
pub fn read(bytes: &[u8]) -> Result<Imported, FormatError> {
    let doc: Value = serde_json::from_slice(bytes)
        .map_err(|e| FormatError::malformed(FORMAT, format!("not JSON: {e}")))?;
    let mut problems = Vec::new();
    let (cna, prefix) = if doc.get("containers").is_some() {
        if doc["dataType"] != "CVE_RECORD" {
            problems.push("dataType: must be \"CVE_RECORD\"".to_string());
        }
        (&doc["containers"]["cna"], "containers.cna")
    } else {
        (&doc, "")
    };
    let at = |field: &str| {
        if prefix.is_empty() {
            field.to_string()
        } else {
            format!("{prefix}.{field}")
        }
    };
    let cve_id = doc["cveMetadata"]["cveId"].as_str().unwrap_or_default();
    if doc.get("containers").is_some() && !valid_cve_id(cve_id) {
        problems.push(format!("cveMetadata.cveId: {cve_id:?} is not a CVE ID"));
    }
    if !cna.is_object() {
        problems.push(format!("{}: required field missing", at("")));
    }
    let descriptions = cna["descriptions"].as_array();
    let description = descriptions
        .and_then(|d| {
            d.iter()
                .find(|x| x["lang"].as_str().is_some_and(|l| l.starts_with("en")))
                .or_else(|| d.first())
        })
        .and_then(|d| d["value"].as_str())
        .unwrap_or_default()
        .to_string();
    if description.is_empty() {
        problems.push(format!(
            "{}: needs a description with a value",
            at("descriptions")
        ));
    }
    let mut products = Vec::new();
    match cna["affected"].as_array() {
        Some(list) if !list.is_empty() => {
            for (i, a) in list.iter().enumerate() {
                let vendor = a["vendor"].as_str();
                let product = a["product"].as_str().or(a["packageName"].as_str());
                match (vendor, product) {
                    (_, Some(p)) => {
                        products.push((vendor.unwrap_or_default().to_string(), p.to_string()))
                    }
                    _ => problems.push(format!(
                        "{}[{i}].product: required field missing",
                        at("affected")
                    )),
                }
            }
        }
        _ => problems.push(format!("{}: needs at least 1 items", at("affected"))),
    }
    match cna["references"].as_array() {
        Some(r) if !r.is_empty() => {}
        _ => problems.push(format!("{}: needs at least 1 items", at("references"))),
    }
    if !problems.is_empty() {
        return Err(FormatError::Invalid {
            format: FORMAT,
            problems,
        });
    }
    let cvss_vector = cna["metrics"].as_array().and_then(|m| {
        m.iter()
            .find_map(|x| x["cvssV3_1"]["vectorString"].as_str().map(str::to_string))
    });
    let cwe = cna["problemTypes"].as_array().and_then(|p| {
        p.iter().find_map(|pt| {
            pt["descriptions"]
                .as_array()?
                .iter()
                .find_map(|d| d["cweId"].as_str().map(str::to_string))
        })
    });
    Ok(Imported {
        cve_id: cve_id.to_string(),
        title: cna["title"].as_str().unwrap_or_default().to_string(),
        description,
        cwe,
        cvss_vector,
        products,
        references: cna["references"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|r| r["url"].as_str().map(str::to_string))
            .collect(),
        credits: cna["credits"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|c| c["value"].as_str().map(str::to_string))
            .collect(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_written_record_reads_back() {
        let r = Record {
            cve_id: "CVE-2026-0001".into(),
            assigner_org_id: "2f1d5f80-6f0e-4c53-8b0f-1d9e0a7c3b11".into(),
            assigner_short_name: "example".into(),
            title: "XSS".into(),
            description: "A flaw.".into(),
            lang: "en".into(),
            affected: vec![Affected {
                vendor: "Acme".into(),
                product: "Router".into(),
                status: Status::Affected,
                fixed_in: Some("2.1".into()),
                cpe: None,
            }],
            cwe: Some(("CWE-79".into(), "XSS".into())),
            cvss: Some(Cvss31::parse("CVSS:3.1/AV:N/AC:L/PR:N/UI:R/S:C/C:L/I:L/A:N").unwrap()),
            references: vec!["https://csirt.example/notes/1".into()],
            credits: vec!["Hanako".into()],
            date_published: "2026-11-01T00:00:00.000000Z".into(),
            date_updated: "2026-11-01T00:00:00.000000Z".into(),
        };
        let doc = write(&r).unwrap();
        let back = read(doc.to_string().as_bytes()).unwrap();
        assert_eq!(back.cve_id, "CVE-2026-0001");
        assert_eq!(
            back.products,
            vec![("Acme".to_string(), "Router".to_string())]
        );
        assert_eq!(back.cwe.as_deref(), Some("CWE-79"));
    }

    #[test]
    fn a_broken_record_lists_its_problems_by_path() {
        let err = read(br#"{"dataType":"CVE_RECORD","cveMetadata":{"cveId":"CVE-26-1"},"containers":{"cna":{"affected":[{}]}}}"#)
            .unwrap_err()
            .to_string();
        for says in [
            "cveMetadata.cveId",
            "containers.cna.descriptions",
            "containers.cna.affected[0].product",
            "containers.cna.references",
        ] {
            assert!(err.contains(says), "{says}: {err}");
        }
    }
}
