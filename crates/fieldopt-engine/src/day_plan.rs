//! A field-service day as a routing problem: technicians and jobs in,
//! routes with times out. Wraps [`crate::vrp`] with the domain's types.
//!
//! Times are minutes after midnight on the planned day. Travel is the
//! great-circle distance at a given average speed, from each technician's
//! home (else current position). A technician or job without a known
//! position travels 0 km to and from everything. Routes are open: a day ends
//! with its last job, which must finish by the end of the shift.

use fieldopt_domain::{Job, JobId, Technician, TechnicianId};

use crate::vrp::{self as planning, PlanJob, Problem, SolveOptions, UnassignedReason, Vehicle};

/// Everything a day plan is made from.
#[derive(Debug, Clone, Copy)]
pub struct DayInput<'a> {
    /// The technicians who may work.
    pub technicians: &'a [Technician],
    /// Jobs to place.
    pub pending: &'a [Job],
    /// Jobs already assigned that day, with their technician: they stay with
    /// it and count toward its capacity and time; the plan may reorder them.
    pub pinned: &'a [(Job, TechnicianId)],
    /// Average travel speed, km/h.
    pub speed_kmh: f64,
}

/// One stop of a technician's day.
#[derive(Debug, Clone, PartialEq)]
pub struct DayStop {
    /// The job.
    pub job: JobId,
    /// Whether it was already assigned to this technician.
    pub pinned: bool,
    /// Arrival, minutes after midnight.
    pub arrival: f64,
    /// Start of work (arrival, or the slot's start when early).
    pub start: f64,
    /// End of work.
    pub end: f64,
    /// Length of the leg to this stop.
    pub travel_km: f64,
}

/// One technician's day.
#[derive(Debug, Clone, PartialEq)]
pub struct DayRoute {
    /// The technician.
    pub technician: TechnicianId,
    /// Total travel.
    pub travel_km: f64,
    /// Minutes of work on site.
    pub work_minutes: f64,
    /// Stops in order.
    pub stops: Vec<DayStop>,
}

/// The plan of a day.
#[derive(Debug, Clone, PartialEq)]
pub struct DayPlan {
    /// Routes of technicians with at least one stop, by technician id.
    pub routes: Vec<DayRoute>,
    /// Jobs left out, with why.
    pub unassigned: Vec<(JobId, Vec<UnassignedReason>)>,
    /// Total travel.
    pub travel_km: f64,
}

const WHOLE_DAY: (f64, f64) = (0.0, 24.0 * 60.0);

fn vehicle(tech: &Technician, start: usize) -> Vehicle {
    Vehicle {
        id: tech.id.0,
        start,
        shift_start: f64::from(tech.shift.start().minutes()),
        shift_end: f64::from(tech.shift.end().minutes()),
        skills: tech.skills.iter().map(ToString::to_string).collect(),
        areas: tech.areas.iter().map(ToString::to_string).collect(),
        max_jobs: tech.capacity.get() as usize,
        load_capacity: i64::MAX,
    }
}

fn plan_job(job: &Job, location: usize, pinned_to: Option<usize>) -> PlanJob {
    let (window_start, window_end) = job.time_slot.map_or(WHOLE_DAY, |slot| {
        (
            f64::from(slot.start().minutes()),
            f64::from(slot.end().minutes()),
        )
    });
    PlanJob {
        id: job.id.0,
        location,
        duration: f64::from(job.duration.get()),
        window_start,
        window_end,
        skills: job
            .skills_required
            .iter()
            .map(ToString::to_string)
            .collect(),
        area: job.area.as_ref().map(ToString::to_string),
        priority: u8::try_from(job.priority.get()).unwrap_or(5),
        demand: 0,
        pinned_to,
    }
}

/// Builds the routing problem of a day. Locations are the technicians'
/// starts, then the jobs (pinned first), in input order.
pub fn build_problem(input: &DayInput<'_>) -> Problem {
    let jobs: Vec<(&Job, Option<TechnicianId>)> = input
        .pinned
        .iter()
        .map(|(job, tech)| (job, Some(*tech)))
        .chain(input.pending.iter().map(|job| (job, None)))
        .collect();
    let positions: Vec<Option<(f64, f64)>> = input
        .technicians
        .iter()
        .map(|t| t.origin().map(|p| (p.latitude(), p.longitude())))
        .chain(
            jobs.iter()
                .map(|(j, _)| j.location.map(|p| (p.latitude(), p.longitude()))),
        )
        .collect();
    let known: Vec<(f64, f64)> = positions.iter().map(|p| p.unwrap_or((0.0, 0.0))).collect();
    let (mut distance, mut travel_time) = Problem::great_circle_matrices(&known, input.speed_kmh);
    let n = positions.len();
    for (i, position) in positions.iter().enumerate() {
        if position.is_none() {
            for j in 0..n {
                distance[i * n + j] = 0.0;
                distance[j * n + i] = 0.0;
                travel_time[i * n + j] = 0.0;
                travel_time[j * n + i] = 0.0;
            }
        }
    }
    let vehicles = input
        .technicians
        .iter()
        .enumerate()
        .map(|(index, tech)| vehicle(tech, index))
        .collect();
    let first_job = input.technicians.len();
    let plan_jobs = jobs
        .iter()
        .enumerate()
        .map(|(index, (job, tech))| {
            let pinned_to = tech.and_then(|t| input.technicians.iter().position(|x| x.id == t));
            plan_job(job, first_job + index, pinned_to)
        })
        .collect();
    Problem {
        distance,
        travel_time,
        locations: n,
        vehicles,
        jobs: plan_jobs,
        open_routes: true,
    }
}

/// Plans the day.
pub fn plan_day(input: &DayInput<'_>, options: &SolveOptions) -> DayPlan {
    let problem = build_problem(input);
    let plan = planning::solve(&problem, options);
    let pinned_count = input.pinned.len();
    let job_id = |index: usize| JobId(problem.jobs[index].id);
    let mut routes: Vec<DayRoute> = plan
        .routes
        .iter()
        .filter(|route| !route.stops.is_empty())
        .map(|route| DayRoute {
            technician: input.technicians[route.vehicle].id,
            travel_km: route.distance,
            work_minutes: route.work_time,
            stops: route
                .stops
                .iter()
                .map(|stop| DayStop {
                    job: job_id(stop.job),
                    pinned: stop.job < pinned_count,
                    arrival: stop.arrival,
                    start: stop.start,
                    end: stop.end,
                    travel_km: stop.distance,
                })
                .collect(),
        })
        .collect();
    routes.sort_by_key(|route| route.technician);
    let unassigned = plan
        .unassigned
        .iter()
        .map(|u| (job_id(u.job), u.reasons.clone()))
        .collect();
    DayPlan {
        routes,
        unassigned,
        travel_km: plan.distance,
    }
}
