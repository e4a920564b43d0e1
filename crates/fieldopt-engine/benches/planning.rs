//! Hot paths of the engine: a planning run with a fixed iteration budget,
//! the plan checker, and best-technician ranking.
//!
//! `cargo bench -p fieldopt-engine` (instances from `bench/data/solomon`).

use std::hint::black_box;
use std::path::PathBuf;

use criterion::{Criterion, criterion_group, criterion_main};
use fieldopt_domain::DayLoad;
use fieldopt_domain::fixtures::{job, technician};
use fieldopt_engine::vrp::{Problem, SolveOptions, check_plan, solomon, solve};
use fieldopt_engine::{Candidate, rank_technicians};

fn instance(name: &str) -> Problem {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join(format!("../../bench/data/solomon/{name}.txt"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    solomon::parse(&text).expect("valid instance").to_problem()
}

fn planning(c: &mut Criterion) {
    for name in ["C101", "R201"] {
        let problem = instance(name);
        let options = SolveOptions {
            max_iterations: Some(50),
            seed: 1,
            ..SolveOptions::default()
        };
        c.bench_function(&format!("solve {name} 50 iterations"), |b| {
            b.iter(|| solve(black_box(&problem), &options))
        });
        let plan = solve(&problem, &options);
        c.bench_function(&format!("check_plan {name}"), |b| {
            b.iter(|| check_plan(black_box(&problem), black_box(&plan)))
        });
    }
}

fn ranking(c: &mut Criterion) {
    let techs: Vec<_> = (0..200)
        .map(|i| {
            technician(i)
                .skills(&["install", "repair"])
                .home(40.7 + i as f64 * 0.001, -74.0)
                .build()
        })
        .collect();
    let candidates: Vec<Candidate<'_>> = techs
        .iter()
        .map(|t| Candidate {
            technician: t,
            load: DayLoad::default(),
        })
        .collect();
    let job = job(1).skills(&["install"]).location(40.75, -73.99).build();
    c.bench_function("rank 200 technicians", |b| {
        b.iter(|| rank_technicians(black_box(&job), black_box(&candidates)))
    });
}

criterion_group!(benches, planning, ranking);
criterion_main!(benches);
