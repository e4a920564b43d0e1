//! `fieldopt-load`: a closed-loop HTTP load driver for fieldopt.
//!
//! `populate` creates technicians and jobs through the API; `run` keeps N
//! connections busy on one scenario and reports, for each of several
//! consecutive measurement windows, requests per second and latency
//! percentiles (one JSON line per window; `bench/load/run.sh` takes medians);
//! `stream-latency` measures how soon events reach stream subscribers.

mod stream_latency;

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use chrono::{Days, NaiveDate};
use clap::{Parser, Subcommand, ValueEnum};
use futures_util::future::join_all;
use futures_util::stream::{self, StreamExt, TryStreamExt};
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
    /// Create technicians and jobs through the API, the jobs spread evenly
    /// over `--days` consecutive days from `--date`.
    Populate {
        #[arg(long, default_value = "http://127.0.0.1:8000")]
        url: String,
        #[arg(long, default_value_t = 200)]
        technicians: usize,
        #[arg(long, default_value_t = 2000)]
        jobs: usize,
        /// The first day of jobs.
        #[arg(long)]
        date: NaiveDate,
        #[arg(long, default_value_t = 1)]
        days: u64,
        /// Requests in flight at once while populating.
        #[arg(long, default_value_t = 32)]
        concurrency: usize,
    },
    /// Measure one scenario.
    Run {
        #[arg(long, default_value = "http://127.0.0.1:8000")]
        url: String,
        #[arg(long, value_enum)]
        scenario: Scenario,
        #[arg(long, default_value_t = 32)]
        connections: usize,
        /// Length of one measurement window.
        #[arg(long, default_value_t = 5.0)]
        duration_secs: f64,
        /// Consecutive measurement windows, each reported on its own line.
        #[arg(long, default_value_t = 1)]
        runs: u32,
        /// Load before the first window, not measured.
        #[arg(long, default_value_t = 500)]
        warmup_ms: u64,
        /// The date whose pending jobs are used.
        #[arg(long)]
        date: NaiveDate,
        /// `time_limit_ms` of the `plan` scenario.
        #[arg(long, default_value_t = 200)]
        plan_time_limit_ms: u64,
        /// Label for the report (backend and data set).
        #[arg(long, default_value = "")]
        label: String,
    },
    /// Measure how soon a created job's event reaches stream subscribers.
    StreamLatency {
        #[arg(long, default_value = "http://127.0.0.1:8000")]
        url: String,
        /// Open event streams.
        #[arg(long, default_value_t = 100)]
        subscribers: usize,
        /// Jobs created, one at a time.
        #[arg(long, default_value_t = 200)]
        events: usize,
        /// Jobs created per second.
        #[arg(long, default_value_t = 50.0)]
        rate: f64,
        /// Label for the report (backend).
        #[arg(long, default_value = "")]
        label: String,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Scenario {
    /// GET /healthz: the reference every other figure is divided by.
    Healthz,
    /// GET /api/v1/technicians/
    Technicians,
    /// GET /api/v1/jobs/?scheduled_date=D
    JobsByDate,
    /// GET /api/v1/jobs/?limit=100
    JobsPage,
    /// GET /api/v1/jobs/{id}
    Job,
    /// GET /api/v1/jobs/summary
    Summary,
    /// GET /api/v1/jobs/{job}/can-do/{tech}
    CanDo,
    /// GET /api/v1/routing/best-tech/{job}
    BestTechnician,
    /// POST /api/v1/routing/plan for the date, without apply
    Plan,
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

/// POSTs every body with `concurrency` requests in flight; any answer but
/// 201 stops the run.
async fn post_all(
    client: &Client,
    url: &str,
    bodies: Vec<Value>,
    concurrency: usize,
) -> anyhow::Result<()> {
    stream::iter(bodies)
        .map(|body| async move {
            let response = client.post(url).json(&body).send().await?;
            if response.status() != StatusCode::CREATED {
                bail!("{url}: {} {}", response.status(), response.text().await?);
            }
            Ok::<(), anyhow::Error>(())
        })
        .buffer_unordered(concurrency.max(1))
        .try_collect::<()>()
        .await
}

async fn populate(
    url: &str,
    technicians: usize,
    count: usize,
    first_day: NaiveDate,
    days: u64,
    concurrency: usize,
) -> anyhow::Result<()> {
    let started = Instant::now();
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
    post_all(
        &client,
        &format!("{url}/api/v1/technicians"),
        techs,
        concurrency,
    )
    .await?;
    let days = days.max(1);
    let jobs = (0..count)
        .map(|i| -> anyhow::Result<Value> {
            let (area, lat, lon) = AREAS[(i * 7) % AREAS.len()];
            let date = first_day
                .checked_add_days(Days::new(i as u64 % days))
                .context("date out of range")?;
            let mut body = json!({
                "type": TYPES[i % 6],
                "customer": format!("Customer {i}"),
                "address": format!("{} Broadway, {area}", 10 + i),
                "scheduled_date": date.to_string(),
                "area": area,
                "priority": 1 + i % 5,
                "duration_minutes": 30 + 15 * (i % 4),
                "latitude": lat + (i % 13) as f64 * 0.003,
                "longitude": lon - (i % 17) as f64 * 0.003,
            });
            if let Some(slot) = SLOTS[i % SLOTS.len()] {
                body["time_slot"] = json!(slot);
            }
            Ok(body)
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    post_all(&client, &format!("{url}/api/v1/jobs"), jobs, concurrency).await?;
    println!(
        "populated {technicians} technicians and {count} jobs over {days} day(s) from {first_day} in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

/// Ids of everything the scenarios need.
#[derive(Debug)]
struct Fixture {
    technicians: Vec<i64>,
    jobs: Vec<i64>,
}

async fn ids(client: &Client, url: &str) -> anyhow::Result<Vec<i64>> {
    let response = client.get(url).send().await?;
    if !response.status().is_success() {
        bail!("{url}: {}", response.status());
    }
    let list: Vec<Value> = response.json().await?;
    Ok(list.iter().filter_map(|v| v["id"].as_i64()).collect())
}

async fn fixture(client: &Client, url: &str, date: NaiveDate) -> anyhow::Result<Fixture> {
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

/// What one measurement window saw.
#[derive(Debug, Default, Clone)]
struct Tally {
    latencies_us: Vec<u64>,
    operations: u64,
    errors: u64,
    conflicts: u64,
}

/// Files each finished request under the window it finished in; requests
/// finishing during the warm-up or after the last window are dropped.
#[derive(Debug)]
struct Recorder {
    measure_from: Instant,
    window: Duration,
    windows: Vec<Tally>,
}

impl Recorder {
    fn new(measure_from: Instant, window: Duration, runs: u32) -> Self {
        Self {
            measure_from,
            window,
            windows: vec![Tally::default(); runs as usize],
        }
    }

    fn current(&mut self) -> Option<&mut Tally> {
        let now = Instant::now();
        if now < self.measure_from {
            return None;
        }
        let index = (now - self.measure_from).as_secs_f64() / self.window.as_secs_f64();
        self.windows.get_mut(index as usize)
    }

    async fn timed(&mut self, request: reqwest::RequestBuilder) {
        let started = Instant::now();
        let status = match request.send().await {
            Ok(response) => {
                let status = response.status();
                // The body is part of the answer: read it all.
                response.bytes().await.ok().map(|_| status)
            }
            Err(_) => None,
        };
        let latency = started.elapsed().as_micros() as u64;
        if let Some(tally) = self.current() {
            tally.latencies_us.push(latency);
            match status {
                Some(s) if s.is_success() => {}
                // Two connections may race for a job: a 409 is an answer.
                Some(StatusCode::CONFLICT) => tally.conflicts += 1,
                _ => tally.errors += 1,
            }
        }
    }

    fn operation_done(&mut self) {
        if let Some(tally) = self.current() {
            tally.operations += 1;
        }
    }
}

/// What every worker shares.
#[derive(Debug)]
struct Shared {
    client: Client,
    url: String,
    scenario: Scenario,
    fixture: Fixture,
    date: NaiveDate,
    connections: usize,
    plan_time_limit_ms: u64,
    measure_from: Instant,
    window: Duration,
    runs: u32,
}

async fn worker(shared: Arc<Shared>, index: usize) -> Vec<Tally> {
    let Shared {
        client,
        url,
        fixture,
        date,
        connections,
        ..
    } = &*shared;
    let until = shared.measure_from + shared.window * shared.runs;
    let mut recorder = Recorder::new(shared.measure_from, shared.window, shared.runs);
    let mut step = index;
    // Each worker owns every `connections`-th job, so pairs rarely collide.
    let own_jobs: Vec<i64> = fixture
        .jobs
        .iter()
        .skip(index)
        .step_by(*connections)
        .copied()
        .collect();
    let own_tech = fixture.technicians[index % fixture.technicians.len()];
    while Instant::now() < until {
        let job = fixture.jobs[step % fixture.jobs.len()];
        match shared.scenario {
            Scenario::Healthz => recorder.timed(client.get(format!("{url}/healthz"))).await,
            Scenario::Technicians => {
                recorder
                    .timed(client.get(format!("{url}/api/v1/technicians/")))
                    .await;
            }
            Scenario::JobsByDate => {
                recorder
                    .timed(client.get(format!("{url}/api/v1/jobs/?scheduled_date={date}")))
                    .await;
            }
            Scenario::JobsPage => {
                recorder
                    .timed(client.get(format!("{url}/api/v1/jobs/?limit=100")))
                    .await;
            }
            Scenario::Job => {
                recorder
                    .timed(client.get(format!("{url}/api/v1/jobs/{job}")))
                    .await;
            }
            Scenario::Summary => {
                recorder
                    .timed(client.get(format!("{url}/api/v1/jobs/summary")))
                    .await;
            }
            Scenario::CanDo => {
                let tech = fixture.technicians[(step / 7) % fixture.technicians.len()];
                recorder
                    .timed(client.get(format!("{url}/api/v1/jobs/{job}/can-do/{tech}")))
                    .await;
            }
            Scenario::BestTechnician => {
                recorder
                    .timed(client.get(format!("{url}/api/v1/routing/best-tech/{job}")))
                    .await;
            }
            Scenario::Plan => {
                let body = json!({
                    "scheduled_date": date.to_string(),
                    "apply": false,
                    "time_limit_ms": shared.plan_time_limit_ms,
                });
                recorder
                    .timed(
                        client
                            .post(format!("{url}/api/v1/routing/plan"))
                            .json(&body),
                    )
                    .await;
            }
            Scenario::AssignUnassign => {
                let Some(&job) = own_jobs.get(step / connections % own_jobs.len().max(1)) else {
                    // More connections than jobs: this one has nothing to do.
                    break;
                };
                let assign = client
                    .post(format!("{url}/api/v1/assignments"))
                    .json(&json!({"job_id": job, "technician_id": own_tech, "force": true}));
                recorder.timed(assign).await;
                let unassign = client
                    .post(format!("{url}/api/v1/assignments/unassign"))
                    .json(&json!({"job_id": job}));
                recorder.timed(unassign).await;
            }
        }
        recorder.operation_done();
        step += connections;
    }
    recorder.windows
}

/// The value at percentile `p` (nearest rank) of sorted microseconds, in ms.
fn percentile(sorted: &[u64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = ((p / 100.0) * (sorted.len() - 1) as f64).round() as usize;
    sorted[rank] as f64 / 1000.0
}

fn scenario_name(scenario: Scenario) -> String {
    scenario
        .to_possible_value()
        .map_or_else(|| format!("{scenario:?}"), |v| v.get_name().to_owned())
}

#[allow(clippy::too_many_arguments)]
async fn run(
    url: String,
    scenario: Scenario,
    connections: usize,
    window: Duration,
    runs: u32,
    warmup: Duration,
    date: NaiveDate,
    plan_time_limit_ms: u64,
    label: String,
) -> anyhow::Result<()> {
    let client = Client::builder()
        .pool_max_idle_per_host(connections)
        .timeout(Duration::from_secs(120))
        .build()?;
    let fixture = fixture(&client, &url, date).await.context("loading ids")?;
    let shared = Arc::new(Shared {
        client,
        url,
        scenario,
        fixture,
        date,
        connections,
        plan_time_limit_ms,
        measure_from: Instant::now() + warmup,
        window,
        runs,
    });
    let workers = (0..connections).map(|index| tokio::spawn(worker(shared.clone(), index)));
    let mut windows = vec![Tally::default(); runs as usize];
    for tallies in join_all(workers).await {
        for (all, tally) in windows.iter_mut().zip(tallies?) {
            all.operations += tally.operations;
            all.errors += tally.errors;
            all.conflicts += tally.conflicts;
            all.latencies_us.extend(tally.latencies_us);
        }
    }
    let seconds = window.as_secs_f64();
    for (run, mut all) in windows.into_iter().enumerate() {
        all.latencies_us.sort_unstable();
        let requests = all.latencies_us.len();
        let report = json!({
            "label": label, "scenario": scenario_name(scenario), "connections": connections,
            "run": run + 1, "seconds": seconds, "requests": requests,
            "requests_per_sec": requests as f64 / seconds,
            "operations_per_sec": all.operations as f64 / seconds,
            "p50_ms": percentile(&all.latencies_us, 50.0),
            "p99_ms": percentile(&all.latencies_us, 99.0),
            "p999_ms": percentile(&all.latencies_us, 99.9),
            "max_ms": percentile(&all.latencies_us, 100.0),
            "errors": all.errors, "conflicts": all.conflicts,
        });
        println!("{report}");
    }
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
            days,
            concurrency,
        } => populate(&url, technicians, jobs, date, days, concurrency).await,
        Command::Run {
            url,
            scenario,
            connections,
            duration_secs,
            runs,
            warmup_ms,
            date,
            plan_time_limit_ms,
            label,
        } => {
            if !(duration_secs.is_finite() && duration_secs > 0.0) {
                bail!("--duration-secs must be positive");
            }
            run(
                url,
                scenario,
                connections.max(1),
                Duration::from_secs_f64(duration_secs),
                runs.max(1),
                Duration::from_millis(warmup_ms),
                date,
                plan_time_limit_ms,
                label,
            )
            .await
        }
        Command::StreamLatency {
            url,
            subscribers,
            events,
            rate,
            label,
        } => stream_latency::stream_latency(&url, subscribers.max(1), events.max(1), rate, &label).await,
    }
}
