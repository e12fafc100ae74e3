//! Signing deliveries as the Standard Webhooks specification says (standardwebhooks.com): the
//! signed content is `{webhook-id}.{webhook-timestamp}.{body}`, the signature HMAC-SHA256 under the
//! key a `whsec_` secret encodes in base64, sent as `v1,<base64>`. While a rotated-out secret still
//! counts, each delivery carries both signatures, space-separated, so a receiver holding either
//! secret accepts it.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, Mac};
use rand::RngCore;
use sha2::Sha256;

const PREFIX: &str = "whsec_";
/// 24 random bytes: 192 bits, as the specification's reference implementations generate.
const KEY_BYTES: usize = 24;

/// A fresh signing secret, `whsec_` and the key in base64.
pub fn generate_secret() -> String {
    let mut key = [0u8; KEY_BYTES];
    rand::rngs::OsRng.fill_bytes(&mut key);
    format!("{PREFIX}{}", STANDARD.encode(key))
}

/// The `webhook-signature` header for `body` sent as message `id` at `timestamp` (Unix seconds),
/// one `v1,` signature per secret. A secret that isn't `whsec_` and base64 is skipped: only
/// `generate_secret` makes them.
pub fn signature_header(secrets: &[&str], id: &str, timestamp: i64, body: &[u8]) -> String {
    secrets
        .iter()
        .filter_map(|secret| sign(secret, id, timestamp, body))
        .map(|signature| format!("v1,{signature}"))
        .collect::<Vec<_>>()
        .join(" ")
}

fn sign(secret: &str, id: &str, timestamp: i64, body: &[u8]) -> Option<String> {
    let key = STANDARD.decode(secret.strip_prefix(PREFIX)?).ok()?;
    let mut mac = Hmac::<Sha256>::new_from_slice(&key).ok()?;
    mac.update(id.as_bytes());
    mac.update(b".");
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    Some(STANDARD.encode(mac.finalize().into_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The example of the specification's reference libraries (standard-webhooks, libraries/):
    /// this secret, id, timestamp and body sign to this signature.
    #[test]
    fn signs_the_specifications_example() {
        let secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
        let body = br#"{"test": 2432232314}"#;
        assert_eq!(
            signature_header(&[secret], "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, body),
            "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
        );
    }

    #[test]
    fn signs_with_every_secret_it_is_given() {
        let (old, new) = (generate_secret(), generate_secret());
        let both = signature_header(&[&new, &old], "msg_1", 1, b"{}");
        let signatures: Vec<&str> = both.split(' ').collect();
        assert_eq!(signatures.len(), 2);
        assert_eq!(signatures[0], signature_header(&[&new], "msg_1", 1, b"{}"));
        assert_eq!(signatures[1], signature_header(&[&old], "msg_1", 1, b"{}"));
        assert_ne!(signatures[0], signatures[1]);
    }

    #[test]
    fn generated_secrets_carry_the_prefix_and_a_24_byte_key() {
        let secret = generate_secret();
        let key = STANDARD.decode(secret.strip_prefix(PREFIX).expect("prefix")).expect("base64");
        assert_eq!(key.len(), KEY_BYTES);
        assert_ne!(secret, generate_secret());
    }
}
