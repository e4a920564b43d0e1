//! Connections, the pool, transactions and migrations for both backends.

use std::fmt;
use std::time::{Duration, Instant};

use diesel::connection::{AnsiTransactionManager, SimpleConnection, TransactionManager};
use diesel::pg::PgConnection;
use diesel::r2d2::R2D2Connection;
use diesel::sqlite::SqliteConnection;
use diesel::{Connection, ConnectionError};
use diesel_migrations::{EmbeddedMigrations, MigrationHarness, embed_migrations};

use crate::{Outage, StoreError, StoreResult};

const SQLITE_MIGRATIONS: EmbeddedMigrations = embed_migrations!("../../migrations/sqlite");
const POSTGRES_MIGRATIONS: EmbeddedMigrations = embed_migrations!("../../migrations/postgres");

/// The default of `FIELDOPT_DB_TIMEOUT_MS`: how long any one wait on the
/// database may last.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(5);

/// Arbitrary key of the PostgreSQL advisory lock that serialises migrations
/// when several servers start at once.
const MIGRATION_LOCK_KEY: i64 = 0x6669_656c_646f_7074;

/// A connection to either backend. Queries are written once and compiled for
/// each variant with [`on_backend!`](crate::on_backend).
#[derive(diesel::MultiConnection)]
pub enum DbConn {
    /// PostgreSQL.
    Postgres(PgConnection),
    /// SQLite.
    Sqlite(SqliteConnection),
}

impl fmt::Debug for DbConn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            DbConn::Postgres(_) => "DbConn::Postgres",
            DbConn::Sqlite(_) => "DbConn::Sqlite",
        })
    }
}

/// Runs `$body` with `$c` bound to the concrete connection of either variant,
/// so one Diesel query serves both backends (and can use what the
/// `MultiConnection` enum cannot: `RETURNING`, `ON CONFLICT`).
#[macro_export]
#[doc(hidden)]
macro_rules! on_backend {
    ($conn:expr, $c:ident => $body:expr) => {
        match $conn {
            $crate::DbConn::Postgres($c) => $body,
            $crate::DbConn::Sqlite($c) => $body,
        }
    };
}

/// Which database a URL points at.
#[derive(Clone, PartialEq, Eq)]
pub enum DatabaseTarget {
    /// A PostgreSQL connection URL.
    Postgres(String),
    /// An SQLite file path, or `:memory:`.
    Sqlite(String),
}

impl fmt::Debug for DatabaseTarget {
    // The URL may carry a password: never print it.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DatabaseTarget::Postgres(_) => f.write_str("Postgres(..)"),
            DatabaseTarget::Sqlite(path) => write!(f, "Sqlite({path:?})"),
        }
    }
}

impl DatabaseTarget {
    /// Chooses the backend from the URL: `postgres://` and `postgresql://`
    /// select PostgreSQL; `sqlite://PATH`, `sqlite:PATH`, `sqlite::memory:`
    /// and a plain path select SQLite. Other schemes are refused.
    pub fn parse(url: &str) -> Result<Self, String> {
        let url = url.trim();
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            return Ok(Self::Postgres(url.to_string()));
        }
        if url == "sqlite::memory:" || url == ":memory:" {
            return Ok(Self::Sqlite(":memory:".to_string()));
        }
        let path = url
            .strip_prefix("sqlite://")
            .or_else(|| url.strip_prefix("sqlite:"))
            .unwrap_or(url);
        if path.is_empty() {
            return Err("the SQLite database path is empty".to_string());
        }
        if !url.starts_with("sqlite:") && path.contains("://") {
            return Err(format!(
                "unsupported database URL scheme in {:?} (use postgres://, postgresql:// or sqlite://)",
                url.split("://").next().unwrap_or_default()
            ));
        }
        Ok(Self::Sqlite(path.to_string()))
    }

    /// A short name for logs: `sqlite` or `postgres`.
    pub fn backend_name(&self) -> &'static str {
        match self {
            DatabaseTarget::Postgres(_) => "postgres",
            DatabaseTarget::Sqlite(_) => "sqlite",
        }
    }

    /// Whether the database takes one writer at a time (SQLite), so a
    /// process does better queueing its writers than letting them poll the
    /// lock.
    pub fn has_single_writer(&self) -> bool {
        matches!(self, DatabaseTarget::Sqlite(_))
    }

    fn is_memory(&self) -> bool {
        matches!(self, DatabaseTarget::Sqlite(path) if path == ":memory:")
    }

    /// A sensible pool size: one for an in-memory SQLite database (every
    /// connection would see its own empty database), 8 for an SQLite file
    /// (readers run in parallel under WAL, writers queue), 16 for PostgreSQL.
    pub fn default_pool_size(&self) -> u32 {
        match self {
            _ if self.is_memory() => 1,
            DatabaseTarget::Sqlite(_) => 8,
            DatabaseTarget::Postgres(_) => 16,
        }
    }

    /// Opens one connection with the default timeout ([`DEFAULT_TIMEOUT`]).
    pub fn connect(&self) -> Result<DbConn, ConnectError> {
        self.connect_within(DEFAULT_TIMEOUT)
    }

    /// Opens one connection whose every wait is bounded by `timeout`:
    /// connecting (PostgreSQL `connect_timeout`, unless the URL sets one),
    /// waiting for a lock (`lock_timeout`, SQLite `busy_timeout`) and
    /// running a statement (`statement_timeout`), so a database that stops
    /// answering fails a request instead of holding it.
    pub fn connect_within(&self, timeout: Duration) -> Result<DbConn, ConnectError> {
        let millis = timeout.as_millis().max(1);
        match self {
            DatabaseTarget::Postgres(url) => {
                let mut conn = PgConnection::establish(&with_connect_timeout(url, timeout))?;
                // A statement stuck on a lock hits lock_timeout first (its
                // clock starts earlier), so the client hears "locked".
                let statement_millis = millis + millis / 10;
                conn.batch_execute(&format!(
                    "SET statement_timeout = {statement_millis}; SET lock_timeout = {millis};"
                ))?;
                Ok(DbConn::Postgres(conn))
            }
            DatabaseTarget::Sqlite(path) => {
                let mut conn = SqliteConnection::establish(path)?;
                // busy_timeout first, so switching to WAL waits for other openers.
                conn.batch_execute(&format!(
                    "PRAGMA busy_timeout = {millis};
                     PRAGMA journal_mode = WAL;
                     PRAGMA synchronous = NORMAL;
                     PRAGMA foreign_keys = ON;"
                ))
                .map_err(|e| ConnectError(format!("configuring SQLite: {e}")))?;
                Ok(DbConn::Sqlite(conn))
            }
        }
    }
}

/// `url` with libpq's `connect_timeout` (whole seconds, at least 2 as libpq
/// counts) added, unless the URL already chooses one.
fn with_connect_timeout(url: &str, timeout: Duration) -> String {
    if url.contains("connect_timeout=") {
        return url.to_string();
    }
    let seconds = timeout.as_secs_f64().ceil().max(2.0);
    let separator = if url.contains('?') { '&' } else { '?' };
    format!("{url}{separator}connect_timeout={seconds}")
}

/// Why a connection could not be opened, with the database's own words.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{0}")]
pub struct ConnectError(String);

impl ConnectError {
    pub(crate) fn new(message: impl Into<String>) -> Self {
        ConnectError(message.into())
    }
}

impl From<ConnectionError> for ConnectError {
    fn from(error: ConnectionError) -> Self {
        ConnectError(error.to_string().trim().to_string())
    }
}

impl From<diesel::result::Error> for ConnectError {
    fn from(error: diesel::result::Error) -> Self {
        ConnectError(error.to_string())
    }
}

/// The r2d2 manager: opens connections of the chosen backend and keeps the
/// database's error message when that fails.
#[derive(Debug, Clone)]
pub struct DbConnManager {
    target: DatabaseTarget,
    timeout: Duration,
}

/// How long a connection may sit idle in the pool and still be trusted
/// without a ping. A database restart takes longer (`pg_ctl` alone polls
/// every 100 ms), so a connection it left dead has always been idle
/// longer, while connections in steady use — back in the pool for a
/// fraction of a millisecond between requests — skip the round trip.
const TRUSTED_IDLE: Duration = Duration::from_millis(50);

/// A connection as the pool keeps it: the connection and when it was last
/// given back (see [`TRUSTED_IDLE`]). Dereferences to [`DbConn`].
pub struct PoolEntry {
    conn: DbConn,
    idle_since: Instant,
}

impl fmt::Debug for PoolEntry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PoolEntry")
            .field("idle_since", &self.idle_since)
            .finish_non_exhaustive()
    }
}

impl std::ops::Deref for PoolEntry {
    type Target = DbConn;
    fn deref(&self) -> &DbConn {
        &self.conn
    }
}

impl std::ops::DerefMut for PoolEntry {
    fn deref_mut(&mut self) -> &mut DbConn {
        &mut self.conn
    }
}

impl r2d2::ManageConnection for DbConnManager {
    type Connection = PoolEntry;
    type Error = ConnectError;

    fn connect(&self) -> Result<PoolEntry, ConnectError> {
        Ok(PoolEntry {
            conn: self.target.connect_within(self.timeout)?,
            idle_since: Instant::now(),
        })
    }

    fn is_valid(&self, entry: &mut PoolEntry) -> Result<(), ConnectError> {
        if entry.idle_since.elapsed() < TRUSTED_IDLE {
            return Ok(());
        }
        entry.conn.ping().map_err(ConnectError::from)
    }

    fn has_broken(&self, entry: &mut PoolEntry) -> bool {
        // Called as the connection goes back to the pool.
        entry.idle_since = Instant::now();
        entry.conn.is_broken()
    }
}

/// A pool of connections to one database.
pub type DbPool = r2d2::Pool<DbConnManager>;

/// A connection borrowed from the pool.
pub type PooledConn = r2d2::PooledConnection<DbConnManager>;

/// Pool settings.
#[derive(Debug, Clone)]
pub struct PoolOptions {
    /// Where the database is.
    pub target: DatabaseTarget,
    /// Most connections; `None` picks [`DatabaseTarget::default_pool_size`].
    pub max_size: Option<u32>,
    /// The longest any one wait on the database may last: for a free
    /// connection, to connect, for a lock, for a statement
    /// ([`DatabaseTarget::connect_within`]).
    pub timeout: Duration,
}

impl PoolOptions {
    /// Defaults for `target`.
    pub fn new(target: DatabaseTarget) -> Self {
        Self {
            target,
            max_size: None,
            timeout: DEFAULT_TIMEOUT,
        }
    }
}

/// Opens one connection first (so a wrong URL or password is reported as the
/// database said it), then builds the pool.
pub fn build_pool(options: PoolOptions) -> Result<DbPool, ConnectError> {
    let first = options.target.connect_within(options.timeout)?;
    drop(first);
    let max_size = if options.target.is_memory() {
        1
    } else {
        options
            .max_size
            .unwrap_or_else(|| options.target.default_pool_size())
            .max(1)
    };
    // A connection that breaks in use is dropped on return (Diesel marks
    // it broken). But a PostgreSQL restart while connections sit idle
    // leaves them dead unseen: a ping at checkout of a connection idle
    // longer than [`TRUSTED_IDLE`] finds them and opens fresh ones, so no
    // request fails once the server is back. An SQLite connection cannot go
    // stale that way.
    let test_on_check_out = matches!(options.target, DatabaseTarget::Postgres(_));
    r2d2::Pool::builder()
        .max_size(max_size)
        .min_idle(Some(max_size.min(2)))
        .connection_timeout(options.timeout)
        .test_on_check_out(test_on_check_out)
        .build(DbConnManager {
            target: options.target,
            timeout: options.timeout,
        })
        .map_err(|e| ConnectError(e.to_string()))
}

/// Runs the pending migrations of the connection's backend; returns how
/// many ran. On PostgreSQL an advisory lock makes concurrent starts safe.
pub fn run_migrations(conn: &mut DbConn) -> StoreResult<usize> {
    let outcome = match conn {
        DbConn::Sqlite(c) => c.run_pending_migrations(SQLITE_MIGRATIONS).map(|v| v.len()),
        DbConn::Postgres(c) => {
            // Migrations (and waiting for another server's) may take longer
            // than a request may: lift the connection's timeouts meanwhile,
            // keeping its own values in session settings to put them back.
            c.batch_execute(&format!(
                "SELECT set_config('fieldopt.statement_timeout', current_setting('statement_timeout'), false),
                        set_config('fieldopt.lock_timeout', current_setting('lock_timeout'), false);
                 SET statement_timeout = 0; SET lock_timeout = 0;
                 SELECT pg_advisory_lock({MIGRATION_LOCK_KEY})"
            ))?;
            let ran = c
                .run_pending_migrations(POSTGRES_MIGRATIONS)
                .map(|v| v.len());
            c.batch_execute(&format!(
                "SELECT pg_advisory_unlock({MIGRATION_LOCK_KEY});
                 SELECT set_config('statement_timeout', current_setting('fieldopt.statement_timeout'), false),
                        set_config('lock_timeout', current_setting('fieldopt.lock_timeout'), false)"
            ))?;
            ran
        }
    };
    outcome.map_err(|e| StoreError::unavailable(Outage::Storage, format!("migration failed: {e}")))
}

/// Whether the database lacks migrations this build knows (a schema that
/// `run_migrations` has not brought up to date).
pub fn has_pending_migrations(conn: &mut DbConn) -> StoreResult<bool> {
    let pending = match conn {
        DbConn::Sqlite(c) => c.has_pending_migration(SQLITE_MIGRATIONS),
        DbConn::Postgres(c) => c.has_pending_migration(POSTGRES_MIGRATIONS),
    };
    pending.map_err(|e| {
        StoreError::unavailable(
            Outage::Storage,
            format!("reading the migrations failed: {e}"),
        )
    })
}

/// Reverts every migration (for tests of `down.sql`).
pub fn revert_all_migrations(conn: &mut DbConn) -> StoreResult<usize> {
    let outcome = match conn {
        DbConn::Sqlite(c) => c.revert_all_migrations(SQLITE_MIGRATIONS).map(|v| v.len()),
        DbConn::Postgres(c) => c
            .revert_all_migrations(POSTGRES_MIGRATIONS)
            .map(|v| v.len()),
    };
    outcome.map_err(|e| {
        StoreError::unavailable(Outage::Storage, format!("migration revert failed: {e}"))
    })
}

/// Whether the database answers a trivial query.
pub fn ping(conn: &mut DbConn) -> StoreResult<()> {
    conn.batch_execute("SELECT 1").map_err(StoreError::from)
}

/// Runs `work` in a transaction that takes the write lock up front:
/// `BEGIN IMMEDIATE` on SQLite (so two writers queue on `busy_timeout`
/// instead of failing with "database is locked" when a read turns into a
/// write), a plain `BEGIN` on PostgreSQL. Commits on `Ok`, rolls back on
/// `Err`. PostgreSQL deadlocks and serialization failures are retried a few
/// times, so `work` may run more than once. Every commit counts in
/// [`crate::versions::data_version`].
pub fn write_transaction<T>(
    conn: &mut DbConn,
    mut work: impl FnMut(&mut DbConn) -> StoreResult<T>,
) -> StoreResult<T> {
    const ATTEMPTS: usize = 4;
    let mut attempt = 1;
    loop {
        match run_in_transaction(conn, &mut work) {
            Err(error) if error.is_retryable() && attempt < ATTEMPTS => {
                tracing::debug!(attempt, %error, "retrying transaction");
                attempt += 1;
            }
            outcome => return outcome,
        }
    }
}

fn run_in_transaction<T>(
    conn: &mut DbConn,
    work: &mut impl FnMut(&mut DbConn) -> StoreResult<T>,
) -> StoreResult<T> {
    match conn {
        DbConn::Sqlite(c) => AnsiTransactionManager::begin_transaction_sql(c, "BEGIN IMMEDIATE")?,
        DbConn::Postgres(c) => AnsiTransactionManager::begin_transaction(c)?,
    }
    match work(conn).and_then(|value| crate::versions::count_write(conn).map(|()| value)) {
        Ok(value) => {
            on_backend!(conn, c => AnsiTransactionManager::commit_transaction(c))?;
            Ok(value)
        }
        Err(error) => {
            if let Err(rollback) =
                on_backend!(conn, c => AnsiTransactionManager::rollback_transaction(c))
            {
                tracing::warn!(%rollback, "rollback failed");
            }
            Err(error)
        }
    }
}

/// Runs `work` in a read-only snapshot that no concurrent write can tear:
/// `REPEATABLE READ READ ONLY` on PostgreSQL, a deferred read transaction
/// on SQLite (under WAL it reads one snapshot from its first read to its
/// end, without blocking writers). Always rolled back: nothing is written.
pub fn snapshot_transaction<T>(
    conn: &mut DbConn,
    work: impl FnOnce(&mut DbConn) -> StoreResult<T>,
) -> StoreResult<T> {
    match conn {
        DbConn::Sqlite(c) => AnsiTransactionManager::begin_transaction_sql(c, "BEGIN DEFERRED")?,
        DbConn::Postgres(c) => AnsiTransactionManager::begin_transaction_sql(
            c,
            "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY",
        )?,
    }
    let outcome = work(conn);
    if let Err(rollback) = on_backend!(conn, c => AnsiTransactionManager::rollback_transaction(c)) {
        tracing::warn!(%rollback, "ending a snapshot failed");
    }
    outcome
}

/// Runs read-only `work` in a transaction, so it sees one consistent snapshot.
pub fn read_transaction<T>(
    conn: &mut DbConn,
    work: impl FnOnce(&mut DbConn) -> StoreResult<T>,
) -> StoreResult<T> {
    conn.transaction(work)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_pick_the_backend() {
        let cases = [
            (
                "postgres://u@h/db",
                Some(DatabaseTarget::Postgres("postgres://u@h/db".into())),
            ),
            (
                "postgresql://h/db",
                Some(DatabaseTarget::Postgres("postgresql://h/db".into())),
            ),
            (
                "sqlite://fieldopt.db",
                Some(DatabaseTarget::Sqlite("fieldopt.db".into())),
            ),
            (
                "sqlite:///tmp/x.db",
                Some(DatabaseTarget::Sqlite("/tmp/x.db".into())),
            ),
            (
                "sqlite:data.db",
                Some(DatabaseTarget::Sqlite("data.db".into())),
            ),
            (
                "sqlite::memory:",
                Some(DatabaseTarget::Sqlite(":memory:".into())),
            ),
            (
                "./plain/path.db",
                Some(DatabaseTarget::Sqlite("./plain/path.db".into())),
            ),
            ("mysql://h/db", None),
            ("sqlite://", None),
            ("", None),
        ];
        for (url, want) in cases {
            assert_eq!(DatabaseTarget::parse(url).ok(), want, "{url}");
        }
    }

    #[test]
    fn postgres_urls_get_a_connect_timeout_unless_they_have_one() {
        let second = Duration::from_millis(1500);
        let cases = [
            ("postgres://u@h/db", "postgres://u@h/db?connect_timeout=2"),
            (
                "postgres://u@h/db?sslmode=require",
                "postgres://u@h/db?sslmode=require&connect_timeout=2",
            ),
            (
                "postgres://u@h/db?connect_timeout=30",
                "postgres://u@h/db?connect_timeout=30",
            ),
        ];
        for (url, want) in cases {
            assert_eq!(with_connect_timeout(url, second), want);
        }
        assert_eq!(
            with_connect_timeout("postgres://h/db", Duration::from_millis(4200)),
            "postgres://h/db?connect_timeout=5"
        );
    }

    #[test]
    fn memory_databases_get_a_pool_of_one() {
        let target = DatabaseTarget::parse("sqlite::memory:").unwrap();
        assert_eq!(target.default_pool_size(), 1);
        let pool = build_pool(PoolOptions {
            max_size: Some(8),
            ..PoolOptions::new(target)
        })
        .unwrap();
        assert_eq!(pool.max_size(), 1);
    }
}
