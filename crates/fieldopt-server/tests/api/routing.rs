use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{TestApp, expect_json, expect_problem, id};

crate::backend_tests!(
    best_technician_is_nearest_fit_and_aliases_agree,
    nobody_fits_and_errors
);

async fn best_technician_is_nearest_fit_and_aliases_agree(app: TestApp) {
    let far = id(&app
        .technician(json!({"name": "Far", "home_latitude": 40.9, "home_longitude": -74.0}))
        .await);
    let near = id(&app
        .technician(json!({"name": "Near", "home_latitude": 40.71, "home_longitude": -74.0}))
        .await);
    app.technician(json!({"name": "Unskilled", "skills": ["repair"], "home_latitude": 40.7, "home_longitude": -74.0})).await;
    let job = id(&app.job(json!({"latitude": 40.7, "longitude": -74.0})).await);
    let answer = expect_json(
        app.post("/api/v1/routing/auto-route", &json!({"job_id": job}))
            .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(answer["job_id"], job);
    assert_eq!(answer["recommended_technician"]["id"], near);
    assert_eq!(answer["recommended_technician"]["name"], "Near");
    assert_eq!(answer["recommended_technician"]["capacity_available"], true);
    let score = answer["recommended_technician"]["match_score"]
        .as_f64()
        .unwrap();
    assert!((0.0..=1.0).contains(&score));
    assert!(
        (answer["recommended_technician"]["distance_km"]
            .as_f64()
            .unwrap()
            - 1.112)
            .abs()
            < 0.01
    );
    let alternatives: Vec<i64> = answer["alternatives"]
        .as_array()
        .unwrap()
        .iter()
        .map(id)
        .collect();
    assert_eq!(alternatives, vec![far]);
    assert_eq!(answer["reason"], Value::Null);
    for alias in ["auto-route", "best-tech"] {
        let same = expect_json(
            app.get(&format!("/api/v1/routing/{alias}/{job}")).await,
            StatusCode::OK,
        )
        .await;
        assert_eq!(same, answer, "{alias}");
    }
}

async fn nobody_fits_and_errors(app: TestApp) {
    app.technician(json!({"skills": ["repair"]})).await;
    let job = id(&app.job(json!({"skills_required": ["fiber"]})).await);
    let answer = expect_json(
        app.get(&format!("/api/v1/routing/best-tech/{job}")).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(answer["recommended_technician"], Value::Null);
    assert_eq!(answer["alternatives"], json!([]));
    assert!(
        answer["reason"]
            .as_str()
            .unwrap()
            .contains("1 lack required skills"),
        "{answer}"
    );
    expect_problem(
        app.get("/api/v1/routing/best-tech/999999").await,
        StatusCode::NOT_FOUND,
    )
    .await;
    expect_json(
        app.post(&format!("/api/v1/jobs/{job}/cancel"), &json!({}))
            .await,
        StatusCode::OK,
    )
    .await;
    expect_problem(
        app.post("/api/v1/routing/auto-route", &json!({"job_id": job}))
            .await,
        StatusCode::CONFLICT,
    )
    .await;
    expect_problem(
        app.post("/api/v1/routing/auto-route", &json!({})).await,
        StatusCode::BAD_REQUEST,
    )
    .await;
}
