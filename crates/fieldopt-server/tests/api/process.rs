//! The real binary: settings refused at start, keys freed at shutdown,
//! logs that cannot be forged through a request.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::{Backend, ServerProcess, spawn_app};
use crate::plan_bounds::{DAY, bulk_day};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nonsense_settings_stop_the_start_with_a_clear_message() {
    let dir = tempfile::tempdir().unwrap();
    let database = format!("sqlite://{}", dir.path().join("f.db").display());
    for (name, value, mention) in [
        ("FIELDOPT_SPEED_KMH", "0", "speed"),
        ("FIELDOPT_SPEED_KMH", "NaN", "speed"),
        ("FIELDOPT_SPEED_KMH", "-40", "speed"),
        ("FIELDOPT_SPEED_KMH", "inf", "speed"),
        ("FIELDOPT_PLAN_CONCURRENCY", "0", "plan-concurrency"),
        ("FIELDOPT_PLAN_MAX_JOBS", "0", "plan-max-jobs"),
        ("FIELDOPT_RATE_LIMIT_BURST", "0", "rate-limit-burst"),
        ("FIELDOPT_WORKERS", "0", "workers"),
        ("FIELDOPT_POOL_SIZE", "0", "pool-size"),
        ("FIELDOPT_DB_TIMEOUT_MS", "0", "db-timeout-ms"),
        ("FIELDOPT_DB_TIMEOUT_MS", "600000", "db-timeout-ms"),
        ("FIELDOPT_BODY_TIMEOUT_S", "0", "body-timeout"),
        ("FIELDOPT_TRUSTED_PROXIES", "the proxy", "trusted-proxies"),
        ("FIELDOPT_CORS_ORIGINS", "*", "cors-origins"),
        ("FIELDOPT_AUTH_SECRET", "short", "32 bytes"),
        ("FIELDOPT_AUTH_JWKS", "http://idp.example/keys", "https"),
    ] {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_fieldopt"))
            .arg("serve")
            .env("DATABASE_URL", &database)
            .env("FIELDOPT_BIND", "127.0.0.1:0")
            .env(name, value)
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{name}={value} was accepted");
        assert!(stderr.contains(mention), "{name}={value}: {stderr}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_frees_the_idempotency_keys_of_unfinished_requests() {
    let app = spawn_app(Backend::Sqlite).await.unwrap();
    bulk_day(&app, 60, 1200);
    let env = [
        ("DATABASE_URL", app.database_url.clone()),
        ("FIELDOPT_SHUTDOWN_TIMEOUT_S", "1".to_string()),
    ];
    let server = ServerProcess::start(&env, std::process::Stdio::null()).await;
    let url = format!("{}/api/v1/routing/plan", server.address);
    let body = json!({"scheduled_date": DAY, "time_limit_ms": 60000});
    let send = |url: String, body: serde_json::Value, timeout: Duration| async move {
        reqwest::Client::builder()
            .timeout(timeout)
            .build()
            .unwrap()
            .post(url)
            .header("Idempotency-Key", "nightly-plan")
            .json(&body)
            .send()
            .await
    };
    let long = tokio::spawn(send(url, body.clone(), Duration::from_secs(60)));
    tokio::time::sleep(Duration::from_millis(700)).await;
    assert!(server.terminate(), "exit code 0 after SIGTERM");
    assert!(
        long.await.unwrap().is_err(),
        "the plan was cut by the shutdown"
    );
    // A new server on the same database: the key is free at once, not held
    // "in progress" for the lease (a stale reservation would answer 409
    // immediately).
    let again = ServerProcess::start(&env, std::process::Stdio::null()).await;
    let url = format!("{}/api/v1/routing/plan", again.address);
    match send(url, body, Duration::from_secs(2)).await {
        Ok(response) => assert_eq!(response.status(), StatusCode::OK, "the retry ran"),
        Err(error) => assert!(error.is_timeout(), "{error}: the retry is running"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_cannot_write_lines_into_the_log() {
    let app = spawn_app(Backend::Sqlite).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let log_path = dir.path().join("log");
    let log = std::fs::File::create(&log_path).unwrap();
    let env = [
        ("DATABASE_URL", app.database_url.clone()),
        ("RUST_LOG", "info".to_string()),
    ];
    let server = ServerProcess::start(&env, log).await;
    let client = reqwest::Client::new();
    for path in [
        "/api/v1/jobs/%0D%0AINFO%20forged%20line",
        "/api/v1/nothing%0A2026-12-01T00:00:00Z%20ERROR%20forged",
    ] {
        let response = client
            .get(format!("{}{path}", server.address))
            .header("User-Agent", "agent\tINFO forged")
            .header("X-Request-Id", "id-ok")
            .send()
            .await
            .unwrap();
        assert!(response.status().is_client_error());
    }
    drop(server);
    let logs = std::fs::read_to_string(&log_path).unwrap();
    assert!(logs.contains("request"), "requests are logged: {logs}");
    for line in logs.lines() {
        assert!(!line.trim_start().starts_with("INFO forged"), "{line}");
        assert!(
            !line.contains("Z ERROR forged") || line.contains("%20"),
            "{line}"
        );
    }
}
