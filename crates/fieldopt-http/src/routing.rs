//! `/routing`: recommendations.

use std::collections::HashMap;

use actix_web::{HttpRequest, get, post, web};
use chrono::NaiveDate;
use fieldopt_domain::access::Operation;
use fieldopt_domain::{
    DayLoad, EventType, Job, JobId, JobStatus, Technician, TechnicianId, TechnicianStatus,
};
use fieldopt_engine::day_plan::{DayInput, plan_day as plan_day_engine};
use fieldopt_engine::vrp::{Cancel, SolveOptions};
use fieldopt_engine::{Candidate, ScoredTechnician, rank_technicians};
use fieldopt_store::assignments::{self, Placement, PlanBasis, PlannedDay};
use fieldopt_store::outbox::{Change, NewEvent};
use fieldopt_store::technicians::TechnicianFilter;
use fieldopt_store::{DbConn, Entity, StoreError, StoreResult, jobs, technicians, workload};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::auth::Caller;
use crate::error::{ApiError, Problem};
use crate::extract::{JsonBody, parse_date};
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
#[schema(as = RecommendedTechnician, example = json!({
    "id": 1, "name": "Miles Davis", "skills": ["install", "repair"], "capacity_available": true,
    "match_score": 0.92, "distance_km": 3.4
}))]
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
    // The database picks who has the skills, covers the area and takes
    // work; only when none of them fits is the whole fleet read, to say why.
    let (job, able, loads) = state
        .read(move |conn| {
            let job = jobs::find(conn, job_id)?;
            let able = technicians::matching(
                conn,
                &TechnicianFilter {
                    all_skills: job.skills_required.clone(),
                    area: job.area.clone(),
                    takes_work: true,
                    ..TechnicianFilter::default()
                },
            )?;
            let loads = workload::day_loads_on(conn, job.work_date(today), Some(job_id))?;
            Ok((job, able, loads))
        })
        .await?;
    if job.status.is_final() {
        return Err(ApiError::Conflict(format!(
            "Job is {}; a finished job cannot be routed",
            job.status
        )));
    }
    let everyone;
    let mut ranking = rank_technicians(&job, &with_loads(&able, &loads));
    if ranking.recommended.is_none() {
        everyone = state.read(technicians::all_live).await?;
        ranking = rank_technicians(&job, &with_loads(&everyone, &loads));
    }
    Ok(web::Json(RecommendationResponse {
        job_id: job.id.0,
        recommended_technician: ranking.recommended.map(Into::into),
        alternatives: ranking.alternatives.into_iter().map(Into::into).collect(),
        reason: ranking.reason,
    }))
}

/// Each technician with its load on the job's day.
fn with_loads<'a>(
    technicians: &'a [Technician],
    loads: &HashMap<TechnicianId, DayLoad>,
) -> Vec<Candidate<'a>> {
    technicians
        .iter()
        .map(|technician| Candidate {
            technician,
            load: loads.get(&technician.id).copied().unwrap_or_default(),
        })
        .collect()
}

/// Recommend the best technician for a job.
///
/// Ranks every technician for which can-do passes by `0.6 × proximity + 0.4 ×
/// spare capacity` and returns the best with up to four alternatives, without
/// assigning anything. When nobody fits, `recommended_technician` is null and
/// `reason` counts why. 404 for an unknown job; 409 for a finished job.
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
    caller: Caller,
    body: JsonBody<AutoRouteRequest>,
) -> Result<web::Json<RecommendationResponse>, ApiError> {
    caller.scope(Operation::AutoRouteJob)?;
    recommend(&state, body.0.job_id).await
}

/// Recommend the best technician for a job (GET alias).
///
/// The same answer as `POST /routing/auto-route`, for clients that prefer GET.
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
    caller: Caller,
    job_id: web::Path<i64>,
) -> Result<web::Json<RecommendationResponse>, ApiError> {
    caller.scope(Operation::GetAutoRoute)?;
    recommend(&state, job_id.into_inner()).await
}

/// Recommend the best technician for a job (GET alias).
///
/// The same answer as `POST /routing/auto-route`, under the original's path.
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
    caller: Caller,
    job_id: web::Path<i64>,
) -> Result<web::Json<RecommendationResponse>, ApiError> {
    caller.scope(Operation::GetBestTechnician)?;
    recommend(&state, job_id.into_inner()).await
}

/// Body of `POST /routing/plan`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"scheduled_date": "2026-04-15", "apply": false, "time_limit_ms": 2000}))]
pub struct PlanRequest {
    /// The day to plan, `YYYY-MM-DD`.
    #[schema(value_type = String, format = Date)]
    scheduled_date: String,
    /// Write the plan's assignments (default false: a dry run).
    #[serde(default)]
    apply: bool,
    /// Planning time, 10..=60000 ms (default 2000).
    time_limit_ms: Option<i64>,
    /// Default: every technician not `off_duty`.
    technician_ids: Option<Vec<i64>>,
    /// Default: every `pending` job of the day.
    job_ids: Option<Vec<i64>>,
}

/// A stop of a planned day.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = PlannedStop, example = json!({
    "job_id": 3, "arrival": "09:12", "start": "09:30", "end": "10:30", "travel_km": 7.8
}))]
pub struct PlannedStopResponse {
    job_id: i64,
    /// `HH:MM`.
    arrival: String,
    /// `HH:MM`; later than arrival when the slot opens later.
    start: String,
    /// `HH:MM`.
    end: String,
    /// Length of the leg to this stop.
    travel_km: f64,
}

/// A technician's planned day.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = PlannedRoute, example = json!({
    "technician_id": 1, "travel_km": 7.8, "work_minutes": 60.0,
    "stops": [{"job_id": 3, "arrival": "09:12", "start": "09:30", "end": "10:30", "travel_km": 7.8}]
}))]
pub struct PlannedRouteResponse {
    technician_id: i64,
    travel_km: f64,
    work_minutes: f64,
    stops: Vec<PlannedStopResponse>,
}

/// A job the plan leaves out.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = UnplannedJob, example = json!({
    "job_id": 4, "reasons": ["SKILL: no technician of the day has fiber"]
}))]
pub struct UnplannedJobResponse {
    job_id: i64,
    /// Why, as `CODE: explanation` (codes: SKILL, AREA, CAPACITY, SHIFT, TIME_WINDOW, UNREACHABLE, NO_ROOM, TIME_LIMIT, NO_LOCATION).
    reasons: Vec<String>,
}

/// Totals of a plan.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = PlanTotals, example = json!({"jobs_assigned": 1, "jobs_unassigned": 1, "travel_km": 7.8}))]
pub struct PlanTotals {
    jobs_assigned: usize,
    jobs_unassigned: usize,
    travel_km: f64,
}

/// A planned day.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = DayPlan, example = json!({
    "scheduled_date": "2026-04-15", "applied": false, "elapsed_ms": 48,
    "routes": [{"technician_id": 1, "travel_km": 7.8, "work_minutes": 60.0,
        "stops": [{"job_id": 3, "arrival": "09:12", "start": "09:30", "end": "10:30", "travel_km": 7.8}]}],
    "unassigned": [{"job_id": 4, "reasons": ["SKILL: no technician of the day has fiber"]}],
    "totals": {"jobs_assigned": 1, "jobs_unassigned": 1, "travel_km": 7.8}
}))]
pub struct PlanResponse {
    scheduled_date: NaiveDate,
    applied: bool,
    elapsed_ms: u64,
    routes: Vec<PlannedRouteResponse>,
    unassigned: Vec<UnplannedJobResponse>,
    totals: PlanTotals,
}

fn clock(minutes: f64) -> String {
    let total = minutes.round().clamp(0.0, 24.0 * 60.0 - 1.0) as u32;
    format!("{:02}:{:02}", total / 60, total % 60)
}

fn km(value: f64) -> f64 {
    (value * 1000.0).round() / 1000.0
}

fn placement(date: NaiveDate, sequence: usize, arrival_minutes: f64) -> Placement {
    let midnight = date
        .and_hms_opt(0, 0, 0)
        .expect("midnight exists")
        .and_utc();
    Placement {
        sequence: u32::try_from(sequence + 1).unwrap_or(u32::MAX),
        estimated_arrival: midnight + chrono::Duration::minutes(arrival_minutes.round() as i64),
    }
}

/// What a plan is computed from.
struct DayData {
    technicians: Vec<Technician>,
    pending: Vec<Job>,
    pinned: Vec<(Job, TechnicianId)>,
}

/// The sizes a plan may have, from configuration.
#[derive(Debug, Clone, Copy)]
struct PlanBounds {
    max_jobs: usize,
    max_technicians: usize,
}

fn too_large(what: &str, count: usize, most: usize, setting: &str) -> ApiError {
    ApiError::PlanTooLarge(format!(
        "The day has {count} {what} to plan; a plan takes at most {most} ({setting}); \
         pass technician_ids and job_ids to plan part of it"
    ))
}

fn load_day(
    conn: &mut DbConn,
    date: NaiveDate,
    technician_ids: Option<&[i64]>,
    job_ids: Option<&[i64]>,
    bounds: PlanBounds,
) -> StoreResult<Result<DayData, ApiError>> {
    let all = technicians::all_live(conn)?;
    let technicians: Vec<Technician> = match technician_ids {
        None => all
            .into_iter()
            .filter(|t| t.status != TechnicianStatus::OffDuty)
            .collect(),
        Some(ids) => {
            let mut chosen = Vec::with_capacity(ids.len());
            for id in ids {
                let tech = all
                    .iter()
                    .find(|t| t.id.0 == *id)
                    .ok_or(StoreError::NotFoundInBatch(Entity::Technician, *id))?;
                chosen.push(tech.clone());
            }
            chosen.sort_by_key(|t| t.id);
            chosen
        }
    };
    if technicians.len() > bounds.max_technicians {
        return Ok(Err(too_large(
            "technicians",
            technicians.len(),
            bounds.max_technicians,
            "FIELDOPT_PLAN_MAX_TECHNICIANS",
        )));
    }
    let active = [JobStatus::Assigned, JobStatus::InProgress];
    // Counted before anything is loaded: an oversized day costs one query.
    let held = usize::try_from(jobs::count_on_date(conn, date, &active)?).unwrap_or(usize::MAX);
    let asked = match job_ids {
        Some(ids) => ids.len(),
        None => usize::try_from(jobs::count_on_date(conn, date, &[JobStatus::Pending])?)
            .unwrap_or(usize::MAX),
    };
    if asked.saturating_add(held) > bounds.max_jobs {
        return Ok(Err(too_large(
            "jobs (pending and already assigned)",
            asked.saturating_add(held),
            bounds.max_jobs,
            "FIELDOPT_PLAN_MAX_JOBS",
        )));
    }
    let pending = match job_ids {
        None => jobs::on_date(conn, date, &[JobStatus::Pending])?,
        Some(ids) => {
            let ids: Vec<JobId> = ids.iter().copied().map(JobId).collect();
            let found = jobs::find_many(conn, &ids)?;
            for id in &ids {
                let job = found
                    .iter()
                    .find(|j| j.id == *id)
                    .ok_or(StoreError::NotFoundInBatch(Entity::Job, id.0))?;
                if job.status != JobStatus::Pending || job.scheduled_date != Some(date) {
                    return Err(StoreError::Conflict(format!(
                        "Job {id}: only pending jobs of {date} can be planned (it is {} on {})",
                        job.status,
                        job.scheduled_date
                            .map_or("no date".to_string(), |d| d.to_string())
                    )));
                }
            }
            found
        }
    };
    let pinned = jobs::on_date(conn, date, &active)?
        .into_iter()
        .filter_map(|job| {
            let tech = job.assigned_technician?;
            technicians
                .iter()
                .any(|t| t.id == tech)
                .then_some((job, tech))
        })
        .collect();
    Ok(Ok(DayData {
        technicians,
        pending,
        pinned,
    }))
}

fn distinct_ids(field: &str, ids: &Option<Vec<i64>>, most: usize) -> Result<(), ApiError> {
    let Some(ids) = ids else { return Ok(()) };
    if ids.is_empty() || ids.len() > most {
        return Err(ApiError::invalid(
            field,
            format!("must hold 1 to {most} ids (got {})", ids.len()),
        ));
    }
    let mut seen = std::collections::HashSet::new();
    match ids.iter().find(|id| !seen.insert(**id)) {
        Some(dup) => Err(ApiError::invalid(field, format!("duplicate id {dup}"))),
        None => Ok(()),
    }
}

/// Raises the solve's cancel flag when dropped (the handler went away
/// before the solve finished).
struct CancelOnDrop(Cancel);

impl Drop for CancelOnDrop {
    fn drop(&mut self) {
        self.0.cancel();
    }
}

/// How often a running plan looks whether its client is still there.
const CLIENT_CHECK: std::time::Duration = std::time::Duration::from_millis(100);

/// Plan a whole day: who does which job, in what order, at what time.
///
/// Optimises one day: which technician does which pending job, in what order,
/// at what time, under skills, areas, per-day capacity, shifts, time slots and
/// travel. Jobs already assigned stay with their technician and may be
/// reordered. Jobs left out carry reason codes. `time_limit_ms` bounds the
/// whole request; a day larger than the configured limits is 422; with `apply:
/// true` the plan is written in one transaction, or 409 names what changed
/// while it was computed. At most `FIELDOPT_PLAN_CONCURRENCY` plans run at once
/// (503 with Retry-After beyond).
#[utoipa::path(
    tag = "routing",
    request_body = PlanRequest,
    responses(
        (status = 200, description = "The plan; with `apply` its assignments are written", body = PlanResponse),
        (status = 400, description = "Invalid body", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "A listed technician or job does not exist (named)", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "A listed job is not pending on that day, or what the plan used changed before it could be applied (named); nothing was written", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "The day holds more jobs or technicians than a plan takes (the detail names the sizes and the settings)", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "As many plans as configured are running, or the database is unavailable; retry after `Retry-After` seconds", body = Problem, content_type = "application/problem+json",
            headers(("Retry-After" = i64, description = "Seconds to wait before retrying"))),
    )
)]
#[post("/routing/plan")]
pub async fn plan_day(
    state: web::Data<AppState>,
    caller: Caller,
    http: HttpRequest,
    body: JsonBody<PlanRequest>,
) -> Result<web::Json<PlanResponse>, ApiError> {
    caller.scope(Operation::PlanDay)?;
    let started = std::time::Instant::now();
    let request = body.0;
    let date = parse_date("scheduled_date", &request.scheduled_date)?;
    let time_limit =
        optional_int(request.time_limit_ms, "time_limit_ms", 10, 60_000)?.unwrap_or(2000);
    let time_limit = std::time::Duration::from_millis(time_limit as u64);
    let limits = state.settings().plan;
    let bounds = PlanBounds {
        max_jobs: limits.max_jobs,
        max_technicians: limits.max_technicians,
    };
    distinct_ids(
        "technician_ids",
        &request.technician_ids,
        bounds.max_technicians,
    )?;
    distinct_ids("job_ids", &request.job_ids, bounds.max_jobs)?;
    let _permit = state
        .plan_permits()
        .try_acquire()
        .map_err(|_| ApiError::Overloaded {
            detail: format!(
                "{} plans are running, the most this server runs at once; retry shortly",
                limits.concurrency
            ),
            retry_after_secs: time_limit.as_secs().max(1),
        })?;
    let (technician_ids, job_ids) = (request.technician_ids, request.job_ids);
    let day = state
        .read(move |conn| {
            load_day(
                conn,
                date,
                technician_ids.as_deref(),
                job_ids.as_deref(),
                bounds,
            )
        })
        .await??;
    let day = std::sync::Arc::new(day);
    let speed_kmh = state.settings().speed_kmh;
    let cancel = Cancel::default();
    let _cancel_on_drop = CancelOnDrop(cancel.clone());
    // The limit bounds the whole request: loading counts, and a little is
    // kept for applying and answering.
    let reserve = (time_limit / 20).min(std::time::Duration::from_millis(100));
    let options = SolveOptions {
        time_limit: Some(
            time_limit
                .saturating_sub(started.elapsed())
                .saturating_sub(reserve),
        ),
        // A day that stops improving answers at once.
        patience: Some(1000.max(20 * (day.pending.len() + day.pinned.len()) as u64)),
        cancel: Some(cancel.clone()),
        seed: 1,
        ..SolveOptions::default()
    };
    let solving = day.clone();
    let mut solve = std::pin::pin!(web::block(move || {
        let input = DayInput {
            technicians: &solving.technicians,
            pending: &solving.pending,
            pinned: &solving.pinned,
            speed_kmh,
        };
        plan_day_engine(&input, &options)
    }));
    // A plan stops when its client leaves: nobody would read it.
    let plan = loop {
        tokio::select! {
            plan = &mut solve => break plan?,
            () = tokio::time::sleep(CLIENT_CHECK) => {
                if crate::connection::client_gone(&http) {
                    tracing::info!("client gone; stopping its plan");
                    cancel.cancel();
                    let _ = (&mut solve).await;
                    return Err(ApiError::ClientGone);
                }
            }
        }
    };
    if request.apply {
        let days: Vec<PlannedDay> = plan
            .routes
            .iter()
            .map(|route| {
                let (mut new_jobs, mut kept_jobs) = (Vec::new(), Vec::new());
                for (index, stop) in route.stops.iter().enumerate() {
                    let place = placement(date, index, stop.arrival);
                    if stop.pinned {
                        kept_jobs.push((stop.job, place));
                    } else {
                        new_jobs.push((stop.job, place));
                    }
                }
                PlannedDay {
                    technician: route.technician,
                    new_jobs,
                    kept_jobs,
                }
            })
            .collect();
        let snapshot = day.clone();
        state
            .write(caller.actor(), move |conn, stamp| {
                let jobs: Vec<Job> = snapshot
                    .pending
                    .iter()
                    .chain(snapshot.pinned.iter().map(|(job, _)| job))
                    .cloned()
                    .collect();
                let basis = PlanBasis {
                    technicians: &snapshot.technicians,
                    jobs: &jobs,
                };
                let created = assignments::apply_plan(conn, &days, &basis, stamp)?;
                stamp.record(Change::Rendered(plan_applied(date, created, &days)));
                Ok(created)
            })
            .await?;
    }
    let jobs_assigned = plan.routes.iter().map(|r| r.stops.len()).sum();
    Ok(web::Json(PlanResponse {
        scheduled_date: date,
        applied: request.apply,
        elapsed_ms: u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
        totals: PlanTotals {
            jobs_assigned,
            jobs_unassigned: plan.unassigned.len(),
            travel_km: km(plan.travel_km),
        },
        routes: plan
            .routes
            .into_iter()
            .map(|route| PlannedRouteResponse {
                technician_id: route.technician.0,
                travel_km: km(route.travel_km),
                work_minutes: route.work_minutes,
                stops: route
                    .stops
                    .into_iter()
                    .map(|stop| PlannedStopResponse {
                        job_id: stop.job.0,
                        arrival: clock(stop.arrival),
                        start: clock(stop.start),
                        end: clock(stop.end),
                        travel_km: km(stop.travel_km),
                    })
                    .collect(),
            })
            .collect(),
        unassigned: plan
            .unassigned
            .into_iter()
            .map(|(job, reasons)| UnplannedJobResponse {
                job_id: job.0,
                reasons: reasons
                    .iter()
                    .map(|r| format!("{}: {}", r.code(), r.description()))
                    .collect(),
            })
            .collect(),
    }))
}

fn optional_int(
    value: Option<i64>,
    field: &str,
    min: i64,
    max: i64,
) -> Result<Option<i64>, ApiError> {
    match value {
        Some(v) if !(min..=max).contains(&v) => Err(ApiError::invalid(
            field,
            format!("{v} is out of range ({min}..={max})"),
        )),
        other => Ok(other),
    }
}

/// Payload of the `plan.applied` event.
#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({
    "scheduled_date": "2026-04-15", "jobs_assigned": 2,
    "routes": [{"technician_id": 1, "job_ids": [3, 4]}]
}))]
pub struct PlanApplied {
    scheduled_date: NaiveDate,
    /// Jobs newly assigned by the plan.
    jobs_assigned: usize,
    /// Every route of the plan, its jobs in visiting order.
    routes: Vec<AppliedRoute>,
}

/// One technician's route in a `plan.applied` event.
#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({"technician_id": 1, "job_ids": [3, 4]}))]
pub struct AppliedRoute {
    technician_id: i64,
    job_ids: Vec<i64>,
}

fn plan_applied(date: NaiveDate, jobs_assigned: usize, days: &[PlannedDay]) -> NewEvent {
    let routes = days
        .iter()
        .map(|day| {
            let mut stops: Vec<(u32, i64)> = day
                .new_jobs
                .iter()
                .chain(&day.kept_jobs)
                .map(|(job, place)| (place.sequence, job.0))
                .collect();
            stops.sort_unstable();
            AppliedRoute {
                technician_id: day.technician.0,
                job_ids: stops.into_iter().map(|(_, job)| job).collect(),
            }
        })
        .collect();
    NewEvent {
        event_type: EventType::PlanApplied,
        technician_id: None,
        data: crate::events::to_json(&PlanApplied {
            scheduled_date: date,
            jobs_assigned,
            routes,
        }),
    }
}
