//! The `bech32` extension, version 1.1.0: segwit addresses under BIP-173 as
//! amended by BIP-350: witness version 0 uses a bech32 checksum, versions 1
//! to 16 use bech32m.

use anya_bech32::Rules;
use anya_sdk::bitcoin::provider::{Address, Lifecycle, SegwitAddress};

struct Bech32;

impl Lifecycle for Bech32 {
    fn activate(previous_version: Option<String>) -> Result<(), String> {
        // Stateless: nothing to migrate, whatever ran before.
        anya_sdk::log::info(&format!(
            "bech32 1.1.0 active (previous: {})",
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
        let s = anya_bech32::decode(&address, Rules::Bip350).map_err(|e| e.to_string())?;
        Ok(SegwitAddress {
            hrp: s.hrp,
            witness_version: s.version,
            program: s.program,
        })
    }

    fn encode(hrp: String, witness_version: u8, program: Vec<u8>) -> Result<String, String> {
        anya_bech32::encode(&hrp, witness_version, &program, Rules::Bip350)
            .map_err(|e| e.to_string())
    }
}

anya_sdk::export_address_provider!(Bech32);
