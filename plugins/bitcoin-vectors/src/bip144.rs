//! BIP-144's serializations on published transactions ([`crate::segwit`]):
//! the witness serialization decodes and encodes back byte for byte, and
//! without witnesses to the legacy serialization; a legacy transaction
//! decodes with no witness and encodes back. BIP-144 publishes no vectors;
//! the refusals (`bip144/refuse/…`) are the published transactions with
//! one rule of BIP-144 broken: the flag is not 0x01, or the extended
//! serialization carries no witness at all.

use anya_sdk::bitcoin::module_validator::transaction::{self, DecodeError};

use crate::segwit::{LEGACY, SEGWIT};
use crate::{CaseResult, case, hex, unhex};

fn round_trip(bytes: &str, legacy: &str, has_witness: bool) -> Result<String, String> {
    let tx = transaction::decode(&unhex(bytes)).map_err(|e| format!("does not decode: {e:?}"))?;
    let witnesses = tx.inputs.iter().filter(|i| !i.witness.is_empty()).count();
    if has_witness != (witnesses > 0) {
        return Err(format!(
            "decoded with {witnesses} inputs that have witness data"
        ));
    }
    let full = transaction::encode(&tx, true).map_err(|e| format!("encode refused: {e:?}"))?;
    if hex(&full) != bytes {
        return Err(format!(
            "encode with witness: expected {bytes}, got {}",
            hex(&full)
        ));
    }
    let bare = transaction::encode(&tx, false).map_err(|e| format!("encode refused: {e:?}"))?;
    if hex(&bare) != legacy {
        return Err(format!(
            "encode without witness: expected {legacy}, got {}",
            hex(&bare)
        ));
    }
    Ok(format!(
        "decodes ({witnesses} inputs with witness data) and encodes back, with and without witness"
    ))
}

fn refused(bytes: Vec<u8>, want: &str, is: fn(&DecodeError) -> bool) -> Result<String, String> {
    match transaction::decode(&bytes) {
        Err(e) if is(&e) => Ok(format!("refused: {e:?}")),
        Err(e) => Err(format!("refused, but as {e:?}, not {want}")),
        Ok(_) => Err(format!("decoded; expected {want}")),
    }
}

/// The witness serialization with flag 0x02.
fn with_flag_2(segwit: &str) -> Vec<u8> {
    let mut b = unhex(segwit);
    b[5] = 0x02;
    b
}

/// The extended serialization of a legacy transaction of `inputs` inputs,
/// every witness empty (marker, flag, one 0x00 count per input).
fn with_empty_witnesses(legacy: &str, inputs: usize) -> Vec<u8> {
    let mut b = unhex(legacy);
    let n = b.len();
    b.splice(n - 4..n - 4, std::iter::repeat_n(0u8, inputs));
    b.splice(4..4, [0x00, 0x01]);
    b
}

/// `bip144/round-trip/<tx>` for every published transaction, and
/// `bip144/refuse/unknown-flag/<tx>` and
/// `bip144/refuse/superfluous-witness/<tx>`.
pub fn run() -> Vec<CaseResult> {
    let mut out = Vec::new();
    for t in SEGWIT {
        out.push(case(
            format!("bip144/round-trip/{}", t.name),
            round_trip(t.hex, t.legacy, true),
        ));
    }
    for t in LEGACY {
        out.push(case(
            format!("bip144/round-trip/{}", t.name),
            round_trip(t.hex, t.hex, false),
        ));
    }
    for t in SEGWIT {
        out.push(case(
            format!("bip144/refuse/unknown-flag/{}", t.name),
            refused(with_flag_2(t.hex), "unknown-flag(2)", |e| {
                matches!(e, DecodeError::UnknownFlag(2))
            }),
        ));
    }
    for t in LEGACY {
        let outcome = transaction::decode(&unhex(t.hex))
            .map_err(|e| format!("the published transaction does not decode: {e:?}"))
            .and_then(|tx| {
                refused(
                    with_empty_witnesses(t.hex, tx.inputs.len()),
                    "superfluous-witness",
                    |e| matches!(e, DecodeError::SuperfluousWitness),
                )
            });
        out.push(case(
            format!("bip144/refuse/superfluous-witness/{}", t.name),
            outcome,
        ));
    }
    out
}
