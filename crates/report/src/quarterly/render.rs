//! The report as HTML: a self-contained document and the body the web page frames.

use super::*;

/// The report as a self-contained HTML document: styles inline, charts inline.
#[derive(Template)]
#[template(path = "quarterly.html")]
struct Document<'a> {
    r: &'a QuarterlyReport,
    w: Words,
    body: String,
}

/// The report's body as an HTML fragment, for the web page's own frame.
#[derive(Template)]
#[template(path = "quarterly_body.html")]
struct Body<'a> {
    r: &'a QuarterlyReport,
    w: Words,
}

impl Body<'_> {
    fn topic_html(&self, t: &Topic) -> String {
        markdown::to_html(t.body(self.r.lang))
    }

    fn fmt(&self, v: &f64) -> String {
        format!("{v:.1}")
    }

    fn topic_title<'b>(&self, t: &'b Topic) -> &'b str {
        t.title(self.r.lang)
    }

    fn alert_title<'b>(&self, a: &'b Publication) -> &'b str {
        a.title(self.r.lang)
    }

    fn referrals(&self) -> i64 {
        self.r.incidents.referrals.iter().map(|c| c.count).sum()
    }

    fn hours(&self, secs: &Option<i64>) -> String {
        self.w.hours(*secs)
    }

    fn date<'b>(&self, s: &'b str) -> &'b str {
        s.get(..10).unwrap_or(s)
    }

    /// The ten ports scanned most.
    fn ports(&self) -> &[renkei_incident::stats::PortCount] {
        let p = &self.r.incidents.scanned_ports;
        &p[..p.len().min(10)]
    }

    fn icmp_figure(&self) -> &str {
        self.r
            .figures
            .iter()
            .rev()
            .find(|f| f.file.ends_with("-icmp.svg"))
            .map(|f| f.number.as_str())
            .unwrap_or("")
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
        }
        .render()?)
    }

    /// The whole report as one HTML file.
    pub fn html(&self) -> Result<String> {
        Ok(Document {
            r: self,
            w: Words { lang: self.lang },
            body: self.html_body()?,
        }
        .render()?)
    }
}
