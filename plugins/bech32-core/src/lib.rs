//! Segwit addresses in bech32 (BIP-173) and bech32m (BIP-350), shared by the
//! `bech32` plugins.
//!
//! The only difference between the two plugin versions is [`Rules`]: which
//! checksum variant a witness version must use. Everything else (alphabet,
//! case, length, padding and program rules) is common to both BIPs and lives
//! here once.

use std::fmt;

/// The bech32 alphabet: the 5-bit value `v` is written as `CHARSET[v]`.
const CHARSET: &[u8; 32] = b"qpzry9x8gf2tvdw0s3jn54khce6mua7l";

/// The generator of the BCH code behind both checksums.
const GENERATOR: [u32; 5] = [
    0x3b6a_57b2,
    0x2650_8e6d,
    0x1ea1_19fa,
    0x3d42_33dd,
    0x2a14_62b3,
];

/// The longest string either BIP allows, separator and checksum included.
pub const MAX_LEN: usize = 90;

/// The number of checksum characters.
const CHECKSUM_LEN: usize = 6;

/// A checksum variant: what the checksum polymod must come out as.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Variant {
    /// BIP-173.
    Bech32,
    /// BIP-350.
    Bech32m,
}

impl Variant {
    fn constant(self) -> u32 {
        match self {
            Self::Bech32 => 1,
            Self::Bech32m => 0x2bc8_30a3,
        }
    }

    fn from_constant(c: u32) -> Option<Self> {
        [Self::Bech32, Self::Bech32m]
            .into_iter()
            .find(|v| v.constant() == c)
    }
}

impl fmt::Display for Variant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Bech32 => "bech32",
            Self::Bech32m => "bech32m",
        })
    }
}

/// Which checksum variant each witness version must use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rules {
    /// BIP-173 alone: bech32 for every witness version (bech32m does not
    /// exist).
    Bip173,
    /// BIP-350: bech32 for witness version 0, bech32m for versions 1 to 16.
    Bip350,
}

impl Rules {
    /// The variant that witness `version` must use under these rules.
    pub fn variant_for(self, version: u8) -> Variant {
        match self {
            Self::Bip173 => Variant::Bech32,
            Self::Bip350 if version == 0 => Variant::Bech32,
            Self::Bip350 => Variant::Bech32m,
        }
    }

    fn name(self) -> &'static str {
        match self {
            Self::Bip173 => "BIP-173",
            Self::Bip350 => "BIP-350",
        }
    }
}

/// A decoded segwit address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Segwit {
    /// The human-readable part, lower case.
    pub hrp: String,
    /// The witness version, 0 to 16.
    pub version: u8,
    /// The witness program.
    pub program: Vec<u8>,
}

/// Why a string is not a valid segwit address, or cannot be encoded as one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Error {
    /// Longer than [`MAX_LEN`] characters.
    TooLong { len: usize },
    /// A character outside US-ASCII 33..=126 (in the HRP or anywhere else).
    CharOutOfRange { pos: usize, ch: char },
    /// Both lower- and upper-case letters.
    MixedCase,
    /// No `1` separating the human-readable part from the data.
    NoSeparator,
    /// Nothing before the separator.
    EmptyHrp,
    /// A human-readable part over 83 characters (encode only).
    HrpTooLong { len: usize },
    /// Fewer than 6 characters after the separator.
    ChecksumTooShort { len: usize },
    /// A data character outside the bech32 alphabet.
    InvalidDataChar { pos: usize, ch: char },
    /// The checksum matches neither variant.
    InvalidChecksum,
    /// The checksum is valid, but in the variant the rules forbid for this
    /// witness version.
    WrongVariant {
        version: u8,
        found: Variant,
        expected: Variant,
        rules: Rules,
    },
    /// No witness version (the data part is only a checksum).
    EmptyData,
    /// A witness version over 16.
    InvalidVersion { version: u8 },
    /// More than 4 bits of padding in the 5-to-8-bit conversion.
    ExcessPadding,
    /// Non-zero padding bits in the 5-to-8-bit conversion.
    NonZeroPadding,
    /// A program shorter than 2 or longer than 40 bytes, or, for version 0,
    /// not 20 or 32 bytes (BIP-141).
    InvalidProgramLength { version: u8, len: usize },
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::TooLong { len } => write!(f, "too long: {len} characters, at most {MAX_LEN}"),
            Self::CharOutOfRange { pos, ch } => write!(
                f,
                "character {ch:?} at position {pos} is outside US-ASCII 33..=126"
            ),
            Self::MixedCase => f.write_str("mixed case: use all lower or all upper case"),
            Self::NoSeparator => f.write_str("no separator character '1'"),
            Self::EmptyHrp => f.write_str("empty human-readable part"),
            Self::HrpTooLong { len } => {
                write!(f, "human-readable part is {len} characters, at most 83")
            }
            Self::ChecksumTooShort { len } => write!(
                f,
                "too short checksum: {len} characters after the separator, need at least {CHECKSUM_LEN}"
            ),
            Self::InvalidDataChar { pos, ch } => write!(
                f,
                "invalid data character {ch:?} at position {pos}: not in the bech32 alphabet"
            ),
            Self::InvalidChecksum => f.write_str("invalid checksum"),
            Self::WrongVariant {
                version,
                found,
                expected,
                rules,
            } => write!(
                f,
                "invalid checksum variant: witness version {version} has a {found} checksum, \
                 {} requires {expected}",
                rules.name()
            ),
            Self::EmptyData => f.write_str("empty data section: no witness version"),
            Self::InvalidVersion { version } => {
                write!(f, "invalid witness version {version}: at most 16")
            }
            Self::ExcessPadding => f.write_str("zero padding of more than 4 bits"),
            Self::NonZeroPadding => f.write_str("non-zero padding in the 8-to-5 conversion"),
            Self::InvalidProgramLength { version: 0, len } => write!(
                f,
                "invalid program length for witness version 0: {len} bytes, need 20 or 32 (BIP-141)"
            ),
            Self::InvalidProgramLength { version, len } => write!(
                f,
                "invalid program length for witness version {version}: {len} bytes, need 2 to 40"
            ),
        }
    }
}

impl std::error::Error for Error {}

fn polymod(values: impl IntoIterator<Item = u8>) -> u32 {
    let mut chk: u32 = 1;
    for v in values {
        let top = chk >> 25;
        chk = ((chk & 0x01ff_ffff) << 5) ^ u32::from(v);
        for (i, g) in GENERATOR.iter().enumerate() {
            if (top >> i) & 1 == 1 {
                chk ^= g;
            }
        }
    }
    chk
}

/// The HRP as the checksum sees it: high bits, a zero, low bits.
fn hrp_expand(hrp: &[u8]) -> impl Iterator<Item = u8> + '_ {
    hrp.iter()
        .map(|c| c >> 5)
        .chain([0])
        .chain(hrp.iter().map(|c| c & 31))
}

fn checksum(hrp: &[u8], data: &[u8], variant: Variant) -> [u8; CHECKSUM_LEN] {
    let pm = polymod(
        hrp_expand(hrp)
            .chain(data.iter().copied())
            .chain([0; CHECKSUM_LEN]),
    ) ^ variant.constant();
    let mut out = [0; CHECKSUM_LEN];
    for (i, o) in out.iter_mut().enumerate() {
        // Each output symbol is 5 bits of the 30-bit remainder, high first.
        *o = ((pm >> (5 * (5 - i))) & 31) as u8;
    }
    out
}

/// Regroups `data` from `from`-bit to `to`-bit values. With `pad`, the last
/// group is zero-padded; without, leftover bits must be fewer than `from` and
/// zero (the decoding rules of BIP-173).
fn convert_bits(data: &[u8], from: u32, to: u32, pad: bool) -> Result<Vec<u8>, Error> {
    let mut acc: u32 = 0;
    let mut bits: u32 = 0;
    let max = (1u32 << to) - 1;
    let mut out = Vec::with_capacity(data.len() * from as usize / to as usize + 1);
    for &v in data {
        acc = (acc << from) | u32::from(v);
        bits += from;
        while bits >= to {
            bits -= to;
            out.push(((acc >> bits) & max) as u8);
        }
    }
    if pad {
        if bits > 0 {
            out.push(((acc << (to - bits)) & max) as u8);
        }
    } else if bits >= from {
        return Err(Error::ExcessPadding);
    } else if (acc << (to - bits)) & max != 0 {
        return Err(Error::NonZeroPadding);
    }
    Ok(out)
}

fn check_program(version: u8, program: &[u8]) -> Result<(), Error> {
    let len = program.len();
    let ok = if version == 0 {
        len == 20 || len == 32
    } else {
        (2..=40).contains(&len)
    };
    if ok {
        Ok(())
    } else {
        Err(Error::InvalidProgramLength { version, len })
    }
}

/// Decodes `address` as a segwit address under `rules`.
pub fn decode(address: &str, rules: Rules) -> Result<Segwit, Error> {
    let len = address.chars().count();
    if len > MAX_LEN {
        return Err(Error::TooLong { len });
    }
    if let Some((pos, ch)) = address
        .chars()
        .enumerate()
        .find(|&(_, c)| !(33..=126).contains(&u32::from(c)))
    {
        return Err(Error::CharOutOfRange { pos, ch });
    }
    // All characters are ASCII from here on: bytes and chars coincide.
    let has_lower = address.bytes().any(|b| b.is_ascii_lowercase());
    let has_upper = address.bytes().any(|b| b.is_ascii_uppercase());
    if has_lower && has_upper {
        return Err(Error::MixedCase);
    }
    let lower = address.to_ascii_lowercase();
    let sep = lower.rfind('1').ok_or(Error::NoSeparator)?;
    if sep == 0 {
        return Err(Error::EmptyHrp);
    }
    let (hrp, rest) = (&lower.as_bytes()[..sep], &lower.as_bytes()[sep + 1..]);
    if rest.len() < CHECKSUM_LEN {
        return Err(Error::ChecksumTooShort { len: rest.len() });
    }
    let mut data = Vec::with_capacity(rest.len());
    for (i, &b) in rest.iter().enumerate() {
        let v = CHARSET
            .iter()
            .position(|&c| c == b)
            .ok_or(Error::InvalidDataChar {
                pos: sep + 1 + i,
                ch: char::from(b),
            })?;
        data.push(v as u8);
    }
    let found = Variant::from_constant(polymod(hrp_expand(hrp).chain(data.iter().copied())))
        .ok_or(Error::InvalidChecksum)?;
    data.truncate(data.len() - CHECKSUM_LEN);
    let (&version, program5) = data.split_first().ok_or(Error::EmptyData)?;
    if version > 16 {
        return Err(Error::InvalidVersion { version });
    }
    let program = convert_bits(program5, 5, 8, false)?;
    check_program(version, &program)?;
    let expected = rules.variant_for(version);
    if found != expected {
        return Err(Error::WrongVariant {
            version,
            found,
            expected,
            rules,
        });
    }
    Ok(Segwit {
        // The HRP is ASCII (checked above).
        hrp: String::from_utf8_lossy(hrp).into_owned(),
        version,
        program,
    })
}

/// Encodes a segwit address in lower case under `rules`.
pub fn encode(hrp: &str, version: u8, program: &[u8], rules: Rules) -> Result<String, Error> {
    if hrp.is_empty() {
        return Err(Error::EmptyHrp);
    }
    if let Some((pos, ch)) = hrp
        .chars()
        .enumerate()
        .find(|&(_, c)| !(33..=126).contains(&u32::from(c)))
    {
        return Err(Error::CharOutOfRange { pos, ch });
    }
    if hrp.len() > 83 {
        return Err(Error::HrpTooLong { len: hrp.len() });
    }
    if hrp.bytes().any(|b| b.is_ascii_lowercase()) && hrp.bytes().any(|b| b.is_ascii_uppercase()) {
        return Err(Error::MixedCase);
    }
    if version > 16 {
        return Err(Error::InvalidVersion { version });
    }
    check_program(version, program)?;
    let hrp = hrp.to_ascii_lowercase();
    let mut data = vec![version];
    data.extend(convert_bits(program, 8, 5, true)?);
    let sum = checksum(hrp.as_bytes(), &data, rules.variant_for(version));
    let mut out = String::with_capacity(hrp.len() + 1 + data.len() + CHECKSUM_LEN);
    out.push_str(&hrp);
    out.push('1');
    out.extend(
        data.iter()
            .chain(sum.iter())
            .map(|&v| char::from(CHARSET[usize::from(v)])),
    );
    if out.len() > MAX_LEN {
        return Err(Error::TooLong { len: out.len() });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(bytes: &[u8]) -> String {
        bytes.iter().map(|b| format!("{b:02x}")).collect()
    }

    #[test]
    fn decodes_the_p2wpkh_example_under_both_rules() {
        for rules in [Rules::Bip173, Rules::Bip350] {
            let s = decode("bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t4", rules).unwrap();
            assert_eq!(s.hrp, "bc");
            assert_eq!(s.version, 0);
            assert_eq!(hex(&s.program), "751e76e8199196d454941c45d1b3a323f1433bd6");
            assert_eq!(
                encode("bc", 0, &s.program, rules).unwrap(),
                "bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t4"
            );
        }
    }

    #[test]
    fn v1_checksum_variant_depends_on_the_rules() {
        // BIP-173's v1 example (bech32) and BIP-350's (bech32m) of the same program.
        let bech32 = "bc1pw508d6qejxtdg4y5r3zarvary0c5xw7kw508d6qejxtdg4y5r3zarvary0c5xw7k7grplx";
        let bech32m = "bc1pw508d6qejxtdg4y5r3zarvary0c5xw7kw508d6qejxtdg4y5r3zarvary0c5xw7kt5nd6y";
        let a = decode(bech32, Rules::Bip173).unwrap();
        let b = decode(bech32m, Rules::Bip350).unwrap();
        assert_eq!(a, b);
        assert_eq!(encode("bc", 1, &a.program, Rules::Bip173).unwrap(), bech32);
        assert_eq!(encode("bc", 1, &a.program, Rules::Bip350).unwrap(), bech32m);
        let e = decode(bech32, Rules::Bip350).unwrap_err();
        assert!(
            matches!(
                e,
                Error::WrongVariant {
                    found: Variant::Bech32,
                    ..
                }
            ),
            "{e}"
        );
        let e = decode(bech32m, Rules::Bip173).unwrap_err();
        assert!(
            matches!(
                e,
                Error::WrongVariant {
                    found: Variant::Bech32m,
                    ..
                }
            ),
            "{e}"
        );
    }

    #[test]
    fn refuses_with_the_reason() {
        let cases: &[(&str, Error)] = &[
            (
                "tb1qrp33g0q5c5txsp9arysrx4k6zdkfs4nce4xj0gdcccefvpysxf3q0sL5k7",
                Error::MixedCase,
            ),
            (
                "bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t5",
                Error::InvalidChecksum,
            ),
            ("pzry9x0s0muk", Error::NoSeparator),
            ("1pzry9x0s0muk", Error::EmptyHrp),
            ("li1dgmt3", Error::ChecksumTooShort { len: 5 }),
            ("x1b4n0q5v", Error::InvalidDataChar { pos: 2, ch: 'b' }),
            ("bc1gmk9yu", Error::EmptyData),
            (
                "BC13W508D6QEJXTDG4Y5R3ZARVARY0C5XW7KN40WF2",
                Error::InvalidVersion { version: 17 },
            ),
            (
                "bc1zw508d6qejxtdg4y5r3zarvaryvqyzf3du",
                Error::ExcessPadding,
            ),
            (
                "tb1qrp33g0q5c5txsp9arysrx4k6zdkfs4nce4xj0gdcccefvpysxf3pjxtptv",
                Error::NonZeroPadding,
            ),
            (
                "BC1QR508D6QEJXTDG4Y5R3ZARVARYV98GJ9P",
                Error::InvalidProgramLength {
                    version: 0,
                    len: 16,
                },
            ),
            (
                "bc1rw5uspcuh",
                Error::InvalidProgramLength { version: 3, len: 1 },
            ),
            (
                "\u{80}1eym55h",
                Error::CharOutOfRange {
                    pos: 0,
                    ch: '\u{80}',
                },
            ),
        ];
        for (address, want) in cases {
            assert_eq!(
                &decode(address, Rules::Bip173).unwrap_err(),
                want,
                "{address}"
            );
        }
        let long = format!("bc1{}", "q".repeat(88));
        assert_eq!(
            decode(&long, Rules::Bip350).unwrap_err(),
            Error::TooLong { len: 91 }
        );
    }

    #[test]
    fn encode_refuses_bad_input() {
        let p20 = [7u8; 20];
        assert_eq!(encode("", 0, &p20, Rules::Bip350), Err(Error::EmptyHrp));
        assert_eq!(encode("Bc", 0, &p20, Rules::Bip350), Err(Error::MixedCase));
        assert_eq!(
            encode("bc", 17, &p20, Rules::Bip350),
            Err(Error::InvalidVersion { version: 17 })
        );
        assert_eq!(
            encode("bc", 0, &p20[..19], Rules::Bip350),
            Err(Error::InvalidProgramLength {
                version: 0,
                len: 19
            })
        );
        assert_eq!(
            encode("bc", 1, &[0; 41], Rules::Bip350),
            Err(Error::InvalidProgramLength {
                version: 1,
                len: 41
            })
        );
        assert_eq!(
            encode("BC", 0, &p20, Rules::Bip350).unwrap(),
            encode("bc", 0, &p20, Rules::Bip350).unwrap()
        );
    }
}
