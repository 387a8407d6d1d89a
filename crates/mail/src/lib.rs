//! Mail in and out for the coordination center. For now: the built-in SMTP intake
//! listener, for sites without an MTA in front (with one, let it pipe into
//! `renkei mailgate` instead).

pub mod smtp;

pub use smtp::{Envelope, Rejected, Sink, SmtpConfig, SmtpServer};
