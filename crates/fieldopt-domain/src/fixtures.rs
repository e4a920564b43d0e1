//! Builders for technicians and jobs with sensible defaults, for tests and
//! examples in this crate and in crates that build on it.
//!
//! Builders panic on invalid input: they are for literals in tests.

use chrono::{DateTime, NaiveDate, Utc};

use crate::{
    Address, Area, Capacity, CustomerName, DurationMinutes, GeoPoint, Job, JobId, JobStatus,
    JobType, PersonName, Priority, Skill, Technician, TechnicianId, TechnicianStatus, TimeWindow,
};

fn epoch() -> DateTime<Utc> {
    DateTime::<Utc>::UNIX_EPOCH
}

fn skills(names: &[&str]) -> Vec<Skill> {
    crate::parse_unique(names.iter().map(|s| s.to_string()), Skill::parse).expect("valid skills")
}

/// A technician named `Tech <id>`, available, no skills, no areas,
/// capacity 4, shift 08:00-17:00, no position.
pub fn technician(id: i64) -> TechnicianBuilder {
    TechnicianBuilder(Technician {
        id: TechnicianId(id),
        name: PersonName::parse(format!("Tech {id}")).expect("valid name"),
        status: TechnicianStatus::Available,
        phone: None,
        email: None,
        skills: Vec::new(),
        areas: Vec::new(),
        capacity: Capacity::default(),
        shift: Technician::default_shift(),
        home: None,
        position: None,
        external_id: None,
        location_updated_at: None,
        created_at: epoch(),
        updated_at: epoch(),
    })
}

/// Builds a [`Technician`] step by step.
#[derive(Debug, Clone)]
pub struct TechnicianBuilder(Technician);

impl TechnicianBuilder {
    /// Sets the skills.
    pub fn skills(mut self, names: &[&str]) -> Self {
        self.0.skills = skills(names);
        self
    }
    /// Sets the areas.
    pub fn areas(mut self, names: &[&str]) -> Self {
        self.0.areas = names
            .iter()
            .map(|a| Area::parse(*a).expect("valid area"))
            .collect();
        self.0.areas.sort();
        self
    }
    /// Sets the status.
    pub fn status(mut self, status: TechnicianStatus) -> Self {
        self.0.status = status;
        self
    }
    /// Sets the capacity.
    pub fn capacity(mut self, capacity: i64) -> Self {
        self.0.capacity = Capacity::new(capacity).expect("valid capacity");
        self
    }
    /// Sets the shift from `HH:MM-HH:MM`.
    pub fn shift(mut self, window: &str) -> Self {
        self.0.shift = TimeWindow::parse_slot(window).expect("valid shift");
        self
    }
    /// Sets the home position.
    pub fn home(mut self, latitude: f64, longitude: f64) -> Self {
        self.0.home = Some(GeoPoint::new(latitude, longitude).expect("valid point"));
        self
    }
    /// Sets the current position.
    pub fn position(mut self, latitude: f64, longitude: f64) -> Self {
        self.0.position = Some(GeoPoint::new(latitude, longitude).expect("valid point"));
        self
    }
    /// The technician.
    pub fn build(self) -> Technician {
        self.0
    }
}

/// A pending repair job for `Customer <id>` needing no skills, 60 minutes,
/// priority 3, no date, slot, area or position.
pub fn job(id: i64) -> JobBuilder {
    JobBuilder(Job {
        id: JobId(id),
        job_type: JobType::Repair,
        customer: CustomerName::parse(format!("Customer {id}")).expect("valid customer"),
        address: Address::parse(format!("{id} Main St")).expect("valid address"),
        skills_required: Vec::new(),
        status: JobStatus::Pending,
        scheduled_date: None,
        time_slot: None,
        assigned_technician: None,
        priority: Priority::default(),
        duration: DurationMinutes::default(),
        location: None,
        area: None,
        notes: None,
        external_id: None,
        created_at: epoch(),
        updated_at: epoch(),
        started_at: None,
        completed_at: None,
    })
}

/// Builds a [`Job`] step by step.
#[derive(Debug, Clone)]
pub struct JobBuilder(Job);

impl JobBuilder {
    /// Sets the required skills.
    pub fn skills(mut self, names: &[&str]) -> Self {
        self.0.skills_required = skills(names);
        self
    }
    /// Sets the area.
    pub fn area(mut self, name: &str) -> Self {
        self.0.area = Some(Area::parse(name).expect("valid area"));
        self
    }
    /// Sets the slot from `HH:MM-HH:MM`.
    pub fn slot(mut self, window: &str) -> Self {
        self.0.time_slot = Some(TimeWindow::parse_slot(window).expect("valid slot"));
        self
    }
    /// Sets the duration in minutes.
    pub fn duration(mut self, minutes: i64) -> Self {
        self.0.duration = DurationMinutes::new(minutes).expect("valid duration");
        self
    }
    /// Sets the priority.
    pub fn priority(mut self, priority: i64) -> Self {
        self.0.priority = Priority::new(priority).expect("valid priority");
        self
    }
    /// Sets the site position.
    pub fn location(mut self, latitude: f64, longitude: f64) -> Self {
        self.0.location = Some(GeoPoint::new(latitude, longitude).expect("valid point"));
        self
    }
    /// Sets the scheduled date.
    pub fn date(mut self, date: NaiveDate) -> Self {
        self.0.scheduled_date = Some(date);
        self
    }
    /// Sets the status.
    pub fn status(mut self, status: JobStatus) -> Self {
        self.0.status = status;
        self
    }
    /// The job.
    pub fn build(self) -> Job {
        self.0
    }
}
