//! Standard Webhooks signatures (<https://www.standardwebhooks.com/>).
//!
//! The signed content is `{webhook-id}.{webhook-timestamp}.{body}`; the
//! `webhook-signature` header is `v1,` and the base64 of its HMAC-SHA256 under the secret.
//! A header may hold several space-separated signatures (key rotation); one valid `v1`
//! signature is enough.

use base64::Engine as _;
use hmac::{Hmac, Mac};
use sha2::Sha256;

type HmacSha256 = Hmac<Sha256>;

/// The `webhook-signature` header value (`v1,<base64>`) for one delivery attempt.
pub fn sign(secret: &[u8], id: &str, timestamp: i64, body: &[u8]) -> String {
    let mac = mac(secret, id, &timestamp.to_string(), body);
    format!(
        "v1,{}",
        base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
    )
}

/// Whether `header` (a `webhook-signature` value) holds a valid `v1` signature of `body`
/// with this `id` and `timestamp` (the `webhook-id` and `webhook-timestamp` header values,
/// as received) under `secret` (raw key bytes; see
/// [`parse_webhook_secret`](crate::parse_webhook_secret)). Comparison is constant-time.
///
/// This checks authenticity only: a receiver should also refuse timestamps far from its
/// clock (the specification suggests 5 minutes) and ids it has already seen.
pub fn verify_signature(
    secret: &[u8],
    id: &str,
    timestamp: &str,
    body: &[u8],
    header: &str,
) -> bool {
    header.split_ascii_whitespace().any(|entry| {
        let Some(encoded) = entry.strip_prefix("v1,") else {
            return false;
        };
        let Ok(signature) = base64::engine::general_purpose::STANDARD.decode(encoded) else {
            return false;
        };
        mac(secret, id, timestamp, body)
            .verify_slice(&signature)
            .is_ok()
    })
}

fn mac(secret: &[u8], id: &str, timestamp: &str, body: &[u8]) -> HmacSha256 {
    // HMAC takes keys of any length.
    let mut mac = HmacSha256::new_from_slice(secret).expect("HMAC accepts any key length");
    mac.update(id.as_bytes());
    mac.update(b".");
    mac.update(timestamp.as_bytes());
    mac.update(b".");
    mac.update(body);
    mac
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::parse_webhook_secret;

    // The Standard Webhooks specification's published test vector.
    const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    const ID: &str = "msg_p5jXN8AQM9LWM0D4loKWxJek";
    const TIMESTAMP: i64 = 1_614_265_330;
    const BODY: &[u8] = br#"{"test": 2432232314}"#;
    const SIGNATURE: &str = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=";

    #[test]
    fn matches_the_specification_test_vector() {
        let key = parse_webhook_secret(SECRET).unwrap();
        assert_eq!(sign(&key, ID, TIMESTAMP, BODY), SIGNATURE);
        assert!(verify_signature(&key, ID, "1614265330", BODY, SIGNATURE));
    }

    #[test]
    fn refuses_anything_altered() {
        let key = parse_webhook_secret(SECRET).unwrap();
        assert!(!verify_signature(&key, ID, "1614265331", BODY, SIGNATURE));
        assert!(!verify_signature(
            &key,
            "msg_other",
            "1614265330",
            BODY,
            SIGNATURE
        ));
        assert!(!verify_signature(&key, ID, "1614265330", b"{}", SIGNATURE));
        assert!(!verify_signature(
            b"other",
            ID,
            "1614265330",
            BODY,
            SIGNATURE
        ));
        assert!(!verify_signature(&key, ID, "1614265330", BODY, "v2,abc"));
        assert!(!verify_signature(&key, ID, "1614265330", BODY, "v1,!!"));
        assert!(!verify_signature(&key, ID, "1614265330", BODY, ""));
    }

    #[test]
    fn accepts_one_valid_signature_among_several() {
        let key = parse_webhook_secret(SECRET).unwrap();
        let header = format!("v1,AAAA {SIGNATURE}");
        assert!(verify_signature(&key, ID, "1614265330", BODY, &header));
    }
}
