//! What can go wrong in the store, in terms the HTTP layer can map without
//! knowing Diesel.

use diesel::result::{DatabaseErrorKind, Error as DieselError};

/// The kind of record that was not found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Entity {
    /// A technician (also a deleted one).
    Technician,
    /// A job.
    Job,
    /// An assignment.
    Assignment,
}

impl Entity {
    /// The name clients read in "`<Name>` not found".
    pub const fn name(self) -> &'static str {
        match self {
            Entity::Technician => "Technician",
            Entity::Job => "Job",
            Entity::Assignment => "Assignment",
        }
    }
}

/// A store failure.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// No such record.
    #[error("{} not found", .0.name())]
    NotFound(Entity),
    /// One item of a batch does not exist (the message names it).
    #[error("{entity} {1} not found", entity = .0.name())]
    NotFoundInBatch(Entity, i64),
    /// A value the client sent is invalid in combination with stored data.
    #[error("invalid value for {field}: {message}")]
    Invalid {
        /// The request field.
        field: &'static str,
        /// What is wrong.
        message: String,
    },
    /// The operation conflicts with the current state (a business rule).
    #[error("{0}")]
    Conflict(String),
    /// The database could not be reached or was too busy.
    #[error("database unavailable: {0}")]
    Unavailable(String),
    /// Data in the database that the domain refuses (a bug or manual edit).
    #[error("corrupt row: {0}")]
    Corrupt(String),
    /// Any other database error.
    #[error(transparent)]
    Database(DieselError),
}

impl StoreError {
    /// A conflict with a message for the client.
    pub fn conflict(message: impl Into<String>) -> Self {
        Self::Conflict(message.into())
    }

    /// Whether retrying the whole transaction may succeed (PostgreSQL
    /// serialization failures and deadlocks).
    pub(crate) fn is_retryable(&self) -> bool {
        match self {
            StoreError::Database(DieselError::DatabaseError(kind, info)) => {
                matches!(kind, DatabaseErrorKind::SerializationFailure)
                    || info.message().contains("deadlock detected")
            }
            _ => false,
        }
    }
}

impl From<DieselError> for StoreError {
    fn from(error: DieselError) -> Self {
        match &error {
            DieselError::NotFound => StoreError::Database(error),
            DieselError::DatabaseError(DatabaseErrorKind::UniqueViolation, _) => {
                StoreError::conflict("The request conflicts with a concurrent change; retry")
            }
            DieselError::DatabaseError(DatabaseErrorKind::ClosedConnection, info) => {
                StoreError::Unavailable(info.message().to_string())
            }
            DieselError::DatabaseError(_, info)
                if info.message().contains("database is locked")
                    || info.message().contains("database is busy") =>
            {
                StoreError::Unavailable(info.message().to_string())
            }
            _ => StoreError::Database(error),
        }
    }
}

impl From<r2d2::Error> for StoreError {
    fn from(error: r2d2::Error) -> Self {
        StoreError::Unavailable(error.to_string())
    }
}

impl From<fieldopt_domain::DomainError> for StoreError {
    fn from(error: fieldopt_domain::DomainError) -> Self {
        StoreError::Corrupt(error.to_string())
    }
}

/// Store results.
pub type StoreResult<T> = Result<T, StoreError>;
