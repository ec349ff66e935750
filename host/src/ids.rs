//! Identifier newtypes: a [`ComponentName`] that is safe to put in a path, a sha256
//! [`Digest`], and a signing [`KeyId`].
//!
//! Invariant: a value of these types is valid by construction. A component name never
//! reaches the file system unchecked: only [`ComponentName::parse`] builds one.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use sha2::{Digest as _, Sha256};

/// Why a string is not an identifier.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum IdError {
    /// The component name breaks `^[a-z0-9][a-z0-9-]{0,62}$`.
    #[error("invalid component name {name:?}: {reason}")]
    ComponentName { name: String, reason: &'static str },
    /// The digest is not 64 lower-case hex digits.
    #[error("invalid sha256 digest {digest:?}: expected 64 lower-case hex digits")]
    Digest { digest: String },
}

/// A component name: `^[a-z0-9][a-z0-9-]{0,62}$`.
///
/// The grammar keeps names usable as file names: no `.`, `/`, `\`, NUL, upper case or
/// anything a file system could fold.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ComponentName(String);

impl ComponentName {
    /// The longest name accepted, in bytes.
    pub const MAX_LEN: usize = 63;

    /// Checks `name` against the grammar.
    pub fn parse(name: &str) -> Result<Self, IdError> {
        let fail = |reason| {
            Err(IdError::ComponentName {
                name: name.chars().take(80).collect(),
                reason,
            })
        };
        let Some(first) = name.bytes().next() else {
            return fail("it is empty");
        };
        if name.len() > Self::MAX_LEN {
            return fail("it is longer than 63 bytes");
        }
        if !(first.is_ascii_lowercase() || first.is_ascii_digit()) {
            return fail("it must start with a lower-case letter or a digit");
        }
        for b in name.bytes() {
            match b {
                b'a'..=b'z' | b'0'..=b'9' | b'-' => {}
                b'A'..=b'Z' => return fail("it contains upper case"),
                b'/' | b'\\' => return fail("it contains a path separator"),
                b'.' => return fail("it contains '.'"),
                0 => return fail("it contains NUL"),
                _ => return fail("only a-z, 0-9 and '-' are allowed"),
            }
        }
        Ok(Self(name.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for ComponentName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl FromStr for ComponentName {
    type Err = IdError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl AsRef<str> for ComponentName {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl Serialize for ComponentName {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for ComponentName {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Self::parse(&s).map_err(serde::de::Error::custom)
    }
}

/// A sha256 digest.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Digest([u8; 32]);

impl Digest {
    /// The digest of `bytes`.
    pub fn of(bytes: &[u8]) -> Self {
        Self(Sha256::digest(bytes).into())
    }

    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        Self(bytes)
    }

    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// 64 lower-case hex digits.
    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }

    /// The first 12 hex digits, for people.
    pub fn short(&self) -> String {
        self.to_hex()[..12].to_owned()
    }

    pub fn from_hex(s: &str) -> Result<Self, IdError> {
        let bad = || IdError::Digest {
            digest: s.chars().take(80).collect(),
        };
        if s.len() != 64 || s.bytes().any(|b| b.is_ascii_uppercase()) {
            return Err(bad());
        }
        let mut out = [0u8; 32];
        hex::decode_to_slice(s, &mut out).map_err(|_| bad())?;
        Ok(Self(out))
    }
}

impl fmt::Display for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

impl fmt::Debug for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "sha256:{}", self.to_hex())
    }
}

impl FromStr for Digest {
    type Err = IdError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::from_hex(s)
    }
}

impl Serialize for Digest {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_hex())
    }
}

impl<'de> Deserialize<'de> for Digest {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Self::from_hex(&s).map_err(serde::de::Error::custom)
    }
}

/// Identifies a signing key: the first 12 bytes of HMAC-SHA256 keyed by its 32-byte
/// public key over `"key_id"`.
///
/// That is the id the reference tool `wasmsign2` derives and writes into the `key_id`
/// field of a signature (its `verify` skips signatures whose id differs), so the same id
/// is what people see, what the trust store indexes, and what signatures carry.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct KeyId([u8; KeyId::LEN]);

impl KeyId {
    /// Length in bytes.
    pub const LEN: usize = 12;

    /// The id of an ed25519 public key.
    pub fn of_public_key(public_key: &[u8; 32]) -> Self {
        use hmac::Mac as _;
        let mut mac = hmac::Hmac::<Sha256>::new_from_slice(public_key)
            .expect("HMAC takes keys of any length");
        mac.update(b"key_id");
        let tag = mac.finalize().into_bytes();
        let mut id = [0u8; Self::LEN];
        id.copy_from_slice(&tag[..Self::LEN]);
        Self(id)
    }

    pub fn from_bytes(bytes: [u8; Self::LEN]) -> Self {
        Self(bytes)
    }

    pub fn as_bytes(&self) -> &[u8; Self::LEN] {
        &self.0
    }

    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }
}

impl fmt::Display for KeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

impl fmt::Debug for KeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "KeyId({})", self.to_hex())
    }
}

impl Serialize for KeyId {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_hex())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn component_names_follow_the_grammar() {
        for ok in ["bech32", "a", "0", "bip173-vectors", &"a".repeat(63)] {
            ComponentName::parse(ok).unwrap();
        }
        for bad in [
            "",
            "-a",
            "A",
            "bEch32",
            "../x",
            "a/b",
            "a.b",
            "a\0b",
            "a b",
            "é",
            &"a".repeat(64),
        ] {
            assert!(ComponentName::parse(bad).is_err(), "{bad:?} accepted");
        }
        let err = ComponentName::parse("a/..").unwrap_err().to_string();
        assert!(err.contains("path separator"), "{err}");
    }

    #[test]
    fn digests_round_trip_as_hex() {
        let d = Digest::of(b"abc");
        assert_eq!(
            d.to_hex(),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert_eq!(Digest::from_hex(&d.to_hex()).unwrap(), d);
        assert!(Digest::from_hex(&d.to_hex().to_uppercase()).is_err());
        assert!(Digest::from_hex("abc").is_err());
    }
}
