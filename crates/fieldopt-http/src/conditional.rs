//! Conditional GETs: an `ETag` on every successful read of the API, and
//! `304 Not Modified` for an `If-None-Match` that still holds — decided
//! from the database's change counter before the handler runs, so a
//! dispatch board polling an unchanged list costs one tiny query instead of
//! a list query and its JSON.

use std::hash::{Hash, Hasher};

use actix_web::body::BoxBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{self, HeaderMap, HeaderValue};
use actix_web::http::{Method, StatusCode};
use actix_web::middleware::Next;
use actix_web::{HttpMessage, HttpResponse, ResponseError, web};

use crate::auth::Caller;
use crate::state::{AppState, today};

/// Clients revalidate every time (`no-cache`), and shared caches keep
/// nothing: answers depend on who asks.
const REVALIDATE: HeaderValue = HeaderValue::from_static("private, no-cache");

/// Middleware for the API's GETs (see the module documentation).
pub async fn entity_tags(
    req: ServiceRequest,
    next: Next<BoxBody>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    // A stream has no version: it goes on changing.
    if req.method() != Method::GET || req.path().ends_with("/events/stream") {
        return next.call(req).await;
    }
    let Some(state) = req.app_data::<web::Data<AppState>>().cloned() else {
        return next.call(req).await;
    };
    // Read before the handler reads: the data it answers with is at least
    // this new, so the tag can only be too old, never too new.
    let version = match state.read_one(fieldopt_store::versions::data_version).await {
        Ok(version) => version,
        Err(error) => return Ok(req.into_response(error.error_response())),
    };
    let tag = entity_tag(version, &req);
    if any_matches(req.headers(), &tag) {
        let not_modified = HttpResponse::NotModified()
            .insert_header((header::ETAG, tag))
            .insert_header((header::CACHE_CONTROL, REVALIDATE))
            .finish();
        return Ok(req.into_response(not_modified));
    }
    let mut response = next.call(req).await?;
    if response.status() == StatusCode::OK {
        let headers = response.headers_mut();
        headers.insert(header::ETAG, tag);
        headers.insert(header::CACHE_CONTROL, REVALIDATE);
    }
    Ok(response)
}

/// A weak tag (the same data may be sent compressed or not) naming the
/// data version and everything else an answer depends on: the resource
/// and its query, the caller (technicians see only their own work), the
/// service's today (default dates) and the build.
fn entity_tag(version: i64, req: &ServiceRequest) -> HeaderValue {
    let mut hasher = std::hash::DefaultHasher::new();
    version.hash(&mut hasher);
    req.path().hash(&mut hasher);
    req.query_string().hash(&mut hasher);
    req.extensions().get::<Caller>().hash(&mut hasher);
    today().hash(&mut hasher);
    env!("CARGO_PKG_VERSION").hash(&mut hasher);
    let tag = format!("W/\"{version:x}-{:016x}\"", hasher.finish());
    HeaderValue::from_str(&tag).expect("hex digits and quotes are a valid header value")
}

/// Whether an `If-None-Match` lists `tag` (weak comparison, RFC 9110
/// §13.1.2). `*` is not honoured: answering in full is always correct.
fn any_matches(headers: &HeaderMap, tag: &HeaderValue) -> bool {
    let wanted = opaque(tag.as_bytes());
    headers
        .get_all(header::IF_NONE_MATCH)
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .any(|candidate| opaque(candidate.trim().as_bytes()) == wanted)
}

/// A tag without its weakness mark.
fn opaque(tag: &[u8]) -> &[u8] {
    tag.strip_prefix(b"W/").unwrap_or(tag)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(values: &[&str]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for value in values {
            map.append(header::IF_NONE_MATCH, HeaderValue::from_str(value).unwrap());
        }
        map
    }

    #[test]
    fn if_none_match_compares_weakly_across_lists() {
        let tag = HeaderValue::from_static("W/\"2a-00ff\"");
        assert!(any_matches(&headers(&["W/\"2a-00ff\""]), &tag));
        assert!(any_matches(&headers(&["\"2a-00ff\""]), &tag));
        assert!(any_matches(&headers(&["\"x\", W/\"2a-00ff\""]), &tag));
        assert!(any_matches(&headers(&["\"x\"", "W/\"2a-00ff\""]), &tag));
        assert!(!any_matches(&headers(&["W/\"2a-00fe\""]), &tag));
        assert!(!any_matches(&headers(&["*"]), &tag));
        assert!(!any_matches(&headers(&[]), &tag));
    }
}
