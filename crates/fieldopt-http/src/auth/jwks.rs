//! Public keys of an external identity provider (a JWKS document), read
//! from a file or an `https://` URL, cached, and re-read when a token names
//! a key we do not have — at most once per interval, so unknown key ids
//! cannot make us hammer the provider. A failed read keeps the last good
//! keys.

use std::path::PathBuf;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use jsonwebtoken::jwk::{AlgorithmParameters, EllipticCurve, Jwk, KeyAlgorithm, PublicKeyUse};
use jsonwebtoken::{Algorithm, DecodingKey};
use serde::Deserialize;

/// Where the key set comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JwksSource {
    /// A JSON file on disk.
    File(PathBuf),
    /// An `https://` URL (or `http://` on a loopback host, for tests and
    /// sidecars).
    Url(String),
}

impl JwksSource {
    /// Reads `FIELDOPT_AUTH_JWKS`: an `https://` URL, an `http://` URL on a
    /// loopback host, or a file path.
    pub fn parse(text: &str) -> Result<Self, String> {
        let lower = text.to_ascii_lowercase();
        if lower.starts_with("https://") {
            return Ok(Self::Url(text.to_string()));
        }
        if let Some(rest) = lower.strip_prefix("http://") {
            let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
            return if is_loopback_authority(authority) {
                Ok(Self::Url(text.to_string()))
            } else {
                Err(format!(
                    "{text:?}: a JWKS URL must be https:// (plain http:// only on a loopback host)"
                ))
            };
        }
        if lower.contains("://") {
            return Err(format!("{text:?}: a JWKS URL must be https://"));
        }
        Ok(Self::File(PathBuf::from(text)))
    }
}

/// `host[:port]` names this machine.
fn is_loopback_authority(authority: &str) -> bool {
    let host = match authority.strip_prefix('[') {
        Some(v6) => v6.split(']').next().unwrap_or_default(),
        None => authority.rsplit_once(':').map_or(authority, |(h, _)| h),
    };
    host == "localhost"
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// One usable key of the set.
#[derive(Clone)]
pub(crate) struct PublicKey {
    pub kid: Option<String>,
    pub algorithm: Algorithm,
    pub key: DecodingKey,
}

/// The keys fieldopt accepts from a JWKS: RSA (RS256) and P-256 (ES256)
/// signing keys. Anything else — symmetric keys above all, which would let
/// a token pick HMAC with a published secret — is ignored.
fn usable(jwk: &Jwk) -> Option<PublicKey> {
    if jwk.common.public_key_use == Some(PublicKeyUse::Encryption) {
        return None;
    }
    let algorithm = match &jwk.algorithm {
        AlgorithmParameters::RSA(_) => Algorithm::RS256,
        AlgorithmParameters::EllipticCurve(p) if p.curve == EllipticCurve::P256 => Algorithm::ES256,
        _ => return None,
    };
    let declared_elsewise = match jwk.common.key_algorithm {
        None | Some(KeyAlgorithm::RS256) | Some(KeyAlgorithm::ES256) => {
            jwk.common.key_algorithm.is_some_and(|declared| {
                !matches!(
                    (declared, algorithm),
                    (KeyAlgorithm::RS256, Algorithm::RS256)
                        | (KeyAlgorithm::ES256, Algorithm::ES256)
                )
            })
        }
        Some(_) => true,
    };
    if declared_elsewise {
        return None;
    }
    Some(PublicKey {
        kid: jwk.common.key_id.clone(),
        algorithm,
        key: DecodingKey::from_jwk(jwk).ok()?,
    })
}

#[derive(Deserialize)]
struct RawSet {
    keys: Vec<serde_json::Value>,
}

/// Parses a JWKS document, keeping the usable keys and skipping the rest.
pub(crate) fn parse_key_set(bytes: &[u8]) -> Result<Vec<PublicKey>, String> {
    let raw: RawSet =
        serde_json::from_slice(bytes).map_err(|e| format!("not a JWKS document: {e}"))?;
    Ok(raw
        .keys
        .into_iter()
        .filter_map(|value| serde_json::from_value::<Jwk>(value).ok())
        .filter_map(|jwk| usable(&jwk))
        .collect())
}

struct Cached {
    keys: Vec<PublicKey>,
    last_attempt: Option<Instant>,
}

/// The cached key set.
pub(crate) struct KeySet {
    source: JwksSource,
    min_refresh: Duration,
    http: reqwest::Client,
    cached: RwLock<Cached>,
    refreshing: tokio::sync::Mutex<()>,
}

impl std::fmt::Debug for KeySet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeySet")
            .field("source", &self.source)
            .finish_non_exhaustive()
    }
}

const FETCH_TIMEOUT: Duration = Duration::from_secs(5);
/// A JWKS is a few kilobytes; refuse to buffer a runaway answer.
const MAX_JWKS_BYTES: usize = 1 << 20;

impl KeySet {
    pub(crate) fn new(source: JwksSource, min_refresh: Duration) -> Result<Arc<Self>, String> {
        let http = reqwest::Client::builder()
            .timeout(FETCH_TIMEOUT)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| format!("cannot build the JWKS client: {e}"))?;
        Ok(Arc::new(Self {
            source,
            min_refresh,
            http,
            cached: RwLock::new(Cached {
                keys: Vec::new(),
                last_attempt: None,
            }),
            refreshing: tokio::sync::Mutex::new(()),
        }))
    }

    async fn fetch(&self) -> Result<Vec<PublicKey>, String> {
        let bytes = match &self.source {
            JwksSource::File(path) => tokio::fs::read(path)
                .await
                .map_err(|e| format!("{}: {e}", path.display()))?,
            JwksSource::Url(url) => {
                let response = self
                    .http
                    .get(url)
                    .send()
                    .await
                    .map_err(|e| format!("{url}: {e}"))?;
                if !response.status().is_success() {
                    return Err(format!("{url}: HTTP {}", response.status()));
                }
                let bytes = response.bytes().await.map_err(|e| format!("{url}: {e}"))?;
                if bytes.len() > MAX_JWKS_BYTES {
                    return Err(format!("{url}: answer larger than {MAX_JWKS_BYTES} bytes"));
                }
                bytes.to_vec()
            }
        };
        parse_key_set(&bytes)
    }

    /// Reads the set now; on failure the last good keys stay.
    pub(crate) async fn refresh(&self) -> Result<usize, String> {
        let outcome = self.fetch().await;
        let mut cached = self.cached.write().unwrap_or_else(|e| e.into_inner());
        cached.last_attempt = Some(Instant::now());
        match outcome {
            Ok(keys) => {
                let count = keys.len();
                cached.keys = keys;
                Ok(count)
            }
            Err(error) => Err(error),
        }
    }

    fn lookup(&self, kid: Option<&str>, algorithm: Algorithm) -> Vec<PublicKey> {
        let cached = self.cached.read().unwrap_or_else(|e| e.into_inner());
        cached
            .keys
            .iter()
            .filter(|k| k.algorithm == algorithm)
            .filter(|k| kid.is_none() || k.kid.as_deref() == kid)
            .cloned()
            .collect()
    }

    fn may_refresh(&self) -> bool {
        let cached = self.cached.read().unwrap_or_else(|e| e.into_inner());
        cached
            .last_attempt
            .is_none_or(|at| at.elapsed() >= self.min_refresh)
    }

    /// The keys that may have signed a token with this `kid` and algorithm;
    /// re-reads the set once when none is known and the last read is old
    /// enough.
    pub(crate) async fn candidates(
        &self,
        kid: Option<&str>,
        algorithm: Algorithm,
    ) -> Vec<PublicKey> {
        let found = self.lookup(kid, algorithm);
        if !found.is_empty() || !self.may_refresh() {
            return found;
        }
        // One refresh at a time; whoever waited re-checks before fetching.
        let _guard = self.refreshing.lock().await;
        if self.may_refresh() {
            match self.refresh().await {
                Ok(count) => tracing::info!(jwks.keys = count, "identity provider keys re-read"),
                Err(error) => {
                    tracing::warn!(%error, "could not re-read the identity provider's keys; keeping the last good ones")
                }
            }
        }
        self.lookup(kid, algorithm)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sources_are_files_or_safe_urls() {
        assert_eq!(
            JwksSource::parse("https://idp.example/keys"),
            Ok(JwksSource::Url("https://idp.example/keys".into()))
        );
        assert!(JwksSource::parse("http://127.0.0.1:8080/jwks").is_ok());
        assert!(JwksSource::parse("http://localhost/jwks").is_ok());
        assert!(JwksSource::parse("http://[::1]:9/jwks").is_ok());
        assert!(JwksSource::parse("http://idp.example/keys").is_err());
        assert!(JwksSource::parse("http://127.0.0.1.evil.example/keys").is_err());
        assert!(JwksSource::parse("ftp://idp.example/keys").is_err());
        assert_eq!(
            JwksSource::parse("/etc/fieldopt/jwks.json"),
            Ok(JwksSource::File("/etc/fieldopt/jwks.json".into()))
        );
    }

    #[test]
    fn only_rsa_and_p256_signing_keys_are_kept() {
        let set = serde_json::json!({"keys": [
            {"kty": "oct", "kid": "hmac", "k": "c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0"},
            {"kty": "RSA", "kid": "enc", "use": "enc", "n": "sXch", "e": "AQAB"},
            {"kty": "RSA", "kid": "rsa", "alg": "RS256", "n": "sXch", "e": "AQAB"},
            {"kty": "RSA", "kid": "rsa-ps", "alg": "PS256", "n": "sXch", "e": "AQAB"},
            {"kty": "EC", "kid": "ec", "crv": "P-256",
             "x": "f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU",
             "y": "x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"},
            {"kty": "weird"}
        ]});
        let keys = parse_key_set(set.to_string().as_bytes()).unwrap();
        let kept: Vec<(Option<&str>, Algorithm)> = keys
            .iter()
            .map(|k| (k.kid.as_deref(), k.algorithm))
            .collect();
        assert_eq!(
            kept,
            vec![
                (Some("rsa"), Algorithm::RS256),
                (Some("ec"), Algorithm::ES256)
            ]
        );
        assert!(parse_key_set(b"[]").is_err());
    }
}
