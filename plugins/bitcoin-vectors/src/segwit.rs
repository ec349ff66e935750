//! The transactions BIP-141's and BIP-144's cases use. Neither BIP
//! publishes a vector file, so these are the transactions other BIPs
//! publish: BIP-143's signed examples and BIP-341's fully signed key path
//! spend (witness serialization), and the unsigned transactions they start
//! from (legacy serialization). The expected sizes and ids were computed by
//! `tools/extract.py`, independently of any module under test.

/// A transaction in BIP-144's witness serialization.
pub struct SegwitTx {
    /// `<bip>/<example>`.
    pub name: &'static str,
    /// `bitcoin/bips@<commit>:<file>`.
    pub source: &'static str,
    /// The witness serialization, as published.
    pub hex: &'static str,
    /// The same transaction without witness data.
    pub legacy: &'static str,
    pub base_size: u64,
    pub total_size: u64,
    pub weight: u64,
    pub vsize: u64,
    /// Internal byte order.
    pub txid: &'static str,
    /// Internal byte order.
    pub wtxid: &'static str,
}

/// A transaction without witness data, in the legacy serialization.
pub struct LegacyTx {
    pub name: &'static str,
    pub source: &'static str,
    pub hex: &'static str,
    /// Its size, which is its base and total size.
    pub size: u64,
    /// Internal byte order; also its wtxid.
    pub txid: &'static str,
}

pub use crate::data::segwit::{LEGACY, SEGWIT};
