//! A field-service day as a routing problem: technicians and jobs in,
//! routes with times out. Wraps [`crate::vrp`] with the domain's types.
//!
//! Times are minutes after midnight on the planned day. Travel is the
//! great-circle distance at a given average speed, from each technician's
//! last reported position (else home), computed when needed (memory stays linear
//! in the size of the day). Routes are open: a day ends with its last job,
//! which must finish by the end of the shift.
//!
//! Unknown positions are never taken as zero travel: a pending job without
//! coordinates is left out (`NO_LOCATION`); an assigned one stays with its
//! technician outside the route, its count and minutes reserved (the minutes
//! at the end of the shift). A technician without a known position starts
//! its day at its first job.

use fieldopt_domain::{Job, JobId, Technician, TechnicianId};

use crate::vrp::{
    self as planning, ANYWHERE, PlanJob, Problem, SolveOptions, Travel, UnassignedReason, Vehicle,
};

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

/// Work a technician holds that the route cannot include (assigned jobs
/// without coordinates): their count and minutes.
#[derive(Debug, Clone, Copy, Default)]
struct Reserved {
    jobs: usize,
    minutes: f64,
}

fn vehicle(tech: &Technician, start: usize, reserved: Reserved) -> Vehicle {
    Vehicle {
        id: tech.id.0,
        start,
        shift_start: f64::from(tech.shift.start().minutes()),
        shift_end: f64::from(tech.shift.end().minutes()) - reserved.minutes,
        skills: tech.skills.iter().map(ToString::to_string).collect(),
        areas: tech.areas.iter().map(ToString::to_string).collect(),
        max_jobs: (tech.capacity.get() as usize).saturating_sub(reserved.jobs),
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

/// The routing problem of a day, and what could not go into it.
#[derive(Debug, Clone)]
pub struct DayProblem {
    /// The problem: locations are the technicians' known starts, then the
    /// located jobs (pinned first), in input order.
    pub problem: Problem,
    /// Pending jobs left out before solving, with why.
    pub left_out: Vec<(JobId, UnassignedReason)>,
}

fn point(location: Option<fieldopt_domain::GeoPoint>) -> Option<(f64, f64)> {
    location.map(|p| (p.latitude(), p.longitude()))
}

/// Builds the routing problem of a day.
pub fn build_problem(input: &DayInput<'_>) -> DayProblem {
    let mut points: Vec<(f64, f64)> = Vec::new();
    let mut locate = |position: Option<(f64, f64)>| {
        position.map(|p| {
            points.push(p);
            points.len() - 1
        })
    };
    let starts: Vec<usize> = input
        .technicians
        .iter()
        .map(|t| locate(point(t.origin())).unwrap_or(ANYWHERE))
        .collect();
    let mut reserved = vec![Reserved::default(); input.technicians.len()];
    let mut jobs: Vec<(&Job, usize, Option<usize>)> = Vec::new();
    for (job, tech) in input.pinned {
        let Some(v) = input.technicians.iter().position(|x| x.id == *tech) else {
            continue;
        };
        match locate(point(job.location)) {
            Some(at) => jobs.push((job, at, Some(v))),
            None => {
                reserved[v].jobs += 1;
                reserved[v].minutes += f64::from(job.duration.get());
            }
        }
    }
    let mut left_out = Vec::new();
    for job in input.pending {
        match locate(point(job.location)) {
            Some(at) => jobs.push((job, at, None)),
            None => left_out.push((job.id, UnassignedReason::NoLocation)),
        }
    }
    let vehicles = input
        .technicians
        .iter()
        .zip(starts)
        .zip(&reserved)
        .map(|((tech, start), reserved)| vehicle(tech, start, *reserved))
        .collect();
    let plan_jobs = jobs
        .iter()
        .map(|&(job, at, pinned_to)| plan_job(job, at, pinned_to))
        .collect();
    DayProblem {
        problem: Problem {
            travel: Travel::great_circle(&points, input.speed_kmh),
            vehicles,
            jobs: plan_jobs,
            open_routes: true,
        },
        left_out,
    }
}

/// Plans the day.
pub fn plan_day(input: &DayInput<'_>, options: &SolveOptions) -> DayPlan {
    let DayProblem { problem, left_out } = build_problem(input);
    let plan = planning::solve(&problem, options);
    let pinned_count = problem
        .jobs
        .iter()
        .filter(|j| j.pinned_to.is_some())
        .count();
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
    let mut unassigned: Vec<(JobId, Vec<UnassignedReason>)> = plan
        .unassigned
        .iter()
        .map(|u| (job_id(u.job), u.reasons.clone()))
        .chain(
            left_out
                .into_iter()
                .map(|(job, reason)| (job, vec![reason])),
        )
        .collect();
    unassigned.sort_by_key(|(job, _)| *job);
    DayPlan {
        routes,
        unassigned,
        travel_km: plan.distance,
    }
}
