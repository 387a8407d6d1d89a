//! CVSS v3.1 base vectors: parsed strictly, scored exactly as the FIRST specification
//! computes them (including its `Roundup`), so that a score Renkei prints is the one
//! every CSAF validator recomputes.

use serde::Serialize;

use crate::FormatError;

const FORMAT: &str = "CVSS v3.1";

/// The eight base metrics, in the specification's order.
const METRICS: [(&str, &[&str]); 8] = [
    ("AV", &["N", "A", "L", "P"]),
    ("AC", &["L", "H"]),
    ("PR", &["N", "L", "H"]),
    ("UI", &["N", "R"]),
    ("S", &["U", "C"]),
    ("C", &["H", "L", "N"]),
    ("I", &["H", "L", "N"]),
    ("A", &["H", "L", "N"]),
];

/// A CVSS v3.1 base vector with its computed score.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Cvss31 {
    /// Canonical form: `CVSS:3.1/AV:N/AC:L/…` in the specification's order.
    pub vector: String,
    pub score: f64,
    pub severity: Severity,
    #[serde(skip)]
    values: [u8; 8],
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Severity {
    None,
    Low,
    Medium,
    High,
    Critical,
}

impl Severity {
    pub fn from_score(score: f64) -> Severity {
        if score <= 0.0 {
            Severity::None
        } else if score < 4.0 {
            Severity::Low
        } else if score < 7.0 {
            Severity::Medium
        } else if score < 9.0 {
            Severity::High
        } else {
            Severity::Critical
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Severity::None => "NONE",
            Severity::Low => "LOW",
            Severity::Medium => "MEDIUM",
            Severity::High => "HIGH",
            Severity::Critical => "CRITICAL",
        }
    }
}

impl Cvss31 {
    /// Reads `CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H`. Every base metric must
    /// be there exactly once; temporal and environmental metrics are refused rather
    /// than silently dropped, since the score shown would not be theirs.
    pub fn parse(text: &str) -> Result<Cvss31, FormatError> {
        let bad = |m: String| Err(FormatError::malformed(FORMAT, m));
        let text = text.trim();
        let Some(rest) = text.strip_prefix("CVSS:3.1/") else {
            return bad(format!(
                "{text:?} must start with \"CVSS:3.1/\", e.g. CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"
            ));
        };
        let mut values = [u8::MAX; 8];
        for part in rest.split('/') {
            let Some((key, value)) = part.split_once(':') else {
                return bad(format!("{part:?} is not METRIC:VALUE"));
            };
            let Some(slot) = METRICS.iter().position(|(k, _)| *k == key) else {
                return bad(format!(
                    "{key} is not a base metric (only AV, AC, PR, UI, S, C, I and A are kept)"
                ));
            };
            let allowed = METRICS[slot].1;
            let Some(v) = allowed.iter().position(|a| *a == value) else {
                return bad(format!(
                    "{key}:{value} is not allowed; {key} takes {}",
                    allowed.join(", ")
                ));
            };
            if values[slot] != u8::MAX {
                return bad(format!("{key} is given twice"));
            }
            values[slot] = v as u8;
        }
        let missing: Vec<&str> = METRICS
            .iter()
            .zip(values)
            .filter(|(_, v)| *v == u8::MAX)
            .map(|((k, _), _)| *k)
            .collect();
        if !missing.is_empty() {
            return bad(format!("missing base metrics: {}", missing.join(", ")));
        }
        let vector = std::iter::once("CVSS:3.1".to_string())
            .chain(
                METRICS
                    .iter()
                    .zip(values)
                    .map(|((k, vals), v)| format!("{k}:{}", vals[v as usize])),
            )
            .collect::<Vec<_>>()
            .join("/");
        let score = base_score(&values);
        Ok(Cvss31 {
            vector,
            score,
            severity: Severity::from_score(score),
            values,
        })
    }

    /// The base part of a full vector (temporal and environmental metrics dropped),
    /// for documents from elsewhere whose base score is what a case records.
    pub fn base_of(vector: &str) -> String {
        let mut parts = vector.trim().split('/');
        let head = parts.next().unwrap_or_default();
        std::iter::once(head)
            .chain(parts.filter(|p| {
                p.split_once(':')
                    .is_some_and(|(k, _)| METRICS.iter().any(|(m, _)| *m == k))
            }))
            .collect::<Vec<_>>()
            .join("/")
    }

    /// The value of one base metric by its abbreviation (`"AV"` → `"N"`).
    pub fn metric(&self, key: &str) -> Option<&'static str> {
        let slot = METRICS.iter().position(|(k, _)| *k == key)?;
        Some(METRICS[slot].1[self.values[slot] as usize])
    }
}

/// The base score of a CVSS v3.0 or v3.1 vector as the specification computes it,
/// temporal and environmental metrics ignored; `None` when the vector is not one
/// (a metric missing, twice, or with a value it does not take). Both versions share
/// the base equations; v3.1 only made the rounding exact, which [`roundup`] is.
pub fn v3_base_score(vector: &str) -> Option<f64> {
    let rest = vector
        .strip_prefix("CVSS:3.1/")
        .or_else(|| vector.strip_prefix("CVSS:3.0/"))?;
    let mut values = [u8::MAX; 8];
    for part in rest.split('/') {
        let (key, value) = part.split_once(':')?;
        if let Some(slot) = METRICS.iter().position(|(k, _)| *k == key) {
            let v = METRICS[slot].1.iter().position(|a| *a == value)?;
            if values[slot] != u8::MAX {
                return None;
            }
            values[slot] = v as u8;
        }
    }
    values
        .iter()
        .all(|v| *v != u8::MAX)
        .then(|| base_score(&values))
}

/// The base score of a CVSS v2 vector (`AV:N/AC:L/Au:N/C:P/I:P/A:P`), as its
/// specification computes it; `None` when it is not one.
pub fn v2_base_score(vector: &str) -> Option<f64> {
    const V2: [(&str, &[(&str, f64)]); 6] = [
        ("AV", &[("L", 0.395), ("A", 0.646), ("N", 1.0)]),
        ("AC", &[("H", 0.35), ("M", 0.61), ("L", 0.71)]),
        ("Au", &[("M", 0.45), ("S", 0.56), ("N", 0.704)]),
        ("C", &[("N", 0.0), ("P", 0.275), ("C", 0.660)]),
        ("I", &[("N", 0.0), ("P", 0.275), ("C", 0.660)]),
        ("A", &[("N", 0.0), ("P", 0.275), ("C", 0.660)]),
    ];
    let mut got = [f64::NAN; 6];
    for part in vector
        .trim_start_matches('(')
        .trim_end_matches(')')
        .split('/')
    {
        let (key, value) = part.split_once(':')?;
        if let Some(slot) = V2.iter().position(|(k, _)| *k == key) {
            let (_, weight) = V2[slot].1.iter().find(|(v, _)| *v == value)?;
            if !got[slot].is_nan() {
                return None;
            }
            got[slot] = *weight;
        }
    }
    if got.iter().any(|g| g.is_nan()) {
        return None;
    }
    let impact = 10.41 * (1.0 - (1.0 - got[3]) * (1.0 - got[4]) * (1.0 - got[5]));
    let exploitability = 20.0 * got[0] * got[1] * got[2];
    let f = if impact == 0.0 { 0.0 } else { 1.176 };
    let score = ((0.6 * impact) + (0.4 * exploitability) - 1.5) * f;
    Some((score * 10.0).round() / 10.0)
}

fn base_score(v: &[u8; 8]) -> f64 {
    let changed = v[4] == 1;
    let av = [0.85, 0.62, 0.55, 0.2][v[0] as usize];
    let ac = [0.77, 0.44][v[1] as usize];
    let pr = match (v[2], changed) {
        (0, _) => 0.85,
        (1, false) => 0.62,
        (1, true) => 0.68,
        (_, false) => 0.27,
        (_, true) => 0.5,
    };
    let ui = [0.85, 0.62][v[3] as usize];
    let cia = |x: u8| [0.56, 0.22, 0.0][x as usize];
    let iss = 1.0 - (1.0 - cia(v[5])) * (1.0 - cia(v[6])) * (1.0 - cia(v[7]));
    let impact = if changed {
        7.52 * (iss - 0.029) - 3.25 * (iss - 0.02f64).powi(15)
    } else {
        6.42 * iss
    };
    let exploitability = 8.22 * av * ac * pr * ui;
    if impact <= 0.0 {
        return 0.0;
    }
    if changed {
        roundup((1.08 * (impact + exploitability)).min(10.0))
    } else {
        roundup((impact + exploitability).min(10.0))
    }
}

/// CVSS v3.1 Appendix A: round up to one decimal, immune to floating-point noise.
fn roundup(x: f64) -> f64 {
    let scaled = (x * 100_000.0).round() as i64;
    if scaled % 10_000 == 0 {
        scaled as f64 / 100_000.0
    } else {
        ((scaled / 10_000) + 1) as f64 / 10.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scores_match_the_first_calculator() {
        // Pairs checked against FIRST's published examples and calculator.
        for (vector, score, severity) in [
            (
                "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H",
                9.8,
                Severity::Critical,
            ),
            (
                "CVSS:3.1/AV:N/AC:L/PR:N/UI:R/S:C/C:L/I:L/A:N",
                6.1,
                Severity::Medium,
            ),
            (
                "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:C/C:H/I:H/A:H",
                10.0,
                Severity::Critical,
            ),
            (
                "CVSS:3.1/AV:L/AC:L/PR:L/UI:N/S:U/C:H/I:H/A:H",
                7.8,
                Severity::High,
            ),
            (
                "CVSS:3.1/AV:N/AC:H/PR:N/UI:N/S:U/C:H/I:N/A:N",
                5.9,
                Severity::Medium,
            ),
            (
                "CVSS:3.1/AV:P/AC:H/PR:H/UI:R/S:U/C:L/I:N/A:N",
                1.6,
                Severity::Low,
            ),
            (
                "CVSS:3.1/AV:N/AC:L/PR:L/UI:N/S:C/C:L/I:L/A:N",
                6.4,
                Severity::Medium,
            ),
            (
                "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:N/I:N/A:N",
                0.0,
                Severity::None,
            ),
            (
                "CVSS:3.1/AV:A/AC:L/PR:N/UI:N/S:U/C:H/I:N/A:N",
                6.5,
                Severity::Medium,
            ),
            (
                "CVSS:3.1/AV:N/AC:L/PR:H/UI:N/S:C/C:H/I:H/A:H",
                9.1,
                Severity::Critical,
            ),
        ] {
            let c = Cvss31::parse(vector).unwrap();
            assert_eq!((c.score, c.severity), (score, severity), "{vector}");
            assert_eq!(c.vector, vector);
        }
    }

    #[test]
    fn metrics_in_any_order_come_out_in_the_specification_order() {
        let c = Cvss31::parse("CVSS:3.1/A:H/I:H/C:H/S:U/UI:N/PR:N/AC:L/AV:N").unwrap();
        assert_eq!(c.vector, "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H");
        assert_eq!(c.metric("AV"), Some("N"));
    }

    #[test]
    fn the_base_of_a_full_vector_scores_like_the_base_vector() {
        let full = "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H/E:P/RL:O/RC:C";
        assert_eq!(Cvss31::parse(&Cvss31::base_of(full)).unwrap().score, 9.8);
    }

    #[test]
    fn bad_vectors_say_what_is_wrong() {
        for (vector, says) in [
            ("AV:N/AC:L", "must start with"),
            (
                "CVSS:3.0/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H",
                "must start with",
            ),
            (
                "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H",
                "missing base metrics: A",
            ),
            (
                "CVSS:3.1/AV:X/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H",
                "AV:X is not allowed",
            ),
            (
                "CVSS:3.1/AV:N/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H",
                "given twice",
            ),
            (
                "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H/E:U",
                "not a base metric",
            ),
            (
                "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A",
                "not METRIC:VALUE",
            ),
        ] {
            let err = Cvss31::parse(vector).unwrap_err().to_string();
            assert!(err.contains(says), "{vector}: {err}");
        }
    }
}
