//! `fieldopt-load stream-latency`: how long a committed change takes to
//! reach the subscribers of the event stream.
//!
//! Opens N Server-Sent Events subscribers, then creates jobs one at a time
//! at a steady rate and notes, per subscriber and job, when its
//! `job.created` event arrived. The latency is measured from the moment the
//! `POST` was sent: an upper bound on commit-to-arrival (the commit happens
//! inside that request), reported with the `POST`'s own latency beside it.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use reqwest::{Client, StatusCode};
use serde_json::{Value, json};
use tokio::sync::mpsc;

/// One event's arrival at one subscriber.
struct Arrival {
    job: i64,
    at: Instant,
}

/// Reads one subscriber's stream until it ends, reporting each job
/// created.
async fn subscribe(mut response: reqwest::Response, arrivals: mpsc::UnboundedSender<Arrival>) {
    let mut buffer = String::new();
    while let Ok(Some(chunk)) = response.chunk().await {
        let at = Instant::now();
        buffer.push_str(&String::from_utf8_lossy(&chunk));
        while let Some(end) = buffer.find("\n\n") {
            let block: String = buffer.drain(..end + 2).collect();
            let Some(data) = block.lines().find_map(|line| line.strip_prefix("data: ")) else {
                continue;
            };
            let Ok(event) = serde_json::from_str::<Value>(data) else {
                continue;
            };
            if let Some(job) = event["data"]["id"].as_i64() {
                if arrivals.send(Arrival { job, at }).is_err() {
                    return;
                }
            }
        }
    }
}

fn percentile_ms(sorted: &[Duration], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = ((p / 100.0) * (sorted.len() - 1) as f64).round() as usize;
    sorted[rank].as_secs_f64() * 1000.0
}

/// Runs the measurement and prints one JSON line.
pub async fn stream_latency(
    url: &str,
    subscribers: usize,
    events: usize,
    rate_per_sec: f64,
    label: &str,
) -> anyhow::Result<()> {
    let client = Client::builder()
        .pool_max_idle_per_host(subscribers + 4)
        .build()?;
    let (sender, mut arrivals) = mpsc::unbounded_channel();
    let mut readers = Vec::with_capacity(subscribers);
    for _ in 0..subscribers {
        let response = client
            .get(format!("{url}/api/v1/events/stream?types=job.created"))
            .send()
            .await
            .context("opening a stream")?;
        if response.status() != StatusCode::OK {
            bail!("stream answered {}", response.status());
        }
        readers.push(tokio::spawn(subscribe(response, sender.clone())));
    }
    drop(sender);
    // Every stream has caught up (nothing to send) before the first write.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let pause = Duration::from_secs_f64(1.0 / rate_per_sec.max(0.1));
    let mut sent_at: HashMap<i64, Instant> = HashMap::with_capacity(events);
    let mut post_latencies = Vec::with_capacity(events);
    for k in 0..events {
        let started = Instant::now();
        let response = client
            .post(format!("{url}/api/v1/jobs"))
            .json(&json!({
                "type": "repair", "customer": format!("Stream {k}"), "address": "1 Main St",
                "scheduled_date": "2031-01-15"
            }))
            .send()
            .await?;
        post_latencies.push(started.elapsed());
        if response.status() != StatusCode::CREATED {
            bail!("POST /jobs answered {}", response.status());
        }
        let job: Value = response.json().await?;
        sent_at.insert(job["id"].as_i64().context("job id")?, started);
        tokio::time::sleep(pause.saturating_sub(started.elapsed())).await;
    }
    let expected = subscribers * events;
    let mut latencies = Vec::with_capacity(expected);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while latencies.len() < expected {
        match tokio::time::timeout_at(deadline, arrivals.recv()).await {
            Ok(Some(arrival)) => {
                if let Some(sent) = sent_at.get(&arrival.job) {
                    latencies.push(arrival.at.saturating_duration_since(*sent));
                }
            }
            _ => break,
        }
    }
    for reader in readers {
        reader.abort();
    }
    latencies.sort_unstable();
    post_latencies.sort_unstable();
    let report = json!({
        "kind": "stream", "label": label, "subscribers": subscribers,
        "events": events, "rate_per_sec": rate_per_sec,
        "deliveries": latencies.len(), "missing": expected - latencies.len(),
        "p50_ms": percentile_ms(&latencies, 50.0),
        "p99_ms": percentile_ms(&latencies, 99.0),
        "max_ms": percentile_ms(&latencies, 100.0),
        "post_p50_ms": percentile_ms(&post_latencies, 50.0),
        "post_p99_ms": percentile_ms(&post_latencies, 99.0),
    });
    println!("{report}");
    if latencies.len() < expected {
        bail!("{} of {expected} deliveries missing", expected - latencies.len());
    }
    Ok(())
}
