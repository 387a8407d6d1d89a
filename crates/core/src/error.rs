//! The one error type of the core crate, and [`Classify`]: how every library
//! crate's error tells what kind of failure it is.
//!
//! User errors (bad input, missing objects, conflicts, refused access) are kept apart
//! from internal ones so that the HTTP boundary can show the former verbatim and hide
//! the latter behind a generic message, and the command line can exit with 2 for
//! them. Each crate's error enum implements [`Classify`] once, in its own crate; the
//! web's error boundary and the command line read only the trait.

use thiserror::Error;

pub type Result<T, E = CoreError> = std::result::Result<T, E>;

/// What kind of failure an error is, whoever reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// What the caller sent is wrong; the message says how.
    Invalid,
    NotFound,
    /// The step does not fit the object's state, or the object exists already.
    Conflict,
    Unauthenticated,
    Forbidden,
    /// The installation's configuration is wrong (the operator's error).
    Config,
    /// Ours: logged, and shown only as "internal error".
    Internal,
}

impl Kind {
    /// True for errors caused by what the user sent, whose message may be shown.
    pub fn is_user_error(self) -> bool {
        !matches!(self, Kind::Config | Kind::Internal)
    }

    /// The stable code of an error of this kind with no code of its own.
    pub fn code(self) -> &'static str {
        match self {
            Kind::Invalid => "invalid_input",
            Kind::NotFound => "not_found",
            Kind::Conflict => "conflict",
            Kind::Unauthenticated => "unauthenticated",
            Kind::Forbidden => "forbidden",
            Kind::Config => "config",
            Kind::Internal => "internal",
        }
    }
}

/// Implemented by every library crate's error: its kind, a stable machine-readable
/// code for API clients, and what may be shown of it.
pub trait Classify: std::error::Error + Send + Sync + 'static {
    fn kind(&self) -> Kind;

    fn code(&self) -> &'static str {
        self.kind().code()
    }

    /// The message shown to the caller (for user errors only).
    fn message(&self) -> String {
        self.to_string()
    }

    /// Each problem found, for errors that have several (a document's schema
    /// errors by JSON path).
    fn details(&self) -> Vec<String> {
        Vec::new()
    }
}

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

impl Classify for CoreError {
    fn kind(&self) -> Kind {
        match self {
            CoreError::Invalid { .. } => Kind::Invalid,
            CoreError::NotFound(_) => Kind::NotFound,
            CoreError::Conflict(_) => Kind::Conflict,
            CoreError::Unauthenticated => Kind::Unauthenticated,
            CoreError::Forbidden => Kind::Forbidden,
            CoreError::Config(_) => Kind::Config,
            CoreError::Database(_)
            | CoreError::Migrate(_)
            | CoreError::Io(_)
            | CoreError::Internal(_) => Kind::Internal,
        }
    }
}

impl CoreError {
    pub fn invalid(field: &'static str, message: impl Into<String>) -> Self {
        CoreError::Invalid {
            field,
            message: message.into(),
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
