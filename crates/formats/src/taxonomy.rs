//! The Reference Security Incident Taxonomy (RSIT), loaded from its machine-readable
//! form (data/rsit/machinev1.json, as published; see its LICENSE) rather than copied
//! into code, so that an update is a file swap.

use std::sync::OnceLock;

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct RsitType {
    /// e.g. "information-gathering"
    pub class: String,
    pub class_name: String,
    /// e.g. "scanner"
    pub value: String,
    pub name: String,
    pub description: String,
}

#[derive(Deserialize)]
struct Machine {
    predicates: Vec<Predicate>,
    values: Vec<Values>,
    version: u32,
}

#[derive(Deserialize)]
struct Predicate {
    value: String,
    expanded: String,
}

#[derive(Deserialize)]
struct Values {
    predicate: String,
    entry: Vec<Entry>,
}

#[derive(Deserialize)]
struct Entry {
    value: String,
    expanded: String,
    #[serde(default)]
    description: String,
}

pub struct Rsit {
    pub version: u32,
    pub types: Vec<RsitType>,
}

impl Rsit {
    pub fn find(&self, class: &str, value: &str) -> Option<&RsitType> {
        self.types
            .iter()
            .find(|t| t.class == class && t.value == value)
    }
}

pub fn rsit() -> &'static Rsit {
    static R: OnceLock<Rsit> = OnceLock::new();
    R.get_or_init(|| {
        let m: Machine = serde_json::from_str(include_str!("../data/rsit/machinev1.json"))
            .expect("embedded RSIT is valid");
        let mut types = Vec::new();
        for v in m.values {
            let class_name = m
                .predicates
                .iter()
                .find(|p| p.value == v.predicate)
                .map(|p| p.expanded.clone())
                .unwrap_or_default();
            for e in v.entry {
                types.push(RsitType {
                    class: v.predicate.clone(),
                    class_name: class_name.clone(),
                    value: e.value,
                    name: e.expanded,
                    description: e.description,
                });
            }
        }
        Rsit {
            version: m.version,
            types,
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_embedded_taxonomy_is_the_published_one() {
        let r = rsit();
        assert!(r.find("information-gathering", "scanner").is_some());
        assert!(r.find("fraud", "phishing").is_some());
        assert!(r.types.len() >= 35, "{}", r.types.len());
        let shared = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../../shared/data/specs/rsit/machinev1.json"
        );
        if let Ok(published) = std::fs::read_to_string(shared) {
            assert_eq!(
                published,
                include_str!("../data/rsit/machinev1.json"),
                "the embedded copy differs from shared/"
            );
        }
    }
}
