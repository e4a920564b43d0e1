//! Online backups of a live SQLite database.
//!
//! `VACUUM INTO` writes a consistent copy (one read snapshot; writers keep
//! going meanwhile) into a temporary file beside the destination, which is
//! synced and then linked into place in one step: the destination is either
//! absent or a whole copy, never half written, and an existing file is
//! never overwritten. PostgreSQL has its own tools (`pg_dump`,
//! `pg_basebackup`); a backup of it is refused, naming them.

use std::io;
use std::path::{Path, PathBuf};

use diesel::connection::SimpleConnection;

use crate::{ConnectError, DatabaseTarget, DbConn};

/// Why a backup was not made.
#[derive(Debug, thiserror::Error)]
pub enum BackupError {
    /// The database is PostgreSQL.
    #[error(
        "fieldopt backup copies SQLite databases only; back up PostgreSQL with its own tools: \
         `pg_dump --format=custom --file=fieldopt.dump \"$DATABASE_URL\"` (a consistent logical \
         copy of a live database) or `pg_basebackup` (the whole server); see docs/OPERATIONS.md, \"Backups\""
    )]
    Postgres,
    /// The database lives in memory only.
    #[error("an in-memory SQLite database has nothing on disk to back up")]
    Memory,
    /// The SQLite file does not exist.
    #[error("no SQLite database at {}", .0.display())]
    NoDatabase(PathBuf),
    /// The destination exists already.
    #[error("{} exists already; fieldopt backup never overwrites a file", .0.display())]
    Exists(PathBuf),
    /// The destination cannot be named in SQL (not UTF-8).
    #[error("the backup path {} is not valid UTF-8", .0.display())]
    BadPath(PathBuf),
    /// Opening the database failed.
    #[error("cannot open the database: {0}")]
    Connect(#[from] ConnectError),
    /// SQLite refused to write the copy.
    #[error("SQLite could not write the copy: {0}")]
    Database(#[from] diesel::result::Error),
    /// Writing or moving the file failed.
    #[error("{what} {}: {source}", path.display())]
    Io {
        /// What was being done.
        what: &'static str,
        /// The file.
        path: PathBuf,
        /// The system's error.
        source: io::Error,
    },
}

fn io_error<'a>(what: &'static str, path: &'a Path) -> impl FnOnce(io::Error) -> BackupError + 'a {
    move |source| BackupError::Io {
        what,
        path: path.to_path_buf(),
        source,
    }
}

/// Writes a consistent copy of the database `target` names to
/// `destination`, while other processes keep reading and writing it.
/// Returns the size of the copy in bytes.
pub fn backup(target: &DatabaseTarget, destination: &Path) -> Result<u64, BackupError> {
    let source = match target {
        DatabaseTarget::Postgres(_) => return Err(BackupError::Postgres),
        DatabaseTarget::Sqlite(path) if path == ":memory:" => return Err(BackupError::Memory),
        DatabaseTarget::Sqlite(path) => PathBuf::from(path),
    };
    // Opening a missing file would create an empty database.
    if !source.is_file() {
        return Err(BackupError::NoDatabase(source));
    }
    if destination.exists() {
        return Err(BackupError::Exists(destination.to_path_buf()));
    }
    let name = destination
        .file_name()
        .ok_or_else(|| BackupError::BadPath(destination.to_path_buf()))?
        .to_string_lossy()
        .into_owned();
    let folder = match destination.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let partial = folder.join(format!(".{name}.partial-{}", std::process::id()));
    let partial_sql = partial
        .to_str()
        .ok_or_else(|| BackupError::BadPath(destination.to_path_buf()))?
        .replace('\'', "''");
    let mut conn = target.connect()?;
    let _ = std::fs::remove_file(&partial);
    let written = match &mut conn {
        DbConn::Sqlite(c) => c.batch_execute(&format!("VACUUM INTO '{partial_sql}'")),
        DbConn::Postgres(_) => return Err(BackupError::Postgres),
    };
    let placed = written
        .map_err(BackupError::from)
        .and_then(|()| place(&partial, destination, &folder));
    // The partial file is gone in every case: linked into place, or failed.
    let _ = std::fs::remove_file(&partial);
    placed
}

/// Syncs the copy, links it to `destination` (which fails if that exists:
/// no overwrite, even racing another backup), syncs the folder.
fn place(partial: &Path, destination: &Path, folder: &Path) -> Result<u64, BackupError> {
    let file = std::fs::File::open(partial).map_err(io_error("cannot open", partial))?;
    file.sync_all().map_err(io_error("cannot sync", partial))?;
    let size = file
        .metadata()
        .map_err(io_error("cannot read", partial))?
        .len();
    std::fs::hard_link(partial, destination).map_err(|error| {
        if error.kind() == io::ErrorKind::AlreadyExists {
            BackupError::Exists(destination.to_path_buf())
        } else {
            io_error("cannot create", destination)(error)
        }
    })?;
    // The new name must survive a power cut too.
    if let Ok(dir) = std::fs::File::open(folder) {
        let _ = dir.sync_all();
    }
    Ok(size)
}
