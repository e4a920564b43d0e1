//! What a careless or hostile client sends, and the bounded, named answer
//! it gets: long lists, lenient-looking dates, nulls, odd Unicode, slow or
//! cut bodies, invented methods, reused idempotency keys, huge queries.

use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::helpers::{
    Backend, TestApp, expect_json, expect_problem, id, spawn_app, spawn_app_with,
};
use crate::tokens::{SECRET, claims, hs256};

crate::backend_tests!(
    lists_are_bounded_and_named,
    dates_are_exactly_yyyy_mm_dd_in_a_sane_range,
    null_never_clears_a_field_that_cannot_be_empty,
    errors_speak_json_not_rust,
    text_is_one_form_visible_and_searched_alike_on_both_backends,
    history_is_paged,
    head_answers_like_get_without_a_body,
);

async fn lists_are_bounded_and_named(app: TestApp) {
    let skills: Vec<String> = (0..51).map(|i| format!("s{i}")).collect();
    for (path, body, field) in [
        (
            "/api/v1/technicians",
            json!({"name": "A", "skills": skills}),
            "skills",
        ),
        (
            "/api/v1/technicians",
            json!({"name": "A", "areas": skills}),
            "areas",
        ),
        (
            "/api/v1/jobs",
            json!({"type": "install", "customer": "C", "address": "A", "skills_required": skills}),
            "skills_required",
        ),
    ] {
        let detail = expect_problem(app.post(path, &body).await, StatusCode::BAD_REQUEST).await;
        assert!(
            detail.contains(field) && detail.contains("at most 50"),
            "{detail}"
        );
    }
    // 16 384 skills once overflowed SQLite's bind parameters (a 500).
    let many: Vec<String> = (0..16_384).map(|i| format!("s{i}")).collect();
    let response = app
        .post("/api/v1/technicians", &json!({"name": "A", "skills": many}))
        .await;
    expect_problem(response, StatusCode::BAD_REQUEST).await;
    let fifty: Vec<String> = (0..50).map(|i| format!("s{i}")).collect();
    let tech = app.technician(json!({"skills": fifty})).await;
    assert_eq!(tech["skills"].as_array().unwrap().len(), 50);
}

async fn dates_are_exactly_yyyy_mm_dd_in_a_sane_range(app: TestApp) {
    for bad in [
        "-001-01-01",
        "+202-01-01",
        "0999-12-31",
        "3000-01-01",
        "2026-1-01",
        "2026-02-30",
        "２０２６-01-01",
    ] {
        let query = format!("/api/v1/jobs?scheduled_date={}", urlencode(bad));
        let detail = expect_problem(app.get(&query).await, StatusCode::BAD_REQUEST).await;
        assert!(detail.contains("scheduled_date"), "{bad}: {detail}");
        let body =
            json!({"type": "install", "customer": "C", "address": "A", "scheduled_date": bad});
        let detail = expect_problem(
            app.post("/api/v1/jobs", &body).await,
            StatusCode::BAD_REQUEST,
        )
        .await;
        assert!(detail.contains("scheduled_date"), "{bad}: {detail}");
    }
    let job = app.job(json!({"scheduled_date": "1999-12-31"})).await;
    assert_eq!(job["scheduled_date"], "1999-12-31");
}

fn urlencode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'0'..=b'9' | b'a'..=b'z' | b'A'..=b'Z' | b'-' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

async fn null_never_clears_a_field_that_cannot_be_empty(app: TestApp) {
    let tech = app.technician(json!({})).await;
    let job = app.job(json!({"notes": "gate code 4711"})).await;
    for field in [
        "type",
        "customer",
        "address",
        "skills_required",
        "priority",
        "duration_minutes",
        "status",
    ] {
        let path = format!("/api/v1/jobs/{}", id(&job));
        let detail = expect_problem(
            app.patch(&path, &json!({field: null})).await,
            StatusCode::BAD_REQUEST,
        )
        .await;
        assert!(detail.contains(field), "{field}: {detail}");
    }
    for field in [
        "name",
        "skills",
        "areas",
        "capacity",
        "shift_start",
        "shift_end",
    ] {
        let path = format!("/api/v1/technicians/{}", id(&tech));
        let detail = expect_problem(
            app.patch(&path, &json!({field: null})).await,
            StatusCode::BAD_REQUEST,
        )
        .await;
        assert!(detail.contains(field), "{field}: {detail}");
    }
    // Nullable fields still clear.
    let path = format!("/api/v1/jobs/{}", id(&job));
    let cleared = expect_json(
        app.patch(&path, &json!({"notes": null})).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(cleared["notes"], Value::Null);
    assert_eq!(cleared["customer"], job["customer"]);
}

async fn errors_speak_json_not_rust(app: TestApp) {
    for (body, field) in [
        ("[1, 2]", ""),
        ("\"a job\"", ""),
        (
            r#"{"type": "install", "customer": "C", "address": "A", "priority": "high"}"#,
            "priority",
        ),
        (
            r#"{"type": "install", "customer": "C", "address": "A", "priority": 2.5}"#,
            "priority",
        ),
        (
            r#"{"type": "install", "customer": "C", "address": "A", "latitude": "north"}"#,
            "latitude",
        ),
        (
            r#"{"type": "install", "customer": ["C"], "address": "A"}"#,
            "customer",
        ),
        (
            r#"{"type": "install", "customer": "C", "address": "A", "skills_required": {"a": 1}}"#,
            "skills_required",
        ),
    ] {
        let detail = expect_problem(
            app.post_raw("/api/v1/jobs", body).await,
            StatusCode::BAD_REQUEST,
        )
        .await;
        for rust in [
            "struct",
            "i64",
            "u32",
            "f64",
            "sequence",
            "CreateJob",
            "Option<",
            "map",
        ] {
            assert!(!detail.contains(rust), "{body}: {detail}");
        }
        assert!(detail.contains(field), "{body}: {detail}");
    }
    let detail = expect_problem(
        app.get("/api/v1/jobs?limit=ten").await,
        StatusCode::BAD_REQUEST,
    )
    .await;
    assert!(
        detail.contains("limit") && !detail.contains("i64"),
        "{detail}"
    );
}

async fn text_is_one_form_visible_and_searched_alike_on_both_backends(app: TestApp) {
    // Search folds case beyond ASCII, on SQLite as on PostgreSQL.
    let job = app
        .job(json!({"customer": "ÉCOLE Ünïversité Straße"}))
        .await;
    for query in ["école", "ÜNÏVERSITÉ", "straße", "Ünï"] {
        let path = format!("/api/v1/jobs?customer={}", urlencode(query));
        let found = expect_json(app.get(&path).await, StatusCode::OK).await;
        assert_eq!(found, json!([job.clone()]), "{query}");
    }
    // One area, however it was typed: a technician of "Montréal" (composed)
    // covers a job in "Montréal" (decomposed).
    let tech = app
        .technician(json!({"skills": ["install"], "areas": ["Montr\u{e9}al"]}))
        .await;
    let there = app
        .job(json!({"area": "Montre\u{301}al", "skills_required": ["install"]}))
        .await;
    assert_eq!(there["area"], "Montr\u{e9}al");
    let can_do = expect_json(
        app.get(&format!("/api/v1/jobs/{}/can-do/{}", id(&there), id(&tech)))
            .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(can_do["area_ok"], true, "{can_do}");
    let listed = expect_json(
        app.get(&format!(
            "/api/v1/technicians?area={}",
            urlencode("Montre\u{301}al")
        ))
        .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(listed.as_array().unwrap().len(), 1);
    let created = app
        .post(
            "/api/v1/technicians",
            &json!({"name": "A", "areas": ["Montr\u{e9}al", "Montre\u{301}al"]}),
        )
        .await;
    let detail = expect_problem(created, StatusCode::BAD_REQUEST).await;
    assert!(detail.contains("duplicate"), "{detail}");
    // Names of nothing visible, or with control characters, are refused.
    for name in [
        "\u{200B}\u{200B}",
        "\u{3164}",
        "\u{FEFF} ",
        "Ann\u{7}",
        "two\nlines",
    ] {
        let detail = expect_problem(
            app.post("/api/v1/technicians", &json!({"name": name}))
                .await,
            StatusCode::BAD_REQUEST,
        )
        .await;
        assert!(detail.contains("name"), "{name:?}: {detail}");
    }
}

async fn history_is_paged(app: TestApp) {
    let tech = app.technician(json!({})).await;
    let job = app.job(json!({"skills_required": ["install"]})).await;
    for _ in 0..3 {
        expect_json(app.assign(id(&job), id(&tech)).await, StatusCode::CREATED).await;
        let response = app
            .post("/api/v1/assignments/unassign", &json!({"job_id": id(&job)}))
            .await;
        assert_eq!(response.status(), StatusCode::NO_CONTENT);
    }
    let path = format!("/api/v1/jobs/{}/history?limit=2&offset=1", id(&job));
    let response = app.get(&path).await;
    assert_eq!(response.headers()["x-total-count"], "7");
    let page = expect_json(response, StatusCode::OK).await;
    let events: Vec<&str> = page
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["event"].as_str().unwrap())
        .collect();
    assert_eq!(events, vec!["assigned", "unassigned"]);
    let detail = expect_problem(
        app.get(&format!("/api/v1/jobs/{}/history?limit=0", id(&job)))
            .await,
        StatusCode::BAD_REQUEST,
    )
    .await;
    assert!(detail.contains("limit"), "{detail}");
}

async fn head_answers_like_get_without_a_body(app: TestApp) {
    app.job(json!({})).await;
    for path in [
        "/api/v1/jobs",
        "/api/v1/jobs/1",
        "/api/v1/technicians",
        "/healthz",
    ] {
        let get = app.get(path).await;
        let head = app.client.head(app.url(path)).send().await.unwrap();
        assert_eq!(head.status(), get.status(), "{path}");
        for name in ["content-type", "x-total-count"] {
            assert_eq!(
                head.headers().get(name),
                get.headers().get(name),
                "{path} {name}"
            );
        }
        assert!(head.bytes().await.unwrap().is_empty(), "{path}");
    }
    let missing = app
        .client
        .head(app.url("/api/v1/jobs/999999"))
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status(), StatusCode::NOT_FOUND);
}

/// Writes a raw request and returns what the server answers.
async fn raw(app: &TestApp, request: &[u8], then_wait: Duration) -> String {
    let address = app.address.trim_start_matches("http://");
    let mut stream = tokio::net::TcpStream::connect(address).await.unwrap();
    stream.write_all(request).await.unwrap();
    tokio::time::sleep(then_wait).await;
    let mut answer = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut answer)).await;
    String::from_utf8_lossy(&answer).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_and_cut_bodies_get_a_bounded_named_answer() {
    let app = spawn_app_with(Backend::Sqlite, |s| s.body_timeout_s = 1, None)
        .await
        .unwrap();
    // Declares 100 bytes, sends 1, then nothing: 408 after the body timeout.
    let started = std::time::Instant::now();
    let answer = raw(
        &app,
        b"POST /api/v1/jobs HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{",
        Duration::ZERO,
    )
    .await;
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(answer.contains("application/problem+json"), "{answer}");
    assert!(started.elapsed() < Duration::from_secs(5));
    // The same with an Idempotency-Key: read in the middleware, same answer.
    let answer = raw(
        &app,
        b"POST /api/v1/jobs HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nIdempotency-Key: k1\r\nContent-Length: 100\r\n\r\n{",
        Duration::ZERO,
    )
    .await;
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    // A body cut short (the client closes its side) is a 400, not a 413.
    let address = app.address.trim_start_matches("http://").to_string();
    let mut stream = tokio::net::TcpStream::connect(&address).await.unwrap();
    stream
        .write_all(b"POST /api/v1/jobs HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nIdempotency-Key: k2\r\nContent-Length: 100\r\n\r\n{\"type\"")
        .await
        .unwrap();
    stream.shutdown().await.unwrap();
    let mut answer = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut answer)).await;
    let answer = String::from_utf8_lossy(&answer);
    assert!(!answer.contains(" 413 "), "{answer}");
    // The server is still fine.
    assert_eq!(app.get("/api/v1/jobs").await.status(), StatusCode::OK);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invented_methods_and_huge_queries_cost_nothing_lasting() {
    let app = spawn_app(Backend::Sqlite).await.unwrap();
    for n in 0..50 {
        let method = Method::from_bytes(format!("INVENTED{n}").as_bytes()).unwrap();
        let response = app
            .client
            .request(method, app.url("/api/v1/jobs"))
            .send()
            .await
            .unwrap();
        expect_problem(response, StatusCode::METHOD_NOT_ALLOWED).await;
    }
    let metrics = app.get("/metrics").await.text().await.unwrap();
    assert!(
        !metrics.contains("INVENTED"),
        "methods are labels from a fixed set"
    );
    assert!(metrics.contains(r#"method="other""#), "{metrics}");
    // As long as a URL can be (the HTTP layer refuses longer ones itself).
    let huge = format!("/api/v1/jobs?customer={}", "a".repeat(60_000));
    let response = app.client.get(app.url(&huge)).send().await.expect("sent");
    assert!(response.status().is_client_error(), "{}", response.status());
    let long = format!("/api/v1/jobs?customer={}", "a".repeat(5_000));
    expect_problem(app.get(&long).await, StatusCode::URI_TOO_LONG).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idempotency_keys_are_per_client_leased_and_bounded() {
    let app = spawn_app_with(
        Backend::Sqlite,
        |s| {
            s.auth_secret = Some(SECRET.to_string().into());
            s.idempotency_max_keys = 3;
        },
        None,
    )
    .await
    .unwrap();
    let post = |token: String, key: &'static str, body: Value| {
        let app = &app;
        async move {
            app.client
                .post(app.url("/api/v1/jobs"))
                .bearer_auth(token)
                .header("Idempotency-Key", key)
                .json(&body)
                .send()
                .await
                .unwrap()
        }
    };
    let alice = hs256(SECRET, &claims("dispatcher", "alice", None));
    let bob = hs256(SECRET, &claims("dispatcher", "bob", None));
    let job = |name: &str| json!({"type": "install", "customer": name, "address": "A"});
    // The same key from two clients: two separate requests.
    let first = expect_json(
        post(alice.clone(), "order-1", job("Alice Co")).await,
        StatusCode::CREATED,
    )
    .await;
    let other = expect_json(
        post(bob.clone(), "order-1", job("Bob Co")).await,
        StatusCode::CREATED,
    )
    .await;
    assert_ne!(first["id"], other["id"]);
    let again = post(alice.clone(), "order-1", job("Alice Co")).await;
    assert_eq!(again.headers()["idempotent-replayed"], "true");
    assert_eq!(expect_json(again, StatusCode::CREATED).await, first);
    // A reservation left by a lost request ends with its lease.
    {
        let mut conn = app.pool.get().unwrap();
        let long_ago = fieldopt_store::now() - chrono::Duration::minutes(10);
        fieldopt_store::write_transaction(&mut conn, |c| {
            fieldopt_store::idempotency::reserve(
                c,
                "sub:alice",
                "lost",
                "hash-of-a-lost-request",
                long_ago,
                Default::default(),
            )
        })
        .unwrap();
    }
    expect_json(
        post(alice.clone(), "lost", job("Retried")).await,
        StatusCode::CREATED,
    )
    .await;
    expect_json(
        post(alice.clone(), "order-3", job("Third")).await,
        StatusCode::CREATED,
    )
    .await;
    // Alice now holds 3 keys: a fourth is refused; Bob is not affected.
    let refused = post(alice.clone(), "order-4", job("Too many")).await;
    assert!(refused.headers().contains_key("retry-after"));
    expect_problem(refused, StatusCode::TOO_MANY_REQUESTS).await;
    expect_json(
        post(bob, "order-2", job("Bob again")).await,
        StatusCode::CREATED,
    )
    .await;
    // Without a key Alice can still work.
    let plain = app
        .client
        .post(app.url("/api/v1/jobs"))
        .bearer_auth(&alice)
        .json(&job("Plain"))
        .send()
        .await
        .unwrap();
    expect_json(plain, StatusCode::CREATED).await;
}
