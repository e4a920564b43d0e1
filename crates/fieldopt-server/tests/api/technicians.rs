use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::{TestApp, expect_json, expect_problem, id};

crate::backend_tests!(
    create_applies_defaults_and_get_returns_it,
    list_filters_pages_and_counts,
    patch_status_location_and_delete,
    invalid_technicians_are_rejected_naming_the_field,
    workload_and_automatic_status_follow_assignments,
    technician_with_active_jobs_cannot_be_deleted,
);

async fn create_applies_defaults_and_get_returns_it(app: TestApp) {
    let created = app
        .technician(json!({"name": "Miles Davis", "skills": []}))
        .await;
    assert_eq!(created["status"], "available");
    assert_eq!(created["capacity"], 4);
    assert_eq!(created["shift_start"], "08:00");
    assert_eq!(created["shift_end"], "17:00");
    assert_eq!(created["skills"], json!([]));
    assert_eq!(created["areas"], json!([]));
    assert_eq!(created["current_workload"], 0);
    assert!(created["created_at"].as_str().unwrap().ends_with('Z'));
    let fetched = expect_json(
        app.get(&format!("/api/v1/technicians/{}", id(&created)))
            .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(fetched, created);
    // Trailing slash is the same resource.
    let again = expect_json(
        app.get(&format!("/api/v1/technicians/{}/", id(&created)))
            .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(again, created);
    let detail = expect_problem(
        app.get("/api/v1/technicians/999999").await,
        StatusCode::NOT_FOUND,
    )
    .await;
    assert_eq!(detail, "Technician not found");
}

async fn list_filters_pages_and_counts(app: TestApp) {
    let a = app
        .technician(json!({"name": "A", "skills": ["fiber"], "areas": ["north"]}))
        .await;
    let b = app
        .technician(
            json!({"name": "B", "skills": ["copper"], "areas": ["south"], "status": "off_duty"}),
        )
        .await;
    let c = app
        .technician(json!({"name": "C", "skills": ["fiber", "copper"]}))
        .await;
    let list = |query: &'static str| {
        let app = &app;
        async move {
            let response = app.get(&format!("/api/v1/technicians/{query}")).await;
            let total = response.headers()["x-total-count"]
                .to_str()
                .unwrap()
                .parse::<i64>()
                .unwrap();
            let body = expect_json(response, StatusCode::OK).await;
            let ids: Vec<i64> = body.as_array().unwrap().iter().map(id).collect();
            (ids, total)
        }
    };
    assert_eq!(list("").await, (vec![id(&a), id(&b), id(&c)], 3));
    assert_eq!(list("?skill=fiber").await, (vec![id(&a), id(&c)], 2));
    assert_eq!(list("?status=off_duty").await, (vec![id(&b)], 1));
    // No areas means every area.
    assert_eq!(list("?area=north").await, (vec![id(&a), id(&c)], 2));
    assert_eq!(list("?limit=1&offset=1").await, (vec![id(&b)], 3));
    assert_eq!(list("?skill=fiber&area=south").await, (vec![id(&c)], 1));
    for bad in [
        "?status=sleeping",
        "?limit=0",
        "?limit=5001",
        "?offset=-1",
        "?skill=Bad%20Skill",
        "?date=2030-13-01",
        "?colour=red",
    ] {
        let detail = expect_problem(
            app.get(&format!("/api/v1/technicians{bad}")).await,
            StatusCode::BAD_REQUEST,
        )
        .await;
        let param = bad.trim_start_matches('?').split('=').next().unwrap();
        assert!(detail.contains(param), "{bad}: {detail}");
    }
}

async fn patch_status_location_and_delete(app: TestApp) {
    let tech = app.technician(json!({"name": "Chet Baker"})).await;
    let path = format!("/api/v1/technicians/{}", id(&tech));
    let patched = expect_json(
        app.patch(&path, &json!({"capacity": 6, "skills": ["fiber"], "shift_end": "18:30", "phone": "555-0101", "home_latitude": 40.7, "home_longitude": -74.0})).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(patched["capacity"], 6);
    assert_eq!(patched["skills"], json!(["fiber"]));
    assert_eq!(patched["shift_end"], "18:30");
    assert_eq!(patched["phone"], "555-0101");
    assert_eq!(patched["home_latitude"], 40.7);
    assert_eq!(patched["name"], "Chet Baker");
    let cleared = expect_json(
        app.patch(&path, &json!({"phone": null})).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(cleared["phone"], json!(null));
    // Half a shift that clashes with the stored other half conflicts with
    // the state (409); both halves in one body that clash are a bad request.
    let detail = expect_problem(
        app.patch(&path, &json!({"shift_start": "19:00"})).await,
        StatusCode::CONFLICT,
    )
    .await;
    assert!(
        detail.contains("19:00-18:30") && detail.contains("change both together"),
        "{detail}"
    );
    let detail = expect_problem(
        app.patch(
            &path,
            &json!({"shift_start": "19:00", "shift_end": "07:00"}),
        )
        .await,
        StatusCode::BAD_REQUEST,
    )
    .await;
    assert!(detail.contains("shift_start"), "{detail}");

    let on_break = expect_json(
        app.patch(&format!("{path}/status"), &json!({"status": "on_break"}))
            .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(on_break["status"], "on_break");
    let detail = expect_problem(
        app.patch(&format!("{path}/status"), &json!({"status": "sleeping"}))
            .await,
        StatusCode::BAD_REQUEST,
    )
    .await;
    assert_eq!(
        detail,
        "invalid value for status: \"sleeping\" (expected one of available, on_break, assigned, off_duty)"
    );

    let moved = expect_json(
        app.patch(
            &format!("{path}/location"),
            &json!({"latitude": 40.7128, "longitude": -74.006}),
        )
        .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(moved["latitude"], 40.7128);
    assert!(moved["location_updated_at"].is_string());
    expect_problem(
        app.patch(
            &format!("{path}/location"),
            &json!({"latitude": 91.0, "longitude": 0.0}),
        )
        .await,
        StatusCode::BAD_REQUEST,
    )
    .await;
    expect_problem(
        app.patch(&format!("{path}/location"), &json!({"latitude": 40.0}))
            .await,
        StatusCode::BAD_REQUEST,
    )
    .await;

    assert_eq!(app.delete(&path).await.status(), StatusCode::NO_CONTENT);
    expect_problem(app.get(&path).await, StatusCode::NOT_FOUND).await;
    expect_problem(app.delete(&path).await, StatusCode::NOT_FOUND).await;
    expect_problem(
        app.patch(&path, &json!({"capacity": 2})).await,
        StatusCode::NOT_FOUND,
    )
    .await;
    let listed = expect_json(app.get("/api/v1/technicians").await, StatusCode::OK).await;
    assert_eq!(listed, json!([]));
}

async fn invalid_technicians_are_rejected_naming_the_field(app: TestApp) {
    let cases = [
        (json!({"name": ""}), "name"),
        (json!({"name": "x".repeat(101)}), "name"),
        (json!({"name": "nul\u{0}byte"}), "name"),
        (json!({"name": "A", "skills": ["Bad Skill"]}), "skills"),
        (json!({"name": "A", "skills": ["a", "a"]}), "skills"),
        (json!({"name": "A", "capacity": 0}), "capacity"),
        (json!({"name": "A", "capacity": 51}), "capacity"),
        (json!({"name": "A", "capacity": "four"}), "capacity"),
        (
            json!({"name": "A", "shift_start": "18:00", "shift_end": "09:00"}),
            "shift_start",
        ),
        (json!({"name": "A", "shift_start": "8am"}), "shift_start"),
        (json!({"name": "A", "home_latitude": 40.0}), "home_latitude"),
        (
            json!({"name": "A", "home_latitude": 100.0, "home_longitude": 0.0}),
            "home_latitude",
        ),
        (json!({"name": "A", "email": "not-an-email"}), "email"),
        (json!({"name": "A", "status": "busy"}), "status"),
        (json!({"name": "A", "nickname": "x"}), "nickname"),
        (json!({"skills": []}), "name"),
    ];
    for (body, field) in cases {
        let detail = expect_problem(
            app.post("/api/v1/technicians", &body).await,
            StatusCode::BAD_REQUEST,
        )
        .await;
        assert!(detail.contains(field), "{body}: {detail}");
    }
    let listed = expect_json(app.get("/api/v1/technicians").await, StatusCode::OK).await;
    assert_eq!(listed, json!([]), "nothing was stored");
}

async fn workload_and_automatic_status_follow_assignments(app: TestApp) {
    let tech = app.technician(json!({})).await;
    let job = app.job(json!({})).await;
    let path = format!("/api/v1/technicians/{}", id(&tech));
    expect_json(app.assign(id(&job), id(&tech)).await, StatusCode::CREATED).await;
    let busy = expect_json(
        app.get(&format!("{path}?date=2030-01-15")).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(busy["status"], "assigned");
    assert_eq!(busy["current_workload"], 1);
    let other_day = expect_json(
        app.get(&format!("{path}?date=2030-01-16")).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(other_day["current_workload"], 0);
    let listed = expect_json(
        app.get("/api/v1/technicians?date=2030-01-15").await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(listed[0]["current_workload"], 1);
    let response = app
        .post("/api/v1/assignments/unassign", &json!({"job_id": id(&job)}))
        .await;
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    let free = expect_json(
        app.get(&format!("{path}?date=2030-01-15")).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(free["status"], "available");
    assert_eq!(free["current_workload"], 0);

    // on_break is never changed automatically.
    app.patch(&format!("{path}/status"), &json!({"status": "on_break"}))
        .await;
    let job2 = app.job(json!({})).await;
    let forced = app
        .post(
            "/api/v1/assignments",
            &json!({"job_id": id(&job2), "technician_id": id(&tech), "force": true}),
        )
        .await;
    expect_json(forced, StatusCode::CREATED).await;
    let still = expect_json(app.get(&path).await, StatusCode::OK).await;
    assert_eq!(still["status"], "on_break");
    app.assert_counters_consistent();
}

async fn technician_with_active_jobs_cannot_be_deleted(app: TestApp) {
    let tech = app.technician(json!({})).await;
    let job = app.job(json!({})).await;
    expect_json(app.assign(id(&job), id(&tech)).await, StatusCode::CREATED).await;
    let path = format!("/api/v1/technicians/{}", id(&tech));
    expect_problem(app.delete(&path).await, StatusCode::CONFLICT).await;
    let start = app
        .post(&format!("/api/v1/jobs/{}/start", id(&job)), &json!({}))
        .await;
    expect_json(start, StatusCode::OK).await;
    expect_problem(app.delete(&path).await, StatusCode::CONFLICT).await;
    expect_json(
        app.post(&format!("/api/v1/jobs/{}/complete", id(&job)), &json!({}))
            .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(app.delete(&path).await.status(), StatusCode::NO_CONTENT);
    // History survives: the completed job still names its technician.
    let kept = expect_json(
        app.get(&format!("/api/v1/jobs/{}", id(&job))).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(kept["assigned_technician"], id(&tech));
    // A deleted technician cannot be assigned.
    let job2 = app.job(json!({})).await;
    let detail = expect_problem(
        app.assign(id(&job2), id(&tech)).await,
        StatusCode::NOT_FOUND,
    )
    .await;
    assert_eq!(detail, "Technician not found");
}
