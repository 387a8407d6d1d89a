//! The one error type of the formats crate: every variant says which format and what
//! is wrong, in words a reporter can act on.

use thiserror::Error;

#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum FormatError {
    /// The input is not a document of this format at all.
    #[error("{format}: {message}")]
    Malformed {
        format: &'static str,
        message: String,
    },
    /// The document parses but breaks the format's rules.
    #[error("{format} does not validate: {}", problems.join("; "))]
    Invalid {
        format: &'static str,
        problems: Vec<String>,
    },
    /// Refused for safety: XML with a DTD or entity declarations.
    #[error("{format}: refused: {message}")]
    Refused {
        format: &'static str,
        message: String,
    },
}

impl FormatError {
    pub fn malformed(format: &'static str, message: impl Into<String>) -> Self {
        FormatError::Malformed {
            format,
            message: message.into(),
        }
    }
}
