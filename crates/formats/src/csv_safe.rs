//! CSV cells that a spreadsheet will not run (CSV formula injection, as OWASP
//! describes it): a cell that begins with `=`, `+`, `-`, `@`, a tab or a carriage
//! return is written behind a single quote, which spreadsheet programs show as text.
//!
//! The cells Renkei writes carry text from outside (an AS name from a registry, a
//! category, a host name), and the network owners who receive them open the
//! attachment in Excel or LibreOffice. [`restore`] undoes [`neutralize`] exactly,
//! so a file Renkei reads back (a feed's chunks gathered into one notification)
//! holds what was written.

use std::borrow::Cow;

fn starts_like_a_formula(s: &str) -> bool {
    matches!(
        s.as_bytes().first(),
        Some(b'=' | b'+' | b'-' | b'@' | b'\t' | b'\r')
    )
}

/// Leading quotes followed by what a spreadsheet would evaluate.
fn quoted_formula(s: &str) -> bool {
    starts_like_a_formula(s.trim_start_matches('\''))
}

/// The cell as it is written: behind one more `'` when it would start a formula
/// (or already is such a cell, so that [`restore`] is exact).
pub fn neutralize(cell: &str) -> Cow<'_, str> {
    if quoted_formula(cell) {
        Cow::Owned(format!("'{cell}"))
    } else {
        Cow::Borrowed(cell)
    }
}

/// The cell as it was before [`neutralize`].
pub fn restore(cell: &str) -> &str {
    match cell.strip_prefix('\'') {
        Some(rest) if quoted_formula(rest) => rest,
        _ => cell,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cells_that_would_start_a_formula_are_written_as_text() {
        for (cell, written) in [
            (
                "=HYPERLINK(\"http://evil.example\")",
                "'=HYPERLINK(\"http://evil.example\")",
            ),
            ("+81 3", "'+81 3"),
            ("-1", "'-1"),
            ("@SUM(A1)", "'@SUM(A1)"),
            ("\tcmd", "'\tcmd"),
            ("\rcmd", "'\rcmd"),
            ("'=x", "''=x"),
            ("EXAMPLE-AS", "EXAMPLE-AS"),
            ("192.0.2.1", "192.0.2.1"),
            ("", ""),
            ("'quoted'", "'quoted'"),
        ] {
            assert_eq!(neutralize(cell), written, "{cell:?}");
            assert_eq!(restore(&neutralize(cell)), cell, "{cell:?}");
        }
    }

    proptest::proptest! {
        #[test]
        fn restore_undoes_neutralize_and_nothing_written_starts_a_formula(cell in "['=+@\\-\\t\\ra-z ]{0,8}") {
            let written = neutralize(&cell);
            proptest::prop_assert!(!starts_like_a_formula(&written));
            proptest::prop_assert_eq!(restore(&written), cell.as_str());
        }
    }
}
