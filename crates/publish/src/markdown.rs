//! Markdown as the team writes alerts, turned into HTML that is safe on a public
//! page and in a mail: CommonMark with tables and strikethrough, raw HTML shown as
//! text, and links only to the web (`http`, `https`), mail or the site itself.

use pulldown_cmark::{CowStr, Event, Options, Parser, Tag, TagEnd, html};

/// The HTML of a Markdown text.
pub fn to_html(markdown: &str) -> String {
    let mut options = Options::empty();
    options.insert(Options::ENABLE_TABLES);
    options.insert(Options::ENABLE_STRIKETHROUGH);
    let events = Parser::new_ext(markdown, options).map(|event| match event {
        // Whoever writes an alert is trusted, but an alert is also pasted text from
        // vendors and reporters: markup in it is shown, never run.
        Event::Html(s) | Event::InlineHtml(s) => Event::Text(s),
        Event::Start(Tag::Link {
            link_type,
            dest_url,
            title,
            id,
        }) => Event::Start(Tag::Link {
            link_type,
            dest_url: safe_url(dest_url),
            title,
            id,
        }),
        Event::Start(Tag::Image {
            link_type,
            dest_url,
            title,
            id,
        }) => Event::Start(Tag::Image {
            link_type,
            dest_url: safe_url(dest_url),
            title,
            id,
        }),
        other => other,
    });
    let mut out = String::with_capacity(markdown.len() * 3 / 2);
    html::push_html(&mut out, events);
    out
}

fn safe_url(url: CowStr<'_>) -> CowStr<'_> {
    let lower = url.trim().to_ascii_lowercase();
    let scheme = lower
        .split_once(':')
        .map(|(s, _)| s)
        .filter(|s| !s.contains(['/', '?', '#']));
    match scheme {
        None | Some("http" | "https" | "mailto") => url,
        Some(_) => CowStr::Borrowed("#"),
    }
}

/// The text of a Markdown document without its markup, for feed summaries and
/// plain-text mail previews: paragraphs joined by blank lines.
pub fn to_text(markdown: &str) -> String {
    let mut out = String::new();
    for event in Parser::new(markdown) {
        match event {
            Event::Text(t) | Event::Code(t) | Event::Html(t) | Event::InlineHtml(t) => {
                out.push_str(&t)
            }
            Event::SoftBreak | Event::HardBreak => out.push(' '),
            Event::End(
                TagEnd::Paragraph
                | TagEnd::Heading(_)
                | TagEnd::Item
                | TagEnd::CodeBlock
                | TagEnd::BlockQuote(_)
                | TagEnd::TableRow
                | TagEnd::TableHead,
            ) if !out.is_empty() && !out.ends_with("\n\n") => {
                let trimmed = out.trim_end().len();
                out.truncate(trimmed);
                out.push_str("\n\n");
            }
            Event::End(TagEnd::TableCell) => out.push(' '),
            _ => {}
        }
    }
    out.trim().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn markup_and_script_links_are_shown_not_run() {
        let h = to_html(
            "# Update now\n\n<script>alert(1)</script>\n\n[x](javascript:alert(1)) [ok](https://example.org/a?b=1) [rel](/notes/JVN%2312)\n\n<img src=x onerror=alert(1)>",
        );
        assert!(h.contains("<h1>Update now</h1>"), "{h}");
        assert!(!h.contains("<script"), "{h}");
        assert!(h.contains("&lt;script&gt;"), "{h}");
        assert!(!h.contains("<img"), "{h}");
        assert!(!h.contains("javascript:"), "{h}");
        assert!(h.contains("href=\"https://example.org/a?b=1\""), "{h}");
        assert!(h.contains("href=\"/notes/JVN%2312\""), "{h}");
    }

    #[test]
    fn tables_render() {
        let h = to_html("| product | fixed in |\n|---|---|\n| Foo | 1.2 |\n");
        assert!(h.contains("<table>") && h.contains("<td>Foo</td>"), "{h}");
    }

    #[test]
    fn plain_text_keeps_the_words() {
        let t = to_text("# Title\n\nSome **bold** text\nand more.\n\n- one\n- two");
        assert!(t.starts_with("Title"), "{t}");
        assert!(t.contains("Some bold text and more."), "{t}");
        assert!(t.contains("one") && t.contains("two"), "{t}");
    }

    proptest! {
        #[test]
        fn any_text_renders_without_a_raw_tag(s in "\\PC{0,200}") {
            let h = to_html(&s);
            prop_assert!(!h.contains("<script"));
            let _ = to_text(&s);
        }
    }
}
