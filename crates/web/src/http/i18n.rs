//! The catalogs (`renkei_core::i18n`) as the web UI uses them: which language a
//! request is answered in. A test checks that every key a template or handler asks
//! for exists, and every stored word a page shows has a name.

use axum::http::HeaderMap;
use renkei_core::lang::Lang;

pub use renkei_core::i18n::{Catalog, SOURCES, catalog};

pub const LANG_COOKIE: &str = "renkei_lang";

/// The account's language if signed in, else the language cookie, else the
/// browser's Accept-Language, else English.
pub fn request_lang(headers: &HeaderMap, user_lang: Option<Lang>) -> Lang {
    user_lang
        .or_else(|| {
            crate::http::auth::cookie(headers, LANG_COOKIE).and_then(|v| Lang::parse(&v).ok())
        })
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
                if !catalog(lang).has(&format!("{group}.{id}")) {
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

    #[test]
    fn every_key_a_template_or_handler_uses_is_in_the_catalogs() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
        let mut missing = Vec::new();
        let mut files = Vec::new();
        let mut folders = vec![dir.join("templates"), dir.join("src")];
        while let Some(folder) = folders.pop() {
            for entry in std::fs::read_dir(folder).unwrap() {
                let path = entry.unwrap().path();
                if path.is_dir() {
                    folders.push(path);
                } else {
                    files.push(path);
                }
            }
        }
        assert!(files.len() > 50, "the sources were found: {}", files.len());
        {
            for path in files {
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
