//! The validators the world uses, run on Renkei's output: the BSI's
//! csaf-validator-lib (npm) for CSAF 2.0 — schema and every mandatory test of
//! section 6.1 — and the CVE Program's JSON 5 schema as cvelib (PyPI) ships it.
//! `.ci/run` installs both; without them a test is skipped locally and fails in CI.

use std::path::PathBuf;
use std::process::Command;

fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| !v.is_empty() && v != "false")
}

fn skip(what: &str) -> Option<Result<(), String>> {
    assert!(
        !in_ci(),
        "CI is set but {what} is missing: .ci/run should install it"
    );
    eprintln!("skipped: {what} is not installed");
    None
}

/// Where `.ci/run` installs the npm package (override with RENKEI_CSAF_VALIDATOR_DIR).
pub fn csaf_validator_dir() -> PathBuf {
    std::env::var("RENKEI_CSAF_VALIDATOR_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|_| {
            PathBuf::from(std::env::var("HOME").unwrap_or_else(|_| "/root".into()))
                .join(".cache/renkei-csaf-validator")
        })
}

fn run(
    program: &str,
    script: PathBuf,
    doc: &serde_json::Value,
    cwd: Option<PathBuf>,
) -> Result<(), String> {
    let file = tempfile::NamedTempFile::new().expect("temp file");
    std::fs::write(file.path(), doc.to_string()).expect("write document");
    let mut cmd = Command::new(program);
    cmd.arg(script).arg(file.path());
    if let Some(dir) = cwd {
        cmd.env("NODE_PATH", dir.join("node_modules"));
        cmd.current_dir(dir);
    }
    let out = cmd.output().expect("run the validator");
    let text =
        String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    if out.status.success() {
        Ok(())
    } else {
        Err(text)
    }
}

/// `Some(Ok)` when the BSI validator passes the document, `Some(Err(report))` when it
/// does not, `None` when the validator is not installed (local runs only).
pub fn csaf(doc: &serde_json::Value) -> Option<Result<(), String>> {
    let dir = csaf_validator_dir();
    if !dir
        .join("node_modules/@secvisogram/csaf-validator-lib")
        .exists()
    {
        return skip("@secvisogram/csaf-validator-lib (npm)");
    }
    // Node resolves packages from the script's directory: run a copy inside the
    // install directory.
    let script = dir.join("csaf_check.mjs");
    std::fs::copy(
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("csaf_check.mjs"),
        &script,
    )
    .expect("copy the check script");
    Some(run("node", script, doc, Some(dir)))
}

/// The same for a CVE JSON 5 record, with cvelib's bundled schema.
pub fn cve5(doc: &serde_json::Value) -> Option<Result<(), String>> {
    let have = Command::new("python3")
        .args(["-c", "import cvelib, jsonschema"])
        .output()
        .is_ok_and(|o| o.status.success());
    if !have {
        return skip("cvelib (pip install cvelib)");
    }
    Some(run(
        "python3",
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("cve_check.py"),
        doc,
        None,
    ))
}
