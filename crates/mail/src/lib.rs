//! Mail in and out for the coordination center: the built-in SMTP intake listener
//! (for sites without an MTA in front; with one, let it pipe into `renkei mailgate`),
//! and the outbox with the worker that sends through the configured relay.

pub mod outbox;
pub mod smtp;

pub use outbox::{MailError, NewMail, OutboxWorker, enqueue};
pub use smtp::{Envelope, Rejected, Sink, SmtpConfig, SmtpServer};
