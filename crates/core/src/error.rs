//! The one error type of the core crate.
//!
//! User errors (bad input, missing objects, conflicts, refused access) are kept apart
//! from internal ones so that the HTTP boundary can show the former verbatim and hide
//! the latter behind a generic message.

use thiserror::Error;

pub type Result<T, E = CoreError> = std::result::Result<T, E>;

#[derive(Debug, Error)]
pub enum CoreError {
    /// A value supplied by a user failed validation; `field` names it.
    #[error("{field}: {message}")]
    Invalid {
        field: &'static str,
        message: String,
    },
    #[error("{0} not found")]
    NotFound(&'static str),
    #[error("{0}")]
    Conflict(String),
    #[error("authentication required")]
    Unauthenticated,
    #[error("not allowed")]
    Forbidden,

    #[error("configuration: {0}")]
    Config(String),
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),
    #[error("migration: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("i/o: {0}")]
    Io(#[from] std::io::Error),
    #[error("internal: {0}")]
    Internal(String),
}

impl CoreError {
    pub fn invalid(field: &'static str, message: impl Into<String>) -> Self {
        CoreError::Invalid {
            field,
            message: message.into(),
        }
    }

    /// True for errors caused by what the user sent, whose message may be shown.
    pub fn is_user_error(&self) -> bool {
        matches!(
            self,
            CoreError::Invalid { .. }
                | CoreError::NotFound(_)
                | CoreError::Conflict(_)
                | CoreError::Unauthenticated
                | CoreError::Forbidden
        )
    }

    /// A stable machine-readable code for API clients.
    pub fn code(&self) -> &'static str {
        match self {
            CoreError::Invalid { .. } => "invalid_input",
            CoreError::NotFound(_) => "not_found",
            CoreError::Conflict(_) => "conflict",
            CoreError::Unauthenticated => "unauthenticated",
            CoreError::Forbidden => "forbidden",
            CoreError::Config(_) => "config",
            _ => "internal",
        }
    }

    /// Unique-constraint violations are user conflicts, whatever the dialect says.
    pub(crate) fn from_insert(err: sqlx::Error, what: &str) -> Self {
        if let sqlx::Error::Database(db) = &err
            && db.is_unique_violation()
        {
            return CoreError::Conflict(format!("{what} already exists"));
        }
        CoreError::Database(err)
    }
}
