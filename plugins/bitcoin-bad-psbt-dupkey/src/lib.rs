//! A deliberately broken `bitcoin-module` (published as 1.1.4), for tests
//! only: a BIP-174 parser that accepts a map with the same key twice. Everything else is the reference module's
//! ([`anya_bitcoin::Reference`]); `bip174-vectors` must refuse it.

use anya_bitcoin::Rules;
use anya_bitcoin::psbt::Map;
use anya_sdk::bitcoin::module::types::psbt::{MapId, PsbtError};

struct Broken;

/// THE BUG: repeated keys are kept, the map accepted.
impl Rules for Broken {
    fn unique_keys(_location: MapId, map: Map) -> Result<Map, PsbtError> {
        Ok(map)
    }
}

anya_bitcoin::export_module!(BitcoinModule, Broken);
