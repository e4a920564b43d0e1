//! Webhooks end to end: a receiver started by the test (a small HTTP/1.1
//! server on a TCP socket) checks every delivery's Standard Webhooks
//! signature with its own implementation (OpenSSL's HMAC, not the
//! server's RustCrypto); retries, manual redelivery, disabling, SSRF
//! refusals; and real `fieldopt` processes killed mid-delivery or sharing
//! one database.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use fieldopt_server::config::Settings;
use reqwest::{Client, StatusCode};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use crate::helpers::{
    Backend, ServerProcess, TestApp, TestDatabase, expect_json, expect_problem, id, spawn_app_with,
};
use crate::tokens::{SECRET, claims, hs256};

/// What the receiver answers to one request.
#[derive(Debug, Clone, Copy)]
enum Reply {
    Status(u16),
    /// Never answer (the connection stays open until the test ends).
    Hold,
}

/// One request the receiver got.
#[derive(Debug, Clone)]
struct Received {
    headers: HashMap<String, String>,
    body: String,
}

impl Received {
    fn webhook_id(&self) -> &str {
        &self.headers["webhook-id"]
    }

    fn event(&self) -> Value {
        serde_json::from_str(&self.body).expect("JSON body")
    }
}

/// A local webhook receiver: answers from a script, then 200.
#[derive(Clone)]
struct Receiver {
    url: String,
    script: Arc<Mutex<VecDeque<Reply>>>,
    received: Arc<Mutex<Vec<Received>>>,
}

impl Receiver {
    async fn start(script: &[Reply]) -> Receiver {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let url = format!("http://{}/hook", listener.local_addr().unwrap());
        let receiver = Receiver {
            url,
            script: Arc::new(Mutex::new(script.iter().copied().collect())),
            received: Arc::default(),
        };
        let serving = receiver.clone();
        tokio::spawn(async move {
            while let Ok((socket, _)) = listener.accept().await {
                tokio::spawn(serving.clone().serve(socket));
            }
        });
        receiver
    }

    async fn serve(self, mut socket: TcpStream) {
        let Some(request) = read_request(&mut socket).await else {
            return;
        };
        self.received.lock().unwrap().push(request);
        let reply = self
            .script
            .lock()
            .unwrap()
            .pop_front()
            .unwrap_or(Reply::Status(200));
        match reply {
            Reply::Status(status) => {
                let body = format!("status {status}");
                let answer = format!(
                    "HTTP/1.1 {status} Whatever\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = socket.write_all(answer.as_bytes()).await;
                let _ = socket.shutdown().await;
            }
            Reply::Hold => {
                tokio::time::sleep(Duration::from_secs(3600)).await;
            }
        }
    }

    fn received(&self) -> Vec<Received> {
        self.received.lock().unwrap().clone()
    }

    /// Waits until at least `count` requests came (panics after 20 s).
    async fn wait_for(&self, count: usize) -> Vec<Received> {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let received = self.received();
            if received.len() >= count {
                return received;
            }
            assert!(
                Instant::now() < deadline,
                "the receiver got {} of {count} requests",
                received.len()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

/// Reads one HTTP/1.1 request with a `content-length` body.
async fn read_request(socket: &mut TcpStream) -> Option<Received> {
    let mut buffer = Vec::new();
    let mut chunk = [0u8; 4096];
    let head_end = loop {
        if let Some(at) = buffer.windows(4).position(|w| w == b"\r\n\r\n") {
            break at + 4;
        }
        let read = socket.read(&mut chunk).await.ok()?;
        if read == 0 {
            return None;
        }
        buffer.extend_from_slice(&chunk[..read]);
    };
    let head = String::from_utf8_lossy(&buffer[..head_end]).to_string();
    let headers: HashMap<String, String> = head
        .lines()
        .skip(1)
        .filter_map(|line| line.split_once(':'))
        .map(|(name, value)| (name.trim().to_ascii_lowercase(), value.trim().to_string()))
        .collect();
    let length: usize = headers
        .get("content-length")
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    while buffer.len() < head_end + length {
        let read = socket.read(&mut chunk).await.ok()?;
        if read == 0 {
            return None;
        }
        buffer.extend_from_slice(&chunk[..read]);
    }
    Some(Received {
        headers,
        body: String::from_utf8_lossy(&buffer[head_end..head_end + length]).to_string(),
    })
}

/// The Standard Webhooks check, as a receiver writes it: HMAC-SHA256 with
/// the secret's base64-decoded key over `id.timestamp.body`, compared in
/// constant time with each `v1,` signature sent, and a timestamp within
/// five minutes of now.
fn verify(secret: &str, received: &Received) -> Result<(), String> {
    use openssl::hash::MessageDigest;
    use openssl::pkey::PKey;
    use openssl::sign::Signer;

    let header = |name: &str| {
        received
            .headers
            .get(name)
            .ok_or_else(|| format!("no {name} header"))
    };
    let id = header("webhook-id")?;
    let timestamp = header("webhook-timestamp")?;
    let signatures = header("webhook-signature")?;
    let sent: i64 = timestamp.parse().map_err(|_| "bad timestamp")?;
    let now = chrono::Utc::now().timestamp();
    if (now - sent).abs() > 300 {
        return Err(format!("timestamp {sent} is too far from {now}"));
    }
    let key = STANDARD
        .decode(
            secret
                .strip_prefix("whsec_")
                .ok_or("secret without whsec_")?,
        )
        .map_err(|e| e.to_string())?;
    let key = PKey::hmac(&key).map_err(|e| e.to_string())?;
    let mut signer = Signer::new(MessageDigest::sha256(), &key).map_err(|e| e.to_string())?;
    signer
        .update(format!("{id}.{timestamp}.{}", received.body).as_bytes())
        .map_err(|e| e.to_string())?;
    let expected = signer.sign_to_vec().map_err(|e| e.to_string())?;
    let matches = signatures.split(' ').any(|signature| {
        signature
            .strip_prefix("v1,")
            .and_then(|b64| STANDARD.decode(b64).ok())
            .is_some_and(|given| {
                given.len() == expected.len() && openssl::memcmp::eq(&given, &expected)
            })
    });
    if matches {
        Ok(())
    } else {
        Err(format!("no signature in {signatures:?} matches"))
    }
}

/// Fast webhook settings for tests: private targets allowed, a schedule
/// of milliseconds, a short lease, frequent polling.
fn fast(settings: &mut Settings) {
    settings.webhooks_allow_private = true;
    settings.webhook_retry_scale = 0.0002;
    settings.webhook_poll_ms = 25;
    settings.webhook_lease_ms = 2000;
}

async fn app_with(backend: Backend, configure: impl FnOnce(&mut Settings)) -> Option<TestApp> {
    spawn_app_with(
        backend,
        |settings| {
            fast(settings);
            configure(settings);
        },
        None,
    )
    .await
}

/// Creates a webhook; returns the created body (with its secret).
async fn create_webhook(app: &TestApp, body: Value) -> Value {
    expect_json(
        app.post("/api/v1/webhooks", &body).await,
        StatusCode::CREATED,
    )
    .await
}

async fn deliveries(app: &TestApp, webhook: i64) -> Vec<Value> {
    let path = format!("/api/v1/webhooks/{webhook}/deliveries");
    let listed = expect_json(app.get(&path).await, StatusCode::OK).await;
    listed.as_array().unwrap().clone()
}

/// Waits until the webhook's log holds `count` attempts (newest first).
async fn wait_for_attempts(app: &TestApp, webhook: i64, count: usize) -> Vec<Value> {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let listed = deliveries(app, webhook).await;
        if listed.len() >= count {
            return listed;
        }
        assert!(
            Instant::now() < deadline,
            "{} of {count} attempts: {listed:?}",
            listed.len()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn webhooks_are_managed_and_the_secret_is_shown_once(app: TestApp) {
    let created = create_webhook(
        &app,
        json!({"url": "http://127.0.0.1:9/hook", "event_types": "job.*,assignment.created",
               "description": "Billing"}),
    )
    .await;
    let webhook = id(&created);
    let secret = created["secret"].as_str().unwrap();
    assert!(secret.starts_with("whsec_"), "{secret}");
    assert_eq!(
        STANDARD.decode(&secret["whsec_".len()..]).unwrap().len(),
        24
    );
    assert_eq!(
        created["event_types"],
        "job.created,job.updated,job.deleted,job.status_changed,assignment.created"
    );
    assert_eq!(created["enabled"], true);

    let path = format!("/api/v1/webhooks/{webhook}");
    let read = expect_json(app.get(&path).await, StatusCode::OK).await;
    assert!(read.get("secret").is_none(), "{read}");
    assert_eq!(read["description"], "Billing");
    let response = app.get("/api/v1/webhooks").await;
    assert_eq!(response.headers()["x-total-count"], "1");
    let listed = expect_json(response, StatusCode::OK).await;
    assert!(listed[0].get("secret").is_none(), "{listed}");

    let changed = app
        .patch(
            &path,
            &json!({"enabled": false, "description": null, "event_types": "*"}),
        )
        .await;
    let changed = expect_json(changed, StatusCode::OK).await;
    assert_eq!(changed["enabled"], false);
    assert_eq!(changed["description"], Value::Null);
    assert_eq!(changed["event_types"], "*");

    for (body, field) in [
        (
            json!({"url": "http://127.0.0.1:9/", "event_types": "jobs.*"}),
            "event_types",
        ),
        (json!({"url": "ftp://127.0.0.1/"}), "url"),
        (json!({"url": "not a url"}), "url"),
        (
            json!({"url": format!("https://a.example/{}", "x".repeat(2048))}),
            "url",
        ),
        (
            json!({"url": "http://127.0.0.1:9/", "description": "d".repeat(501)}),
            "description",
        ),
    ] {
        let detail = expect_problem(
            app.post("/api/v1/webhooks", &body).await,
            StatusCode::BAD_REQUEST,
        )
        .await;
        assert!(detail.contains(field), "{field}: {detail}");
    }
    let detail = expect_problem(
        app.patch(&path, &json!({"event_types": "job.finished"}))
            .await,
        StatusCode::BAD_REQUEST,
    )
    .await;
    assert!(detail.contains("event_types"), "{detail}");

    let response = app.delete(&path).await;
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    for gone in [
        app.get(&path).await,
        app.delete(&path).await,
        app.patch(&path, &json!({"enabled": true})).await,
        app.get(&format!("{path}/deliveries")).await,
        app.post(&format!("{path}/deliveries/1/retry"), &json!({}))
            .await,
    ] {
        expect_problem(gone, StatusCode::NOT_FOUND).await;
    }
}

async fn deliveries_are_signed_in_order_and_logged(app: TestApp) {
    let receiver = Receiver::start(&[]).await;
    let created = create_webhook(
        &app,
        json!({"url": receiver.url, "event_types": "job.created"}),
    )
    .await;
    let secret = created["secret"].as_str().unwrap().to_string();
    // Not a job.created: filtered out.
    app.technician(json!({})).await;
    let jobs: Vec<i64> = [
        app.job(json!({"customer": "One"})).await,
        app.job(json!({"customer": "Two"})).await,
        app.job(json!({"customer": "Three"})).await,
    ]
    .iter()
    .map(id)
    .collect();
    let received = receiver.wait_for(3).await;
    let mut event_ids = Vec::new();
    for request in &received {
        verify(&secret, request).unwrap_or_else(|e| panic!("{e}: {request:?}"));
        assert!(verify("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", request).is_err());
        assert_eq!(request.headers["content-type"], "application/json");
        assert!(request.headers["user-agent"].starts_with("fieldopt-webhooks/"));
        let event = request.event();
        assert_eq!(event["type"], "job.created");
        assert_eq!(request.webhook_id(), format!("evt_{}", event["id"]));
        event_ids.push(event["id"].as_i64().unwrap());
    }
    let job_ids: Vec<i64> = received
        .iter()
        .map(|r| r.event()["data"]["id"].as_i64().unwrap())
        .collect();
    assert_eq!(job_ids, jobs, "in event order");
    assert!(event_ids.windows(2).all(|w| w[0] < w[1]), "{event_ids:?}");
    let log = wait_for_attempts(&app, id(&created), 3).await;
    assert_eq!(log.len(), 3);
    for attempt in &log {
        assert_eq!(attempt["status_code"], 200);
        assert_eq!(attempt["attempt"], 1);
        assert_eq!(attempt["error"], Value::Null);
        assert_eq!(attempt["next_retry_at"], Value::Null);
        assert_eq!(attempt["manual"], false);
        assert_eq!(attempt["response_body"], "status 200");
    }
    assert_eq!(log[0]["event_id"], event_ids[2], "newest first");
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(receiver.received().len(), 3, "each event once");
}

async fn a_failing_receiver_gets_the_event_once_delivered_after_retries(app: TestApp) {
    let receiver =
        Receiver::start(&[Reply::Status(500), Reply::Status(500), Reply::Status(503)]).await;
    let created = create_webhook(&app, json!({"url": receiver.url})).await;
    let webhook = id(&created);
    let secret = created["secret"].as_str().unwrap().to_string();
    let job = id(&app.job(json!({})).await);
    let received = receiver.wait_for(4).await;
    let ids: Vec<&str> = received.iter().map(Received::webhook_id).collect();
    assert!(ids.iter().all(|i| *i == ids[0]), "one event: {ids:?}");
    for request in &received {
        verify(&secret, request).unwrap();
        assert_eq!(request.event()["data"]["id"], job);
    }
    let log = wait_for_attempts(&app, webhook, 4).await;
    let codes: Vec<i64> = log
        .iter()
        .map(|a| a["status_code"].as_i64().unwrap())
        .collect();
    assert_eq!(codes, [200, 503, 500, 500]);
    let attempts: Vec<i64> = log.iter().map(|a| a["attempt"].as_i64().unwrap()).collect();
    assert_eq!(attempts, [4, 3, 2, 1]);
    assert_eq!(log[0]["next_retry_at"], Value::Null);
    for failed in &log[1..] {
        assert!(failed["next_retry_at"].is_string(), "{failed}");
        assert_eq!(
            failed["error"],
            format!("answered {}", failed["status_code"])
        );
        assert!(failed["latency_ms"].as_i64().unwrap() >= 0);
    }
    let state = expect_json(
        app.get(&format!("/api/v1/webhooks/{webhook}")).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(state["failed_attempts"], 0);
    assert_eq!(state["failing_since"], Value::Null);
    assert_eq!(state["delivered_through"], log[0]["event_id"]);
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(receiver.received().len(), 4, "no delivery after the 2xx");
}

async fn a_delivery_can_be_retried_by_hand(app: TestApp) {
    let receiver = Receiver::start(&[]).await;
    let created = create_webhook(&app, json!({"url": receiver.url})).await;
    let webhook = id(&created);
    app.job(json!({})).await;
    let first = receiver.wait_for(1).await;
    let log = wait_for_attempts(&app, webhook, 1).await;
    let path = format!(
        "/api/v1/webhooks/{webhook}/deliveries/{}/retry",
        log[0]["id"]
    );
    let retried = expect_json(app.post(&path, &json!({})).await, StatusCode::CREATED).await;
    assert_eq!(retried["manual"], true);
    assert_eq!(retried["attempt"], 2);
    assert_eq!(retried["status_code"], 200);
    assert_eq!(retried["event_id"], log[0]["event_id"]);
    let again = receiver.wait_for(2).await;
    assert_eq!(
        again[1].webhook_id(),
        first[0].webhook_id(),
        "the same message"
    );
    verify(created["secret"].as_str().unwrap(), &again[1]).unwrap();
    assert_eq!(deliveries(&app, webhook).await.len(), 2);
    let unknown = format!("/api/v1/webhooks/{webhook}/deliveries/999999/retry");
    expect_problem(app.post(&unknown, &json!({})).await, StatusCode::NOT_FOUND).await;
}

async fn a_manual_retry_unblocks_a_failing_endpoint(app: TestApp) {
    // Fails until the test says otherwise.
    let receiver = Receiver::start(&[Reply::Status(500); 10_000]).await;
    let created = create_webhook(&app, json!({"url": receiver.url})).await;
    let webhook = id(&created);
    let path = format!("/api/v1/webhooks/{webhook}");
    app.job(json!({})).await;
    let log = wait_for_attempts(&app, webhook, 1).await;
    assert_eq!(log[0]["status_code"], 500);
    // Disabled, so only the manual retry delivers.
    expect_json(
        app.patch(&path, &json!({"enabled": false})).await,
        StatusCode::OK,
    )
    .await;
    receiver.script.lock().unwrap().clear();
    let retry = format!("{path}/deliveries/{}/retry", log[0]["id"]);
    let retried = expect_json(app.post(&retry, &json!({})).await, StatusCode::CREATED).await;
    assert_eq!(retried["status_code"], 200);
    let state = expect_json(app.get(&path).await, StatusCode::OK).await;
    assert_eq!(state["delivered_through"], log[0]["event_id"], "moved on");
    assert_eq!(state["failed_attempts"], 0);
}

async fn private_targets_are_refused_without_the_flag(backend: Backend) {
    let Some(app) = spawn_app_with(backend, |_| {}, None).await else {
        return;
    };
    for url in [
        "http://127.0.0.1/hook",
        "http://example.com/hook",
        "https://10.0.0.1/hook",
        "https://192.168.1.20/hook",
        "https://localhost/hook",
        "https://[::1]/hook",
        "https://169.254.169.254/latest/meta-data",
        "https://[::ffff:127.0.0.1]/hook",
    ] {
        let detail = expect_problem(
            app.post("/api/v1/webhooks", &json!({"url": url})).await,
            StatusCode::BAD_REQUEST,
        )
        .await;
        assert!(detail.contains("url"), "{url}: {detail}");
    }
    // A public address literal needs no DNS and passes.
    let created = app
        .post(
            "/api/v1/webhooks",
            &json!({"url": "https://1.1.1.1/hook", "enabled": false}),
        )
        .await;
    let created = expect_json(created, StatusCode::CREATED).await;
    let path = format!("/api/v1/webhooks/{}", id(&created));
    let detail = expect_problem(
        app.patch(&path, &json!({"url": "https://127.0.0.1/"}))
            .await,
        StatusCode::BAD_REQUEST,
    )
    .await;
    assert!(detail.contains("url"), "{detail}");
}

async fn an_endpoint_failing_for_the_whole_window_is_disabled(backend: Backend) {
    let Some(app) = app_with(backend, |s| s.webhook_disable_after_ms = 600).await else {
        return;
    };
    let receiver = Receiver::start(&[Reply::Status(500); 10_000]).await;
    let created = create_webhook(&app, json!({"url": receiver.url, "event_types": "job.*"})).await;
    let webhook = id(&created);
    let path = format!("/api/v1/webhooks/{webhook}");
    app.job(json!({})).await;
    let deadline = Instant::now() + Duration::from_secs(20);
    let state = loop {
        let state = expect_json(app.get(&path).await, StatusCode::OK).await;
        if state["enabled"] == false {
            break state;
        }
        assert!(Instant::now() < deadline, "never disabled: {state}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let reason = state["disabled_reason"].as_str().unwrap();
    assert!(reason.contains("answered 500"), "{reason}");
    assert!(state["failing_since"].is_string());
    let attempts = receiver.received().len();
    assert!(attempts >= 2, "retried before giving up: {attempts}");
    let log = deliveries(&app, webhook).await;
    assert_eq!(log.len(), attempts);
    assert_eq!(
        log[0]["next_retry_at"],
        Value::Null,
        "no retry after the last"
    );

    let events = app
        .get("/api/v1/events?after=0&types=webhook.disabled")
        .await;
    let events = expect_json(events, StatusCode::OK).await;
    let events = events["events"].as_array().unwrap();
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!(events[0]["data"]["id"], webhook);
    assert_eq!(events[0]["data"]["enabled"], false);
    assert!(events[0]["data"].get("secret").is_none());

    // Enabling again resumes with the event it could not deliver.
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(
        receiver.received().len(),
        attempts,
        "nothing while disabled"
    );
    receiver.script.lock().unwrap().clear();
    let enabled = expect_json(
        app.patch(&path, &json!({"enabled": true})).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(enabled["disabled_reason"], Value::Null);
    assert_eq!(enabled["failing_since"], Value::Null);
    let received = receiver.wait_for(attempts + 1).await;
    assert_eq!(
        received[attempts].webhook_id(),
        received[0].webhook_id(),
        "the same event"
    );
}

async fn technicians_may_not_manage_webhooks(backend: Backend) {
    let Some(app) = spawn_app_with(
        backend,
        |s| s.auth_secret = Some(SECRET.to_string().into()),
        None,
    )
    .await
    else {
        return;
    };
    let technician = hs256(SECRET, &claims("technician", "tech@test", Some(1)));
    let dispatcher = hs256(SECRET, &claims("dispatcher", "disp@test", None));
    let url = app.url("/api/v1/webhooks");
    let refused = app
        .client
        .get(&url)
        .bearer_auth(&technician)
        .send()
        .await
        .unwrap();
    expect_problem(refused, StatusCode::FORBIDDEN).await;
    let refused = app
        .client
        .post(&url)
        .bearer_auth(&technician)
        .json(&json!({"url": "https://1.1.1.1/"}))
        .send()
        .await
        .unwrap();
    expect_problem(refused, StatusCode::FORBIDDEN).await;
    let listed = app
        .client
        .get(&url)
        .bearer_auth(&dispatcher)
        .send()
        .await
        .unwrap();
    expect_json(listed, StatusCode::OK).await;
}

/// The delivery tests on both backends, with the fast settings.
macro_rules! delivery_tests {
    ($($name:ident),+ $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    let app = super::app_with(crate::helpers::Backend::Sqlite, |_| {}).await.unwrap();
                    super::$name(app).await;
                }
            )+
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    if let Some(app) = super::app_with(crate::helpers::Backend::Postgres, |_| {}).await {
                        super::$name(app).await;
                    }
                }
            )+
        }
    };
}

mod delivery {
    use super::*;

    delivery_tests!(
        webhooks_are_managed_and_the_secret_is_shown_once,
        deliveries_are_signed_in_order_and_logged,
        a_failing_receiver_gets_the_event_once_delivered_after_retries,
        a_delivery_can_be_retried_by_hand,
        a_manual_retry_unblocks_a_failing_endpoint,
    );
}

/// Declares `async fn(Backend)` tests on both backends.
macro_rules! per_backend {
    ($($name:ident),+ $(,)?) => {
        $(
            mod $name {
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn sqlite() {
                    super::$name(crate::helpers::Backend::Sqlite).await;
                }

                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn postgres() {
                    super::$name(crate::helpers::Backend::Postgres).await;
                }
            }
        )+
    };
}

per_backend!(
    private_targets_are_refused_without_the_flag,
    an_endpoint_failing_for_the_whole_window_is_disabled,
    technicians_may_not_manage_webhooks,
    a_server_killed_mid_delivery_delivers_after_restart,
);

/// The environment of a `fieldopt` process with fast webhook settings.
fn process_env(database_url: &str) -> Vec<(&'static str, String)> {
    vec![
        ("DATABASE_URL", database_url.to_string()),
        ("FIELDOPT_WEBHOOKS_ALLOW_PRIVATE", "1".to_string()),
        ("FIELDOPT_WEBHOOK_LEASE_MS", "1000".to_string()),
        ("FIELDOPT_WEBHOOK_POLL_MS", "25".to_string()),
        ("FIELDOPT_WEBHOOK_RETRY_SCALE", "0.0002".to_string()),
        ("RUST_LOG", "warn".to_string()),
    ]
}

async fn post(client: &Client, server: &ServerProcess, path: &str, body: Value) -> Value {
    let response = client
        .post(format!("{}{path}", server.address))
        .json(&body)
        .send()
        .await
        .expect("request");
    expect_json(response, StatusCode::CREATED).await
}

fn new_job(customer: &str) -> Value {
    json!({"type": "install", "customer": customer, "address": "1 Main St",
           "scheduled_date": "2030-01-15"})
}

/// SIGKILL between sending an event and recording it: the lease runs out
/// and the restarted server sends the same message again.
async fn a_server_killed_mid_delivery_delivers_after_restart(backend: Backend) {
    let Some((_database, url)) = TestDatabase::create(backend) else {
        return;
    };
    let receiver = Receiver::start(&[Reply::Hold]).await;
    let client = Client::new();
    let env = process_env(&url);
    let first = ServerProcess::start(&env, std::process::Stdio::null()).await;
    let webhook = post(
        &client,
        &first,
        "/api/v1/webhooks",
        json!({"url": receiver.url}),
    )
    .await;
    post(&client, &first, "/api/v1/jobs", new_job("Killed")).await;
    let held = receiver.wait_for(1).await;
    first.kill();

    let second = ServerProcess::start(&env, std::process::Stdio::null()).await;
    let received = receiver.wait_for(2).await;
    assert_eq!(received[1].webhook_id(), held[0].webhook_id());
    verify(webhook["secret"].as_str().unwrap(), &received[1]).unwrap();
    let log = client
        .get(format!(
            "{}/api/v1/webhooks/{}/deliveries",
            second.address,
            id(&webhook)
        ))
        .send()
        .await
        .unwrap();
    let log = expect_json(log, StatusCode::OK).await;
    // The killed attempt was never recorded; the one after the restart was.
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut log = log;
    while log.as_array().unwrap().is_empty() && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
        let again = client
            .get(format!(
                "{}/api/v1/webhooks/{}/deliveries",
                second.address,
                id(&webhook)
            ))
            .send()
            .await
            .unwrap();
        log = expect_json(again, StatusCode::OK).await;
    }
    assert_eq!(log[0]["status_code"], 200, "{log}");
}

/// Two servers on one PostgreSQL database share the work: every event
/// reaches the receiver exactly once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_processes_never_both_deliver_one_event() {
    let Some((_database, url)) = TestDatabase::create(Backend::Postgres) else {
        return;
    };
    let receiver = Receiver::start(&[]).await;
    let client = Client::new();
    let mut env = process_env(&url);
    // Long enough that no slow round on a busy machine outlives its lease
    // (which would rightly allow a second send: at least once).
    env.push(("FIELDOPT_WEBHOOK_LEASE_MS", "30000".to_string()));
    let servers = [
        ServerProcess::start(&env, std::process::Stdio::null()).await,
        ServerProcess::start(&env, std::process::Stdio::null()).await,
    ];
    post(
        &client,
        &servers[0],
        "/api/v1/webhooks",
        json!({"url": receiver.url, "event_types": "job.created"}),
    )
    .await;
    const JOBS: usize = 40;
    for n in 0..JOBS {
        post(
            &client,
            &servers[n % 2],
            "/api/v1/jobs",
            new_job(&format!("C{n}")),
        )
        .await;
    }
    receiver.wait_for(JOBS).await;
    // Time for a duplicate to show up, if there were one.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let received = receiver.received();
    let mut seen = HashMap::new();
    for request in &received {
        *seen.entry(request.webhook_id().to_string()).or_insert(0) += 1;
    }
    let repeated: Vec<_> = seen.iter().filter(|(_, count)| **count > 1).collect();
    assert!(
        repeated.is_empty(),
        "delivered more than once: {repeated:?}"
    );
    assert_eq!(received.len(), JOBS);
}

/// Deliveries per second to a local receiver, one endpoint (its events go
/// one at a time, in order) and four endpoints (in parallel): a benchmark,
/// run by hand (see docs/benchmarks.md):
/// `cargo test --release -p fieldopt-server --test api webhooks::delivery_throughput -- --ignored --nocapture`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a benchmark: run it by hand"]
async fn delivery_throughput() {
    const EVENTS: usize = 300;
    for backend in [Backend::Sqlite, Backend::Postgres] {
        let Some(app) = app_with(backend, |_| {}).await else {
            continue;
        };
        for endpoints in [1, 4] {
            let receiver = Receiver::start(&[]).await;
            let mut created = Vec::new();
            for _ in 0..endpoints {
                let body =
                    json!({"url": receiver.url, "event_types": "job.created", "enabled": false});
                created.push(id(&create_webhook(&app, body).await));
            }
            for n in 0..EVENTS {
                app.job(json!({"customer": format!("C{n}")})).await;
            }
            let started = Instant::now();
            for webhook in &created {
                let path = format!("/api/v1/webhooks/{webhook}");
                expect_json(
                    app.patch(&path, &json!({"enabled": true})).await,
                    StatusCode::OK,
                )
                .await;
            }
            let total = EVENTS * endpoints;
            let deadline = Instant::now() + Duration::from_secs(300);
            while receiver.received().len() < total {
                assert!(Instant::now() < deadline, "too slow");
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            let seconds = started.elapsed().as_secs_f64();
            println!(
                "{backend:?}: {endpoints} endpoint(s), {total} deliveries in {seconds:.2} s: {:.0} deliveries/s",
                total as f64 / seconds
            );
            for webhook in &created {
                app.delete(&format!("/api/v1/webhooks/{webhook}")).await;
            }
        }
    }
}
