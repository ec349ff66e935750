//! BIP-341's `wallet-test-vectors.json`: for each `scriptPubKey` vector the
//! leaf hashes, merkle root, tweak, output key, scriptPubKey and control
//! blocks; for each input of the `keyPathSpending` vector the tweak, the
//! signature hash, and that the published witness signature verifies under
//! the output key for that hash (and commits the hash type).

use anya_sdk::bitcoin::module_validator::schnorr;
use anya_sdk::bitcoin::module_validator::sighash::{self, TaprootSpend};
use anya_sdk::bitcoin::module_validator::taproot;
use anya_sdk::bitcoin::module_validator::transaction::{self, TxOut};

use crate::{CaseResult, case, hex, same_hex, unhex};

/// A script tree, as the JSON nests it.
pub enum Tree {
    Leaf { version: u8, script: &'static str },
    Branch(&'static Tree, &'static Tree),
}

/// One `scriptPubKey` vector.
pub struct ScriptPubKey {
    /// Its position in the JSON's `scriptPubKey` list.
    pub index: u32,
    pub internal_key: &'static str,
    pub tree: Option<&'static Tree>,
    /// In the tree's depth-first order.
    pub leaf_hashes: &'static [&'static str],
    pub merkle_root: Option<&'static str>,
    pub tweak: &'static str,
    pub output_key: &'static str,
    pub script_pubkey: &'static str,
    /// The BIP-350 address (checked by `bip350-vectors`' kind of validator,
    /// not here: this validator does not import `address`).
    pub address: &'static str,
    /// One per leaf, in the tree's depth-first order.
    pub control_blocks: &'static [&'static str],
}

/// The `keyPathSpending` vector: one transaction, several inputs signed.
pub struct KeyPathTx {
    pub unsigned_tx: &'static str,
    /// `(amount, scriptPubKey)` of every output the inputs spend.
    pub spent: &'static [(u64, &'static str)],
    pub inputs: &'static [KeyPathInput],
}

/// One entry of `inputSpending`.
pub struct KeyPathInput {
    pub input: u32,
    pub hash_type: u8,
    pub internal_key: &'static str,
    pub merkle_root: Option<&'static str>,
    pub tweak: &'static str,
    /// The intermediary: the epoch byte 0x00 and SigMsg (not exposed by the
    /// interface; the host-side tests of `anya-bitcoin` check it).
    pub sig_msg: &'static str,
    pub sighash: &'static str,
    /// The expected witness: the signature (with the hash type byte unless
    /// SIGHASH_DEFAULT).
    pub witness: &'static [&'static str],
}

pub use crate::data::bip341::{KEY_PATH, SCRIPT_PUBKEYS};

/// A leaf of the tree: its hash, version and merkle path (bottom up).
struct Leaf {
    hash: Vec<u8>,
    version: u8,
    path: Vec<Vec<u8>>,
}

/// The tree's hash and its leaves, depth first.
fn walk(tree: &Tree) -> Result<(Vec<u8>, Vec<Leaf>), String> {
    match tree {
        Tree::Leaf { version, script } => {
            let hash = taproot::leaf_hash(*version, &unhex(script));
            Ok((
                hash.clone(),
                vec![Leaf {
                    hash,
                    version: *version,
                    path: Vec::new(),
                }],
            ))
        }
        Tree::Branch(a, b) => {
            let (ha, mut la) = walk(a)?;
            let (hb, mut lb) = walk(b)?;
            for leaf in &mut la {
                leaf.path.push(hb.clone());
            }
            for leaf in &mut lb {
                leaf.path.push(ha.clone());
            }
            let h = taproot::branch_hash(&ha, &hb)
                .map_err(|e| format!("branch-hash refused: {e:?}"))?;
            la.append(&mut lb);
            Ok((h, la))
        }
    }
}

fn script_pubkey(v: &ScriptPubKey) -> Result<String, String> {
    let (root, leaves) = match v.tree {
        Some(tree) => {
            let (root, leaves) = walk(tree)?;
            (Some(root), leaves)
        }
        None => (None, Vec::new()),
    };
    let got: Vec<String> = leaves.iter().map(|l| hex(&l.hash)).collect();
    if got != v.leaf_hashes {
        return Err(format!(
            "leaf hashes: expected {:?}, got {got:?}",
            v.leaf_hashes
        ));
    }
    if root.as_deref().map(hex).as_deref() != v.merkle_root {
        return Err(format!(
            "merkle root: expected {:?}, got {:?}",
            v.merkle_root,
            root.as_deref().map(hex)
        ));
    }
    let internal = unhex(v.internal_key);
    let t =
        taproot::tweak(&internal, root.as_deref()).map_err(|e| format!("tweak refused: {e:?}"))?;
    same_hex("tweak", &t.tweak, v.tweak)?;
    same_hex("output key", &t.output_key, v.output_key)?;
    let mut spk = vec![0x51, 0x20];
    spk.extend_from_slice(&t.output_key);
    same_hex("scriptPubKey", &spk, v.script_pubkey)?;
    let blocks: Vec<String> = leaves
        .iter()
        .map(|l| {
            let mut b = vec![l.version | u8::from(t.odd_y)];
            b.extend_from_slice(&internal);
            for h in &l.path {
                b.extend_from_slice(h);
            }
            hex(&b)
        })
        .collect();
    if blocks != v.control_blocks {
        return Err(format!(
            "control blocks (from the output key's parity): expected {:?}, got {blocks:?}",
            v.control_blocks
        ));
    }
    Ok(format!(
        "{} leaves, tweak, output key {}, scriptPubKey and control blocks match",
        leaves.len(),
        v.output_key
    ))
}

fn key_path(v: &KeyPathInput) -> Result<String, String> {
    let tx = transaction::decode(&unhex(KEY_PATH.unsigned_tx))
        .map_err(|e| format!("the vector's unsigned transaction does not decode: {e:?}"))?;
    let spent: Vec<TxOut> = KEY_PATH
        .spent
        .iter()
        .map(|(value, spk)| TxOut {
            value: *value,
            script_pubkey: unhex(spk),
        })
        .collect();
    let key_path = TaprootSpend {
        annex: None,
        script_path: None,
    };
    let got = sighash::taproot(&tx, v.input, &spent, v.hash_type, &key_path)
        .map_err(|e| format!("taproot sighash refused: {e:?}"))?;
    same_hex(
        &format!("sighash (hash type {:#04x})", v.hash_type),
        &got,
        v.sighash,
    )?;
    let t = taproot::tweak(&unhex(v.internal_key), v.merkle_root.map(unhex).as_deref())
        .map_err(|e| format!("tweak refused: {e:?}"))?;
    same_hex("tweak", &t.tweak, v.tweak)?;
    let sig = unhex(v.witness[0]);
    let committed = match sig.len() {
        64 => 0x00,
        65 => sig[64],
        n => return Err(format!("the vector's witness signature is {n} bytes")),
    };
    if committed != v.hash_type {
        return Err(format!(
            "the witness commits hash type {committed:#04x}, the vector says {:#04x}",
            v.hash_type
        ));
    }
    schnorr::verify(&t.output_key, &got, &sig[..64]).map_err(|e| {
        format!("the published witness signature does not verify for this sighash: {e:?}")
    })?;
    Ok(format!(
        "sighash {} and tweak match; the witness signature verifies under the output key",
        v.sighash
    ))
}

/// `bip341/script-pubkey/<n>` and `bip341/key-path/input-<n>`.
pub fn run() -> Vec<CaseResult> {
    let mut out: Vec<CaseResult> = SCRIPT_PUBKEYS
        .iter()
        .map(|v| {
            case(
                format!("bip341/script-pubkey/{}", v.index),
                script_pubkey(v),
            )
        })
        .collect();
    out.extend(
        KEY_PATH
            .inputs
            .iter()
            .map(|v| case(format!("bip341/key-path/input-{}", v.input), key_path(v))),
    );
    out
}
