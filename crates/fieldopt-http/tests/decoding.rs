//! Property tests of request decoding through the whole application (in
//! process, on a real SQLite file): whatever a client sends — any JSON
//! shape, any text, any query — the answer is a success or a 4xx problem
//! document, never a 5xx, and a 400 says which field is at fault.

use actix_web::http::StatusCode;
use actix_web::test::{TestRequest, call_service, init_service, read_body};
use fieldopt_http::{ApiSettings, AppState, Security};
use fieldopt_store::{DatabaseTarget, PoolOptions, build_pool, run_migrations};
use proptest::prelude::*;
use proptest::strategy::ValueTree;
use proptest::test_runner::{Config, TestRunner};
use serde_json::{Value, json};

/// Any JSON value, nested a little, with awkward text.
fn any_json() -> impl Strategy<Value = Value> {
    let text = prop_oneof![
        ".{0,20}",
        "[a-z_]{1,12}",
        Just("\u{0}".to_string()),
        Just("\u{200B}".to_string()),
        Just("2026-02-30".to_string()),
        Just("-001-01-01".to_string()),
        Just("08:00-07:00".to_string()),
        Just("x".repeat(5000)),
    ];
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(Value::from),
        (-5i64..60).prop_map(Value::from),
        text.prop_map(Value::from),
    ];
    leaf.prop_recursive(3, 24, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::from),
            prop::collection::hash_map("[a-z_]{1,16}", inner, 0..6)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// A body shaped like the real one, with some fields replaced by anything.
fn nearly_valid(base: Value) -> impl Strategy<Value = Value> {
    let mut keys: Vec<String> = base.as_object().unwrap().keys().cloned().collect();
    keys.extend(
        [
            "type",
            "customer",
            "address",
            "skills_required",
            "scheduled_date",
            "time_slot",
            "priority",
            "duration_minutes",
            "latitude",
            "longitude",
            "area",
            "notes",
            "status",
            "name",
            "skills",
            "areas",
            "capacity",
            "shift_start",
            "shift_end",
            "home_latitude",
            "home_longitude",
            "job_id",
            "technician_id",
            "job_ids",
            "force",
            "reason",
            "apply",
            "time_limit_ms",
            "technician_ids",
            "new_technician_id",
            "bogus",
        ]
        .map(String::from),
    );
    prop::collection::vec((prop::sample::select(keys), any_json()), 0..4).prop_map(move |changes| {
        let mut body = base.clone();
        for (key, value) in changes {
            body[key.as_str()] = value;
        }
        body
    })
}

const ROUTES: [(&str, &str); 9] = [
    ("POST", "/api/v1/jobs"),
    ("PATCH", "/api/v1/jobs/1"),
    ("POST", "/api/v1/technicians"),
    ("PATCH", "/api/v1/technicians/1"),
    ("POST", "/api/v1/assignments"),
    ("POST", "/api/v1/assignments/batch-assign"),
    ("POST", "/api/v1/assignments/reassign"),
    ("POST", "/api/v1/jobs/1/cancel"),
    ("POST", "/api/v1/routing/plan"),
];

fn base_body(route: usize) -> Value {
    match route {
        0 | 1 => json!({"type": "install", "customer": "C", "address": "A"}),
        2 | 3 => json!({"name": "Tech", "skills": ["install"]}),
        4 => json!({"job_id": 1, "technician_id": 1}),
        5 => json!({"job_ids": [1], "technician_id": 1}),
        6 => json!({"job_id": 1, "new_technician_id": 1}),
        7 => json!({"reason": "why"}),
        _ => json!({"scheduled_date": "2030-01-01", "time_limit_ms": 10}),
    }
}

#[actix_web::test]
async fn no_body_makes_the_service_fail_and_every_400_names_a_field() {
    let dir = tempfile::tempdir().unwrap();
    let target =
        DatabaseTarget::parse(&format!("sqlite://{}", dir.path().join("p.db").display())).unwrap();
    let pool = build_pool(PoolOptions::new(target)).unwrap();
    run_migrations(&mut pool.get().unwrap()).unwrap();
    let state = AppState::new(pool, ApiSettings::default(), Security::development());
    let app = init_service(fieldopt_http::app(state)).await;
    // A technician and a job to aim PATCHes and actions at.
    for (path, body) in [
        ("/api/v1/technicians", base_body(2)),
        ("/api/v1/jobs", base_body(0)),
    ] {
        let request = TestRequest::post().uri(path).set_json(body).to_request();
        assert_eq!(
            call_service(&app, request).await.status(),
            StatusCode::CREATED
        );
    }
    let mut runner = TestRunner::new(Config::with_cases(256));
    let cases = (0..ROUTES.len()).prop_flat_map(|route| {
        prop_oneof![
            3 => nearly_valid(base_body(route)),
            1 => any_json(),
        ]
        .prop_map(move |body| (route, body))
    });
    for _ in 0..400 {
        let (route, body) = cases.new_tree(&mut runner).unwrap().current();
        let (method, path) = ROUTES[route];
        let request = TestRequest::default()
            .method(method.parse().unwrap())
            .uri(path)
            .insert_header(("Content-Type", "application/json"))
            .insert_header(("Host", "localhost"))
            .set_payload(body.to_string())
            .to_request();
        let response = call_service(&app, request).await;
        let status = response.status();
        let text = String::from_utf8_lossy(&read_body(response).await).into_owned();
        assert!(
            !status.is_server_error(),
            "{method} {path} {body}: {status} {text}"
        );
        if status.is_client_error() {
            let problem: Value = serde_json::from_str(&text).expect("a problem document");
            assert_eq!(problem["status"], status.as_u16());
            let detail = problem["detail"].as_str().unwrap();
            if status == StatusCode::BAD_REQUEST {
                assert!(
                    detail.starts_with("invalid value for ")
                        || detail.starts_with("Invalid request body")
                        || detail.starts_with("Malformed JSON")
                        || detail == "Request body is required",
                    "{method} {path} {body}: {detail}"
                );
                for rust in ["struct ", "i64", "u32", "f64", "Option<"] {
                    assert!(!detail.contains(rust), "{detail}");
                }
            }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// Query strings: any bytes in a filter are a 200 or a 400 naming it.
    #[test]
    fn any_query_value_is_answered_or_named(key in prop::sample::select(vec![
        "scheduled_date", "status", "type", "technician_id", "area", "customer",
        "date_from", "date_to", "limit", "offset",
    ]), value in ".{0,30}") {
        let encoded: String = value.bytes().map(|b| format!("%{b:02X}")).collect();
        let uri = format!("/api/v1/jobs?{key}={encoded}");
        let outcome = actix_web::rt::System::new().block_on(async {
            let dir = tempfile::tempdir().unwrap();
            let target = DatabaseTarget::parse(&format!("sqlite://{}", dir.path().join("q.db").display())).unwrap();
            let pool = build_pool(PoolOptions::new(target)).unwrap();
            run_migrations(&mut pool.get().unwrap()).unwrap();
            let state = AppState::new(pool, ApiSettings::default(), Security::development());
            let app = init_service(fieldopt_http::app(state)).await;
            let request = TestRequest::get().uri(&uri).insert_header(("Host", "localhost")).to_request();
            let response = call_service(&app, request).await;
            let status = response.status();
            (status, String::from_utf8_lossy(&read_body(response).await).into_owned())
        });
        let (status, text) = outcome;
        prop_assert!(status == StatusCode::OK || status == StatusCode::BAD_REQUEST, "{uri}: {status} {text}");
        if status == StatusCode::BAD_REQUEST {
            prop_assert!(text.contains(key), "{uri}: {text}");
        }
    }
}
