//! Technicians: rows, queries and commands.

use std::collections::HashMap;

use chrono::{NaiveDate, NaiveDateTime};
use diesel::prelude::*;
use fieldopt_domain::{
    Area, Capacity, ClockTime, Email, EventType, ExternalId, GeoPoint, PersonName, Phone, Skill,
    Technician, TechnicianId, TechnicianStatus, TimeWindow,
};

use crate::convert::{
    count_to_u32, from_db_opt_time, from_db_time, point_from_db, point_to_db, to_db_time,
    window_from_db, window_to_db,
};
use crate::outbox::Change;
use crate::schema::{technician_areas, technician_day_loads, technician_skills, technicians};
use crate::{DbConn, Entity, Page, Paged, Stamp, StoreError, StoreResult, on_backend, workload};

#[derive(Debug, Queryable, Selectable)]
#[diesel(table_name = technicians)]
struct TechnicianRow {
    id: i64,
    name: String,
    status: String,
    phone: Option<String>,
    email: Option<String>,
    capacity: i32,
    shift_start: i32,
    shift_end: i32,
    home_latitude: Option<f64>,
    home_longitude: Option<f64>,
    latitude: Option<f64>,
    longitude: Option<f64>,
    location_updated_at: Option<NaiveDateTime>,
    created_at: NaiveDateTime,
    updated_at: NaiveDateTime,
    external_id: Option<String>,
}

impl TechnicianRow {
    fn into_domain(self, skills: Vec<String>, areas: Vec<String>) -> StoreResult<Technician> {
        let mut skills: Vec<Skill> = skills.into_iter().map(Skill::from_storage).collect();
        skills.sort();
        let mut areas = areas
            .into_iter()
            .map(Area::from_storage)
            .collect::<Vec<_>>();
        areas.sort();
        self.with(skills, areas)
    }

    /// With the skills and areas of the technician as read earlier in the
    /// same transaction (they change only under the row lock it holds).
    fn into_domain_as(self, known: &Technician) -> StoreResult<Technician> {
        self.with(known.skills.clone(), known.areas.clone())
    }

    fn with(self, skills: Vec<Skill>, areas: Vec<Area>) -> StoreResult<Technician> {
        Ok(Technician {
            id: TechnicianId(self.id),
            name: PersonName::from_storage(self.name),
            status: self.status.parse()?,
            phone: self.phone.map(Phone::from_storage),
            email: self.email.map(Email::from_storage),
            skills,
            areas,
            capacity: Capacity::new(self.capacity.into())?,
            shift: window_from_db(self.shift_start, self.shift_end)?,
            home: point_from_db(self.home_latitude, self.home_longitude)?,
            position: point_from_db(self.latitude, self.longitude)?,
            external_id: self.external_id.map(ExternalId::from_storage),
            location_updated_at: from_db_opt_time(self.location_updated_at),
            created_at: from_db_time(self.created_at),
            updated_at: from_db_time(self.updated_at),
        })
    }
}

/// A technician with its active jobs on the requested day.
#[derive(Debug, Clone, PartialEq)]
pub struct TechnicianWithLoad {
    /// The technician.
    pub technician: Technician,
    /// Active jobs on the workload date.
    pub current_workload: u32,
}

/// What a client gives to create a technician.
#[derive(Debug, Clone)]
pub struct NewTechnician {
    /// Display name.
    pub name: PersonName,
    /// Initial status.
    pub status: TechnicianStatus,
    /// Phone.
    pub phone: Option<Phone>,
    /// E-mail.
    pub email: Option<Email>,
    /// Skills (sorted, unique).
    pub skills: Vec<Skill>,
    /// Areas (sorted, unique).
    pub areas: Vec<Area>,
    /// Per-day capacity.
    pub capacity: Capacity,
    /// Working hours.
    pub shift: TimeWindow,
    /// Home position.
    pub home: Option<GeoPoint>,
    /// The integrator's own id.
    pub external_id: Option<ExternalId>,
}

/// A partial update; `None` leaves a field as it is.
#[derive(Debug, Clone, Default)]
pub struct TechnicianChanges {
    /// New name.
    pub name: Option<PersonName>,
    /// New phone (`Some(None)` clears it).
    pub phone: Option<Option<Phone>>,
    /// New e-mail (`Some(None)` clears it).
    pub email: Option<Option<Email>>,
    /// New skills.
    pub skills: Option<Vec<Skill>>,
    /// New areas.
    pub areas: Option<Vec<Area>>,
    /// New capacity (may be below a day's workload: no new assignments then).
    pub capacity: Option<Capacity>,
    /// New shift start.
    pub shift_start: Option<ClockTime>,
    /// New shift end.
    pub shift_end: Option<ClockTime>,
    /// New home (`Some(None)` clears it).
    pub home: Option<Option<GeoPoint>>,
    /// New external id (`Some(None)` clears it).
    pub external_id: Option<Option<ExternalId>>,
}

/// Filters of the technician list.
#[derive(Debug, Clone, Default)]
pub struct TechnicianFilter {
    /// Only this technician (a technician listing itself).
    pub only: Option<TechnicianId>,
    /// Only this status.
    pub status: Option<TechnicianStatus>,
    /// Only technicians with this skill.
    pub skill: Option<Skill>,
    /// Only technicians covering this area (including those with no areas).
    pub area: Option<Area>,
    /// Only the technician with this external id.
    pub external_id: Option<ExternalId>,
    /// Only technicians with every one of these skills.
    pub all_skills: Vec<Skill>,
    /// Only technicians whose status takes work.
    pub takes_work: bool,
}

/// The live technicians matching a [`TechnicianFilter`], as a boxed query
/// of the backend `on_backend!` picked (one place for the filter rules).
macro_rules! matching_technicians {
    ($filter:expr) => {{
        let filter: &TechnicianFilter = $filter;
        let mut query = technicians::table
            .filter(technicians::deleted_at.is_null())
            .into_boxed();
        if let Some(only) = filter.only {
            query = query.filter(technicians::id.eq(only.0));
        }
        if let Some(external) = &filter.external_id {
            query = query.filter(technicians::external_id.eq(external.as_str().to_string()));
        }
        if let Some(status) = filter.status {
            query = query.filter(technicians::status.eq(status.as_str()));
        }
        if filter.takes_work {
            let working: Vec<&str> = TechnicianStatus::ALL
                .iter()
                .filter(|status| status.takes_work())
                .map(|status| status.as_str())
                .collect();
            query = query.filter(technicians::status.eq_any(working));
        }
        for skill in filter.skill.iter().chain(&filter.all_skills) {
            query = query.filter(diesel::dsl::exists(
                technician_skills::table
                    .filter(technician_skills::technician_id.eq(technicians::id))
                    .filter(technician_skills::skill.eq(skill.as_str().to_string())),
            ));
        }
        if let Some(area) = &filter.area {
            let any_area =
                technician_areas::table.filter(technician_areas::technician_id.eq(technicians::id));
            query = query.filter(
                diesel::dsl::exists(
                    any_area.filter(technician_areas::area.eq(area.as_str().to_string())),
                )
                .or(diesel::dsl::not(diesel::dsl::exists(
                    technician_areas::table
                        .filter(technician_areas::technician_id.eq(technicians::id)),
                ))),
            );
        }
        query
    }};
}

/// Every live technician matching `filter`, by id; the database does the
/// filtering (indexes on skills and areas), so asking for the few who can
/// do a job does not read the whole fleet.
pub fn matching(conn: &mut DbConn, filter: &TechnicianFilter) -> StoreResult<Vec<Technician>> {
    let rows: Vec<TechnicianRow> = on_backend!(conn, c => matching_technicians!(filter)
        .order(technicians::id)
        .select(TechnicianRow::as_select())
        .load(c)?);
    load_many(conn, rows)
}

fn load_many(conn: &mut DbConn, rows: Vec<TechnicianRow>) -> StoreResult<Vec<Technician>> {
    let ids: Vec<i64> = rows.iter().map(|r| r.id).collect();
    type Labels = Vec<(i64, String)>;
    let (skills, areas): (Labels, Labels) = on_backend!(conn, c => {
        let skills = technician_skills::table
            .filter(technician_skills::technician_id.eq_any(&ids))
            .select((technician_skills::technician_id, technician_skills::skill))
            .load(c)?;
        let areas = technician_areas::table
            .filter(technician_areas::technician_id.eq_any(&ids))
            .select((technician_areas::technician_id, technician_areas::area))
            .load(c)?;
        (skills, areas)
    });
    let mut skills_by_tech: HashMap<i64, Vec<String>> = HashMap::new();
    for (id, skill) in skills {
        skills_by_tech.entry(id).or_default().push(skill);
    }
    let mut areas_by_tech: HashMap<i64, Vec<String>> = HashMap::new();
    for (id, area) in areas {
        areas_by_tech.entry(id).or_default().push(area);
    }
    rows.into_iter()
        .map(|row| {
            let skills = skills_by_tech.remove(&row.id).unwrap_or_default();
            let areas = areas_by_tech.remove(&row.id).unwrap_or_default();
            row.into_domain(skills, areas)
        })
        .collect()
}

/// A live (not deleted) technician, or `NotFound`.
pub fn find(conn: &mut DbConn, id: TechnicianId) -> StoreResult<Technician> {
    let row: Option<TechnicianRow> = on_backend!(conn, c => technicians::table
        .filter(technicians::id.eq(id.0))
        .filter(technicians::deleted_at.is_null())
        .select(TechnicianRow::as_select())
        .first(c)
        .optional()?);
    let row = row.ok_or(StoreError::NotFound(Entity::Technician))?;
    let (skills, areas) = skills_and_areas(conn, id)?;
    row.into_domain(skills, areas)
}

/// The stored skills and areas of one technician.
fn skills_and_areas(
    conn: &mut DbConn,
    id: TechnicianId,
) -> StoreResult<(Vec<String>, Vec<String>)> {
    // `= ?` rather than `IN (…)`: statements of fixed text, which both
    // backends keep prepared.
    Ok(on_backend!(conn, c => {
        let skills: Vec<String> = technician_skills::table
            .filter(technician_skills::technician_id.eq(id.0))
            .select(technician_skills::skill)
            .load(c)?;
        let areas: Vec<String> = technician_areas::table
            .filter(technician_areas::technician_id.eq(id.0))
            .select(technician_areas::area)
            .load(c)?;
        (skills, areas)
    }))
}

/// A live technician with its workload on `date`.
pub fn find_with_load(
    conn: &mut DbConn,
    id: TechnicianId,
    date: NaiveDate,
) -> StoreResult<TechnicianWithLoad> {
    let technician = find(conn, id)?;
    with_load(conn, technician, date)
}

/// A technician already read, with its workload on `date`.
pub fn with_load(
    conn: &mut DbConn,
    technician: Technician,
    date: NaiveDate,
) -> StoreResult<TechnicianWithLoad> {
    let current_workload = workload::active_jobs_on(conn, technician.id, date)?;
    Ok(TechnicianWithLoad {
        technician,
        current_workload,
    })
}

/// Every live technician (for ranking and planning), ordered by id.
pub fn all_live(conn: &mut DbConn) -> StoreResult<Vec<Technician>> {
    let rows: Vec<TechnicianRow> = on_backend!(conn, c => technicians::table
        .filter(technicians::deleted_at.is_null())
        .order(technicians::id)
        .select(TechnicianRow::as_select())
        .load(c)?);
    load_many(conn, rows)
}

/// One page of live technicians matching `filter`, with workloads on `date`.
pub fn list(
    conn: &mut DbConn,
    filter: &TechnicianFilter,
    date: NaiveDate,
    page: Page,
) -> StoreResult<Paged<TechnicianWithLoad>> {
    let (rows, total): (Vec<TechnicianRow>, i64) = on_backend!(conn, c => {
        let filtered = || matching_technicians!(filter);
        let rows: Vec<_> = filtered()
            .order(technicians::id)
            .limit(page.limit)
            .offset(page.offset)
            .select(TechnicianRow::as_select())
            .load(c)?;
        let total = match page.known_total(rows.len()) {
            Some(total) => total,
            None => filtered().count().get_result(c)?,
        };
        (rows, total)
    });
    let ids: Vec<i64> = rows.iter().map(|r| r.id).collect();
    let loads: HashMap<i64, i32> = on_backend!(conn, c => technician_day_loads::table
        .filter(technician_day_loads::technician_id.eq_any(&ids))
        .filter(technician_day_loads::work_date.eq(date))
        .select((technician_day_loads::technician_id, technician_day_loads::active_jobs))
        .load::<(i64, i32)>(c)?)
    .into_iter()
    .collect();
    let items = load_many(conn, rows)?
        .into_iter()
        .map(|technician| {
            let current_workload =
                count_to_u32(loads.get(&technician.id.0).copied().unwrap_or(0).into());
            TechnicianWithLoad {
                technician,
                current_workload,
            }
        })
        .collect();
    Ok(Paged { items, total })
}

fn replace_skills_and_areas(
    conn: &mut DbConn,
    id: TechnicianId,
    skills: Option<&[Skill]>,
    areas: Option<&[Area]>,
) -> StoreResult<()> {
    on_backend!(conn, c => {
        if let Some(skills) = skills {
            diesel::delete(technician_skills::table.filter(technician_skills::technician_id.eq(id.0)))
                .execute(c)?;
            let rows: Vec<_> = skills
                .iter()
                .map(|s| (technician_skills::technician_id.eq(id.0), technician_skills::skill.eq(s.as_str())))
                .collect();
            diesel::insert_into(technician_skills::table).values(&rows).execute(c)?;
        }
        if let Some(areas) = areas {
            diesel::delete(technician_areas::table.filter(technician_areas::technician_id.eq(id.0)))
                .execute(c)?;
            let rows: Vec<_> = areas
                .iter()
                .map(|a| (technician_areas::technician_id.eq(id.0), technician_areas::area.eq(a.as_str())))
                .collect();
            diesel::insert_into(technician_areas::table).values(&rows).execute(c)?;
        }
    });
    Ok(())
}

/// Creates a technician and returns it as stored.
pub fn create(conn: &mut DbConn, new: &NewTechnician, stamp: &Stamp) -> StoreResult<Technician> {
    if let Some(external_id) = &new.external_id {
        check_external_id_free(conn, external_id, None)?;
    }
    let (shift_start, shift_end) = window_to_db(new.shift);
    let (home_latitude, home_longitude) = point_to_db(new.home);
    let at = to_db_time(stamp.at);
    let id: i64 = on_backend!(conn, c => diesel::insert_into(technicians::table)
        .values((
            technicians::name.eq(new.name.as_str()),
            technicians::status.eq(new.status.as_str()),
            technicians::phone.eq(new.phone.as_ref().map(Phone::as_str)),
            technicians::email.eq(new.email.as_ref().map(Email::as_str)),
            technicians::capacity.eq(crate::convert::int_to_db(new.capacity.get())),
            technicians::shift_start.eq(shift_start),
            technicians::shift_end.eq(shift_end),
            technicians::home_latitude.eq(home_latitude),
            technicians::home_longitude.eq(home_longitude),
            technicians::external_id.eq(new.external_id.as_ref().map(ExternalId::as_str)),
            technicians::created_at.eq(at),
            technicians::updated_at.eq(at),
        ))
        .returning(technicians::id)
        .get_result(c)?);
    let id = TechnicianId(id);
    replace_skills_and_areas(conn, id, Some(&new.skills), Some(&new.areas))?;
    stamp.record(Change::Technician(EventType::TechnicianCreated, id));
    find(conn, id)
}

/// Applies `changes`; a shift whose start would not be before its end
/// with the stored other half is a conflict (change both together).
pub fn update(
    conn: &mut DbConn,
    id: TechnicianId,
    changes: &TechnicianChanges,
    stamp: &Stamp,
) -> StoreResult<Technician> {
    let current = find(conn, id)?;
    let shift = TimeWindow::new(
        changes.shift_start.unwrap_or(current.shift.start()),
        changes.shift_end.unwrap_or(current.shift.end()),
    )
    .map_err(|_| {
        StoreError::Conflict(format!(
            "The shift would be {}-{}: its start must be before its end; change both together",
            changes.shift_start.unwrap_or(current.shift.start()),
            changes.shift_end.unwrap_or(current.shift.end()),
        ))
    })?;
    let (shift_start, shift_end) = window_to_db(shift);
    let name = changes.name.as_ref().unwrap_or(&current.name);
    let phone = changes.phone.as_ref().unwrap_or(&current.phone);
    let email = changes.email.as_ref().unwrap_or(&current.email);
    let capacity = changes.capacity.unwrap_or(current.capacity);
    let (home_latitude, home_longitude) = point_to_db(changes.home.unwrap_or(current.home));
    let external_id = changes.external_id.as_ref().unwrap_or(&current.external_id);
    if let Some(Some(wanted)) = &changes.external_id {
        check_external_id_free(conn, wanted, Some(id))?;
    }
    on_backend!(conn, c => diesel::update(technicians::table.filter(technicians::id.eq(id.0)))
        .set((
            technicians::name.eq(name.as_str()),
            technicians::phone.eq(phone.as_ref().map(Phone::as_str)),
            technicians::email.eq(email.as_ref().map(Email::as_str)),
            technicians::capacity.eq(crate::convert::int_to_db(capacity.get())),
            technicians::shift_start.eq(shift_start),
            technicians::shift_end.eq(shift_end),
            technicians::home_latitude.eq(home_latitude),
            technicians::home_longitude.eq(home_longitude),
            technicians::external_id.eq(external_id.as_ref().map(ExternalId::as_str)),
            technicians::updated_at.eq(to_db_time(stamp.at)),
        ))
        .execute(c)?);
    stamp.record(Change::Technician(EventType::TechnicianUpdated, id));
    replace_skills_and_areas(
        conn,
        id,
        changes.skills.as_deref(),
        changes.areas.as_deref(),
    )?;
    find(conn, id)
}

/// Sets the status a client chose.
pub fn set_status(
    conn: &mut DbConn,
    id: TechnicianId,
    status: TechnicianStatus,
    stamp: &Stamp,
) -> StoreResult<Technician> {
    let updated = on_backend!(conn, c => diesel::update(
            technicians::table
                .filter(technicians::id.eq(id.0))
                .filter(technicians::deleted_at.is_null()),
        )
        .set((
            technicians::status.eq(status.as_str()),
            technicians::updated_at.eq(to_db_time(stamp.at)),
        ))
        .execute(c)?);
    if updated == 0 {
        return Err(StoreError::NotFound(Entity::Technician));
    }
    stamp.record(Change::Technician(EventType::TechnicianStatusChanged, id));
    find(conn, id)
}

/// Records a reported position.
pub fn set_location(
    conn: &mut DbConn,
    id: TechnicianId,
    position: GeoPoint,
    stamp: &Stamp,
) -> StoreResult<Technician> {
    let at = to_db_time(stamp.at);
    let updated = on_backend!(conn, c => diesel::update(
            technicians::table
                .filter(technicians::id.eq(id.0))
                .filter(technicians::deleted_at.is_null()),
        )
        .set((
            technicians::latitude.eq(position.latitude()),
            technicians::longitude.eq(position.longitude()),
            technicians::location_updated_at.eq(at),
            technicians::updated_at.eq(at),
        ))
        .execute(c)?);
    if updated == 0 {
        return Err(StoreError::NotFound(Entity::Technician));
    }
    stamp.record(Change::Technician(EventType::TechnicianLocated, id));
    find(conn, id)
}

/// 409 when a live technician other than `except` has `external_id` (the
/// unique index also refuses it, for racing writers).
fn check_external_id_free(
    conn: &mut DbConn,
    external_id: &ExternalId,
    except: Option<TechnicianId>,
) -> StoreResult<()> {
    let holder: Option<i64> = on_backend!(conn, c => technicians::table
        .filter(technicians::external_id.eq(external_id.as_str()))
        .filter(technicians::deleted_at.is_null())
        .select(technicians::id)
        .first(c)
        .optional()?);
    match holder {
        Some(id) if Some(TechnicianId(id)) != except => Err(StoreError::Conflict(format!(
            "Technician {id} already has external_id {:?}",
            external_id.as_str()
        ))),
        _ => Ok(()),
    }
}

/// Locks the live technicians `ids`, in ascending order (the lock order of
/// every command), until the transaction ends. `NotFoundInBatch` names one
/// that is gone.
pub fn lock_all(conn: &mut DbConn, ids: &[TechnicianId]) -> StoreResult<()> {
    let mut sorted = ids.to_vec();
    sorted.sort_unstable();
    sorted.dedup();
    for id in sorted {
        lock(conn, id).map_err(|error| match error {
            StoreError::NotFound(entity) => StoreError::NotFoundInBatch(entity, id.0),
            other => other,
        })?;
    }
    Ok(())
}

/// Locks a live technician's row until the transaction ends, so that every
/// change to its workload is serialised (PostgreSQL; SQLite's write lock
/// already serialises all writers). `NotFound` if it is gone.
pub(crate) fn lock(conn: &mut DbConn, id: TechnicianId) -> StoreResult<()> {
    let touched = on_backend!(conn, c => diesel::update(
            technicians::table
                .filter(technicians::id.eq(id.0))
                .filter(technicians::deleted_at.is_null()),
        )
        .set(technicians::id.eq(technicians::id))
        .execute(c)?);
    if touched == 0 {
        return Err(StoreError::NotFound(Entity::Technician));
    }
    Ok(())
}

/// Deletes a technician that holds no active job (409 otherwise). The row
/// stays, marked deleted, so past assignments keep their technician.
pub fn delete(conn: &mut DbConn, id: TechnicianId, stamp: &Stamp) -> StoreResult<()> {
    lock(conn, id)?;
    let active = workload::active_jobs_total(conn, id)?;
    if active > 0 {
        return Err(StoreError::conflict(format!(
            "Technician holds {active} active jobs; unassign or finish them first"
        )));
    }
    on_backend!(conn, c => diesel::update(technicians::table.filter(technicians::id.eq(id.0)))
        .set(technicians::deleted_at.eq(to_db_time(stamp.at)))
        .execute(c)?);
    stamp.record(Change::Technician(EventType::TechnicianDeleted, id));
    Ok(())
}

/// Applies the automatic status rule after the technician's workload
/// changed. `known` is the technician as the caller read it in this
/// transaction, if it did (its skills and areas are then not read again).
pub(crate) fn refresh_automatic_status(
    conn: &mut DbConn,
    id: TechnicianId,
    known: Option<&Technician>,
    stamp: &Stamp,
) -> StoreResult<()> {
    let active = workload::active_jobs_total(conn, id)?;
    let (from, to) = TechnicianStatus::automatic_move(active);
    // One conditional update decides and changes; the row it returns is
    // the event's payload, so the event costs no second read.
    let moved: Option<TechnicianRow> = on_backend!(conn, c => diesel::update(
        technicians::table
            .filter(technicians::id.eq(id.0))
            .filter(technicians::status.eq(from.as_str())),
    )
    .set((
        technicians::status.eq(to.as_str()),
        technicians::updated_at.eq(to_db_time(stamp.at)),
    ))
    .returning(TechnicianRow::as_returning())
    .get_result(c)
    .optional()?);
    let Some(row) = moved else {
        return Ok(());
    };
    let technician = match known {
        Some(known) => row.into_domain_as(known)?,
        None => {
            let (skills, areas) = skills_and_areas(conn, id)?;
            row.into_domain(skills, areas)?
        }
    };
    stamp.record(Change::TechnicianState(
        EventType::TechnicianStatusChanged,
        Box::new(technician),
    ));
    Ok(())
}

/// How many live technicians there are.
pub fn count_live(conn: &mut DbConn) -> StoreResult<i64> {
    Ok(on_backend!(conn, c => technicians::table
        .filter(technicians::deleted_at.is_null())
        .count()
        .get_result(c)?))
}
