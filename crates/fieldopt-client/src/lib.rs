//! # fieldopt-client
//!
//! A typed Rust client of the fieldopt API, generated with
//! [progenitor](https://crates.io/crates/progenitor) from
//! `openapi/fieldopt-3.0.json` each time the crate is built (nothing
//! generated is committed). Every operation is a method of [`Client`]
//! named by its `operationId`, in builder style; request and response
//! bodies are the [`types`] of the document's schemas, and every error
//! answer is a typed [`types::Problem`] (RFC 9457) inside
//! [`Error::ErrorResponse`].
//!
//! ```no_run
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! use fieldopt_client::{Error, types};
//!
//! let client = fieldopt_client::with_bearer_token("http://127.0.0.1:8000", "TOKEN")?;
//! let job = client
//!     .create_job()
//!     .body(
//!         types::CreateJob::builder()
//!             .type_(types::JobType::Install)
//!             .customer("Acme Corp")
//!             .address("123 Main St, NYC"),
//!     )
//!     .send()
//!     .await?;
//! match client.get_best_technician().job_id(job.id).send().await {
//!     Ok(recommendation) => println!("{:?}", recommendation.recommended_technician),
//!     Err(Error::ErrorResponse(problem)) => {
//!         println!("{}: {}", problem.status(), problem.detail)
//!     }
//!     Err(other) => return Err(other.into()),
//! }
//! # Ok(())
//! # }
//! ```

use std::time::Duration;

use reqwest::header::{AUTHORIZATION, HeaderMap, HeaderValue, InvalidHeaderValue};

/// The code progenitor generates; its items are re-exported below.
#[allow(
    missing_docs,
    missing_debug_implementations,
    unused_imports,
    clippy::all,
    clippy::pedantic
)]
mod generated {
    include!(concat!(env!("OUT_DIR"), "/fieldopt_api.rs"));
}

pub use generated::*;

/// How long a request may take, a day plan's 60 s included.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(90);
/// How long connecting may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(15);

/// Why a client could not be built.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    /// The token cannot be sent in a header (it has control characters).
    #[error("the bearer token is not a valid header value: {0}")]
    Token(#[from] InvalidHeaderValue),
    /// reqwest could not build its client (TLS set-up).
    #[error("the HTTP client cannot be built: {0}")]
    Http(#[from] reqwest::Error),
}

/// A client of the server at `base_url` (`http://host:port`, without
/// `/api/v1`) that sends `Authorization: Bearer <token>` on every request,
/// with request and connect timeouts. For a server in development mode
/// (no authentication) use [`Client::new`].
pub fn with_bearer_token(base_url: &str, token: &str) -> Result<Client, BuildError> {
    let mut value = HeaderValue::from_str(&format!("Bearer {token}"))?;
    // Kept out of reqwest's Debug output.
    value.set_sensitive(true);
    let mut headers = HeaderMap::new();
    headers.insert(AUTHORIZATION, value);
    let http = reqwest::Client::builder()
        .default_headers(headers)
        .timeout(REQUEST_TIMEOUT)
        .connect_timeout(CONNECT_TIMEOUT)
        .build()?;
    Ok(Client::new_with_client(base_url, http))
}
