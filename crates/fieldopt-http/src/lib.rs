//! # fieldopt-http
//!
//! The HTTP API of fieldopt on actix-web: handlers, wire types, the problem
//! document every error is rendered as, and the OpenAPI document, collected
//! from the real routing with utoipa. [`app`] builds the application;
//! [`openapi`] builds the document without a server.

pub mod assignments;
pub mod auth;
mod compression;
mod conditional;
pub mod connection;
mod document;
pub mod error;
pub mod events;
pub mod extract;
pub mod jobs;
mod limits;
pub mod metrics;
pub mod middleware;
pub mod openapi30;
pub mod ops;
pub mod rate_limit;
pub mod request_log;
pub mod routing;
pub mod security;
mod state;
pub mod technicians;
pub mod webhooks;
pub mod wire;

use actix_cors::Cors;
use actix_web::body::MessageBody;
use actix_web::dev::{ServiceFactory, ServiceRequest, ServiceResponse};
use actix_web::http::header;
use actix_web::middleware::{Compress, Condition, from_fn};
use actix_web::{App, HttpResponse, web};
use utoipa::OpenApi;
use utoipa::openapi::{self, RefOr};
use utoipa_actix_web::service_config::ServiceConfig;
use utoipa_actix_web::{AppExt, scope};
use utoipa_swagger_ui::SwaggerUi;

pub use error::{ApiError, Problem};
pub use events::EventSettings;
pub use security::{Security, SecuritySettings};
pub use state::{ApiSettings, AppState, PlanLimits, today};
pub use webhooks::WebhookSettings;

/// Path of the OpenAPI document.
pub const OPENAPI_PATH: &str = "/api/v1/openapi.json";

#[derive(OpenApi)]
#[openapi(
    info(
        title = "fieldopt",
        description = "Field-service dispatch API: technicians, jobs, assignments, best-technician \
                       recommendations. Every path also works with a trailing slash. Errors are \
                       RFC 9457 problem documents.",
        license(name = "MIT OR Apache-2.0", identifier = "MIT OR Apache-2.0"),
    ),
    tags(
        (name = "technicians", description = "The people who do the jobs"),
        (name = "jobs", description = "Work to be done, its status machine and history"),
        (name = "assignments", description = "Who holds which job, under the hard rules"),
        (name = "routing", description = "Recommendations"),
        (name = "events", description = "The change feed: pages, a live stream, webhooks"),
        (name = "webhooks", description = "Endpoints that receive the change feed as signed POSTs, and their delivery log"),
        (name = "operations", description = "Health, readiness, metrics"),
    ),
    servers((url = "/", description = "The server that serves this document")),
    components(schemas(Problem, routing::PlanApplied, routing::AppliedRoute)),
    modifiers(&BearerAuth),
)]
struct ApiDoc;

/// Name of the security scheme in the document.
pub const BEARER_SCHEME: &str = "bearer";

/// Declares the bearer scheme, so Swagger UI offers "Authorize".
struct BearerAuth;

impl utoipa::Modify for BearerAuth {
    fn modify(&self, doc: &mut openapi::OpenApi) {
        use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
        doc.components
            .get_or_insert_with(Default::default)
            .add_security_scheme(
                BEARER_SCHEME,
                SecurityScheme::Http(
                    HttpBuilder::new()
                        .scheme(HttpAuthScheme::Bearer)
                        .bearer_format("JWT")
                        .description(Some(
                            "A JWT: HS256 signed with the server's secret (`fieldopt token`), or \
                         RS256/ES256 from the configured identity provider. Not needed in \
                         development mode.",
                        ))
                        .build(),
                ),
            );
    }
}

fn api_v1(cfg: &mut ServiceConfig<'_>) {
    // Literal paths before the `{id}` paths that would also match them.
    cfg.service(technicians::list_technicians)
        .service(technicians::list_available_technicians)
        .service(technicians::create_technician)
        .service(technicians::get_technician)
        .service(technicians::get_technician_workload)
        .service(technicians::update_technician)
        .service(technicians::delete_technician)
        .service(technicians::update_technician_status)
        .service(technicians::update_technician_location)
        .service(jobs::list_jobs)
        .service(jobs::list_pending_jobs)
        .service(jobs::search_jobs)
        .service(jobs::create_job)
        .service(jobs::get_job_summary)
        .service(jobs::get_job)
        .service(jobs::update_job_status)
        .service(jobs::update_job)
        .service(jobs::delete_job)
        .service(jobs::start_job)
        .service(jobs::complete_job)
        .service(jobs::fail_job)
        .service(jobs::cancel_job)
        .service(jobs::get_job_history)
        .service(jobs::get_can_do)
        .service(assignments::create_assignment)
        .service(assignments::batch_assign_jobs)
        .service(assignments::batch_unassign_jobs)
        .service(assignments::unassign_job)
        .service(assignments::reassign_job)
        .service(assignments::list_technician_assignments)
        .service(assignments::get_job_assignment)
        .service(routing::auto_route_job)
        .service(routing::get_auto_route)
        .service(routing::get_best_technician)
        .service(routing::plan_day)
        .service(events::list_events)
        .service(events::stream_events)
        .service(webhooks::list_webhooks)
        .service(webhooks::create_webhook)
        .service(webhooks::get_webhook)
        .service(webhooks::update_webhook)
        .service(webhooks::delete_webhook)
        .service(webhooks::list_webhook_deliveries)
        .service(webhooks::retry_webhook_delivery);
}

fn operations(cfg: &mut ServiceConfig<'_>) {
    cfg.service(ops::get_health)
        .service(ops::get_health_check)
        .service(ops::get_readiness)
        .service(ops::get_metrics);
}

/// A problem-document response that also sets `headers` (name, description).
fn problem_response_with(description: &str, headers: &[(&str, &str)]) -> RefOr<openapi::Response> {
    let mut response = openapi::ResponseBuilder::new()
        .description(description)
        .content(
            error::PROBLEM_JSON,
            openapi::ContentBuilder::new()
                .schema(Some(openapi::Ref::from_schema_name("Problem")))
                .build(),
        );
    for (name, about) in headers {
        let schema = if name.starts_with("RateLimit") || *name == "Retry-After" {
            openapi::ObjectBuilder::new()
                .schema_type(openapi::Type::Integer)
                .minimum(Some(0))
        } else {
            openapi::ObjectBuilder::new().schema_type(openapi::Type::String)
        };
        response = response.header(
            *name,
            openapi::HeaderBuilder::new()
                .schema(Some(schema))
                .description(Some(*about))
                .build(),
        );
    }
    response.into()
}

const RATE_LIMIT_HEADERS: [(&str, &str); 3] = [
    ("RateLimit-Limit", "Requests the client's bucket holds"),
    (
        "RateLimit-Remaining",
        "Requests the client may still make at once",
    ),
    ("RateLimit-Reset", "Seconds until the bucket is full again"),
];

/// Operations served without a caller: probes and metrics (the OpenAPI
/// document and Swagger UI are served outside the document's paths).
pub const OPEN_OPERATIONS: [&str; 4] = [
    "get_health",
    "get_health_check",
    "get_readiness",
    "get_metrics",
];

/// The original FieldOpt's later paths, served as thin aliases and marked
/// deprecated: new clients use what they alias.
const DEPRECATED_OPERATIONS: [&str; 6] = [
    "get_health_check",
    "list_available_technicians",
    "get_technician_workload",
    "list_pending_jobs",
    "search_jobs",
    "update_job_status",
];

/// A shared error response: its name under `components/responses`, its
/// status code, description and headers.
struct SharedResponse {
    name: &'static str,
    code: &'static str,
    description: String,
    headers: Vec<(&'static str, &'static str)>,
}

impl SharedResponse {
    fn new(name: &'static str, code: &'static str, description: impl Into<String>) -> Self {
        Self {
            name,
            code,
            description: description.into(),
            headers: Vec::new(),
        }
    }

    fn with_headers(mut self, headers: &[(&'static str, &'static str)]) -> Self {
        self.headers.extend_from_slice(headers);
        self
    }
}

/// The error responses many operations share, each described once in
/// `components/responses` and referred to from the operations.
fn shared_responses() -> [SharedResponse; 11] {
    let mut too_many = vec![("Retry-After", "Seconds until a request can pass")];
    too_many.extend(RATE_LIMIT_HEADERS);
    [
        SharedResponse::new(
            "BadRequest",
            "400",
            "A parameter or the body is malformed or out of range (the detail names it)",
        ),
        SharedResponse::new(
            "Unauthorized",
            "401",
            "Missing, malformed, expired or unverifiable bearer token",
        )
        .with_headers(&[(
            "WWW-Authenticate",
            "`Bearer`, with `error=\"invalid_token\"` when a token was sent",
        )]),
        SharedResponse::new(
            "Forbidden",
            "403",
            "The caller's role may not do this, or not on this record",
        ),
        SharedResponse::new(
            "MethodNotAllowed",
            "405",
            "Known path, wrong method (see the Allow header)",
        )
        .with_headers(&[("Allow", "The methods the path accepts")]),
        SharedResponse::new(
            "PayloadTooLarge",
            "413",
            format!(
                "Request body larger than {} MiB",
                extract::MAX_BODY_BYTES >> 20
            ),
        ),
        SharedResponse::new(
            "UriTooLong",
            "414",
            format!(
                "Query string longer than {} bytes",
                security::MAX_QUERY_BYTES
            ),
        ),
        SharedResponse::new(
            "UnsupportedMediaType",
            "415",
            "The body is not JSON (`Content-Type: application/json`) or is encoded",
        ),
        SharedResponse::new(
            "IdempotencyKeyReused",
            "422",
            "Idempotency-Key reused with a different request",
        ),
        SharedResponse::new("TooManyRequests", "429", "Over the client's rate limit")
            .with_headers(&too_many),
        SharedResponse::new(
            "ServerFault",
            "500",
            "Server fault; the detail never shows internals",
        ),
        SharedResponse::new(
            "Unavailable",
            "503",
            "The database cannot serve the request now: unreachable, too slow, locked, read-only or out of space (`urn:fieldopt:problem:database-unavailable`; the detail says which)",
        )
            .with_headers(&[("Retry-After", "Seconds to wait before retrying")]),
    ]
}

/// The access policy that governs an operation id: the operation of that
/// name, or the one a family of operations shares (the webhook operations
/// are all `manage_webhooks`).
pub fn policy(operation_id: &str) -> Option<fieldopt_domain::access::Operation> {
    use fieldopt_domain::access::Operation;
    Operation::from_name(operation_id).or_else(|| {
        webhooks::OPERATION_IDS
            .contains(&operation_id)
            .then_some(Operation::ManageWebhooks)
    })
}

/// Who may call an operation, from the access table, for its description.
fn who_may_call(operation_id: &str) -> String {
    use fieldopt_domain::access::{Access, Role, access};
    let Some(operation) = policy(operation_id) else {
        return "**Access:** open, no token needed.".to_string();
    };
    let mut all = Vec::new();
    let mut own = Vec::new();
    for role in Role::ALL {
        match access(role, operation) {
            Access::All => all.push(format!("`{}`", role.as_str())),
            Access::Own => own.push(format!("`{}`", role.as_str())),
            Access::None => {}
        }
    }
    let mut parts = Vec::new();
    if !all.is_empty() {
        parts.push(all.join(", "));
    }
    if !own.is_empty() {
        parts.push(format!(
            "{} on its own records only (lists are narrowed to them)",
            own.join(", ")
        ));
    }
    format!("**Access:** {}; other roles get 403.", parts.join("; "))
}

/// Adds what every operation shares — the error responses it can give,
/// its security and who may call it — so each handler declares only its
/// own.
fn add_common_responses(doc: &mut openapi::OpenApi) {
    let shared = shared_responses();
    let components = doc.components.get_or_insert_with(Default::default);
    for response in &shared {
        components.responses.insert(
            response.name.to_string(),
            problem_response_with(&response.description, &response.headers),
        );
    }
    let bearer = openapi::security::SecurityRequirement::new(BEARER_SCHEME, Vec::<String>::new());
    for item in doc.paths.paths.values_mut() {
        let operations = [
            (&mut item.get, "get"),
            (&mut item.post, "post"),
            (&mut item.patch, "patch"),
            (&mut item.put, "put"),
            (&mut item.delete, "delete"),
        ];
        for (operation, method) in operations {
            let Some(operation) = operation else { continue };
            let has_body = matches!(method, "post" | "patch" | "put");
            let id = operation.operation_id.clone().unwrap_or_default();
            let open = OPEN_OPERATIONS.contains(&id.as_str());
            let probe = matches!(
                id.as_str(),
                "get_health" | "get_health_check" | "get_readiness"
            );
            // Liveness and metrics answer from memory: no 503 from them.
            let touches_database = !matches!(
                id.as_str(),
                "get_health" | "get_health_check" | "get_metrics"
            );
            if DEPRECATED_OPERATIONS.contains(&id.as_str()) {
                operation.deprecated = Some(openapi::Deprecated::True);
            }
            operation.security = Some(if open {
                Vec::new()
            } else {
                vec![bearer.clone()]
            });
            let access = who_may_call(&id);
            operation.description = Some(match operation.description.take() {
                Some(description) => format!("{description}\n\n{access}"),
                None => access,
            });
            let has_query = operation.parameters.as_ref().is_some_and(|parameters| {
                parameters.iter().any(|p| {
                    matches!(p, RefOr::T(p) if p.parameter_in == openapi::path::ParameterIn::Query)
                })
            });
            let has_parameters = operation.parameters.as_ref().is_some_and(|p| !p.is_empty());
            let applies = |code: &str| match code {
                "400" => has_body || has_parameters,
                "401" | "403" | "405" => !open,
                "413" | "415" => has_body,
                "414" => has_query,
                // What a reused key answers; POSTs alone take keys.
                "422" => method == "post",
                "429" => !probe,
                "503" => touches_database,
                _ => true,
            };
            let responses = &mut operation.responses.responses;
            for response in shared.iter().filter(|r| applies(r.code)) {
                responses
                    .entry(response.code.to_string())
                    .or_insert_with(|| RefOr::Ref(openapi::Ref::from_response_name(response.name)));
            }
        }
        if let Some(post) = &mut item.post {
            let header = openapi::path::ParameterBuilder::new()
                .name("Idempotency-Key")
                .parameter_in(openapi::path::ParameterIn::Header)
                .required(openapi::Required::False)
                .description(Some(
                    "Makes a retry safe: the same key and body within 24 hours get the first response again",
                ))
                .schema(Some(openapi::ObjectBuilder::new().schema_type(openapi::Type::String)))
                .build();
            post.parameters
                .get_or_insert_with(Vec::new)
                .push(RefOr::T(header));
        }
    }
}

/// The OpenAPI document with the default limits, built from the routes
/// without a server.
pub fn openapi() -> openapi::OpenApi {
    openapi_for(&ApiSettings::default())
}

/// The OpenAPI document stating the limits of `settings`.
pub fn openapi_for(settings: &ApiSettings) -> openapi::OpenApi {
    let (_, mut doc) = App::new()
        .into_utoipa_app()
        .openapi(ApiDoc::openapi())
        .service(scope::scope("/api/v1").configure(api_v1))
        .configure(operations)
        .split_for_parts();
    doc.info.version = env!("CARGO_PKG_VERSION").to_string();
    add_common_responses(&mut doc);
    let mut json = serde_json::to_value(&doc).expect("the document serialises");
    limits::apply(&mut json, settings.plan);
    document::finish(&mut json);
    serde_json::from_value(json).expect("limits keep the document valid")
}

/// The OpenAPI versions the document is rendered in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SpecVersion {
    /// OpenAPI 3.1.0, as served at [`OPENAPI_PATH`].
    V3_1,
    /// OpenAPI 3.0.3, for generators that read only 3.0 (see [`openapi30`]).
    V3_0,
}

/// The OpenAPI document with the default limits as pretty JSON, in the
/// given version: what `fieldopt openapi` prints and `openapi/` commits.
pub fn openapi_pretty_json(version: SpecVersion) -> Result<String, serde_json::Error> {
    let doc = openapi();
    match version {
        SpecVersion::V3_1 => doc.to_pretty_json(),
        SpecVersion::V3_0 => {
            serde_json::to_string_pretty(&openapi30::convert(&serde_json::to_value(&doc)?))
        }
    }
}

/// The rendered OpenAPI document, served as is.
#[derive(Debug, Clone)]
struct OpenApiJson(String);

async fn serve_openapi(doc: web::Data<OpenApiJson>) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("application/json")
        .body(doc.0.clone())
}

async fn redirect_to_docs() -> HttpResponse {
    HttpResponse::PermanentRedirect()
        .insert_header(("Location", "/docs/"))
        .finish()
}

/// The whole application: API, operations endpoints, OpenAPI document and
/// Swagger UI, every error as a problem document, request ids, metrics.
pub fn app(
    state: AppState,
) -> App<
    impl ServiceFactory<
        ServiceRequest,
        Config = (),
        Response = ServiceResponse<impl MessageBody>,
        Error = actix_web::Error,
        InitError = (),
    >,
> {
    let doc = openapi_for(state.settings());
    let routes = middleware::RouteTable::from_openapi(&doc);
    let cors = cors(state.security().cors_origins());
    let rendered = OpenApiJson(doc.to_json().expect("the document serialises"));
    let (app, _) = App::new()
        .into_utoipa_app()
        .app_data(web::Data::new(state))
        .app_data(web::Data::new(routes))
        .app_data(web::Data::new(rendered))
        .app_data(web::PayloadConfig::new(extract::MAX_BODY_BYTES))
        .app_data(web::QueryConfig::default().error_handler(extract::query_error))
        .app_data(web::PathConfig::default().error_handler(extract::path_error))
        .service(
            scope::scope("/api/v1")
                .wrap(from_fn(middleware::idempotency_keys))
                .wrap(from_fn(conditional::entity_tags))
                .route("/openapi.json", web::get().to(serve_openapi))
                .configure(api_v1),
        )
        .configure(operations)
        .split_for_parts();
    let swagger =
        SwaggerUi::new("/docs/{_:.*}").config(utoipa_swagger_ui::Config::from(OPENAPI_PATH));
    // Outermost last: the request span, request ids and security headers
    // on every answer, every error as a problem document, compression, CORS
    // headers also on refusals, paths trimmed before anything looks at them, then
    // metrics, the request guard, and access control.
    app.service(swagger)
        .route("/docs", web::get().to(redirect_to_docs))
        .default_service(web::to(middleware::fallback))
        .wrap(from_fn(security::access_control))
        .wrap(from_fn(security::request_guard))
        .wrap(from_fn(middleware::head_as_get))
        .wrap(from_fn(metrics::track_requests))
        .wrap(from_fn(middleware::trim_trailing_slash))
        .wrap(Condition::new(cors.is_some(), cors.unwrap_or_default()))
        .wrap(from_fn(middleware::problem_documents))
        .wrap(from_fn(compression::keep_small_bodies_plain))
        .wrap(Compress::default())
        .wrap(from_fn(compression::drop_identity_mark))
        // Again outside compression: its own refusal (406 for an
        // Accept-Encoding it cannot meet) is a problem document too.
        .wrap(from_fn(middleware::problem_documents))
        .wrap(from_fn(security::security_headers))
        .wrap(from_fn(request_log::log_requests))
}

/// CORS for the configured browser origins; none configured, no CORS.
fn cors(origins: &[String]) -> Option<Cors> {
    if origins.is_empty() {
        return None;
    }
    let cors = origins
        .iter()
        .fold(Cors::default(), |cors, origin| cors.allowed_origin(origin))
        .allowed_methods(["GET", "HEAD", "POST", "PATCH", "PUT", "DELETE", "OPTIONS"])
        .allowed_headers([
            header::AUTHORIZATION,
            header::CONTENT_TYPE,
            header::ACCEPT,
            middleware::IDEMPOTENCY_KEY,
            middleware::REQUEST_ID,
        ])
        .expose_headers([
            middleware::REQUEST_ID.as_str(),
            "x-total-count",
            "retry-after",
            "ratelimit-limit",
            "ratelimit-remaining",
            "ratelimit-reset",
            "idempotent-replayed",
        ])
        .max_age(600);
    Some(cors)
}
