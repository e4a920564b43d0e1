//! One error type for every failure, rendered as an RFC 9457 problem
//! document (`application/problem+json`).

use std::fmt;

use actix_web::http::{Method, StatusCode, header};
use actix_web::{HttpResponse, ResponseError};
use fieldopt_store::{Outage, StoreError};
use serde::Serialize;
use utoipa::ToSchema;

/// Media type of error bodies.
pub const PROBLEM_JSON: &str = "application/problem+json";

/// An RFC 9457 problem document. `detail` is what original FieldOpt
/// clients read.
#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({
    "type": "urn:fieldopt:problem:conflict",
    "title": "Conflict",
    "status": 409,
    "detail": "Technician already has maximum capacity"
}))]
pub struct Problem {
    /// A stable URI per kind of error.
    #[serde(rename = "type")]
    pub problem_type: String,
    /// Short name of the kind of error.
    pub title: String,
    /// The HTTP status code, repeated.
    pub status: u16,
    /// What went wrong, for people.
    pub detail: String,
    /// Only in the 410 of the event feed and stream
    /// (`urn:fieldopt:problem:events-purged`): the oldest event id still
    /// kept; resume with `after = oldest_id - 1`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub oldest_id: Option<i64>,
}

/// Every error the API answers with.
#[derive(Debug)]
pub enum ApiError {
    /// 400: the request is malformed or a value is invalid.
    BadRequest(String),
    /// 401: no usable bearer token; `invalid_token` when one was sent.
    Unauthorized {
        /// What the client is told.
        detail: String,
        /// A token was sent but refused (RFC 6750 `error="invalid_token"`).
        invalid_token: bool,
    },
    /// 403: the caller may not do this.
    Forbidden(String),
    /// 404: unknown resource or route.
    NotFound(String),
    /// 405: known path, wrong method.
    MethodNotAllowed(Vec<Method>),
    /// 409: conflicts with the current state.
    Conflict(String),
    /// 410: the events asked for were purged by retention.
    Gone {
        /// What the client is told.
        detail: String,
        /// The oldest event id still kept.
        oldest_id: i64,
    },
    /// 413: body over the size limit.
    PayloadTooLarge(String),
    /// 415: the body is not JSON, or is encoded.
    UnsupportedMediaType(String),
    /// 421: development mode refuses a `Host` that is not this machine.
    MisdirectedRequest(String),
    /// 422: an idempotency key reused with another request.
    Unprocessable(String),
    /// 422: a plan over the configured size.
    PlanTooLarge(String),
    /// 429: over the client's rate limit.
    TooManyRequests {
        /// Seconds until the next request can pass.
        retry_after_secs: u64,
    },
    /// 503: the database cannot serve the request now.
    Unavailable {
        /// What kind of outage, for the client's detail.
        outage: Outage,
        /// The database's words, logged, never shown.
        cause: String,
    },
    /// 503: a bounded resource is in full use; retry after a while.
    Overloaded {
        /// What the client is told.
        detail: String,
        /// Seconds to wait.
        retry_after_secs: u64,
    },
    /// 500: a fault on our side; the message is logged, never shown.
    Internal(String),
    /// 499 (nginx's convention): the client closed the connection before
    /// the answer was ready; nobody reads this one, but logs and metrics do.
    ClientGone,
    /// Any other client error raised below the application (by the HTTP
    /// layer or a middleware), turned into a problem document.
    Other {
        /// The status it had.
        status: StatusCode,
        /// What the client is told.
        detail: String,
    },
}

impl ApiError {
    /// A 400 naming the field or parameter.
    pub fn invalid(field: &str, message: impl fmt::Display) -> Self {
        ApiError::BadRequest(format!("invalid value for {field}: {message}"))
    }

    fn kind(&self) -> (String, &'static str) {
        let (slug, title) = match self {
            ApiError::BadRequest(_) => ("bad-request", "Bad Request"),
            ApiError::Unauthorized { .. } => ("unauthorized", "Unauthorized"),
            ApiError::Forbidden(_) => ("forbidden", "Forbidden"),
            ApiError::NotFound(_) => ("not-found", "Not Found"),
            ApiError::MethodNotAllowed(_) => ("method-not-allowed", "Method Not Allowed"),
            ApiError::Conflict(_) => ("conflict", "Conflict"),
            ApiError::Gone { .. } => ("events-purged", "Gone"),
            ApiError::PayloadTooLarge(_) => ("payload-too-large", "Payload Too Large"),
            ApiError::UnsupportedMediaType(_) => {
                ("unsupported-media-type", "Unsupported Media Type")
            }
            ApiError::MisdirectedRequest(_) => ("misdirected-request", "Misdirected Request"),
            ApiError::TooManyRequests { .. } => ("too-many-requests", "Too Many Requests"),
            ApiError::Unprocessable(_) => ("idempotency-key-reused", "Unprocessable Content"),
            ApiError::PlanTooLarge(_) => ("plan-too-large", "Unprocessable Content"),
            ApiError::Overloaded { .. } => ("overloaded", "Service Unavailable"),
            ApiError::Unavailable { .. } => ("database-unavailable", "Service Unavailable"),
            ApiError::Internal(_) => ("internal", "Internal Server Error"),
            ApiError::ClientGone => ("client-closed-request", "Client Closed Request"),
            ApiError::Other { status, .. } => {
                let title = status.canonical_reason().unwrap_or("Error");
                return (title.to_ascii_lowercase().replace([' ', '\''], "-"), title);
            }
        };
        (slug.to_string(), title)
    }

    /// The detail shown to the client.
    pub fn detail(&self) -> String {
        match self {
            ApiError::BadRequest(d)
            | ApiError::Unauthorized { detail: d, .. }
            | ApiError::Forbidden(d)
            | ApiError::UnsupportedMediaType(d)
            | ApiError::MisdirectedRequest(d)
            | ApiError::NotFound(d)
            | ApiError::Conflict(d)
            | ApiError::PayloadTooLarge(d)
            | ApiError::Unprocessable(d)
            | ApiError::PlanTooLarge(d)
            | ApiError::Overloaded { detail: d, .. }
            | ApiError::Gone { detail: d, .. }
            | ApiError::Other { detail: d, .. } => d.clone(),
            ApiError::ClientGone => "The client closed the connection".to_string(),
            ApiError::MethodNotAllowed(allowed) => {
                let names: Vec<&str> = allowed.iter().map(Method::as_str).collect();
                format!("Method not allowed (allowed: {})", names.join(", "))
            }
            ApiError::TooManyRequests { retry_after_secs } => {
                format!("Too many requests; retry after {retry_after_secs} s")
            }
            ApiError::Unavailable { outage, .. } => outage_detail(*outage).to_string(),
            ApiError::Internal(_) => "Internal server error".to_string(),
        }
    }

    /// The problem document of this error.
    pub fn problem(&self) -> Problem {
        let (slug, title) = self.kind();
        Problem {
            problem_type: format!("urn:fieldopt:problem:{slug}"),
            title: title.to_string(),
            status: self.status_code().as_u16(),
            detail: self.detail(),
            oldest_id: match self {
                ApiError::Gone { oldest_id, .. } => Some(*oldest_id),
                _ => None,
            },
        }
    }
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            // The hidden cause goes to logs, through Display.
            ApiError::Unavailable { cause, .. } | ApiError::Internal(cause) => f.write_str(cause),
            other => f.write_str(&other.detail()),
        }
    }
}

impl std::error::Error for ApiError {}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        match self {
            ApiError::BadRequest(_) => StatusCode::BAD_REQUEST,
            ApiError::Unauthorized { .. } => StatusCode::UNAUTHORIZED,
            ApiError::Forbidden(_) => StatusCode::FORBIDDEN,
            ApiError::UnsupportedMediaType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ApiError::MisdirectedRequest(_) => StatusCode::MISDIRECTED_REQUEST,
            ApiError::TooManyRequests { .. } => StatusCode::TOO_MANY_REQUESTS,
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::MethodNotAllowed(_) => StatusCode::METHOD_NOT_ALLOWED,
            ApiError::Conflict(_) => StatusCode::CONFLICT,
            ApiError::Gone { .. } => StatusCode::GONE,
            ApiError::PayloadTooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::Unprocessable(_) | ApiError::PlanTooLarge(_) => {
                StatusCode::UNPROCESSABLE_ENTITY
            }
            ApiError::Overloaded { .. } => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Unavailable { .. } => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
            ApiError::Other { status, .. } => *status,
            ApiError::ClientGone => StatusCode::from_u16(499).unwrap_or(StatusCode::BAD_REQUEST),
        }
    }

    fn error_response(&self) -> HttpResponse {
        match self {
            ApiError::Internal(cause) => tracing::error!(error.cause = %cause, "internal error"),
            ApiError::Unavailable { outage, cause } => {
                tracing::warn!(error.cause = %cause, outage = outage.name(), "database unavailable")
            }
            _ => {}
        }
        let mut response = HttpResponse::build(self.status_code());
        response.insert_header((header::CONTENT_TYPE, PROBLEM_JSON));
        if self.status_code() == StatusCode::REQUEST_TIMEOUT {
            // The rest of a body may still be coming: do not wait for it.
            response.force_close();
        }
        if let ApiError::MethodNotAllowed(allowed) = self {
            let names: Vec<&str> = allowed.iter().map(Method::as_str).collect();
            response.insert_header((header::ALLOW, names.join(", ")));
        }
        match self {
            ApiError::Unavailable { outage, .. } => {
                response.insert_header((header::RETRY_AFTER, outage_retry_after(*outage)));
            }
            ApiError::TooManyRequests { retry_after_secs }
            | ApiError::Overloaded {
                retry_after_secs, ..
            } => {
                response.insert_header((header::RETRY_AFTER, retry_after_secs.to_string()));
            }
            ApiError::Unauthorized { invalid_token, .. } => {
                let challenge = if *invalid_token {
                    r#"Bearer realm="fieldopt", error="invalid_token""#
                } else {
                    r#"Bearer realm="fieldopt""#
                };
                response.insert_header((header::WWW_AUTHENTICATE, challenge));
            }
            _ => {}
        }
        response.body(serde_json::to_string(&self.problem()).unwrap_or_default())
    }
}

/// What a client reads when the database cannot serve it: the kind of
/// outage in plain words, never a path, SQL or the database's own message.
fn outage_detail(outage: Outage) -> &'static str {
    match outage {
        Outage::Unreachable => "The database cannot be reached; retry later",
        Outage::TimedOut => "The database did not answer in time; retry later",
        Outage::Locked => {
            "The database is locked by another writer for longer than the timeout; retry later"
        }
        Outage::ReadOnly => {
            "The database is read-only; changes are refused until it is writable again (reads still work)"
        }
        Outage::DiskFull => {
            "The database's disk is full; changes are refused until space is freed (reads still work)"
        }
        Outage::Storage => "The database's storage is failing; retry later",
    }
}

/// Seconds a client should wait: short for contention that passes by
/// itself, longer for outages an operator has to mend.
fn outage_retry_after(outage: Outage) -> &'static str {
    match outage {
        Outage::TimedOut | Outage::Locked => "1",
        Outage::Unreachable | Outage::ReadOnly | Outage::DiskFull | Outage::Storage => "5",
    }
}

impl From<StoreError> for ApiError {
    fn from(error: StoreError) -> Self {
        match error {
            StoreError::NotFound(_) | StoreError::NotFoundInBatch(..) => {
                ApiError::NotFound(error.to_string())
            }
            StoreError::Invalid { field, message } => ApiError::invalid(field, message),
            StoreError::Conflict(message) => ApiError::Conflict(message),
            StoreError::Unavailable { outage, cause } => ApiError::Unavailable { outage, cause },
            StoreError::Corrupt(_) | StoreError::Database(_) => {
                ApiError::Internal(error.to_string())
            }
        }
    }
}

impl From<actix_web::error::BlockingError> for ApiError {
    fn from(error: actix_web::error::BlockingError) -> Self {
        ApiError::Internal(format!("blocking task failed: {error}"))
    }
}
