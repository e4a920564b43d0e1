//! Job history.

use chrono::{DateTime, NaiveDateTime, Utc};
use diesel::prelude::*;
use fieldopt_domain::{Actor, JobEvent, JobEventKind, JobId, JobStatus, Reason, TechnicianId};

use crate::convert::{Stamp, from_db_time, parse_opt, to_db_time};
use crate::schema::job_events;
use crate::{DbConn, Page, Paged, StoreResult, on_backend};

/// An event to record.
#[derive(Debug, Clone)]
pub(crate) struct NewEvent {
    pub job_id: JobId,
    pub at: DateTime<Utc>,
    pub kind: JobEventKind,
    pub old_status: Option<JobStatus>,
    pub new_status: JobStatus,
    pub technician_id: Option<TechnicianId>,
    pub previous_technician_id: Option<TechnicianId>,
    pub reason: Option<Reason>,
    pub actor: Actor,
}

impl NewEvent {
    pub(crate) fn new(
        job_id: JobId,
        stamp: &Stamp,
        kind: JobEventKind,
        old_status: Option<JobStatus>,
        new_status: JobStatus,
    ) -> Self {
        Self {
            job_id,
            at: stamp.at,
            kind,
            old_status,
            new_status,
            technician_id: None,
            previous_technician_id: None,
            reason: None,
            actor: stamp.actor.clone(),
        }
    }
}

pub(crate) fn record(conn: &mut DbConn, event: NewEvent) -> StoreResult<()> {
    on_backend!(conn, c => diesel::insert_into(job_events::table)
        .values((
            job_events::job_id.eq(event.job_id.0),
            job_events::at.eq(to_db_time(event.at)),
            job_events::kind.eq(event.kind.as_str()),
            job_events::old_status.eq(event.old_status.map(JobStatus::as_str)),
            job_events::new_status.eq(event.new_status.as_str()),
            job_events::technician_id.eq(event.technician_id.map(|t| t.0)),
            job_events::previous_technician_id.eq(event.previous_technician_id.map(|t| t.0)),
            job_events::reason.eq(event.reason.as_ref().map(Reason::as_str)),
            job_events::actor.eq(event.actor.as_str()),
        ))
        .execute(c)?);
    Ok(())
}

type EventRow = (
    i64,
    i64,
    NaiveDateTime,
    String,
    Option<String>,
    String,
    Option<i64>,
    Option<i64>,
    Option<String>,
    Option<String>,
);

/// One page of a job's events, in time order. The caller checks that the
/// job exists.
pub fn for_job(conn: &mut DbConn, job_id: JobId, page: Page) -> StoreResult<Paged<JobEvent>> {
    let (rows, total): (Vec<EventRow>, i64) = on_backend!(conn, c => {
        let rows: Vec<EventRow> = job_events::table
        .filter(job_events::job_id.eq(job_id.0))
        .order(job_events::id)
        .limit(page.limit)
        .offset(page.offset)
        .select((
            job_events::id,
            job_events::job_id,
            job_events::at,
            job_events::kind,
            job_events::old_status,
            job_events::new_status,
            job_events::technician_id,
            job_events::previous_technician_id,
            job_events::reason,
            job_events::actor,
        ))
        .load(c)?;
        let total = match page.known_total(rows.len()) {
            Some(total) => total,
            None => job_events::table
                .filter(job_events::job_id.eq(job_id.0))
                .count()
                .get_result(c)?,
        };
        (rows, total)
    });
    let items = rows
        .into_iter()
        .map(
            |(id, job_id, at, kind, old, new, tech, previous, reason, actor)| {
                Ok(JobEvent {
                    id,
                    job_id: JobId(job_id),
                    at: from_db_time(at),
                    kind: kind.parse()?,
                    old_status: old.map(|s| s.parse()).transpose()?,
                    new_status: new.parse()?,
                    technician_id: tech.map(TechnicianId),
                    previous_technician_id: previous.map(TechnicianId),
                    reason: parse_opt(reason, Reason::parse)?,
                    actor: parse_opt(actor, Actor::parse)?,
                })
            },
        )
        .collect::<StoreResult<Vec<JobEvent>>>()?;
    Ok(Paged { items, total })
}
