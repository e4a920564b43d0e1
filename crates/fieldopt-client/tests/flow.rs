//! The generated client against the real application (in process, real
//! HTTP, a real database, authentication on with a dispatcher's token):
//! create → can-do → assign → best technician → plan → error, and a
//! cancel without a body. On SQLite and on PostgreSQL (when
//! `FIELDOPT_TEST_POSTGRES_URL` is set; required by
//! `FIELDOPT_REQUIRE_POSTGRES`).

use std::num::NonZeroU64;

use chrono::NaiveDate;
use fieldopt_client::{Client, Error, types};
use fieldopt_server::config::Settings;
use fieldopt_server::startup::Application;
use fieldopt_server::token::{TokenRequest, mint};
use secrecy::SecretString;

/// A database for one test; dropping it removes a PostgreSQL one.
enum TestDatabase {
    Sqlite(#[allow(dead_code)] tempfile::TempDir),
    Postgres { server_url: String, name: String },
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        if let TestDatabase::Postgres { server_url, name } = self {
            let _ = fieldopt_store::admin::drop_postgres_database(server_url, name);
        }
    }
}

fn sqlite() -> (TestDatabase, String) {
    let dir = tempfile::tempdir().expect("temp dir");
    let url = format!("sqlite://{}", dir.path().join("fieldopt.db").display());
    (TestDatabase::Sqlite(dir), url)
}

fn postgres() -> Option<(TestDatabase, String)> {
    let Ok(server_url) = std::env::var("FIELDOPT_TEST_POSTGRES_URL") else {
        assert!(
            std::env::var_os("FIELDOPT_REQUIRE_POSTGRES").is_none(),
            "FIELDOPT_REQUIRE_POSTGRES is set but FIELDOPT_TEST_POSTGRES_URL is not"
        );
        eprintln!("PostgreSQL test not run: FIELDOPT_TEST_POSTGRES_URL is not set");
        return None;
    };
    let name = format!("fieldopt_client_{}", uuid::Uuid::new_v4().simple());
    let url = fieldopt_store::admin::create_postgres_database(&server_url, &name)
        .expect("create test database");
    Some((TestDatabase::Postgres { server_url, name }, url))
}

/// Starts the application on `database_url` with authentication on and
/// returns a client holding a dispatcher's token.
async fn spawn(database_url: String) -> Client {
    let secret = SecretString::from("client-flow-test-secret-".repeat(2));
    let mut settings = Settings::for_tests(database_url);
    settings.auth_secret = Some(secret.clone());
    let app = Application::build(settings).await.expect("build app");
    let base_url = format!("http://127.0.0.1:{}", app.port());
    tokio::spawn(app.run_until_stopped());
    let token = mint(
        Some(&secret),
        &TokenRequest {
            role: "dispatcher".into(),
            sub: "rust-client@test".into(),
            tech_id: None,
            ttl_secs: 600,
        },
    )
    .expect("token");
    fieldopt_client::with_bearer_token(&base_url, &token).expect("client")
}

const SKILL: &str = "client-flow-fiber";

fn day() -> NaiveDate {
    NaiveDate::from_ymd_opt(2031, 3, 4).expect("a date")
}

async fn new_job(client: &Client, customer: &str) -> types::Job {
    client
        .create_job()
        .body(
            types::CreateJob::builder()
                .type_(types::JobType::Install)
                .customer(customer)
                .address("1 Flow St, New York")
                .latitude(40.73)
                .longitude(-73.995)
                .scheduled_date(day())
                .time_slot(Some("09:00-12:00".parse().expect("a time slot")))
                .duration_minutes(NonZeroU64::new(45))
                .skills_required(vec![SKILL.parse().expect("a skill")]),
        )
        .send()
        .await
        .expect("create job")
        .into_inner()
}

async fn flow(client: Client) {
    let technician = client
        .create_technician()
        .body(
            types::CreateTechnician::builder()
                .name("Rust Flow")
                .skills(vec![
                    SKILL.parse().expect("a skill"),
                    "install".parse().expect("a skill"),
                ])
                .capacity(NonZeroU64::new(3))
                .home_latitude(40.7128)
                .home_longitude(-74.006),
        )
        .send()
        .await
        .expect("create technician");
    assert_eq!(technician.status(), 201);
    let first = new_job(&client, "First Flow Customer").await;
    let second = new_job(&client, "Second Flow Customer").await;

    let can_do = client
        .get_can_do()
        .job_id(first.id)
        .tech_id(technician.id)
        .send()
        .await
        .expect("can-do");
    assert!(can_do.can_do, "{:?}", can_do.reasons);

    let assignment = client
        .create_assignment()
        .body(
            types::CreateAssignment::builder()
                .job_id(first.id)
                .technician_id(technician.id),
        )
        .send()
        .await
        .expect("assign");
    assert_eq!(assignment.status(), 201);
    assert_eq!(assignment.technician_id, technician.id);

    let recommendation = client
        .get_best_technician()
        .job_id(second.id)
        .send()
        .await
        .expect("best technician");
    let best = recommendation
        .recommended_technician
        .as_ref()
        .expect("a recommendation");
    assert_eq!(best.id, technician.id);

    let plan = client
        .plan_day()
        .body(
            types::PlanRequest::builder()
                .scheduled_date(day())
                .technician_ids(vec![technician.id])
                .time_limit_ms(200),
        )
        .send()
        .await
        .expect("plan");
    let mut planned: Vec<NonZeroU64> = plan
        .routes
        .iter()
        .flat_map(|route| route.stops.iter().map(|stop| stop.job_id))
        .collect();
    planned.sort_unstable();
    assert_eq!(planned, vec![first.id, second.id]);
    assert_eq!(plan.totals.jobs_assigned, 2);
    assert!(!plan.applied);

    // The same job twice: the problem document, typed.
    let refused = client
        .create_assignment()
        .body(
            types::CreateAssignment::builder()
                .job_id(first.id)
                .technician_id(technician.id),
        )
        .send()
        .await;
    match refused {
        Err(Error::ErrorResponse(problem)) => {
            assert_eq!(problem.status(), 409);
            assert_eq!(problem.status, 409);
            assert_eq!(problem.title, "Conflict");
            assert!(!problem.detail.is_empty());
            assert_eq!(
                problem.headers()["content-type"],
                "application/problem+json"
            );
        }
        other => panic!("expected a 409 problem document, got {other:?}"),
    }

    // The cancel body is optional: the client sends none.
    let cancelled = client
        .cancel_job()
        .id(second.id)
        .send()
        .await
        .expect("cancel without a body");
    assert_eq!(cancelled.status, types::JobStatus::Cancelled);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_generated_client_drives_the_real_server_on_sqlite() {
    let (_database, url) = sqlite();
    flow(spawn(url).await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_generated_client_drives_the_real_server_on_postgres() {
    let Some((_database, url)) = postgres() else {
        return;
    };
    flow(spawn(url).await).await;
}
