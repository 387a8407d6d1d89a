//! Mail in and out for the coordination center: the conversations every pillar holds
//! with reporters, sites, partners and vendors, the built-in SMTP intake listener
//! (for sites without an MTA in front; with one, let it pipe into `renkei mailgate`),
//! the outbox with the worker that sends through the configured relay, and OpenPGP
//! (PGP/MIME signing and encryption) for what goes out, and signed audit checkpoints.
//!
//! # Layout
//! - `conversations`: threads of messages in and out, owned by a report, an
//!   incident, a case…; routing of what comes in; templates; PGP/MIME opened.
//! - `smtp`: the intake listener.
//! - `compose`: a message built whole, with its OpenPGP layers (`pgp`).
//! - `outbox`: mail written with the change that caused it, and the worker that
//!   sends it.
//! - `checkpoint`: signed audit checkpoints, kept outside the database.

pub mod checkpoint;
pub mod compose;
pub mod conversations;
pub mod outbox;
pub mod pgp;
pub mod smtp;

pub use compose::Attachment;
pub use outbox::{Enqueued, MailError, NewMail, OutboxWorker, RelayClient, enqueue, enqueue_many};
pub use pgp::TeamKey;
pub use smtp::{Envelope, Rejected, Sink, SmtpConfig, SmtpServer};
