//! Whatever text the data holds, it stays text: a title full of typst syntax
//! typesets as those characters, and a quarter that is not one is an error, never a
//! panic.

use proptest::prelude::*;
use renkei_report::Quarter;
use renkei_report::pdf::{lit, typeset};

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn any_text_typesets_as_a_string(s in "[#\\[\\]()\"\\\\*_$@<>=/a-z 注意喚起\n\t]{0,60}") {
        let pdf = typeset(&format!("#set text(font: \"IPAexGothic\")\n#par({})\n", lit(&s)));
        prop_assert!(pdf.is_ok(), "{s:?}: {:?}", pdf.err());
    }

    #[test]
    fn quarters_never_panic(s in ".{0,12}") {
        let _ = Quarter::parse(&s);
    }
}
