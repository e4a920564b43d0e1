//! Cross-cutting request handling: request ids, trailing slashes,
//! idempotency keys, the fallback for unknown routes.

use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{Payload, ServiceRequest, ServiceResponse};
use actix_web::http::header::{self, HeaderName, HeaderValue};
use actix_web::http::{Method, StatusCode, Uri};
use actix_web::middleware::Next;
use actix_web::{HttpMessage, HttpRequest, HttpResponse, ResponseError, web};
use fieldopt_domain::Actor;
use fieldopt_store::idempotency::{self, KeyState};
use sha2::{Digest, Sha256};

use crate::error::{ApiError, PROBLEM_JSON};
use crate::extract;
use crate::security::Client;
use crate::state::AppState;

/// Header carrying the request id.
pub const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");
/// Header carrying the idempotency key.
pub const IDEMPOTENCY_KEY: HeaderName = HeaderName::from_static("idempotency-key");

tokio::task_local! {
    /// The (client, key) of the idempotent request being handled: its write
    /// transaction marks the key applied ([`AppState::write`]).
    pub(crate) static IDEMPOTENT_REQUEST: (String, String);
}

/// Middleware: `/api/v1/jobs/` is the same resource as `/api/v1/jobs`.
pub async fn trim_trailing_slash(
    mut req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let path = req.path();
    if path.len() > 1 && path.ends_with('/') && path.starts_with("/api/") {
        let trimmed = path.trim_end_matches('/');
        let new_path = match req.query_string() {
            "" => trimmed.to_string(),
            query => format!("{trimmed}?{query}"),
        };
        if let Ok(uri) = new_path.parse::<Uri>() {
            req.match_info_mut().get_mut().update(&uri);
            req.head_mut().uri = uri;
        }
    }
    next.call(req).await
}

/// Middleware: `HEAD` is served by the `GET` route; the HTTP layer, which
/// knows the request was `HEAD`, sends the headers without the body.
pub async fn head_as_get(
    mut req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    if req.method() == Method::HEAD {
        req.head_mut().method = Method::GET;
    }
    next.call(req).await
}

fn fingerprint(method: &Method, uri: &Uri, body: &[u8]) -> String {
    let mut hasher = Sha256::new();
    hasher.update(method.as_str());
    hasher.update([0]);
    hasher.update(uri.path().trim_end_matches('/'));
    hasher.update([0]);
    hasher.update(uri.query().unwrap_or_default());
    hasher.update([0]);
    hasher.update(body);
    hasher
        .finalize()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn replay(req: ServiceRequest, status: u16, body: String) -> ServiceResponse<BoxBody> {
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::OK);
    let mut response = HttpResponse::build(status);
    if status != StatusCode::NO_CONTENT {
        let content_type = if status.is_success() {
            "application/json"
        } else {
            PROBLEM_JSON
        };
        response.insert_header((header::CONTENT_TYPE, content_type));
    }
    response.insert_header(("Idempotent-Replayed", "true"));
    req.into_response(response.body(body))
}

fn refuse(req: ServiceRequest, error: ApiError) -> ServiceResponse<BoxBody> {
    req.into_response(error.error_response())
}

/// Middleware for POSTs with an `Idempotency-Key`: the first response is
/// stored for 24 hours and given again to a retry, by the same client, with
/// the same body; the same key with another request is 422.
pub async fn idempotency_keys(
    mut req: ServiceRequest,
    next: Next<BoxBody>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    let key = match req.headers().get(&IDEMPOTENCY_KEY) {
        Some(key) if req.method() == Method::POST => key.clone(),
        _ => return next.call(req).await,
    };
    let key = match key.to_str() {
        Ok(k) if !k.is_empty() && k.len() <= 255 && k.bytes().all(|b| b.is_ascii_graphic()) => {
            k.to_string()
        }
        _ => {
            let error = ApiError::invalid(
                "Idempotency-Key",
                "must be 1 to 255 visible ASCII characters",
            );
            return Ok(refuse(req, error));
        }
    };
    let Some(state) = req.app_data::<web::Data<AppState>>().cloned() else {
        return next.call(req).await;
    };
    let client = req
        .extensions()
        .get::<Client>()
        .map_or_else(|| "unknown".to_string(), |c| c.0.clone());
    let bytes = req.extract::<web::Bytes>();
    let body = match extract::read_body(req.request(), bytes).await {
        Ok(body) => body,
        Err(error) => return Ok(refuse(req, error)),
    };
    let hash = fingerprint(req.method(), req.uri(), &body);
    req.set_payload(Payload::from(body));

    let limits = state.settings().idempotency;
    let (reserve_client, reserve_key, reserve_hash) = (client.clone(), key.clone(), hash.clone());
    let known = state
        .write(&Actor::system(), move |conn, stamp| {
            idempotency::reserve(
                conn,
                &reserve_client,
                &reserve_key,
                &reserve_hash,
                stamp.at,
                limits,
            )
        })
        .await;
    let mismatch = || {
        ApiError::Unprocessable("Idempotency-Key was already used with a different request".into())
    };
    match known {
        Err(error) => return Ok(refuse(req, error)),
        Ok(KeyState::Completed {
            request_hash,
            status_code,
            body,
        }) => {
            return Ok(if request_hash == hash {
                replay(req, status_code, body)
            } else {
                refuse(req, mismatch())
            });
        }
        Ok(KeyState::InFlight { request_hash }) => {
            let error = if request_hash == hash {
                ApiError::Conflict(
                    "A request with this Idempotency-Key is still in progress".into(),
                )
            } else {
                mismatch()
            };
            return Ok(refuse(req, error));
        }
        Ok(KeyState::AppliedUnanswered { request_hash }) => {
            let error = if request_hash == hash {
                ApiError::Conflict(
                    "A request with this Idempotency-Key was applied, but the server stopped \
                     before storing its answer; read the resource to see the result"
                        .into(),
                )
            } else {
                mismatch()
            };
            return Ok(refuse(req, error));
        }
        Ok(KeyState::OverQuota) => {
            let error = ApiError::TooManyRequests {
                retry_after_secs: 3600,
            };
            return Ok(refuse(req, error));
        }
        Ok(KeyState::Reserved) => {}
    }

    state.hold_idempotency_key(&client, &key);
    let response = IDEMPOTENT_REQUEST
        .scope((client.clone(), key.clone()), next.call(req))
        .await?;
    let (request, response) = response.into_parts();
    let status = response.status();
    let (head, body) = response.into_parts();
    let bytes = actix_web::body::to_bytes(body).await.unwrap_or_default();
    let text = String::from_utf8_lossy(&bytes).into_owned();
    let (held_client, held_key) = (client.clone(), key.clone());
    let outcome = if status.is_server_error() {
        state
            .write(&Actor::system(), move |conn, _| {
                idempotency::release(conn, &client, &key)
            })
            .await
    } else {
        let code = status.as_u16();
        state
            .write(&Actor::system(), move |conn, _| {
                idempotency::complete(conn, &client, &key, code, &text)
            })
            .await
    };
    state.forget_idempotency_key(&held_client, &held_key);
    if let Err(error) = outcome {
        tracing::warn!(%error, "could not store the idempotent response");
    }
    Ok(ServiceResponse::new(
        request,
        head.set_body(bytes).map_into_boxed_body(),
    ))
}

/// One path of the API: its segments and, per method, the operation id.
#[derive(Debug, Clone)]
struct RoutePattern {
    segments: Vec<String>,
    operations: Vec<(Method, Option<String>)>,
}

impl RoutePattern {
    /// Whether `segments` match; `Some(literal segments)` to rank matches,
    /// so `/jobs/summary` wins over `/jobs/{id}`.
    fn matches(&self, segments: &[&str]) -> Option<usize> {
        let matches =
            self.segments.len() == segments.len()
                && self.segments.iter().zip(segments).all(|(p, s)| {
                    p == s || (p.starts_with('{') && p.ends_with('}') && !s.is_empty())
                });
        matches.then(|| self.segments.iter().filter(|p| !p.starts_with('{')).count())
    }
}

/// The routes the application serves, read from the OpenAPI document: for
/// telling 405 from 404, and for naming the operation a request is.
#[derive(Debug, Clone, Default)]
pub struct RouteTable {
    routes: Vec<RoutePattern>,
}

impl RouteTable {
    /// The paths, methods and operation ids of the OpenAPI document.
    pub fn from_openapi(doc: &utoipa::openapi::OpenApi) -> Self {
        let routes = doc
            .paths
            .paths
            .iter()
            .map(|(path, item)| {
                let segments = path
                    .trim_matches('/')
                    .split('/')
                    .map(str::to_string)
                    .collect();
                let operations = [
                    (&item.get, Method::GET),
                    (&item.post, Method::POST),
                    (&item.put, Method::PUT),
                    (&item.patch, Method::PATCH),
                    (&item.delete, Method::DELETE),
                ]
                .into_iter()
                .filter_map(|(op, method)| op.as_ref().map(|op| (method, op.operation_id.clone())))
                .collect();
                RoutePattern {
                    segments,
                    operations,
                }
            })
            .collect();
        Self { routes }
    }

    fn split(path: &str) -> Vec<&str> {
        path.trim_matches('/').split('/').collect()
    }

    /// Methods allowed on `path`, empty when the path is unknown. Only the
    /// most specific paths count: `/jobs/summary` is not `/jobs/{id}`.
    pub fn allowed(&self, path: &str) -> Vec<Method> {
        let segments = Self::split(path);
        let best = self
            .routes
            .iter()
            .filter_map(|r| r.matches(&segments))
            .max();
        let mut allowed: Vec<Method> = Vec::new();
        for route in self
            .routes
            .iter()
            .filter(|r| best.is_some() && r.matches(&segments) == best)
        {
            for (method, _) in &route.operations {
                if !allowed.contains(method) {
                    allowed.push(method.clone());
                }
                if *method == Method::GET && !allowed.contains(&Method::HEAD) {
                    allowed.push(Method::HEAD);
                }
            }
        }
        allowed
    }

    /// The operation id a request is, by the most specific matching path
    /// (`HEAD` is `GET`'s).
    pub fn operation(&self, method: &Method, path: &str) -> Option<&str> {
        let method = if method == Method::HEAD {
            &Method::GET
        } else {
            method
        };
        let segments = Self::split(path);
        self.routes
            .iter()
            .filter_map(|route| {
                let rank = route.matches(&segments)?;
                let (_, id) = route.operations.iter().find(|(m, _)| m == method)?;
                Some((rank, id.as_deref()?))
            })
            .max_by_key(|(rank, _)| *rank)
            .map(|(_, id)| id)
    }
}

/// Fallback for requests no route took: `OPTIONS` on a known path answers
/// its `Allow`, another method gives 405 with `Allow`, an unknown path 404.
pub async fn fallback(
    req: HttpRequest,
    routes: web::Data<RouteTable>,
) -> Result<HttpResponse, ApiError> {
    let allowed = routes.allowed(req.path());
    if req.method() == Method::OPTIONS && !allowed.is_empty() {
        let mut names: Vec<&str> = allowed.iter().map(Method::as_str).collect();
        names.push("OPTIONS");
        return Ok(HttpResponse::NoContent()
            .insert_header((header::ALLOW, names.join(", ")))
            .finish());
    }
    Err(if allowed.is_empty() || allowed.contains(req.method()) {
        ApiError::NotFound(format!("No route for {} {}", req.method(), req.path()))
    } else {
        ApiError::MethodNotAllowed(allowed)
    })
}

/// The detail of an error raised below the application: its own short,
/// printable message, else the status's name.
fn detail_of(status: StatusCode, text: &[u8]) -> String {
    let text = String::from_utf8_lossy(text);
    let text = text.trim();
    if !text.is_empty() && text.len() <= 300 && !text.chars().any(char::is_control) {
        text.to_string()
    } else {
        status.canonical_reason().unwrap_or("Error").to_string()
    }
}

/// Middleware: every error answer is a problem document, also those the
/// framework or a middleware (CORS, payload limits) made on its own.
pub async fn problem_documents(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    let response = match next.call(req).await {
        Ok(response) => response.map_into_boxed_body(),
        Err(error) => {
            let status = error.as_response_error().status_code();
            let detail = detail_of(status, error.to_string().as_bytes());
            return Err(if status.is_server_error() {
                ApiError::Internal(detail)
            } else {
                ApiError::Other { status, detail }
            }
            .into());
        }
    };
    let status = response.status();
    let is_problem = response
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(PROBLEM_JSON.as_bytes()));
    if !(status.is_client_error() || status.is_server_error()) || is_problem {
        return Ok(response);
    }
    let (request, response) = response.into_parts();
    let kept: Vec<(HeaderName, HeaderValue)> = response
        .headers()
        .iter()
        .filter(|(name, _)| *name != header::CONTENT_TYPE && *name != header::CONTENT_LENGTH)
        .map(|(name, value)| (name.clone(), value.clone()))
        .collect();
    let body = actix_web::body::to_bytes_limited(response.into_body(), 4096)
        .await
        .ok()
        .and_then(Result::ok)
        .unwrap_or_default();
    let error = if status.is_server_error() {
        ApiError::Internal(detail_of(status, &body))
    } else {
        ApiError::Other {
            status,
            detail: detail_of(status, &body),
        }
    };
    let mut rebuilt = error.error_response();
    for (name, value) in kept {
        rebuilt.headers_mut().append(name, value);
    }
    Ok(ServiceResponse::new(request, rebuilt))
}
