//! What every handler shares: the pool, settings, metrics.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};

use actix_web::web;
use chrono::{NaiveDate, Utc};
use fieldopt_domain::Actor;
use fieldopt_store::{DbConn, DbPool, Stamp, StoreResult, write_transaction};

use crate::error::ApiError;
use crate::events::{EventHub, EventSettings};
use crate::metrics::Metrics;
use crate::security::Security;

/// Settings of the API that come from configuration.
#[derive(Debug, Clone)]
pub struct ApiSettings {
    /// Average travel speed for ETAs and planning, km/h.
    pub speed_kmh: f64,
    /// Bounds of day planning.
    pub plan: PlanLimits,
    /// Longest time to receive a request body.
    pub body_timeout: std::time::Duration,
    /// Bounds of the idempotency-key store.
    pub idempotency: fieldopt_store::idempotency::Limits,
    /// Queue this process's write transactions one at a time (SQLite: the
    /// database takes one writer anyway; queueing in order beats every
    /// writer polling the lock with growing back-offs).
    pub single_writer: bool,
    /// The change feed and its streams.
    pub events: EventSettings,
    /// Webhook delivery.
    pub webhooks: crate::webhooks::WebhookSettings,
}

/// What one day plan may cost.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PlanLimits {
    /// Most jobs (pending and already assigned) in one plan.
    pub max_jobs: usize,
    /// Most technicians in one plan.
    pub max_technicians: usize,
    /// Most plans running at once in this process.
    pub concurrency: usize,
}

impl Default for PlanLimits {
    fn default() -> Self {
        Self {
            max_jobs: 5000,
            max_technicians: 1000,
            concurrency: std::thread::available_parallelism().map_or(2, usize::from),
        }
    }
}

impl Default for ApiSettings {
    fn default() -> Self {
        Self {
            speed_kmh: 40.0,
            plan: PlanLimits::default(),
            body_timeout: std::time::Duration::from_secs(10),
            idempotency: fieldopt_store::idempotency::Limits::default(),
            single_writer: false,
            events: EventSettings::default(),
            webhooks: crate::webhooks::WebhookSettings::default(),
        }
    }
}

/// Shared state of the application (cheap to clone).
#[derive(Clone)]
pub struct AppState {
    pool: DbPool,
    settings: Arc<ApiSettings>,
    metrics: Arc<Metrics>,
    security: Arc<Security>,
    plan_permits: Arc<tokio::sync::Semaphore>,
    /// One permit when writers queue (see [`ApiSettings::single_writer`]).
    write_turns: Option<Arc<tokio::sync::Semaphore>>,
    held_keys: Arc<Mutex<HashSet<(String, String)>>>,
    events: Arc<EventHub>,
}

impl std::fmt::Debug for AppState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppState")
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

/// Today's date in UTC, the default workload date.
pub fn today() -> NaiveDate {
    Utc::now().date_naive()
}

impl AppState {
    /// State over a pool, with the edge's security built from configuration.
    pub fn new(pool: DbPool, settings: ApiSettings, security: Security) -> Self {
        Self {
            metrics: Arc::new(Metrics::new(pool.clone())),
            plan_permits: Arc::new(tokio::sync::Semaphore::new(
                settings.plan.concurrency.max(1),
            )),
            write_turns: settings
                .single_writer
                .then(|| Arc::new(tokio::sync::Semaphore::new(1))),
            held_keys: Arc::default(),
            events: Arc::new(EventHub::new(settings.events.clone())),
            pool,
            settings: Arc::new(settings),
            security: Arc::new(security),
        }
    }

    /// One permit per plan allowed to run at once.
    pub(crate) fn plan_permits(&self) -> &tokio::sync::Semaphore {
        &self.plan_permits
    }

    /// Notes that a request of this process holds `client`'s `key`. A
    /// request that never answers (stopped by a forced shutdown) leaves it
    /// noted, to be freed by [`AppState::release_held_idempotency_keys`].
    pub(crate) fn hold_idempotency_key(&self, client: &str, key: &str) {
        self.held_keys
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert((client.to_string(), key.to_string()));
    }

    /// The request holding `client`'s `key` answered.
    pub(crate) fn forget_idempotency_key(&self, client: &str, key: &str) {
        self.held_keys
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&(client.to_string(), key.to_string()));
    }

    /// Frees the idempotency keys still reserved by requests of this
    /// process (at shutdown: their requests will not answer), so retries
    /// need not wait for the leases to end. Returns how many.
    pub async fn release_held_idempotency_keys(&self) -> usize {
        let held: Vec<(String, String)> = self
            .held_keys
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .drain()
            .collect();
        let count = held.len();
        if count > 0 {
            let outcome = self
                .write(&Actor::system(), move |conn, _| {
                    for (client, key) in &held {
                        fieldopt_store::idempotency::release(conn, client, key)?;
                    }
                    Ok(())
                })
                .await;
            if let Err(error) = outcome {
                tracing::warn!(%error, "could not release idempotency keys at shutdown");
            }
        }
        count
    }

    /// Authentication, rate limits, trusted proxies, CORS.
    pub fn security(&self) -> &Security {
        &self.security
    }

    /// The change feed's hub: wakes this process's event streams.
    pub fn event_hub(&self) -> Arc<EventHub> {
        Arc::clone(&self.events)
    }

    /// The pool.
    pub fn pool(&self) -> &DbPool {
        &self.pool
    }

    /// The settings.
    pub fn settings(&self) -> &ApiSettings {
        &self.settings
    }

    pub(crate) fn metrics(&self) -> &Metrics {
        &self.metrics
    }

    /// Runs read-only database work on the blocking pool.
    pub async fn read<T: Send + 'static>(
        &self,
        work: impl FnOnce(&mut DbConn) -> StoreResult<T> + Send + 'static,
    ) -> Result<T, ApiError> {
        self.read_one(move |conn| fieldopt_store::read_transaction(conn, work))
            .await
    }

    /// Runs one read-only statement on the blocking pool: a single
    /// statement sees one snapshot by itself, so it needs no transaction
    /// (and spares PostgreSQL two round trips).
    pub async fn read_one<T: Send + 'static>(
        &self,
        work: impl FnOnce(&mut DbConn) -> StoreResult<T> + Send + 'static,
    ) -> Result<T, ApiError> {
        let pool = self.pool.clone();
        web::block(move || {
            let mut conn = pool.get()?;
            work(&mut conn)
        })
        .await?
        .map_err(ApiError::from)
    }

    /// Runs database work in one write transaction on the blocking pool,
    /// passing the request's stamp: its time and who asked. In a request
    /// with an `Idempotency-Key` the same transaction marks the key applied.
    /// What the work changed (noted on the stamp by the store's commands)
    /// is appended to the outbox in the same transaction, so a committed
    /// change always has its events and a rolled-back one has none.
    pub async fn write<T: Send + 'static>(
        &self,
        actor: &Actor,
        mut work: impl FnMut(&mut DbConn, &Stamp) -> StoreResult<T> + Send + 'static,
    ) -> Result<T, ApiError> {
        let pool = self.pool.clone();
        // Waiting for a turn counts against the same bound as waiting for
        // the lock would: the writers ahead hold the database's write lock
        // (or wait on another process holding it) for longer than that.
        let _turn = match &self.write_turns {
            Some(turns) => Some(
                tokio::time::timeout(pool.connection_timeout(), turns.clone().acquire_owned())
                    .await
                    .map_err(|_| ApiError::Unavailable {
                        outage: fieldopt_store::Outage::Locked,
                        cause: "queued behind other writers for longer than the timeout".into(),
                    })?
                    .map_err(|_| ApiError::Internal("the write queue was closed".into()))?,
            ),
            None => None,
        };
        let stamp = Stamp::now(actor.clone());
        let idempotent = crate::middleware::IDEMPOTENT_REQUEST
            .try_with(Clone::clone)
            .ok();
        let (done, appended) = web::block(move || {
            let mut conn = pool.get()?;
            write_transaction(&mut conn, |conn| {
                // A retried attempt starts with nothing noted.
                drop(stamp.take_changes());
                let done = work(conn, &stamp)?;
                let appended = crate::events::append_noted(conn, &stamp)?;
                if let Some((client, key)) = &idempotent {
                    fieldopt_store::idempotency::mark_applied(conn, client, key)?;
                }
                Ok((done, appended))
            })
        })
        .await?
        .map_err(ApiError::from)?;
        if appended {
            self.events.announce();
        }
        Ok(done)
    }
}
