//! Message catalogs: every UI string in Japanese and English, one TOML file per
//! language under `i18n/`, compiled in. A test checks that both have the same keys
//! and that every key a template asks for exists.

use std::collections::HashMap;
use std::sync::OnceLock;

use axum::http::HeaderMap;
use renkei_core::lang::Lang;

pub struct Catalog {
    messages: HashMap<String, String>,
}

impl Catalog {
    fn parse(text: &str) -> Catalog {
        let table: toml::Table = toml::from_str(text).expect("message catalog is valid TOML");
        let mut messages = HashMap::new();
        flatten("", &table, &mut messages);
        Catalog { messages }
    }

    /// The message for `key`; the key itself if missing, which tests forbid.
    pub fn get<'a>(&'a self, key: &'a str) -> &'a str {
        self.messages.get(key).map(String::as_str).unwrap_or(key)
    }

    /// A stored word's name for people: `group.id` from the catalog (an incident's
    /// state `waiting_for_reply` reads 返信待ち), the word itself only if the catalog
    /// lacks it, which a test forbids for every word the code knows.
    pub fn name<'a>(&'static self, group: &str, id: &'a str) -> &'a str {
        self.messages
            .get(&format!("{group}.{id}"))
            .map(String::as_str)
            .unwrap_or(id)
    }

    /// A message with its `{name}` places filled: the words stay in the catalog, in
    /// each language's own order, and only the numbers come from the code.
    pub fn fill(&self, key: &str, args: &[(&str, &dyn std::fmt::Display)]) -> String {
        let mut text = self.get(key).to_string();
        for (name, value) in args {
            text = text.replace(&format!("{{{name}}}"), &value.to_string());
        }
        text
    }

    pub fn keys(&self) -> impl Iterator<Item = &str> {
        self.messages.keys().map(String::as_str)
    }
}

fn flatten(prefix: &str, table: &toml::Table, out: &mut HashMap<String, String>) {
    for (k, v) in table {
        let key = if prefix.is_empty() {
            k.clone()
        } else {
            format!("{prefix}.{k}")
        };
        match v {
            toml::Value::Table(t) => flatten(&key, t, out),
            toml::Value::String(s) => {
                out.insert(key, s.clone());
            }
            other => {
                out.insert(key, other.to_string());
            }
        }
    }
}

pub const SOURCES: [(Lang, &str); 2] = [
    (Lang::En, include_str!("../i18n/en.toml")),
    (Lang::Ja, include_str!("../i18n/ja.toml")),
];

pub fn catalog(lang: Lang) -> &'static Catalog {
    static EN: OnceLock<Catalog> = OnceLock::new();
    static JA: OnceLock<Catalog> = OnceLock::new();
    match lang {
        Lang::En => EN.get_or_init(|| Catalog::parse(SOURCES[0].1)),
        Lang::Ja => JA.get_or_init(|| Catalog::parse(SOURCES[1].1)),
    }
}

pub const LANG_COOKIE: &str = "renkei_lang";

/// The account's language if signed in, else the language cookie, else the
/// browser's Accept-Language, else English.
pub fn request_lang(headers: &HeaderMap, user_lang: Option<Lang>) -> Lang {
    user_lang
        .or_else(|| crate::auth::cookie(headers, LANG_COOKIE).and_then(|v| Lang::parse(&v).ok()))
        .or_else(|| {
            headers
                .get(axum::http::header::ACCEPT_LANGUAGE)
                .and_then(|v| v.to_str().ok())
                .and_then(Lang::from_accept_language)
        })
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    #[test]
    fn both_catalogs_have_the_same_keys() {
        let en: BTreeSet<_> = catalog(Lang::En).keys().collect();
        let ja: BTreeSet<_> = catalog(Lang::Ja).keys().collect();
        let only_en: Vec<_> = en.difference(&ja).collect();
        let only_ja: Vec<_> = ja.difference(&en).collect();
        assert!(
            only_en.is_empty() && only_ja.is_empty(),
            "only en: {only_en:?}, only ja: {only_ja:?}"
        );
    }

    /// Every stored word a page shows has its name in both languages.
    #[test]
    fn every_stored_word_a_page_shows_has_a_name_in_both_catalogs() {
        let mut words: Vec<(&str, &str)> = Vec::new();
        words.extend(
            renkei_incident::incidents::State::ALL
                .iter()
                .map(|s| ("incident_state", s.as_str())),
        );
        words.extend(
            renkei_incident::classify::Category::ALL
                .iter()
                .map(|c| ("category", c.as_str())),
        );
        words.extend(
            renkei_vuln::model::VendorState::ALL
                .iter()
                .map(|s| ("vendor_state", s.as_str())),
        );
        words.extend(
            renkei_vuln::model::Stage::ALL
                .iter()
                .map(|s| ("vendor_stage", s.as_str())),
        );
        words.extend(
            renkei_vuln::model::Series::ALL
                .iter()
                .map(|s| ("case_series", s.as_str())),
        );
        words.extend(["open", "closed"].map(|s| ("case_state", s)));
        words.extend(
            renkei_publish::alerts::AlertStatus::ALL
                .iter()
                .map(|s| ("alert_status", s.as_str())),
        );
        words.extend(
            renkei_incident::notify::RecipientKind::ALL
                .iter()
                .map(|k| ("recipient_kind", k.as_str())),
        );
        words.extend(
            renkei_incident::classify::Reason::KEYS
                .iter()
                .map(|k| ("reason", *k)),
        );
        words.extend(
            renkei_incident::classify::Reason::WHAT
                .iter()
                .map(|k| ("reason_what", *k)),
        );
        let mut missing = Vec::new();
        for lang in [Lang::Ja, Lang::En] {
            for (group, id) in &words {
                if catalog(lang).name(group, id) == *id
                    && !catalog(lang)
                        .messages
                        .contains_key(&format!("{group}.{id}"))
                {
                    missing.push(format!("{lang:?} {group}.{id}"));
                }
            }
        }
        assert!(missing.is_empty(), "words without a name: {missing:?}");
    }

    #[test]
    fn a_filled_message_keeps_each_language_s_order() {
        let en = catalog(Lang::En).fill(
            "observe.chart_top",
            &[
                ("ranks", &"1-5"),
                ("from", &"2026-10-01"),
                ("to", &"2026-12-31"),
            ],
        );
        assert_eq!(en, "Destination ports, top 1-5 (2026-10-01 – 2026-12-31)");
        let ja = catalog(Lang::Ja).fill(
            "observe.chart_top",
            &[
                ("ranks", &"1-5"),
                ("from", &"2026-10-01"),
                ("to", &"2026-12-31"),
            ],
        );
        assert!(
            ja.starts_with("宛先ポート") && ja.contains("1-5") && !ja.contains('{'),
            "{ja}"
        );
    }

    /// Every `{name}` place a message has in one language it has in the other.
    #[test]
    fn both_languages_fill_the_same_places() {
        let places = |text: &str| -> BTreeSet<String> {
            text.split('{')
                .skip(1)
                .filter_map(|p| p.split_once('}').map(|(name, _)| name.to_string()))
                .filter(|name| {
                    !name.is_empty() && name.chars().all(|c| c.is_ascii_lowercase() || c == '_')
                })
                .collect()
        };
        let mut differ = Vec::new();
        for key in catalog(Lang::En).keys() {
            let (en, ja) = (catalog(Lang::En).get(key), catalog(Lang::Ja).get(key));
            if places(en) != places(ja) {
                differ.push(key.to_string());
            }
        }
        assert!(differ.is_empty(), "placeholders differ: {differ:?}");
    }

    #[test]
    fn every_key_a_template_or_handler_uses_is_in_the_catalogs() {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/");
        let mut missing = Vec::new();
        for sub in ["templates", "src"] {
            for entry in std::fs::read_dir(format!("{dir}{sub}")).unwrap() {
                let path = entry.unwrap().path();
                let text = std::fs::read_to_string(&path).unwrap();
                for piece in text.split("t(\"").skip(1) {
                    let key = piece.split('"').next().unwrap();
                    if key.contains('.') && catalog(Lang::En).get(key) == key {
                        missing.push(format!("{}: {key}", path.display()));
                    }
                }
            }
        }
        assert!(
            missing.is_empty(),
            "keys missing from the catalogs: {missing:?}"
        );
    }
}
