//! The report as HTML: a self-contained document and the body the web page frames,
//! both printing the report's [`blocks`](QuarterlyReport::blocks).

use super::document::{Block, Entry, Part, contents};
use super::*;

/// The report as a self-contained HTML document: styles inline, charts inline.
#[derive(Template)]
#[template(path = "quarterly.html")]
struct Document<'a> {
    title: &'a str,
    lang: &'a str,
    body: &'a str,
}

/// A report's body (as [`QuarterlyReport::html_body`] gave it, or as published)
/// as one self-contained HTML file.
pub fn standalone(title: &str, lang: Lang, body: &str) -> Result<String> {
    Ok(Document {
        title,
        lang: lang.as_str(),
        body,
    }
    .render()?)
}

/// The report's body as an HTML fragment, for the web page's own frame.
#[derive(Template)]
#[template(path = "quarterly_body.html")]
struct Body<'a> {
    r: &'a QuarterlyReport,
    w: Words,
    blocks: Vec<Block>,
}

impl Body<'_> {
    fn markdown(&self, text: &str) -> String {
        markdown::to_html(text)
    }

    fn contents(&self) -> Vec<Entry<'_>> {
        contents(&self.blocks)
    }

    fn revision(&self, n: &i64) -> String {
        self.w.fill("revision", &[("n", n)])
    }

    /// The day the report was published, or generated when it is not yet.
    fn issued(&self) -> &str {
        match &self.r.publication {
            Some(p) => &p.day,
            None => self
                .r
                .generated_at
                .get(..10)
                .unwrap_or(&self.r.generated_at),
        }
    }

    /// A chart with its number and caption.
    fn figure(&self, number: &str) -> String {
        let Some(f) = self.r.figure(number) else {
            return String::new();
        };
        FigureHtml {
            f,
            svg: svg_body(&f.svg),
            label: self.w.t("figure"),
        }
        .render()
        .unwrap_or_default()
    }
}

/// One chart in the HTML, its caption escaped by the template like every text.
#[derive(Template)]
#[template(path = "figure.html")]
struct FigureHtml<'a> {
    f: &'a Figure,
    /// The chart as drawn (our own SVG, not text from a user).
    svg: &'a str,
    label: &'a str,
}

/// The SVG element alone, without an XML declaration, to sit inside HTML.
fn svg_body(svg: &str) -> &str {
    svg.find("<svg").map(|i| &svg[i..]).unwrap_or("")
}

impl QuarterlyReport {
    /// The body of the report (headings, tables, inline charts).
    pub fn html_body(&self) -> Result<String> {
        Ok(Body {
            r: self,
            w: Words { lang: self.lang },
            blocks: self.blocks(),
        }
        .render()?)
    }

    /// The whole report as one HTML file.
    pub fn html(&self) -> Result<String> {
        standalone(
            &format!("{} {} {}", self.team, self.title(), self.quarter),
            self.lang,
            &self.html_body()?,
        )
    }
}
