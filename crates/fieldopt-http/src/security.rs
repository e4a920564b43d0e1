//! The edge of the service: who is calling, how often, from where, and
//! what a browser may make it do.
//!
//! - [`access_control`]: resolves the [`Caller`] of every API operation
//!   (bearer token, or `dev` in development mode), applies the client's
//!   rate limit, refuses operations the caller's role may never perform —
//!   and any route without a policy — before a handler runs. Ownership
//!   (a technician's own records) is checked by handlers, on the data.
//! - [`request_guard`]: bodies must be JSON and not encoded (415); in
//!   development mode a foreign `Host` (DNS rebinding) is 421 and a
//!   cross-site write is 403.
//! - [`security_headers`]: `nosniff` everywhere, no framing of `/docs/`.

use std::net::IpAddr;

use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::Method;
use actix_web::http::header::{self, HeaderMap, HeaderName, HeaderValue};
use actix_web::middleware::Next;
use actix_web::{HttpMessage, ResponseError, web};
use fieldopt_domain::access::{Access, access};
use ipnet::IpNet;

use crate::auth::{AuthSettings, Authenticator, Caller, Rejection};
use crate::error::ApiError;
use crate::middleware::RouteTable;
use crate::rate_limit::{Allowance, ClientKey, ClientRateLimiter, RateLimitSettings, Refusal};
use crate::state::AppState;

/// Paths never authenticated nor limited: orchestrators probe them.
const PROBES: [&str; 3] = ["/healthz", "/health", "/readyz"];

/// The edge's configuration.
#[derive(Debug, Clone, Default)]
pub struct SecuritySettings {
    /// How tokens are trusted; none configured is development mode.
    pub auth: AuthSettings,
    /// Per-client limits; `None` turns limiting off.
    pub rate_limit: Option<RateLimitSettings>,
    /// Proxies whose `X-Forwarded-For` is believed.
    pub trusted_proxies: Vec<IpNet>,
    /// Browser origins allowed by CORS (exact `scheme://host[:port]`).
    pub cors_origins: Vec<String>,
}

/// The edge, built once from [`SecuritySettings`].
#[derive(Debug)]
pub struct Security {
    authenticator: Option<Authenticator>,
    limiter: Option<ClientRateLimiter>,
    trusted_proxies: Vec<IpNet>,
    cors_origins: Vec<String>,
}

impl Security {
    /// Checks the settings and builds the verifier and the limiter.
    pub fn new(settings: SecuritySettings) -> Result<Self, String> {
        Ok(Self {
            authenticator: Authenticator::new(&settings.auth)?,
            limiter: settings.rate_limit.map(ClientRateLimiter::new),
            trusted_proxies: settings.trusted_proxies,
            cors_origins: settings.cors_origins,
        })
    }

    /// Development mode: no authentication configured.
    pub fn development() -> Self {
        Self {
            authenticator: None,
            limiter: None,
            trusted_proxies: Vec::new(),
            cors_origins: Vec::new(),
        }
    }

    /// Whether requests are authenticated.
    pub fn authenticates(&self) -> bool {
        self.authenticator.is_some()
    }

    /// The verifier, when authentication is on.
    pub fn authenticator(&self) -> Option<&Authenticator> {
        self.authenticator.as_ref()
    }

    /// The CORS origins.
    pub fn cors_origins(&self) -> &[String] {
        &self.cors_origins
    }

    /// Clients the rate limiter tracks now.
    pub fn rate_limited_clients(&self) -> usize {
        self.limiter
            .as_ref()
            .map_or(0, ClientRateLimiter::tracked_clients)
    }

    /// The client's address: the peer, or — when the peer is a trusted
    /// proxy — the last address in `X-Forwarded-For` that is not one.
    pub fn client_address(&self, peer: Option<IpAddr>, headers: &HeaderMap) -> Option<IpAddr> {
        let peer = peer?;
        let trusted = |ip: &IpAddr| self.trusted_proxies.iter().any(|net| net.contains(ip));
        if !trusted(&peer) {
            return Some(peer);
        }
        let mut forwarded: Vec<IpAddr> = Vec::new();
        for value in headers.get_all(HeaderName::from_static("x-forwarded-for")) {
            let Ok(text) = value.to_str() else {
                return Some(peer);
            };
            for part in text.split(',') {
                match part.trim().parse() {
                    Ok(ip) => forwarded.push(ip),
                    Err(_) => return Some(peer),
                }
            }
        }
        Some(
            forwarded
                .iter()
                .rev()
                .find(|ip| !trusted(ip))
                .or(forwarded.first())
                .copied()
                .unwrap_or(peer),
        )
    }

    async fn caller(&self, headers: &HeaderMap) -> Result<Caller, Rejection> {
        let Some(authenticator) = &self.authenticator else {
            return Ok(Caller::development());
        };
        let value = headers
            .get(header::AUTHORIZATION)
            .ok_or(Rejection::Missing)?;
        let text = value.to_str().map_err(|_| Rejection::Malformed)?;
        let (scheme, token) = text.split_once(' ').ok_or(Rejection::Malformed)?;
        if !scheme.eq_ignore_ascii_case("bearer") || token.trim().is_empty() {
            return Err(Rejection::Malformed);
        }
        authenticator.authenticate(token.trim()).await
    }
}

fn set_header(headers: &mut HeaderMap, name: &'static str, value: impl ToString) {
    if let Ok(value) = HeaderValue::from_str(&value.to_string()) {
        headers.insert(HeaderName::from_static(name), value);
    }
}

fn rate_headers(headers: &mut HeaderMap, limit: u32, remaining: u32, reset_secs: u64) {
    set_header(headers, "ratelimit-limit", limit);
    set_header(headers, "ratelimit-remaining", remaining);
    set_header(headers, "ratelimit-reset", reset_secs);
}

fn refuse(
    req: ServiceRequest,
    error: ApiError,
    limit: Option<&Allowance>,
) -> ServiceResponse<BoxBody> {
    let mut response = req.into_response(error.error_response());
    if let Some(allowance) = limit {
        rate_headers(
            response.headers_mut(),
            allowance.limit,
            allowance.remaining,
            allowance.reset_secs,
        );
    }
    response
}

/// Who a request is from, as a stable text (`sub:…` or `addr:…`): what
/// rate limits and idempotency keys are kept per.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Client(pub String);

/// Middleware: caller, rate limit, role. See the module docs.
pub async fn access_control(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    if PROBES.contains(&req.path()) {
        return next
            .call(req)
            .await
            .map(ServiceResponse::map_into_boxed_body);
    }
    let (Some(state), Some(routes)) = (
        req.app_data::<web::Data<AppState>>().cloned(),
        req.app_data::<web::Data<RouteTable>>().cloned(),
    ) else {
        return next
            .call(req)
            .await
            .map(ServiceResponse::map_into_boxed_body);
    };
    let security = state.security();
    // API operations need a caller; everything else (documents, metrics,
    // unknown routes, OPTIONS) is open but still limited by address.
    let operation = match req.method() {
        &Method::OPTIONS => None,
        method => routes
            .operation(method, req.path())
            .filter(|id| !crate::OPEN_OPERATIONS.contains(id))
            .map(|id| crate::policy(id).ok_or(id)),
    };
    let caller = match &operation {
        Some(_) => Some(security.caller(req.headers()).await),
        None => None,
    };
    let key = match &caller {
        Some(Ok(caller)) if security.authenticates() => {
            ClientKey::Subject(caller.actor().as_str().to_string())
        }
        _ => match security.client_address(req.peer_addr().map(|a| a.ip()), req.headers()) {
            Some(ip) => ClientKey::address(ip),
            None => ClientKey::Overflow,
        },
    };
    req.extensions_mut().insert(Client(key.to_string()));
    let allowance = match &security.limiter {
        Some(limiter) => match limiter.check(key) {
            Ok(allowance) => Some(allowance),
            Err(Refusal {
                limit,
                retry_after_secs,
                reset_secs,
            }) => {
                state.metrics().refused("rate_limited");
                let mut response =
                    refuse(req, ApiError::TooManyRequests { retry_after_secs }, None);
                rate_headers(response.headers_mut(), limit, 0, reset_secs);
                return Ok(response);
            }
        },
        None => None,
    };
    if let (Some(operation), Some(caller)) = (operation, caller) {
        let caller = match caller {
            Ok(caller) => caller,
            Err(rejection) => {
                tracing::info!(
                    auth.reason = rejection.reason(),
                    "request refused: not authenticated"
                );
                state.metrics().refused("unauthenticated");
                return Ok(refuse(req, rejection.into_error(), allowance.as_ref()));
            }
        };
        let permitted = match operation {
            Ok(operation) => caller
                .role()
                .is_some_and(|role| access(role, operation) != Access::None),
            // A route with no policy is refused to everyone but
            // development mode (a test walks the document so that none
            // exists).
            Err(id) => {
                tracing::error!(operation = id, "route without an access policy");
                !security.authenticates()
            }
        };
        if !permitted {
            tracing::info!(actor = %caller.actor(), "request refused: role may not do this");
            state.metrics().refused("forbidden");
            return Ok(refuse(
                req,
                ApiError::Forbidden("Not allowed for this caller".into()),
                allowance.as_ref(),
            ));
        }
        crate::request_log::record_actor(&req, caller.actor().as_str());
        req.extensions_mut().insert(caller);
    }
    let mut response = next.call(req).await?.map_into_boxed_body();
    if let Some(allowance) = allowance {
        rate_headers(
            response.headers_mut(),
            allowance.limit,
            allowance.remaining,
            allowance.reset_secs,
        );
    }
    Ok(response)
}

/// Whether a `Content-Type` is JSON: `application/json` or
/// `application/<anything>+json`, with any parameters.
fn is_json(content_type: &str) -> bool {
    let essence = content_type
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    essence == "application/json"
        || essence
            .strip_prefix("application/")
            .is_some_and(|sub| sub.ends_with("+json"))
}

fn has_body(headers: &HeaderMap) -> bool {
    headers.contains_key(header::TRANSFER_ENCODING)
        || headers
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.trim() != "0")
}

/// `host[:port]` of a `Host` header names this machine.
fn is_loopback_host(host: &str) -> bool {
    let name = match host.strip_prefix('[') {
        Some(v6) => v6.split(']').next().unwrap_or_default(),
        None => host.rsplit_once(':').map_or(host, |(name, _)| name),
    };
    let name = name.trim_end_matches('.').to_ascii_lowercase();
    name == "localhost"
        || name.ends_with(".localhost")
        || name.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

/// The `host[:port]` of an origin (`scheme://host[:port]`).
fn origin_authority(origin: &str) -> Option<&str> {
    let (_, rest) = origin.split_once("://")?;
    Some(rest.split('/').next().unwrap_or(rest))
}

/// Longest query string served: filters and paging fit in far less.
pub const MAX_QUERY_BYTES: usize = 4096;

fn check_request(req: &ServiceRequest, security: &Security) -> Result<(), ApiError> {
    let headers = req.headers();
    if req.query_string().len() > MAX_QUERY_BYTES {
        return Err(ApiError::Other {
            status: actix_web::http::StatusCode::URI_TOO_LONG,
            detail: format!("The query string is longer than {MAX_QUERY_BYTES} bytes"),
        });
    }
    if let Some(encoding) = headers.get(header::CONTENT_ENCODING) {
        let encoding = encoding.to_str().unwrap_or("?").trim();
        if !encoding.eq_ignore_ascii_case("identity") {
            return Err(ApiError::UnsupportedMediaType(format!(
                "Content-Encoding {encoding:?} is not supported; send the body unencoded"
            )));
        }
    }
    if has_body(headers) {
        let content_type = headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default();
        if !is_json(content_type) {
            return Err(ApiError::UnsupportedMediaType(
                "Request bodies must be JSON (Content-Type: application/json)".into(),
            ));
        }
    }
    if security.authenticates() {
        return Ok(());
    }
    // Development mode trusts whoever reaches it, so make sure that is
    // this machine and not a web page the developer happens to visit.
    if let Some(host) = headers.get(header::HOST) {
        let host = host.to_str().unwrap_or_default();
        if !is_loopback_host(host) {
            return Err(ApiError::MisdirectedRequest(
                "Development mode answers loopback host names only".into(),
            ));
        }
    }
    let unsafe_method = !matches!(*req.method(), Method::GET | Method::HEAD | Method::OPTIONS);
    if unsafe_method {
        let origin = headers.get(header::ORIGIN).and_then(|v| v.to_str().ok());
        let allowed_origin =
            origin.is_some_and(|o| security.cors_origins().iter().any(|allowed| allowed == o));
        let cross_fetch = headers
            .get(HeaderName::from_static("sec-fetch-site"))
            .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"cross-site"));
        let own_host = headers.get(header::HOST).and_then(|v| v.to_str().ok());
        let cross_origin = origin.is_some_and(|o| origin_authority(o) != own_host);
        if (cross_fetch || cross_origin) && !allowed_origin {
            return Err(ApiError::Forbidden(
                "Cross-site requests are refused; allow the origin with FIELDOPT_CORS_ORIGINS"
                    .into(),
            ));
        }
    }
    Ok(())
}

/// Middleware: JSON bodies only; in development mode, this machine's
/// `Host` only and no cross-site writes.
pub async fn request_guard(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    let verdict = match req.app_data::<web::Data<AppState>>() {
        Some(state) => check_request(&req, state.security()),
        None => Ok(()),
    };
    match verdict {
        Ok(()) => next
            .call(req)
            .await
            .map(ServiceResponse::map_into_boxed_body),
        Err(error) => Ok(req.into_response(error.error_response())),
    }
}

/// Middleware: `X-Content-Type-Options: nosniff` on every response; Swagger
/// UI may not be framed (clickjacking).
pub async fn security_headers(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let docs = req.path() == "/docs" || req.path().starts_with("/docs/");
    let mut response = next.call(req).await?;
    let headers = response.headers_mut();
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    if docs {
        headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
        headers.insert(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static("frame-ancestors 'none'"),
        );
    }
    Ok(response)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_media_types() {
        for ok in [
            "application/json",
            "application/json; charset=utf-8",
            "Application/JSON",
            "application/merge-patch+json",
            "application/problem+json",
        ] {
            assert!(is_json(ok), "{ok}");
        }
        for bad in [
            "",
            "text/plain",
            "application/x-www-form-urlencoded",
            "multipart/form-data",
            "application/jsonp",
            "text/json",
        ] {
            assert!(!is_json(bad), "{bad}");
        }
    }

    #[test]
    fn loopback_hosts() {
        for ok in [
            "localhost",
            "localhost:8000",
            "127.0.0.1:8000",
            "127.1.2.3",
            "[::1]:8000",
            "api.localhost",
            "LOCALHOST.",
        ] {
            assert!(is_loopback_host(ok), "{ok}");
        }
        for bad in [
            "example.com",
            "127.0.0.1.nip.io",
            "10.0.0.1:8000",
            "[2001:db8::1]:80",
            "localhost.evil.com",
        ] {
            assert!(!is_loopback_host(bad), "{bad}");
        }
    }

    #[test]
    fn forwarded_addresses_are_believed_from_trusted_proxies_only() {
        let security = Security {
            trusted_proxies: vec!["10.0.0.0/8".parse().unwrap()],
            ..Security::development()
        };
        let mut headers = HeaderMap::new();
        headers.insert(
            HeaderName::from_static("x-forwarded-for"),
            HeaderValue::from_static("198.51.100.7, 203.0.113.9, 10.0.0.2"),
        );
        let proxy: IpAddr = "10.1.1.1".parse().unwrap();
        let stranger: IpAddr = "192.0.2.1".parse().unwrap();
        assert_eq!(
            security.client_address(Some(proxy), &headers),
            Some("203.0.113.9".parse().unwrap()),
            "the right-most untrusted hop; the rest can be forged"
        );
        assert_eq!(
            security.client_address(Some(stranger), &headers),
            Some(stranger)
        );
        headers.insert(
            HeaderName::from_static("x-forwarded-for"),
            HeaderValue::from_static("not an address"),
        );
        assert_eq!(security.client_address(Some(proxy), &headers), Some(proxy));
    }
}
