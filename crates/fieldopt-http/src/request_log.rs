//! One log line per request, inside a span that carries its request id and
//! who asked; and the `X-Request-Id` of every answer.
//!
//! The span's fields are computed only when the span is enabled (`RUST_LOG`
//! at `info` for this crate), so a server logging at `warn` spends nothing
//! on them. Access control records the caller (`actor`) once it knows it;
//! everything logged while the request runs carries the span. The line at
//! the end of each request is the access log.

use std::time::Instant;

use actix_web::HttpMessage;
use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::HeaderValue;
use actix_web::middleware::Next;
use tracing::{Instrument, Span};

use crate::middleware::REQUEST_ID;

/// The request's span, kept in its extensions for [`record_actor`].
#[derive(Clone)]
struct RequestSpan(Span);

/// Middleware, outermost: the request id (the client's, if sane, else a
/// new UUID), the span, the access-log line, and `X-Request-Id` on the
/// answer.
pub async fn log_requests(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let started = Instant::now();
    let id = req
        .headers()
        .get(&REQUEST_ID)
        .filter(|v| acceptable_request_id(v))
        .cloned()
        .unwrap_or_else(|| {
            HeaderValue::from_str(&uuid::Uuid::new_v4().to_string()).expect("uuid is ASCII")
        });
    // Debug formatting quotes and escapes what a client sent, so no path or
    // header can start a line of its own in the log.
    let span = tracing::info_span!(
        "HTTP request",
        http.method = %req.method(),
        http.target = ?req.path(),
        http.client_ip = ?req.peer_addr().map(|a| a.ip()),
        http.user_agent = ?req.headers().get("user-agent"),
        request_id = ?id,
        actor = tracing::field::Empty,
    );
    req.extensions_mut().insert(RequestSpan(span.clone()));
    let outcome = next.call(req).instrument(span.clone()).await;
    let status = match &outcome {
        Ok(response) => response.status(),
        Err(error) => error.as_response_error().status_code(),
    };
    tracing::info!(
        parent: &span,
        status = status.as_u16(),
        elapsed_ms = started.elapsed().as_secs_f64() * 1000.0,
        "request"
    );
    let mut response = outcome?;
    response.headers_mut().insert(REQUEST_ID, id);
    Ok(response)
}

/// What a client may choose as its request id: 1–200 visible ASCII
/// characters (anything else could forge log lines or bloat them).
fn acceptable_request_id(value: &HeaderValue) -> bool {
    let bytes = value.as_bytes();
    !bytes.is_empty() && bytes.len() <= 200 && bytes.iter().all(|b| b.is_ascii_graphic())
}

/// Records the caller on the request's span.
pub(crate) fn record_actor(req: &ServiceRequest, actor: &str) {
    if let Some(RequestSpan(span)) = req.extensions().get::<RequestSpan>() {
        span.record("actor", actor);
    }
}
