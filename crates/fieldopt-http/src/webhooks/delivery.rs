//! Sending events to webhook endpoints: one signed POST per attempt, and the
//! worker that claims due endpoints and walks each one's cursor through the
//! outbox, in event order, retrying failures on a schedule.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{LazyLock, Mutex};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use fieldopt_domain::{Actor, EventType};
use fieldopt_store::outbox::{self, Change, NewEvent, StoredEvent};
use fieldopt_store::webhooks::{self, Attempt, Endpoint, Progress, Writer};
use fieldopt_store::{DbConn, Stamp, StoreResult, now};
use tokio::sync::watch;

use super::WebhookResponse;
use super::signing::sign;
use super::target::Target;
use crate::events::{envelope_json, to_json};
use crate::state::AppState;

/// Settings of webhook delivery.
#[derive(Debug, Clone)]
pub struct WebhookSettings {
    /// Allow `http://` and non-public targets (tests, sidecars).
    pub allow_private: bool,
    /// Multiplies every delay of [`RETRY_SCHEDULE`] (1 in production;
    /// tests shorten the schedule with a small factor).
    pub retry_scale: f64,
    /// How long a claim on an endpoint lasts: a process that dies holding
    /// one delays that endpoint's deliveries by at most this long.
    pub lease: Duration,
    /// An endpoint failing continuously for this long is disabled.
    pub disable_after: Duration,
    /// How often the worker looks for due endpoints.
    pub poll_interval: Duration,
    /// Longest time one delivery may take, connecting to reading the
    /// answer.
    pub timeout: Duration,
}

impl Default for WebhookSettings {
    fn default() -> Self {
        Self {
            allow_private: false,
            retry_scale: 1.0,
            lease: Duration::from_secs(60),
            disable_after: Duration::from_secs(24 * 3600),
            poll_interval: Duration::from_millis(250),
            timeout: Duration::from_secs(10),
        }
    }
}

/// The delay before the next attempt after the first, second, … failed
/// attempt at an event; the last one repeats. The first attempt is made at
/// once. Each delay varies by ±20 % (jitter), and no retry is scheduled past
/// the moment the endpoint would be disabled: the last attempt is made then.
pub const RETRY_SCHEDULE: [Duration; 6] = [
    Duration::from_secs(5),
    Duration::from_secs(5 * 60),
    Duration::from_secs(30 * 60),
    Duration::from_secs(2 * 3600),
    Duration::from_secs(5 * 3600),
    Duration::from_secs(10 * 3600),
];

/// Most endpoints one worker round claims.
const CLAIM_BATCH: i64 = 32;

/// The delay after `failed` failed attempts (1 or more) at one event,
/// scaled, with `jitter` in -1..=1 moving it by up to ±20 %.
pub fn retry_delay(failed: i32, scale: f64, jitter: f64) -> Duration {
    let index = usize::try_from(failed.max(1) - 1)
        .unwrap_or(0)
        .min(RETRY_SCHEDULE.len() - 1);
    let factor = scale.max(0.0) * (1.0 + 0.2 * jitter.clamp(-1.0, 1.0));
    RETRY_SCHEDULE[index].mul_f64(factor)
}

/// A random jitter in -1..=1.
fn jitter() -> f64 {
    let random = getrandom::u32().unwrap_or(u32::MAX / 2);
    f64::from(random) / f64::from(u32::MAX) * 2.0 - 1.0
}

/// What one attempt got.
#[derive(Debug, Clone, Default)]
pub struct Outcome {
    /// When the request went out.
    pub attempted_at: DateTime<Utc>,
    /// The answer's status, when one came.
    pub status_code: Option<u16>,
    /// How long it took.
    pub latency_ms: i32,
    /// Why it failed before an answer (refused target, connection, timeout).
    pub error: Option<String>,
    /// The start of the answer's body.
    pub body: Option<String>,
}

impl Outcome {
    /// Whether the endpoint took the event: any 2xx answer.
    pub fn delivered(&self) -> bool {
        self.error.is_none() && self.status_code.is_some_and(|s| (200..300).contains(&s))
    }

    /// The attempt as the log records it.
    pub fn to_delivery(
        &self,
        endpoint_id: i64,
        event_id: i64,
        attempt: i32,
        next_retry_at: Option<DateTime<Utc>>,
        manual: bool,
    ) -> Attempt {
        let error = self.error.clone().or_else(|| {
            (!self.delivered()).then(|| match self.status_code {
                Some(status) => format!("answered {status}"),
                None => "no answer".to_string(),
            })
        });
        Attempt {
            endpoint_id,
            event_id,
            number: attempt,
            attempted_at: self.attempted_at,
            status_code: self.status_code.map(i32::from),
            latency_ms: self.latency_ms,
            error,
            response_body: self.body.clone(),
            next_retry_at,
            manual,
        }
    }
}

/// The client for targets that need no pinned address (private targets
/// allowed): shared, so its connections are reused.
static SHARED_CLIENT: LazyLock<Result<reqwest::Client, String>> =
    LazyLock::new(|| client_builder().build().map_err(|e| e.to_string()));

fn client_builder() -> reqwest::ClientBuilder {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        // A proxy would resolve the host itself, past the address checked.
        .no_proxy()
        .user_agent(concat!("fieldopt-webhooks/", env!("CARGO_PKG_VERSION")))
}

/// Clients that connect to `host` only at the address checked for it,
/// kept per (host, address) so that steady deliveries reuse connections
/// and TLS setup; forgotten wholesale past [`MAX_PINNED_CLIENTS`].
static PINNED_CLIENTS: LazyLock<Mutex<HashMap<(String, SocketAddr), reqwest::Client>>> =
    LazyLock::new(Mutex::default);

/// More (host, address) pairs than endpoints allowed, with room for DNS
/// answers that rotate.
const MAX_PINNED_CLIENTS: usize = 256;

fn pinned_client(host: &str, address: SocketAddr) -> Result<reqwest::Client, String> {
    let key = (host.to_string(), address);
    let mut clients = PINNED_CLIENTS.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(client) = clients.get(&key) {
        return Ok(client.clone());
    }
    let client = client_builder()
        .resolve(host, address)
        .build()
        .map_err(|e| format!("cannot build an HTTP client: {e}"))?;
    if clients.len() >= MAX_PINNED_CLIENTS {
        clients.clear();
    }
    clients.insert(key, client.clone());
    Ok(client)
}

/// The headers of a Standard Webhooks message: `webhook-id` (the same for
/// every attempt at one event), `webhook-timestamp` and
/// `webhook-signature`.
pub fn message_id(event_id: i64) -> String {
    format!("evt_{event_id}")
}

/// Sends `event` to `endpoint` once, signed; never fails, the outcome says
/// what happened.
pub async fn send(settings: &WebhookSettings, endpoint: &Endpoint, event: &StoredEvent) -> Outcome {
    let attempted_at = now();
    let started = Instant::now();
    let mut outcome = match try_send(settings, endpoint, event).await {
        Ok((status, body)) => Outcome {
            status_code: Some(status),
            body: Some(body),
            ..Outcome::default()
        },
        Err(error) => Outcome {
            error: Some(error),
            ..Outcome::default()
        },
    };
    outcome.attempted_at = attempted_at;
    outcome.latency_ms = i32::try_from(started.elapsed().as_millis()).unwrap_or(i32::MAX);
    outcome
}

async fn try_send(
    settings: &WebhookSettings,
    endpoint: &Endpoint,
    event: &StoredEvent,
) -> Result<(u16, String), String> {
    let allow_private = settings.allow_private;
    let target = Target::parse(&endpoint.url, allow_private)
        .map_err(|e| format!("refused target: the URL {e}"))?;
    let address = target
        .resolve(allow_private)
        .await
        .map_err(|e| format!("refused target: the URL {e}"))?;
    let client = match (allow_private, target.domain()) {
        (false, Some(domain)) => pinned_client(domain, address)?,
        _ => SHARED_CLIENT.as_ref().map_err(Clone::clone)?.clone(),
    };
    let body = envelope_json(event);
    let id = message_id(event.id);
    let timestamp = Utc::now().timestamp();
    let signature = sign(&endpoint.secret, &id, timestamp, &body)?;
    let deadline = Instant::now() + settings.timeout;
    let mut response = client
        .post(target.url().clone())
        .timeout(settings.timeout)
        .header("content-type", "application/json")
        .header("webhook-id", id)
        .header("webhook-timestamp", timestamp.to_string())
        .header("webhook-signature", signature)
        .body(body)
        .send()
        .await
        .map_err(|e| describe(&e, settings.timeout))?;
    let status = response.status().as_u16();
    // Read only what is kept: a receiver cannot make us buffer megabytes.
    let mut kept = Vec::new();
    while kept.len() < webhooks::MAX_RESPONSE_BODY {
        let remaining = deadline.saturating_duration_since(Instant::now());
        match tokio::time::timeout(remaining, response.chunk()).await {
            Ok(Ok(Some(chunk))) => kept.extend_from_slice(&chunk),
            Ok(Ok(None)) | Err(_) => break,
            // A body cut short still leaves the status, which decides.
            Ok(Err(_)) => break,
        }
    }
    kept.truncate(webhooks::MAX_RESPONSE_BODY);
    let text = String::from_utf8_lossy(&kept);
    Ok((
        status,
        webhooks::truncate_on_char(&text, webhooks::MAX_RESPONSE_BODY).to_string(),
    ))
}

/// A request error with its causes, in a line.
fn describe(error: &reqwest::Error, timeout: Duration) -> String {
    if error.is_timeout() {
        return format!("timed out after {} s", timeout.as_secs_f64());
    }
    let mut text = error.to_string();
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// What a failed attempt means for the endpoint: retry on the schedule, or
/// disable it when it has been failing for `disable_after` — and never
/// schedule a retry past that moment, so the last attempt is made then.
pub fn after_failure(
    settings: &WebhookSettings,
    endpoint: &Endpoint,
    outcome: &Outcome,
) -> Progress {
    let at = outcome.attempted_at;
    let failing_since = endpoint.failing_since.unwrap_or(at);
    let give_up_at = later(failing_since, settings.disable_after);
    if at >= give_up_at {
        return Progress::Disabled(format!(
            "every delivery failed since {} (last: {})",
            failing_since.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            outcome
                .to_delivery(endpoint.id, 0, 0, None, false)
                .error
                .unwrap_or_default()
        ));
    }
    let delay = retry_delay(endpoint.attempts + 1, settings.retry_scale, jitter());
    let next = later(at, delay);
    Progress::Failed {
        next_attempt_at: next.min(give_up_at),
        failing_since,
    }
}

/// `at` plus `delay`, or the end of time when that overflows.
fn later(at: DateTime<Utc>, delay: Duration) -> DateTime<Utc> {
    chrono::Duration::from_std(delay)
        .ok()
        .and_then(|delay| at.checked_add_signed(delay))
        .unwrap_or(DateTime::<Utc>::MAX_UTC)
}

/// Records an attempt and what it means for the endpoint, in one
/// transaction, as `writer` may (see [`Writer`]). A disabled endpoint gets
/// its `webhook.disabled` event. Returns whether the progress applied.
pub(crate) fn record(
    conn: &mut DbConn,
    stamp: &Stamp,
    endpoint_id: i64,
    writer: Writer<'_>,
    attempt: Attempt,
    progress: Option<&Progress>,
) -> StoreResult<(webhooks::Delivery, bool)> {
    let delivery = webhooks::record_delivery(conn, &attempt)?;
    let Some(progress) = progress else {
        return Ok((delivery, false));
    };
    let applied = webhooks::record_progress(conn, endpoint_id, writer, progress, stamp.at)?;
    if applied
        && matches!(progress, Progress::Disabled(_))
        && let Some(endpoint) = webhooks::find(conn, endpoint_id)?
    {
        stamp.record(Change::Rendered(NewEvent {
            event_type: EventType::WebhookDisabled,
            technician_id: None,
            data: to_json(&WebhookResponse::from(endpoint)),
        }));
    }
    Ok((delivery, applied))
}

/// The worker of this process; stops when told (clones share the switch).
#[derive(Debug, Clone)]
pub struct WebhookWorker {
    stop: std::sync::Arc<watch::Sender<bool>>,
}

impl WebhookWorker {
    /// Starts the worker on the current runtime.
    pub fn spawn(state: AppState) -> Self {
        let (stop, stopped) = watch::channel(false);
        let owner = uuid::Uuid::new_v4().to_string();
        tokio::spawn(run(state, owner, stopped));
        Self {
            stop: std::sync::Arc::new(stop),
        }
    }

    /// Stops claiming endpoints; deliveries under way finish (or, if the
    /// process ends first, their leases expire and another process sends
    /// them again).
    pub fn stop(&self) {
        self.stop.send_replace(true);
    }
}

async fn run(state: AppState, owner: String, mut stopped: watch::Receiver<bool>) {
    let settings = state.settings().webhooks.clone();
    tracing::info!(worker = %owner, "webhook worker started");
    // The first purge waits a whole interval: starting servers write
    // nothing they need not.
    let mut last_purge = Instant::now();
    while !*stopped.borrow() {
        if let Err(error) = round(&state, &owner, &settings).await {
            tracing::warn!(%error, "webhook delivery round failed");
        }
        if last_purge.elapsed() >= PURGE_INTERVAL {
            purge_old_attempts(&state).await;
            last_purge = Instant::now();
        }
        tokio::select! {
            () = tokio::time::sleep(settings.poll_interval) => {}
            _ = stopped.changed() => {}
        }
    }
    tracing::info!(worker = %owner, "webhook worker stopped");
}

/// How often attempts past retention are purged.
const PURGE_INTERVAL: Duration = Duration::from_secs(600);

/// Deletes the attempts older than the event retention (they go with the
/// events they carried), in batches of short transactions.
async fn purge_old_attempts(state: &AppState) {
    const BATCH: i64 = 1000;
    let days = i64::from(state.settings().events.retention_days);
    let cutoff = Utc::now() - chrono::Duration::days(days);
    loop {
        let purged = state
            .write(&Actor::system(), move |conn, _| {
                webhooks::purge_deliveries_before(conn, cutoff, BATCH)
            })
            .await;
        match purged {
            Ok(count) if count as i64 >= BATCH => {}
            Ok(count) => {
                if count > 0 {
                    tracing::info!(attempts = count, "purged webhook attempts past retention");
                }
                return;
            }
            Err(error) => {
                tracing::warn!(%error, "cannot purge old webhook attempts");
                return;
            }
        }
    }
}

/// Claims the due endpoints and delivers to each (endpoints in parallel,
/// each one's events in order).
async fn round(
    state: &AppState,
    owner: &str,
    settings: &WebhookSettings,
) -> Result<(), crate::ApiError> {
    let at = now();
    if !state
        .read_one(move |conn| webhooks::any_due(conn, at))
        .await?
    {
        return Ok(());
    }
    let (claimer, lease) = (owner.to_string(), settings.lease);
    let claimed = state
        .write(&Actor::system(), move |conn, stamp| {
            let until = later(stamp.at, lease);
            webhooks::claim_due(conn, &claimer, stamp.at, until, CLAIM_BATCH)
        })
        .await?;
    let mut running = tokio::task::JoinSet::new();
    for endpoint in claimed {
        let (state, owner, settings) = (state.clone(), owner.to_string(), settings.clone());
        running.spawn(async move { deliver_to(&state, &owner, &settings, endpoint).await });
    }
    while let Some(done) = running.join_next().await {
        if let Ok(Err(error)) = done {
            tracing::warn!(%error, "webhook delivery stopped");
        }
    }
    Ok(())
}

/// Sends an endpoint's due events in order while the lease lasts, stopping
/// at the first failure; then gives the lease back.
async fn deliver_to(
    state: &AppState,
    owner: &str,
    settings: &WebhookSettings,
    mut endpoint: Endpoint,
) -> Result<(), crate::ApiError> {
    let started = Instant::now();
    loop {
        let (cursor, filter) = (endpoint.delivered_through, endpoint.event_types.clone());
        let (next, newest) = state
            .read(move |conn| {
                // The newest id first: every event up to it has committed
                // (ids grow in commit order), so the query after it sees
                // them all even where each statement reads a new snapshot.
                let newest = outbox::last_id(conn)?;
                let next = outbox::after(conn, cursor, 1, &filter, None)?;
                Ok((next.into_iter().next(), newest))
            })
            .await?;
        let Some(event) = next else {
            // Nothing for this endpoint up to the newest event: ids grow in
            // commit order, so the cursor may skip there.
            let (id, owner) = (endpoint.id, owner.to_string());
            state
                .write(&Actor::system(), move |conn, stamp| {
                    let writer = Writer::Worker {
                        owner: &owner,
                        cursor,
                    };
                    let skip = Progress::Through(newest);
                    webhooks::record_progress(conn, id, writer, &skip, stamp.at)
                })
                .await?;
            break;
        };
        let outcome = send(settings, &endpoint, &event).await;
        let delivered = outcome.delivered();
        let progress = if delivered {
            Progress::Through(event.id)
        } else {
            after_failure(settings, &endpoint, &outcome)
        };
        let next_retry_at = match &progress {
            Progress::Failed {
                next_attempt_at, ..
            } => Some(*next_attempt_at),
            _ => None,
        };
        let attempt = outcome.to_delivery(
            endpoint.id,
            event.id,
            endpoint.attempts + 1,
            next_retry_at,
            false,
        );
        let (id, lease_owner, recorded) = (endpoint.id, owner.to_string(), progress.clone());
        let (_, applied) = state
            .write(&Actor::system(), move |conn, stamp| {
                let writer = Writer::Worker {
                    owner: &lease_owner,
                    cursor,
                };
                record(conn, stamp, id, writer, attempt.clone(), Some(&recorded))
            })
            .await?;
        if !applied {
            tracing::warn!(
                endpoint = id,
                "webhook lease lost; another process carries on"
            );
            return Ok(());
        }
        if !delivered || started.elapsed() > settings.lease / 2 {
            break;
        }
        endpoint.delivered_through = event.id;
        endpoint.attempts = 0;
        endpoint.failing_since = None;
    }
    let (id, owner) = (endpoint.id, owner.to_string());
    state
        .write(&Actor::system(), move |conn, _| {
            webhooks::release(conn, id, &owner)
        })
        .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_schedule_backs_off_and_stays_at_ten_hours() {
        let hours = |d: Duration| d.as_secs_f64() / 3600.0;
        assert_eq!(retry_delay(1, 1.0, 0.0), Duration::from_secs(5));
        assert_eq!(retry_delay(2, 1.0, 0.0), Duration::from_secs(300));
        assert_eq!(retry_delay(3, 1.0, 0.0), Duration::from_secs(1800));
        assert_eq!(hours(retry_delay(4, 1.0, 0.0)), 2.0);
        assert_eq!(hours(retry_delay(5, 1.0, 0.0)), 5.0);
        assert_eq!(hours(retry_delay(6, 1.0, 0.0)), 10.0);
        assert_eq!(hours(retry_delay(60, 1.0, 0.0)), 10.0);
        // Jitter moves a delay by at most a fifth either way.
        assert_eq!(retry_delay(1, 1.0, 1.0), Duration::from_secs(6));
        assert_eq!(retry_delay(1, 1.0, -1.0), Duration::from_secs(4));
        assert_eq!(retry_delay(1, 1.0, 7.0), Duration::from_secs(6));
        // Tests shorten the whole schedule.
        assert_eq!(retry_delay(2, 0.001, 0.0), Duration::from_millis(300));
    }

    #[test]
    fn jitter_stays_in_range() {
        for _ in 0..1000 {
            let j = jitter();
            assert!((-1.0..=1.0).contains(&j), "{j}");
        }
    }

    fn endpoint(attempts: i32, failing_since: Option<DateTime<Utc>>) -> Endpoint {
        Endpoint {
            id: 1,
            url: "https://example.com/".into(),
            description: None,
            event_types: fieldopt_domain::EventTypeFilter::all(),
            enabled: true,
            secret: "whsec_AAAA".into(),
            created_at: Utc::now(),
            updated_at: Utc::now(),
            delivered_through: 0,
            attempts,
            next_attempt_at: Utc::now(),
            failing_since,
            disabled_reason: None,
        }
    }

    #[test]
    fn failures_retry_until_the_window_ends_then_disable() {
        let settings = WebhookSettings::default();
        let at = Utc::now();
        let failed = Outcome {
            attempted_at: at,
            status_code: Some(500),
            ..Outcome::default()
        };
        match after_failure(&settings, &endpoint(0, None), &failed) {
            Progress::Failed {
                next_attempt_at,
                failing_since,
            } => {
                assert_eq!(failing_since, at);
                let delay = (next_attempt_at - at).num_milliseconds();
                assert!((4000..=6000).contains(&delay), "{delay}");
            }
            other => panic!("{other:?}"),
        }
        // Late in the window the retry is pulled in to its end.
        let since = at - chrono::Duration::hours(20);
        match after_failure(&settings, &endpoint(6, Some(since)), &failed) {
            Progress::Failed {
                next_attempt_at, ..
            } => assert_eq!(next_attempt_at, since + chrono::Duration::hours(24)),
            other => panic!("{other:?}"),
        }
        let since = at - chrono::Duration::hours(24);
        match after_failure(&settings, &endpoint(7, Some(since)), &failed) {
            Progress::Disabled(reason) => assert!(reason.contains("answered 500"), "{reason}"),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn only_2xx_answers_deliver() {
        let answered = |status| Outcome {
            status_code: Some(status),
            ..Outcome::default()
        };
        assert!(answered(200).delivered());
        assert!(answered(204).delivered());
        assert!(!answered(301).delivered());
        assert!(!answered(500).delivered());
        assert!(!Outcome::default().delivered());
    }
}
