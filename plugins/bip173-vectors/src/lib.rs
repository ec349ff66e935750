//! Validator `bip173-vectors`: the segwit address test vectors of BIP-173
//! that still hold after BIP-350, against the imported
//! `anya:bitcoin/address`.
//!
//! Rules checked (BIP-173, as amended by BIP-350 for versions 1 and up):
//! - witness version 0 addresses with a bech32 checksum decode to the listed
//!   scriptPubKey and encode back (lower case);
//! - every listed invalid segwit address is refused: wrong HRP, bad
//!   checksum, witness version over 16, bad program length (also BIP-141's
//!   20 or 32 bytes for version 0), mixed case, over-long or non-zero
//!   padding, empty data;
//! - every listed invalid bech32 string is refused as an address: HRP
//!   characters out of range, over 90 characters, no separator, empty HRP,
//!   invalid data or checksum characters, too short checksum, checksum over
//!   the upper-case HRP.
//!
//! Left out, on purpose: the three valid witness v1, v2 and v16 vectors with
//! a *bech32* checksum (`bc1pw508…7grplx`, `BC1SW50QA3JX3S`,
//! `bc1zw508…vg6kdaj`), which BIP-350 made invalid (v1+ needs bech32m), so
//! that a current implementation passes; `bip350-vectors` covers v1+. Also
//! left out: the valid plain-bech32 strings, which are not segwit addresses.
//! The vectors are in `anya_address_vectors::bip173`.

use anya_address_vectors::bip173;
use anya_sdk::bitcoin::validator::{CaseResult, Suite};

struct Bip173Vectors;

impl Suite for Bip173Vectors {
    fn run() -> Vec<CaseResult> {
        anya_sdk::log::debug("running the BIP-173 vectors that BIP-350 left standing");
        anya_address_vectors::guest::run("BIP-173", bip173::VALID, bip173::INVALID)
    }
}

anya_sdk::export_address_validator!(Bip173Vectors);
