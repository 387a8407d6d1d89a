//! Vulnerability coordination, the second pillar: the registry of product developers
//! (vendors) filled through the registration steps; confidential cases that only
//! coordinators and the vendors added to them can read; each vendor's progress and
//! per-product status; one publication date agreed across vendors; and the public
//! vulnerability note, in Japanese and English, with CSAF 2.0, CVE JSON 5, JVNRSS and
//! Atom renderings. Who may see a case is decided by [`renkei_core::access::CaseView`].
//!
//! # Layout
//! - `model`: the pillar's words as types.
//! - `vendors`: the product-developer registry.
//! - `registration`: what each registration step keeps and needs; accounts and
//!   welcome mail for a registered vendor's contacts.
//! - `cases`: confidential cases (types, the access gate, intake, edits,
//!   participants, acknowledgement, dates, threads, files, the finder's page).
//! - `notes`: vulnerability notes and their CSAF, CVE JSON 5, JVNRSS and Atom forms.
//! - `stats`: coordination statistics.

pub mod cases;
pub mod model;
pub mod notes;
pub mod registration;
pub mod stats;
pub mod vendors;

use renkei_core::CoreError;
use renkei_core::config::Config;
use renkei_core::{Classify, Kind};
use renkei_mail::TeamKey;
use thiserror::Error;

pub use model::{CaseId, ProductStatus, Series, Stage, VendorState};

#[derive(Debug, Error)]
pub enum VulnError {
    #[error("{field}: {message}")]
    Invalid {
        field: &'static str,
        message: String,
    },
    /// A document that does not validate, with each problem by JSON path.
    #[error("{format} does not validate: {}", problems.join("; "))]
    Document {
        format: &'static str,
        problems: Vec<String>,
    },
    /// Also what a caller who may not see a case is told, so that its existence is
    /// never revealed.
    #[error("{0} not found")]
    NotFound(&'static str),
    /// A vendor on the case that has not acknowledged it reads the summary only.
    #[error("acknowledge the case first: its details open once you have")]
    NotAcknowledged,
    #[error("{0}")]
    Conflict(String),
    #[error(transparent)]
    Core(#[from] CoreError),
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),
}

impl From<renkei_mail::MailError> for VulnError {
    fn from(e: renkei_mail::MailError) -> Self {
        match e {
            renkei_mail::MailError::Database(e) => VulnError::Database(e),
            renkei_mail::MailError::Core(e) => VulnError::Core(e),
            other => VulnError::invalid("mail", other.to_string()),
        }
    }
}

impl From<renkei_formats::FormatError> for VulnError {
    fn from(e: renkei_formats::FormatError) -> Self {
        match e {
            renkei_formats::FormatError::Invalid { format, problems } => {
                VulnError::Document { format, problems }
            }
            other => VulnError::invalid("document", other.to_string()),
        }
    }
}

impl VulnError {
    pub fn invalid(field: &'static str, message: impl Into<String>) -> Self {
        VulnError::Invalid {
            field,
            message: message.into(),
        }
    }

    /// Unique-constraint violations are the user's conflict, whatever the dialect.
    pub(crate) fn from_insert(err: sqlx::Error, what: &str) -> Self {
        if let sqlx::Error::Database(db) = &err
            && db.is_unique_violation()
        {
            return VulnError::Conflict(format!("{what} already exists"));
        }
        VulnError::Database(err)
    }
}

pub type Result<T, E = VulnError> = std::result::Result<T, E>;

/// What the pillar needs from the configuration, read once at start.
#[derive(Clone)]
pub struct Settings {
    pub vuln: renkei_core::config::VulnConfig,
    /// Where people reach the server, for links in notes, mails and feeds.
    pub public_url: String,
    /// The sender of vendor notifications; empty: no mail is queued.
    pub from: String,
    pub team_key: Option<TeamKey>,
}

impl Settings {
    pub fn from_config(config: &Config, team_key: Option<TeamKey>) -> Settings {
        Settings {
            vuln: config.vuln.clone(),
            public_url: config
                .server
                .public_url
                .clone()
                .unwrap_or_else(|| format!("http://{}", config.server.listen))
                .trim_end_matches('/')
                .to_string(),
            from: config.mail.from.clone(),
            team_key,
        }
    }

    pub fn prefix(&self, series: Series) -> &str {
        match series {
            Series::Domestic => &self.vuln.series_domestic,
            Series::Overseas => &self.vuln.series_overseas,
            Series::Technical => &self.vuln.series_technical,
        }
    }

    /// The public address of a note.
    pub fn note_url(&self, note_key: &str) -> String {
        format!("{}/notes/{}", self.public_url, encode_key(note_key))
    }
}

/// Note keys carry `#`, which must be escaped in a URL path.
pub fn encode_key(key: &str) -> String {
    key.replace('%', "%25").replace('#', "%23")
}

impl Classify for VulnError {
    fn kind(&self) -> Kind {
        match self {
            VulnError::Invalid { .. } | VulnError::Document { .. } => Kind::Invalid,
            VulnError::NotFound(_) => Kind::NotFound,
            VulnError::NotAcknowledged => Kind::Forbidden,
            VulnError::Conflict(_) => Kind::Conflict,
            VulnError::Core(e) => e.kind(),
            VulnError::Database(_) => Kind::Internal,
        }
    }

    fn code(&self) -> &'static str {
        match self {
            VulnError::Document { .. } => "invalid_document",
            VulnError::NotAcknowledged => "acknowledgement_required",
            VulnError::Core(e) => e.code(),
            _ => self.kind().code(),
        }
    }

    fn message(&self) -> String {
        match self {
            VulnError::Document { format, problems } => format!(
                "the {format} document does not validate ({} problems)",
                problems.len()
            ),
            _ => self.to_string(),
        }
    }

    fn details(&self) -> Vec<String> {
        match self {
            VulnError::Document { problems, .. } => problems.clone(),
            _ => Vec::new(),
        }
    }
}
