//! Command line and environment: every flag also reads an environment
//! variable, and the flag wins.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// Field-service dispatch API.
#[derive(Debug, Parser)]
#[command(name = "fieldopt", version, about)]
pub struct Cli {
    /// What to do; `serve` when omitted.
    #[command(subcommand)]
    pub command: Option<Command>,
    /// Settings shared by every command.
    #[command(flatten)]
    pub settings: Settings,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run pending migrations, then serve the API (the default).
    Serve,
    /// Run pending migrations and exit.
    Migrate,
    /// Load the demo data set into an empty database.
    Seed,
    /// Print the OpenAPI document to stdout.
    Openapi,
    /// Solve a Solomon-format VRPTW instance with the day-planning engine
    /// and print the result as JSON.
    Solve {
        /// The instance file.
        file: PathBuf,
        /// Stop after this long.
        #[arg(long, default_value_t = 5000)]
        time_limit_ms: u64,
        /// Seed of the search; same seed and iteration limit, same result.
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// Stop after this many iterations (makes runs reproducible).
        #[arg(long)]
        max_iterations: Option<u64>,
    },
}

/// Log output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines.
    Pretty,
    /// One JSON object per line.
    Json,
}

/// Typed configuration, passed by value to whatever needs it.
#[derive(Debug, Clone, Args)]
pub struct Settings {
    /// Address to listen on.
    #[arg(
        long,
        env = "FIELDOPT_BIND",
        default_value = "127.0.0.1:8000",
        global = true
    )]
    pub bind: SocketAddr,
    /// `sqlite://PATH`, a plain path, `sqlite::memory:`, or `postgres://…`.
    #[arg(
        long,
        env = "DATABASE_URL",
        default_value = "sqlite://fieldopt.db",
        global = true
    )]
    pub database_url: String,
    /// Most database connections (default: 8 for SQLite, 16 for PostgreSQL).
    #[arg(long, env = "FIELDOPT_POOL_SIZE", global = true, value_parser = clap::value_parser!(u32).range(1..=1000))]
    pub pool_size: Option<u32>,
    /// Average travel speed for ETAs and planning, km/h.
    #[arg(
        long,
        env = "FIELDOPT_SPEED_KMH",
        default_value_t = 40.0,
        global = true
    )]
    pub speed_kmh: f64,
    /// `pretty` or `json`.
    #[arg(long, env = "FIELDOPT_LOG_FORMAT", value_enum, default_value_t = LogFormat::Pretty, global = true)]
    pub log_format: LogFormat,
    /// HTTP worker threads (default: one per core).
    #[arg(long, env = "FIELDOPT_WORKERS", global = true)]
    pub workers: Option<usize>,
}

impl Settings {
    /// Settings for tests: loopback on a free port, the given database.
    pub fn for_tests(database_url: impl Into<String>) -> Self {
        Settings {
            bind: SocketAddr::from(([127, 0, 0, 1], 0)),
            database_url: database_url.into(),
            pool_size: None,
            speed_kmh: 40.0,
            log_format: LogFormat::Pretty,
            workers: Some(2),
        }
    }

    /// The SQLite file, if the URL names one (for messages).
    pub fn sqlite_path(&self) -> Option<PathBuf> {
        match fieldopt_store::DatabaseTarget::parse(&self.database_url) {
            Ok(fieldopt_store::DatabaseTarget::Sqlite(path)) if path != ":memory:" => {
                Some(PathBuf::from(path))
            }
            _ => None,
        }
    }
}
