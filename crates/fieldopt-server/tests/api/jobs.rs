use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{TestApp, expect_json, expect_problem, id};

crate::backend_tests!(
    create_applies_defaults,
    list_filters_and_rejects_bad_values,
    status_machine_is_enforced,
    patch_updates_fields_and_follows_the_machine,
    moving_an_active_job_rechecks_capacity,
    delete_only_pending_or_cancelled,
    summary_counts_per_status,
    history_records_every_event,
    can_do_reports_every_check,
);

async fn create_applies_defaults(app: TestApp) {
    let job = app
        .job(json!({"type": "service_change", "scheduled_date": null}))
        .await;
    assert_eq!(job["status"], "pending");
    assert_eq!(job["priority"], 3);
    assert_eq!(job["duration_minutes"], 60);
    assert_eq!(job["skills_required"], json!(["service_change"]));
    assert_eq!(job["assigned_technician"], Value::Null);
    assert_eq!(job["scheduled_date"], Value::Null);
    let full = app
        .job(json!({"time_slot": "08:00-12:00", "skills_required": ["install", "fiber"], "priority": 1,
                    "duration_minutes": 90, "latitude": 40.7, "longitude": -74.0, "area": "north", "notes": "Gate code 42"}))
        .await;
    assert_eq!(full["time_slot"], "08:00-12:00");
    assert_eq!(full["skills_required"], json!(["fiber", "install"]));
    assert_eq!(full["scheduled_date"], "2030-01-15");
    let fetched = expect_json(
        app.get(&format!("/api/v1/jobs/{}", id(&full))).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(fetched, full);
    let bad = [
        (
            json!({"type": "painting", "customer": "A", "address": "B"}),
            "type",
        ),
        (json!({"customer": "A", "address": "B"}), "type"),
        (
            json!({"type": "repair", "customer": "", "address": "B"}),
            "customer",
        ),
        (
            json!({"type": "repair", "customer": "A", "address": "B", "time_slot": "12:00-08:00"}),
            "time_slot",
        ),
        (
            json!({"type": "repair", "customer": "A", "address": "B", "time_slot": "8-12"}),
            "time_slot",
        ),
        (
            json!({"type": "repair", "customer": "A", "address": "B", "scheduled_date": "15/01/2030"}),
            "scheduled_date",
        ),
        (
            json!({"type": "repair", "customer": "A", "address": "B", "priority": 6}),
            "priority",
        ),
        (
            json!({"type": "repair", "customer": "A", "address": "B", "duration_minutes": 0}),
            "duration_minutes",
        ),
        (
            json!({"type": "repair", "customer": "A", "address": "B", "duration_minutes": 1441}),
            "duration_minutes",
        ),
        (
            json!({"type": "repair", "customer": "A", "address": "B", "longitude": 10.0}),
            "latitude",
        ),
        (
            json!({"type": "repair", "customer": "A", "address": "B", "skills_required": ["x y"]}),
            "skills_required",
        ),
        (
            json!({"type": "repair", "customer": "A", "address": "B", "status": "assigned"}),
            "status",
        ),
    ];
    for (body, field) in bad {
        let detail = expect_problem(
            app.post("/api/v1/jobs", &body).await,
            StatusCode::BAD_REQUEST,
        )
        .await;
        assert!(detail.contains(field), "{body}: {detail}");
    }
}

async fn list_ids(app: &TestApp, query: &str) -> (Vec<i64>, i64) {
    let response = app.get(&format!("/api/v1/jobs/{query}")).await;
    let total = response.headers()["x-total-count"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    let body = expect_json(response, StatusCode::OK).await;
    (body.as_array().unwrap().iter().map(id).collect(), total)
}

async fn list_filters_and_rejects_bad_values(app: TestApp) {
    let tech = app.technician(json!({})).await;
    let a = app
        .job(json!({"customer": "ACME Widgets", "area": "north", "scheduled_date": "2030-01-14"}))
        .await;
    let b = app.job(json!({"type": "repair", "customer": "Bob's 100% Deli", "scheduled_date": "2030-01-15"})).await;
    let c = app
        .job(json!({"customer": "acme corp", "scheduled_date": "2030-01-16"}))
        .await;
    expect_json(app.assign(id(&b), id(&tech)).await, StatusCode::CREATED).await;
    assert_eq!(list_ids(&app, "").await, (vec![id(&a), id(&b), id(&c)], 3));
    assert_eq!(
        list_ids(&app, "?scheduled_date=2030-01-15").await.0,
        vec![id(&b)]
    );
    assert_eq!(list_ids(&app, "?status=assigned").await.0, vec![id(&b)]);
    assert_eq!(list_ids(&app, "?type=repair").await.0, vec![id(&b)]);
    assert_eq!(
        list_ids(&app, &format!("?technician_id={}", id(&tech)))
            .await
            .0,
        vec![id(&b)]
    );
    assert_eq!(list_ids(&app, "?area=north").await.0, vec![id(&a)]);
    assert_eq!(
        list_ids(&app, "?customer=AcMe").await.0,
        vec![id(&a), id(&c)]
    );
    assert_eq!(list_ids(&app, "?customer=100%25").await.0, vec![id(&b)]);
    assert_eq!(list_ids(&app, "?customer=_").await.0, Vec::<i64>::new());
    assert_eq!(
        list_ids(&app, "?date_from=2030-01-15").await.0,
        vec![id(&b), id(&c)]
    );
    assert_eq!(
        list_ids(&app, "?date_from=2030-01-14&date_to=2030-01-15")
            .await
            .0,
        vec![id(&a), id(&b)]
    );
    assert_eq!(list_ids(&app, "?limit=2&offset=2").await, (vec![id(&c)], 3));
    for (query, param) in [
        ("?status=done", "status"),
        ("?type=x", "type"),
        ("?scheduled_date=tomorrow", "scheduled_date"),
        ("?technician_id=abc", "technician_id"),
        ("?date_to=2030-02-30", "date_to"),
        ("?limit=x", "limit"),
        ("?sort=id", "sort"),
    ] {
        let detail = expect_problem(
            app.get(&format!("/api/v1/jobs{query}")).await,
            StatusCode::BAD_REQUEST,
        )
        .await;
        assert!(detail.contains(param), "{query}: {detail}");
    }
}

async fn action(app: &TestApp, job: i64, action: &str) -> reqwest::Response {
    app.post(&format!("/api/v1/jobs/{job}/{action}"), &json!({}))
        .await
}

async fn status_machine_is_enforced(app: TestApp) {
    let tech = app.technician(json!({})).await;
    let job = id(&app.job(json!({})).await);
    expect_problem(action(&app, job, "start").await, StatusCode::CONFLICT).await;
    expect_problem(action(&app, job, "complete").await, StatusCode::CONFLICT).await;
    expect_json(app.assign(job, id(&tech)).await, StatusCode::CREATED).await;
    let started = expect_json(action(&app, job, "start").await, StatusCode::OK).await;
    assert_eq!(started["status"], "in_progress");
    assert!(started["started_at"].is_string());
    let detail = expect_problem(
        app.post("/api/v1/assignments/unassign", &json!({"job_id": job}))
            .await,
        StatusCode::CONFLICT,
    )
    .await;
    assert!(detail.contains("in_progress"), "{detail}");
    let done = expect_json(action(&app, job, "complete").await, StatusCode::OK).await;
    assert_eq!(done["status"], "completed");
    assert!(done["completed_at"].is_string());
    assert_eq!(done["assigned_technician"], id(&tech));
    for again in ["start", "complete", "fail", "cancel"] {
        expect_problem(action(&app, job, again).await, StatusCode::CONFLICT).await;
    }
    // Completed jobs never come back to life.
    expect_problem(
        app.patch(
            &format!("/api/v1/jobs/{job}"),
            &json!({"status": "in_progress"}),
        )
        .await,
        StatusCode::CONFLICT,
    )
    .await;
    expect_problem(app.assign(job, id(&tech)).await, StatusCode::CONFLICT).await;

    let failing = id(&app.job(json!({})).await);
    expect_json(app.assign(failing, id(&tech)).await, StatusCode::CREATED).await;
    expect_json(action(&app, failing, "start").await, StatusCode::OK).await;
    let failed = app
        .post(
            &format!("/api/v1/jobs/{failing}/fail"),
            &json!({"reason": "No access"}),
        )
        .await;
    assert_eq!(
        expect_json(failed, StatusCode::OK).await["status"],
        "failed"
    );

    let cancelled = id(&app.job(json!({})).await);
    let response = app
        .client
        .post(app.url(&format!("/api/v1/jobs/{cancelled}/cancel")))
        .send()
        .await
        .unwrap();
    assert_eq!(
        expect_json(response, StatusCode::OK).await["status"],
        "cancelled"
    );
    expect_problem(action(&app, 999_999, "start").await, StatusCode::NOT_FOUND).await;
    let bad = app
        .post(
            &format!("/api/v1/jobs/{failing}/fail"),
            &json!({"why": "x"}),
        )
        .await;
    expect_problem(bad, StatusCode::BAD_REQUEST).await;

    // The technician's active work is gone, so it is available again.
    let t = expect_json(
        app.get(&format!("/api/v1/technicians/{}", id(&tech))).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(t["status"], "available");
    app.assert_counters_consistent();
}

async fn patch_updates_fields_and_follows_the_machine(app: TestApp) {
    let tech = app.technician(json!({})).await;
    let job = id(&app.job(json!({"notes": "old", "area": "north"})).await);
    let path = format!("/api/v1/jobs/{job}");
    let patched = expect_json(
        app.patch(&path, &json!({"customer": "Updated Name", "priority": 1, "notes": null, "time_slot": "13:00-15:00", "skills_required": ["repair"]})).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(patched["customer"], "Updated Name");
    assert_eq!(patched["priority"], 1);
    assert_eq!(patched["notes"], Value::Null);
    assert_eq!(patched["area"], "north");
    assert_eq!(patched["time_slot"], "13:00-15:00");
    assert_eq!(patched["skills_required"], json!(["repair"]));
    expect_problem(
        app.patch(&path, &json!({"status": "assigned"})).await,
        StatusCode::CONFLICT,
    )
    .await;
    expect_problem(
        app.patch(&path, &json!({"status": "in_progress"})).await,
        StatusCode::CONFLICT,
    )
    .await;
    expect_problem(
        app.patch(&path, &json!({"priority": 0})).await,
        StatusCode::BAD_REQUEST,
    )
    .await;
    expect_problem(
        app.patch(&path, &json!({"status": "paused"})).await,
        StatusCode::BAD_REQUEST,
    )
    .await;
    expect_problem(
        app.patch("/api/v1/jobs/999999", &json!({"priority": 2}))
            .await,
        StatusCode::NOT_FOUND,
    )
    .await;
    let force = json!({"job_id": job, "technician_id": id(&tech), "force": true});
    expect_json(
        app.post("/api/v1/assignments", &force).await,
        StatusCode::CREATED,
    )
    .await;
    let started = expect_json(
        app.patch(
            &path,
            &json!({"status": "in_progress", "customer": "Again"}),
        )
        .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(started["status"], "in_progress");
    assert_eq!(started["customer"], "Again");
    let cancelled = expect_json(
        app.patch(&path, &json!({"status": "cancelled"})).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(cancelled["status"], "cancelled");
    expect_problem(
        app.patch(&path, &json!({"notes": "late"})).await,
        StatusCode::CONFLICT,
    )
    .await;
    app.assert_counters_consistent();
}

async fn moving_an_active_job_rechecks_capacity(app: TestApp) {
    let tech = id(&app.technician(json!({"capacity": 1})).await);
    let monday = id(&app.job(json!({"scheduled_date": "2030-01-14"})).await);
    let tuesday = id(&app.job(json!({"scheduled_date": "2030-01-15"})).await);
    expect_json(app.assign(monday, tech).await, StatusCode::CREATED).await;
    expect_json(app.assign(tuesday, tech).await, StatusCode::CREATED).await;
    let detail = expect_problem(
        app.patch(
            &format!("/api/v1/jobs/{monday}"),
            &json!({"scheduled_date": "2030-01-15"}),
        )
        .await,
        StatusCode::CONFLICT,
    )
    .await;
    assert_eq!(detail, "Technician already has maximum capacity");
    let moved = expect_json(
        app.patch(
            &format!("/api/v1/jobs/{monday}"),
            &json!({"scheduled_date": "2030-01-16"}),
        )
        .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(moved["scheduled_date"], "2030-01-16");
    let load = |date: &'static str| {
        let app = &app;
        async move {
            expect_json(
                app.get(&format!("/api/v1/technicians/{tech}?date={date}"))
                    .await,
                StatusCode::OK,
            )
            .await["current_workload"]
                .clone()
        }
    };
    assert_eq!(load("2030-01-14").await, 0);
    assert_eq!(load("2030-01-15").await, 1);
    assert_eq!(load("2030-01-16").await, 1);
    app.assert_counters_consistent();
}

async fn delete_only_pending_or_cancelled(app: TestApp) {
    let tech = id(&app.technician(json!({})).await);
    let pending = id(&app.job(json!({})).await);
    let assigned = id(&app.job(json!({})).await);
    let cancelled = id(&app.job(json!({})).await);
    expect_json(app.assign(assigned, tech).await, StatusCode::CREATED).await;
    expect_json(action(&app, cancelled, "cancel").await, StatusCode::OK).await;
    assert_eq!(
        app.delete(&format!("/api/v1/jobs/{pending}"))
            .await
            .status(),
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        app.delete(&format!("/api/v1/jobs/{cancelled}"))
            .await
            .status(),
        StatusCode::NO_CONTENT
    );
    let detail = expect_problem(
        app.delete(&format!("/api/v1/jobs/{assigned}")).await,
        StatusCode::CONFLICT,
    )
    .await;
    assert!(detail.contains("assigned"), "{detail}");
    assert_eq!(
        expect_problem(
            app.get(&format!("/api/v1/jobs/{pending}")).await,
            StatusCode::NOT_FOUND
        )
        .await,
        "Job not found"
    );
    expect_problem(
        app.delete(&format!("/api/v1/jobs/{pending}")).await,
        StatusCode::NOT_FOUND,
    )
    .await;
}

async fn summary_counts_per_status(app: TestApp) {
    let tech = id(&app.technician(json!({})).await);
    let a = id(&app.job(json!({})).await);
    app.job(json!({})).await;
    app.job(json!({"scheduled_date": "2030-02-01"})).await;
    let c = id(&app.job(json!({})).await);
    expect_json(app.assign(a, tech).await, StatusCode::CREATED).await;
    expect_json(action(&app, c, "cancel").await, StatusCode::OK).await;
    let all = expect_json(app.get("/api/v1/jobs/summary").await, StatusCode::OK).await;
    assert_eq!(
        all,
        json!({"total_jobs": 4, "pending": 2, "assigned": 1, "in_progress": 0, "completed": 0, "failed": 0, "cancelled": 1})
    );
    let day = expect_json(
        app.get("/api/v1/jobs/summary/?scheduled_date=2030-02-01")
            .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(day["total_jobs"], 1);
    assert_eq!(day["pending"], 1);
    expect_problem(
        app.get("/api/v1/jobs/summary?scheduled_date=soon").await,
        StatusCode::BAD_REQUEST,
    )
    .await;
}

async fn history_records_every_event(app: TestApp) {
    let t1 = id(&app.technician(json!({})).await);
    let t2 = id(&app.technician(json!({})).await);
    let job = id(&app.job(json!({})).await);
    expect_json(app.assign(job, t1).await, StatusCode::CREATED).await;
    expect_json(
        app.post(
            "/api/v1/assignments/reassign",
            &json!({"job_id": job, "new_technician_id": t2}),
        )
        .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(
        app.post("/api/v1/assignments/unassign", &json!({"job_id": job}))
            .await
            .status(),
        StatusCode::NO_CONTENT
    );
    let cancel = app
        .post(
            &format!("/api/v1/jobs/{job}/cancel"),
            &json!({"reason": "Customer moved"}),
        )
        .await;
    expect_json(cancel, StatusCode::OK).await;
    let history = expect_json(
        app.get(&format!("/api/v1/jobs/{job}/history")).await,
        StatusCode::OK,
    )
    .await;
    let events: Vec<(&str, Value, &str, Value, Value)> = history
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["event"].as_str().unwrap(),
                e["old_status"].clone(),
                e["new_status"].as_str().unwrap(),
                e["technician_id"].clone(),
                e["reason"].clone(),
            )
        })
        .collect();
    assert_eq!(
        events,
        vec![
            ("created", Value::Null, "pending", Value::Null, Value::Null),
            (
                "assigned",
                json!("pending"),
                "assigned",
                json!(t1),
                Value::Null
            ),
            (
                "reassigned",
                json!("assigned"),
                "assigned",
                json!(t2),
                Value::Null
            ),
            (
                "unassigned",
                json!("assigned"),
                "pending",
                json!(t2),
                Value::Null
            ),
            (
                "status_changed",
                json!("pending"),
                "cancelled",
                Value::Null,
                json!("Customer moved")
            ),
        ]
    );
    assert_eq!(history[2]["previous_technician_id"], t1);
    let times: Vec<&str> = history
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["timestamp"].as_str().unwrap())
        .collect();
    assert!(times.windows(2).all(|w| w[0] <= w[1]), "{times:?}");
    expect_problem(
        app.get("/api/v1/jobs/999999/history").await,
        StatusCode::NOT_FOUND,
    )
    .await;
}

async fn can_do_reports_every_check(app: TestApp) {
    let tech = id(&app.technician(json!({"skills": ["install"], "areas": ["south"], "shift_start": "09:00", "shift_end": "12:00", "capacity": 1, "home_latitude": 40.0, "home_longitude": -74.0})).await);
    let fits = id(&app
        .job(json!({"skills_required": ["install"], "latitude": 40.0, "longitude": -74.0}))
        .await);
    let answer = expect_json(
        app.get(&format!("/api/v1/jobs/{fits}/can-do/{tech}")).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(
        answer,
        json!({"can_do": true, "tech_id": tech, "job_id": fits, "missing_skills": [], "area_ok": true,
               "capacity_ok": true, "status_ok": true, "time_ok": true, "distance_km": 0.0, "reasons": []})
    );
    let misfit = id(&app.job(json!({"skills_required": ["install", "fiber"], "area": "north", "time_slot": "13:00-15:00"})).await);
    let answer = expect_json(
        app.get(&format!("/api/v1/jobs/{misfit}/can-do/{tech}"))
            .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(answer["can_do"], false);
    assert_eq!(answer["missing_skills"], json!(["fiber"]));
    assert_eq!(answer["area_ok"], false);
    assert_eq!(answer["time_ok"], false);
    assert_eq!(answer["capacity_ok"], true);
    assert_eq!(answer["distance_km"], Value::Null);
    assert_eq!(answer["reasons"].as_array().unwrap().len(), 3);
    expect_json(app.assign(fits, tech).await, StatusCode::CREATED).await;
    let other = id(&app.job(json!({"skills_required": ["install"]})).await);
    let full = expect_json(
        app.get(&format!("/api/v1/jobs/{other}/can-do/{tech}"))
            .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(full["capacity_ok"], false);
    // The job itself does not count against its own technician.
    let own = expect_json(
        app.get(&format!("/api/v1/jobs/{fits}/can-do/{tech}")).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(own["capacity_ok"], true);
    assert_eq!(
        expect_problem(
            app.get(&format!("/api/v1/jobs/999999/can-do/{tech}")).await,
            StatusCode::NOT_FOUND
        )
        .await,
        "Job not found"
    );
    assert_eq!(
        expect_problem(
            app.get(&format!("/api/v1/jobs/{fits}/can-do/999999")).await,
            StatusCode::NOT_FOUND
        )
        .await,
        "Technician not found"
    );
    let detail = expect_problem(
        app.get(&format!("/api/v1/jobs/{fits}/can-do/abc")).await,
        StatusCode::BAD_REQUEST,
    )
    .await;
    assert!(detail.contains("tech_id"), "{detail}");
}
