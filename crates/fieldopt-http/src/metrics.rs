//! Prometheus metrics: requests by route and status, latency, pool usage.

use std::time::Instant;

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::middleware::Next;
use actix_web::web;
use fieldopt_store::DbPool;
use prometheus::{
    Encoder, HistogramOpts, HistogramVec, IntCounterVec, IntGauge, IntGaugeVec, Opts, Registry,
    TextEncoder,
};

use crate::state::AppState;

/// The registry and the instruments.
pub struct Metrics {
    registry: Registry,
    requests: IntCounterVec,
    latency: HistogramVec,
    pool_connections: IntGaugeVec,
    refused: IntCounterVec,
    rate_limited_clients: IntGauge,
    pool: DbPool,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics").finish_non_exhaustive()
    }
}

impl Metrics {
    /// Creates the instruments of one application.
    pub fn new(pool: DbPool) -> Self {
        let registry = Registry::new();
        let requests = IntCounterVec::new(
            Opts::new(
                "http_requests_total",
                "HTTP requests by method, route and status",
            ),
            &["method", "route", "status"],
        )
        .expect("valid metric");
        let latency = HistogramVec::new(
            HistogramOpts::new(
                "http_request_duration_seconds",
                "HTTP request latency by method, route and status",
            )
            .buckets(vec![
                0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
            ]),
            &["method", "route", "status"],
        )
        .expect("valid metric");
        let pool_connections = IntGaugeVec::new(
            Opts::new("db_pool_connections", "Database pool connections by state"),
            &["state"],
        )
        .expect("valid metric");
        let refused = IntCounterVec::new(
            Opts::new(
                "http_requests_refused_total",
                "Requests refused at the edge, by reason (unauthenticated, forbidden, rate_limited)",
            ),
            &["reason"],
        )
        .expect("valid metric");
        let rate_limited_clients = IntGauge::new(
            "rate_limit_clients",
            "Clients the rate limiter currently tracks",
        )
        .expect("valid metric");
        for collector in [
            Box::new(requests.clone()) as Box<dyn prometheus::core::Collector>,
            Box::new(latency.clone()),
            Box::new(pool_connections.clone()),
            Box::new(refused.clone()),
            Box::new(rate_limited_clients.clone()),
        ] {
            registry
                .register(collector)
                .expect("metric registered once");
        }
        Self {
            registry,
            requests,
            latency,
            pool_connections,
            refused,
            rate_limited_clients,
            pool,
        }
    }

    /// Counts a request refused at the edge; `reason` is one of a fixed set.
    pub(crate) fn refused(&self, reason: &'static str) {
        self.refused.with_label_values(&[reason]).inc();
    }

    fn observe(&self, method: &str, route: &str, status: u16, seconds: f64) {
        let status = status.to_string();
        let labels = [method, route, status.as_str()];
        self.requests.with_label_values(&labels).inc();
        self.latency.with_label_values(&labels).observe(seconds);
    }

    /// The text exposition of every metric, with the pool and the rate
    /// limiter read now.
    pub fn render(&self, rate_limited_clients: usize) -> String {
        self.rate_limited_clients
            .set(i64::try_from(rate_limited_clients).unwrap_or(i64::MAX));
        let state = self.pool.state();
        let max = i64::from(self.pool.max_size());
        let idle = i64::from(state.idle_connections);
        let open = i64::from(state.connections);
        self.pool_connections.with_label_values(&["idle"]).set(idle);
        self.pool_connections
            .with_label_values(&["in_use"])
            .set(open - idle);
        self.pool_connections.with_label_values(&["max"]).set(max);
        let mut buffer = Vec::new();
        TextEncoder::new()
            .encode(&self.registry.gather(), &mut buffer)
            .expect("text encoding cannot fail");
        String::from_utf8(buffer).unwrap_or_default()
    }
}

/// The method as a label: one of a fixed set, so a client inventing
/// methods cannot create series.
fn method_label(method: &actix_web::http::Method) -> &'static str {
    use actix_web::http::Method;
    match *method {
        Method::GET => "GET",
        Method::HEAD => "HEAD",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::PATCH => "PATCH",
        Method::DELETE => "DELETE",
        Method::OPTIONS => "OPTIONS",
        _ => "other",
    }
}

/// Middleware: counts and times every request by its route pattern (not
/// the raw path, so ids do not explode the label set).
pub async fn track_requests(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let started = Instant::now();
    let state = req.app_data::<web::Data<AppState>>().cloned();
    let method = method_label(req.method());
    let response = next.call(req).await?;
    if let Some(state) = state {
        let route = response
            .request()
            .match_pattern()
            .unwrap_or_else(|| "unmatched".to_string());
        state.metrics().observe(
            method,
            &route,
            response.status().as_u16(),
            started.elapsed().as_secs_f64(),
        );
    }
    Ok(response)
}
