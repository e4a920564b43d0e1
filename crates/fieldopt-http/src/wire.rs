//! Wire forms of domain enums and shared conversions.

use fieldopt_domain::{DomainError, JobEventKind, JobStatus, JobType, TechnicianStatus};
use serde::{Deserialize, Deserializer, Serialize};
use utoipa::ToSchema;

use crate::error::ApiError;

/// Declares a wire enum mirroring a domain enum: serialised in snake_case,
/// deserialised through the domain's parser (so errors list the choices),
/// converted both ways.
macro_rules! wire_enum {
    ($(#[$meta:meta])* $wire:ident => $domain:ident { $($variant:ident),+ $(,)? }) => {
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
        #[serde(rename_all = "snake_case")]
        $(#[$meta])*
        pub enum $wire {
            $(
                #[allow(missing_docs)]
                $variant
            ),+
        }

        impl From<$domain> for $wire {
            fn from(value: $domain) -> Self {
                match value {
                    $($domain::$variant => $wire::$variant),+
                }
            }
        }

        impl From<$wire> for $domain {
            fn from(value: $wire) -> Self {
                match value {
                    $($wire::$variant => $domain::$variant),+
                }
            }
        }

        impl<'de> Deserialize<'de> for $wire {
            fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                crate::extract::from_text::<D, $domain>(deserializer).map(Into::into)
            }
        }
    };
}

wire_enum!(
    /// `available`, `on_break`, `assigned` or `off_duty`.
    #[schema(as = TechnicianStatus, example = "available")]
    TechnicianStatusWire => TechnicianStatus { Available, OnBreak, Assigned, OffDuty }
);
wire_enum!(
    /// The kind of work.
    #[schema(as = JobType, example = "repair")]
    JobTypeWire => JobType { Install, Repair, Maintenance, Disconnect, ServiceChange, Inspection }
);
wire_enum!(
    /// Where a job is in its life.
    #[schema(as = JobStatus, example = "pending")]
    JobStatusWire => JobStatus { Pending, Assigned, InProgress, Completed, Failed, Cancelled }
);
wire_enum!(
    /// What happened to a job.
    #[schema(as = JobEventKind, example = "assigned")]
    JobEventKindWire => JobEventKind { Created, StatusChanged, Assigned, Unassigned, Reassigned }
);

/// Attaches the field name to a domain error.
pub fn field<T>(name: &str, result: Result<T, DomainError>) -> Result<T, ApiError> {
    result.map_err(|error| ApiError::invalid(name, error))
}

/// Parses an optional value, attaching the field name to errors.
pub fn field_opt<T, U>(
    name: &str,
    value: Option<U>,
    parse: impl FnOnce(U) -> Result<T, DomainError>,
) -> Result<Option<T>, ApiError> {
    value.map(|v| field(name, parse(v))).transpose()
}
