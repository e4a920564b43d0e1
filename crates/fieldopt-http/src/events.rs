//! The change feed: events rendered from what the store's commands noted
//! (see `fieldopt_store::outbox`), the pollable feed (`GET /events`) and
//! the Server-Sent Events stream (`GET /events/stream`).
//!
//! The outbox is the truth; the [`EventHub`] only says "there is news": one
//! pump task per process reads new events once and broadcasts them to the
//! streams of this process. A stream first catches up from the outbox, then
//! follows the broadcast, skipping what it already sent, so it never misses
//! or repeats an event. A stream that falls too far behind the broadcast
//! is closed with a final `lagged` event and resumes from its last id.

use std::convert::Infallible;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use actix_web::http::header::{self, HeaderValue};
use actix_web::web::Bytes;
use actix_web::{HttpRequest, HttpResponse, get, web};
use chrono::{DateTime, Utc};
use fieldopt_domain::access::Operation;
use fieldopt_domain::{Actor, EventType, EventTypeFilter, Job};
use fieldopt_store::outbox::{self, Change, NewEvent, StoredEvent};
use fieldopt_store::{DatabaseTarget, DbConn, DbPool, Stamp, StoreResult, jobs, technicians};
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use tokio::sync::{Notify, broadcast, mpsc, watch};
use utoipa::{IntoParams, ToSchema};

use crate::assignments::AssignmentResponse;
use crate::auth::{Caller, Scope};
use crate::error::{ApiError, Problem};
use crate::extract::parse_int;
use crate::jobs::JobResponse;
use crate::state::{AppState, today};
use crate::technicians::TechnicianResponse;

/// Settings of the feed and the stream.
#[derive(Debug, Clone)]
pub struct EventSettings {
    /// A comment line this often keeps idle streams (and proxies) open.
    pub heartbeat: Duration,
    /// How often the pump looks at the outbox without a wake-up (other
    /// processes on SQLite; a lost notification on PostgreSQL).
    pub poll_interval: Duration,
    /// Events a stream may fall behind the broadcast before it is closed.
    pub stream_buffer: usize,
    /// Events older than this many days are purged.
    pub retention_days: u32,
    /// The database to `LISTEN` on for other processes' events, and the
    /// connect timeout (PostgreSQL; `None`: poll only).
    pub listen: Option<(DatabaseTarget, Duration)>,
}

impl Default for EventSettings {
    fn default() -> Self {
        Self {
            heartbeat: Duration::from_secs(15),
            poll_interval: Duration::from_millis(250),
            stream_buffer: 1024,
            retention_days: 30,
            listen: None,
        }
    }
}

/// Appends the events of what the store's commands noted on `stamp` (and
/// forgets the notes); call it last in the write transaction. Returns
/// whether there were any.
pub fn append_noted(conn: &mut DbConn, stamp: &Stamp) -> StoreResult<bool> {
    let events = render(conn, stamp.take_changes())?;
    outbox::append(conn, stamp, &events)?;
    Ok(!events.is_empty())
}

/// Renders what a transaction changed as events, reading each resource as
/// it is now (inside the same transaction, so as it will be committed).
pub(crate) fn render(conn: &mut DbConn, changes: Vec<Change>) -> StoreResult<Vec<NewEvent>> {
    let mut rendered = Vec::with_capacity(changes.len());
    for change in changes {
        rendered.push(match change {
            Change::Technician(EventType::TechnicianDeleted, id) => NewEvent {
                event_type: EventType::TechnicianDeleted,
                technician_id: Some(id),
                data: deleted(id.0),
            },
            Change::Technician(event_type, id) => {
                technician_event(event_type, technicians::find_with_load(conn, id, today())?)
            }
            Change::TechnicianState(event_type, technician) => technician_event(
                event_type,
                technicians::with_load(conn, *technician, today())?,
            ),
            Change::Job(event_type, id) => job_event(event_type, jobs::find(conn, id)?),
            Change::JobState(event_type, job) => job_event(event_type, job),
            Change::JobDeleted(id) => NewEvent {
                event_type: EventType::JobDeleted,
                technician_id: None,
                data: deleted(id.0),
            },
            Change::Assignment(event_type, assignment) => NewEvent {
                event_type,
                technician_id: Some(assignment.technician_id),
                data: to_json(&AssignmentResponse::from(assignment)),
            },
            Change::Rendered(event) => event,
        });
    }
    Ok(rendered)
}

fn job_event(event_type: EventType, job: Job) -> NewEvent {
    NewEvent {
        event_type,
        technician_id: job.assigned_technician,
        data: to_json(&JobResponse::from(job)),
    }
}

fn technician_event(
    event_type: EventType,
    technician: technicians::TechnicianWithLoad,
) -> NewEvent {
    NewEvent {
        event_type,
        technician_id: Some(technician.technician.id),
        data: to_json(&TechnicianResponse::from(technician)),
    }
}

fn deleted(id: i64) -> String {
    format!(r#"{{"id":{id}}}"#)
}

/// JSON of a wire type; they all serialise.
pub(crate) fn to_json(value: &impl Serialize) -> String {
    serde_json::to_string(value).unwrap_or_else(|_| "null".into())
}

/// One event as the feed, the stream and webhooks send it.
#[derive(Debug, Serialize)]
struct Envelope<'a> {
    id: i64,
    #[serde(rename = "type")]
    event_type: &'static str,
    #[serde(serialize_with = "crate::wire::timestamp")]
    occurred_at: DateTime<Utc>,
    actor: Option<&'a str>,
    data: &'a RawValue,
}

/// The event as JSON: `{"id", "type", "occurred_at", "actor", "data"}`.
pub fn envelope_json(event: &StoredEvent) -> String {
    let data: &RawValue = serde_json::from_str(&event.data).unwrap_or(RawValue::NULL);
    to_json(&Envelope {
        id: event.id,
        event_type: event.event_type.as_str(),
        occurred_at: event.occurred_at,
        actor: event.actor.as_ref().map(|a| a.as_str()),
        data,
    })
}

/// Says "there is news" to this process's streams (see the module docs).
#[derive(Debug)]
pub struct EventHub {
    broadcast: broadcast::Sender<Arc<StoredEvent>>,
    news: Arc<Notify>,
    closing: watch::Sender<bool>,
    pump_started: AtomicBool,
    settings: EventSettings,
}

impl EventHub {
    /// A hub; its pump starts with the first stream.
    pub fn new(settings: EventSettings) -> Self {
        Self {
            broadcast: broadcast::channel(settings.stream_buffer.max(16)).0,
            news: Arc::new(Notify::new()),
            closing: watch::channel(false).0,
            pump_started: AtomicBool::new(false),
            settings,
        }
    }

    /// The settings.
    pub fn settings(&self) -> &EventSettings {
        &self.settings
    }

    /// A commit of this process appended events.
    pub(crate) fn announce(&self) {
        self.news.notify_one();
    }

    /// Ends every stream with a final `shutdown` event (graceful shutdown),
    /// and stops the pump.
    pub fn close(&self) {
        self.closing.send_replace(true);
    }

    fn is_closing(&self) -> bool {
        *self.closing.borrow()
    }

    /// Starts the pump (and on PostgreSQL the listener) once.
    fn ensure_pump(self: &Arc<Self>, pool: &DbPool) {
        if self.pump_started.swap(true, Ordering::AcqRel) {
            return;
        }
        let hub = Arc::clone(self);
        let pool_for_pump = pool.clone();
        tokio::spawn(async move { hub.pump(pool_for_pump).await });
        let Some((target, timeout)) = self.settings.listen.clone() else {
            return;
        };
        let hub = Arc::clone(self);
        std::thread::Builder::new()
            .name("fieldopt-listen".into())
            .spawn(move || hub.listen(&target, timeout))
            .map_or_else(
                |error| tracing::warn!(%error, "no event listener thread; streams poll"),
                drop,
            );
    }

    /// Reads new events once per wake-up and broadcasts them.
    async fn pump(self: Arc<Self>, pool: DbPool) {
        let mut closing = self.closing.subscribe();
        let mut last: Option<i64> = None;
        while !*closing.borrow() {
            // With nobody listening, only keep up with the newest id, so
            // the first stream to come is not sent a backlog it read itself.
            let since = last.filter(|_| self.broadcast.receiver_count() > 0);
            let pool = pool.clone();
            let news = web::block(move || -> StoreResult<News> {
                let mut conn = pool.get()?;
                Ok(match since {
                    None => News::Newest(outbox::last_id(&mut conn)?),
                    Some(after) => News::Events(outbox::after(
                        &mut conn,
                        after,
                        outbox::MAX_PAGE,
                        &EventTypeFilter::all(),
                        None,
                    )?),
                })
            })
            .await;
            let mut more = false;
            match news {
                Ok(Ok(News::Newest(id))) => last = Some(id),
                Ok(Ok(News::Events(events))) => {
                    more = events.len() as i64 >= outbox::MAX_PAGE;
                    for event in events {
                        last = Some(event.id);
                        // No receiver now is fine: streams read the outbox.
                        let _ = self.broadcast.send(Arc::new(event));
                    }
                }
                Ok(Err(error)) => tracing::warn!(%error, "event pump cannot read the outbox"),
                Err(error) => tracing::warn!(%error, "event pump failed"),
            }
            if more {
                continue;
            }
            tokio::select! {
                () = self.news.notified() => {}
                () = tokio::time::sleep(self.settings.poll_interval) => {}
                _ = closing.changed() => {}
            }
        }
    }

    /// PostgreSQL: turns `NOTIFY`s from any process into wake-ups of the
    /// pump. Reconnects after a lost connection; ends at shutdown.
    fn listen(&self, target: &DatabaseTarget, timeout: Duration) {
        let mut listener = None;
        while !self.is_closing() {
            if listener.is_none() {
                match outbox::EventListener::open(target, timeout) {
                    Ok(Some(opened)) => {
                        listener = Some(opened);
                        // Something may have happened while unconnected.
                        self.news.notify_one();
                    }
                    Ok(None) => return,
                    Err(error) => {
                        tracing::warn!(%error, "cannot listen for events; retrying");
                        std::thread::sleep(Duration::from_secs(1));
                        continue;
                    }
                }
            }
            if let Some(open) = listener.as_mut() {
                match open.has_news() {
                    Ok(true) => self.news.notify_one(),
                    Ok(false) => {}
                    Err(error) => {
                        tracing::warn!(%error, "event listener lost its connection");
                        listener = None;
                    }
                }
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

/// What the pump found.
enum News {
    /// Nobody listens: the newest id, to start from later.
    Newest(i64),
    /// The events after the last one broadcast.
    Events(Vec<StoredEvent>),
}

/// Paging of the feed.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct FeedQuery {
    /// Events after this id (the last one the client saw); default 0, from
    /// the oldest kept.
    #[param(value_type = Option<i64>, minimum = 0)]
    after: Option<String>,
    /// 1..=5000, default 500 (as every list).
    #[param(value_type = Option<i64>, minimum = 1, maximum = 5000)]
    limit: Option<String>,
    /// Comma-separated types (`job.created`), wildcards (`job.*`) or `*`
    /// (default): at most 32.
    #[param(value_type = Option<String>, example = "job.*,assignment.*")]
    types: Option<String>,
}

/// Where the stream starts and what it sends.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct StreamQuery {
    /// Send the events after this id first; `Last-Event-ID` wins when both
    /// are given. Without either, only new events.
    #[param(value_type = Option<i64>, minimum = 0)]
    after: Option<String>,
    /// As in the feed.
    #[param(value_type = Option<String>, example = "job.*,assignment.*")]
    types: Option<String>,
}

/// One page of the feed.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = EventPage)]
pub struct EventPage {
    /// Events in id order.
    #[schema(value_type = Vec<Object>)]
    events: Vec<Box<RawValue>>,
    /// The id to pass as `after` next: the last event's id, or `after`
    /// itself when the page is empty.
    last_id: i64,
}

fn types_field(text: &Option<String>) -> Result<EventTypeFilter, ApiError> {
    EventTypeFilter::parse(text.as_deref().unwrap_or("*"))
        .map_err(|error| ApiError::invalid("types", error))
}

fn after_field(name: &str, text: &str) -> Result<i64, ApiError> {
    parse_int(name, text.trim(), 0, i64::MAX)
}

/// `Some(oldest kept id)` when events after `after` were purged.
fn purged_after(conn: &mut DbConn, after: i64) -> StoreResult<Option<i64>> {
    let (purged_through, oldest) = outbox::retention_edge(conn)?;
    Ok((after < purged_through).then(|| oldest.unwrap_or(purged_through + 1)))
}

/// The 410 for a client that asked for purged events.
fn purged(after: i64, oldest_id: i64) -> ApiError {
    ApiError::Gone {
        detail: format!(
            "Events after {after} are no longer kept (retention); the oldest kept is \
             {oldest_id}: resume with after={}",
            oldest_id - 1
        ),
        oldest_id,
    }
}

/// The change feed, one page at a time.
///
/// Every change to technicians, jobs and assignments, and every applied
/// plan, is an event with a strictly increasing `id`, written in the same
/// transaction as the change: a change that rolled back has none, a
/// committed one always has one. Keep the last `id` you saw and pass it as
/// `after`: you never miss or repeat an event (ids may skip numbers).
/// Technicians see only events about themselves and their jobs. 410 when
/// the events after `after` were purged by retention; the problem's
/// `oldest_id` says where to resume.
#[utoipa::path(
    tag = "events",
    params(FeedQuery),
    responses(
        (status = 200, description = "Events after `after`, oldest first", body = EventPage),
        (status = 400, description = "Invalid `after`, `limit` or `types`", body = Problem, content_type = "application/problem+json"),
        (status = 410, description = "Events after `after` were purged", body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/events")]
pub async fn list_events(
    state: web::Data<AppState>,
    caller: Caller,
    query: web::Query<FeedQuery>,
) -> Result<HttpResponse, ApiError> {
    let scope = caller.scope(Operation::ListEvents)?;
    let after = match &query.after {
        Some(text) => after_field("after", text)?,
        None => 0,
    };
    let limit = match &query.limit {
        Some(text) => parse_int("limit", text, 1, outbox::MAX_PAGE)?,
        None => 500,
    };
    let filter = types_field(&query.types)?;
    let (gone, events) = state
        .read(move |conn| {
            if let Some(oldest) = purged_after(conn, after)? {
                return Ok((Some(oldest), vec![]));
            }
            let events = outbox::after(conn, after, limit, &filter, scope.only_technician())?;
            Ok((None, events))
        })
        .await?;
    if let Some(oldest) = gone {
        return Err(purged(after, oldest));
    }
    let last_id = events.last().map_or(after, |e| e.id);
    let events = events
        .iter()
        .map(|event| RawValue::from_string(envelope_json(event)))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| ApiError::Internal(format!("event JSON: {e}")))?;
    Ok(HttpResponse::Ok().json(EventPage { events, last_id }))
}

/// The change feed as Server-Sent Events.
///
/// `text/event-stream`: each event as `id:` (its id), `event:` (its type)
/// and `data:` (the same JSON as in `GET /events`). Reconnect with
/// the `Last-Event-ID` header (browsers' `EventSource` sends it by itself;
/// it wins over `after`; described here rather than as a parameter because
/// some client generators cannot build optional headers) or `?after=` to
/// get exactly the events you missed, then live ones; without either the
/// stream starts with new events. A `: heartbeat` comment comes every 15 s.
/// A stream that falls more than the buffer behind gets a final `lagged`
/// event and is closed: reconnect with its last id. At shutdown streams end
/// with a `shutdown` event. Events committed by other processes on the same
/// database arrive within a second.
#[utoipa::path(
    tag = "events",
    params(StreamQuery),
    responses(
        (status = 200, description = "The stream", content_type = "text/event-stream", body = String),
        (status = 400, description = "Invalid `after`, `Last-Event-ID` or `types`", body = Problem, content_type = "application/problem+json"),
        (status = 410, description = "Events after the given id were purged", body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/events/stream")]
pub async fn stream_events(
    state: web::Data<AppState>,
    caller: Caller,
    query: web::Query<StreamQuery>,
    request: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let scope = caller.scope(Operation::StreamEvents)?;
    let filter = types_field(&query.types)?;
    let resume = match request.headers().get("last-event-id") {
        Some(value) => Some(after_field(
            "Last-Event-ID",
            value
                .to_str()
                .map_err(|_| ApiError::invalid("Last-Event-ID", "not text"))?,
        )?),
        None => query
            .after
            .as_deref()
            .map(|text| after_field("after", text))
            .transpose()?,
    };
    let hub = state.event_hub();
    hub.ensure_pump(state.pool());
    // Subscribe before reading the outbox: whatever commits from now on is
    // broadcast to us, and whatever committed before is in the outbox.
    let live = hub.broadcast.subscribe();
    let (start, gone) = state
        .read(move |conn| match resume {
            Some(after) => Ok((after, purged_after(conn, after)?)),
            None => Ok((outbox::last_id(conn)?, None)),
        })
        .await?;
    if let Some(oldest) = gone {
        return Err(purged(start, oldest));
    }
    let (sender, receiver) = mpsc::channel::<Bytes>(16);
    let stream = Subscriber {
        state: state.get_ref().clone(),
        hub,
        filter,
        scope,
        last_sent: start,
        sender,
    };
    tokio::spawn(stream.run(live));
    let body = futures_util::stream::unfold(receiver, |mut receiver| async move {
        receiver
            .recv()
            .await
            .map(|chunk| (Ok::<_, Infallible>(chunk), receiver))
    });
    Ok(HttpResponse::Ok()
        .insert_header((header::CONTENT_TYPE, "text/event-stream"))
        .insert_header((header::CACHE_CONTROL, "no-cache"))
        // Compression would hold events back in its buffer.
        .insert_header((
            header::CONTENT_ENCODING,
            HeaderValue::from_static("identity"),
        ))
        .insert_header(("X-Accel-Buffering", "no"))
        .streaming(body))
}

/// One open stream: catches up from the outbox, then follows the hub.
struct Subscriber {
    state: AppState,
    hub: Arc<EventHub>,
    filter: EventTypeFilter,
    scope: Scope,
    last_sent: i64,
    sender: mpsc::Sender<Bytes>,
}

/// Why a stream stopped.
enum Stop {
    /// The client went away.
    Gone,
    /// Close with this final event.
    Final(&'static str, String),
}

impl Subscriber {
    async fn run(mut self, mut live: broadcast::Receiver<Arc<StoredEvent>>) {
        let stop = match self.follow(&mut live).await {
            Ok(never) => match never {},
            Err(stop) => stop,
        };
        if let Stop::Final(event, data) = stop {
            let _ = self
                .sender
                .send(Bytes::from(format!("event: {event}\ndata: {data}\n\n")))
                .await;
        }
    }

    async fn follow(
        &mut self,
        live: &mut broadcast::Receiver<Arc<StoredEvent>>,
    ) -> Result<Infallible, Stop> {
        // `retry:` tells browsers how soon to reconnect.
        self.send(Bytes::from_static(b"retry: 2000\n\n")).await?;
        self.catch_up().await?;
        let mut closing = self.hub.closing.subscribe();
        let mut heartbeat = tokio::time::interval(self.hub.settings.heartbeat);
        heartbeat.reset();
        loop {
            if *closing.borrow() {
                return Err(self.final_event("shutdown", "the server is shutting down"));
            }
            tokio::select! {
                received = live.recv() => match received {
                    Ok(event) => self.deliver(&event).await?,
                    Err(broadcast::error::RecvError::Lagged(_)) => {
                        return Err(self.final_event(
                            "lagged",
                            "this stream fell too far behind; reconnect with Last-Event-ID",
                        ));
                    }
                    Err(broadcast::error::RecvError::Closed) => {
                        return Err(self.final_event("shutdown", "the server is shutting down"));
                    }
                },
                _ = heartbeat.tick() => self.send(Bytes::from_static(b": heartbeat\n\n")).await?,
                _ = closing.changed() => {}
                () = self.sender.closed() => return Err(Stop::Gone),
            }
        }
    }

    /// Sends everything after `last_sent` that the outbox holds now.
    async fn catch_up(&mut self) -> Result<(), Stop> {
        loop {
            let after = self.last_sent;
            let filter = self.filter.clone();
            let only = self.scope.only_technician();
            let page = self
                .state
                .read_one(move |conn| outbox::after(conn, after, outbox::MAX_PAGE, &filter, only))
                .await
                .map_err(|error| {
                    tracing::warn!(%error, "stream cannot read the outbox");
                    self.final_event(
                        "error",
                        "the database cannot serve the stream now; reconnect",
                    )
                })?;
            let full = page.len() as i64 >= outbox::MAX_PAGE;
            for event in &page {
                self.deliver(event).await?;
            }
            if !full {
                return Ok(());
            }
        }
    }

    async fn deliver(&mut self, event: &StoredEvent) -> Result<(), Stop> {
        if event.id <= self.last_sent {
            return Ok(());
        }
        let visible = self.filter.matches(event.event_type)
            && self
                .scope
                .only_technician()
                .is_none_or(|own| event.technician_id == Some(own));
        if visible {
            let frame = format!(
                "id: {}\nevent: {}\ndata: {}\n\n",
                event.id,
                event.event_type.as_str(),
                envelope_json(event)
            );
            self.send(Bytes::from(frame)).await?;
        }
        self.last_sent = event.id;
        Ok(())
    }

    async fn send(&self, chunk: Bytes) -> Result<(), Stop> {
        self.sender.send(chunk).await.map_err(|_| Stop::Gone)
    }

    fn final_event(&self, kind: &'static str, message: &str) -> Stop {
        Stop::Final(
            kind,
            to_json(&serde_json::json!({
                "message": message,
                "last_event_id": self.last_sent,
            })),
        )
    }
}

/// Purges events past retention in small batches, every `every`, until
/// shutdown. Each batch is its own short transaction.
pub async fn purge_expired_events(state: AppState, every: Duration) {
    let hub = state.event_hub();
    let mut closing = hub.closing.subscribe();
    loop {
        let days = i64::from(hub.settings.retention_days);
        let cutoff = Utc::now() - chrono::Duration::days(days);
        loop {
            let purged = state
                .write(&Actor::system(), move |conn, _| {
                    outbox::purge_before(conn, cutoff, PURGE_BATCH)
                })
                .await;
            match purged {
                Ok(count) if count as i64 >= PURGE_BATCH => continue,
                Ok(count) => {
                    if count > 0 {
                        tracing::info!(events = count, "purged events past retention");
                    }
                    break;
                }
                Err(error) => {
                    tracing::warn!(%error, "cannot purge old events");
                    break;
                }
            }
        }
        tokio::select! {
            () = tokio::time::sleep(every) => {}
            _ = closing.changed() => return,
        }
    }
}

/// Events deleted per purge transaction.
const PURGE_BATCH: i64 = 1000;
