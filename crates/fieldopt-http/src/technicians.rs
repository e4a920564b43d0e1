//! `/technicians`: the people who do the jobs.

use actix_web::{HttpResponse, delete, get, patch, post, web};
use chrono::{DateTime, Utc};
use fieldopt_domain::access::Operation;
use fieldopt_domain::{
    Area, Capacity, ClockTime, Email, ExternalId, GeoPoint, PersonName, Phone, Skill, Technician,
    TechnicianId, TimeWindow, parse_unique,
};
use fieldopt_store::technicians::{
    self, NewTechnician, TechnicianChanges, TechnicianFilter, TechnicianWithLoad,
};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::auth::Caller;
use crate::error::{ApiError, Problem};
use crate::extract::{
    FixedStatus, JsonBody, not_null, nullable, optional, page, parse_date, status_fixed_by_path,
};
use crate::state::{AppState, today};
use crate::wire::{TechnicianStatusWire, field, field_opt};

/// A technician as clients see it.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = Technician, example = json!({
    "id": 1, "name": "Miles Davis", "status": "available", "phone": "555-0101",
    "email": null, "skills": ["install", "repair"], "areas": ["manhattan"],
    "capacity": 4, "current_workload": 2, "shift_start": "08:00", "shift_end": "17:00",
    "home_latitude": 40.7128, "home_longitude": -74.006, "latitude": null,
    "longitude": null, "location_updated_at": null,
    "created_at": "2026-04-11T14:30:00Z", "updated_at": "2026-04-11T14:30:00Z"
}))]
pub struct TechnicianResponse {
    id: i64,
    name: String,
    status: TechnicianStatusWire,
    phone: Option<String>,
    email: Option<String>,
    skills: Vec<String>,
    areas: Vec<String>,
    capacity: u32,
    /// Active jobs on the workload date (`?date=`, default today UTC).
    current_workload: u32,
    /// `HH:MM`.
    shift_start: String,
    /// `HH:MM`.
    shift_end: String,
    home_latitude: Option<f64>,
    home_longitude: Option<f64>,
    latitude: Option<f64>,
    longitude: Option<f64>,
    #[serde(serialize_with = "crate::wire::timestamp_opt")]
    location_updated_at: Option<DateTime<Utc>>,
    /// The integrator's own id, if any.
    external_id: Option<String>,
    #[serde(serialize_with = "crate::wire::timestamp")]
    created_at: DateTime<Utc>,
    #[serde(serialize_with = "crate::wire::timestamp")]
    updated_at: DateTime<Utc>,
}

impl From<TechnicianWithLoad> for TechnicianResponse {
    fn from(value: TechnicianWithLoad) -> Self {
        let t: Technician = value.technician;
        TechnicianResponse {
            id: t.id.0,
            name: t.name.into(),
            status: t.status.into(),
            phone: t.phone.map(String::from),
            email: t.email.map(String::from),
            skills: t.skills.into_iter().map(String::from).collect(),
            areas: t.areas.into_iter().map(String::from).collect(),
            capacity: t.capacity.get(),
            current_workload: value.current_workload,
            shift_start: t.shift.start().to_string(),
            shift_end: t.shift.end().to_string(),
            home_latitude: t.home.map(GeoPoint::latitude),
            home_longitude: t.home.map(GeoPoint::longitude),
            latitude: t.position.map(GeoPoint::latitude),
            longitude: t.position.map(GeoPoint::longitude),
            location_updated_at: t.location_updated_at,
            external_id: t.external_id.map(String::from),
            created_at: t.created_at,
            updated_at: t.updated_at,
        }
    }
}

/// Body of `POST /technicians/`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({
    "name": "John Coltrane", "phone": "555-0102", "status": "available",
    "skills": ["repair", "maintenance"]
}))]
pub struct CreateTechnician {
    /// 1..=100 characters.
    name: String,
    /// Default `available`.
    status: Option<TechnicianStatusWire>,
    phone: Option<String>,
    email: Option<String>,
    /// Tokens of `[a-z0-9_-]`, 1..=40 characters, no duplicates.
    skills: Option<Vec<String>>,
    /// Areas covered; empty (default) means every area.
    areas: Option<Vec<String>>,
    /// 1..=50, default 4.
    capacity: Option<i64>,
    /// `HH:MM`, default `08:00`.
    shift_start: Option<String>,
    /// `HH:MM`, default `17:00`.
    shift_end: Option<String>,
    home_latitude: Option<f64>,
    home_longitude: Option<f64>,
    /// The integrator's own id (1..=100 characters), unique among live
    /// technicians.
    external_id: Option<String>,
}

fn parse_skills(name: &str, skills: Vec<String>) -> Result<Vec<Skill>, ApiError> {
    field(name, parse_unique(skills, Skill::parse))
}

fn parse_areas(areas: Vec<String>) -> Result<Vec<Area>, ApiError> {
    field("areas", parse_unique(areas, Area::parse))
}

fn parse_home(lat: Option<f64>, lon: Option<f64>) -> Result<Option<GeoPoint>, ApiError> {
    field("home_latitude", GeoPoint::from_optional(lat, lon))
}

impl CreateTechnician {
    fn into_new(self) -> Result<NewTechnician, ApiError> {
        let default_shift = Technician::default_shift();
        let start = field_opt("shift_start", self.shift_start, |s| ClockTime::parse(&s))?
            .unwrap_or(default_shift.start());
        let end = field_opt("shift_end", self.shift_end, |s| ClockTime::parse(&s))?
            .unwrap_or(default_shift.end());
        Ok(NewTechnician {
            name: field("name", PersonName::parse(self.name))?,
            status: self
                .status
                .map_or(fieldopt_domain::TechnicianStatus::Available, Into::into),
            phone: field_opt("phone", self.phone, Phone::parse)?,
            email: field_opt("email", self.email, Email::parse_address)?,
            external_id: field_opt("external_id", self.external_id, ExternalId::parse)?,
            skills: parse_skills("skills", self.skills.unwrap_or_default())?,
            areas: parse_areas(self.areas.unwrap_or_default())?,
            capacity: field_opt("capacity", self.capacity, Capacity::new)?.unwrap_or_default(),
            shift: field("shift_start", TimeWindow::new(start, end))?,
            home: parse_home(self.home_latitude, self.home_longitude)?,
        })
    }
}

/// Body of `PATCH /technicians/{id}`; absent fields stay as they are.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"capacity": 6, "skills": ["install", "repair", "fiber"]}))]
pub struct UpdateTechnician {
    #[serde(default, deserialize_with = "not_null")]
    #[schema(nullable = false)]
    name: Option<String>,
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<String>)]
    phone: Option<Option<String>>,
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<String>)]
    email: Option<Option<String>>,
    #[serde(default, deserialize_with = "not_null")]
    #[schema(nullable = false)]
    skills: Option<Vec<String>>,
    #[serde(default, deserialize_with = "not_null")]
    #[schema(nullable = false)]
    areas: Option<Vec<String>>,
    #[serde(default, deserialize_with = "not_null")]
    #[schema(nullable = false)]
    capacity: Option<i64>,
    #[serde(default, deserialize_with = "not_null")]
    #[schema(nullable = false)]
    shift_start: Option<String>,
    #[serde(default, deserialize_with = "not_null")]
    #[schema(nullable = false)]
    shift_end: Option<String>,
    /// Give both home coordinates, or `null` for both to clear them.
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<f64>)]
    home_latitude: Option<Option<f64>>,
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<f64>)]
    home_longitude: Option<Option<f64>>,
    /// The integrator's own id, or `null` to clear it.
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<String>)]
    external_id: Option<Option<String>>,
}

impl UpdateTechnician {
    fn into_changes(self) -> Result<TechnicianChanges, ApiError> {
        let home = match (self.home_latitude, self.home_longitude) {
            (None, None) => None,
            (Some(lat), Some(lon)) => Some(parse_home(lat, lon)?),
            _ => {
                return Err(ApiError::invalid(
                    "home_latitude",
                    "home_latitude and home_longitude must be changed together",
                ));
            }
        };
        let shift_start = field_opt("shift_start", self.shift_start, |s| ClockTime::parse(&s))?;
        let shift_end = field_opt("shift_end", self.shift_end, |s| ClockTime::parse(&s))?;
        if let (Some(start), Some(end)) = (shift_start, shift_end) {
            field("shift_start", TimeWindow::new(start, end))?;
        }
        Ok(TechnicianChanges {
            name: field_opt("name", self.name, PersonName::parse)?,
            phone: self
                .phone
                .map(|p| field_opt("phone", p, Phone::parse))
                .transpose()?,
            email: self
                .email
                .map(|e| field_opt("email", e, Email::parse_address))
                .transpose()?,
            skills: self.skills.map(|s| parse_skills("skills", s)).transpose()?,
            areas: self.areas.map(parse_areas).transpose()?,
            capacity: field_opt("capacity", self.capacity, Capacity::new)?,
            shift_start,
            shift_end,
            home,
            external_id: self
                .external_id
                .map(|e| field_opt("external_id", e, ExternalId::parse))
                .transpose()?,
        })
    }
}

/// Body of `PATCH /technicians/{id}/status`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"status": "on_break"}))]
pub struct UpdateTechnicianStatus {
    status: TechnicianStatusWire,
}

/// Body of `PATCH /technicians/{id}/location`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"latitude": 40.7128, "longitude": -74.0060}))]
pub struct UpdateTechnicianLocation {
    latitude: f64,
    longitude: f64,
}

/// Filters and paging of the technician list.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct TechnicianListQuery {
    /// Only technicians with this status.
    #[param(value_type = Option<TechnicianStatusWire>)]
    status: Option<String>,
    /// Only technicians having this skill.
    skill: Option<String>,
    /// Only technicians covering this area (those with no areas cover all).
    area: Option<String>,
    /// Only the technician with this external id.
    external_id: Option<String>,
    /// Workload date `YYYY-MM-DD`, default today (UTC).
    #[param(value_type = Option<String>, format = Date)]
    date: Option<String>,
    /// 1..=5000, default 500.
    #[param(value_type = Option<i64>)]
    limit: Option<String>,
    /// Default 0.
    #[param(value_type = Option<i64>)]
    offset: Option<String>,
}

/// The workload date of a single-technician request.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct WorkloadDateQuery {
    /// Workload date `YYYY-MM-DD`, default today (UTC).
    #[param(value_type = Option<String>, format = Date)]
    date: Option<String>,
}

impl WorkloadDateQuery {
    fn date(&self) -> Result<chrono::NaiveDate, ApiError> {
        Ok(optional(&self.date, |v| parse_date("date", v))?.unwrap_or_else(today))
    }
}

/// One page of technicians matching `query`, narrowed to the caller's
/// scope; `status` overrides the query's (the `available` alias).
async fn list(
    state: &AppState,
    caller: &Caller,
    operation: Operation,
    query: &TechnicianListQuery,
    status: Option<fieldopt_domain::TechnicianStatus>,
) -> Result<HttpResponse, ApiError> {
    let scope = caller.scope(operation)?;
    let filter = TechnicianFilter {
        only: scope.only_technician(),
        status: match status {
            Some(status) => Some(status),
            None => optional(&query.status, |v| field("status", v.parse()))?,
        },
        skill: optional(&query.skill, |v| field("skill", Skill::parse(v)))?,
        area: optional(&query.area, |v| field("area", Area::parse(v)))?,
        external_id: optional(&query.external_id, |v| {
            field("external_id", ExternalId::parse(v))
        })?,
        ..TechnicianFilter::default()
    };
    let date = optional(&query.date, |v| parse_date("date", v))?.unwrap_or_else(today);
    let page = page(&query.limit, &query.offset)?;
    let listed = state
        .read(move |conn| technicians::list(conn, &filter, date, page))
        .await?;
    let items: Vec<TechnicianResponse> = listed.items.into_iter().map(Into::into).collect();
    Ok(HttpResponse::Ok()
        .insert_header(("X-Total-Count", listed.total))
        .json(items))
}

/// List technicians.
///
/// Filters combine; `area` matches technicians covering it (those without areas
/// cover all). `current_workload` counts active jobs on `date` (default today,
/// UTC). Paged by `limit` and `offset` with `X-Total-Count`. A technician's
/// token sees only its own record.
#[utoipa::path(
    tag = "technicians",
    params(TechnicianListQuery),
    responses(
        (status = 200, description = "One page of technicians, by id", body = [TechnicianResponse],
            headers(("X-Total-Count" = i64, description = "Matching technicians before paging"))),
        (status = 400, description = "Invalid filter or paging value", body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/technicians")]
pub async fn list_technicians(
    state: web::Data<AppState>,
    caller: Caller,
    query: web::Query<TechnicianListQuery>,
) -> Result<HttpResponse, ApiError> {
    list(&state, &caller, Operation::ListTechnicians, &query, None).await
}

/// Technicians whose status is `available` (the original's path; the same
/// as `GET /technicians?status=available`).
///
/// Deprecated alias of `GET /technicians?status=available`, kept for clients of
/// the original's later releases. Takes every other filter of the list; a
/// `status` filter is 400, since the path fixes it.
#[utoipa::path(
    tag = "technicians",
    params(FixedStatus<TechnicianListQuery>),
    responses(
        (status = 200, description = "One page of available technicians, by id", body = [TechnicianResponse],
            headers(("X-Total-Count" = i64, description = "Matching technicians before paging"))),
    )
)]
#[get("/technicians/available")]
pub async fn list_available_technicians(
    state: web::Data<AppState>,
    caller: Caller,
    query: web::Query<FixedStatus<TechnicianListQuery>>,
) -> Result<HttpResponse, ApiError> {
    let FixedStatus(query) = query.into_inner();
    if query.status.is_some() {
        return Err(status_fixed_by_path("available", "GET /technicians"));
    }
    let available = Some(fieldopt_domain::TechnicianStatus::Available);
    list(
        &state,
        &caller,
        Operation::ListAvailableTechnicians,
        &query,
        available,
    )
    .await
}

/// A technician's workload on a day.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = Workload, example = json!({
    "technician_id": 1, "date": "2026-04-15", "current_workload": 2, "capacity": 4,
    "remaining_capacity": 2
}))]
pub struct WorkloadResponse {
    technician_id: i64,
    /// The workload date.
    date: chrono::NaiveDate,
    /// Active jobs that day.
    current_workload: u32,
    capacity: u32,
    /// Jobs it can still take that day (0 when at or over capacity).
    remaining_capacity: u32,
}

/// A technician's workload (the original's path).
///
/// Deprecated path of the original: the technician's capacity, active jobs and
/// remaining room on `date` (default today, UTC). 404 for an unknown
/// technician.
#[utoipa::path(
    tag = "technicians",
    params(("id" = i64, Path, description = "Technician id"), WorkloadDateQuery),
    responses(
        (status = 200, description = "The workload on the date", body = WorkloadResponse),
        (status = 404, description = "Technician not found", body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/technicians/{id}/workload")]
pub async fn get_technician_workload(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<i64>,
    query: web::Query<WorkloadDateQuery>,
) -> Result<web::Json<WorkloadResponse>, ApiError> {
    let id = TechnicianId(id.into_inner());
    caller
        .scope(Operation::GetTechnicianWorkload)?
        .check_technician(id)?;
    let date = query.date()?;
    let found = state
        .read(move |conn| technicians::find_with_load(conn, id, date))
        .await?;
    let capacity = found.technician.capacity.get();
    Ok(web::Json(WorkloadResponse {
        technician_id: id.0,
        date,
        current_workload: found.current_workload,
        capacity,
        remaining_capacity: capacity.saturating_sub(found.current_workload),
    }))
}

/// Get one technician.
///
/// 404 for an unknown or deleted technician. `current_workload` counts active
/// jobs on `date` (default today, UTC). A technician's token reads only its own
/// record.
#[utoipa::path(
    tag = "technicians",
    params(("id" = i64, Path, description = "Technician id"), WorkloadDateQuery),
    responses(
        (status = 200, description = "The technician", body = TechnicianResponse),
        (status = 400, description = "Invalid id or date", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "Technician not found", body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/technicians/{id}")]
pub async fn get_technician(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<i64>,
    query: web::Query<WorkloadDateQuery>,
) -> Result<web::Json<TechnicianResponse>, ApiError> {
    let id = TechnicianId(id.into_inner());
    caller
        .scope(Operation::GetTechnician)?
        .check_technician(id)?;
    let date = query.date()?;
    let found = state
        .read(move |conn| technicians::find_with_load(conn, id, date))
        .await?;
    Ok(web::Json(found.into()))
}

/// Create a technician.
///
/// Defaults: status `available`, capacity 4 jobs a day, shift 08:00-17:00, no
/// skills, no areas (covers every area). The home position comes as both
/// coordinates or neither. An `external_id` must be unique among live
/// technicians (409 otherwise).
#[utoipa::path(
    tag = "technicians",
    request_body = CreateTechnician,
    responses(
        (status = 201, description = "Created", body = TechnicianResponse),
        (status = 400, description = "Invalid body", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Another live technician has this external id", body = Problem, content_type = "application/problem+json"),
    )
)]
#[post("/technicians")]
pub async fn create_technician(
    state: web::Data<AppState>,
    caller: Caller,
    body: JsonBody<CreateTechnician>,
) -> Result<HttpResponse, ApiError> {
    caller.scope(Operation::CreateTechnician)?;
    let new = body.0.into_new()?;
    let date = today();
    let created = state
        .write(caller.actor(), move |conn, stamp| {
            let technician = technicians::create(conn, &new, stamp)?;
            Ok(TechnicianWithLoad {
                current_workload: fieldopt_store::workload::active_jobs_on(
                    conn,
                    technician.id,
                    date,
                )?,
                technician,
            })
        })
        .await?;
    Ok(HttpResponse::Created().json(TechnicianResponse::from(created)))
}

async fn respond_with(
    state: &AppState,
    id: TechnicianId,
    technician: Technician,
) -> Result<web::Json<TechnicianResponse>, ApiError> {
    let date = today();
    let current_workload = state
        .read(move |conn| fieldopt_store::workload::active_jobs_on(conn, id, date))
        .await?;
    Ok(web::Json(
        TechnicianWithLoad {
            technician,
            current_workload,
        }
        .into(),
    ))
}

/// Update a technician's details.
///
/// Changes any detail; lowering `capacity` below a day's workload is allowed
/// (no new assignments that day until it drops). Changing only one end of the
/// shift must keep it before the stored other end (409 otherwise). Sending
/// `null` clears a nullable field; `null` for a required one is 400.
#[utoipa::path(
    tag = "technicians",
    params(("id" = i64, Path, description = "Technician id")),
    request_body = UpdateTechnician,
    responses(
        (status = 200, description = "Updated", body = TechnicianResponse),
        (status = 400, description = "Invalid body", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "Technician not found", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "A shift start or end alone would not be before the stored other half (change both together), or another live technician has the external id", body = Problem, content_type = "application/problem+json"),
    )
)]
#[patch("/technicians/{id}")]
pub async fn update_technician(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<i64>,
    body: JsonBody<UpdateTechnician>,
) -> Result<web::Json<TechnicianResponse>, ApiError> {
    let id = TechnicianId(id.into_inner());
    caller
        .scope(Operation::UpdateTechnician)?
        .check_technician(id)?;
    let changes = body.0.into_changes()?;
    let updated = state
        .write(caller.actor(), move |conn, stamp| {
            technicians::update(conn, id, &changes, stamp)
        })
        .await?;
    respond_with(&state, id, updated).await
}

/// Set a technician's status.
///
/// `on_break` and `off_duty` change only when a client says so; `available` and
/// `assigned` also follow the technician's active jobs automatically.
#[utoipa::path(
    tag = "technicians",
    params(("id" = i64, Path, description = "Technician id")),
    request_body = UpdateTechnicianStatus,
    responses(
        (status = 200, description = "Updated", body = TechnicianResponse),
        (status = 400, description = "Invalid status", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "Technician not found", body = Problem, content_type = "application/problem+json"),
    )
)]
#[patch("/technicians/{id}/status")]
pub async fn update_technician_status(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<i64>,
    body: JsonBody<UpdateTechnicianStatus>,
) -> Result<web::Json<TechnicianResponse>, ApiError> {
    let id = TechnicianId(id.into_inner());
    caller
        .scope(Operation::UpdateTechnicianStatus)?
        .check_technician(id)?;
    let status = body.0.status.into();
    let updated = state
        .write(caller.actor(), move |conn, stamp| {
            technicians::set_status(conn, id, status, stamp)
        })
        .await?;
    respond_with(&state, id, updated).await
}

/// Record a technician's position.
///
/// Records where the technician is now and when (`location_updated_at`).
/// Distances for recommendations and plans start from here, else from home.
#[utoipa::path(
    tag = "technicians",
    params(("id" = i64, Path, description = "Technician id")),
    request_body = UpdateTechnicianLocation,
    responses(
        (status = 200, description = "Updated", body = TechnicianResponse),
        (status = 400, description = "Invalid coordinates", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "Technician not found", body = Problem, content_type = "application/problem+json"),
    )
)]
#[patch("/technicians/{id}/location")]
pub async fn update_technician_location(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<i64>,
    body: JsonBody<UpdateTechnicianLocation>,
) -> Result<web::Json<TechnicianResponse>, ApiError> {
    let id = TechnicianId(id.into_inner());
    caller
        .scope(Operation::UpdateTechnicianLocation)?
        .check_technician(id)?;
    let position = field("latitude", GeoPoint::new(body.0.latitude, body.0.longitude))?;
    let updated = state
        .write(caller.actor(), move |conn, stamp| {
            technicians::set_location(conn, id, position, stamp)
        })
        .await?;
    respond_with(&state, id, updated).await
}

/// Delete a technician that holds no active job.
///
/// Refused with 409 while the technician holds active jobs. A deleted
/// technician disappears from lists and lookups and cannot be assigned; the
/// history of its past work is kept. 204 on success.
#[utoipa::path(
    tag = "technicians",
    params(("id" = i64, Path, description = "Technician id")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 404, description = "Technician not found", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The technician holds active jobs", body = Problem, content_type = "application/problem+json"),
    )
)]
#[delete("/technicians/{id}")]
pub async fn delete_technician(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<i64>,
) -> Result<HttpResponse, ApiError> {
    let id = TechnicianId(id.into_inner());
    caller.scope(Operation::DeleteTechnician)?;
    state
        .write(caller.actor(), move |conn, stamp| {
            technicians::delete(conn, id, stamp)
        })
        .await?;
    Ok(HttpResponse::NoContent().finish())
}
