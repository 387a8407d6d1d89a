//! CSAF 2.0: writing a `csaf_security_advisory` from a published vulnerability note,
//! and reading a partner coordinator's advisory into the facts a draft case needs.
//!
//! The writer is shaped by the standard's mandatory tests (section 6.1): every
//! product referenced is defined once in the product tree, revision numbers run
//! 1, 2, … in date order with the last one as the document version, scores are
//! recomputed from their vectors, and remediations always name their products.

use std::sync::OnceLock;

use serde::Serialize;
use serde_json::{Map, Value, json};

use crate::FormatError;
use crate::cvss::Cvss31;
use crate::schema::Schemas;

const FORMAT: &str = "CSAF 2.0";

/// What a product's status says in CSAF's terms.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    KnownAffected,
    KnownNotAffected,
    UnderInvestigation,
}

#[derive(Debug, Clone)]
pub struct Product {
    /// Stable across revisions: the product ID is `CSAFPID-<key>`.
    pub key: String,
    pub name: String,
    pub cpe: Option<String>,
    pub purl: Option<String>,
    pub status: Status,
    /// The first version with the fix, when there is one: listed as `fixed`.
    pub fixed_in: Option<String>,
}

#[derive(Debug, Clone)]
pub struct Vendor {
    pub name: String,
    pub products: Vec<Product>,
    /// The vendor's own words, shown as a note on the vulnerability.
    pub statement: Option<String>,
}

#[derive(Debug, Clone)]
pub struct Revision {
    pub number: u32,
    /// RFC 3339.
    pub date: String,
    pub summary: String,
}

#[derive(Debug, Clone)]
pub struct Reference {
    pub url: String,
    pub summary: String,
}

#[derive(Debug, Clone)]
pub struct Publisher {
    pub name: String,
    /// The publisher's namespace URL, e.g. `https://csirt.example`.
    pub namespace: String,
}

/// A published note, as the advisory writer needs it.
#[derive(Debug, Clone)]
pub struct Advisory {
    pub tracking_id: String,
    pub title: String,
    /// `ja` or `en`.
    pub lang: String,
    pub publisher: Publisher,
    /// The note's public address.
    pub url: String,
    pub summary: String,
    pub description: String,
    pub solution: String,
    pub workaround: String,
    pub cve: Option<String>,
    /// CWE identifier (`CWE-79`) and its catalogue name.
    pub cwe: Option<(String, String)>,
    pub cvss: Option<Cvss31>,
    pub vendors: Vec<Vendor>,
    pub references: Vec<Reference>,
    pub credits: Vec<String>,
    /// Oldest first; at least one.
    pub revisions: Vec<Revision>,
    pub generator_version: String,
    /// `final` for a published advisory; `draft` for one exchanged before
    /// publication.
    pub status: String,
    /// CSAF 2.0's TLP label: `WHITE` (TLP:CLEAR), `GREEN`, `AMBER` or `RED`.
    pub tlp: String,
}

/// CSAF 2.0 knows TLP 1.0's labels: CLEAR is written WHITE, and AMBER+STRICT is
/// AMBER (the strictest it can say).
pub fn tlp_label(tlp: &str) -> &'static str {
    match tlp.trim().to_ascii_uppercase().trim_start_matches("TLP:") {
        "CLEAR" | "WHITE" => "WHITE",
        "GREEN" => "GREEN",
        "RED" => "RED",
        _ => "AMBER",
    }
}

/// The file name CSAF section 5.1 prescribes for a tracking ID.
pub fn file_name(tracking_id: &str) -> String {
    let mut out: String = tracking_id
        .to_lowercase()
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '+' || c == '-' {
                c
            } else {
                '_'
            }
        })
        .collect();
    out.push_str(".json");
    out
}

fn product_id(key: &str) -> String {
    format!("CSAFPID-{key}")
}

fn fixed_id(key: &str) -> String {
    format!("CSAFPID-{key}-FIXED")
}

/// Writes the advisory. Fails only on what the standard cannot express: no products
/// at all, or no revision.
pub fn write(a: &Advisory) -> Result<Value, FormatError> {
    let bad = |m: &str| Err(FormatError::malformed(FORMAT, m));
    if a.revisions.is_empty() {
        return bad("a published advisory needs at least one revision");
    }
    if a.vendors.iter().all(|v| v.products.is_empty()) {
        return bad("the advisory names no products: add vendors and their products first");
    }
    let mut revisions = a.revisions.clone();
    revisions.sort_by_key(|r| r.number);
    let last = revisions.last().expect("checked above");
    let first = &revisions[0];

    let mut vendor_branches = Vec::new();
    let mut affected = Vec::new();
    let mut not_affected = Vec::new();
    let mut investigating = Vec::new();
    let mut fixed = Vec::new();
    for vendor in a.vendors.iter().filter(|v| !v.products.is_empty()) {
        let mut product_branches = Vec::new();
        for p in &vendor.products {
            let full_name = format!("{} {}", vendor.name, p.name);
            let mut product = json!({"name": full_name, "product_id": product_id(&p.key)});
            let mut helper = Map::new();
            if let Some(cpe) = p.cpe.as_deref().filter(|c| !c.is_empty()) {
                helper.insert("cpe".into(), json!(cpe));
            }
            if let Some(purl) = p.purl.as_deref().filter(|c| !c.is_empty()) {
                helper.insert("purl".into(), json!(purl));
            }
            if !helper.is_empty() {
                product["product_identification_helper"] = Value::Object(helper);
            }
            match p.status {
                Status::KnownAffected => affected.push(product_id(&p.key)),
                Status::KnownNotAffected => not_affected.push(product_id(&p.key)),
                Status::UnderInvestigation => investigating.push(product_id(&p.key)),
            }
            let fixed_in = p
                .fixed_in
                .as_deref()
                .map(str::trim)
                .filter(|f| !f.is_empty() && p.status == Status::KnownAffected);
            let branch = match fixed_in {
                Some(version) => {
                    fixed.push(fixed_id(&p.key));
                    // The affected versions are a range below the fix; the fixed one a
                    // single version (test 6.1.31 keeps ranges out of product_version).
                    json!({
                        "category": "product_name",
                        "name": p.name,
                        "branches": [
                            {
                                "category": "product_version_range",
                                "name": format!("vers:generic/<{version}"),
                                "product": product,
                            },
                            {
                                "category": "product_version",
                                "name": version,
                                "product": {
                                    "name": format!("{} {} {version}", vendor.name, p.name),
                                    "product_id": fixed_id(&p.key),
                                },
                            },
                        ],
                    })
                }
                None => json!({"category": "product_name", "name": p.name, "product": product}),
            };
            product_branches.push(branch);
        }
        vendor_branches.push(json!({
            "category": "vendor",
            "name": vendor.name,
            "branches": product_branches,
        }));
    }

    let mut vulnerability = Map::new();
    if let Some(cve) = &a.cve {
        vulnerability.insert("cve".into(), json!(cve));
    }
    if let Some((id, name)) = &a.cwe {
        vulnerability.insert("cwe".into(), json!({"id": id, "name": name}));
    }
    vulnerability.insert("title".into(), json!(a.title));
    let mut notes =
        vec![json!({"category": "description", "title": "Description", "text": a.description})];
    for v in &a.vendors {
        if let Some(statement) = v.statement.as_deref().filter(|s| !s.trim().is_empty()) {
            notes.push(json!({
                "category": "other",
                "title": format!("Statement from {}", v.name),
                "text": statement,
            }));
        }
    }
    vulnerability.insert("notes".into(), Value::Array(notes));
    let mut status = Map::new();
    for (key, ids) in [
        ("known_affected", &affected),
        ("known_not_affected", &not_affected),
        ("under_investigation", &investigating),
        ("fixed", &fixed),
    ] {
        if !ids.is_empty() {
            status.insert(key.into(), json!(ids));
        }
    }
    vulnerability.insert("product_status".into(), Value::Object(status));
    if !affected.is_empty() {
        let mut remediations = Vec::new();
        if !a.solution.trim().is_empty() {
            remediations.push(
                json!({"category": "vendor_fix", "details": a.solution, "product_ids": affected}),
            );
        }
        if !a.workaround.trim().is_empty() {
            remediations.push(
                json!({"category": "workaround", "details": a.workaround, "product_ids": affected}),
            );
        }
        if !remediations.is_empty() {
            vulnerability.insert("remediations".into(), Value::Array(remediations));
        }
        if let Some(cvss) = &a.cvss {
            vulnerability.insert(
                "scores".into(),
                json!([{
                    "products": affected,
                    "cvss_v3": {
                        "version": "3.1",
                        "vectorString": cvss.vector,
                        "baseScore": cvss.score,
                        "baseSeverity": cvss.severity.as_str(),
                    },
                }]),
            );
        }
    }
    if !a.references.is_empty() {
        vulnerability.insert(
            "references".into(),
            Value::Array(
                a.references
                    .iter()
                    .map(|r| json!({"category": "external", "url": r.url, "summary": r.summary}))
                    .collect(),
            ),
        );
    }

    let mut document = json!({
        "category": "csaf_security_advisory",
        "csaf_version": "2.0",
        "distribution": {"tlp": {"label": a.tlp, "url": "https://www.first.org/tlp/"}},
        "lang": a.lang,
        "publisher": {"category": "coordinator", "name": a.publisher.name, "namespace": a.publisher.namespace},
        "title": a.title,
        "notes": [{"category": "summary", "title": "Summary", "text": a.summary}],
        "references": [{"category": "self", "summary": "Vulnerability note", "url": a.url}],
        "tracking": {
            "id": a.tracking_id,
            "status": a.status,
            "version": last.number.to_string(),
            "initial_release_date": first.date,
            "current_release_date": last.date,
            "revision_history": revisions.iter().map(|r| json!({
                "date": r.date, "number": r.number.to_string(), "summary": r.summary,
            })).collect::<Vec<_>>(),
            "generator": {"engine": {"name": "Renkei", "version": a.generator_version}},
        },
    });
    if !a.credits.is_empty() {
        document["acknowledgments"] = json!([{"names": a.credits}]);
    }
    Ok(json!({
        "document": document,
        "product_tree": {"branches": vendor_branches},
        "vulnerabilities": [Value::Object(vulnerability)],
    }))
}

fn schema() -> &'static (Value, Vec<(&'static str, Value)>) {
    static SCHEMA: OnceLock<(Value, Vec<(&'static str, Value)>)> = OnceLock::new();
    SCHEMA.get_or_init(|| {
        let parse = |t: &str| serde_json::from_str(t).expect("bundled schema is JSON");
        (
            parse(include_str!("../data/csaf-2.0/csaf_json_schema.json")),
            vec![
                (
                    "cvss-v2.0.json",
                    parse(include_str!("../data/csaf-2.0/cvss-v2.0.json")),
                ),
                (
                    "cvss-v3.0.json",
                    parse(include_str!("../data/csaf-2.0/cvss-v3.0.json")),
                ),
                (
                    "cvss-v3.1.json",
                    parse(include_str!("../data/csaf-2.0/cvss-v3.1.json")),
                ),
            ],
        )
    })
}

/// The bundled JSON schema of a CVSS version as CSAF 2.0 refers to it (`2.0`, `3.0`,
/// `3.1`).
pub(crate) fn cvss_schema(version: &str) -> Option<&'static Value> {
    let name = match version {
        "2.0" => "cvss-v2.0.json",
        "3.0" => "cvss-v3.0.json",
        "3.1" => "cvss-v3.1.json",
        _ => return None,
    };
    schema().1.iter().find(|(n, _)| *n == name).map(|(_, v)| v)
}

/// Checks a document against the CSAF 2.0 JSON schema; each problem names its JSON
/// path (`document.tracking.id: required field missing`).
pub fn validate(doc: &Value) -> Vec<String> {
    let (core, externals) = schema();
    let externals: Vec<(&str, &Value)> = externals.iter().map(|(n, v)| (*n, v)).collect();
    let schemas = Schemas {
        core,
        externals: &externals,
    };
    let mut errors = Vec::new();
    schemas.validate(core, doc, "", &mut errors);
    errors
}

/// Checks a provider-metadata.json against the CSAF 2.0 provider schema.
pub fn validate_provider_metadata(doc: &Value) -> Vec<String> {
    static PROVIDER: OnceLock<Value> = OnceLock::new();
    let provider = PROVIDER.get_or_init(|| {
        serde_json::from_str(include_str!("../data/csaf-2.0/provider_json_schema.json"))
            .expect("bundled schema is JSON")
    });
    let (csaf, _) = schema();
    let externals = [("csaf_json_schema.json", csaf)];
    let schemas = Schemas {
        core: provider,
        externals: &externals,
    };
    let mut errors = Vec::new();
    schemas.validate(provider, doc, "", &mut errors);
    errors
}

/// Checks a ROLIE feed against CSAF 2.0's ROLIE feed schema (section 7.1.20):
/// among others, every document link is https and ends in `.json`.
pub fn validate_rolie_feed(doc: &Value) -> Vec<String> {
    static ROLIE: OnceLock<Value> = OnceLock::new();
    let rolie = ROLIE.get_or_init(|| {
        serde_json::from_str(include_str!("../data/csaf-2.0/ROLIE_feed_json_schema.json"))
            .expect("bundled schema is JSON")
    });
    let schemas = Schemas {
        core: rolie,
        externals: &[],
    };
    let mut errors = Vec::new();
    schemas.validate(rolie, doc, "", &mut errors);
    errors
}

/// One score of a vulnerability as the document gives it: every CVSS version is
/// kept (v2, v3.0, v3.1, and v4.0 from documents that carry it), none dropped.
#[derive(Debug, Clone, Default, PartialEq, Serialize, serde::Deserialize)]
pub struct Score {
    /// `2.0`, `3.0`, `3.1` or `4.0`.
    pub version: String,
    pub vector: String,
    pub base_score: Option<f64>,
    /// The products the score is for.
    pub products: Vec<String>,
}

/// One vulnerability of an imported document.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct ImportedVulnerability {
    pub title: String,
    pub description: String,
    pub cve: Option<String>,
    pub cwe: Option<String>,
    pub scores: Vec<Score>,
}

impl ImportedVulnerability {
    /// The CVSS v3.1 vector a case records, when the document gives one.
    pub fn cvss31(&self) -> Option<&str> {
        self.scores
            .iter()
            .find(|s| s.version == "3.1")
            .map(|s| s.vector.as_str())
    }
}

/// What a partner's advisory tells a coordinator opening a draft case.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Imported {
    pub tracking_id: String,
    pub publisher: String,
    pub title: String,
    pub description: String,
    /// The first vulnerability's identifiers, which the case itself records.
    pub cve: Option<String>,
    pub cwe: Option<String>,
    pub cvss_vector: Option<String>,
    /// Every vulnerability of the document, in its order.
    pub vulnerabilities: Vec<ImportedVulnerability>,
    /// (vendor, product) pairs from the product tree.
    pub products: Vec<(String, String)>,
    pub references: Vec<String>,
    pub credits: Vec<String>,
}

/// Checks a document as an importer must: the JSON schema, then the standard's
/// mandatory tests (section 6.1). Each problem names its place; a test failure
/// also its number (`6.1.1 /vulnerabilities/0/…: …`).
pub fn problems(doc: &Value) -> Vec<String> {
    let mut problems = validate(doc);
    problems.extend(
        crate::csaf_mandatory::check(doc)
            .iter()
            .map(ToString::to_string),
    );
    problems
}

/// Reads a CSAF 2.0 document. A document that breaks the schema or a mandatory
/// test is refused with every problem listed.
pub fn read(bytes: &[u8]) -> Result<Imported, FormatError> {
    let doc: Value = serde_json::from_slice(bytes)
        .map_err(|e| FormatError::malformed(FORMAT, format!("not JSON: {e}")))?;
    let problems = problems(&doc);
    if !problems.is_empty() {
        return Err(FormatError::Invalid {
            format: FORMAT,
            problems,
        });
    }
    let s = |v: &Value| v.as_str().unwrap_or_default().to_string();
    let document = &doc["document"];
    let note_text = |notes: &Value, categories: &[&str]| -> Option<String> {
        notes.as_array()?.iter().find_map(|n| {
            categories
                .contains(&n["category"].as_str().unwrap_or_default())
                .then(|| s(&n["text"]))
        })
    };
    let document_text = note_text(
        &document["notes"],
        &["summary", "description", "details", "general"],
    );
    let vulnerabilities: Vec<ImportedVulnerability> = doc["vulnerabilities"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|vuln| {
            let mut scores = Vec::new();
            for sc in vuln["scores"].as_array().into_iter().flatten() {
                let products: Vec<String> = sc["products"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(Value::as_str)
                    .map(String::from)
                    .collect();
                for key in ["cvss_v2", "cvss_v3", "cvss_v4"] {
                    let c = &sc[key];
                    if let Some(vector) = c["vectorString"].as_str() {
                        scores.push(Score {
                            version: c["version"]
                                .as_str()
                                .map(str::to_string)
                                .unwrap_or_else(|| key.trim_start_matches("cvss_v").into()),
                            vector: vector.to_string(),
                            base_score: c["baseScore"].as_f64(),
                            products: products.clone(),
                        });
                    }
                }
            }
            ImportedVulnerability {
                title: s(&vuln["title"]),
                description: note_text(&vuln["notes"], &["description", "summary", "details"])
                    .or_else(|| document_text.clone())
                    .unwrap_or_default(),
                cve: vuln["cve"].as_str().map(str::to_string),
                cwe: vuln["cwe"]["id"].as_str().map(str::to_string),
                scores,
            }
        })
        .collect();
    let first = vulnerabilities.first().cloned().unwrap_or_default();
    let mut products = Vec::new();
    collect_products(&doc["product_tree"]["branches"], None, None, &mut products);
    if let Some(names) = doc["product_tree"]["full_product_names"].as_array() {
        for p in names {
            products.push((String::new(), s(&p["name"])));
        }
    }
    products.dedup();
    let mut credits = Vec::new();
    let vuln_acks = doc["vulnerabilities"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|v| &v["acknowledgments"]);
    for list in std::iter::once(&document["acknowledgments"]).chain(vuln_acks) {
        for ack in list.as_array().into_iter().flatten() {
            for n in ack["names"].as_array().into_iter().flatten() {
                credits.push(s(n));
            }
            if let Some(org) = ack["organization"].as_str() {
                credits.push(org.to_string());
            }
        }
    }
    credits.dedup();
    let mut references = Vec::new();
    let vuln_refs = doc["vulnerabilities"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|v| &v["references"]);
    for list in std::iter::once(&document["references"]).chain(vuln_refs) {
        for r in list.as_array().into_iter().flatten() {
            let url = s(&r["url"]);
            if !references.contains(&url) {
                references.push(url);
            }
        }
    }
    let title = if vulnerabilities.len() == 1 && !first.title.is_empty() {
        first.title.clone()
    } else {
        s(&document["title"])
    };
    Ok(Imported {
        tracking_id: s(&document["tracking"]["id"]),
        publisher: s(&document["publisher"]["name"]),
        title,
        description: if first.description.is_empty() {
            document_text.unwrap_or_default()
        } else {
            first.description.clone()
        },
        cve: first.cve.clone(),
        cwe: first.cwe.clone(),
        cvss_vector: first.cvss31().map(str::to_string),
        vulnerabilities,
        products,
        references,
        credits,
    })
}

fn collect_products(
    branches: &Value,
    vendor: Option<&str>,
    product: Option<&str>,
    out: &mut Vec<(String, String)>,
) {
    for b in branches.as_array().into_iter().flatten() {
        let name = b["name"].as_str().unwrap_or_default();
        let (vendor, product) = match b["category"].as_str() {
            Some("vendor") => (Some(name), product),
            Some("product_name") | Some("product_family") => (vendor, Some(name)),
            _ => (vendor, product),
        };
        if b.get("product").is_some() {
            let product = product
                .map(str::to_string)
                .unwrap_or_else(|| b["product"]["name"].as_str().unwrap_or(name).to_string());
            out.push((vendor.unwrap_or_default().to_string(), product));
        }
        collect_products(&b["branches"], vendor, product, out);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Advisory {
        Advisory {
            tracking_id: "JVNVU#12345678".into(),
            title: "Stored XSS in Example Router".into(),
            lang: "en".into(),
            publisher: Publisher {
                name: "Example CSIRT".into(),
                namespace: "https://csirt.example".into(),
            },
            url: "https://csirt.example/notes/JVNVU%2312345678".into(),
            summary: "A stored cross-site scripting flaw.".into(),
            description: "The admin page echoes the device name.".into(),
            solution: "Update the firmware.".into(),
            workaround: "Restrict access to the admin page.".into(),
            cve: Some("CVE-2026-0001".into()),
            cwe: Some(("CWE-79".into(), "Improper Neutralization of Input During Web Page Generation ('Cross-site Scripting')".into())),
            cvss: Some(Cvss31::parse("CVSS:3.1/AV:N/AC:L/PR:N/UI:R/S:C/C:L/I:L/A:N").unwrap()),
            vendors: vec![
                Vendor {
                    name: "Acme".into(),
                    products: vec![
                        Product { key: "1".into(), name: "Router X".into(), cpe: None, purl: None, status: Status::KnownAffected, fixed_in: Some("2.1".into()) },
                        Product { key: "2".into(), name: "Router Y".into(), cpe: None, purl: None, status: Status::KnownNotAffected, fixed_in: None },
                    ],
                    statement: Some("We fixed it.".into()),
                },
                Vendor {
                    name: "Beta".into(),
                    products: vec![Product { key: "3".into(), name: "Switch".into(), cpe: Some("cpe:/h:beta:switch".into()), purl: None, status: Status::UnderInvestigation, fixed_in: None }],
                    statement: None,
                },
            ],
            references: vec![Reference { url: "https://acme.example/advisory".into(), summary: "Acme advisory".into() }],
            credits: vec!["Hanako Yamada".into()],
            revisions: vec![Revision { number: 1, date: "2026-11-01T00:00:00.000000Z".into(), summary: "Initial release".into() }],
            generator_version: "0.1.0".into(),
            status: "final".into(),
            tlp: "WHITE".into(),
        }
    }

    #[test]
    fn a_written_advisory_validates_against_the_schema_and_reads_back() {
        let doc = write(&sample()).unwrap();
        assert_eq!(validate(&doc), Vec::<String>::new());
        let back = read(doc.to_string().as_bytes()).unwrap();
        assert_eq!(back.tracking_id, "JVNVU#12345678");
        assert_eq!(back.cve.as_deref(), Some("CVE-2026-0001"));
        assert!(
            back.products.contains(&("Acme".into(), "Router X".into())),
            "{:?}",
            back.products
        );
        assert_eq!(
            doc["vulnerabilities"][0]["product_status"]["fixed"],
            json!(["CSAFPID-1-FIXED"])
        );
        assert_eq!(file_name("JVNVU#12345678"), "jvnvu_12345678.json");
    }

    #[test]
    fn an_invalid_document_lists_its_problems_by_path() {
        let err =
            read(br#"{"document":{"category":"csaf_security_advisory","csaf_version":"2.1"}}"#)
                .unwrap_err()
                .to_string();
        assert!(err.contains("document.csaf_version"), "{err}");
        assert!(
            err.contains("document.title: required field missing"),
            "{err}"
        );
        assert!(
            err.contains("document.tracking: required field missing"),
            "{err}"
        );
    }

    #[test]
    fn every_vulnerability_and_every_cvss_version_of_a_document_is_kept() {
        let mut doc = write(&sample()).unwrap();
        let product = doc["vulnerabilities"][0]["scores"][0]["products"][0].clone();
        let mut second = doc["vulnerabilities"][0].clone();
        second["cve"] = json!("CVE-2026-0002");
        second["title"] = json!("Second flaw");
        second["scores"] = json!([{
            "products": [product],
            "cvss_v2": {"version": "2.0", "vectorString": "AV:N/AC:L/Au:N/C:P/I:P/A:P", "baseScore": 7.5},
            "cvss_v3": {"version": "3.0", "vectorString": "CVSS:3.0/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H", "baseScore": 9.8, "baseSeverity": "CRITICAL"},
        }]);
        doc["vulnerabilities"].as_array_mut().unwrap().push(second);
        assert_eq!(problems(&doc), Vec::<String>::new());
        let back = read(doc.to_string().as_bytes()).unwrap();
        assert_eq!(back.vulnerabilities.len(), 2);
        assert_eq!(
            back.cve.as_deref(),
            Some("CVE-2026-0001"),
            "the case records the first"
        );
        assert_eq!(
            back.title, "Stored XSS in Example Router",
            "several: the document's title"
        );
        let v2 = &back.vulnerabilities[1];
        assert_eq!(v2.cve.as_deref(), Some("CVE-2026-0002"));
        let versions: Vec<(&str, Option<f64>)> = v2
            .scores
            .iter()
            .map(|s| (s.version.as_str(), s.base_score))
            .collect();
        assert_eq!(versions, [("2.0", Some(7.5)), ("3.0", Some(9.8))]);
        assert_eq!(v2.cvss31(), None);
        assert_eq!(
            back.vulnerabilities[0].cvss31(),
            Some("CVSS:3.1/AV:N/AC:L/PR:N/UI:R/S:C/C:L/I:L/A:N")
        );
    }

    #[test]
    fn a_document_breaking_a_mandatory_test_is_refused_with_the_test_and_its_place() {
        let mut doc = write(&sample()).unwrap();
        doc["vulnerabilities"][0]["scores"][0]["products"]
            .as_array_mut()
            .unwrap()
            .push(json!("CSAFPID-NOWHERE"));
        doc["vulnerabilities"][0]["scores"][0]["cvss_v3"]["baseScore"] = json!(9.9);
        let err = read(doc.to_string().as_bytes()).unwrap_err().to_string();
        assert!(
            err.contains("6.1.1 /vulnerabilities/0/scores/0/products/1: product ID CSAFPID-NOWHERE is not defined"),
            "{err}"
        );
        assert!(
            err.contains("6.1.9 /vulnerabilities/0/scores/0/cvss_v3/baseScore: the vector computes to 6.1, not 9.9"),
            "{err}"
        );
    }

    #[test]
    fn a_rolie_feed_is_checked_against_its_schema() {
        let doc = "https://csirt.example/.well-known/csaf/white/2026/jvnvu_1.json";
        let feed = json!({"feed": {
            "id": "csirt-feed-tlp-white", "title": "Advisories",
            "link": [{"rel": "self", "href": "https://csirt.example/.well-known/csaf/white/feed-tlp-white.json"}],
            "category": [{"scheme": "urn:ietf:params:rolie:category:information-type", "term": "csaf"}],
            "updated": "2026-01-01T00:00:00Z",
            "entry": [{"id": "JVNVU#1", "title": "A", "link": [{"rel": "self", "href": doc}, {"rel": "hash", "href": format!("{doc}.sha256")}],
                "published": "2026-01-01T00:00:00Z", "updated": "2026-01-01T00:00:00Z",
                "content": {"type": "application/json", "src": doc},
                "format": {"schema": "https://docs.oasis-open.org/csaf/csaf/v2.0/csaf_json_schema.json", "version": "2.0"}}],
        }});
        assert_eq!(validate_rolie_feed(&feed), Vec::<String>::new());
        let mut plain = feed.clone();
        plain["feed"]["entry"][0]["content"]["src"] = json!("http://csirt.example/a.json");
        assert!(
            !validate_rolie_feed(&plain).is_empty(),
            "documents are served over https"
        );
        let mut first = feed;
        first["feed"]["link"][0]["rel"] = json!("alternate");
        assert!(
            !validate_rolie_feed(&first).is_empty(),
            "the first link is self"
        );
    }

    #[test]
    fn the_published_samples_read() {
        for name in ["bsi-2022-0001.json", "2022-evd-uc-01-a-001.json"] {
            let path = format!("{}/tests/data/csaf/{name}", env!("CARGO_MANIFEST_DIR"));
            let bytes = std::fs::read(&path).unwrap();
            let doc: Value = serde_json::from_slice(&bytes).unwrap();
            assert_eq!(problems(&doc), Vec::<String>::new(), "{name}");
            read(&bytes).unwrap();
        }
    }
}
