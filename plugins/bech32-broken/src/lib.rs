//! A deliberately broken `bech32` (published as 1.1.1), for tests only: it
//! folds the address to lower case before decoding, and so accepts
//! mixed-case addresses that BIP-173 requires to be refused. Validation
//! (`bip173-vectors`) must catch it; nothing else about it is wrong.

use anya_bech32::Rules;
use anya_sdk::bitcoin::provider::{Address, Lifecycle, SegwitAddress};

struct Bech32;

impl Lifecycle for Bech32 {
    fn activate(previous_version: Option<String>) -> Result<(), String> {
        // Stateless: nothing to migrate, whatever ran before.
        anya_sdk::log::info(&format!(
            "bech32 1.1.1 active (previous: {})",
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
        // THE BUG: case folding hides mixed case from the decoder.
        let s = anya_bech32::decode(&address.to_ascii_lowercase(), Rules::Bip350)
            .map_err(|e| e.to_string())?;
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
