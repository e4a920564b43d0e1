//! Stored responses for `Idempotency-Key` retries.

use chrono::{DateTime, Duration, Utc};
use diesel::prelude::*;

use crate::convert::to_db_time;
use crate::schema::idempotency_keys;
use crate::{DbConn, StoreResult, on_backend};

/// How long a key is remembered.
pub const RETENTION_HOURS: i64 = 24;

/// The first response given for a key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredResponse {
    /// Fingerprint of the request (method, path, body).
    pub request_hash: String,
    /// HTTP status.
    pub status_code: u16,
    /// Response body (JSON text).
    pub body: String,
}

/// The response stored for `key` within the retention window.
pub fn find(conn: &mut DbConn, key: &str, now: DateTime<Utc>) -> StoreResult<Option<StoredResponse>> {
    let cutoff = to_db_time(now - Duration::hours(RETENTION_HOURS));
    let row: Option<(String, i32, String)> = on_backend!(conn, c => idempotency_keys::table
        .filter(idempotency_keys::idempotency_key.eq(key))
        .filter(idempotency_keys::created_at.gt(cutoff))
        .select((
            idempotency_keys::request_hash,
            idempotency_keys::status_code,
            idempotency_keys::response_body,
        ))
        .first(c)
        .optional()?);
    Ok(row.map(|(request_hash, status, body)| StoredResponse {
        request_hash,
        status_code: u16::try_from(status).unwrap_or(500),
        body,
    }))
}

/// Remembers the response for `key`, replacing an expired entry. Returns
/// false when another request stored one first.
pub fn save(conn: &mut DbConn, key: &str, response: &StoredResponse, now: DateTime<Utc>) -> StoreResult<bool> {
    let cutoff = to_db_time(now - Duration::hours(RETENTION_HOURS));
    let inserted = on_backend!(conn, c => {
        diesel::delete(idempotency_keys::table.filter(idempotency_keys::created_at.le(cutoff)))
            .execute(c)?;
        diesel::insert_into(idempotency_keys::table)
            .values((
                idempotency_keys::idempotency_key.eq(key),
                idempotency_keys::request_hash.eq(&response.request_hash),
                idempotency_keys::status_code.eq(i32::from(response.status_code)),
                idempotency_keys::response_body.eq(&response.body),
                idempotency_keys::created_at.eq(to_db_time(now)),
            ))
            .on_conflict(idempotency_keys::idempotency_key)
            .do_nothing()
            .execute(c)?
    });
    Ok(inserted == 1)
}
