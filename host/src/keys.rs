//! Ed25519 signing keys and their files.
//!
//! Invariants: a [`PublicKey`] is never a weak (small-order) point, so a signature that
//! verifies under it was made by whoever holds the secret key; a secret-key file is created
//! exclusively with mode 0600 and never overwritten.
//!
//! # File formats
//!
//! The raw key serializations of the WebAssembly tool-conventions `Signatures.md`, which is
//! also what `wasmsign2 keygen` writes and what `wasmsign2 sign -k`/`verify -K` read (without
//! `--ssh`), so the same files work with both tools:
//!
//! - `STEM.pub`: 33 bytes, `0x01 ‖ public key (32 bytes)`;
//! - `STEM.key`: 65 bytes, `0x81 ‖ seed (32 bytes) ‖ public key (32 bytes)`.
//!
//! # Key ids
//!
//! [`PublicKey::key_id`] is the [`KeyId`] people and the trust store see, and its bytes
//! ([`PublicKey::signature_key_id`]) go into the `key_id` field of a signature: the id
//! `wasmsign2` derives by default (`HMAC-SHA256(key = public key, "key_id")`, first 12
//! bytes). `wasmsign2 verify` skips every signature whose key id differs from that one, so
//! writing any other id would break interop.

use std::fmt;
use std::fs::{self, OpenOptions};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

use ed25519_dalek::{Signature, Signer, SigningKey, VerifyingKey};

use crate::ids::KeyId;

/// Length of a public key in bytes.
pub const PUBLIC_KEY_LEN: usize = 32;

/// Length of a signature's key id as written by Anya and by `wasmsign2`.
pub const SIGNATURE_KEY_ID_LEN: usize = KeyId::LEN;

/// The type byte that starts a serialized Ed25519 public key.
const PUBLIC_KEY_TAG: u8 = 0x01;
/// The type byte that starts a serialized Ed25519 key pair.
const SECRET_KEY_TAG: u8 = 0x81;

/// Key files are tiny; anything larger is not a key, and is not read whole.
const MAX_KEY_FILE_LEN: u64 = 4096;

/// Why a key or key file is refused.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum KeyError {
    /// The public key is not a valid curve point.
    #[error("invalid ed25519 public key {hex}: not a point on the curve")]
    InvalidPublicKey { hex: String },
    /// The public key has small order: signatures under it prove nothing.
    #[error("weak ed25519 public key {hex}: it has small order and is refused")]
    WeakPublicKey { hex: String },
    /// Not 64 hex digits.
    #[error("invalid ed25519 public key {text:?}: expected 64 hex digits")]
    BadHex { text: String },
    /// A key file has the wrong length, type byte or content.
    #[error("{path}: {reason}")]
    BadFile { path: PathBuf, reason: String },
    /// The key file to create already exists.
    #[error("{path}: already exists; refusing to overwrite a key")]
    Exists { path: PathBuf },
    /// Reading or writing a key file failed.
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    /// The operating system's random source failed.
    #[error("cannot generate a key: the random source failed: {0}")]
    Random(String),
}

/// An ed25519 public key that is not weak.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct PublicKey(VerifyingKey);

impl PublicKey {
    /// Decodes 32 bytes, refusing points off the curve and weak (small-order) keys.
    pub fn from_bytes(bytes: &[u8; PUBLIC_KEY_LEN]) -> Result<Self, KeyError> {
        let hex = hex::encode(bytes);
        let key = VerifyingKey::from_bytes(bytes)
            .map_err(|_| KeyError::InvalidPublicKey { hex: hex.clone() })?;
        if key.is_weak() {
            return Err(KeyError::WeakPublicKey { hex });
        }
        Ok(Self(key))
    }

    /// Decodes 64 hex digits (upper or lower case), as in the trust store.
    pub fn from_hex(text: &str) -> Result<Self, KeyError> {
        let mut bytes = [0u8; PUBLIC_KEY_LEN];
        hex::decode_to_slice(text.trim(), &mut bytes).map_err(|_| KeyError::BadHex {
            text: text.chars().take(80).collect(),
        })?;
        Self::from_bytes(&bytes)
    }

    pub fn as_bytes(&self) -> &[u8; PUBLIC_KEY_LEN] {
        self.0.as_bytes()
    }

    /// 64 lower-case hex digits.
    pub fn to_hex(&self) -> String {
        hex::encode(self.as_bytes())
    }

    /// Anya's id for this key.
    pub fn key_id(&self) -> KeyId {
        KeyId::of_public_key(self.as_bytes())
    }

    /// The id written into the `key_id` field of a signature (see the module docs).
    pub fn signature_key_id(&self) -> [u8; SIGNATURE_KEY_ID_LEN] {
        *self.key_id().as_bytes()
    }

    /// Checks `signature` over `message` with `verify_strict`, which also refuses
    /// non-canonical and small-order signature components.
    pub fn verify_strict(&self, message: &[u8], signature: &[u8; 64]) -> bool {
        let signature = Signature::from_bytes(signature);
        self.0.verify_strict(message, &signature).is_ok()
    }

    /// The file form: `0x01 ‖ key`.
    pub fn to_file_bytes(&self) -> [u8; 1 + PUBLIC_KEY_LEN] {
        let mut out = [0u8; 1 + PUBLIC_KEY_LEN];
        out[0] = PUBLIC_KEY_TAG;
        out[1..].copy_from_slice(self.as_bytes());
        out
    }
}

impl fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PublicKey({})", self.to_hex())
    }
}

impl fmt::Display for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

/// An ed25519 secret key. Its bytes are wiped when dropped, and `Debug` never shows them.
#[derive(Clone)]
pub struct SecretKey(SigningKey);

impl SecretKey {
    /// A new key from the operating system's random source.
    pub fn generate() -> Result<Self, KeyError> {
        let mut seed = [0u8; 32];
        getrandom::fill(&mut seed).map_err(|e| KeyError::Random(e.to_string()))?;
        let key = Self::from_seed(seed);
        seed.fill(0);
        Ok(key)
    }

    /// The key for a 32-byte seed (RFC 8032 secret key). Tests derive keys from fixed seeds.
    pub fn from_seed(seed: [u8; 32]) -> Self {
        Self(SigningKey::from_bytes(&seed))
    }

    pub fn public(&self) -> PublicKey {
        // A key derived from a seed is `[s]B` with `s` a multiple of 8 (clamped), never of
        // small order.
        PublicKey(self.0.verifying_key())
    }

    pub fn key_id(&self) -> KeyId {
        self.public().key_id()
    }

    /// Signs `message` (deterministic, RFC 8032).
    pub fn sign(&self, message: &[u8]) -> [u8; 64] {
        self.0.sign(message).to_bytes()
    }

    /// The file form: `0x81 ‖ seed ‖ public key`.
    fn to_file_bytes(&self) -> [u8; 65] {
        let mut out = [0u8; 65];
        out[0] = SECRET_KEY_TAG;
        out[1..].copy_from_slice(&self.0.to_keypair_bytes());
        out
    }
}

impl fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SecretKey(public {})", self.public().to_hex())
    }
}

/// Generates a key pair and writes `STEM.key` (mode 0600, created exclusively) and
/// `STEM.pub`. Neither file may exist yet. Returns the new secret key.
pub fn write_keypair(stem: &Path) -> Result<SecretKey, KeyError> {
    let key = SecretKey::generate()?;
    let secret_path = with_suffix(stem, "key");
    let public_path = with_suffix(stem, "pub");
    if public_path.exists() {
        return Err(KeyError::Exists { path: public_path });
    }
    write_new(&secret_path, &key.to_file_bytes(), 0o600)?;
    if let Err(e) = write_new(&public_path, &key.public().to_file_bytes(), 0o644) {
        // Leave no half pair behind: a secret key without its public key is confusing.
        let _ = fs::remove_file(&secret_path);
        return Err(e);
    }
    tracing::info!(key_id = %key.key_id(), path = %secret_path.display(), "wrote a new key pair");
    Ok(key)
}

/// Reads a `.key` file written by [`write_keypair`] or `wasmsign2 keygen`.
pub fn read_secret_key(path: &Path) -> Result<SecretKey, KeyError> {
    let bytes = read_small(path)?;
    let bad = |reason: String| KeyError::BadFile {
        path: path.to_owned(),
        reason,
    };
    if bytes.len() != 65 || bytes[0] != SECRET_KEY_TAG {
        return Err(bad(format!(
            "not an ed25519 secret key file: expected 65 bytes starting with 0x81, found {} bytes",
            bytes.len()
        )));
    }
    let mut keypair = [0u8; 64];
    keypair.copy_from_slice(&bytes[1..]);
    // Checks that the stored public half belongs to the seed.
    let key = SigningKey::from_keypair_bytes(&keypair)
        .map_err(|_| bad("the public half does not match the secret key".into()));
    keypair.fill(0);
    Ok(SecretKey(key?))
}

/// Reads a `.pub` file written by [`write_keypair`] or `wasmsign2 keygen`.
pub fn read_public_key(path: &Path) -> Result<PublicKey, KeyError> {
    let bytes = read_small(path)?;
    if bytes.len() != 1 + PUBLIC_KEY_LEN || bytes[0] != PUBLIC_KEY_TAG {
        return Err(KeyError::BadFile {
            path: path.to_owned(),
            reason: format!(
                "not an ed25519 public key file: expected 33 bytes starting with 0x01, found {} bytes",
                bytes.len()
            ),
        });
    }
    let mut key = [0u8; PUBLIC_KEY_LEN];
    key.copy_from_slice(&bytes[1..]);
    PublicKey::from_bytes(&key).map_err(|e| KeyError::BadFile {
        path: path.to_owned(),
        reason: e.to_string(),
    })
}

fn with_suffix(stem: &Path, ext: &str) -> PathBuf {
    let mut name = stem.as_os_str().to_owned();
    name.push(".");
    name.push(ext);
    PathBuf::from(name)
}

fn write_new(path: &Path, bytes: &[u8], mode: u32) -> Result<(), KeyError> {
    let io_err = |source: io::Error| {
        if source.kind() == io::ErrorKind::AlreadyExists {
            KeyError::Exists {
                path: path.to_owned(),
            }
        } else {
            KeyError::Io {
                path: path.to_owned(),
                source,
            }
        }
    };
    let mut options = OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(mode);
    }
    #[cfg(not(unix))]
    let _ = mode;
    let mut file = options.open(path).map_err(io_err)?;
    file.write_all(bytes).map_err(io_err)?;
    file.sync_all().map_err(io_err)
}

fn read_small(path: &Path) -> Result<Vec<u8>, KeyError> {
    let io_err = |source| KeyError::Io {
        path: path.to_owned(),
        source,
    };
    // A FIFO or a device is refused before anything is read from it.
    let (file, _) =
        crate::files::open_regular(path, crate::files::Links::Follow).map_err(io_err)?;
    let mut bytes = Vec::new();
    file.take(MAX_KEY_FILE_LEN + 1)
        .read_to_end(&mut bytes)
        .map_err(io_err)?;
    if bytes.len() as u64 > MAX_KEY_FILE_LEN {
        return Err(KeyError::BadFile {
            path: path.to_owned(),
            reason: format!("over {MAX_KEY_FILE_LEN} bytes: not a key file"),
        });
    }
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn weak_and_invalid_public_keys_are_refused() {
        // The identity point (small order) and a point of order 2.
        let mut identity = [0u8; 32];
        identity[0] = 1;
        assert!(matches!(
            PublicKey::from_bytes(&identity),
            Err(KeyError::WeakPublicKey { .. })
        ));
        let mut order2 = [0u8; 32];
        order2[0] = 0xec;
        order2[1..31].fill(0xff);
        order2[31] = 0x7f;
        assert!(matches!(
            PublicKey::from_bytes(&order2),
            Err(KeyError::WeakPublicKey { .. })
        ));
        let good = SecretKey::from_seed([7; 32]).public();
        assert_eq!(PublicKey::from_hex(&good.to_hex()).unwrap(), good);
        assert!(PublicKey::from_hex("abc").is_err());
    }

    #[test]
    fn seeds_give_stable_keys_and_ids() {
        let a = SecretKey::from_seed([1; 32]);
        let b = SecretKey::from_seed([1; 32]);
        assert_eq!(a.public(), b.public());
        assert_eq!(a.key_id(), KeyId::of_public_key(a.public().as_bytes()));
        assert_ne!(a.public(), SecretKey::from_seed([2; 32]).public());
        let sig = a.sign(b"msg");
        assert!(a.public().verify_strict(b"msg", &sig));
        assert!(!a.public().verify_strict(b"msh", &sig));
        assert!(!format!("{a:?}").contains(&hex::encode([1u8; 32])));
    }

    #[test]
    fn key_files_round_trip_and_are_never_overwritten() {
        let dir = tempfile::tempdir().unwrap();
        let stem = dir.path().join("release");
        let key = write_keypair(&stem).unwrap();
        let secret = dir.path().join("release.key");
        let public = dir.path().join("release.pub");
        assert_eq!(fs::read(&secret).unwrap().len(), 65);
        assert_eq!(fs::read(&public).unwrap()[0], 0x01);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = fs::metadata(&secret).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        assert_eq!(read_secret_key(&secret).unwrap().public(), key.public());
        assert_eq!(read_public_key(&public).unwrap(), key.public());

        let before = fs::read(&secret).unwrap();
        assert!(matches!(write_keypair(&stem), Err(KeyError::Exists { .. })));
        assert_eq!(fs::read(&secret).unwrap(), before);

        // A secret-key file whose public half belongs to another key is refused.
        let mut mixed = before.clone();
        mixed[33..].copy_from_slice(SecretKey::from_seed([9; 32]).public().as_bytes());
        let mixed_path = dir.path().join("mixed.key");
        fs::write(&mixed_path, &mixed).unwrap();
        assert!(read_secret_key(&mixed_path).is_err());
        // Public key read as secret key and vice versa.
        assert!(read_secret_key(&public).is_err());
        assert!(read_public_key(&secret).is_err());
    }
}
