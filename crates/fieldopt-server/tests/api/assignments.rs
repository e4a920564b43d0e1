use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{TestApp, expect_json, expect_problem, id};

crate::backend_tests!(
    assign_and_read_back,
    soft_rules_refuse_unless_forced_and_force_never_beats_capacity,
    batch_assign_is_all_or_nothing,
    batch_unassign_is_all_or_nothing,
    unassign_and_reassign_follow_the_rules,
);

async fn assign_and_read_back(app: TestApp) {
    let tech = id(&app.technician(json!({})).await);
    let first = id(&app.job(json!({"scheduled_date": "2030-01-16"})).await);
    let second = id(&app.job(json!({"scheduled_date": "2030-01-15"})).await);
    let created = expect_json(app.assign(first, tech).await, StatusCode::CREATED).await;
    assert_eq!(created["job_id"], first);
    assert_eq!(created["technician_id"], tech);
    assert_eq!(created["sequence"], Value::Null);
    assert!(created["assigned_at"].as_str().unwrap().ends_with('Z'));
    let job = expect_json(
        app.get(&format!("/api/v1/jobs/{first}")).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(job["status"], "assigned");
    assert_eq!(job["assigned_technician"], tech);
    let by_job = expect_json(
        app.get(&format!("/api/v1/assignments/job/{first}")).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(by_job, created);
    expect_json(app.assign(second, tech).await, StatusCode::CREATED).await;
    let mine = expect_json(
        app.get(&format!("/api/v1/assignments/technician/{tech}"))
            .await,
        StatusCode::OK,
    )
    .await;
    let order: Vec<i64> = mine
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["job_id"].as_i64().unwrap())
        .collect();
    assert_eq!(order, vec![second, first], "ordered by scheduled date");
    let one_day = expect_json(
        app.get(&format!(
            "/api/v1/assignments/technician/{tech}?date=2030-01-16"
        ))
        .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(one_day.as_array().unwrap().len(), 1);
    let detail = expect_problem(app.assign(first, tech).await, StatusCode::CONFLICT).await;
    assert!(detail.contains("already assigned"), "{detail}");
    assert_eq!(
        expect_problem(app.assign(999_999, tech).await, StatusCode::NOT_FOUND).await,
        "Job not found"
    );
    assert_eq!(
        expect_problem(app.assign(first, 999_999).await, StatusCode::NOT_FOUND).await,
        "Technician not found"
    );
    expect_problem(
        app.get("/api/v1/assignments/technician/999999").await,
        StatusCode::NOT_FOUND,
    )
    .await;
    let pending = id(&app.job(json!({})).await);
    assert_eq!(
        expect_problem(
            app.get(&format!("/api/v1/assignments/job/{pending}")).await,
            StatusCode::NOT_FOUND
        )
        .await,
        "Assignment not found"
    );
    assert_eq!(
        expect_problem(
            app.get("/api/v1/assignments/job/999999").await,
            StatusCode::NOT_FOUND
        )
        .await,
        "Job not found"
    );
    for (body, field) in [
        (json!({"job_id": "1", "technician_id": tech}), "job_id"),
        (json!({"technician_id": tech}), "job_id"),
        (
            json!({"job_id": first, "technician_id": tech, "force": "yes"}),
            "force",
        ),
        (json!({"job_id": first, "tech_id": tech}), "tech_id"),
    ] {
        let detail = expect_problem(
            app.post("/api/v1/assignments", &body).await,
            StatusCode::BAD_REQUEST,
        )
        .await;
        assert!(detail.contains(field), "{body}: {detail}");
    }
}

async fn soft_rules_refuse_unless_forced_and_force_never_beats_capacity(app: TestApp) {
    let tech = id(&app
        .technician(json!({"skills": ["repair"], "capacity": 1}))
        .await);
    let job = id(&app.job(json!({"skills_required": ["install"]})).await);
    let detail = expect_problem(app.assign(job, tech).await, StatusCode::CONFLICT).await;
    assert!(
        detail.contains("lacks required skills: install"),
        "{detail}"
    );
    let forced = json!({"job_id": job, "technician_id": tech, "force": true});
    expect_json(
        app.post("/api/v1/assignments", &forced).await,
        StatusCode::CREATED,
    )
    .await;
    let another = id(&app.job(json!({"skills_required": ["repair"]})).await);
    let forced = json!({"job_id": another, "technician_id": tech, "force": true});
    let detail = expect_problem(
        app.post("/api/v1/assignments", &forced).await,
        StatusCode::CONFLICT,
    )
    .await;
    assert_eq!(detail, "Technician already has maximum capacity");
    let off = id(&app
        .technician(json!({"skills": ["repair"], "status": "off_duty"}))
        .await);
    let detail = expect_problem(app.assign(another, off).await, StatusCode::CONFLICT).await;
    assert!(detail.contains("off_duty"), "{detail}");
    let job_state = expect_json(
        app.get(&format!("/api/v1/jobs/{another}")).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(job_state["status"], "pending");
    app.assert_counters_consistent();
}

async fn batch_assign_is_all_or_nothing(app: TestApp) {
    let tech = id(&app.technician(json!({"capacity": 3})).await);
    let jobs: Vec<i64> = futures_util::future::join_all((0..4).map(|_| app.job(json!({}))))
        .await
        .iter()
        .map(id)
        .collect();
    let other = id(&app.technician(json!({})).await);
    expect_json(app.assign(jobs[3], other).await, StatusCode::CREATED).await;
    let body = json!({"job_ids": [jobs[0], jobs[1], jobs[3]], "technician_id": tech});
    let detail = expect_problem(
        app.post("/api/v1/assignments/batch-assign", &body).await,
        StatusCode::CONFLICT,
    )
    .await;
    assert!(detail.starts_with(&format!("Job {}:", jobs[3])), "{detail}");
    for job in &jobs[..3] {
        let state = expect_json(
            app.get(&format!("/api/v1/jobs/{job}")).await,
            StatusCode::OK,
        )
        .await;
        assert_eq!(state["status"], "pending", "nothing was assigned");
    }
    let body = json!({"job_ids": [jobs[0], 999_999], "technician_id": tech});
    let detail = expect_problem(
        app.post("/api/v1/assignments/batch-assign", &body).await,
        StatusCode::NOT_FOUND,
    )
    .await;
    assert_eq!(detail, "Job 999999 not found");
    let done = expect_json(
        app.post(
            "/api/v1/assignments/batch-assign",
            &json!({"job_ids": [jobs[2], jobs[0], jobs[1]], "technician_id": tech}),
        )
        .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(done["assigned_count"], 3);
    assert_eq!(done["assignments"].as_array().unwrap().len(), 3);
    // Capacity counts inside the batch too.
    let extra = id(&app.job(json!({})).await);
    let detail = expect_problem(
        app.post(
            "/api/v1/assignments/batch-assign",
            &json!({"job_ids": [extra], "technician_id": tech}),
        )
        .await,
        StatusCode::CONFLICT,
    )
    .await;
    assert!(
        detail.ends_with("Technician already has maximum capacity"),
        "{detail}"
    );
    for body in [
        json!({"job_ids": [], "technician_id": tech}),
        json!({"job_ids": [1, 1], "technician_id": tech}),
        json!({"job_ids": (1..=1001).collect::<Vec<i64>>(), "technician_id": tech}),
    ] {
        let detail = expect_problem(
            app.post("/api/v1/assignments/batch-assign", &body).await,
            StatusCode::BAD_REQUEST,
        )
        .await;
        assert!(detail.contains("job_ids"), "{detail}");
    }
    app.assert_counters_consistent();
}

async fn batch_unassign_is_all_or_nothing(app: TestApp) {
    let tech = id(&app.technician(json!({})).await);
    let a = id(&app.job(json!({})).await);
    let b = id(&app.job(json!({})).await);
    let c = id(&app.job(json!({})).await);
    expect_json(
        app.post(
            "/api/v1/assignments/batch-assign",
            &json!({"job_ids": [a, b], "technician_id": tech}),
        )
        .await,
        StatusCode::OK,
    )
    .await;
    let detail = expect_problem(
        app.post(
            "/api/v1/assignments/batch-unassign",
            &json!({"job_ids": [a, c]}),
        )
        .await,
        StatusCode::CONFLICT,
    )
    .await;
    assert!(detail.starts_with(&format!("Job {c}:")), "{detail}");
    let still = expect_json(app.get(&format!("/api/v1/jobs/{a}")).await, StatusCode::OK).await;
    assert_eq!(still["status"], "assigned");
    let done = expect_json(
        app.post(
            "/api/v1/assignments/batch-unassign",
            &json!({"job_ids": [b, a]}),
        )
        .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(done, json!({"unassigned_count": 2, "job_ids": [a, b]}));
    let job = expect_json(app.get(&format!("/api/v1/jobs/{a}")).await, StatusCode::OK).await;
    assert_eq!(job["status"], "pending");
    assert_eq!(job["assigned_technician"], Value::Null);
    expect_problem(
        app.post(
            "/api/v1/assignments/batch-unassign",
            &json!({"job_ids": [999_999]}),
        )
        .await,
        StatusCode::NOT_FOUND,
    )
    .await;
    app.assert_counters_consistent();
}

async fn unassign_and_reassign_follow_the_rules(app: TestApp) {
    let t1 = id(&app.technician(json!({})).await);
    let t2 = id(&app.technician(json!({"capacity": 1})).await);
    let job = id(&app.job(json!({})).await);
    let detail = expect_problem(
        app.post("/api/v1/assignments/unassign", &json!({"job_id": job}))
            .await,
        StatusCode::CONFLICT,
    )
    .await;
    assert!(detail.contains("pending"), "{detail}");
    expect_problem(
        app.post(
            "/api/v1/assignments/reassign",
            &json!({"job_id": job, "new_technician_id": t2}),
        )
        .await,
        StatusCode::CONFLICT,
    )
    .await;
    expect_json(app.assign(job, t1).await, StatusCode::CREATED).await;
    let same = app
        .post(
            "/api/v1/assignments/reassign",
            &json!({"job_id": job, "new_technician_id": t1}),
        )
        .await;
    expect_problem(same, StatusCode::CONFLICT).await;
    expect_problem(
        app.post(
            "/api/v1/assignments/reassign",
            &json!({"job_id": job, "new_technician_id": 999_999}),
        )
        .await,
        StatusCode::NOT_FOUND,
    )
    .await;
    let moved = expect_json(
        app.post(
            "/api/v1/assignments/reassign",
            &json!({"job_id": job, "new_technician_id": t2}),
        )
        .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(moved["technician_id"], t2);
    let first = expect_json(
        app.get(&format!("/api/v1/technicians/{t1}")).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(first["status"], "available");
    let second = expect_json(
        app.get(&format!("/api/v1/technicians/{t2}")).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(second["status"], "assigned");
    // t2 is now full: moving another job there is refused, nothing changes.
    let other = id(&app.job(json!({})).await);
    expect_json(app.assign(other, t1).await, StatusCode::CREATED).await;
    let full = app
        .post(
            "/api/v1/assignments/reassign",
            &json!({"job_id": other, "new_technician_id": t2}),
        )
        .await;
    assert_eq!(
        expect_problem(full, StatusCode::CONFLICT).await,
        "Technician already has maximum capacity"
    );
    let kept = expect_json(
        app.get(&format!("/api/v1/assignments/job/{other}")).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(kept["technician_id"], t1);
    assert_eq!(
        app.post("/api/v1/assignments/unassign", &json!({"job_id": job}))
            .await
            .status(),
        StatusCode::NO_CONTENT
    );
    expect_problem(
        app.post("/api/v1/assignments/unassign", &json!({"job_id": 999_999}))
            .await,
        StatusCode::NOT_FOUND,
    )
    .await;
    app.assert_counters_consistent();
}
