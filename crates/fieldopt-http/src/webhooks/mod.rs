//! `/webhooks`: endpoints that receive the change feed as signed HTTP
//! POSTs (Standard Webhooks), and the log of their delivery attempts.
//!
//! The store keeps each endpoint's cursor into the outbox
//! (`fieldopt_store::webhooks`); [`delivery`] sends; [`signing`] signs;
//! [`target`] keeps deliveries off private networks. See `docs/events.md`.

pub mod delivery;
pub mod signing;
pub mod target;

use actix_web::{HttpResponse, delete, get, patch, post, web};
use chrono::{DateTime, Utc};
use fieldopt_domain::EventTypeFilter;
use fieldopt_domain::access::Operation;
use fieldopt_store::outbox;
use fieldopt_store::webhooks::{
    self, Delivery, Endpoint, EndpointChanges, NewEndpoint, Progress, Writer,
};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::auth::Caller;
use crate::error::{ApiError, Problem};
use crate::extract::{JsonBody, not_null, nullable, optional, page};
use crate::state::AppState;

pub use delivery::{RETRY_SCHEDULE, WebhookSettings, WebhookWorker};

/// The operation ids of this module, all governed by
/// [`Operation::ManageWebhooks`].
pub const OPERATION_IDS: [&str; 7] = [
    "list_webhooks",
    "create_webhook",
    "get_webhook",
    "update_webhook",
    "delete_webhook",
    "list_webhook_deliveries",
    "retry_webhook_delivery",
];

/// Most characters of a description.
pub const MAX_DESCRIPTION_CHARS: usize = 500;

/// A webhook endpoint as clients see it (never with its secret).
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = WebhookEndpoint, example = json!({
    "id": 1, "url": "https://hooks.example.com/fieldopt", "description": "Billing sync",
    "event_types": "job.*,assignment.created", "enabled": true,
    "created_at": "2026-12-02T09:00:00Z", "updated_at": "2026-12-02T09:00:00Z",
    "delivered_through": 1042, "failed_attempts": 0,
    "next_attempt_at": "2026-12-02T09:15:00Z", "failing_since": null, "disabled_reason": null
}))]
pub struct WebhookResponse {
    id: i64,
    /// Where events are POSTed.
    url: String,
    description: Option<String>,
    /// Canonical filter: `*` or the exact event types, comma-separated.
    event_types: String,
    enabled: bool,
    #[serde(serialize_with = "crate::wire::timestamp")]
    created_at: DateTime<Utc>,
    #[serde(serialize_with = "crate::wire::timestamp")]
    updated_at: DateTime<Utc>,
    /// Every matching event up to this id has been delivered.
    delivered_through: i64,
    /// Failed attempts at the next event.
    failed_attempts: i32,
    /// When the next event is due (when there is one).
    #[serde(serialize_with = "crate::wire::timestamp")]
    next_attempt_at: DateTime<Utc>,
    /// Since when every attempt has failed.
    #[serde(serialize_with = "crate::wire::timestamp_opt")]
    failing_since: Option<DateTime<Utc>>,
    /// Why the service disabled the endpoint (after failing for 24 h).
    disabled_reason: Option<String>,
}

impl From<Endpoint> for WebhookResponse {
    fn from(e: Endpoint) -> Self {
        WebhookResponse {
            id: e.id,
            url: e.url,
            description: e.description,
            event_types: e.event_types.to_string(),
            enabled: e.enabled,
            created_at: e.created_at,
            updated_at: e.updated_at,
            delivered_through: e.delivered_through,
            failed_attempts: e.attempts,
            next_attempt_at: e.next_attempt_at,
            failing_since: e.failing_since,
            disabled_reason: e.disabled_reason,
        }
    }
}

/// A new endpoint, with its signing secret: the only time it is shown.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = CreatedWebhook, example = json!({
    "id": 1, "url": "https://hooks.example.com/fieldopt", "description": "Billing sync",
    "event_types": "job.*", "enabled": true,
    "created_at": "2026-12-02T09:00:00Z", "updated_at": "2026-12-02T09:00:00Z",
    "delivered_through": 1042, "failed_attempts": 0,
    "next_attempt_at": "2026-12-02T09:00:00Z", "failing_since": null, "disabled_reason": null,
    "secret": "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD"
}))]
pub struct CreatedWebhook {
    #[serde(flatten)]
    webhook: WebhookResponse,
    /// The signing secret (`whsec_` and base64 of 24 random bytes).
    /// Returned only here, in the create response: store it now.
    secret: String,
}

/// Body of `POST /webhooks`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({
    "url": "https://hooks.example.com/fieldopt", "event_types": "job.*,assignment.created",
    "description": "Billing sync"
}))]
pub struct CreateWebhook {
    /// An `https://` URL (at most 2048 characters) whose host resolves to
    /// public addresses only.
    #[schema(max_length = 2048)]
    url: String,
    /// Comma-separated event types, `resource.*` wildcards or `*`
    /// (default `*`; at most 32 patterns).
    event_types: Option<String>,
    /// At most 500 characters.
    #[schema(max_length = 500)]
    description: Option<String>,
    /// Default `true`.
    enabled: Option<bool>,
}

/// Body of `PATCH /webhooks/{id}`; absent fields stay as they are.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"enabled": true}))]
pub struct UpdateWebhook {
    #[serde(default, deserialize_with = "not_null")]
    #[schema(nullable = false, max_length = 2048)]
    url: Option<String>,
    #[serde(default, deserialize_with = "not_null")]
    #[schema(nullable = false)]
    event_types: Option<String>,
    /// `null` clears it.
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<String>, max_length = 500)]
    description: Option<Option<String>>,
    /// Enabling an endpoint forgets why it was disabled and makes its next
    /// event due now.
    #[serde(default, deserialize_with = "not_null")]
    #[schema(nullable = false)]
    enabled: Option<bool>,
}

/// One delivery attempt.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = WebhookDelivery, example = json!({
    "id": 7, "event_id": 1043, "attempt": 2, "attempted_at": "2026-12-02T09:00:05Z",
    "status_code": 500, "latency_ms": 41, "error": "answered 500",
    "response_body": "upstream down", "next_retry_at": "2026-12-02T09:05:05Z", "manual": false
}))]
pub struct DeliveryResponse {
    id: i64,
    event_id: i64,
    /// 1 for the first attempt at the event, then counting up.
    attempt: i32,
    #[serde(serialize_with = "crate::wire::timestamp")]
    attempted_at: DateTime<Utc>,
    /// The receiver's status, when it answered.
    status_code: Option<i32>,
    latency_ms: i32,
    /// Why the attempt failed, if it did.
    error: Option<String>,
    /// The first KiB of the answer's body.
    #[schema(max_length = 1024)]
    response_body: Option<String>,
    /// When the event will be tried again, if it will be.
    #[serde(serialize_with = "crate::wire::timestamp_opt")]
    next_retry_at: Option<DateTime<Utc>>,
    /// Asked for with the retry operation.
    manual: bool,
}

impl From<Delivery> for DeliveryResponse {
    fn from(Delivery { id, attempt: a }: Delivery) -> Self {
        DeliveryResponse {
            id,
            event_id: a.event_id,
            attempt: a.number,
            attempted_at: a.attempted_at,
            status_code: a.status_code,
            latency_ms: a.latency_ms,
            error: a.error,
            response_body: a.response_body,
            next_retry_at: a.next_retry_at,
            manual: a.manual,
        }
    }
}

/// Paging of the webhook lists.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct WebhookPageQuery {
    /// 1..=5000, default 500.
    #[param(value_type = Option<i64>)]
    limit: Option<String>,
    /// Default 0.
    #[param(value_type = Option<i64>)]
    offset: Option<String>,
}

fn settings(state: &AppState) -> &WebhookSettings {
    &state.settings().webhooks
}

/// Checks a URL by the target rules: 400 naming `url` when refused.
async fn checked_url(state: &AppState, url: &str) -> Result<String, ApiError> {
    let allow_private = settings(state).allow_private;
    let target =
        target::Target::parse(url, allow_private).map_err(|e| ApiError::invalid("url", e))?;
    target
        .resolve(allow_private)
        .await
        .map_err(|e| ApiError::invalid("url", e))?;
    Ok(url.to_string())
}

fn event_types_field(text: &str) -> Result<EventTypeFilter, ApiError> {
    EventTypeFilter::parse(text).map_err(|e| ApiError::invalid("event_types", e))
}

fn description_field(text: Option<String>) -> Result<Option<String>, ApiError> {
    match text {
        Some(text) if text.chars().count() > MAX_DESCRIPTION_CHARS => Err(ApiError::invalid(
            "description",
            format!("longer than {MAX_DESCRIPTION_CHARS} characters"),
        )),
        Some(text) if text.chars().any(char::is_control) => Err(ApiError::invalid(
            "description",
            "contains control characters",
        )),
        other => Ok(other),
    }
}

fn not_found() -> ApiError {
    ApiError::NotFound("Webhook not found".to_string())
}

/// List webhook endpoints.
///
/// By id, paged by `limit` and `offset` with `X-Total-Count`. Secrets are
/// never shown.
#[utoipa::path(
    tag = "webhooks",
    params(WebhookPageQuery),
    responses(
        (status = 200, description = "One page of endpoints, by id", body = [WebhookResponse],
            headers(("X-Total-Count" = i64, description = "Endpoints before paging"))),
        (status = 400, description = "Invalid paging value", body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/webhooks")]
pub async fn list_webhooks(
    state: web::Data<AppState>,
    caller: Caller,
    query: web::Query<WebhookPageQuery>,
) -> Result<HttpResponse, ApiError> {
    caller.scope(Operation::ManageWebhooks)?;
    let page = page(&query.limit, &query.offset)?;
    let listed = state.read(move |conn| webhooks::list(conn, page)).await?;
    let items: Vec<WebhookResponse> = listed.items.into_iter().map(Into::into).collect();
    Ok(HttpResponse::Ok()
        .insert_header(("X-Total-Count", listed.total))
        .json(items))
}

/// Create a webhook endpoint.
///
/// The endpoint receives the events committed after it was created, of
/// the chosen types, as signed POSTs (Standard Webhooks; see
/// `docs/events.md`). The response carries the signing secret: it is
/// shown this once. The URL must be `https://` and resolve to public
/// addresses only (unless the server allows private targets). At most 100
/// endpoints (409 beyond).
#[utoipa::path(
    tag = "webhooks",
    request_body = CreateWebhook,
    responses(
        (status = 201, description = "Created; the only response that shows the secret", body = CreatedWebhook),
        (status = 400, description = "Invalid `url`, `event_types` or `description`", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "There are already 100 endpoints", body = Problem, content_type = "application/problem+json"),
    )
)]
#[post("/webhooks")]
pub async fn create_webhook(
    state: web::Data<AppState>,
    caller: Caller,
    body: JsonBody<CreateWebhook>,
) -> Result<HttpResponse, ApiError> {
    caller.scope(Operation::ManageWebhooks)?;
    let body = body.0;
    let event_types = event_types_field(body.event_types.as_deref().unwrap_or("*"))?;
    let description = description_field(body.description)?;
    let url = checked_url(&state, &body.url).await?;
    let secret = signing::generate_secret().map_err(ApiError::Internal)?;
    let new = NewEndpoint {
        url,
        description,
        event_types,
        enabled: body.enabled.unwrap_or(true),
        secret,
    };
    let created = state
        .write(caller.actor(), move |conn, stamp| {
            let newest = outbox::last_id(conn)?;
            webhooks::create(conn, &new, newest, stamp.at)
        })
        .await?;
    let secret = created.secret.clone();
    Ok(HttpResponse::Created().json(CreatedWebhook {
        webhook: created.into(),
        secret,
    }))
}

/// Read a webhook endpoint.
///
/// Its settings and delivery state; never its secret.
#[utoipa::path(
    tag = "webhooks",
    params(("id" = i64, Path, description = "Webhook id")),
    responses(
        (status = 200, description = "The endpoint", body = WebhookResponse),
        (status = 404, description = "Webhook not found", body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/webhooks/{id}")]
pub async fn get_webhook(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<i64>,
) -> Result<web::Json<WebhookResponse>, ApiError> {
    caller.scope(Operation::ManageWebhooks)?;
    let id = id.into_inner();
    let found = state.read(move |conn| webhooks::find(conn, id)).await?;
    Ok(web::Json(found.ok_or_else(not_found)?.into()))
}

/// Change a webhook endpoint.
///
/// Changes the URL (checked like on create), event types, description or
/// whether it is enabled. Enabling a disabled endpoint resumes delivery
/// where it stopped: with the event it could not deliver.
#[utoipa::path(
    tag = "webhooks",
    params(("id" = i64, Path, description = "Webhook id")),
    request_body = UpdateWebhook,
    responses(
        (status = 200, description = "Updated", body = WebhookResponse),
        (status = 400, description = "Invalid body", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "Webhook not found", body = Problem, content_type = "application/problem+json"),
    )
)]
#[patch("/webhooks/{id}")]
pub async fn update_webhook(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<i64>,
    body: JsonBody<UpdateWebhook>,
) -> Result<web::Json<WebhookResponse>, ApiError> {
    caller.scope(Operation::ManageWebhooks)?;
    let id = id.into_inner();
    let body = body.0;
    let changes = EndpointChanges {
        url: match body.url {
            Some(url) => Some(checked_url(&state, &url).await?),
            None => None,
        },
        description: body.description.map(description_field).transpose()?,
        event_types: optional(&body.event_types, event_types_field)?,
        enabled: body.enabled,
    };
    let updated = state
        .write(caller.actor(), move |conn, stamp| {
            webhooks::update(conn, id, &changes, stamp.at)
        })
        .await?;
    Ok(web::Json(updated.ok_or_else(not_found)?.into()))
}

/// Delete a webhook endpoint.
///
/// Deliveries stop and its attempt log goes with it. 204 on success.
#[utoipa::path(
    tag = "webhooks",
    params(("id" = i64, Path, description = "Webhook id")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 404, description = "Webhook not found", body = Problem, content_type = "application/problem+json"),
    )
)]
#[delete("/webhooks/{id}")]
pub async fn delete_webhook(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<i64>,
) -> Result<HttpResponse, ApiError> {
    caller.scope(Operation::ManageWebhooks)?;
    let id = id.into_inner();
    let deleted = state
        .write(caller.actor(), move |conn, _| webhooks::delete(conn, id))
        .await?;
    if !deleted {
        return Err(not_found());
    }
    Ok(HttpResponse::NoContent().finish())
}

/// List a webhook endpoint's delivery attempts.
///
/// Newest first, paged by `limit` and `offset` with `X-Total-Count`: each
/// attempt's status code, latency, error, the first KiB of the answer and
/// when the event is retried. Attempts are kept as long as events are.
#[utoipa::path(
    tag = "webhooks",
    params(("id" = i64, Path, description = "Webhook id"), WebhookPageQuery),
    responses(
        (status = 200, description = "One page of attempts, newest first", body = [DeliveryResponse],
            headers(("X-Total-Count" = i64, description = "Attempts before paging"))),
        (status = 400, description = "Invalid id or paging value", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "Webhook not found", body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/webhooks/{id}/deliveries")]
pub async fn list_webhook_deliveries(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<i64>,
    query: web::Query<WebhookPageQuery>,
) -> Result<HttpResponse, ApiError> {
    caller.scope(Operation::ManageWebhooks)?;
    let id = id.into_inner();
    let page = page(&query.limit, &query.offset)?;
    let listed = state
        .read(move |conn| {
            if webhooks::find(conn, id)?.is_none() {
                return Ok(None);
            }
            webhooks::deliveries(conn, id, page).map(Some)
        })
        .await?
        .ok_or_else(not_found)?;
    let items: Vec<DeliveryResponse> = listed.items.into_iter().map(Into::into).collect();
    Ok(HttpResponse::Ok()
        .insert_header(("X-Total-Count", listed.total))
        .json(items))
}

/// Send an attempt's event again, now.
///
/// Redelivers the event of the given attempt at once, signed like every
/// delivery (same `webhook-id`), and answers with the new attempt (marked
/// `manual`) whatever its outcome. When that event is the one the endpoint
/// is stuck on and the receiver takes it, delivery moves on to the next
/// event. Works on disabled endpoints too (to test a fix before enabling).
/// 409 when the event was purged by retention.
#[utoipa::path(
    tag = "webhooks",
    params(
        ("id" = i64, Path, description = "Webhook id"),
        ("delivery_id" = i64, Path, description = "Id of an attempt of this webhook"),
    ),
    responses(
        (status = 201, description = "The new attempt", body = DeliveryResponse),
        (status = 404, description = "Webhook or attempt not found", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The attempt's event was purged", body = Problem, content_type = "application/problem+json"),
    )
)]
#[post("/webhooks/{id}/deliveries/{delivery_id}/retry")]
pub async fn retry_webhook_delivery(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<(i64, i64)>,
) -> Result<HttpResponse, ApiError> {
    caller.scope(Operation::ManageWebhooks)?;
    let (id, delivery_id) = path.into_inner();
    let (endpoint, event) = state
        .read(move |conn| {
            let Some(endpoint) = webhooks::find(conn, id)? else {
                return Ok(None);
            };
            let Some(delivery) = webhooks::find_delivery(conn, id, delivery_id)? else {
                return Ok(None);
            };
            let event_id = delivery.attempt.event_id;
            let event = outbox::after(conn, event_id - 1, 1, &EventTypeFilter::all(), None)?
                .into_iter()
                .find(|event| event.id == event_id);
            Ok(Some((endpoint, event)))
        })
        .await?
        .ok_or_else(|| ApiError::NotFound("Webhook or delivery not found".to_string()))?;
    let event = event.ok_or_else(|| {
        ApiError::Conflict("The event of this delivery was purged; it cannot be sent again".into())
    })?;
    let outcome = delivery::send(settings(&state), &endpoint, &event).await;
    let delivered = outcome.delivered();
    let recorded = state
        .write(caller.actor(), move |conn, stamp| {
            // Deleted meanwhile: nothing to log the attempt against.
            let Some(current) = webhooks::find(conn, id)? else {
                return Ok(None);
            };
            let attempt = webhooks::attempts_at(conn, id, event.id)? + 1;
            let new = outcome.to_delivery(id, event.id, attempt, None, true);
            // Moves the cursor only when this is the event it is stuck on.
            let blocked = outbox::after(
                conn,
                current.delivered_through,
                1,
                &current.event_types,
                None,
            )?
            .first()
            .is_some_and(|next| next.id == event.id);
            let progress = (delivered && blocked).then_some(Progress::Through(event.id));
            delivery::record(conn, stamp, id, Writer::Manual, new, progress.as_ref()).map(Some)
        })
        .await?
        .ok_or_else(not_found)?;
    Ok(HttpResponse::Created().json(DeliveryResponse::from(recorded.0)))
}
