//! Request extraction that names the offending field in every error.

use std::future::Future;
use std::pin::Pin;

use actix_web::dev::Payload;
use actix_web::error::{PayloadError, QueryPayloadError};
use actix_web::{FromRequest, HttpRequest, web};
use chrono::NaiveDate;
use fieldopt_domain::patterns;
use fieldopt_store::Page;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer};

use crate::error::ApiError;
use crate::state::AppState;

/// Largest accepted request body.
pub const MAX_BODY_BYTES: usize = 1 << 20;

/// Reads the whole body, within the configured time: a client trickling a
/// declared body byte by byte cannot hold a connection and a worker
/// indefinitely (408, and the connection is closed).
pub async fn read_body(
    req: &HttpRequest,
    bytes: impl Future<Output = Result<web::Bytes, actix_web::Error>>,
) -> Result<web::Bytes, ApiError> {
    let limit = req
        .app_data::<web::Data<AppState>>()
        .map_or(std::time::Duration::from_secs(10), |state| {
            state.settings().body_timeout
        });
    match tokio::time::timeout(limit, bytes).await {
        Ok(read) => read.map_err(body_error),
        Err(_) => Err(ApiError::Other {
            status: actix_web::http::StatusCode::REQUEST_TIMEOUT,
            detail: format!(
                "The request body did not arrive within {} s",
                limit.as_secs_f64()
            ),
        }),
    }
}

/// The error of a body that could not be read.
pub fn body_error(error: actix_web::Error) -> ApiError {
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

/// Numbers that JSON writes with a fraction but that are whole (`2.0`)
/// become integers, as JSON Schema counts them: a client that sends
/// `"priority": 2.0` means 2.
fn whole_numbers_as_integers(value: &mut serde_json::Value) {
    use serde_json::Value;
    match value {
        Value::Number(n) if n.is_f64() => {
            // Whole and within i64 (2^63 is the first float past the end):
            // the conversion is exact.
            if let Some(f) = n.as_f64()
                && f.fract() == 0.0
                && (-(2f64.powi(63))..2f64.powi(63)).contains(&f)
            {
                *value = Value::from(f as i64);
            }
        }
        Value::Array(items) => items.iter_mut().for_each(whole_numbers_as_integers),
        Value::Object(fields) => fields.values_mut().for_each(whole_numbers_as_integers),
        _ => {}
    }
}

/// Parses JSON, reporting the path of the field at fault.
pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    let mut value: serde_json::Value = serde_json::from_slice(bytes)
        .map_err(|e| ApiError::BadRequest(format!("Malformed JSON body: {e}")))?;
    // Every body is an object: serde would also take a struct as an array.
    if !value.is_object() {
        return Err(ApiError::BadRequest(
            "Invalid request body: expected a JSON object".to_string(),
        ));
    }
    whole_numbers_as_integers(&mut value);
    let value = serde_path_to_error::deserialize(value).map_err(|error| {
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
    Ok(value)
}

/// serde_json's message in the API's words: no position ("at line 1
/// column 17": the field name says more) and no Rust type names.
fn strip_position(error: &serde_json::Error) -> String {
    let text = error.to_string();
    let text = match text.rfind(" at line ") {
        Some(at) => &text[..at],
        None => &text,
    };
    in_api_words(text)
}

/// Replaces Rust's names of types in a serde message with JSON's.
pub fn in_api_words(text: &str) -> String {
    const WORDS: [(&str, &str); 16] = [
        ("expected i64", "expected an integer"),
        ("expected i32", "expected an integer"),
        ("expected u64", "expected a non-negative integer"),
        ("expected u32", "expected a non-negative integer"),
        ("expected u16", "expected a non-negative integer"),
        ("expected u8", "expected a non-negative integer"),
        ("expected usize", "expected a non-negative integer"),
        ("expected f64", "expected a number"),
        ("expected f32", "expected a number"),
        ("expected a sequence", "expected an array"),
        ("expected a map", "expected an object"),
        ("expected a borrowed string", "expected a string"),
        ("invalid type: map", "invalid type: object"),
        ("invalid type: sequence", "invalid type: array"),
        ("invalid type: unit value", "invalid type: null"),
        ("invalid type: floating point", "invalid type: number"),
    ];
    let mut text = text.to_string();
    if let Some(at) = text.find("expected struct ") {
        text.replace_range(at.., "expected an object");
    }
    for (rust, json) in WORDS {
        text = text.replace(rust, json);
    }
    text
}

/// Reads the body: `None` when it is empty (or only whitespace).
fn read_json<T: DeserializeOwned + 'static>(
    req: &HttpRequest,
    payload: &mut Payload,
) -> impl Future<Output = Result<Option<T>, ApiError>> + use<T> {
    let bytes = web::Bytes::from_request(req, payload);
    let req = req.clone();
    async move {
        let bytes = read_body(&req, bytes).await?;
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
        QueryPayloadError::Deserialize(inner) => {
            format!(
                "Invalid query parameter: {}",
                in_api_words(&inner.to_string())
            )
        }
        other => format!("Invalid query string: {other}"),
    };
    ApiError::BadRequest(detail).into()
}

/// Error handler of `web::Path`: names the segment that is not an id — or,
/// when the path is a more specific route that does not take this method
/// (`PATCH /jobs/summary`), answers 405.
pub fn path_error(error: actix_web::error::PathError, req: &HttpRequest) -> actix_web::Error {
    if let Some(routes) = req.app_data::<web::Data<crate::middleware::RouteTable>>() {
        let allowed = routes.allowed(req.path());
        if !allowed.is_empty() && !allowed.contains(req.method()) {
            return ApiError::MethodNotAllowed(allowed).into();
        }
    }
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

/// Parses a date written exactly `YYYY-MM-DD` with a year in 1900..=2999
/// (the shape published as [`patterns::DATE`]) that exists.
pub fn parse_date(field: &str, value: &str) -> Result<NaiveDate, ApiError> {
    patterns::matches(patterns::DATE, value)
        .then(|| NaiveDate::parse_from_str(value, "%Y-%m-%d").ok())
        .flatten()
        .ok_or_else(|| {
            ApiError::invalid(
                field,
                format!("{value:?} is not a date (expected YYYY-MM-DD, years 1900..=2999)"),
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

/// For PATCH fields that cannot be cleared: absent stays `None`, a value
/// becomes `Some(value)`, and `null` is an error naming the field (never
/// silently ignored).
pub fn not_null<'de, D, T>(deserializer: D) -> Result<Option<T>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    T::deserialize(deserializer).map(Some)
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

/// The query of a list path whose status is fixed by the path itself (the
/// original's `/jobs/pending`, `/technicians/available`): the list's other
/// filters, documented without `status`; a `status` sent anyway is refused
/// by the handler rather than silently overridden.
#[derive(Debug, Deserialize)]
#[serde(transparent)]
pub struct FixedStatus<Q>(pub Q);

impl<Q: utoipa::IntoParams> utoipa::IntoParams for FixedStatus<Q> {
    fn into_params(
        parameter_in: impl Fn() -> Option<utoipa::openapi::path::ParameterIn>,
    ) -> Vec<utoipa::openapi::path::Parameter> {
        Q::into_params(parameter_in)
            .into_iter()
            .filter(|parameter| parameter.name != "status")
            .collect()
    }
}

/// The refusal of a `status` filter on a path that fixes it.
pub fn status_fixed_by_path(fixed: &str, list: &str) -> ApiError {
    ApiError::invalid(
        "status",
        format!("this path lists only {fixed} records; filter by status on {list}"),
    )
}
