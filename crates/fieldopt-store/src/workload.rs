//! Technicians' active work per day, and the capacity rule.
//!
//! `technician_day_loads` holds one counter per technician and day. The
//! capacity rule is a conditional increment of that counter inside the
//! caller's write transaction, so two concurrent assignments can never both
//! take the last place: the second one's `UPDATE` sees the first's result
//! (row lock on PostgreSQL, the database write lock on SQLite) and matches
//! no row.

use std::collections::HashMap;

use chrono::NaiveDate;
use diesel::prelude::*;
use fieldopt_domain::{DayLoad, JobId, JobStatus, TechnicianId};

use crate::convert::count_to_u32;
use crate::schema::{assignments, jobs, technician_day_loads, technicians};
use crate::{DbConn, StoreError, StoreResult, on_backend};

/// The detail of the 409 when a technician's day is full.
pub const CAPACITY_FULL: &str = "Technician already has maximum capacity";

pub(crate) fn active_statuses() -> [&'static str; 2] {
    [JobStatus::Assigned.as_str(), JobStatus::InProgress.as_str()]
}

/// Active jobs of a technician on one day (the counter).
pub fn active_jobs_on(conn: &mut DbConn, id: TechnicianId, date: NaiveDate) -> StoreResult<u32> {
    let count: Option<i32> = on_backend!(conn, c => technician_day_loads::table
        .filter(technician_day_loads::technician_id.eq(id.0))
        .filter(technician_day_loads::work_date.eq(date))
        .select(technician_day_loads::active_jobs)
        .first(c)
        .optional()?);
    Ok(count_to_u32(count.unwrap_or(0).into()))
}

/// Active jobs of a technician over all days.
pub fn active_jobs_total(conn: &mut DbConn, id: TechnicianId) -> StoreResult<u32> {
    let count: i64 = on_backend!(conn, c => jobs::table
        .filter(jobs::technician_id.eq(id.0))
        .filter(jobs::status.eq_any(active_statuses()))
        .count()
        .get_result(c)?);
    Ok(count_to_u32(count))
}

/// Count and minutes of a technician's active jobs on `date`, leaving out
/// `except` (the job being checked, when it is already this technician's).
pub fn day_load(
    conn: &mut DbConn,
    id: TechnicianId,
    date: NaiveDate,
    except: Option<JobId>,
) -> StoreResult<DayLoad> {
    let minutes: Vec<i32> = on_backend!(conn, c => assignments::table
        .inner_join(jobs::table)
        .filter(assignments::technician_id.eq(id.0))
        .filter(assignments::ended_at.is_null())
        .filter(assignments::work_date.eq(date))
        .filter(jobs::status.eq_any(active_statuses()))
        .filter(jobs::id.ne(except.map_or(0, |j| j.0)))
        .select(jobs::duration_minutes)
        .load(c)?);
    Ok(DayLoad {
        active_jobs: count_to_u32(minutes.len() as i64),
        active_minutes: count_to_u32(minutes.iter().map(|&m| i64::from(m)).sum()),
    })
}

/// Day loads of every technician with active work on `date`.
pub fn day_loads_on(
    conn: &mut DbConn,
    date: NaiveDate,
    except: Option<JobId>,
) -> StoreResult<HashMap<TechnicianId, DayLoad>> {
    let rows: Vec<(i64, i32)> = on_backend!(conn, c => assignments::table
        .inner_join(jobs::table)
        .filter(assignments::ended_at.is_null())
        .filter(assignments::work_date.eq(date))
        .filter(jobs::status.eq_any(active_statuses()))
        .filter(jobs::id.ne(except.map_or(0, |j| j.0)))
        .select((assignments::technician_id, jobs::duration_minutes))
        .load(c)?);
    let mut loads: HashMap<TechnicianId, DayLoad> = HashMap::new();
    for (tech, minutes) in rows {
        let load = loads.entry(TechnicianId(tech)).or_default();
        load.active_jobs += 1;
        load.active_minutes += count_to_u32(minutes.into());
    }
    Ok(loads)
}

/// Takes one place in the technician's day, or fails with a 409 when the day
/// is at capacity. Must run inside a write transaction.
pub(crate) fn reserve(conn: &mut DbConn, id: TechnicianId, date: NaiveDate) -> StoreResult<()> {
    let taken = on_backend!(conn, c => {
        diesel::insert_into(technician_day_loads::table)
            .values((
                technician_day_loads::technician_id.eq(id.0),
                technician_day_loads::work_date.eq(date),
                technician_day_loads::active_jobs.eq(0),
            ))
            .on_conflict((technician_day_loads::technician_id, technician_day_loads::work_date))
            .do_nothing()
            .execute(c)?;
        let capacity = technicians::table
            .filter(technicians::id.eq(id.0))
            .filter(technicians::deleted_at.is_null())
            .select(technicians::capacity)
            .single_value();
        diesel::update(
            technician_day_loads::table
                .filter(technician_day_loads::technician_id.eq(id.0))
                .filter(technician_day_loads::work_date.eq(date))
                .filter(technician_day_loads::active_jobs.nullable().lt(capacity)),
        )
        .set(technician_day_loads::active_jobs.eq(technician_day_loads::active_jobs + 1))
        .execute(c)?
    });
    if taken == 0 {
        return Err(StoreError::conflict(CAPACITY_FULL));
    }
    Ok(())
}

/// Gives back one place in the technician's day.
pub(crate) fn release(conn: &mut DbConn, id: TechnicianId, date: NaiveDate) -> StoreResult<()> {
    on_backend!(conn, c => diesel::update(
            technician_day_loads::table
                .filter(technician_day_loads::technician_id.eq(id.0))
                .filter(technician_day_loads::work_date.eq(date))
                .filter(technician_day_loads::active_jobs.gt(0)),
        )
        .set(technician_day_loads::active_jobs.eq(technician_day_loads::active_jobs - 1))
        .execute(c)?);
    Ok(())
}

/// Every (technician, day) whose counter differs from the active jobs
/// actually held: empty unless an invariant broke. Used by tests.
pub fn counter_mismatches(
    conn: &mut DbConn,
) -> StoreResult<Vec<(TechnicianId, NaiveDate, u32, u32)>> {
    let counters: Vec<(i64, NaiveDate, i32)> = on_backend!(conn, c => technician_day_loads::table
        .select((
            technician_day_loads::technician_id,
            technician_day_loads::work_date,
            technician_day_loads::active_jobs,
        ))
        .load(c)?);
    let live: Vec<(i64, NaiveDate)> = on_backend!(conn, c => assignments::table
        .inner_join(jobs::table)
        .filter(assignments::ended_at.is_null())
        .filter(jobs::status.eq_any(active_statuses()))
        .select((assignments::technician_id, assignments::work_date))
        .load(c)?);
    let mut actual: HashMap<(i64, NaiveDate), u32> = HashMap::new();
    for key in live {
        *actual.entry(key).or_default() += 1;
    }
    let mut mismatches = Vec::new();
    for (tech, date, counted) in counters {
        let held = actual.remove(&(tech, date)).unwrap_or(0);
        let counted = count_to_u32(counted.into());
        if held != counted {
            mismatches.push((TechnicianId(tech), date, counted, held));
        }
    }
    for ((tech, date), held) in actual {
        mismatches.push((TechnicianId(tech), date, 0, held));
    }
    Ok(mismatches)
}
