//! Building and running the server.

use std::net::TcpListener;

use actix_web::HttpServer;
use actix_web::dev::Server;
use anyhow::{Context, bail};
use fieldopt_http::auth::JwksSource;
use fieldopt_http::webhooks::WebhookWorker;
use fieldopt_http::{AppState, Security};
use fieldopt_store::{DatabaseTarget, DbPool, PoolOptions, build_pool, run_migrations};

use crate::config::Settings;

/// Opens the pool for the configured database.
pub fn connect(settings: &Settings) -> anyhow::Result<DbPool> {
    let target = DatabaseTarget::parse(&settings.database_url)
        .map_err(|e| anyhow::anyhow!("invalid --database-url: {e}"))?;
    let backend = target.backend_name();
    let pool = build_pool(PoolOptions {
        max_size: settings.pool_size,
        timeout: settings.db_timeout(),
        ..PoolOptions::new(target)
    })
    .with_context(|| format!("cannot connect to the {backend} database"))?;
    Ok(pool)
}

/// Runs pending migrations, then fills in what they could not compute in
/// SQL; returns how many migrations ran.
pub fn migrate(pool: &DbPool) -> anyhow::Result<usize> {
    let mut conn = pool
        .get()
        .context("no database connection for migrations")?;
    let ran = run_migrations(&mut conn)?;
    let filled = fieldopt_store::jobs::backfill_customer_search(&mut conn)?;
    if filled > 0 {
        tracing::info!(jobs = filled, "customer search keys filled in");
    }
    Ok(ran)
}

/// A bound, migrated, ready-to-run server.
pub struct Application {
    port: u16,
    pool: DbPool,
    server: Server,
    state: AppState,
    webhooks: WebhookWorker,
    stop_signals: StopSignals,
}

impl std::fmt::Debug for Application {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Application")
            .field("port", &self.port)
            .finish_non_exhaustive()
    }
}

impl Application {
    /// Connects, migrates, binds (port 0 picks a free port) and prepares the
    /// server. Without authentication (development mode) it only listens on
    /// a loopback address.
    pub async fn build(settings: Settings) -> anyhow::Result<Self> {
        let security = Security::new(settings.security()).map_err(anyhow::Error::msg)?;
        if !security.authenticates() {
            if !settings.bind.ip().is_loopback() {
                bail!(
                    "refusing to listen on {}: without authentication fieldopt runs in development \
                     mode and serves loopback addresses only (set FIELDOPT_AUTH_SECRET or \
                     FIELDOPT_AUTH_JWKS to turn authentication on)",
                    settings.bind
                );
            }
            tracing::warn!(
                "AUTHENTICATION IS OFF: development mode, every caller is an admin; \
                 set FIELDOPT_AUTH_SECRET or FIELDOPT_AUTH_JWKS before exposing fieldopt"
            );
        }
        if let (Some(authenticator), Some(source)) = (security.authenticator(), &settings.auth_jwks)
        {
            match (authenticator.load_keys().await, source) {
                (Ok(count), _) => {
                    tracing::info!(jwks.keys = count, "identity provider keys loaded")
                }
                (Err(error), JwksSource::File(_)) => {
                    bail!("cannot read FIELDOPT_AUTH_JWKS: {error}")
                }
                (Err(error), JwksSource::Url(_)) => tracing::warn!(
                    %error,
                    "identity provider keys not loaded yet; they are read again on the first token"
                ),
            }
        }
        // Taken over before the port opens: a SIGTERM that comes right after
        // the first request is ours to handle, never the default exit.
        let stop_signals = StopSignals::register().context("cannot listen for stop signals")?;
        let pool = connect(&settings)?;
        let ran = migrate(&pool)?;
        tracing::info!(migrations.ran = ran, "database ready");
        let listener = TcpListener::bind(settings.bind)
            .with_context(|| format!("cannot listen on {}", settings.bind))?;
        let port = listener.local_addr()?.port();
        let state = AppState::new(pool.clone(), settings.api(), security);
        let served = state.clone();
        let mut server = HttpServer::new(move || fieldopt_http::app(served.clone()))
            .on_connect(fieldopt_http::connection::remember_socket)
            .shutdown_timeout(settings.shutdown_timeout_s)
            // Signals are ours: event streams must end before the graceful
            // stop waits for open connections (see `run_until_stopped`).
            .disable_signals();
        if let Some(workers) = settings.workers {
            server = server.workers(usize::from(workers));
        }
        let server = server.listen(listener)?.run();
        tracing::info!(address = %settings.bind.ip(), port, "serving");
        tokio::spawn(fieldopt_http::events::purge_expired_events(
            state.clone(),
            EVENT_PURGE_INTERVAL,
        ));
        let webhooks = WebhookWorker::spawn(state.clone());
        Ok(Self {
            port,
            pool,
            server,
            state,
            webhooks,
            stop_signals,
        })
    }

    /// The port the server listens on.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The database pool the server uses.
    pub fn pool(&self) -> &DbPool {
        &self.pool
    }

    /// Serves until SIGTERM or SIGINT, then ends event streams, finishes
    /// requests in flight, and frees the idempotency keys of requests that
    /// did not finish.
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        let handle = self.server.handle();
        let hub = self.state.event_hub();
        let webhooks = self.webhooks.clone();
        let mut stop_signals = self.stop_signals;
        tokio::spawn(async move {
            stop_signals.received().await;
            tracing::info!("stopping: ending event streams, finishing requests");
            hub.close();
            webhooks.stop();
            handle.stop(true).await;
        });
        let outcome = self.server.await;
        self.webhooks.stop();
        let released = self.state.release_held_idempotency_keys().await;
        if released > 0 {
            tracing::info!(
                idempotency.released = released,
                "freed the keys of unfinished requests"
            );
        }
        outcome
    }
}

/// How often events past retention are purged.
const EVENT_PURGE_INTERVAL: std::time::Duration = std::time::Duration::from_secs(600);

/// SIGTERM and SIGINT (Ctrl-C), handled by us instead of ending the process.
struct StopSignals {
    terminate: tokio::signal::unix::Signal,
    interrupt: tokio::signal::unix::Signal,
}

impl StopSignals {
    fn register() -> std::io::Result<Self> {
        use tokio::signal::unix::{SignalKind, signal};
        Ok(Self {
            terminate: signal(SignalKind::terminate())?,
            interrupt: signal(SignalKind::interrupt())?,
        })
    }

    /// Waits for either.
    async fn received(&mut self) {
        tokio::select! {
            _ = self.terminate.recv() => {}
            _ = self.interrupt.recv() => {}
        }
    }
}
