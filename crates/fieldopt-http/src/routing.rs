//! `/routing`: recommendations.

use actix_web::{get, post, web};
use fieldopt_domain::{JobId, Technician};
use fieldopt_engine::{Candidate, ScoredTechnician, rank_technicians};
use fieldopt_store::{jobs, technicians, workload};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::error::{ApiError, Problem};
use crate::extract::JsonBody;
use crate::jobs::round_km;
use crate::state::{AppState, today};

/// Body of `POST /routing/auto-route`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"job_id": 1}))]
pub struct AutoRouteRequest {
    job_id: i64,
}

/// A candidate technician with its score.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = RecommendedTechnician)]
pub struct RecommendedTechnician {
    id: i64,
    name: String,
    skills: Vec<String>,
    /// Room left on the job's day.
    capacity_available: bool,
    /// 0..=1, higher is better (see the API guide for the formula).
    match_score: f64,
    distance_km: Option<f64>,
}

impl From<ScoredTechnician<'_>> for RecommendedTechnician {
    fn from(s: ScoredTechnician<'_>) -> Self {
        RecommendedTechnician {
            id: s.technician.id.0,
            name: s.technician.name.to_string(),
            skills: s
                .technician
                .skills
                .iter()
                .map(ToString::to_string)
                .collect(),
            capacity_available: s.capacity_available,
            match_score: s.match_score,
            distance_km: s.distance_km.map(round_km),
        }
    }
}

/// The best technician for a job, without assigning it.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = Recommendation, example = json!({
    "job_id": 1,
    "recommended_technician": {"id": 2, "name": "Chet Baker", "skills": ["install", "repair"],
        "capacity_available": true, "match_score": 0.95, "distance_km": 1.2},
    "alternatives": [],
    "reason": null
}))]
pub struct RecommendationResponse {
    job_id: i64,
    recommended_technician: Option<RecommendedTechnician>,
    /// Next best, at most 4.
    alternatives: Vec<RecommendedTechnician>,
    /// Why nobody fits, when there is no recommendation.
    reason: Option<String>,
}

async fn recommend(
    state: &AppState,
    job_id: i64,
) -> Result<web::Json<RecommendationResponse>, ApiError> {
    let job_id = JobId(job_id);
    let today = today();
    let (job, techs, loads) = state
        .read(move |conn| {
            let job = jobs::find(conn, job_id)?;
            let techs = technicians::all_live(conn)?;
            let loads = workload::day_loads_on(conn, job.work_date(today), Some(job_id))?;
            Ok((job, techs, loads))
        })
        .await?;
    if job.status.is_final() {
        return Err(ApiError::Conflict(format!(
            "Job is {}; a finished job cannot be routed",
            job.status
        )));
    }
    let candidates: Vec<Candidate<'_>> = techs
        .iter()
        .map(|technician: &Technician| Candidate {
            technician,
            load: loads.get(&technician.id).copied().unwrap_or_default(),
        })
        .collect();
    let ranking = rank_technicians(&job, &candidates);
    Ok(web::Json(RecommendationResponse {
        job_id: job.id.0,
        recommended_technician: ranking.recommended.map(Into::into),
        alternatives: ranking.alternatives.into_iter().map(Into::into).collect(),
        reason: ranking.reason,
    }))
}

/// Recommend the best technician for a job.
#[utoipa::path(
    tag = "routing",
    request_body = AutoRouteRequest,
    responses(
        (status = 200, description = "The recommendation", body = RecommendationResponse),
        (status = 400, description = "Invalid body", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "Job not found", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The job is finished", body = Problem, content_type = "application/problem+json"),
    )
)]
#[post("/routing/auto-route")]
pub async fn auto_route_job(
    state: web::Data<AppState>,
    body: JsonBody<AutoRouteRequest>,
) -> Result<web::Json<RecommendationResponse>, ApiError> {
    recommend(&state, body.0.job_id).await
}

/// Recommend the best technician for a job (GET alias).
#[utoipa::path(
    tag = "routing",
    params(("job_id" = i64, Path, description = "Job id")),
    responses(
        (status = 200, description = "The recommendation", body = RecommendationResponse),
        (status = 404, description = "Job not found", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The job is finished", body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/routing/auto-route/{job_id}")]
pub async fn get_auto_route(
    state: web::Data<AppState>,
    job_id: web::Path<i64>,
) -> Result<web::Json<RecommendationResponse>, ApiError> {
    recommend(&state, job_id.into_inner()).await
}

/// Recommend the best technician for a job (GET alias).
#[utoipa::path(
    tag = "routing",
    params(("job_id" = i64, Path, description = "Job id")),
    responses(
        (status = 200, description = "The recommendation", body = RecommendationResponse),
        (status = 404, description = "Job not found", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The job is finished", body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/routing/best-tech/{job_id}")]
pub async fn get_best_technician(
    state: web::Data<AppState>,
    job_id: web::Path<i64>,
) -> Result<web::Json<RecommendationResponse>, ApiError> {
    recommend(&state, job_id.into_inner()).await
}
