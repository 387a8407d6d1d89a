//! Incident reports that arrive as e-mail (RFC 5322 / MIME), parsed with mail-parser.
//!
//! Japanese mail is often mislabeled: Shift_JIS or EUC-JP declared as ISO-8859-1 or
//! US-ASCII, ISO-2022-JP declared as something else. Each text part's raw bytes are
//! checked; when they are clearly in another Japanese encoding than the one declared,
//! the part is read again in that encoding and the report says so.

use std::borrow::Cow;

use base64::Engine as _;
use chrono::{DateTime, Utc};
use encoding_rs::{EUC_JP, Encoding, ISO_2022_JP, SHIFT_JIS, UTF_8};
use mail_parser::{MessageParser, MessagePart, MimeHeaders, PartType};

use crate::error::FormatError;
use crate::machine;
use crate::report::{Attachment, Format, ParsedReport, Party};

const NAME: &str = "mail";

/// Reads bytes as a message with mail-parser; `None` if they are not one. Input
/// can reach a `debug_assert!` in mail-parser 0.11.9 (`parsers/message.rs`, "Invalid
/// part ID"; found by fuzzing): release builds go on safely past it, and so must
/// debug builds, so its panic is taken as "not a message".
pub fn message(bytes: &[u8]) -> Option<mail_parser::Message<'_>> {
    std::panic::catch_unwind(|| MessageParser::default().parse(bytes))
        .ok()
        .flatten()
}

/// Parses one message; attachments larger than `attachment_limit` bytes are kept
/// truncated and flagged.
pub fn parse(bytes: &[u8], attachment_limit: usize) -> Result<ParsedReport, FormatError> {
    // A delivery agent may put mbox's `From sender date` line in front.
    let bytes = crate::mbox::strip_from_line(bytes);
    let looks_like_mail = bytes
        .iter()
        .take(4096)
        .position(|b| *b == b':')
        .is_some_and(|colon| {
            bytes[..colon]
                .iter()
                .all(|b| b.is_ascii_graphic() && *b != b':')
        });
    if !looks_like_mail {
        return Err(FormatError::malformed(
            NAME,
            "the message does not start with a header field (Name: value)",
        ));
    }
    let message =
        message(bytes).ok_or_else(|| FormatError::malformed(NAME, "not an RFC 5322 message"))?;
    let mut report = ParsedReport::new(Format::Mail);
    report.subject = message.subject().map(str::to_string);
    if let Some(from) = message.from().and_then(|a| a.first()) {
        report.reporter = Party {
            name: from.name().map(str::to_string),
            email: from.address().map(|a| a.to_lowercase()),
            org: None,
        };
    }
    report.occurred_at = message
        .date()
        .and_then(|d| DateTime::parse_from_rfc3339(&d.to_rfc3339()).ok())
        .map(|d| d.with_timezone(&Utc));
    report.message_id = message.message_id().map(str::to_string);
    let header = |name: &str| {
        message
            .header_raw(name)
            .map(|v| v.trim().to_ascii_lowercase())
    };
    // The topmost one is the final delivery's.
    report.delivered_to = ["Delivered-To", "X-Original-To"]
        .iter()
        .find_map(|name| first_field(bytes, name))
        .map(|v| v.trim_start_matches('<').trim_end_matches('>').to_string())
        .filter(|v| v.contains('@') && v.len() <= 254 && !v.contains(char::is_whitespace));
    let sender = report.reporter.email.clone().unwrap_or_default();
    report.auto_submitted = header("Auto-Submitted").is_some_and(|v| v != "no")
        || header("Precedence").is_some_and(|v| matches!(v.as_str(), "bulk" | "junk" | "list"))
        || [
            "mailer-daemon@",
            "postmaster@",
            "noreply@",
            "no-reply@",
            "donotreply@",
        ]
        .iter()
        .any(|p| sender.starts_with(p))
        || sender.is_empty();
    let mut replies: Vec<String> = Vec::new();
    for header in [message.in_reply_to(), message.references()] {
        if let Some(list) = header.as_text_list() {
            replies.extend(list.iter().map(|s| s.to_string()));
        } else if let Some(one) = header.as_text() {
            replies.push(one.to_string());
        }
    }
    replies.dedup();
    report.in_reply_to = replies;

    let mut texts = Vec::new();
    let mut evidence = Vec::new();
    for (i, part) in message.text_bodies().enumerate() {
        let declared = charset(part);
        let text = match repaired(bytes, part, declared.as_deref()) {
            Some((text, used)) => {
                report.warnings.push(format!(
                    "text part {}: declared charset {} but the bytes are {}; read as {}",
                    i + 1,
                    declared.as_deref().unwrap_or("(none)"),
                    used,
                    used
                ));
                text
            }
            None => message
                .body_text(i)
                .map(Cow::into_owned)
                .unwrap_or_default(),
        };
        evidence.push(machine::evidence_of(&text));
        texts.push(text);
    }
    for part in message.attachments() {
        let data = machine::body(part);
        let size = data.len();
        let truncated = size > attachment_limit;
        let kept = if truncated {
            data[..attachment_limit].to_vec()
        } else {
            data.to_vec()
        };
        let content_type = Some(machine::content_type(part))
            .filter(|c| !c.is_empty())
            .unwrap_or_else(|| "application/octet-stream".into());
        let attachment = Attachment {
            filename: part.attachment_name().map(str::to_string),
            content_type,
            data: kept,
            size,
            truncated,
        };
        if truncated {
            report.warnings.push(format!(
                "attachment {} is {size} bytes; only the first {attachment_limit} are kept",
                attachment.filename.as_deref().unwrap_or("(unnamed)")
            ));
        }
        if attachment.content_type == "message/rfc822" {
            texts.push(decode_japanese(&attachment.data).0);
            let body = machine::body_of_message(&attachment.data);
            evidence.push(machine::evidence_of(&decode_japanese(body).0));
        } else if attachment.is_text() {
            let text = decode_japanese(&attachment.data).0;
            evidence.push(machine::evidence_of(&text));
            texts.push(text);
        }
        report.attachments.push(attachment);
    }
    if let Some(s) = &report.subject {
        texts.insert(0, s.clone());
        evidence.insert(0, s.clone());
    }
    report.text = texts.join("\n");
    let evidence = evidence.join("\n");
    if evidence != report.text {
        report.evidence = Some(evidence);
    }
    machine::read(&message, &mut report);
    Ok(report)
}

fn charset(part: &MessagePart<'_>) -> Option<String> {
    part.content_type()
        .and_then(|c| c.attribute("charset"))
        .map(|c| c.to_ascii_lowercase())
}

/// The part's body bytes as they were before transfer encoding was applied.
fn raw_body(raw: &[u8], part: &MessagePart<'_>) -> Option<Vec<u8>> {
    let (start, end) = (part.offset_body as usize, part.offset_end as usize);
    let body = raw.get(start..end.min(raw.len()))?;
    match part.encoding {
        mail_parser::Encoding::Base64 => {
            let compact: Vec<u8> = body
                .iter()
                .copied()
                .filter(|b| !b.is_ascii_whitespace())
                .collect();
            base64::engine::general_purpose::STANDARD
                .decode(compact)
                .ok()
        }
        mail_parser::Encoding::QuotedPrintable => Some(quoted_printable(body)),
        mail_parser::Encoding::None => Some(body.to_vec()),
    }
}

fn quoted_printable(body: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(body.len());
    let mut i = 0;
    while i < body.len() {
        match body[i] {
            b'=' if body.get(i + 1) == Some(&b'\r') && body.get(i + 2) == Some(&b'\n') => i += 3,
            b'=' if body.get(i + 1) == Some(&b'\n') => i += 2,
            b'=' => {
                let hex = body
                    .get(i + 1..i + 3)
                    .and_then(|h| std::str::from_utf8(h).ok())
                    .and_then(|h| u8::from_str_radix(h, 16).ok());
                match hex {
                    Some(b) => {
                        out.push(b);
                        i += 3;
                    }
                    None => {
                        out.push(b'=');
                        i += 1;
                    }
                }
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    out
}

fn is_japanese_label(label: &str) -> Option<&'static Encoding> {
    match label {
        "iso-2022-jp" | "csiso2022jp" => Some(ISO_2022_JP),
        "shift_jis" | "shift-jis" | "sjis" | "cp932" | "windows-31j" | "x-sjis" => Some(SHIFT_JIS),
        "euc-jp" | "x-euc-jp" | "eucjp" => Some(EUC_JP),
        "utf-8" | "utf8" => Some(UTF_8),
        _ => None,
    }
}

/// Reads the part again when its bytes are plainly in another encoding than declared.
fn repaired(
    raw: &[u8],
    part: &MessagePart<'_>,
    declared: Option<&str>,
) -> Option<(String, &'static str)> {
    if !matches!(part.body, PartType::Text(_) | PartType::Html(_)) {
        return None;
    }
    let body = raw_body(raw, part)?;
    let (text, detected) = decode_japanese(&body);
    let detected = detected?;
    let declared_encoding = declared.and_then(is_japanese_label);
    if declared_encoding == Some(detected) {
        return None;
    }
    // Undeclared 8-bit UTF-8 is what most software sends today; reading it as such
    // is no repair worth a warning.
    if declared.is_none() && detected == UTF_8 {
        return None;
    }
    let text = if matches!(part.body, PartType::Html(_)) {
        strip_tags(&text)
    } else {
        text
    };
    Some((text, detected.name()))
}

/// Decodes bytes that may be in any of the Japanese encodings; returns the encoding
/// it found when the bytes were not plain ASCII.
pub fn decode_japanese(bytes: &[u8]) -> (String, Option<&'static Encoding>) {
    if bytes.is_ascii() && !bytes.windows(2).any(|w| w == b"\x1b$" || w == b"\x1b(") {
        return (String::from_utf8_lossy(bytes).into_owned(), None);
    }
    if bytes
        .windows(3)
        .any(|w| w == b"\x1b$B" || w == b"\x1b$@" || w == b"\x1b(J")
    {
        let (t, _, _) = ISO_2022_JP.decode(bytes);
        return (t.into_owned(), Some(ISO_2022_JP));
    }
    if let Ok(s) = std::str::from_utf8(bytes) {
        return (s.to_string(), Some(UTF_8));
    }
    let sjis = SHIFT_JIS.decode_without_bom_handling_and_without_replacement(bytes);
    let euc = EUC_JP.decode_without_bom_handling_and_without_replacement(bytes);
    let score = |s: &str| {
        s.chars()
            .filter(|c| matches!(*c as u32, 0x3040..=0x30FF | 0x4E00..=0x9FFF))
            .count()
    };
    match (sjis, euc) {
        (Some(s), Some(e)) => {
            if score(&e) > score(&s) {
                (e.into_owned(), Some(EUC_JP))
            } else {
                (s.into_owned(), Some(SHIFT_JIS))
            }
        }
        (Some(s), None) => (s.into_owned(), Some(SHIFT_JIS)),
        (None, Some(e)) => (e.into_owned(), Some(EUC_JP)),
        (None, None) => {
            let (t, _, _) = SHIFT_JIS.decode(bytes);
            (t.into_owned(), Some(SHIFT_JIS))
        }
    }
}

fn strip_tags(html: &str) -> String {
    let mut out = String::with_capacity(html.len());
    let mut in_tag = false;
    for c in html.chars() {
        match c {
            '<' => in_tag = true,
            '>' if in_tag => {
                in_tag = false;
                out.push(' ');
            }
            c if !in_tag => out.push(c),
            _ => {}
        }
    }
    out
}

/// The first (topmost) field of a name in the header, lower-cased: the parser keeps
/// the last of repeated fields, and MTAs add theirs on top.
fn first_field(bytes: &[u8], name: &str) -> Option<String> {
    for line in bytes.split(|b| *b == b'\n') {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if line.is_empty() {
            return None;
        }
        if line.len() > name.len()
            && line[name.len()] == b':'
            && line[..name.len()].eq_ignore_ascii_case(name.as_bytes())
        {
            return std::str::from_utf8(&line[name.len() + 1..])
                .ok()
                .map(|v| v.trim().to_ascii_lowercase());
        }
    }
    None
}
