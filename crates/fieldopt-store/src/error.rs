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
    /// The database could not do the work now: unreachable, too slow,
    /// locked, read-only or out of space. Nothing was written.
    #[error("database unavailable ({}): {cause}", .outage.name())]
    Unavailable {
        /// What kind of outage.
        outage: Outage,
        /// The database's own words, for logs only.
        cause: String,
    },
    /// Data in the database that the domain refuses (a bug or manual edit).
    #[error("corrupt row: {0}")]
    Corrupt(String),
    /// Any other database error.
    #[error(transparent)]
    Database(DieselError),
}

/// Why the database cannot serve a request right now. Each kind clears up
/// without restarting fieldopt once its cause is gone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outage {
    /// The connection was lost, or none could be opened.
    Unreachable,
    /// No connection came free, or a statement did not finish, within the
    /// timeout.
    TimedOut,
    /// Another connection holds a lock longer than the timeout.
    Locked,
    /// The database (file, file system or server) refuses writes.
    ReadOnly,
    /// The disk holding the database is full.
    DiskFull,
    /// The database's storage failed (an I/O error, a file that cannot be
    /// opened).
    Storage,
}

impl Outage {
    /// A short name for logs.
    pub const fn name(self) -> &'static str {
        match self {
            Outage::Unreachable => "unreachable",
            Outage::TimedOut => "timed out",
            Outage::Locked => "locked",
            Outage::ReadOnly => "read-only",
            Outage::DiskFull => "disk full",
            Outage::Storage => "storage failure",
        }
    }

    /// The outage a database's error message describes, if it describes
    /// one (SQLite's and PostgreSQL's wording).
    pub fn from_message(message: &str) -> Option<Outage> {
        const KINDS: [(&str, Outage); 18] = [
            // SQLite: SQLITE_BUSY, SQLITE_LOCKED.
            ("database is locked", Outage::Locked),
            ("table is locked", Outage::Locked),
            ("database is busy", Outage::Locked),
            // PostgreSQL: lock_timeout, NOWAIT.
            ("due to lock timeout", Outage::Locked),
            ("could not obtain lock", Outage::Locked),
            ("due to statement timeout", Outage::TimedOut),
            ("readonly database", Outage::ReadOnly),
            ("read-only transaction", Outage::ReadOnly),
            ("database or disk is full", Outage::DiskFull),
            ("No space left on device", Outage::DiskFull),
            ("disk I/O error", Outage::Storage),
            ("unable to open database file", Outage::Storage),
            ("terminating connection", Outage::Unreachable),
            ("the database system is", Outage::Unreachable),
            ("server closed the connection", Outage::Unreachable),
            ("Connection refused", Outage::Unreachable),
            ("no connection to the server", Outage::Unreachable),
            ("timeout expired", Outage::Unreachable),
        ];
        KINDS
            .iter()
            .find(|(words, _)| message.contains(words))
            .map(|&(_, outage)| outage)
    }

    /// The outage behind r2d2's "timed out waiting for connection[: last
    /// failure]".
    fn of_pool_timeout(message: &str) -> Outage {
        match message.split_once(": ") {
            Some((_, failure)) => Outage::from_message(failure).unwrap_or(Outage::Unreachable),
            None => Outage::TimedOut,
        }
    }

    /// The outage behind a Diesel error, if it is one.
    fn of(error: &DieselError) -> Option<Outage> {
        match error {
            DieselError::DatabaseError(
                DatabaseErrorKind::ClosedConnection | DatabaseErrorKind::UnableToSendCommand,
                _,
            )
            | DieselError::BrokenTransactionManager => Some(Outage::Unreachable),
            DieselError::DatabaseError(DatabaseErrorKind::ReadOnlyTransaction, _) => {
                Some(Outage::ReadOnly)
            }
            DieselError::DatabaseError(_, info) => Outage::from_message(info.message()),
            DieselError::RollbackErrorOnCommit { commit_error, .. } => Outage::of(commit_error),
            _ => None,
        }
    }
}

impl StoreError {
    /// An outage of this kind, with the database's words for logs.
    pub fn unavailable(outage: Outage, cause: impl Into<String>) -> Self {
        Self::Unavailable {
            outage,
            cause: cause.into(),
        }
    }

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
            _ => match Outage::of(&error) {
                Some(outage) => StoreError::unavailable(outage, error.to_string()),
                None => StoreError::Database(error),
            },
        }
    }
}

impl From<r2d2::Error> for StoreError {
    /// The pool gave up waiting for a connection: unreachable (or what the
    /// failure says) when opening one failed — r2d2 tells the last failure
    /// to one waiter only — timed out otherwise (every connection busy, or
    /// the failure told to another waiter).
    fn from(error: r2d2::Error) -> Self {
        let message = error.to_string();
        StoreError::unavailable(Outage::of_pool_timeout(&message), message)
    }
}

impl From<fieldopt_domain::DomainError> for StoreError {
    fn from(error: fieldopt_domain::DomainError) -> Self {
        StoreError::Corrupt(error.to_string())
    }
}

/// Store results.
pub type StoreResult<T> = Result<T, StoreError>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn database_messages_name_their_outage() {
        let cases = [
            ("database is locked", Some(Outage::Locked)),
            ("database table is locked", Some(Outage::Locked)),
            (
                "canceling statement due to lock timeout",
                Some(Outage::Locked),
            ),
            (
                "canceling statement due to statement timeout",
                Some(Outage::TimedOut),
            ),
            (
                "attempt to write a readonly database",
                Some(Outage::ReadOnly),
            ),
            (
                "cannot execute INSERT in a read-only transaction",
                Some(Outage::ReadOnly),
            ),
            ("database or disk is full", Some(Outage::DiskFull)),
            (
                "could not extend file \"base/16384/16385\": No space left on device",
                Some(Outage::DiskFull),
            ),
            ("disk I/O error", Some(Outage::Storage)),
            (
                "terminating connection due to administrator command",
                Some(Outage::Unreachable),
            ),
            (
                "connection to server at \"127.0.0.1\", port 5432 failed: Connection refused",
                Some(Outage::Unreachable),
            ),
            (
                "the database system is starting up",
                Some(Outage::Unreachable),
            ),
            ("syntax error at or near \"SELEC\"", None),
            ("UNIQUE constraint failed: jobs.external_id", None),
        ];
        for (message, want) in cases {
            assert_eq!(Outage::from_message(message), want, "{message}");
        }
    }

    #[test]
    fn pool_timeouts_tell_a_lost_database_from_a_busy_pool() {
        let cases = [
            (
                "timed out waiting for connection: connection to server at \"127.0.0.1\", port 1 failed: Connection refused",
                Outage::Unreachable,
            ),
            (
                "timed out waiting for connection: configuring SQLite: database or disk is full",
                Outage::DiskFull,
            ),
            ("timed out waiting for connection", Outage::TimedOut),
        ];
        for (message, want) in cases {
            assert_eq!(Outage::of_pool_timeout(message), want, "{message}");
        }
    }

    #[test]
    fn a_failed_commit_is_judged_by_its_own_error() {
        let commit = DieselError::DatabaseError(
            DatabaseErrorKind::Unknown,
            Box::new("database or disk is full".to_string()),
        );
        let error = DieselError::RollbackErrorOnCommit {
            rollback_error: Box::new(DieselError::BrokenTransactionManager),
            commit_error: Box::new(commit),
        };
        assert!(matches!(
            StoreError::from(error),
            StoreError::Unavailable {
                outage: Outage::DiskFull,
                ..
            }
        ));
    }
}
