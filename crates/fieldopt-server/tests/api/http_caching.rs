//! What saves clients and the network work: compressed answers, and
//! conditional GETs (`ETag`, `If-None-Match`, 304).

use std::io::Read;

use reqwest::StatusCode;
use reqwest::header::{
    ACCEPT_ENCODING, AUTHORIZATION, CACHE_CONTROL, CONTENT_ENCODING, ETAG, IF_NONE_MATCH, VARY,
};
use serde_json::{Value, json};

use crate::helpers::{Backend, ServerProcess, TestApp, id, spawn_app, spawn_app_as_dispatcher};
use crate::tokens;

async fn fill(app: &TestApp) {
    for n in 0..20 {
        app.technician(json!({"name": format!("Technician {n}"), "skills": ["install", "repair"]}))
            .await;
    }
}

fn decode(encoding: &str, body: &[u8]) -> Value {
    let mut text = String::new();
    match encoding {
        "gzip" => flate2::read::GzDecoder::new(body)
            .read_to_string(&mut text)
            .unwrap(),
        "br" => brotli::Decompressor::new(body, 4096)
            .read_to_string(&mut text)
            .unwrap(),
        other => panic!("unexpected encoding {other}"),
    };
    serde_json::from_str(&text).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn large_answers_are_compressed_when_the_client_asks() {
    let app = spawn_app(Backend::Sqlite).await.unwrap();
    fill(&app).await;
    let path = app.url("/api/v1/technicians");
    let plain = app.client.get(&path).send().await.unwrap();
    assert!(plain.headers().get(CONTENT_ENCODING).is_none());
    let plain: Value = plain.json().await.unwrap();
    for encoding in ["gzip", "br"] {
        let response = app
            .client
            .get(&path)
            .header(ACCEPT_ENCODING, encoding)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(response.headers()[CONTENT_ENCODING], encoding);
        assert!(
            response.headers()[VARY]
                .to_str()
                .unwrap()
                .to_ascii_lowercase()
                .contains("accept-encoding")
        );
        let body = response.bytes().await.unwrap();
        assert!(
            body.len() < plain.to_string().len() / 2,
            "{encoding}: {} bytes",
            body.len()
        );
        assert_eq!(decode(encoding, &body), plain, "{encoding}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn small_answers_go_out_plain() {
    let app = spawn_app(Backend::Sqlite).await.unwrap();
    for path in ["/healthz", "/api/v1/jobs/summary", "/api/v1/jobs/424242"] {
        let response = app
            .client
            .get(app.url(path))
            .header(ACCEPT_ENCODING, "gzip, br")
            .send()
            .await
            .unwrap();
        assert!(
            response.headers().get(CONTENT_ENCODING).is_none(),
            "{path}: {:?}",
            response.headers()
        );
        assert!(response.json::<Value>().await.is_ok(), "{path}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_encoding_the_server_cannot_meet_is_a_problem_document() {
    let app = spawn_app(Backend::Sqlite).await.unwrap();
    let response = app
        .client
        .get(app.url("/api/v1/technicians"))
        .header(ACCEPT_ENCODING, "identity;q=0, compress")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::NOT_ACCEPTABLE);
    assert_eq!(
        response.headers()["content-type"],
        "application/problem+json"
    );
}

crate::backend_tests!(
    reads_carry_tags_and_unchanged_ones_answer_304,
    a_write_in_another_process_ends_the_304s
);

/// GETs `path`, sending `tag` in `If-None-Match` when given; returns the
/// status, the answer's tag and its body.
async fn conditional_get(
    app: &TestApp,
    path: &str,
    tag: Option<&str>,
) -> (StatusCode, String, String) {
    let mut request = app.client.get(app.url(path));
    if let Some(tag) = tag {
        request = request.header(IF_NONE_MATCH, tag);
    }
    let response = request.send().await.unwrap();
    let status = response.status();
    let tag = response
        .headers()
        .get(ETAG)
        .map(|t| t.to_str().unwrap().to_string())
        .unwrap_or_default();
    if status.is_success() || status == StatusCode::NOT_MODIFIED {
        assert_eq!(response.headers()[CACHE_CONTROL], "private, no-cache");
    }
    (status, tag, response.text().await.unwrap())
}

async fn reads_carry_tags_and_unchanged_ones_answer_304(app: TestApp) {
    let technician = id(&app.technician(json!({"skills": ["install"]})).await);
    let paths = [
        "/api/v1/technicians/".to_string(),
        format!("/api/v1/technicians/{technician}"),
        "/api/v1/jobs/?limit=100".to_string(),
        "/api/v1/jobs/summary".to_string(),
    ];
    let mut tags = Vec::new();
    for path in &paths {
        let (status, tag, body) = conditional_get(&app, path, None).await;
        assert_eq!(status, StatusCode::OK, "{path}");
        assert!(tag.starts_with("W/\""), "{path}: weak tag, got {tag:?}");
        assert!(!body.is_empty());
        let (status, again, body) = conditional_get(&app, path, Some(&tag)).await;
        assert_eq!(status, StatusCode::NOT_MODIFIED, "{path}");
        assert_eq!(again, tag, "{path}: a 304 names the tag that still holds");
        assert!(body.is_empty(), "{path}: a 304 has no body");
        // Among others in a list, strong or weak: still a match.
        let listed = format!("\"other\", {}", tag.trim_start_matches("W/"));
        let (status, _, _) = conditional_get(&app, path, Some(&listed)).await;
        assert_eq!(status, StatusCode::NOT_MODIFIED, "{path}");
        tags.push(tag);
    }
    let distinct: std::collections::HashSet<&String> = tags.iter().collect();
    assert_eq!(
        distinct.len(),
        paths.len(),
        "every resource has its own tag"
    );
    let (_, other_query, _) = conditional_get(&app, "/api/v1/jobs/?limit=99", None).await;
    assert_ne!(other_query, tags[2], "the query is part of the tag");

    let response = app
        .patch(
            &format!("/api/v1/technicians/{technician}"),
            &json!({"name": "Renamed"}),
        )
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    for (path, tag) in paths.iter().zip(&tags) {
        let (status, fresh, body) = conditional_get(&app, path, Some(tag)).await;
        assert_eq!(status, StatusCode::OK, "{path}: changed data is sent again");
        assert_ne!(&fresh, tag);
        assert!(!body.is_empty());
    }
    // A refused write changes nothing, and the tags stay.
    let (_, tag, _) = conditional_get(&app, &paths[0], None).await;
    let refused = app
        .patch(
            &format!("/api/v1/technicians/{technician}"),
            &json!({"name": ""}),
        )
        .await;
    assert_eq!(refused.status(), StatusCode::BAD_REQUEST);
    let (status, _, _) = conditional_get(&app, &paths[0], Some(&tag)).await;
    assert_eq!(status, StatusCode::NOT_MODIFIED);
    // Errors carry no tag.
    let (status, tag, _) = conditional_get(&app, "/api/v1/technicians/999999", None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(tag.is_empty());
}

async fn a_write_in_another_process_ends_the_304s(app: TestApp) {
    app.technician(json!({})).await;
    let (_, tag, _) = conditional_get(&app, "/api/v1/technicians/", None).await;
    let other = ServerProcess::for_app(&app).await;
    let mut request = app
        .client
        .post(format!("{}/api/v1/technicians/", other.address));
    if let Some(secret) = &app.secret {
        let token = tokens::hs256(secret, &tokens::claims("dispatcher", "other@test", None));
        request = request.bearer_auth(token);
    }
    let created = request
        .json(&json!({"name": "Elsewhere", "skills": ["repair"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(
        created.status(),
        StatusCode::CREATED,
        "{}",
        created.text().await.unwrap()
    );
    let (status, fresh, body) = conditional_get(&app, "/api/v1/technicians/", Some(&tag)).await;
    assert_eq!(status, StatusCode::OK);
    assert_ne!(fresh, tag);
    assert!(body.contains("Elsewhere"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_caller_has_its_own_tags() {
    let app = spawn_app_as_dispatcher(Backend::Sqlite).await.unwrap();
    let technician = id(&app.technician(json!({})).await);
    let (status, dispatcher_tag, _) = conditional_get(&app, "/api/v1/jobs/", None).await;
    assert_eq!(status, StatusCode::OK);
    let token = tokens::hs256(
        tokens::SECRET,
        &tokens::claims("technician", "tech@test", Some(technician)),
    );
    let as_technician = app
        .client
        .get(app.url("/api/v1/jobs/"))
        .header(AUTHORIZATION, format!("Bearer {token}"))
        .header(IF_NONE_MATCH, &dispatcher_tag)
        .send()
        .await
        .unwrap();
    assert_eq!(
        as_technician.status(),
        StatusCode::OK,
        "another caller's tag never matches: a technician sees only its own work"
    );
    assert_ne!(as_technician.headers()[ETAG], dispatcher_tag.as_str());
}
