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

use crate::quarterly::document::{Block, Part, Table};
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

/// The markup of one table: bold heads, numbers to the right, every cell a string.
fn table(out: &mut String, t: &Table) {
    let columns = t.head.len().max(1);
    let align: Vec<&str> = (0..columns)
        .map(|i| {
            if t.rows.iter().any(|r| r.get(i).is_some_and(|c| c.num)) {
                "right"
            } else {
                "left"
            }
        })
        .collect();
    let _ = write!(
        out,
        "\n#table(columns: {columns}, align: ({}), stroke: 0.5pt + gray, inset: 4pt, table.header({}),",
        align.join(", "),
        t.head
            .iter()
            .map(|h| format!("strong({})", lit(h)))
            .collect::<Vec<_>>()
            .join(", ")
    );
    for row in &t.rows {
        for cell in row.iter().take(columns) {
            let text = match cell.arrow {
                Some(a) => format!("{} {a}", cell.text),
                None => cell.text.clone(),
            };
            let _ = write!(out, " {},", lit(&text));
        }
        for _ in row.len()..columns {
            out.push_str(" [],");
        }
    }
    out.push_str(")\n");
}

/// The report as typst markup: a cover page, the contents, then the blocks.
pub fn markup(r: &QuarterlyReport) -> String {
    let w = Words { lang: r.lang };
    let mut out = String::new();
    let title = format!("{} {}", w.t("title"), r.quarter);
    let _ = writeln!(
        out,
        "#set document(title: {})",
        lit(&format!("{} {title}", r.team))
    );
    // Page numbers from the first page of content; the cover and contents go bare.
    out.push_str("#set page(paper: \"a4\", margin: (x: 2cm, y: 2.2cm))\n");
    let _ = writeln!(
        out,
        "#set text(font: \"IPAexGothic\", size: 9.5pt, lang: \"{}\")",
        r.lang.as_str()
    );
    out.push_str("#set par(justify: true, leading: 0.75em)\n");
    // A heading stays with what follows it; figures float to the top or bottom of
    // a page so that none leaves half a page empty before it.
    out.push_str("#show heading: set block(sticky: true)\n");
    out.push_str("#set figure(placement: auto)\n");
    out.push_str("#show heading.where(level: 1): it => block(below: 1em, text(size: 16pt, it))\n");
    out.push_str("#show heading.where(level: 2): it => block(above: 1.6em, below: 0.8em, sticky: true, stroke: (bottom: 1pt + rgb(\"#1f77b4\")), inset: (bottom: 3pt), it)\n");
    let issued = match &r.publication {
        Some(p) => p.day.clone(),
        None => r.generated_at.get(..10).unwrap_or("").to_string(),
    };
    for b in r.blocks() {
        match b {
            Block::Cover => {
                let _ = writeln!(
                    out,
                    "#align(center + horizon, stack(spacing: 1.4em, text(size: 15pt, {}), text(size: 26pt, weight: \"bold\", {}), text(size: 13pt, {}), v(2em), text(size: 11pt, {}){}))",
                    lit(&r.team),
                    lit(w.t("title")),
                    lit(&format!("[{}]", r.span)),
                    lit(&format!("{}: {issued}", w.t("issued"))),
                    match &r.publication {
                        Some(p) => format!(
                            ", text(size: 10pt, {})",
                            lit(&w.fill("revision", &[("n", &p.revision)]))
                        ),
                        None => String::new(),
                    }
                );
                out.push_str("#pagebreak()\n");
            }
            Block::Contents => {
                let _ = writeln!(
                    out,
                    "#outline(title: {}, depth: 3, indent: 1.5em)",
                    lit(w.t("contents"))
                );
                // A page rule begins a new page: the body starts on its own, numbered from 1.
                out.push_str("#set page(numbering: \"1 / 1\")\n#counter(page).update(1)\n");
            }
            Block::Heading { level, text, .. } => {
                // Fourth-level headings are run-in titles, not entries of the contents.
                let outlined = if level <= 3 { "true" } else { "false" };
                let _ = writeln!(
                    out,
                    "\n#heading(level: {level}, outlined: {outlined}, {})\n",
                    lit(&text)
                );
            }
            Block::Para(parts) => {
                let text: String = parts
                    .iter()
                    .map(|p| match p {
                        Part::Text(t) => t.as_str(),
                        Part::Value { text, .. } => text.as_str(),
                    })
                    .collect();
                let _ = writeln!(out, "\n#par({})\n", lit(&text));
            }
            Block::Compare { text, .. } => {
                let _ = writeln!(out, "\n#par(emph({}))\n", lit(&text));
            }
            Block::Markdown { class, text } => {
                let paras: Vec<String> = renkei_publish::markdown::to_text(&text)
                    .split("\n\n")
                    .map(str::trim)
                    .filter(|p| !p.is_empty())
                    .map(|p| format!("par({})", lit(p)))
                    .collect();
                if paras.is_empty() {
                    continue;
                }
                if class == "explain" {
                    let _ = writeln!(
                        out,
                        "\n#block(fill: rgb(\"#f6f8fa\"), stroke: (left: 2pt + rgb(\"#1f77b4\")), inset: 6pt, width: 100%, {{ {} }})\n",
                        paras.join("; ")
                    );
                } else {
                    for p in paras {
                        let _ = writeln!(out, "\n#{p}\n");
                    }
                }
            }
            Block::Bullets(items) => {
                for t in items {
                    let _ = writeln!(out, "- {}", text(&t));
                }
            }
            Block::Table(t) => table(&mut out, &t),
            Block::Figure(number) => {
                if let Some(f) = r.figure(&number) {
                    let _ = writeln!(
                        out,
                        "\n#figure(image(bytes({}), format: \"svg\", width: 100%), caption: {}, numbering: none, supplement: none)\n",
                        lit(&f.svg),
                        lit(&format!("{} {}: {}", w.t("figure"), f.number, f.caption))
                    );
                }
            }
        }
    }
    out
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
