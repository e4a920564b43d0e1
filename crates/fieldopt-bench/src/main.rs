//! `fieldopt-load`: a closed-loop HTTP load driver for fieldopt.
//!
//! `populate` creates technicians and jobs through the API; `run` keeps N
//! connections busy for a while on one scenario and reports requests per
//! second and latency percentiles.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use clap::{Parser, Subcommand, ValueEnum};
use futures_util::future::join_all;
use reqwest::{Client, StatusCode};
use serde_json::{Value, json};

#[derive(Debug, Parser)]
#[command(name = "fieldopt-load", about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Create technicians and jobs on one date through the API.
    Populate {
        #[arg(long, default_value = "http://127.0.0.1:8000")]
        url: String,
        #[arg(long, default_value_t = 200)]
        technicians: usize,
        #[arg(long, default_value_t = 2000)]
        jobs: usize,
        #[arg(long)]
        date: String,
    },
    /// Measure one scenario.
    Run {
        #[arg(long, default_value = "http://127.0.0.1:8000")]
        url: String,
        #[arg(long, value_enum)]
        scenario: Scenario,
        #[arg(long, default_value_t = 32)]
        connections: usize,
        #[arg(long, default_value_t = 10)]
        duration_secs: u64,
        /// The date whose jobs are used.
        #[arg(long)]
        date: String,
        /// Label for the report (backend and data set).
        #[arg(long, default_value = "")]
        label: String,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Scenario {
    /// GET /api/v1/technicians/
    Technicians,
    /// GET /api/v1/jobs/?scheduled_date=D
    JobsByDate,
    /// GET /api/v1/jobs/{id}
    Job,
    /// GET /api/v1/jobs/summary
    Summary,
    /// GET /api/v1/jobs/{job}/can-do/{tech}
    CanDo,
    /// POST /api/v1/assignments then POST /api/v1/assignments/unassign
    AssignUnassign,
}

const AREAS: [(&str, f64, f64); 5] = [
    ("manhattan", 40.7831, -73.9712),
    ("brooklyn", 40.6782, -73.9442),
    ("queens", 40.7282, -73.7949),
    ("bronx", 40.8448, -73.8648),
    ("staten_island", 40.5795, -74.1502),
];
const TYPES: [&str; 6] = [
    "install",
    "repair",
    "maintenance",
    "disconnect",
    "service_change",
    "inspection",
];
const SLOTS: [Option<&str>; 4] = [
    Some("08:00-12:00"),
    Some("12:00-16:00"),
    Some("13:00-17:00"),
    None,
];

async fn post_all(client: &Client, url: &str, bodies: Vec<Value>) -> anyhow::Result<()> {
    for chunk in bodies.chunks(16) {
        let sends = chunk.iter().map(|body| client.post(url).json(body).send());
        for response in join_all(sends).await {
            let response = response?;
            if response.status() != StatusCode::CREATED {
                bail!("{url}: {} {}", response.status(), response.text().await?);
            }
        }
    }
    Ok(())
}

async fn populate(url: &str, technicians: usize, count: usize, date: &str) -> anyhow::Result<()> {
    let client = Client::new();
    let techs = (0..technicians)
        .map(|i| {
            let (area, lat, lon) = AREAS[i % AREAS.len()];
            json!({
                "name": format!("Load Tech {i}"),
                "skills": [TYPES[i % 6], TYPES[(i + 1) % 6], TYPES[(i + 3) % 6]],
                "areas": [area],
                "capacity": 8 + i % 5,
                "home_latitude": lat + (i % 7) as f64 * 0.005,
                "home_longitude": lon - (i % 11) as f64 * 0.004,
            })
        })
        .collect();
    post_all(&client, &format!("{url}/api/v1/technicians"), techs).await?;
    let jobs = (0..count)
        .map(|i| {
            let (area, lat, lon) = AREAS[(i * 7) % AREAS.len()];
            let mut body = json!({
                "type": TYPES[i % 6],
                "customer": format!("Customer {i}"),
                "address": format!("{} Broadway, {area}", 10 + i),
                "scheduled_date": date,
                "area": area,
                "priority": 1 + i % 5,
                "duration_minutes": 30 + 15 * (i % 4),
                "latitude": lat + (i % 13) as f64 * 0.003,
                "longitude": lon - (i % 17) as f64 * 0.003,
            });
            if let Some(slot) = SLOTS[i % SLOTS.len()] {
                body["time_slot"] = json!(slot);
            }
            body
        })
        .collect();
    post_all(&client, &format!("{url}/api/v1/jobs"), jobs).await?;
    println!("populated {technicians} technicians and {count} jobs on {date}");
    Ok(())
}

/// Ids of everything the scenarios need.
#[derive(Debug)]
struct Fixture {
    technicians: Vec<i64>,
    jobs: Vec<i64>,
}

async fn ids(client: &Client, url: &str) -> anyhow::Result<Vec<i64>> {
    let list: Vec<Value> = client.get(url).send().await?.json().await?;
    Ok(list.iter().filter_map(|v| v["id"].as_i64()).collect())
}

async fn fixture(client: &Client, url: &str, date: &str) -> anyhow::Result<Fixture> {
    let technicians = ids(client, &format!("{url}/api/v1/technicians?limit=5000")).await?;
    let jobs = ids(
        client,
        &format!("{url}/api/v1/jobs?scheduled_date={date}&status=pending&limit=5000"),
    )
    .await?;
    if technicians.is_empty() || jobs.is_empty() {
        bail!("no technicians or pending jobs on {date}: populate or seed first");
    }
    Ok(Fixture { technicians, jobs })
}

/// What one worker saw.
#[derive(Debug, Default)]
struct Tally {
    latencies_us: Vec<u64>,
    operations: u64,
    errors: u64,
    conflicts: u64,
}

async fn timed(request: reqwest::RequestBuilder, tally: &mut Tally) -> Option<StatusCode> {
    let started = Instant::now();
    let outcome = request.send().await;
    let status = match outcome {
        Ok(response) => {
            let status = response.status();
            let _ = response.bytes().await;
            Some(status)
        }
        Err(_) => None,
    };
    tally
        .latencies_us
        .push(started.elapsed().as_micros() as u64);
    match status {
        Some(s) if s.is_success() => {}
        Some(StatusCode::CONFLICT) => tally.conflicts += 1,
        _ => tally.errors += 1,
    }
    status
}

#[allow(clippy::too_many_arguments)]
async fn worker(
    client: Client,
    url: Arc<String>,
    scenario: Scenario,
    fixture: Arc<Fixture>,
    date: Arc<String>,
    index: usize,
    connections: usize,
    measure_from: Instant,
    until: Instant,
) -> Tally {
    let mut tally = Tally::default();
    let mut step = index;
    // Each worker owns every `connections`-th job, so pairs rarely collide.
    let own_jobs: Vec<i64> = fixture
        .jobs
        .iter()
        .skip(index)
        .step_by(connections)
        .copied()
        .collect();
    let tech = fixture.technicians[index % fixture.technicians.len()];
    while Instant::now() < until {
        let warm = Instant::now() < measure_from;
        let mut local = Tally::default();
        match scenario {
            Scenario::Technicians => {
                timed(client.get(format!("{url}/api/v1/technicians/")), &mut local).await;
            }
            Scenario::JobsByDate => {
                timed(
                    client.get(format!("{url}/api/v1/jobs/?scheduled_date={date}")),
                    &mut local,
                )
                .await;
            }
            Scenario::Job => {
                let job = fixture.jobs[step % fixture.jobs.len()];
                timed(client.get(format!("{url}/api/v1/jobs/{job}")), &mut local).await;
            }
            Scenario::Summary => {
                timed(client.get(format!("{url}/api/v1/jobs/summary")), &mut local).await;
            }
            Scenario::CanDo => {
                let job = fixture.jobs[step % fixture.jobs.len()];
                let tech = fixture.technicians[(step / 7) % fixture.technicians.len()];
                timed(
                    client.get(format!("{url}/api/v1/jobs/{job}/can-do/{tech}")),
                    &mut local,
                )
                .await;
            }
            Scenario::AssignUnassign => {
                let Some(&job) = own_jobs.get(step % own_jobs.len().max(1)) else {
                    break;
                };
                let assign = client
                    .post(format!("{url}/api/v1/assignments"))
                    .json(&json!({"job_id": job, "technician_id": tech, "force": true}));
                timed(assign, &mut local).await;
                let unassign = client
                    .post(format!("{url}/api/v1/assignments/unassign"))
                    .json(&json!({"job_id": job}));
                timed(unassign, &mut local).await;
            }
        }
        step += connections;
        if !warm {
            tally.operations += 1;
            tally.errors += local.errors;
            tally.conflicts += local.conflicts;
            tally.latencies_us.extend(local.latencies_us);
        }
    }
    tally
}

fn percentile(sorted: &[u64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = ((p / 100.0) * (sorted.len() - 1) as f64).round() as usize;
    sorted[rank] as f64 / 1000.0
}

async fn run(
    url: String,
    scenario: Scenario,
    connections: usize,
    duration: Duration,
    date: String,
    label: String,
) -> anyhow::Result<()> {
    let client = Client::builder()
        .pool_max_idle_per_host(connections)
        .build()?;
    let fixture = Arc::new(fixture(&client, &url, &date).await.context("loading ids")?);
    let warmup = Duration::from_secs(1);
    let measure_from = Instant::now() + warmup;
    let until = measure_from + duration;
    let url = Arc::new(url);
    let date = Arc::new(date);
    let workers = (0..connections).map(|index| {
        tokio::spawn(worker(
            client.clone(),
            url.clone(),
            scenario,
            fixture.clone(),
            date.clone(),
            index,
            connections,
            measure_from,
            until,
        ))
    });
    let mut all = Tally::default();
    for tally in join_all(workers).await {
        let tally = tally?;
        all.operations += tally.operations;
        all.errors += tally.errors;
        all.conflicts += tally.conflicts;
        all.latencies_us.extend(tally.latencies_us);
    }
    all.latencies_us.sort_unstable();
    let seconds = duration.as_secs_f64();
    let requests = all.latencies_us.len() as f64;
    let name = format!("{scenario:?}");
    let report = json!({
        "label": label, "scenario": name, "connections": connections, "seconds": seconds,
        "requests_per_sec": requests / seconds, "operations_per_sec": all.operations as f64 / seconds,
        "p50_ms": percentile(&all.latencies_us, 50.0), "p99_ms": percentile(&all.latencies_us, 99.0),
        "max_ms": percentile(&all.latencies_us, 100.0), "errors": all.errors, "conflicts": all.conflicts,
    });
    println!("{report}");
    Ok(())
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    match Cli::parse().command {
        Command::Populate {
            url,
            technicians,
            jobs,
            date,
        } => populate(&url, technicians, jobs, &date).await,
        Command::Run {
            url,
            scenario,
            connections,
            duration_secs,
            date,
            label,
        } => {
            run(
                url,
                scenario,
                connections.max(1),
                Duration::from_secs(duration_secs),
                date,
                label,
            )
            .await
        }
    }
}
