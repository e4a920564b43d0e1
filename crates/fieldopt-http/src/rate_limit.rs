//! Per-client token buckets (governor's GCRA): `rps` tokens a second, at
//! most `burst` saved up. A client is a token's subject, else its address
//! (an IPv6 client by its /64, which one host usually owns whole).
//!
//! Memory stays bounded: buckets that have refilled are indistinguishable
//! from new ones and are swept out every few seconds, and when the table
//! still holds `max_clients` buckets, new clients share one overflow bucket
//! until the sweep makes room. Limits are per process.

use std::hash::Hash;
use std::net::IpAddr;
use std::num::NonZeroU32;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use governor::clock::{Clock, DefaultClock, Reference};
use governor::middleware::{NoOpMiddleware, StateInformationMiddleware};
use governor::nanos::Nanos;
use governor::state::StateStore;
use governor::state::keyed::{DashMapStateStore, ShrinkableKeyedStateStore};
use governor::{Quota, RateLimiter};

/// Whom a bucket belongs to.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum ClientKey {
    /// An authenticated caller, by its token's subject.
    Subject(String),
    /// An anonymous caller, by its address (IPv6 by its /64 prefix).
    Address(IpAddr),
    /// Every new client while the table is full.
    Overflow,
}

impl ClientKey {
    /// The key of an anonymous client at `ip`.
    pub fn address(ip: IpAddr) -> Self {
        let ip = match ip {
            IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
                Some(v4) => IpAddr::V4(v4),
                None => {
                    let mut segments = v6.segments();
                    segments[4..].fill(0);
                    IpAddr::V6(segments.into())
                }
            },
            v4 => v4,
        };
        Self::Address(ip)
    }
}

impl std::fmt::Display for ClientKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ClientKey::Subject(sub) => write!(f, "sub:{sub}"),
            ClientKey::Address(ip) => write!(f, "addr:{ip}"),
            ClientKey::Overflow => f.write_str("unknown"),
        }
    }
}

/// How a limiter is configured.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimitSettings {
    /// Tokens per second.
    pub rps: NonZeroU32,
    /// Most tokens a client can save up.
    pub burst: NonZeroU32,
    /// Most clients tracked at once.
    pub max_clients: usize,
}

/// A request let through, with what the client has left.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Allowance {
    /// The bucket's size.
    pub limit: u32,
    /// Requests the client may still make at once.
    pub remaining: u32,
    /// Seconds until the bucket is full again.
    pub reset_secs: u64,
}

/// A request refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Refusal {
    /// The bucket's size.
    pub limit: u32,
    /// Seconds until the next request can pass (at least 1).
    pub retry_after_secs: u64,
    /// Seconds until the bucket is full again.
    pub reset_secs: u64,
}

/// governor's DashMap store behind an `Arc`, so the limiter can also ask
/// whether a client already has a bucket.
#[derive(Clone, Default)]
struct SharedStore(Arc<DashMapStateStore<ClientKey>>);

impl StateStore for SharedStore {
    type Key = ClientKey;

    fn measure_and_replace<T, F, E>(&self, key: &ClientKey, f: F) -> Result<T, E>
    where
        F: Fn(Option<Nanos>) -> Result<(T, Nanos), E>,
    {
        self.0.measure_and_replace(key, f)
    }
}

impl ShrinkableKeyedStateStore<ClientKey> for SharedStore {
    fn retain_recent(&self, drop_below: Nanos) {
        self.0.retain_recent(drop_below);
    }

    fn shrink_to_fit(&self) {
        ShrinkableKeyedStateStore::shrink_to_fit(&*self.0);
    }

    fn len(&self) -> usize {
        ShrinkableKeyedStateStore::len(&*self.0)
    }

    fn is_empty(&self) -> bool {
        ShrinkableKeyedStateStore::is_empty(&*self.0)
    }
}

const SWEEP_EVERY: Duration = Duration::from_secs(10);

/// The per-client limiter.
pub struct ClientRateLimiter<C: Clock = DefaultClock> {
    limiter: RateLimiter<ClientKey, SharedStore, C, StateInformationMiddleware>,
    store: SharedStore,
    settings: RateLimitSettings,
    last_sweep: Mutex<C::Instant>,
    /// New clients are admitted one at a time, so the cap holds under
    /// concurrent requests.
    admission: Mutex<()>,
}

impl<C: Clock> std::fmt::Debug for ClientRateLimiter<C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientRateLimiter")
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

impl ClientRateLimiter<DefaultClock> {
    /// A limiter on the monotonic clock.
    pub fn new(settings: RateLimitSettings) -> Self {
        Self::with_clock(settings, DefaultClock::default())
    }
}

fn ceil_secs(duration: Duration) -> u64 {
    duration.as_secs() + u64::from(duration.subsec_nanos() > 0)
}

impl<C: Clock> ClientRateLimiter<C> {
    /// A limiter on `clock` (tests pass a fake one).
    pub fn with_clock(settings: RateLimitSettings, clock: C) -> Self {
        let quota = Quota::per_second(settings.rps).allow_burst(settings.burst);
        let store = SharedStore::default();
        let last_sweep = Mutex::new(clock.now());
        let limiter = RateLimiter::<ClientKey, SharedStore, C, NoOpMiddleware<C::Instant>>::new(
            quota,
            store.clone(),
            clock,
        )
        .with_middleware::<StateInformationMiddleware>();
        Self {
            limiter,
            store,
            settings,
            last_sweep,
            admission: Mutex::new(()),
        }
    }

    /// Clients with a bucket right now.
    pub fn tracked_clients(&self) -> usize {
        self.limiter.len()
    }

    /// Drops the buckets that have refilled (they equal fresh ones).
    pub fn sweep(&self) {
        self.limiter.retain_recent();
        self.limiter.shrink_to_fit();
    }

    fn sweep_if_due(&self) {
        let now = self.limiter.clock().now();
        let due = match self.last_sweep.try_lock() {
            Ok(mut last) if now.duration_since(*last) >= SWEEP_EVERY.into() => {
                *last = now;
                true
            }
            _ => false,
        };
        if due {
            self.sweep();
        }
    }

    fn time_to_full(&self, remaining: u32) -> Duration {
        let missing = self.settings.burst.get().saturating_sub(remaining);
        Duration::from_secs_f64(f64::from(missing) / f64::from(self.settings.rps.get()))
    }

    /// Takes one token from `key`'s bucket.
    pub fn check(&self, key: ClientKey) -> Result<Allowance, Refusal> {
        self.sweep_if_due();
        let outcome = if self.store.0.contains_key(&key) {
            self.limiter.check_key(&key)
        } else {
            let _admitting = self.admission.lock().unwrap_or_else(|e| e.into_inner());
            let full = || self.limiter.len() >= self.settings.max_clients;
            let key = if full() && !self.store.0.contains_key(&key) {
                self.sweep();
                if full() { ClientKey::Overflow } else { key }
            } else {
                key
            };
            self.limiter.check_key(&key)
        };
        let limit = self.settings.burst.get();
        match outcome {
            Ok(snapshot) => {
                let remaining = snapshot.remaining_burst_capacity();
                Ok(Allowance {
                    limit,
                    remaining,
                    reset_secs: ceil_secs(self.time_to_full(remaining)),
                })
            }
            Err(not_until) => {
                let wait = not_until.wait_time_from(self.limiter.clock().now());
                Err(Refusal {
                    limit,
                    retry_after_secs: ceil_secs(wait).max(1),
                    reset_secs: ceil_secs(self.time_to_full(0)),
                })
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use governor::clock::FakeRelativeClock;

    use super::*;

    fn limiter(
        rps: u32,
        burst: u32,
        max_clients: usize,
    ) -> (ClientRateLimiter<FakeRelativeClock>, FakeRelativeClock) {
        let clock = FakeRelativeClock::default();
        let settings = RateLimitSettings {
            rps: NonZeroU32::new(rps).unwrap(),
            burst: NonZeroU32::new(burst).unwrap(),
            max_clients,
        };
        (
            ClientRateLimiter::with_clock(settings, clock.clone()),
            clock,
        )
    }

    fn client(n: u8) -> ClientKey {
        ClientKey::address(IpAddr::from([10, 0, 0, n]))
    }

    #[test]
    fn a_bucket_empties_then_refills() {
        let (limiter, clock) = limiter(2, 3, 100);
        let remaining: Vec<u32> = (0..3)
            .map(|_| limiter.check(client(1)).unwrap().remaining)
            .collect();
        assert_eq!(remaining, vec![2, 1, 0]);
        let refused = limiter.check(client(1)).unwrap_err();
        assert_eq!(refused.limit, 3);
        assert_eq!(refused.retry_after_secs, 1);
        assert_eq!(refused.reset_secs, 2, "3 tokens at 2/s");
        // Another client is not affected.
        assert_eq!(limiter.check(client(2)).unwrap().remaining, 2);
        clock.advance(Duration::from_millis(500));
        assert_eq!(limiter.check(client(1)).unwrap().remaining, 0);
        assert!(limiter.check(client(1)).is_err());
        clock.advance(Duration::from_secs(5));
        let allowed = limiter.check(client(1)).unwrap();
        assert_eq!((allowed.remaining, allowed.reset_secs), (2, 1));
    }

    #[test]
    fn refilled_buckets_are_swept_out() {
        let (limiter, clock) = limiter(10, 10, 10_000);
        for n in 0..200u8 {
            limiter.check(client(n)).unwrap();
        }
        assert_eq!(limiter.tracked_clients(), 200);
        clock.advance(SWEEP_EVERY);
        limiter.check(client(0)).unwrap();
        assert_eq!(
            limiter.tracked_clients(),
            1,
            "only the client that just asked is kept"
        );
    }

    #[test]
    fn a_flood_of_new_clients_cannot_grow_the_table_past_its_cap() {
        let (limiter, _clock) = limiter(1, 5, 50);
        for n in 0..=255u8 {
            let _ = limiter.check(client(n));
        }
        let flood: Vec<ClientKey> = (0..5000u32)
            .map(|n| ClientKey::address(IpAddr::from(n.to_be_bytes())))
            .collect();
        for key in flood {
            let _ = limiter.check(key);
        }
        assert!(
            limiter.tracked_clients() <= 51,
            "{}",
            limiter.tracked_clients()
        );
        // A client that already had a bucket keeps its own.
        assert_eq!(limiter.check(client(0)).unwrap().remaining, 3);
    }

    #[test]
    fn ipv6_clients_are_keyed_by_their_64_prefix() {
        let a: IpAddr = "2001:db8:1:2:aaaa::1".parse().unwrap();
        let b: IpAddr = "2001:db8:1:2:bbbb::9".parse().unwrap();
        let c: IpAddr = "2001:db8:1:3::1".parse().unwrap();
        assert_eq!(ClientKey::address(a), ClientKey::address(b));
        assert_ne!(ClientKey::address(a), ClientKey::address(c));
        let mapped: IpAddr = "::ffff:10.0.0.1".parse().unwrap();
        assert_eq!(ClientKey::address(mapped), client(1));
    }
}
