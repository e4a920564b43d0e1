//! The change counter behind conditional requests.
//!
//! Every write transaction adds one to one row of `data_versions` just
//! before it commits ([`crate::write_transaction`] does it), so the sum of
//! the rows changes exactly when committed data may have changed — in this
//! process or any other sharing the database. A reader that takes the
//! version *before* reading the data can only pair a version with data at
//! least as new, so a tag built from it is never stale (at worst a client
//! downloads an unchanged body once more).

use std::hash::{Hash, Hasher};

use diesel::prelude::*;

use crate::schema::data_versions;
use crate::{DbConn, StoreResult, on_backend};

/// How many counter rows the migration creates: writers spread over them
/// so that, on PostgreSQL, two concurrent commits rarely wait on one row.
const SHARDS: u64 = 16;

/// The current change counter: grows with every committed write.
pub fn data_version(conn: &mut DbConn) -> StoreResult<i64> {
    let versions: Vec<i64> = on_backend!(conn, c => data_versions::table
        .select(data_versions::version)
        .load(c)?);
    Ok(versions.iter().sum())
}

/// Counts one write; called inside the writing transaction.
pub(crate) fn count_write(conn: &mut DbConn) -> StoreResult<()> {
    // Concurrent writers run on different threads, so the thread picks the
    // row: two commits rarely wait on each other.
    let mut hasher = std::hash::DefaultHasher::new();
    std::thread::current().id().hash(&mut hasher);
    let shard = i32::try_from(hasher.finish() % SHARDS).unwrap_or(0);
    on_backend!(conn, c => diesel::update(data_versions::table.find(shard))
        .set(data_versions::version.eq(data_versions::version + 1))
        .execute(c)?);
    Ok(())
}
