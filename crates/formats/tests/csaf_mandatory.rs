//! The CSAF 2.0 mandatory tests against the OASIS TC's test documents: each failing
//! example fails exactly the test it was written for (among others it may also
//! break), each valid example passes every test.

use std::collections::BTreeMap;
use std::path::Path;

use renkei_formats::csaf_mandatory::check;

/// `oasis_csaf_tc-csaf_2_0-2021-6-1-27-04-01.json` → (`6.1.27.4`, failing).
fn expectation(name: &str) -> (String, bool) {
    let tail = name
        .trim_end_matches(".json")
        .rsplit_once("2021-6-1-")
        .unwrap()
        .1;
    let parts: Vec<u32> = tail.split('-').map(|p| p.parse().unwrap()).collect();
    let (test, example) = parts.split_at(parts.len() - 1);
    let id = std::iter::once("6.1".to_string())
        .chain(test.iter().map(u32::to_string))
        .collect::<Vec<_>>()
        .join(".");
    (id, example[0] < 10)
}

#[test]
fn every_oasis_test_document_fails_its_own_test_and_every_valid_one_passes_all() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/csaf-oasis/mandatory");
    let mut per_test: BTreeMap<String, (u32, u32)> = BTreeMap::new();
    let mut wrong = Vec::new();
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    for path in &files {
        let name = path.file_name().unwrap().to_string_lossy().to_string();
        let (test, failing) = expectation(&name);
        let doc: serde_json::Value = serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap();
        let found = check(&doc);
        let entry = per_test.entry(test.clone()).or_default();
        if failing {
            entry.0 += 1;
            let hit = found.iter().find(|f| f.test == test);
            match hit {
                Some(f) => assert!(f.path.starts_with('/'), "{name}: {f}"),
                None => wrong.push(format!("{name}: expected {test} to fail, found {found:?}")),
            }
        } else {
            entry.1 += 1;
            if !found.is_empty() {
                wrong.push(format!("{name}: valid, but {found:?}"));
            }
        }
    }
    for (test, (failing, valid)) in &per_test {
        println!("{test:<10} failing {failing}  valid {valid}");
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
    assert!(files.len() >= 60, "the conformance set is all there");
    // Every mandatory test but 6.1.27.8 has an OASIS document here.
    let mut expected: Vec<String> = (1..=33).map(|n| format!("6.1.{n}")).collect();
    expected.retain(|t| t != "6.1.27");
    expected.extend((1..=11).filter(|n| *n != 8).map(|n| format!("6.1.27.{n}")));
    for t in expected {
        assert!(per_test.contains_key(&t), "no document for {t}");
    }
}

#[test]
fn findings_name_the_test_and_the_json_pointer() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/csaf-oasis/mandatory");
    let doc: serde_json::Value = serde_json::from_slice(
        &std::fs::read(dir.join("oasis_csaf_tc-csaf_2_0-2021-6-1-01-01.json")).unwrap(),
    )
    .unwrap();
    let found: Vec<String> = check(&doc).iter().map(ToString::to_string).collect();
    assert_eq!(
        found,
        [
            "6.1.1 /product_tree/product_groups/0/product_ids/0: product ID CSAFPID-9080700 is not defined in the product tree",
            "6.1.1 /product_tree/product_groups/0/product_ids/1: product ID CSAFPID-9080701 is not defined in the product tree",
        ]
    );
}
