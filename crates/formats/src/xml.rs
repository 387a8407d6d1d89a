//! A small, safe XML tree for the formats that arrive as XML (IODEF).
//!
//! Built on quick-xml's pull parser. Nothing is ever fetched or expanded: a document
//! with a DOCTYPE is refused outright (no DTD, so no entity declarations, no external
//! entities, no "billion laughs"), and an entity reference other than the five XML
//! predefines and numeric character references is an error. Depth and size are
//! bounded.

use quick_xml::Reader;
use quick_xml::events::Event;

use crate::error::FormatError;

const MAX_DEPTH: usize = 64;
const MAX_ELEMENTS: usize = 200_000;

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Element {
    /// Local name, namespace prefix dropped.
    pub name: String,
    pub namespace: Option<String>,
    pub attrs: Vec<(String, String)>,
    pub children: Vec<Element>,
    pub text: String,
}

impl Element {
    pub fn attr(&self, name: &str) -> Option<&str> {
        self.attrs
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    pub fn child(&self, name: &str) -> Option<&Element> {
        self.children.iter().find(|c| c.name == name)
    }

    pub fn children_named<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a Element> + 'a {
        self.children.iter().filter(move |c| c.name == name)
    }

    /// All descendants (not self) with this name, depth first.
    pub fn descendants<'a>(&'a self, name: &'a str) -> Vec<&'a Element> {
        let mut out = Vec::new();
        fn walk<'a>(e: &'a Element, name: &str, out: &mut Vec<&'a Element>) {
            for c in &e.children {
                if c.name == name {
                    out.push(c);
                }
                walk(c, name, out);
            }
        }
        walk(self, name, &mut out);
        out
    }

    pub fn text_trimmed(&self) -> Option<&str> {
        let t = self.text.trim();
        (!t.is_empty()).then_some(t)
    }

    /// Text of this element and everything below, for full-text use.
    pub fn all_text(&self, out: &mut String) {
        if let Some(t) = self.text_trimmed() {
            out.push_str(t);
            out.push('\n');
        }
        for c in &self.children {
            c.all_text(out);
        }
    }
}

fn predefined(name: &str) -> Option<char> {
    Some(match name {
        "amp" => '&',
        "lt" => '<',
        "gt" => '>',
        "quot" => '"',
        "apos" => '\'',
        _ => return None,
    })
}

fn local(qname: &str) -> (&str, Option<&str>) {
    match qname.split_once(':') {
        Some((prefix, name)) => (name, Some(prefix)),
        None => (qname, None),
    }
}

pub fn parse(format: &'static str, bytes: &[u8]) -> Result<Element, FormatError> {
    let text = std::str::from_utf8(bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes))
        .map_err(|e| FormatError::malformed(format, format!("not UTF-8 ({e})")))?;
    let mut reader = Reader::from_str(text);
    let mut stack: Vec<Element> = Vec::new();
    let mut root: Option<Element> = None;
    let mut count = 0usize;
    let err = |m: String| FormatError::malformed(format, m);
    let open = |e: &quick_xml::events::BytesStart<'_>,
                count: &mut usize|
     -> Result<Element, FormatError> {
        *count += 1;
        if *count > MAX_ELEMENTS {
            return Err(err(format!("more than {MAX_ELEMENTS} elements")));
        }
        let qname = AsRef::<str>::as_ref(&e.name()).to_string();
        let (name, prefix) = local(&qname);
        let mut el = Element {
            name: name.to_string(),
            ..Element::default()
        };
        let mut ns_attr = match prefix {
            Some(p) => format!("xmlns:{p}"),
            None => "xmlns".to_string(),
        };
        for a in e.attributes() {
            let a = a.map_err(|x| err(format!("attribute: {x}")))?;
            let key = AsRef::<str>::as_ref(&a.key).to_string();
            let value = a
                .normalized_value(quick_xml::XmlVersion::Implicit1_0)
                .map_err(|x| FormatError::Refused {
                    format,
                    message: format!("attribute {key}: {x}"),
                })?
                .into_owned();
            if key == ns_attr {
                el.namespace = Some(value.clone());
                ns_attr.clear();
            }
            let (k, _) = local(&key);
            el.attrs.push((k.to_string(), value));
        }
        Ok(el)
    };
    loop {
        let event = reader
            .read_event()
            .map_err(|e| err(format!("at byte {}: {e}", reader.buffer_position())))?;
        match event {
            Event::DocType(_) => {
                return Err(FormatError::Refused {
                    format,
                    message:
                        "the document has a DOCTYPE; DTDs and entity declarations are not accepted"
                            .into(),
                });
            }
            Event::Start(e) => {
                if stack.len() >= MAX_DEPTH {
                    return Err(err(format!("nested deeper than {MAX_DEPTH} elements")));
                }
                let el = open(&e, &mut count)?;
                stack.push(el);
            }
            Event::Empty(e) => {
                let el = open(&e, &mut count)?;
                match stack.last_mut() {
                    Some(parent) => parent.children.push(el),
                    None if root.is_none() => root = Some(el),
                    None => return Err(err("more than one root element".into())),
                }
            }
            Event::End(_) => {
                let el = stack
                    .pop()
                    .ok_or_else(|| err("unbalanced end tag".into()))?;
                match stack.last_mut() {
                    Some(parent) => parent.children.push(el),
                    None if root.is_none() => root = Some(el),
                    None => return Err(err("more than one root element".into())),
                }
            }
            Event::Text(t) => {
                if let Some(top) = stack.last_mut() {
                    top.text.push_str(&t.xml10_content());
                } else if !t.xml10_content().trim().is_empty() {
                    return Err(err("text outside the root element".into()));
                }
            }
            Event::CData(t) => {
                if let Some(top) = stack.last_mut() {
                    top.text.push_str(&t.xml10_content());
                }
            }
            Event::GeneralRef(r) => {
                let c = if r.is_char_ref() {
                    r.resolve_char_ref()
                        .map_err(|e| err(format!("character reference: {e}")))?
                } else {
                    predefined(r.as_ref())
                };
                let Some(c) = c else {
                    return Err(FormatError::Refused {
                        format,
                        message: format!(
                            "the entity &{}; is not one of XML's predefined entities",
                            r.as_ref() as &str
                        ),
                    });
                };
                if let Some(top) = stack.last_mut() {
                    top.text.push(c);
                }
            }
            Event::Eof => break,
            Event::Decl(_) | Event::PI(_) | Event::Comment(_) => {}
        }
    }
    if !stack.is_empty() {
        return Err(err(format!(
            "the document ends inside <{}>",
            stack.last().map(|e| e.name.as_str()).unwrap_or("")
        )));
    }
    root.ok_or_else(|| err("no root element".into()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_doctype_is_refused_so_no_entity_can_be_declared() {
        let bomb = br#"<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;">]><a>&lol2;</a>"#;
        assert!(matches!(
            parse("XML", bomb),
            Err(FormatError::Refused { .. })
        ));
        let external = br#"<?xml version="1.0"?><!DOCTYPE a [<!ENTITY xxe SYSTEM "file:///etc/passwd">]><a>&xxe;</a>"#;
        assert!(matches!(
            parse("XML", external),
            Err(FormatError::Refused { .. })
        ));
    }

    #[test]
    fn undeclared_entities_are_refused_and_predefined_ones_resolve() {
        assert!(matches!(
            parse("XML", b"<a>&xxe;</a>"),
            Err(FormatError::Refused { .. })
        ));
        let e = parse("XML", b"<a x=\"1&amp;2\">&lt;b&gt; &#x41;&#66;</a>").unwrap();
        assert_eq!(e.text, "<b> AB");
        assert_eq!(e.attr("x"), Some("1&2"));
    }

    #[test]
    fn prefixes_are_dropped_and_namespaces_kept() {
        let e = parse("XML", br#"<iodef:IODEF-Document xmlns:iodef="urn:x"><iodef:Incident/></iodef:IODEF-Document>"#).unwrap();
        assert_eq!(e.name, "IODEF-Document");
        assert_eq!(e.namespace.as_deref(), Some("urn:x"));
        assert_eq!(e.children[0].name, "Incident");
    }

    #[test]
    fn broken_documents_are_errors_not_panics() {
        for bad in [
            &b"<a><b></a>"[..],
            b"<a>",
            b"",
            b"<a></a><b/>",
            b"\xff\xfe<a/>",
            b"text",
        ] {
            assert!(
                parse("XML", bad).is_err(),
                "{:?}",
                String::from_utf8_lossy(bad)
            );
        }
    }
}
