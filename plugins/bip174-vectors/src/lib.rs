//! Validator `bip174-vectors`: the 20 invalid, 10 valid and 4 fails-signer-checks PSBTs, against the imported
//! `anya:bitcoin@1.1.0` interfaces, one named case per vector (`bip174/…`).
//!
//! The vectors come from the BIP's Test Vectors section in bitcoin/bips; they, their provenance
//! and the checks are in `anya_bitcoin_vectors::bip174`.

use anya_sdk::bitcoin::module_validator::{CaseResult, Suite};

struct Bip174Vectors;

impl Suite for Bip174Vectors {
    fn run() -> Vec<CaseResult> {
        anya_sdk::log::debug("running the BIP-174 vectors");
        anya_bitcoin_vectors::suites::bip174()
    }
}

anya_sdk::export_bitcoin_validator!(Bip174Vectors);
