//! `fieldopt solve FILE`: the day-planning engine on a Solomon or
//! Gehring–Homberger VRPTW instance.

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::Context;
use fieldopt_engine::vrp::{self as planning, SolveOptions, solomon};
use serde_json::{Value, json};

/// Solves the instance in `file` and returns the contract's JSON:
/// `{"instance", "vehicles", "distance", "unassigned", "elapsed_ms", "routes"}`
/// with the unrounded Euclidean distance and routes as customer numbers.
pub fn solve_file(
    file: &Path,
    time_limit: Duration,
    max_iterations: Option<u64>,
    seed: u64,
) -> anyhow::Result<Value> {
    let text =
        std::fs::read_to_string(file).with_context(|| format!("cannot read {}", file.display()))?;
    let instance = solomon::parse(&text)
        .map_err(|e| anyhow::anyhow!("{} is not a Solomon instance: {e}", file.display()))?;
    let problem = instance.to_problem();
    let started = Instant::now();
    let plan = planning::solve(
        &problem,
        &SolveOptions {
            time_limit: Some(time_limit),
            max_iterations,
            seed,
            ..SolveOptions::default()
        },
    );
    let elapsed_ms = started.elapsed().as_millis() as u64;
    let routes: Vec<Vec<i64>> = plan
        .routes
        .iter()
        .filter(|route| !route.stops.is_empty())
        .map(|route| {
            route
                .stops
                .iter()
                .map(|stop| problem.jobs[stop.job].id)
                .collect()
        })
        .collect();
    let unassigned: Vec<i64> = plan
        .unassigned
        .iter()
        .map(|u| problem.jobs[u.job].id)
        .collect();
    Ok(json!({
        "instance": instance.name,
        "vehicles": routes.len(),
        "distance": plan.distance,
        "unassigned": unassigned,
        "elapsed_ms": elapsed_ms,
        "routes": routes,
    }))
}
