//! Validator `bip341-vectors`: the 7 scriptPubKey vectors and 7 key path inputs of wallet-test-vectors.json, against the imported
//! `anya:bitcoin@1.1.0` interfaces, one named case per vector (`bip341/…`).
//!
//! The vectors come from bip-0341/wallet-test-vectors.json in bitcoin/bips; they, their provenance
//! and the checks are in `anya_bitcoin_vectors::bip341`.

use anya_sdk::bitcoin::module_validator::{CaseResult, Suite};

struct Bip341Vectors;

impl Suite for Bip341Vectors {
    fn run() -> Vec<CaseResult> {
        anya_sdk::log::debug("running the BIP-341 vectors");
        anya_bitcoin_vectors::suites::bip341()
    }
}

anya_sdk::export_bitcoin_validator!(Bip341Vectors);
