//! `fieldopt check` and `fieldopt backup`: looking after a database.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use fieldopt_store::DatabaseTarget;
use fieldopt_store::integrity;

use crate::config::Settings;

/// Exit code of `check` when the database holds violations.
pub const EXIT_VIOLATIONS: u8 = 1;
/// Exit code of `check` when the database cannot be opened or read.
pub const EXIT_UNREADABLE: u8 = 2;

/// Checks the configured database; prints each violation (and note) on its
/// own line, or `ok`. Exit code 0 when none, 1 with violations, 2 when the
/// database cannot be read.
pub fn check(settings: &Settings) -> ExitCode {
    match run_check(settings) {
        Ok(report) => {
            for finding in &report.violations {
                println!("{finding}");
            }
            for finding in &report.notes {
                println!("note: {finding}");
            }
            if report.is_ok() {
                println!("ok");
                ExitCode::SUCCESS
            } else {
                eprintln!(
                    "fieldopt: {} violation(s) of the data invariants",
                    report.violations.len()
                );
                ExitCode::from(EXIT_VIOLATIONS)
            }
        }
        Err(error) => {
            eprintln!("fieldopt: cannot check the database: {error:#}");
            ExitCode::from(EXIT_UNREADABLE)
        }
    }
}

fn run_check(settings: &Settings) -> anyhow::Result<integrity::Report> {
    let target = DatabaseTarget::parse(&settings.database_url)
        .map_err(|e| anyhow::anyhow!("invalid --database-url: {e}"))?;
    // Opening a missing SQLite file would create an empty database.
    if let Some(path) = settings.sqlite_path()
        && !path.is_file()
    {
        anyhow::bail!("no SQLite database at {}", path.display());
    }
    let mut conn = target.connect()?;
    if fieldopt_store::has_pending_migrations(&mut conn)? {
        anyhow::bail!(
            "the database schema is not up to date; run `fieldopt migrate` first (or start `fieldopt serve` once)"
        );
    }
    Ok(integrity::check(&mut conn)?)
}

/// A finished backup.
#[derive(Debug)]
pub struct BackupCopy {
    /// Where it is.
    pub path: PathBuf,
    /// Its size in bytes.
    pub bytes: u64,
}

impl BackupCopy {
    /// One line for the operator.
    pub fn summary(&self) -> String {
        format!(
            "backed up to {} ({} bytes)",
            self.path.display(),
            self.bytes
        )
    }
}

/// Copies the configured SQLite database to `path` while it is in use.
pub fn backup(settings: &Settings, path: &Path) -> anyhow::Result<BackupCopy> {
    let target = DatabaseTarget::parse(&settings.database_url)
        .map_err(|e| anyhow::anyhow!("invalid --database-url: {e}"))?;
    let bytes = fieldopt_store::backup::backup(&target, path)?;
    Ok(BackupCopy {
        path: path.to_path_buf(),
        bytes,
    })
}
