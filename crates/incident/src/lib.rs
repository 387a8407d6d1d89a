//! Incident handling, the first pillar: reports come in by web form, API, e-mail and
//! IODEF/X-ARF files; each is stored unchanged before it is read; it is classified
//! with reasons and yields one incident per source address, which coordinators move
//! through their states. Statistics for any period feed the quarterly report.
//!
//! # Layout
//! - `reports`: intake (stored before it is read), reading, threading and the
//!   incidents a report opens.
//! - `classify`: the categories, proposed with reasons.
//! - `incidents`: states, owner, TLP, merging, the coordinator's queue.
//! - `notify`: notifications to the owners of addresses, grouped per recipient.
//! - `correspond`: mail a coordinator writes from a report or incidents, from
//!   templates, through the conversation engine of `renkei-mail`.
//! - `replies`: mail that answers a conversation joins it (tag, references, party).
//! - `status`: the reporter's status page behind the secret link.
//! - `clocks`: what each incident is owed and by when; reminders, escalation.
//! - `takedowns`: sites asked to be taken down, requested → down → verified.
//! - `feeds`: bulk feeds imported in chunks any node may count.
//! - `exercise`: drills, listed apart, never counted, their mail to the sink.
//! - `search`: the queue's query language and the keys that let it use indexes.
//! - `indicators`: everything about one address, AS or domain, for its page.
//! - `stats`: statistics for any period, added up by `summaries` from counts kept
//!   per day and month.
//! - `views`: a coordinator's own saved views of the queue.

pub mod classify;
pub mod clocks;
pub mod correspond;
pub mod exercise;
pub mod feeds;
pub mod incidents;
pub mod indicators;
pub mod notify;
mod replies;
pub mod reports;
pub mod search;
pub mod stats;
pub mod status;
pub mod summaries;
pub mod takedowns;
pub mod views;

use renkei_core::CoreError;
use renkei_core::{Classify, Kind};
use thiserror::Error;

pub use classify::{Category, Classification, classify};
pub use reports::{Channel, FormReport, InputFormat, Outcome, Settings};

#[derive(Debug, Error)]
pub enum IncidentError {
    #[error("{field}: {message}")]
    Invalid {
        field: &'static str,
        message: String,
    },
    #[error("{0} not found")]
    NotFound(&'static str),
    #[error(transparent)]
    Core(#[from] CoreError),
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),
}

// Mail and enrichment errors keep their kind: a database failure stays internal, a
// bad address or file is the user's to fix.
impl From<renkei_mail::MailError> for IncidentError {
    fn from(e: renkei_mail::MailError) -> Self {
        match e {
            renkei_mail::MailError::Database(e) => IncidentError::Database(e),
            renkei_mail::MailError::Core(e) => IncidentError::Core(e),
            renkei_mail::MailError::Invalid { field, message } => {
                IncidentError::invalid(field, message)
            }
            other => IncidentError::invalid("mail", other.to_string()),
        }
    }
}

impl From<renkei_enrich::EnrichError> for IncidentError {
    fn from(e: renkei_enrich::EnrichError) -> Self {
        match e {
            renkei_enrich::EnrichError::Database(e) => IncidentError::Database(e),
            renkei_enrich::EnrichError::Core(e) => IncidentError::Core(e),
            other => IncidentError::invalid("enrichment", other.to_string()),
        }
    }
}

impl IncidentError {
    /// Another transaction wrote the same rows first (PostgreSQL's serialization
    /// failure or a key written by both; SQLite busy): the loser's work is rolled back
    /// whole and may be done again later.
    pub fn is_contended(&self) -> bool {
        let code = |e: &sqlx::Error| match e {
            sqlx::Error::Database(d) => d
                .code()
                .is_some_and(|c| matches!(c.as_ref(), "40001" | "40P01" | "23505")),
            _ => false,
        };
        self.is_busy()
            || match self {
                IncidentError::Database(e) => code(e),
                IncidentError::Core(CoreError::Database(e)) => code(e),
                _ => false,
            }
    }

    /// The database was busy or locked by another writer (`renkei serve` on the
    /// same SQLite file, past the busy timeout): trying again later may work.
    pub fn is_busy(&self) -> bool {
        let busy = |e: &sqlx::Error| match e {
            sqlx::Error::Database(d) => {
                let m = d.message().to_ascii_lowercase();
                m.contains("database is locked") || m.contains("database is busy")
            }
            sqlx::Error::PoolTimedOut => true,
            _ => false,
        };
        match self {
            IncidentError::Database(e) => busy(e),
            IncidentError::Core(CoreError::Database(e)) => busy(e),
            _ => false,
        }
    }

    pub fn invalid(field: &'static str, message: impl Into<String>) -> Self {
        IncidentError::Invalid {
            field,
            message: message.into(),
        }
    }
}

pub type Result<T, E = IncidentError> = std::result::Result<T, E>;

impl Classify for IncidentError {
    fn kind(&self) -> Kind {
        match self {
            IncidentError::Invalid { .. } => Kind::Invalid,
            IncidentError::NotFound(_) => Kind::NotFound,
            IncidentError::Core(e) => e.kind(),
            IncidentError::Database(_) => Kind::Internal,
        }
    }

    fn code(&self) -> &'static str {
        match self {
            IncidentError::Core(e) => e.code(),
            _ => self.kind().code(),
        }
    }
}
