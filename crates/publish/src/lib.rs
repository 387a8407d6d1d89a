//! Dissemination and reporting, above the pillars: what the public and management
//! read. Alerts (注意喚起) with their review and revision history and the feeds that
//! carry them, the weekly report, mailing lists, early warning to named
//! organizations, and the charts (SVG, drawn with plotters) that observation pages and
//! the quarterly report share, so a graph looks the same on the web and on paper.
//!
//! # Layout
//! - `alerts`: alerts with review and revisions, and their feeds.
//! - `warnings`: early warning to named organizations, with receipts.
//! - `weekly` (with its `calendar`): the weekly report.
//! - `lists`: mailing lists, sends and the sender.
//! - `markdown`, `charts`: what alerts and reports are written and drawn with.

pub mod alerts;
pub mod calendar;
pub mod charts;
pub mod lists;
pub mod markdown;
pub mod warnings;
pub mod weekly;

use renkei_core::CoreError;
use renkei_core::{Classify, Kind};
use thiserror::Error;

#[derive(Debug, Error)]
pub enum PublishError {
    /// The caller's input is wrong; the message says how.
    #[error("{field}: {message}")]
    Invalid {
        field: &'static str,
        message: String,
    },
    #[error("{0} not found")]
    NotFound(&'static str),
    /// The step does not fit where the object is in its workflow.
    #[error("{0}")]
    Conflict(String),
    /// Signed in, but this account may not take this step.
    #[error("{0}")]
    Forbidden(String),
    /// Drawing failed (plotters reports backend errors this way).
    #[error("chart: {0}")]
    Chart(String),
    #[error(transparent)]
    Core(#[from] CoreError),
    #[error(transparent)]
    Vuln(#[from] renkei_vuln::VulnError),
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),
}

impl PublishError {
    pub fn invalid(field: &'static str, message: impl Into<String>) -> Self {
        PublishError::Invalid {
            field,
            message: message.into(),
        }
    }
}

pub type Result<T> = std::result::Result<T, PublishError>;

/// At most `n` characters of `s`, with an ellipsis where it was cut.
pub fn clip(s: &str, n: usize) -> String {
    if s.chars().count() <= n {
        s.to_string()
    } else {
        s.chars().take(n).collect::<String>() + "…"
    }
}

/// The audit actor of a staff member; anyone else may not write `what`.
pub(crate) fn staff(
    user: &renkei_core::access::UserInfo,
    what: &str,
) -> Result<renkei_core::audit::Actor> {
    if !user.role.is_staff() {
        return Err(PublishError::Forbidden(format!(
            "{what} written by the team's staff"
        )));
    }
    Ok(renkei_core::audit::Actor::user(user.id, &user.email))
}

impl Classify for PublishError {
    fn kind(&self) -> Kind {
        match self {
            PublishError::Invalid { .. } => Kind::Invalid,
            PublishError::NotFound(_) => Kind::NotFound,
            PublishError::Conflict(_) => Kind::Conflict,
            PublishError::Forbidden(_) => Kind::Forbidden,
            PublishError::Core(e) => e.kind(),
            PublishError::Vuln(e) => e.kind(),
            PublishError::Chart(_) | PublishError::Database(_) => Kind::Internal,
        }
    }

    fn code(&self) -> &'static str {
        match self {
            PublishError::Core(e) => e.code(),
            PublishError::Vuln(e) => e.code(),
            _ => self.kind().code(),
        }
    }

    fn message(&self) -> String {
        match self {
            PublishError::Vuln(e) => e.message(),
            _ => self.to_string(),
        }
    }

    fn details(&self) -> Vec<String> {
        match self {
            PublishError::Vuln(e) => e.details(),
            _ => Vec::new(),
        }
    }
}
