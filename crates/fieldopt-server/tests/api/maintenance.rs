//! Looking after a database with the real binary: `fieldopt backup` of a
//! live SQLite database under write load, `fieldopt check` on a healthy and
//! on a damaged database, and SIGTERM while requests are in flight.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use fieldopt_domain::{JobId, JobStatus};
use fieldopt_store::{admin, assignments, integrity, jobs, technicians};
use futures_util::future::join_all;
use reqwest::{Client, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{Backend, ServerProcess, expect_json, id, pool_for, run_fieldopt, spawn_app};
use crate::plan_bounds::{DAY, bulk_day};

/// Declares each listed `async fn(Backend)` as a test on SQLite and on
/// PostgreSQL (these tests start their own processes).
macro_rules! on_both_backends {
    ($($name:ident),+ $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name(crate::helpers::Backend::Sqlite).await;
                }
            )+
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name(crate::helpers::Backend::Postgres).await;
                }
            )+
        }
    };
}

on_both_backends!(
    check_passes_a_healthy_database_and_names_each_violation,
    sigterm_finishes_requests_in_flight_refuses_new_ones_and_loses_no_write,
);

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// A client that opens a new connection for every request, so a request
/// sent after shutdown began meets a closed door, not a kept-alive socket.
fn fresh_connections() -> Client {
    Client::builder()
        .pool_max_idle_per_host(0)
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap()
}

/// Creates a job on `date` through `base`; its id on 201.
async fn create_job(client: &Client, base: &str, date: &str) -> Option<i64> {
    let response = client
        .post(format!("{base}/api/v1/jobs"))
        .json(&json!({
            "type": "repair", "customer": "Load", "address": "1 Load St",
            "scheduled_date": date,
        }))
        .send()
        .await
        .ok()?;
    if response.status() == StatusCode::CREATED {
        response.json::<Value>().await.ok().map(|v| id(&v))
    } else {
        None
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn backup_copies_a_live_sqlite_database_under_write_load() {
    let started = Instant::now();
    let app = spawn_app(Backend::Sqlite).await.unwrap();
    let techs: Vec<i64> = join_all((0..4).map(|_| app.technician(json!({"capacity": 50}))))
        .await
        .iter()
        .map(id)
        .collect();
    for _ in 0..4 {
        join_all((0..25).map(|_| app.job(json!({})))).await;
    }
    // Enough rows that copying them takes a while.
    bulk_day(&app, 4, 2000);
    let before = jobs::count(&mut app.pool.get().unwrap()).unwrap();
    // Four writers create and assign jobs until told to stop.
    let stop = Arc::new(AtomicBool::new(false));
    let writers: Vec<_> = (0..4)
        .map(|w| {
            let (client, base, stop) = (app.client.clone(), app.address.clone(), stop.clone());
            let tech = techs[w];
            tokio::spawn(async move {
                let mut written = 0;
                while !stop.load(Ordering::Relaxed) {
                    // Spread over days: a technician takes 50 jobs a day.
                    let date = format!("2030-01-{:02}", 1 + written % 28);
                    if let Some(job) = create_job(&client, &base, &date).await {
                        let assigned = client
                            .post(format!("{base}/api/v1/assignments"))
                            .json(&json!({"job_id": job, "technician_id": tech, "force": true}))
                            .send()
                            .await
                            .unwrap();
                        assert_eq!(assigned.status(), StatusCode::CREATED);
                        written += 1;
                    }
                }
                written
            })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(200)).await;
    let dir = tempfile::tempdir().unwrap();
    let env = vec![("DATABASE_URL", app.database_url.clone())];
    // Back up until one backup ran while a write landed (the first almost
    // always does; a loaded machine may stall the writers for one).
    let mut attempt = 0;
    let (copy, out, backup_time, during) = loop {
        attempt += 1;
        let copy = dir.path().join(format!("copy-{attempt}.db"));
        let (path, env_copy) = (copy.display().to_string(), env.clone());
        let backup_started = Instant::now();
        let at_start = jobs::count(&mut app.pool.get().unwrap()).unwrap();
        let out = tokio::task::spawn_blocking(move || {
            run_fieldopt(&["backup", path.as_str()], &env_copy)
        })
        .await
        .unwrap();
        let during = jobs::count(&mut app.pool.get().unwrap()).unwrap() - at_start;
        if during > 0 || !out.status.success() || attempt == 5 {
            break (copy, out, backup_started.elapsed(), during);
        }
    };
    assert!(
        during > 0,
        "no write happened while any of {attempt} backups ran"
    );
    tokio::time::sleep(Duration::from_millis(200)).await;
    stop.store(true, Ordering::Relaxed);
    let written: usize = join_all(writers)
        .await
        .into_iter()
        .map(|w| w.unwrap())
        .sum();
    assert!(out.status.success(), "backup failed: {}", text(&out.stderr));
    assert!(
        text(&out.stdout).contains("backed up to"),
        "{}",
        text(&out.stdout)
    );
    assert!(written > 0, "the writers wrote nothing");
    let after = jobs::count(&mut app.pool.get().unwrap()).unwrap();
    // Only the copy is in the folder: no partial file left behind.
    let names: Vec<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(
        names
            .iter()
            .all(|n| n.starts_with("copy-") && n.ends_with(".db")),
        "{names:?}"
    );

    // The copy is consistent: every invariant holds in it.
    let copy_url = format!("sqlite://{}", copy.display());
    let check = run_fieldopt(&["check"], &[("DATABASE_URL", copy_url.clone())]);
    assert_eq!(check.status.code(), Some(0), "{}", text(&check.stdout));
    assert_eq!(text(&check.stdout).trim(), "ok");

    // A server runs on the copy and serves what was there.
    let server = ServerProcess::start(
        &[("DATABASE_URL", copy_url.clone())],
        std::process::Stdio::null(),
    )
    .await;
    let response = app
        .client
        .get(format!("{}/api/v1/jobs?limit=1", server.address))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let total: i64 = response.headers()["x-total-count"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(
        (before..=after).contains(&total),
        "the copy holds {total} jobs; {before} before the backup, {after} after"
    );
    let first = app
        .client
        .get(format!("{}/api/v1/jobs/1", server.address))
        .send()
        .await
        .unwrap();
    assert_eq!(first.status(), StatusCode::OK);
    drop(server);

    // A second backup to the same path is refused; the copy is untouched.
    let size = std::fs::metadata(&copy).unwrap().len();
    let again = run_fieldopt(&["backup", copy.to_str().unwrap()], &env);
    assert!(!again.status.success());
    assert!(
        text(&again.stderr).contains("exists already"),
        "{}",
        text(&again.stderr)
    );
    assert_eq!(std::fs::metadata(&copy).unwrap().len(), size);
    eprintln!(
        "backup under load: {written} writes during the test, {during} while the backup ran \
         ({backup_time:?}, attempt {attempt}), test {:?}",
        started.elapsed()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn backup_of_postgres_is_refused_naming_pg_dump() {
    let Some(app) = spawn_app(Backend::Postgres).await else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("copy");
    let out = run_fieldopt(
        &["backup", path.to_str().unwrap()],
        &[("DATABASE_URL", app.database_url.clone())],
    );
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("pg_dump"),
        "{}",
        text(&out.stderr)
    );
    assert!(!path.exists());
}

async fn check_passes_a_healthy_database_and_names_each_violation(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let env = [("DATABASE_URL", app.database_url.clone())];
    let tech = id(&app.technician(json!({"capacity": 3})).await);
    let jobs: Vec<i64> = join_all((0..3).map(|_| app.job(json!({}))))
        .await
        .iter()
        .map(id)
        .collect();
    for job in &jobs[..2] {
        expect_json(app.assign(*job, tech).await, StatusCode::CREATED).await;
    }
    let healthy = run_fieldopt(&["check"], &env);
    assert_eq!(healthy.status.code(), Some(0), "{}", text(&healthy.stdout));
    assert_eq!(text(&healthy.stdout).trim(), "ok");

    let mut conn = app.pool.get().unwrap();
    admin::run_sql(
        &mut conn,
        &format!(
            "UPDATE technician_day_loads SET active_jobs = 1 WHERE technician_id = {tech};
             DELETE FROM job_events WHERE job_id = {}",
            jobs[2]
        ),
    )
    .unwrap();
    let damaged = run_fieldopt(&["check"], &env);
    let stdout = text(&damaged.stdout);
    assert_eq!(damaged.status.code(), Some(1), "{stdout}");
    let lines: Vec<&str> = stdout.lines().collect();
    assert!(
        lines.iter().any(|l| l.starts_with(&format!(
            "counter_mismatch: technician {tech} on 2030-01-15: the counter says 1"
        ))),
        "{stdout}"
    );
    assert!(
        lines.contains(&format!("history_mismatch: job {} has no history", jobs[2]).as_str()),
        "{stdout}"
    );
    assert!(!stdout.contains("ok\n"), "{stdout}");

    // A database that cannot be read: exit 2, naming why.
    let unreadable = match backend {
        Backend::Sqlite => "sqlite:///nonexistent-folder/fieldopt.db".to_string(),
        Backend::Postgres => "postgres://nobody@127.0.0.1:1/none".to_string(),
    };
    let out = run_fieldopt(&["check"], &[("DATABASE_URL", unreadable)]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains("cannot check"),
        "{}",
        text(&out.stderr)
    );
    // A database without the schema: exit 2, pointing at `fieldopt migrate`.
    let dir = tempfile::tempdir().unwrap();
    let empty = dir.path().join("empty.db");
    std::fs::File::create(&empty).unwrap();
    let out = run_fieldopt(
        &["check"],
        &[("DATABASE_URL", format!("sqlite://{}", empty.display()))],
    );
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains("fieldopt migrate"),
        "{}",
        text(&out.stderr)
    );
}

/// Sends a plan with `apply` for these technicians and jobs.
async fn apply_plan(
    client: Client,
    base: String,
    techs: Vec<i64>,
    jobs: Vec<i64>,
) -> Option<Value> {
    let response = client
        .post(format!("{base}/api/v1/routing/plan"))
        .json(&json!({
            "scheduled_date": DAY, "apply": true, "time_limit_ms": 3000,
            "technician_ids": techs, "job_ids": jobs,
        }))
        .send()
        .await
        .ok()?;
    assert_eq!(
        response.status(),
        StatusCode::OK,
        "a plan in flight was refused"
    );
    response.json().await.ok()
}

async fn sigterm_finishes_requests_in_flight_refuses_new_ones_and_loses_no_write(backend: Backend) {
    let started = Instant::now();
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    bulk_day(&app, 40, 1000);
    let (pending, techs): (Vec<i64>, Vec<i64>) = {
        let mut conn = app.pool.get().unwrap();
        let day = jobs::on_date(&mut conn, DAY.parse().unwrap(), &[JobStatus::Pending]).unwrap();
        let techs = technicians::all_live(&mut conn).unwrap();
        (
            day.iter().map(|j| j.id.0).collect(),
            techs.iter().map(|t| t.id.0).collect(),
        )
    };
    let timeout_s = 20;
    let env = [
        ("DATABASE_URL", app.database_url.clone()),
        ("FIELDOPT_SHUTDOWN_TIMEOUT_S", timeout_s.to_string()),
        ("FIELDOPT_WORKERS", "4".to_string()),
        ("FIELDOPT_POOL_SIZE", "8".to_string()),
    ];
    let server = ServerProcess::start(&env, std::process::Stdio::null()).await;
    let base = server.address.clone();
    let client = fresh_connections();
    // Two slow plans on disjoint halves of the day...
    let plans: Vec<_> = [(0, 20, 0, 500), (20, 40, 500, 1000)]
        .into_iter()
        .map(|(t0, t1, j0, j1)| {
            tokio::spawn(apply_plan(
                client.clone(),
                base.clone(),
                techs[t0..t1].to_vec(),
                pending[j0..j1].to_vec(),
            ))
        })
        .collect();
    // ...and a burst of small writes that goes on until the door closes.
    let writers: Vec<_> = (0..4)
        .map(|_| {
            let (client, base) = (client.clone(), base.clone());
            tokio::spawn(async move {
                let mut created = Vec::new();
                let mut failures = 0;
                while failures < 3 {
                    match create_job(&client, &base, "2030-02-01").await {
                        Some(job) => created.push(job),
                        None => {
                            failures += 1;
                            tokio::time::sleep(Duration::from_millis(20)).await;
                        }
                    }
                }
                created
            })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert!(
        plans.iter().all(|p| !p.is_finished()),
        "the plans finished before SIGTERM: nothing was in flight"
    );
    let port = server.port();
    server.send_sigterm();
    let term_at = Instant::now();
    // New connections are refused while the plans still run.
    let refused_at = loop {
        let address = std::net::SocketAddr::from(([127, 0, 0, 1], port));
        match std::net::TcpStream::connect_timeout(&address, Duration::from_millis(200)) {
            Err(error) if error.kind() == std::io::ErrorKind::ConnectionRefused => {
                break term_at.elapsed();
            }
            Err(error) => panic!("unexpected connect error: {error}"),
            Ok(_) => {
                assert!(
                    term_at.elapsed() < Duration::from_secs(1),
                    "still accepting connections 1 s after SIGTERM"
                );
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
    };
    assert!(
        plans.iter().any(|p| !p.is_finished()),
        "no plan was in flight once connections were refused"
    );
    let status = tokio::task::spawn_blocking(move || server.wait())
        .await
        .unwrap();
    let exited_after = term_at.elapsed();
    assert!(status.success(), "exit status {status:?}");
    assert!(
        exited_after < Duration::from_secs(timeout_s),
        "exit took {exited_after:?}"
    );

    // Every answered write is in the database.
    let mut conn = pool_for(&app.database_url, 1).get().unwrap();
    let mut planned = 0;
    for plan in join_all(plans).await {
        let plan = plan.unwrap().expect("every plan in flight got its answer");
        assert_eq!(plan["applied"], true);
        for route in plan["routes"].as_array().unwrap() {
            let tech = route["technician_id"].as_i64().unwrap();
            for stop in route["stops"].as_array().unwrap() {
                let job = JobId(stop["job_id"].as_i64().unwrap());
                let held = assignments::for_job(&mut conn, job).unwrap();
                assert_eq!(held.technician_id.0, tech, "job {job} of an answered plan");
                planned += 1;
            }
        }
    }
    assert!(planned > 0, "the plans assigned nothing");
    let created: Vec<i64> = join_all(writers)
        .await
        .into_iter()
        .flat_map(|w| w.unwrap())
        .collect();
    let ids: Vec<JobId> = created.iter().copied().map(JobId).collect();
    assert_eq!(
        jobs::find_many(&mut conn, &ids).unwrap().len(),
        ids.len(),
        "a job answered 201 is missing"
    );
    let report = integrity::check(&mut conn).unwrap();
    assert!(report.is_ok(), "{:?}", report.violations);
    eprintln!(
        "{backend:?}: {planned} planned, {} created; refused new connections {refused_at:?} and \
         exited {exited_after:?} after SIGTERM; test {:?}",
        created.len(),
        started.elapsed()
    );
}
