//! A deliberately broken `bitcoin-module` (published as 1.1.3), for tests
//! only: a BIP-141 weight that counts witness bytes at full weight (total size × 4). Everything else is the reference module's
//! ([`anya_bitcoin::Reference`]); `bip141-vectors` must refuse it.

use anya_bitcoin::Rules;

struct Broken;

/// THE BUG: every byte at 4 weight units, witness bytes too.
impl Rules for Broken {
    fn weight(_base_size: u64, total_size: u64) -> u64 {
        total_size * 4
    }
}

anya_bitcoin::export_module!(BitcoinModule, Broken);
