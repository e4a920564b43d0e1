//! Every failure is a problem document; request ids; idempotency keys.

use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::{TestApp, expect_json, expect_problem, id};

crate::backend_tests!(
    malformed_requests_are_400_problems,
    unknown_routes_and_methods,
    oversized_bodies_are_413,
    request_ids_are_echoed_or_made,
    idempotency_keys_replay_the_first_response,
);

async fn malformed_requests_are_400_problems(app: TestApp) {
    for body in ["{", "not json", "[1,2]", "{\"name\": \"a\"} trailing", ""] {
        let detail = expect_problem(
            app.post_raw("/api/v1/technicians", body).await,
            StatusCode::BAD_REQUEST,
        )
        .await;
        assert!(!detail.is_empty(), "{body:?}");
    }
    let detail = expect_problem(
        app.post_raw(
            "/api/v1/jobs",
            r#"{"type": "install", "customer": "A\u0000B", "address": "x"}"#,
        )
        .await,
        StatusCode::BAD_REQUEST,
    )
    .await;
    assert!(detail.contains("customer"), "{detail}");
    let detail = expect_problem(
        app.get("/api/v1/jobs/12345678901234567890123").await,
        StatusCode::BAD_REQUEST,
    )
    .await;
    assert!(detail.contains("id"), "{detail}");
    let detail = expect_problem(
        app.get("/api/v1/jobs?scheduled_date=2030-1-5").await,
        StatusCode::BAD_REQUEST,
    )
    .await;
    assert!(detail.contains("scheduled_date"), "{detail}");
}

async fn unknown_routes_and_methods(app: TestApp) {
    expect_problem(app.get("/api/v1/nothing-here").await, StatusCode::NOT_FOUND).await;
    expect_problem(app.get("/elsewhere").await, StatusCode::NOT_FOUND).await;
    let response = app
        .client
        .put(app.url("/api/v1/jobs"))
        .send()
        .await
        .unwrap();
    let allow = response.headers()["allow"].to_str().unwrap().to_string();
    expect_problem(response, StatusCode::METHOD_NOT_ALLOWED).await;
    assert_eq!(allow, "GET, HEAD, POST");
    let response = app
        .client
        .post(app.url("/api/v1/technicians/1/"))
        .send()
        .await
        .unwrap();
    let allow = response.headers()["allow"].to_str().unwrap().to_string();
    expect_problem(response, StatusCode::METHOD_NOT_ALLOWED).await;
    assert_eq!(allow, "GET, HEAD, PATCH, DELETE");
}

async fn oversized_bodies_are_413(app: TestApp) {
    let notes = "x".repeat(1_100_000);
    let body = json!({"type": "install", "customer": "A", "address": "B", "notes": notes});
    expect_problem(
        app.post("/api/v1/jobs", &body).await,
        StatusCode::PAYLOAD_TOO_LARGE,
    )
    .await;
    let with_key = app
        .client
        .post(app.url("/api/v1/jobs"))
        .header("Idempotency-Key", "big-1")
        .json(&body)
        .send()
        .await
        .unwrap();
    expect_problem(with_key, StatusCode::PAYLOAD_TOO_LARGE).await;
}

async fn request_ids_are_echoed_or_made(app: TestApp) {
    let echoed = app
        .client
        .get(app.url("/healthz"))
        .header("X-Request-Id", "abc-123")
        .send()
        .await
        .unwrap();
    assert_eq!(echoed.headers()["x-request-id"], "abc-123");
    let made = app.get("/api/v1/jobs/999999").await;
    let id = made.headers()["x-request-id"].to_str().unwrap().to_string();
    assert_eq!(id.len(), 36, "{id}");
}

async fn idempotency_keys_replay_the_first_response(app: TestApp) {
    let body = json!({"type": "install", "customer": "Once", "address": "1 Main St"});
    let send = |key: &'static str, body: serde_json::Value| {
        let app = &app;
        async move {
            app.client
                .post(app.url("/api/v1/jobs/"))
                .header("Idempotency-Key", key)
                .json(&body)
                .send()
                .await
                .unwrap()
        }
    };
    let first = expect_json(send("key-1", body.clone()).await, StatusCode::CREATED).await;
    let retry = send("key-1", body.clone()).await;
    assert_eq!(retry.headers()["idempotent-replayed"], "true");
    assert_eq!(expect_json(retry, StatusCode::CREATED).await, first);
    let listed = expect_json(app.get("/api/v1/jobs").await, StatusCode::OK).await;
    assert_eq!(
        listed.as_array().unwrap().len(),
        1,
        "the retry created nothing"
    );
    let other = json!({"type": "install", "customer": "Twice", "address": "1 Main St"});
    expect_problem(send("key-1", other).await, StatusCode::UNPROCESSABLE_ENTITY).await;
    // Errors are replayed too.
    let tech = id(&app.technician(json!({})).await);
    let assign = json!({"job_id": 999_999, "technician_id": tech});
    let request = |key: &'static str| {
        let app = &app;
        let assign = assign.clone();
        async move {
            app.client
                .post(app.url("/api/v1/assignments"))
                .header("Idempotency-Key", key)
                .json(&assign)
                .send()
                .await
                .unwrap()
        }
    };
    expect_problem(request("key-2").await, StatusCode::NOT_FOUND).await;
    expect_problem(request("key-2").await, StatusCode::NOT_FOUND).await;
    let bad_key = app
        .client
        .post(app.url("/api/v1/jobs"))
        .header("Idempotency-Key", "has space")
        .json(&body)
        .send()
        .await
        .unwrap();
    expect_problem(bad_key, StatusCode::BAD_REQUEST).await;
}
