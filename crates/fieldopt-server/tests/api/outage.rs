//! Database outages against the real binary: PostgreSQL stopped under load
//! and started again, a lock held too long (both backends), an SQLite
//! database opened read-only, an SQLite disk that fills up. Clients get 503
//! problem documents with `Retry-After` within the timeout — never a hang,
//! never a 500 — and service resumes without restarting fieldopt.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use reqwest::{Client, StatusCode};
use serde_json::{Value, json};

use fieldopt_store::admin::execute_sql;

use crate::helpers::{Backend, ServerProcess, TestDatabase, free_port};

/// `FIELDOPT_DB_TIMEOUT_MS` of the servers under test: short, so the
/// module stays fast.
const TIMEOUT: Duration = Duration::from_millis(1000);

/// How late an answer may come beyond the timeout: a debug build on a
/// loaded CI machine, connection set-up, the answer's own work.
const MARGIN: Duration = Duration::from_millis(1500);

const PROBLEM_TYPE: &str = "urn:fieldopt:problem:database-unavailable";

/// A server of our own on `database_url` with the short timeout and a
/// pool of 4.
async fn start_server(database_url: &str) -> ServerProcess {
    let env = [
        ("DATABASE_URL", database_url.to_string()),
        ("FIELDOPT_DB_TIMEOUT_MS", TIMEOUT.as_millis().to_string()),
        // Every load client here is 127.0.0.1: no rate limit.
        ("FIELDOPT_RATE_LIMIT_RPS", "0".to_string()),
    ];
    ServerProcess::start(&env, Stdio::null()).await
}

fn client() -> Client {
    // Far beyond the timeout: a hang fails the elapsed-time checks, not
    // the client.
    Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .expect("client")
}

/// One answer: its status, its body, `Retry-After`, and how long it took.
#[derive(Debug)]
struct Answer {
    status: StatusCode,
    body: Value,
    retry_after: Option<String>,
    elapsed: Duration,
}

/// Creates a technician through `base`; it must succeed.
async fn create_technician(client: &Client, base: &str, body: Value) -> Answer {
    let created = send(
        client
            .post(format!("{base}/api/v1/technicians"))
            .json(&body),
    )
    .await;
    assert_eq!(created.status, StatusCode::CREATED, "{created:?}");
    created
}

async fn send(request: reqwest::RequestBuilder) -> Answer {
    let started = Instant::now();
    let response = request.send().await.expect("an answer, not a hang");
    let status = response.status();
    let retry_after = response
        .headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let text = response.text().await.expect("body");
    Answer {
        status,
        body: serde_json::from_str(&text).unwrap_or(Value::Null),
        retry_after,
        elapsed: started.elapsed(),
    }
}

impl Answer {
    /// Asserts a database-unavailable problem document, in time; returns
    /// its detail.
    fn assert_outage(&self) -> String {
        assert_eq!(self.status, StatusCode::SERVICE_UNAVAILABLE, "{self:?}");
        assert_eq!(self.body["type"], PROBLEM_TYPE, "{self:?}");
        assert_eq!(self.body["status"], 503, "{self:?}");
        let retry: u64 = self
            .retry_after
            .as_deref()
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("Retry-After in seconds: {self:?}"));
        assert!((1..=60).contains(&retry), "{self:?}");
        self.assert_in_time();
        let detail = self.body["detail"].as_str().expect("detail").to_string();
        for internal in ["SELECT", "INSERT", "sqlite", "postgres", "/tmp", ".db"] {
            assert!(
                !detail.contains(internal),
                "detail leaks internals: {detail}"
            );
        }
        detail
    }

    fn assert_in_time(&self) {
        assert!(
            self.elapsed <= TIMEOUT + MARGIN,
            "answered after {:?} (timeout {TIMEOUT:?}): {self:?}",
            self.elapsed
        );
    }
}

/// The PostgreSQL binaries (`initdb`, `pg_ctl`) of the newest version
/// installed, or what `PATH` finds.
fn postgres_bin_dir() -> Option<PathBuf> {
    let mut dirs: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .map(|entry| entry.path().join("bin"))
        .filter(|bin| bin.join("initdb").is_file() && bin.join("pg_ctl").is_file())
        .collect();
    dirs.sort_by_key(|bin| {
        bin.parent()
            .and_then(Path::file_name)
            .and_then(|v| v.to_str())
            .and_then(|v| v.parse::<u32>().ok())
    });
    dirs.pop()
}

fn running_as_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|out| out.stdout.trim_ascii() == b"0")
}

/// A PostgreSQL server of this test's own: a cluster made by `initdb` in a
/// temporary folder, on a free port, its socket in that folder; stopped
/// and removed on drop. Never the shared server the other tests use.
struct PrivatePostgres {
    bin: PathBuf,
    dir: tempfile::TempDir,
    port: u16,
}

impl PrivatePostgres {
    fn start() -> PrivatePostgres {
        let bin = postgres_bin_dir()
            .or_else(|| {
                let out = Command::new("pg_config").arg("--bindir").output().ok()?;
                Some(PathBuf::from(String::from_utf8(out.stdout).ok()?.trim()))
            })
            .expect("PostgreSQL server binaries (initdb, pg_ctl) are installed");
        let dir = tempfile::tempdir().expect("temp dir");
        if running_as_root() {
            // initdb refuses to run as root: the cluster belongs to postgres.
            let owned = Command::new("chown")
                .args(["postgres:"])
                .arg(dir.path())
                .status()
                .expect("chown");
            assert!(owned.success(), "chown to the postgres user failed");
        }
        let server = PrivatePostgres {
            bin,
            dir,
            port: free_port(),
        };
        server.run(
            "initdb",
            &[
                "-D",
                &server.data(),
                "-U",
                "postgres",
                "-A",
                "trust",
                "-E",
                "UTF8",
                "--no-sync",
                "--no-instructions",
            ],
        );
        server.pg_start();
        server
    }

    fn data(&self) -> String {
        self.dir.path().join("data").display().to_string()
    }

    /// One of the server's programs, run as the postgres user when we are
    /// root.
    fn command(&self, program: &str, args: &[&str]) -> Command {
        let program = self.bin.join(program);
        let mut command = if running_as_root() {
            let mut command = Command::new("runuser");
            command.args(["-u", "postgres", "--"]).arg(&program);
            command
        } else {
            Command::new(&program)
        };
        command.args(args).stdin(Stdio::null());
        command
    }

    /// Runs one of the server's programs; panics with its output when it
    /// fails.
    fn run(&self, program: &str, args: &[&str]) {
        let out = self
            .command(program, args)
            .output()
            .expect("run a PostgreSQL program");
        assert!(
            out.status.success(),
            "{program} {args:?} failed: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }

    fn pg_start(&self) {
        let options = format!(
            "-p {} -k {} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=40",
            self.port,
            self.dir.path().display()
        );
        let log = self.dir.path().join("server.log").display().to_string();
        self.run(
            "pg_ctl",
            &[
                "-D",
                &self.data(),
                "-l",
                &log,
                "-o",
                &options,
                "-w",
                "-t",
                "30",
                "start",
            ],
        );
    }

    /// Stops the server the way an operator or a failover does: open
    /// connections are cut, transactions in flight rolled back.
    fn pg_stop(&self) {
        self.run("pg_ctl", &["-D", &self.data(), "-m", "fast", "-w", "stop"]);
    }

    fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }
}

impl Drop for PrivatePostgres {
    fn drop(&mut self) {
        // Fails harmlessly when a test already stopped it.
        let _ = self
            .command(
                "pg_ctl",
                &["-D", &self.data(), "-m", "immediate", "-w", "stop"],
            )
            .output();
    }
}

/// What the load saw: every answer, and whether it was a write.
type Seen = Vec<(bool, Answer)>;

/// Sends reads and writes in a loop until `stop` is set.
async fn keep_loading(client: Client, base: String, stop: Arc<AtomicBool>) -> Seen {
    let mut seen = Vec::new();
    let mut n = 0u32;
    while !stop.load(Ordering::Relaxed) {
        n += 1;
        let write = n.is_multiple_of(2);
        let request = if write {
            client
                .post(format!("{base}/api/v1/technicians"))
                .json(&json!({"name": format!("Load {n}"), "skills": ["install"]}))
        } else {
            client.get(format!("{base}/api/v1/technicians?limit=5"))
        };
        seen.push((write, send(request).await));
    }
    seen
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_stopped_postgres_gives_quick_503s_and_service_resumes_without_a_restart() {
    let postgres = PrivatePostgres::start();
    let server = start_server(&postgres.url()).await;
    let base = server.address.clone();
    let client = client();
    create_technician(
        &client,
        &base,
        json!({"name": "Before", "skills": ["install"]}),
    )
    .await;

    // Three times the pool (4) of clients, each sending as fast as answers
    // come: while the database is down most of them wait for the pool.
    let stop = Arc::new(AtomicBool::new(false));
    let loaders: Vec<_> = (0..12)
        .map(|_| tokio::spawn(keep_loading(client.clone(), base.clone(), stop.clone())))
        .collect();
    tokio::time::sleep(Duration::from_millis(300)).await;

    postgres.pg_stop();
    let stopped_at = Instant::now();
    let health = send(client.get(format!("{base}/healthz"))).await;
    assert_eq!(health.status, StatusCode::OK, "{health:?}");
    assert!(health.elapsed < Duration::from_millis(500), "{health:?}");
    // The first probe may still find a connection that has not heard of
    // the stop; within a few it must say unavailable.
    let mut ready = send(client.get(format!("{base}/readyz"))).await;
    for _ in 0..5 {
        if ready.status != StatusCode::OK {
            break;
        }
        ready = send(client.get(format!("{base}/readyz"))).await;
    }
    ready.assert_outage();
    // An outage of more than twice the timeout: some requests wait it out
    // in full.
    tokio::time::sleep((TIMEOUT * 5 / 2).saturating_sub(stopped_at.elapsed())).await;
    assert_eq!(
        send(client.get(format!("{base}/healthz"))).await.status,
        StatusCode::OK
    );

    postgres.pg_start();
    let restarted_at = Instant::now();
    loop {
        let ready = send(client.get(format!("{base}/readyz"))).await;
        if ready.status == StatusCode::OK {
            break;
        }
        ready.assert_outage();
        assert!(
            restarted_at.elapsed() < Duration::from_secs(10),
            "fieldopt did not resume after PostgreSQL came back"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let resumed_after = restarted_at.elapsed();
    tokio::time::sleep(Duration::from_millis(300)).await;
    stop.store(true, Ordering::Relaxed);
    let mut seen = Seen::new();
    for loader in loaders {
        seen.extend(loader.await.expect("loader"));
    }

    let mut outages = 0;
    let (mut written, mut refused_writes) = (0, 0);
    for (write, answer) in &seen {
        match answer.status {
            StatusCode::OK | StatusCode::CREATED => answer.assert_in_time(),
            _ => {
                answer.assert_outage();
                outages += 1;
            }
        }
        match (write, answer.status) {
            (true, StatusCode::CREATED) => written += 1,
            (true, _) => refused_writes += 1,
            _ => {}
        }
    }
    assert!(outages >= 12, "only {outages} requests met the outage");
    let slowest = seen
        .iter()
        .map(|(_, a)| a.elapsed)
        .max()
        .unwrap_or_default();
    eprintln!(
        "{} requests, {outages} × 503, slowest {slowest:?}; ready again {resumed_after:?} after the restart",
        seen.len()
    );

    // Service resumed in the same process: reads and writes succeed, and
    // every acknowledged write is there (a write cut off mid-commit may be
    // there too, never half of one).
    create_technician(
        &client,
        &base,
        json!({"name": "After", "skills": ["install"]}),
    )
    .await;
    let listed = send(client.get(format!("{base}/api/v1/technicians?limit=5000"))).await;
    assert_eq!(listed.status, StatusCode::OK, "{listed:?}");
    let count = listed.body.as_array().map_or(0, Vec::len);
    let acknowledged = written + 2;
    assert!(
        (acknowledged..=acknowledged + refused_writes).contains(&count),
        "{count} technicians for {acknowledged} acknowledged and {refused_writes} refused writes"
    );

    // A restart between two requests: every idle connection of the pool is
    // dead, and not one request may pay for it.
    postgres.pg_stop();
    postgres.pg_start();
    let quiet = (0..8).map(|_| send(client.get(format!("{base}/api/v1/technicians?limit=1"))));
    for answer in futures_util::future::join_all(quiet).await {
        assert_eq!(
            answer.status,
            StatusCode::OK,
            "after a quiet restart: {answer:?}"
        );
    }
    assert!(server.terminate(), "fieldopt did not stop cleanly");
}

/// Another connection holds the write lock for longer than the timeout:
/// writes answer 503 in about the timeout, reads go on, and writes succeed
/// once it lets go.
async fn a_lock_held_too_long_gives_503_not_a_hang(backend: Backend) {
    let Some((_database, url)) = TestDatabase::create(backend) else {
        return;
    };
    let server = start_server(&url).await;
    let base = server.address.clone();
    let client = client();
    create_technician(
        &client,
        &base,
        json!({"name": "Held", "skills": ["install"]}),
    )
    .await;

    let target = fieldopt_store::DatabaseTarget::parse(&url).expect("url");
    let mut holder = target.connect().expect("a second connection");
    let lock = match backend {
        Backend::Sqlite => "BEGIN IMMEDIATE",
        // Writes wait on it; reads do not.
        Backend::Postgres => "BEGIN; LOCK TABLE technicians IN EXCLUSIVE MODE",
    };
    execute_sql(&mut holder, lock).expect("take the write lock");

    let writes = (0..3).map(|n| {
        send(
            client
                .post(format!("{base}/api/v1/technicians"))
                .json(&json!({"name": format!("Blocked {n}"), "skills": ["install"]})),
        )
    });
    let read = send(client.get(format!("{base}/api/v1/technicians")));
    let (writes, read) = tokio::join!(futures_util::future::join_all(writes), read);
    assert_eq!(read.status, StatusCode::OK, "{read:?}");
    for write in &writes {
        let detail = write.assert_outage();
        assert!(detail.contains("locked"), "{detail}");
        // It did wait for the lock, up to the timeout.
        assert!(write.elapsed >= TIMEOUT * 9 / 10, "{write:?}");
    }
    eprintln!(
        "{backend:?}: locked writes answered after {:?}",
        writes.iter().map(|w| w.elapsed).collect::<Vec<_>>()
    );

    execute_sql(&mut holder, "ROLLBACK").expect("let go");
    create_technician(
        &client,
        &base,
        json!({"name": "Free", "skills": ["install"]}),
    )
    .await;
    let listed = send(client.get(format!("{base}/api/v1/technicians"))).await;
    assert_eq!(listed.body.as_array().map(Vec::len), Some(2), "{listed:?}");
    assert!(server.terminate());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_a_lock_held_too_long_gives_503_not_a_hang() {
    a_lock_held_too_long_gives_503_not_a_hang(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_a_lock_held_too_long_gives_503_not_a_hang() {
    a_lock_held_too_long_gives_503_not_a_hang(Backend::Postgres).await;
}

/// The SQLite file of a test database's URL.
fn sqlite_file(url: &str) -> PathBuf {
    PathBuf::from(url.strip_prefix("sqlite://").expect("an SQLite URL"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_read_only_sqlite_database_refuses_writes_and_serves_reads() {
    let (_database, url) = TestDatabase::create(Backend::Sqlite).expect("SQLite");
    let client = client();
    let writable = start_server(&url).await;
    let tech = create_technician(
        &client,
        &writable.address,
        json!({"name": "Kept", "skills": ["install"]}),
    )
    .await;
    assert!(writable.terminate());

    // The same file opened read-only, as a read-only file, mount or copy
    // leaves it: SQLite answers every write with SQLITE_READONLY.
    let file = sqlite_file(&url);
    let read_only = start_server(&format!("sqlite://file:{}?mode=ro", file.display())).await;
    let base = read_only.address.clone();
    let listed = send(client.get(format!("{base}/api/v1/technicians"))).await;
    assert_eq!(listed.status, StatusCode::OK, "{listed:?}");
    assert_eq!(listed.body[0]["name"], "Kept");
    let ready = send(client.get(format!("{base}/readyz"))).await;
    assert_eq!(ready.status, StatusCode::OK, "reads work: {ready:?}");
    let id = tech.body["id"].as_i64().expect("id");
    for request in [
        client
            .post(format!("{base}/api/v1/technicians"))
            .json(&json!({"name": "New", "skills": ["install"]})),
        client
            .patch(format!("{base}/api/v1/technicians/{id}"))
            .json(&json!({"name": "Renamed"})),
        client.delete(format!("{base}/api/v1/technicians/{id}")),
    ] {
        let detail = send(request).await.assert_outage();
        assert!(detail.contains("read-only"), "{detail}");
    }
    let listed = send(client.get(format!("{base}/api/v1/technicians"))).await;
    assert_eq!(listed.body.as_array().map(Vec::len), Some(1), "{listed:?}");
    assert_eq!(listed.body[0]["name"], "Kept");
    assert!(read_only.terminate());
}

/// A size-limited tmpfs mounted on a temporary folder; unmounted on drop.
struct Tmpfs {
    dir: tempfile::TempDir,
}

impl Tmpfs {
    fn mount(size: &str) -> Tmpfs {
        let dir = tempfile::tempdir().expect("temp dir");
        let out = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir.path())
            .output()
            .expect("run mount");
        assert!(
            out.status.success(),
            "mounting a {size} tmpfs failed (the disk-full test needs root): {}",
            String::from_utf8_lossy(&out.stderr)
        );
        Tmpfs { dir }
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        // Lazily: a server killed a moment ago may still hold files.
        let _ = Command::new("umount")
            .arg("-l")
            .arg(self.dir.path())
            .status();
    }
}

/// Writes zeros to `path` until the file system is full.
fn fill(path: &Path) {
    use std::io::Write;
    let mut file = std::fs::File::create(path).expect("filler");
    let block = vec![0u8; 16 * 1024];
    loop {
        if file.write_all(&block).and_then(|()| file.flush()).is_err() {
            break;
        }
    }
    // What is left is less than a block; take that too.
    while file.write_all(&[0u8; 512]).is_ok() {}
    let _ = file.sync_all();
}

/// A distinct day per job, so no technician's day fills up.
fn day(n: u32) -> String {
    format!("2031-{:02}-{:02}", n / 28 % 12 + 1, n % 28 + 1)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_sqlite_disk_refuses_writes_whole_and_recovers_when_space_is_freed() {
    let disk = Tmpfs::mount("4m");
    let url = format!("sqlite://{}", disk.path().join("fieldopt.db").display());
    let server = start_server(&url).await;
    let base = server.address.clone();
    let client = client();
    let tech = create_technician(
        &client,
        &base,
        json!({"name": "Filler", "skills": ["install", "repair"]}),
    )
    .await;
    let tech_id = tech.body["id"].as_i64().expect("id");

    let filler = disk.path().join("filler");
    fill(&filler);
    // Jobs and assignments (several rows per transaction) until the disk
    // refuses one.
    let (mut jobs, mut assigned) = (0, 0);
    let mut refusal = None;
    for n in 0..500 {
        let job = send(client.post(format!("{base}/api/v1/jobs")).json(&json!({
            "type": "install", "customer": format!("Customer {n} {}", "x".repeat(150)),
            "address": "1 Main St", "scheduled_date": day(n)
        })))
        .await;
        if job.status != StatusCode::CREATED {
            refusal = Some(job);
            break;
        }
        jobs += 1;
        let job_id = job.body["id"].as_i64().expect("id");
        let assignment = send(
            client
                .post(format!("{base}/api/v1/assignments"))
                .json(&json!({"job_id": job_id, "technician_id": tech_id})),
        )
        .await;
        if assignment.status != StatusCode::CREATED {
            refusal = Some(assignment);
            break;
        }
        assigned += 1;
    }
    let refusal = refusal.expect("a write refused once the disk is full");
    let detail = refusal.assert_outage();
    assert!(detail.contains("disk is full"), "{detail}");
    eprintln!("disk full after {jobs} jobs and {assigned} assignments");

    let listed = send(client.get(format!("{base}/api/v1/jobs?limit=5000"))).await;
    assert_eq!(listed.status, StatusCode::OK, "reads go on: {listed:?}");
    assert_eq!(listed.body.as_array().map(Vec::len), Some(jobs));
    let ready = send(client.get(format!("{base}/readyz"))).await;
    assert_eq!(ready.status, StatusCode::OK, "{ready:?}");

    std::fs::remove_file(&filler).expect("free the space");
    let job = send(client.post(format!("{base}/api/v1/jobs")).json(&json!({
        "type": "install", "customer": "After", "address": "1 Main St",
        "scheduled_date": day(499)
    })))
    .await;
    assert_eq!(job.status, StatusCode::CREATED, "{job:?}");
    let job_id = job.body["id"].as_i64().expect("id");
    let assignment = send(
        client
            .post(format!("{base}/api/v1/assignments"))
            .json(&json!({"job_id": job_id, "technician_id": tech_id})),
    )
    .await;
    assert_eq!(assignment.status, StatusCode::CREATED, "{assignment:?}");

    // Nothing half-written: every acknowledged job and assignment is
    // there, the refused one left no trace, the day counters agree.
    let listed = send(client.get(format!("{base}/api/v1/jobs?limit=5000"))).await;
    let listed = listed.body.as_array().expect("jobs").clone();
    assert_eq!(listed.len(), jobs + 1);
    let held = listed.iter().filter(|j| j["status"] == "assigned").count();
    assert_eq!(held, assigned + 1);
    assert!(server.terminate());
    let target = fieldopt_store::DatabaseTarget::parse(&url).expect("url");
    let mut conn = target.connect().expect("connection");
    let mismatches = fieldopt_store::workload::counter_mismatches(&mut conn).expect("query");
    assert!(
        mismatches.is_empty(),
        "day counters out of step: {mismatches:?}"
    );
}
