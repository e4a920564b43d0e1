//! Stored responses for `Idempotency-Key` retries.
//!
//! Keys belong to a client (a token's subject, else an address), so one
//! client can never see or block another's. A key is first *reserved* — a
//! lease that ends a little after the longest request could — then
//! completed with the response, or released when the request failed on the
//! server's side so that a retry may run again. A second request with a
//! reserved key learns that the first is still in flight; once the lease has
//! ended (the first request was lost to a crash), the key is free again —
//! unless the request's own transaction had already marked the key
//! *applied* ([`mark_applied`]): then its writes are in the database but its
//! answer was lost, and running it again would do them twice, so a retry
//! learns that instead. What one client may store is bounded.

use chrono::{DateTime, Duration, Utc};
use diesel::dsl::{count_star, sum};
use diesel::prelude::*;

use crate::convert::to_db_time;
use crate::schema::idempotency_keys;
use crate::{DbConn, StoreResult, on_backend};

/// How long a key is remembered.
pub const RETENTION_HOURS: i64 = 24;

/// Status code stored while the first request is still running.
const IN_FLIGHT: i32 = 0;

/// Status code stored by the request's own write transaction: its writes
/// committed, its response is not stored yet.
const APPLIED: i32 = 1;

/// Bounds of the store, per client.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// How long a reservation holds its key without an answer.
    pub lease: Duration,
    /// Most keys a client may hold (24 hours).
    pub max_keys: i64,
    /// Most bytes of stored responses a client may hold.
    pub max_bytes: i64,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            lease: Duration::seconds(120),
            max_keys: 10_000,
            max_bytes: 64 << 20,
        }
    }
}

/// What the store knows about a key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyState {
    /// The key was free and is now reserved for this request.
    Reserved,
    /// Another request with the key is still running.
    InFlight {
        /// Fingerprint of that request.
        request_hash: String,
    },
    /// The first request's writes committed, but the server stopped (a
    /// crash, a forced shutdown) before its response was stored.
    AppliedUnanswered {
        /// Fingerprint of that request.
        request_hash: String,
    },
    /// The first request finished with this response.
    Completed {
        /// Fingerprint of that request.
        request_hash: String,
        /// Its HTTP status.
        status_code: u16,
        /// Its body (JSON text, empty for 204).
        body: String,
    },
    /// The client already holds as many keys or bytes as it may.
    OverQuota,
}

diesel::define_sql_function! {
    /// `LENGTH(text)`: characters on both backends.
    fn length(x: diesel::sql_types::Text) -> diesel::sql_types::Integer;
}

/// Reserves `client`'s `key` for a request with fingerprint
/// `request_hash`, or tells what an earlier request with the key did. Run in
/// a write transaction.
pub fn reserve(
    conn: &mut DbConn,
    client: &str,
    key: &str,
    request_hash: &str,
    now: DateTime<Utc>,
    limits: Limits,
) -> StoreResult<KeyState> {
    let cutoff = to_db_time(now - Duration::hours(RETENTION_HOURS));
    let at = to_db_time(now);
    let lease_until = to_db_time(now + limits.lease);
    let existing: Option<(String, i32, String, Option<chrono::NaiveDateTime>)> = on_backend!(conn, c => {
        diesel::delete(idempotency_keys::table.filter(idempotency_keys::created_at.le(cutoff)))
            .execute(c)?;
        idempotency_keys::table
            .filter(idempotency_keys::client.eq(client))
            .filter(idempotency_keys::idempotency_key.eq(key))
            .select((
                idempotency_keys::request_hash,
                idempotency_keys::status_code,
                idempotency_keys::response_body,
                idempotency_keys::lease_until,
            ))
            .first(c)
            .optional()?
    });
    match existing {
        Some((request_hash, IN_FLIGHT, _, lease)) if lease.is_some_and(|end| end > at) => {
            Ok(KeyState::InFlight { request_hash })
        }
        // A reservation whose lease ended: its request was lost; take it over.
        Some((_, IN_FLIGHT, _, _)) => {
            on_backend!(conn, c => diesel::update(
                    idempotency_keys::table
                        .filter(idempotency_keys::client.eq(client))
                        .filter(idempotency_keys::idempotency_key.eq(key)),
                )
                .set((
                    idempotency_keys::request_hash.eq(request_hash),
                    idempotency_keys::created_at.eq(at),
                    idempotency_keys::lease_until.eq(Some(lease_until)),
                ))
                .execute(c)?);
            Ok(KeyState::Reserved)
        }
        Some((request_hash, APPLIED, _, _)) => Ok(KeyState::AppliedUnanswered { request_hash }),
        Some((request_hash, status, body, _)) => Ok(KeyState::Completed {
            request_hash,
            status_code: u16::try_from(status).unwrap_or(500),
            body,
        }),
        None => {
            let (keys, bytes): (i64, Option<i64>) = on_backend!(conn, c => idempotency_keys::table
                .filter(idempotency_keys::client.eq(client))
                .select((
                    count_star(),
                    sum(length(idempotency_keys::response_body)),
                ))
                .first(c)?);
            if keys >= limits.max_keys || bytes.unwrap_or(0) >= limits.max_bytes {
                return Ok(KeyState::OverQuota);
            }
            on_backend!(conn, c => diesel::insert_into(idempotency_keys::table)
                .values((
                    idempotency_keys::client.eq(client),
                    idempotency_keys::idempotency_key.eq(key),
                    idempotency_keys::request_hash.eq(request_hash),
                    idempotency_keys::status_code.eq(IN_FLIGHT),
                    idempotency_keys::response_body.eq(""),
                    idempotency_keys::created_at.eq(at),
                    idempotency_keys::lease_until.eq(Some(lease_until)),
                ))
                .execute(c)?);
            Ok(KeyState::Reserved)
        }
    }
}

/// Marks `client`'s reserved `key` applied. Run inside the request's own
/// write transaction, so the mark commits exactly when its writes do: a
/// crash before the response is stored can then never let a retry run the
/// request a second time.
pub fn mark_applied(conn: &mut DbConn, client: &str, key: &str) -> StoreResult<()> {
    on_backend!(conn, c => diesel::update(
            idempotency_keys::table
                .filter(idempotency_keys::client.eq(client))
                .filter(idempotency_keys::idempotency_key.eq(key))
                .filter(idempotency_keys::status_code.eq(IN_FLIGHT)),
        )
        .set(idempotency_keys::status_code.eq(APPLIED))
        .execute(c)?);
    Ok(())
}

/// Stores the response of the request that reserved `client`'s `key`.
pub fn complete(
    conn: &mut DbConn,
    client: &str,
    key: &str,
    status_code: u16,
    body: &str,
) -> StoreResult<()> {
    on_backend!(conn, c => diesel::update(
            idempotency_keys::table
                .filter(idempotency_keys::client.eq(client))
                .filter(idempotency_keys::idempotency_key.eq(key)),
        )
        .set((
            idempotency_keys::status_code.eq(i32::from(status_code)),
            idempotency_keys::response_body.eq(body),
            idempotency_keys::lease_until.eq(None::<chrono::NaiveDateTime>),
        ))
        .execute(c)?);
    Ok(())
}

/// Forgets a reservation, so that a retry runs the request again; a key
/// marked applied is kept (its writes happened).
pub fn release(conn: &mut DbConn, client: &str, key: &str) -> StoreResult<()> {
    on_backend!(conn, c => diesel::delete(
            idempotency_keys::table
                .filter(idempotency_keys::client.eq(client))
                .filter(idempotency_keys::idempotency_key.eq(key))
                .filter(idempotency_keys::status_code.eq(IN_FLIGHT)),
        )
        .execute(c)?);
    Ok(())
}
