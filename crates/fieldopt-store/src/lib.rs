//! # fieldopt-store
//!
//! Persistence for fieldopt: Diesel on SQLite or PostgreSQL behind one
//! connection type ([`DbConn`]), an r2d2 pool, and the migrations of both
//! backends embedded in the binary. Functions take `&mut DbConn` so the
//! caller decides on the transaction; commands that must hold under
//! concurrency run inside [`write_transaction`]. Everything returned is a
//! domain type from `fieldopt-domain`; Diesel never leaks out.

#![recursion_limit = "256"]

mod connection;
mod convert;
mod error;
mod paging;
mod schema;

pub mod admin;
pub mod assignments;
pub mod backup;
pub mod events;
pub mod idempotency;
pub mod integrity;
pub mod jobs;
pub mod outbox;
pub mod technicians;
pub mod versions;
pub mod webhooks;
pub mod workload;

pub use connection::{
    ConnectError, DEFAULT_TIMEOUT, DatabaseTarget, DbConn, DbConnManager, DbPool, PoolEntry,
    PoolOptions, PooledConn, build_pool, has_pending_migrations, ping, read_transaction,
    revert_all_migrations, run_migrations, snapshot_transaction, write_transaction,
};
pub use convert::{Stamp, now};
pub use error::{Entity, Outage, StoreError, StoreResult};
pub use paging::{Page, Paged};
