//! The one error type of the domain.

use crate::{JobAction, JobStatus};

/// Why a value or an operation is refused by the business rules.
///
/// Messages are written for people: the adapter (HTTP, CLI) prefixes them
/// with the name of the field it was parsing.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum DomainError {
    /// A value does not have the required shape or is out of range.
    #[error("{0}")]
    InvalidValue(String),
    /// A list contains the same item twice.
    #[error("duplicate value {0:?}")]
    Duplicate(String),
    /// The job status machine does not allow this action from this status.
    #[error("cannot {action} a job that is {from}")]
    IllegalTransition {
        /// The status the job is in.
        from: JobStatus,
        /// The action that was attempted.
        action: JobAction,
    },
}

impl DomainError {
    pub(crate) fn invalid(message: impl Into<String>) -> Self {
        Self::InvalidValue(message.into())
    }
}
