//! Authentication: every way a token is refused, both ways to trust one
//! (a shared secret with rotation, an identity provider's JWKS from a file
//! and from a URL), the `fieldopt token` command, and the bind rule.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use fieldopt_server::config::Settings;
use fieldopt_server::startup::Application;
use reqwest::StatusCode;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::helpers::{Backend, TestApp, spawn_app_with};
use crate::tokens::{self, ProviderKey, SECRET, claims, hs256, jwks, unsigned};

const ISSUER: &str = "https://idp.example/realms/field";
const AUDIENCE: &str = "fieldopt";

/// Claims an identity provider would issue: with `iss` and `aud`.
fn provider_claims(role: &str) -> Value {
    let mut claims = claims(role, "idp-user", None);
    claims["iss"] = json!(ISSUER);
    claims["aud"] = json!(AUDIENCE);
    claims
}

async fn status_with(app: &TestApp, token: &str) -> reqwest::Response {
    app.client
        .get(app.url("/api/v1/technicians"))
        .bearer_auth(token)
        .send()
        .await
        .expect("request")
}

/// Asserts a 401 problem document with the RFC 6750 challenge; returns the
/// detail.
async fn expect_unauthorized(response: reqwest::Response, token_sent: bool) -> String {
    let challenge = response
        .headers()
        .get("www-authenticate")
        .map(|v| v.to_str().unwrap().to_string())
        .unwrap_or_default();
    assert!(challenge.starts_with("Bearer"), "{challenge:?}");
    assert_eq!(
        challenge.contains(r#"error="invalid_token""#),
        token_sent,
        "{challenge}"
    );
    crate::helpers::expect_problem(response, StatusCode::UNAUTHORIZED).await
}

async fn spawn_with_provider(configure: impl FnOnce(&mut Settings)) -> TestApp {
    spawn_app_with(Backend::Sqlite, configure, None)
        .await
        .expect("sqlite always runs")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_bad_token_is_a_401_and_good_ones_pass() {
    let rsa = ProviderKey::rsa("rsa-1");
    let ec = ProviderKey::ec("ec-1");
    let stranger = ProviderKey::rsa("rsa-unknown");
    let dir = tempfile::tempdir().unwrap();
    let jwks_path = dir.path().join("jwks.json");
    std::fs::write(&jwks_path, jwks(&[&rsa, &ec]).to_string()).unwrap();
    let app = spawn_with_provider(|s| {
        s.auth_secret = Some(SECRET.to_string().into());
        s.auth_jwks = Some(fieldopt_http::auth::JwksSource::File(jwks_path.clone()));
        s.auth_issuer = Some(ISSUER.into());
        s.auth_audience = Some(AUDIENCE.into());
    })
    .await;

    // No credentials at all: a challenge without an error code.
    let detail = expect_unauthorized(app.get("/api/v1/technicians").await, false).await;
    assert_eq!(detail, "Missing bearer token");

    // The good ones: HS256 with the secret, RS256 and ES256 from the JWKS.
    let mut ours = claims("dispatcher", "alice", None);
    ours["iss"] = json!(ISSUER);
    ours["aud"] = json!(AUDIENCE);
    for token in [
        hs256(SECRET, &ours),
        rsa.sign(&provider_claims("dispatcher")),
        ec.sign(&provider_claims("admin")),
    ] {
        assert_eq!(status_with(&app, &token).await.status(), StatusCode::OK);
    }

    let now = tokens::now();
    let with = |field: &str, value: Value| {
        let mut c = provider_claims("dispatcher");
        c[field] = value;
        c
    };
    let mut no_exp = provider_claims("dispatcher");
    no_exp.as_object_mut().unwrap().remove("exp");
    let mut no_sub = provider_claims("dispatcher");
    no_sub.as_object_mut().unwrap().remove("sub");
    let good = rsa.sign(&provider_claims("technician"));
    let (head, rest) = good.split_once('.').unwrap();
    let (_, signature) = rest.split_once('.').unwrap();
    let tampered = format!(
        "{head}.{}.{signature}",
        tokens::b64(provider_claims("admin").to_string().as_bytes())
    );
    // An attacker's HS256 token signed with the provider's *public* key.
    let confused = {
        let key = jsonwebtoken::EncodingKey::from_secret(&rsa.public_pem).unwrap();
        let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256);
        header.kid = Some(rsa.kid.clone());
        jsonwebtoken::encode(&header, &provider_claims("admin"), &key).unwrap()
    };
    let cases: Vec<(&str, String, &str)> = vec![
        ("not a JWT", "garbage".into(), "Invalid token"),
        (
            "alg none",
            unsigned(
                &json!({"alg": "none", "typ": "JWT"}),
                &provider_claims("admin"),
                b"",
            ),
            "Invalid token",
        ),
        (
            "HS256 signed with the public key",
            confused,
            "Invalid token",
        ),
        ("tampered payload", tampered, "Invalid token"),
        (
            "unknown kid",
            stranger.sign(&provider_claims("admin")),
            "Invalid token",
        ),
        (
            "wrong secret",
            hs256("another-secret-of-thirty-two-bytes!!", &ours),
            "Invalid token",
        ),
        (
            "wrong issuer",
            rsa.sign(&with("iss", json!("https://evil.example"))),
            "Invalid token",
        ),
        (
            "wrong audience",
            rsa.sign(&with("aud", json!("someone-else"))),
            "Invalid token",
        ),
        (
            "no issuer",
            {
                let mut c = provider_claims("dispatcher");
                c.as_object_mut().unwrap().remove("iss");
                rsa.sign(&c)
            },
            "Invalid token",
        ),
        (
            "expired beyond the leeway",
            rsa.sign(&with("exp", json!(now - 120))),
            "Token expired",
        ),
        (
            "not yet valid",
            rsa.sign(&with("nbf", json!(now + 300))),
            "Invalid token",
        ),
        ("no exp", rsa.sign(&no_exp), "Invalid token"),
        ("no sub", rsa.sign(&no_sub), "Invalid token"),
    ];
    for (case, token, expected) in cases {
        let response = status_with(&app, &token).await;
        let text_headers = format!("{:?}", response.headers());
        let detail = expect_unauthorized(response, true).await;
        assert_eq!(detail, expected, "{case}");
        assert!(!text_headers.contains(&token), "{case}: token echoed");
    }
    // Malformed credentials are refused as invalid tokens too.
    for header in ["Basic YWxpY2U6c2VjcmV0", "Bearer", "Bearer  ", "bearer x.y"] {
        let response = app
            .client
            .get(app.url("/api/v1/jobs"))
            .header("Authorization", header)
            .send()
            .await
            .unwrap();
        expect_unauthorized(response, true).await;
    }
    // Clock skew within the 60 s leeway is tolerated both ways.
    for token in [
        rsa.sign(&with("exp", json!(now - 30))),
        rsa.sign(&with("nbf", json!(now + 30))),
    ] {
        assert_eq!(status_with(&app, &token).await.status(), StatusCode::OK);
    }
    // Open endpoints need no token.
    for path in [
        "/healthz",
        "/readyz",
        "/metrics",
        "/api/v1/openapi.json",
        "/docs/",
    ] {
        assert_eq!(app.get(path).await.status(), StatusCode::OK, "{path}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rotated_secret_keeps_earlier_tokens_valid() {
    let old = "the-old-secret-that-signed-yesterday-01";
    let new = "the-new-secret-that-signs-from-today-02";
    let app = spawn_with_provider(|s| {
        s.auth_secret = Some(new.to_string().into());
        s.auth_secret_previous = Some(old.to_string().into());
    })
    .await;
    let claims = claims("dispatcher", "bob", None);
    for secret in [old, new] {
        assert_eq!(
            status_with(&app, &hs256(secret, &claims)).await.status(),
            StatusCode::OK
        );
    }
    let forged = hs256("some-other-secret-nobody-configured-3", &claims);
    expect_unauthorized(status_with(&app, &forged).await, true).await;
}

/// A JWKS endpoint answering what the test says, counting its reads.
struct KeyServer {
    url: String,
    answer: Arc<Mutex<(u16, String)>>,
    reads: Arc<AtomicUsize>,
}

impl KeyServer {
    async fn start(body: Value) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!(
            "http://{}/realms/field/certs",
            listener.local_addr().unwrap()
        );
        let answer = Arc::new(Mutex::new((200, body.to_string())));
        let reads = Arc::new(AtomicUsize::new(0));
        let (served, counter) = (answer.clone(), reads.clone());
        tokio::spawn(async move {
            loop {
                let Ok((mut stream, _)) = listener.accept().await else {
                    return;
                };
                let (status, body) = served.lock().unwrap().clone();
                counter.fetch_add(1, Ordering::SeqCst);
                tokio::spawn(async move {
                    let mut request = vec![0u8; 4096];
                    let _ = stream.read(&mut request).await;
                    let response = format!(
                        "HTTP/1.1 {status} X\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                        body.len()
                    );
                    let _ = stream.write_all(response.as_bytes()).await;
                });
            }
        });
        Self { url, answer, reads }
    }

    fn answer(&self, status: u16, body: Value) {
        *self.answer.lock().unwrap() = (status, body.to_string());
    }

    fn reads(&self) -> usize {
        self.reads.load(Ordering::SeqCst)
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jwks_urls_are_cached_reread_on_unknown_keys_and_kept_on_failure() {
    let first = ProviderKey::rsa("2026-11");
    let second = ProviderKey::ec("2026-12");
    let third = ProviderKey::rsa("2027-01");
    let keys = KeyServer::start(jwks(&[&first])).await;
    let refresh = Duration::from_millis(1500);
    let app = spawn_with_provider(|s| {
        s.auth_jwks = Some(fieldopt_http::auth::JwksSource::parse(&keys.url).unwrap());
        s.auth_jwks_min_refresh = refresh;
    })
    .await;
    assert_eq!(keys.reads(), 1, "read once at start");
    for _ in 0..3 {
        let token = first.sign(&claims("dispatcher", "u", None));
        assert_eq!(status_with(&app, &token).await.status(), StatusCode::OK);
    }
    assert_eq!(keys.reads(), 1, "known keys come from the cache");

    // The provider rotates: a token with the new kid makes one re-read,
    // once the interval since the last read has passed.
    keys.answer(200, jwks(&[&first, &second]));
    let rotated = second.sign(&claims("dispatcher", "u", None));
    expect_unauthorized(status_with(&app, &rotated).await, true).await;
    assert_eq!(keys.reads(), 1, "too soon after the last read");
    tokio::time::sleep(refresh).await;
    assert_eq!(status_with(&app, &rotated).await.status(), StatusCode::OK);
    assert_eq!(keys.reads(), 2);

    // A flood of unknown kids costs at most one read per interval.
    for _ in 0..10 {
        let unknown = third.sign(&claims("dispatcher", "u", None));
        expect_unauthorized(status_with(&app, &unknown).await, true).await;
    }
    assert_eq!(keys.reads(), 2);

    // The provider fails: the last good keys stay in use.
    tokio::time::sleep(refresh).await;
    keys.answer(500, json!({"error": "down"}));
    let unknown = third.sign(&claims("dispatcher", "u", None));
    expect_unauthorized(status_with(&app, &unknown).await, true).await;
    assert_eq!(keys.reads(), 3);
    let token = first.sign(&claims("dispatcher", "u", None));
    assert_eq!(status_with(&app, &token).await.status(), StatusCode::OK);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn by_default_unknown_keys_are_reread_at_most_once_a_minute() {
    let known = ProviderKey::ec("known");
    let unknown = ProviderKey::ec("unknown");
    let keys = KeyServer::start(jwks(&[&known])).await;
    let app = spawn_with_provider(|s| {
        s.auth_jwks = Some(fieldopt_http::auth::JwksSource::parse(&keys.url).unwrap());
    })
    .await;
    for _ in 0..5 {
        let token = unknown.sign(&claims("dispatcher", "u", None));
        expect_unauthorized(status_with(&app, &token).await, true).await;
    }
    assert_eq!(keys.reads(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keycloak_style_claims_name_the_role_and_the_technician() {
    let key = ProviderKey::rsa("kc");
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("certs.json");
    std::fs::write(&path, jwks(&[&key]).to_string()).unwrap();
    let app = spawn_with_provider(|s| {
        s.auth_secret = Some(SECRET.to_string().into());
        s.auth_jwks = Some(fieldopt_http::auth::JwksSource::File(path.clone()));
        s.auth_role_claim = "realm_access.roles".into();
        s.auth_tech_claim = "fieldopt_technician".into();
    })
    .await;
    let admin = hs256(
        SECRET,
        &json!({
            "sub": "root", "exp": tokens::now() + 600, "realm_access": {"roles": ["admin"]}
        }),
    );
    let auth = |token: &str| format!("Bearer {token}");
    let tech = app
        .client
        .post(app.url("/api/v1/technicians"))
        .header("Authorization", auth(&admin))
        .json(&json!({"name": "Kim"}))
        .send()
        .await
        .unwrap();
    let tech = crate::helpers::expect_json(tech, StatusCode::CREATED).await;
    let keycloak = key.sign(&json!({
        "sub": "kim", "exp": tokens::now() + 600,
        "realm_access": {"roles": ["offline_access", "uma_authorization", "technician"]},
        "fieldopt_technician": tech["id"].to_string(),
    }));
    let own = format!("/api/v1/technicians/{}", tech["id"]);
    let response = app
        .client
        .get(app.url(&own))
        .header("Authorization", auth(&keycloak))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let response = app
        .client
        .get(app.url("/api/v1/jobs/summary"))
        .header("Authorization", auth(&keycloak))
        .send()
        .await
        .unwrap();
    crate::helpers::expect_problem(response, StatusCode::FORBIDDEN).await;
    // A role the service does not know is 403, not 401.
    let stranger = key.sign(&json!({
        "sub": "x", "exp": tokens::now() + 600, "realm_access": {"roles": ["auditor"]}
    }));
    let response = app
        .client
        .get(app.url("/api/v1/jobs"))
        .header("Authorization", auth(&stranger))
        .send()
        .await
        .unwrap();
    assert_eq!(
        crate::helpers::expect_problem(response, StatusCode::FORBIDDEN).await,
        "Not allowed for this caller"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn start_up_refuses_weak_or_missing_trust_and_binds_everywhere_with_it() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("f.db").display());
    let mut weak = Settings::for_tests(url.clone());
    weak.auth_secret = Some("too-short".to_string().into());
    let error = Application::build(weak).await.unwrap_err().to_string();
    assert!(error.contains("at least 32 bytes"), "{error}");
    assert!(
        !error.contains("too-short"),
        "the secret is never shown: {error}"
    );

    let mut open = Settings::for_tests(url.clone());
    open.bind = "0.0.0.0:0".parse().unwrap();
    let error = Application::build(open).await.unwrap_err().to_string();
    assert!(error.contains("development mode"), "{error}");

    let mut missing = Settings::for_tests(url.clone());
    missing.auth_jwks = Some(fieldopt_http::auth::JwksSource::File(
        dir.path().join("nope.json"),
    ));
    assert!(Application::build(missing).await.is_err());

    let mut secured = Settings::for_tests(url);
    secured.bind = "0.0.0.0:0".parse().unwrap();
    secured.auth_secret = Some(SECRET.to_string().into());
    let app = Application::build(secured)
        .await
        .expect("binds all addresses");
    assert_ne!(app.port(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_token_command_signs_with_the_configured_secret() {
    let app = spawn_with_provider(|s| s.auth_secret = Some(SECRET.to_string().into())).await;
    let run = |env_secret: Option<&str>, args: &[&str]| {
        let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_fieldopt"));
        command
            .arg("token")
            .args(args)
            .env_remove("FIELDOPT_AUTH_SECRET");
        if let Some(secret) = env_secret {
            command.env("FIELDOPT_AUTH_SECRET", secret);
        }
        command.output().expect("run fieldopt token")
    };
    let out = run(
        Some(SECRET),
        &[
            "--role",
            "dispatcher",
            "--sub",
            "ops-script",
            "--ttl",
            "120",
        ],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let token = String::from_utf8(out.stdout).unwrap();
    assert_eq!(
        status_with(&app, token.trim()).await.status(),
        StatusCode::OK
    );

    let out = run(None, &["--role", "dispatcher", "--sub", "x"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("FIELDOPT_AUTH_SECRET"));
    let out = run(Some(SECRET), &["--role", "technician", "--sub", "x"]);
    assert!(!out.status.success(), "a technician token needs --tech-id");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn secrets_and_tokens_never_reach_the_logs() {
    let dir = tempfile::tempdir().unwrap();
    let port = crate::helpers::free_port();
    let log = std::fs::File::create(dir.path().join("log")).unwrap();
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_fieldopt"))
        .arg("serve")
        .env(
            "DATABASE_URL",
            format!("sqlite://{}", dir.path().join("f.db").display()),
        )
        .env("FIELDOPT_BIND", format!("127.0.0.1:{port}"))
        .env("FIELDOPT_AUTH_SECRET", SECRET)
        .env("RUST_LOG", "trace")
        .stdout(std::process::Stdio::null())
        .stderr(log)
        .spawn()
        .unwrap();
    let client = reqwest::Client::new();
    let base = format!("http://127.0.0.1:{port}");
    let good = hs256(SECRET, &claims("dispatcher", "logged-subject", None));
    let bad = hs256(
        "not-the-secret-but-long-enough-000000",
        &claims("admin", "x", None),
    );
    let mut ready = false;
    for _ in 0..100 {
        if client.get(format!("{base}/readyz")).send().await.is_ok() {
            ready = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(ready, "fieldopt did not start");
    for token in [&good, &bad] {
        let response = client
            .post(format!("{base}/api/v1/jobs"))
            .bearer_auth(token)
            .json(&json!({"type": "install", "customer": "C", "address": "A"}))
            .send()
            .await
            .unwrap();
        assert!(!response.text().await.unwrap().contains(token.as_str()));
    }
    let _ = child.kill();
    let _ = child.wait();
    let logs = std::fs::read_to_string(dir.path().join("log")).unwrap();
    assert!(
        logs.contains("logged-subject"),
        "the actor is logged: {logs}"
    );
    for secret in [SECRET, good.as_str(), bad.as_str()] {
        assert!(!logs.contains(secret), "leaked into the logs");
    }
    // Neither is any part of a token (its signature above all).
    for token in [&good, &bad] {
        let signature = token.rsplit('.').next().unwrap();
        assert!(
            !logs.contains(signature),
            "a signature leaked into the logs"
        );
    }
}
