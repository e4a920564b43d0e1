//! The records dispatch works with. Every field holds a checked value.

use chrono::{DateTime, NaiveDate, Utc};

use crate::{
    Actor, Address, Area, AssignmentId, Capacity, CustomerName, DurationMinutes, Email, ExternalId,
    GeoPoint, JobEventKind, JobId, JobStatus, JobType, Notes, PersonName, Phone, Priority, Reason,
    Skill, TechnicianId, TechnicianStatus, TimeWindow,
};

/// A person who does jobs.
#[derive(Debug, Clone, PartialEq)]
pub struct Technician {
    /// Identifier.
    pub id: TechnicianId,
    /// Display name.
    pub name: PersonName,
    /// Current status.
    pub status: TechnicianStatus,
    /// Phone number, if known.
    pub phone: Option<Phone>,
    /// E-mail address, if known.
    pub email: Option<Email>,
    /// Skills, sorted and unique.
    pub skills: Vec<Skill>,
    /// Areas covered, sorted and unique; empty means every area.
    pub areas: Vec<Area>,
    /// Most active jobs per scheduled day.
    pub capacity: Capacity,
    /// Working hours.
    pub shift: TimeWindow,
    /// Where the technician's day starts.
    pub home: Option<GeoPoint>,
    /// Last reported position.
    pub position: Option<GeoPoint>,
    /// The integrator's own id, if any.
    pub external_id: Option<ExternalId>,
    /// When the position was reported.
    pub location_updated_at: Option<DateTime<Utc>>,
    /// Creation time.
    pub created_at: DateTime<Utc>,
    /// Last change.
    pub updated_at: DateTime<Utc>,
}

impl Technician {
    /// The default shift, 08:00-17:00.
    pub fn default_shift() -> TimeWindow {
        TimeWindow::parse_slot("08:00-17:00").expect("valid constant")
    }

    /// Where travel to a job is measured from: the current position, else home.
    pub fn origin(&self) -> Option<GeoPoint> {
        self.position.or(self.home)
    }

    /// Whether the technician works in `area` (no areas means every area).
    pub fn covers(&self, area: &Area) -> bool {
        self.areas.is_empty() || self.areas.binary_search(area).is_ok()
    }
}

/// A piece of work at a customer's site.
#[derive(Debug, Clone, PartialEq)]
pub struct Job {
    /// Identifier.
    pub id: JobId,
    /// Kind of work.
    pub job_type: JobType,
    /// Who it is for.
    pub customer: CustomerName,
    /// Where it is.
    pub address: Address,
    /// Skills a technician needs, sorted and unique.
    pub skills_required: Vec<Skill>,
    /// Where it is in its life.
    pub status: JobStatus,
    /// The day it is planned for, if any.
    pub scheduled_date: Option<NaiveDate>,
    /// The window in which work must start, if any.
    pub time_slot: Option<TimeWindow>,
    /// The technician of its assignment; kept after it ends, as history.
    pub assigned_technician: Option<TechnicianId>,
    /// 1 (highest) to 5.
    pub priority: Priority,
    /// Time on site.
    pub duration: DurationMinutes,
    /// Position of the site, if known.
    pub location: Option<GeoPoint>,
    /// Management area, if any.
    pub area: Option<Area>,
    /// Free-form notes.
    pub notes: Option<Notes>,
    /// The integrator's own id, if any.
    pub external_id: Option<ExternalId>,
    /// Creation time.
    pub created_at: DateTime<Utc>,
    /// Last change.
    pub updated_at: DateTime<Utc>,
    /// When work started.
    pub started_at: Option<DateTime<Utc>>,
    /// When work completed or failed.
    pub completed_at: Option<DateTime<Utc>>,
}

impl Job {
    /// The day a job counts toward for capacity: its scheduled date, or for
    /// an undated job the day it is assigned on (`today`).
    pub fn work_date(&self, today: NaiveDate) -> NaiveDate {
        self.scheduled_date.unwrap_or(today)
    }
}

/// A live or past link between a job and a technician.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Assignment {
    /// Identifier.
    pub id: AssignmentId,
    /// The job.
    pub job_id: JobId,
    /// The technician.
    pub technician_id: TechnicianId,
    /// When the assignment was made.
    pub assigned_at: DateTime<Utc>,
    /// Position in the technician's day, set by day planning.
    pub sequence: Option<u32>,
    /// Planned arrival, set by day planning.
    pub estimated_arrival: Option<DateTime<Utc>>,
    /// Who made the assignment (none for assignments older than the audit trail).
    pub actor: Option<Actor>,
}

/// One entry in a job's history.
#[derive(Debug, Clone, PartialEq)]
pub struct JobEvent {
    /// Identifier, increasing in time order.
    pub id: i64,
    /// The job.
    pub job_id: JobId,
    /// When it happened.
    pub at: DateTime<Utc>,
    /// What happened.
    pub kind: JobEventKind,
    /// Status before (none at creation).
    pub old_status: Option<JobStatus>,
    /// Status after.
    pub new_status: JobStatus,
    /// The technician involved, if any (the new one on reassignment).
    pub technician_id: Option<TechnicianId>,
    /// The technician the job left, on reassignment.
    pub previous_technician_id: Option<TechnicianId>,
    /// Why, when a client said so.
    pub reason: Option<Reason>,
    /// Who made the change (none for entries older than the audit trail).
    pub actor: Option<Actor>,
}

/// What a plan depends on that changed in a technician between the state
/// it was computed from and `now` (empty: nothing that matters). A newly
/// reported position does not count: positions change all day.
pub fn technician_plan_changes(planned: &Technician, now: &Technician) -> Vec<&'static str> {
    let off = |t: &Technician| t.status == TechnicianStatus::OffDuty;
    [
        ("skills", planned.skills != now.skills),
        ("areas", planned.areas != now.areas),
        ("capacity", planned.capacity != now.capacity),
        ("shift", planned.shift != now.shift),
        ("home", planned.home != now.home),
        ("status", off(planned) != off(now)),
    ]
    .into_iter()
    .filter_map(|(field, changed)| changed.then_some(field))
    .collect()
}

/// What a plan depends on that changed in a job between the state it was
/// computed from and `now` (empty: nothing that matters).
pub fn job_plan_changes(planned: &Job, now: &Job) -> Vec<&'static str> {
    [
        ("status", planned.status != now.status),
        (
            "technician",
            planned.assigned_technician != now.assigned_technician,
        ),
        (
            "scheduled_date",
            planned.scheduled_date != now.scheduled_date,
        ),
        ("time_slot", planned.time_slot != now.time_slot),
        ("duration_minutes", planned.duration != now.duration),
        (
            "skills_required",
            planned.skills_required != now.skills_required,
        ),
        ("area", planned.area != now.area),
        ("location", planned.location != now.location),
        ("priority", planned.priority != now.priority),
    ]
    .into_iter()
    .filter_map(|(field, changed)| changed.then_some(field))
    .collect()
}
