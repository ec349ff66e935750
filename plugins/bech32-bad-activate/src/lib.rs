//! A `bech32` whose activation fails (published as 1.2.2), for tests only:
//! it is 1.1.0 (BIP-173 with BIP-350) except that **`activate` always
//! returns `err`**, so the host must keep the previous version serving (and
//! restore its kv snapshot, although `bech32` keeps no data). `health` is ok.

use anya_bech32::Rules;
use anya_sdk::bitcoin::provider::{Address, Lifecycle, SegwitAddress};

struct Bech32;

impl Lifecycle for Bech32 {
    fn activate(previous_version: Option<String>) -> Result<(), String> {
        // THE FLAW, on purpose.
        Err(format!(
            "bech32 1.2.2 refuses to activate on purpose (test fixture; previous: {})",
            previous_version.as_deref().unwrap_or("none")
        ))
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
