//! Assignments: the hard rules of who holds which job.
//!
//! Every command here expects to run inside [`write_transaction`]
//! (crate::write_transaction). Lock order, to stay free of deadlocks on
//! PostgreSQL: technicians (ascending id), then jobs, then day counters.

use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};
use diesel::prelude::*;
use std::collections::{HashMap, HashSet};

use fieldopt_domain::{
    Actor, Assignment, AssignmentId, DayLoad, EventType, Job, JobEventKind, JobId, JobStatus,
    Technician, TechnicianId, Unfit, can_do, job_plan_changes, technician_plan_changes,
};

use crate::convert::{from_db_opt_time, from_db_time, int_to_db, to_db_time};
use crate::events::{self, NewEvent};
use crate::outbox::Change;
use crate::schema::{assignments, jobs};
use crate::workload::active_statuses;
use crate::{
    DbConn, Entity, Page, Paged, Stamp, StoreError, StoreResult, jobs as job_store, on_backend,
    technicians, workload,
};

#[derive(Debug, Queryable, Selectable)]
#[diesel(table_name = assignments)]
pub(crate) struct AssignmentRow {
    pub id: i64,
    pub job_id: i64,
    pub technician_id: i64,
    pub work_date: NaiveDate,
    pub assigned_at: NaiveDateTime,
    pub sequence: Option<i32>,
    pub estimated_arrival: Option<NaiveDateTime>,
    pub actor: Option<String>,
}

impl From<AssignmentRow> for Assignment {
    fn from(row: AssignmentRow) -> Self {
        Assignment {
            // An actor the domain refuses was written by hand; show none.
            actor: row.actor.and_then(|a| Actor::parse(a).ok()),
            id: AssignmentId(row.id),
            job_id: JobId(row.job_id),
            technician_id: TechnicianId(row.technician_id),
            assigned_at: from_db_time(row.assigned_at),
            sequence: row.sequence.and_then(|s| u32::try_from(s).ok()),
            estimated_arrival: from_db_opt_time(row.estimated_arrival),
        }
    }
}

/// Where a plan puts an assignment in the technician's day.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Placement {
    /// Position in the day, from 1.
    pub sequence: u32,
    /// Planned arrival.
    pub estimated_arrival: DateTime<Utc>,
}

/// An error about one job of a batch, naming the job.
fn in_batch(job: JobId, error: StoreError) -> StoreError {
    match error {
        StoreError::NotFound(Entity::Job) => StoreError::NotFoundInBatch(Entity::Job, job.0),
        StoreError::Conflict(message) => StoreError::Conflict(format!("Job {job}: {message}")),
        other => other,
    }
}

/// The live assignment row of a job, if any.
pub(crate) fn live_row(conn: &mut DbConn, job: JobId) -> StoreResult<Option<AssignmentRow>> {
    Ok(on_backend!(conn, c => assignments::table
        .filter(assignments::job_id.eq(job.0))
        .filter(assignments::ended_at.is_null())
        .select(AssignmentRow::as_select())
        .first(c)
        .optional()?))
}

pub(crate) fn set_work_date(conn: &mut DbConn, id: i64, date: NaiveDate) -> StoreResult<()> {
    on_backend!(conn, c => diesel::update(assignments::table.filter(assignments::id.eq(id)))
        .set(assignments::work_date.eq(date))
        .execute(c)?);
    Ok(())
}

pub(crate) fn end_live_assignment(conn: &mut DbConn, job: JobId, stamp: &Stamp) -> StoreResult<()> {
    let ended: Vec<AssignmentRow> = on_backend!(conn, c => diesel::update(
            assignments::table
                .filter(assignments::job_id.eq(job.0))
                .filter(assignments::ended_at.is_null()),
        )
        .set(assignments::ended_at.eq(to_db_time(stamp.at)))
        .returning(AssignmentRow::as_returning())
        .get_results(c)?);
    for row in ended {
        stamp.record(Change::Assignment(EventType::AssignmentEnded, row.into()));
    }
    Ok(())
}

fn insert(
    conn: &mut DbConn,
    job: JobId,
    tech: TechnicianId,
    work_date: NaiveDate,
    stamp: &Stamp,
    placement: Option<Placement>,
) -> StoreResult<Assignment> {
    let row: AssignmentRow = on_backend!(conn, c => diesel::insert_into(assignments::table)
        .values((
            assignments::job_id.eq(job.0),
            assignments::technician_id.eq(tech.0),
            assignments::work_date.eq(work_date),
            assignments::assigned_at.eq(to_db_time(stamp.at)),
            assignments::sequence.eq(placement.map(|p| int_to_db(p.sequence))),
            assignments::estimated_arrival.eq(placement.map(|p| to_db_time(p.estimated_arrival))),
            assignments::actor.eq(stamp.actor.as_str()),
        ))
        .returning(AssignmentRow::as_returning())
        .get_result(c)?);
    let assignment: Assignment = row.into();
    stamp.record(Change::Assignment(
        EventType::AssignmentCreated,
        assignment.clone(),
    ));
    Ok(assignment)
}

/// Refuses a technician that fails a soft rule, unless `force`. Capacity is
/// left to the hard rule ([`workload::reserve`]), which force never skips.
fn check_soft_rules(job: &Job, tech: &Technician, load: DayLoad, force: bool) -> StoreResult<()> {
    if force {
        return Ok(());
    }
    let answer = can_do::evaluate(job, tech, load);
    let reasons: Vec<String> = answer
        .failures
        .iter()
        .filter(|f| !matches!(f, Unfit::AtCapacity { .. }))
        .map(ToString::to_string)
        .collect();
    if reasons.is_empty() {
        Ok(())
    } else {
        Err(StoreError::Conflict(format!(
            "Technician cannot do this job: {}",
            reasons.join("; ")
        )))
    }
}

fn require_pending(job: &Job) -> StoreResult<()> {
    match (job.status, job.assigned_technician) {
        (JobStatus::Pending, _) => Ok(()),
        (JobStatus::Assigned, Some(tech)) => Err(StoreError::Conflict(format!(
            "Job is already assigned to technician {tech}"
        ))),
        (status, _) => Err(StoreError::Conflict(format!(
            "Job is {status}; only pending jobs can be assigned"
        ))),
    }
}

/// Gives a pending job to a locked technician: job state, capacity, row,
/// but not history or automatic status, which callers record. Returns the
/// assignment and the job as it is now.
fn give(
    conn: &mut DbConn,
    job: &Job,
    tech: TechnicianId,
    stamp: &Stamp,
    placement: Option<Placement>,
) -> StoreResult<(Assignment, Job)> {
    let Some(assigned) = job_store::set_assignment_state(
        conn,
        job,
        JobStatus::Pending,
        JobStatus::Assigned,
        Some(tech),
        stamp.at,
    )?
    else {
        return Err(StoreError::conflict("Job is no longer pending"));
    };
    let work_date = job.work_date(stamp.at.date_naive());
    workload::reserve(conn, tech, work_date)?;
    let assignment = insert(conn, job.id, tech, work_date, stamp, placement)?;
    Ok((assignment, assigned))
}

fn record_assigned(
    conn: &mut DbConn,
    job: JobId,
    tech: TechnicianId,
    stamp: &Stamp,
) -> StoreResult<()> {
    let mut event = NewEvent::new(
        job,
        stamp,
        JobEventKind::Assigned,
        Some(JobStatus::Pending),
        JobStatus::Assigned,
    );
    event.technician_id = Some(tech);
    events::record(conn, event)
}

/// Assigns a pending job to a technician under the hard rules; soft rules
/// (can-do) too unless `force`.
pub fn assign(
    conn: &mut DbConn,
    job_id: JobId,
    tech_id: TechnicianId,
    force: bool,
    stamp: &Stamp,
) -> StoreResult<Assignment> {
    technicians::lock(conn, tech_id)?;
    let tech = technicians::find(conn, tech_id)?;
    let job = job_store::find(conn, job_id)?;
    require_pending(&job)?;
    let load = workload::day_load(
        conn,
        tech_id,
        job.work_date(stamp.at.date_naive()),
        Some(job_id),
    )?;
    check_soft_rules(&job, &tech, load, force)?;
    let (assignment, assigned) = give(conn, &job, tech_id, stamp, None)?;
    record_assigned(conn, job_id, tech_id, stamp)?;
    stamp.record(Change::JobState(EventType::JobStatusChanged, assigned));
    technicians::refresh_automatic_status(conn, tech_id, Some(&tech), stamp)?;
    Ok(assignment)
}

/// Assigns every job or none; the error names the job that failed.
pub fn batch_assign(
    conn: &mut DbConn,
    job_ids: &[JobId],
    tech_id: TechnicianId,
    force: bool,
    stamp: &Stamp,
) -> StoreResult<Vec<Assignment>> {
    assign_placed(
        conn,
        tech_id,
        job_ids.iter().map(|&id| (id, None)).collect(),
        force,
        stamp,
    )
}

/// Assigns jobs (each with an optional place in the day) to one technician,
/// all or nothing. Jobs are taken in ascending id order.
pub fn assign_placed(
    conn: &mut DbConn,
    tech_id: TechnicianId,
    mut jobs_in_order: Vec<(JobId, Option<Placement>)>,
    force: bool,
    stamp: &Stamp,
) -> StoreResult<Vec<Assignment>> {
    technicians::lock(conn, tech_id)?;
    let tech = technicians::find(conn, tech_id)?;
    jobs_in_order.sort_by_key(|(id, _)| *id);
    let ids: Vec<JobId> = jobs_in_order.iter().map(|(id, _)| *id).collect();
    let found = job_store::find_many(conn, &ids)?;
    let today = stamp.at.date_naive();
    let mut loads = std::collections::HashMap::<NaiveDate, DayLoad>::new();
    let mut created = Vec::with_capacity(ids.len());
    for (job_id, placement) in jobs_in_order {
        let job = found
            .iter()
            .find(|j| j.id == job_id)
            .ok_or_else(|| in_batch(job_id, StoreError::NotFound(Entity::Job)))?;
        require_pending(job).map_err(|e| in_batch(job_id, e))?;
        let date = job.work_date(today);
        let load = match loads.get(&date) {
            Some(load) => *load,
            None => workload::day_load(conn, tech_id, date, None)?,
        };
        check_soft_rules(job, &tech, load, force).map_err(|e| in_batch(job_id, e))?;
        let (assignment, assigned) =
            give(conn, job, tech_id, stamp, placement).map_err(|e| in_batch(job_id, e))?;
        created.push(assignment);
        record_assigned(conn, job_id, tech_id, stamp)?;
        stamp.record(Change::JobState(EventType::JobStatusChanged, assigned));
        loads.insert(
            date,
            DayLoad {
                active_jobs: load.active_jobs + 1,
                active_minutes: load.active_minutes + job.duration.get(),
            },
        );
    }
    technicians::refresh_automatic_status(conn, tech_id, Some(&tech), stamp)?;
    Ok(created)
}

/// Takes an assigned job back from its (locked) technician; returns the
/// technician and the job as it is now.
fn take_back(conn: &mut DbConn, job: &Job, stamp: &Stamp) -> StoreResult<(TechnicianId, Job)> {
    let live = live_row(conn, job.id)?
        .ok_or_else(|| StoreError::Corrupt(format!("assigned job {} has no assignment", job.id)))?;
    let tech = TechnicianId(live.technician_id);
    let Some(pending) = job_store::set_assignment_state(
        conn,
        job,
        JobStatus::Assigned,
        JobStatus::Pending,
        None,
        stamp.at,
    )?
    else {
        return Err(StoreError::conflict(
            "Job was changed by another request; retry",
        ));
    };
    workload::release(conn, tech, live.work_date)?;
    end_live_assignment(conn, job.id, stamp)?;
    Ok((tech, pending))
}

fn require_assigned(job: &Job) -> StoreResult<()> {
    if job.status == JobStatus::Assigned {
        Ok(())
    } else {
        Err(StoreError::Conflict(format!(
            "Job is {}; only assigned jobs can be unassigned",
            job.status
        )))
    }
}

/// Unassigns an assigned job: it becomes pending again.
pub fn unassign(conn: &mut DbConn, job_id: JobId, stamp: &Stamp) -> StoreResult<()> {
    batch_unassign(conn, &[job_id], stamp)
        .map(drop)
        .map_err(|error| match error {
            StoreError::Conflict(message) => {
                let prefix = format!("Job {job_id}: ");
                StoreError::Conflict(
                    message
                        .strip_prefix(&prefix)
                        .unwrap_or(&message)
                        .to_string(),
                )
            }
            StoreError::NotFoundInBatch(entity, _) => StoreError::NotFound(entity),
            other => other,
        })
}

/// Unassigns every job or none; each must be `assigned`.
pub fn batch_unassign(
    conn: &mut DbConn,
    job_ids: &[JobId],
    stamp: &Stamp,
) -> StoreResult<Vec<JobId>> {
    let mut ids = job_ids.to_vec();
    ids.sort();
    let before = job_store::find_many(conn, &ids)?;
    if let Some(missing) = ids.iter().find(|id| !before.iter().any(|j| j.id == **id)) {
        return Err(in_batch(*missing, StoreError::NotFound(Entity::Job)));
    }
    let mut techs: Vec<TechnicianId> = before
        .iter()
        .filter_map(|j| j.assigned_technician)
        .collect();
    techs.sort();
    techs.dedup();
    for tech in &techs {
        // A technician deleted meanwhile holds no active job: nothing to lock.
        match technicians::lock(conn, *tech) {
            Ok(()) | Err(StoreError::NotFound(_)) => {}
            Err(other) => return Err(other),
        }
    }
    let current = job_store::find_many(conn, &ids)?;
    let mut touched = Vec::new();
    for job in &current {
        require_assigned(job).map_err(|e| in_batch(job.id, e))?;
        if job.assigned_technician.is_some_and(|t| !techs.contains(&t)) {
            return Err(in_batch(
                job.id,
                StoreError::conflict("Job was reassigned concurrently; retry"),
            ));
        }
        let (tech, pending) = take_back(conn, job, stamp)?;
        touched.push(tech);
        stamp.record(Change::JobState(EventType::JobStatusChanged, pending));
        let mut event = NewEvent::new(
            job.id,
            stamp,
            JobEventKind::Unassigned,
            Some(JobStatus::Assigned),
            JobStatus::Pending,
        );
        event.technician_id = job.assigned_technician;
        events::record(conn, event)?;
    }
    touched.sort();
    touched.dedup();
    for tech in touched {
        technicians::refresh_automatic_status(conn, tech, None, stamp)?;
    }
    Ok(ids)
}

/// Moves an assigned job to another technician, who passes the same checks
/// as an assignment.
pub fn reassign(
    conn: &mut DbConn,
    job_id: JobId,
    new_tech: TechnicianId,
    force: bool,
    stamp: &Stamp,
) -> StoreResult<Assignment> {
    let job = job_store::find(conn, job_id)?;
    require_reassignable(&job, new_tech)?;
    let old_tech = job
        .assigned_technician
        .ok_or_else(|| StoreError::conflict("Job has no technician"))?;
    let (first, second) = if old_tech < new_tech {
        (old_tech, new_tech)
    } else {
        (new_tech, old_tech)
    };
    technicians::lock(conn, first)?;
    technicians::lock(conn, second)?;
    let tech = technicians::find(conn, new_tech)?;
    let job = job_store::find(conn, job_id)?;
    require_reassignable(&job, new_tech)?;
    if job.assigned_technician != Some(old_tech) {
        return Err(StoreError::conflict(
            "Job was reassigned concurrently; retry",
        ));
    }
    let load = workload::day_load(
        conn,
        new_tech,
        job.work_date(stamp.at.date_naive()),
        Some(job_id),
    )?;
    check_soft_rules(&job, &tech, load, force)?;
    let (_, pending) = take_back(conn, &job, stamp)?;
    let (assignment, moved) = give(conn, &pending, new_tech, stamp, None)?;
    let mut event = NewEvent::new(
        job_id,
        stamp,
        JobEventKind::Reassigned,
        Some(JobStatus::Assigned),
        JobStatus::Assigned,
    );
    event.technician_id = Some(new_tech);
    event.previous_technician_id = Some(old_tech);
    events::record(conn, event)?;
    // Its status went back and forth; what changed is its technician.
    stamp.record(Change::JobState(EventType::JobUpdated, moved));
    technicians::refresh_automatic_status(conn, old_tech, None, stamp)?;
    technicians::refresh_automatic_status(conn, new_tech, Some(&tech), stamp)?;
    Ok(assignment)
}

fn require_reassignable(job: &Job, new_tech: TechnicianId) -> StoreResult<()> {
    if job.status != JobStatus::Assigned {
        return Err(StoreError::Conflict(format!(
            "Job is {}; only assigned jobs can be reassigned",
            job.status
        )));
    }
    if job.assigned_technician == Some(new_tech) {
        return Err(StoreError::conflict(
            "Job is already assigned to that technician",
        ));
    }
    Ok(())
}

/// A live technician's assignments of active jobs, by day, then sequence,
/// then assignment time.
pub fn for_technician(
    conn: &mut DbConn,
    tech: TechnicianId,
    date: Option<NaiveDate>,
    page: Page,
) -> StoreResult<Paged<Assignment>> {
    technicians::find(conn, tech)?;
    let (rows, total): (Vec<AssignmentRow>, i64) = on_backend!(conn, c => {
        let filtered = || {
            let mut query = assignments::table
                .inner_join(jobs::table)
                .filter(assignments::technician_id.eq(tech.0))
                .filter(assignments::ended_at.is_null())
                .filter(jobs::status.eq_any(active_statuses()))
                .into_boxed();
            if let Some(date) = date {
                query = query.filter(assignments::work_date.eq(date));
            }
            query
        };
        let rows: Vec<_> = filtered()
            .order((
                assignments::work_date,
                assignments::sequence.is_null(),
                assignments::sequence,
                assignments::assigned_at,
                assignments::id,
            ))
            .limit(page.limit)
            .offset(page.offset)
            .select(AssignmentRow::as_select())
            .load(c)?;
        let total = match page.known_total(rows.len()) {
            Some(total) => total,
            None => filtered().count().get_result(c)?,
        };
        (rows, total)
    });
    Ok(Paged {
        items: rows.into_iter().map(Assignment::from).collect(),
        total,
    })
}

/// An assignment by id, live or ended, with whether it has ended;
/// `NotFound(Assignment)` if there is none.
pub fn find(conn: &mut DbConn, id: AssignmentId) -> StoreResult<(Assignment, bool)> {
    let row: Option<(AssignmentRow, Option<NaiveDateTime>)> = on_backend!(conn, c => assignments::table
        .filter(assignments::id.eq(id.0))
        .select((AssignmentRow::as_select(), assignments::ended_at))
        .first(c)
        .optional()?);
    row.map(|(row, ended)| (row.into(), ended.is_some()))
        .ok_or(StoreError::NotFound(Entity::Assignment))
}

/// A job's live assignment: `NotFound(Job)` for an unknown job,
/// `NotFound(Assignment)` when it has none.
pub fn for_job(conn: &mut DbConn, job: JobId) -> StoreResult<Assignment> {
    job_store::find(conn, job)?;
    live_row(conn, job)?
        .map(Assignment::from)
        .ok_or(StoreError::NotFound(Entity::Assignment))
}

/// Sets the place of a job's live assignment in its technician's day.
/// Conflict if the job is no longer assigned to `tech`.
pub fn set_placement(
    conn: &mut DbConn,
    job: JobId,
    tech: TechnicianId,
    placement: Placement,
) -> StoreResult<()> {
    let updated = on_backend!(conn, c => diesel::update(
            assignments::table
                .filter(assignments::job_id.eq(job.0))
                .filter(assignments::technician_id.eq(tech.0))
                .filter(assignments::ended_at.is_null()),
        )
        .set((
            assignments::sequence.eq(Some(int_to_db(placement.sequence))),
            assignments::estimated_arrival.eq(Some(to_db_time(placement.estimated_arrival))),
        ))
        .execute(c)?);
    if updated == 0 {
        return Err(StoreError::Conflict(format!(
            "Job {job}: no longer assigned to technician {tech}; plan again"
        )));
    }
    Ok(())
}

/// One technician's planned day: new jobs to assign and jobs it already
/// holds, each with its place.
#[derive(Debug, Clone)]
pub struct PlannedDay {
    /// The technician.
    pub technician: TechnicianId,
    /// Pending jobs to assign, with their places.
    pub new_jobs: Vec<(JobId, Placement)>,
    /// Jobs the technician already holds, with their new places.
    pub kept_jobs: Vec<(JobId, Placement)>,
}

/// What a plan was computed from.
#[derive(Debug, Clone, Copy)]
pub struct PlanBasis<'a> {
    /// The technicians as they were loaded.
    pub technicians: &'a [Technician],
    /// The jobs (pending and already assigned) as they were loaded.
    pub jobs: &'a [Job],
}

/// Locks every technician and job the plan places and refuses (409,
/// naming what changed) when one changed since `basis` in a way the plan
/// depends on.
fn check_unchanged(
    conn: &mut DbConn,
    days: &[PlannedDay],
    basis: &PlanBasis<'_>,
) -> StoreResult<()> {
    let changed = |what: String, fields: &[&str]| {
        StoreError::Conflict(format!(
            "{what} changed while the plan was computed ({}); nothing was written, plan again",
            fields.join(", ")
        ))
    };
    let tech_ids: Vec<TechnicianId> = days.iter().map(|d| d.technician).collect();
    technicians::lock_all(conn, &tech_ids).map_err(|error| match error {
        StoreError::NotFoundInBatch(_, id) => changed(format!("Technician {id}"), &["deleted"]),
        other => other,
    })?;
    for id in &tech_ids {
        let now = technicians::find(conn, *id)?;
        if let Some(planned) = basis.technicians.iter().find(|t| t.id == *id) {
            let fields = technician_plan_changes(planned, &now);
            if !fields.is_empty() {
                return Err(changed(format!("Technician {id}"), &fields));
            }
        }
    }
    let job_ids: Vec<JobId> = days
        .iter()
        .flat_map(|d| d.new_jobs.iter().chain(&d.kept_jobs).map(|(job, _)| *job))
        .collect();
    job_store::lock_many(conn, &job_ids)?;
    let now: HashMap<JobId, Job> = job_store::find_many(conn, &job_ids)?
        .into_iter()
        .map(|job| (job.id, job))
        .collect();
    let placed: HashSet<JobId> = job_ids.iter().copied().collect();
    for planned in basis.jobs.iter().filter(|j| placed.contains(&j.id)) {
        let fields = match now.get(&planned.id) {
            Some(now) => job_plan_changes(planned, now),
            None => vec!["deleted"],
        };
        if !fields.is_empty() {
            return Err(changed(format!("Job {}", planned.id), &fields));
        }
    }
    Ok(())
}

/// Writes a day plan computed from `basis`: every new assignment under the
/// hard rules (soft rules were checked by the planner), every place
/// updated. All or nothing; a conflict, naming what changed, when anything
/// the plan used changed since.
pub fn apply_plan(
    conn: &mut DbConn,
    days: &[PlannedDay],
    basis: &PlanBasis<'_>,
    stamp: &Stamp,
) -> StoreResult<usize> {
    check_unchanged(conn, days, basis)?;
    let mut days: Vec<&PlannedDay> = days.iter().collect();
    days.sort_by_key(|day| day.technician);
    let mut created = 0;
    for day in days {
        let new_jobs = day
            .new_jobs
            .iter()
            .map(|(job, place)| (*job, Some(*place)))
            .collect();
        created += assign_placed(conn, day.technician, new_jobs, true, stamp)?.len();
        for (job, place) in &day.kept_jobs {
            set_placement(conn, *job, day.technician, *place)?;
        }
    }
    Ok(created)
}
