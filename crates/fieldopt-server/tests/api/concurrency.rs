//! The hard rules under parallel requests, in one process and across two
//! server processes sharing one database.

use futures_util::future::join_all;
use reqwest::{Client, StatusCode};
use serde_json::json;

use crate::helpers::{ServerProcess, TestApp, expect_json, id};

crate::backend_tests!(
    twelve_assigns_race_for_three_places,
    eight_technicians_race_for_one_job,
    batches_race_on_one_technician,
    two_server_processes_share_the_rules,
);

/// Sends every request at once; returns the statuses.
async fn race(client: &Client, requests: Vec<(String, serde_json::Value)>) -> Vec<StatusCode> {
    let sends = requests.into_iter().map(|(url, body)| {
        let client = client.clone();
        tokio::spawn(async move {
            client
                .post(url)
                .json(&body)
                .send()
                .await
                .expect("request")
                .status()
        })
    });
    join_all(sends)
        .await
        .into_iter()
        .map(|r| r.expect("task"))
        .collect()
}

fn count(statuses: &[StatusCode], wanted: StatusCode) -> usize {
    statuses.iter().filter(|s| **s == wanted).count()
}

/// Twelve assigns, spread over `servers`, race for a capacity-3 technician.
async fn race_twelve_assigns(app: &TestApp, servers: &[&str]) {
    let tech = id(&app.technician(json!({"capacity": 3})).await);
    let jobs: Vec<i64> = join_all((0..12).map(|_| app.job(json!({"skills_required": []}))))
        .await
        .iter()
        .map(id)
        .collect();
    let requests = jobs
        .iter()
        .enumerate()
        .map(|(i, job)| {
            (
                format!("{}/api/v1/assignments", servers[i % servers.len()]),
                json!({"job_id": job, "technician_id": tech}),
            )
        })
        .collect();
    let statuses = race(&app.client, requests).await;
    assert_eq!(count(&statuses, StatusCode::CREATED), 3, "{statuses:?}");
    assert_eq!(count(&statuses, StatusCode::CONFLICT), 9, "{statuses:?}");
    let t = expect_json(
        app.get(&format!("/api/v1/technicians/{tech}?date=2030-01-15"))
            .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(t["current_workload"], 3);
    app.assert_counters_consistent();
}

/// Eight technicians, spread over `servers`, race for one job.
async fn race_for_one_job(app: &TestApp, servers: &[&str]) {
    let techs: Vec<i64> = join_all((0..8).map(|_| app.technician(json!({}))))
        .await
        .iter()
        .map(id)
        .collect();
    let job = id(&app.job(json!({})).await);
    let requests = techs
        .iter()
        .enumerate()
        .map(|(i, tech)| {
            (
                format!("{}/api/v1/assignments", servers[i % servers.len()]),
                json!({"job_id": job, "technician_id": tech}),
            )
        })
        .collect();
    let statuses = race(&app.client, requests).await;
    assert_eq!(count(&statuses, StatusCode::CREATED), 1, "{statuses:?}");
    assert_eq!(count(&statuses, StatusCode::CONFLICT), 7, "{statuses:?}");
    app.assert_counters_consistent();
}

async fn twelve_assigns_race_for_three_places(app: TestApp) {
    race_twelve_assigns(&app, &[&app.address]).await;
}

async fn eight_technicians_race_for_one_job(app: TestApp) {
    race_for_one_job(&app, &[&app.address]).await;
}

async fn batches_race_on_one_technician(app: TestApp) {
    let tech = id(&app.technician(json!({"capacity": 5})).await);
    let jobs: Vec<i64> = join_all((0..12).map(|_| app.job(json!({}))))
        .await
        .iter()
        .map(id)
        .collect();
    let requests = jobs
        .chunks(3)
        .map(|batch| {
            (
                app.url("/api/v1/assignments/batch-assign"),
                json!({"job_ids": batch, "technician_id": tech}),
            )
        })
        .collect();
    let statuses = race(&app.client, requests).await;
    // Two batches of three would exceed five: exactly one wins, whole.
    assert_eq!(count(&statuses, StatusCode::OK), 1, "{statuses:?}");
    assert_eq!(count(&statuses, StatusCode::CONFLICT), 3, "{statuses:?}");
    let t = expect_json(
        app.get(&format!("/api/v1/technicians/{tech}?date=2030-01-15"))
            .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(t["current_workload"], 3);
    app.assert_counters_consistent();
}

async fn two_server_processes_share_the_rules(app: TestApp) {
    let first = ServerProcess::for_app(&app).await;
    let second = ServerProcess::for_app(&app).await;
    let servers = [first.address.as_str(), second.address.as_str()];
    race_twelve_assigns(&app, &servers).await;
    race_for_one_job(&app, &servers).await;

    // SIGTERM stops a server gracefully with exit code 0.
    assert!(first.terminate(), "fieldopt exited non-zero on SIGTERM");
    drop(second);
}
