//! The segwit address test vectors of BIP-173 ("Test vectors" appendix)
//! that still hold after BIP-350.
//!
//! Left out, on purpose:
//! - the three valid witness v1, v2 and v16 vectors with a *bech32* checksum
//!   (`bc1pw508…7grplx`, `BC1SW50QA3JX3S`, `bc1zw508…vg6kdaj`): BIP-350 made
//!   them invalid (v1+ needs bech32m), see [`SUPERSEDED`];
//! - the valid plain-bech32 strings (`A12UEL5L`...): they are not segwit
//!   addresses, and `anya:bitcoin/address` only decodes segwit addresses.
//!
//! The invalid plain-bech32 strings are kept: no segwit decoder may accept
//! them either.

use crate::{Invalid, Valid};

pub const VALID: &[Valid] = &[
    Valid {
        address: "BC1QW508D6QEJXTDG4Y5R3ZARVARY0C5XW7KV8F3T4",
        script_pubkey: "0014751e76e8199196d454941c45d1b3a323f1433bd6",
    },
    Valid {
        address: "tb1qrp33g0q5c5txsp9arysrx4k6zdkfs4nce4xj0gdcccefvpysxf3q0sl5k7",
        script_pubkey: "00201863143c14c5166804bd19203356da136c985678cd4d27a1b8c6329604903262",
    },
    Valid {
        address: "tb1qqqqqp399et2xygdj5xreqhjjvcmzhxw4aywxecjdzew6hylgvsesrxh6hy",
        script_pubkey: "0020000000c4a5cad46221b2a187905e5266362b99d5e91c6ce24d165dab93e86433",
    },
];

pub const INVALID: &[Invalid] = &[
    // Invalid segwit addresses.
    Invalid {
        address: "tc1qw508d6qejxtdg4y5r3zarvary0c5xw7kg3g4ty",
        reason: "invalid human-readable part",
    },
    Invalid {
        address: "bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t5",
        reason: "invalid checksum",
    },
    Invalid {
        address: "BC13W508D6QEJXTDG4Y5R3ZARVARY0C5XW7KN40WF2",
        reason: "invalid witness version",
    },
    Invalid {
        address: "bc1rw5uspcuh",
        reason: "invalid program length",
    },
    Invalid {
        address: "bc10w508d6qejxtdg4y5r3zarvary0c5xw7kw508d6qejxtdg4y5r3zarvary0c5xw7kw5rljs90",
        reason: "invalid program length",
    },
    Invalid {
        address: "BC1QR508D6QEJXTDG4Y5R3ZARVARYV98GJ9P",
        reason: "invalid program length for witness version 0 (per BIP141)",
    },
    Invalid {
        address: "tb1qrp33g0q5c5txsp9arysrx4k6zdkfs4nce4xj0gdcccefvpysxf3q0sL5k7",
        reason: "mixed case",
    },
    Invalid {
        address: "bc1zw508d6qejxtdg4y5r3zarvaryvqyzf3du",
        reason: "zero padding of more than 4 bits",
    },
    Invalid {
        address: "tb1qrp33g0q5c5txsp9arysrx4k6zdkfs4nce4xj0gdcccefvpysxf3pjxtptv",
        reason: "non-zero padding in 8-to-5 conversion",
    },
    Invalid {
        address: "bc1gmk9yu",
        reason: "empty data section",
    },
    // Invalid bech32 strings: refused as addresses too.
    Invalid {
        address: "\u{20}1nwldj5",
        reason: "HRP character out of range",
    },
    Invalid {
        address: "\u{7f}1axkwrx",
        reason: "HRP character out of range",
    },
    Invalid {
        address: "\u{80}1eym55h",
        reason: "HRP character out of range",
    },
    Invalid {
        address: "an84characterslonghumanreadablepartthatcontainsthenumber1andtheexcludedcharactersbio1569pvx",
        reason: "overall max length exceeded",
    },
    Invalid {
        address: "pzry9x0s0muk",
        reason: "no separator character",
    },
    Invalid {
        address: "1pzry9x0s0muk",
        reason: "empty HRP",
    },
    Invalid {
        address: "x1b4n0q5v",
        reason: "invalid data character",
    },
    Invalid {
        address: "li1dgmt3",
        reason: "too short checksum",
    },
    Invalid {
        address: "de1lg7wt\u{ff}",
        reason: "invalid character in checksum",
    },
    Invalid {
        address: "A1G7SGD8",
        reason: "checksum calculated with uppercase form of HRP",
    },
    Invalid {
        address: "10a06t8",
        reason: "empty HRP",
    },
    Invalid {
        address: "1qzzfhee",
        reason: "empty HRP",
    },
];

/// BIP-173's valid vectors for witness versions 1 and above, with a bech32
/// checksum. BIP-350 made them invalid; they are not run.
pub const SUPERSEDED: &[Valid] = &[
    Valid {
        address: "bc1pw508d6qejxtdg4y5r3zarvary0c5xw7kw508d6qejxtdg4y5r3zarvary0c5xw7k7grplx",
        script_pubkey: "5128751e76e8199196d454941c45d1b3a323f1433bd6751e76e8199196d454941c45d1b3a323f1433bd6",
    },
    Valid {
        address: "BC1SW50QA3JX3S",
        script_pubkey: "6002751e",
    },
    Valid {
        address: "bc1zw508d6qejxtdg4y5r3zarvaryvg6kdaj",
        script_pubkey: "5210751e76e8199196d454941c45d1b3a323",
    },
];
