//! BIP-340 Schnorr signatures over secp256k1 (k256), with the reason each
//! refused key or signature is refused.

use anya_sdk::bitcoin::module::types::schnorr::SchnorrError;
use k256::schnorr::{Signature, SigningKey, VerifyingKey};

/// The field size p, big-endian.
const FIELD_SIZE: [u8; 32] = [
    0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
    0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xfe, 0xff, 0xff, 0xfc, 0x2f,
];
/// The curve order n, big-endian.
const CURVE_ORDER: [u8; 32] = [
    0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xfe,
    0xba, 0xae, 0xdc, 0xe6, 0xaf, 0x48, 0xa0, 0x3b, 0xbf, 0xd2, 0x5e, 0x8c, 0xd0, 0x36, 0x41, 0x41,
];

fn public_key_of(bytes: &[u8]) -> Result<VerifyingKey, SchnorrError> {
    if bytes.len() != 32 {
        return Err(SchnorrError::BadPublicKeyLength(bytes.len() as u32));
    }
    if bytes >= &FIELD_SIZE[..] {
        return Err(SchnorrError::InvalidPublicKey);
    }
    VerifyingKey::from_bytes(bytes).map_err(|_| SchnorrError::InvalidPublicKey)
}

fn secret_key_of(bytes: &[u8]) -> Result<SigningKey, SchnorrError> {
    if bytes.len() != 32 {
        return Err(SchnorrError::BadSecretLength(bytes.len() as u32));
    }
    SigningKey::from_bytes(bytes).map_err(|_| SchnorrError::InvalidSecretKey)
}

/// Verifies a BIP-340 signature of a message of any length.
pub fn verify(public_key: &[u8], message: &[u8], signature: &[u8]) -> Result<(), SchnorrError> {
    let key = public_key_of(public_key)?;
    if signature.len() != 64 {
        return Err(SchnorrError::BadSignatureLength(signature.len() as u32));
    }
    if signature[..32] >= FIELD_SIZE[..] {
        return Err(SchnorrError::ROutOfRange);
    }
    if signature[32..] >= CURVE_ORDER[..] {
        return Err(SchnorrError::SOutOfRange);
    }
    // k256 also refuses s = 0, which no valid signature has.
    let signature = Signature::try_from(signature).map_err(|_| SchnorrError::InvalidSignature)?;
    key.verify_raw(message, &signature)
        .map_err(|_| SchnorrError::InvalidSignature)
}

/// The x-only public key of a secret key.
pub fn public_key(secret_key: &[u8]) -> Result<Vec<u8>, SchnorrError> {
    Ok(secret_key_of(secret_key)?
        .verifying_key()
        .to_bytes()
        .to_vec())
}

/// BIP-340's default signing with auxiliary randomness.
pub fn sign(secret_key: &[u8], message: &[u8], aux_rand: &[u8]) -> Result<Vec<u8>, SchnorrError> {
    let key = secret_key_of(secret_key)?;
    let aux: &[u8; 32] = aux_rand
        .try_into()
        .map_err(|_| SchnorrError::BadSecretLength(aux_rand.len() as u32))?;
    let signature = key
        .sign_raw(message, aux)
        .map_err(|_| SchnorrError::InvalidSecretKey)?;
    Ok(signature.to_bytes().to_vec())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{hex, unhex};

    /// BIP-340 test vector 0.
    #[test]
    fn vector_0_signs_and_verifies() {
        let sk = unhex("0000000000000000000000000000000000000000000000000000000000000003");
        let pk = public_key(&sk).unwrap();
        assert_eq!(
            hex(&pk),
            "f9308a019258c31049344f85f89d5229b531c845836f99b08601f113bce036f9"
        );
        let msg = [0u8; 32];
        let sig = sign(&sk, &msg, &[0u8; 32]).unwrap();
        assert_eq!(
            hex(&sig),
            "e907831f80848d1069a5371b402410364bdf1c5f8307b0084c55f1ce2dca821525f66a4a85ea8b71e482a74f382d2ce5ebeee8fdb2172f477df4900d310536c0"
        );
        assert!(verify(&pk, &msg, &sig).is_ok());
        let mut bad = sig.clone();
        bad[63] ^= 1;
        assert!(matches!(
            verify(&pk, &msg, &bad),
            Err(SchnorrError::InvalidSignature)
        ));
        assert!(matches!(
            verify(&pk, &msg, &sig[..63]),
            Err(SchnorrError::BadSignatureLength(63))
        ));
    }
}
