//! CSAF 2.0's mandatory tests (section 6.1): what a document must satisfy beyond
//! its JSON schema. Each failure names its test (`6.1.1`, …, `6.1.27.11`) and the
//! JSON pointer of the value at fault, so a partner whose advisory is refused
//! reads exactly what to fix. The OASIS TC's test documents are the conformance
//! set (`tests/csaf_mandatory.rs`).
//!
//! Two tests are only as wide as what Renkei carries: 6.1.11 compares a CWE's
//! name with the catalogue for the weaknesses in [`crate::cwe::COMMON`] (others
//! are not judged), and 6.1.12 knows the two-letter ISO 639-1 languages (three-
//! letter primary subtags are accepted as written).
//!
//! # Layout
//! - [`check`] runs every test; [`Finding`] is one failure.
//! - products: 6.1.1–6.1.7, 6.1.33 (product and group IDs, statuses, scores,
//!   flags)
//! - scores: 6.1.8–6.1.10 (CVSS against its schema, its computation, its
//!   properties)
//! - identifiers: 6.1.11–6.1.13, 6.1.23–6.1.25, 6.1.31 (CWE, language, PURL, CVE,
//!   involvements, hashes, version ranges)
//! - tracking: 6.1.14–6.1.22, 6.1.30 (revision history and versions)
//! - profiles: 6.1.15, 6.1.26–6.1.29, 6.1.32

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt;

use serde::Serialize;
use serde_json::Value;

use crate::cvss;

/// One failed mandatory test.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Finding {
    /// The test's number in section 6.1, e.g. `6.1.1` or `6.1.27.4`.
    pub test: &'static str,
    /// JSON pointer to the value at fault (`/vulnerabilities/0/cve`).
    pub path: String,
    pub message: String,
}

impl fmt::Display for Finding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let path = if self.path.is_empty() {
            "/"
        } else {
            &self.path
        };
        write!(f, "{} {}: {}", self.test, path, self.message)
    }
}

struct Run<'a> {
    doc: &'a Value,
    out: Vec<Finding>,
}

impl Run<'_> {
    fn fail(&mut self, test: &'static str, path: impl Into<String>, message: impl Into<String>) {
        self.out.push(Finding {
            test,
            path: path.into(),
            message: message.into(),
        });
    }
}

fn arr(v: &Value) -> &[Value] {
    v.as_array().map(Vec::as_slice).unwrap_or_default()
}

fn text(v: &Value) -> &str {
    v.as_str().unwrap_or_default()
}

/// Runs every mandatory test; an empty list means the document passes them all.
pub fn check(doc: &Value) -> Vec<Finding> {
    let mut run = Run {
        doc,
        out: Vec::new(),
    };
    products(&mut run);
    scores(&mut run);
    identifiers(&mut run);
    tracking(&mut run);
    profiles(&mut run);
    run.out
}

// ---------------------------------------------------------------- products

/// Every product ID the product tree defines, with the pointer of each definition.
fn defined_products(doc: &Value) -> Vec<(String, String)> {
    fn branches(v: &Value, path: &str, out: &mut Vec<(String, String)>) {
        for (i, b) in arr(v).iter().enumerate() {
            let here = format!("{path}/{i}");
            if let Some(id) = b["product"]["product_id"].as_str() {
                out.push((id.to_string(), format!("{here}/product/product_id")));
            }
            branches(&b["branches"], &format!("{here}/branches"), out);
        }
    }
    let tree = &doc["product_tree"];
    let mut out = Vec::new();
    branches(&tree["branches"], "/product_tree/branches", &mut out);
    for (i, p) in arr(&tree["full_product_names"]).iter().enumerate() {
        if let Some(id) = p["product_id"].as_str() {
            out.push((
                id.to_string(),
                format!("/product_tree/full_product_names/{i}/product_id"),
            ));
        }
    }
    for (i, r) in arr(&tree["relationships"]).iter().enumerate() {
        if let Some(id) = r["full_product_name"]["product_id"].as_str() {
            out.push((
                id.to_string(),
                format!("/product_tree/relationships/{i}/full_product_name/product_id"),
            ));
        }
    }
    out
}

const STATUSES: [&str; 8] = [
    "first_affected",
    "first_fixed",
    "fixed",
    "known_affected",
    "known_not_affected",
    "last_affected",
    "recommended",
    "under_investigation",
];

/// Every place a product ID is referred to, with its pointer.
fn product_references(doc: &Value) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut list = |v: &Value, path: String| {
        for (i, id) in arr(v).iter().enumerate() {
            if let Some(id) = id.as_str() {
                out.push((id.to_string(), format!("{path}/{i}")));
            }
        }
    };
    let tree = &doc["product_tree"];
    for (i, g) in arr(&tree["product_groups"]).iter().enumerate() {
        list(
            &g["product_ids"],
            format!("/product_tree/product_groups/{i}/product_ids"),
        );
    }
    for (i, v) in arr(&doc["vulnerabilities"]).iter().enumerate() {
        let base = format!("/vulnerabilities/{i}");
        for s in STATUSES {
            list(
                &v["product_status"][s],
                format!("{base}/product_status/{s}"),
            );
        }
        for (field, key) in [
            ("remediations", "product_ids"),
            ("scores", "products"),
            ("threats", "product_ids"),
            ("flags", "product_ids"),
        ] {
            for (j, item) in arr(&v[field]).iter().enumerate() {
                list(&item[key], format!("{base}/{field}/{j}/{key}"));
            }
        }
    }
    for (i, r) in arr(&tree["relationships"]).iter().enumerate() {
        for key in ["product_reference", "relates_to_product_reference"] {
            if let Some(id) = r[key].as_str() {
                out.push((
                    id.to_string(),
                    format!("/product_tree/relationships/{i}/{key}"),
                ));
            }
        }
    }
    out
}

/// The product IDs of each group.
fn groups(doc: &Value) -> HashMap<String, Vec<String>> {
    let mut out: HashMap<String, Vec<String>> = HashMap::new();
    for g in arr(&doc["product_tree"]["product_groups"]) {
        if let Some(id) = g["group_id"].as_str() {
            out.entry(id.to_string()).or_default().extend(
                arr(&g["product_ids"])
                    .iter()
                    .filter_map(Value::as_str)
                    .map(String::from),
            );
        }
    }
    out
}

fn products(run: &mut Run) {
    let doc = run.doc;
    let defined = defined_products(doc);
    let known: HashSet<&str> = defined.iter().map(|(id, _)| id.as_str()).collect();
    // 6.1.1
    for (id, path) in product_references(doc) {
        if !known.contains(id.as_str()) {
            run.fail(
                "6.1.1",
                path,
                format!("product ID {id} is not defined in the product tree"),
            );
        }
    }
    // 6.1.2
    let mut seen = HashSet::new();
    for (id, path) in &defined {
        if !seen.insert(id.as_str()) {
            run.fail(
                "6.1.2",
                path.clone(),
                format!("product ID {id} is defined more than once"),
            );
        }
    }
    // 6.1.3: a relationship's product must not be built, directly or through other
    // relationships, from itself.
    let rels = arr(&doc["product_tree"]["relationships"]);
    let mut parts: HashMap<&str, Vec<&str>> = HashMap::new();
    for r in rels {
        if let Some(id) = r["full_product_name"]["product_id"].as_str() {
            let e = parts.entry(id).or_default();
            for key in ["product_reference", "relates_to_product_reference"] {
                if let Some(p) = r[key].as_str() {
                    e.push(p);
                }
            }
        }
    }
    for (i, r) in rels.iter().enumerate() {
        let Some(id) = r["full_product_name"]["product_id"].as_str() else {
            continue;
        };
        let mut stack: Vec<&str> = parts.get(id).cloned().unwrap_or_default();
        let mut visited = HashSet::new();
        while let Some(p) = stack.pop() {
            if p == id {
                run.fail(
                    "6.1.3",
                    format!("/product_tree/relationships/{i}/full_product_name/product_id"),
                    format!("product ID {id} is defined through itself"),
                );
                break;
            }
            if visited.insert(p)
                && let Some(more) = parts.get(p)
            {
                stack.extend(more);
            }
        }
    }
    // 6.1.4 and 6.1.5
    let mut group_seen = HashSet::new();
    for (i, g) in arr(&doc["product_tree"]["product_groups"])
        .iter()
        .enumerate()
    {
        if let Some(id) = g["group_id"].as_str()
            && !group_seen.insert(id)
        {
            run.fail(
                "6.1.5",
                format!("/product_tree/product_groups/{i}/group_id"),
                format!("product group ID {id} is defined more than once"),
            );
        }
    }
    for (i, v) in arr(&doc["vulnerabilities"]).iter().enumerate() {
        for field in ["remediations", "threats", "flags"] {
            for (j, item) in arr(&v[field]).iter().enumerate() {
                for (k, g) in arr(&item["group_ids"]).iter().enumerate() {
                    if let Some(g) = g.as_str()
                        && !group_seen.contains(g)
                    {
                        run.fail(
                            "6.1.4",
                            format!("/vulnerabilities/{i}/{field}/{j}/group_ids/{k}"),
                            format!("product group ID {g} is not defined in the product tree"),
                        );
                    }
                }
            }
        }
    }
    let groups = groups(doc);
    for (i, v) in arr(&doc["vulnerabilities"]).iter().enumerate() {
        // 6.1.6: one product, one of affected / not affected / fixed / under
        // investigation.
        let mut class_of: HashMap<&str, &str> = HashMap::new();
        for (class, lists) in [
            (
                "affected",
                &["first_affected", "known_affected", "last_affected"][..],
            ),
            ("not affected", &["known_not_affected"][..]),
            ("fixed", &["first_fixed", "fixed"][..]),
            ("under investigation", &["under_investigation"][..]),
        ] {
            for list in lists {
                for (k, id) in arr(&v["product_status"][*list]).iter().enumerate() {
                    let Some(id) = id.as_str() else { continue };
                    match class_of.get(id) {
                        Some(other) if *other != class => run.fail(
                            "6.1.6",
                            format!("/vulnerabilities/{i}/product_status/{list}/{k}"),
                            format!("product {id} is both {other} and {class}"),
                        ),
                        _ => {
                            class_of.insert(id, class);
                        }
                    }
                }
            }
        }
        // 6.1.7: one score per CVSS version and product.
        let mut scored: HashSet<(String, String)> = HashSet::new();
        for (j, s) in arr(&v["scores"]).iter().enumerate() {
            let mut versions = Vec::new();
            if s.get("cvss_v2").is_some() {
                versions.push("2.0".to_string());
            }
            if let Some(ver) = s["cvss_v3"]["version"].as_str() {
                versions.push(ver.to_string());
            }
            for (k, p) in arr(&s["products"]).iter().enumerate() {
                let Some(p) = p.as_str() else { continue };
                for ver in &versions {
                    if !scored.insert((p.to_string(), ver.clone())) {
                        run.fail(
                            "6.1.7",
                            format!("/vulnerabilities/{i}/scores/{j}/products/{k}"),
                            format!("product {p} has more than one CVSS {ver} score"),
                        );
                    }
                }
            }
        }
        // 6.1.33: a product carries at most one flag (VEX justification) per
        // vulnerability.
        let mut flagged: HashSet<String> = HashSet::new();
        for (j, f) in arr(&v["flags"]).iter().enumerate() {
            let mut ids: Vec<String> = arr(&f["product_ids"])
                .iter()
                .filter_map(Value::as_str)
                .map(String::from)
                .collect();
            for g in arr(&f["group_ids"]).iter().filter_map(Value::as_str) {
                ids.extend(groups.get(g).cloned().unwrap_or_default());
            }
            ids.sort();
            ids.dedup();
            for id in ids {
                if !flagged.insert(id.clone()) {
                    run.fail(
                        "6.1.33",
                        format!("/vulnerabilities/{i}/flags/{j}"),
                        format!("product {id} has more than one flag for this vulnerability"),
                    );
                }
            }
        }
    }
}

// ---------------------------------------------------------------- scores

fn schema_for(version: &str) -> Option<&'static Value> {
    crate::csaf::cvss_schema(version)
}

/// A CVSS property, the vector metric it must agree with, and the word for each of
/// the metric's values.
type Property = (
    &'static str,
    &'static str,
    &'static [(&'static str, &'static str)],
);

/// What each v3 property says, by the metric in the vector that it must agree
/// with.
const V3_PROPERTIES: &[Property] = &[
    (
        "attackVector",
        "AV",
        &[
            ("N", "NETWORK"),
            ("A", "ADJACENT_NETWORK"),
            ("L", "LOCAL"),
            ("P", "PHYSICAL"),
        ],
    ),
    ("attackComplexity", "AC", &[("L", "LOW"), ("H", "HIGH")]),
    (
        "privilegesRequired",
        "PR",
        &[("N", "NONE"), ("L", "LOW"), ("H", "HIGH")],
    ),
    ("userInteraction", "UI", &[("N", "NONE"), ("R", "REQUIRED")]),
    ("scope", "S", &[("U", "UNCHANGED"), ("C", "CHANGED")]),
    (
        "confidentialityImpact",
        "C",
        &[("H", "HIGH"), ("L", "LOW"), ("N", "NONE")],
    ),
    (
        "integrityImpact",
        "I",
        &[("H", "HIGH"), ("L", "LOW"), ("N", "NONE")],
    ),
    (
        "availabilityImpact",
        "A",
        &[("H", "HIGH"), ("L", "LOW"), ("N", "NONE")],
    ),
    (
        "exploitCodeMaturity",
        "E",
        &[
            ("X", "NOT_DEFINED"),
            ("U", "UNPROVEN"),
            ("P", "PROOF_OF_CONCEPT"),
            ("F", "FUNCTIONAL"),
            ("H", "HIGH"),
        ],
    ),
    (
        "remediationLevel",
        "RL",
        &[
            ("X", "NOT_DEFINED"),
            ("O", "OFFICIAL_FIX"),
            ("T", "TEMPORARY_FIX"),
            ("W", "WORKAROUND"),
            ("U", "UNAVAILABLE"),
        ],
    ),
    (
        "reportConfidence",
        "RC",
        &[
            ("X", "NOT_DEFINED"),
            ("U", "UNKNOWN"),
            ("R", "REASONABLE"),
            ("C", "CONFIRMED"),
        ],
    ),
];

const V2_PROPERTIES: &[Property] = &[
    (
        "accessVector",
        "AV",
        &[("L", "LOCAL"), ("A", "ADJACENT_NETWORK"), ("N", "NETWORK")],
    ),
    (
        "accessComplexity",
        "AC",
        &[("H", "HIGH"), ("M", "MEDIUM"), ("L", "LOW")],
    ),
    (
        "authentication",
        "Au",
        &[("M", "MULTIPLE"), ("S", "SINGLE"), ("N", "NONE")],
    ),
    (
        "confidentialityImpact",
        "C",
        &[("N", "NONE"), ("P", "PARTIAL"), ("C", "COMPLETE")],
    ),
    (
        "integrityImpact",
        "I",
        &[("N", "NONE"), ("P", "PARTIAL"), ("C", "COMPLETE")],
    ),
    (
        "availabilityImpact",
        "A",
        &[("N", "NONE"), ("P", "PARTIAL"), ("C", "COMPLETE")],
    ),
];

fn vector_metrics(vector: &str) -> HashMap<&str, &str> {
    vector
        .trim_start_matches('(')
        .trim_end_matches(')')
        .split('/')
        .filter_map(|p| p.split_once(':'))
        .collect()
}

fn scores(run: &mut Run) {
    let doc = run.doc;
    for (i, v) in arr(&doc["vulnerabilities"]).iter().enumerate() {
        for (j, s) in arr(&v["scores"]).iter().enumerate() {
            for (key, props) in [("cvss_v3", V3_PROPERTIES), ("cvss_v2", V2_PROPERTIES)] {
                let c = &s[key];
                if c.is_null() {
                    continue;
                }
                let base = format!("/vulnerabilities/{i}/scores/{j}/{key}");
                let version = text(&c["version"]);
                // 6.1.8
                match schema_for(version) {
                    Some(schema) => {
                        let mut problems = Vec::new();
                        crate::schema::Schemas {
                            core: schema,
                            externals: &[],
                        }
                        .validate(schema, c, &base, &mut problems);
                        for p in problems {
                            run.fail(
                                "6.1.8",
                                base.clone(),
                                format!("not valid CVSS {version}: {p}"),
                            );
                        }
                    }
                    None => run.fail(
                        "6.1.8",
                        format!("{base}/version"),
                        format!("{version:?} is not a CVSS version CSAF 2.0 knows"),
                    ),
                }
                let vector = text(&c["vectorString"]);
                // 6.1.9
                let computed = if key == "cvss_v3" {
                    cvss::v3_base_score(vector)
                } else {
                    cvss::v2_base_score(vector)
                };
                if let (Some(score), Some(given)) = (computed, c["baseScore"].as_f64())
                    && (score - given).abs() > 0.05
                {
                    run.fail(
                        "6.1.9",
                        format!("{base}/baseScore"),
                        format!("the vector computes to {score}, not {given}"),
                    );
                }
                if key == "cvss_v3"
                    && let (Some(score), Some(given)) = (computed, c["baseSeverity"].as_str())
                {
                    let severity = cvss::Severity::from_score(score).as_str();
                    if severity != given {
                        run.fail(
                            "6.1.9",
                            format!("{base}/baseSeverity"),
                            format!("a base score of {score} is {severity}, not {given}"),
                        );
                    }
                }
                // 6.1.10
                let metrics = vector_metrics(vector);
                if key == "cvss_v3"
                    && let Some(prefix) = vector.split('/').next()
                    && prefix != format!("CVSS:{version}")
                {
                    run.fail(
                        "6.1.10",
                        format!("{base}/version"),
                        format!("version {version} but the vector starts with {prefix}"),
                    );
                }
                for (property, metric, words) in props {
                    let Some(said) = c[*property].as_str() else {
                        continue;
                    };
                    let vector_says = metrics
                        .get(metric)
                        .and_then(|m| words.iter().find(|(abbr, _)| abbr == m))
                        .map(|(_, w)| *w)
                        .unwrap_or("NOT_DEFINED");
                    if said != vector_says {
                        run.fail(
                            "6.1.10",
                            format!("{base}/{property}"),
                            format!("{said} but the vector says {vector_says}"),
                        );
                    }
                }
            }
        }
    }
}

// ---------------------------------------------------------------- identifiers

/// ISO 639-1: the two-letter primary language subtags.
const ISO_639_1: &str = "aa ab ae af ak am an ar as av ay az ba be bg bh bi bm bn bo br bs ca ce ch co cr cs cu cv cy da de dv dz ee el en eo es et eu fa ff fi fj fo fr fy ga gd gl gn gu gv ha he hi ho hr ht hu hy hz ia id ie ig ii ik io is it iu ja jv ka kg ki kj kk kl km kn ko kr ks ku kv kw ky la lb lg li ln lo lt lu lv mg mh mi mk ml mn mr ms mt my na nb nd ne ng nl nn no nr nv ny oc oj om or os pa pi pl ps pt qu rm rn ro ru rw sa sc sd se sg si sk sl sm sn so sq sr ss st su sv sw ta te tg th ti tk tl tn to tr ts tt tw ty ug uk ur uz ve vi vo wa wo xh yi yo za zh zu";

fn language_problem(tag: &str) -> Option<String> {
    let primary = tag.split('-').next().unwrap_or_default();
    let lower = primary.to_ascii_lowercase();
    match primary.len() {
        2 if !ISO_639_1.split(' ').any(|c| c == lower) => {
            Some(format!("{primary:?} is not an ISO 639 language"))
        }
        2 | 3 => None,
        _ if primary.eq_ignore_ascii_case("i") || primary.eq_ignore_ascii_case("x") => None,
        _ => Some(format!("{primary:?} is not a language subtag")),
    }
}

const RANGE_WORDS: [&str; 7] = [
    "after", "all", "before", "earlier", "later", "prior", "versions",
];

fn identifiers(run: &mut Run) {
    let doc = run.doc;
    // 6.1.11
    for (i, v) in arr(&doc["vulnerabilities"]).iter().enumerate() {
        let (Some(id), Some(name)) = (v["cwe"]["id"].as_str(), v["cwe"]["name"].as_str()) else {
            continue;
        };
        if let Some(known) = crate::cwe::name(id)
            && known != name
        {
            run.fail(
                "6.1.11",
                format!("/vulnerabilities/{i}/cwe/name"),
                format!("{id} is named {known:?} in the CWE catalogue"),
            );
        }
    }
    // 6.1.12
    for key in ["lang", "source_lang"] {
        if let Some(tag) = doc["document"][key].as_str()
            && let Some(p) = language_problem(tag)
        {
            run.fail("6.1.12", format!("/document/{key}"), p);
        }
    }
    // 6.1.13, 6.1.25 and 6.1.31 look at every product in the tree.
    fn each_product<'v>(v: &'v Value, path: String, out: &mut Vec<(String, &'v Value)>) {
        if v.is_object() {
            if v.get("product_id").is_some() {
                out.push((path.clone(), v));
            }
            for (k, child) in v.as_object().into_iter().flatten() {
                each_product(child, format!("{path}/{k}"), out);
            }
        } else if let Some(a) = v.as_array() {
            for (i, child) in a.iter().enumerate() {
                each_product(child, format!("{path}/{i}"), out);
            }
        }
    }
    let mut all = Vec::new();
    each_product(&doc["product_tree"], "/product_tree".into(), &mut all);
    for (path, p) in &all {
        let helper = &p["product_identification_helper"];
        if let Some(purl) = helper["purl"].as_str()
            && let Some(problem) = crate::purl::problem(purl)
        {
            run.fail(
                "6.1.13",
                format!("{path}/product_identification_helper/purl"),
                format!("{purl:?} is not a package URL: {problem}"),
            );
        }
        for (h, hashes) in arr(&helper["hashes"]).iter().enumerate() {
            let mut seen = HashSet::new();
            for (k, fh) in arr(&hashes["file_hashes"]).iter().enumerate() {
                let alg = text(&fh["algorithm"]);
                if !seen.insert(alg.to_ascii_lowercase()) {
                    run.fail("6.1.25", format!("{path}/product_identification_helper/hashes/{h}/file_hashes/{k}/algorithm"), format!("{alg} is used twice for the same file"));
                }
            }
        }
    }
    fn branches(run: &mut Run, v: &Value, path: &str) {
        for (i, b) in arr(v).iter().enumerate() {
            let here = format!("{path}/{i}");
            if b["category"] == "product_version" {
                let name = text(&b["name"]);
                let lower = name.to_lowercase();
                // Whole words only: "after-eight" is a version's name, "after 8" a range.
                let word = lower.split_whitespace().find(|w| RANGE_WORDS.contains(w));
                if name.contains(['<', '>']) || word.is_some() {
                    run.fail(
                        "6.1.31",
                        format!("{here}/name"),
                        format!(
                            "{name:?} is a version range; use the category product_version_range"
                        ),
                    );
                }
            }
            branches(run, &b["branches"], &format!("{here}/branches"));
        }
    }
    branches(
        run,
        &doc["product_tree"]["branches"],
        "/product_tree/branches",
    );
    // 6.1.23 and 6.1.24
    let mut cves: HashMap<&str, usize> = HashMap::new();
    for (i, v) in arr(&doc["vulnerabilities"]).iter().enumerate() {
        if let Some(cve) = v["cve"].as_str()
            && let Some(first) = cves.insert(cve, i)
        {
            cves.insert(cve, first);
            run.fail(
                "6.1.23",
                format!("/vulnerabilities/{i}/cve"),
                format!("{cve} is already used by /vulnerabilities/{first}"),
            );
        }
        let mut seen = HashSet::new();
        for (j, inv) in arr(&v["involvements"]).iter().enumerate() {
            let key = (text(&inv["party"]), text(&inv["date"]));
            if !inv["date"].is_null() && !seen.insert(key) {
                run.fail(
                    "6.1.24",
                    format!("/vulnerabilities/{i}/involvements/{j}"),
                    format!("party {} has two involvements dated {}", key.0, key.1),
                );
            }
        }
    }
}

// ---------------------------------------------------------------- tracking

/// A revision number or document version: an integer, or semantic versioning.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Version {
    Integer(u64),
    Semantic {
        major: u64,
        minor: u64,
        patch: u64,
        pre: Option<String>,
    },
}

impl Version {
    fn parse(s: &str) -> Option<Version> {
        if let Ok(n) = s.parse::<u64>() {
            return Some(Version::Integer(n));
        }
        let core = s.split_once('+').map_or(s, |(c, _)| c);
        let (core, pre) = match core.split_once('-') {
            Some((c, p)) => (c, Some(p.to_string())),
            None => (core, None),
        };
        let mut n = core.split('.').map(|p| p.parse::<u64>().ok());
        let (Some(Some(major)), Some(Some(minor)), Some(Some(patch)), None) =
            (n.next(), n.next(), n.next(), n.next())
        else {
            return None;
        };
        Some(Version::Semantic {
            major,
            minor,
            patch,
            pre,
        })
    }

    fn major(&self) -> u64 {
        match self {
            Version::Integer(n) => *n,
            Version::Semantic { major, .. } => *major,
        }
    }

    fn is_pre_release(&self) -> bool {
        matches!(self, Version::Semantic { pre: Some(_), .. })
    }

    fn without_pre(&self) -> Version {
        match self {
            Version::Semantic {
                major,
                minor,
                patch,
                ..
            } => Version::Semantic {
                major: *major,
                minor: *minor,
                patch: *patch,
                pre: None,
            },
            v => v.clone(),
        }
    }

    /// Precedence: integers by value; semantic versions by their numbers, a
    /// pre-release before its release.
    fn key(&self) -> (u64, u64, u64, u8, String) {
        match self {
            Version::Integer(n) => (*n, 0, 0, 1, String::new()),
            Version::Semantic {
                major,
                minor,
                patch,
                pre,
            } => (
                *major,
                *minor,
                *patch,
                u8::from(pre.is_none()),
                pre.clone().unwrap_or_default(),
            ),
        }
    }
}

fn tracking(run: &mut Run) {
    let doc = run.doc;
    let t = &doc["document"]["tracking"];
    let status = text(&t["status"]);
    let released = matches!(status, "final" | "interim");
    let version_text = text(&t["version"]);
    let version = Version::parse(version_text);
    let history: Vec<(usize, &str, &str, Option<Version>)> = arr(&t["revision_history"])
        .iter()
        .enumerate()
        .map(|(i, r)| {
            (
                i,
                text(&r["date"]),
                text(&r["number"]),
                Version::parse(text(&r["number"])),
            )
        })
        .collect();
    let when = |d: &str| chrono::DateTime::parse_from_rfc3339(d).ok();
    let mut by_date = history.clone();
    by_date.sort_by_key(|(i, d, _, _)| (when(d), *i));
    // 6.1.14
    for pair in by_date.windows(2) {
        if let (Some(a), Some(b)) = (&pair[0].3, &pair[1].3)
            && a.key() > b.key()
        {
            run.fail(
                "6.1.14",
                format!("/document/tracking/revision_history/{}/number", pair[1].0),
                format!(
                    "revision {} is dated after revision {}",
                    pair[1].2, pair[0].2
                ),
            );
        }
    }
    // 6.1.16
    if let (Some(last), Some(v)) = (by_date.last(), &version) {
        let strip = |x: &Version| {
            if status == "draft" {
                x.without_pre()
            } else {
                x.clone()
            }
        };
        if let Some(n) = &last.3
            && strip(n) != strip(v)
        {
            run.fail(
                "6.1.16",
                "/document/tracking/version",
                format!(
                    "version {version_text} is not the latest revision's number, {}",
                    last.2
                ),
            );
        }
    }
    if let Some(v) = &version {
        // 6.1.17
        if status != "draft" && (v.major() == 0 || v.is_pre_release()) {
            run.fail(
                "6.1.17",
                "/document/tracking/status",
                format!("version {version_text} is a draft's, but the status is {status}"),
            );
        }
        // 6.1.20
        if released && v.is_pre_release() {
            run.fail(
                "6.1.20",
                "/document/tracking/version",
                format!("a {status} document's version has no pre-release part"),
            );
        }
    }
    let mut numbers = HashSet::new();
    for (i, _, number, v) in &history {
        // 6.1.18
        if released && v.as_ref().is_some_and(|v| v.major() == 0) {
            run.fail(
                "6.1.18",
                format!("/document/tracking/revision_history/{i}/number"),
                format!("a {status} document has no revision numbered {number}"),
            );
        }
        // 6.1.19
        if v.as_ref().is_some_and(Version::is_pre_release) {
            run.fail(
                "6.1.19",
                format!("/document/tracking/revision_history/{i}/number"),
                format!("{number} is a pre-release; the history keeps releases"),
            );
        }
        // 6.1.22
        if !numbers.insert(*number) {
            run.fail(
                "6.1.22",
                format!("/document/tracking/revision_history/{i}/number"),
                format!("revision {number} is listed twice"),
            );
        }
    }
    // 6.1.21: the (major) numbers run without a gap from 0 or 1.
    let majors: Vec<u64> = history
        .iter()
        .filter_map(|(_, _, _, v)| v.as_ref().map(Version::major))
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect();
    if let Some(first) = majors.first()
        && *first > 1
    {
        run.fail(
            "6.1.21",
            "/document/tracking/revision_history",
            format!("the history starts at {first}, not at 0 or 1"),
        );
    }
    for pair in majors.windows(2) {
        if pair[1] != pair[0] + 1 {
            run.fail(
                "6.1.21",
                "/document/tracking/revision_history",
                format!(
                    "no revision {} between {} and {}",
                    pair[0] + 1,
                    pair[0],
                    pair[1]
                ),
            );
        }
    }
    // 6.1.30
    let kinds: BTreeMap<bool, &str> = history
        .iter()
        .filter_map(|(_, _, n, v)| v.as_ref().map(|v| (matches!(v, Version::Integer(_)), *n)))
        .chain(
            version
                .as_ref()
                .map(|v| (matches!(v, Version::Integer(_)), version_text)),
        )
        .collect();
    if kinds.len() > 1 {
        run.fail(
            "6.1.30",
            "/document/tracking",
            "integer and semantic versioning are mixed in the version and the revision history",
        );
    }
}

// ---------------------------------------------------------------- profiles

fn normalized(s: &str) -> String {
    s.chars()
        .filter(|c| {
            !matches!(c, '-' | '_' | ' ' | '\u{2010}'..='\u{2015}' | '\u{2212}')
                && !c.is_whitespace()
        })
        .flat_map(char::to_lowercase)
        .collect()
}

const PROFILES: [&str; 5] = [
    "csaf_base",
    "csaf_security_incident_response",
    "csaf_informational_advisory",
    "csaf_security_advisory",
    "csaf_vex",
];

fn profiles(run: &mut Run) {
    let doc = run.doc;
    let d = &doc["document"];
    let category = text(&d["category"]);
    // 6.1.15
    if d["publisher"]["category"] == "translator" && d["source_lang"].is_null() {
        run.fail(
            "6.1.15",
            "/document/source_lang",
            "a translator's document gives the language it was translated from",
        );
    }
    // 6.1.26
    if !PROFILES.contains(&category) {
        let n = normalized(category);
        let taken = PROFILES[1..]
            .iter()
            .any(|p| n == normalized(p.trim_start_matches("csaf_")) || n == normalized(p));
        if taken || category.to_ascii_lowercase().starts_with("csaf_") {
            run.fail(
                "6.1.26",
                "/document/category",
                format!("{category:?} is reserved for a CSAF profile"),
            );
        }
    }
    // 6.1.28
    if let (Some(lang), Some(source)) = (d["lang"].as_str(), d["source_lang"].as_str())
        && lang.eq_ignore_ascii_case(source)
    {
        run.fail(
            "6.1.28",
            "/document/source_lang",
            "a translation's language differs from its source's",
        );
    }
    let vulns = arr(&doc["vulnerabilities"]);
    for (i, v) in vulns.iter().enumerate() {
        // 6.1.29 and 6.1.32
        for (field, test) in [("remediations", "6.1.29"), ("flags", "6.1.32")] {
            for (j, item) in arr(&v[field]).iter().enumerate() {
                if arr(&item["product_ids"]).is_empty() && arr(&item["group_ids"]).is_empty() {
                    run.fail(
                        test,
                        format!("/vulnerabilities/{i}/{field}/{j}"),
                        "names no product_ids or group_ids",
                    );
                }
            }
        }
    }
    // 6.1.27: the profiles' own requirements.
    let incident_or_info = matches!(
        category,
        "csaf_security_incident_response" | "csaf_informational_advisory"
    );
    let advisory_or_vex = matches!(category, "csaf_security_advisory" | "csaf_vex");
    if incident_or_info {
        let has_note = arr(&d["notes"]).iter().any(|n| {
            matches!(
                text(&n["category"]),
                "description" | "details" | "general" | "summary"
            )
        });
        if !has_note {
            run.fail(
                "6.1.27.1",
                "/document/notes",
                "needs a note of category description, details, general or summary",
            );
        }
        if !arr(&d["references"])
            .iter()
            .any(|r| r["category"] == "external")
        {
            run.fail(
                "6.1.27.2",
                "/document/references",
                "needs a reference of category external",
            );
        }
    }
    if category == "csaf_informational_advisory" && !doc["vulnerabilities"].is_null() {
        run.fail(
            "6.1.27.3",
            "/vulnerabilities",
            "an informational advisory has no vulnerabilities",
        );
    }
    if advisory_or_vex {
        if doc["product_tree"].is_null() {
            run.fail(
                "6.1.27.4",
                "/product_tree",
                "this profile needs a product tree",
            );
        }
        if vulns.is_empty() {
            run.fail(
                "6.1.27.11",
                "/vulnerabilities",
                "this profile needs vulnerabilities",
            );
        }
        for (i, v) in vulns.iter().enumerate() {
            if arr(&v["notes"]).is_empty() {
                run.fail(
                    "6.1.27.5",
                    format!("/vulnerabilities/{i}/notes"),
                    "each vulnerability needs notes",
                );
            }
        }
    }
    if category == "csaf_security_advisory" {
        for (i, v) in vulns.iter().enumerate() {
            if v["product_status"].is_null() {
                run.fail(
                    "6.1.27.6",
                    format!("/vulnerabilities/{i}/product_status"),
                    "each vulnerability needs a product status",
                );
            }
        }
    }
    if category == "csaf_vex" {
        let groups = groups(doc);
        let covered = |items: &Value| -> HashSet<String> {
            let mut out = HashSet::new();
            for item in arr(items) {
                out.extend(
                    arr(&item["product_ids"])
                        .iter()
                        .filter_map(Value::as_str)
                        .map(String::from),
                );
                for g in arr(&item["group_ids"]).iter().filter_map(Value::as_str) {
                    out.extend(groups.get(g).cloned().unwrap_or_default());
                }
            }
            out
        };
        for (i, v) in vulns.iter().enumerate() {
            let ps = &v["product_status"];
            if [
                "fixed",
                "known_affected",
                "known_not_affected",
                "under_investigation",
            ]
            .iter()
            .all(|s| arr(&ps[*s]).is_empty())
            {
                run.fail("6.1.27.7", format!("/vulnerabilities/{i}/product_status"), "a VEX vulnerability lists fixed, known_affected, known_not_affected or under_investigation products");
            }
            if v["cve"].is_null() && arr(&v["ids"]).is_empty() {
                run.fail(
                    "6.1.27.8",
                    format!("/vulnerabilities/{i}"),
                    "a VEX vulnerability has a cve or ids",
                );
            }
            let mut impact = covered(&v["flags"]);
            let impact_threats = Value::Array(
                arr(&v["threats"])
                    .iter()
                    .filter(|t| t["category"] == "impact")
                    .cloned()
                    .collect(),
            );
            impact.extend(covered(&impact_threats));
            for (k, id) in arr(&ps["known_not_affected"]).iter().enumerate() {
                if let Some(id) = id.as_str()
                    && !impact.contains(id)
                {
                    run.fail(
                        "6.1.27.9",
                        format!("/vulnerabilities/{i}/product_status/known_not_affected/{k}"),
                        format!("{id} is not affected but no flag or impact statement says why"),
                    );
                }
            }
            let acted = covered(&v["remediations"]);
            for (k, id) in arr(&ps["known_affected"]).iter().enumerate() {
                if let Some(id) = id.as_str()
                    && !acted.contains(id)
                {
                    run.fail(
                        "6.1.27.10",
                        format!("/vulnerabilities/{i}/product_status/known_affected/{k}"),
                        format!("{id} is affected but no remediation says what to do"),
                    );
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn versions_are_read_as_integers_or_semantic_versions() {
        assert_eq!(Version::parse("3"), Some(Version::Integer(3)));
        let v = Version::parse("1.0.0-rc.1+build").unwrap();
        assert!(v.is_pre_release());
        assert_eq!(v.major(), 1);
        assert!(Version::parse("1.0").is_none());
        assert!(Version::parse("1.0.0-rc").unwrap().key() < Version::parse("1.0.0").unwrap().key());
    }

    #[test]
    fn a_vex_vulnerability_without_an_identifier_fails_6_1_27_8() {
        let doc = json!({
            "document": {"category": "csaf_vex", "tracking": {"status": "final", "version": "1", "revision_history": [{"date": "2021-07-21T10:00:00.000Z", "number": "1"}]}},
            "product_tree": {"full_product_names": [{"product_id": "P1", "name": "A"}]},
            "vulnerabilities": [{"notes": [{"category": "description", "text": "x"}], "product_status": {"fixed": ["P1"]}}],
        });
        let found = check(&doc);
        assert!(
            found
                .iter()
                .any(|f| f.test == "6.1.27.8" && f.path == "/vulnerabilities/0"),
            "{found:?}"
        );
        assert_eq!(found.len(), 1, "{found:?}");
    }
}
