//! Validator `bip143-vectors`: the 13 sigHash lines of the BIP's worked examples, against the imported
//! `anya:bitcoin@1.1.0` interfaces, one named case per vector (`bip143/…`).
//!
//! The vectors come from the BIP's worked examples in bitcoin/bips; they, their provenance
//! and the checks are in `anya_bitcoin_vectors::bip143`.

use anya_sdk::bitcoin::module_validator::{CaseResult, Suite};

struct Bip143Vectors;

impl Suite for Bip143Vectors {
    fn run() -> Vec<CaseResult> {
        anya_sdk::log::debug("running the BIP-143 vectors");
        anya_bitcoin_vectors::suites::bip143()
    }
}

anya_sdk::export_bitcoin_validator!(Bip143Vectors);
