//! The signed envelope around an index document: DSSE (the Dead Simple Signing Envelope
//! of in-toto and Sigstore). The payload's exact bytes are signed, through DSSE's
//! pre-authentication encoding, so no JSON canonicalisation is needed and a signature
//! for one document type never verifies as another.
//!
//! ```json
//! {"payloadType": "application/vnd.anya.release.v1+json",
//!  "payload": "<base64 of the document's bytes>",
//!  "signatures": [{"keyid": "<hex key id>", "sig": "<base64 ed25519 signature>"}]}
//! ```

use std::collections::BTreeSet;

use base64::Engine as _;
use serde::{Deserialize, Serialize};

use crate::ids::KeyId;
use crate::keys::{PublicKey, SecretKey};

/// Who may sign one kind of document: keys, and how many distinct ones must.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoleKeys {
    pub keys: Vec<PublicKey>,
    pub threshold: u32,
}

/// Why an envelope does not verify.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EnvelopeError {
    #[error("not a signed envelope: {0}")]
    Malformed(String),
    #[error("its payload type is {found:?}, not {expected:?}")]
    WrongType {
        expected: &'static str,
        found: String,
    },
    #[error(
        "{valid} valid signature(s) by distinct trusted keys, {threshold} required \
         ({untrusted} by keys not trusted for it, {invalid} invalid)"
    )]
    BelowThreshold {
        valid: usize,
        threshold: u32,
        untrusted: usize,
        invalid: usize,
    },
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Envelope {
    #[serde(rename = "payloadType")]
    payload_type: String,
    payload: String,
    signatures: Vec<EnvelopeSignature>,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct EnvelopeSignature {
    keyid: String,
    sig: String,
}

/// DSSE's pre-authentication encoding: what is signed.
fn pae(payload_type: &str, payload: &[u8]) -> Vec<u8> {
    let mut out = format!(
        "DSSEv1 {} {payload_type} {} ",
        payload_type.len(),
        payload.len()
    )
    .into_bytes();
    out.extend_from_slice(payload);
    out
}

/// More signatures than any threshold needs are an attack on the verifier's time.
pub const MAX_SIGNATURES: usize = 64;

const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::STANDARD;

/// `payload` of `payload_type` in an envelope signed by each of `keys`.
pub fn seal(payload_type: &str, payload: &[u8], keys: &[&SecretKey]) -> Vec<u8> {
    let message = pae(payload_type, payload);
    let envelope = Envelope {
        payload_type: payload_type.to_owned(),
        payload: B64.encode(payload),
        signatures: keys
            .iter()
            .map(|k| EnvelopeSignature {
                keyid: k.key_id().to_string(),
                sig: B64.encode(k.sign(&message)),
            })
            .collect(),
    };
    serde_json::to_vec_pretty(&envelope).expect("an envelope serializes")
}

/// `bytes`, an envelope, with a signature by each of `keys` added (a key that signed it
/// already is not added twice): how a threshold of offline keys, each on its own machine,
/// signs one document in turn.
pub fn add_signatures(bytes: &[u8], keys: &[&SecretKey]) -> Result<Vec<u8>, EnvelopeError> {
    let mut envelope = parse(bytes)?;
    let payload = B64
        .decode(&envelope.payload)
        .map_err(|e| EnvelopeError::Malformed(format!("payload: {e}")))?;
    let message = pae(&envelope.payload_type, &payload);
    for key in keys {
        let keyid = key.key_id().to_string();
        envelope.signatures.retain(|s| s.keyid != keyid);
        envelope.signatures.push(EnvelopeSignature {
            keyid,
            sig: B64.encode(key.sign(&message)),
        });
    }
    Ok(serde_json::to_vec_pretty(&envelope).expect("an envelope serializes"))
}

/// The payload type and payload of `bytes`, signatures NOT checked: for the publisher's
/// tools (which document is this, what version came before), never for a host's trust.
pub fn unverified_payload(bytes: &[u8]) -> Result<(String, Vec<u8>), EnvelopeError> {
    let envelope = parse(bytes)?;
    let payload = B64
        .decode(&envelope.payload)
        .map_err(|e| EnvelopeError::Malformed(format!("payload: {e}")))?;
    Ok((envelope.payload_type, payload))
}

fn parse(bytes: &[u8]) -> Result<Envelope, EnvelopeError> {
    serde_json::from_slice(bytes).map_err(|e| {
        EnvelopeError::Malformed(format!(
            "not JSON of an envelope near line {}, column {}",
            e.line(),
            e.column()
        ))
    })
}

/// The payload of `bytes`, an envelope of `payload_type` signed by at least
/// `role.threshold` distinct keys of `role`. A signature by a key not in `role`, or one
/// that does not verify, counts for nothing (it does not refuse the document: a publisher
/// may sign for several roles); a key counts once however often it signed.
pub fn open(
    bytes: &[u8],
    payload_type: &'static str,
    role: &RoleKeys,
) -> Result<Vec<u8>, EnvelopeError> {
    let envelope = parse(bytes)?;
    if envelope.payload_type != payload_type {
        return Err(EnvelopeError::WrongType {
            expected: payload_type,
            found: envelope.payload_type.chars().take(100).collect(),
        });
    }
    if envelope.signatures.len() > MAX_SIGNATURES {
        return Err(EnvelopeError::Malformed(format!(
            "{} signatures; at most {MAX_SIGNATURES} are read",
            envelope.signatures.len()
        )));
    }
    let payload = B64
        .decode(&envelope.payload)
        .map_err(|e| EnvelopeError::Malformed(format!("payload: {e}")))?;
    let message = pae(payload_type, &payload);
    let mut valid: BTreeSet<KeyId> = BTreeSet::new();
    let (mut untrusted, mut invalid) = (0, 0);
    for signature in &envelope.signatures {
        let Some(key) = role
            .keys
            .iter()
            .find(|k| k.key_id().to_string() == signature.keyid)
        else {
            untrusted += 1;
            continue;
        };
        let verified = B64
            .decode(&signature.sig)
            .ok()
            .and_then(|sig| <[u8; 64]>::try_from(sig).ok())
            .is_some_and(|sig| key.verify_strict(&message, &sig));
        if verified {
            valid.insert(key.key_id());
        } else {
            invalid += 1;
        }
    }
    if valid.len() < role.threshold.max(1) as usize {
        return Err(EnvelopeError::BelowThreshold {
            valid: valid.len(),
            threshold: role.threshold.max(1),
            untrusted,
            invalid,
        });
    }
    Ok(payload)
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;

    const TYPE: &str = "application/vnd.anya.test.v1+json";

    /// A key from a fixed seed (no private key is committed).
    pub(in crate::index) fn key(seed: u8) -> SecretKey {
        SecretKey::from_seed([seed; 32])
    }

    /// The keys of `seeds`, `threshold` of them required.
    pub(in crate::index) fn role(seeds: &[u8], threshold: u32) -> RoleKeys {
        RoleKeys {
            keys: seeds.iter().map(|s| key(*s).public()).collect(),
            threshold,
        }
    }

    #[test]
    fn a_threshold_counts_distinct_trusted_keys() {
        let sealed = seal(TYPE, b"{\"v\":1}", &[&key(1), &key(2)]);
        assert_eq!(
            open(&sealed, TYPE, &role(&[1, 2, 3], 2)).unwrap(),
            b"{\"v\":1}"
        );

        // The same key twice is one signature.
        let twice = seal(TYPE, b"x", &[&key(1), &key(1)]);
        let err = open(&twice, TYPE, &role(&[1, 2], 2)).unwrap_err();
        assert!(
            matches!(err, EnvelopeError::BelowThreshold { valid: 1, .. }),
            "{err}"
        );

        // A key outside the role counts for nothing.
        let outsider = seal(TYPE, b"x", &[&key(1), &key(9)]);
        let err = open(&outsider, TYPE, &role(&[1, 2], 2)).unwrap_err();
        assert!(
            matches!(
                err,
                EnvelopeError::BelowThreshold {
                    valid: 1,
                    untrusted: 1,
                    ..
                }
            ),
            "{err}"
        );
    }

    #[test]
    fn a_changed_payload_or_type_does_not_verify() {
        let sealed = seal(TYPE, b"{\"v\":1}", &[&key(1)]);
        let mut envelope: serde_json::Value = serde_json::from_slice(&sealed).unwrap();
        envelope["payload"] = B64.encode(b"{\"v\":2}").into();
        let tampered = serde_json::to_vec(&envelope).unwrap();
        let err = open(&tampered, TYPE, &role(&[1], 1)).unwrap_err();
        assert!(
            matches!(err, EnvelopeError::BelowThreshold { invalid: 1, .. }),
            "{err}"
        );

        let err = open(&sealed, "application/other", &role(&[1], 1)).unwrap_err();
        assert!(matches!(err, EnvelopeError::WrongType { .. }), "{err}");
        assert!(matches!(
            open(b"not json", TYPE, &role(&[1], 1)),
            Err(EnvelopeError::Malformed(_))
        ));
    }
}
