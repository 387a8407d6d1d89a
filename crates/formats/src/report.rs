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
    /// The mail was sent by a machine (Auto-Submitted, Precedence: bulk/junk/list, or
    /// a mailer-daemon): it must never get an automatic answer.
    pub auto_submitted: bool,
    /// Things a coordinator should know about how the input was read (a repaired
    /// charset, a truncated attachment).
    pub warnings: Vec<String>,
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
            auto_submitted: false,
            warnings: Vec::new(),
        }
    }
}
