//! Stored responses for `Idempotency-Key` retries.
//!
//! A key is first *reserved* (a row with no response yet), then completed
//! with the response, or released when the request failed on the server's
//! side so that a retry may run again. A second request with a reserved key
//! learns that the first is still in flight.

use chrono::{DateTime, Duration, Utc};
use diesel::prelude::*;

use crate::convert::to_db_time;
use crate::schema::idempotency_keys;
use crate::{DbConn, StoreResult, on_backend};

/// How long a key is remembered.
pub const RETENTION_HOURS: i64 = 24;

/// Status code stored while the first request is still running.
const IN_FLIGHT: i32 = 0;

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
    /// The first request finished with this response.
    Completed {
        /// Fingerprint of that request.
        request_hash: String,
        /// Its HTTP status.
        status_code: u16,
        /// Its body (JSON text, empty for 204).
        body: String,
    },
}

/// Reserves `key` for a request with fingerprint `request_hash`, or tells
/// what an earlier request with the key did. Run in a write transaction.
pub fn reserve(
    conn: &mut DbConn,
    key: &str,
    request_hash: &str,
    now: DateTime<Utc>,
) -> StoreResult<KeyState> {
    let cutoff = to_db_time(now - Duration::hours(RETENTION_HOURS));
    let existing: Option<(String, i32, String)> = on_backend!(conn, c => {
        diesel::delete(idempotency_keys::table.filter(idempotency_keys::created_at.le(cutoff)))
            .execute(c)?;
        idempotency_keys::table
            .filter(idempotency_keys::idempotency_key.eq(key))
            .select((
                idempotency_keys::request_hash,
                idempotency_keys::status_code,
                idempotency_keys::response_body,
            ))
            .first(c)
            .optional()?
    });
    match existing {
        Some((request_hash, IN_FLIGHT, _)) => Ok(KeyState::InFlight { request_hash }),
        Some((request_hash, status, body)) => Ok(KeyState::Completed {
            request_hash,
            status_code: u16::try_from(status).unwrap_or(500),
            body,
        }),
        None => {
            on_backend!(conn, c => diesel::insert_into(idempotency_keys::table)
                .values((
                    idempotency_keys::idempotency_key.eq(key),
                    idempotency_keys::request_hash.eq(request_hash),
                    idempotency_keys::status_code.eq(IN_FLIGHT),
                    idempotency_keys::response_body.eq(""),
                    idempotency_keys::created_at.eq(to_db_time(now)),
                ))
                .execute(c)?);
            Ok(KeyState::Reserved)
        }
    }
}

/// Stores the response of the request that reserved `key`.
pub fn complete(conn: &mut DbConn, key: &str, status_code: u16, body: &str) -> StoreResult<()> {
    on_backend!(conn, c => diesel::update(
            idempotency_keys::table.filter(idempotency_keys::idempotency_key.eq(key)),
        )
        .set((
            idempotency_keys::status_code.eq(i32::from(status_code)),
            idempotency_keys::response_body.eq(body),
        ))
        .execute(c)?);
    Ok(())
}

/// Forgets a reservation, so that a retry runs the request again.
pub fn release(conn: &mut DbConn, key: &str) -> StoreResult<()> {
    on_backend!(conn, c => diesel::delete(
            idempotency_keys::table
                .filter(idempotency_keys::idempotency_key.eq(key))
                .filter(idempotency_keys::status_code.eq(IN_FLIGHT)),
        )
        .execute(c)?);
    Ok(())
}
