//! Transactions: BIP-144's serializations, BIP-141's identifiers, sizes and
//! witness programs.

use anya_sdk::bitcoin::module::types::transaction::{
    DecodeError, EncodeError, OutPoint, ProgramKind, Tx, TxIn, TxOut, TxSizes, WitnessProgram,
    WitnessProgramError,
};

use crate::Rules;
use crate::bytes::{ReadError, Reader, put_compact_size, put_var_bytes};
use crate::hash::sha256d;

impl From<ReadError> for DecodeError {
    fn from(e: ReadError) -> Self {
        match e {
            ReadError::Truncated(at) => DecodeError::Truncated(at),
            ReadError::NonCanonical(at) => DecodeError::NonCanonicalSize(at),
            ReadError::Oversized(at) => DecodeError::Oversized(at),
        }
    }
}

/// The smallest serialized input (outpoint, empty script, sequence).
const MIN_INPUT: usize = 41;
/// The smallest serialized output (value, empty script).
const MIN_OUTPUT: usize = 9;

/// Reads one transaction from `r` (either serialization when
/// `allow_witness`, else only the legacy one), leaving `r` after its lock
/// time.
pub fn read(r: &mut Reader<'_>, allow_witness: bool) -> Result<Tx, DecodeError> {
    let version = r.u32()?;
    let mut extended = false;
    if allow_witness && r.peek() == Some(0) {
        r.u8()?;
        let flag = r.u8()?;
        if flag != 1 {
            return Err(DecodeError::UnknownFlag(flag));
        }
        extended = true;
    }
    let n = r.count(MIN_INPUT)?;
    let mut inputs = Vec::with_capacity(n);
    for _ in 0..n {
        let txid = r.take(32)?.to_vec();
        let vout = r.u32()?;
        let script_sig = r.var_bytes()?.to_vec();
        let sequence = r.u32()?;
        inputs.push(TxIn {
            previous_output: OutPoint { txid, vout },
            script_sig,
            sequence,
            witness: Vec::new(),
        });
    }
    let n = r.count(MIN_OUTPUT)?;
    let mut outputs = Vec::with_capacity(n);
    for _ in 0..n {
        let value = r.u64()?;
        let script_pubkey = r.var_bytes()?.to_vec();
        outputs.push(TxOut {
            value,
            script_pubkey,
        });
    }
    if extended {
        for input in &mut inputs {
            input.witness = read_witness(r)?;
        }
        if inputs.iter().all(|i| i.witness.is_empty()) {
            return Err(DecodeError::SuperfluousWitness);
        }
    }
    let lock_time = r.u32()?;
    Ok(Tx {
        version,
        inputs,
        outputs,
        lock_time,
    })
}

/// A witness stack: a count, then each item with its length.
pub fn read_witness(r: &mut Reader<'_>) -> Result<Vec<Vec<u8>>, ReadError> {
    let n = r.count(1)?;
    let mut items = Vec::with_capacity(n);
    for _ in 0..n {
        items.push(r.var_bytes()?.to_vec());
    }
    Ok(items)
}

/// Appends a witness stack.
pub fn put_witness(out: &mut Vec<u8>, items: &[Vec<u8>]) {
    put_compact_size(out, items.len() as u64);
    for item in items {
        put_var_bytes(out, item);
    }
}

/// Decodes exactly one transaction, in either serialization.
pub fn decode(bytes: &[u8]) -> Result<Tx, DecodeError> {
    decode_with(bytes, true)
}

/// Decodes exactly one transaction; only the legacy serialization unless
/// `allow_witness` (a PSBT's unsigned transaction is always legacy).
pub fn decode_with(bytes: &[u8], allow_witness: bool) -> Result<Tx, DecodeError> {
    let mut r = Reader::new(bytes);
    let tx = read(&mut r, allow_witness)?;
    if !r.is_empty() {
        return Err(DecodeError::TrailingBytes(r.offset()));
    }
    Ok(tx)
}

/// Whether any input has witness data.
pub fn has_witness(tx: &Tx) -> bool {
    tx.inputs.iter().any(|i| !i.witness.is_empty())
}

/// Checks that every out-point txid is 32 bytes.
pub fn check(tx: &Tx) -> Result<(), EncodeError> {
    match tx
        .inputs
        .iter()
        .position(|i| i.previous_output.txid.len() != 32)
    {
        Some(i) => Err(EncodeError::BadTxidLength(i as u32)),
        None => Ok(()),
    }
}

/// Appends an out-point (txid, vout).
pub fn put_outpoint(out: &mut Vec<u8>, o: &OutPoint) {
    out.extend_from_slice(&o.txid);
    out.extend_from_slice(&o.vout.to_le_bytes());
}

/// Appends an output (value, scriptPubKey).
pub fn put_output(out: &mut Vec<u8>, o: &TxOut) {
    out.extend_from_slice(&o.value.to_le_bytes());
    put_var_bytes(out, &o.script_pubkey);
}

/// Serializes `tx`, in BIP-144's format when `with_witness` and an input
/// has witness data.
pub fn encode(tx: &Tx, with_witness: bool) -> Result<Vec<u8>, EncodeError> {
    check(tx)?;
    let extended = with_witness && has_witness(tx);
    let mut out = Vec::new();
    out.extend_from_slice(&tx.version.to_le_bytes());
    if extended {
        out.extend_from_slice(&[0x00, 0x01]);
    }
    put_compact_size(&mut out, tx.inputs.len() as u64);
    for i in &tx.inputs {
        put_outpoint(&mut out, &i.previous_output);
        put_var_bytes(&mut out, &i.script_sig);
        out.extend_from_slice(&i.sequence.to_le_bytes());
    }
    put_compact_size(&mut out, tx.outputs.len() as u64);
    for o in &tx.outputs {
        put_output(&mut out, o);
    }
    if extended {
        for i in &tx.inputs {
            put_witness(&mut out, &i.witness);
        }
    }
    out.extend_from_slice(&tx.lock_time.to_le_bytes());
    Ok(out)
}

/// The txid.
pub fn txid(tx: &Tx) -> Result<[u8; 32], EncodeError> {
    Ok(sha256d(&encode(tx, false)?))
}

/// The wtxid.
pub fn wtxid(tx: &Tx) -> Result<[u8; 32], EncodeError> {
    Ok(sha256d(&encode(tx, true)?))
}

/// BIP-141's sizes, with the weight as `R` computes it.
pub fn sizes<R: Rules>(tx: &Tx) -> Result<TxSizes, EncodeError> {
    let base_size = encode(tx, false)?.len() as u64;
    let total_size = encode(tx, true)?.len() as u64;
    let weight = R::weight(base_size, total_size);
    Ok(TxSizes {
        base_size,
        total_size,
        weight,
        vsize: weight.div_ceil(4),
    })
}

/// BIP-141: a scriptPubKey of a version opcode and one direct push of 2 to
/// 40 bytes is a witness program; version 0 programs must be 20 or 32 bytes.
pub fn witness_program(script: &[u8]) -> Result<WitnessProgram, WitnessProgramError> {
    let not = WitnessProgramError::NotAWitnessProgram;
    if !(4..=42).contains(&script.len()) || usize::from(script[1]) + 2 != script.len() {
        return Err(not);
    }
    let version = match script[0] {
        0x00 => 0,
        op @ 0x51..=0x60 => op - 0x50,
        _ => return Err(not),
    };
    let program = script[2..].to_vec();
    let kind = match (version, program.len()) {
        (0, 20) => ProgramKind::P2wpkh,
        (0, 32) => ProgramKind::P2wsh,
        (0, n) => return Err(WitnessProgramError::InvalidV0Length(n as u32)),
        (1, 32) => ProgramKind::P2tr,
        _ => ProgramKind::Unknown,
    };
    Ok(WitnessProgram {
        version,
        program,
        kind,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Reference, hex, unhex};

    /// BIP-143's native P2WPKH example, signed (segwit serialization).
    const SIGNED: &str = "01000000000102fff7f7881a8099afa6940d42d1e7f6362bec38171ea3edf433541db4e4ad969f00000000494830450221008b9d1dc26ba6a9cb62127b02742fa9d754cd3bebf337f7a55d114c8e5cdd30be022040529b194ba3f9281a99f2b1c0a19c0489bc22ede944ccf4ecbab4cc618ef3ed01eeffffffef51e1b804cc89d182d279655c3aa89e815b1b309fe287d9b2b55d57b90ec68a0100000000ffffffff02202cb206000000001976a9148280b37df378db99f66f85c95a783a76ac7a6d5988ac9093510d000000001976a9143bde42dbee7e4dbe6a21b2d50ce2f0167faa815988ac000247304402203609e17b84f6a7d30c80bfa610b5b4542f32a8a0d5447a12fb1366d7f01cc44a0220573a954c4518331561406f90300e8f3358f51928d43c212a8caed02de67eebee0121025476c2e83188368da1ff3e292e7acafcdb3566bb0ad253f62fc70f07aeee635711000000";

    #[test]
    fn a_segwit_transaction_round_trips_and_its_sizes_add_up() {
        let tx = decode(&unhex(SIGNED)).unwrap();
        assert_eq!(tx.inputs.len(), 2);
        assert!(tx.inputs[0].witness.is_empty());
        assert_eq!(tx.inputs[1].witness.len(), 2);
        assert_eq!(hex(&encode(&tx, true).unwrap()), SIGNED);
        let s = sizes::<Reference>(&tx).unwrap();
        let witness_bytes = s.total_size - s.base_size;
        assert_eq!(s.weight, s.base_size * 4 + witness_bytes);
        assert_eq!(s.vsize, s.weight.div_ceil(4));
        assert_ne!(txid(&tx).unwrap(), wtxid(&tx).unwrap());
    }

    #[test]
    fn malformed_serializations_are_refused_with_their_reason() {
        let mut bytes = unhex(SIGNED);
        bytes[5] = 2;
        assert!(matches!(decode(&bytes), Err(DecodeError::UnknownFlag(2))));
        let tx = decode(&unhex(SIGNED)).unwrap();
        let mut bare = tx.clone();
        for i in &mut bare.inputs {
            i.witness.clear();
        }
        let mut legacy = encode(&bare, false).unwrap();
        // The extended format around no witness at all.
        legacy.splice(4..4, [0u8, 1]);
        let n = legacy.len();
        legacy.splice(n - 4..n - 4, [0u8, 0]);
        assert!(matches!(
            decode(&legacy),
            Err(DecodeError::SuperfluousWitness)
        ));
        let mut long = unhex(SIGNED);
        long.push(0);
        assert!(matches!(decode(&long), Err(DecodeError::TrailingBytes(_))));
        let full = unhex(SIGNED);
        let short = &full[..full.len() - 2];
        assert!(matches!(decode(short), Err(DecodeError::Truncated(_))));
    }

    #[test]
    fn witness_programs_follow_bip141() {
        let p = witness_program(&unhex("0014751e76e8199196d454941c45d1b3a323f1433bd6")).unwrap();
        assert_eq!((p.version, p.kind), (0, ProgramKind::P2wpkh));
        let mut forty = vec![0x00, 40];
        forty.extend([1u8; 40]);
        assert!(matches!(
            witness_program(&forty),
            Err(WitnessProgramError::InvalidV0Length(40))
        ));
        let mut forty_one = vec![0x00, 41];
        forty_one.extend([1u8; 41]);
        assert!(matches!(
            witness_program(&forty_one),
            Err(WitnessProgramError::NotAWitnessProgram)
        ));
    }
}
