//! The change feed and its stream: every change has exactly one event with
//! the resource as the API shows it, rolled-back changes have none, and a
//! client that keeps its last id never misses or repeats one — across
//! reconnects, concurrent writers and processes.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{
    Backend, ServerProcess, TestApp, expect_json, expect_problem, id, spawn_app, spawn_app_with,
};
use crate::tokens;

/// The feed after `after`, all of it.
async fn events_after(app: &TestApp, after: i64, types: &str) -> Vec<Value> {
    let mut all = Vec::new();
    let mut after = after;
    loop {
        let page = expect_json(
            app.get(&format!(
                "/api/v1/events?after={after}&limit=1000&types={types}"
            ))
            .await,
            StatusCode::OK,
        )
        .await;
        let events = page["events"].as_array().expect("events").clone();
        let last = page["last_id"].as_i64().expect("last_id");
        if events.is_empty() {
            assert_eq!(last, after);
            return all;
        }
        assert_eq!(last, id(events.last().unwrap()));
        after = last;
        all.extend(events);
    }
}

async fn last_event_id(app: &TestApp) -> i64 {
    events_after(app, 0, "*").await.last().map_or(0, id)
}

fn types_of(events: &[Value]) -> Vec<&str> {
    events
        .iter()
        .map(|e| e["type"].as_str().expect("type"))
        .collect()
}

/// Asserts that the events after `after` are exactly `expected` types, in
/// order, and returns them.
async fn expect_events(app: &TestApp, after: &mut i64, expected: &[&str]) -> Vec<Value> {
    let events = events_after(app, *after, "*").await;
    assert_eq!(types_of(&events), expected, "{events:#?}");
    if let Some(last) = events.last() {
        *after = id(last);
    }
    events
}

async fn every_change_has_exactly_one_event_with_the_resource(app: TestApp) {
    let mut seen = last_event_id(&app).await;
    let tech = app.technician(json!({"capacity": 1})).await;
    let tech_id = id(&tech);
    let events = expect_events(&app, &mut seen, &["technician.created"]).await;
    assert_eq!(events[0]["data"], tech);
    assert!(events[0]["occurred_at"].is_string());
    assert!(events[0]["actor"].is_string());

    let updated = expect_json(
        app.patch(
            &format!("/api/v1/technicians/{tech_id}"),
            &json!({"phone": "+1 555 0100"}),
        )
        .await,
        StatusCode::OK,
    )
    .await;
    let events = expect_events(&app, &mut seen, &["technician.updated"]).await;
    assert_eq!(events[0]["data"], updated);

    let response = app
        .client
        .patch(app.url(&format!("/api/v1/technicians/{tech_id}/location")))
        .json(&json!({"latitude": 40.7, "longitude": -74.0}))
        .send()
        .await
        .unwrap();
    let located = expect_json(response, StatusCode::OK).await;
    let events = expect_events(&app, &mut seen, &["technician.located"]).await;
    assert_eq!(events[0]["data"]["latitude"], located["latitude"]);

    let job = app.job(json!({})).await;
    let job_id = id(&job);
    let events = expect_events(&app, &mut seen, &["job.created"]).await;
    assert_eq!(events[0]["data"], job);

    let changed = expect_json(
        app.patch(&format!("/api/v1/jobs/{job_id}"), &json!({"priority": 1}))
            .await,
        StatusCode::OK,
    )
    .await;
    let events = expect_events(&app, &mut seen, &["job.updated"]).await;
    assert_eq!(events[0]["data"], changed);

    // Assigning: the assignment, the job's new status, the technician's
    // automatic status.
    let assignment = expect_json(app.assign(job_id, tech_id).await, StatusCode::CREATED).await;
    let events = expect_events(
        &app,
        &mut seen,
        &[
            "assignment.created",
            "job.status_changed",
            "technician.status_changed",
        ],
    )
    .await;
    assert_eq!(events[0]["data"], assignment);
    assert_eq!(events[1]["data"]["status"], "assigned");
    assert_eq!(events[1]["data"]["assigned_technician"], tech_id);
    assert_eq!(events[2]["data"]["status"], "assigned");
    // The whole technician, as the API answers it.
    let technician = expect_json(
        app.get(&format!("/api/v1/technicians/{tech_id}")).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(events[2]["data"], technician);

    // A rolled-back change leaves no event: the technician is full.
    let second = app.job(json!({})).await;
    let second_id = id(&second);
    expect_events(&app, &mut seen, &["job.created"]).await;
    expect_problem(app.assign(second_id, tech_id).await, StatusCode::CONFLICT).await;
    expect_events(&app, &mut seen, &[]).await;

    // Reassigning moves the assignment and changes the job's technician.
    let other = app.technician(json!({})).await;
    expect_events(&app, &mut seen, &["technician.created"]).await;
    let response = app
        .post(
            "/api/v1/assignments/reassign",
            &json!({"job_id": job_id, "new_technician_id": id(&other)}),
        )
        .await;
    expect_json(response, StatusCode::OK).await;
    let events = expect_events(
        &app,
        &mut seen,
        &[
            "assignment.ended",
            "assignment.created",
            "job.updated",
            "technician.status_changed",
            "technician.status_changed",
        ],
    )
    .await;
    assert_eq!(events[0]["data"]["id"], assignment["id"]);
    assert_eq!(events[2]["data"]["assigned_technician"], id(&other));

    let response = app
        .post("/api/v1/assignments/unassign", &json!({"job_id": job_id}))
        .await;
    assert!(response.status().is_success(), "{}", response.status());
    let events = expect_events(
        &app,
        &mut seen,
        &[
            "assignment.ended",
            "job.status_changed",
            "technician.status_changed",
        ],
    )
    .await;
    assert_eq!(events[1]["data"]["status"], "pending");
    let technician = expect_json(
        app.get(&format!("/api/v1/technicians/{}", id(&other)))
            .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(events[2]["data"], technician);
    assert_eq!(technician["status"], "available");

    // The status machine, then cancelling and deleting.
    expect_json(app.assign(job_id, tech_id).await, StatusCode::CREATED).await;
    expect_events(
        &app,
        &mut seen,
        &[
            "assignment.created",
            "job.status_changed",
            "technician.status_changed",
        ],
    )
    .await;
    let started = expect_json(
        app.post(&format!("/api/v1/jobs/{job_id}/start"), &json!({}))
            .await,
        StatusCode::OK,
    )
    .await;
    let events = expect_events(&app, &mut seen, &["job.status_changed"]).await;
    assert_eq!(events[0]["data"], started);
    let response = app
        .post(&format!("/api/v1/jobs/{second_id}/cancel"), &json!({}))
        .await;
    expect_json(response, StatusCode::OK).await;
    expect_events(&app, &mut seen, &["job.status_changed"]).await;
    let response = app.delete(&format!("/api/v1/jobs/{second_id}")).await;
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    let events = expect_events(&app, &mut seen, &["job.deleted"]).await;
    assert_eq!(events[0]["data"], json!({"id": second_id}));

    let response = app
        .client
        .patch(app.url(&format!("/api/v1/technicians/{}/status", id(&other))))
        .json(&json!({"status": "off_duty"}))
        .send()
        .await
        .unwrap();
    expect_json(response, StatusCode::OK).await;
    expect_events(&app, &mut seen, &["technician.status_changed"]).await;
    let response = app
        .delete(&format!("/api/v1/technicians/{}", id(&other)))
        .await;
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    let events = expect_events(&app, &mut seen, &["technician.deleted"]).await;
    assert_eq!(events[0]["data"], json!({"id": id(&other)}));
}

async fn an_applied_plan_is_one_event_besides_its_assignments(app: TestApp) {
    let tech = app
        .technician(json!({"capacity": 8, "home_latitude": 40.7, "home_longitude": -74.0}))
        .await;
    let mut jobs = Vec::new();
    for k in 0..3 {
        let job = app
            .job(json!({"latitude": 40.7 + f64::from(k) * 0.01, "longitude": -74.0}))
            .await;
        jobs.push(id(&job));
    }
    let mut seen = last_event_id(&app).await;
    let response = app
        .post(
            "/api/v1/routing/plan",
            &json!({"scheduled_date": "2030-01-15", "apply": true, "time_limit_ms": 200}),
        )
        .await;
    expect_json(response, StatusCode::OK).await;
    let events = events_after(&app, seen, "*").await;
    let types = types_of(&events);
    assert_eq!(
        types.iter().filter(|t| **t == "assignment.created").count(),
        3
    );
    assert_eq!(types.last(), Some(&"plan.applied"), "{types:?}");
    let plan = &events.last().unwrap()["data"];
    assert_eq!(plan["scheduled_date"], "2030-01-15");
    assert_eq!(plan["jobs_assigned"], 3);
    assert_eq!(plan["routes"][0]["technician_id"], id(&tech));
    let mut planned: Vec<i64> = plan["routes"][0]["job_ids"]
        .as_array()
        .unwrap()
        .iter()
        .map(|j| j.as_i64().unwrap())
        .collect();
    planned.sort_unstable();
    assert_eq!(planned, jobs);
    seen = id(events.last().unwrap());
    assert!(events_after(&app, seen, "*").await.is_empty());
}

async fn the_feed_filters_pages_and_validates(app: TestApp) {
    let start = last_event_id(&app).await;
    let tech = app.technician(json!({})).await;
    let job = app.job(json!({})).await;
    expect_json(app.assign(id(&job), id(&tech)).await, StatusCode::CREATED).await;

    let only_jobs = events_after(&app, start, "job.*").await;
    assert_eq!(types_of(&only_jobs), ["job.created", "job.status_changed"]);
    let exact = events_after(&app, start, "assignment.created,technician.created").await;
    assert_eq!(
        types_of(&exact),
        ["technician.created", "assignment.created"]
    );

    // Paging by `after` and `limit` walks the same events one by one.
    let all = events_after(&app, start, "*").await;
    let mut after = start;
    for expected in &all {
        let page = expect_json(
            app.get(&format!("/api/v1/events?after={after}&limit=1"))
                .await,
            StatusCode::OK,
        )
        .await;
        assert_eq!(&page["events"][0], expected);
        after = page["last_id"].as_i64().unwrap();
    }
    let ids: Vec<i64> = all.iter().map(id).collect();
    assert!(ids.windows(2).all(|w| w[0] < w[1]), "{ids:?}");

    for (query, field) in [
        ("types=jobs.*", "types"),
        ("types=job.finished", "types"),
        ("after=-1", "after"),
        ("after=x", "after"),
        ("limit=0", "limit"),
        ("limit=5001", "limit"),
        ("unknown=1", "unknown"),
    ] {
        let detail = expect_problem(
            app.get(&format!("/api/v1/events?{query}")).await,
            StatusCode::BAD_REQUEST,
        )
        .await;
        assert!(detail.contains(field), "{query}: {detail}");
    }
}

async fn purged_events_answer_410_with_the_oldest_kept(app: TestApp) {
    for _ in 0..3 {
        app.job(json!({})).await;
    }
    let all = events_after(&app, 0, "*").await;
    assert_eq!(all.len(), 3);
    // Purge the first two, as retention would.
    {
        let mut conn = app.pool.get().unwrap();
        let first = id(&all[0]);
        let second = id(&all[1]);
        fieldopt_store::write_transaction(&mut conn, |c| {
            fieldopt_store::outbox::purge_before(
                c,
                chrono::Utc::now() + chrono::Duration::days(1),
                2,
            )
        })
        .unwrap();
        assert!(first < second);
    }
    let response = app.get("/api/v1/events?after=0").await;
    assert_eq!(response.status(), StatusCode::GONE);
    let problem: Value = response.json().await.unwrap();
    assert_eq!(problem["type"], "urn:fieldopt:problem:events-purged");
    assert_eq!(problem["oldest_id"], id(&all[2]));
    // Resuming where the problem says works, and so does the last purged id.
    let rest = events_after(&app, id(&all[1]), "*").await;
    assert_eq!(rest, all[2..]);
    let response = app
        .client
        .get(app.url("/api/v1/events/stream"))
        .header("Last-Event-ID", "0")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::GONE);

    // The newest event outlives retention, so ids are never handed out
    // again: the next change gets a larger one.
    {
        let mut conn = app.pool.get().unwrap();
        let purged = fieldopt_store::write_transaction(&mut conn, |c| {
            fieldopt_store::outbox::purge_before(
                c,
                chrono::Utc::now() + chrono::Duration::days(1),
                100,
            )
        })
        .unwrap();
        assert_eq!(purged, 0, "the newest event is kept");
    }
    app.job(json!({})).await;
    let after = events_after(&app, id(&all[2]), "*").await;
    assert_eq!(after.len(), 1);
    assert!(id(&after[0]) > id(&all[2]));
}

crate::backend_tests!(
    every_change_has_exactly_one_event_with_the_resource,
    an_applied_plan_is_one_event_besides_its_assignments,
    the_feed_filters_pages_and_validates,
    purged_events_answer_410_with_the_oldest_kept,
);

/// A Server-Sent Events reader over a streaming response.
struct EventStream {
    response: reqwest::Response,
    buffer: String,
}

/// One message of the stream.
#[derive(Debug, Clone, PartialEq)]
struct Message {
    id: Option<i64>,
    event: Option<String>,
    data: String,
}

impl EventStream {
    async fn open(
        app_address: &str,
        client: &reqwest::Client,
        query: &str,
        last: Option<i64>,
    ) -> Self {
        let mut request = client.get(format!("{app_address}/api/v1/events/stream{query}"));
        if let Some(last) = last {
            request = request.header("Last-Event-ID", last.to_string());
        }
        let response = request.send().await.expect("stream");
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(
            response.headers()["content-type"].to_str().unwrap(),
            "text/event-stream"
        );
        EventStream {
            response,
            buffer: String::new(),
        }
    }

    /// The next message (comments and `retry:` skipped), or `None` when the
    /// stream ended or `within` passed.
    async fn next(&mut self, within: Duration) -> Option<Message> {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            while let Some(end) = self.buffer.find("\n\n") {
                let block: String = self.buffer.drain(..end + 2).collect();
                let mut message = Message {
                    id: None,
                    event: None,
                    data: String::new(),
                };
                let mut any = false;
                for line in block.lines() {
                    if let Some(value) = line.strip_prefix("id: ") {
                        message.id = value.parse().ok();
                        any = true;
                    } else if let Some(value) = line.strip_prefix("event: ") {
                        message.event = Some(value.to_string());
                        any = true;
                    } else if let Some(value) = line.strip_prefix("data: ") {
                        message.data.push_str(value);
                        any = true;
                    }
                }
                if any {
                    return Some(message);
                }
            }
            let chunk = tokio::time::timeout_at(deadline, self.response.chunk())
                .await
                .ok()?
                .ok()??;
            self.buffer
                .push_str(std::str::from_utf8(&chunk).expect("utf-8"));
        }
    }

    /// The next `count` messages, each within `within`.
    async fn take(&mut self, count: usize, within: Duration) -> Vec<Message> {
        let mut messages = Vec::with_capacity(count);
        for _ in 0..count {
            match self.next(within).await {
                Some(message) => messages.push(message),
                None => panic!("stream ended after {messages:?}"),
            }
        }
        messages
    }
}

/// `writers` concurrent clients each create `each` jobs (with `notes`).
async fn create_jobs(app: &TestApp, writers: usize, each: usize, notes: Option<&str>) {
    let writers: Vec<_> = (0..writers)
        .map(|k| {
            let client = app.client.clone();
            let url = app.url("/api/v1/jobs");
            let body = json!({
                "type": "repair", "customer": format!("Writer {k}"), "address": "1 Main St",
                "scheduled_date": "2030-01-15", "notes": notes
            });
            tokio::spawn(async move {
                for _ in 0..each {
                    let response = client.post(&url).json(&body).send().await.unwrap();
                    assert_eq!(response.status(), StatusCode::CREATED);
                }
            })
        })
        .collect();
    for writer in writers {
        writer.await.unwrap();
    }
}

const WAIT: Duration = Duration::from_secs(10);

async fn stream_resumes_with_exactly_the_missed_events(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let before = app.job(json!({})).await;
    let mut stream = EventStream::open(&app.address, &app.client, "", None).await;
    // Without a position the stream starts with new events only.
    let tech = app.technician(json!({})).await;
    let job = app.job(json!({})).await;
    let live = stream.take(2, WAIT).await;
    assert_eq!(live[0].event.as_deref(), Some("technician.created"));
    assert_eq!(live[1].event.as_deref(), Some("job.created"));
    let data: Value = serde_json::from_str(&live[1].data).unwrap();
    assert_eq!(data["data"], job);
    assert_eq!(data["id"], live[1].id.unwrap());
    assert!(live[0].id.unwrap() > id(&before));
    let last_seen = live[1].id.unwrap();
    drop(stream);

    // Missed while away.
    expect_json(app.assign(id(&job), id(&tech)).await, StatusCode::CREATED).await;
    app.job(json!({})).await;
    let missed = events_after(&app, last_seen, "*").await;
    assert_eq!(missed.len(), 4, "{missed:#?}");
    let mut stream = EventStream::open(&app.address, &app.client, "", Some(last_seen)).await;
    let resumed = stream.take(4, WAIT).await;
    let resumed_ids: Vec<i64> = resumed.iter().map(|m| m.id.unwrap()).collect();
    let missed_ids: Vec<i64> = missed.iter().map(id).collect();
    assert_eq!(resumed_ids, missed_ids);
    // Then live ones, with nothing repeated.
    let later = app.job(json!({})).await;
    let next = stream.take(1, WAIT).await;
    let data: Value = serde_json::from_str(&next[0].data).unwrap();
    assert_eq!(data["data"], later);
    assert!(next[0].id.unwrap() > *missed_ids.last().unwrap());

    // `?after=` and a type filter work the same way.
    let mut filtered = EventStream::open(
        &app.address,
        &app.client,
        &format!("?after={last_seen}&types=assignment.*"),
        None,
    )
    .await;
    let only = filtered.take(1, WAIT).await;
    assert_eq!(only[0].event.as_deref(), Some("assignment.created"));
    assert!(filtered.next(Duration::from_millis(500)).await.is_none());
}

async fn fifty_writers_and_one_reader_see_every_event_in_order(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let start = last_event_id(&app).await;
    let mut stream = EventStream::open(&app.address, &app.client, "", Some(start)).await;
    create_jobs(&app, 50, 4, None).await;
    let received = stream.take(200, WAIT).await;
    let ids: Vec<i64> = received.iter().map(|m| m.id.unwrap()).collect();
    assert!(
        ids.windows(2).all(|w| w[0] < w[1]),
        "not strictly increasing"
    );
    let feed: Vec<i64> = events_after(&app, start, "*")
        .await
        .iter()
        .map(id)
        .collect();
    assert_eq!(ids, feed, "the stream saw exactly what the outbox holds");
    assert!(stream.next(Duration::from_millis(300)).await.is_none());
}

async fn a_technician_sees_only_its_own_events(backend: Backend) {
    let admin = tokens::hs256(tokens::SECRET, &tokens::claims("admin", "admin@test", None));
    let Some(app) = spawn_app_with(
        backend,
        |settings| settings.auth_secret = Some(tokens::SECRET.to_string().into()),
        Some(admin),
    )
    .await
    else {
        return;
    };
    let mine = app.technician(json!({})).await;
    let theirs = app.technician(json!({})).await;
    let my_job = app.job(json!({})).await;
    let their_job = app.job(json!({})).await;
    expect_json(
        app.assign(id(&my_job), id(&mine)).await,
        StatusCode::CREATED,
    )
    .await;
    expect_json(
        app.assign(id(&their_job), id(&theirs)).await,
        StatusCode::CREATED,
    )
    .await;
    let token = tokens::hs256(
        tokens::SECRET,
        &tokens::claims("technician", "tech@test", Some(id(&mine))),
    );
    let technician = reqwest::Client::builder()
        .default_headers(
            [(
                reqwest::header::AUTHORIZATION,
                format!("Bearer {token}").parse().unwrap(),
            )]
            .into_iter()
            .collect(),
        )
        .build()
        .unwrap();
    let page: Value = technician
        .get(app.url("/api/v1/events?after=0"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let events = page["events"].as_array().unwrap();
    assert!(!events.is_empty());
    for event in events {
        let about_me = match event["type"].as_str().unwrap() {
            t if t.starts_with("technician.") => event["data"]["id"] == id(&mine),
            t if t.starts_with("job.") => event["data"]["assigned_technician"] == id(&mine),
            t if t.starts_with("assignment.") => event["data"]["technician_id"] == id(&mine),
            _ => false,
        };
        assert!(about_me, "{event}");
    }
    let mut stream = EventStream::open(&app.address, &technician, "", Some(0)).await;
    let first = stream.take(events.len(), WAIT).await;
    assert_eq!(first.len(), events.len());
    // Others' news never arrives; its own does.
    let response = app
        .post(
            &format!("/api/v1/jobs/{}/start", id(&their_job)),
            &json!({}),
        )
        .await;
    expect_json(response, StatusCode::OK).await;
    let response = app
        .post(&format!("/api/v1/jobs/{}/start", id(&my_job)), &json!({}))
        .await;
    expect_json(response, StatusCode::OK).await;
    let next = stream.take(1, WAIT).await;
    let data: Value = serde_json::from_str(&next[0].data).unwrap();
    assert_eq!(data["data"]["id"], id(&my_job));
    // Webhooks are not a technician's business.
    let response = technician
        .get(app.url("/api/v1/events/stream?types=job.*"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
}

async fn streams_beat_and_end_cleanly_at_shutdown(backend: Backend) {
    let Some(app) = spawn_app_with(
        backend,
        |settings| settings.event_heartbeat = Duration::from_millis(200),
        None,
    )
    .await
    else {
        return;
    };
    let mut stream = EventStream::open(&app.address, &app.client, "", None).await;
    // A heartbeat is a comment: read the raw text.
    let deadline = tokio::time::Instant::now() + WAIT;
    while !stream.buffer.contains(": heartbeat") {
        let chunk = tokio::time::timeout_at(deadline, stream.response.chunk())
            .await
            .expect("heartbeat in time")
            .unwrap()
            .unwrap();
        stream.buffer.push_str(std::str::from_utf8(&chunk).unwrap());
    }
    // A real process, stopped with SIGTERM while a stream is open.
    let server = ServerProcess::for_app(&app).await;
    let mut remote = EventStream::open(&server.address, &app.client, "", None).await;
    let started = std::time::Instant::now();
    server.send_sigterm();
    let last = remote.next(WAIT).await.expect("a final event");
    assert_eq!(last.event.as_deref(), Some("shutdown"), "{last:?}");
    assert!(remote.next(WAIT).await.is_none(), "the stream ends");
    assert!(server.wait().success());
    assert!(started.elapsed() < Duration::from_secs(10));
}

async fn a_slow_stream_is_closed_with_a_lagged_event(backend: Backend) {
    let Some(app) =
        spawn_app_with(backend, |settings| settings.event_stream_buffer = 16, None).await
    else {
        return;
    };
    let mut stream = EventStream::open(&app.address, &app.client, "", None).await;
    // Many large events (about 9 MB) while the client reads nothing: the
    // socket buffers fill, the stream falls behind the broadcast.
    let notes = "x".repeat(4000);
    create_jobs(&app, 8, 250, Some(&notes)).await;
    let mut last_id = 0;
    let mut final_event = None;
    while let Some(message) = stream.next(WAIT).await {
        match message.event.as_deref() {
            Some("lagged") => final_event = Some(message),
            _ => last_id = message.id.expect("id"),
        }
    }
    let lagged = final_event.expect("a lagged event before the end");
    let data: Value = serde_json::from_str(&lagged.data).unwrap();
    assert_eq!(data["last_event_id"], last_id);
    // Resuming from it gets the rest.
    let rest = events_after(&app, last_id, "*").await;
    assert!(!rest.is_empty());
    let mut resumed = EventStream::open(&app.address, &app.client, "", Some(last_id)).await;
    let first = resumed.take(1, WAIT).await;
    assert_eq!(first[0].id, Some(id(&rest[0])));
}

async fn another_process_sees_the_change_within_a_second(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let other = ServerProcess::for_app(&app).await;
    let mut stream = EventStream::open(&other.address, &app.client, "", None).await;
    // Let the other process's listener settle.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let started = std::time::Instant::now();
    let job = app.job(json!({})).await;
    let message = stream.take(1, WAIT).await;
    let elapsed = started.elapsed();
    let data: Value = serde_json::from_str(&message[0].data).unwrap();
    assert_eq!(data["data"], job);
    assert!(elapsed < Duration::from_secs(1), "{elapsed:?}");
}

macro_rules! stream_tests {
    ($($name:ident),+ $(,)?) => {
        mod stream_sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name(crate::helpers::Backend::Sqlite).await;
                }
            )+
        }
        mod stream_postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name(crate::helpers::Backend::Postgres).await;
                }
            )+
        }
    };
}

stream_tests!(
    stream_resumes_with_exactly_the_missed_events,
    fifty_writers_and_one_reader_see_every_event_in_order,
    a_technician_sees_only_its_own_events,
    streams_beat_and_end_cleanly_at_shutdown,
    a_slow_stream_is_closed_with_a_lagged_event,
    another_process_sees_the_change_within_a_second,
);
