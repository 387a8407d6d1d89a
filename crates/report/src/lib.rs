//! Activity reporting (活動概要): the quarterly report a coordination center puts
//! out, drawn from every pillar's own data with no hand counting. It covers what was
//! published, the incident reports and notifications, what the sensors saw, and
//! vulnerability coordination, plus the topics the coordinators write. The same
//! report comes out as an HTML page, as a PDF typeset by typst (with a Japanese font
//! bundled, so it prints the same everywhere), and as one SVG file per chart.
//!
//! # Layout
//! - `quarterly`: the report's content, its topics, its explanations, its layout
//!   as blocks and its HTML.
//! - `charts`: the observation charts it shares with the pages.
//! - `pdf`: the same blocks typeset with typst (cover, contents, tables, figures).
//! - `publication`: a quarter's report published, frozen, with its revisions.
//! - `documents`: everything the team has published, as a list and an Atom feed.
//! - here: [`Quarter`] and the crate's error.

pub mod charts;
pub mod documents;
pub mod pdf;
pub mod publication;
pub mod quarterly;

use chrono::{Datelike, NaiveDate};
use renkei_core::i18n::catalog;
use renkei_core::lang::Lang;
use renkei_core::{Classify, Kind};
use serde::Serialize;
use thiserror::Error;

#[derive(Debug, Error)]
pub enum ReportError {
    /// The caller's input is wrong; the message says how.
    #[error("{field}: {message}")]
    Invalid {
        field: &'static str,
        message: String,
    },
    #[error("{0}")]
    Forbidden(String),
    /// Typesetting failed: the generated document did not compile.
    #[error("typesetting: {0}")]
    Typeset(String),
    #[error("template: {0}")]
    Template(#[from] askama::Error),
    #[error(transparent)]
    Core(#[from] renkei_core::CoreError),
    #[error(transparent)]
    Incident(#[from] renkei_incident::IncidentError),
    #[error(transparent)]
    Vuln(#[from] renkei_vuln::VulnError),
    #[error(transparent)]
    Observe(#[from] renkei_observe::ObserveError),
    #[error(transparent)]
    Publish(#[from] renkei_publish::PublishError),
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),
}

impl ReportError {
    pub fn invalid(field: &'static str, message: impl Into<String>) -> Self {
        ReportError::Invalid {
            field,
            message: message.into(),
        }
    }
}

pub type Result<T> = std::result::Result<T, ReportError>;

/// A calendar quarter, `2007Q4`: October to December 2007.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub struct Quarter {
    pub year: i32,
    /// 1 to 4.
    pub quarter: u32,
}

impl Quarter {
    pub fn new(year: i32, quarter: u32) -> Result<Quarter> {
        if !(1..=4).contains(&quarter) {
            return Err(ReportError::invalid("quarter", "a quarter is 1, 2, 3 or 4"));
        }
        if !(1970..=9998).contains(&year) {
            return Err(ReportError::invalid(
                "year",
                format!("{year} is not a year we report on"),
            ));
        }
        Ok(Quarter { year, quarter })
    }

    /// Reads `2007Q4`, `2007-Q4` or `2007q4`.
    pub fn parse(s: &str) -> Result<Quarter> {
        let bad = || ReportError::invalid("quarter", format!("{s:?} is not a quarter like 2007Q4"));
        let upper = s.trim().to_ascii_uppercase();
        let (year, q) = upper.split_once('Q').ok_or_else(bad)?;
        let year = year.trim_end_matches('-');
        if year.len() != 4 || q.len() != 1 {
            return Err(bad());
        }
        Quarter::new(
            year.parse().map_err(|_| bad())?,
            q.parse().map_err(|_| bad())?,
        )
    }

    /// The quarter a day falls in.
    pub fn of(day: NaiveDate) -> Quarter {
        Quarter {
            year: day.year(),
            quarter: day.month0() / 3 + 1,
        }
    }

    /// The last quarter that has ended by `today`.
    pub fn last_complete(today: NaiveDate) -> Quarter {
        Quarter::of(today).previous()
    }

    pub fn previous(self) -> Quarter {
        match self.quarter {
            1 => Quarter {
                year: self.year - 1,
                quarter: 4,
            },
            q => Quarter {
                year: self.year,
                quarter: q - 1,
            },
        }
    }

    pub fn first_day(self) -> NaiveDate {
        NaiveDate::from_ymd_opt(self.year, (self.quarter - 1) * 3 + 1, 1).expect("a valid quarter")
    }

    /// The first day after the quarter.
    pub fn end(self) -> NaiveDate {
        match self.quarter {
            4 => NaiveDate::from_ymd_opt(self.year + 1, 1, 1),
            q => NaiveDate::from_ymd_opt(self.year, q * 3 + 1, 1),
        }
        .expect("a valid quarter")
    }

    pub fn last_day(self) -> NaiveDate {
        self.end().pred_opt().expect("a day before")
    }

    /// The three months, `2007-10`.
    pub fn months(self) -> Vec<String> {
        (0..3)
            .map(|i| format!("{}-{:02}", self.year, (self.quarter - 1) * 3 + 1 + i))
            .collect()
    }

    /// `[from, to)` as the store's timestamps.
    pub fn bounds(self) -> (String, String) {
        (
            format!("{}T00:00:00.000000Z", self.first_day()),
            format!("{}T00:00:00.000000Z", self.end()),
        )
    }

    /// The period in words: `2007 年 10 月 1 日～2007 年 12 月 31 日` (a full-width
    /// wave dash, as Japanese typesetting has it; ASCII `~` sits high in the font).
    pub fn span(self, lang: Lang) -> String {
        let (a, b) = (self.first_day(), self.last_day());
        let words = catalog(lang);
        let month = |d: NaiveDate| {
            words
                .lookup(&format!("month.m{}", d.month()))
                .unwrap_or_default()
        };
        words.fill(
            "quarterly.span",
            &[
                ("from_year", &a.year()),
                ("from_month", &month(a)),
                ("from_day", &a.day()),
                ("to_year", &b.year()),
                ("to_month", &month(b)),
                ("to_day", &b.day()),
            ],
        )
    }
}

impl std::fmt::Display for Quarter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}Q{}", self.year, self.quarter)
    }
}

impl Classify for ReportError {
    fn kind(&self) -> Kind {
        match self {
            ReportError::Invalid { .. } => Kind::Invalid,
            ReportError::Forbidden(_) => Kind::Forbidden,
            ReportError::Core(e) => e.kind(),
            ReportError::Incident(e) => e.kind(),
            ReportError::Vuln(e) => e.kind(),
            ReportError::Observe(e) => e.kind(),
            ReportError::Publish(e) => e.kind(),
            ReportError::Typeset(_) | ReportError::Template(_) | ReportError::Database(_) => {
                Kind::Internal
            }
        }
    }

    fn code(&self) -> &'static str {
        match self {
            ReportError::Core(e) => e.code(),
            ReportError::Incident(e) => e.code(),
            ReportError::Vuln(e) => e.code(),
            ReportError::Observe(e) => e.code(),
            ReportError::Publish(e) => e.code(),
            _ => self.kind().code(),
        }
    }

    fn message(&self) -> String {
        match self {
            ReportError::Vuln(e) => e.message(),
            ReportError::Publish(e) => e.message(),
            _ => self.to_string(),
        }
    }

    fn details(&self) -> Vec<String> {
        match self {
            ReportError::Vuln(e) => e.details(),
            ReportError::Publish(e) => e.details(),
            _ => Vec::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quarters_parse_and_know_their_days() {
        let q = Quarter::parse("2007Q4").unwrap();
        assert_eq!(q, Quarter::parse(" 2007-q4 ").unwrap());
        assert_eq!(q.to_string(), "2007Q4");
        assert_eq!(q.first_day().to_string(), "2007-10-01");
        assert_eq!(q.last_day().to_string(), "2007-12-31");
        assert_eq!(q.months(), ["2007-10", "2007-11", "2007-12"]);
        assert_eq!(q.span(Lang::Ja), "2007 年 10 月 1 日～2007 年 12 月 31 日");
        assert_eq!(q.span(Lang::En), "1 October 2007 – 31 December 2007");
        assert_eq!(Quarter::parse("2008Q1").unwrap().previous(), q);
        assert_eq!(
            Quarter::last_complete(NaiveDate::from_ymd_opt(2008, 1, 15).unwrap()),
            q
        );
        for bad in ["2007Q5", "2007Q0", "07Q4", "2007", "Q4", "2007Q44", ""] {
            assert!(Quarter::parse(bad).is_err(), "{bad}");
        }
    }
}
