//! Tokens minted the way a client or an identity provider would: claims
//! built by hand, signed with `jsonwebtoken` directly, keys made with
//! OpenSSL — never with the server's own code.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use openssl::bn::BigNumContext;
use openssl::ec::{EcGroup, EcKey, PointConversionForm};
use openssl::nid::Nid;
use openssl::pkey::Private;
use openssl::rsa::Rsa;
use serde_json::{Value, json};

/// The HS256 secret the authenticated test servers trust.
pub const SECRET: &str = "fieldopt-test-secret-0123456789abcdef";

pub fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

/// Claims valid for ten minutes.
pub fn claims(role: &str, sub: &str, tech_id: Option<i64>) -> Value {
    let mut claims = json!({"sub": sub, "role": role, "iat": now(), "exp": now() + 600});
    if let Some(id) = tech_id {
        claims["tech_id"] = json!(id);
    }
    claims
}

pub fn hs256(secret: &str, claims: &Value) -> String {
    let key = EncodingKey::from_secret(secret.as_bytes()).expect("hmac key");
    jsonwebtoken::encode(&Header::new(Algorithm::HS256), claims, &key).expect("sign")
}

pub fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// A token with the given header and claims and no signature checkable by
/// anyone: for `alg: none` and forged headers.
pub fn unsigned(header: &Value, claims: &Value, signature: &[u8]) -> String {
    format!(
        "{}.{}.{}",
        b64(header.to_string().as_bytes()),
        b64(claims.to_string().as_bytes()),
        b64(signature)
    )
}

/// An identity provider's signing key, with its public JWK.
pub struct ProviderKey {
    pub kid: String,
    pub algorithm: Algorithm,
    pub encoding: EncodingKey,
    pub jwk: Value,
    /// The public key as PEM (what an attacker would sign HS256 with).
    pub public_pem: Vec<u8>,
}

impl ProviderKey {
    pub fn rsa(kid: &str) -> Self {
        let key: Rsa<Private> = Rsa::generate(2048).expect("rsa key");
        let pem = key.private_key_to_pem().expect("pem");
        Self {
            kid: kid.to_string(),
            algorithm: Algorithm::RS256,
            encoding: EncodingKey::from_rsa_pem(&pem).expect("rsa encoding key"),
            jwk: json!({
                "kty": "RSA", "kid": kid, "use": "sig", "alg": "RS256",
                "n": b64(&key.n().to_vec()), "e": b64(&key.e().to_vec()),
            }),
            public_pem: key.public_key_to_pem().expect("public pem"),
        }
    }

    pub fn ec(kid: &str) -> Self {
        let group = EcGroup::from_curve_name(Nid::X9_62_PRIME256V1).expect("P-256");
        let key = EcKey::generate(&group).expect("ec key");
        let pkey = openssl::pkey::PKey::from_ec_key(key.clone()).expect("pkey");
        let pem = pkey.private_key_to_pem_pkcs8().expect("pkcs8");
        let mut ctx = BigNumContext::new().expect("bn ctx");
        let point = key
            .public_key()
            .to_bytes(&group, PointConversionForm::UNCOMPRESSED, &mut ctx)
            .expect("point");
        // Uncompressed point: 0x04 || x (32 bytes) || y (32 bytes).
        let (x, y) = point[1..].split_at(32);
        Self {
            kid: kid.to_string(),
            algorithm: Algorithm::ES256,
            encoding: EncodingKey::from_ec_pem(&pem).expect("ec encoding key"),
            jwk: json!({"kty": "EC", "kid": kid, "crv": "P-256", "x": b64(x), "y": b64(y)}),
            public_pem: pkey.public_key_to_pem().expect("public pem"),
        }
    }

    pub fn sign(&self, claims: &Value) -> String {
        let mut header = Header::new(self.algorithm);
        header.kid = Some(self.kid.clone());
        jsonwebtoken::encode(&header, claims, &self.encoding).expect("sign")
    }
}

/// A JWKS document of these keys.
pub fn jwks(keys: &[&ProviderKey]) -> Value {
    json!({"keys": keys.iter().map(|k| k.jwk.clone()).collect::<Vec<_>>()})
}
