//! BIP-141 on published transactions ([`crate::segwit`]): base and total
//! size, weight (base size × 3 + total size), virtual size, txid and wtxid;
//! and the witness programs of BIP-341's taproot outputs.

use anya_sdk::bitcoin::module_validator::transaction::{self, ProgramKind, Tx};

use crate::segwit::{LEGACY, SEGWIT};
use crate::{CaseResult, bip341, case, hex, same_hex, unhex};

fn decoded(hex_text: &str) -> Result<Tx, String> {
    transaction::decode(&unhex(hex_text))
        .map_err(|e| format!("the published transaction does not decode: {e:?}"))
}

fn sizes(tx: &Tx, want: [u64; 4]) -> Result<String, String> {
    let s = transaction::sizes(tx).map_err(|e| format!("sizes refused: {e:?}"))?;
    let got = [s.base_size, s.total_size, s.weight, s.vsize];
    if got == want {
        Ok(format!(
            "base size {}, total size {}, weight {}, vsize {}",
            want[0], want[1], want[2], want[3]
        ))
    } else {
        Err(format!(
            "(base size, total size, weight, vsize): expected {want:?}, got {got:?}"
        ))
    }
}

fn ids(tx: &Tx, txid: &str, wtxid: &str) -> Result<String, String> {
    let got = transaction::txid(tx).map_err(|e| format!("txid refused: {e:?}"))?;
    let t = same_hex("txid", &got, txid)?;
    let got = transaction::wtxid(tx).map_err(|e| format!("wtxid refused: {e:?}"))?;
    let w = same_hex("wtxid", &got, wtxid)?;
    Ok(format!("{t}, {w}"))
}

fn taproot_program(script_pubkey: &str, output_key: &str) -> Result<String, String> {
    let p = transaction::parse_witness_program(&unhex(script_pubkey))
        .map_err(|e| format!("not taken for a witness program: {e:?}"))?;
    if p.version != 1 || p.kind != ProgramKind::P2tr || hex(&p.program) != output_key {
        return Err(format!(
            "expected version 1, p2tr, program {output_key}; got version {}, {:?}, program {}",
            p.version,
            p.kind,
            hex(&p.program)
        ));
    }
    Ok(format!("version 1 p2tr program {output_key}"))
}

/// `bip141/sizes/<tx>` and `bip141/ids/<tx>` for every published
/// transaction, and `bip141/witness-program/bip341-<n>` for BIP-341's
/// scriptPubKeys.
pub fn run() -> Vec<CaseResult> {
    let mut out = Vec::new();
    for t in SEGWIT {
        let tx = decoded(t.hex);
        let want = [t.base_size, t.total_size, t.weight, t.vsize];
        out.push(case(
            format!("bip141/sizes/{}", t.name),
            tx.clone().and_then(|tx| sizes(&tx, want)),
        ));
        out.push(case(
            format!("bip141/ids/{}", t.name),
            tx.and_then(|tx| ids(&tx, t.txid, t.wtxid)),
        ));
    }
    for t in LEGACY {
        let tx = decoded(t.hex);
        let want = [t.size, t.size, t.size * 4, t.size];
        out.push(case(
            format!("bip141/sizes/{}", t.name),
            tx.clone().and_then(|tx| sizes(&tx, want)),
        ));
        out.push(case(
            format!("bip141/ids/{}", t.name),
            tx.and_then(|tx| ids(&tx, t.txid, t.txid)),
        ));
    }
    for s in bip341::SCRIPT_PUBKEYS {
        out.push(case(
            format!("bip141/witness-program/bip341-{}", s.index),
            taproot_program(s.script_pubkey, s.output_key),
        ));
    }
    out
}
