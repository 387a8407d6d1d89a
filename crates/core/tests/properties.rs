//! Property tests: the parsers that take user input never panic, and what they accept
//! they accept consistently.

use proptest::prelude::*;
use renkei_core::access::Role;
use renkei_core::accounts::validate_email;
use renkei_core::config::Config;
use renkei_core::lang::Lang;
use renkei_core::orgs::OrgKind;
use renkei_core::tlp::Tlp;

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn tlp_parsing_never_panics_and_accepted_labels_round_trip(s in "\\PC{0,40}") {
        if let Ok(tlp) = Tlp::parse(&s) {
            prop_assert_eq!(Tlp::parse(tlp.as_str()).unwrap(), tlp);
        }
    }

    #[test]
    fn tlp_labels_parse_in_any_case_with_or_without_prefix(i in 0usize..5, prefix in any::<bool>(), upper in any::<bool>()) {
        let tlp = Tlp::ALL[i];
        let mut text = tlp.as_str().to_string();
        if !prefix {
            text = text.trim_start_matches("TLP:").to_string();
        }
        if !upper {
            text = text.to_lowercase();
        }
        prop_assert_eq!(Tlp::parse(&text).unwrap(), tlp);
    }

    #[test]
    fn language_role_and_kind_parsing_never_panic(s in "\\PC{0,40}") {
        let _ = Lang::parse(&s);
        let _ = Lang::from_accept_language(&s);
        let _ = Role::parse(&s);
        let _ = OrgKind::parse(&s);
    }

    #[test]
    fn accepted_email_addresses_are_normalized_and_well_formed(s in "\\PC{0,80}") {
        if let Ok(email) = validate_email(&s) {
            prop_assert_eq!(email.matches('@').count(), 1);
            prop_assert!(!email.chars().any(char::is_whitespace));
            prop_assert_eq!(email.to_lowercase(), email.clone());
            prop_assert_eq!(validate_email(&email).unwrap(), email);
        }
    }

    #[test]
    fn configuration_text_never_panics_the_loader(s in "\\PC{0,200}") {
        let _ = Config::from_toml(&s, "prop");
    }

    #[test]
    fn configuration_keys_never_panic_on_any_value(i in 0usize..200, v in "\\PC{0,30}") {
        let keys = renkei_core::config::keys();
        let mut c = Config::default();
        let _ = c.set(&keys[i % keys.len()].0, &v);
        let _ = c.validate();
    }
}
