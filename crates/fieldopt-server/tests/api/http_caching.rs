//! What saves clients and the network work: compressed answers.

use std::io::Read;

use reqwest::StatusCode;
use reqwest::header::{ACCEPT_ENCODING, CONTENT_ENCODING, VARY};
use serde_json::{Value, json};

use crate::helpers::{Backend, TestApp, spawn_app};

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
