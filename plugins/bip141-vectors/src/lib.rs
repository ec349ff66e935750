//! Validator `bip141-vectors`: sizes, weight, vsize, txid and wtxid of published transactions; taproot witness programs, against the imported
//! `anya:bitcoin@1.1.0` interfaces, one named case per vector (`bip141/…`).
//!
//! The vectors come from the segwit transactions BIP-143 and BIP-341 publish (BIP-141 has no vector file) in bitcoin/bips; they, their provenance
//! and the checks are in `anya_bitcoin_vectors::bip141`.

use anya_sdk::bitcoin::module_validator::{CaseResult, Suite};

struct Bip141Vectors;

impl Suite for Bip141Vectors {
    fn run() -> Vec<CaseResult> {
        anya_sdk::log::debug("running the BIP-141 vectors");
        anya_bitcoin_vectors::suites::bip141()
    }
}

anya_sdk::export_bitcoin_validator!(Bip141Vectors);
