//! The pillar's words as types: each parses what users and the database give it and
//! refuses anything else with a message that says what is allowed.

use serde::{Deserialize, Serialize};

use crate::{Result, VulnError};

macro_rules! word_enum {
    ($(#[$meta:meta])* $name:ident, $field:literal, { $($variant:ident => $text:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
        #[serde(rename_all = "snake_case")]
        pub enum $name { $($variant),+ }

        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            pub fn parse(s: &str) -> Result<$name> {
                match s.trim() {
                    $($text => Ok($name::$variant),)+
                    other => Err(VulnError::invalid(
                        $field,
                        format!(
                            "unknown {} {other:?}; use {}",
                            $field,
                            [$($text),+].join(", ")
                        ),
                    )),
                }
            }

            pub fn as_str(self) -> &'static str {
                match self { $($name::$variant => $text),+ }
            }
        }

        impl TryFrom<String> for $name {
            type Error = VulnError;
            fn try_from(s: String) -> Result<$name> {
                $name::parse(&s)
            }
        }

        renkei_core::text_column!($name);
    };
}

word_enum!(
    /// Where a product developer stands in the registration steps.
    VendorState, "state", {
        Applied => "applied",
        DocumentsSent => "documents_sent",
        DocumentsReturned => "documents_returned",
        MeetingHeld => "meeting_held",
        TermsAgreed => "terms_agreed",
        Registered => "registered",
        Suspended => "suspended",
        Withdrawn => "withdrawn",
    }
);

impl VendorState {
    /// The registration steps in order; suspension and withdrawal stand apart.
    const STEPS: [VendorState; 6] = [
        VendorState::Applied,
        VendorState::DocumentsSent,
        VendorState::DocumentsReturned,
        VendorState::MeetingHeld,
        VendorState::TermsAgreed,
        VendorState::Registered,
    ];

    /// Moves allowed from this state: the next step, suspension and withdrawal from
    /// anywhere but withdrawal, and back to registered from suspension.
    pub fn may_become(self, to: VendorState) -> bool {
        use VendorState::*;
        if self == Withdrawn || self == to {
            return false;
        }
        match to {
            Withdrawn => true,
            Suspended => self == Registered,
            Registered if self == Suspended => true,
            _ => {
                let from = Self::STEPS.iter().position(|s| *s == self);
                let next = Self::STEPS.iter().position(|s| *s == to);
                matches!((from, next), (Some(f), Some(n)) if n == f + 1)
            }
        }
    }
}

word_enum!(
    /// A vendor's progress on one case.
    Stage, "stage", {
        Notified => "notified",
        Acknowledged => "acknowledged",
        Investigating => "investigating",
        DateAgreed => "date_agreed",
        FixReady => "fix_ready",
        Published => "published",
    }
);

word_enum!(
    /// A product's status as JVN's vendor status table gives it.
    ProductStatus, "status", {
        Vulnerable => "vulnerable",
        NotVulnerable => "not_vulnerable",
        Unknown => "unknown",
        InvestigatingLikelyVulnerable => "investigating_likely_vulnerable",
        InvestigatingLikelyNotVulnerable => "investigating_likely_not_vulnerable",
    }
);

impl ProductStatus {
    /// The status as a published note names it, from the catalogs.
    pub fn label(self, lang: renkei_core::lang::Lang) -> &'static str {
        renkei_core::i18n::catalog(lang).name("product_status", self.as_str())
    }

    /// CSAF's product_status buckets; "unknown" is reported as under investigation,
    /// since the vendor has not ruled the product out.
    pub fn csaf(self) -> renkei_formats::csaf::Status {
        use renkei_formats::csaf::Status;
        match self {
            ProductStatus::Vulnerable => Status::KnownAffected,
            ProductStatus::NotVulnerable => Status::KnownNotAffected,
            _ => Status::UnderInvestigation,
        }
    }

    pub fn cve5(self) -> renkei_formats::cve5::Status {
        use renkei_formats::cve5::Status;
        match self {
            ProductStatus::Vulnerable => Status::Affected,
            ProductStatus::NotVulnerable => Status::Unaffected,
            _ => Status::Unknown,
        }
    }
}

word_enum!(
    /// The note ID series a case publishes in.
    Series, "series", {
        Domestic => "domestic",
        Overseas => "overseas",
        Technical => "technical",
    }
);

/// A case's identifier: `CASE-2026-0001` (year received, then a number).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
#[serde(transparent)]
pub struct CaseId(String);

impl CaseId {
    pub fn parse(s: &str) -> Result<CaseId> {
        let t = s.trim().to_ascii_uppercase();
        let ok = t.strip_prefix("CASE-").is_some_and(|rest| {
            rest.split_once('-').is_some_and(|(year, n)| {
                year.len() == 4
                    && year.bytes().all(|b| b.is_ascii_digit())
                    && (4..=8).contains(&n.len())
                    && n.bytes().all(|b| b.is_ascii_digit())
            })
        });
        if ok {
            Ok(CaseId(t))
        } else {
            Err(VulnError::invalid(
                "case",
                format!("{s:?} is not a case ID such as CASE-2026-0001"),
            ))
        }
    }

    pub(crate) fn new(year: i32, number: i64) -> CaseId {
        CaseId(format!("CASE-{year:04}-{number:04}"))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for CaseId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn registration_moves_one_step_at_a_time() {
        use VendorState::*;
        assert!(Applied.may_become(DocumentsSent));
        assert!(!Applied.may_become(Registered));
        assert!(TermsAgreed.may_become(Registered));
        assert!(Registered.may_become(Suspended));
        assert!(Suspended.may_become(Registered));
        assert!(Applied.may_become(Withdrawn));
        assert!(!Withdrawn.may_become(Applied));
        assert!(!Applied.may_become(Suspended));
    }

    #[test]
    fn case_ids_are_checked_and_normalized() {
        assert_eq!(
            CaseId::parse(" case-2026-0001").unwrap().as_str(),
            "CASE-2026-0001"
        );
        for bad in [
            "CASE-26-1",
            "CASE-2026-1",
            "2026-0001",
            "CASE-2026-00a1",
            "../etc",
        ] {
            assert!(CaseId::parse(bad).is_err(), "{bad}");
        }
    }

    proptest! {
        #[test]
        fn parsing_never_panics(s in ".{0,40}") {
            let _ = CaseId::parse(&s);
            let _ = Stage::parse(&s);
            let _ = ProductStatus::parse(&s);
        }
    }
}
