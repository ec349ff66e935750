//! BIP-174's test vectors: every invalid PSBT is refused for the reason the
//! BIP gives ([`refusal`]), every valid one (and every one that only fails
//! the Signer's checks, which are not the Parser's) decodes, with one map per
//! input and output of its unsigned transaction.

use anya_sdk::bitcoin::module_validator::psbt::{self, MapId, MapKey, PsbtError};

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

/// A refusal's label and the test an error must pass to be it.
pub type Refusal = (&'static str, fn(&PsbtError) -> bool);

/// What an invalid vector's refusal must be, by the BIP's description of
/// it: a label and a test of the error. `None` for a name this table does
/// not know (this crate's tests check that every invalid vector has one).
pub fn refusal(name: &str) -> Option<Refusal> {
    let name = name.strip_prefix("invalid/")?;
    Some(match name {
        "network-transaction-not-psbt-format" => {
            ("bad-magic", |e| matches!(e, PsbtError::BadMagic))
        }
        "psbt-missing-outputs" => ("truncated", |e| matches!(e, PsbtError::Truncated(_))),
        "psbt-where-one-input-has-a-filled-scriptsig-in-the-unsigned-tx" => {
            ("unsigned-tx-not-empty(0)", |e| {
                matches!(e, PsbtError::UnsignedTxNotEmpty(0))
            })
        }
        "psbt-where-inputs-and-outputs-are-provided-but-without-an-unsigned-tx" => {
            ("missing-unsigned-tx", |e| {
                matches!(e, PsbtError::MissingUnsignedTx)
            })
        }
        "psbt-with-duplicate-keys-in-an-input" => ("duplicate-key in input 0", |e| {
            matches!(
                e,
                PsbtError::DuplicateKey(MapKey {
                    location: MapId::Input(0),
                    ..
                })
            )
        }),
        "psbt-with-unsigned-tx-serialized-with-witness-serialization-format" => {
            ("invalid-unsigned-tx or unsigned-tx-not-empty", |e| {
                matches!(
                    e,
                    PsbtError::InvalidUnsignedTx(_) | PsbtError::UnsignedTxNotEmpty(_)
                )
            })
        }
        "psbt-with-an-invalid-value-data-due-to-its-size-being-not-the-stated-size" => {
            ("invalid-unsigned-tx, bad-length or truncated", |e| {
                matches!(
                    e,
                    PsbtError::InvalidUnsignedTx(_)
                        | PsbtError::BadLength(_)
                        | PsbtError::Truncated(_)
                )
            })
        }
        // "PSBT with invalid <type> typed key": a known key type whose key is
        // the wrong length or holds an invalid public key.
        typed if typed.ends_with("-typed-key") => {
            ("invalid-key", |e| matches!(e, PsbtError::InvalidKey(_)))
        }
        _ => return None,
    })
}

fn check(v: &Vector) -> Result<String, String> {
    let got = psbt::decode(&unhex(v.hex));
    match (v.expect, got) {
        (Expect::Invalid, Err(e)) => match refusal(v.name) {
            Some((_, is)) if is(&e) => Ok(format!("refused ({e:?}): {}", v.description)),
            Some((want, _)) => Err(format!(
                "refused, but as {e:?}, not {want}: {}",
                v.description
            )),
            None => Err(format!("no expected refusal recorded for {}", v.name)),
        },
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
