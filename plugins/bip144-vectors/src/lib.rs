//! Validator `bip144-vectors`: round trips of published transactions, and refusals of a bad flag and of superfluous witness serialization, against the imported
//! `anya:bitcoin@1.1.0` interfaces, one named case per vector (`bip144/…`).
//!
//! The vectors come from the segwit transactions BIP-143 and BIP-341 publish (BIP-144 has no vector file) in bitcoin/bips; they, their provenance
//! and the checks are in `anya_bitcoin_vectors::bip144`.

use anya_sdk::bitcoin::module_validator::{CaseResult, Suite};

struct Bip144Vectors;

impl Suite for Bip144Vectors {
    fn run() -> Vec<CaseResult> {
        anya_sdk::log::debug("running the BIP-144 vectors");
        anya_bitcoin_vectors::suites::bip144()
    }
}

anya_sdk::export_bitcoin_validator!(Bip144Vectors);
