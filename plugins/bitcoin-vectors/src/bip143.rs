//! BIP-143's worked examples: the signature hash of each input it signs,
//! with its scriptCode, amount and hash type (13 sigHash lines in the BIP).

use anya_sdk::bitcoin::module_validator::{sighash, transaction};

use crate::{CaseResult, case, same_hex, unhex};

/// One sigHash line of BIP-143's examples.
pub struct Vector {
    /// `<example>/<n>`: the example's heading and the n-th sigHash in it.
    pub name: &'static str,
    /// The unsigned transaction the example starts from.
    pub unsigned_tx: &'static str,
    /// The index of the input whose out-point the preimage names.
    pub input: u32,
    /// The scriptCode, without its length prefix.
    pub script_code: &'static str,
    /// In satoshis.
    pub amount: u64,
    /// nHashType, as committed.
    pub hash_type: u32,
    /// The expected sigHash, as the BIP prints it.
    pub sighash: &'static str,
}

pub use crate::data::bip143::VECTORS;

fn check(v: &Vector) -> Result<String, String> {
    let tx = transaction::decode(&unhex(v.unsigned_tx))
        .map_err(|e| format!("the example's unsigned transaction does not decode: {e:?}"))?;
    let got = sighash::segwit_v0(&tx, v.input, &unhex(v.script_code), v.amount, v.hash_type)
        .map_err(|e| format!("segwit-v0 refused input {}: {e:?}", v.input))?;
    same_hex(
        &format!(
            "sighash of input {} (amount {}, hash type {:#x})",
            v.input, v.amount, v.hash_type
        ),
        &got,
        v.sighash,
    )
}

/// One case per sigHash line: `bip143/<example>/<n>`.
pub fn run() -> Vec<CaseResult> {
    VECTORS
        .iter()
        .map(|v| case(format!("bip143/{}", v.name), check(v)))
        .collect()
}
