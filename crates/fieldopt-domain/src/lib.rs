//! # fieldopt-domain
//!
//! The vocabulary and rules of field-service dispatch: technicians, jobs,
//! assignments, the job status machine, the automatic technician status,
//! and the can-do check that says whether a technician can take a job.
//!
//! The crate is pure: no I/O, no serialisation, no framework. Other services
//! can depend on it alone. Every value type checks itself when built
//! (`parse`/`new`), so a [`Job`] or [`Technician`] in hand is always valid.
//!
//! ```
//! use fieldopt_domain::{can_do, ClockTime, DayLoad, JobAction, JobStatus, Skill, TimeWindow};
//!
//! // Values are parsed, never trusted.
//! let slot = TimeWindow::parse_slot("08:00-12:00")?;
//! assert_eq!(slot.minutes(), 240);
//! assert!(TimeWindow::parse_slot("12:00-08:00").is_err());
//! assert!(Skill::parse("Fiber Splice").is_err());
//! assert_eq!(ClockTime::parse("17:30")?.minutes(), 17 * 60 + 30);
//!
//! // The status machine refuses what it does not allow.
//! assert_eq!(JobStatus::Pending.apply(JobAction::Assign)?, JobStatus::Assigned);
//! assert!(JobStatus::Completed.apply(JobAction::Start).is_err());
//!
//! // Can-do reports every failed check, not only the first.
//! let job = fieldopt_domain::fixtures::job(1).skills(&["install", "fiber"]).area("north").build();
//! let tech = fieldopt_domain::fixtures::technician(7).skills(&["install"]).areas(&["south"]).build();
//! let answer = can_do::evaluate(&job, &tech, DayLoad::default());
//! assert!(!answer.can_do());
//! assert_eq!(answer.reasons().len(), 2);
//! # Ok::<(), fieldopt_domain::DomainError>(())
//! ```

pub mod access;
pub mod can_do;
mod enums;
mod error;
pub mod events;
pub mod fixtures;
mod model;
pub mod patterns;
mod values;

pub use access::Actor;
pub use can_do::{CanDo, DayLoad, Unfit};
pub use enums::{JobAction, JobEventKind, JobStatus, JobType, TechnicianStatus};
pub use error::DomainError;
pub use events::{EventType, EventTypeFilter};
pub use model::{Assignment, Job, JobEvent, Technician, job_plan_changes, technician_plan_changes};
pub use values::{
    Address, Area, AssignmentId, Capacity, ClockTime, CustomerName, DurationMinutes, Email,
    ExternalId, GeoPoint, JobId, Lines, MAX_LIST_ITEMS, Notes, PersonName, Phone, Priority, Reason,
    Skill, TechnicianId, TimeWindow, check_text, fold_case, normalize_text, parse_unique,
};
