//! Validator `bip350-vectors`: the segwit address test vectors of BIP-350,
//! against the imported `anya:bitcoin/address`.
//!
//! Rules checked (BIP-350): witness version 0 uses a bech32 checksum and
//! versions 1 to 16 use bech32m; valid v0 to v16 addresses decode to the
//! listed scriptPubKey and encode back; the listed invalid segwit addresses
//! (including a bech32 checksum on v1+ and a bech32m checksum on v0) and the
//! invalid bech32m strings are refused.
//!
//! Left out: the valid plain-bech32m strings (`A1LQFN3A`...), which are not
//! segwit addresses. The vectors are in `anya_address_vectors::bip350`.

use anya_address_vectors::bip350;
use anya_sdk::bitcoin::validator::{CaseResult, Suite};

struct Bip350Vectors;

impl Suite for Bip350Vectors {
    fn run() -> Vec<CaseResult> {
        anya_sdk::log::debug("running the BIP-350 vectors");
        anya_address_vectors::guest::run("BIP-350", bip350::VALID, bip350::INVALID)
    }
}

anya_sdk::export_address_validator!(Bip350Vectors);
