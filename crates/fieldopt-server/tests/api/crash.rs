//! Crash safety: writers drive the real `fieldopt` binary with batch
//! assigns, reassigns, unassigns, status changes and applied day plans
//! while the test kills it with SIGKILL at random moments, restarts it on
//! the same database, and checks after every restart that every invariant
//! holds (`fieldopt_store::integrity`), no day is over capacity, every
//! batch is whole or absent, and every write answered 2xx is there.
//!
//! `FIELDOPT_CRASH_SEED` replays a run (the seed is printed);
//! `FIELDOPT_CRASH_KILLS` sets the number of kills (default 20).

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use fieldopt_domain::{AssignmentId, JobId};
use fieldopt_engine::random::SplitMix64;
use fieldopt_store::{DbPool, Page, assignments, events, integrity};
use futures_util::future::join_all;
use reqwest::{Client, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{Backend, ServerProcess, TestDatabase, id, pool_for};

/// Batches, reassigns and the job lifecycle happen on this day.
const WORK_DAY: &str = "2030-03-04";
/// Day plans are applied on this one.
const PLAN_DAY: &str = "2030-03-05";
const WRITERS: usize = 4;
const CHUNKS_PER_WRITER: usize = 8;
const CHUNK: usize = 3;
const LIFECYCLE_PER_WRITER: usize = 12;
const TECHNICIANS: usize = 6;
const PLAN_JOBS: usize = 24;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sigkill_at_random_moments_loses_no_answered_write_on_sqlite() {
    crash_run(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sigkill_at_random_moments_loses_no_answered_write_on_postgres() {
    crash_run(Backend::Postgres).await;
}

/// An effect an answered request promised: (job, event kind, new status,
/// technician if the event names a known one).
type Effect = (i64, &'static str, &'static str, Option<i64>);

/// What the writers were told.
#[derive(Debug, Default)]
struct Ledger {
    /// How many 2xx answers promised each effect.
    effects: HashMap<Effect, usize>,
    /// Assignment ids answered 2xx: (job, technician).
    assignments: HashMap<i64, (i64, i64)>,
    answered: usize,
    refused: usize,
    lost: usize,
    plans: usize,
    server_errors: Vec<String>,
}

impl Ledger {
    fn promise(&mut self, effect: Effect) {
        *self.effects.entry(effect).or_default() += 1;
    }
}

type Shared = Arc<Mutex<Ledger>>;

/// The fixed cast: technicians, each writer's chunks and lifecycle jobs,
/// the plan day's jobs.
#[derive(Debug, Clone)]
struct Cast {
    technicians: Vec<i64>,
    chunks: Vec<Vec<Vec<i64>>>,
    lifecycle: Vec<Vec<i64>>,
    plan_jobs: Vec<i64>,
}

fn env_number(name: &str) -> Option<u64> {
    std::env::var(name).ok().and_then(|v| v.trim().parse().ok())
}

async fn crash_run(backend: Backend) {
    let Some((_database, url)) = TestDatabase::create(backend) else {
        return;
    };
    let started = Instant::now();
    let seed = env_number("FIELDOPT_CRASH_SEED").unwrap_or_else(|| {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(1, |d| d.as_nanos() as u64)
    });
    let kills = env_number("FIELDOPT_CRASH_KILLS").unwrap_or(20);
    eprintln!("{backend:?} crash run: FIELDOPT_CRASH_SEED={seed} FIELDOPT_CRASH_KILLS={kills}");
    let mut rng = SplitMix64::new(seed);
    let env = [
        ("DATABASE_URL", url.clone()),
        ("FIELDOPT_WORKERS", "4".to_string()),
        ("FIELDOPT_POOL_SIZE", "8".to_string()),
    ];
    let client = Client::builder()
        .timeout(Duration::from_secs(20))
        .build()
        .unwrap();
    let server = ServerProcess::start(&env, std::process::Stdio::null()).await;
    let cast = seed_cast(&client, &server.address).await;
    drop(server);
    let pool = pool_for(&url, 2);
    let ledger: Shared = Arc::default();
    for kill in 0..kills {
        let server = ServerProcess::start(&env, std::process::Stdio::null()).await;
        let stop = Arc::new(AtomicBool::new(false));
        let mut writers = Vec::new();
        for w in 0..WRITERS {
            writers.push(tokio::spawn(work_day_writer(
                client.clone(),
                server.address.clone(),
                cast.clone(),
                w,
                SplitMix64::new(rng.next_u64()),
                stop.clone(),
                ledger.clone(),
            )));
        }
        writers.push(tokio::spawn(plan_writer(
            client.clone(),
            server.address.clone(),
            stop.clone(),
            ledger.clone(),
        )));
        let alive = Duration::from_millis(150 + rng.below(900) as u64);
        tokio::time::sleep(alive).await;
        server.kill();
        stop.store(true, Ordering::Relaxed);
        join_all(writers).await.into_iter().for_each(|w| w.unwrap());
        verify(&pool, &cast, &ledger, &format!("after kill {}", kill + 1));
    }
    // A last restart on the crashed database: it serves and is still whole.
    let server = ServerProcess::start(&env, std::process::Stdio::null()).await;
    let ready = client
        .get(format!("{}/readyz", server.address))
        .send()
        .await
        .unwrap();
    assert_eq!(ready.status(), StatusCode::OK);
    drop(server);
    verify(&pool, &cast, &ledger, "at the end");
    let ledger = ledger.lock().unwrap();
    assert!(
        ledger.server_errors.is_empty(),
        "5xx answers: {:?}",
        ledger.server_errors
    );
    assert!(
        ledger.answered >= 100,
        "too few writes succeeded: {ledger:?}"
    );
    assert!(ledger.plans > 0, "no plan was applied");
    eprintln!(
        "{backend:?} crash run (seed {seed}): {kills} kills, {} answered, {} refused, {} cut \
         by a kill, {} plans applied, {:?}",
        ledger.answered,
        ledger.refused,
        ledger.lost,
        ledger.plans,
        started.elapsed()
    );
}

async fn post(client: &Client, url: String, body: &Value) -> Result<Value, Option<StatusCode>> {
    let response = client.post(url).json(body).send().await.map_err(|_| None)?;
    let status = response.status();
    if status.is_success() {
        Ok(response.json().await.unwrap_or(Value::Null))
    } else {
        Err(Some(status))
    }
}

async fn seed_cast(client: &Client, base: &str) -> Cast {
    let mut technicians = Vec::new();
    for t in 0..TECHNICIANS {
        let body = json!({
            "name": format!("Crash {t}"), "skills": ["install", "repair"], "capacity": 12,
            "home_latitude": 40.70 + 0.01 * t as f64, "home_longitude": -74.0,
        });
        technicians.push(id(&post(
            client,
            format!("{base}/api/v1/technicians"),
            &body,
        )
        .await
        .expect("technician")));
    }
    let job = |date: &'static str, k: usize| {
        json!({
            "type": "install", "customer": format!("Crash {k}"), "address": "1 Crash St",
            "scheduled_date": date, "duration_minutes": 30,
            "latitude": 40.70 + 0.002 * (k % 20) as f64, "longitude": -74.0 + 0.002 * (k % 7) as f64,
        })
    };
    let work_jobs = WRITERS * (CHUNKS_PER_WRITER * CHUNK + LIFECYCLE_PER_WRITER);
    let mut created = Vec::new();
    for k in 0..work_jobs + PLAN_JOBS {
        let date = if k < work_jobs { WORK_DAY } else { PLAN_DAY };
        created.push(id(&post(
            client,
            format!("{base}/api/v1/jobs"),
            &job(date, k),
        )
        .await
        .expect("job")));
    }
    let plan_jobs = created.split_off(work_jobs);
    let per_writer = work_jobs / WRITERS;
    let mut chunks = Vec::new();
    let mut lifecycle = Vec::new();
    for mine in created.chunks(per_writer) {
        let (batched, single) = mine.split_at(CHUNKS_PER_WRITER * CHUNK);
        chunks.push(batched.chunks(CHUNK).map(<[i64]>::to_vec).collect());
        lifecycle.push(single.to_vec());
    }
    Cast {
        technicians,
        chunks,
        lifecycle,
        plan_jobs,
    }
}

/// Records an answer: 2xx promises `effects`, 5xx is a bug, a cut request
/// is lost (it may or may not have been applied).
fn record(ledger: &Shared, outcome: &Result<Value, Option<StatusCode>>, what: &str) {
    let mut ledger = ledger.lock().unwrap();
    match outcome {
        Ok(_) => ledger.answered += 1,
        Err(Some(status)) if status.is_server_error() => {
            ledger.server_errors.push(format!("{what}: {status}"));
        }
        Err(Some(_)) => ledger.refused += 1,
        Err(None) => ledger.lost += 1,
    }
}

/// One writer of the work day: batch-assigns, reassigns and batch-unassigns
/// its own chunks of three jobs (only ever whole), and walks its lifecycle
/// jobs through assign, start, complete, fail and cancel.
async fn work_day_writer(
    client: Client,
    base: String,
    cast: Cast,
    writer: usize,
    mut rng: SplitMix64,
    stop: Arc<AtomicBool>,
    ledger: Shared,
) {
    let chunks = &cast.chunks[writer];
    let lifecycle = &cast.lifecycle[writer];
    while !stop.load(Ordering::Relaxed) {
        let tech = *rng.pick(&cast.technicians);
        let chunk = rng.pick(chunks).clone();
        let roll = rng.below(100);
        let (what, outcome) = if roll < 35 {
            let body = json!({"job_ids": chunk, "technician_id": tech, "force": true});
            let outcome = post(
                &client,
                format!("{base}/api/v1/assignments/batch-assign"),
                &body,
            )
            .await;
            if let Ok(answer) = &outcome {
                let mut ledger = ledger.lock().unwrap();
                for a in answer["assignments"].as_array().expect("assignments") {
                    let (job, assignment) = (a["job_id"].as_i64().unwrap(), id(a));
                    ledger.promise((job, "assigned", "assigned", Some(tech)));
                    ledger.assignments.insert(assignment, (job, tech));
                }
            }
            ("batch-assign", outcome)
        } else if roll < 55 {
            let job = *rng.pick(&chunk);
            let body = json!({"job_id": job, "new_technician_id": tech, "force": true});
            let outcome = post(
                &client,
                format!("{base}/api/v1/assignments/reassign"),
                &body,
            )
            .await;
            if let Ok(answer) = &outcome {
                let mut ledger = ledger.lock().unwrap();
                ledger.promise((job, "reassigned", "assigned", Some(tech)));
                ledger.assignments.insert(id(answer), (job, tech));
            }
            ("reassign", outcome)
        } else if roll < 75 {
            let body = json!({"job_ids": chunk});
            let outcome = post(
                &client,
                format!("{base}/api/v1/assignments/batch-unassign"),
                &body,
            )
            .await;
            if outcome.is_ok() {
                let mut ledger = ledger.lock().unwrap();
                for job in &chunk {
                    ledger.promise((*job, "unassigned", "pending", None));
                }
            }
            ("batch-unassign", outcome)
        } else {
            let job = *rng.pick(lifecycle);
            let step = rng.below(10);
            if step < 4 {
                let body = json!({"job_id": job, "technician_id": tech, "force": true});
                let outcome = post(&client, format!("{base}/api/v1/assignments"), &body).await;
                if let Ok(answer) = &outcome {
                    let mut ledger = ledger.lock().unwrap();
                    ledger.promise((job, "assigned", "assigned", Some(tech)));
                    ledger.assignments.insert(id(answer), (job, tech));
                }
                ("assign", outcome)
            } else {
                let (action, status) = match step {
                    4..=6 => ("start", "in_progress"),
                    7 => ("complete", "completed"),
                    8 => ("fail", "failed"),
                    _ => ("cancel", "cancelled"),
                };
                let outcome = post(
                    &client,
                    format!("{base}/api/v1/jobs/{job}/{action}"),
                    &json!({}),
                )
                .await;
                if outcome.is_ok() {
                    ledger
                        .lock()
                        .unwrap()
                        .promise((job, "status_changed", status, None));
                }
                (action, outcome)
            }
        };
        record(&ledger, &outcome, what);
        if matches!(outcome, Err(None)) {
            // The server is gone (killed); wait for the next one.
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

/// Plans the plan day again and again: unassigns it (one batch), then
/// applies a fresh plan, so every stop of an answered plan is a new
/// assignment it promised.
async fn plan_writer(client: Client, base: String, stop: Arc<AtomicBool>, ledger: Shared) {
    while !stop.load(Ordering::Relaxed) {
        let listed = client
            .get(format!(
                "{base}/api/v1/jobs?scheduled_date={PLAN_DAY}&status=assigned&limit=500"
            ))
            .send()
            .await;
        let Ok(listed) = listed else {
            tokio::time::sleep(Duration::from_millis(20)).await;
            continue;
        };
        let Ok(Value::Array(assigned)) = listed.json::<Value>().await else {
            continue;
        };
        let assigned: Vec<i64> = assigned.iter().map(id).collect();
        if !assigned.is_empty() {
            let body = json!({"job_ids": assigned});
            let outcome = post(
                &client,
                format!("{base}/api/v1/assignments/batch-unassign"),
                &body,
            )
            .await;
            record(&ledger, &outcome, "plan-day unassign");
            if outcome.is_err() {
                continue;
            }
            let mut ledger = ledger.lock().unwrap();
            for job in &assigned {
                ledger.promise((*job, "unassigned", "pending", None));
            }
        }
        let body = json!({"scheduled_date": PLAN_DAY, "apply": true, "time_limit_ms": 200});
        let outcome = post(&client, format!("{base}/api/v1/routing/plan"), &body).await;
        if let Ok(plan) = &outcome {
            let mut ledger = ledger.lock().unwrap();
            ledger.plans += 1;
            for route in plan["routes"].as_array().expect("routes") {
                let tech = route["technician_id"].as_i64().unwrap();
                for stop in route["stops"].as_array().expect("stops") {
                    let job = stop["job_id"].as_i64().unwrap();
                    ledger.promise((job, "assigned", "assigned", Some(tech)));
                }
            }
        }
        record(&ledger, &outcome, "plan");
    }
}

/// The database after a crash: every invariant, no day over capacity,
/// batches whole or absent, every answered effect present.
fn verify(pool: &DbPool, cast: &Cast, ledger: &Shared, when: &str) {
    let mut conn = pool.get().unwrap();
    let report = integrity::check(&mut conn).unwrap();
    assert!(
        report.is_ok() && report.notes.is_empty(),
        "{when}: {:?} {:?}",
        report.violations,
        report.notes
    );
    let all_jobs = cast
        .chunks
        .iter()
        .flatten()
        .flatten()
        .chain(cast.lifecycle.iter().flatten())
        .chain(&cast.plan_jobs);
    let page = Page {
        limit: 5000,
        offset: 0,
    };
    let mut history = Vec::new();
    for job in all_jobs {
        history.extend(events::for_job(&mut conn, JobId(*job), page).unwrap().items);
    }
    let ledger = ledger.lock().unwrap();

    // Every effect answered 2xx is in the history, as often as answered.
    let mut seen: HashMap<Effect, usize> = HashMap::new();
    for event in &history {
        let (job, kind, status) = (
            event.job_id.0,
            event.kind.as_str(),
            event.new_status.as_str(),
        );
        *seen.entry((job, kind, status, None)).or_default() += 1;
        if let Some(tech) = event.technician_id {
            *seen.entry((job, kind, status, Some(tech.0))).or_default() += 1;
        }
    }
    for (effect, promised) in &ledger.effects {
        let found = seen.get(effect).copied().unwrap_or(0);
        assert!(
            found >= *promised,
            "{when}: {effect:?} was answered 2xx {promised} times but is in the history {found} times"
        );
    }
    // Every assignment id answered 2xx exists, for its job and technician.
    for (assignment, (job, tech)) in &ledger.assignments {
        let (found, _ended) = assignments::find(&mut conn, AssignmentId(*assignment))
            .unwrap_or_else(|e| panic!("{when}: answered assignment {assignment}: {e}"));
        assert_eq!(
            (found.job_id.0, found.technician_id.0),
            (*job, *tech),
            "{when}: assignment {assignment}"
        );
    }
    // Batches are whole or absent: the work day's chunks are only ever
    // assigned and unassigned whole, so every assign or unassign written by
    // one request (one timestamp) holds whole chunks.
    let chunk_of: HashMap<i64, &Vec<i64>> = cast
        .chunks
        .iter()
        .flatten()
        .flat_map(|chunk| chunk.iter().map(move |job| (*job, chunk)))
        .collect();
    let mut groups: HashMap<(&str, chrono::DateTime<chrono::Utc>), HashSet<i64>> = HashMap::new();
    for event in &history {
        let kind = event.kind.as_str();
        if matches!(kind, "assigned" | "unassigned") && chunk_of.contains_key(&event.job_id.0) {
            groups
                .entry((kind, event.at))
                .or_default()
                .insert(event.job_id.0);
        }
    }
    for ((kind, at), jobs) in &groups {
        for job in jobs {
            let chunk = chunk_of[job];
            assert!(
                chunk.iter().all(|j| jobs.contains(j)),
                "{when}: a partial batch: {kind} at {at} holds {jobs:?}, chunk {chunk:?}"
            );
        }
    }
}
