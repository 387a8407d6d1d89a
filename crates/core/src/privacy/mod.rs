//! Personal data over its lifetime: how long each kind is kept ([`retention`]) and
//! removing one person on request ([`erasure`]), under Japan's APPI and the GDPR.
//!
//! Both work on tables every pillar owns, as the backup does: what the team keeps
//! about people is listed here, in one place a data-protection officer can read,
//! rather than spread over the pillars. Neither touches what the statistics count
//! (incidents, daily counts, a reporter's domain), published documents, or the
//! audit log, whose entries are hash-chained and never rewritten: an erasure is
//! itself audited, by what it changed and where, never by whom it was about.
//!
//! # Layout
//! - [`retention`]: the kinds of data and their ages ([`crate::config::RetentionConfig`]),
//!   the daily job ([`retention::run`], [`retention::due`]) and its record of
//!   runs for the operations page ([`retention::runs`]).
//! - [`erasure`]: every place an address or a name is kept ([`erasure::PLACES`]),
//!   finding them ([`erasure::find`], the dry run) and pseudonymising them
//!   ([`erasure::erase`]).

pub mod erasure;
pub mod retention;
