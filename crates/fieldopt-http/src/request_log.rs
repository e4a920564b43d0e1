//! One log line per request, inside a span that carries who asked.
//!
//! tracing-actix-web's root span (method, route, target, status, …) gains
//! an `actor` field, which access control fills in once it knows the
//! caller; everything logged while the request runs carries it. The line
//! at the end of each request is the access log.

use actix_web::Error;
use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use tracing::Span;
use tracing_actix_web::{DefaultRootSpanBuilder, RootSpanBuilder};

/// The root span of every request.
#[derive(Debug)]
pub struct RequestSpan;

impl RootSpanBuilder for RequestSpan {
    fn on_request_start(request: &ServiceRequest) -> Span {
        tracing_actix_web::root_span!(request, actor = tracing::field::Empty)
    }

    fn on_request_end<B: MessageBody>(span: Span, outcome: &Result<ServiceResponse<B>, Error>) {
        let status = match outcome {
            Ok(response) => response.status().as_u16(),
            Err(error) => error.as_response_error().status_code().as_u16(),
        };
        DefaultRootSpanBuilder::on_request_end(span.clone(), outcome);
        tracing::info!(parent: &span, status, "request");
    }
}

/// Records the caller on the request's root span, if there is one.
pub(crate) fn record_actor(req: &ServiceRequest, actor: &str) {
    use actix_web::HttpMessage;
    if let Some(root) = req.extensions().get::<tracing_actix_web::RootSpan>() {
        root.record("actor", actor);
    }
}
