//! `/jobs`: the work to be done, its status machine and history.

use actix_web::{HttpResponse, delete, get, patch, post, web};
use chrono::{DateTime, NaiveDate, Utc};
use fieldopt_domain::access::Operation;
use fieldopt_domain::{
    Address, Area, CustomerName, DurationMinutes, ExternalId, GeoPoint, Job, JobAction, JobEvent,
    JobId, JobStatus, JobType, Notes, Priority, Reason, Skill, TechnicianId, TimeWindow, can_do,
    parse_unique,
};
use fieldopt_store::jobs::{self, JobChanges, JobFilter, NewJob};
use fieldopt_store::{events, technicians, workload};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::auth::{Caller, Scope};
use crate::error::{ApiError, Problem};
use crate::extract::{
    FixedStatus, JsonBody, OptionalJsonBody, not_null, nullable, optional, page, parse_date,
    parse_int, status_fixed_by_path,
};
use crate::state::{AppState, today};
use crate::wire::{JobEventKindWire, JobStatusWire, JobTypeWire, field, field_opt};

/// A job as clients see it.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = Job, example = json!({
    "id": 1, "type": "install", "customer": "Acme Corp", "address": "123 Main St, NYC",
    "skills_required": ["install"], "status": "pending", "scheduled_date": "2026-04-15",
    "time_slot": "08:00-12:00", "assigned_technician": null, "priority": 3,
    "duration_minutes": 60, "latitude": 40.7128, "longitude": -74.006, "area": "manhattan",
    "notes": null, "created_at": "2026-04-11T14:30:00Z", "updated_at": "2026-04-11T14:30:00Z",
    "started_at": null, "completed_at": null
}))]
pub struct JobResponse {
    id: i64,
    #[serde(rename = "type")]
    job_type: JobTypeWire,
    customer: String,
    address: String,
    skills_required: Vec<String>,
    status: JobStatusWire,
    scheduled_date: Option<NaiveDate>,
    /// `HH:MM-HH:MM`, the window in which work must start.
    time_slot: Option<String>,
    /// The technician of the job's assignment (kept as history once it ends).
    assigned_technician: Option<i64>,
    /// 1 (highest) ..= 5.
    priority: u32,
    duration_minutes: u32,
    latitude: Option<f64>,
    longitude: Option<f64>,
    area: Option<String>,
    notes: Option<String>,
    /// The integrator's own id, if any.
    external_id: Option<String>,
    #[serde(serialize_with = "crate::wire::timestamp")]
    created_at: DateTime<Utc>,
    #[serde(serialize_with = "crate::wire::timestamp")]
    updated_at: DateTime<Utc>,
    #[serde(serialize_with = "crate::wire::timestamp_opt")]
    started_at: Option<DateTime<Utc>>,
    #[serde(serialize_with = "crate::wire::timestamp_opt")]
    completed_at: Option<DateTime<Utc>>,
}

impl From<Job> for JobResponse {
    fn from(job: Job) -> Self {
        JobResponse {
            id: job.id.0,
            job_type: job.job_type.into(),
            customer: job.customer.into(),
            address: job.address.into(),
            skills_required: job.skills_required.into_iter().map(String::from).collect(),
            status: job.status.into(),
            scheduled_date: job.scheduled_date,
            time_slot: job.time_slot.map(|s| s.to_string()),
            assigned_technician: job.assigned_technician.map(|t| t.0),
            priority: job.priority.get(),
            duration_minutes: job.duration.get(),
            latitude: job.location.map(GeoPoint::latitude),
            longitude: job.location.map(GeoPoint::longitude),
            area: job.area.map(String::from),
            notes: job.notes.map(String::from),
            external_id: job.external_id.map(String::from),
            created_at: job.created_at,
            updated_at: job.updated_at,
            started_at: job.started_at,
            completed_at: job.completed_at,
        }
    }
}

fn date_field(name: &str, value: Option<String>) -> Result<Option<NaiveDate>, ApiError> {
    optional(&value, |v| parse_date(name, v))
}

fn slot_field(value: Option<String>) -> Result<Option<TimeWindow>, ApiError> {
    field_opt("time_slot", value, |s| TimeWindow::parse_slot(&s))
}

fn skills_field(value: Vec<String>) -> Result<Vec<Skill>, ApiError> {
    field("skills_required", parse_unique(value, Skill::parse))
}

/// Body of `POST /jobs/`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({
    "type": "install", "customer": "Acme Corp", "address": "123 Main St, NYC",
    "scheduled_date": "2026-04-15", "time_slot": "08:00-12:00",
    "skills_required": ["install", "service_change"]
}))]
pub struct CreateJob {
    #[serde(rename = "type")]
    job_type: JobTypeWire,
    /// 1..=200 characters.
    customer: String,
    /// 1..=300 characters.
    address: String,
    /// Default `[type]`.
    skills_required: Option<Vec<String>>,
    /// `YYYY-MM-DD`.
    #[schema(value_type = Option<String>, format = Date)]
    scheduled_date: Option<String>,
    /// `HH:MM-HH:MM`.
    time_slot: Option<String>,
    /// 1..=5, default 3.
    priority: Option<i64>,
    /// 1..=1440, default 60.
    duration_minutes: Option<i64>,
    latitude: Option<f64>,
    longitude: Option<f64>,
    area: Option<String>,
    notes: Option<String>,
    /// The integrator's own id (1..=100 characters), unique among jobs.
    external_id: Option<String>,
}

impl CreateJob {
    fn into_new(self) -> Result<NewJob, ApiError> {
        let job_type: JobType = self.job_type.into();
        let skills = self
            .skills_required
            .unwrap_or_else(|| vec![job_type.as_str().to_string()]);
        Ok(NewJob {
            job_type,
            customer: field("customer", CustomerName::parse(self.customer))?,
            address: field("address", Address::parse(self.address))?,
            skills_required: skills_field(skills)?,
            scheduled_date: date_field("scheduled_date", self.scheduled_date)?,
            time_slot: slot_field(self.time_slot)?,
            priority: field_opt("priority", self.priority, Priority::new)?.unwrap_or_default(),
            duration: field_opt(
                "duration_minutes",
                self.duration_minutes,
                DurationMinutes::new,
            )?
            .unwrap_or_default(),
            location: field(
                "latitude",
                GeoPoint::from_optional(self.latitude, self.longitude),
            )?,
            area: field_opt("area", self.area, Area::parse)?,
            notes: field_opt("notes", self.notes, Notes::parse)?,
            external_id: field_opt("external_id", self.external_id, ExternalId::parse)?,
        })
    }
}

/// Body of `PATCH /jobs/{id}`; absent fields stay, `null` clears.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"status": "in_progress", "customer": "Updated Name"}))]
pub struct UpdateJob {
    #[serde(rename = "type", default, deserialize_with = "not_null")]
    #[schema(nullable = false)]
    job_type: Option<JobTypeWire>,
    #[serde(default, deserialize_with = "not_null")]
    #[schema(nullable = false)]
    customer: Option<String>,
    #[serde(default, deserialize_with = "not_null")]
    #[schema(nullable = false)]
    address: Option<String>,
    #[serde(default, deserialize_with = "not_null")]
    #[schema(nullable = false)]
    skills_required: Option<Vec<String>>,
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<String>, format = Date)]
    scheduled_date: Option<Option<String>>,
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<String>)]
    time_slot: Option<Option<String>>,
    #[serde(default, deserialize_with = "not_null")]
    #[schema(nullable = false)]
    priority: Option<i64>,
    #[serde(default, deserialize_with = "not_null")]
    #[schema(nullable = false)]
    duration_minutes: Option<i64>,
    /// Give both coordinates, or `null` for both to clear them.
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<f64>)]
    latitude: Option<Option<f64>>,
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<f64>)]
    longitude: Option<Option<f64>>,
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<String>)]
    area: Option<Option<String>>,
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<String>)]
    notes: Option<Option<String>>,
    /// The integrator's own id, or `null` to clear it.
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<String>)]
    external_id: Option<Option<String>>,
    /// Only `in_progress`, `completed`, `failed` or `cancelled`, along the status machine.
    #[serde(default, deserialize_with = "not_null")]
    #[schema(nullable = false)]
    status: Option<JobStatusWire>,
}

impl UpdateJob {
    fn into_changes(self) -> Result<JobChanges, ApiError> {
        let location = match (self.latitude, self.longitude) {
            (None, None) => None,
            (Some(lat), Some(lon)) => Some(field("latitude", GeoPoint::from_optional(lat, lon))?),
            _ => {
                return Err(ApiError::invalid(
                    "latitude",
                    "latitude and longitude must be changed together",
                ));
            }
        };
        Ok(JobChanges {
            job_type: self.job_type.map(Into::into),
            customer: field_opt("customer", self.customer, CustomerName::parse)?,
            address: field_opt("address", self.address, Address::parse)?,
            skills_required: self.skills_required.map(skills_field).transpose()?,
            scheduled_date: self
                .scheduled_date
                .map(|d| date_field("scheduled_date", d))
                .transpose()?,
            time_slot: self.time_slot.map(slot_field).transpose()?,
            priority: field_opt("priority", self.priority, Priority::new)?,
            duration: field_opt(
                "duration_minutes",
                self.duration_minutes,
                DurationMinutes::new,
            )?,
            location,
            area: self
                .area
                .map(|a| field_opt("area", a, Area::parse))
                .transpose()?,
            notes: self
                .notes
                .map(|n| field_opt("notes", n, Notes::parse))
                .transpose()?,
            external_id: self
                .external_id
                .map(|e| field_opt("external_id", e, ExternalId::parse))
                .transpose()?,
            status: self.status.map(Into::into),
        })
    }
}

/// Optional body of `/fail` and `/cancel`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"reason": "Customer not home"}))]
pub struct ReasonBody {
    /// Kept in the job's history; up to 1000 characters.
    reason: Option<String>,
}

/// Filters and paging of the job list.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct JobListQuery {
    /// `YYYY-MM-DD`.
    #[param(value_type = Option<String>, format = Date)]
    scheduled_date: Option<String>,
    #[param(value_type = Option<JobStatusWire>)]
    status: Option<String>,
    #[serde(rename = "type")]
    #[param(rename = "type", value_type = Option<JobTypeWire>)]
    job_type: Option<String>,
    /// Jobs assigned (now or in the past) to this technician.
    #[param(value_type = Option<i64>)]
    technician_id: Option<String>,
    area: Option<String>,
    /// Case-insensitive substring of the customer.
    customer: Option<String>,
    /// Scheduled on or after, `YYYY-MM-DD`.
    #[param(value_type = Option<String>, format = Date)]
    date_from: Option<String>,
    /// Scheduled on or before, `YYYY-MM-DD`.
    #[param(value_type = Option<String>, format = Date)]
    date_to: Option<String>,
    /// The job with this external id.
    external_id: Option<String>,
    /// 1..=5000, default 500.
    #[param(value_type = Option<i64>)]
    limit: Option<String>,
    /// Default 0.
    #[param(value_type = Option<i64>)]
    offset: Option<String>,
}

impl JobListQuery {
    fn filter(&self) -> Result<JobFilter, ApiError> {
        let customer = self
            .customer
            .as_deref()
            .map(|text| {
                fieldopt_domain::normalize_text(text, 1, 200, fieldopt_domain::Lines::Single)
            })
            .transpose()
            .map_err(|e| ApiError::invalid("customer", e))?;
        Ok(JobFilter {
            scheduled_date: optional(&self.scheduled_date, |v| parse_date("scheduled_date", v))?,
            status: optional(&self.status, |v| field("status", v.parse::<JobStatus>()))?,
            job_type: optional(&self.job_type, |v| field("type", v.parse::<JobType>()))?,
            technician_id: optional(&self.technician_id, |v| {
                parse_int("technician_id", v, 1, i64::MAX).map(TechnicianId)
            })?,
            area: optional(&self.area, |v| field("area", Area::parse(v)))?,
            customer,
            date_from: optional(&self.date_from, |v| parse_date("date_from", v))?,
            date_to: optional(&self.date_to, |v| parse_date("date_to", v))?,
            external_id: optional(&self.external_id, |v| {
                field("external_id", ExternalId::parse(v))
            })?,
        })
    }
}

/// Optional date of the summary.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct SummaryQuery {
    /// Only jobs of this date, `YYYY-MM-DD`.
    #[param(value_type = Option<String>, format = Date)]
    scheduled_date: Option<String>,
}

/// Jobs per status.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = JobSummary, example = json!({
    "total_jobs": 42, "pending": 15, "assigned": 18, "in_progress": 5,
    "completed": 4, "failed": 0, "cancelled": 0
}))]
pub struct SummaryResponse {
    total_jobs: i64,
    pending: i64,
    assigned: i64,
    in_progress: i64,
    completed: i64,
    failed: i64,
    cancelled: i64,
}

/// One entry of a job's history.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = JobEvent, example = json!({
    "id": 12, "job_id": 3, "timestamp": "2026-04-15T08:00:00Z", "event": "assigned",
    "old_status": "pending", "new_status": "assigned", "technician_id": 1,
    "previous_technician_id": null, "reason": null, "actor": "dispatch@example.com"
}))]
pub struct JobEventResponse {
    id: i64,
    job_id: i64,
    /// When it happened.
    #[serde(serialize_with = "crate::wire::timestamp")]
    timestamp: DateTime<Utc>,
    event: JobEventKindWire,
    old_status: Option<JobStatusWire>,
    new_status: JobStatusWire,
    /// The technician involved (the new one on reassignment).
    technician_id: Option<i64>,
    /// The technician the job left, on reassignment.
    previous_technician_id: Option<i64>,
    reason: Option<String>,
    /// Who made the change (the token's subject; `dev` without
    /// authentication; null for entries older than the audit trail).
    actor: Option<String>,
}

impl From<JobEvent> for JobEventResponse {
    fn from(event: JobEvent) -> Self {
        JobEventResponse {
            id: event.id,
            job_id: event.job_id.0,
            timestamp: event.at,
            event: event.kind.into(),
            old_status: event.old_status.map(Into::into),
            new_status: event.new_status.into(),
            technician_id: event.technician_id.map(|t| t.0),
            previous_technician_id: event.previous_technician_id.map(|t| t.0),
            reason: event.reason.map(String::from),
            actor: event.actor.map(|actor| actor.to_string()),
        }
    }
}

/// Whether a technician can do a job, check by check.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = CanDo, example = json!({
    "can_do": false, "tech_id": 1, "job_id": 1, "missing_skills": ["fiber"],
    "area_ok": true, "capacity_ok": true, "status_ok": true, "time_ok": true,
    "distance_km": 3.2, "reasons": ["Technician lacks required skills: fiber"]
}))]
pub struct CanDoResponse {
    can_do: bool,
    tech_id: i64,
    job_id: i64,
    missing_skills: Vec<String>,
    area_ok: bool,
    capacity_ok: bool,
    status_ok: bool,
    time_ok: bool,
    distance_km: Option<f64>,
    reasons: Vec<String>,
}

/// One page of jobs matching `query`, narrowed to the caller's scope;
/// `status` overrides the query's (the `pending` alias).
async fn list(
    state: &AppState,
    caller: &Caller,
    operation: Operation,
    query: &JobListQuery,
    status: Option<JobStatus>,
) -> Result<HttpResponse, ApiError> {
    let scope = caller.scope(operation)?;
    let mut filter = query.filter()?;
    if status.is_some() {
        filter.status = status;
    }
    let page = page(&query.limit, &query.offset)?;
    if let Some(own) = scope.only_technician() {
        // A technician sees the jobs it holds; asking for another's is an
        // empty list, as any filter that matches nothing.
        if filter.technician_id.is_some_and(|asked| asked != own) {
            return Ok(HttpResponse::Ok()
                .insert_header(("X-Total-Count", 0))
                .json(Vec::<JobResponse>::new()));
        }
        filter.technician_id = Some(own);
    }
    let listed = state
        .read(move |conn| jobs::list(conn, &filter, page))
        .await?;
    let items: Vec<JobResponse> = listed.items.into_iter().map(Into::into).collect();
    Ok(HttpResponse::Ok()
        .insert_header(("X-Total-Count", listed.total))
        .json(items))
}

/// List jobs.
///
/// Filters combine (all must match); an invalid filter value is 400 naming it.
/// Paged by `limit` and `offset`, with the total before paging in
/// `X-Total-Count`. A technician's token sees only the jobs assigned to it.
#[utoipa::path(
    tag = "jobs",
    params(JobListQuery),
    responses(
        (status = 200, description = "One page of jobs, by id", body = [JobResponse],
            headers(("X-Total-Count" = i64, description = "Matching jobs before paging"))),
        (status = 400, description = "Invalid filter or paging value", body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/jobs")]
pub async fn list_jobs(
    state: web::Data<AppState>,
    caller: Caller,
    query: web::Query<JobListQuery>,
) -> Result<HttpResponse, ApiError> {
    list(&state, &caller, Operation::ListJobs, &query, None).await
}

/// Pending jobs (the original's path; `GET /jobs?status=pending`).
///
/// Deprecated alias of `GET /jobs?status=pending`, kept for clients of the
/// original's later releases. Takes every other filter of the list; a `status`
/// filter is 400, since the path fixes it.
#[utoipa::path(
    tag = "jobs",
    params(FixedStatus<JobListQuery>),
    responses(
        (status = 200, description = "One page of pending jobs, by id", body = [JobResponse],
            headers(("X-Total-Count" = i64, description = "Matching jobs before paging"))),
    )
)]
#[get("/jobs/pending")]
pub async fn list_pending_jobs(
    state: web::Data<AppState>,
    caller: Caller,
    query: web::Query<FixedStatus<JobListQuery>>,
) -> Result<HttpResponse, ApiError> {
    let FixedStatus(query) = query.into_inner();
    if query.status.is_some() {
        return Err(status_fixed_by_path("pending", "GET /jobs"));
    }
    let pending = Some(JobStatus::Pending);
    list(&state, &caller, Operation::ListPendingJobs, &query, pending).await
}

/// Search jobs by date range, customer, technician, status, type and area
/// (the original's path; the same filters as `GET /jobs`).
///
/// Deprecated alias of `GET /jobs`, kept for clients of the original's later
/// releases: the same filters (date range, customer substring, technician,
/// status, type, area), the same paging.
#[utoipa::path(
    tag = "jobs",
    params(JobListQuery),
    responses(
        (status = 200, description = "One page of matching jobs, by id", body = [JobResponse],
            headers(("X-Total-Count" = i64, description = "Matching jobs before paging"))),
    )
)]
#[get("/jobs/search/query")]
pub async fn search_jobs(
    state: web::Data<AppState>,
    caller: Caller,
    query: web::Query<JobListQuery>,
) -> Result<HttpResponse, ApiError> {
    list(&state, &caller, Operation::SearchJobs, &query, None).await
}

/// Body of `PATCH /jobs/{id}/status`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"status": "completed"}))]
pub struct UpdateJobStatus {
    /// `in_progress`, `completed`, `failed` or `cancelled`, along the status machine.
    status: JobStatusWire,
    /// Kept in the history (failures and cancellations).
    reason: Option<String>,
}

/// Set a job's status along the machine (the original's path; the same as
/// the `start`, `complete`, `fail` and `cancel` actions).
///
/// Deprecated alias of the `start`, `complete`, `fail` and `cancel` actions,
/// kept for clients of the original's later releases: the same status machine
/// and the same 409s. `pending` and `assigned` go through `/assignments`. A
/// technician's token may not cancel through it.
#[utoipa::path(
    tag = "jobs",
    params(("id" = i64, Path, description = "Job id")),
    request_body = UpdateJobStatus,
    responses(
        (status = 200, description = "The job in its new status", body = JobResponse),
        (status = 404, description = "Job not found", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The status machine does not allow it (`pending` and `assigned` go through `/assignments`)", body = Problem, content_type = "application/problem+json"),
    )
)]
#[patch("/jobs/{id}/status")]
pub async fn update_job_status(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<i64>,
    body: JsonBody<UpdateJobStatus>,
) -> Result<web::Json<JobResponse>, ApiError> {
    let wanted: JobStatus = body.0.status.into();
    let Some(action) = wanted.action_to_reach() else {
        return Err(ApiError::Conflict(format!(
            "Status {wanted} cannot be set directly; use the assignment endpoints"
        )));
    };
    // A technician may start, complete and fail its own jobs, never cancel.
    if action == JobAction::Cancel
        && matches!(caller.scope(Operation::UpdateJobStatus)?, Scope::Own(_))
    {
        return Err(ApiError::Forbidden("Not allowed for this caller".into()));
    }
    let reason = body.0.reason.map(|reason| ReasonBody {
        reason: Some(reason),
    });
    transition(
        &state,
        caller,
        Operation::UpdateJobStatus,
        id.into_inner(),
        action,
        reason,
    )
    .await
}

/// Count jobs per status.
///
/// Counts of jobs per status and in total, optionally for one `scheduled_date`.
/// Deleted jobs are not counted.
#[utoipa::path(
    tag = "jobs",
    params(SummaryQuery),
    responses(
        (status = 200, description = "Jobs per status", body = SummaryResponse),
        (status = 400, description = "Invalid date", body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/jobs/summary")]
pub async fn get_job_summary(
    state: web::Data<AppState>,
    caller: Caller,
    query: web::Query<SummaryQuery>,
) -> Result<web::Json<SummaryResponse>, ApiError> {
    caller.scope(Operation::GetJobSummary)?;
    let date = optional(&query.scheduled_date, |v| parse_date("scheduled_date", v))?;
    let summary = state.read(move |conn| jobs::summary(conn, date)).await?;
    let count = |status: JobStatus| summary.by_status.get(&status).copied().unwrap_or(0);
    Ok(web::Json(SummaryResponse {
        total_jobs: summary.total,
        pending: count(JobStatus::Pending),
        assigned: count(JobStatus::Assigned),
        in_progress: count(JobStatus::InProgress),
        completed: count(JobStatus::Completed),
        failed: count(JobStatus::Failed),
        cancelled: count(JobStatus::Cancelled),
    }))
}

/// Get one job.
///
/// 404 for an unknown or deleted job; a technician's token reads only the jobs
/// assigned to it.
#[utoipa::path(
    tag = "jobs",
    params(("id" = i64, Path, description = "Job id")),
    responses(
        (status = 200, description = "The job", body = JobResponse),
        (status = 400, description = "Invalid id", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "Job not found", body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/jobs/{id}")]
pub async fn get_job(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<i64>,
) -> Result<web::Json<JobResponse>, ApiError> {
    let scope = caller.scope(Operation::GetJob)?;
    let id = JobId(id.into_inner());
    let job = state.read(move |conn| jobs::find(conn, id)).await?;
    scope.check_job(&job)?;
    Ok(web::Json(job.into()))
}

/// Create a job (status `pending`).
///
/// Defaults: `skills_required` is `[type]`, priority 3, 60 minutes. `latitude`
/// and `longitude` come together or not at all, as do the slot's start and end.
/// An `external_id` must be unique among live jobs (409 otherwise).
#[utoipa::path(
    tag = "jobs",
    request_body = CreateJob,
    responses(
        (status = 201, description = "Created", body = JobResponse),
        (status = 400, description = "Invalid body", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Another live job has this external id", body = Problem, content_type = "application/problem+json"),
    )
)]
#[post("/jobs")]
pub async fn create_job(
    state: web::Data<AppState>,
    caller: Caller,
    body: JsonBody<CreateJob>,
) -> Result<HttpResponse, ApiError> {
    caller.scope(Operation::CreateJob)?;
    let new = body.0.into_new()?;
    let job = state
        .write(caller.actor(), move |conn, stamp| {
            jobs::create(conn, &new, stamp)
        })
        .await?;
    Ok(HttpResponse::Created().json(JobResponse::from(job)))
}

/// Update a job; a status change follows the status machine.
///
/// Any field may change while the job is not finished (a finished job is 409
/// whatever the field). `status` may move to `in_progress`, `completed`,
/// `failed` or `cancelled` along the status machine in the same transaction;
/// `pending` and `assigned` go through `/assignments`. Moving an active job to
/// another date re-checks its technician's capacity there. Sending `null`
/// clears a nullable field; `null` for a required one is 400.
#[utoipa::path(
    tag = "jobs",
    params(("id" = i64, Path, description = "Job id")),
    request_body = UpdateJob,
    responses(
        (status = 200, description = "Updated", body = JobResponse),
        (status = 400, description = "Invalid body", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "Job not found", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Illegal status change, finished job, technician full on the new date, or another live job has the external id", body = Problem, content_type = "application/problem+json"),
    )
)]
#[patch("/jobs/{id}")]
pub async fn update_job(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<i64>,
    body: JsonBody<UpdateJob>,
) -> Result<web::Json<JobResponse>, ApiError> {
    caller.scope(Operation::UpdateJob)?;
    let id = JobId(id.into_inner());
    let changes = body.0.into_changes()?;
    let job = state
        .write(caller.actor(), move |conn, stamp| {
            jobs::update(conn, id, &changes, stamp)
        })
        .await?;
    Ok(web::Json(job.into()))
}

/// Moves a job along its status machine. A technician may only move a job
/// it holds; that is checked on the locked job, so it cannot change hands
/// between the check and the move.
async fn transition(
    state: &AppState,
    caller: Caller,
    operation: Operation,
    id: i64,
    action: JobAction,
    reason: Option<ReasonBody>,
) -> Result<web::Json<JobResponse>, ApiError> {
    let scope = caller.scope(operation)?;
    let id = JobId(id);
    let reason = field_opt("reason", reason.and_then(|r| r.reason), Reason::parse)?;
    let job = state
        .write(caller.actor(), move |conn, stamp| {
            if let Scope::Own(_) = scope {
                let job = jobs::find_locked(conn, id)?;
                if let Err(refused) = scope.check_job(&job) {
                    return Ok(Err(refused));
                }
            }
            jobs::transition(conn, id, action, reason.clone(), stamp).map(Ok)
        })
        .await??;
    Ok(web::Json(job.into()))
}

/// Start an assigned job.
///
/// The job must be `assigned`; it becomes `in_progress` with `started_at` set.
#[utoipa::path(
    tag = "jobs",
    params(("id" = i64, Path, description = "Job id")),
    responses(
        (status = 200, description = "Started", body = JobResponse),
        (status = 404, description = "Job not found", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The job is not assigned", body = Problem, content_type = "application/problem+json"),
    )
)]
#[post("/jobs/{id}/start")]
pub async fn start_job(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<i64>,
) -> Result<web::Json<JobResponse>, ApiError> {
    transition(
        &state,
        caller,
        Operation::StartJob,
        id.into_inner(),
        JobAction::Start,
        None,
    )
    .await
}

/// Complete a job in progress.
///
/// The job must be `in_progress`; it becomes `completed` with `completed_at`
/// set, and keeps its assignment as the record of who did it.
#[utoipa::path(
    tag = "jobs",
    params(("id" = i64, Path, description = "Job id")),
    responses(
        (status = 200, description = "Completed", body = JobResponse),
        (status = 404, description = "Job not found", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The job is not in progress", body = Problem, content_type = "application/problem+json"),
    )
)]
#[post("/jobs/{id}/complete")]
pub async fn complete_job(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<i64>,
) -> Result<web::Json<JobResponse>, ApiError> {
    transition(
        &state,
        caller,
        Operation::CompleteJob,
        id.into_inner(),
        JobAction::Complete,
        None,
    )
    .await
}

/// Mark a job in progress as failed.
///
/// The job must be `in_progress`; it becomes `failed` with `completed_at` set.
/// The optional body's `reason` goes into the history; the body may be left out
/// entirely.
#[utoipa::path(
    tag = "jobs",
    params(("id" = i64, Path, description = "Job id")),
    request_body(content = ReasonBody, description = "Optional: a reason, or no body at all"),
    responses(
        (status = 200, description = "Failed", body = JobResponse),
        (status = 400, description = "Invalid body", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "Job not found", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The job is not in progress", body = Problem, content_type = "application/problem+json"),
    )
)]
#[post("/jobs/{id}/fail")]
pub async fn fail_job(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<i64>,
    body: OptionalJsonBody<ReasonBody>,
) -> Result<web::Json<JobResponse>, ApiError> {
    transition(
        &state,
        caller,
        Operation::FailJob,
        id.into_inner(),
        JobAction::Fail,
        body.0,
    )
    .await
}

/// Cancel a pending, assigned or in-progress job.
///
/// Works on `pending`, `assigned` and `in_progress` jobs; cancelling an active
/// job ends its assignment (the job keeps `assigned_technician` as history).
/// The optional body's `reason` goes into the history; the body may be left out
/// entirely.
#[utoipa::path(
    tag = "jobs",
    params(("id" = i64, Path, description = "Job id")),
    request_body(content = ReasonBody, description = "Optional: a reason, or no body at all"),
    responses(
        (status = 200, description = "Cancelled", body = JobResponse),
        (status = 400, description = "Invalid body", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "Job not found", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The job is already finished", body = Problem, content_type = "application/problem+json"),
    )
)]
#[post("/jobs/{id}/cancel")]
pub async fn cancel_job(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<i64>,
    body: OptionalJsonBody<ReasonBody>,
) -> Result<web::Json<JobResponse>, ApiError> {
    transition(
        &state,
        caller,
        Operation::CancelJob,
        id.into_inner(),
        JobAction::Cancel,
        body.0,
    )
    .await
}

/// Delete a pending or cancelled job.
///
/// Only a `pending` or `cancelled` job can be deleted (409 otherwise); its
/// history goes with it. 204 on success.
#[utoipa::path(
    tag = "jobs",
    params(("id" = i64, Path, description = "Job id")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 404, description = "Job not found", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The job is neither pending nor cancelled", body = Problem, content_type = "application/problem+json"),
    )
)]
#[delete("/jobs/{id}")]
pub async fn delete_job(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<i64>,
) -> Result<HttpResponse, ApiError> {
    caller.scope(Operation::DeleteJob)?;
    let id = JobId(id.into_inner());
    state
        .write(caller.actor(), move |conn, stamp| {
            jobs::delete(conn, id, stamp)
        })
        .await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Paging of a job's history.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct HistoryQuery {
    /// 1..=5000, default 500.
    #[param(value_type = Option<i64>, minimum = 1, maximum = 5000)]
    limit: Option<String>,
    /// Default 0.
    #[param(value_type = Option<i64>, minimum = 0)]
    offset: Option<String>,
}

/// A job's history, in time order.
///
/// Every event of the job oldest first (created, assigned, unassigned,
/// reassigned, status changes), each with who made it (`actor`). Paged by
/// `limit` and `offset` with `X-Total-Count`.
#[utoipa::path(
    tag = "jobs",
    params(("id" = i64, Path, description = "Job id"), HistoryQuery),
    responses(
        (status = 200, description = "One page of events, oldest first", body = [JobEventResponse],
            headers(("X-Total-Count" = i64, description = "Events of the job before paging"))),
        (status = 400, description = "Invalid id or paging", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "Job not found", body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/jobs/{id}/history")]
pub async fn get_job_history(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<i64>,
    query: web::Query<HistoryQuery>,
) -> Result<HttpResponse, ApiError> {
    let scope = caller.scope(Operation::GetJobHistory)?;
    let id = JobId(id.into_inner());
    let page = page(&query.limit, &query.offset)?;
    let (job, history) = state
        .read(move |conn| Ok((jobs::find(conn, id)?, events::for_job(conn, id, page)?)))
        .await?;
    scope.check_job(&job)?;
    let items: Vec<JobEventResponse> = history.items.into_iter().map(Into::into).collect();
    Ok(HttpResponse::Ok()
        .insert_header(("X-Total-Count", history.total))
        .json(items))
}

/// Whether a technician can do a job, with every failed check.
///
/// Runs every check and reports every one that fails, with one sentence each in
/// `reasons`: missing skills, area, capacity on the job's day, technician
/// status, and shift time (the slot overlaps the shift and the day's work
/// fits). `distance_km` is great-circle from the technician's position, else
/// its home. 404 for an unknown job or technician.
#[utoipa::path(
    tag = "jobs",
    params(
        ("job_id" = i64, Path, description = "Job id"),
        ("tech_id" = i64, Path, description = "Technician id"),
    ),
    responses(
        (status = 200, description = "Every check and the reasons of those that failed", body = CanDoResponse),
        (status = 404, description = "Job or technician not found", body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/jobs/{job_id}/can-do/{tech_id}")]
pub async fn get_can_do(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<(i64, i64)>,
) -> Result<web::Json<CanDoResponse>, ApiError> {
    caller.scope(Operation::GetCanDo)?;
    let (job_id, tech_id) = path.into_inner();
    let (job_id, tech_id) = (JobId(job_id), TechnicianId(tech_id));
    let today = today();
    let (job, answer) = state
        .read(move |conn| {
            let job = jobs::find(conn, job_id)?;
            let technician = technicians::find(conn, tech_id)?;
            let load = workload::day_load(conn, tech_id, job.work_date(today), Some(job_id))?;
            let answer = can_do::evaluate(&job, &technician, load);
            Ok((job, answer))
        })
        .await?;
    Ok(web::Json(CanDoResponse {
        can_do: answer.can_do(),
        tech_id: tech_id.0,
        job_id: job.id.0,
        missing_skills: answer
            .missing_skills
            .iter()
            .map(ToString::to_string)
            .collect(),
        area_ok: answer.area_ok,
        capacity_ok: answer.capacity_ok,
        status_ok: answer.status_ok,
        time_ok: answer.time_ok,
        distance_km: answer.distance_km.map(round_km),
        reasons: answer.reasons(),
    }))
}

/// Kilometres to the metre.
pub fn round_km(km: f64) -> f64 {
    (km * 1000.0).round() / 1000.0
}
