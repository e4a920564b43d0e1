//! `fieldopt token`: a bearer token signed with the configured secret, for
//! scripts, first set-up and tests by hand.

use anyhow::{Context, bail};
use fieldopt_domain::Actor;
use fieldopt_domain::access::Role;
use fieldopt_http::auth::check_secret;
use jsonwebtoken::{EncodingKey, Header};
use secrecy::{ExposeSecret, SecretString};
use serde_json::json;

/// What the token says.
#[derive(Debug, Clone)]
pub struct TokenRequest {
    /// `admin`, `dispatcher` or `technician`.
    pub role: String,
    /// The subject.
    pub sub: String,
    /// A technician's own id.
    pub tech_id: Option<i64>,
    /// Lifetime in seconds.
    pub ttl_secs: u64,
}

/// Signs the claims of `request` with HS256 and `secret`.
pub fn mint(secret: Option<&SecretString>, request: &TokenRequest) -> anyhow::Result<String> {
    let Some(secret) = secret else {
        bail!("no secret configured: set FIELDOPT_AUTH_SECRET (or --auth-secret) to sign tokens");
    };
    check_secret("FIELDOPT_AUTH_SECRET", secret).map_err(anyhow::Error::msg)?;
    let role: Role = request
        .role
        .parse()
        .map_err(|e| anyhow::anyhow!("--role: {e}"))?;
    let sub = Actor::parse(request.sub.as_str()).map_err(|e| anyhow::anyhow!("--sub: {e}"))?;
    match (role, request.tech_id) {
        (Role::Technician, None) => bail!("--tech-id is required for a technician token"),
        (_, Some(id)) if id < 1 => bail!("--tech-id must be a positive technician id"),
        _ => {}
    }
    let now = chrono::Utc::now().timestamp();
    let ttl = i64::try_from(request.ttl_secs).context("--ttl is too large")?;
    let mut claims = json!({
        "sub": sub.as_str(),
        "role": role.as_str(),
        "iat": now,
        "exp": now.saturating_add(ttl),
    });
    if let Some(id) = request.tech_id {
        claims["tech_id"] = json!(id);
    }
    let key = EncodingKey::from_secret(secret.expose_secret().as_bytes())?;
    Ok(jsonwebtoken::encode(&Header::default(), &claims, &key)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(role: &str, tech_id: Option<i64>) -> TokenRequest {
        TokenRequest {
            role: role.into(),
            sub: "alice".into(),
            tech_id,
            ttl_secs: 60,
        }
    }

    #[test]
    fn refuses_without_a_usable_secret_or_with_bad_claims() {
        let secret = SecretString::from("s".repeat(32));
        assert!(mint(None, &request("admin", None)).is_err());
        assert!(
            mint(
                Some(&SecretString::from("short".to_string())),
                &request("admin", None)
            )
            .is_err()
        );
        assert!(mint(Some(&secret), &request("root", None)).is_err());
        assert!(mint(Some(&secret), &request("technician", None)).is_err());
        assert!(mint(Some(&secret), &request("technician", Some(0))).is_err());
        let token = mint(Some(&secret), &request("technician", Some(4))).unwrap();
        assert_eq!(token.split('.').count(), 3);
    }
}
