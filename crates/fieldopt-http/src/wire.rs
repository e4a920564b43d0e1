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

/// Serialises a timestamp as RFC 3339 in UTC with a `Z`, its fraction in
/// as few of 0, 3, 6 or 9 digits as hold it — what chrono writes — but
/// without going through `fmt` (lists send thousands of them).
pub fn timestamp<S: serde::Serializer>(
    value: &chrono::DateTime<chrono::Utc>,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    let mut buffer = [0u8; 30];
    match write_timestamp(value, &mut buffer) {
        Some(text) => serializer.serialize_str(text),
        None => serde::Serialize::serialize(value, serializer),
    }
}

/// [`timestamp`] for an optional one (`null` when absent).
pub fn timestamp_opt<S: serde::Serializer>(
    value: &Option<chrono::DateTime<chrono::Utc>>,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    match value {
        Some(value) => timestamp(value, serializer),
        None => serializer.serialize_none(),
    }
}

/// `YYYY-MM-DDTHH:MM:SS[.fff[fff[fff]]]Z` into `buffer`; `None` for what
/// this fast path leaves to chrono (years beyond four digits, leap seconds).
fn write_timestamp<'b>(
    value: &chrono::DateTime<chrono::Utc>,
    buffer: &'b mut [u8; 30],
) -> Option<&'b str> {
    use chrono::{Datelike, Timelike};
    /// Writes `number` as `width` decimal digits at `at`.
    fn put(buffer: &mut [u8], at: usize, mut number: u32, width: usize) {
        for slot in buffer[at..at + width].iter_mut().rev() {
            *slot = b'0' + (number % 10) as u8;
            number /= 10;
        }
    }
    let nanos = value.nanosecond();
    let year = u32::try_from(value.year()).ok().filter(|y| *y <= 9999)?;
    if nanos >= 1_000_000_000 {
        return None;
    }
    buffer[..20].copy_from_slice(b"0000-00-00T00:00:00.");
    put(buffer, 0, year, 4);
    put(buffer, 5, value.month(), 2);
    put(buffer, 8, value.day(), 2);
    put(buffer, 11, value.hour(), 2);
    put(buffer, 14, value.minute(), 2);
    put(buffer, 17, value.second(), 2);
    let (fraction, width) = if nanos == 0 {
        (0, 0)
    } else if nanos.is_multiple_of(1_000_000) {
        (nanos / 1_000_000, 3)
    } else if nanos.is_multiple_of(1_000) {
        (nanos / 1_000, 6)
    } else {
        (nanos, 9)
    };
    let end = if width == 0 {
        19
    } else {
        put(buffer, 20, fraction, width);
        20 + width
    };
    buffer[end] = b'Z';
    std::str::from_utf8(&buffer[..=end]).ok()
}

#[cfg(test)]
mod timestamp_tests {
    use chrono::{DateTime, TimeZone, Utc};

    #[derive(serde::Serialize)]
    struct Fast(#[serde(serialize_with = "super::timestamp")] DateTime<Utc>);

    #[test]
    fn writes_what_chrono_writes() {
        let base = Utc.with_ymd_and_hms(2026, 4, 11, 14, 30, 5).unwrap();
        let mut cases = vec![
            base,
            Utc.with_ymd_and_hms(1900, 1, 1, 0, 0, 0).unwrap(),
            Utc.with_ymd_and_hms(2999, 12, 31, 23, 59, 59).unwrap(),
            Utc.with_ymd_and_hms(12, 3, 4, 5, 6, 7).unwrap(),
        ];
        for nanos in [
            1,
            999,
            1_000,
            123_000,
            120_000_000,
            123_456_000,
            123_456_789,
            999_999_999,
        ] {
            cases.push(base + chrono::Duration::nanoseconds(nanos));
        }
        cases.extend((0..2000).map(|n| base + chrono::Duration::microseconds(n * 7_919_113)));
        for case in cases {
            assert_eq!(
                serde_json::to_string(&Fast(case)).unwrap(),
                serde_json::to_string(&case).unwrap(),
                "{case:?}"
            );
        }
    }
}
