//! BIP-174 PSBTs (version 0): the Parser's rules.
//!
//! [`decode`] reads one map at a time: its key-value pairs, then
//! [`Rules::unique_keys`](crate::Rules::unique_keys) (which refuses a map
//! with a repeated key, as BIP-174 requires), then its known keys.

use anya_sdk::bitcoin::module::types::psbt::{
    GlobalXpub, KeyOrigin, KeyValue, MapId, MapKey, PartialSig, Psbt, PsbtError, PsbtInput,
    PsbtOutput,
};
use anya_sdk::bitcoin::module::types::transaction::{Tx, TxOut};

use crate::Rules;
use crate::bytes::{ReadError, Reader};
use crate::tx;

const MAGIC: &[u8] = b"psbt\xff";

/// One map's pairs, in the order they were read.
pub type Map = Vec<(Vec<u8>, Vec<u8>)>;

fn length_error(e: ReadError) -> PsbtError {
    match e {
        ReadError::Truncated(at) => PsbtError::Truncated(at),
        ReadError::NonCanonical(at) | ReadError::Oversized(at) => PsbtError::BadLength(at),
    }
}

fn read_map(r: &mut Reader<'_>) -> Result<Map, PsbtError> {
    let mut map = Vec::new();
    loop {
        let key = r.var_bytes().map_err(length_error)?;
        if key.is_empty() {
            return Ok(map);
        }
        let value = r.var_bytes().map_err(length_error)?;
        map.push((key.to_vec(), value.to_vec()));
    }
}

/// The repeated key of a map, if any.
pub fn repeated_key(map: &Map) -> Option<&[u8]> {
    map.iter()
        .enumerate()
        .find(|(i, (k, _))| map[..*i].iter().any(|(other, _)| other == k))
        .map(|(_, (k, _))| k.as_slice())
}

fn key(location: MapId, key: &[u8]) -> MapKey {
    MapKey {
        location,
        key: key.to_vec(),
    }
}

fn unsigned_tx(global: &Map) -> Result<Tx, PsbtError> {
    let Some((k, value)) = global.iter().find(|(k, _)| k.first() == Some(&0x00)) else {
        return Err(PsbtError::MissingUnsignedTx);
    };
    if k.len() != 1 {
        return Err(PsbtError::InvalidKey(key(MapId::Global, k)));
    }
    let tx = tx::decode_with(value, false).map_err(PsbtError::InvalidUnsignedTx)?;
    if let Some(i) = tx
        .inputs
        .iter()
        .position(|i| !i.script_sig.is_empty() || !i.witness.is_empty())
    {
        return Err(PsbtError::UnsignedTxNotEmpty(i as u32));
    }
    Ok(tx)
}

/// A key type whose key is the type byte alone.
fn bare(location: MapId, k: &[u8]) -> Result<(), PsbtError> {
    if k.len() == 1 {
        Ok(())
    } else {
        Err(PsbtError::InvalidKey(key(location, k)))
    }
}

/// A key type whose key data is a public key (33 or 65 bytes).
fn pubkey_in_key(location: MapId, k: &[u8]) -> Result<Vec<u8>, PsbtError> {
    let pk = &k[1..];
    let ok = matches!(
        (pk.len(), pk.first()),
        (33, Some(0x02 | 0x03)) | (65, Some(0x04))
    );
    if ok {
        Ok(pk.to_vec())
    } else {
        Err(PsbtError::InvalidKey(key(location, k)))
    }
}

/// A fingerprint and a path of 32-bit indices.
fn origin(location: MapId, k: &[u8], v: &[u8]) -> Result<(u32, Vec<u32>), PsbtError> {
    if v.len() < 4 || !v.len().is_multiple_of(4) {
        return Err(PsbtError::InvalidValue(key(location, k)));
    }
    let fingerprint = u32::from_be_bytes([v[0], v[1], v[2], v[3]]);
    let path = v[4..]
        .chunks(4)
        .map(|c| u32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect();
    Ok((fingerprint, path))
}

fn exact<T>(
    location: MapId,
    k: &[u8],
    v: &[u8],
    read: impl FnOnce(&mut Reader<'_>) -> Result<T, ReadError>,
) -> Result<T, PsbtError> {
    let mut r = Reader::new(v);
    match read(&mut r) {
        Ok(t) if r.is_empty() => Ok(t),
        _ => Err(PsbtError::InvalidValue(key(location, k))),
    }
}

fn unknown(k: &[u8], v: &[u8]) -> KeyValue {
    KeyValue {
        key: k.to_vec(),
        value: v.to_vec(),
    }
}

fn input(index: u32, map: &Map, spends: &[u8]) -> Result<PsbtInput, PsbtError> {
    let at = MapId::Input(index);
    let mut out = PsbtInput {
        non_witness_utxo: None,
        witness_utxo: None,
        partial_sigs: Vec::new(),
        sighash_type: None,
        redeem_script: None,
        witness_script: None,
        bip32_derivations: Vec::new(),
        final_script_sig: None,
        final_script_witness: None,
        unknown: Vec::new(),
    };
    for (k, v) in map {
        match k[0] {
            0x00 => {
                bare(at, k)?;
                let utxo = tx::decode(v).map_err(|_| PsbtError::InvalidValue(key(at, k)))?;
                if tx::txid(&utxo).map_err(|_| PsbtError::InvalidValue(key(at, k)))? != spends {
                    return Err(PsbtError::UtxoTxidMismatch(index));
                }
                out.non_witness_utxo = Some(utxo);
            }
            0x01 => {
                bare(at, k)?;
                out.witness_utxo = Some(exact(at, k, v, |r| {
                    Ok(TxOut {
                        value: r.u64()?,
                        script_pubkey: r.var_bytes()?.to_vec(),
                    })
                })?);
            }
            0x02 => out.partial_sigs.push(PartialSig {
                public_key: pubkey_in_key(at, k)?,
                signature: v.clone(),
            }),
            0x03 => {
                bare(at, k)?;
                out.sighash_type = Some(exact(at, k, v, |r| r.u32())?);
            }
            0x04 => {
                bare(at, k)?;
                out.redeem_script = Some(v.clone());
            }
            0x05 => {
                bare(at, k)?;
                out.witness_script = Some(v.clone());
            }
            0x06 => out.bip32_derivations.push(key_origin(at, k, v)?),
            0x07 => {
                bare(at, k)?;
                out.final_script_sig = Some(v.clone());
            }
            0x08 => {
                bare(at, k)?;
                out.final_script_witness = Some(exact(at, k, v, tx::read_witness)?);
            }
            _ => out.unknown.push(unknown(k, v)),
        }
    }
    Ok(out)
}

/// A BIP-32 derivation entry (`PSBT_IN_BIP32_DERIVATION`, `PSBT_OUT_BIP32_DERIVATION`):
/// the public key in the key, its origin in the value.
fn key_origin(at: MapId, k: &[u8], v: &[u8]) -> Result<KeyOrigin, PsbtError> {
    let public_key = pubkey_in_key(at, k)?;
    let (fingerprint, path) = origin(at, k, v)?;
    Ok(KeyOrigin {
        public_key,
        fingerprint,
        path,
    })
}

fn output(index: u32, map: &Map) -> Result<PsbtOutput, PsbtError> {
    let at = MapId::Output(index);
    let mut out = PsbtOutput {
        redeem_script: None,
        witness_script: None,
        bip32_derivations: Vec::new(),
        unknown: Vec::new(),
    };
    for (k, v) in map {
        match k[0] {
            0x00 => {
                bare(at, k)?;
                out.redeem_script = Some(v.clone());
            }
            0x01 => {
                bare(at, k)?;
                out.witness_script = Some(v.clone());
            }
            0x02 => out.bip32_derivations.push(key_origin(at, k, v)?),
            _ => out.unknown.push(unknown(k, v)),
        }
    }
    Ok(out)
}

/// What the global map holds beside the unsigned transaction: extended
/// public keys, the version, and the unknown pairs.
type Global = (Vec<GlobalXpub>, Option<u32>, Vec<KeyValue>);

/// The known keys of the global map (the unsigned transaction is read by
/// [`unsigned_tx`]): extended public keys, the version, and the rest kept.
fn global(map: &Map) -> Result<Global, PsbtError> {
    let mut xpubs = Vec::new();
    let mut version = None;
    let mut unknowns = Vec::new();
    for (k, v) in map {
        match k[0] {
            0x00 => {}
            0x01 => {
                if k.len() != 79 {
                    return Err(PsbtError::InvalidKey(key(MapId::Global, k)));
                }
                let (fingerprint, path) = origin(MapId::Global, k, v)?;
                xpubs.push(GlobalXpub {
                    xpub: k[1..].to_vec(),
                    fingerprint,
                    path,
                });
            }
            0xfb => {
                bare(MapId::Global, k)?;
                let n = exact(MapId::Global, k, v, |r| r.u32())?;
                if n != 0 {
                    return Err(PsbtError::UnsupportedVersion(n));
                }
                version = Some(n);
            }
            _ => unknowns.push(unknown(k, v)),
        }
    }
    Ok((xpubs, version, unknowns))
}

/// Decodes and checks a PSBT, map by map as a Parser reads it: each map's
/// keys unique (as `R` decides), its known keys well-formed, before the next
/// map is read. The number of input and output maps comes from the unsigned
/// transaction.
pub fn decode<R: Rules>(bytes: &[u8]) -> Result<Psbt, PsbtError> {
    if !bytes.starts_with(MAGIC) {
        return Err(PsbtError::BadMagic);
    }
    let mut r = Reader::new(bytes);
    r.take(MAGIC.len()).map_err(length_error)?;
    let global_map = R::unique_keys(MapId::Global, read_map(&mut r)?)?;
    let unsigned_tx = unsigned_tx(&global_map)?;
    let (xpubs, version, unknown) = global(&global_map)?;
    let mut inputs = Vec::with_capacity(unsigned_tx.inputs.len());
    for (i, txin) in unsigned_tx.inputs.iter().enumerate() {
        let at = MapId::Input(i as u32);
        let map = R::unique_keys(at, read_map(&mut r)?)?;
        inputs.push(input(i as u32, &map, &txin.previous_output.txid)?);
    }
    let mut outputs = Vec::with_capacity(unsigned_tx.outputs.len());
    for i in 0..unsigned_tx.outputs.len() {
        let at = MapId::Output(i as u32);
        let map = R::unique_keys(at, read_map(&mut r)?)?;
        outputs.push(output(i as u32, &map)?);
    }
    if !r.is_empty() {
        return Err(PsbtError::TrailingBytes(r.offset()));
    }
    Ok(Psbt {
        unsigned_tx,
        xpubs,
        version,
        unknown,
        inputs,
        outputs,
    })
}

/// BIP-174: "Keys within each scope should never be duplicated".
pub fn refuse_repeated_keys(location: MapId, map: Map) -> Result<Map, PsbtError> {
    match repeated_key(&map) {
        Some(k) => Err(PsbtError::DuplicateKey(key(location, k))),
        None => Ok(map),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Reference, unhex};

    /// BIP-174's "PSBT with global unsigned tx that has 0 inputs and 0
    /// outputs".
    #[test]
    fn the_smallest_valid_psbt() {
        let p = decode::<Reference>(&unhex("70736274ff01000a0000000000000000000000")).unwrap();
        assert!(p.inputs.is_empty() && p.outputs.is_empty());
        assert!(matches!(
            decode::<Reference>(&unhex("70736274ff0000")),
            Err(PsbtError::MissingUnsignedTx)
        ));
        assert!(matches!(
            decode::<Reference>(&unhex("70736275ff00")),
            Err(PsbtError::BadMagic)
        ));
    }

    #[test]
    fn a_repeated_key_is_found() {
        let map: Map = vec![(vec![1], vec![]), (vec![2], vec![]), (vec![1], vec![9])];
        assert_eq!(repeated_key(&map), Some(&[1u8][..]));
        assert!(matches!(
            refuse_repeated_keys(MapId::Input(0), map),
            Err(PsbtError::DuplicateKey(_))
        ));
    }
}
