//! The outbox behind the change feed: one row per change, written in the
//! transaction that makes the change.
//!
//! The store's commands note what they changed on the request's [`Stamp`]
//! ([`Change`]); the caller renders those changes (the API's JSON) and
//! [`append`]s them before the transaction commits, so a rolled-back change
//! leaves no event and a committed one always has its events.
//!
//! Ids grow in commit order, which is what lets a reader that keeps the last
//! id it saw never miss one: SQLite has one writer at a time anyway; on
//! PostgreSQL [`append`] takes a transaction-scoped advisory lock before it
//! draws ids, held until the commit is visible, so no transaction can commit
//! a smaller id after a reader saw a larger one. The same call sends a
//! `NOTIFY` (delivered at commit) that wakes the streams of every process.

use chrono::{DateTime, NaiveDateTime, Utc};
use diesel::prelude::*;
use fieldopt_domain::{
    Actor, Assignment, EventType, EventTypeFilter, Job, JobId, Technician, TechnicianId,
};

use crate::convert::{Stamp, from_db_time, parse_opt, to_db_time};
use crate::schema::{event_retention, events};
use std::time::Duration;

use crate::{DatabaseTarget, DbConn, StoreResult, on_backend};

/// The PostgreSQL channel that announces new events.
pub const NOTIFY_CHANNEL: &str = "fieldopt_events";

/// The advisory lock that orders appends on PostgreSQL (an arbitrary
/// constant: "fieldopt" in ASCII, folded).
const APPEND_LOCK: i64 = 0x6669_656c_646f_7074;

/// Most events one page of the feed returns.
pub const MAX_PAGE: i64 = 5000;

/// Something a command changed, noted on its [`Stamp`] for the outbox.
/// A change names what changed, or carries it as it is now when the
/// command holds it anyway (no read again to render it).
#[derive(Debug, Clone, PartialEq)]
pub enum Change {
    /// A technician record changed in the way the type says.
    Technician(EventType, TechnicianId),
    /// A technician changed in the way the type says: the technician as it
    /// is now. Only for commands that change nothing of it afterwards.
    TechnicianState(EventType, Box<Technician>),
    /// A job changed in the way the type says.
    Job(EventType, JobId),
    /// A job changed in the way the type says: the job as it is now.
    JobState(EventType, Job),
    /// A job was deleted; what it was is gone with it.
    JobDeleted(JobId),
    /// An assignment was created or ended: the row as it is now.
    Assignment(EventType, Assignment),
    /// An event the caller rendered itself (a plan applied).
    Rendered(NewEvent),
}

impl Change {
    /// What makes two changes the same: the event type and the record
    /// (`None`: never merged).
    fn key(&self) -> Option<(EventType, i64)> {
        match self {
            Change::Technician(event_type, id) => Some((*event_type, id.0)),
            Change::TechnicianState(event_type, technician) => Some((*event_type, technician.id.0)),
            Change::Job(event_type, id) => Some((*event_type, id.0)),
            Change::JobState(event_type, job) => Some((*event_type, job.id.0)),
            Change::JobDeleted(id) => Some((EventType::JobDeleted, id.0)),
            Change::Assignment(event_type, assignment) => Some((*event_type, assignment.id.0)),
            Change::Rendered(_) => None,
        }
    }
}

/// An event to append.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct NewEvent {
    /// What happened.
    pub event_type: EventType,
    /// The technician it concerns (technicians see only their own).
    pub technician_id: Option<TechnicianId>,
    /// The payload, JSON.
    pub data: String,
}

/// An event as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredEvent {
    /// Grows in commit order; gaps are possible (rolled-back ids).
    pub id: i64,
    /// What happened.
    pub event_type: EventType,
    /// When the change was made (its transaction's time).
    pub occurred_at: DateTime<Utc>,
    /// Who made it.
    pub actor: Option<Actor>,
    /// The technician it concerns.
    pub technician_id: Option<TechnicianId>,
    /// The payload, JSON.
    pub data: String,
}

/// Appends events in the current transaction; nothing for an empty list.
pub fn append(conn: &mut DbConn, stamp: &Stamp, new: &[NewEvent]) -> StoreResult<()> {
    if new.is_empty() {
        return Ok(());
    }
    let at = to_db_time(stamp.at);
    let actor = stamp.actor.as_str();
    match conn {
        DbConn::Postgres(c) => {
            use diesel::sql_types::{Array, BigInt, Nullable, Text, Timestamp};
            // One round trip, under the commit-order lock: the lock (and
            // the wake-up, sent at commit) come before the first row draws
            // its id, and the rows keep their order. Written as SQL because
            // the saved round trip is measured (docs/benchmarks.md).
            let types: Vec<&str> = new.iter().map(|e| e.event_type.as_str()).collect();
            let technicians: Vec<Option<i64>> =
                new.iter().map(|e| e.technician_id.map(|t| t.0)).collect();
            let data: Vec<&str> = new.iter().map(|e| e.data.as_str()).collect();
            diesel::sql_query(
                "INSERT INTO events (event_type, occurred_at, actor, technician_id, data) \
                 SELECT e.event_type, $1, $2, e.technician_id, e.data \
                 FROM (SELECT pg_advisory_xact_lock($3), pg_notify($4, '')) AS locked, \
                      unnest($5::text[], $6::bigint[], $7::text[]) \
                      WITH ORDINALITY AS e(event_type, technician_id, data, position) \
                 ORDER BY e.position",
            )
            .bind::<Timestamp, _>(at)
            .bind::<Text, _>(actor)
            .bind::<BigInt, _>(APPEND_LOCK)
            .bind::<Text, _>(NOTIFY_CHANNEL)
            .bind::<Array<Text>, _>(types)
            .bind::<Array<Nullable<BigInt>>, _>(technicians)
            .bind::<Array<Text>, _>(data)
            .execute(c)?;
        }
        DbConn::Sqlite(c) => {
            // One statement per row: its text never changes, so SQLite
            // keeps it prepared, which beats preparing a batch of a new
            // length each time (most writes make one to three events).
            for event in new {
                diesel::insert_into(events::table)
                    .values((
                        events::event_type.eq(event.event_type.as_str()),
                        events::occurred_at.eq(at),
                        events::actor.eq(Some(actor)),
                        events::technician_id.eq(event.technician_id.map(|t| t.0)),
                        events::data.eq(event.data.as_str()),
                    ))
                    .execute(c)?;
            }
        }
    }
    Ok(())
}

type EventRow = (
    i64,
    String,
    NaiveDateTime,
    Option<String>,
    Option<i64>,
    String,
);

/// Events after `after`, in id order, at most `limit` (capped at
/// [`MAX_PAGE`]), of the filter's types, and when `technician` is given only
/// those about that technician.
pub fn after(
    conn: &mut DbConn,
    after: i64,
    limit: i64,
    filter: &EventTypeFilter,
    technician: Option<TechnicianId>,
) -> StoreResult<Vec<StoredEvent>> {
    let limit = limit.clamp(1, MAX_PAGE);
    let types: Vec<&str> = filter.types().iter().map(|t| t.as_str()).collect();
    let every_type = filter.is_all();
    let rows: Vec<EventRow> = on_backend!(conn, c => {
        let mut query = events::table
            .filter(events::id.gt(after))
            .order(events::id)
            .limit(limit)
            .select((
                events::id,
                events::event_type,
                events::occurred_at,
                events::actor,
                events::technician_id,
                events::data,
            ))
            .into_boxed();
        if !every_type {
            query = query.filter(events::event_type.eq_any(types.clone()));
        }
        if let Some(tech) = technician {
            query = query.filter(events::technician_id.eq(tech.0));
        }
        query.load(c)?
    });
    rows.into_iter()
        .map(|(id, event_type, at, actor, tech, data)| {
            Ok(StoredEvent {
                id,
                event_type: event_type.parse()?,
                occurred_at: from_db_time(at),
                actor: parse_opt(actor, Actor::parse)?,
                technician_id: tech.map(TechnicianId),
                data,
            })
        })
        .collect()
}

/// The newest event's id, 0 when there is none.
pub fn last_id(conn: &mut DbConn) -> StoreResult<i64> {
    let last: Option<i64> = on_backend!(conn, c => events::table
        .select(diesel::dsl::max(events::id))
        .first(c)?);
    Ok(last.unwrap_or(0))
}

/// Where the feed has been purged: `after` below `purged_through` has lost
/// events for good. Returns `(purged_through, oldest id still kept)`.
pub fn retention_edge(conn: &mut DbConn) -> StoreResult<(i64, Option<i64>)> {
    on_backend!(conn, c => {
        let purged: i64 = event_retention::table
            .select(event_retention::purged_through)
            .first(c)?;
        let oldest: Option<i64> = events::table
            .select(diesel::dsl::min(events::id))
            .first(c)?;
        Ok((purged, oldest))
    })
}

/// Deletes up to `batch` of the oldest events if they occurred before
/// `cutoff`, and moves the retention edge past them. Returns how many went;
/// call again until it returns less than `batch`.
///
/// Walks the ids, not the times: ids grow in commit order and times with
/// them (a request's time is taken when it starts, so a neighbour may be a
/// few milliseconds out of step — it waits for the next pass). The newest
/// event is never deleted: SQLite gives a new row the largest id plus one,
/// so an empty table would hand out ids again.
pub fn purge_before(conn: &mut DbConn, cutoff: DateTime<Utc>, batch: i64) -> StoreResult<usize> {
    let cutoff = to_db_time(cutoff);
    on_backend!(conn, c => {
        let oldest: Vec<(i64, NaiveDateTime)> = events::table
            .order(events::id)
            .limit(batch.saturating_add(1))
            .select((events::id, events::occurred_at))
            .load(c)?;
        let expired = oldest
            .iter()
            .take(oldest.len().saturating_sub(1))
            .take_while(|(_, occurred_at)| *occurred_at < cutoff)
            .count();
        let Some(&(newest, _)) = expired.checked_sub(1).and_then(|last| oldest.get(last)) else {
            return Ok(0);
        };
        let deleted = diesel::delete(events::table.filter(events::id.le(newest))).execute(c)?;
        diesel::update(event_retention::table)
            .filter(event_retention::purged_through.lt(newest))
            .set(event_retention::purged_through.eq(newest))
            .execute(c)?;
        Ok(deleted)
    })
}

/// A PostgreSQL connection of its own that `LISTEN`s on
/// [`NOTIFY_CHANNEL`]: the cross-process wake-up of event streams.
pub struct EventListener {
    conn: DbConn,
}

impl std::fmt::Debug for EventListener {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EventListener").finish_non_exhaustive()
    }
}

impl EventListener {
    /// Opens a listening connection to the database; `None` on SQLite,
    /// which has no notifications (streams poll it instead).
    pub fn open(target: &DatabaseTarget, timeout: Duration) -> StoreResult<Option<Self>> {
        if target.has_single_writer() {
            return Ok(None);
        }
        let mut conn = target.connect_within(timeout).map_err(|e| {
            crate::StoreError::unavailable(crate::Outage::Unreachable, e.to_string())
        })?;
        let listening = &mut conn;
        on_backend!(listening, c => diesel::sql_query(format!("LISTEN {NOTIFY_CHANNEL}")).execute(c)?);
        Ok(Some(Self { conn }))
    }

    /// Whether a notification arrived since the last call; never blocks.
    /// An error means the connection is gone: open a new listener.
    pub fn has_news(&mut self) -> StoreResult<bool> {
        let DbConn::Postgres(c) = &mut self.conn else {
            return Ok(false);
        };
        let mut news = false;
        for notification in c.notifications_iter() {
            notification?;
            news = true;
        }
        Ok(news)
    }
}

impl Stamp {
    /// Notes a change for the outbox.
    pub fn record(&self, change: Change) {
        self.changes
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(change);
    }

    /// The changes noted so far, in order, one per kind of change to one
    /// record: a repeat takes the first one's place with its own (newer)
    /// state, so the event shows the record as committed.
    pub fn take_changes(&self) -> Vec<Change> {
        let noted = std::mem::take(&mut *self.changes.lock().unwrap_or_else(|e| e.into_inner()));
        let mut kept: Vec<Change> = Vec::with_capacity(noted.len());
        let mut places = std::collections::HashMap::with_capacity(noted.len());
        for change in noted {
            match change.key() {
                Some(key) => match places.get(&key) {
                    Some(&place) => kept[place] = change,
                    None => {
                        places.insert(key, kept.len());
                        kept.push(change);
                    }
                },
                None => kept.push(change),
            }
        }
        kept
    }
}
