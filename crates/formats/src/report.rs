//! What every intake format is turned into before the incident pillar sees it.

use std::net::IpAddr;

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::extract::Proto;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    /// Renkei's own web form and JSON API fields.
    Form,
    Mail,
    Iodef1,
    Iodef2,
    Xarf,
}

impl Format {
    pub fn as_str(self) -> &'static str {
        match self {
            Format::Form => "form",
            Format::Mail => "mail",
            Format::Iodef1 => "iodef-1.0",
            Format::Iodef2 => "iodef-2.0",
            Format::Xarf => "xarf-4",
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Party {
    pub name: Option<String>,
    pub email: Option<String>,
    pub org: Option<String>,
}

/// A host a document names as source or target.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Host {
    pub ip: Option<IpAddr>,
    pub name: Option<String>,
    pub ports: Vec<u16>,
    pub proto: Option<Proto>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Attachment {
    pub filename: Option<String>,
    pub content_type: String,
    /// The bytes kept, at most the configured limit.
    #[serde(skip)]
    pub data: Vec<u8>,
    /// The size before any truncation.
    pub size: usize,
    pub truncated: bool,
}

impl Attachment {
    pub fn is_text(&self) -> bool {
        self.content_type.starts_with("text/")
            || self.content_type == "application/json"
            || self.content_type.ends_with("+xml")
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ParsedReport {
    pub format: Format,
    pub reporter: Party,
    pub subject: Option<String>,
    /// All readable text, for indicator extraction and full-text search.
    pub text: String,
    pub occurred_at: Option<DateTime<Utc>>,
    pub sources: Vec<Host>,
    pub targets: Vec<Host>,
    /// The document's own classification, e.g. X-ARF "connection/port_scan" or an
    /// IODEF impact type, used as a strong hint by the classifier.
    pub hint: Option<String>,
    pub external_id: Option<String>,
    pub attachments: Vec<Attachment>,
    pub message_id: Option<String>,
    /// Message-IDs this mail answers, for threading.
    pub in_reply_to: Vec<String>,
    /// The address the mail was delivered to, as the last MTA wrote it
    /// (`Delivered-To`, else `X-Original-To`): a team may run several intake
    /// addresses.
    pub delivered_to: Option<String>,
    /// The mail was sent by a machine (Auto-Submitted, Precedence: bulk/junk/list, or
    /// a mailer-daemon): it must never get an automatic answer.
    pub auto_submitted: bool,
    /// Things a coordinator should know about how the input was read (a repaired
    /// charset, a truncated attachment).
    pub warnings: Vec<String>,
    /// The machine-readable reports found inside (a mail's ARF or X-ARF part, an
    /// attached IODEF document or ACNS notice), by name, e.g. "X-ARF 0.2". When
    /// there are any, `sources` is what they declare, and nothing else is taken
    /// for a source.
    pub read_as: Vec<String>,
    /// The text indicators are read from when it is less than `text`: a mail's
    /// own words without quoted replies, signatures and the headers of attached
    /// messages (`text` keeps everything, for search).
    pub evidence: Option<String>,
}

impl ParsedReport {
    pub fn new(format: Format) -> Self {
        ParsedReport {
            format,
            reporter: Party::default(),
            subject: None,
            text: String::new(),
            occurred_at: None,
            sources: Vec::new(),
            targets: Vec::new(),
            hint: None,
            external_id: None,
            attachments: Vec::new(),
            message_id: None,
            in_reply_to: Vec::new(),
            delivered_to: None,
            auto_submitted: false,
            warnings: Vec::new(),
            read_as: Vec::new(),
            evidence: None,
        }
    }

    /// The text indicators are read from.
    pub fn evidence_text(&self) -> &str {
        self.evidence.as_deref().unwrap_or(&self.text)
    }

    /// The report with every NUL character in its text replaced by U+FFFD.
    ///
    /// A document may carry NUL bytes (a mail body, a log pasted into a form); the raw
    /// bytes are kept as received elsewhere, but what is read from them is text, and
    /// PostgreSQL's text holds no NUL. Every parser's result passes through here, so
    /// no reader has to remember it; a warning says it happened.
    pub fn without_nul(mut self) -> Self {
        let mut found = false;
        let mut fix = |s: &mut String| {
            if s.contains('\0') {
                *s = s.replace('\0', "\u{FFFD}");
                found = true;
            }
        };
        let fix_opt = |s: &mut Option<String>, fix: &mut dyn FnMut(&mut String)| {
            if let Some(s) = s {
                fix(s)
            }
        };
        fix_opt(&mut self.reporter.name, &mut fix);
        fix_opt(&mut self.reporter.email, &mut fix);
        fix_opt(&mut self.reporter.org, &mut fix);
        fix_opt(&mut self.subject, &mut fix);
        fix(&mut self.text);
        fix_opt(&mut self.evidence, &mut fix);
        self.read_as.iter_mut().for_each(&mut fix);
        for h in self.sources.iter_mut().chain(self.targets.iter_mut()) {
            fix_opt(&mut h.name, &mut fix);
        }
        fix_opt(&mut self.hint, &mut fix);
        fix_opt(&mut self.external_id, &mut fix);
        for a in &mut self.attachments {
            fix_opt(&mut a.filename, &mut fix);
            fix(&mut a.content_type);
        }
        fix_opt(&mut self.message_id, &mut fix);
        self.in_reply_to.iter_mut().for_each(&mut fix);
        self.warnings.iter_mut().for_each(&mut fix);
        if found {
            self.warnings
                .push("NUL characters in the text were replaced by U+FFFD".into());
        }
        self
    }
}

#[cfg(test)]
mod nul_tests {
    use super::*;

    #[test]
    fn no_nul_character_is_left_in_any_text_a_report_yields() {
        let mut r = ParsedReport::new(Format::Mail);
        r.subject = Some("scan\0 report".into());
        r.text = "from 192.0.2.1\0".into();
        r.reporter.name = Some("\0".into());
        r.in_reply_to = vec!["<a\0@b>".into()];
        r.sources.push(Host {
            name: Some("host\0.example".into()),
            ..Host::default()
        });
        let r = r.without_nul();
        let all = format!("{r:?}");
        assert!(!all.contains("\\0"), "{all}");
        assert_eq!(r.subject.as_deref(), Some("scan\u{FFFD} report"));
        assert!(r.warnings.iter().any(|w| w.contains("NUL")));
    }
}
