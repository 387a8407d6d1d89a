//! Message catalogs: every word a person reads, in Japanese and English, one TOML
//! file per language under `crates/core/i18n/`, compiled in. Pages, mail, charts
//! and the quarterly report all read them, so a word is translated once.
//!
//! # Layout
//! - [`Catalog`]: [`Catalog::get`] a message, [`Catalog::name`] a stored word
//!   (`group.id`), [`Catalog::fill`] a message's `{name}` places.
//! - [`catalog`]: the compiled-in catalog of a [`Lang`].

use std::collections::HashMap;
use std::sync::OnceLock;

use crate::lang::Lang;

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
    /// The places are filled in one pass, so a value that itself holds `{name}`
    /// (a title someone wrote) stays as written.
    pub fn fill(&self, key: &str, args: &[(&str, &dyn std::fmt::Display)]) -> String {
        let template = self.get(key);
        let mut text = String::with_capacity(template.len());
        let mut rest = template;
        while let Some(open) = rest.find('{') {
            text.push_str(&rest[..open]);
            let after = &rest[open + 1..];
            let place = after
                .find('}')
                .map(|close| &after[..close])
                .and_then(|name| args.iter().find(|(n, _)| *n == name));
            match place {
                Some((name, value)) => {
                    text.push_str(&value.to_string());
                    rest = &after[name.len() + 1..];
                }
                None => {
                    text.push('{');
                    rest = after;
                }
            }
        }
        text.push_str(rest);
        text
    }

    /// The message for a key made at run time, if the catalog has it.
    pub fn lookup(&'static self, key: &str) -> Option<&'static str> {
        self.messages.get(key).map(String::as_str)
    }

    /// Whether the catalog has `key` (a lookup that falls back tells nobody).
    pub fn has(&self, key: &str) -> bool {
        self.messages.contains_key(key)
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    #[test]
    fn a_filled_place_is_not_filled_again() {
        let ew = catalog(Lang::En).fill(
            "publish.ew_subject",
            &[
                ("tlp", &"TLP:RED"),
                ("number", &"{update}"),
                ("update", &" (update)"),
            ],
        );
        assert_eq!(ew, "[TLP:RED] Early warning {update} (update)");
    }

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
}
