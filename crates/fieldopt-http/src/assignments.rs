//! `/assignments`: who holds which job, under the hard rules.

use std::collections::HashSet;

use actix_web::{HttpResponse, get, post, web};
use chrono::{DateTime, Utc};
use fieldopt_domain::access::Operation;
use fieldopt_domain::{Assignment, JobId, TechnicianId};
use fieldopt_store::assignments;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::auth::Caller;
use crate::error::{ApiError, Problem};
use crate::extract::{JsonBody, optional, page, parse_date};
use crate::state::AppState;

/// Most jobs in one batch.
pub const MAX_BATCH: usize = 1000;

/// An assignment of a job to a technician.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = Assignment, example = json!({
    "id": 1, "job_id": 1, "technician_id": 1, "assigned_at": "2026-04-11T14:30:00Z",
    "sequence": null, "estimated_arrival": null, "actor": "dispatcher@example.com"
}))]
pub struct AssignmentResponse {
    id: i64,
    job_id: i64,
    technician_id: i64,
    #[serde(serialize_with = "crate::wire::timestamp")]
    assigned_at: DateTime<Utc>,
    /// Position in the technician's day, set by day planning.
    sequence: Option<u32>,
    /// Planned arrival, set by day planning.
    #[serde(serialize_with = "crate::wire::timestamp_opt")]
    estimated_arrival: Option<DateTime<Utc>>,
    /// Who made the assignment (the token's subject; `dev` without
    /// authentication; null for assignments older than the audit trail).
    actor: Option<String>,
}

impl From<Assignment> for AssignmentResponse {
    fn from(a: Assignment) -> Self {
        AssignmentResponse {
            id: a.id.0,
            job_id: a.job_id.0,
            technician_id: a.technician_id.0,
            assigned_at: a.assigned_at,
            sequence: a.sequence,
            estimated_arrival: a.estimated_arrival,
            actor: a.actor.map(|actor| actor.to_string()),
        }
    }
}

/// Body of `POST /assignments/`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"job_id": 1, "technician_id": 1}))]
pub struct CreateAssignment {
    job_id: i64,
    technician_id: i64,
    /// Override the soft rules (skills, area, status, shift); never capacity.
    #[serde(default)]
    force: bool,
}

/// Body of `POST /assignments/batch-assign`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"job_ids": [1, 2, 3, 4], "technician_id": 1}))]
pub struct BatchAssign {
    /// 1..=1000 distinct job ids.
    job_ids: Vec<i64>,
    technician_id: i64,
    #[serde(default)]
    force: bool,
}

/// Result of a batch assignment.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = BatchAssignResult, example = json!({
    "assigned_count": 1,
    "assignments": [{"id": 7, "job_id": 3, "technician_id": 1, "assigned_at": "2026-04-15T08:00:00Z",
        "sequence": null, "estimated_arrival": null, "actor": "dispatch@example.com"}]
}))]
pub struct BatchAssignResponse {
    assigned_count: usize,
    assignments: Vec<AssignmentResponse>,
}

/// Body of `POST /assignments/batch-unassign`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"job_ids": [1, 2, 3]}))]
pub struct BatchUnassign {
    /// 1..=1000 distinct ids of assigned jobs.
    job_ids: Vec<i64>,
}

/// Result of a batch unassignment.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = BatchUnassignResult, example = json!({"unassigned_count": 2, "job_ids": [3, 4]}))]
pub struct BatchUnassignResponse {
    unassigned_count: usize,
    job_ids: Vec<i64>,
}

/// Body of `POST /assignments/unassign`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"job_id": 1}))]
pub struct Unassign {
    job_id: i64,
}

/// Body of `POST /assignments/reassign`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"job_id": 1, "new_technician_id": 2}))]
pub struct Reassign {
    job_id: i64,
    new_technician_id: i64,
    #[serde(default)]
    force: bool,
}

/// Optional day and paging of a technician's assignments.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct TechnicianAssignmentsQuery {
    /// Only this day, `YYYY-MM-DD`.
    #[param(value_type = Option<String>, format = Date)]
    date: Option<String>,
    /// 1..=5000, default 500.
    #[param(value_type = Option<i64>)]
    limit: Option<String>,
    /// Default 0.
    #[param(value_type = Option<i64>)]
    offset: Option<String>,
}

fn job_ids(ids: &[i64]) -> Result<Vec<JobId>, ApiError> {
    if ids.is_empty() || ids.len() > MAX_BATCH {
        return Err(ApiError::invalid(
            "job_ids",
            format!("must hold 1 to {MAX_BATCH} ids (got {})", ids.len()),
        ));
    }
    let mut seen = HashSet::with_capacity(ids.len());
    if let Some(dup) = ids.iter().find(|id| !seen.insert(**id)) {
        return Err(ApiError::invalid("job_ids", format!("duplicate id {dup}")));
    }
    Ok(ids.iter().copied().map(JobId).collect())
}

/// Assign a pending job to a technician.
///
/// The job must be `pending` and becomes `assigned`; the technician's status
/// becomes `assigned` when it was `available`. Hard rules (one live assignment
/// per job, the technician's capacity on the job's day, no deleted technician)
/// always hold. The soft checks of can-do (skills, area, status, shift time)
/// refuse with 409 listing every failed check, unless `force` is true.
#[utoipa::path(
    tag = "assignments",
    request_body = CreateAssignment,
    responses(
        (status = 201, description = "Assigned; the job is now `assigned`", body = AssignmentResponse),
        (status = 400, description = "Invalid body", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "Job or technician not found", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Job not pending, technician at capacity, or a soft rule fails without force", body = Problem, content_type = "application/problem+json"),
    )
)]
#[post("/assignments")]
pub async fn create_assignment(
    state: web::Data<AppState>,
    caller: Caller,
    body: JsonBody<CreateAssignment>,
) -> Result<HttpResponse, ApiError> {
    caller.scope(Operation::CreateAssignment)?;
    let CreateAssignment {
        job_id,
        technician_id,
        force,
    } = body.0;
    let assignment = state
        .write(caller.actor(), move |conn, stamp| {
            assignments::assign(
                conn,
                JobId(job_id),
                TechnicianId(technician_id),
                force,
                stamp,
            )
        })
        .await?;
    Ok(HttpResponse::Created().json(AssignmentResponse::from(assignment)))
}

/// Assign several jobs to one technician, all or nothing.
///
/// All or nothing: 1..=1000 distinct job ids go to one technician in ascending
/// id order, under the same rules as a single assignment, with capacity
/// counting the batch's own jobs. The first job that fails names itself in the
/// 409 (`Job 17: ...`) and nothing is written.
#[utoipa::path(
    tag = "assignments",
    request_body = BatchAssign,
    responses(
        (status = 200, description = "All assigned", body = BatchAssignResponse),
        (status = 400, description = "Invalid body", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "A job or the technician not found (named)", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "A job cannot be assigned (named); nothing was", body = Problem, content_type = "application/problem+json"),
    )
)]
#[post("/assignments/batch-assign")]
pub async fn batch_assign_jobs(
    state: web::Data<AppState>,
    caller: Caller,
    body: JsonBody<BatchAssign>,
) -> Result<web::Json<BatchAssignResponse>, ApiError> {
    caller.scope(Operation::BatchAssignJobs)?;
    let ids = job_ids(&body.0.job_ids)?;
    let (tech, force) = (TechnicianId(body.0.technician_id), body.0.force);
    let created = state
        .write(caller.actor(), move |conn, stamp| {
            assignments::batch_assign(conn, &ids, tech, force, stamp)
        })
        .await?;
    Ok(web::Json(BatchAssignResponse {
        assigned_count: created.len(),
        assignments: created.into_iter().map(Into::into).collect(),
    }))
}

/// Unassign several jobs, all or nothing.
///
/// All or nothing: every listed job must be `assigned` (not yet started); their
/// assignments end and the jobs are `pending` again. The first job that fails
/// names itself and nothing is written.
#[utoipa::path(
    tag = "assignments",
    request_body = BatchUnassign,
    responses(
        (status = 200, description = "All unassigned", body = BatchUnassignResponse),
        (status = 400, description = "Invalid body", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "A job not found (named)", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "A job is not assigned (named); nothing changed", body = Problem, content_type = "application/problem+json"),
    )
)]
#[post("/assignments/batch-unassign")]
pub async fn batch_unassign_jobs(
    state: web::Data<AppState>,
    caller: Caller,
    body: JsonBody<BatchUnassign>,
) -> Result<web::Json<BatchUnassignResponse>, ApiError> {
    caller.scope(Operation::BatchUnassignJobs)?;
    let ids = job_ids(&body.0.job_ids)?;
    let done = state
        .write(caller.actor(), move |conn, stamp| {
            assignments::batch_unassign(conn, &ids, stamp)
        })
        .await?;
    Ok(web::Json(BatchUnassignResponse {
        unassigned_count: done.len(),
        job_ids: done.into_iter().map(|j| j.0).collect(),
    }))
}

/// Unassign one job; it becomes `pending` again.
///
/// The job must be `assigned` (a started job is 409); its assignment ends, the
/// job is `pending` again and the technician's automatic status follows.
#[utoipa::path(
    tag = "assignments",
    request_body = Unassign,
    responses(
        (status = 204, description = "Unassigned"),
        (status = 400, description = "Invalid body", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "Job not found", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The job is not assigned", body = Problem, content_type = "application/problem+json"),
    )
)]
#[post("/assignments/unassign")]
pub async fn unassign_job(
    state: web::Data<AppState>,
    caller: Caller,
    body: JsonBody<Unassign>,
) -> Result<HttpResponse, ApiError> {
    caller.scope(Operation::UnassignJob)?;
    let job = JobId(body.0.job_id);
    state
        .write(caller.actor(), move |conn, stamp| {
            assignments::unassign(conn, job, stamp)
        })
        .await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Move an assigned job to another technician.
///
/// Moves an `assigned` job (not yet started) to another technician in one
/// transaction: the new technician passes the same checks as an assignment
/// (`force` overrides the soft ones), and naming the same technician is 409.
/// The history records both technicians.
#[utoipa::path(
    tag = "assignments",
    request_body = Reassign,
    responses(
        (status = 200, description = "The new assignment", body = AssignmentResponse),
        (status = 400, description = "Invalid body", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "Job or technician not found", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Not assigned, same technician, at capacity, or a soft rule fails", body = Problem, content_type = "application/problem+json"),
    )
)]
#[post("/assignments/reassign")]
pub async fn reassign_job(
    state: web::Data<AppState>,
    caller: Caller,
    body: JsonBody<Reassign>,
) -> Result<web::Json<AssignmentResponse>, ApiError> {
    caller.scope(Operation::ReassignJob)?;
    let Reassign {
        job_id,
        new_technician_id,
        force,
    } = body.0;
    let assignment = state
        .write(caller.actor(), move |conn, stamp| {
            assignments::reassign(
                conn,
                JobId(job_id),
                TechnicianId(new_technician_id),
                force,
                stamp,
            )
        })
        .await?;
    Ok(web::Json(assignment.into()))
}

/// A technician's assignments of active jobs.
///
/// Assignments of jobs that are `assigned` or `in_progress`, ordered by
/// scheduled date, then planned sequence, then assignment time; `date` narrows
/// them to one day. 404 for an unknown technician.
#[utoipa::path(
    tag = "assignments",
    params(("tech_id" = i64, Path, description = "Technician id"), TechnicianAssignmentsQuery),
    responses(
        (status = 200, description = "By day, then sequence, then assignment time", body = [AssignmentResponse],
            headers(("X-Total-Count" = i64, description = "Matching assignments before paging"))),
        (status = 400, description = "Invalid date or paging", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "Technician not found", body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/assignments/technician/{tech_id}")]
pub async fn list_technician_assignments(
    state: web::Data<AppState>,
    caller: Caller,
    tech_id: web::Path<i64>,
    query: web::Query<TechnicianAssignmentsQuery>,
) -> Result<HttpResponse, ApiError> {
    let tech = TechnicianId(tech_id.into_inner());
    caller
        .scope(Operation::ListTechnicianAssignments)?
        .check_technician(tech)?;
    let date = optional(&query.date, |v| parse_date("date", v))?;
    let page = page(&query.limit, &query.offset)?;
    let listed = state
        .read(move |conn| assignments::for_technician(conn, tech, date, page))
        .await?;
    let items: Vec<AssignmentResponse> = listed.items.into_iter().map(Into::into).collect();
    Ok(HttpResponse::Ok()
        .insert_header(("X-Total-Count", listed.total))
        .json(items))
}

/// A job's assignment.
///
/// The live assignment, or for a finished job the one that did it. 404 when the
/// job does not exist or has never been assigned.
#[utoipa::path(
    tag = "assignments",
    params(("job_id" = i64, Path, description = "Job id")),
    responses(
        (status = 200, description = "The assignment", body = AssignmentResponse),
        (status = 404, description = "Job not found, or it has no assignment", body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/assignments/job/{job_id}")]
pub async fn get_job_assignment(
    state: web::Data<AppState>,
    caller: Caller,
    job_id: web::Path<i64>,
) -> Result<web::Json<AssignmentResponse>, ApiError> {
    let scope = caller.scope(Operation::GetJobAssignment)?;
    let job = JobId(job_id.into_inner());
    let assignment = state
        .read(move |conn| assignments::for_job(conn, job))
        .await?;
    scope.check_technician(assignment.technician_id)?;
    Ok(web::Json(assignment.into()))
}
