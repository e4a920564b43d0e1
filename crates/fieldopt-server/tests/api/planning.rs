//! `POST /routing/plan`: whole-day planning through the API.

use std::collections::{HashMap, HashSet};

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{TestApp, expect_json, expect_problem, id};

crate::backend_tests!(
    a_dry_run_plans_every_rule_and_writes_nothing,
    applying_writes_sequenced_assignments_and_keeps_pinned_jobs,
    plan_requests_are_validated,
);

const DAY: &str = "2030-03-04";

fn minutes(clock: &Value) -> u32 {
    let text = clock.as_str().unwrap();
    let (h, m) = text.split_once(':').unwrap();
    h.parse::<u32>().unwrap() * 60 + m.parse::<u32>().unwrap()
}

/// Creates a small day: three technicians with different skills and areas,
/// twelve jobs with slots, one that nobody can do.
async fn small_day(app: &TestApp) -> (Vec<Value>, Vec<Value>) {
    let techs = vec![
        app.technician(json!({"name": "A", "skills": ["install", "repair"], "capacity": 4, "home_latitude": 40.75, "home_longitude": -73.99})).await,
        app.technician(json!({"name": "B", "skills": ["repair"], "areas": ["brooklyn"], "capacity": 3, "home_latitude": 40.68, "home_longitude": -73.94, "shift_start": "09:00", "shift_end": "15:00"})).await,
        app.technician(json!({"name": "C", "skills": ["install", "fiber"], "capacity": 5, "home_latitude": 40.73, "home_longitude": -73.80})).await,
        app.technician(json!({"name": "Off", "skills": ["install", "repair", "fiber"], "status": "off_duty"})).await,
    ];
    let mut jobs = Vec::new();
    for i in 0..11 {
        let (kind, area) = if i % 2 == 0 {
            ("install", "manhattan")
        } else {
            ("repair", "brooklyn")
        };
        let slot = ["08:00-12:00", "12:00-16:00", "09:00-11:00"][i % 3];
        jobs.push(
            app.job(json!({"type": kind, "scheduled_date": DAY, "time_slot": slot, "area": area,
                           "latitude": 40.70 + 0.01 * i as f64, "longitude": -73.95 + 0.005 * i as f64,
                           "duration_minutes": 45, "priority": 1 + (i % 5)}))
            .await,
        );
    }
    jobs.push(
        app.job(
            json!({"type": "inspection", "scheduled_date": DAY, "skills_required": ["crane"],
                       "latitude": 40.72, "longitude": -73.9}),
        )
        .await,
    );
    (techs, jobs)
}

/// Checks a plan against the rules, independently of the engine.
fn check_plan(plan: &Value, techs: &[Value], jobs: &[Value]) {
    let techs: HashMap<i64, &Value> = techs.iter().map(|t| (id(t), t)).collect();
    let jobs: HashMap<i64, &Value> = jobs.iter().map(|j| (id(j), j)).collect();
    let mut seen = HashSet::new();
    for route in plan["routes"].as_array().unwrap() {
        let tech = techs[&route["technician_id"].as_i64().unwrap()];
        assert_ne!(tech["status"], "off_duty");
        let stops = route["stops"].as_array().unwrap();
        assert!(stops.len() as i64 <= tech["capacity"].as_i64().unwrap());
        let skills: HashSet<&str> = tech["skills"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s.as_str().unwrap())
            .collect();
        let areas: Vec<&str> = tech["areas"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s.as_str().unwrap())
            .collect();
        let mut clock = minutes(&tech["shift_start"]);
        for stop in stops {
            let job = jobs[&stop["job_id"].as_i64().unwrap()];
            assert!(seen.insert(id(job)), "job planned twice");
            for skill in job["skills_required"].as_array().unwrap() {
                assert!(
                    skills.contains(skill.as_str().unwrap()),
                    "skill {skill} missing"
                );
            }
            if let Some(area) = job["area"].as_str() {
                assert!(areas.is_empty() || areas.contains(&area), "area {area}");
            }
            let (arrival, start, end) = (
                minutes(&stop["arrival"]),
                minutes(&stop["start"]),
                minutes(&stop["end"]),
            );
            assert!(
                clock <= arrival + 1 && arrival <= start && start < end,
                "{stop}"
            );
            if let Some(slot) = job["time_slot"].as_str() {
                let (from, to) = slot.split_once('-').unwrap();
                assert!(
                    start + 1 >= minutes(&json!(from)) && start <= minutes(&json!(to)) + 1,
                    "{stop} outside {slot}"
                );
            }
            assert_eq!(
                end - start,
                job["duration_minutes"].as_u64().unwrap() as u32
            );
            assert!(end <= minutes(&tech["shift_end"]) + 1, "{stop} after shift");
            clock = end;
        }
    }
    for unplanned in plan["unassigned"].as_array().unwrap() {
        assert!(
            seen.insert(unplanned["job_id"].as_i64().unwrap()),
            "unassigned job also planned"
        );
        assert!(!unplanned["reasons"].as_array().unwrap().is_empty());
    }
    let planned: usize = plan["routes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["stops"].as_array().unwrap().len())
        .sum();
    assert_eq!(plan["totals"]["jobs_assigned"], planned);
    assert_eq!(
        plan["totals"]["jobs_unassigned"],
        plan["unassigned"].as_array().unwrap().len()
    );
}

async fn a_dry_run_plans_every_rule_and_writes_nothing(app: TestApp) {
    let (techs, jobs) = small_day(&app).await;
    let response = app
        .post(
            "/api/v1/routing/plan/",
            &json!({"scheduled_date": DAY, "time_limit_ms": 300}),
        )
        .await;
    let plan = expect_json(response, StatusCode::OK).await;
    assert_eq!(plan["applied"], false);
    assert_eq!(plan["scheduled_date"], DAY);
    check_plan(&plan, &techs, &jobs);
    assert_eq!(
        plan["totals"]["jobs_assigned"].as_u64().unwrap()
            + plan["totals"]["jobs_unassigned"].as_u64().unwrap(),
        12
    );
    let crane = plan["unassigned"]
        .as_array()
        .unwrap()
        .iter()
        .find(|u| u["job_id"] == id(&jobs[11]))
        .expect("crane job unassigned");
    assert!(
        crane["reasons"][0].as_str().unwrap().starts_with("SKILL"),
        "{crane}"
    );
    assert!(
        plan["totals"]["jobs_assigned"].as_u64().unwrap() >= 9,
        "{plan}"
    );
    let summary = expect_json(
        app.get(&format!("/api/v1/jobs/summary?scheduled_date={DAY}"))
            .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(summary["pending"], 12, "a dry run writes nothing");
}

async fn applying_writes_sequenced_assignments_and_keeps_pinned_jobs(app: TestApp) {
    let (techs, jobs) = small_day(&app).await;
    let a = id(&techs[0]);
    // Already A's: stays A's.
    expect_json(app.assign(id(&jobs[0]), a).await, StatusCode::CREATED).await;
    let response = app
        .post(
            "/api/v1/routing/plan",
            &json!({"scheduled_date": DAY, "time_limit_ms": 300, "apply": true}),
        )
        .await;
    let plan = expect_json(response, StatusCode::OK).await;
    assert_eq!(plan["applied"], true);
    check_plan(&plan, &techs, &jobs);
    let route_of_a = plan["routes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["technician_id"] == a)
        .expect("A works");
    assert!(
        route_of_a["stops"]
            .as_array()
            .unwrap()
            .iter()
            .any(|s| s["job_id"] == id(&jobs[0])),
        "pinned job kept"
    );
    for route in plan["routes"].as_array().unwrap() {
        let tech = route["technician_id"].as_i64().unwrap();
        let held = expect_json(
            app.get(&format!("/api/v1/assignments/technician/{tech}?date={DAY}"))
                .await,
            StatusCode::OK,
        )
        .await;
        let held_jobs: Vec<i64> = held
            .as_array()
            .unwrap()
            .iter()
            .map(|h| h["job_id"].as_i64().unwrap())
            .collect();
        let planned: Vec<i64> = route["stops"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["job_id"].as_i64().unwrap())
            .collect();
        assert_eq!(held_jobs, planned, "assignments follow the planned order");
        for (index, assignment) in held.as_array().unwrap().iter().enumerate() {
            assert_eq!(assignment["sequence"], index + 1);
            assert!(
                assignment["estimated_arrival"]
                    .as_str()
                    .unwrap()
                    .starts_with(DAY)
            );
        }
    }
    app.assert_counters_consistent();
    // Everything placed is now pinned: a second plan keeps all of it.
    let again = expect_json(
        app.post(
            "/api/v1/routing/plan",
            &json!({"scheduled_date": DAY, "time_limit_ms": 100}),
        )
        .await,
        StatusCode::OK,
    )
    .await;
    assert!(
        again["totals"]["jobs_assigned"].as_u64() >= plan["totals"]["jobs_assigned"].as_u64(),
        "pinned jobs are never dropped"
    );
}

async fn plan_requests_are_validated(app: TestApp) {
    let tech = id(&app.technician(json!({})).await);
    let job = id(&app
        .job(json!({"scheduled_date": DAY, "latitude": 40.7, "longitude": -74.0}))
        .await);
    let other_day = id(&app.job(json!({"scheduled_date": "2030-03-05"})).await);
    for (body, field) in [
        (json!({}), "scheduled_date"),
        (json!({"scheduled_date": "tomorrow"}), "scheduled_date"),
        (
            json!({"scheduled_date": DAY, "time_limit_ms": 1}),
            "time_limit_ms",
        ),
        (json!({"scheduled_date": DAY, "job_ids": []}), "job_ids"),
        (
            json!({"scheduled_date": DAY, "technician_ids": [tech, tech]}),
            "technician_ids",
        ),
        (json!({"scheduled_date": DAY, "apply": "yes"}), "apply"),
        (json!({"scheduled_date": DAY, "dry_run": true}), "dry_run"),
    ] {
        let detail = expect_problem(
            app.post("/api/v1/routing/plan", &body).await,
            StatusCode::BAD_REQUEST,
        )
        .await;
        assert!(detail.contains(field), "{body}: {detail}");
    }
    let detail = expect_problem(
        app.post(
            "/api/v1/routing/plan",
            &json!({"scheduled_date": DAY, "job_ids": [job, 999_999]}),
        )
        .await,
        StatusCode::NOT_FOUND,
    )
    .await;
    assert_eq!(detail, "Job 999999 not found");
    let detail = expect_problem(
        app.post(
            "/api/v1/routing/plan",
            &json!({"scheduled_date": DAY, "technician_ids": [999_999]}),
        )
        .await,
        StatusCode::NOT_FOUND,
    )
    .await;
    assert_eq!(detail, "Technician 999999 not found");
    expect_problem(
        app.post(
            "/api/v1/routing/plan",
            &json!({"scheduled_date": DAY, "job_ids": [other_day]}),
        )
        .await,
        StatusCode::CONFLICT,
    )
    .await;
    let plan = expect_json(app.post("/api/v1/routing/plan", &json!({"scheduled_date": DAY, "job_ids": [job], "technician_ids": [tech], "time_limit_ms": 50})).await, StatusCode::OK).await;
    assert_eq!(plan["totals"]["jobs_assigned"], 1);
}
