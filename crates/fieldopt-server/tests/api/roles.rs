//! Authorization through real HTTP: every operation of the OpenAPI
//! document, called by every kind of caller, on records the caller owns and
//! on records it does not — each answer must be what the domain's access
//! table says. Plus technicians' narrowed lists and the audit trail.

use fieldopt_domain::access::{Access, Operation, Role, access};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{Backend, TestApp, expect_json, id, spawn_app_with};
use crate::tokens::{SECRET, claims, hs256};

/// The records one cell of the table works on: two technicians each
/// holding an assigned job, and one pending job.
struct World {
    /// A webhook endpoint (disabled, never called) with one logged attempt.
    webhook: i64,
    delivery: i64,
    own_tech: i64,
    own_job: i64,
    other_tech: i64,
    other_job: i64,
    pending_job: i64,
}

async fn call(
    app: &TestApp,
    token: &str,
    method: Method,
    path: &str,
    body: Option<&Value>,
) -> reqwest::Response {
    let mut request = app.client.request(method, app.url(path)).bearer_auth(token);
    if let Some(body) = body {
        request = request.json(body);
    }
    request.send().await.expect("request")
}

fn admin_token() -> String {
    hs256(SECRET, &claims("admin", "root@test", None))
}

async fn build_world(app: &TestApp) -> World {
    let admin = admin_token();
    let mut ids = Vec::new();
    for name in ["Own", "Other"] {
        let tech = call(
            app,
            &admin,
            Method::POST,
            "/api/v1/technicians",
            Some(&json!({"name": name, "skills": ["repair"]})),
        )
        .await;
        let tech = id(&expect_json(tech, StatusCode::CREATED).await);
        let job = call(
            app,
            &admin,
            Method::POST,
            "/api/v1/jobs",
            Some(&json!({
                "type": "repair", "customer": "C", "address": "A", "scheduled_date": "2030-01-15"
            })),
        )
        .await;
        let job = id(&expect_json(job, StatusCode::CREATED).await);
        let assigned = call(
            app,
            &admin,
            Method::POST,
            "/api/v1/assignments",
            Some(&json!({"job_id": job, "technician_id": tech, "force": true})),
        )
        .await;
        expect_json(assigned, StatusCode::CREATED).await;
        ids.push((tech, job));
    }
    let pending = call(
        app,
        &admin,
        Method::POST,
        "/api/v1/jobs",
        Some(&json!({
            "type": "repair", "customer": "P", "address": "A", "scheduled_date": "2030-01-15"
        })),
    )
    .await;
    let (webhook, delivery) = webhook_with_attempt(app);
    World {
        webhook,
        delivery,
        own_tech: ids[0].0,
        own_job: ids[0].1,
        other_tech: ids[1].0,
        other_job: ids[1].1,
        pending_job: id(&expect_json(pending, StatusCode::CREATED).await),
    }
}

/// A disabled webhook endpoint and one logged attempt at the newest event,
/// straight through the store. Its URL is a documentation address, refused
/// at delivery: a retry is logged as a failed attempt and sends nothing.
fn webhook_with_attempt(app: &TestApp) -> (i64, i64) {
    use fieldopt_store::webhooks::{self, Attempt, NewEndpoint};
    let mut conn = app.pool.get().expect("connection");
    // Endpoints are capped: each cell's world replaces the last one's.
    let page = fieldopt_store::Page {
        limit: 1000,
        offset: 0,
    };
    for old in webhooks::list(&mut conn, page).expect("webhooks").items {
        webhooks::delete(&mut conn, old.id).expect("delete webhook");
    }
    let event = fieldopt_store::outbox::last_id(&mut conn).expect("last event");
    let endpoint = webhooks::create(
        &mut conn,
        &NewEndpoint {
            url: "https://192.0.2.1/hook".into(),
            description: None,
            event_types: fieldopt_domain::EventTypeFilter::all(),
            enabled: false,
            secret: "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw".into(),
        },
        event,
        fieldopt_store::now(),
    )
    .expect("webhook");
    let delivery = webhooks::record_delivery(
        &mut conn,
        &Attempt {
            endpoint_id: endpoint.id,
            event_id: event,
            number: 1,
            attempted_at: fieldopt_store::now(),
            status_code: Some(500),
            latency_ms: 3,
            error: None,
            response_body: None,
            next_retry_at: None,
            manual: false,
        },
    )
    .expect("attempt");
    (endpoint.id, delivery.id)
}

/// A body that passes validation for each operation that takes one; a new
/// operation with a body must be added here (the test fails otherwise).
fn body(operation: Operation, op_id: &str, world: &World, tech: i64, job: i64) -> Option<Value> {
    use Operation as Op;
    Some(match operation {
        // A public address literal: no DNS needed; disabled: never called.
        Op::ManageWebhooks if op_id == "create_webhook" => {
            json!({"url": "https://1.1.1.1/hook", "enabled": false})
        }
        Op::ManageWebhooks if op_id == "update_webhook" => json!({"description": "renamed"}),
        Op::CreateTechnician => json!({"name": "New"}),
        Op::UpdateTechnician => json!({"name": "Renamed"}),
        Op::UpdateTechnicianStatus => json!({"status": "on_break"}),
        Op::UpdateTechnicianLocation => json!({"latitude": 40.7, "longitude": -74.0}),
        Op::CreateJob => json!({"type": "install", "customer": "C", "address": "A"}),
        Op::UpdateJob => json!({"notes": "call first"}),
        Op::UpdateJobStatus => json!({"status": "in_progress"}),
        Op::FailJob | Op::CancelJob => json!({"reason": "no access"}),
        Op::CreateAssignment => {
            json!({"job_id": world.pending_job, "technician_id": tech, "force": true})
        }
        Op::BatchAssignJobs => {
            json!({"job_ids": [world.pending_job], "technician_id": tech, "force": true})
        }
        Op::BatchUnassignJobs => json!({"job_ids": [job]}),
        Op::UnassignJob => json!({"job_id": job}),
        Op::ReassignJob => {
            json!({"job_id": job, "new_technician_id": world.own_tech + world.other_tech - tech, "force": true})
        }
        Op::AutoRouteJob => json!({"job_id": job}),
        Op::PlanDay => json!({"scheduled_date": "2030-01-15", "time_limit_ms": 10}),
        _ => return None,
    })
}

/// The path with its parameters filled: technician ids for technician
/// paths, job ids for job paths, the world's webhook and attempt for
/// webhook paths.
fn fill(template: &str, world: &World, tech: i64, job: i64) -> String {
    if template.starts_with("/api/v1/webhooks") {
        return template
            .replace("{id}", &world.webhook.to_string())
            .replace("{delivery_id}", &world.delivery.to_string());
    }
    let technician_path = template.starts_with("/api/v1/technicians");
    template
        .replace("{tech_id}", &tech.to_string())
        .replace("{job_id}", &job.to_string())
        .replace(
            "{id}",
            &(if technician_path { tech } else { job }).to_string(),
        )
}

#[derive(Debug, Clone, Copy)]
enum Who {
    Admin,
    Dispatcher,
    /// A technician acting on its own records.
    TechnicianOnOwn,
    /// A technician acting on another's records.
    TechnicianOnOther,
    /// A technician token without a technician id.
    TechnicianWithoutId,
    /// A role fieldopt does not know.
    UnknownRole,
}

impl Who {
    fn token(self, world: &World) -> String {
        let (role, tech) = match self {
            Who::Admin => ("admin", None),
            Who::Dispatcher => ("dispatcher", None),
            Who::TechnicianOnOwn | Who::TechnicianOnOther => ("technician", Some(world.own_tech)),
            Who::TechnicianWithoutId => ("technician", None),
            Who::UnknownRole => ("auditor", None),
        };
        hs256(SECRET, &claims(role, "someone", tech))
    }

    /// Whether the table lets this caller through. An operation on no
    /// single record (a list) is narrowed to the caller's own, not refused.
    fn permitted(self, operation: Operation, targets_record: bool) -> bool {
        match self {
            Who::Admin => access(Role::Admin, operation) != Access::None,
            Who::Dispatcher => access(Role::Dispatcher, operation) != Access::None,
            Who::TechnicianOnOwn => access(Role::Technician, operation) != Access::None,
            Who::TechnicianOnOther if !targets_record => {
                access(Role::Technician, operation) != Access::None
            }
            Who::TechnicianOnOther => access(Role::Technician, operation) == Access::All,
            Who::TechnicianWithoutId | Who::UnknownRole => false,
        }
    }

    fn targets(self, world: &World) -> (i64, i64) {
        match self {
            Who::TechnicianOnOwn => (world.own_tech, world.own_job),
            _ => (world.other_tech, world.other_job),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_role_gets_exactly_what_the_table_gives_on_every_operation() {
    let app = spawn_app_with(
        Backend::Sqlite,
        |s| s.auth_secret = Some(SECRET.to_string().into()),
        None,
    )
    .await
    .unwrap();
    let doc = fieldopt_http::openapi();
    let mut cells = 0;
    let mut covered = std::collections::HashSet::new();
    for (template, item) in &doc.paths.paths {
        let operations = [
            (Method::GET, &item.get),
            (Method::POST, &item.post),
            (Method::PATCH, &item.patch),
            (Method::PUT, &item.put),
            (Method::DELETE, &item.delete),
        ];
        for (method, op) in operations {
            let Some(op) = op else { continue };
            let op_id = op.operation_id.as_deref().unwrap_or_default();
            if fieldopt_http::OPEN_OPERATIONS.contains(&op_id) {
                continue;
            }
            let operation = fieldopt_http::policy(op_id)
                .unwrap_or_else(|| panic!("{op_id} has no access policy"));
            covered.insert(operation);
            for who in [
                Who::Admin,
                Who::Dispatcher,
                Who::TechnicianOnOwn,
                Who::TechnicianOnOther,
                Who::TechnicianWithoutId,
                Who::UnknownRole,
            ] {
                // Fresh records for every cell, so no call sees what an
                // earlier one deleted or moved.
                let world = build_world(&app).await;
                let (tech, job) = who.targets(&world);
                let body = body(operation, op_id, &world, tech, job);
                assert!(
                    body.is_some()
                        || matches!(method, Method::GET | Method::DELETE)
                        || matches!(operation, Operation::StartJob | Operation::CompleteJob)
                        || op_id == "retry_webhook_delivery",
                    "{op_id}: add a request body to this test"
                );
                let path = fill(template, &world, tech, job);
                let response = call(
                    &app,
                    &who.token(&world),
                    method.clone(),
                    &path,
                    body.as_ref(),
                )
                .await;
                let status = response.status();
                // A stream never ends by itself: its status is the answer.
                let text = if status.is_success() && operation == Operation::StreamEvents {
                    String::new()
                } else {
                    response.text().await.unwrap_or_default()
                };
                let cell = format!("{who:?} × {op_id} ({method} {path}): {status} {text}");
                if who.permitted(operation, template.contains('{')) {
                    assert!(
                        status != StatusCode::FORBIDDEN && status != StatusCode::UNAUTHORIZED,
                        "should pass: {cell}"
                    );
                    assert!(
                        status != StatusCode::NOT_FOUND && !status.is_server_error(),
                        "passed, but not on a real record: {cell}"
                    );
                } else {
                    assert_eq!(status, StatusCode::FORBIDDEN, "should be refused: {cell}");
                    assert!(
                        text.contains("\"detail\":\"Not allowed for this caller\""),
                        "{cell}"
                    );
                }
                cells += 1;
            }
        }
    }
    assert_eq!(
        covered.len(),
        Operation::ALL.len(),
        "every operation of the table is in the document"
    );
    assert!(
        cells >= Operation::ALL.len() * 6,
        "every operation, every caller"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn technicians_see_only_their_own_records() {
    let app = spawn_app_with(
        Backend::Sqlite,
        |s| s.auth_secret = Some(SECRET.to_string().into()),
        None,
    )
    .await
    .unwrap();
    let world = build_world(&app).await;
    let me = hs256(
        SECRET,
        &claims("technician", "tech-one", Some(world.own_tech)),
    );
    let list = |path: &'static str| {
        let (app, me) = (&app, &me);
        async move {
            let response = call(app, me, Method::GET, path, None).await;
            let total = response.headers()["x-total-count"]
                .to_str()
                .unwrap()
                .to_string();
            let body = expect_json(response, StatusCode::OK).await;
            let ids: Vec<i64> = body.as_array().unwrap().iter().map(id).collect();
            (ids, total)
        }
    };
    assert_eq!(
        list("/api/v1/technicians").await,
        (vec![world.own_tech], "1".into())
    );
    assert_eq!(
        list("/api/v1/jobs").await,
        (vec![world.own_job], "1".into())
    );
    let other = format!("/api/v1/jobs?technician_id={}", world.other_tech);
    let response = call(&app, &me, Method::GET, &other, None).await;
    assert_eq!(expect_json(response, StatusCode::OK).await, json!([]));
    let mine = format!("/api/v1/assignments/technician/{}", world.own_tech);
    let response = call(&app, &me, Method::GET, &mine, None).await;
    assert_eq!(
        expect_json(response, StatusCode::OK)
            .await
            .as_array()
            .unwrap()
            .len(),
        1
    );

    // Once the job moves to another technician it is no longer its own.
    let admin = admin_token();
    let moved = call(
        &app,
        &admin,
        Method::POST,
        "/api/v1/assignments/reassign",
        Some(&json!({
            "job_id": world.own_job, "new_technician_id": world.other_tech, "force": true
        })),
    )
    .await;
    expect_json(moved, StatusCode::OK).await;
    assert_eq!(list("/api/v1/jobs").await, (vec![], "0".into()));
    let start = format!("/api/v1/jobs/{}/start", world.own_job);
    let response = call(&app, &me, Method::POST, &start, None).await;
    assert_eq!(response.status(), StatusCode::FORBIDDEN);

    // Through the original's status path a technician may work its own
    // job, but never cancel it.
    let status = format!("/api/v1/jobs/{}/status", world.other_job);
    let other_tech = hs256(
        SECRET,
        &claims("technician", "tech-two", Some(world.other_tech)),
    );
    let cancel = json!({"status": "cancelled"});
    let response = call(&app, &other_tech, Method::PATCH, &status, Some(&cancel)).await;
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    let start = json!({"status": "in_progress"});
    let response = call(&app, &other_tech, Method::PATCH, &status, Some(&start)).await;
    assert_eq!(
        expect_json(response, StatusCode::OK).await["status"],
        "in_progress"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn history_and_assignments_record_who_acted() {
    let app = spawn_app_with(
        Backend::Sqlite,
        |s| s.auth_secret = Some(SECRET.to_string().into()),
        None,
    )
    .await
    .unwrap();
    let world = build_world(&app).await;
    let me = hs256(
        SECRET,
        &claims("technician", "tech-one", Some(world.own_tech)),
    );
    let start = format!("/api/v1/jobs/{}/start", world.own_job);
    expect_json(
        call(&app, &me, Method::POST, &start, None).await,
        StatusCode::OK,
    )
    .await;
    let history = format!("/api/v1/jobs/{}/history", world.own_job);
    let events = expect_json(
        call(&app, &me, Method::GET, &history, None).await,
        StatusCode::OK,
    )
    .await;
    let actors: Vec<(&str, &str)> = events
        .as_array()
        .unwrap()
        .iter()
        .map(|e| (e["event"].as_str().unwrap(), e["actor"].as_str().unwrap()))
        .collect();
    assert_eq!(
        actors,
        vec![
            ("created", "root@test"),
            ("assigned", "root@test"),
            ("status_changed", "tech-one")
        ]
    );
    let assignment = format!("/api/v1/assignments/job/{}", world.own_job);
    let assignment = expect_json(
        call(&app, &me, Method::GET, &assignment, None).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(assignment["actor"], "root@test");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn development_mode_records_dev_as_the_actor() {
    let app = crate::helpers::spawn_app(Backend::Sqlite).await.unwrap();
    let tech = app.technician(json!({})).await;
    let job = app.job(json!({"skills_required": ["install"]})).await;
    let assigned = expect_json(app.assign(id(&job), id(&tech)).await, StatusCode::CREATED).await;
    assert_eq!(assigned["actor"], "dev");
    let history = format!("/api/v1/jobs/{}/history", id(&job));
    let events = expect_json(app.get(&history).await, StatusCode::OK).await;
    assert!(
        events
            .as_array()
            .unwrap()
            .iter()
            .all(|e| e["actor"] == "dev"),
        "{events}"
    );
}
