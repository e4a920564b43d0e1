//! What a browser may make the service do: CORS for configured origins
//! only, JSON bodies only, no DNS rebinding nor cross-site writes in
//! development mode, and headers against sniffing and framing.

use reqwest::{Method, RequestBuilder, Response, StatusCode};
use serde_json::json;

use crate::helpers::{
    Backend, TestApp, expect_json, expect_problem, id, spawn_app, spawn_app_with,
};
use crate::tokens;

const BOARD: &str = "https://board.example";
const JOBS: &str = "/api/v1/jobs";

fn job_body() -> String {
    json!({
        "type": "install", "customer": "Acme Corp", "address": "1 Main St",
        "scheduled_date": "2030-01-15"
    })
    .to_string()
}

/// A header as lowercase text, `None` when absent.
fn header(response: &Response, name: &str) -> Option<String> {
    response
        .headers()
        .get(name)
        .map(|v| v.to_str().unwrap().to_ascii_lowercase())
}

/// Asserts that the comma-separated header `name` lists each of `wanted`
/// (case-insensitively).
fn assert_lists(response: &Response, name: &str, wanted: &[&str]) {
    let listed: Vec<String> = header(response, name)
        .unwrap_or_else(|| panic!("no {name} header on {}", response.status()))
        .split(',')
        .map(|item| item.trim().to_string())
        .collect();
    for item in wanted {
        assert!(
            listed.iter().any(|l| l == item),
            "{item} not in {name}: {listed:?}"
        );
    }
}

fn cors_headers(response: &Response) -> Vec<String> {
    response
        .headers()
        .keys()
        .map(|name| name.as_str().to_string())
        .filter(|name| name.starts_with("access-control-"))
        .collect()
}

/// GET of the job list.
fn list_jobs(app: &TestApp) -> RequestBuilder {
    app.client.get(app.url(JOBS))
}

/// POST of a valid job with `Content-Type: application/json`.
fn create_job(app: &TestApp) -> RequestBuilder {
    app.client
        .post(app.url(JOBS))
        .header("Content-Type", "application/json")
        .body(job_body())
}

fn preflight(app: &TestApp, origin: &str) -> RequestBuilder {
    app.client
        .request(Method::OPTIONS, app.url(JOBS))
        .header("Origin", origin)
        .header("Access-Control-Request-Method", "POST")
        .header(
            "Access-Control-Request-Headers",
            "authorization, idempotency-key, content-type",
        )
}

async fn send(request: RequestBuilder) -> Response {
    request.send().await.expect("request")
}

/// Jobs the database holds.
async fn job_count(app: &TestApp) -> usize {
    let jobs = expect_json(app.get(JOBS).await, StatusCode::OK).await;
    jobs.as_array().unwrap().len()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cors_answers_the_configured_origins_only() {
    let app = spawn_app_with(
        Backend::Sqlite,
        |settings| settings.cors_origins = vec![BOARD.into()],
        None,
    )
    .await
    .unwrap();
    let allowed = send(preflight(&app, BOARD)).await;
    assert!(allowed.status().is_success(), "{}", allowed.status());
    assert_eq!(
        header(&allowed, "access-control-allow-origin").as_deref(),
        Some(BOARD)
    );
    assert_lists(
        &allowed,
        "access-control-allow-headers",
        &["authorization", "idempotency-key", "content-type"],
    );
    assert_lists(&allowed, "access-control-allow-methods", &["post"]);

    let foreign = send(preflight(&app, "https://evil.example")).await;
    assert_eq!(header(&foreign, "access-control-allow-origin"), None);

    let actual = send(list_jobs(&app).header("Origin", BOARD)).await;
    assert_eq!(actual.status(), StatusCode::OK);
    assert_eq!(
        header(&actual, "access-control-allow-origin").as_deref(),
        Some(BOARD)
    );
    assert_lists(
        &actual,
        "access-control-expose-headers",
        &[
            "x-request-id",
            "x-total-count",
            "retry-after",
            "ratelimit-limit",
            "ratelimit-remaining",
            "ratelimit-reset",
        ],
    );
    // Other origins are served, but the browser is not told it may read.
    let other = send(list_jobs(&app).header("Origin", "https://evil.example")).await;
    assert_eq!(other.status(), StatusCode::OK);
    assert_eq!(header(&other, "access-control-allow-origin"), None);
    // The service's own pages (Swagger UI) still write from their origin.
    let own = send(create_job(&app).header("Origin", &app.address)).await;
    expect_json(own, StatusCode::CREATED).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_cors_origins_there_are_no_cors_headers() {
    let app = spawn_app(Backend::Sqlite).await.unwrap();
    let responses = [
        send(preflight(&app, BOARD)).await,
        send(list_jobs(&app).header("Origin", BOARD)).await,
        send(create_job(&app).header("Origin", BOARD)).await,
        send(app.client.request(Method::OPTIONS, app.url(JOBS))).await,
    ];
    for response in &responses {
        assert_eq!(
            cors_headers(response),
            Vec::<String>::new(),
            "{}",
            response.status()
        );
    }
    let [preflight, get, post, options] = responses;
    assert_eq!(get.status(), StatusCode::OK);
    expect_problem(post, StatusCode::FORBIDDEN).await;
    // Both are answered as plain OPTIONS: no content, the methods allowed.
    for response in [preflight, options] {
        assert_eq!(response.status(), StatusCode::NO_CONTENT);
        assert_lists(&response, "allow", &["get", "post"]);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bodies_must_be_unencoded_json() {
    let app = spawn_app(Backend::Sqlite).await.unwrap();
    let post = || app.client.post(app.url(JOBS)).body(job_body());
    for content_type in [
        Some("text/plain"),
        None,
        Some("application/x-www-form-urlencoded"),
    ] {
        let request = match content_type {
            Some(content_type) => post().header("Content-Type", content_type),
            None => post(),
        };
        let detail = expect_problem(send(request).await, StatusCode::UNSUPPORTED_MEDIA_TYPE).await;
        assert!(
            detail.contains("application/json"),
            "{content_type:?}: {detail}"
        );
    }
    let gzip = post()
        .header("Content-Type", "application/json")
        .header("Content-Encoding", "gzip");
    let detail = expect_problem(send(gzip).await, StatusCode::UNSUPPORTED_MEDIA_TYPE).await;
    assert!(detail.contains("gzip"), "{detail}");
    assert_eq!(job_count(&app).await, 0, "refused bodies created nothing");

    let with_charset = post().header("Content-Type", "application/json; charset=utf-8");
    let job = expect_json(send(with_charset).await, StatusCode::CREATED).await;
    // No body, no Content-Type: nothing to check.
    let cancel = app
        .client
        .post(app.url(&format!("{JOBS}/{}/cancel", id(&job))))
        .send()
        .await
        .unwrap();
    assert_eq!(
        expect_json(cancel, StatusCode::OK).await["status"],
        "cancelled"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn development_mode_refuses_foreign_hosts_and_cross_site_writes() {
    let app = spawn_app(Backend::Sqlite).await.unwrap();
    let port = app.address.rsplit(':').next().unwrap().to_string();
    let rebound = send(list_jobs(&app).header("Host", "evil.example")).await;
    expect_problem(rebound, StatusCode::MISDIRECTED_REQUEST).await;
    let rebound_write = send(create_job(&app).header("Host", format!("evil.example:{port}"))).await;
    expect_problem(rebound_write, StatusCode::MISDIRECTED_REQUEST).await;
    let local = send(list_jobs(&app).header("Host", format!("localhost:{port}"))).await;
    assert_eq!(local.status(), StatusCode::OK);

    let foreign_origin = send(create_job(&app).header("Origin", "http://evil.example")).await;
    let detail = expect_problem(foreign_origin, StatusCode::FORBIDDEN).await;
    assert!(detail.contains("Cross-site"), "{detail}");
    let cross_fetch = send(create_job(&app).header("Sec-Fetch-Site", "cross-site")).await;
    expect_problem(cross_fetch, StatusCode::FORBIDDEN).await;
    assert_eq!(job_count(&app).await, 0, "refused writes created nothing");

    let own_origin = send(
        create_job(&app)
            .header("Origin", &app.address)
            .header("Sec-Fetch-Site", "same-origin"),
    )
    .await;
    expect_json(own_origin, StatusCode::CREATED).await;
    let foreign_read = send(list_jobs(&app).header("Origin", "http://evil.example")).await;
    assert_eq!(foreign_read.status(), StatusCode::OK);
    assert_eq!(job_count(&app).await, 1);

    // An origin allowed by CORS may write.
    let app = spawn_app_with(
        Backend::Sqlite,
        |settings| settings.cors_origins = vec![BOARD.into()],
        None,
    )
    .await
    .unwrap();
    let allowed = send(
        create_job(&app)
            .header("Origin", BOARD)
            .header("Sec-Fetch-Site", "cross-site"),
    )
    .await;
    expect_json(allowed, StatusCode::CREATED).await;
    let other = send(create_job(&app).header("Origin", "https://evil.example")).await;
    assert_eq!(other.status(), StatusCode::FORBIDDEN);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_authentication_foreign_hosts_are_served() {
    let token = tokens::hs256(
        tokens::SECRET,
        &tokens::claims("dispatcher", "dispatcher@test", None),
    );
    let app = spawn_app_with(
        Backend::Sqlite,
        |settings| settings.auth_secret = Some(tokens::SECRET.to_string().into()),
        Some(token),
    )
    .await
    .unwrap();
    // Behind a proxy the Host is the public name; the token is the proof.
    let created = send(create_job(&app).header("Host", "dispatch.example.com")).await;
    let job = expect_json(created, StatusCode::CREATED).await;
    let read = send(
        app.client
            .get(app.url(&format!("{JOBS}/{}", id(&job))))
            .header("Host", "dispatch.example.com"),
    )
    .await;
    assert_eq!(expect_json(read, StatusCode::OK).await, job);
    // Still refused without a token, whatever the Host.
    let anonymous = reqwest::Client::new()
        .get(app.url(JOBS))
        .header("Host", "dispatch.example.com")
        .send()
        .await
        .unwrap();
    expect_problem(anonymous, StatusCode::UNAUTHORIZED).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_response_is_nosniff_and_docs_cannot_be_framed() {
    let app = spawn_app(Backend::Sqlite).await.unwrap();
    let requests = [
        list_jobs(&app),
        app.client.get(app.url(&format!("{JOBS}/424242"))),
        app.client.delete(app.url(JOBS)),
        app.client.request(Method::OPTIONS, app.url(JOBS)),
        app.client
            .post(app.url(JOBS))
            .header("Content-Type", "text/plain")
            .body("{}"),
        list_jobs(&app).header("Host", "evil.example"),
        create_job(&app).header("Origin", "http://evil.example"),
        app.client.get(app.url("/healthz")),
        app.client.get(app.url("/metrics")),
        app.client.get(app.url("/api/v1/openapi.json")),
        app.client.get(app.url("/nowhere")),
    ];
    let mut statuses = Vec::new();
    for request in requests {
        let response = send(request).await;
        statuses.push(response.status().as_u16());
        assert_eq!(
            header(&response, "x-content-type-options").as_deref(),
            Some("nosniff"),
            "{}",
            response.url()
        );
        assert_eq!(
            header(&response, "x-frame-options"),
            None,
            "{}",
            response.url()
        );
    }
    assert_eq!(
        statuses,
        [200, 404, 405, 204, 415, 421, 403, 200, 200, 200, 404]
    );

    let docs = send(app.client.get(app.url("/docs/"))).await;
    assert_eq!(docs.status(), StatusCode::OK);
    assert_eq!(
        header(&docs, "x-content-type-options").as_deref(),
        Some("nosniff")
    );
    assert_eq!(header(&docs, "x-frame-options").as_deref(), Some("deny"));
    let policy = header(&docs, "content-security-policy").expect("CSP on /docs/");
    assert!(policy.contains("frame-ancestors 'none'"), "{policy}");
}
