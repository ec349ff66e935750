//! BIP-340's `test-vectors.csv`: for rows with a secret key, the public key
//! and the signature (default signing with the row's auxiliary randomness);
//! for every row, the verification result, and for a refused signature that
//! it is refused.

use anya_sdk::bitcoin::module_validator::schnorr;

use crate::{CaseResult, case, hex, unhex};

/// One row of `test-vectors.csv`.
pub struct Vector {
    pub index: u32,
    /// Empty for verification-only rows.
    pub secret_key: &'static str,
    pub public_key: &'static str,
    /// Empty for verification-only rows.
    pub aux_rand: &'static str,
    /// Any length, empty included.
    pub message: &'static str,
    pub signature: &'static str,
    /// The row's "verification result".
    pub valid: bool,
    pub comment: &'static str,
}

pub use crate::data::bip340::VECTORS;

fn check(v: &Vector) -> Result<String, String> {
    let pk = unhex(v.public_key);
    let msg = unhex(v.message);
    let sig = unhex(v.signature);
    let mut done = Vec::new();
    if !v.secret_key.is_empty() {
        let sk = unhex(v.secret_key);
        let got = schnorr::public_key(&sk).map_err(|e| format!("public-key refused: {e:?}"))?;
        if got != pk {
            return Err(format!(
                "public key: expected {}, got {}",
                v.public_key,
                hex(&got)
            ));
        }
        let got = schnorr::sign(&sk, &msg, &unhex(v.aux_rand))
            .map_err(|e| format!("sign refused: {e:?}"))?;
        if got != sig {
            return Err(format!(
                "signature: expected {}, got {}",
                v.signature,
                hex(&got)
            ));
        }
        done.push("public key and signature match");
    }
    match (schnorr::verify(&pk, &msg, &sig), v.valid) {
        (Ok(()), true) => done.push("verifies"),
        (Err(_), false) => done.push("is refused"),
        (Ok(()), false) => {
            return Err(format!(
                "verify accepted a signature the BIP says is invalid ({})",
                v.comment
            ));
        }
        (Err(e), true) => return Err(format!("verify refused a valid signature: {e:?}")),
    }
    let comment = if v.comment.is_empty() {
        String::new()
    } else {
        format!(" ({})", v.comment)
    };
    Ok(format!("{}{comment}", done.join(", ")))
}

/// One case per row: `bip340/<index>`.
pub fn run() -> Vec<CaseResult> {
    VECTORS
        .iter()
        .map(|v| case(format!("bip340/{}", v.index), check(v)))
        .collect()
}
