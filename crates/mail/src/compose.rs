//! Builds an outgoing message whole: text, attachments, and the OpenPGP layers
//! (RFC 3156: multipart/signed, then multipart/encrypted around it).

use lettre::Message;
use lettre::message::header::{ContentDisposition, ContentType, Header, HeaderName, HeaderValue};
use lettre::message::{Mailbox, Mailboxes, MultiPart, SinglePart};

use crate::MailError;
use crate::pgp::{self, TeamKey};

/// A file sent with a message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attachment {
    pub filename: String,
    pub content_type: String,
    pub data: Vec<u8>,
}

/// Everything a message is made of.
pub struct Draft<'a> {
    pub from: &'a str,
    /// One address or several, separated by commas.
    pub to: &'a str,
    /// Copies, separated by commas; empty for none.
    pub cc: &'a str,
    pub subject: &'a str,
    pub text: &'a str,
    pub attachments: &'a [Attachment],
    pub message_id: &'a str,
    pub in_reply_to: Option<&'a str>,
    pub auto_reply: bool,
    pub sign: Option<&'a TeamKey>,
    /// The recipients' armored public keys: the message is encrypted to all of them.
    pub encrypt_to: &'a [&'a str],
}

#[derive(Clone)]
struct AutoSubmitted(String);

impl Header for AutoSubmitted {
    fn name() -> HeaderName {
        HeaderName::new_from_ascii_str("Auto-Submitted")
    }

    fn parse(s: &str) -> Result<Self, Box<dyn std::error::Error + Send + Sync>> {
        Ok(AutoSubmitted(s.to_string()))
    }

    fn display(&self) -> HeaderValue {
        HeaderValue::new(Self::name(), self.0.clone())
    }
}

#[derive(Clone)]
enum Body {
    Single(SinglePart),
    Multi(MultiPart),
}

/// A header of a mailing-list message (RFC 2369, RFC 2919, RFC 8058), by name.
macro_rules! text_header {
    ($t:ident, $name:literal) => {
        #[derive(Clone)]
        struct $t(String);

        impl Header for $t {
            fn name() -> HeaderName {
                HeaderName::new_from_ascii_str($name)
            }

            fn parse(s: &str) -> Result<Self, Box<dyn std::error::Error + Send + Sync>> {
                Ok($t(s.to_string()))
            }

            fn display(&self) -> HeaderValue {
                HeaderValue::new(Self::name(), self.0.clone())
            }
        }
    };
}

text_header!(ListId, "List-Id");
text_header!(ListUnsubscribe, "List-Unsubscribe");
text_header!(ListUnsubscribePost, "List-Unsubscribe-Post");
text_header!(Precedence, "Precedence");

/// The text of a list message, signed once for every subscriber: the signed part
/// carries nothing personal, so one signature serves tens of thousands of messages.
#[derive(Clone)]
pub struct ListBody(Body);

/// Builds (and signs with `sign`) the body every subscriber of one language gets.
pub fn list_body(text: &str, sign: Option<&TeamKey>) -> Result<ListBody, MailError> {
    let text = SinglePart::builder()
        .header(ContentType::TEXT_PLAIN)
        .body(text.to_string());
    Ok(ListBody(match sign {
        Some(key) => signed(Body::Single(text), key)?,
        None => Body::Single(text),
    }))
}

/// One subscriber's copy of a list message.
pub struct ListMail<'a> {
    pub from: &'a str,
    pub to: &'a str,
    pub subject: &'a str,
    pub message_id: &'a str,
    /// `Name <slug.lists.example.org>` (RFC 2919).
    pub list_id: &'a str,
    /// The subscriber's own one-click unsubscribe address (https).
    pub unsubscribe: &'a str,
}

pub fn compose_list(m: &ListMail<'_>, body: &ListBody) -> Result<Vec<u8>, MailError> {
    let from: Mailbox = m
        .from
        .parse()
        .map_err(|e| MailError::Address(format!("sender {:?}: {e}", m.from)))?;
    let to: Mailbox =
        m.to.parse()
            .map_err(|e| MailError::Address(format!("recipient {:?}: {e}", m.to)))?;
    let builder = Message::builder()
        .from(from)
        .to(to)
        .subject(m.subject)
        .message_id(Some(format!("<{}>", m.message_id)))
        .header(ListId(m.list_id.to_string()))
        .header(ListUnsubscribe(format!("<{}>", m.unsubscribe)))
        .header(ListUnsubscribePost("List-Unsubscribe=One-Click".into()))
        .header(Precedence("bulk".into()))
        .header(AutoSubmitted("auto-generated".into()));
    let message = match body.0.clone() {
        Body::Single(p) => builder.singlepart(p),
        Body::Multi(p) => builder.multipart(p),
    }
    .map_err(|e| MailError::Address(e.to_string()))?;
    Ok(message.formatted())
}

/// PGP/MIME signing (RFC 3156) of a body.
fn signed(body: Body, key: &TeamKey) -> Result<Body, MailError> {
    let bytes = body.formatted();
    // The CRLF before the next boundary belongs to the boundary (RFC 3156 §5).
    let signed_part = bytes.strip_suffix(b"\r\n").unwrap_or(&bytes);
    let signature = key.sign_detached(signed_part)?;
    let sig_part = SinglePart::builder()
        .header(content_type(
            "application/pgp-signature; name=\"signature.asc\"",
        )?)
        .header(ContentDisposition::attachment("signature.asc"))
        .body(signature);
    let signed = MultiPart::signed(
        "application/pgp-signature".to_string(),
        "pgp-sha256".to_string(),
    );
    let signed = match body {
        Body::Single(p) => signed.singlepart(p),
        Body::Multi(p) => signed.multipart(p),
    };
    Ok(Body::Multi(signed.singlepart(sig_part)))
}

impl Body {
    fn formatted(&self) -> Vec<u8> {
        match self {
            Body::Single(p) => p.formatted(),
            Body::Multi(p) => p.formatted(),
        }
    }
}

fn content_type(s: &str) -> Result<ContentType, MailError> {
    ContentType::parse(s).map_err(|e| MailError::Address(format!("content type {s:?}: {e}")))
}

/// The message as it goes on the wire (CRLF line ends).
pub fn compose(d: &Draft<'_>) -> Result<Vec<u8>, MailError> {
    let from: Mailbox = d
        .from
        .parse()
        .map_err(|e| MailError::Address(format!("sender {:?}: {e}", d.from)))?;
    let to: Mailboxes =
        d.to.parse()
            .map_err(|e| MailError::Address(format!("recipient {:?}: {e}", d.to)))?;
    let cc: Option<Mailboxes> = if d.cc.trim().is_empty() {
        None
    } else {
        Some(
            d.cc.parse()
                .map_err(|e| MailError::Address(format!("copy {:?}: {e}", d.cc)))?,
        )
    };
    let text = SinglePart::builder()
        .header(ContentType::TEXT_PLAIN)
        .body(d.text.to_string());
    let mut body = if d.attachments.is_empty() {
        Body::Single(text)
    } else {
        let mut mixed = MultiPart::mixed().singlepart(text);
        for a in d.attachments {
            mixed = mixed.singlepart(
                SinglePart::builder()
                    .header(content_type(&a.content_type)?)
                    .header(ContentDisposition::attachment(&a.filename))
                    // Base64 whatever the type: the bytes arrive exactly as made, in
                    // short CRLF lines (a CSV's bare line feeds would otherwise make
                    // one line of the whole file, which SMTP servers refuse).
                    .body(
                        lettre::message::Body::new_with_encoding(
                            a.data.clone(),
                            lettre::message::header::ContentTransferEncoding::Base64,
                        )
                        .map_err(|_| {
                            MailError::Address(format!(
                                "attachment {:?} cannot be encoded",
                                a.filename
                            ))
                        })?,
                    ),
            );
        }
        Body::Multi(mixed)
    };
    if let Some(key) = d.sign {
        body = signed(body, key)?;
    }
    if !d.encrypt_to.is_empty() {
        let keys = d
            .encrypt_to
            .iter()
            .map(|k| pgp::parse_public_key(k))
            .collect::<Result<Vec<_>, _>>()?;
        let inner = body.formatted();
        let armored = pgp::encrypt_to_all(&keys, &inner)?;
        body = Body::Multi(
            MultiPart::encrypted("application/pgp-encrypted".to_string())
                .singlepart(
                    SinglePart::builder()
                        .header(content_type("application/pgp-encrypted")?)
                        .body("Version: 1\r\n".to_string()),
                )
                .singlepart(
                    SinglePart::builder()
                        .header(content_type(
                            "application/octet-stream; name=\"encrypted.asc\"",
                        )?)
                        .header(ContentDisposition::inline_with_name("encrypted.asc"))
                        .body(armored),
                ),
        );
    }
    let mut builder = Message::builder()
        .from(from)
        .mailbox(lettre::message::header::To::from(to));
    if let Some(cc) = cc {
        builder = builder.mailbox(lettre::message::header::Cc::from(cc));
    }
    let mut builder = builder
        .subject(d.subject)
        .message_id(Some(format!("<{}>", d.message_id)));
    if let Some(parent) = d.in_reply_to {
        let parent = if parent.starts_with('<') {
            parent.to_string()
        } else {
            format!("<{parent}>")
        };
        builder = builder.in_reply_to(parent.clone()).references(parent);
    }
    if d.auto_reply {
        builder = builder.header(AutoSubmitted("auto-replied".into()));
    }
    let message = match body {
        Body::Single(p) => builder.singlepart(p),
        Body::Multi(p) => builder.multipart(p),
    }
    .map_err(|e| MailError::Address(e.to_string()))?;
    Ok(message.formatted())
}

#[cfg(test)]
mod long_attachment_tests {
    use super::*;

    #[test]
    fn a_large_attachment_keeps_every_line_within_smtp_limits() {
        let mut csv = String::from("ip,asn\n");
        for i in 0..20_000 {
            csv.push_str(&format!("192.0.2.{},{}\n", i % 250, 64500 + i));
        }
        let attachments = [Attachment {
            filename: "hosts.csv".into(),
            content_type: "text/csv; charset=utf-8".into(),
            data: csv.into_bytes(),
        }];
        let raw = compose(&Draft {
            from: "CSIRT <csirt@example.org>",
            to: "abuse@example.net",
            cc: "",
            subject: "hosts",
            text: "see the attachment",
            attachments: &attachments,
            message_id: "1@example.org",
            in_reply_to: None,
            auto_reply: false,
            sign: None,
            encrypt_to: &[],
        })
        .unwrap();
        // Lines end in CRLF on the wire: SMTP servers read up to CRLF, and a bare LF
        // would make the whole attachment one line.
        let longest = raw.split(|b| *b == b'\n').map(<[u8]>::len).max().unwrap();
        assert!(longest <= 998, "a line of {longest} bytes");
        let bare = raw
            .windows(2)
            .filter(|w| w[1] == b'\n' && w[0] != b'\r')
            .count();
        assert_eq!(bare, 0, "bare line feeds");
    }
}
