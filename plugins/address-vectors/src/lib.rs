//! The BIP-173 and BIP-350 segwit address test vectors, and how to run them
//! against an implementation of `anya:bitcoin/address` ([`Candidate`]), one
//! [`Case`] per vector. The validators `bip173-vectors` and
//! `bip350-vectors` are thin adapters over this crate; keeping it free of
//! the SDK lets its tests run the same checks on the host.
//!
//! The interface decodes any human-readable part, while the BIP vectors are
//! about Bitcoin addresses: a vector listed as having an "invalid
//! human-readable part" passes when the candidate refuses it *or* decodes it
//! to an HRP other than `bc` and `tb`, the HRPs the BIPs' reference tests
//! accept.

pub mod bip173;
pub mod bip350;

/// The human-readable parts a Bitcoin address may have (mainnet, testnet).
const BITCOIN_HRPS: [&str; 2] = ["bc", "tb"];

/// A valid address and the scriptPubKey (hex) it stands for.
pub struct Valid {
    pub address: &'static str,
    pub script_pubkey: &'static str,
}

/// A string that must not be accepted as a Bitcoin address, and why.
pub struct Invalid {
    pub address: &'static str,
    pub reason: &'static str,
}

/// A decoded address, as the candidate returned it.
pub struct Decoded {
    pub hrp: String,
    pub witness_version: u8,
    pub program: Vec<u8>,
}

/// The implementation under test: `anya:bitcoin/address` in a validator,
/// plain functions in this crate's tests.
pub trait Candidate {
    fn decode(&self, address: &str) -> Result<Decoded, String>;
    fn encode(&self, hrp: &str, witness_version: u8, program: &[u8]) -> Result<String, String>;
}

/// The outcome of one vector, as `anya:validator/suite` reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Case {
    pub name: String,
    pub passed: bool,
    pub detail: String,
}

/// Runs every vector against `candidate`, valid ones first, each in list
/// order; `bip` (such as `"BIP-173"`) names the source in details.
pub fn run(
    bip: &str,
    valid: &[Valid],
    invalid: &[Invalid],
    candidate: &impl Candidate,
) -> Vec<Case> {
    let case = |name: String, outcome: Result<String, String>| match outcome {
        Ok(detail) => Case {
            name,
            passed: true,
            detail,
        },
        Err(detail) => Case {
            name,
            passed: false,
            detail,
        },
    };
    valid
        .iter()
        .map(|v| {
            case(
                format!("valid/{}", printable(v.address)),
                check_valid(bip, v, candidate),
            )
        })
        .chain(invalid.iter().map(|v| {
            case(
                format!("invalid/{}", printable(v.address)),
                check_invalid(bip, v, candidate),
            )
        }))
        .collect()
}

fn check_valid(bip: &str, v: &Valid, candidate: &impl Candidate) -> Result<String, String> {
    let got = candidate.decode(v.address).map_err(|e| {
        format!(
            "refused {:?}, which {bip} lists as valid (scriptPubKey {}): {e}",
            v.address, v.script_pubkey
        )
    })?;
    let want_hrp = v.address[..v.address.rfind('1').unwrap_or(0)].to_ascii_lowercase();
    if got.hrp != want_hrp {
        return Err(format!(
            "decoded {:?} with human-readable part {:?}, expected {want_hrp:?}",
            v.address, got.hrp
        ));
    }
    let spk = script_pubkey(got.witness_version, &got.program);
    if spk != v.script_pubkey {
        return Err(format!(
            "decoded {:?} to scriptPubKey {spk} (witness version {}), {bip} says {}",
            v.address, got.witness_version, v.script_pubkey
        ));
    }
    let encoded = candidate
        .encode(&got.hrp, got.witness_version, &got.program)
        .map_err(|e| {
            format!(
                "refused to encode hrp {:?}, witness version {}, program {} back into {:?}: {e}",
                got.hrp,
                got.witness_version,
                hex(&got.program),
                v.address
            )
        })?;
    let want = v.address.to_ascii_lowercase();
    if encoded != want {
        return Err(format!(
            "encoded witness version {} program {} as {encoded:?}, expected {want:?}",
            got.witness_version,
            hex(&got.program)
        ));
    }
    Ok(format!("decodes to scriptPubKey {spk} and encodes back"))
}

fn check_invalid(bip: &str, v: &Invalid, candidate: &impl Candidate) -> Result<String, String> {
    match candidate.decode(v.address) {
        Err(e) => Ok(format!("refused ({}): {e}", v.reason)),
        Ok(got) if !BITCOIN_HRPS.contains(&got.hrp.as_str()) => Ok(format!(
            "decodes, but to human-readable part {:?}, which is not a Bitcoin one ({})",
            got.hrp, v.reason
        )),
        Ok(got) => Err(format!(
            "accepted {:?} as hrp {:?}, witness version {}, program {}; {bip} says it is invalid: {}",
            v.address,
            got.hrp,
            got.witness_version,
            hex(&got.program),
            v.reason
        )),
    }
}

/// The scriptPubKey of a witness program: `OP_n` (0x00, or 0x50 + n for
/// n >= 1), the program's length, the program.
fn script_pubkey(version: u8, program: &[u8]) -> String {
    let op = if version == 0 {
        0
    } else {
        0x50u8.wrapping_add(version)
    };
    // A program longer than 255 bytes is wrong anyway; the length byte then
    // simply fails to match.
    let len = u8::try_from(program.len()).unwrap_or(u8::MAX);
    let mut s = hex(&[op, len]);
    s.push_str(&hex(program));
    s
}

fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(char::from(DIGITS[usize::from(b >> 4)]));
        s.push(char::from(DIGITS[usize::from(b & 15)]));
    }
    s
}

/// `s` with characters outside printable ASCII as `\u{..}`, for case names.
fn printable(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if ('!'..='~').contains(&c) {
            out.push(c);
        } else {
            out.push_str(&format!("\\u{{{:x}}}", u32::from(c)));
        }
    }
    out
}

/// The adapter a validator guest uses: the candidate is the imported
/// `anya:bitcoin/address`, the cases become `anya:validator/suite` results.
#[cfg(feature = "guest")]
pub mod guest {
    use anya_sdk::bitcoin::validator::{CaseResult, address};

    use crate::{Candidate, Decoded, Invalid, Valid};

    /// The implementation the host wired to this validator's import.
    pub struct Imported;

    impl Candidate for Imported {
        fn decode(&self, a: &str) -> Result<Decoded, String> {
            address::decode(a).map(|d| Decoded {
                hrp: d.hrp,
                witness_version: d.witness_version,
                program: d.program,
            })
        }

        fn encode(&self, hrp: &str, witness_version: u8, program: &[u8]) -> Result<String, String> {
            address::encode(hrp, witness_version, program)
        }
    }

    /// Runs the vectors against the import, as `suite.run` results.
    pub fn run(bip: &str, valid: &[Valid], invalid: &[Invalid]) -> Vec<CaseResult> {
        crate::run(bip, valid, invalid, &Imported)
            .into_iter()
            .map(|c| CaseResult {
                name: c.name,
                passed: c.passed,
                detail: c.detail,
            })
            .collect()
    }
}
