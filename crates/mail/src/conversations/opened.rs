//! A mail that came in, opened: PGP/MIME (RFC 3156) encryption removed with the
//! team's key, and a signature checked against the key on file for the sender. What
//! is left is the MIME entity a reader reads (its text and attachments).

use mail_parser::MimeHeaders;

use crate::TeamKey;
use crate::pgp;

/// What opening a mail found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Opened {
    /// The readable entity: the mail itself when it was neither encrypted nor
    /// signed, else the part inside the layers.
    pub content: Vec<u8>,
    pub encrypted: bool,
    pub signed: bool,
    /// For a signed mail: `valid`, `invalid`, or `no_key` (none on file).
    pub signature: Option<&'static str>,
    /// Why a layer could not be opened (no team key, a key that does not fit).
    pub problem: Option<String>,
}

/// Opens `raw`: decrypts with `team` when it is encrypted, then checks a signature
/// with `sender_key` (the armored key on file for the address it came from).
pub fn open(raw: &[u8], team: Option<&TeamKey>, sender_key: Option<&str>) -> Opened {
    let mut out = Opened {
        content: raw.to_vec(),
        encrypted: false,
        signed: false,
        signature: None,
        problem: None,
    };
    if let Some(parts) = multipart(&out.content, "multipart/encrypted") {
        out.encrypted = true;
        let armored = parts
            .get(1)
            .map(|p| String::from_utf8_lossy(body_of(p)).into_owned())
            .unwrap_or_default();
        let opened = match team {
            None => Err("no team key to decrypt with".to_string()),
            Some(key) => key.decrypt(&armored).map_err(|e| e.to_string()),
        };
        match opened {
            Ok(inner) => out.content = inner,
            Err(e) => {
                out.problem = Some(e);
                return out;
            }
        }
    }
    if let Some(parts) = multipart(&out.content, "multipart/signed")
        && parts.len() >= 2
    {
        out.signed = true;
        let signed = crlf(parts[0]);
        let signature = String::from_utf8_lossy(body_of(parts[1])).into_owned();
        out.signature = Some(match sender_key {
            None => "no_key",
            Some(key) => {
                if pgp::verify_detached(key, &signed, &signature).is_ok() {
                    "valid"
                } else {
                    "invalid"
                }
            }
        });
        out.content = parts[0].to_vec();
    }
    out
}

/// The text a person reads in an entity (a whole mail, or a part with its headers).
pub fn text_of(entity: &[u8]) -> String {
    let Some(m) = mail_parser::MessageParser::default().parse(entity) else {
        return String::from_utf8_lossy(entity).into_owned();
    };
    m.body_text(0).map(|t| t.into_owned()).unwrap_or_default()
}

/// Splits an entity of the given multipart type into its parts (each with its own
/// headers), or `None` when it is not of that type.
fn multipart<'a>(entity: &'a [u8], kind: &str) -> Option<Vec<&'a [u8]>> {
    let (headers, body) = split_head(entity);
    let parsed = mail_parser::MessageParser::default().parse_headers(headers)?;
    let ct = parsed.content_type()?;
    let full = format!("{}/{}", ct.ctype(), ct.subtype().unwrap_or_default()).to_ascii_lowercase();
    if full != kind {
        return None;
    }
    let boundary = ct.attribute("boundary")?;
    Some(split_parts(body, boundary))
}

/// Headers and body of an entity, split at the first empty line.
fn split_head(entity: &[u8]) -> (&[u8], &[u8]) {
    for (i, w) in entity.windows(2).enumerate() {
        if w == b"\n\n" {
            return (&entity[..i + 2], &entity[i + 2..]);
        }
        if i + 4 <= entity.len() && &entity[i..i + 4] == b"\r\n\r\n" {
            return (&entity[..i + 4], &entity[i + 4..]);
        }
    }
    (entity, &[])
}

fn body_of(part: &[u8]) -> &[u8] {
    split_head(part).1
}

/// The parts between `--boundary` lines; the line break before each delimiter
/// belongs to the delimiter (RFC 2046 §5.1.1), so a part is exactly what was signed.
fn split_parts<'a>(body: &'a [u8], boundary: &str) -> Vec<&'a [u8]> {
    let delimiter = format!("--{boundary}");
    let d = delimiter.as_bytes();
    let mut starts = Vec::new();
    let mut i = 0;
    while i + d.len() <= body.len() {
        let at_line_start = i == 0 || body[i - 1] == b'\n';
        if at_line_start && &body[i..i + d.len()] == d {
            starts.push(i);
            i += d.len();
        } else {
            i += 1;
        }
    }
    let mut parts = Vec::new();
    for pair in starts.windows(2) {
        let (a, b) = (pair[0], pair[1]);
        // After the delimiter line's own line break.
        let Some(nl) = body[a..b].iter().position(|c| *c == b'\n') else {
            continue;
        };
        let start = a + nl + 1;
        let mut end = b;
        if end > start && body[end - 1] == b'\n' {
            end -= 1;
            if end > start && body[end - 1] == b'\r' {
                end -= 1;
            }
        }
        if start <= end {
            parts.push(&body[start..end]);
        }
    }
    parts
}

/// Line ends as signed: a mail handed over with bare line feeds is checked in the
/// canonical CRLF form.
fn crlf(data: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(data.len() + data.len() / 40);
    for (i, b) in data.iter().enumerate() {
        if *b == b'\n' && (i == 0 || data[i - 1] != b'\r') {
            out.push(b'\r');
        }
        out.push(*b);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::compose::{Draft, compose};

    fn draft<'a>(sign: Option<&'a TeamKey>, encrypt_to: &'a [&'a str]) -> Draft<'a> {
        Draft {
            from: "Site <abuse@isp.example>",
            to: "CSIRT <csirt@csirt.example>",
            cc: "",
            subject: "Re: [RENKEI-I#4] scan",
            text: "We blocked the host.\nRegards",
            attachments: &[],
            message_id: "r1@isp.example",
            in_reply_to: None,
            auto_reply: false,
            sign,
            encrypt_to,
        }
    }

    #[test]
    fn a_signed_and_encrypted_reply_is_opened_and_its_signature_checked() {
        let (site_secret, site_public) = pgp::generate("Site <abuse@isp.example>").unwrap();
        let (team_secret, team_public) = pgp::generate("CSIRT <csirt@csirt.example>").unwrap();
        let site = TeamKey::parse(site_secret.as_bytes(), "").unwrap();
        let team = TeamKey::parse(team_secret.as_bytes(), "").unwrap();
        let raw = compose(&draft(Some(&site), &[&team_public])).unwrap();

        let o = open(&raw, Some(&team), Some(&site_public));
        assert!(o.encrypted && o.signed, "{o:?}");
        assert_eq!(o.signature, Some("valid"));
        assert!(text_of(&o.content).contains("We blocked the host."));

        // Signed by someone else than the key on file says.
        let (_, other_public) = pgp::generate("Other <x@other.example>").unwrap();
        assert_eq!(
            open(&raw, Some(&team), Some(&other_public)).signature,
            Some("invalid")
        );
        // No key on file: signed, but not known by whom.
        assert_eq!(open(&raw, Some(&team), None).signature, Some("no_key"));
        // No team key: the problem is said, nothing breaks.
        let o = open(&raw, None, Some(&site_public));
        assert!(o.encrypted && o.problem.is_some());
    }

    #[test]
    fn a_signature_survives_a_mail_handed_over_with_bare_line_feeds() {
        let (site_secret, site_public) = pgp::generate("Site <abuse@isp.example>").unwrap();
        let site = TeamKey::parse(site_secret.as_bytes(), "").unwrap();
        let raw = compose(&draft(Some(&site), &[])).unwrap();
        let lf: Vec<u8> = String::from_utf8(raw)
            .unwrap()
            .replace("\r\n", "\n")
            .into_bytes();
        let o = open(&lf, None, Some(&site_public));
        assert_eq!(o.signature, Some("valid"));
        assert!(text_of(&o.content).contains("We blocked the host."));
    }

    #[test]
    fn a_plain_mail_is_left_as_it_is() {
        let raw = compose(&draft(None, &[])).unwrap();
        let o = open(&raw, None, None);
        assert!(!o.encrypted && !o.signed && o.signature.is_none());
        assert_eq!(o.content, raw);
    }

    #[test]
    fn a_broken_multipart_never_panics() {
        for raw in [
            &b"Content-Type: multipart/signed; boundary=x\r\n\r\n--x\r\n"[..],
            b"Content-Type: multipart/encrypted; boundary=\"\"\r\n\r\n--\r\n--",
            b"Content-Type: multipart/signed\r\n\r\nno boundary",
            b"",
        ] {
            let _ = open(raw, None, None);
        }
    }
}
