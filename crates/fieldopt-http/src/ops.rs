//! Operations endpoints: liveness, readiness, metrics.

use actix_web::{HttpResponse, get, web};
use serde::Serialize;
use utoipa::ToSchema;

use crate::error::{ApiError, Problem};
use crate::state::AppState;

/// Health answer.
#[derive(Debug, Serialize, ToSchema)]
pub struct HealthResponse {
    /// `ok`.
    status: &'static str,
}

/// Liveness: 200 while the process runs.
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
#[utoipa::path(
    tag = "operations",
    responses((status = 200, description = "The process runs", body = HealthResponse))
)]
#[get("/health")]
pub async fn get_health_check() -> web::Json<HealthResponse> {
    alive()
}

/// Readiness: 200 when the database answers, 503 otherwise.
#[utoipa::path(
    tag = "operations",
    responses(
        (status = 200, description = "The database answers", body = HealthResponse),
        (status = 503, description = "The database does not answer", body = Problem, content_type = "application/problem+json"),
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
            ApiError::Unavailable(cause) | ApiError::Internal(cause) => {
                ApiError::Unavailable(cause)
            }
            other => other,
        })?;
    Ok(web::Json(HealthResponse { status: "ok" }))
}

/// Prometheus metrics in text format.
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
