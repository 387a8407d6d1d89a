//! The weaknesses a coordination center names most often, with their names as the CWE
//! catalogue (version 4.17) spells them: CSAF's mandatory test 6.1.11 compares the
//! name with the catalogue, so a case's CWE is exported only when its name is known.

/// (identifier, catalogue name), sorted by number.
pub const COMMON: &[(&str, &str)] = &[
    ("CWE-20", "Improper Input Validation"),
    (
        "CWE-22",
        "Improper Limitation of a Pathname to a Restricted Directory ('Path Traversal')",
    ),
    (
        "CWE-77",
        "Improper Neutralization of Special Elements used in a Command ('Command Injection')",
    ),
    (
        "CWE-78",
        "Improper Neutralization of Special Elements used in an OS Command ('OS Command Injection')",
    ),
    (
        "CWE-79",
        "Improper Neutralization of Input During Web Page Generation ('Cross-site Scripting')",
    ),
    (
        "CWE-89",
        "Improper Neutralization of Special Elements used in an SQL Command ('SQL Injection')",
    ),
    (
        "CWE-94",
        "Improper Control of Generation of Code ('Code Injection')",
    ),
    (
        "CWE-119",
        "Improper Restriction of Operations within the Bounds of a Memory Buffer",
    ),
    (
        "CWE-120",
        "Buffer Copy without Checking Size of Input ('Classic Buffer Overflow')",
    ),
    ("CWE-125", "Out-of-bounds Read"),
    ("CWE-190", "Integer Overflow or Wraparound"),
    (
        "CWE-200",
        "Exposure of Sensitive Information to an Unauthorized Actor",
    ),
    ("CWE-250", "Execution with Unnecessary Privileges"),
    ("CWE-269", "Improper Privilege Management"),
    ("CWE-276", "Incorrect Default Permissions"),
    ("CWE-287", "Improper Authentication"),
    ("CWE-295", "Improper Certificate Validation"),
    ("CWE-306", "Missing Authentication for Critical Function"),
    (
        "CWE-307",
        "Improper Restriction of Excessive Authentication Attempts",
    ),
    ("CWE-311", "Missing Encryption of Sensitive Data"),
    ("CWE-319", "Cleartext Transmission of Sensitive Information"),
    ("CWE-321", "Use of Hard-coded Cryptographic Key"),
    (
        "CWE-327",
        "Use of a Broken or Risky Cryptographic Algorithm",
    ),
    ("CWE-330", "Use of Insufficiently Random Values"),
    ("CWE-345", "Insufficient Verification of Data Authenticity"),
    ("CWE-352", "Cross-Site Request Forgery (CSRF)"),
    (
        "CWE-362",
        "Concurrent Execution using Shared Resource with Improper Synchronization ('Race Condition')",
    ),
    ("CWE-384", "Session Fixation"),
    ("CWE-400", "Uncontrolled Resource Consumption"),
    ("CWE-416", "Use After Free"),
    ("CWE-434", "Unrestricted Upload of File with Dangerous Type"),
    ("CWE-476", "NULL Pointer Dereference"),
    ("CWE-502", "Deserialization of Untrusted Data"),
    ("CWE-521", "Weak Password Requirements"),
    (
        "CWE-601",
        "URL Redirection to Untrusted Site ('Open Redirect')",
    ),
    (
        "CWE-611",
        "Improper Restriction of XML External Entity Reference",
    ),
    (
        "CWE-639",
        "Authorization Bypass Through User-Controlled Key",
    ),
    (
        "CWE-640",
        "Weak Password Recovery Mechanism for Forgotten Password",
    ),
    ("CWE-668", "Exposure of Resource to Wrong Sphere"),
    (
        "CWE-732",
        "Incorrect Permission Assignment for Critical Resource",
    ),
    ("CWE-787", "Out-of-bounds Write"),
    ("CWE-798", "Use of Hard-coded Credentials"),
    ("CWE-862", "Missing Authorization"),
    ("CWE-863", "Incorrect Authorization"),
    ("CWE-918", "Server-Side Request Forgery (SSRF)"),
    (
        "CWE-1021",
        "Improper Restriction of Rendered UI Layers or Frames",
    ),
    (
        "CWE-1236",
        "Improper Neutralization of Formula Elements in a CSV File",
    ),
    (
        "CWE-1321",
        "Improperly Controlled Modification of Object Prototype Attributes ('Prototype Pollution')",
    ),
];

/// Reads `CWE-79`, `cwe-79` or `79` into the canonical `CWE-79`.
pub fn parse(text: &str) -> Option<String> {
    let t = text.trim();
    let digits = t
        .strip_prefix("CWE-")
        .or_else(|| t.strip_prefix("cwe-"))
        .unwrap_or(t);
    (!digits.is_empty() && digits.len() <= 5 && digits.bytes().all(|b| b.is_ascii_digit()))
        .then(|| format!("CWE-{}", digits.trim_start_matches('0')))
}

/// The catalogue name of a weakness in [`COMMON`].
pub fn name(id: &str) -> Option<&'static str> {
    COMMON.iter().find(|(i, _)| *i == id).map(|(_, n)| *n)
}

#[cfg(test)]
mod tests {
    #[test]
    fn identifiers_are_read_in_their_usual_spellings() {
        assert_eq!(super::parse("79").as_deref(), Some("CWE-79"));
        assert_eq!(super::parse(" cwe-079 ").as_deref(), Some("CWE-79"));
        assert_eq!(super::parse("XSS"), None);
        assert_eq!(super::name("CWE-89").map(|n| n.contains("SQL")), Some(true));
    }
}
