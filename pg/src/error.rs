//! What went wrong talking to PostgreSQL, and whether trying again can help.

use postgres::error::SqlState;

/// The kind of a [`PgError`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PgErrorKind {
    /// The server could not be reached or the connection dropped; the pool
    /// retried until [`crate::PoolConfig::retry_for`] ran out.
    Connection,
    /// The statement ran longer than the statement timeout.
    Timeout,
    /// The statement failed (a constraint, a type, the SQL itself).
    Query,
    /// The configuration (the URL) is not usable.
    Config,
    /// The pool is shut down.
    Closed,
}

/// An error of the pool, a migration or a statement.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{message}")]
pub struct PgError {
    kind: PgErrorKind,
    code: Option<String>,
    message: String,
}

impl PgError {
    pub(crate) fn new(kind: PgErrorKind, message: impl Into<String>) -> Self {
        Self {
            kind,
            code: None,
            message: message.into(),
        }
    }

    /// What kind of failure it is.
    pub fn kind(&self) -> PgErrorKind {
        self.kind
    }

    /// The SQLSTATE, when the server sent one (`23505` for a unique
    /// violation, say).
    pub fn code(&self) -> Option<&str> {
        self.code.as_deref()
    }

    /// Whether it is a unique-constraint violation.
    pub fn is_unique_violation(&self) -> bool {
        self.code() == Some(SqlState::UNIQUE_VIOLATION.code())
    }
}

impl From<postgres::Error> for PgError {
    fn from(e: postgres::Error) -> Self {
        let code = e.code().map(|c| c.code().to_owned());
        let kind = if is_transient(&e) {
            PgErrorKind::Connection
        } else if e.code() == Some(&SqlState::QUERY_CANCELED) {
            PgErrorKind::Timeout
        } else {
            PgErrorKind::Query
        };
        let message = match e.as_db_error() {
            Some(db) => format!("PostgreSQL: {}", db.message()),
            None => format!("PostgreSQL: {e}"),
        };
        Self {
            kind,
            code,
            message,
        }
    }
}

/// Whether running the same work again on a fresh connection can succeed:
/// the connection is gone, the server is shutting down or starting, or a
/// transaction lost a serialisation race or a deadlock.
pub(crate) fn is_transient(e: &postgres::Error) -> bool {
    if e.is_closed() {
        return true;
    }
    match e.code() {
        Some(code) => {
            let text = code.code();
            text.starts_with("08")
                || [
                    SqlState::T_R_SERIALIZATION_FAILURE,
                    SqlState::T_R_DEADLOCK_DETECTED,
                    SqlState::ADMIN_SHUTDOWN,
                    SqlState::CRASH_SHUTDOWN,
                    SqlState::CANNOT_CONNECT_NOW,
                ]
                .contains(code)
        }
        // No SQLSTATE and not a server error: an I/O failure.
        None => e.as_db_error().is_none(),
    }
}
