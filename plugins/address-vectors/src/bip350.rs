//! The segwit address test vectors of BIP-350 ("Test vectors" section).
//!
//! Left out: the valid plain-bech32m strings (`A1LQFN3A`...), which are not
//! segwit addresses; `anya:bitcoin/address` only decodes segwit addresses.

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
        address: "bc1pw508d6qejxtdg4y5r3zarvary0c5xw7kw508d6qejxtdg4y5r3zarvary0c5xw7kt5nd6y",
        script_pubkey: "5128751e76e8199196d454941c45d1b3a323f1433bd6751e76e8199196d454941c45d1b3a323f1433bd6",
    },
    Valid {
        address: "BC1SW50QGDZ25J",
        script_pubkey: "6002751e",
    },
    Valid {
        address: "bc1zw508d6qejxtdg4y5r3zarvaryvaxxpcs",
        script_pubkey: "5210751e76e8199196d454941c45d1b3a323",
    },
    Valid {
        address: "tb1qqqqqp399et2xygdj5xreqhjjvcmzhxw4aywxecjdzew6hylgvsesrxh6hy",
        script_pubkey: "0020000000c4a5cad46221b2a187905e5266362b99d5e91c6ce24d165dab93e86433",
    },
    Valid {
        address: "tb1pqqqqp399et2xygdj5xreqhjjvcmzhxw4aywxecjdzew6hylgvsesf3hn0c",
        script_pubkey: "5120000000c4a5cad46221b2a187905e5266362b99d5e91c6ce24d165dab93e86433",
    },
    Valid {
        address: "bc1p0xlxvlhemja6c4dqv22uapctqupfhlxm9h8z3k2e72q4k9hcz7vqzk5jj0",
        script_pubkey: "512079be667ef9dcbbac55a06295ce870b07029bfcdb2dce28d959f2815b16f81798",
    },
];

pub const INVALID: &[Invalid] = &[
    // Invalid segwit addresses.
    Invalid {
        address: "tc1p0xlxvlhemja6c4dqv22uapctqupfhlxm9h8z3k2e72q4k9hcz7vq5zuyut",
        reason: "invalid human-readable part",
    },
    Invalid {
        address: "bc1p0xlxvlhemja6c4dqv22uapctqupfhlxm9h8z3k2e72q4k9hcz7vqh2y7hd",
        reason: "invalid checksum (Bech32 instead of Bech32m)",
    },
    Invalid {
        address: "tb1z0xlxvlhemja6c4dqv22uapctqupfhlxm9h8z3k2e72q4k9hcz7vqglt7rf",
        reason: "invalid checksum (Bech32 instead of Bech32m)",
    },
    Invalid {
        address: "BC1S0XLXVLHEMJA6C4DQV22UAPCTQUPFHLXM9H8Z3K2E72Q4K9HCZ7VQ54WELL",
        reason: "invalid checksum (Bech32 instead of Bech32m)",
    },
    Invalid {
        address: "bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kemeawh",
        reason: "invalid checksum (Bech32m instead of Bech32)",
    },
    Invalid {
        address: "tb1q0xlxvlhemja6c4dqv22uapctqupfhlxm9h8z3k2e72q4k9hcz7vq24jc47",
        reason: "invalid checksum (Bech32m instead of Bech32)",
    },
    Invalid {
        address: "bc1p38j9r5y49hruaue7wxjce0updqjuyyx0kh56v8s25huc6995vvpql3jow4",
        reason: "invalid character in checksum",
    },
    Invalid {
        address: "BC130XLXVLHEMJA6C4DQV22UAPCTQUPFHLXM9H8Z3K2E72Q4K9HCZ7VQ7ZWS8R",
        reason: "invalid witness version",
    },
    Invalid {
        address: "bc1pw5dgrnzv",
        reason: "invalid program length (1 byte)",
    },
    Invalid {
        address: "bc1p0xlxvlhemja6c4dqv22uapctqupfhlxm9h8z3k2e72q4k9hcz7v8n0nx0muaewav253zgeav",
        reason: "invalid program length (41 bytes)",
    },
    Invalid {
        address: "BC1QR508D6QEJXTDG4Y5R3ZARVARYV98GJ9P",
        reason: "invalid program length for witness version 0 (per BIP141)",
    },
    Invalid {
        address: "tb1p0xlxvlhemja6c4dqv22uapctqupfhlxm9h8z3k2e72q4k9hcz7vq47Zagq",
        reason: "mixed case",
    },
    Invalid {
        address: "bc1p0xlxvlhemja6c4dqv22uapctqupfhlxm9h8z3k2e72q4k9hcz7v07qwwzcrf",
        reason: "zero padding of more than 4 bits",
    },
    Invalid {
        address: "tb1p0xlxvlhemja6c4dqv22uapctqupfhlxm9h8z3k2e72q4k9hcz7vpggkg4j",
        reason: "non-zero padding in 8-to-5 conversion",
    },
    Invalid {
        address: "bc1gmk9yu",
        reason: "empty data section",
    },
    // Invalid bech32m strings: refused as addresses too.
    Invalid {
        address: "\u{20}1xj0phk",
        reason: "HRP character out of range",
    },
    Invalid {
        address: "\u{7f}1g6xzxy",
        reason: "HRP character out of range",
    },
    Invalid {
        address: "\u{80}1vctc34",
        reason: "HRP character out of range",
    },
    Invalid {
        address: "an84characterslonghumanreadablepartthatcontainsthetheexcludedcharactersbioandnumber11d6pts4",
        reason: "overall max length exceeded",
    },
    Invalid {
        address: "qyrz8wqd2c9m",
        reason: "no separator character",
    },
    Invalid {
        address: "1qyrz8wqd2c9m",
        reason: "empty HRP",
    },
    Invalid {
        address: "y1b0jsk6g",
        reason: "invalid data character",
    },
    Invalid {
        address: "lt1igcx5c0",
        reason: "invalid data character",
    },
    Invalid {
        address: "in1muywd",
        reason: "too short checksum",
    },
    Invalid {
        address: "mm1crxm3i",
        reason: "invalid character in checksum",
    },
    Invalid {
        address: "au1s5cgom",
        reason: "invalid character in checksum",
    },
    Invalid {
        address: "M1VUXWEZ",
        reason: "checksum calculated with uppercase form of HRP",
    },
    Invalid {
        address: "16plkw9",
        reason: "empty HRP",
    },
    Invalid {
        address: "1p2gdwpf",
        reason: "empty HRP",
    },
];
