use reqwest::StatusCode;
use serde_json::Value;

use crate::helpers::{TestApp, expect_json};

crate::backend_tests!(operations_endpoints_answer);

/// PostgreSQL only: an open SQLite file cannot be taken away from a
/// running process (the open handle keeps it alive).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readiness_fails_when_the_postgres_database_is_gone() {
    if let Some(app) = crate::helpers::spawn_app(crate::helpers::Backend::Postgres).await {
        readiness_fails_when_the_database_is_gone(app).await;
    }
}

async fn operations_endpoints_answer(app: TestApp) {
    assert_eq!(
        expect_json(app.get("/healthz").await, StatusCode::OK).await["status"],
        "ok"
    );
    assert_eq!(
        expect_json(app.get("/readyz").await, StatusCode::OK).await["status"],
        "ok"
    );
    let served = expect_json(app.get("/api/v1/openapi.json").await, StatusCode::OK).await;
    let built: Value = serde_json::from_str(&fieldopt_http::openapi().to_json().unwrap()).unwrap();
    assert_eq!(served, built);
    let docs = app.get("/docs/").await;
    assert_eq!(docs.status(), StatusCode::OK);
    assert!(docs.text().await.unwrap().contains("swagger-ui"));
    let redirect = app.client.get(app.url("/docs")).send().await.unwrap();
    assert!(redirect.url().path().ends_with("/docs/"));
    app.get("/api/v1/jobs/424242").await;
    let metrics = app.get("/metrics").await.text().await.unwrap();
    assert!(
        metrics.contains(
            r#"http_requests_total{method="GET",route="/api/v1/jobs/{id}",status="404"} 1"#
        ),
        "{metrics}"
    );
    assert!(
        metrics.contains("http_request_duration_seconds_bucket"),
        "{metrics}"
    );
    assert!(
        metrics.contains(r#"db_pool_connections{state="max"}"#),
        "{metrics}"
    );
}

async fn readiness_fails_when_the_database_is_gone(app: TestApp) {
    let url = std::env::var("FIELDOPT_TEST_POSTGRES_URL").unwrap();
    let name = app.database_url.rsplit('/').next().unwrap().to_string();
    fieldopt_store::admin::drop_postgres_database(&url, &name).unwrap();
    let mut status = StatusCode::OK;
    for _ in 0..20 {
        status = app.get("/readyz").await.status();
        if status == StatusCode::SERVICE_UNAVAILABLE {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(app.get("/healthz").await.status(), StatusCode::OK);
}
