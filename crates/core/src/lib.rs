//! Renkei's shared foundation: the things every pillar needs and no pillar owns.
//!
//! Configuration, the [`store::Store`] over SQLite or PostgreSQL with its embedded
//! migrations, accounts and roles, organizations and their contacts, the hash-chained
//! audit log, the one place where access is decided ([`access`]), and the small domain
//! types (TLP, language, ids) the pillars speak in.
//!
//! # Layout
//! - The store and its time: `store` (pool, dialects, migrations, the writer lock),
//!   `row` (column types for row derives), `time` (the one clock), `jobs` (work
//!   shared among nodes, leases on the database's clock), `nodes` (heartbeats and
//!   rate limits), `settings` (values every node reads from the database),
//!   `snapshot` (backup, restore, and copying a store to another database),
//!   `privacy` (how long personal data is kept, and erasing a person on request).
//! - People and trust: `accounts`, `second_factor`, `secrets`, `access` (the one
//!   place access is decided), `orgs` (the address book), `audit` (the hash-chained
//!   log).
//! - Words: `tlp`, `lang`, `i18n` (the catalogs every page, mail and report reads).
//! - `config` (file, environment, flags), `error` (the crate's error and
//!   [`Classify`], how every crate's errors are answered), `counts` (headline
//!   numbers).

pub mod access;
pub mod accounts;
pub mod audit;
pub mod config;
pub mod counts;
pub mod error;
pub mod i18n;
pub mod jobs;
pub mod lang;
pub mod nodes;
pub mod orgs;
pub mod privacy;
pub mod row;
pub mod second_factor;
pub mod secrets;
pub mod settings;
pub mod snapshot;
pub mod store;
pub mod time;
pub mod tlp;

pub use error::{Classify, CoreError, Kind, Result};
pub use store::Store;
