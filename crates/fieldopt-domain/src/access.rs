//! Who may do what: roles, the operations of the API, and the one table
//! that decides between them.
//!
//! The table is [`access`]: for each role and operation it says whether the
//! role may act on everything, only on what it owns, or not at all. A
//! technician owns its own technician record and the jobs (and their
//! assignments) it holds. Adapters resolve ownership from data and ask
//! [`allows`]; nothing else decides.
//!
//! ```
//! use fieldopt_domain::access::{allows, Operation, Ownership, Role};
//!
//! assert!(allows(Role::Dispatcher, Operation::PlanDay, Ownership::Other));
//! assert!(allows(Role::Technician, Operation::StartJob, Ownership::Own));
//! assert!(!allows(Role::Technician, Operation::StartJob, Ownership::Other));
//! assert!(!allows(Role::Technician, Operation::CreateJob, Ownership::Own));
//! ```

use std::fmt;
use std::str::FromStr;

use crate::DomainError;
use crate::values::check_text;

/// What a caller is to the service.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Role {
    /// Runs the service; today the same rights as a dispatcher.
    Admin,
    /// Plans and assigns the work.
    Dispatcher,
    /// Does the work; sees and changes only its own.
    Technician,
}

impl Role {
    /// Every role, in order of precedence (the first found wins when a
    /// token lists several).
    pub const ALL: [Role; 3] = [Role::Admin, Role::Dispatcher, Role::Technician];

    /// The name in tokens.
    pub const fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::Dispatcher => "dispatcher",
            Role::Technician => "technician",
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Role {
    type Err = DomainError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        Role::ALL
            .into_iter()
            .find(|role| role.as_str() == text)
            .ok_or_else(|| {
                DomainError::InvalidValue(format!(
                    "{text:?} is not a role (expected one of admin, dispatcher, technician)"
                ))
            })
    }
}

/// How far a role's right to an operation reaches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// On every record.
    All,
    /// Only on records the caller owns; lists are narrowed to them.
    Own,
    /// Not at all.
    None,
}

/// Whether the record an operation touches belongs to the caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ownership {
    /// The caller's own technician record, or a job it holds.
    Own,
    /// Anything else (also: no single record, as in a create or a plan).
    Other,
}

/// Declares the operations with their names, which are also the API's
/// operation ids.
macro_rules! operations {
    ($($(#[$meta:meta])* $variant:ident = $name:literal,)+) => {
        /// Every operation of the API that needs a caller's right.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum Operation {
            $($(#[$meta])* $variant,)+
        }

        impl Operation {
            /// Every operation.
            pub const ALL: &'static [Operation] = &[$(Operation::$variant,)+];

            /// The operation's name (the API's operation id).
            pub const fn name(self) -> &'static str {
                match self {
                    $(Operation::$variant => $name,)+
                }
            }
        }
    };
}

operations! {
    /// List technicians.
    ListTechnicians = "list_technicians",
    /// List available technicians (the original's path).
    ListAvailableTechnicians = "list_available_technicians",
    /// Read a technician's workload (the original's path).
    GetTechnicianWorkload = "get_technician_workload",
    /// Read one technician.
    GetTechnician = "get_technician",
    /// Create a technician.
    CreateTechnician = "create_technician",
    /// Change a technician's details.
    UpdateTechnician = "update_technician",
    /// Delete a technician.
    DeleteTechnician = "delete_technician",
    /// Set a technician's status.
    UpdateTechnicianStatus = "update_technician_status",
    /// Record a technician's position.
    UpdateTechnicianLocation = "update_technician_location",
    /// List jobs.
    ListJobs = "list_jobs",
    /// List pending jobs (the original's path).
    ListPendingJobs = "list_pending_jobs",
    /// Search jobs (the original's path).
    SearchJobs = "search_jobs",
    /// Set a job's status (the original's path).
    UpdateJobStatus = "update_job_status",
    /// Count jobs per status.
    GetJobSummary = "get_job_summary",
    /// Read one job.
    GetJob = "get_job",
    /// Create a job.
    CreateJob = "create_job",
    /// Change a job's details or status.
    UpdateJob = "update_job",
    /// Delete a job.
    DeleteJob = "delete_job",
    /// Start a job.
    StartJob = "start_job",
    /// Complete a job.
    CompleteJob = "complete_job",
    /// Fail a job.
    FailJob = "fail_job",
    /// Cancel a job.
    CancelJob = "cancel_job",
    /// Read a job's history.
    GetJobHistory = "get_job_history",
    /// Ask whether a technician can do a job.
    GetCanDo = "get_can_do",
    /// Assign a job.
    CreateAssignment = "create_assignment",
    /// Assign several jobs at once.
    BatchAssignJobs = "batch_assign_jobs",
    /// Unassign several jobs at once.
    BatchUnassignJobs = "batch_unassign_jobs",
    /// Unassign a job.
    UnassignJob = "unassign_job",
    /// Move a job to another technician.
    ReassignJob = "reassign_job",
    /// List a technician's assignments.
    ListTechnicianAssignments = "list_technician_assignments",
    /// Read a job's assignment.
    GetJobAssignment = "get_job_assignment",
    /// Recommend a technician (POST).
    AutoRouteJob = "auto_route_job",
    /// Recommend a technician (GET).
    GetAutoRoute = "get_auto_route",
    /// Recommend a technician (the original's alias).
    GetBestTechnician = "get_best_technician",
    /// Plan a day.
    PlanDay = "plan_day",
    /// Read the change feed, a page at a time.
    ListEvents = "list_events",
    /// Follow the change feed as Server-Sent Events.
    StreamEvents = "stream_events",
    /// Create, list, change and delete webhook endpoints; see and retry
    /// their deliveries.
    ManageWebhooks = "manage_webhooks",
}

impl Operation {
    /// The operation with this name (operation id), if there is one.
    pub fn from_name(name: &str) -> Option<Operation> {
        Operation::ALL.iter().copied().find(|op| op.name() == name)
    }
}

impl fmt::Display for Operation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The table: how far `role` may perform `operation`.
///
/// Admins and dispatchers may do everything. A technician reads its own
/// technician record and workload, its own jobs, their history and its
/// assignments; sets its own status and location; starts, completes and
/// fails its own jobs (also through `update_job_status`, which refuses it
/// any other status); reads the events about itself and its jobs. Nothing
/// else.
pub const fn access(role: Role, operation: Operation) -> Access {
    use Operation as Op;
    match role {
        Role::Admin | Role::Dispatcher => Access::All,
        Role::Technician => match operation {
            Op::ListTechnicians
            | Op::ListAvailableTechnicians
            | Op::GetTechnicianWorkload
            | Op::ListPendingJobs
            | Op::SearchJobs
            | Op::UpdateJobStatus
            | Op::GetTechnician
            | Op::UpdateTechnicianStatus
            | Op::UpdateTechnicianLocation
            | Op::ListJobs
            | Op::GetJob
            | Op::GetJobHistory
            | Op::StartJob
            | Op::CompleteJob
            | Op::FailJob
            | Op::ListTechnicianAssignments
            | Op::GetJobAssignment
            | Op::ListEvents
            | Op::StreamEvents => Access::Own,
            Op::CreateTechnician
            | Op::UpdateTechnician
            | Op::DeleteTechnician
            | Op::GetJobSummary
            | Op::CreateJob
            | Op::UpdateJob
            | Op::DeleteJob
            | Op::CancelJob
            | Op::GetCanDo
            | Op::CreateAssignment
            | Op::BatchAssignJobs
            | Op::BatchUnassignJobs
            | Op::UnassignJob
            | Op::ReassignJob
            | Op::AutoRouteJob
            | Op::GetAutoRoute
            | Op::GetBestTechnician
            | Op::PlanDay
            | Op::ManageWebhooks => Access::None,
        },
    }
}

/// Whether `role` may perform `operation` on a record of this ownership.
pub const fn allows(role: Role, operation: Operation, ownership: Ownership) -> bool {
    match access(role, operation) {
        Access::All => true,
        Access::Own => matches!(ownership, Ownership::Own),
        Access::None => false,
    }
}

/// Who made a change, as recorded in the audit trail: a token's subject,
/// or `dev` when authentication is off. 1..=255 characters, no control
/// characters.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Actor(String);

impl Actor {
    /// Most characters of an actor.
    pub const MAX_CHARS: usize = 255;

    /// Checks the text.
    pub fn parse(value: impl Into<String>) -> Result<Self, DomainError> {
        let value = value.into();
        check_text(&value, 1, Self::MAX_CHARS)?;
        Ok(Self(value))
    }

    /// The caller of development mode, where nobody authenticates.
    pub fn development() -> Self {
        Self("dev".to_string())
    }

    /// Changes made by the service itself (start-up, maintenance).
    pub fn system() -> Self {
        Self("system".to_string())
    }

    /// The text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Actor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The expected table, written out cell by cell: (operation, admin,
    /// dispatcher, technician).
    const EXPECTED: &[(Operation, Access, Access, Access)] = {
        use Access::{All, None, Own};
        use Operation as Op;
        &[
            (Op::ListTechnicians, All, All, Own),
            (Op::ListAvailableTechnicians, All, All, Own),
            (Op::GetTechnicianWorkload, All, All, Own),
            (Op::ListPendingJobs, All, All, Own),
            (Op::SearchJobs, All, All, Own),
            (Op::UpdateJobStatus, All, All, Own),
            (Op::GetTechnician, All, All, Own),
            (Op::CreateTechnician, All, All, None),
            (Op::UpdateTechnician, All, All, None),
            (Op::DeleteTechnician, All, All, None),
            (Op::UpdateTechnicianStatus, All, All, Own),
            (Op::UpdateTechnicianLocation, All, All, Own),
            (Op::ListJobs, All, All, Own),
            (Op::GetJobSummary, All, All, None),
            (Op::GetJob, All, All, Own),
            (Op::CreateJob, All, All, None),
            (Op::UpdateJob, All, All, None),
            (Op::DeleteJob, All, All, None),
            (Op::StartJob, All, All, Own),
            (Op::CompleteJob, All, All, Own),
            (Op::FailJob, All, All, Own),
            (Op::CancelJob, All, All, None),
            (Op::GetJobHistory, All, All, Own),
            (Op::GetCanDo, All, All, None),
            (Op::CreateAssignment, All, All, None),
            (Op::BatchAssignJobs, All, All, None),
            (Op::BatchUnassignJobs, All, All, None),
            (Op::UnassignJob, All, All, None),
            (Op::ReassignJob, All, All, None),
            (Op::ListTechnicianAssignments, All, All, Own),
            (Op::GetJobAssignment, All, All, Own),
            (Op::AutoRouteJob, All, All, None),
            (Op::GetAutoRoute, All, All, None),
            (Op::GetBestTechnician, All, All, None),
            (Op::PlanDay, All, All, None),
            (Op::ListEvents, All, All, Own),
            (Op::StreamEvents, All, All, Own),
            (Op::ManageWebhooks, All, All, None),
        ]
    };

    #[test]
    fn every_operation_has_an_expected_row() {
        assert_eq!(EXPECTED.len(), Operation::ALL.len());
        for op in Operation::ALL {
            assert!(
                EXPECTED.iter().any(|(o, ..)| o == op),
                "{op} has no expected row"
            );
        }
    }

    #[test]
    fn every_cell_of_the_table_is_as_written() {
        for &(op, admin, dispatcher, technician) in EXPECTED {
            for (role, want) in [
                (Role::Admin, admin),
                (Role::Dispatcher, dispatcher),
                (Role::Technician, technician),
            ] {
                assert_eq!(access(role, op), want, "{role} × {op}");
                for ownership in [Ownership::Own, Ownership::Other] {
                    let expected = match want {
                        Access::All => true,
                        Access::Own => ownership == Ownership::Own,
                        Access::None => false,
                    };
                    assert_eq!(
                        allows(role, op, ownership),
                        expected,
                        "{role} × {op} × {ownership:?}"
                    );
                }
            }
        }
    }

    #[test]
    fn names_round_trip_and_are_unique() {
        for op in Operation::ALL {
            assert_eq!(Operation::from_name(op.name()), Some(*op));
        }
        let mut names: Vec<&str> = Operation::ALL.iter().map(|op| op.name()).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), Operation::ALL.len());
        assert_eq!(Operation::from_name("get_health"), None);
    }

    #[test]
    fn roles_parse_exactly() {
        for role in Role::ALL {
            assert_eq!(role.as_str().parse::<Role>(), Ok(role));
        }
        for bad in ["", "Admin", "root", "dispatcher ", "tech"] {
            assert!(bad.parse::<Role>().is_err(), "{bad:?}");
        }
    }

    #[test]
    fn actors_are_bounded_visible_text() {
        assert_eq!(
            Actor::parse("alice@example.com").unwrap().as_str(),
            "alice@example.com"
        );
        assert!(Actor::parse("").is_err());
        assert!(Actor::parse("a\nb").is_err());
        assert!(Actor::parse("x".repeat(256)).is_err());
        assert!(Actor::parse("x".repeat(255)).is_ok());
        assert_eq!(Actor::development().as_str(), "dev");
    }
}
