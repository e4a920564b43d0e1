//! Standard Webhooks signatures: `webhook-signature: v1,<base64>` where the
//! base64 is HMAC-SHA256 over `{webhook-id}.{webhook-timestamp}.{body}`,
//! keyed with the base64-decoded part of the secret after `whsec_`.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, KeyInit, Mac};
use sha2_11::Sha256;

/// The prefix of every signing secret.
pub const SECRET_PREFIX: &str = "whsec_";

/// Random bytes in a new secret (Standard Webhooks asks for 24 to 64).
const SECRET_BYTES: usize = 24;

/// A new signing secret: `whsec_` and the base64 of 24 random bytes.
pub fn generate_secret() -> Result<String, String> {
    let mut key = [0u8; SECRET_BYTES];
    getrandom::fill(&mut key).map_err(|e| format!("no randomness for a secret: {e}"))?;
    Ok(format!("{SECRET_PREFIX}{}", STANDARD.encode(key)))
}

/// The `webhook-signature` value for a message: `v1,<base64 HMAC>`.
pub fn sign(secret: &str, message_id: &str, timestamp: i64, body: &str) -> Result<String, String> {
    let key = STANDARD
        .decode(secret.strip_prefix(SECRET_PREFIX).unwrap_or(secret))
        .map_err(|e| format!("the signing secret is not base64: {e}"))?;
    let mut mac =
        Hmac::<Sha256>::new_from_slice(&key).map_err(|e| format!("unusable signing key: {e}"))?;
    mac.update(message_id.as_bytes());
    mac.update(b".");
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body.as_bytes());
    Ok(format!(
        "v1,{}",
        STANDARD.encode(mac.finalize().into_bytes())
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signatures_match_the_specifications_example() {
        // The example of the Standard Webhooks reference libraries.
        let signature = sign(
            "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
            "msg_p5jXN8AQM9LWM0D4loKWxJek",
            1_614_265_330,
            r#"{"test": 2432232314}"#,
        )
        .unwrap();
        assert_eq!(signature, "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=");
    }

    #[test]
    fn secrets_are_prefixed_random_base64_of_24_bytes() {
        let one = generate_secret().unwrap();
        let two = generate_secret().unwrap();
        assert_ne!(one, two);
        let key = STANDARD
            .decode(one.strip_prefix(SECRET_PREFIX).unwrap())
            .unwrap();
        assert_eq!(key.len(), SECRET_BYTES);
    }

    #[test]
    fn a_secret_that_is_not_base64_is_an_error() {
        assert!(sign("whsec_not base64!", "evt_1", 1, "{}").is_err());
    }
}
