//! Checking a whole database against the data invariants of
//! `docs/ARCHITECTURE.md`, inside one consistent snapshot.
//!
//! [`check`] reads every table it needs in a single read-only snapshot
//! transaction ([`snapshot_transaction`](crate::snapshot_transaction)), so
//! a check of a live database sees one committed state, never half of a
//! concurrent write. It returns every finding: violations (a broken
//! invariant: a bug, a manual edit, a damaged file) and notes (legitimate
//! but worth knowing, such as a day over a capacity that was lowered after
//! its jobs were assigned). Memory grows with the number of jobs,
//! assignments and history events: the rows are compared in memory so the
//! same code runs on both backends.

use std::collections::{BTreeMap, HashMap};
use std::fmt;

use chrono::NaiveDate;
use diesel::dsl::not;
use diesel::prelude::*;
use fieldopt_domain::{JobEventKind, JobStatus};

use crate::schema::{
    assignments, job_events, job_skills, jobs, technician_areas, technician_day_loads,
    technician_skills, technicians,
};
use crate::{DbConn, StoreResult, on_backend, snapshot_transaction, workload};

/// What kind of finding; the text form (`as_str`) is stable, for scripts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Kind {
    /// A day counter differs from the live assignments of active jobs.
    CounterMismatch,
    /// A job has more than one live assignment.
    TwoLiveAssignments,
    /// A job that should have a live assignment has none.
    MissingAssignment,
    /// A pending or cancelled job still has a live assignment.
    StrayAssignment,
    /// A job names another technician than its live assignment, or a
    /// pending job names one at all.
    TechnicianMismatch,
    /// A live assignment counts on another day than its job is scheduled.
    WorkDateMismatch,
    /// `started_at` / `completed_at` disagree with the status.
    TimestampMismatch,
    /// The job's history does not lead to its status (or is missing).
    HistoryMismatch,
    /// A deleted technician still holds an active job.
    DeletedTechnicianHoldsWork,
    /// A row refers to a job or technician that does not exist.
    Orphan,
    /// A row holds a value the domain refuses (unknown status...).
    BadValue,
    /// A day holds more active jobs than the technician's capacity: the
    /// capacity was lowered after the jobs were assigned (a note), since
    /// the store never assigns beyond it.
    OverCapacity,
}

impl Kind {
    /// The stable name, e.g. `counter_mismatch`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Kind::CounterMismatch => "counter_mismatch",
            Kind::TwoLiveAssignments => "two_live_assignments",
            Kind::MissingAssignment => "missing_assignment",
            Kind::StrayAssignment => "stray_assignment",
            Kind::TechnicianMismatch => "technician_mismatch",
            Kind::WorkDateMismatch => "work_date_mismatch",
            Kind::TimestampMismatch => "timestamp_mismatch",
            Kind::HistoryMismatch => "history_mismatch",
            Kind::DeletedTechnicianHoldsWork => "deleted_technician_holds_work",
            Kind::Orphan => "orphan",
            Kind::BadValue => "bad_value",
            Kind::OverCapacity => "over_capacity",
        }
    }

    /// Whether this kind is a note rather than a violation.
    pub const fn is_note(self) -> bool {
        matches!(self, Kind::OverCapacity)
    }
}

/// One thing found wrong (or worth noting), with a sentence naming ids.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Finding {
    /// What kind.
    pub kind: Kind,
    /// A sentence naming the rows, e.g. "job 7 is assigned but has no live
    /// assignment".
    pub detail: String,
}

impl fmt::Display for Finding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.kind.as_str(), self.detail)
    }
}

/// Everything a check found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Report {
    /// Broken invariants; a healthy database has none.
    pub violations: Vec<Finding>,
    /// Legitimate oddities (see [`Kind::is_note`]).
    pub notes: Vec<Finding>,
}

impl Report {
    /// Whether no invariant is broken.
    pub fn is_ok(&self) -> bool {
        self.violations.is_empty()
    }

    fn add(&mut self, kind: Kind, detail: String) {
        let finding = Finding { kind, detail };
        if kind.is_note() {
            self.notes.push(finding);
        } else {
            self.violations.push(finding);
        }
    }
}

struct JobRow {
    id: i64,
    status: Option<JobStatus>,
    raw_status: String,
    technician: Option<i64>,
    scheduled: Option<NaiveDate>,
    started: bool,
    completed: bool,
}

struct LiveAssignment {
    id: i64,
    technician: i64,
    work_date: NaiveDate,
}

/// Checks every data invariant in one consistent snapshot of the database.
pub fn check(conn: &mut DbConn) -> StoreResult<Report> {
    snapshot_transaction(conn, |conn| {
        let mut report = Report::default();
        check_orphans(conn, &mut report)?;
        let techs = load_technicians(conn)?;
        let jobs = load_jobs(conn, &mut report)?;
        let live = load_live_assignments(conn)?;
        check_counters(conn, &techs, &mut report)?;
        check_jobs(&jobs, &live, &techs, &mut report);
        check_history(conn, &jobs, &live, &mut report)?;
        report.violations.sort();
        report.notes.sort();
        Ok(report)
    })
}

/// (capacity, deleted) per technician id.
fn load_technicians(conn: &mut DbConn) -> StoreResult<HashMap<i64, (i32, bool)>> {
    let rows: Vec<(i64, i32, Option<chrono::NaiveDateTime>)> = on_backend!(conn, c => technicians::table
        .select((technicians::id, technicians::capacity, technicians::deleted_at))
        .load(c)?);
    Ok(rows
        .into_iter()
        .map(|(id, capacity, deleted)| (id, (capacity, deleted.is_some())))
        .collect())
}

fn load_jobs(conn: &mut DbConn, report: &mut Report) -> StoreResult<Vec<JobRow>> {
    type Row = (
        i64,
        String,
        Option<i64>,
        Option<NaiveDate>,
        Option<chrono::NaiveDateTime>,
        Option<chrono::NaiveDateTime>,
    );
    let rows: Vec<Row> = on_backend!(conn, c => jobs::table
        .order(jobs::id)
        .select((
            jobs::id,
            jobs::status,
            jobs::technician_id,
            jobs::scheduled_date,
            jobs::started_at,
            jobs::completed_at,
        ))
        .load(c)?);
    Ok(rows
        .into_iter()
        .map(
            |(id, raw_status, technician, scheduled, started, completed)| {
                let status = raw_status.parse::<JobStatus>().ok();
                if status.is_none() {
                    report.add(
                        Kind::BadValue,
                        format!("job {id} has the unknown status {raw_status:?}"),
                    );
                }
                JobRow {
                    id,
                    status,
                    raw_status,
                    technician,
                    scheduled,
                    started: started.is_some(),
                    completed: completed.is_some(),
                }
            },
        )
        .collect())
}

/// Live assignments by job.
fn load_live_assignments(conn: &mut DbConn) -> StoreResult<HashMap<i64, Vec<LiveAssignment>>> {
    let rows: Vec<(i64, i64, i64, NaiveDate)> = on_backend!(conn, c => assignments::table
        .filter(assignments::ended_at.is_null())
        .order(assignments::id)
        .select((
            assignments::id,
            assignments::job_id,
            assignments::technician_id,
            assignments::work_date,
        ))
        .load(c)?);
    let mut by_job: HashMap<i64, Vec<LiveAssignment>> = HashMap::new();
    for (id, job, technician, work_date) in rows {
        by_job.entry(job).or_default().push(LiveAssignment {
            id,
            technician,
            work_date,
        });
    }
    Ok(by_job)
}

/// Rows whose job or technician does not exist. Foreign keys prevent them
/// unless they were switched off (SQLite) or the file was damaged.
fn check_orphans(conn: &mut DbConn, report: &mut Report) -> StoreResult<()> {
    const SHOWN: i64 = 20;
    let orphans: Vec<(&str, Vec<(i64, i64)>)> = on_backend!(conn, c => vec![
        ("assignment", assignments::table
            .filter(not(assignments::job_id.eq_any(jobs::table.select(jobs::id))))
            .select((assignments::id, assignments::job_id))
            .limit(SHOWN)
            .load(c)?),
        ("history event", job_events::table
            .filter(not(job_events::job_id.eq_any(jobs::table.select(jobs::id))))
            .select((job_events::id, job_events::job_id))
            .limit(SHOWN)
            .load(c)?),
        ("skill row of job", job_skills::table
            .filter(not(job_skills::job_id.eq_any(jobs::table.select(jobs::id))))
            .select((job_skills::job_id, job_skills::job_id))
            .distinct()
            .limit(SHOWN)
            .load(c)?),
    ]);
    for (what, rows) in orphans {
        for (id, job) in rows {
            report.add(
                Kind::Orphan,
                format!("{what} {id} refers to job {job}, which does not exist"),
            );
        }
    }
    let orphans: Vec<(&str, Vec<(i64, i64)>)> = on_backend!(conn, c => vec![
        ("assignment", assignments::table
            .filter(not(assignments::technician_id.eq_any(technicians::table.select(technicians::id))))
            .select((assignments::id, assignments::technician_id))
            .limit(SHOWN)
            .load(c)?),
        ("job", jobs::table
            .filter(jobs::technician_id.is_not_null())
            .filter(not(jobs::technician_id.eq_any(technicians::table.select(technicians::id.nullable()))))
            .select((jobs::id, jobs::technician_id.assume_not_null()))
            .limit(SHOWN)
            .load(c)?),
        ("day counter of technician", technician_day_loads::table
            .filter(not(technician_day_loads::technician_id.eq_any(technicians::table.select(technicians::id))))
            .select((technician_day_loads::technician_id, technician_day_loads::technician_id))
            .distinct()
            .limit(SHOWN)
            .load(c)?),
        ("skill row of technician", technician_skills::table
            .filter(not(technician_skills::technician_id.eq_any(technicians::table.select(technicians::id))))
            .select((technician_skills::technician_id, technician_skills::technician_id))
            .distinct()
            .limit(SHOWN)
            .load(c)?),
        ("area row of technician", technician_areas::table
            .filter(not(technician_areas::technician_id.eq_any(technicians::table.select(technicians::id))))
            .select((technician_areas::technician_id, technician_areas::technician_id))
            .distinct()
            .limit(SHOWN)
            .load(c)?),
    ]);
    for (what, rows) in orphans {
        for (id, tech) in rows {
            report.add(
                Kind::Orphan,
                format!("{what} {id} refers to technician {tech}, which does not exist"),
            );
        }
    }
    Ok(())
}

/// Counters equal live rows ([`workload::counter_mismatches`]); counters
/// over capacity are notes.
fn check_counters(
    conn: &mut DbConn,
    techs: &HashMap<i64, (i32, bool)>,
    report: &mut Report,
) -> StoreResult<()> {
    for (tech, date, counted, held) in workload::counter_mismatches(conn)? {
        report.add(
            Kind::CounterMismatch,
            format!(
                "technician {tech} on {date}: the counter says {counted} active jobs, \
                 {held} live assignments of active jobs exist"
            ),
        );
    }
    let counters: Vec<(i64, NaiveDate, i32)> = on_backend!(conn, c => technician_day_loads::table
        .filter(technician_day_loads::active_jobs.gt(0))
        .select((
            technician_day_loads::technician_id,
            technician_day_loads::work_date,
            technician_day_loads::active_jobs,
        ))
        .load(c)?);
    for (tech, date, active) in counters {
        if let Some((capacity, _)) = techs.get(&tech)
            && active > *capacity
        {
            report.add(
                Kind::OverCapacity,
                format!(
                    "technician {tech} on {date} holds {active} active jobs, over its capacity \
                     of {capacity} (lowered after they were assigned?)"
                ),
            );
        }
    }
    Ok(())
}

/// A job's status against its live assignment, technician, day and
/// timestamps.
fn check_jobs(
    jobs: &[JobRow],
    live: &HashMap<i64, Vec<LiveAssignment>>,
    techs: &HashMap<i64, (i32, bool)>,
    report: &mut Report,
) {
    let none = Vec::new();
    for job in jobs {
        let id = job.id;
        let rows = live.get(&id).unwrap_or(&none);
        if rows.len() > 1 {
            let ids: Vec<String> = rows.iter().map(|a| a.id.to_string()).collect();
            report.add(
                Kind::TwoLiveAssignments,
                format!(
                    "job {id} has {} live assignments ({})",
                    rows.len(),
                    ids.join(", ")
                ),
            );
        }
        let Some(status) = job.status else { continue };
        let holds_assignment = matches!(
            status,
            JobStatus::Assigned | JobStatus::InProgress | JobStatus::Completed | JobStatus::Failed
        );
        match (holds_assignment, rows.first()) {
            (true, None) => report.add(
                Kind::MissingAssignment,
                format!("job {id} is {status} but has no live assignment"),
            ),
            (false, Some(a)) => report.add(
                Kind::StrayAssignment,
                format!(
                    "job {id} is {status} but assignment {} (technician {}) is still live",
                    a.id, a.technician
                ),
            ),
            (true, Some(a)) => {
                if job.technician != Some(a.technician) {
                    report.add(
                        Kind::TechnicianMismatch,
                        format!(
                            "job {id} names technician {} but its live assignment {} is \
                             technician {}",
                            job.technician
                                .map_or_else(|| "none".to_string(), |t| t.to_string()),
                            a.id,
                            a.technician
                        ),
                    );
                }
                if let Some(date) = job.scheduled
                    && date != a.work_date
                {
                    report.add(
                        Kind::WorkDateMismatch,
                        format!(
                            "job {id} is scheduled on {date} but its assignment {} counts on {}",
                            a.id, a.work_date
                        ),
                    );
                }
                if status.is_active() && techs.get(&a.technician).is_some_and(|(_, gone)| *gone) {
                    report.add(
                        Kind::DeletedTechnicianHoldsWork,
                        format!(
                            "technician {} is deleted but holds {status} job {id}",
                            a.technician
                        ),
                    );
                }
            }
            (false, None) => {}
        }
        if status == JobStatus::Pending
            && let Some(tech) = job.technician
        {
            report.add(
                Kind::TechnicianMismatch,
                format!("job {id} is pending but names technician {tech}"),
            );
        }
        let started_wanted = matches!(
            status,
            JobStatus::InProgress | JobStatus::Completed | JobStatus::Failed
        );
        let completed_wanted = matches!(status, JobStatus::Completed | JobStatus::Failed);
        let started_allowed = started_wanted || status == JobStatus::Cancelled;
        if (started_wanted && !job.started) || (job.started && !started_allowed) {
            report.add(
                Kind::TimestampMismatch,
                format!(
                    "job {id} is {status} but started_at is {}",
                    if job.started { "set" } else { "empty" }
                ),
            );
        }
        if completed_wanted != job.completed {
            report.add(
                Kind::TimestampMismatch,
                format!(
                    "job {id} is {status} but completed_at is {}",
                    if job.completed { "set" } else { "empty" }
                ),
            );
        }
    }
}

/// Every job's history starts with `created` and ends in its status; a job
/// holding an assignment was last given to that assignment's technician.
fn check_history(
    conn: &mut DbConn,
    jobs: &[JobRow],
    live: &HashMap<i64, Vec<LiveAssignment>>,
    report: &mut Report,
) -> StoreResult<()> {
    let events: Vec<(i64, String, String, Option<i64>)> = on_backend!(conn, c => job_events::table
        .order((job_events::job_id, job_events::id))
        .select((
            job_events::job_id,
            job_events::kind,
            job_events::new_status,
            job_events::technician_id,
        ))
        .load(c)?);
    struct Summary {
        first_kind: String,
        last_status: String,
        last_given_to: Option<Option<i64>>,
    }
    let mut by_job: BTreeMap<i64, Summary> = BTreeMap::new();
    let given = [
        JobEventKind::Assigned.as_str(),
        JobEventKind::Reassigned.as_str(),
    ];
    for (job, kind, new_status, technician) in events {
        let summary = by_job.entry(job).or_insert_with(|| Summary {
            first_kind: kind.clone(),
            last_status: String::new(),
            last_given_to: None,
        });
        if given.contains(&kind.as_str()) {
            summary.last_given_to = Some(technician);
        }
        summary.last_status = new_status;
    }
    for job in jobs {
        let id = job.id;
        let Some(summary) = by_job.get(&id) else {
            report.add(Kind::HistoryMismatch, format!("job {id} has no history"));
            continue;
        };
        if summary.first_kind != JobEventKind::Created.as_str() {
            report.add(
                Kind::HistoryMismatch,
                format!(
                    "job {id}'s history starts with {:?}, not \"created\"",
                    summary.first_kind
                ),
            );
        }
        if summary.last_status != job.raw_status {
            report.add(
                Kind::HistoryMismatch,
                format!(
                    "job {id} is {} but its history ends in {}",
                    job.raw_status, summary.last_status
                ),
            );
        }
        if let Some(assignment) = live.get(&id).and_then(|rows| rows.first())
            && summary.last_given_to != Some(Some(assignment.technician))
        {
            report.add(
                Kind::HistoryMismatch,
                format!(
                    "job {id}'s live assignment {} is technician {} but its history last gave \
                     it to {}",
                    assignment.id,
                    assignment.technician,
                    match summary.last_given_to {
                        Some(Some(tech)) => format!("technician {tech}"),
                        _ => "nobody".to_string(),
                    }
                ),
            );
        }
    }
    Ok(())
}
