//! A deliberately broken `bitcoin-module` (published as 1.1.1), for tests
//! only: a BIP-143 signature hash that leaves the amount out of the preimage. Everything else is the reference module's
//! ([`anya_bitcoin::Reference`]); `bip143-vectors` must refuse it.

use anya_bitcoin::Rules;
use anya_bitcoin::sighash::Bip143Preimage;

struct Broken;

/// THE BUG: the BIP-143 preimage without the 8-byte amount, as before
/// BIP-143 (the amount is what makes a witness v0 signature commit to the
/// value spent).
impl Rules for Broken {
    fn bip143_serialize(preimage: &Bip143Preimage) -> Vec<u8> {
        let mut out = preimage.serialize();
        // version 4, hashPrevouts 32, hashSequence 32, outpoint 36, then the
        // scriptCode with its length: the amount follows it.
        let at = 4 + 32 + 32 + 36 + preimage.script_code.len();
        out.drain(at..at + 8);
        out
    }
}

anya_bitcoin::export_module!(BitcoinModule, Broken);
