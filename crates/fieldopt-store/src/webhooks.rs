//! Webhook endpoints, their delivery cursor and lease, and the log of
//! delivery attempts.
//!
//! An endpoint's delivery state is a cursor: every matching event up to
//! `delivered_through` is done, the next one is (re)tried at
//! `next_attempt_at`. A process that delivers to an endpoint first claims it
//! ([`claim_due`]): it takes a lease (`lease_until`, `lease_owner`) that no
//! other process claims over until it ends. Every later change a worker makes
//! is conditional on still holding the lease, so a process whose lease ran
//! out (it hung, or was presumed dead) cannot overwrite another's progress.
//! A process killed mid-delivery leaves its lease to expire; the next claim
//! sends the same event again (at least once).

use chrono::{DateTime, NaiveDateTime, Utc};
use diesel::IntoSql;
use diesel::prelude::*;
use fieldopt_domain::EventTypeFilter;

use crate::convert::{from_db_opt_time, from_db_time, to_db_time};
use crate::schema::{webhook_deliveries, webhook_endpoints};
use crate::{DbConn, Page, Paged, StoreError, StoreResult, on_backend};

/// Most endpoints one database holds.
pub const MAX_ENDPOINTS: i64 = 100;

/// The advisory lock that serialises creates on PostgreSQL (arbitrary:
/// "webhooks" in ASCII).
const CREATE_LOCK: i64 = 0x7765_6268_6f6f_6b73;

/// Most bytes of a response body kept with an attempt.
pub const MAX_RESPONSE_BODY: usize = 1024;

/// A webhook endpoint as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct Endpoint {
    /// Its id.
    pub id: i64,
    /// Where events are POSTed.
    pub url: String,
    /// What the endpoint is for, for people.
    pub description: Option<String>,
    /// The event types it receives.
    pub event_types: EventTypeFilter,
    /// Whether events are delivered to it.
    pub enabled: bool,
    /// The signing secret (`whsec_…`); never shown after creation.
    pub secret: String,
    /// When it was created.
    pub created_at: DateTime<Utc>,
    /// When a client (or the service, disabling it) last changed it.
    pub updated_at: DateTime<Utc>,
    /// Every matching event up to this id has been delivered (or skipped).
    pub delivered_through: i64,
    /// Failed attempts at the next event.
    pub attempts: i32,
    /// When the next event is due.
    pub next_attempt_at: DateTime<Utc>,
    /// Since when every attempt has failed.
    pub failing_since: Option<DateTime<Utc>>,
    /// Why it was disabled, when the service disabled it.
    pub disabled_reason: Option<String>,
}

/// An endpoint to create.
#[derive(Debug, Clone)]
pub struct NewEndpoint {
    /// Where events go (checked by the caller).
    pub url: String,
    /// For people.
    pub description: Option<String>,
    /// The event types it receives.
    pub event_types: EventTypeFilter,
    /// Whether delivery starts at once.
    pub enabled: bool,
    /// The signing secret.
    pub secret: String,
}

/// Changes to an endpoint; `None` leaves a field as it is.
#[derive(Debug, Clone, Default)]
pub struct EndpointChanges {
    /// A new URL.
    pub url: Option<String>,
    /// A new description, or `Some(None)` to clear it.
    pub description: Option<Option<String>>,
    /// New event types.
    pub event_types: Option<EventTypeFilter>,
    /// Enable or disable. Enabling forgets why it was disabled and how long
    /// it has been failing, and makes the next event due now.
    pub enabled: Option<bool>,
}

/// One recorded attempt to deliver an event to an endpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivery {
    /// Its id.
    pub id: i64,
    /// What happened.
    pub attempt: Attempt,
}

/// An attempt to deliver an event, as recorded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attempt {
    /// The endpoint.
    pub endpoint_id: i64,
    /// The event.
    pub event_id: i64,
    /// 1 for the first attempt at this event, then counting up.
    pub number: i32,
    /// When the request was sent.
    pub attempted_at: DateTime<Utc>,
    /// The HTTP status, when an answer came.
    pub status_code: Option<i32>,
    /// How long it took.
    pub latency_ms: i32,
    /// What went wrong, if anything did.
    pub error: Option<String>,
    /// The start of the answer's body (at most [`MAX_RESPONSE_BODY`] bytes
    /// once recorded).
    pub response_body: Option<String>,
    /// When the event is tried again, if it will be.
    pub next_retry_at: Option<DateTime<Utc>>,
    /// Asked for through the API rather than made by the worker.
    pub manual: bool,
}

/// `text` cut to at most `max` bytes, on a character boundary.
pub fn truncate_on_char(text: &str, max: usize) -> &str {
    if text.len() <= max {
        return text;
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

type EndpointRow = (
    i64,
    String,
    Option<String>,
    String,
    bool,
    String,
    NaiveDateTime,
    NaiveDateTime,
    i64,
    i32,
    NaiveDateTime,
    Option<NaiveDateTime>,
    Option<String>,
);

macro_rules! endpoint_columns {
    () => {
        (
            webhook_endpoints::id,
            webhook_endpoints::url,
            webhook_endpoints::description,
            webhook_endpoints::event_types,
            webhook_endpoints::enabled,
            webhook_endpoints::secret,
            webhook_endpoints::created_at,
            webhook_endpoints::updated_at,
            webhook_endpoints::delivered_through,
            webhook_endpoints::attempts,
            webhook_endpoints::next_attempt_at,
            webhook_endpoints::failing_since,
            webhook_endpoints::disabled_reason,
        )
    };
}

fn endpoint_from_row(row: EndpointRow) -> StoreResult<Endpoint> {
    let (
        id,
        url,
        description,
        event_types,
        enabled,
        secret,
        created_at,
        updated_at,
        delivered_through,
        attempts,
        next_attempt_at,
        failing_since,
        disabled_reason,
    ) = row;
    Ok(Endpoint {
        id,
        url,
        description,
        event_types: EventTypeFilter::parse(&event_types)?,
        enabled,
        secret,
        created_at: from_db_time(created_at),
        updated_at: from_db_time(updated_at),
        delivered_through,
        attempts,
        next_attempt_at: from_db_time(next_attempt_at),
        failing_since: from_db_opt_time(failing_since),
        disabled_reason,
    })
}

type DeliveryRow = (
    i64,
    i64,
    i64,
    i32,
    NaiveDateTime,
    Option<i32>,
    i32,
    Option<String>,
    Option<String>,
    Option<NaiveDateTime>,
    bool,
);

macro_rules! delivery_columns {
    () => {
        (
            webhook_deliveries::id,
            webhook_deliveries::endpoint_id,
            webhook_deliveries::event_id,
            webhook_deliveries::attempt,
            webhook_deliveries::attempted_at,
            webhook_deliveries::status_code,
            webhook_deliveries::latency_ms,
            webhook_deliveries::error,
            webhook_deliveries::response_body,
            webhook_deliveries::next_retry_at,
            webhook_deliveries::manual,
        )
    };
}

fn delivery_from_row(row: DeliveryRow) -> Delivery {
    let (
        id,
        endpoint_id,
        event_id,
        attempt,
        attempted_at,
        status_code,
        latency_ms,
        error,
        response_body,
        next_retry_at,
        manual,
    ) = row;
    Delivery {
        id,
        attempt: Attempt {
            endpoint_id,
            event_id,
            number: attempt,
            attempted_at: from_db_time(attempted_at),
            status_code,
            latency_ms,
            error,
            response_body,
            next_retry_at: from_db_opt_time(next_retry_at),
            manual,
        },
    }
}

/// Creates an endpoint that receives the events committed after
/// `after_event` (the newest event id when it is created), due at once.
/// Refused with a conflict beyond [`MAX_ENDPOINTS`]. Run it in a write
/// transaction.
pub fn create(
    conn: &mut DbConn,
    new: &NewEndpoint,
    after_event: i64,
    at: DateTime<Utc>,
) -> StoreResult<Endpoint> {
    let at = to_db_time(at);
    if let DbConn::Postgres(c) = conn {
        // Concurrent creates count one at a time, so the cap holds.
        diesel::sql_query("SELECT pg_advisory_xact_lock($1)")
            .bind::<diesel::sql_types::BigInt, _>(CREATE_LOCK)
            .execute(c)?;
    }
    let id: i64 = on_backend!(conn, c => {
        let count: i64 = webhook_endpoints::table.count().get_result(c)?;
        if count >= MAX_ENDPOINTS {
            return Err(StoreError::conflict(format!(
                "At most {MAX_ENDPOINTS} webhook endpoints; delete one first"
            )));
        }
        diesel::insert_into(webhook_endpoints::table)
            .values((
                webhook_endpoints::url.eq(&new.url),
                webhook_endpoints::description.eq(&new.description),
                webhook_endpoints::event_types.eq(new.event_types.to_string()),
                webhook_endpoints::enabled.eq(new.enabled),
                webhook_endpoints::secret.eq(&new.secret),
                webhook_endpoints::created_at.eq(at),
                webhook_endpoints::updated_at.eq(at),
                webhook_endpoints::delivered_through.eq(after_event),
                webhook_endpoints::attempts.eq(0),
                webhook_endpoints::next_attempt_at.eq(at),
            ))
            .returning(webhook_endpoints::id)
            .get_result(c)?
    });
    find(conn, id)?.ok_or_else(|| StoreError::Corrupt("created endpoint vanished".into()))
}

/// The endpoint with this id.
pub fn find(conn: &mut DbConn, id: i64) -> StoreResult<Option<Endpoint>> {
    let row: Option<EndpointRow> = on_backend!(conn, c => webhook_endpoints::table
        .find(id)
        .select(endpoint_columns!())
        .first(c)
        .optional()?);
    row.map(endpoint_from_row).transpose()
}

/// One page of endpoints, by id.
pub fn list(conn: &mut DbConn, page: Page) -> StoreResult<Paged<Endpoint>> {
    let rows: Vec<EndpointRow> = on_backend!(conn, c => webhook_endpoints::table
        .order(webhook_endpoints::id)
        .limit(page.limit)
        .offset(page.offset)
        .select(endpoint_columns!())
        .load(c)?);
    let total = match page.known_total(rows.len()) {
        Some(total) => total,
        None => on_backend!(conn, c => webhook_endpoints::table.count().get_result(c)?),
    };
    let items = rows
        .into_iter()
        .map(endpoint_from_row)
        .collect::<StoreResult<_>>()?;
    Ok(Paged { items, total })
}

/// Applies `changes`; `None` when there is no such endpoint.
pub fn update(
    conn: &mut DbConn,
    id: i64,
    changes: &EndpointChanges,
    at: DateTime<Utc>,
) -> StoreResult<Option<Endpoint>> {
    let Some(current) = find(conn, id)? else {
        return Ok(None);
    };
    let at = to_db_time(at);
    let enabling = changes.enabled == Some(true) && !current.enabled;
    let description = match &changes.description {
        Some(description) => description.clone(),
        None => current.description.clone(),
    };
    let event_types = changes
        .event_types
        .as_ref()
        .unwrap_or(&current.event_types)
        .to_string();
    let url = changes.url.as_ref().unwrap_or(&current.url);
    let enabled = changes.enabled.unwrap_or(current.enabled);
    on_backend!(conn, c => {
        diesel::update(webhook_endpoints::table.find(id))
            .set((
                webhook_endpoints::url.eq(url),
                webhook_endpoints::description.eq(&description),
                webhook_endpoints::event_types.eq(&event_types),
                webhook_endpoints::enabled.eq(enabled),
                webhook_endpoints::updated_at.eq(at),
            ))
            .execute(c)?;
        if enabling {
            diesel::update(webhook_endpoints::table.find(id))
                .set((
                    webhook_endpoints::disabled_reason.eq(None::<String>),
                    webhook_endpoints::failing_since.eq(None::<NaiveDateTime>),
                    webhook_endpoints::attempts.eq(0),
                    webhook_endpoints::next_attempt_at.eq(at),
                ))
                .execute(c)?;
        }
    });
    find(conn, id)
}

/// Deletes an endpoint and its attempts; whether there was one.
pub fn delete(conn: &mut DbConn, id: i64) -> StoreResult<bool> {
    on_backend!(conn, c => {
        // Explicitly, rather than trusting every SQLite connection to
        // enforce the foreign key's cascade.
        diesel::delete(webhook_deliveries::table.filter(webhook_deliveries::endpoint_id.eq(id)))
            .execute(c)?;
        let deleted = diesel::delete(webhook_endpoints::table.find(id)).execute(c)?;
        Ok(deleted > 0)
    })
}

/// Whether any enabled endpoint is due and unleased at `now`, with events
/// after its cursor: a cheap read that spares idle rounds a write.
pub fn any_due(conn: &mut DbConn, now: DateTime<Utc>) -> StoreResult<bool> {
    let now = to_db_time(now);
    let newest = crate::outbox::last_id(conn)?;
    let found: Option<i64> = on_backend!(conn, c => webhook_endpoints::table
        .filter(webhook_endpoints::enabled.eq(true))
        .filter(webhook_endpoints::next_attempt_at.le(now))
        .filter(webhook_endpoints::delivered_through.lt(newest))
        .filter(
            webhook_endpoints::lease_until
                .is_null()
                .or(webhook_endpoints::lease_until.lt(now)),
        )
        .select(webhook_endpoints::id)
        .first(c)
        .optional()?);
    Ok(found.is_some())
}

/// Claims up to `limit` due endpoints for `owner` until `lease_until`:
/// enabled, due, with events after their cursor, and not leased by anyone
/// (or whose lease ended). On PostgreSQL the rows are locked with `SKIP
/// LOCKED`, so processes claiming at once take different endpoints; SQLite
/// has one writer at a time. Run it in a write transaction.
pub fn claim_due(
    conn: &mut DbConn,
    owner: &str,
    now: DateTime<Utc>,
    lease_until: DateTime<Utc>,
    limit: i64,
) -> StoreResult<Vec<Endpoint>> {
    let now = to_db_time(now);
    let until = to_db_time(lease_until);
    let newest = crate::outbox::last_id(conn)?;
    let due = webhook_endpoints::table
        .filter(webhook_endpoints::enabled.eq(true))
        .filter(webhook_endpoints::next_attempt_at.le(now))
        .filter(webhook_endpoints::delivered_through.lt(newest))
        .filter(
            webhook_endpoints::lease_until
                .is_null()
                .or(webhook_endpoints::lease_until.lt(now)),
        )
        .order(webhook_endpoints::next_attempt_at)
        .limit(limit)
        .select(webhook_endpoints::id);
    let ids: Vec<i64> = match conn {
        DbConn::Postgres(c) => due.for_update().skip_locked().load(c)?,
        DbConn::Sqlite(c) => due.load(c)?,
    };
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let rows: Vec<EndpointRow> = on_backend!(conn, c => {
        diesel::update(webhook_endpoints::table.filter(webhook_endpoints::id.eq_any(&ids)))
            .set((
                webhook_endpoints::lease_until.eq(until),
                webhook_endpoints::lease_owner.eq(owner),
            ))
            .execute(c)?;
        webhook_endpoints::table
            .filter(webhook_endpoints::id.eq_any(&ids))
            .order(webhook_endpoints::next_attempt_at)
            .select(endpoint_columns!())
            .load(c)?
    });
    rows.into_iter().map(endpoint_from_row).collect()
}

/// What became of the attempt at an endpoint's next event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Progress {
    /// Delivered, or nothing to deliver up to this event id: move the
    /// cursor here, forget the failures; the next event is due now.
    Through(i64),
    /// Failed: count the attempt, retry at `next_attempt_at`.
    Failed {
        /// When to try again.
        next_attempt_at: DateTime<Utc>,
        /// When the failures began (kept from the first).
        failing_since: DateTime<Utc>,
    },
    /// Failed for too long: disable the endpoint with this reason.
    Disabled(String),
}

/// Who records progress on an endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Writer<'a> {
    /// The worker holding the lease `owner`, which started from `cursor`:
    /// its change applies only while both still hold, so a process whose
    /// lease ran out, or whose event a manual retry delivered meanwhile,
    /// changes nothing.
    Worker {
        /// The lease owner.
        owner: &'a str,
        /// `delivered_through` when the attempt began.
        cursor: i64,
    },
    /// A manual retry: only ever moves the cursor forward.
    Manual,
}

/// Records progress on endpoint `id` as `writer` may (see [`Writer`]).
/// Keeps the lease. Returns whether it applied.
pub fn record_progress(
    conn: &mut DbConn,
    id: i64,
    writer: Writer<'_>,
    progress: &Progress,
    at: DateTime<Utc>,
) -> StoreResult<bool> {
    let at = to_db_time(at);
    let (owner, cursor, manual) = match writer {
        Writer::Worker { owner, cursor } => (owner, cursor, false),
        Writer::Manual => ("", 0, true),
    };
    let manual = || manual.into_sql::<diesel::sql_types::Bool>();
    let target = webhook_endpoints::table
        .filter(webhook_endpoints::id.eq(id))
        .filter(webhook_endpoints::lease_owner.eq(owner).or(manual()))
        .filter(webhook_endpoints::delivered_through.eq(cursor).or(manual()));
    let changed = on_backend!(conn, c => match progress {
        Progress::Through(event_id) => diesel::update(
            target.filter(webhook_endpoints::delivered_through.lt(*event_id)),
        )
        .set((
            webhook_endpoints::delivered_through.eq(*event_id),
            webhook_endpoints::attempts.eq(0),
            webhook_endpoints::failing_since.eq(None::<NaiveDateTime>),
            webhook_endpoints::next_attempt_at.eq(at),
        ))
        .execute(c)?,
        Progress::Failed {
            next_attempt_at,
            failing_since,
        } => diesel::update(target)
            .set((
                webhook_endpoints::attempts.eq(webhook_endpoints::attempts + 1),
                webhook_endpoints::failing_since.eq(to_db_time(*failing_since)),
                webhook_endpoints::next_attempt_at.eq(to_db_time(*next_attempt_at)),
            ))
            .execute(c)?,
        Progress::Disabled(reason) => diesel::update(target)
            .set((
                webhook_endpoints::enabled.eq(false),
                webhook_endpoints::attempts.eq(webhook_endpoints::attempts + 1),
                webhook_endpoints::disabled_reason.eq(reason),
                webhook_endpoints::updated_at.eq(at),
            ))
            .execute(c)?,
    });
    Ok(changed > 0)
}

/// Ends `owner`'s lease on endpoint `id` (if it still holds it).
pub fn release(conn: &mut DbConn, id: i64, owner: &str) -> StoreResult<()> {
    on_backend!(conn, c => diesel::update(
        webhook_endpoints::table
            .filter(webhook_endpoints::id.eq(id))
            .filter(webhook_endpoints::lease_owner.eq(owner)),
    )
    .set((
        webhook_endpoints::lease_until.eq(None::<NaiveDateTime>),
        webhook_endpoints::lease_owner.eq(None::<String>),
    ))
    .execute(c)?);
    Ok(())
}

/// Records one attempt; the body and error are cut to
/// [`MAX_RESPONSE_BODY`] bytes.
pub fn record_delivery(conn: &mut DbConn, new: &Attempt) -> StoreResult<Delivery> {
    let cut = |text: &Option<String>| {
        text.as_deref()
            .map(|t| truncate_on_char(t, MAX_RESPONSE_BODY).to_string())
    };
    let (body, error) = (cut(&new.response_body), cut(&new.error));
    let row: DeliveryRow = on_backend!(conn, c => diesel::insert_into(webhook_deliveries::table)
        .values((
            webhook_deliveries::endpoint_id.eq(new.endpoint_id),
            webhook_deliveries::event_id.eq(new.event_id),
            webhook_deliveries::attempt.eq(new.number),
            webhook_deliveries::attempted_at.eq(to_db_time(new.attempted_at)),
            webhook_deliveries::status_code.eq(new.status_code),
            webhook_deliveries::latency_ms.eq(new.latency_ms),
            webhook_deliveries::error.eq(&error),
            webhook_deliveries::response_body.eq(&body),
            webhook_deliveries::next_retry_at.eq(new.next_retry_at.map(to_db_time)),
            webhook_deliveries::manual.eq(new.manual),
        ))
        .returning(delivery_columns!())
        .get_result(c)?);
    Ok(delivery_from_row(row))
}

/// One page of an endpoint's attempts, newest first.
pub fn deliveries(conn: &mut DbConn, endpoint_id: i64, page: Page) -> StoreResult<Paged<Delivery>> {
    let rows: Vec<DeliveryRow> = on_backend!(conn, c => webhook_deliveries::table
        .filter(webhook_deliveries::endpoint_id.eq(endpoint_id))
        .order(webhook_deliveries::id.desc())
        .limit(page.limit)
        .offset(page.offset)
        .select(delivery_columns!())
        .load(c)?);
    let total = match page.known_total(rows.len()) {
        Some(total) => total,
        None => on_backend!(conn, c => webhook_deliveries::table
            .filter(webhook_deliveries::endpoint_id.eq(endpoint_id))
            .count()
            .get_result(c)?),
    };
    Ok(Paged {
        items: rows.into_iter().map(delivery_from_row).collect(),
        total,
    })
}

/// Attempt `delivery_id` of endpoint `endpoint_id`.
pub fn find_delivery(
    conn: &mut DbConn,
    endpoint_id: i64,
    delivery_id: i64,
) -> StoreResult<Option<Delivery>> {
    let row: Option<DeliveryRow> = on_backend!(conn, c => webhook_deliveries::table
        .filter(webhook_deliveries::id.eq(delivery_id))
        .filter(webhook_deliveries::endpoint_id.eq(endpoint_id))
        .select(delivery_columns!())
        .first(c)
        .optional()?);
    Ok(row.map(delivery_from_row))
}

/// How many attempts at `event_id` endpoint `endpoint_id` has logged.
pub fn attempts_at(conn: &mut DbConn, endpoint_id: i64, event_id: i64) -> StoreResult<i32> {
    let count: i64 = on_backend!(conn, c => webhook_deliveries::table
        .filter(webhook_deliveries::endpoint_id.eq(endpoint_id))
        .filter(webhook_deliveries::event_id.eq(event_id))
        .count()
        .get_result(c)?);
    Ok(i32::try_from(count).unwrap_or(i32::MAX))
}

/// Deletes up to `batch` attempts made before `cutoff` (oldest first).
/// Returns how many went; call again until it returns less than `batch`.
pub fn purge_deliveries_before(
    conn: &mut DbConn,
    cutoff: DateTime<Utc>,
    batch: i64,
) -> StoreResult<usize> {
    let cutoff = to_db_time(cutoff);
    on_backend!(conn, c => {
        let ids: Vec<i64> = webhook_deliveries::table
            .filter(webhook_deliveries::attempted_at.lt(cutoff))
            .order(webhook_deliveries::id)
            .limit(batch)
            .select(webhook_deliveries::id)
            .load(c)?;
        if ids.is_empty() {
            return Ok(0);
        }
        Ok(diesel::delete(webhook_deliveries::table.filter(webhook_deliveries::id.eq_any(&ids)))
            .execute(c)?)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bodies_are_cut_on_a_character_boundary() {
        assert_eq!(truncate_on_char("abc", 5), "abc");
        assert_eq!(truncate_on_char("abcdef", 3), "abc");
        // "é" is two bytes: cutting inside it leaves the whole character out.
        assert_eq!(truncate_on_char("aé", 2), "a");
        let long = "ü".repeat(1000);
        let cut = truncate_on_char(&long, MAX_RESPONSE_BODY);
        assert!(cut.len() <= MAX_RESPONSE_BODY && cut.len() >= MAX_RESPONSE_BODY - 1);
    }
}
