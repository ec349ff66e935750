//! A deliberately broken `bitcoin-module` (published as 1.1.2), for tests
//! only: a taproot (BIP-341) signature hash without the epoch byte 0x00 before SigMsg. Everything else is the reference module's
//! ([`anya_bitcoin::Reference`]); `bip341-vectors` must refuse it.

use anya_bitcoin::Rules;

struct Broken;

/// THE BUG: hash_TapSighash(SigMsg), the epoch byte forgotten.
impl Rules for Broken {
    fn tap_sighash(sig_msg: &[u8]) -> [u8; 32] {
        anya_bitcoin::hash::tagged("TapSighash", &[sig_msg])
    }
}

anya_bitcoin::export_module!(BitcoinModule, Broken);
