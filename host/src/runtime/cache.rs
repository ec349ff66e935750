//! The compile cache: compiled code on disk, written and read only by this host.
//!
//! A file is `cache_dir/<digest hex>-<engine hash>.cwasm` holding
//! `MAGIC || HMAC-SHA256(key, context || code) || code`, where `context` binds the
//! package digest and the engine hash, and `key` is a per-host secret in
//! `cache_dir/cache.key` (0600, created on first use).
//!
//! Invariant: code is handed to wasmtime's (unsafe) deserializer only after its MAC
//! checks. A file that fails (tampered, truncated, renamed from another digest) is logged,
//! deleted and treated as absent, so the caller recompiles.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use hmac::{Hmac, Mac};
use sha2::Sha256;

use super::error::RuntimeError;
use crate::ids::Digest;

type HmacSha256 = Hmac<Sha256>;

const MAGIC: &[u8; 8] = b"ANYACW01";
const MAC_LEN: usize = 32;
const KEY_LEN: usize = 32;
const KEY_FILE: &str = "cache.key";
/// Separates this MAC's purpose from any other use of the key.
const MAC_CONTEXT: &[u8] = b"anya compiled component v1\0";

/// The compile cache of one runtime.
pub(super) struct CodeCache {
    dir: PathBuf,
    key: [u8; KEY_LEN],
    engine_hash: [u8; 32],
}

impl CodeCache {
    /// Opens (creating if needed) the cache folder and its key.
    pub(super) fn open(dir: &Path, engine_hash: [u8; 32]) -> Result<Self, RuntimeError> {
        let fail = |path: &Path, reason: String| RuntimeError::Cache {
            path: path.to_owned(),
            reason,
        };
        fs::create_dir_all(dir).map_err(|e| fail(dir, format!("cannot create: {e}")))?;
        let key_path = dir.join(KEY_FILE);
        let key = load_or_create_key(&key_path).map_err(|reason| fail(&key_path, reason))?;
        Ok(Self {
            dir: dir.to_owned(),
            key,
            engine_hash,
        })
    }

    /// Where the code compiled from `digest` lives.
    pub(super) fn path(&self, digest: &Digest) -> PathBuf {
        self.dir.join(format!(
            "{}-{}.cwasm",
            digest.to_hex(),
            hex::encode(&self.engine_hash[..8])
        ))
    }

    /// The authenticated compiled code for `digest`, or `None` when there is none or it
    /// failed its check (then the file is deleted).
    pub(super) fn read(&self, digest: &Digest) -> Option<Vec<u8>> {
        let path = self.path(digest);
        let mut file = match File::open(&path) {
            Ok(file) => file,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return None,
            Err(e) => {
                tracing::warn!(path = %path.display(), error = %e, "cannot read compiled code; recompiling");
                return None;
            }
        };
        let mut bytes = Vec::new();
        if let Err(e) = file.read_to_end(&mut bytes) {
            tracing::warn!(path = %path.display(), error = %e, "cannot read compiled code; recompiling");
            return None;
        }
        match self.open_sealed(digest, bytes) {
            Ok(code) => Some(code),
            Err(reason) => {
                tracing::warn!(
                    path = %path.display(),
                    reason,
                    "compiled code failed its integrity check; deleting it and recompiling"
                );
                if let Err(e) = fs::remove_file(&path) {
                    tracing::warn!(path = %path.display(), error = %e, "cannot delete compiled code");
                }
                None
            }
        }
    }

    /// Drops the cached code for `digest` (used when wasmtime refuses authenticated
    /// code, for example after an upgrade that kept the engine hash).
    pub(super) fn remove(&self, digest: &Digest) {
        let path = self.path(digest);
        if let Err(e) = fs::remove_file(&path)
            && e.kind() != io::ErrorKind::NotFound
        {
            tracing::warn!(path = %path.display(), error = %e, "cannot delete compiled code");
        }
    }

    /// Stores `code` for `digest`: tmp file, fsync, rename, fsync of the folder, so a
    /// reader sees the whole file or none.
    pub(super) fn write(&self, digest: &Digest, code: &[u8]) -> io::Result<()> {
        let path = self.path(digest);
        let mut nonce = [0u8; 8];
        getrandom::fill(&mut nonce).map_err(io::Error::other)?;
        let tmp = self
            .dir
            .join(format!(".tmp-{}-{}", digest.to_hex(), hex::encode(nonce)));
        let result = (|| {
            let mut file = OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(&tmp)?;
            file.write_all(MAGIC)?;
            file.write_all(&self.mac(digest, code))?;
            file.write_all(code)?;
            file.sync_all()?;
            fs::rename(&tmp, &path)?;
            File::open(&self.dir)?.sync_all()
        })();
        if result.is_err() {
            let _ = fs::remove_file(&tmp);
        }
        result
    }

    fn mac(&self, digest: &Digest, code: &[u8]) -> [u8; MAC_LEN] {
        self.keyed(digest, code).finalize().into_bytes().into()
    }

    fn keyed(&self, digest: &Digest, code: &[u8]) -> HmacSha256 {
        let mut mac = HmacSha256::new_from_slice(&self.key).expect("HMAC takes any key length");
        mac.update(MAC_CONTEXT);
        mac.update(digest.as_bytes());
        mac.update(&self.engine_hash);
        mac.update(&(code.len() as u64).to_le_bytes());
        mac.update(code);
        mac
    }

    /// Checks the framing and the MAC of a cache file and returns the code in it.
    fn open_sealed(&self, digest: &Digest, mut bytes: Vec<u8>) -> Result<Vec<u8>, &'static str> {
        if bytes.len() < MAGIC.len() + MAC_LEN {
            return Err("the file is truncated");
        }
        if &bytes[..MAGIC.len()] != MAGIC {
            return Err("the file does not start with the cache magic");
        }
        let code = bytes.split_off(MAGIC.len() + MAC_LEN);
        let tag = &bytes[MAGIC.len()..];
        // `verify_slice` compares in constant time.
        self.keyed(digest, &code)
            .verify_slice(tag)
            .map_err(|_| "its MAC does not match")?;
        Ok(code)
    }
}

/// Reads the per-host cache key, creating it on first use. The key is only trusted if no
/// one but the owner can read or write it.
///
/// A key of the wrong length (a crash or a full disk left it empty or cut) is replaced:
/// it only authenticates this host's compiled code, so a new one costs a recompile of
/// what was cached, never a refused call. A key others may read is refused, not replaced:
/// someone may have forged entries under it.
fn load_or_create_key(path: &Path) -> Result<[u8; KEY_LEN], String> {
    match File::open(path) {
        Ok(file) => match read_key(file) {
            Ok(key) => Ok(key),
            Err(KeyProblem::Damaged(why)) => {
                tracing::warn!(path = %path.display(), %why, "the cache key is damaged: a new one replaces it (what was cached is compiled again)");
                replace_key(path)
            }
            Err(KeyProblem::Refused(why)) => Err(why),
        },
        Err(e) if e.kind() == io::ErrorKind::NotFound => create_key(path),
        Err(e) => Err(format!("cannot read: {e}")),
    }
}

/// Why a key file cannot be used.
enum KeyProblem {
    /// Not a key any more: replace it.
    Damaged(String),
    /// Not safe to use, nor to replace without an operator.
    Refused(String),
}

fn read_key(mut file: File) -> Result<[u8; KEY_LEN], KeyProblem> {
    let meta = file
        .metadata()
        .map_err(|e| KeyProblem::Refused(format!("cannot stat: {e}")))?;
    let mode = meta.permissions().mode();
    if mode & 0o077 != 0 {
        return Err(KeyProblem::Refused(format!(
            "permissions {:o} let others read or write the key; expected 600",
            mode & 0o777
        )));
    }
    if !meta.is_file() {
        return Err(KeyProblem::Refused("not a regular file".into()));
    }
    let mut key = [0u8; KEY_LEN];
    let mut rest = Vec::new();
    (&mut file)
        .take(KEY_LEN as u64 + 1)
        .read_to_end(&mut rest)
        .map_err(|e| KeyProblem::Refused(format!("cannot read: {e}")))?;
    if rest.len() != KEY_LEN {
        return Err(KeyProblem::Damaged(format!(
            "the key is {} bytes, expected {KEY_LEN}",
            meta.len()
        )));
    }
    key.copy_from_slice(&rest);
    Ok(key)
}

/// How a fresh key file takes its place.
#[derive(Clone, Copy)]
enum Placing {
    /// Hard-linked: a concurrent process either wins the race or reads the winner's key.
    IfAbsent,
    /// Renamed over a damaged key.
    Over,
}

/// A fresh key written to a private tmp file beside `path`, then put in place.
fn write_new_key(path: &Path, placing: Placing) -> Result<[u8; KEY_LEN], (io::Error, PathBuf)> {
    let mut key = [0u8; KEY_LEN];
    getrandom::fill(&mut key).map_err(|e| (io::Error::other(e.to_string()), PathBuf::new()))?;
    let dir = path.parent().unwrap_or(Path::new("."));
    let tmp = dir.join(format!(".tmp-{KEY_FILE}-{}", hex::encode(&key[..4])));
    let written = (|| {
        let mut file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&tmp)?;
        file.write_all(&key)?;
        file.sync_all()?;
        match placing {
            Placing::Over => fs::rename(&tmp, path)?,
            Placing::IfAbsent => {
                let linked = fs::hard_link(&tmp, path);
                fs::remove_file(&tmp)?;
                linked?;
            }
        }
        File::open(dir)?.sync_all()
    })();
    written.map(|()| key).map_err(|e| (e, tmp))
}

/// Writes a fresh key over a damaged one.
fn replace_key(path: &Path) -> Result<[u8; KEY_LEN], String> {
    write_new_key(path, Placing::Over).map_err(|(e, tmp)| {
        let _ = fs::remove_file(&tmp);
        format!("cannot replace the damaged key: {e}")
    })
}

/// Writes the first key, or reads the one a concurrent process wrote first.
fn create_key(path: &Path) -> Result<[u8; KEY_LEN], String> {
    let written = write_new_key(path, Placing::IfAbsent);
    match written {
        Ok(key) => Ok(key),
        Err((e, _)) if e.kind() == io::ErrorKind::AlreadyExists => {
            match read_key(File::open(path).map_err(|e| format!("cannot read: {e}"))?) {
                Ok(key) => Ok(key),
                Err(KeyProblem::Damaged(why) | KeyProblem::Refused(why)) => Err(why),
            }
        }
        Err((e, tmp)) => {
            let _ = fs::remove_file(&tmp);
            Err(format!("cannot create: {e}"))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cache(dir: &Path) -> CodeCache {
        CodeCache::open(dir, [7; 32]).unwrap()
    }

    #[test]
    fn code_round_trips_and_the_key_is_private_and_stable() {
        let dir = tempfile::tempdir().unwrap();
        let digest = Digest::of(b"package");
        let first = cache(dir.path());
        assert_eq!(first.read(&digest), None);
        first.write(&digest, b"compiled code").unwrap();

        let mode = fs::metadata(dir.path().join(KEY_FILE))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
        // A second opener reuses the key, so it accepts the first one's files.
        let second = cache(dir.path());
        assert_eq!(second.read(&digest).as_deref(), Some(&b"compiled code"[..]));
        assert!(
            second
                .path(&digest)
                .file_name()
                .unwrap()
                .to_str()
                .unwrap()
                .starts_with(&digest.to_hex())
        );
    }

    #[test]
    fn any_flipped_byte_or_truncation_is_refused_and_deleted() {
        let dir = tempfile::tempdir().unwrap();
        let digest = Digest::of(b"package");
        let cache = cache(dir.path());
        cache.write(&digest, b"compiled code").unwrap();
        let path = cache.path(&digest);
        let good = fs::read(&path).unwrap();
        for i in 0..good.len() {
            let mut bad = good.clone();
            bad[i] ^= 0x01;
            fs::write(&path, &bad).unwrap();
            assert_eq!(cache.read(&digest), None, "flipped byte {i} accepted");
            assert!(!path.exists(), "tampered file {i} was not deleted");
        }
        fs::write(&path, &good[..good.len() - 1]).unwrap();
        assert_eq!(cache.read(&digest), None);
        fs::write(&path, &good[..10]).unwrap();
        assert_eq!(cache.read(&digest), None);
        assert!(!path.exists());
    }

    #[test]
    fn code_is_bound_to_its_digest_engine_and_key() {
        let dir = tempfile::tempdir().unwrap();
        let (a, b) = (Digest::of(b"a"), Digest::of(b"b"));
        let cache = cache(dir.path());
        cache.write(&a, b"code of a").unwrap();
        // Renamed to another digest's name: refused.
        fs::copy(cache.path(&a), cache.path(&b)).unwrap();
        assert_eq!(cache.read(&b), None);
        // Another engine hash under the same key and path: refused.
        let other_engine = CodeCache {
            engine_hash: [8; 32],
            ..CodeCache::open(dir.path(), [7; 32]).unwrap()
        };
        fs::copy(cache.path(&a), other_engine.path(&a)).unwrap();
        assert_eq!(other_engine.read(&a), None);
        // Another host's key: refused.
        let other_key = tempfile::tempdir().unwrap();
        let stranger = CodeCache::open(other_key.path(), [7; 32]).unwrap();
        fs::copy(cache.path(&a), stranger.path(&a)).unwrap();
        assert_eq!(stranger.read(&a), None);
        assert_eq!(cache.read(&a).as_deref(), Some(&b"code of a"[..]));
    }

    #[test]
    fn a_key_others_can_read_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        cache(dir.path());
        let key = dir.path().join(KEY_FILE);
        fs::set_permissions(&key, fs::Permissions::from_mode(0o644)).unwrap();
        let err = CodeCache::open(dir.path(), [7; 32])
            .err()
            .unwrap()
            .to_string();
        assert!(err.contains("644"), "{err}");
    }

    #[test]
    fn an_empty_or_cut_key_is_replaced_and_a_key_others_may_read_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(KEY_FILE);
        let first = load_or_create_key(&path).unwrap();
        for damage in [&b""[..], &b"short"[..]] {
            std::fs::write(&path, damage).unwrap();
            let key = load_or_create_key(&path).unwrap();
            assert_ne!(key, first);
            assert_eq!(std::fs::read(&path).unwrap(), key);
            assert_eq!(
                std::fs::metadata(&path).unwrap().permissions().mode() & 0o777,
                0o600
            );
        }
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        let err = load_or_create_key(&path).unwrap_err();
        assert!(err.contains("let others read or write"), "{err}");
    }
}
