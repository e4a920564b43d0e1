//! Spawning the application and talking to it.

use std::time::Duration;

use fieldopt_server::config::Settings;

use crate::tokens;
use fieldopt_server::startup::Application;
use reqwest::{Client, Response, StatusCode};
use serde_json::{Value, json};

/// Which database a test runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// Where the test database lives; dropping it removes the database.
pub enum TestDatabase {
    Sqlite(#[allow(dead_code)] tempfile::TempDir),
    Postgres { server_url: String, name: String },
}

impl TestDatabase {
    /// A fresh, empty database, or `None` when PostgreSQL tests are not
    /// configured (`FIELDOPT_TEST_POSTGRES_URL` unset and not required).
    pub fn create(backend: Backend) -> Option<(TestDatabase, String)> {
        match backend {
            Backend::Sqlite => {
                let dir = tempfile::tempdir().expect("temp dir");
                let url = format!("sqlite://{}", dir.path().join("fieldopt.db").display());
                Some((TestDatabase::Sqlite(dir), url))
            }
            Backend::Postgres => {
                let Ok(server_url) = std::env::var("FIELDOPT_TEST_POSTGRES_URL") else {
                    assert!(
                        std::env::var_os("FIELDOPT_REQUIRE_POSTGRES").is_none(),
                        "FIELDOPT_REQUIRE_POSTGRES is set but FIELDOPT_TEST_POSTGRES_URL is not"
                    );
                    eprintln!("PostgreSQL test not run: FIELDOPT_TEST_POSTGRES_URL is not set");
                    return None;
                };
                let name = format!("fieldopt_t_{}", uuid::Uuid::new_v4().simple());
                let url = fieldopt_store::admin::create_postgres_database(&server_url, &name)
                    .expect("create test database");
                Some((TestDatabase::Postgres { server_url, name }, url))
            }
        }
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        if let TestDatabase::Postgres { server_url, name } = self {
            let _ = fieldopt_store::admin::drop_postgres_database(server_url, name);
        }
    }
}

/// A running application and a client for it.
pub struct TestApp {
    pub address: String,
    pub client: Client,
    pub database_url: String,
    pub pool: fieldopt_store::DbPool,
    /// The HS256 secret the server trusts, when authentication is on.
    pub secret: Option<String>,
    _database: TestDatabase,
}

/// The application in development mode (no authentication).
pub async fn spawn_app(backend: Backend) -> Option<TestApp> {
    spawn_app_with(backend, |_| {}, None).await
}

/// The application with `configure`d settings; the client sends
/// `Authorization: Bearer <token>` on every request when `token` is given.
pub async fn spawn_app_with(
    backend: Backend,
    configure: impl FnOnce(&mut Settings),
    token: Option<String>,
) -> Option<TestApp> {
    let (database, database_url) = TestDatabase::create(backend)?;
    let mut settings = Settings::for_tests(database_url.clone());
    configure(&mut settings);
    let secret = settings
        .auth_secret
        .as_ref()
        .map(|s| secrecy::ExposeSecret::expose_secret(s).to_string());
    let app = Application::build(settings).await.expect("build app");
    let address = format!("http://127.0.0.1:{}", app.port());
    let pool = app.pool().clone();
    tokio::spawn(app.run_until_stopped());
    let mut headers = reqwest::header::HeaderMap::new();
    if let Some(token) = token {
        headers.insert(
            reqwest::header::AUTHORIZATION,
            format!("Bearer {token}").parse().expect("header value"),
        );
    }
    Some(TestApp {
        address,
        client: Client::builder()
            .timeout(Duration::from_secs(60))
            .default_headers(headers)
            .build()
            .expect("client"),
        database_url,
        pool,
        secret,
        _database: database,
    })
}

/// The application with authentication on (the test secret), its client
/// holding a dispatcher's token.
pub async fn spawn_app_as_dispatcher(backend: Backend) -> Option<TestApp> {
    let token = tokens::hs256(
        tokens::SECRET,
        &tokens::claims("dispatcher", "dispatcher@test", None),
    );
    spawn_app_with(
        backend,
        |settings| settings.auth_secret = Some(tokens::SECRET.to_string().into()),
        Some(token),
    )
    .await
}

/// Declares each listed `async fn(TestApp)` as a test on both backends, in
/// development mode and once more with authentication on and a
/// dispatcher's token.
#[macro_export]
macro_rules! backend_tests {
    ($($name:ident),+ $(,)?) => {
        mod sqlite_as_dispatcher {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    let app = $crate::helpers::spawn_app_as_dispatcher($crate::helpers::Backend::Sqlite).await.unwrap();
                    super::$name(app).await;
                }
            )+
        }
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    let app = $crate::helpers::spawn_app($crate::helpers::Backend::Sqlite).await.unwrap();
                    super::$name(app).await;
                }
            )+
        }
        mod postgres_as_dispatcher {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    if let Some(app) = $crate::helpers::spawn_app_as_dispatcher($crate::helpers::Backend::Postgres).await {
                        super::$name(app).await;
                    }
                }
            )+
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    if let Some(app) = $crate::helpers::spawn_app($crate::helpers::Backend::Postgres).await {
                        super::$name(app).await;
                    }
                }
            )+
        }
    };
}

impl TestApp {
    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.address, path)
    }

    pub async fn get(&self, path: &str) -> Response {
        self.client
            .get(self.url(path))
            .send()
            .await
            .expect("request")
    }

    pub async fn post(&self, path: &str, body: &Value) -> Response {
        self.client
            .post(self.url(path))
            .json(body)
            .send()
            .await
            .expect("request")
    }

    pub async fn post_raw(&self, path: &str, body: &str) -> Response {
        self.client
            .post(self.url(path))
            .header("Content-Type", "application/json")
            .body(body.to_string())
            .send()
            .await
            .expect("request")
    }

    pub async fn patch(&self, path: &str, body: &Value) -> Response {
        self.client
            .patch(self.url(path))
            .json(body)
            .send()
            .await
            .expect("request")
    }

    pub async fn delete(&self, path: &str) -> Response {
        self.client
            .delete(self.url(path))
            .send()
            .await
            .expect("request")
    }

    /// Creates a technician; `extra` fields override the defaults.
    pub async fn technician(&self, extra: Value) -> Value {
        let mut body = json!({"name": "Tech", "skills": ["install", "repair"]});
        merge(&mut body, extra);
        let response = self.post("/api/v1/technicians", &body).await;
        expect_json(response, StatusCode::CREATED).await
    }

    /// Creates a job; `extra` fields override the defaults.
    pub async fn job(&self, extra: Value) -> Value {
        let mut body = json!({
            "type": "install", "customer": "Acme Corp", "address": "1 Main St",
            "scheduled_date": "2030-01-15"
        });
        merge(&mut body, extra);
        let response = self.post("/api/v1/jobs", &body).await;
        expect_json(response, StatusCode::CREATED).await
    }

    pub async fn assign(&self, job: i64, tech: i64) -> Response {
        self.post(
            "/api/v1/assignments",
            &json!({"job_id": job, "technician_id": tech}),
        )
        .await
    }

    /// The store's view: every day counter matches the active jobs held.
    pub fn assert_counters_consistent(&self) {
        let mut conn = self.pool.get().expect("connection");
        let mismatches = fieldopt_store::workload::counter_mismatches(&mut conn).expect("query");
        assert!(
            mismatches.is_empty(),
            "day counters out of step: {mismatches:?}"
        );
    }
}

pub fn merge(base: &mut Value, extra: Value) {
    if let (Some(base), Value::Object(extra)) = (base.as_object_mut(), extra) {
        for (key, value) in extra {
            base.insert(key, value);
        }
    }
}

pub fn id(value: &Value) -> i64 {
    value["id"].as_i64().expect("id")
}

/// Asserts the status and returns the JSON body.
pub async fn expect_json(response: Response, status: StatusCode) -> Value {
    let actual = response.status();
    let text = response.text().await.expect("body");
    assert_eq!(actual, status, "unexpected status; body: {text}");
    serde_json::from_str(&text).unwrap_or(Value::Null)
}

/// Asserts a problem document with this status and returns its detail.
pub async fn expect_problem(response: Response, status: StatusCode) -> String {
    let actual = response.status();
    let content_type = response
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap_or_default().to_string())
        .unwrap_or_default();
    let text = response.text().await.expect("body");
    assert_eq!(actual, status, "unexpected status; body: {text}");
    assert_eq!(content_type, "application/problem+json", "body: {text}");
    let body: Value = serde_json::from_str(&text).expect("problem is JSON");
    assert_eq!(body["status"], status.as_u16(), "{text}");
    assert!(
        body["type"]
            .as_str()
            .is_some_and(|t| t.starts_with("urn:fieldopt:problem:"))
    );
    assert!(body["title"].is_string());
    body["detail"].as_str().expect("detail").to_string()
}

/// A `fieldopt serve` child process; killed on drop.
pub struct ServerProcess {
    child: std::process::Child,
    pub address: String,
}

impl ServerProcess {
    /// A server on `app`'s database, trusting `app`'s secret.
    pub async fn for_app(app: &TestApp) -> ServerProcess {
        let mut env = vec![("DATABASE_URL", app.database_url.clone())];
        if let Some(secret) = &app.secret {
            env.push(("FIELDOPT_AUTH_SECRET", secret.clone()));
        }
        Self::start(&env, std::process::Stdio::null()).await
    }

    /// A server with these environment settings, its log going to `log`.
    pub async fn start(
        env: &[(&str, String)],
        log: impl Into<std::process::Stdio>,
    ) -> ServerProcess {
        let port = free_port();
        let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_fieldopt"));
        command
            .arg("serve")
            .env("FIELDOPT_BIND", format!("127.0.0.1:{port}"))
            .env("FIELDOPT_WORKERS", "2")
            .env("FIELDOPT_POOL_SIZE", "4");
        for (name, value) in env {
            command.env(name, value);
        }
        let child = command
            .stdout(std::process::Stdio::null())
            .stderr(log)
            .spawn()
            .expect("start fieldopt");
        let mut process = ServerProcess {
            child,
            address: format!("http://127.0.0.1:{port}"),
        };
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        let client = Client::new();
        loop {
            if let Ok(Some(status)) = process.child.try_wait() {
                panic!("fieldopt exited before it was ready: {status}");
            }
            let ready = client
                .get(format!("{}/readyz", process.address))
                .send()
                .await;
            if ready.is_ok_and(|r| r.status() == StatusCode::OK) {
                return process;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "fieldopt did not become ready"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Sends SIGTERM and returns whether the process exited with 0.
    pub fn terminate(self) -> bool {
        self.send_sigterm();
        self.wait().success()
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl ServerProcess {
    /// The port the server listens on.
    pub fn port(&self) -> u16 {
        self.address
            .rsplit(':')
            .next()
            .and_then(|p| p.parse().ok())
            .expect("port in address")
    }

    /// Sends SIGTERM without waiting for the exit.
    pub fn send_sigterm(&self) {
        let pid = self.child.id().to_string();
        let sent = std::process::Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .expect("kill");
        assert!(sent.success());
    }

    /// Waits for the process to exit (blocking) and returns its status.
    pub fn wait(mut self) -> std::process::ExitStatus {
        let status = self.child.wait().expect("wait");
        std::mem::forget(self);
        status
    }

    /// SIGKILL: the process dies at once, wherever it was.
    pub fn kill(self) {
        drop(self);
    }
}

/// Runs `fieldopt ARGS` with these environment settings to its end.
pub fn run_fieldopt(args: &[&str], env: &[(&str, String)]) -> std::process::Output {
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_fieldopt"));
    command.args(args).env("RUST_LOG", "warn");
    for (name, value) in env {
        command.env(name, value);
    }
    command.output().expect("run fieldopt")
}

/// A pool of `connections` on `database_url`, for checking from the test.
pub fn pool_for(database_url: &str, connections: u32) -> fieldopt_store::DbPool {
    let target = fieldopt_store::DatabaseTarget::parse(database_url).expect("database URL");
    fieldopt_store::build_pool(fieldopt_store::PoolOptions {
        max_size: Some(connections),
        ..fieldopt_store::PoolOptions::new(target)
    })
    .expect("pool")
}

/// A TCP port on 127.0.0.1 that nothing listens on (at the moment of asking).
///
/// Taken below the kernel's ephemeral range (32768 and up), where the
/// outgoing connections of the other tests take their ports: a port the
/// kernel handed out could be reused by one of them before the child
/// process binds it. Each call in this process tries the next port.
pub fn free_port() -> u16 {
    use std::sync::atomic::{AtomicU32, Ordering};
    const FIRST: u32 = 20_000;
    const SPAN: u32 = 12_000;
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let start = std::process::id().wrapping_mul(7919) % SPAN;
    loop {
        let offset = (start + NEXT.fetch_add(1, Ordering::Relaxed)) % SPAN;
        let port = u16::try_from(FIRST + offset).expect("port below 32 000");
        if std::net::TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
}
