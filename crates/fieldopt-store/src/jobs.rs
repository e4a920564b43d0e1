//! Jobs: rows, queries and commands.

use std::collections::HashMap;

use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};
use diesel::prelude::*;
use fieldopt_domain::{
    Address, Area, CustomerName, DurationMinutes, EventType, ExternalId, GeoPoint, Job, JobAction,
    JobEventKind, JobId, JobStatus, JobType, Notes, Priority, Reason, Skill, TechnicianId,
    TimeWindow,
};

use crate::assignments::{self, end_live_assignment};
use crate::convert::{
    from_db_opt_time, from_db_time, int_to_db, opt_window_from_db, point_from_db, point_to_db,
    to_db_time, window_to_db,
};
use crate::events::{self, NewEvent};
use crate::outbox::Change;
use crate::schema::{job_skills, jobs};
use crate::{
    DbConn, Entity, Page, Paged, Stamp, StoreError, StoreResult, on_backend, technicians, workload,
};

#[derive(Debug, Queryable, Selectable)]
#[diesel(table_name = jobs)]
struct JobRow {
    id: i64,
    job_type: String,
    customer: String,
    address: String,
    status: String,
    scheduled_date: Option<NaiveDate>,
    slot_start: Option<i32>,
    slot_end: Option<i32>,
    technician_id: Option<i64>,
    priority: i32,
    duration_minutes: i32,
    latitude: Option<f64>,
    longitude: Option<f64>,
    area: Option<String>,
    notes: Option<String>,
    created_at: NaiveDateTime,
    updated_at: NaiveDateTime,
    started_at: Option<NaiveDateTime>,
    completed_at: Option<NaiveDateTime>,
    external_id: Option<String>,
}

impl JobRow {
    fn into_domain(self, skills: Vec<String>) -> StoreResult<Job> {
        let mut skills_required: Vec<Skill> = skills.into_iter().map(Skill::from_storage).collect();
        skills_required.sort();
        Ok(Job {
            id: JobId(self.id),
            job_type: self.job_type.parse()?,
            customer: CustomerName::from_storage(self.customer),
            address: Address::from_storage(self.address),
            skills_required,
            status: self.status.parse()?,
            scheduled_date: self.scheduled_date,
            time_slot: opt_window_from_db(self.slot_start, self.slot_end)?,
            assigned_technician: self.technician_id.map(TechnicianId),
            priority: Priority::new(self.priority.into())?,
            duration: DurationMinutes::new(self.duration_minutes.into())?,
            location: point_from_db(self.latitude, self.longitude)?,
            area: self.area.map(Area::from_storage),
            notes: self.notes.map(Notes::from_storage),
            external_id: self.external_id.map(ExternalId::from_storage),
            created_at: from_db_time(self.created_at),
            updated_at: from_db_time(self.updated_at),
            started_at: from_db_opt_time(self.started_at),
            completed_at: from_db_opt_time(self.completed_at),
        })
    }
}

/// What a client gives to create a job.
#[derive(Debug, Clone)]
pub struct NewJob {
    /// Kind of work.
    pub job_type: JobType,
    /// Customer.
    pub customer: CustomerName,
    /// Address.
    pub address: Address,
    /// Required skills (sorted, unique).
    pub skills_required: Vec<Skill>,
    /// Planned day.
    pub scheduled_date: Option<NaiveDate>,
    /// Window in which work must start.
    pub time_slot: Option<TimeWindow>,
    /// Priority.
    pub priority: Priority,
    /// Minutes on site.
    pub duration: DurationMinutes,
    /// Site position.
    pub location: Option<GeoPoint>,
    /// Management area.
    pub area: Option<Area>,
    /// Notes.
    pub notes: Option<Notes>,
    /// The integrator's own id.
    pub external_id: Option<ExternalId>,
}

/// A partial update; `None` leaves a field as it is, `Some(None)` clears it.
#[derive(Debug, Clone, Default)]
pub struct JobChanges {
    /// Kind of work.
    pub job_type: Option<JobType>,
    /// Customer.
    pub customer: Option<CustomerName>,
    /// Address.
    pub address: Option<Address>,
    /// Required skills.
    pub skills_required: Option<Vec<Skill>>,
    /// Planned day.
    pub scheduled_date: Option<Option<NaiveDate>>,
    /// Time slot.
    pub time_slot: Option<Option<TimeWindow>>,
    /// Priority.
    pub priority: Option<Priority>,
    /// Minutes on site.
    pub duration: Option<DurationMinutes>,
    /// Site position.
    pub location: Option<Option<GeoPoint>>,
    /// Area.
    pub area: Option<Option<Area>>,
    /// Notes.
    pub notes: Option<Option<Notes>>,
    /// The integrator's own id.
    pub external_id: Option<Option<ExternalId>>,
    /// A status to move to along the machine (start, complete, fail, cancel).
    pub status: Option<JobStatus>,
}

/// Filters of the job list; all must match.
#[derive(Debug, Clone, Default)]
pub struct JobFilter {
    /// Exactly this scheduled date.
    pub scheduled_date: Option<NaiveDate>,
    /// This status.
    pub status: Option<JobStatus>,
    /// This type.
    pub job_type: Option<JobType>,
    /// Assigned (now or in the past) to this technician.
    pub technician_id: Option<TechnicianId>,
    /// In this area.
    pub area: Option<Area>,
    /// Customer contains this text, ignoring case.
    pub customer: Option<String>,
    /// Scheduled on or after.
    pub date_from: Option<NaiveDate>,
    /// Scheduled on or before.
    pub date_to: Option<NaiveDate>,
    /// With this external id.
    pub external_id: Option<ExternalId>,
}

/// Jobs per status.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct JobSummary {
    /// All jobs.
    pub total: i64,
    /// Per status, zero when absent.
    pub by_status: HashMap<JobStatus, i64>,
}

/// The customer as it is searched: folded in Rust, so both backends
/// compare it the same way.
fn search_key(customer: &str) -> String {
    fieldopt_domain::fold_case(customer)
}

fn escape_like(text: &str) -> String {
    let mut escaped = String::with_capacity(text.len() + 2);
    escaped.push('%');
    for ch in search_key(text).chars() {
        if matches!(ch, '%' | '_' | '\\') {
            escaped.push('\\');
        }
        escaped.push(ch);
    }
    escaped.push('%');
    escaped
}

fn load_many(conn: &mut DbConn, rows: Vec<JobRow>) -> StoreResult<Vec<Job>> {
    let ids: Vec<i64> = rows.iter().map(|r| r.id).collect();
    let skills: Vec<(i64, String)> = on_backend!(conn, c => job_skills::table
        .filter(job_skills::job_id.eq_any(&ids))
        .select((job_skills::job_id, job_skills::skill))
        .load(c)?);
    let mut by_job: HashMap<i64, Vec<String>> = HashMap::new();
    for (id, skill) in skills {
        by_job.entry(id).or_default().push(skill);
    }
    rows.into_iter()
        .map(|row| {
            let skills = by_job.remove(&row.id).unwrap_or_default();
            row.into_domain(skills)
        })
        .collect()
}

/// A job, or `NotFound`.
pub fn find(conn: &mut DbConn, id: JobId) -> StoreResult<Job> {
    let row: Option<JobRow> = on_backend!(conn, c => jobs::table
        .filter(jobs::id.eq(id.0))
        .select(JobRow::as_select())
        .first(c)
        .optional()?);
    let row = row.ok_or(StoreError::NotFound(Entity::Job))?;
    // `= ?` rather than `IN (…)`: a statement of fixed text, which both
    // backends keep prepared (every write reads its job again for events).
    let skills: Vec<String> = on_backend!(conn, c => job_skills::table
        .filter(job_skills::job_id.eq(id.0))
        .select(job_skills::skill)
        .load(c)?);
    row.into_domain(skills)
}

/// Jobs by id, in id order; `NotFound` naming none if any is missing
/// (callers check ids themselves when they must say which).
pub fn find_many(conn: &mut DbConn, ids: &[JobId]) -> StoreResult<Vec<Job>> {
    let raw: Vec<i64> = ids.iter().map(|j| j.0).collect();
    let rows: Vec<JobRow> = on_backend!(conn, c => jobs::table
        .filter(jobs::id.eq_any(&raw))
        .order(jobs::id)
        .select(JobRow::as_select())
        .load(c)?);
    load_many(conn, rows)
}

/// Jobs of `date` in the given statuses, in id order (for planning).
pub fn on_date(
    conn: &mut DbConn,
    date: NaiveDate,
    statuses: &[JobStatus],
) -> StoreResult<Vec<Job>> {
    let statuses: Vec<&str> = statuses.iter().map(|s| s.as_str()).collect();
    let rows: Vec<JobRow> = on_backend!(conn, c => jobs::table
        .filter(jobs::scheduled_date.eq(date))
        .filter(jobs::status.eq_any(&statuses))
        .order(jobs::id)
        .select(JobRow::as_select())
        .load(c)?);
    load_many(conn, rows)
}

/// How many jobs of `date` are in the given statuses (to refuse a plan
/// before loading an oversized day).
pub fn count_on_date(
    conn: &mut DbConn,
    date: NaiveDate,
    statuses: &[JobStatus],
) -> StoreResult<i64> {
    let statuses: Vec<&str> = statuses.iter().map(|s| s.as_str()).collect();
    Ok(on_backend!(conn, c => jobs::table
        .filter(jobs::scheduled_date.eq(date))
        .filter(jobs::status.eq_any(&statuses))
        .count()
        .get_result(c)?))
}

/// Locks the rows of `ids` until the transaction ends (nothing else can
/// change those jobs meanwhile). Callers lock technicians first.
pub fn lock_many(conn: &mut DbConn, ids: &[JobId]) -> StoreResult<()> {
    let mut raw: Vec<i64> = ids.iter().map(|j| j.0).collect();
    raw.sort_unstable();
    for chunk in raw.chunks(1000) {
        on_backend!(conn, c => diesel::update(jobs::table.filter(jobs::id.eq_any(chunk)))
            .set(jobs::id.eq(jobs::id))
            .execute(c)?);
    }
    Ok(())
}

/// One page of jobs matching `filter`, ordered by id.
pub fn list(conn: &mut DbConn, filter: &JobFilter, page: Page) -> StoreResult<Paged<Job>> {
    let customer_pattern = filter.customer.as_deref().map(escape_like);
    let (rows, total): (Vec<JobRow>, i64) = on_backend!(conn, c => {
        let filtered = || {
            let mut query = jobs::table.into_boxed();
            if let Some(date) = filter.scheduled_date {
                query = query.filter(jobs::scheduled_date.eq(date));
            }
            if let Some(status) = filter.status {
                query = query.filter(jobs::status.eq(status.as_str()));
            }
            if let Some(job_type) = filter.job_type {
                query = query.filter(jobs::job_type.eq(job_type.as_str()));
            }
            if let Some(tech) = filter.technician_id {
                query = query.filter(jobs::technician_id.eq(tech.0));
            }
            if let Some(area) = &filter.area {
                query = query.filter(jobs::area.eq(area.as_str().to_string()));
            }
            if let Some(pattern) = &customer_pattern {
                query = query.filter(jobs::customer_search.like(pattern.clone()).escape('\\'));
            }
            if let Some(from) = filter.date_from {
                query = query.filter(jobs::scheduled_date.ge(from));
            }
            if let Some(to) = filter.date_to {
                query = query.filter(jobs::scheduled_date.le(to));
            }
            if let Some(external) = &filter.external_id {
                query = query.filter(jobs::external_id.eq(external.as_str().to_string()));
            }
            query
        };
        let rows: Vec<_> = filtered()
            .order(jobs::id)
            .limit(page.limit)
            .offset(page.offset)
            .select(JobRow::as_select())
            .load(c)?;
        let total = match page.known_total(rows.len()) {
            Some(total) => total,
            None => filtered().count().get_result(c)?,
        };
        (rows, total)
    });
    Ok(Paged {
        items: load_many(conn, rows)?,
        total,
    })
}

fn replace_skills(conn: &mut DbConn, id: JobId, skills: &[Skill]) -> StoreResult<()> {
    on_backend!(conn, c => {
        diesel::delete(job_skills::table.filter(job_skills::job_id.eq(id.0))).execute(c)?;
        let rows: Vec<_> = skills
            .iter()
            .map(|s| (job_skills::job_id.eq(id.0), job_skills::skill.eq(s.as_str())))
            .collect();
        diesel::insert_into(job_skills::table).values(&rows).execute(c)?;
    });
    Ok(())
}

/// 409 when another job than `except` has `external_id` (the unique index
/// also refuses it, for racing writers).
fn check_external_id_free(
    conn: &mut DbConn,
    external_id: &ExternalId,
    except: Option<JobId>,
) -> StoreResult<()> {
    let holder: Option<i64> = on_backend!(conn, c => jobs::table
        .filter(jobs::external_id.eq(external_id.as_str()))
        .select(jobs::id)
        .first(c)
        .optional()?);
    match holder {
        Some(id) if Some(JobId(id)) != except => Err(StoreError::Conflict(format!(
            "Job {id} already has external_id {:?}",
            external_id.as_str()
        ))),
        _ => Ok(()),
    }
}

/// Creates a pending job and records its creation.
pub fn create(conn: &mut DbConn, new: &NewJob, stamp: &Stamp) -> StoreResult<Job> {
    if let Some(external_id) = &new.external_id {
        check_external_id_free(conn, external_id, None)?;
    }
    let (slot_start, slot_end) = new.time_slot.map(window_to_db).unzip();
    let (latitude, longitude) = point_to_db(new.location);
    let at = to_db_time(stamp.at);
    let id: i64 = on_backend!(conn, c => diesel::insert_into(jobs::table)
        .values((
            jobs::job_type.eq(new.job_type.as_str()),
            jobs::customer.eq(new.customer.as_str()),
            jobs::customer_search.eq(search_key(new.customer.as_str())),
            jobs::address.eq(new.address.as_str()),
            jobs::status.eq(JobStatus::Pending.as_str()),
            jobs::scheduled_date.eq(new.scheduled_date),
            jobs::slot_start.eq(slot_start),
            jobs::slot_end.eq(slot_end),
            jobs::priority.eq(int_to_db(new.priority.get())),
            jobs::duration_minutes.eq(int_to_db(new.duration.get())),
            jobs::latitude.eq(latitude),
            jobs::longitude.eq(longitude),
            jobs::area.eq(new.area.as_ref().map(Area::as_str)),
            jobs::notes.eq(new.notes.as_ref().map(Notes::as_str)),
            jobs::external_id.eq(new.external_id.as_ref().map(ExternalId::as_str)),
            jobs::created_at.eq(at),
            jobs::updated_at.eq(at),
        ))
        .returning(jobs::id)
        .get_result(c)?);
    let id = JobId(id);
    replace_skills(conn, id, &new.skills_required)?;
    stamp.record(Change::Job(EventType::JobCreated, id));
    events::record(
        conn,
        NewEvent::new(id, stamp, JobEventKind::Created, None, JobStatus::Pending),
    )?;
    find(conn, id)
}

/// Reads a job and, when it is active, locks its technician first and reads
/// it again, so the caller works on a state no one else is changing: its
/// holder cannot change until the transaction ends.
pub fn find_locked(conn: &mut DbConn, id: JobId) -> StoreResult<Job> {
    let mut job = find(conn, id)?;
    for _ in 0..3 {
        let Some(tech) = job.assigned_technician.filter(|_| job.status.is_active()) else {
            return Ok(job);
        };
        // A deleted technician cannot hold active jobs, so NotFound here
        // would be a race with a delete that already lost: report conflict.
        technicians::lock(conn, tech).map_err(|_| {
            StoreError::conflict("The job's technician changed concurrently; retry")
        })?;
        let again = find(conn, id)?;
        if again.assigned_technician == job.assigned_technician {
            return Ok(again);
        }
        job = again;
    }
    Err(StoreError::conflict(
        "The job is being changed by other requests; retry",
    ))
}

/// Applies `changes`; moving an active job to another day re-checks the
/// technician's capacity on that day. A status change follows the machine.
pub fn update(
    conn: &mut DbConn,
    id: JobId,
    changes: &JobChanges,
    stamp: &Stamp,
) -> StoreResult<Job> {
    let current = find_locked(conn, id)?;
    if let Some(status) = changes.status
        && status.action_to_reach().is_none()
    {
        return Err(StoreError::conflict(format!(
            "Status {status} cannot be set directly; use the assignment endpoints"
        )));
    }
    if current.status.is_final() {
        return Err(StoreError::conflict(format!(
            "Job is {}; a finished job cannot be changed",
            current.status
        )));
    }
    let scheduled_date = changes.scheduled_date.unwrap_or(current.scheduled_date);
    if current.status.is_active() && scheduled_date != current.scheduled_date {
        move_active_job(conn, &current, scheduled_date)?;
    }
    let (slot_start, slot_end) = changes
        .time_slot
        .unwrap_or(current.time_slot)
        .map(window_to_db)
        .unzip();
    let (latitude, longitude) = point_to_db(changes.location.unwrap_or(current.location));
    let area = changes.area.as_ref().unwrap_or(&current.area);
    let notes = changes.notes.as_ref().unwrap_or(&current.notes);
    let external_id = changes.external_id.as_ref().unwrap_or(&current.external_id);
    if let Some(Some(wanted)) = &changes.external_id {
        check_external_id_free(conn, wanted, Some(id))?;
    }
    on_backend!(conn, c => diesel::update(jobs::table.filter(jobs::id.eq(id.0)))
        .set((
            jobs::job_type.eq(changes.job_type.unwrap_or(current.job_type).as_str()),
            jobs::customer.eq(changes.customer.as_ref().unwrap_or(&current.customer).as_str()),
            jobs::customer_search.eq(search_key(
                changes.customer.as_ref().unwrap_or(&current.customer).as_str(),
            )),
            jobs::address.eq(changes.address.as_ref().unwrap_or(&current.address).as_str()),
            jobs::scheduled_date.eq(scheduled_date),
            jobs::slot_start.eq(slot_start),
            jobs::slot_end.eq(slot_end),
            jobs::priority.eq(int_to_db(changes.priority.unwrap_or(current.priority).get())),
            jobs::duration_minutes.eq(int_to_db(changes.duration.unwrap_or(current.duration).get())),
            jobs::latitude.eq(latitude),
            jobs::longitude.eq(longitude),
            jobs::area.eq(area.as_ref().map(Area::as_str)),
            jobs::notes.eq(notes.as_ref().map(Notes::as_str)),
            jobs::external_id.eq(external_id.as_ref().map(ExternalId::as_str)),
            jobs::updated_at.eq(to_db_time(stamp.at)),
        ))
        .execute(c)?);
    stamp.record(Change::Job(EventType::JobUpdated, id));
    if let Some(skills) = &changes.skills_required {
        replace_skills(conn, id, skills)?;
    }
    match changes.status.and_then(JobStatus::action_to_reach) {
        Some(action) => transition_locked(conn, id, action, None, stamp),
        None => find(conn, id),
    }
}

/// Moves the capacity count of an active job to its new day (409 if full).
fn move_active_job(conn: &mut DbConn, job: &Job, new_date: Option<NaiveDate>) -> StoreResult<()> {
    let live = assignments::live_row(conn, job.id)?
        .ok_or_else(|| StoreError::Corrupt(format!("active job {} has no assignment", job.id)))?;
    let tech = TechnicianId(live.technician_id);
    let target = new_date.unwrap_or(live.assigned_at.date());
    if target == live.work_date {
        return Ok(());
    }
    workload::reserve(conn, tech, target)?;
    workload::release(conn, tech, live.work_date)?;
    assignments::set_work_date(conn, live.id, target)
}

/// Moves a job along its status machine (start, complete, fail, cancel).
pub fn transition(
    conn: &mut DbConn,
    id: JobId,
    action: JobAction,
    reason: Option<Reason>,
    stamp: &Stamp,
) -> StoreResult<Job> {
    find_locked(conn, id)?;
    transition_locked(conn, id, action, reason, stamp)
}

fn transition_locked(
    conn: &mut DbConn,
    id: JobId,
    action: JobAction,
    reason: Option<Reason>,
    stamp: &Stamp,
) -> StoreResult<Job> {
    let job = find(conn, id)?;
    let next = job
        .status
        .apply(action)
        .map_err(|e| StoreError::conflict(capitalise(&e.to_string())))?;
    let at = to_db_time(stamp.at);
    let started_at = if action == JobAction::Start {
        Some(at)
    } else {
        job.started_at.map(to_db_time)
    };
    let completed_at = if matches!(action, JobAction::Complete | JobAction::Fail) {
        Some(at)
    } else {
        job.completed_at.map(to_db_time)
    };
    let changed = on_backend!(conn, c => diesel::update(
            jobs::table
                .filter(jobs::id.eq(id.0))
                .filter(jobs::status.eq(job.status.as_str())),
        )
        .set((
            jobs::status.eq(next.as_str()),
            jobs::started_at.eq(started_at),
            jobs::completed_at.eq(completed_at),
            jobs::updated_at.eq(at),
        ))
        .execute(c)?);
    if changed == 0 {
        return Err(StoreError::conflict(
            "Job was changed by another request; retry",
        ));
    }
    if job.status.is_active()
        && !next.is_active()
        && let Some(live) = assignments::live_row(conn, id)?
    {
        let tech = TechnicianId(live.technician_id);
        workload::release(conn, tech, live.work_date)?;
        if next == JobStatus::Cancelled {
            end_live_assignment(conn, id, stamp)?;
        }
        technicians::refresh_automatic_status(conn, tech, None, stamp)?;
    }
    let mut event = NewEvent::new(
        id,
        stamp,
        JobEventKind::StatusChanged,
        Some(job.status),
        next,
    );
    event.technician_id = job.assigned_technician.filter(|_| job.status.is_active());
    event.reason = reason;
    events::record(conn, event)?;
    stamp.record(Change::Job(EventType::JobStatusChanged, id));
    find(conn, id)
}

fn capitalise(text: &str) -> String {
    let mut chars = text.chars();
    chars
        .next()
        .map(|first| first.to_uppercase().chain(chars).collect())
        .unwrap_or_default()
}

/// Deletes a pending or cancelled job (409 otherwise) with its history.
pub fn delete(conn: &mut DbConn, id: JobId, stamp: &Stamp) -> StoreResult<()> {
    let deletable = [JobStatus::Pending.as_str(), JobStatus::Cancelled.as_str()];
    let deleted = on_backend!(conn, c => diesel::delete(
            jobs::table
                .filter(jobs::id.eq(id.0))
                .filter(jobs::status.eq_any(deletable)),
        )
        .execute(c)?);
    if deleted == 0 {
        let job = find(conn, id)?;
        return Err(StoreError::conflict(format!(
            "Job is {}; only pending or cancelled jobs can be deleted",
            job.status
        )));
    }
    stamp.record(Change::JobDeleted(id));
    Ok(())
}

/// Counts jobs per status, optionally of one scheduled date.
pub fn summary(conn: &mut DbConn, scheduled_date: Option<NaiveDate>) -> StoreResult<JobSummary> {
    let rows: Vec<(String, i64)> = on_backend!(conn, c => {
        let mut query = jobs::table
            .group_by(jobs::status)
            .select((jobs::status, diesel::dsl::count_star()))
            .into_boxed();
        if let Some(date) = scheduled_date {
            query = query.filter(jobs::scheduled_date.eq(date));
        }
        query.load(c)?
    });
    let mut summary = JobSummary::default();
    for (status, count) in rows {
        summary.by_status.insert(status.parse()?, count);
        summary.total += count;
    }
    Ok(summary)
}

/// Sets a job's technician and status after its assignment changed.
pub(crate) fn set_assignment_state(
    conn: &mut DbConn,
    job: &Job,
    expected: JobStatus,
    status: JobStatus,
    technician: Option<TechnicianId>,
    now: DateTime<Utc>,
) -> StoreResult<Option<Job>> {
    let updated: Option<JobRow> = on_backend!(conn, c => diesel::update(
            jobs::table
                .filter(jobs::id.eq(job.id.0))
                .filter(jobs::status.eq(expected.as_str())),
        )
        .set((
            jobs::status.eq(status.as_str()),
            jobs::technician_id.eq(technician.map(|t| t.0)),
            jobs::updated_at.eq(to_db_time(now)),
        ))
        .returning(JobRow::as_returning())
        .get_result(c)
        .optional()?);
    // The row as stored now; its skills did not change.
    let skills = job
        .skills_required
        .iter()
        .map(|s| s.as_str().to_string())
        .collect();
    updated.map(|row| row.into_domain(skills)).transpose()
}

/// Fills in the search key of jobs written before it existed, a batch at a
/// time; returns how many. Run at start, after the migrations.
pub fn backfill_customer_search(conn: &mut DbConn) -> StoreResult<usize> {
    let mut filled = 0;
    loop {
        let batch: Vec<(i64, String)> = on_backend!(conn, c => jobs::table
            .filter(jobs::customer_search.is_null())
            .select((jobs::id, jobs::customer))
            .limit(500)
            .load(c)?);
        if batch.is_empty() {
            return Ok(filled);
        }
        for (id, customer) in &batch {
            on_backend!(conn, c => diesel::update(jobs::table.filter(jobs::id.eq(id)))
                .set(jobs::customer_search.eq(search_key(customer)))
                .execute(c)?);
        }
        filled += batch.len();
    }
}

/// How many jobs exist.
pub fn count(conn: &mut DbConn) -> StoreResult<i64> {
    Ok(on_backend!(conn, c => jobs::table.count().get_result(c)?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn like_patterns_escape_wildcards() {
        assert_eq!(escape_like("Acme"), "%acme%");
        assert_eq!(escape_like("100%_x\\"), "%100\\%\\_x\\\\%");
    }
}
