//! Mail in and out for the coordination center: the built-in SMTP intake listener
//! (for sites without an MTA in front; with one, let it pipe into `renkei mailgate`),
//! the outbox with the worker that sends through the configured relay, and OpenPGP
//! (PGP/MIME signing and encryption) for what goes out, and signed audit checkpoints.

pub mod checkpoint;
pub mod compose;
pub mod outbox;
pub mod pgp;
pub mod smtp;

pub use compose::Attachment;
pub use outbox::{MailError, NewMail, OutboxWorker, RelayClient, enqueue};
pub use pgp::TeamKey;
pub use smtp::{Envelope, Rejected, Sink, SmtpConfig, SmtpServer};
