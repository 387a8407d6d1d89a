//! Dissemination and reporting, above the pillars: what the public and management
//! read. Alerts (注意喚起) with their review and revision history and the feeds that
//! carry them, and the charts (SVG, drawn with plotters) that observation pages and
//! the quarterly report share, so a graph looks the same on the web and on paper.

pub mod alerts;
pub mod calendar;
pub mod charts;
pub mod lists;
pub mod markdown;
pub mod weekly;

use renkei_core::CoreError;
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
