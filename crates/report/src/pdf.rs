//! The report typeset as PDF with typst, used as a library. The document is written
//! as typst markup in which every piece of data is a string literal, so nothing in
//! the data (a title with `#` or `*`, say) can change the layout or run code. The
//! world the compiler sees has that one source file and the bundled font (IPAex
//! Gothic, from Debian's fonts-ipaexfont-gothic), and no file system or network, so
//! the PDF is the same on every machine.

use std::fmt::Write as _;
use std::sync::OnceLock;

use typst::diag::{FileError, FileResult};
use typst::foundations::{Bytes, Datetime};
use typst::syntax::{FileId, Source};
use typst::text::{Font, FontBook};
use typst::utils::LazyHash;
use typst::{Library, LibraryExt};
use typst_layout::PagedDocument;

use crate::quarterly::{QuarterlyReport, Words};
use crate::{ReportError, Result};

/// IPAex Gothic (IPA Font License): Japanese and Latin in one face.
static FONT: &[u8] = include_bytes!("../../../assets/fonts/ipaexg.ttf");

struct Fonts {
    book: LazyHash<FontBook>,
    fonts: Vec<Font>,
}

fn fonts() -> &'static Fonts {
    static FONTS: OnceLock<Fonts> = OnceLock::new();
    FONTS.get_or_init(|| {
        let fonts: Vec<Font> = Font::iter(Bytes::new(FONT)).collect();
        Fonts {
            book: LazyHash::new(FontBook::from_fonts(&fonts)),
            fonts,
        }
    })
}

struct World {
    library: LazyHash<Library>,
    source: Source,
}

impl typst::World for World {
    fn library(&self) -> &LazyHash<Library> {
        &self.library
    }

    fn book(&self) -> &LazyHash<FontBook> {
        &fonts().book
    }

    fn main(&self) -> FileId {
        self.source.id()
    }

    fn source(&self, id: FileId) -> FileResult<Source> {
        if id == self.source.id() {
            Ok(self.source.clone())
        } else {
            Err(FileError::AccessDenied)
        }
    }

    fn file(&self, _: FileId) -> FileResult<Bytes> {
        Err(FileError::AccessDenied)
    }

    fn font(&self, index: usize) -> Option<Font> {
        fonts().fonts.get(index).cloned()
    }

    fn today(&self, _: Option<typst::foundations::Duration>) -> Option<Datetime> {
        None
    }
}

/// Typesets typst markup into PDF bytes.
pub fn typeset(markup: &str) -> Result<Vec<u8>> {
    let world = World {
        library: LazyHash::new(Library::default()),
        source: Source::detached(markup.to_string()),
    };
    let document = typst::compile::<PagedDocument>(&world)
        .output
        .map_err(|errors| {
            ReportError::Typeset(
                errors
                    .iter()
                    .map(|e| e.message.to_string())
                    .collect::<Vec<_>>()
                    .join("; "),
            )
        })?;
    typst_pdf::pdf(&document, &typst_pdf::PdfOptions::default()).map_err(|errors| {
        ReportError::Typeset(
            errors
                .iter()
                .map(|e| e.message.to_string())
                .collect::<Vec<_>>()
                .join("; "),
        )
    })
}

/// A typst string literal holding `s`: data never becomes markup.
pub fn lit(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c.is_control() => {}
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// Text as content: `#"…"`.
fn text(s: &str) -> String {
    format!("#{}", lit(s))
}

struct Doc {
    out: String,
}

impl Doc {
    fn line(&mut self, s: &str) {
        self.out.push_str(s);
        self.out.push('\n');
    }

    fn heading(&mut self, level: usize, s: &str) {
        let _ = writeln!(self.out, "\n#heading(level: {level}, {})\n", lit(s));
    }

    fn para(&mut self, s: &str) {
        let _ = writeln!(self.out, "\n#par({})\n", lit(s));
    }

    fn table(&mut self, header: &[&str], rows: &[Vec<String>]) {
        let _ = write!(
            self.out,
            "\n#table(columns: {}, stroke: 0.5pt + gray, inset: 4pt, table.header({}),",
            header.len(),
            header
                .iter()
                .map(|h| format!("strong({})", lit(h)))
                .collect::<Vec<_>>()
                .join(", ")
        );
        for row in rows {
            for cell in row {
                let _ = write!(self.out, " {},", lit(cell));
            }
        }
        self.out.push_str(")\n");
    }

    fn figure(&mut self, report: &QuarterlyReport, w: &Words, number: &str) {
        let Some(f) = report.figure(number) else {
            return;
        };
        let _ = writeln!(
            self.out,
            "\n#figure(image(bytes({}), format: \"svg\", width: 100%), caption: {}, numbering: none, supplement: none)\n",
            lit(&f.svg),
            lit(&format!("{} {}: {}", w.t("figure"), f.number, f.caption))
        );
    }
}

/// The report as typst markup.
pub fn markup(r: &QuarterlyReport) -> String {
    let w = Words { lang: r.lang };
    let mut d = Doc { out: String::new() };
    d.line(&format!(
        "#set document(title: {})",
        lit(&format!("{} {} {}", r.team, w.t("title"), r.quarter))
    ));
    d.line("#set page(paper: \"a4\", margin: (x: 2cm, y: 2.2cm), numbering: \"1 / 1\")");
    d.line(&format!(
        "#set text(font: \"IPAexGothic\", size: 9.5pt, lang: \"{}\")",
        r.lang.as_str()
    ));
    d.line("#set par(justify: true, leading: 0.75em)");
    d.line("#show heading.where(level: 1): it => block(below: 1em, text(size: 16pt, it))");
    d.line("#show heading.where(level: 2): it => block(above: 1.6em, below: 0.8em, stroke: (bottom: 1pt + rgb(\"#1f77b4\")), inset: (bottom: 3pt), it)");

    d.heading(1, &format!("{} {} [{}]", r.team, w.t("title"), r.span));
    d.para(&format!(
        "{}: {}",
        w.t("issued"),
        r.generated_at.get(..10).unwrap_or("")
    ));
    if !r.topics.is_empty() {
        d.heading(2, &format!("◆ {} ◆", w.t("topics")));
        for (i, t) in r.topics.iter().enumerate() {
            d.heading(
                3,
                &format!("【{} {}】{}", w.t("topic"), i + 1, t.title(r.lang)),
            );
            for p in renkei_publish::markdown::to_text(t.body(r.lang)).split("\n\n") {
                if !p.trim().is_empty() {
                    d.para(p.trim());
                }
            }
        }
    }

    d.heading(2, w.t("s1"));
    d.para(&format!("{}: {}", w.t("subscribers"), r.subscribers));
    d.heading(3, w.t("alerts"));
    d.para(&format!("{}: {}", w.t("alerts_count"), r.alerts.len()));
    for a in &r.alerts {
        d.line(&format!(
            "- {}",
            text(&format!(
                "{} {} {} ({})",
                a.published_at.get(..10).unwrap_or(""),
                a.number,
                a.title(r.lang),
                if a.is_update() {
                    w.t("update")
                } else {
                    w.t("first")
                }
            ))
        ));
    }
    d.heading(3, w.t("weekly"));
    d.para(&format!(
        "{}: {} · {}: {} · {}: {}",
        w.t("weekly_count"),
        r.issues.len(),
        w.t("weekly_items"),
        r.weekly_items,
        w.t("weekly_memos"),
        r.weekly_memos
    ));

    d.heading(2, w.t("s2"));
    d.para(&format!(
        "{}: {} · {}: {}",
        w.t("reports"),
        r.incidents.reports,
        w.t("incidents"),
        r.incidents.incidents
    ));
    d.heading(3, w.t("tld"));
    let tlds: Vec<Vec<String>> = r
        .incidents
        .reporter_tlds
        .iter()
        .map(|c| vec![format!(".{}", c.key), c.count.to_string()])
        .collect();
    d.table(&[w.t("domain"), w.t("count")], &tlds);
    d.heading(3, w.t("notifications"));
    d.para(&format!(
        "{}: {}",
        w.t("notifications_text"),
        r.notifications.notifications
    ));
    d.heading(3, w.t("categories"));
    let cats: Vec<Vec<String>> = r
        .incidents
        .by_category
        .iter()
        .map(|c| {
            vec![
                format!("{} ({})", r.category_name(&c.key), c.key),
                c.count.to_string(),
            ]
        })
        .collect();
    d.table(&["", w.t("count")], &cats);
    d.figure(r, &w, "1-1");
    let mut ports: Vec<Vec<String>> = r
        .incidents
        .scanned_ports
        .iter()
        .take(10)
        .map(|p| vec![p.port.to_string(), p.count.to_string()])
        .collect();
    ports.push(vec![
        w.t("comprehensive").to_string(),
        r.incidents.comprehensive_scans.to_string(),
    ]);
    d.heading(4, w.t("ports"));
    d.table(&[w.t("port"), w.t("count")], &ports);
    d.heading(3, w.t("inquiries"));
    d.para(&format!(
        "{}: {}",
        w.t("inquiries_text"),
        r.incidents.inquiries
    ));
    d.heading(3, w.t("referrals"));
    d.para(&format!(
        "{}: {}",
        w.t("referrals_text"),
        r.incidents.referrals.iter().map(|c| c.count).sum::<i64>()
    ));
    if !r.incidents.referrals.is_empty() {
        let rows: Vec<Vec<String>> = r
            .incidents
            .referrals
            .iter()
            .map(|c| vec![c.key.clone(), c.count.to_string()])
            .collect();
        d.table(&["", w.t("count")], &rows);
    }
    d.heading(3, w.t("takedowns"));
    let t = &r.incidents.takedowns;
    d.para(&format!(
        "{}: {} {} · {} {} · {} {}",
        w.t("takedowns_text"),
        w.t("takedowns_requested"),
        t.requested,
        w.t("takedowns_down"),
        t.down,
        w.t("takedowns_returned"),
        t.returned
    ));
    d.heading(3, w.t("handling"));
    d.para(w.t("handling_text"));
    let spread = |label: &str, s: &renkei_incident::stats::Spread| {
        vec![
            label.to_string(),
            s.count.to_string(),
            w.hours(s.median_secs),
            w.hours(s.p90_secs),
        ]
    };
    d.table(
        &[
            "",
            w.t("handled"),
            w.t("handling_median"),
            w.t("handling_p90"),
        ],
        &[
            spread(w.t("first_response"), &r.incidents.time_to_first_response),
            spread(w.t("to_close"), &r.incidents.time_to_close),
        ],
    );

    d.heading(2, w.t("s3"));
    let rank_rows = |list: &[crate::quarterly::Ranked]| -> Vec<Vec<String>> {
        list.iter()
            .map(|p| {
                vec![
                    p.rank.to_string(),
                    p.label.clone(),
                    format!("{:.1}", p.per_sensor),
                ]
            })
            .collect()
    };
    d.heading(3, w.t("top_quarter"));
    d.table(
        &[w.t("rank"), w.t("port"), w.t("per_sensor")],
        &rank_rows(&r.top_quarter),
    );
    d.figure(r, &w, "2-1");
    d.figure(r, &w, "2-2");
    d.heading(3, w.t("top_year"));
    d.table(
        &[w.t("rank"), w.t("port"), w.t("per_sensor")],
        &rank_rows(&r.top_year),
    );
    d.figure(r, &w, "2-3");
    d.figure(r, &w, "2-4");
    d.heading(3, w.t("notable"));
    if r.notable.is_empty() {
        d.para(w.t("no_notes"));
    }
    for n in &r.notable {
        d.heading(4, &n.label);
        for t in &n.notes {
            d.line(&format!("- {}", text(t)));
        }
        d.figure(r, &w, &n.figure);
    }
    if let Some(icmp) = r
        .figures
        .iter()
        .rev()
        .find(|f| f.file.ends_with("-icmp.svg"))
    {
        d.figure(r, &w, &icmp.number.clone());
    }

    d.heading(2, w.t("s4"));
    d.heading(3, w.t("notes"));
    d.para(&format!(
        "{}: {} · {}: {} · {}: {}",
        w.t("quarter"),
        r.notes_published(),
        w.t("total"),
        r.notes_cumulative(),
        w.t("median"),
        r.median_days()
    ));
    let series: Vec<Vec<String>> = r
        .series
        .iter()
        .map(|s| {
            vec![
                s.prefix.clone(),
                s.published.to_string(),
                s.cumulative.to_string(),
            ]
        })
        .collect();
    d.table(&[w.t("series"), w.t("quarter"), w.t("total")], &series);
    d.figure(r, &w, "3-1");
    let partners: Vec<Vec<String>> = r
        .vuln
        .per_partner
        .iter()
        .map(|p| {
            vec![
                p.partner
                    .clone()
                    .unwrap_or_else(|| w.t("direct").to_string()),
                p.count.to_string(),
            ]
        })
        .collect();
    d.table(&[w.t("partner"), w.t("quarter")], &partners);
    d.para(&format!(
        "{}: {}",
        w.t("control_systems"),
        r.vuln.control_systems
    ));
    if !r.vuln.cwe.is_empty() {
        let cwe: Vec<Vec<String>> = r
            .vuln
            .cwe
            .iter()
            .map(|c| {
                vec![
                    c.cwe.clone().unwrap_or_else(|| w.t("no_cwe").to_string()),
                    c.count.to_string(),
                ]
            })
            .collect();
        d.table(&[w.t("weakness"), w.t("quarter")], &cwe);
    }
    d.heading(3, w.t("vendors"));
    d.para(&format!(
        "{}: {}",
        w.t("vendors_text"),
        r.vuln.vendors_registered_total
    ));
    d.figure(r, &w, "3-2");
    d.out
}

impl QuarterlyReport {
    /// The report as a typeset PDF.
    pub fn pdf(&self) -> Result<Vec<u8>> {
        typeset(&markup(self))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn data_stays_a_string_whatever_it_holds() {
        assert_eq!(lit(r#"a "b" \c #d"#), r#""a \"b\" \\c #d""#);
        assert_eq!(lit("x\ny"), r#""x\ny""#);
        let pdf = typeset(&format!(
            "#set text(font: \"IPAexGothic\")\n#par({})\n",
            lit("#panic(\"x\") ] ) 注意喚起 \\ \"")
        ))
        .expect("typesets");
        assert!(pdf.starts_with(b"%PDF-"));
    }

    #[test]
    fn broken_markup_is_an_error_not_a_panic() {
        assert!(matches!(
            typeset("#let x = ("),
            Err(ReportError::Typeset(_))
        ));
    }
}
