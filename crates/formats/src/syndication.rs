//! Feeds: Atom (RFC 4287) and RSS 2.0 for anything the team publishes, and JVNRSS —
//! RSS 1.0 with JVN's `sec:` module — for vulnerability notes.

use quick_xml::escape::escape;

/// One entry of a feed.
#[derive(Debug, Clone)]
pub struct Entry {
    /// A permanent, unique IRI (the entry's public address works).
    pub id: String,
    pub title: String,
    pub link: String,
    /// RFC 3339.
    pub published: String,
    pub updated: String,
    pub summary: String,
}

#[derive(Debug, Clone)]
pub struct Feed {
    pub id: String,
    pub title: String,
    /// The feed's own address.
    pub self_link: String,
    /// The HTML page the feed mirrors.
    pub link: String,
    pub lang: String,
    /// RFC 3339; the newest entry's update, or now for an empty feed.
    pub updated: String,
    pub entries: Vec<Entry>,
}

pub fn atom(feed: &Feed) -> String {
    let mut out = String::with_capacity(1024 + feed.entries.len() * 512);
    out.push_str("<?xml version=\"1.0\" encoding=\"utf-8\"?>\n");
    out.push_str(&format!(
        "<feed xmlns=\"http://www.w3.org/2005/Atom\" xml:lang=\"{}\">\n",
        escape(&feed.lang)
    ));
    out.push_str(&format!("  <id>{}</id>\n", escape(&feed.id)));
    out.push_str(&format!("  <title>{}</title>\n", escape(&feed.title)));
    out.push_str(&format!("  <updated>{}</updated>\n", escape(&feed.updated)));
    out.push_str(&format!(
        "  <link rel=\"self\" type=\"application/atom+xml\" href=\"{}\"/>\n",
        escape(&feed.self_link)
    ));
    out.push_str(&format!(
        "  <link rel=\"alternate\" type=\"text/html\" href=\"{}\"/>\n",
        escape(&feed.link)
    ));
    out.push_str(&format!(
        "  <author><name>{}</name></author>\n",
        escape(&feed.title)
    ));
    out.push_str("  <generator>Renkei</generator>\n");
    for e in &feed.entries {
        out.push_str("  <entry>\n");
        out.push_str(&format!("    <id>{}</id>\n", escape(&e.id)));
        out.push_str(&format!("    <title>{}</title>\n", escape(&e.title)));
        out.push_str(&format!(
            "    <link rel=\"alternate\" type=\"text/html\" href=\"{}\"/>\n",
            escape(&e.link)
        ));
        out.push_str(&format!(
            "    <published>{}</published>\n",
            escape(&e.published)
        ));
        out.push_str(&format!("    <updated>{}</updated>\n", escape(&e.updated)));
        out.push_str(&format!(
            "    <summary type=\"text\">{}</summary>\n",
            escape(&e.summary)
        ));
        out.push_str("  </entry>\n");
    }
    out.push_str("</feed>\n");
    out
}

/// RFC 822 (as RSS 2.0 writes dates) of an RFC 3339 time; the text as it is if it
/// is not one.
fn rfc822(t: &str) -> String {
    chrono::DateTime::parse_from_rfc3339(t)
        .map(|d| d.to_rfc2822())
        .unwrap_or_else(|_| t.to_string())
}

/// The same feed as RSS 2.0 (the RSS Advisory Board's specification), with an
/// `atom:link rel="self"` as its best practices ask.
pub fn rss(feed: &Feed, description: &str) -> String {
    let mut out = String::with_capacity(1024 + feed.entries.len() * 512);
    out.push_str("<?xml version=\"1.0\" encoding=\"utf-8\"?>\n");
    out.push_str("<rss version=\"2.0\" xmlns:atom=\"http://www.w3.org/2005/Atom\">\n<channel>\n");
    out.push_str(&format!("  <title>{}</title>\n", escape(&feed.title)));
    out.push_str(&format!("  <link>{}</link>\n", escape(&feed.link)));
    out.push_str(&format!(
        "  <description>{}</description>\n",
        escape(description)
    ));
    out.push_str(&format!("  <language>{}</language>\n", escape(&feed.lang)));
    out.push_str(&format!(
        "  <lastBuildDate>{}</lastBuildDate>\n",
        escape(rfc822(&feed.updated))
    ));
    out.push_str("  <generator>Renkei</generator>\n");
    out.push_str(&format!(
        "  <atom:link href=\"{}\" rel=\"self\" type=\"application/rss+xml\"/>\n",
        escape(&feed.self_link)
    ));
    for e in &feed.entries {
        out.push_str("  <item>\n");
        out.push_str(&format!("    <title>{}</title>\n", escape(&e.title)));
        out.push_str(&format!("    <link>{}</link>\n", escape(&e.link)));
        out.push_str(&format!(
            "    <description>{}</description>\n",
            escape(&e.summary)
        ));
        out.push_str(&format!(
            "    <guid isPermaLink=\"false\">{}</guid>\n",
            escape(&e.id)
        ));
        out.push_str(&format!(
            "    <pubDate>{}</pubDate>\n",
            escape(rfc822(&e.published))
        ));
        out.push_str("  </item>\n");
    }
    out.push_str("</channel>\n</rss>\n");
    out
}

/// A vulnerability note as one JVNRSS item.
#[derive(Debug, Clone)]
pub struct JvnItem {
    pub identifier: String,
    pub title: String,
    pub link: String,
    pub description: String,
    /// (source, id, url): `("CVE", "CVE-2026-1", "https://www.cve.org/…")`.
    pub references: Vec<(String, String, String)>,
    /// (vendor, product, cpe).
    pub cpes: Vec<(String, String, String)>,
    /// (score, severity, vector).
    pub cvss: Option<(f64, String, String)>,
    pub issued: String,
    pub modified: String,
}

/// An RSS 1.0 document with JVN's `sec:` module carrying `items`.
pub fn jvnrss(channel_title: &str, channel_link: &str, lang: &str, items: &[JvnItem]) -> String {
    let mut out = String::new();
    out.push_str("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    out.push_str(&format!(
        "<rdf:RDF xmlns=\"http://purl.org/rss/1.0/\" xmlns:rdf=\"http://www.w3.org/1999/02/22-rdf-syntax-ns#\" \
xmlns:dc=\"http://purl.org/dc/elements/1.1/\" xmlns:dcterms=\"http://purl.org/dc/terms/\" \
xmlns:sec=\"http://jvn.jp/rss/mod_sec/3.0/\" xml:lang=\"{}\">\n",
        escape(lang)
    ));
    out.push_str(&format!(
        "  <channel rdf:about=\"{}\">\n    <title>{}</title>\n    <link>{}</link>\n    <description>{}</description>\n",
        escape(channel_link),
        escape(channel_title),
        escape(channel_link),
        escape(channel_title)
    ));
    out.push_str("    <items>\n      <rdf:Seq>\n");
    for i in items {
        out.push_str(&format!(
            "        <rdf:li rdf:resource=\"{}\"/>\n",
            escape(&i.link)
        ));
    }
    out.push_str("      </rdf:Seq>\n    </items>\n  </channel>\n");
    for i in items {
        out.push_str(&format!("  <item rdf:about=\"{}\">\n", escape(&i.link)));
        out.push_str(&format!("    <title>{}</title>\n", escape(&i.title)));
        out.push_str(&format!("    <link>{}</link>\n", escape(&i.link)));
        out.push_str(&format!(
            "    <description>{}</description>\n",
            escape(&i.description)
        ));
        out.push_str(&format!(
            "    <sec:identifier>{}</sec:identifier>\n",
            escape(&i.identifier)
        ));
        for (source, id, url) in &i.references {
            out.push_str(&format!(
                "    <sec:references source=\"{}\" id=\"{}\">{}</sec:references>\n",
                escape(source),
                escape(id),
                escape(url)
            ));
        }
        for (vendor, product, cpe) in &i.cpes {
            out.push_str(&format!(
                "    <sec:cpe version=\"2.2\" vendor=\"{}\" product=\"{}\">{}</sec:cpe>\n",
                escape(vendor),
                escape(product),
                escape(cpe)
            ));
        }
        if let Some((score, severity, vector)) = &i.cvss {
            out.push_str(&format!(
                "    <sec:cvss version=\"3.1\" score=\"{score:.1}\" type=\"Base\" severity=\"{}\" vector=\"{}\"/>\n",
                escape(severity),
                escape(vector)
            ));
        }
        out.push_str(&format!("    <dc:date>{}</dc:date>\n", escape(&i.modified)));
        out.push_str(&format!(
            "    <dcterms:issued>{}</dcterms:issued>\n",
            escape(&i.issued)
        ));
        out.push_str(&format!(
            "    <dcterms:modified>{}</dcterms:modified>\n",
            escape(&i.modified)
        ));
        out.push_str("  </item>\n");
    }
    out.push_str("</rdf:RDF>\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use quick_xml::Reader;
    use quick_xml::events::Event;

    fn well_formed(xml: &str) -> Vec<String> {
        let mut r = Reader::from_str(xml);
        let mut names = Vec::new();
        loop {
            match r.read_event().expect("well-formed XML") {
                Event::Start(e) | Event::Empty(e) => {
                    names.push(AsRef::<str>::as_ref(&e.name()).to_string())
                }
                Event::Eof => break,
                _ => {}
            }
        }
        names
    }

    #[test]
    fn feeds_are_well_formed_and_escape_what_they_carry() {
        let feed = Feed {
            id: "https://x.example/feeds/v.atom".into(),
            title: "Notes <&>".into(),
            self_link: "https://x.example/feeds/v.atom".into(),
            link: "https://x.example/notes".into(),
            lang: "en".into(),
            updated: "2026-11-01T00:00:00Z".into(),
            entries: vec![Entry {
                id: "https://x.example/notes/1".into(),
                title: "A & B".into(),
                link: "https://x.example/notes/1?a=1&b=2".into(),
                published: "2026-11-01T00:00:00Z".into(),
                updated: "2026-11-01T00:00:00Z".into(),
                summary: "<script>".into(),
            }],
        };
        let xml = atom(&feed);
        assert!(xml.contains("&lt;script&gt;"));
        assert_eq!(
            well_formed(&xml).iter().filter(|n| *n == "entry").count(),
            1
        );
        let rss = jvnrss(
            "Notes",
            "https://x.example/notes",
            "ja",
            &[JvnItem {
                identifier: "JVN#12345678".into(),
                title: "T".into(),
                link: "https://x.example/notes/JVN%2312345678".into(),
                description: "D".into(),
                references: vec![(
                    "CVE".into(),
                    "CVE-2026-1".into(),
                    "https://www.cve.org/CVERecord?id=CVE-2026-1".into(),
                )],
                cpes: vec![],
                cvss: Some((
                    9.8,
                    "Critical".into(),
                    "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H".into(),
                )),
                issued: "2026-11-01T00:00:00Z".into(),
                modified: "2026-11-01T00:00:00Z".into(),
            }],
        );
        let names = well_formed(&rss);
        assert!(
            names.contains(&"sec:identifier".to_string())
                && names.contains(&"sec:cvss".to_string()),
            "{names:?}"
        );
    }
}
