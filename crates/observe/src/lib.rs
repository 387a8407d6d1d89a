//! Internet observation, the third pillar (定点観測): sensors on unused addresses
//! count the packets nobody should send them — per time bucket, protocol,
//! destination port and class (scan or backscatter) — and send signed, numbered
//! batches to the collector, buffering on disk while it is away. The collector keeps
//! per-sensor and collector-wide daily counts with distinct-source sketches, divides
//! by the sensors that reported, ranks ports for any period and notes what is new,
//! what surged and what calmed.
//!
//! The same [`aggregate::Aggregator`] counts for the sensor and for
//! `renkei observe aggregate`, so offline analysis and the live system agree.
//!
//! # Layout
//! - The sensor's side: `sensor` (the command), `aggregate` (counting), `batch`
//!   (what is sent), `sketch` and `top` (distinct and heaviest sources in fixed
//!   space), `synth` (made-up traffic for tests and demos).
//! - The collector's side: `collector` (registry, intake, roll-up), `stats` (what
//!   people read), `trends` (new, surging and calming ports), `outage` (sensors
//!   gone silent, on the dashboard and by mail), `sources` (the heaviest sources
//!   by address, for an address's page).

pub mod aggregate;
pub mod batch;
pub mod collector;
pub mod outage;
pub mod sensor;
pub mod sketch;
pub mod sources;
pub mod stats;
pub mod synth;
pub mod top;
pub mod trends;

use renkei_core::CoreError;
use renkei_core::config::{Config, ObserveConfig, utc_offset_seconds};
use renkei_core::{Classify, Kind};
use thiserror::Error;

pub use renkei_formats::packet::{Class, Probe, Proto};

#[derive(Debug, Error)]
pub enum ObserveError {
    #[error("{field}: {message}")]
    Invalid {
        field: &'static str,
        message: String,
    },
    #[error("{0} not found")]
    NotFound(&'static str),
    /// The batch was already counted (a resend after a lost answer, or a replay).
    #[error("batch {seq} of sensor {sensor} was already received")]
    Duplicate { sensor: String, seq: i64 },
    /// A batch whose signature does not verify with the sensor's registered key.
    #[error("the batch signature does not verify with the sensor's key")]
    BadSignature,
    #[error("{0}")]
    Conflict(String),
    /// The collector could not be reached or refused for a reason worth retrying.
    #[error("collector: {0}")]
    Unreachable(String),
    #[error("spool: {0}")]
    Spool(String),
    #[error(transparent)]
    Core(#[from] CoreError),
    #[error(transparent)]
    Mail(#[from] renkei_mail::MailError),
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),
}

impl ObserveError {
    pub fn invalid(field: &'static str, message: impl Into<String>) -> Self {
        ObserveError::Invalid {
            field,
            message: message.into(),
        }
    }

    pub(crate) fn from_insert(err: sqlx::Error, what: &str) -> Self {
        if let sqlx::Error::Database(db) = &err
            && db.is_unique_violation()
        {
            return ObserveError::Conflict(format!("{what} already exists"));
        }
        ObserveError::Database(err)
    }
}

pub type Result<T, E = ObserveError> = std::result::Result<T, E>;

/// What the pillar needs from the configuration, read once at start.
#[derive(Clone, Debug)]
pub struct Settings {
    pub observe: ObserveConfig,
    /// Seconds east of UTC that observation days are counted in.
    pub offset: i64,
}

impl Settings {
    pub fn from_config(config: &Config) -> Settings {
        Settings {
            observe: config.observe.clone(),
            offset: utc_offset_seconds(&config.observe.utc_offset).unwrap_or(0),
        }
    }

    /// The observation day (`YYYY-MM-DD`) holding the moment `ts`.
    pub fn day_of(&self, ts: i64) -> String {
        day_string((ts + self.offset).div_euclid(86_400))
    }
}

/// Days since 1970-01-01 as `YYYY-MM-DD`.
pub fn day_string(days: i64) -> String {
    chrono::NaiveDate::from_num_days_from_ce_opt((days + 719_163) as i32)
        .map(|d| d.format("%Y-%m-%d").to_string())
        .unwrap_or_else(|| "1970-01-01".into())
}

/// `YYYY-MM-DD` as days since 1970-01-01.
pub fn day_number(day: &str) -> Option<i64> {
    let d = chrono::NaiveDate::parse_from_str(day.trim(), "%Y-%m-%d").ok()?;
    Some(i64::from(chrono::Datelike::num_days_from_ce(&d)) - 719_163)
}

impl Classify for ObserveError {
    fn kind(&self) -> Kind {
        match self {
            ObserveError::Invalid { .. } => Kind::Invalid,
            ObserveError::NotFound(_) => Kind::NotFound,
            ObserveError::Duplicate { .. } | ObserveError::Conflict(_) => Kind::Conflict,
            ObserveError::BadSignature => Kind::Forbidden,
            ObserveError::Core(e) => e.kind(),
            ObserveError::Unreachable(_)
            | ObserveError::Spool(_)
            | ObserveError::Database(_)
            | ObserveError::Mail(_) => Kind::Internal,
        }
    }

    fn code(&self) -> &'static str {
        match self {
            ObserveError::Duplicate { .. } => "duplicate_batch",
            ObserveError::BadSignature => "bad_signature",
            ObserveError::Core(e) => e.code(),
            _ => self.kind().code(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn days_read_back_and_follow_the_configured_zone() {
        assert_eq!(day_string(0), "1970-01-01");
        assert_eq!(
            day_number("2007-10-01").map(day_string).as_deref(),
            Some("2007-10-01")
        );
        let mut c = Config::default();
        c.observe.utc_offset = "+09:00".into();
        let s = Settings::from_config(&c);
        // 2007-09-30T15:00:00Z is midnight in Tokyo.
        assert_eq!(s.day_of(1_191_164_400), "2007-10-01");
        assert_eq!(s.day_of(1_191_164_399), "2007-09-30");
    }
}
