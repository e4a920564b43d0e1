//! Webhook endpoints, their delivery state and the log of attempts.
//!
//! An endpoint's state is a cursor into the outbox: every event up to
//! `delivered_through` is done (delivered, or skipped by the endpoint's
//! filter); the next matching one is sent on `next_attempt_at`. A process
//! delivering to an endpoint first *claims* it — a lease with its own
//! owner id — and every later change of the delivery state is conditional
//! on still holding it and on the cursor being where the claim found it, so
//! a process whose lease ran out can never overwrite another's progress.
//! A process that dies holding a lease loses nothing: once the lease ends
//! the endpoint is due again and the same event goes out again (at least
//! once).

use chrono::{DateTime, NaiveDateTime, Utc};
use diesel::prelude::*;
use fieldopt_domain::EventTypeFilter;

use crate::convert::{from_db_opt_time, from_db_time, to_db_time};
use crate::schema::{webhook_deliveries, webhook_endpoints};
use crate::{DbConn, Entity, Page, Paged, StoreError, StoreResult, on_backend, outbox};

/// Most endpoints one installation may have.
pub const MAX_ENDPOINTS: i64 = 100;

/// An endpoint as the API shows it (never with its secret).
#[derive(Debug, Clone, PartialEq)]
pub struct Endpoint {
    /// Its id.
    pub id: i64,
    /// Where events are POSTed.
    pub url: String,
    /// What it is for, in the owner's words.
    pub description: Option<String>,
    /// Which events it receives.
    pub event_types: EventTypeFilter,
    /// Whether events are sent to it.
    pub enabled: bool,
    /// When it was created.
    pub created_at: DateTime<Utc>,
    /// When it was last changed by a client.
    pub updated_at: DateTime<Utc>,
    /// Every event up to this id is done.
    pub delivered_through: i64,
    /// Failed attempts at the current event.
    pub attempts: u32,
    /// When the next attempt is due.
    pub next_attempt_at: DateTime<Utc>,
    /// Since when every attempt has failed.
    pub failing_since: Option<DateTime<Utc>>,
    /// Why it was disabled by the server, if it was.
    pub disabled_reason: Option<String>,
}

/// An endpoint claimed for delivery, with what signing needs.
#[derive(Debug, Clone)]
pub struct Claimed {
    /// The endpoint as claimed.
    pub endpoint: Endpoint,
    /// Its signing secret (`whsec_…`).
    pub secret: String,
}

/// A new endpoint.
#[derive(Debug, Clone)]
pub struct NewEndpoint {
    /// Already checked by the caller.
    pub url: String,
    /// Free text.
    pub description: Option<String>,
    /// Which events it receives.
    pub event_types: EventTypeFilter,
    /// Whether events are sent to it.
    pub enabled: bool,
    /// The signing secret.
    pub secret: String,
}

/// Changes to an endpoint; `None` leaves a field as it is.
#[derive(Debug, Clone, Default)]
pub struct EndpointChanges {
    /// A new, already checked URL.
    pub url: Option<String>,
    /// A new description, or `Some(None)` to clear it.
    pub description: Option<Option<String>>,
    /// A new filter.
    pub event_types: Option<EventTypeFilter>,
    /// Turn delivery on or off; turning it on clears the failure state.
    pub enabled: Option<bool>,
}

/// One attempt to deliver an event, as logged.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivery {
    /// Its id.
    pub id: i64,
    /// The endpoint.
    pub endpoint_id: i64,
    /// The event sent.
    pub event_id: i64,
    /// 1 for the first attempt at this event on this endpoint.
    pub attempt: u32,
    /// When the request was sent.
    pub attempted_at: DateTime<Utc>,
    /// The receiver's status code, if it answered.
    pub status_code: Option<u16>,
    /// From sending to the answer (or the failure).
    pub latency_ms: u32,
    /// Why it failed, when it did without a status code or with a non-2xx.
    pub error: Option<String>,
    /// The start of the receiver's body (at most 1 KiB).
    pub response_body: Option<String>,
    /// When the worker tries again (failures only).
    pub next_retry_at: Option<DateTime<Utc>>,
    /// Asked for by a client (`…/retry`) rather than made by the worker.
    pub manual: bool,
}

/// An attempt to log.
#[derive(Debug, Clone)]
pub struct NewAttempt {
    /// The event sent.
    pub event_id: i64,
    /// 1 for the first attempt at this event.
    pub attempt: u32,
    /// When the request was sent.
    pub attempted_at: DateTime<Utc>,
    /// The receiver's status code, if it answered.
    pub status_code: Option<u16>,
    /// From sending to the answer (or the failure).
    pub latency_ms: u32,
    /// Why it failed.
    pub error: Option<String>,
    /// The start of the receiver's body.
    pub response_body: Option<String>,
    /// When the worker tries again.
    pub next_retry_at: Option<DateTime<Utc>>,
    /// Asked for by a client.
    pub manual: bool,
}

/// What holding an endpoint looks like: changes apply only while the
/// lease is `owner`'s (when given) and the cursor is still at `cursor`.
#[derive(Debug, Clone, Copy)]
pub struct Guard<'a> {
    /// The lease owner that must still hold the endpoint, if any.
    pub owner: Option<&'a str>,
    /// Where the cursor must still be.
    pub cursor: i64,
}

/// What to do with the lease after a change.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lease {
    /// Leave it as it is (a client's manual retry).
    Keep,
    /// Hold it until then (more events follow in this round).
    Renew(DateTime<Utc>),
    /// Give it up.
    Release,
}

/// A change of an endpoint's delivery state.
#[derive(Debug, Clone)]
pub enum Progress {
    /// Nothing to send: the cursor moves to `through` (the events between
    /// did not match the filter), and the endpoint is free again.
    Idle {
        /// The newest event id known to have no match after the cursor.
        through: i64,
    },
    /// Everything up to `through` is done.
    Delivered {
        /// The delivered event, or a later id with no match in between.
        through: i64,
        /// When (the endpoint is due again at once).
        at: DateTime<Utc>,
        /// The lease afterwards.
        lease: Lease,
    },
    /// The attempt failed; the endpoint is free again.
    Failed {
        /// When.
        at: DateTime<Utc>,
        /// Since when it has been failing (kept if already set).
        failing_since: DateTime<Utc>,
        /// When to try again.
        next_attempt_at: DateTime<Utc>,
        /// Disable it, for this reason.
        disable: Option<String>,
    },
}

#[derive(Debug, Queryable, Selectable)]
#[diesel(table_name = webhook_endpoints)]
struct EndpointRow {
    id: i64,
    url: String,
    description: Option<String>,
    event_types: String,
    enabled: bool,
    secret: String,
    created_at: NaiveDateTime,
    updated_at: NaiveDateTime,
    delivered_through: i64,
    attempts: i32,
    next_attempt_at: NaiveDateTime,
    failing_since: Option<NaiveDateTime>,
    disabled_reason: Option<String>,
}

impl EndpointRow {
    fn into_claimed(self) -> StoreResult<Claimed> {
        let endpoint = Endpoint {
            id: self.id,
            url: self.url,
            description: self.description,
            event_types: EventTypeFilter::parse(&self.event_types)?,
            enabled: self.enabled,
            created_at: from_db_time(self.created_at),
            updated_at: from_db_time(self.updated_at),
            delivered_through: self.delivered_through,
            attempts: u32::try_from(self.attempts).unwrap_or(0),
            next_attempt_at: from_db_time(self.next_attempt_at),
            failing_since: from_db_opt_time(self.failing_since),
            disabled_reason: self.disabled_reason,
        };
        Ok(Claimed {
            endpoint,
            secret: self.secret,
        })
    }

    fn into_endpoint(self) -> StoreResult<Endpoint> {
        self.into_claimed().map(|claimed| claimed.endpoint)
    }
}

#[derive(Debug, Queryable, Selectable)]
#[diesel(table_name = webhook_deliveries)]
struct DeliveryRow {
    id: i64,
    endpoint_id: i64,
    event_id: i64,
    attempt: i32,
    attempted_at: NaiveDateTime,
    status_code: Option<i32>,
    latency_ms: i32,
    error: Option<String>,
    response_body: Option<String>,
    next_retry_at: Option<NaiveDateTime>,
    manual: bool,
}

impl From<DeliveryRow> for Delivery {
    fn from(row: DeliveryRow) -> Self {
        Delivery {
            id: row.id,
            endpoint_id: row.endpoint_id,
            event_id: row.event_id,
            attempt: u32::try_from(row.attempt).unwrap_or(0),
            attempted_at: from_db_time(row.attempted_at),
            status_code: row.status_code.and_then(|c| u16::try_from(c).ok()),
            latency_ms: u32::try_from(row.latency_ms).unwrap_or(0),
            error: row.error,
            response_body: row.response_body,
            next_retry_at: from_db_opt_time(row.next_retry_at),
            manual: row.manual,
        }
    }
}

fn int(value: u32) -> i32 {
    i32::try_from(value).unwrap_or(i32::MAX)
}

/// Creates an endpoint that receives the events committed from now on
/// (its cursor starts at the newest event). 409 past [`MAX_ENDPOINTS`].
pub fn create(conn: &mut DbConn, new: &NewEndpoint, now: DateTime<Utc>) -> StoreResult<Endpoint> {
    let count: i64 = on_backend!(conn, c => webhook_endpoints::table.count().get_result(c)?);
    if count >= MAX_ENDPOINTS {
        return Err(StoreError::conflict(format!(
            "At most {MAX_ENDPOINTS} webhook endpoints may exist; delete one first"
        )));
    }
    let newest = outbox::last_id(conn)?;
    let at = to_db_time(now);
    let row = (
        webhook_endpoints::url.eq(&new.url),
        webhook_endpoints::description.eq(&new.description),
        webhook_endpoints::event_types.eq(new.event_types.to_string()),
        webhook_endpoints::enabled.eq(new.enabled),
        webhook_endpoints::secret.eq(&new.secret),
        webhook_endpoints::created_at.eq(at),
        webhook_endpoints::updated_at.eq(at),
        webhook_endpoints::delivered_through.eq(newest),
        webhook_endpoints::attempts.eq(0),
        webhook_endpoints::next_attempt_at.eq(at),
    );
    let id: i64 = on_backend!(conn, c => diesel::insert_into(webhook_endpoints::table)
        .values(row)
        .returning(webhook_endpoints::id)
        .get_result(c)?);
    find(conn, id)
}

/// One endpoint.
pub fn find(conn: &mut DbConn, id: i64) -> StoreResult<Endpoint> {
    find_with_secret(conn, id).map(|claimed| claimed.endpoint)
}

/// One endpoint with its secret (to sign a manual retry).
pub fn find_with_secret(conn: &mut DbConn, id: i64) -> StoreResult<Claimed> {
    let row: Option<EndpointRow> = on_backend!(conn, c => webhook_endpoints::table
        .find(id)
        .select(EndpointRow::as_select())
        .first(c)
        .optional()?);
    row.ok_or(StoreError::NotFound(Entity::Webhook))?
        .into_claimed()
}

/// One page of endpoints by id.
pub fn list(conn: &mut DbConn, page: Page) -> StoreResult<Paged<Endpoint>> {
    let (rows, total): (Vec<EndpointRow>, i64) = on_backend!(conn, c => {
        let rows: Vec<EndpointRow> = webhook_endpoints::table
            .order(webhook_endpoints::id)
            .limit(page.limit)
            .offset(page.offset)
            .select(EndpointRow::as_select())
            .load(c)?;
        let total = match page.known_total(rows.len()) {
            Some(total) => total,
            None => webhook_endpoints::table.count().get_result(c)?,
        };
        (rows, total)
    });
    let items = rows
        .into_iter()
        .map(EndpointRow::into_endpoint)
        .collect::<StoreResult<_>>()?;
    Ok(Paged { items, total })
}

/// Applies a client's changes. Enabling an endpoint clears its failure
/// state and makes it due at once.
pub fn update(
    conn: &mut DbConn,
    id: i64,
    changes: &EndpointChanges,
    now: DateTime<Utc>,
) -> StoreResult<Endpoint> {
    let before = find(conn, id)?;
    let at = to_db_time(now);
    let url = changes.url.clone().unwrap_or(before.url);
    let description = changes.description.clone().unwrap_or(before.description);
    let event_types = changes
        .event_types
        .clone()
        .unwrap_or(before.event_types)
        .to_string();
    let enabled = changes.enabled.unwrap_or(before.enabled);
    let enabling = enabled && !before.enabled;
    on_backend!(conn, c => {
        diesel::update(webhook_endpoints::table.find(id))
            .set((
                webhook_endpoints::url.eq(&url),
                webhook_endpoints::description.eq(&description),
                webhook_endpoints::event_types.eq(&event_types),
                webhook_endpoints::enabled.eq(enabled),
                webhook_endpoints::updated_at.eq(at),
            ))
            .execute(c)?;
        if enabling {
            diesel::update(webhook_endpoints::table.find(id))
                .set((
                    webhook_endpoints::attempts.eq(0),
                    webhook_endpoints::failing_since.eq(None::<NaiveDateTime>),
                    webhook_endpoints::disabled_reason.eq(None::<String>),
                    webhook_endpoints::next_attempt_at.eq(at),
                ))
                .execute(c)?;
        }
    });
    find(conn, id)
}

/// Deletes an endpoint and its log.
pub fn delete(conn: &mut DbConn, id: i64) -> StoreResult<()> {
    let deleted = on_backend!(conn, c => {
        diesel::delete(webhook_deliveries::table.filter(webhook_deliveries::endpoint_id.eq(id)))
            .execute(c)?;
        diesel::delete(webhook_endpoints::table.find(id)).execute(c)?
    });
    if deleted == 0 {
        return Err(StoreError::NotFound(Entity::Webhook));
    }
    Ok(())
}

/// One page of an endpoint's attempts, newest first.
pub fn deliveries(conn: &mut DbConn, endpoint_id: i64, page: Page) -> StoreResult<Paged<Delivery>> {
    find(conn, endpoint_id)?;
    let (rows, total): (Vec<DeliveryRow>, i64) = on_backend!(conn, c => {
        let of_endpoint = || webhook_deliveries::table
            .filter(webhook_deliveries::endpoint_id.eq(endpoint_id));
        let rows: Vec<DeliveryRow> = of_endpoint()
            .order(webhook_deliveries::id.desc())
            .limit(page.limit)
            .offset(page.offset)
            .select(DeliveryRow::as_select())
            .load(c)?;
        let total = match page.known_total(rows.len()) {
            Some(total) => total,
            None => of_endpoint().count().get_result(c)?,
        };
        (rows, total)
    });
    Ok(Paged {
        items: rows.into_iter().map(Delivery::from).collect(),
        total,
    })
}

/// One attempt of an endpoint.
pub fn find_delivery(conn: &mut DbConn, endpoint_id: i64, id: i64) -> StoreResult<Delivery> {
    let row: Option<DeliveryRow> = on_backend!(conn, c => webhook_deliveries::table
        .find(id)
        .filter(webhook_deliveries::endpoint_id.eq(endpoint_id))
        .select(DeliveryRow::as_select())
        .first(c)
        .optional()?);
    row.map(Delivery::from)
        .ok_or(StoreError::NotFound(Entity::WebhookDelivery))
}

/// The number the next attempt at `event_id` on the endpoint gets.
pub fn next_attempt_number(conn: &mut DbConn, endpoint_id: i64, event_id: i64) -> StoreResult<u32> {
    let last: Option<i32> = on_backend!(conn, c => webhook_deliveries::table
        .filter(webhook_deliveries::endpoint_id.eq(endpoint_id))
        .filter(webhook_deliveries::event_id.eq(event_id))
        .select(diesel::dsl::max(webhook_deliveries::attempt))
        .first(c)?);
    Ok(u32::try_from(last.unwrap_or(0)).unwrap_or(0) + 1)
}

/// Logs an attempt.
pub fn insert_attempt(
    conn: &mut DbConn,
    endpoint_id: i64,
    attempt: &NewAttempt,
) -> StoreResult<Delivery> {
    let row = (
        webhook_deliveries::endpoint_id.eq(endpoint_id),
        webhook_deliveries::event_id.eq(attempt.event_id),
        webhook_deliveries::attempt.eq(int(attempt.attempt)),
        webhook_deliveries::attempted_at.eq(to_db_time(attempt.attempted_at)),
        webhook_deliveries::status_code.eq(attempt.status_code.map(i32::from)),
        webhook_deliveries::latency_ms.eq(int(attempt.latency_ms)),
        webhook_deliveries::error.eq(&attempt.error),
        webhook_deliveries::response_body.eq(&attempt.response_body),
        webhook_deliveries::next_retry_at.eq(attempt.next_retry_at.map(to_db_time)),
        webhook_deliveries::manual.eq(attempt.manual),
    );
    let id: i64 = on_backend!(conn, c => diesel::insert_into(webhook_deliveries::table)
        .values(row)
        .returning(webhook_deliveries::id)
        .get_result(c)?);
    find_delivery(conn, endpoint_id, id)
}

/// Whether some endpoint is due with events after its cursor, up to
/// `newest` (a cheap read before claiming, which writes).
pub fn any_due(conn: &mut DbConn, now: DateTime<Utc>, newest: i64) -> StoreResult<bool> {
    let now = to_db_time(now);
    let found: Option<i64> = on_backend!(conn, c => webhook_endpoints::table
        .filter(webhook_endpoints::enabled.eq(true))
        .filter(webhook_endpoints::next_attempt_at.le(now))
        .filter(webhook_endpoints::lease_until.is_null().or(webhook_endpoints::lease_until.lt(now)))
        .filter(webhook_endpoints::delivered_through.lt(newest))
        .select(webhook_endpoints::id)
        .first(c)
        .optional()?);
    Ok(found.is_some())
}

/// Claims up to `limit` due endpoints with events after their cursor (up
/// to `newest`) for `owner` until `lease_until`. Run it in a write
/// transaction: on PostgreSQL the rows are locked with `FOR UPDATE SKIP
/// LOCKED` (processes claiming at once take different endpoints); SQLite
/// has one writer at a time. Either way the update re-checks the lease.
pub fn claim(
    conn: &mut DbConn,
    owner: &str,
    now: DateTime<Utc>,
    lease_until: DateTime<Utc>,
    newest: i64,
    limit: i64,
) -> StoreResult<Vec<Claimed>> {
    let now = to_db_time(now);
    let until = to_db_time(lease_until);
    // The same condition for choosing and for taking.
    macro_rules! due {
        () => {
            webhook_endpoints::table
                .filter(webhook_endpoints::enabled.eq(true))
                .filter(webhook_endpoints::next_attempt_at.le(now))
                .filter(
                    webhook_endpoints::lease_until
                        .is_null()
                        .or(webhook_endpoints::lease_until.lt(now)),
                )
                .filter(webhook_endpoints::delivered_through.lt(newest))
        };
    }
    let ids: Vec<i64> = match conn {
        DbConn::Postgres(c) => due!()
            .order(webhook_endpoints::next_attempt_at)
            .limit(limit)
            .select(webhook_endpoints::id)
            .for_update()
            .skip_locked()
            .load(c)?,
        DbConn::Sqlite(c) => due!()
            .order(webhook_endpoints::next_attempt_at)
            .limit(limit)
            .select(webhook_endpoints::id)
            .load(c)?,
    };
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let rows: Vec<EndpointRow> = on_backend!(conn, c => {
        diesel::update(due!().filter(webhook_endpoints::id.eq_any(&ids)))
            .set((
                webhook_endpoints::lease_until.eq(until),
                webhook_endpoints::lease_owner.eq(owner),
            ))
            .execute(c)?;
        webhook_endpoints::table
            .filter(webhook_endpoints::id.eq_any(&ids))
            .filter(webhook_endpoints::lease_owner.eq(owner))
            .filter(webhook_endpoints::lease_until.eq(until))
            .order(webhook_endpoints::next_attempt_at)
            .select(EndpointRow::as_select())
            .load(c)?
    });
    rows.into_iter().map(EndpointRow::into_claimed).collect()
}

/// Changes an endpoint's delivery state if `guard` still holds; returns
/// the endpoint afterwards, or `None` when the guard no longer held (the
/// lease was lost, or the cursor moved meanwhile).
pub fn advance(
    conn: &mut DbConn,
    id: i64,
    guard: Guard<'_>,
    progress: &Progress,
) -> StoreResult<Option<Endpoint>> {
    let changed = on_backend!(conn, c => {
        let mut target = webhook_endpoints::table
            .filter(webhook_endpoints::id.eq(id))
            .filter(webhook_endpoints::delivered_through.eq(guard.cursor))
            .into_boxed();
        if let Some(owner) = guard.owner {
            target = target.filter(webhook_endpoints::lease_owner.eq(owner));
        }
        let ids: Vec<i64> = target.select(webhook_endpoints::id).load(c)?;
        if ids.is_empty() {
            0
        } else {
            let row = webhook_endpoints::table.find(id);
            let free = (
                webhook_endpoints::lease_until.eq(None::<NaiveDateTime>),
                webhook_endpoints::lease_owner.eq(None::<String>),
            );
            match progress {
                Progress::Idle { through } => diesel::update(row)
                    .set((webhook_endpoints::delivered_through.eq((*through).max(guard.cursor)), free))
                    .execute(c)?,
                Progress::Delivered { through, at, lease } => {
                    let at = to_db_time(*at);
                    let done = diesel::update(row)
                        .set((
                            webhook_endpoints::delivered_through.eq(*through),
                            webhook_endpoints::attempts.eq(0),
                            webhook_endpoints::failing_since.eq(None::<NaiveDateTime>),
                            webhook_endpoints::next_attempt_at.eq(at),
                        ))
                        .execute(c)?;
                    match lease {
                        Lease::Keep => {}
                        Lease::Renew(until) => {
                            diesel::update(row)
                                .set(webhook_endpoints::lease_until.eq(to_db_time(*until)))
                                .execute(c)?;
                        }
                        Lease::Release => {
                            diesel::update(row).set(free).execute(c)?;
                        }
                    }
                    done
                }
                Progress::Failed { at: _, failing_since, next_attempt_at, disable } => {
                    let done = diesel::update(row)
                        .set((
                            webhook_endpoints::attempts.eq(webhook_endpoints::attempts + 1),
                            webhook_endpoints::failing_since.eq(to_db_time(*failing_since)),
                            webhook_endpoints::next_attempt_at.eq(to_db_time(*next_attempt_at)),
                            free,
                        ))
                        .execute(c)?;
                    if let Some(reason) = disable {
                        diesel::update(row)
                            .set((
                                webhook_endpoints::enabled.eq(false),
                                webhook_endpoints::disabled_reason.eq(reason),
                            ))
                            .execute(c)?;
                    }
                    done
                }
            }
        }
    });
    if changed == 0 {
        return Ok(None);
    }
    find(conn, id).map(Some)
}

/// Deletes up to `batch` attempts logged before `cutoff` (oldest first).
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
