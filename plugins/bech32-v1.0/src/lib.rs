//! The `bech32` extension, version 1.0.0: segwit addresses as BIP-173 alone
//! defines them, a bech32 checksum for every witness version.
//!
//! BIP-350 later changed witness versions 1 and above to bech32m; this
//! version predates that and is kept as the example of an older release
//! (it passes `bip173-vectors` and fails part of `bip350-vectors`).

use anya_bech32::Rules;
use anya_sdk::bitcoin::provider::{Address, Lifecycle, SegwitAddress};

struct Bech32;

impl Lifecycle for Bech32 {
    fn activate(previous_version: Option<String>) -> Result<(), String> {
        // Stateless: nothing to migrate, whatever ran before.
        anya_sdk::log::info(&format!(
            "bech32 1.0.0 active (previous: {})",
            previous_version.as_deref().unwrap_or("none")
        ));
        Ok(())
    }

    fn health() -> Result<(), String> {
        Ok(())
    }
}

impl Address for Bech32 {
    fn decode(address: String) -> Result<SegwitAddress, String> {
        let s = anya_bech32::decode(&address, Rules::Bip173).map_err(|e| e.to_string())?;
        Ok(SegwitAddress {
            hrp: s.hrp,
            witness_version: s.version,
            program: s.program,
        })
    }

    fn encode(hrp: String, witness_version: u8, program: Vec<u8>) -> Result<String, String> {
        anya_bech32::encode(&hrp, witness_version, &program, Rules::Bip173)
            .map_err(|e| e.to_string())
    }
}

anya_sdk::export_address_provider!(Bech32);
