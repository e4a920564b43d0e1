//! Closed sets of values with a stable text form (`as_str` / `FromStr`).

use std::fmt;
use std::str::FromStr;

use crate::DomainError;

/// Declares a fieldless enum with a fixed text form per variant, `ALL`,
/// `as_str`, `Display` and a `FromStr` whose error lists the allowed values.
macro_rules! text_enum {
    ($(#[$meta:meta])* $name:ident { $($(#[$vmeta:meta])* $variant:ident => $text:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum $name {
            $($(#[$vmeta])* $variant),+
        }

        impl $name {
            /// Every value, in declaration order.
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            /// The stable text form used on the wire and in the database.
            pub const fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $text),+
                }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl FromStr for $name {
            type Err = DomainError;

            fn from_str(value: &str) -> Result<Self, Self::Err> {
                match value {
                    $($text => Ok($name::$variant),)+
                    _ => Err(DomainError::invalid(format!(
                        "{value:?} (expected one of {})",
                        [$($text),+].join(", ")
                    ))),
                }
            }
        }
    };
}

text_enum! {
    /// What a technician is doing, as dispatchers see it.
    TechnicianStatus {
        /// Free to take work.
        Available => "available",
        /// Temporarily away; set by a client only.
        OnBreak => "on_break",
        /// Holds at least one active job (set automatically).
        Assigned => "assigned",
        /// Not working; set by a client only.
        OffDuty => "off_duty",
    }
}

text_enum! {
    /// The kind of work a job is.
    JobType {
        /// A new installation.
        Install => "install",
        /// Fixing a fault.
        Repair => "repair",
        /// Planned upkeep.
        Maintenance => "maintenance",
        /// Removing a service.
        Disconnect => "disconnect",
        /// Changing an existing service.
        ServiceChange => "service_change",
        /// Looking, not touching.
        Inspection => "inspection",
    }
}

text_enum! {
    /// Where a job is in its life (see [`JobStatus::apply`]).
    JobStatus {
        /// Waiting for a technician.
        Pending => "pending",
        /// Has a technician, not started.
        Assigned => "assigned",
        /// Being worked on.
        InProgress => "in_progress",
        /// Done (final).
        Completed => "completed",
        /// Attempted and failed (final).
        Failed => "failed",
        /// Called off (final).
        Cancelled => "cancelled",
    }
}

text_enum! {
    /// The actions that move a job through its status machine.
    JobAction {
        /// Give a pending job to a technician.
        Assign => "assign",
        /// Take an assigned job back to pending.
        Unassign => "unassign",
        /// Begin work.
        Start => "start",
        /// Finish work successfully.
        Complete => "complete",
        /// Finish work unsuccessfully.
        Fail => "fail",
        /// Call the job off.
        Cancel => "cancel",
    }
}

text_enum! {
    /// What happened to a job, as recorded in its history.
    JobEventKind {
        /// The job was created.
        Created => "created",
        /// The job's status changed (start, complete, fail, cancel).
        StatusChanged => "status_changed",
        /// The job was given to a technician.
        Assigned => "assigned",
        /// The job was taken back from its technician.
        Unassigned => "unassigned",
        /// The job moved from one technician to another.
        Reassigned => "reassigned",
    }
}

impl JobStatus {
    /// The status after `action`, or [`DomainError::IllegalTransition`].
    ///
    /// ```text
    /// pending --assign--> assigned --start--> in_progress --complete--> completed
    ///    ^                   |                     '--------fail------> failed
    ///    '-----unassign------'
    /// pending/assigned/in_progress --cancel--> cancelled
    /// ```
    pub fn apply(self, action: JobAction) -> Result<JobStatus, DomainError> {
        use JobAction as A;
        use JobStatus as S;
        match (self, action) {
            (S::Pending, A::Assign) => Ok(S::Assigned),
            (S::Assigned, A::Unassign) => Ok(S::Pending),
            (S::Assigned, A::Start) => Ok(S::InProgress),
            (S::InProgress, A::Complete) => Ok(S::Completed),
            (S::InProgress, A::Fail) => Ok(S::Failed),
            (S::Pending | S::Assigned | S::InProgress, A::Cancel) => Ok(S::Cancelled),
            (from, action) => Err(DomainError::IllegalTransition { from, action }),
        }
    }

    /// A job counts toward a technician's workload while it is active.
    pub const fn is_active(self) -> bool {
        matches!(self, JobStatus::Assigned | JobStatus::InProgress)
    }

    /// Completed, failed and cancelled jobs never change again.
    pub const fn is_final(self) -> bool {
        matches!(
            self,
            JobStatus::Completed | JobStatus::Failed | JobStatus::Cancelled
        )
    }

    /// The action a client asks for by setting `status` directly (PATCH).
    ///
    /// Only `in_progress`, `completed`, `failed` and `cancelled` can be set
    /// that way; assigning and unassigning go through assignments.
    pub const fn action_to_reach(self) -> Option<JobAction> {
        match self {
            JobStatus::InProgress => Some(JobAction::Start),
            JobStatus::Completed => Some(JobAction::Complete),
            JobStatus::Failed => Some(JobAction::Fail),
            JobStatus::Cancelled => Some(JobAction::Cancel),
            JobStatus::Pending | JobStatus::Assigned => None,
        }
    }
}

impl TechnicianStatus {
    /// The automatic status rule: an `available` technician that holds an
    /// active job becomes `assigned`; an `assigned` one with no active job
    /// left becomes `available`. `on_break` and `off_duty` only change when
    /// a client says so.
    pub fn after_workload_change(self, active_jobs: u32) -> TechnicianStatus {
        let (from, to) = Self::automatic_move(active_jobs);
        if self == from { to } else { self }
    }

    /// The one move the automatic rule can make for a technician holding
    /// `active_jobs`: from which status to which (a store applies it as one
    /// conditional update).
    pub const fn automatic_move(active_jobs: u32) -> (TechnicianStatus, TechnicianStatus) {
        if active_jobs > 0 {
            (TechnicianStatus::Available, TechnicianStatus::Assigned)
        } else {
            (TechnicianStatus::Assigned, TechnicianStatus::Available)
        }
    }

    /// Whether a technician in this status can take work (can-do `status_ok`).
    pub const fn takes_work(self) -> bool {
        matches!(
            self,
            TechnicianStatus::Available | TechnicianStatus::Assigned
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_machine_table() {
        use JobAction as A;
        use JobStatus as S;
        let allowed = [
            (S::Pending, A::Assign, S::Assigned),
            (S::Assigned, A::Unassign, S::Pending),
            (S::Assigned, A::Start, S::InProgress),
            (S::InProgress, A::Complete, S::Completed),
            (S::InProgress, A::Fail, S::Failed),
            (S::Pending, A::Cancel, S::Cancelled),
            (S::Assigned, A::Cancel, S::Cancelled),
            (S::InProgress, A::Cancel, S::Cancelled),
        ];
        for &from in S::ALL {
            for &action in A::ALL {
                let expected = allowed
                    .iter()
                    .find(|(f, a, _)| *f == from && *a == action)
                    .map(|(_, _, to)| *to);
                match (from.apply(action), expected) {
                    (Ok(to), Some(want)) => assert_eq!(to, want, "{from} {action}"),
                    (Err(DomainError::IllegalTransition { .. }), None) => {}
                    (got, want) => panic!("{from} {action}: got {got:?}, want {want:?}"),
                }
            }
        }
    }

    #[test]
    fn final_states_accept_nothing() {
        for status in [
            JobStatus::Completed,
            JobStatus::Failed,
            JobStatus::Cancelled,
        ] {
            assert!(status.is_final());
            for &action in JobAction::ALL {
                assert!(status.apply(action).is_err());
            }
        }
    }

    #[test]
    fn automatic_technician_status_table() {
        use TechnicianStatus as T;
        let cases = [
            (T::Available, 0, T::Available),
            (T::Available, 1, T::Assigned),
            (T::Assigned, 2, T::Assigned),
            (T::Assigned, 0, T::Available),
            (T::OnBreak, 0, T::OnBreak),
            (T::OnBreak, 3, T::OnBreak),
            (T::OffDuty, 1, T::OffDuty),
            (T::OffDuty, 0, T::OffDuty),
        ];
        for (status, jobs, want) in cases {
            assert_eq!(status.after_workload_change(jobs), want, "{status} {jobs}");
        }
    }

    #[test]
    fn text_forms_round_trip_and_errors_list_choices() {
        for &s in TechnicianStatus::ALL {
            assert_eq!(s.as_str().parse::<TechnicianStatus>(), Ok(s));
        }
        for &t in JobType::ALL {
            assert_eq!(t.as_str().parse::<JobType>(), Ok(t));
        }
        let err = "sleeping".parse::<TechnicianStatus>().unwrap_err();
        assert_eq!(
            err.to_string(),
            "\"sleeping\" (expected one of available, on_break, assigned, off_duty)"
        );
    }

    #[test]
    fn patch_reachable_statuses() {
        assert_eq!(JobStatus::Pending.action_to_reach(), None);
        assert_eq!(JobStatus::Assigned.action_to_reach(), None);
        assert_eq!(
            JobStatus::Cancelled.action_to_reach(),
            Some(JobAction::Cancel)
        );
    }
}
