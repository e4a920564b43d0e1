//! Command line and environment: every flag also reads an environment
//! variable, and the flag wins.

use std::net::SocketAddr;
use std::num::NonZeroU32;
use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand, ValueEnum};
use fieldopt_http::auth::{AuthSettings, JwksSource};
use fieldopt_http::rate_limit::RateLimitSettings;
use fieldopt_http::{ApiSettings, EventSettings, PlanLimits, SecuritySettings, WebhookSettings};
use fieldopt_store::DatabaseTarget;
use fieldopt_store::idempotency::Limits as IdempotencyLimits;
use ipnet::IpNet;
use secrecy::SecretString;

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
    /// Check every data invariant of the database (docs/ARCHITECTURE.md)
    /// in one consistent snapshot: prints each violation on its own line
    /// and exits 1, or prints `ok` and exits 0; exits 2 when the database
    /// cannot be read. Safe on a live database; writes nothing.
    Check,
    /// Write a consistent copy of the live SQLite database to PATH (which
    /// must not exist) while it keeps serving; PostgreSQL is refused (use
    /// pg_dump).
    Backup {
        /// Where the copy goes; refused if it exists.
        path: PathBuf,
    },
    /// Print the OpenAPI document to stdout.
    Openapi {
        /// `3.1` (what the server serves) or `3.0` (3.0.3, for generators
        /// that read only 3.0).
        #[arg(long, value_enum, default_value_t = SpecVersion::V3_1)]
        spec_version: SpecVersion,
    },
    /// Print a bearer token signed with the configured secret
    /// (`FIELDOPT_AUTH_SECRET`).
    Token {
        /// `admin`, `dispatcher` or `technician`.
        #[arg(long)]
        role: String,
        /// The subject: who the token speaks for (recorded as the actor).
        #[arg(long)]
        sub: String,
        /// The technician a `technician` token belongs to.
        #[arg(long)]
        tech_id: Option<i64>,
        /// Lifetime in seconds.
        #[arg(long, visible_alias = "ttl-secs", default_value_t = 3600, value_parser = clap::value_parser!(u64).range(1..=31_536_000))]
        ttl: u64,
    },
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

/// Version of the printed OpenAPI document.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum SpecVersion {
    /// OpenAPI 3.1.0.
    #[value(name = "3.1")]
    V3_1,
    /// OpenAPI 3.0.3.
    #[value(name = "3.0")]
    V3_0,
}

impl From<SpecVersion> for fieldopt_http::SpecVersion {
    fn from(version: SpecVersion) -> Self {
        match version {
            SpecVersion::V3_1 => Self::V3_1,
            SpecVersion::V3_0 => Self::V3_0,
        }
    }
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
    /// Longest wait on the database, in milliseconds: for a free
    /// connection, to connect, for a lock, for one statement. Past it a
    /// request gets 503 with `Retry-After` instead of hanging.
    #[arg(long, env = "FIELDOPT_DB_TIMEOUT_MS", default_value_t = 5000, global = true, value_parser = clap::value_parser!(u64).range(100..=300_000))]
    pub db_timeout_ms: u64,
    /// Average travel speed for ETAs and planning, km/h (1..=300).
    #[arg(
        long,
        env = "FIELDOPT_SPEED_KMH",
        default_value_t = 40.0,
        global = true,
        value_parser = parse_speed
    )]
    pub speed_kmh: f64,
    /// Most jobs (pending and already assigned) one day plan takes.
    #[arg(long, env = "FIELDOPT_PLAN_MAX_JOBS", default_value_t = 5000, global = true, value_parser = clap::value_parser!(u64).range(1..=100_000))]
    pub plan_max_jobs: u64,
    /// Most technicians one day plan takes.
    #[arg(long, env = "FIELDOPT_PLAN_MAX_TECHNICIANS", default_value_t = 1000, global = true, value_parser = clap::value_parser!(u64).range(1..=10_000))]
    pub plan_max_technicians: u64,
    /// Seconds requests in flight may take to finish after SIGTERM.
    #[arg(long, env = "FIELDOPT_SHUTDOWN_TIMEOUT_S", default_value_t = 30, global = true, value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub shutdown_timeout_s: u64,
    /// Seconds a client has to send a request body.
    #[arg(long, env = "FIELDOPT_BODY_TIMEOUT_S", default_value_t = 10, global = true, value_parser = clap::value_parser!(u64).range(1..=600))]
    pub body_timeout_s: u64,
    /// Most idempotency keys one client may hold (24 hours).
    #[arg(long, env = "FIELDOPT_IDEMPOTENCY_MAX_KEYS", default_value_t = 10_000, global = true, value_parser = clap::value_parser!(i64).range(1..=10_000_000))]
    pub idempotency_max_keys: i64,
    /// Most characters of stored responses one client may hold.
    #[arg(long, env = "FIELDOPT_IDEMPOTENCY_MAX_BYTES", default_value_t = 64 << 20, global = true, value_parser = clap::value_parser!(i64).range(1024..))]
    pub idempotency_max_bytes: i64,
    /// Most plans running at once (default: the number of cores); more
    /// get 503 with `Retry-After`.
    #[arg(long, env = "FIELDOPT_PLAN_CONCURRENCY", global = true, value_parser = clap::value_parser!(u64).range(1..=1024))]
    pub plan_concurrency: Option<u64>,
    /// Days events are kept in the change feed; older ones are purged.
    #[arg(long, env = "FIELDOPT_EVENT_RETENTION_DAYS", default_value_t = 30, global = true, value_parser = clap::value_parser!(u32).range(1..=3650))]
    pub event_retention_days: u32,
    /// Events an event stream may fall behind before it is closed (it
    /// resumes from its last id).
    #[arg(long, env = "FIELDOPT_EVENT_STREAM_BUFFER", default_value_t = 1024, global = true, value_parser = clap::value_parser!(u32).range(16..=1_000_000))]
    pub event_stream_buffer: u32,
    /// How often event streams send a heartbeat comment. Not a flag: 15 s
    /// in production; tests shorten it.
    #[arg(skip = std::time::Duration::from_secs(15))]
    pub event_heartbeat: std::time::Duration,
    /// Allow webhooks to `http://` URLs and to private, loopback and
    /// link-local addresses (tests, sidecars); `1` or `true`.
    #[arg(long, env = "FIELDOPT_WEBHOOKS_ALLOW_PRIVATE", default_value_t = false, global = true, value_parser = clap::builder::BoolishValueParser::new(), num_args = 0..=1, default_missing_value = "true")]
    pub webhooks_allow_private: bool,
    /// Multiplies every delay of the webhook retry schedule: 1 in
    /// production; tests shorten the schedule (0.001 makes 5 s into 5 ms).
    #[arg(long, env = "FIELDOPT_WEBHOOK_RETRY_SCALE", default_value_t = 1.0, global = true, value_parser = parse_scale)]
    pub webhook_retry_scale: f64,
    /// How long a process's claim on a webhook endpoint lasts, in
    /// milliseconds: a process that dies mid-delivery delays that
    /// endpoint by at most this long.
    #[arg(long, env = "FIELDOPT_WEBHOOK_LEASE_MS", default_value_t = 60_000, global = true, value_parser = clap::value_parser!(u64).range(100..=3_600_000))]
    pub webhook_lease_ms: u64,
    /// A webhook endpoint failing continuously for this many milliseconds
    /// is disabled (24 h; tests shorten it).
    #[arg(long, env = "FIELDOPT_WEBHOOK_DISABLE_AFTER_MS", default_value_t = 86_400_000, global = true, value_parser = clap::value_parser!(u64).range(1..=2_592_000_000))]
    pub webhook_disable_after_ms: u64,
    /// How often each process looks for due webhook deliveries, in
    /// milliseconds.
    #[arg(long, env = "FIELDOPT_WEBHOOK_POLL_MS", default_value_t = 250, global = true, value_parser = clap::value_parser!(u64).range(10..=60_000))]
    pub webhook_poll_ms: u64,
    /// `pretty` or `json`.
    #[arg(long, env = "FIELDOPT_LOG_FORMAT", value_enum, default_value_t = LogFormat::Pretty, global = true)]
    pub log_format: LogFormat,
    /// HTTP worker threads (default: one per core).
    #[arg(long, env = "FIELDOPT_WORKERS", global = true, value_parser = clap::value_parser!(u16).range(1..=256))]
    pub workers: Option<u16>,
    /// HS256 secret for bearer tokens (at least 32 bytes); turns
    /// authentication on.
    #[arg(long, env = "FIELDOPT_AUTH_SECRET", global = true, hide_env_values = true, value_parser = parse_secret)]
    pub auth_secret: Option<SecretString>,
    /// The secret before the last rotation, accepted for verification only.
    #[arg(long, env = "FIELDOPT_AUTH_SECRET_PREVIOUS", global = true, hide_env_values = true, value_parser = parse_secret)]
    pub auth_secret_previous: Option<SecretString>,
    /// An identity provider's keys: a JWKS file or `https://` URL; turns
    /// authentication on.
    #[arg(long, env = "FIELDOPT_AUTH_JWKS", global = true, value_parser = JwksSource::parse)]
    pub auth_jwks: Option<JwksSource>,
    /// Required `iss` of tokens.
    #[arg(long, env = "FIELDOPT_AUTH_ISSUER", global = true)]
    pub auth_issuer: Option<String>,
    /// Required `aud` of tokens.
    #[arg(long, env = "FIELDOPT_AUTH_AUDIENCE", global = true)]
    pub auth_audience: Option<String>,
    /// Claim holding the role; a dotted path reaches into objects.
    #[arg(
        long,
        env = "FIELDOPT_AUTH_ROLE_CLAIM",
        default_value = "role",
        global = true
    )]
    pub auth_role_claim: String,
    /// Claim holding a technician's id.
    #[arg(
        long,
        env = "FIELDOPT_AUTH_TECH_CLAIM",
        default_value = "tech_id",
        global = true
    )]
    pub auth_tech_claim: String,
    /// Least time between two reads of the JWKS when tokens name unknown
    /// keys. Not a flag: one minute in production; tests shorten it.
    #[arg(skip = std::time::Duration::from_secs(60))]
    pub auth_jwks_min_refresh: std::time::Duration,
    /// Proxies (comma-separated CIDRs or addresses) whose
    /// `X-Forwarded-For` is believed.
    #[arg(long, env = "FIELDOPT_TRUSTED_PROXIES", global = true, value_delimiter = ',', value_parser = parse_network)]
    pub trusted_proxies: Vec<IpNet>,
    /// Requests per second per client; 0 turns rate limiting off.
    #[arg(
        long,
        env = "FIELDOPT_RATE_LIMIT_RPS",
        default_value_t = 100,
        global = true
    )]
    pub rate_limit_rps: u32,
    /// Most requests a client can make at once (default: 2 × rps).
    #[arg(long, env = "FIELDOPT_RATE_LIMIT_BURST", global = true, value_parser = clap::value_parser!(u32).range(1..))]
    pub rate_limit_burst: Option<u32>,
    /// Most clients the rate limiter tracks; new ones share one bucket
    /// beyond it.
    #[arg(long, env = "FIELDOPT_RATE_LIMIT_MAX_CLIENTS", default_value_t = 100_000, global = true, value_parser = clap::value_parser!(u64).range(1..=10_000_000))]
    pub rate_limit_max_clients: u64,
    /// Browser origins allowed by CORS, comma-separated
    /// (`https://board.example.com`); none: no CORS headers.
    #[arg(long, env = "FIELDOPT_CORS_ORIGINS", global = true, value_delimiter = ',', value_parser = parse_origin)]
    pub cors_origins: Vec<String>,
}

/// A travel speed that makes sense on roads: finite, 1..=300 km/h.
fn parse_speed(text: &str) -> Result<f64, String> {
    match text.trim().parse::<f64>() {
        Ok(speed) if speed.is_finite() && (1.0..=300.0).contains(&speed) => Ok(speed),
        _ => Err(format!(
            "{text:?} is not a travel speed in km/h between 1 and 300"
        )),
    }
}

/// A retry scale: finite, above 0, at most 1000.
fn parse_scale(text: &str) -> Result<f64, String> {
    match text.trim().parse::<f64>() {
        Ok(scale) if scale.is_finite() && scale > 0.0 && scale <= 1000.0 => Ok(scale),
        _ => Err(format!("{text:?} is not a factor above 0 and at most 1000")),
    }
}

const TWO: NonZeroU32 = NonZeroU32::new(2).expect("two is not zero");

fn parse_secret(text: &str) -> Result<SecretString, String> {
    Ok(SecretString::from(text.to_string()))
}

/// A CIDR (`10.0.0.0/8`) or a single address.
fn parse_network(text: &str) -> Result<IpNet, String> {
    let text = text.trim();
    text.parse::<IpNet>()
        .or_else(|_| text.parse::<std::net::IpAddr>().map(IpNet::from))
        .map_err(|_| format!("{text:?} is not a CIDR or an IP address"))
}

/// An origin exactly as browsers send it: `scheme://host[:port]`.
fn parse_origin(text: &str) -> Result<String, String> {
    let text = text.trim();
    let valid = text.split_once("://").is_some_and(|(scheme, rest)| {
        matches!(scheme, "http" | "https")
            && !rest.is_empty()
            && !rest.contains(['/', '?', '#', ' ', '*'])
    });
    if valid {
        Ok(text.to_string())
    } else {
        Err(format!(
            "{text:?} is not an origin (expected scheme://host[:port], e.g. https://board.example.com)"
        ))
    }
}

impl Settings {
    /// Settings for tests: loopback on a free port, the given database.
    pub fn for_tests(database_url: impl Into<String>) -> Self {
        Settings {
            bind: SocketAddr::from(([127, 0, 0, 1], 0)),
            database_url: database_url.into(),
            pool_size: None,
            db_timeout_ms: 5000,
            speed_kmh: 40.0,
            plan_max_jobs: 5000,
            plan_max_technicians: 1000,
            plan_concurrency: None,
            body_timeout_s: 10,
            shutdown_timeout_s: 30,
            idempotency_max_keys: 10_000,
            idempotency_max_bytes: 64 << 20,
            event_retention_days: 30,
            event_stream_buffer: 1024,
            event_heartbeat: std::time::Duration::from_secs(15),
            webhooks_allow_private: false,
            webhook_retry_scale: 1.0,
            webhook_lease_ms: 60_000,
            webhook_disable_after_ms: 86_400_000,
            webhook_poll_ms: 250,
            log_format: LogFormat::Pretty,
            workers: Some(2),
            auth_secret: None,
            auth_secret_previous: None,
            auth_jwks: None,
            auth_issuer: None,
            auth_audience: None,
            auth_role_claim: "role".to_string(),
            auth_tech_claim: "tech_id".to_string(),
            auth_jwks_min_refresh: std::time::Duration::from_secs(60),
            trusted_proxies: Vec::new(),
            rate_limit_rps: 0,
            rate_limit_burst: None,
            rate_limit_max_clients: 100_000,
            cors_origins: Vec::new(),
        }
    }

    /// The API's own settings, as the HTTP layer takes them.
    pub fn api(&self) -> ApiSettings {
        let defaults = PlanLimits::default();
        let size = |value: u64| usize::try_from(value).unwrap_or(usize::MAX);
        ApiSettings {
            speed_kmh: self.speed_kmh,
            plan: PlanLimits {
                max_jobs: size(self.plan_max_jobs),
                max_technicians: size(self.plan_max_technicians),
                concurrency: self.plan_concurrency.map_or(defaults.concurrency, size),
            },
            body_timeout: std::time::Duration::from_secs(self.body_timeout_s),
            idempotency: IdempotencyLimits {
                // A little longer than the longest request (a 60 s plan).
                lease: chrono::Duration::seconds(120),
                max_keys: self.idempotency_max_keys,
                max_bytes: self.idempotency_max_bytes,
            },
            single_writer: DatabaseTarget::parse(&self.database_url)
                .is_ok_and(|target| target.has_single_writer()),
            events: EventSettings {
                heartbeat: self.event_heartbeat,
                stream_buffer: usize::try_from(self.event_stream_buffer).unwrap_or(usize::MAX),
                retention_days: self.event_retention_days,
                listen: DatabaseTarget::parse(&self.database_url)
                    .ok()
                    .filter(|target| !target.has_single_writer())
                    .map(|target| (target, self.db_timeout())),
                ..EventSettings::default()
            },
            webhooks: WebhookSettings {
                allow_private: self.webhooks_allow_private,
                retry_scale: self.webhook_retry_scale,
                lease: Duration::from_millis(self.webhook_lease_ms),
                disable_after: Duration::from_millis(self.webhook_disable_after_ms),
                poll_interval: Duration::from_millis(self.webhook_poll_ms),
                ..WebhookSettings::default()
            },
        }
    }

    /// Authentication, rate limits, proxies and CORS, as the HTTP layer
    /// takes them.
    pub fn security(&self) -> SecuritySettings {
        let rate_limit = NonZeroU32::new(self.rate_limit_rps).map(|rps| RateLimitSettings {
            rps,
            burst: self
                .rate_limit_burst
                .and_then(NonZeroU32::new)
                .unwrap_or(rps.saturating_mul(TWO)),
            max_clients: usize::try_from(self.rate_limit_max_clients).unwrap_or(usize::MAX),
        });
        SecuritySettings {
            auth: AuthSettings {
                secret: self.auth_secret.clone(),
                previous_secret: self.auth_secret_previous.clone(),
                jwks: self.auth_jwks.clone(),
                issuer: self.auth_issuer.clone(),
                audience: self.auth_audience.clone(),
                role_claim: self.auth_role_claim.clone(),
                tech_claim: self.auth_tech_claim.clone(),
                jwks_min_refresh: self.auth_jwks_min_refresh,
            },
            rate_limit,
            trusted_proxies: self.trusted_proxies.clone(),
            cors_origins: self.cors_origins.clone(),
        }
    }

    /// The longest wait on the database.
    pub fn db_timeout(&self) -> std::time::Duration {
        std::time::Duration::from_millis(self.db_timeout_ms)
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
