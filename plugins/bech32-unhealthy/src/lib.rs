//! An unhealthy `bech32` (published as 1.2.1), for probation tests only: it
//! is 1.1.0 (BIP-173 with BIP-350), activates fine and answers every call as
//! 1.1.0 does, but **`health` always returns `err`**, so the host must roll
//! it back at its first health probe during trial.

use anya_bech32::Rules;
use anya_sdk::bitcoin::provider::{Address, Lifecycle, SegwitAddress};

struct Bech32;

impl Lifecycle for Bech32 {
    fn activate(previous_version: Option<String>) -> Result<(), String> {
        // Stateless: nothing to migrate, whatever ran before.
        anya_sdk::log::info(&format!(
            "bech32 1.2.1 active (previous: {})",
            previous_version.as_deref().unwrap_or("none")
        ));
        Ok(())
    }

    fn health() -> Result<(), String> {
        // THE FLAW, on purpose.
        Err("bech32 1.2.1 is unhealthy on purpose (test fixture)".into())
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
