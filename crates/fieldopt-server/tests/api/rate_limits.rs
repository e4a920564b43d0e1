//! Per-client rate limits through real HTTP: buckets empty and refill,
//! probes are exempt, clients are told apart by token subject or by the
//! forwarded address, and a flood of new clients cannot grow the table.

use std::time::{Duration, Instant};

use reqwest::{RequestBuilder, Response, StatusCode};
use tokio::task::JoinSet;

use crate::helpers::{Backend, TestApp, expect_problem, spawn_app_with};
use crate::tokens;

const LIST: &str = "/api/v1/technicians";

/// A numeric header, or a panic naming it.
fn number(response: &Response, name: &str) -> u64 {
    let value = response
        .headers()
        .get(name)
        .unwrap_or_else(|| panic!("no {name} header on {}", response.status()));
    value.to_str().unwrap().parse().expect(name)
}

fn remaining(response: &Response) -> u64 {
    number(response, "ratelimit-remaining")
}

/// A server with `rps` tokens a second and `burst` at most per client.
async fn limited(
    rps: u32,
    burst: u32,
    configure: impl FnOnce(&mut fieldopt_server::config::Settings),
) -> TestApp {
    spawn_app_with(
        Backend::Sqlite,
        |settings| {
            settings.rate_limit_rps = rps;
            settings.rate_limit_burst = Some(burst);
            configure(settings);
        },
        None,
    )
    .await
    .unwrap()
}

async fn send(request: RequestBuilder) -> Response {
    request.send().await.expect("request")
}

/// GET of the list, as the client at `address` behind the proxy.
fn forwarded(app: &TestApp, address: &str) -> RequestBuilder {
    app.client
        .get(app.url(LIST))
        .header("X-Forwarded-For", address)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_empties_its_bucket_then_it_refills() {
    let app = limited(1, 3, |_| {}).await;
    for expected in [2, 1, 0] {
        let response = app.get(LIST).await;
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(number(&response, "ratelimit-limit"), 3);
        assert_eq!(remaining(&response), expected);
        // Seconds until full again: one per missing token at 1/s.
        assert_eq!(number(&response, "ratelimit-reset"), 3 - expected);
    }
    let refused = app.get(LIST).await;
    assert!(number(&refused, "retry-after") >= 1);
    assert_eq!(number(&refused, "ratelimit-limit"), 3);
    assert_eq!(remaining(&refused), 0);
    assert_eq!(number(&refused, "ratelimit-reset"), 3);
    assert_eq!(refused.headers()["x-content-type-options"], "nosniff");
    let detail = expect_problem(refused, StatusCode::TOO_MANY_REQUESTS).await;
    assert!(detail.contains("retry after"), "{detail}");

    tokio::time::sleep(Duration::from_millis(1100)).await;
    let again = app.get(LIST).await;
    assert_eq!(again.status(), StatusCode::OK, "one token came back");
    assert_eq!(remaining(&again), 0);
    assert_eq!(
        app.get(LIST).await.status(),
        StatusCode::TOO_MANY_REQUESTS,
        "and only one"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn probes_are_never_limited() {
    let app = limited(1, 1, |_| {}).await;
    for _ in 0..20 {
        for probe in ["/healthz", "/readyz"] {
            let response = app.get(probe).await;
            assert_eq!(response.status(), StatusCode::OK, "{probe}");
            let limit_headers: Vec<_> = response
                .headers()
                .keys()
                .filter(|name| name.as_str().starts_with("ratelimit-"))
                .collect();
            assert!(limit_headers.is_empty(), "{probe}: {limit_headers:?}");
        }
    }
    // The probes took nothing from the bucket, which is really limited.
    let first = app.get(LIST).await;
    assert_eq!(first.status(), StatusCode::OK);
    assert_eq!(remaining(&first), 0);
    assert_eq!(app.get(LIST).await.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(app.get("/healthz").await.status(), StatusCode::OK);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn authenticated_clients_are_limited_by_subject() {
    let app = limited(1, 2, |settings| {
        settings.auth_secret = Some(tokens::SECRET.to_string().into());
    })
    .await;
    let token = |sub: &str| tokens::hs256(tokens::SECRET, &tokens::claims("dispatcher", sub, None));
    let (alice, bob) = (token("alice@test"), token("bob@test"));
    let as_caller = |token: &str| app.client.get(app.url(LIST)).bearer_auth(token);
    for expected in [1, 0] {
        let response = send(as_caller(&alice)).await;
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(remaining(&response), expected);
    }
    assert_eq!(
        send(as_caller(&alice)).await.status(),
        StatusCode::TOO_MANY_REQUESTS
    );
    // Same address, another subject: a bucket of its own.
    let response = send(as_caller(&bob)).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(remaining(&response), 1);
    // A new token for the same subject does not get a fresh bucket.
    assert_eq!(
        send(as_caller(&token("alice@test"))).await.status(),
        StatusCode::TOO_MANY_REQUESTS
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forwarded_addresses_count_only_behind_a_trusted_proxy() {
    let app = limited(1, 2, |settings| {
        settings.trusted_proxies = vec!["127.0.0.1/32".parse().unwrap()];
    })
    .await;
    for expected in [1, 0] {
        let response = send(forwarded(&app, "203.0.113.1")).await;
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(remaining(&response), expected);
    }
    assert_eq!(
        send(forwarded(&app, "203.0.113.1")).await.status(),
        StatusCode::TOO_MANY_REQUESTS
    );
    // The right-most address the proxy saw counts; what the client put
    // in front of it is forgeable and ignored.
    assert_eq!(
        send(forwarded(&app, "198.51.100.9, 203.0.113.1"))
            .await
            .status(),
        StatusCode::TOO_MANY_REQUESTS
    );
    let other = send(forwarded(&app, "203.0.113.2")).await;
    assert_eq!(other.status(), StatusCode::OK);
    assert_eq!(remaining(&other), 1);
    let proxy_itself = app.get(LIST).await;
    assert_eq!(proxy_itself.status(), StatusCode::OK);
    assert_eq!(remaining(&proxy_itself), 1);

    // Without trusted proxies the header is the client's word: ignored.
    let app = limited(1, 2, |_| {}).await;
    for expected in [1, 0] {
        let response = send(forwarded(&app, &format!("203.0.113.{expected}"))).await;
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(remaining(&response), expected);
    }
    for address in ["203.0.113.7", "198.51.100.9"] {
        assert_eq!(
            send(forwarded(&app, address)).await.status(),
            StatusCode::TOO_MANY_REQUESTS,
            "{address} shares the peer's bucket"
        );
    }
    assert_eq!(app.get(LIST).await.status(), StatusCode::TOO_MANY_REQUESTS);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_of_new_clients_cannot_grow_the_table_past_its_cap() {
    let app = limited(1, 5, |settings| {
        settings.trusted_proxies = vec!["127.0.0.1/32".parse().unwrap()];
        settings.rate_limit_max_clients = 50;
    })
    .await;
    // A client that was there first spends 3 of its 5 tokens: its bucket
    // stays in the table (it is not full again) for 3 s.
    const FIRST: &str = "192.0.2.1";
    for expected in [4, 3, 2] {
        assert_eq!(remaining(&send(forwarded(&app, FIRST)).await), expected);
    }

    let started = Instant::now();
    let (mut passed, mut refused) = (0_u32, 0_u32);
    for batch in 0..20_u32 {
        let mut requests = JoinSet::new();
        for n in 0..100_u32 {
            let i = batch * 100 + n;
            let request = forwarded(&app, &format!("10.0.{}.{}", i / 256, i % 256));
            requests.spawn(send(request));
        }
        while let Some(response) = requests.join_next().await {
            match response.unwrap().status() {
                StatusCode::OK => passed += 1,
                StatusCode::TOO_MANY_REQUESTS => refused += 1,
                other => panic!("unexpected {other}"),
            }
        }
    }
    let elapsed = started.elapsed();
    assert_eq!(passed + refused, 2000);
    // Beyond the cap, new clients share one bucket of 5; refilled buckets
    // may be swept out each second to make room for up to 50 more.
    let bound = 55 * (2 + u32::try_from(elapsed.as_secs()).unwrap());
    assert!(
        passed <= bound,
        "{passed} of 2000 new clients passed in {elapsed:?}"
    );

    // The first client still has its own bucket: neither a fresh one (4
    // left) nor the exhausted overflow bucket (refused or 0 left).
    let first = send(forwarded(&app, FIRST)).await;
    assert_eq!(first.status(), StatusCode::OK, "flood took {elapsed:?}");
    assert!(
        (1..=3).contains(&remaining(&first)),
        "{} left after a flood of {elapsed:?}",
        remaining(&first)
    );

    let metrics = send(
        app.client
            .get(app.url("/metrics"))
            .header("X-Forwarded-For", FIRST),
    )
    .await;
    assert_eq!(metrics.status(), StatusCode::OK);
    let text = metrics.text().await.unwrap();
    let tracked: u64 = text
        .lines()
        .find_map(|line| line.strip_prefix("rate_limit_clients "))
        .unwrap_or_else(|| panic!("no rate_limit_clients gauge in {text}"))
        .trim()
        .parse()
        .unwrap();
    assert!(
        (2..=51).contains(&tracked),
        "{tracked} clients tracked (50 plus the overflow bucket at most)"
    );
}
