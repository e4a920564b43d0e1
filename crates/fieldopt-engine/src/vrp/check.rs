//! An independent plan checker: recomputes everything from the problem.

use std::fmt;

use super::{Plan, Problem, qualified};

const EPS: f64 = 1e-6;

/// A rule a plan breaks.
#[derive(Debug, Clone, PartialEq)]
pub enum Violation {
    /// A job is routed more than once, or both routed and left out.
    Duplicate(usize),
    /// A job is neither routed nor left out.
    Missing(usize),
    /// A route names a vehicle that does not exist, or appears twice.
    BadVehicle(usize),
    /// The vehicle lacks the skills or area, or the job is pinned elsewhere.
    NotQualified { vehicle: usize, job: usize },
    /// Too many jobs or too much load.
    OverCapacity(usize),
    /// Work starts outside the job's window.
    OutsideWindow { vehicle: usize, job: usize },
    /// Work or the return ends after the shift.
    AfterShift(usize),
    /// A stop's times or distances do not follow from the route.
    WrongTimes { vehicle: usize, job: usize },
    /// The route or plan distance does not add up.
    WrongDistance(usize),
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Violation::Duplicate(j) => write!(f, "job {j} appears twice"),
            Violation::Missing(j) => write!(f, "job {j} is neither routed nor unassigned"),
            Violation::BadVehicle(v) => write!(f, "route of unknown or repeated vehicle {v}"),
            Violation::NotQualified { vehicle, job } => {
                write!(f, "vehicle {vehicle} may not do job {job}")
            }
            Violation::OverCapacity(v) => write!(f, "vehicle {v} is over capacity"),
            Violation::OutsideWindow { vehicle, job } => {
                write!(f, "vehicle {vehicle} starts job {job} outside its window")
            }
            Violation::AfterShift(v) => write!(f, "vehicle {v} works past its shift"),
            Violation::WrongTimes { vehicle, job } => {
                write!(f, "vehicle {vehicle}: wrong times at job {job}")
            }
            Violation::WrongDistance(v) => write!(f, "vehicle {v}: distance does not add up"),
        }
    }
}

/// Every rule `plan` breaks for `problem` (empty when it is valid).
pub fn check_plan(problem: &Problem, plan: &Plan) -> Vec<Violation> {
    let mut violations = Vec::new();
    let n = problem.jobs.len();
    let mut seen = vec![0usize; n];
    let mut vehicles_seen = vec![false; problem.vehicles.len()];
    let mut total = 0.0;
    for route in &plan.routes {
        let v = route.vehicle;
        let Some(vehicle) = problem.vehicles.get(v) else {
            violations.push(Violation::BadVehicle(v));
            continue;
        };
        if std::mem::replace(&mut vehicles_seen[v], true) {
            violations.push(Violation::BadVehicle(v));
        }
        let (mut t, mut prev, mut d, mut load) = (vehicle.shift_start, vehicle.start, 0.0, 0i64);
        for stop in &route.stops {
            let j = stop.job;
            let Some(job) = problem.jobs.get(j) else {
                violations.push(Violation::Missing(j));
                continue;
            };
            seen[j] += 1;
            let (skills, area) = qualified(vehicle, job);
            if !skills || !area || job.pinned_to.is_some_and(|w| w != v) {
                violations.push(Violation::NotQualified { vehicle: v, job: j });
            }
            load += job.demand;
            let leg = problem.travel.distance(prev, job.location);
            let arrival = t + problem.travel.time(prev, job.location);
            let start = arrival.max(job.window_start);
            if (stop.arrival - arrival).abs() > EPS
                || (stop.start - start).abs() > EPS
                || (stop.end - (start + job.duration)).abs() > EPS
                || (stop.distance - leg).abs() > EPS
            {
                violations.push(Violation::WrongTimes { vehicle: v, job: j });
            }
            if start < job.window_start - EPS || start > job.window_end + EPS {
                violations.push(Violation::OutsideWindow { vehicle: v, job: j });
            }
            t = start + job.duration;
            d += leg;
            prev = job.location;
        }
        if route.stops.len() > vehicle.max_jobs || load > vehicle.load_capacity {
            violations.push(Violation::OverCapacity(v));
        }
        let mut finish = t;
        if !problem.open_routes && !route.stops.is_empty() {
            finish += problem.travel.time(prev, vehicle.start);
            d += problem.travel.distance(prev, vehicle.start);
        }
        if !route.stops.is_empty() && finish > vehicle.shift_end + EPS {
            violations.push(Violation::AfterShift(v));
        }
        if (route.distance - d).abs() > 1e-6 * (1.0 + d) {
            violations.push(Violation::WrongDistance(v));
        }
        total += d;
    }
    for u in &plan.unassigned {
        if let Some(count) = seen.get_mut(u.job) {
            *count += 1;
        }
    }
    for (j, count) in seen.iter().enumerate() {
        match count {
            0 => violations.push(Violation::Missing(j)),
            1 => {}
            _ => violations.push(Violation::Duplicate(j)),
        }
    }
    if (plan.distance - total).abs() > 1e-6 * (1.0 + total) {
        violations.push(Violation::WrongDistance(usize::MAX));
    }
    violations
}
