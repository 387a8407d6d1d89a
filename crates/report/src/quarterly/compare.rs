//! A figure of the quarter beside the same figure a quarter and a year before, and
//! the sentence the seeds' reports write from them: 「前四半期と同程度」,
//! 「前年同期の 2.0 倍」, 「半減」, 「過去最高を更新」. The words are the catalogs';
//! only the numbers and the choice among them are made here.

use renkei_core::i18n::catalog;
use renkei_core::lang::Lang;
use serde::Serialize;

/// One figure over time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Compared {
    pub now: i64,
    pub previous: i64,
    pub year_ago: i64,
    /// Higher than every earlier quarter that had any (and there was one).
    pub record: bool,
}

/// How a figure moved against an earlier one, in the words of a report.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change {
    /// The earlier figure was nought and this one is not.
    FromNone,
    /// Within a tenth either way.
    Same,
    /// At least twice as many: "2.0 times".
    Times,
    Up,
    /// Between 45 and 55 per cent of the earlier figure.
    Half,
    Down,
    /// Nought both times.
    None,
}

impl Change {
    pub fn of(now: i64, before: i64) -> Change {
        if before == 0 {
            return if now == 0 {
                Change::None
            } else {
                Change::FromNone
            };
        }
        let r = now as f64 / before as f64;
        if r >= 2.0 {
            Change::Times
        } else if r > 1.1 {
            Change::Up
        } else if r >= 0.9 {
            Change::Same
        } else if (0.45..=0.55).contains(&r) {
            Change::Half
        } else {
            Change::Down
        }
    }

    /// The table's arrow for it.
    pub fn arrow(self) -> &'static str {
        match self {
            Change::FromNone | Change::Times | Change::Up => "↑",
            Change::Half | Change::Down => "↓",
            Change::Same | Change::None => "→",
        }
    }
}

/// The change against one earlier figure as a phrase: `against` is `previous` (the
/// quarter before) or `year` (the same quarter a year before).
pub fn phrase(now: i64, before: i64, against: &str, lang: Lang) -> String {
    let w = catalog(lang);
    let key = |k: &str| format!("compare.{against}_{k}");
    let get = |k: &str| w.lookup(&key(k)).unwrap_or_default().to_string();
    let fill = |k: &str, name: &str, value: &dyn std::fmt::Display| {
        let template = get(k);
        template.replace(&format!("{{{name}}}"), &value.to_string())
    };
    let r = if before == 0 {
        0.0
    } else {
        now as f64 / before as f64
    };
    match Change::of(now, before) {
        Change::None => get("none"),
        Change::FromNone => fill("from_none", "now", &grouped(now)),
        Change::Same => fill("same", "before", &grouped(before)),
        Change::Times => fill("times", "times", &format!("{r:.1}")),
        Change::Up => fill("up", "pct", &(((r - 1.0) * 100.0).round() as i64)),
        Change::Half => fill("half", "before", &grouped(before)),
        Change::Down => fill("down", "pct", &(((1.0 - r) * 100.0).round() as i64)),
    }
}

/// A category's count in an earlier period, looked up in `before` (key, count), and
/// the arrow from it to `now`: what a table prints beside this period's count.
pub fn against(before: &[(String, i64)], key: &str, now: i64) -> (i64, &'static str) {
    let earlier = before
        .iter()
        .find(|(k, _)| k == key)
        .map(|(_, n)| *n)
        .unwrap_or(0);
    (earlier, Change::of(now, earlier).arrow())
}

/// A count with its thousands marked, as reports print them: `12,345`.
pub fn grouped(n: i64) -> String {
    let digits = n.unsigned_abs().to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    if n < 0 {
        out.insert(0, '-');
    }
    out
}

impl Compared {
    /// `history` holds the figure of every quarter before this one (oldest first).
    pub fn new(now: i64, previous: i64, year_ago: i64, history: &[i64]) -> Compared {
        let best = history.iter().copied().max().unwrap_or(0);
        Compared {
            now,
            previous,
            year_ago,
            record: best > 0 && now > best,
        }
    }

    pub fn arrow(&self) -> &'static str {
        Change::of(self.now, self.previous).arrow()
    }

    /// The sentence for `what` (「報告件数」), as the seeds write it.
    pub fn sentence(&self, what: &str, lang: Lang) -> String {
        self.sentence_against(what, "previous", lang)
    }

    /// The same against another first span: `period` for a period that is not a
    /// quarter (the period of the same length just before).
    pub fn sentence_against(&self, what: &str, first: &str, lang: Lang) -> String {
        let w = catalog(lang);
        let mut s = w.fill(
            "compare.sentence",
            &[
                ("what", &what),
                ("now", &grouped(self.now)),
                ("previous", &phrase(self.now, self.previous, first, lang)),
                ("year", &phrase(self.now, self.year_ago, "year", lang)),
            ],
        );
        if self.record {
            s.push_str(w.get("compare.record"));
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_are_grouped_by_thousands() {
        assert_eq!(grouped(0), "0");
        assert_eq!(grouped(999), "999");
        assert_eq!(grouped(1_000), "1,000");
        assert_eq!(grouped(1_234_567), "1,234,567");
        assert_eq!(grouped(-12_345), "-12,345");
    }

    #[test]
    fn changes_are_named_as_the_seeds_name_them() {
        assert_eq!(Change::of(100, 100), Change::Same);
        assert_eq!(Change::of(105, 100), Change::Same);
        assert_eq!(Change::of(95, 100), Change::Same);
        assert_eq!(Change::of(200, 100), Change::Times);
        assert_eq!(Change::of(150, 100), Change::Up);
        assert_eq!(Change::of(50, 100), Change::Half);
        assert_eq!(Change::of(30, 100), Change::Down);
        assert_eq!(Change::of(5, 0), Change::FromNone);
        assert_eq!(Change::of(0, 0), Change::None);
        assert_eq!(Change::of(0, 10), Change::Down);
    }

    #[test]
    fn the_sentence_reads_in_each_language_with_a_record_named() {
        let c = Compared::new(2_000, 1_000, 1_900, &[800, 1_900, 1_200, 1_000]);
        assert!(c.record);
        let ja = c.sentence("報告件数", Lang::Ja);
        assert!(ja.contains("前四半期の 2.0 倍"), "{ja}");
        assert!(ja.contains("前年同期（1,900 件）と同程度"), "{ja}");
        assert!(ja.starts_with("報告件数は 2,000 件で"), "{ja}");
        assert!(ja.contains("過去最高を更新"), "{ja}");
        let en = c.sentence("Reports", Lang::En);
        assert!(
            en.contains("2.0 times") && en.contains("record high"),
            "{en}"
        );
        let down = Compared::new(500, 1_000, 700, &[1_000]);
        assert!(!down.record);
        assert!(
            down.sentence("報告件数", Lang::Ja)
                .contains("前四半期（1,000 件）から半減")
        );
        assert!(
            down.sentence("報告件数", Lang::Ja)
                .contains("前年同期から 29% 減少")
        );
        assert_eq!(down.arrow(), "↓");
    }
}
