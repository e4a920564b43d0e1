//! Feature and property tests of the planner; every plan goes through the
//! independent checker.

use std::path::PathBuf;

use fieldopt_engine::vrp::{
    PlanJob, Problem, SolveOptions, Travel, UnassignedReason, Vehicle, check_plan, solomon, solve,
};
use proptest::prelude::*;

fn options(iterations: u64) -> SolveOptions {
    SolveOptions {
        max_iterations: Some(iterations),
        seed: 7,
        ..SolveOptions::default()
    }
}

/// Points on a line, 1 km apart, 1 minute per km; vehicles start at 0.
fn line_problem(vehicles: Vec<Vehicle>, jobs: Vec<PlanJob>, points: usize) -> Problem {
    let mut distance = vec![0.0; points * points];
    for i in 0..points {
        for j in 0..points {
            distance[i * points + j] = (i as f64 - j as f64).abs();
        }
    }
    Problem {
        travel: Travel::matrix(points, distance.clone(), distance),
        vehicles,
        jobs,
        open_routes: true,
    }
}

fn vehicle(id: i64, skills: &[&str]) -> Vehicle {
    Vehicle {
        id,
        start: 0,
        shift_start: 0.0,
        shift_end: 600.0,
        skills: skills.iter().map(|s| s.to_string()).collect(),
        areas: vec![],
        max_jobs: 10,
        load_capacity: i64::MAX,
    }
}

fn job(id: i64, location: usize) -> PlanJob {
    PlanJob {
        id,
        location,
        duration: 10.0,
        window_start: 0.0,
        window_end: 600.0,
        skills: vec![],
        area: None,
        priority: 3,
        demand: 0,
        pinned_to: None,
    }
}

fn stops(plan: &fieldopt_engine::vrp::Plan, vehicle: usize) -> Vec<i64> {
    plan.routes[vehicle]
        .stops
        .iter()
        .map(|s| s.job as i64)
        .collect()
}

#[test]
fn jobs_on_a_line_are_visited_in_order_by_the_skilled_vehicle() {
    let mut fiber = job(3, 3);
    fiber.skills = vec!["fiber".into()];
    let problem = line_problem(
        vec![vehicle(1, &[]), vehicle(2, &["fiber"])],
        vec![job(1, 1), job(2, 2), fiber],
        4,
    );
    let plan = solve(&problem, &options(50));
    assert!(
        check_plan(&problem, &plan).is_empty(),
        "{:?}",
        check_plan(&problem, &plan)
    );
    assert!(plan.unassigned.is_empty());
    // Vehicle 2 must take the fiber job; the cheapest plan lets it take all three.
    assert_eq!(stops(&plan, 1), vec![0, 1, 2]);
    assert_eq!(plan.distance, 3.0);
    let last = &plan.routes[1].stops[2];
    assert_eq!((last.arrival, last.start, last.end), (23.0, 23.0, 33.0));
}

#[test]
fn time_windows_order_the_route_and_waiting_is_allowed() {
    let mut late_near = job(1, 1);
    late_near.window_start = 100.0;
    late_near.window_end = 120.0;
    let mut early_far = job(2, 5);
    early_far.window_end = 20.0;
    let problem = line_problem(vec![vehicle(1, &[])], vec![late_near, early_far], 6);
    let plan = solve(&problem, &options(50));
    assert!(check_plan(&problem, &plan).is_empty());
    assert_eq!(stops(&plan, 0), vec![1, 0]);
    let first = &plan.routes[0].stops[1];
    assert_eq!((first.arrival, first.start), (19.0, 100.0));
}

#[test]
fn capacity_and_priority_decide_who_is_left_out_and_why() {
    let mut v = vehicle(1, &[]);
    v.max_jobs = 1;
    let mut urgent = job(1, 5);
    urgent.priority = 1;
    let mut routine = job(2, 1);
    routine.priority = 5;
    let mut crane = job(3, 1);
    crane.skills = vec!["crane".into()];
    let mut night = job(4, 1);
    night.window_start = 700.0;
    night.window_end = 800.0;
    let problem = line_problem(vec![v], vec![urgent, routine, crane, night], 6);
    let plan = solve(&problem, &options(50));
    assert!(check_plan(&problem, &plan).is_empty());
    assert_eq!(
        stops(&plan, 0),
        vec![0],
        "the priority-1 job wins the only place"
    );
    let reasons: Vec<(usize, Vec<UnassignedReason>)> = plan
        .unassigned
        .iter()
        .map(|u| (u.job, u.reasons.clone()))
        .collect();
    assert_eq!(
        reasons,
        vec![
            (1, vec![UnassignedReason::Capacity]),
            (2, vec![UnassignedReason::Skill]),
            (3, vec![UnassignedReason::TimeWindow]),
        ]
    );
}

#[test]
fn areas_and_pins_are_respected() {
    let mut north = vehicle(1, &[]);
    north.areas = vec!["north".into()];
    let south = vehicle(2, &[]);
    let mut in_south = job(1, 1);
    in_south.area = Some("south".into());
    let mut pinned = job(2, 1);
    pinned.pinned_to = Some(0);
    let problem = line_problem(vec![north, south], vec![in_south, pinned], 2);
    let plan = solve(&problem, &options(50));
    assert!(check_plan(&problem, &plan).is_empty());
    assert_eq!(stops(&plan, 0), vec![1]);
    assert_eq!(stops(&plan, 1), vec![0]);
}

#[test]
fn closed_routes_return_before_the_shift_ends() {
    let mut problem = line_problem(
        vec![vehicle(1, &[]), vehicle(2, &[])],
        vec![job(1, 5), job(2, 5)],
        6,
    );
    problem.open_routes = false;
    problem.vehicles[0].shift_end = 30.0;
    problem.vehicles[1].shift_end = 30.0;
    let plan = solve(&problem, &options(50));
    assert!(check_plan(&problem, &plan).is_empty());
    // Two jobs at 5 km need 5 + 10 + 10 + 5 = 30 minutes: one vehicle can do both.
    assert_eq!(
        plan.routes.iter().filter(|r| !r.stops.is_empty()).count(),
        1
    );
    assert_eq!(plan.distance, 10.0);
}

#[test]
fn the_checker_catches_broken_plans() {
    let problem = line_problem(vec![vehicle(1, &[])], vec![job(1, 1), job(2, 2)], 3);
    let mut plan = solve(&problem, &options(10));
    assert!(check_plan(&problem, &plan).is_empty());
    plan.routes[0].stops[0].start += 1.0;
    plan.unassigned.push(fieldopt_engine::vrp::UnassignedJob {
        job: 1,
        reasons: vec![],
    });
    let violations = check_plan(&problem, &plan);
    assert!(violations.len() >= 2, "{violations:?}");
}

/// A Solomon instance from the repository's `bench/data`.
fn solomon_text(name: &str) -> String {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join(format!("../../bench/data/solomon/{name}.txt"));
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

#[test]
fn solomon_c101_is_solved_near_its_optimum() {
    let instance = solomon::parse(&solomon_text("C101")).unwrap();
    assert_eq!(
        (
            instance.vehicles,
            instance.capacity,
            instance.customers.len()
        ),
        (25, 200, 101)
    );
    let problem = instance.to_problem();
    let plan = solve(&problem, &options(200));
    assert!(
        check_plan(&problem, &plan).is_empty(),
        "{:?}",
        check_plan(&problem, &plan)
    );
    assert!(plan.unassigned.is_empty());
    // Optimum 828.94 (exact distances); allow 3 % with a short search.
    assert!(plan.distance < 828.94 * 1.03, "{}", plan.distance);
}

#[test]
fn same_seed_and_iterations_give_the_same_plan() {
    let problem = solomon::parse(&solomon_text("R101")).unwrap().to_problem();
    assert_eq!(solve(&problem, &options(30)), solve(&problem, &options(30)));
}

fn random_problem() -> impl Strategy<Value = Problem> {
    (1usize..5, 1usize..40, any::<u64>()).prop_map(|(vehicles, jobs, seed)| {
        let mut state = seed;
        let mut next = move |n: u64| {
            state = state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (state >> 33) % n
        };
        let points = jobs + 1;
        let coords: Vec<(f64, f64)> = (0..points)
            .map(|_| (next(50) as f64, next(50) as f64))
            .collect();
        let mut distance = vec![0.0; points * points];
        for i in 0..points {
            for j in 0..points {
                distance[i * points + j] = ((coords[i].0 - coords[j].0).powi(2)
                    + (coords[i].1 - coords[j].1).powi(2))
                .sqrt();
            }
        }
        let skills = ["a", "b"];
        let vehicles = (0..vehicles)
            .map(|v| Vehicle {
                id: v as i64,
                // Technicians start from different places.
                start: next(points as u64) as usize,
                shift_start: next(60) as f64,
                shift_end: 200.0 + next(300) as f64,
                skills: skills
                    .iter()
                    .take(1 + next(2) as usize)
                    .map(|s| s.to_string())
                    .collect(),
                areas: if next(3) == 0 {
                    vec!["x".into()]
                } else {
                    vec![]
                },
                max_jobs: 1 + next(6) as usize,
                load_capacity: 5 + next(20) as i64,
            })
            .collect();
        let jobs = (0..jobs)
            .map(|j| {
                let start = next(300) as f64;
                PlanJob {
                    id: j as i64,
                    location: j + 1,
                    duration: 1.0 + next(40) as f64,
                    window_start: start,
                    window_end: start + next(120) as f64,
                    skills: if next(4) == 0 {
                        vec!["b".into()]
                    } else {
                        vec![]
                    },
                    area: if next(4) == 0 { Some("y".into()) } else { None },
                    priority: 1 + next(5) as u8,
                    demand: next(8) as i64,
                    pinned_to: None,
                }
            })
            .collect();
        if next(2) == 0 {
            // Asymmetric distances: reversing a stretch changes its length.
            for (k, d) in distance.iter_mut().enumerate() {
                *d *= 1.0 + ((k / points) % 2) as f64 * 0.1;
            }
        }
        // Travel time that is not the distance and not symmetric (one-way
        // streets), so that no move may assume either.
        let travel_time = (0..points * points)
            .map(|k| distance[k] * (1.0 + ((k / points) % 3) as f64 * 0.25))
            .collect();
        Problem {
            travel: Travel::matrix(points, distance, travel_time),
            vehicles,
            jobs,
            open_routes: next(2) == 0,
        }
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]
    #[test]
    fn every_plan_passes_the_checker(problem in random_problem()) {
        let plan = solve(&problem, &options(20));
        let violations = check_plan(&problem, &plan);
        prop_assert!(violations.is_empty(), "{:?}", violations);
        for unassigned in &plan.unassigned {
            prop_assert!(!unassigned.reasons.is_empty());
        }
    }

    #[test]
    fn plans_are_deterministic(problem in random_problem()) {
        prop_assert_eq!(solve(&problem, &options(10)), solve(&problem, &options(10)));
    }
}
