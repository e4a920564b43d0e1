//! Who is calling: bearer tokens (HS256 with a shared secret, RS256/ES256
//! from an identity provider's JWKS), the [`Caller`] they resolve to, and
//! the [`Scope`] a caller's role gives it on an operation.
//!
//! The decision itself is `fieldopt_domain::access`; this module only turns
//! a token into a role, a subject and a technician id, and ownership into
//! data the handlers can check.

mod jwks;

use std::future::{Ready, ready};
use std::sync::Arc;
use std::time::Duration;

use actix_web::{FromRequest, HttpMessage, HttpRequest, dev::Payload};
use fieldopt_domain::access::{self, Access, Operation, Role};
use fieldopt_domain::{Actor, Job, TechnicianId};
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use secrecy::{ExposeSecret, SecretString};
use serde_json::Value;

pub use jwks::JwksSource;
use jwks::KeySet;

use crate::error::ApiError;

/// Shortest accepted HS256 secret, in bytes (the hash's own size).
pub const MIN_SECRET_BYTES: usize = 32;
/// Clock skew tolerated on `exp` and `nbf`.
pub const LEEWAY_SECS: u64 = 60;

/// How tokens are trusted. Authentication is on when a secret or a JWKS is
/// configured; otherwise fieldopt runs in development mode.
#[derive(Debug, Clone)]
pub struct AuthSettings {
    /// HS256 secret that signs and verifies.
    pub secret: Option<SecretString>,
    /// An earlier secret, still accepted for verification while tokens
    /// signed with it expire.
    pub previous_secret: Option<SecretString>,
    /// An identity provider's public keys.
    pub jwks: Option<JwksSource>,
    /// Required `iss`, when set.
    pub issuer: Option<String>,
    /// Required `aud`, when set.
    pub audience: Option<String>,
    /// Claim holding the role; dots reach into objects (`realm_access.roles`).
    pub role_claim: String,
    /// Claim holding a technician's id.
    pub tech_claim: String,
    /// Least time between two reads of the JWKS on unknown key ids.
    pub jwks_min_refresh: Duration,
}

impl Default for AuthSettings {
    fn default() -> Self {
        Self {
            secret: None,
            previous_secret: None,
            jwks: None,
            issuer: None,
            audience: None,
            role_claim: "role".to_string(),
            tech_claim: "tech_id".to_string(),
            jwks_min_refresh: Duration::from_secs(60),
        }
    }
}

impl AuthSettings {
    /// Whether any way to trust a token is configured.
    pub fn enabled(&self) -> bool {
        self.secret.is_some() || self.jwks.is_some()
    }
}

/// Checks an HS256 secret's length; the message is shown at start-up.
pub fn check_secret(name: &str, secret: &SecretString) -> Result<(), String> {
    let length = secret.expose_secret().len();
    if length < MIN_SECRET_BYTES {
        return Err(format!(
            "{name} is {length} bytes long; it must be at least {MIN_SECRET_BYTES} bytes \
             (e.g. `openssl rand -base64 48`)"
        ));
    }
    Ok(())
}

/// Why a token was refused. Only `Expired` is told to the client; the rest
/// go to the log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rejection {
    /// No `Authorization: Bearer` header.
    Missing,
    /// Not a JWT, or not a bearer credential.
    Malformed,
    /// An algorithm the configuration does not accept (`none` included).
    Algorithm,
    /// No configured key verifies the signature (also: unknown `kid`).
    Signature,
    /// `exp` is past.
    Expired,
    /// `nbf` is in the future.
    NotYetValid,
    /// Wrong `iss` or `aud`.
    Audience,
    /// A required claim is missing or has the wrong shape.
    Claims,
}

impl Rejection {
    /// For logs.
    pub fn reason(self) -> &'static str {
        match self {
            Rejection::Missing => "no bearer token",
            Rejection::Malformed => "malformed token",
            Rejection::Algorithm => "algorithm not accepted",
            Rejection::Signature => "signature not verified",
            Rejection::Expired => "token expired",
            Rejection::NotYetValid => "token not yet valid",
            Rejection::Audience => "wrong issuer or audience",
            Rejection::Claims => "missing or malformed claims",
        }
    }

    /// The 401 answered for it.
    pub fn into_error(self) -> ApiError {
        match self {
            Rejection::Missing => ApiError::Unauthorized {
                detail: "Missing bearer token".into(),
                invalid_token: false,
            },
            Rejection::Expired => ApiError::Unauthorized {
                detail: "Token expired".into(),
                invalid_token: true,
            },
            _ => ApiError::Unauthorized {
                detail: "Invalid token".into(),
                invalid_token: true,
            },
        }
    }
}

fn rejection(error: &jsonwebtoken::errors::Error) -> Rejection {
    match error.kind() {
        ErrorKind::InvalidSignature => Rejection::Signature,
        ErrorKind::ExpiredSignature => Rejection::Expired,
        ErrorKind::ImmatureSignature => Rejection::NotYetValid,
        ErrorKind::InvalidIssuer | ErrorKind::InvalidAudience => Rejection::Audience,
        ErrorKind::MissingRequiredClaim(_) | ErrorKind::InvalidClaimFormat(_) => Rejection::Claims,
        ErrorKind::InvalidAlgorithm | ErrorKind::UnsupportedAlgorithm => Rejection::Algorithm,
        _ => Rejection::Malformed,
    }
}

/// Verifies bearer tokens. The accepted algorithms come from the
/// configuration, never from the token: HS256 only with a configured
/// secret, RS256/ES256 only with a key from the configured JWKS.
pub struct Authenticator {
    secrets: Vec<DecodingKey>,
    keys: Option<Arc<KeySet>>,
    issuer: Option<String>,
    audience: Option<String>,
    role_path: ClaimName,
    tech_path: ClaimName,
}

impl std::fmt::Debug for Authenticator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Authenticator")
            .field("secrets", &self.secrets.len())
            .field("keys", &self.keys)
            .field("issuer", &self.issuer)
            .field("audience", &self.audience)
            .finish_non_exhaustive()
    }
}

/// How a claim is found: by its whole name first (Auth0's namespaced
/// claims, `https://example.com/roles`, contain dots), else as a dotted path
/// into objects (Keycloak's `realm_access.roles`).
#[derive(Debug, Clone)]
struct ClaimName {
    whole: String,
    path: Vec<String>,
}

fn claim_path(name: &str) -> ClaimName {
    ClaimName {
        whole: name.to_string(),
        path: name.split('.').map(str::to_string).collect(),
    }
}

impl Authenticator {
    /// Builds the verifier; `None` in development mode. A JWKS file is read
    /// now (an unreadable one stops the start); a URL is read on first use.
    pub fn new(settings: &AuthSettings) -> Result<Option<Self>, String> {
        if !settings.enabled() {
            return Ok(None);
        }
        let mut secrets = Vec::new();
        for (name, secret) in [
            ("FIELDOPT_AUTH_SECRET", &settings.secret),
            ("FIELDOPT_AUTH_SECRET_PREVIOUS", &settings.previous_secret),
        ] {
            if let Some(secret) = secret {
                check_secret(name, secret)?;
                let key = DecodingKey::from_secret(secret.expose_secret().as_bytes())
                    .map_err(|e| format!("{name} is not usable as an HS256 key: {e}"))?;
                secrets.push(key);
            }
        }
        let keys = match &settings.jwks {
            Some(source) => Some(KeySet::new(source.clone(), settings.jwks_min_refresh)?),
            None => None,
        };
        for (name, claim) in [
            ("FIELDOPT_AUTH_ROLE_CLAIM", &settings.role_claim),
            ("FIELDOPT_AUTH_TECH_CLAIM", &settings.tech_claim),
        ] {
            if claim.split('.').any(str::is_empty) {
                return Err(format!(
                    "{name} {claim:?} is not a claim name or dotted path"
                ));
            }
        }
        Ok(Some(Self {
            secrets,
            keys,
            issuer: settings.issuer.clone(),
            audience: settings.audience.clone(),
            role_path: claim_path(&settings.role_claim),
            tech_path: claim_path(&settings.tech_claim),
        }))
    }

    /// Reads the JWKS now, for start-up; returns how many keys it holds.
    pub async fn load_keys(&self) -> Result<usize, String> {
        match &self.keys {
            Some(keys) => keys.refresh().await,
            None => Ok(0),
        }
    }

    fn validation(&self, algorithm: Algorithm) -> Validation {
        let mut validation = Validation::new(algorithm);
        validation.leeway = LEEWAY_SECS;
        validation.validate_nbf = true;
        let mut required = vec!["exp", "sub"];
        if let Some(issuer) = &self.issuer {
            validation.set_issuer(&[issuer]);
            required.push("iss");
        }
        match &self.audience {
            Some(audience) => {
                validation.set_audience(&[audience]);
                required.push("aud");
            }
            None => validation.validate_aud = false,
        }
        validation.set_required_spec_claims(&required);
        validation
    }

    /// Verifies `token` and resolves the caller it speaks for.
    pub async fn authenticate(&self, token: &str) -> Result<Caller, Rejection> {
        let header = jsonwebtoken::decode_header(token).map_err(|_| Rejection::Malformed)?;
        let candidates: Vec<DecodingKey> = match header.alg {
            Algorithm::HS256 if !self.secrets.is_empty() => self.secrets.clone(),
            Algorithm::RS256 | Algorithm::ES256 => match &self.keys {
                Some(keys) => keys
                    .candidates(header.kid.as_deref(), header.alg)
                    .await
                    .into_iter()
                    .map(|k| k.key)
                    .collect(),
                None => return Err(Rejection::Algorithm),
            },
            _ => return Err(Rejection::Algorithm),
        };
        let validation = self.validation(header.alg);
        let mut outcome = Err(Rejection::Signature);
        for key in &candidates {
            match jsonwebtoken::decode::<Value>(token, key, &validation) {
                Ok(data) => {
                    outcome = Ok(data.claims);
                    break;
                }
                // Another key may verify it (rotation); anything else is final.
                Err(error) if *error.kind() == ErrorKind::InvalidSignature => {}
                Err(error) => {
                    outcome = Err(rejection(&error));
                    break;
                }
            }
        }
        self.caller(&outcome?)
    }

    fn caller(&self, claims: &Value) -> Result<Caller, Rejection> {
        let actor = claims
            .get("sub")
            .and_then(Value::as_str)
            .and_then(|sub| Actor::parse(sub).ok())
            .ok_or(Rejection::Claims)?;
        let role = role_from(claim_at(claims, &self.role_path));
        let technician = claim_at(claims, &self.tech_path)
            .and_then(|value| match value {
                Value::Number(n) => n.as_i64(),
                Value::String(s) => s.parse().ok(),
                _ => None,
            })
            .filter(|id| *id > 0)
            .map(TechnicianId);
        Ok(Caller {
            actor,
            role,
            technician,
        })
    }
}

fn claim_at<'a>(claims: &'a Value, name: &ClaimName) -> Option<&'a Value> {
    claims.get(&name.whole).or_else(|| {
        name.path
            .iter()
            .try_fold(claims, |value, key| value.get(key))
    })
}

/// The role a claim names: a string, or from an array the first of
/// `admin`, `dispatcher`, `technician` it contains.
fn role_from(value: Option<&Value>) -> Option<Role> {
    match value? {
        Value::String(name) => name.parse().ok(),
        Value::Array(items) => Role::ALL.into_iter().find(|role| {
            items
                .iter()
                .any(|item| item.as_str() == Some(role.as_str()))
        }),
        _ => None,
    }
}

/// The caller of a request, resolved once by the access-control middleware.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Caller {
    actor: Actor,
    role: Option<Role>,
    technician: Option<TechnicianId>,
}

impl Caller {
    /// Development mode's caller: everything allowed, recorded as `dev`.
    pub fn development() -> Self {
        Self {
            actor: Actor::development(),
            role: Some(Role::Admin),
            technician: None,
        }
    }

    /// Who the caller is, for the audit trail.
    pub fn actor(&self) -> &Actor {
        &self.actor
    }

    /// The caller's role, if its token names a known one.
    pub fn role(&self) -> Option<Role> {
        self.role
    }

    /// How far the caller may perform `operation`; 403 when not at all.
    pub fn scope(&self, operation: Operation) -> Result<Scope, ApiError> {
        let access = self
            .role
            .map_or(Access::None, |role| access::access(role, operation));
        match (access, self.technician) {
            (Access::All, _) => Ok(Scope::All),
            (Access::Own, Some(tech)) => Ok(Scope::Own(tech)),
            (Access::Own, None) | (Access::None, _) => Err(forbidden()),
        }
    }
}

fn forbidden() -> ApiError {
    ApiError::Forbidden("Not allowed for this caller".into())
}

impl FromRequest for Caller {
    type Error = ApiError;
    type Future = Ready<Result<Self, ApiError>>;

    /// The caller the middleware resolved; a route it did not see (none
    /// should exist) is refused rather than served unguarded.
    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(
            req.extensions()
                .get::<Caller>()
                .cloned()
                .ok_or_else(forbidden),
        )
    }
}

/// What a caller may touch within an operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// Every record.
    All,
    /// Only this technician's record and the jobs it holds.
    Own(TechnicianId),
}

impl Scope {
    /// The technician a list must be narrowed to, if any.
    pub fn only_technician(self) -> Option<TechnicianId> {
        match self {
            Scope::All => None,
            Scope::Own(tech) => Some(tech),
        }
    }

    /// 403 unless the technician record is in scope.
    pub fn check_technician(self, id: TechnicianId) -> Result<(), ApiError> {
        match self {
            Scope::Own(own) if own != id => Err(forbidden()),
            _ => Ok(()),
        }
    }

    /// 403 unless the job is in scope: a technician owns the jobs it holds.
    pub fn check_job(self, job: &Job) -> Result<(), ApiError> {
        match self {
            Scope::Own(own) if job.assigned_technician != Some(own) => Err(forbidden()),
            _ => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn roles_come_from_strings_and_arrays_by_precedence() {
        assert_eq!(
            role_from(Some(&json!("dispatcher"))),
            Some(Role::Dispatcher)
        );
        assert_eq!(role_from(Some(&json!("Dispatcher"))), None);
        assert_eq!(
            role_from(Some(&json!(["offline_access", "technician", "admin"]))),
            Some(Role::Admin)
        );
        assert_eq!(role_from(Some(&json!(["uma_authorization"]))), None);
        assert_eq!(role_from(Some(&json!(3))), None);
        assert_eq!(role_from(None), None);
    }

    #[test]
    fn dotted_paths_reach_into_objects() {
        let claims = json!({"realm_access": {"roles": ["technician"]}, "tech_id": 7});
        let path = claim_path("realm_access.roles");
        assert_eq!(role_from(claim_at(&claims, &path)), Some(Role::Technician));
        assert!(claim_at(&claims, &claim_path("realm_access.missing")).is_none());
    }

    #[test]
    fn short_secrets_are_refused() {
        let short = SecretString::from("x".repeat(31));
        let message = check_secret("FIELDOPT_AUTH_SECRET", &short).unwrap_err();
        assert!(message.contains("at least 32 bytes"), "{message}");
        assert!(!message.contains("xxxx"), "the secret is never shown");
        assert!(check_secret("S", &SecretString::from("x".repeat(32))).is_ok());
    }

    #[test]
    fn scopes_narrow_technicians_to_their_own() {
        let tech = Caller {
            actor: Actor::parse("t").unwrap(),
            role: Some(Role::Technician),
            technician: Some(TechnicianId(7)),
        };
        assert_eq!(
            tech.scope(Operation::GetJob).unwrap(),
            Scope::Own(TechnicianId(7))
        );
        assert!(tech.scope(Operation::PlanDay).is_err());
        let no_id = Caller {
            technician: None,
            ..tech.clone()
        };
        assert!(no_id.scope(Operation::GetJob).is_err());
        let unknown_role = Caller {
            role: None,
            ..tech.clone()
        };
        assert!(unknown_role.scope(Operation::ListJobs).is_err());
        let own = Scope::Own(TechnicianId(7));
        assert!(own.check_technician(TechnicianId(7)).is_ok());
        assert!(own.check_technician(TechnicianId(8)).is_err());
        let job = fieldopt_domain::fixtures::job(1).build();
        assert!(
            own.check_job(&job).is_err(),
            "an unassigned job is nobody's"
        );
        assert!(Scope::All.check_job(&job).is_ok());
        assert_eq!(
            Caller::development().scope(Operation::PlanDay).unwrap(),
            Scope::All
        );
    }
}
