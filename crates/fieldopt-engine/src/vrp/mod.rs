//! Vehicle routing with time windows: the engine behind day planning and
//! `fieldopt solve`.
//!
//! A [`Problem`] is vehicles (technicians) with a start, a shift, skills,
//! areas, a job capacity and a load capacity, and jobs with a location, a
//! duration, a window in which work must start, skills, an area, a priority,
//! a demand and optionally a vehicle they are pinned to. [`solve`] returns a
//! [`Plan`]: routes with times, and every job left out with reason codes.
//!
//! Objective, lexicographic: the served jobs' weight (priority 1 counts
//! 10 000 times priority 2, and so on, so one job of a higher priority
//! outweighs any number of lower ones in a request of up to 10 000 jobs),
//! then the least total distance.
//!
//! Search: regret insertion builds a first plan; then adaptive large
//! neighbourhood search runs until the time or iteration limit: each
//! iteration removes a group of related jobs (a string of neighbours, or a
//! random set), reinserts them greedily or by regret with noise, improves the
//! result by local search over granular neighbourhoods (relocate of 1–3
//! consecutive jobs, swap, 2-opt*, Or-opt and 2-opt within a route), and
//! keeps it by a simulated-annealing rule. Everything is deterministic for a given seed and
//! iteration limit.
//!
//! Speed: every route keeps the time-window segment (Vidal et al. 2013) of
//! each prefix and suffix, so a move is priced from a few distance lookups
//! and, only when it is shorter, checked for time, load and job count by
//! joining three or four segments — constant time whatever the route
//! length. The local search tries a pair of jobs only when one of their two
//! routes changed since it last looked.

mod check;
mod search;
mod segment;
pub mod solomon;
mod travel;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

pub use check::{Violation, check_plan};
pub use search::solve;
pub use travel::{ANYWHERE, Travel, great_circle_km};

/// The routing problem.
#[derive(Debug, Clone, PartialEq)]
pub struct Problem {
    /// Distances and travel times between locations.
    pub travel: Travel,
    /// The vehicles (technicians).
    pub vehicles: Vec<Vehicle>,
    /// The jobs.
    pub jobs: Vec<PlanJob>,
    /// `true`: a route ends at its last job; `false`: it returns to its
    /// start by the end of the shift.
    pub open_routes: bool,
}

/// A vehicle (a technician's day).
#[derive(Debug, Clone, PartialEq)]
pub struct Vehicle {
    /// Caller's id.
    pub id: i64,
    /// Start location, or [`ANYWHERE`]: the route starts at its first job.
    pub start: usize,
    /// Earliest departure.
    pub shift_start: f64,
    /// Latest end of the last job (open routes) or return (closed routes).
    pub shift_end: f64,
    /// Skills held.
    pub skills: Vec<String>,
    /// Areas covered; empty covers every area.
    pub areas: Vec<String>,
    /// Most jobs in the route.
    pub max_jobs: usize,
    /// Most total demand in the route.
    pub load_capacity: i64,
}

/// A job.
#[derive(Debug, Clone, PartialEq)]
pub struct PlanJob {
    /// Caller's id.
    pub id: i64,
    /// Location.
    pub location: usize,
    /// Time on site.
    pub duration: f64,
    /// Work must start at or after this.
    pub window_start: f64,
    /// Work must start at or before this.
    pub window_end: f64,
    /// Skills a vehicle must hold, all of them.
    pub skills: Vec<String>,
    /// Area a vehicle must cover (if any).
    pub area: Option<String>,
    /// 1 (highest) ..= 5.
    pub priority: u8,
    /// Load it takes.
    pub demand: i64,
    /// Vehicle index that must keep it (already assigned work).
    pub pinned_to: Option<usize>,
}

impl Problem {
    fn dist(&self, from: usize, to: usize) -> f64 {
        self.travel.distance(from, to)
    }

    fn time(&self, from: usize, to: usize) -> f64 {
        self.travel.time(from, to)
    }
}

/// When to stop searching.
#[derive(Debug, Clone, Default)]
pub struct SolveOptions {
    /// Wall-clock limit of the whole solve, set-up and construction
    /// included (the normal stop).
    pub time_limit: Option<Duration>,
    /// Iteration limit (makes runs reproducible).
    pub max_iterations: Option<u64>,
    /// Stop after this many iterations without a better plan: a day that
    /// cannot improve answers at once instead of using all its time.
    pub patience: Option<u64>,
    /// Seed of the search.
    pub seed: u64,
    /// Set from outside to stop early (the caller went away); the best plan
    /// so far is returned.
    pub cancel: Option<Cancel>,
}

/// A flag another thread raises to stop a solve.
#[derive(Debug, Clone, Default)]
pub struct Cancel(Arc<AtomicBool>);

impl Cancel {
    /// Asks the solve to stop.
    pub fn cancel(&self) {
        self.0.store(true, Ordering::Relaxed);
    }

    /// Whether it was asked to stop.
    pub fn is_cancelled(&self) -> bool {
        self.0.load(Ordering::Relaxed)
    }
}

/// The answer.
#[derive(Debug, Clone, PartialEq)]
pub struct Plan {
    /// One route per vehicle, in vehicle order (possibly empty).
    pub routes: Vec<PlannedRoute>,
    /// Jobs left out.
    pub unassigned: Vec<UnassignedJob>,
    /// Total distance.
    pub distance: f64,
}

/// A vehicle's route.
#[derive(Debug, Clone, PartialEq)]
pub struct PlannedRoute {
    /// Vehicle index.
    pub vehicle: usize,
    /// Stops in order.
    pub stops: Vec<PlannedStop>,
    /// Distance, including the return leg of a closed route.
    pub distance: f64,
    /// Sum of durations.
    pub work_time: f64,
}

/// A stop.
#[derive(Debug, Clone, PartialEq)]
pub struct PlannedStop {
    /// Job index.
    pub job: usize,
    /// Arrival.
    pub arrival: f64,
    /// Start of work.
    pub start: f64,
    /// End of work.
    pub end: f64,
    /// Length of the leg to this stop.
    pub distance: f64,
}

/// A job left out and why.
#[derive(Debug, Clone, PartialEq)]
pub struct UnassignedJob {
    /// Job index.
    pub job: usize,
    /// Why, most fundamental first.
    pub reasons: Vec<UnassignedReason>,
}

/// Why a job is left out (checked against every vehicle).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum UnassignedReason {
    /// No vehicle has the required skills.
    Skill,
    /// Vehicles with the skills do not cover the job's area.
    Area,
    /// The job's demand exceeds every suitable vehicle's load capacity, or
    /// every suitable vehicle is at its job capacity.
    Capacity,
    /// The job does not fit in any suitable vehicle's shift.
    Shift,
    /// The job's window does not overlap any suitable vehicle's shift.
    TimeWindow,
    /// No suitable vehicle can reach it within its window and shift.
    Unreachable,
    /// It fits some vehicle alone, but not next to the work planned.
    NoRoom,
    /// The time limit ran out before the job could be placed.
    TimeLimit,
    /// The job has no coordinates, so no travel to it can be planned
    /// (never assumed to be zero).
    NoLocation,
}

impl UnassignedReason {
    /// Stable code.
    pub const fn code(self) -> &'static str {
        match self {
            UnassignedReason::Skill => "SKILL",
            UnassignedReason::Area => "AREA",
            UnassignedReason::Capacity => "CAPACITY",
            UnassignedReason::Shift => "SHIFT",
            UnassignedReason::TimeWindow => "TIME_WINDOW",
            UnassignedReason::Unreachable => "UNREACHABLE",
            UnassignedReason::NoRoom => "NO_ROOM",
            UnassignedReason::TimeLimit => "TIME_LIMIT",
            UnassignedReason::NoLocation => "NO_LOCATION",
        }
    }

    /// One sentence for people.
    pub const fn description(self) -> &'static str {
        match self {
            UnassignedReason::Skill => "no technician has the required skills",
            UnassignedReason::Area => "no technician with the skills covers the area",
            UnassignedReason::Capacity => "every suitable technician is at capacity",
            UnassignedReason::Shift => "the job does not fit in any suitable technician's shift",
            UnassignedReason::TimeWindow => {
                "the time slot is outside every suitable technician's shift"
            }
            UnassignedReason::Unreachable => "no suitable technician can get there in time",
            UnassignedReason::NoRoom => "no room left next to the work already planned",
            UnassignedReason::TimeLimit => "the time limit ran out before the job was placed",
            UnassignedReason::NoLocation => "the job has no coordinates to plan travel to",
        }
    }
}

/// Whether `vehicle` may do `job` by skills and area.
pub(crate) fn qualified(vehicle: &Vehicle, job: &PlanJob) -> (bool, bool) {
    let skills = job.skills.iter().all(|s| vehicle.skills.contains(s));
    let area = job
        .area
        .as_ref()
        .is_none_or(|a| vehicle.areas.is_empty() || vehicle.areas.contains(a));
    (skills, area)
}
