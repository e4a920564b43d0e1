//! What integrators and clients of the original FieldOpt rely on: their own
//! ids on records, and the original's later paths as deprecated aliases.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{TestApp, expect_json, expect_problem, id};

crate::backend_tests!(
    external_ids_find_records_and_stay_unique,
    the_originals_later_paths_still_answer,
);

async fn external_ids_find_records_and_stay_unique(app: TestApp) {
    let tech = app.technician(json!({"external_id": "EMP-0042"})).await;
    assert_eq!(tech["external_id"], "EMP-0042");
    let twin = app
        .post(
            "/api/v1/technicians",
            &json!({"name": "B", "external_id": "EMP-0042"}),
        )
        .await;
    let detail = expect_problem(twin, StatusCode::CONFLICT).await;
    assert!(detail.contains("EMP-0042"), "{detail}");
    let found = expect_json(
        app.get("/api/v1/technicians?external_id=EMP-0042").await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(
        found.as_array().unwrap().iter().map(id).collect::<Vec<_>>(),
        vec![id(&tech)]
    );
    // A deleted technician's id is free again (unique among live ones).
    let path = format!("/api/v1/technicians/{}", id(&tech));
    assert_eq!(app.delete(&path).await.status(), StatusCode::NO_CONTENT);
    let successor = app.technician(json!({"external_id": "EMP-0042"})).await;
    assert_eq!(successor["external_id"], "EMP-0042");
    // Jobs: set on create, changed and cleared by PATCH, unique, filterable.
    let job = app.job(json!({"external_id": "WO-77"})).await;
    let other = app.job(json!({})).await;
    let clash = app
        .patch(
            &format!("/api/v1/jobs/{}", id(&other)),
            &json!({"external_id": "WO-77"}),
        )
        .await;
    expect_problem(clash, StatusCode::CONFLICT).await;
    let renamed = expect_json(
        app.patch(
            &format!("/api/v1/jobs/{}", id(&job)),
            &json!({"external_id": "WO-78"}),
        )
        .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(renamed["external_id"], "WO-78");
    let found = expect_json(
        app.get("/api/v1/jobs?external_id=WO-78").await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(found.as_array().unwrap().len(), 1);
    let cleared = expect_json(
        app.patch(
            &format!("/api/v1/jobs/{}", id(&job)),
            &json!({"external_id": null}),
        )
        .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(cleared["external_id"], Value::Null);
    for bad in ["", "x".repeat(101).as_str(), "a\nb"] {
        let response = app
            .post(
                "/api/v1/jobs",
                &json!({"type": "install", "customer": "C", "address": "A", "external_id": bad}),
            )
            .await;
        let detail = expect_problem(response, StatusCode::BAD_REQUEST).await;
        assert!(detail.contains("external_id"), "{detail}");
    }
}

async fn the_originals_later_paths_still_answer(app: TestApp) {
    assert_eq!(
        expect_json(app.get("/health").await, StatusCode::OK).await["status"],
        "ok"
    );
    let free = app.technician(json!({"skills": ["install"]})).await;
    let away = app
        .technician(json!({"skills": ["install"], "status": "on_break"}))
        .await;
    let available = expect_json(
        app.get("/api/v1/technicians/available").await,
        StatusCode::OK,
    )
    .await;
    let ids: Vec<i64> = available.as_array().unwrap().iter().map(id).collect();
    assert!(
        ids.contains(&id(&free)) && !ids.contains(&id(&away)),
        "{available}"
    );

    // The path fixes the status: another status filter is refused, not
    // silently replaced.
    for path in [
        "/api/v1/technicians/available?status=on_break",
        "/api/v1/jobs/pending?status=completed",
    ] {
        let detail = expect_problem(app.get(path).await, StatusCode::BAD_REQUEST).await;
        assert!(detail.contains("status"), "{path}: {detail}");
    }

    let job = app
        .job(json!({"skills_required": ["install"], "customer": "Northwind"}))
        .await;
    let pending = expect_json(app.get("/api/v1/jobs/pending").await, StatusCode::OK).await;
    assert_eq!(
        pending
            .as_array()
            .unwrap()
            .iter()
            .map(id)
            .collect::<Vec<_>>(),
        vec![id(&job)]
    );
    expect_json(app.assign(id(&job), id(&free)).await, StatusCode::CREATED).await;
    let workload = expect_json(
        app.get(&format!(
            "/api/v1/technicians/{}/workload?date=2030-01-15",
            id(&free)
        ))
        .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(
        workload,
        json!({"technician_id": id(&free), "date": "2030-01-15", "current_workload": 1,
               "capacity": 4, "remaining_capacity": 3})
    );
    let search = format!(
        "/api/v1/jobs/search/query?date_from=2030-01-01&date_to=2030-01-31&customer=north&technician_id={}&status=assigned&type=install",
        id(&free)
    );
    let found = expect_json(app.get(&search).await, StatusCode::OK).await;
    assert_eq!(
        found.as_array().unwrap().iter().map(id).collect::<Vec<_>>(),
        vec![id(&job)]
    );

    // The status machine through the original's PATCH, 409s included.
    let path = format!("/api/v1/jobs/{}/status", id(&job));
    let started = expect_json(
        app.patch(&path, &json!({"status": "in_progress"})).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(started["status"], "in_progress");
    expect_problem(
        app.patch(&path, &json!({"status": "pending"})).await,
        StatusCode::CONFLICT,
    )
    .await;
    expect_problem(
        app.patch(&path, &json!({"status": "in_progress"})).await,
        StatusCode::CONFLICT,
    )
    .await;
    let failed = expect_json(
        app.patch(&path, &json!({"status": "failed", "reason": "no access"}))
            .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(failed["status"], "failed");
    let history = expect_json(
        app.get(&format!("/api/v1/jobs/{}/history", id(&job))).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(
        history.as_array().unwrap().last().unwrap()["reason"],
        "no access"
    );
    // The aliases are marked deprecated in the document.
    let doc = expect_json(app.get("/api/v1/openapi.json").await, StatusCode::OK).await;
    for (path, method) in [
        ("/health", "get"),
        ("/api/v1/technicians/available", "get"),
        ("/api/v1/technicians/{id}/workload", "get"),
        ("/api/v1/jobs/pending", "get"),
        ("/api/v1/jobs/search/query", "get"),
        ("/api/v1/jobs/{id}/status", "patch"),
    ] {
        assert_eq!(doc["paths"][path][method]["deprecated"], true, "{path}");
    }
    assert!(doc["paths"]["/api/v1/jobs"]["get"]["deprecated"].is_null());
}
