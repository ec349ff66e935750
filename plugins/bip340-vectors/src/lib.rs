//! Validator `bip340-vectors`: the 19 rows of test-vectors.csv, against the imported
//! `anya:bitcoin@1.1.0` interfaces, one named case per vector (`bip340/…`).
//!
//! The vectors come from bip-0340/test-vectors.csv in bitcoin/bips; they, their provenance
//! and the checks are in `anya_bitcoin_vectors::bip340`.

use anya_sdk::bitcoin::module_validator::{CaseResult, Suite};

struct Bip340Vectors;

impl Suite for Bip340Vectors {
    fn run() -> Vec<CaseResult> {
        anya_sdk::log::debug("running the BIP-340 vectors");
        anya_bitcoin_vectors::suites::bip340()
    }
}

anya_sdk::export_bitcoin_validator!(Bip340Vectors);
