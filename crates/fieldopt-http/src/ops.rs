//! Operations endpoints: liveness, readiness, metrics.

use actix_web::{HttpResponse, get, web};
use serde::Serialize;
use utoipa::ToSchema;

use fieldopt_store::Outage;

use crate::error::ApiError;
use crate::state::AppState;

/// Health answer.
#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({"status": "ok"}))]
pub struct HealthResponse {
    /// `ok`.
    status: &'static str,
}

/// Liveness: 200 while the process runs.
///
/// Answers without touching the database, so a slow database never makes an
/// orchestrator restart a healthy process. Never rate limited.
#[utoipa::path(
    tag = "operations",
    responses((status = 200, description = "The process runs", body = HealthResponse))
)]
#[get("/healthz")]
pub async fn get_health() -> web::Json<HealthResponse> {
    alive()
}

fn alive() -> web::Json<HealthResponse> {
    web::Json(HealthResponse { status: "ok" })
}

/// Liveness under the original's path (`/health`); the same as `/healthz`.
///
/// Deprecated alias of `/healthz` under the original's path, for probes
/// configured against it.
#[utoipa::path(
    tag = "operations",
    responses((status = 200, description = "The process runs", body = HealthResponse))
)]
#[get("/health")]
pub async fn get_health_check() -> web::Json<HealthResponse> {
    alive()
}

/// Readiness: 200 when the database answers, 503 otherwise.
///
/// Checks out a database connection and runs a trivial query, all within
/// `FIELDOPT_DB_TIMEOUT_MS`; 503 while the database is unreachable or does
/// not answer in time, so a load balancer sends traffic elsewhere until it
/// returns. Never rate limited.
#[utoipa::path(
    tag = "operations",
    responses(
        (status = 200, description = "The database answers", body = HealthResponse),
    )
)]
#[get("/readyz")]
pub async fn get_readiness(
    state: web::Data<AppState>,
) -> Result<web::Json<HealthResponse>, ApiError> {
    state
        .read(fieldopt_store::ping)
        .await
        .map_err(|error| match error {
            // Whatever failed, the database is not serving: not ready.
            ApiError::Internal(cause) => ApiError::Unavailable {
                outage: Outage::Storage,
                cause,
            },
            other => other,
        })?;
    Ok(web::Json(HealthResponse { status: "ok" }))
}

/// Prometheus metrics in text format.
///
/// Prometheus text format: request counts and latency histograms by route and
/// status (fixed label sets), database pool usage, refused requests and
/// rate-limited clients.
#[utoipa::path(
    tag = "operations",
    responses((status = 200, description = "Prometheus text exposition", body = String, content_type = "text/plain; version=0.0.4"))
)]
#[get("/metrics")]
pub async fn get_metrics(state: web::Data<AppState>) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4; charset=utf-8")
        .body(
            state
                .metrics()
                .render(state.security().rate_limited_clients()),
        )
}
