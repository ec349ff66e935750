//! BIP-174's test vectors: every invalid PSBT is refused, every valid one
//! (and every one that only fails the Signer's checks, which are not the
//! Parser's) decodes, with one map per input and output of its unsigned
//! transaction.

use anya_sdk::bitcoin::module_validator::psbt;

use crate::{CaseResult, case, unhex};

/// What BIP-174 says of a PSBT.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expect {
    /// "The following are invalid PSBTs".
    Invalid,
    /// "The following are valid PSBTs".
    Valid,
    /// "Fails Signer checks": a well-formed PSBT a Signer must refuse to
    /// sign; a parser accepts it.
    FailsSignerChecks,
}

/// One PSBT of the BIP's test vectors.
pub struct Vector {
    /// `invalid/…`, `valid/…` or `signer/…` and the case's description.
    pub name: &'static str,
    /// The BIP's "Case:" line.
    pub description: &'static str,
    pub expect: Expect,
    /// The PSBT, in the BIP's hex form.
    pub hex: &'static str,
}

pub use crate::data::bip174::VECTORS;

fn check(v: &Vector) -> Result<String, String> {
    let got = psbt::decode(&unhex(v.hex));
    match (v.expect, got) {
        (Expect::Invalid, Err(e)) => Ok(format!("refused ({e:?}): {}", v.description)),
        (Expect::Invalid, Ok(_)) => Err(format!(
            "decoded a PSBT the BIP says is invalid: {}",
            v.description
        )),
        (_, Err(e)) => Err(format!(
            "refused a PSBT the BIP says is well-formed ({}): {e:?}",
            v.description
        )),
        (_, Ok(p)) => {
            let (ins, outs) = (p.unsigned_tx.inputs.len(), p.unsigned_tx.outputs.len());
            if p.inputs.len() != ins || p.outputs.len() != outs {
                return Err(format!(
                    "{} input and {} output maps for a transaction of {ins} inputs and {outs} outputs",
                    p.inputs.len(),
                    p.outputs.len()
                ));
            }
            Ok(format!(
                "decoded, {ins} inputs and {outs} outputs: {}",
                v.description
            ))
        }
    }
}

/// One case per PSBT: `bip174/<invalid|valid|signer>/<description>`.
pub fn run() -> Vec<CaseResult> {
    VECTORS
        .iter()
        .map(|v| case(format!("bip174/{}", v.name), check(v)))
        .collect()
}
