//! The reference `bitcoin-module`: every interface of `anya:bitcoin@1.1.0`
//! under the BIPs' own rules ([`anya_bitcoin::Reference`]). Segwit
//! addresses follow BIP-173 as amended by BIP-350.

anya_bitcoin::export_module!(BitcoinModule, anya_bitcoin::Reference);
