//! Signature hashes: BIP-143 (witness version 0) and BIP-341 (taproot).

use anya_sdk::bitcoin::module::types::sighash::{SighashError, TaprootSpend};
use anya_sdk::bitcoin::module::types::transaction::{Tx, TxOut};

use crate::Rules;
use crate::bytes::{put_compact_size, put_var_bytes};
use crate::hash::{sha256, sha256d};
use crate::tx::{put_outpoint, put_output};

const SIGHASH_NONE: u32 = 2;
const SIGHASH_SINGLE: u32 = 3;
const ANYONECANPAY: u32 = 0x80;

fn input_of(tx: &Tx, input: u32) -> Result<usize, SighashError> {
    let index = input as usize;
    if index >= tx.inputs.len() {
        return Err(SighashError::InputOutOfRange(tx.inputs.len() as u32));
    }
    match tx
        .inputs
        .iter()
        .position(|i| i.previous_output.txid.len() != 32)
    {
        Some(bad) => Err(SighashError::BadTxidLength(bad as u32)),
        None => Ok(index),
    }
}

/// The fields BIP-143 hashes, in its order.
pub struct Bip143Preimage {
    pub version: u32,
    pub hash_prevouts: [u8; 32],
    pub hash_sequence: [u8; 32],
    /// The input's out-point, serialized (36 bytes).
    pub outpoint: Vec<u8>,
    /// The script code with its compact-size length.
    pub script_code: Vec<u8>,
    pub amount: u64,
    pub sequence: u32,
    pub hash_outputs: [u8; 32],
    pub lock_time: u32,
    pub hash_type: u32,
}

impl Bip143Preimage {
    /// The preimage bytes, every field in BIP-143's order.
    pub fn serialize(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(160 + self.script_code.len());
        out.extend_from_slice(&self.version.to_le_bytes());
        out.extend_from_slice(&self.hash_prevouts);
        out.extend_from_slice(&self.hash_sequence);
        out.extend_from_slice(&self.outpoint);
        out.extend_from_slice(&self.script_code);
        out.extend_from_slice(&self.amount.to_le_bytes());
        out.extend_from_slice(&self.sequence.to_le_bytes());
        out.extend_from_slice(&self.hash_outputs);
        out.extend_from_slice(&self.lock_time.to_le_bytes());
        out.extend_from_slice(&self.hash_type.to_le_bytes());
        out
    }
}

/// BIP-143's preimage of `input`.
pub fn bip143_preimage(
    tx: &Tx,
    input: u32,
    script_code: &[u8],
    amount: u64,
    hash_type: u32,
) -> Result<Bip143Preimage, SighashError> {
    let index = input_of(tx, input)?;
    let base = hash_type & 0x1f;
    let anyone_can_pay = hash_type & ANYONECANPAY != 0;
    let mut hash_prevouts = [0u8; 32];
    if !anyone_can_pay {
        let mut buf = Vec::new();
        for i in &tx.inputs {
            put_outpoint(&mut buf, &i.previous_output);
        }
        hash_prevouts = sha256d(&buf);
    }
    let mut hash_sequence = [0u8; 32];
    if !anyone_can_pay && base != SIGHASH_SINGLE && base != SIGHASH_NONE {
        let buf: Vec<u8> = tx
            .inputs
            .iter()
            .flat_map(|i| i.sequence.to_le_bytes())
            .collect();
        hash_sequence = sha256d(&buf);
    }
    let mut hash_outputs = [0u8; 32];
    if base != SIGHASH_SINGLE && base != SIGHASH_NONE {
        let mut buf = Vec::new();
        for o in &tx.outputs {
            put_output(&mut buf, o);
        }
        hash_outputs = sha256d(&buf);
    } else if base == SIGHASH_SINGLE && index < tx.outputs.len() {
        let mut buf = Vec::new();
        put_output(&mut buf, &tx.outputs[index]);
        hash_outputs = sha256d(&buf);
    }
    let this = &tx.inputs[index];
    let mut outpoint = Vec::with_capacity(36);
    put_outpoint(&mut outpoint, &this.previous_output);
    let mut code = Vec::with_capacity(script_code.len() + 3);
    put_var_bytes(&mut code, script_code);
    Ok(Bip143Preimage {
        version: tx.version,
        hash_prevouts,
        hash_sequence,
        outpoint,
        script_code: code,
        amount,
        sequence: this.sequence,
        hash_outputs,
        lock_time: tx.lock_time,
        hash_type,
    })
}

/// The BIP-143 signature hash, serialized as `R` does.
pub fn segwit_v0<R: Rules>(
    tx: &Tx,
    input: u32,
    script_code: &[u8],
    amount: u64,
    hash_type: u32,
) -> Result<[u8; 32], SighashError> {
    let preimage = bip143_preimage(tx, input, script_code, amount, hash_type)?;
    Ok(sha256d(&R::bip143_serialize(&preimage)))
}

/// BIP-341's `SigMsg(hash_type, ext_flag)` of `input`, followed by the
/// script path extension when `spend` has a script path (BIP-342).
pub fn taproot_sig_msg(
    tx: &Tx,
    input: u32,
    spent: &[TxOut],
    hash_type: u8,
    spend: &TaprootSpend,
) -> Result<Vec<u8>, SighashError> {
    let index = input_of(tx, input)?;
    if !matches!(hash_type, 0x00..=0x03 | 0x81..=0x83) {
        return Err(SighashError::InvalidHashType(hash_type));
    }
    if spent.len() != tx.inputs.len() {
        return Err(SighashError::SpentOutputsMismatch(spent.len() as u32));
    }
    let base = u32::from(hash_type & 0x03);
    let anyone_can_pay = u32::from(hash_type) & ANYONECANPAY != 0;
    let mut m = Vec::with_capacity(256);
    m.push(hash_type);
    m.extend_from_slice(&tx.version.to_le_bytes());
    m.extend_from_slice(&tx.lock_time.to_le_bytes());
    if !anyone_can_pay {
        let mut prevouts = Vec::new();
        let mut sequences = Vec::new();
        for i in &tx.inputs {
            put_outpoint(&mut prevouts, &i.previous_output);
            sequences.extend_from_slice(&i.sequence.to_le_bytes());
        }
        let amounts: Vec<u8> = spent.iter().flat_map(|o| o.value.to_le_bytes()).collect();
        let mut scripts = Vec::new();
        for o in spent {
            put_var_bytes(&mut scripts, &o.script_pubkey);
        }
        m.extend_from_slice(&sha256(&prevouts));
        m.extend_from_slice(&sha256(&amounts));
        m.extend_from_slice(&sha256(&scripts));
        m.extend_from_slice(&sha256(&sequences));
    }
    if base != SIGHASH_NONE && base != SIGHASH_SINGLE {
        let mut outputs = Vec::new();
        for o in &tx.outputs {
            put_output(&mut outputs, o);
        }
        m.extend_from_slice(&sha256(&outputs));
    }
    let ext_flag = u8::from(spend.script_path.is_some());
    let annex = match &spend.annex {
        Some(a) if a.first() == Some(&0x50) => Some(a),
        Some(_) => return Err(SighashError::InvalidAnnex),
        None => None,
    };
    m.push(ext_flag * 2 + u8::from(annex.is_some()));
    if anyone_can_pay {
        let this = &tx.inputs[index];
        put_outpoint(&mut m, &this.previous_output);
        m.extend_from_slice(&spent[index].value.to_le_bytes());
        put_var_bytes(&mut m, &spent[index].script_pubkey);
        m.extend_from_slice(&this.sequence.to_le_bytes());
    } else {
        m.extend_from_slice(&input.to_le_bytes());
    }
    if let Some(annex) = annex {
        let mut buf = Vec::with_capacity(annex.len() + 3);
        put_compact_size(&mut buf, annex.len() as u64);
        buf.extend_from_slice(annex);
        m.extend_from_slice(&sha256(&buf));
    }
    if base == SIGHASH_SINGLE {
        let Some(output) = tx.outputs.get(index) else {
            return Err(SighashError::SingleWithoutOutput(input));
        };
        let mut buf = Vec::new();
        put_output(&mut buf, output);
        m.extend_from_slice(&sha256(&buf));
    }
    if let Some(path) = &spend.script_path {
        if path.leaf_hash.len() != 32 {
            return Err(SighashError::BadLeafHashLength(path.leaf_hash.len() as u32));
        }
        m.extend_from_slice(&path.leaf_hash);
        m.push(0x00); // key_version
        m.extend_from_slice(&path.code_separator_position.to_le_bytes());
    }
    Ok(m)
}

/// The BIP-341 signature hash, with the epoch as `R` prefixes it.
pub fn taproot<R: Rules>(
    tx: &Tx,
    input: u32,
    spent: &[TxOut],
    hash_type: u8,
    spend: &TaprootSpend,
) -> Result<[u8; 32], SighashError> {
    let msg = taproot_sig_msg(tx, input, spent, hash_type, spend)?;
    Ok(R::tap_sighash(&msg))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Reference, hex, tx, unhex};

    /// BIP-143's first example (native P2WPKH), second input.
    #[test]
    fn bip143_native_p2wpkh_example() {
        let unsigned = unhex(
            "0100000002fff7f7881a8099afa6940d42d1e7f6362bec38171ea3edf433541db4e4ad969f0000000000eeffffffef51e1b804cc89d182d279655c3aa89e815b1b309fe287d9b2b55d57b90ec68a0100000000ffffffff02202cb206000000001976a9148280b37df378db99f66f85c95a783a76ac7a6d5988ac9093510d000000001976a9143bde42dbee7e4dbe6a21b2d50ce2f0167faa815988ac11000000",
        );
        let tx = tx::decode(&unsigned).unwrap();
        let code = unhex("76a9141d0f172a0ecb48aee1be1f2687d2963ae33f71a188ac");
        let sighash = segwit_v0::<Reference>(&tx, 1, &code, 600_000_000, 1).unwrap();
        assert_eq!(
            hex(&sighash),
            "c37af31116d1b27caf68aae9e3ac82f1477929014d5b917657d0eb49478cb670"
        );
        assert!(matches!(
            segwit_v0::<Reference>(&tx, 2, &code, 1, 1),
            Err(SighashError::InputOutOfRange(2))
        ));
    }
}
