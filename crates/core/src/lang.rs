//! The two languages the team works in.

use serde::{Deserialize, Serialize};

use crate::CoreError;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Lang {
    Ja,
    #[default]
    En,
}

impl TryFrom<String> for Lang {
    type Error = CoreError;
    fn try_from(s: String) -> Result<Lang, CoreError> {
        Lang::parse(&s)
    }
}

crate::text_column!(Lang);

impl Lang {
    pub const ALL: [Lang; 2] = [Lang::Ja, Lang::En];

    pub fn parse(s: &str) -> Result<Lang, CoreError> {
        match s.trim().to_ascii_lowercase().as_str() {
            "ja" | "ja-jp" | "jp" | "japanese" => Ok(Lang::Ja),
            "en" | "en-us" | "en-gb" | "english" => Ok(Lang::En),
            other => Err(CoreError::invalid(
                "lang",
                format!("unknown language {other:?}; use ja or en"),
            )),
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Lang::Ja => "ja",
            Lang::En => "en",
        }
    }

    /// The text in this language, or the other one when this one is missing: a
    /// reader always gets what there is.
    pub fn pick<'a>(self, text_ja: &'a str, text_en: &'a str) -> &'a str {
        match (self, text_ja.is_empty(), text_en.is_empty()) {
            (Lang::Ja, false, _) | (Lang::En, _, true) => text_ja,
            _ => text_en,
        }
    }

    pub fn is_ja(self) -> bool {
        self == Lang::Ja
    }

    /// Picks the first supported language in an Accept-Language header.
    pub fn from_accept_language(header: &str) -> Option<Lang> {
        header
            .split(',')
            .filter_map(|part| part.split(';').next())
            .filter_map(|tag| tag.trim().split('-').next())
            .find_map(|primary| Lang::parse(primary).ok())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_reader_gets_the_other_language_when_theirs_is_missing() {
        assert_eq!(Lang::Ja.pick("日本語", "English"), "日本語");
        assert_eq!(Lang::En.pick("日本語", "English"), "English");
        assert_eq!(Lang::Ja.pick("", "English"), "English");
        assert_eq!(Lang::En.pick("日本語", ""), "日本語");
    }

    #[test]
    fn accept_language_picks_the_first_supported_language() {
        assert_eq!(
            Lang::from_accept_language("fr-FR, ja;q=0.8, en;q=0.5"),
            Some(Lang::Ja)
        );
        assert_eq!(Lang::from_accept_language("en-US,en;q=0.9"), Some(Lang::En));
        assert_eq!(Lang::from_accept_language("de"), None);
    }
}
