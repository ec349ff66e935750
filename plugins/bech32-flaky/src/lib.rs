//! A flaky `bech32` (published as 1.2.0), for probation tests only: it is
//! 1.1.0 (BIP-173 with BIP-350) except that **`decode` traps (a Rust panic,
//! which is a WebAssembly trap) on every input that ends with `!`**. Such an
//! input is never a valid address (`!` is outside the bech32 alphabet), so
//! 1.1.0 answers `err` for it, and a test controls the share of trapping
//! calls exactly: `n` inputs ending in `!` out of `m` calls trap `n` times.
//! The BIP vectors have no such input, so it passes validation, and
//! `health` is ok: only the calls during trial can catch it.

use anya_bech32::Rules;
use anya_sdk::bitcoin::provider::{Address, Lifecycle, SegwitAddress};

/// The last character of a `decode` input that makes this version trap.
const TRAP_SUFFIX: char = '!';

struct Bech32;

impl Lifecycle for Bech32 {
    fn activate(previous_version: Option<String>) -> Result<(), String> {
        // Stateless: nothing to migrate, whatever ran before.
        anya_sdk::log::info(&format!(
            "bech32 1.2.0 active (previous: {})",
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
        // THE FLAW, on purpose.
        if address.ends_with(TRAP_SUFFIX) {
            panic!("bech32 1.2.0 (flaky test fixture): decode input ends with {TRAP_SUFFIX:?}");
        }
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
