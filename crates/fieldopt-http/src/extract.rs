//! Request extraction that names the offending field in every error.

use std::future::Future;
use std::pin::Pin;

use actix_web::dev::Payload;
use actix_web::error::{PayloadError, QueryPayloadError};
use actix_web::{FromRequest, HttpRequest, web};
use chrono::NaiveDate;
use fieldopt_store::Page;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer};

use crate::error::ApiError;

/// Largest accepted request body.
pub const MAX_BODY_BYTES: usize = 1 << 20;

fn body_error(error: actix_web::Error) -> ApiError {
    match error.as_error::<PayloadError>() {
        Some(PayloadError::Overflow) => ApiError::PayloadTooLarge(format!(
            "Request body is larger than {MAX_BODY_BYTES} bytes"
        )),
        _ => match error.as_error::<actix_web::error::ReadlinesError>() {
            Some(_) => ApiError::BadRequest("Could not read the request body".to_string()),
            None if error.as_response_error().status_code().as_u16() == 413 => {
                ApiError::PayloadTooLarge(format!(
                    "Request body is larger than {MAX_BODY_BYTES} bytes"
                ))
            }
            None => ApiError::BadRequest(format!("Could not read the request body: {error}")),
        },
    }
}

/// Parses JSON, reporting the path of the field at fault.
pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    let mut deserializer = serde_json::Deserializer::from_slice(bytes);
    let value = serde_path_to_error::deserialize(&mut deserializer).map_err(|error| {
        let path = error.path().to_string();
        let inner = error.into_inner();
        if inner.is_syntax() || inner.is_eof() {
            ApiError::BadRequest(format!("Malformed JSON body: {inner}"))
        } else if path == "." || path.is_empty() || inner.to_string().starts_with("unknown field") {
            ApiError::BadRequest(format!("Invalid request body: {}", strip_position(&inner)))
        } else {
            ApiError::invalid(&path, strip_position(&inner))
        }
    })?;
    deserializer
        .end()
        .map_err(|e| ApiError::BadRequest(format!("Malformed JSON body: {e}")))?;
    Ok(value)
}

/// serde_json appends "at line 1 column 17"; the field name says more.
fn strip_position(error: &serde_json::Error) -> String {
    let text = error.to_string();
    match text.rfind(" at line ") {
        Some(at) => text[..at].to_string(),
        None => text,
    }
}

/// Reads the body: `None` when it is empty (or only whitespace).
fn read_json<T: DeserializeOwned + 'static>(
    req: &HttpRequest,
    payload: &mut Payload,
) -> impl Future<Output = Result<Option<T>, ApiError>> + use<T> {
    let bytes = web::Bytes::from_request(req, payload);
    async move {
        let bytes = bytes.await.map_err(body_error)?;
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Ok(None);
        }
        parse_json(&bytes).map(Some)
    }
}

/// A JSON body (required).
#[derive(Debug)]
pub struct JsonBody<T>(pub T);

impl<T: DeserializeOwned + 'static> FromRequest for JsonBody<T> {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, ApiError>>>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let body = read_json(req, payload);
        Box::pin(async move {
            body.await?
                .map(JsonBody)
                .ok_or_else(|| ApiError::BadRequest("Request body is required".to_string()))
        })
    }
}

/// A JSON body that may be absent (empty).
#[derive(Debug)]
pub struct OptionalJsonBody<T>(pub Option<T>);

impl<T: DeserializeOwned + 'static> FromRequest for OptionalJsonBody<T> {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, ApiError>>>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let body = read_json(req, payload);
        Box::pin(async move { body.await.map(OptionalJsonBody) })
    }
}

/// Error handler of `web::Query`: serde's message names unknown fields.
pub fn query_error(error: QueryPayloadError, _req: &HttpRequest) -> actix_web::Error {
    let detail = match &error {
        QueryPayloadError::Deserialize(inner) => format!("Invalid query parameter: {inner}"),
        other => format!("Invalid query string: {other}"),
    };
    ApiError::BadRequest(detail).into()
}

/// Error handler of `web::Path`: names the segment that is not an id.
pub fn path_error(error: actix_web::error::PathError, req: &HttpRequest) -> actix_web::Error {
    let bad = req
        .match_info()
        .iter()
        .find(|(_, value)| value.parse::<i64>().is_err())
        .map(|(name, value)| (name.to_string(), value.to_string()));
    match bad {
        Some((name, value)) => ApiError::invalid(&name, format!("{value:?} is not an integer id")),
        None => ApiError::BadRequest(format!("Invalid path: {error}")),
    }
    .into()
}

/// Parses `YYYY-MM-DD`.
pub fn parse_date(field: &str, value: &str) -> Result<NaiveDate, ApiError> {
    let valid_shape =
        value.len() == 10 && value.as_bytes()[4] == b'-' && value.as_bytes()[7] == b'-';
    valid_shape
        .then(|| NaiveDate::parse_from_str(value, "%Y-%m-%d").ok())
        .flatten()
        .ok_or_else(|| {
            ApiError::invalid(
                field,
                format!("{value:?} is not a date (expected YYYY-MM-DD)"),
            )
        })
}

/// Parses an optional query value with `parse`.
pub fn optional<T>(
    value: &Option<String>,
    parse: impl FnOnce(&str) -> Result<T, ApiError>,
) -> Result<Option<T>, ApiError> {
    value.as_deref().map(parse).transpose()
}

/// Parses an integer query value within a range.
pub fn parse_int(field: &str, value: &str, min: i64, max: i64) -> Result<i64, ApiError> {
    value
        .parse::<i64>()
        .ok()
        .filter(|v| (min..=max).contains(v))
        .ok_or_else(|| {
            ApiError::invalid(
                field,
                format!("{value:?} is not an integer in {min}..={max}"),
            )
        })
}

/// Builds a [`Page`] from `limit` (1..=5000, default 500) and `offset` (default 0).
pub fn page(limit: &Option<String>, offset: &Option<String>) -> Result<Page, ApiError> {
    let default = Page::default();
    Ok(Page {
        limit: optional(limit, |v| parse_int("limit", v, 1, 5000))?.unwrap_or(default.limit),
        offset: optional(offset, |v| parse_int("offset", v, 0, i64::MAX))?
            .unwrap_or(default.offset),
    })
}

/// For `Option<Option<T>>` fields: absent stays `None`, `null` becomes
/// `Some(None)`, a value becomes `Some(Some(value))`.
pub fn nullable<'de, D, T>(deserializer: D) -> Result<Option<Option<T>>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(deserializer).map(Some)
}

/// Deserializes a domain value from its text form with its own parser, so
/// errors read like `"sleeping" (expected one of ...)`.
pub fn from_text<'de, D, T>(deserializer: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: std::str::FromStr,
    T::Err: std::fmt::Display,
{
    let text = String::deserialize(deserializer)?;
    text.parse().map_err(serde::de::Error::custom)
}
