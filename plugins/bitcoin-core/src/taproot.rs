//! Taproot outputs (BIP-341): tapleaf and tapbranch hashes, and the tweak of
//! an internal key.

use anya_sdk::bitcoin::module::types::taproot::{TaprootError, TweakedKey};
use k256::elliptic_curve::PrimeField;
use k256::elliptic_curve::group::Group;
use k256::elliptic_curve::sec1::ToEncodedPoint;
use k256::schnorr::VerifyingKey;
use k256::{ProjectivePoint, Scalar};

use crate::bytes::put_var_bytes;
use crate::hash::tagged;

fn hash32(bytes: &[u8]) -> Result<[u8; 32], TaprootError> {
    bytes
        .try_into()
        .map_err(|_| TaprootError::BadHashLength(bytes.len() as u32))
}

/// hash_TapLeaf(leaf version ‖ compact size(script) ‖ script).
pub fn leaf_hash(leaf_version: u8, script: &[u8]) -> [u8; 32] {
    let mut buf = Vec::with_capacity(script.len() + 4);
    buf.push(leaf_version);
    put_var_bytes(&mut buf, script);
    tagged("TapLeaf", &[&buf])
}

/// hash_TapBranch of two child hashes, smaller first.
pub fn branch_hash(a: &[u8], b: &[u8]) -> Result<[u8; 32], TaprootError> {
    let (a, b) = (hash32(a)?, hash32(b)?);
    let (lo, hi) = if a <= b { (a, b) } else { (b, a) };
    Ok(tagged("TapBranch", &[&lo, &hi]))
}

/// Q = lift_x(P) + hash_TapTweak(P ‖ merkle root)·G.
pub fn tweak(internal_key: &[u8], merkle_root: Option<&[u8]>) -> Result<TweakedKey, TaprootError> {
    if internal_key.len() != 32 {
        return Err(TaprootError::BadKeyLength(internal_key.len() as u32));
    }
    let root = merkle_root.map(hash32).transpose()?;
    let p = VerifyingKey::from_bytes(internal_key).map_err(|_| TaprootError::InvalidKey)?;
    let t = match root {
        Some(root) => tagged("TapTweak", &[internal_key, &root]),
        None => tagged("TapTweak", &[internal_key]),
    };
    let scalar: Option<Scalar> = Scalar::from_repr(t.into()).into();
    let scalar = scalar.ok_or(TaprootError::InvalidTweak)?;
    let q = ProjectivePoint::from(*p.as_affine()) + ProjectivePoint::GENERATOR * scalar;
    if bool::from(q.is_identity()) {
        return Err(TaprootError::InvalidTweak);
    }
    let encoded = q.to_affine().to_encoded_point(true);
    let bytes = encoded.as_bytes();
    Ok(TweakedKey {
        tweak: t.to_vec(),
        output_key: bytes[1..33].to_vec(),
        odd_y: bytes[0] == 0x03,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{hex, unhex};

    /// BIP-341 wallet test vectors, scriptPubKey 0 (no script tree).
    #[test]
    fn a_key_path_only_output() {
        let internal = unhex("d6889cb081036e0faefa3a35157ad71086b123b2b144b649798b494c300a961d");
        let t = tweak(&internal, None).unwrap();
        assert_eq!(
            hex(&t.output_key),
            "53a1f6e454df1aa2776a2814a721372d6258050de330b3c6d10ee8f4e0dda343"
        );
        assert!(matches!(
            tweak(&internal[..31], None),
            Err(TaprootError::BadKeyLength(31))
        ));
    }
}
