//! Bitcoin in pure Rust for `anya:bitcoin@1.1.0`: transactions (BIP-141,
//! BIP-144), signature hashes (BIP-143, BIP-341), taproot outputs, Schnorr
//! signatures (BIP-340, on `k256`) and PSBTs (BIP-174), with the segwit
//! addresses of `anya-bech32`.
//!
//! The rules a deliberately broken test build gets wrong are the methods of
//! [`Rules`]: [`Reference`] keeps every default, and [`export_module!`]
//! exports a component of the `bitcoin-module` world under any `Rules`.
//! Everything else is shared, so a broken build differs from the reference
//! in exactly one rule.
//!
//! Why not the `bitcoin` crate: its signatures come from `secp256k1`, a C
//! library that needs a C compiler for wasm32 and brings far more than these
//! interfaces need. Here secp256k1 and BIP-340 are `k256` (pure Rust, builds
//! for wasm32-wasip2 as is), hashing is `sha2`, and the serializations,
//! signature hashes and PSBT parser are written out against the BIPs, each
//! in its own module.

pub mod bytes;
pub mod hash;
pub mod psbt;
pub mod schnorr;
pub mod sighash;
pub mod taproot;
pub mod tx;

use anya_sdk::bitcoin::module::types::psbt::{MapId, PsbtError};

#[doc(hidden)]
pub use anya_bech32;

/// The rules a broken build may get wrong; the defaults are the BIPs'.
pub trait Rules {
    /// BIP-141: weight = base size × 3 + total size.
    fn weight(base_size: u64, total_size: u64) -> u64 {
        base_size * 3 + total_size
    }

    /// BIP-143: the preimage, every field (the amount included).
    fn bip143_serialize(preimage: &sighash::Bip143Preimage) -> Vec<u8> {
        preimage.serialize()
    }

    /// BIP-341: hash_TapSighash(epoch 0x00 ‖ SigMsg).
    fn tap_sighash(sig_msg: &[u8]) -> [u8; 32] {
        hash::tagged("TapSighash", &[&[0x00], sig_msg])
    }

    /// BIP-174: a map with a repeated key is refused.
    fn unique_keys(location: MapId, map: psbt::Map) -> Result<psbt::Map, PsbtError> {
        psbt::refuse_repeated_keys(location, map)
    }
}

/// The BIPs' rules, all of them.
pub struct Reference;

impl Rules for Reference {}

/// Lower-case hex of `bytes`.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The bytes of hex text.
///
/// # Panics
/// On text that is not an even number of hex digits: for constants only.
pub fn unhex(text: &str) -> Vec<u8> {
    assert!(text.len().is_multiple_of(2), "odd hex length");
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&text[i..i + 2], 16).expect("hex digits"))
        .collect()
}

/// Exports `$ty` (a unit struct this defines) as a component of the
/// `anya:bitcoin/bitcoin-module@1.1.0` world, with `$rules` deciding the
/// rules of [`Rules`]. The crate that invokes it must depend on `anya-sdk`.
#[macro_export]
macro_rules! export_module {
    ($ty:ident, $rules:ty) => {
        struct $ty;

        const _: () = {
            use anya_sdk::bitcoin::module::types::{psbt, schnorr, sighash, taproot, transaction};
            use anya_sdk::bitcoin::module::{
                Address, Lifecycle, Psbt, Schnorr, SegwitAddress, Sighash, Taproot, Transaction,
            };
            use $crate::anya_bech32;

            impl Lifecycle for $ty {
                fn activate(previous_version: Option<String>) -> Result<(), String> {
                    // Stateless: nothing to migrate, whatever ran before.
                    anya_sdk::log::info(&format!(
                        "{} {} active (previous: {})",
                        env!("CARGO_PKG_NAME"),
                        env!("CARGO_PKG_VERSION"),
                        previous_version.as_deref().unwrap_or("none")
                    ));
                    Ok(())
                }

                fn health() -> Result<(), String> {
                    Ok(())
                }
            }

            impl Address for $ty {
                fn decode(address: String) -> Result<SegwitAddress, String> {
                    let s = anya_bech32::decode(&address, anya_bech32::Rules::Bip350)
                        .map_err(|e| e.to_string())?;
                    Ok(SegwitAddress {
                        hrp: s.hrp,
                        witness_version: s.version,
                        program: s.program,
                    })
                }

                fn encode(
                    hrp: String,
                    witness_version: u8,
                    program: Vec<u8>,
                ) -> Result<String, String> {
                    anya_bech32::encode(&hrp, witness_version, &program, anya_bech32::Rules::Bip350)
                        .map_err(|e| e.to_string())
                }
            }

            impl Transaction for $ty {
                fn decode(bytes: Vec<u8>) -> Result<transaction::Tx, transaction::DecodeError> {
                    $crate::tx::decode(&bytes)
                }

                fn encode(
                    tx: transaction::Tx,
                    with_witness: bool,
                ) -> Result<Vec<u8>, transaction::EncodeError> {
                    $crate::tx::encode(&tx, with_witness)
                }

                fn txid(tx: transaction::Tx) -> Result<Vec<u8>, transaction::EncodeError> {
                    $crate::tx::txid(&tx).map(|h| h.to_vec())
                }

                fn wtxid(tx: transaction::Tx) -> Result<Vec<u8>, transaction::EncodeError> {
                    $crate::tx::wtxid(&tx).map(|h| h.to_vec())
                }

                fn sizes(
                    tx: transaction::Tx,
                ) -> Result<transaction::TxSizes, transaction::EncodeError> {
                    $crate::tx::sizes::<$rules>(&tx)
                }

                fn parse_witness_program(
                    script_pubkey: Vec<u8>,
                ) -> Result<transaction::WitnessProgram, transaction::WitnessProgramError> {
                    $crate::tx::witness_program(&script_pubkey)
                }
            }

            impl Sighash for $ty {
                fn segwit_v0(
                    tx: transaction::Tx,
                    input: u32,
                    script_code: Vec<u8>,
                    amount: u64,
                    hash_type: u32,
                ) -> Result<Vec<u8>, sighash::SighashError> {
                    $crate::sighash::segwit_v0::<$rules>(
                        &tx,
                        input,
                        &script_code,
                        amount,
                        hash_type,
                    )
                    .map(|h| h.to_vec())
                }

                fn taproot(
                    tx: transaction::Tx,
                    input: u32,
                    spent_outputs: Vec<transaction::TxOut>,
                    hash_type: u8,
                    spend: sighash::TaprootSpend,
                ) -> Result<Vec<u8>, sighash::SighashError> {
                    $crate::sighash::taproot::<$rules>(
                        &tx,
                        input,
                        &spent_outputs,
                        hash_type,
                        &spend,
                    )
                    .map(|h| h.to_vec())
                }
            }

            impl Taproot for $ty {
                fn leaf_hash(leaf_version: u8, script: Vec<u8>) -> Vec<u8> {
                    $crate::taproot::leaf_hash(leaf_version, &script).to_vec()
                }

                fn branch_hash(a: Vec<u8>, b: Vec<u8>) -> Result<Vec<u8>, taproot::TaprootError> {
                    $crate::taproot::branch_hash(&a, &b).map(|h| h.to_vec())
                }

                fn tweak(
                    internal_key: Vec<u8>,
                    merkle_root: Option<Vec<u8>>,
                ) -> Result<taproot::TweakedKey, taproot::TaprootError> {
                    $crate::taproot::tweak(&internal_key, merkle_root.as_deref())
                }
            }

            impl Schnorr for $ty {
                fn verify(
                    public_key: Vec<u8>,
                    message: Vec<u8>,
                    signature: Vec<u8>,
                ) -> Result<(), schnorr::SchnorrError> {
                    $crate::schnorr::verify(&public_key, &message, &signature)
                }

                fn public_key(secret_key: Vec<u8>) -> Result<Vec<u8>, schnorr::SchnorrError> {
                    $crate::schnorr::public_key(&secret_key)
                }

                fn sign(
                    secret_key: Vec<u8>,
                    message: Vec<u8>,
                    aux_rand: Vec<u8>,
                ) -> Result<Vec<u8>, schnorr::SchnorrError> {
                    $crate::schnorr::sign(&secret_key, &message, &aux_rand)
                }
            }

            impl Psbt for $ty {
                fn decode(bytes: Vec<u8>) -> Result<psbt::Psbt, psbt::PsbtError> {
                    $crate::psbt::decode::<$rules>(&bytes)
                }
            }
        };

        anya_sdk::export_bitcoin_module!($ty);
    };
}
