//! Traffic Light Protocol 2.0 labels. Every piece of information carries one.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::CoreError;

/// Ordered from least to most restricted, so `a < b` means `b` is stricter.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Tlp {
    #[serde(rename = "TLP:CLEAR")]
    Clear,
    #[serde(rename = "TLP:GREEN")]
    Green,
    #[serde(rename = "TLP:AMBER")]
    Amber,
    #[serde(rename = "TLP:AMBER+STRICT")]
    AmberStrict,
    #[serde(rename = "TLP:RED")]
    Red,
}

impl TryFrom<String> for Tlp {
    type Error = CoreError;
    fn try_from(s: String) -> Result<Tlp, CoreError> {
        Tlp::parse(&s)
    }
}

crate::text_column!(Tlp);

impl Tlp {
    pub const ALL: [Tlp; 5] = [
        Tlp::Clear,
        Tlp::Green,
        Tlp::Amber,
        Tlp::AmberStrict,
        Tlp::Red,
    ];

    /// Accepts the TLP 2.0 labels with or without the `TLP:` prefix, in any case, and
    /// TLP 1.0's WHITE as CLEAR, since older reports still use it.
    pub fn parse(s: &str) -> Result<Tlp, CoreError> {
        let upper = s.trim().to_ascii_uppercase();
        let bare = upper.strip_prefix("TLP:").unwrap_or(&upper).trim();
        match bare {
            "CLEAR" | "WHITE" => Ok(Tlp::Clear),
            "GREEN" => Ok(Tlp::Green),
            "AMBER" => Ok(Tlp::Amber),
            "AMBER+STRICT" => Ok(Tlp::AmberStrict),
            "RED" => Ok(Tlp::Red),
            _ => Err(CoreError::invalid(
                "tlp",
                format!("{s:?} is not a TLP label (CLEAR, GREEN, AMBER, AMBER+STRICT, RED)"),
            )),
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Tlp::Clear => "TLP:CLEAR",
            Tlp::Green => "TLP:GREEN",
            Tlp::Amber => "TLP:AMBER",
            Tlp::AmberStrict => "TLP:AMBER+STRICT",
            Tlp::Red => "TLP:RED",
        }
    }
}

impl fmt::Display for Tlp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_label_parses_back_from_its_own_text() {
        for tlp in Tlp::ALL {
            assert_eq!(Tlp::parse(tlp.as_str()).unwrap(), tlp);
        }
    }

    #[test]
    fn tlp_one_white_is_read_as_clear_and_nonsense_is_refused() {
        assert_eq!(Tlp::parse("white").unwrap(), Tlp::Clear);
        assert_eq!(Tlp::parse(" amber+strict ").unwrap(), Tlp::AmberStrict);
        assert!(Tlp::parse("TLP:PURPLE").is_err());
        assert!(Tlp::Red > Tlp::Amber);
    }
}
