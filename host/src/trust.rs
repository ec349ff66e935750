//! The trust store: which ed25519 keys the operator trusts, which component names each key
//! may sign, and how many distinct trusted keys a name needs.
//!
//! A TOML file:
//!
//! ```toml
//! [[key]]
//! name = "release"                        # a label for messages
//! public_key = "<64 hex digits>"          # ed25519
//! may_sign = ["bech32", "bip*-vectors"]   # globs over component names (`*` and `?`)
//!
//! [[threshold]]
//! names = "bech32"                        # a glob
//! signatures = 2                          # distinct trusted keys needed (default 1)
//!
//! [index]                                 # optional: install only what a signed index lists
//! release_keys = ["<hex>", "<hex>"]       # the publisher's offline keys (ed25519)
//! release_threshold = 2                   # distinct keys needed (default 1)
//! ```
//!
//! With `[index]`, the root of the signed index ([`crate::index`]) is pinned here: the
//! host installs only what a release index signed by `release_threshold` of
//! `release_keys` lists. Later rotations of those keys, and the rollout key, come signed
//! in the index itself.
//!
//! Invariants of a loaded [`TrustStore`]: no weak or invalid key, no key or label twice,
//! every glob non-empty and made of name characters, `*` and `?`, every threshold at least 1.
//! Errors name the offending entry and its line and column.

use std::collections::HashSet;
use std::fmt;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use toml::Spanned;

use crate::ids::{ComponentName, KeyId};
use crate::index::RoleKeys;
use crate::keys::PublicKey;

/// The largest trust store file read, in bytes.
pub const MAX_TRUST_STORE_LEN: u64 = 1024 * 1024;

/// The largest threshold accepted (more than any package may carry signatures).
pub const MAX_THRESHOLD: u32 = crate::signature::MAX_SIGNATURES as u32;

/// Why a trust store is refused.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TrustError {
    /// The file cannot be read.
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// The file is over [`MAX_TRUST_STORE_LEN`].
    #[error("{path}: {len} bytes, over the {MAX_TRUST_STORE_LEN}-byte cap for a trust store")]
    TooLarge { path: PathBuf, len: u64 },
    /// Not valid TOML, an unknown field, or a wrong type.
    #[error("line {line}, column {column}: {message}")]
    Syntax {
        line: usize,
        column: usize,
        message: String,
    },
    /// An entry breaks a rule.
    #[error("line {line}, column {column}: {entry}: {reason}")]
    Invalid {
        line: usize,
        column: usize,
        /// `key "release"` or `threshold #1`.
        entry: String,
        reason: String,
    },
    /// Loading a file failed; the file is named around the reason.
    #[error("{path}: {source}")]
    InFile {
        path: PathBuf,
        #[source]
        source: Box<TrustError>,
    },
}

/// One trusted key.
#[derive(Debug, Clone)]
pub struct TrustedKey {
    /// The label from the file, for messages.
    pub name: String,
    pub key: PublicKey,
    /// Globs over the component names this key may sign.
    pub may_sign: Vec<String>,
}

impl TrustedKey {
    pub fn key_id(&self) -> KeyId {
        self.key.key_id()
    }

    /// Whether this key may sign `name`.
    pub fn may_sign(&self, name: &ComponentName) -> bool {
        self.may_sign.iter().any(|g| glob_match(g, name.as_str()))
    }
}

impl fmt::Display for TrustedKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.key_id(), self.name)
    }
}

/// A rule: names matching `names` need `signatures` distinct trusted keys.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Threshold {
    pub names: String,
    pub signatures: u32,
}

/// The loaded, validated trust store.
#[derive(Debug, Clone, Default)]
pub struct TrustStore {
    keys: Vec<TrustedKey>,
    thresholds: Vec<Threshold>,
    index_root: Option<RoleKeys>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    #[serde(default)]
    key: Vec<Spanned<KeyEntry>>,
    #[serde(default)]
    threshold: Vec<Spanned<ThresholdEntry>>,
    index: Option<Spanned<IndexEntry>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct IndexEntry {
    release_keys: Spanned<Vec<Spanned<String>>>,
    #[serde(default = "one")]
    release_threshold: Spanned<i64>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct KeyEntry {
    name: Spanned<String>,
    public_key: Spanned<String>,
    may_sign: Spanned<Vec<Spanned<String>>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ThresholdEntry {
    names: Spanned<String>,
    #[serde(default = "one")]
    signatures: Spanned<i64>,
}

fn one() -> Spanned<i64> {
    Spanned::new(0..0, 1)
}

impl TrustStore {
    /// Parses and validates the TOML text of a trust store.
    pub fn parse(text: &str) -> Result<Self, TrustError> {
        let file: File = toml::from_str(text).map_err(|e| {
            let (line, column) = e
                .span()
                .map_or((1, 1), |span| line_column(text, span.start));
            TrustError::Syntax {
                line,
                column,
                message: e.message().trim().to_owned(),
            }
        })?;
        let invalid = |span: std::ops::Range<usize>, entry: &str, reason: String| {
            let (line, column) = line_column(text, span.start);
            TrustError::Invalid {
                line,
                column,
                entry: entry.to_owned(),
                reason,
            }
        };

        let mut keys = Vec::with_capacity(file.key.len());
        let mut seen_keys = HashSet::new();
        let mut seen_names = HashSet::new();
        for (i, entry) in file.key.into_iter().enumerate() {
            let entry = entry.into_inner();
            let label = entry.name.get_ref().clone();
            let what = format!("key #{} {label:?}", i + 1);
            if label.trim().is_empty() {
                return Err(invalid(
                    entry.name.span(),
                    &what,
                    "the name is empty".into(),
                ));
            }
            if !seen_names.insert(label.clone()) {
                return Err(invalid(
                    entry.name.span(),
                    &what,
                    "another key already has this name".into(),
                ));
            }
            let key = PublicKey::from_hex(entry.public_key.get_ref())
                .map_err(|e| invalid(entry.public_key.span(), &what, e.to_string()))?;
            if !seen_keys.insert(*key.as_bytes()) {
                return Err(invalid(
                    entry.public_key.span(),
                    &what,
                    format!("key {} is listed twice", key.key_id()),
                ));
            }
            let globs_span = entry.may_sign.span();
            let globs = entry.may_sign.into_inner();
            if globs.is_empty() {
                return Err(invalid(
                    globs_span,
                    &what,
                    "may_sign is empty: the key could sign nothing".into(),
                ));
            }
            let mut may_sign = Vec::with_capacity(globs.len());
            for glob in globs {
                check_glob(glob.get_ref()).map_err(|r| invalid(glob.span(), &what, r))?;
                may_sign.push(glob.into_inner());
            }
            keys.push(TrustedKey {
                name: label,
                key,
                may_sign,
            });
        }

        let mut thresholds = Vec::with_capacity(file.threshold.len());
        for (i, entry) in file.threshold.into_iter().enumerate() {
            let entry_span = entry.span();
            let entry = entry.into_inner();
            let what = format!("threshold #{} {:?}", i + 1, entry.names.get_ref());
            check_glob(entry.names.get_ref()).map_err(|r| invalid(entry.names.span(), &what, r))?;
            let n = *entry.signatures.get_ref();
            let span = if entry.signatures.span().is_empty() {
                entry_span
            } else {
                entry.signatures.span()
            };
            if n < 1 {
                return Err(invalid(
                    span,
                    &what,
                    format!("signatures = {n}: at least 1 is required"),
                ));
            }
            if n > i64::from(MAX_THRESHOLD) {
                return Err(invalid(
                    span,
                    &what,
                    format!("signatures = {n}: over the cap of {MAX_THRESHOLD}"),
                ));
            }
            thresholds.push(Threshold {
                names: entry.names.into_inner(),
                signatures: n as u32,
            });
        }
        let index_root = match file.index {
            Some(entry) => Some(index_root(entry, &invalid)?),
            None => None,
        };
        Ok(Self {
            keys,
            thresholds,
            index_root,
        })
    }

    /// Reads and parses a trust store file (at most [`MAX_TRUST_STORE_LEN`] bytes).
    pub fn load(path: &Path) -> Result<Self, TrustError> {
        use std::io::Read;
        let io = |source| TrustError::Io {
            path: path.to_owned(),
            source,
        };
        let (file, _) =
            crate::files::open_regular(path, crate::files::Links::Follow).map_err(io)?;
        let mut text = String::new();
        file.take(MAX_TRUST_STORE_LEN + 1)
            .read_to_string(&mut text)
            .map_err(io)?;
        if text.len() as u64 > MAX_TRUST_STORE_LEN {
            return Err(TrustError::TooLarge {
                path: path.to_owned(),
                len: text.len() as u64,
            });
        }
        Self::parse(&text).map_err(|e| TrustError::InFile {
            path: path.to_owned(),
            source: Box::new(e),
        })
    }

    /// The pinned root of the signed index, if this host installs only what one lists.
    pub fn index_root(&self) -> Option<&RoleKeys> {
        self.index_root.as_ref()
    }

    /// Every trusted key, in file order.
    pub fn keys(&self) -> impl Iterator<Item = &TrustedKey> {
        self.keys.iter()
    }

    pub fn thresholds(&self) -> &[Threshold] {
        &self.thresholds
    }

    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// The trusted key with Anya's id `id`.
    pub fn get(&self, id: &KeyId) -> Option<&TrustedKey> {
        self.keys.iter().find(|k| k.key_id() == *id)
    }

    /// The trusted key a signature's `key_id` field names (it holds the key's [`KeyId`],
    /// as Anya and `wasmsign2` write it). `None` for an empty or unknown id.
    pub fn by_signature_key_id(&self, key_id: &[u8]) -> Option<&TrustedKey> {
        let id = KeyId::from_bytes(key_id.try_into().ok()?);
        self.get(&id)
    }

    /// Whether the trusted key `id` may sign `name` (false for an unknown key).
    pub fn may_sign(&self, id: &KeyId, name: &ComponentName) -> bool {
        self.get(id).is_some_and(|k| k.may_sign(name))
    }

    /// How many distinct trusted keys must sign `name`: the largest of the matching rules,
    /// 1 when none matches.
    pub fn threshold(&self, name: &ComponentName) -> usize {
        self.thresholds
            .iter()
            .filter(|t| glob_match(&t.names, name.as_str()))
            .map(|t| t.signatures as usize)
            .max()
            .unwrap_or(1)
    }
}

/// The `[index]` table as a role: valid distinct keys, a threshold they can meet.
fn index_root(
    entry: Spanned<IndexEntry>,
    invalid: &impl Fn(std::ops::Range<usize>, &str, String) -> TrustError,
) -> Result<RoleKeys, TrustError> {
    let span = entry.span();
    let entry = entry.into_inner();
    let what = "[index]";
    let mut keys: Vec<PublicKey> = Vec::new();
    for hex in entry.release_keys.get_ref() {
        let key = PublicKey::from_hex(hex.get_ref())
            .map_err(|e| invalid(hex.span(), what, format!("release_keys: {e}")))?;
        if keys.contains(&key) {
            return Err(invalid(
                hex.span(),
                what,
                format!("release_keys: key {} is listed twice", key.key_id()),
            ));
        }
        keys.push(key);
    }
    if keys.is_empty() {
        return Err(invalid(
            entry.release_keys.span(),
            what,
            "release_keys is empty: no release could be accepted".into(),
        ));
    }
    let n = *entry.release_threshold.get_ref();
    let n_span = if entry.release_threshold.span().is_empty() {
        span
    } else {
        entry.release_threshold.span()
    };
    if n < 1 || n > keys.len() as i64 {
        return Err(invalid(
            n_span,
            what,
            format!(
                "release_threshold = {n}: it must be 1 to the number of release_keys ({})",
                keys.len()
            ),
        ));
    }
    Ok(RoleKeys {
        keys,
        threshold: n as u32,
    })
}

/// A glob is non-empty and made of component-name characters, `*` and `?`; anything else
/// could never match a name and is a mistake.
fn check_glob(glob: &str) -> Result<(), String> {
    if glob.is_empty() {
        return Err("an empty glob matches no name".into());
    }
    if glob.len() > 255 {
        return Err("a glob is longer than 255 bytes".into());
    }
    if let Some(c) = glob
        .chars()
        .find(|c| !matches!(c, 'a'..='z' | '0'..='9' | '-' | '*' | '?'))
    {
        return Err(format!(
            "glob {glob:?} contains {c:?}: only a-z, 0-9, '-', '*' and '?' can match a component name"
        ));
    }
    Ok(())
}

/// `*` matches any run of characters (also none), `?` exactly one; everything else itself.
/// Iterative with one backtrack point, so it is linear-ish and never recurses.
pub fn glob_match(glob: &str, name: &str) -> bool {
    let (g, n) = (glob.as_bytes(), name.as_bytes());
    let (mut gi, mut ni) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while ni < n.len() {
        if gi < g.len() && (g[gi] == b'?' || g[gi] == n[ni]) {
            gi += 1;
            ni += 1;
        } else if gi < g.len() && g[gi] == b'*' {
            star = Some((gi, ni));
            gi += 1;
        } else if let Some((sg, sn)) = star {
            // Let the last `*` swallow one more character and retry.
            gi = sg + 1;
            ni = sn + 1;
            star = Some((sg, sn + 1));
        } else {
            return false;
        }
    }
    g[gi..].iter().all(|&c| c == b'*')
}

/// 1-based line and column (in characters) of byte `offset` in `text`.
fn line_column(text: &str, offset: usize) -> (usize, usize) {
    let offset = offset.min(text.len());
    let before = text.get(..offset).unwrap_or(text);
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    (line, before[line_start..].chars().count() + 1)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::SecretKey;

    fn name(s: &str) -> ComponentName {
        ComponentName::parse(s).unwrap()
    }

    fn pk(seed: u8) -> String {
        SecretKey::from_seed([seed; 32]).public().to_hex()
    }

    #[test]
    fn globs_match_like_a_shell() {
        for (g, n) in [
            ("bech32", "bech32"),
            ("*", "x"),
            ("bip*-vectors", "bip173-vectors"),
            ("bip*-vectors", "bip-vectors"),
            ("bitcoin-*", "bitcoin-"),
            ("b?ch32", "bech32"),
            ("*a*b*c", "xxaxbyyc"),
            ("**", "a"),
        ] {
            assert!(glob_match(g, n), "{g} should match {n}");
        }
        for (g, n) in [
            ("bech32", "bech3"),
            ("bech32", "bech322"),
            ("bip*-vectors", "bip173-vector"),
            ("?", ""),
            ("?", "ab"),
            ("bitcoin-*", "bitcoin"),
            ("*a*b*c", "xxaxbyy"),
        ] {
            assert!(!glob_match(g, n), "{g} should not match {n}");
        }
    }

    #[test]
    fn loads_keys_scopes_and_thresholds() {
        let text = format!(
            r#"
[[key]]
name = "release"
public_key = "{}"
may_sign = ["bech32", "bip*-vectors"]

[[key]]
name = "second"
public_key = "{}"
may_sign = ["*"]

[[threshold]]
names = "bech32"
signatures = 2

[[threshold]]
names = "b*"
signatures = 3

[[threshold]]
names = "bip*"
"#,
            pk(1),
            pk(2)
        );
        let store = TrustStore::parse(&text).unwrap();
        let release = SecretKey::from_seed([1; 32]).public();
        let second = SecretKey::from_seed([2; 32]).public();
        assert_eq!(store.keys().count(), 2);
        assert_eq!(store.get(&release.key_id()).unwrap().name, "release");
        assert_eq!(
            store
                .by_signature_key_id(&second.signature_key_id())
                .unwrap()
                .name,
            "second"
        );
        assert_eq!(
            store
                .by_signature_key_id(release.key_id().as_bytes())
                .unwrap()
                .name,
            "release"
        );
        assert!(store.by_signature_key_id(&[]).is_none());
        assert!(store.may_sign(&release.key_id(), &name("bip350-vectors")));
        assert!(!store.may_sign(&release.key_id(), &name("bitcoin-x")));
        assert!(store.may_sign(&second.key_id(), &name("bitcoin-x")));
        let unknown = SecretKey::from_seed([3; 32]).key_id();
        assert!(!store.may_sign(&unknown, &name("bech32")));
        // The largest matching rule wins; no rule means 1.
        assert_eq!(store.threshold(&name("bech32")), 3);
        assert_eq!(store.threshold(&name("bip173-vectors")), 3);
        assert_eq!(store.threshold(&name("other")), 1);
    }

    fn error_of(text: &str) -> String {
        TrustStore::parse(text).unwrap_err().to_string()
    }

    #[test]
    fn refuses_bad_entries_naming_them() {
        // Weak key: the identity point.
        let mut identity = [0u8; 32];
        identity[0] = 1;
        let err = error_of(&format!(
            "[[key]]\nname = \"weak\"\npublic_key = \"{}\"\nmay_sign = [\"*\"]\n",
            hex::encode(identity)
        ));
        assert!(
            err.contains("line 3") && err.contains("\"weak\"") && err.contains("weak ed25519"),
            "{err}"
        );

        let err = error_of(&format!(
            "[[key]]\nname = \"a\"\npublic_key = \"{0}\"\nmay_sign = [\"*\"]\n\
             [[key]]\nname = \"b\"\npublic_key = \"{0}\"\nmay_sign = [\"*\"]\n",
            pk(1)
        ));
        assert!(
            err.contains("line 7") && err.contains("listed twice"),
            "{err}"
        );

        let err = error_of(&format!(
            "[[key]]\nname = \"a\"\npublic_key = \"{}\"\nmay_sign = [\"ok\", \"\"]\n",
            pk(1)
        ));
        assert!(
            err.contains("line 4") && err.contains("empty glob"),
            "{err}"
        );

        let err = error_of(&format!(
            "[[key]]\nname = \"a\"\npublic_key = \"{}\"\nmay_sign = []\n",
            pk(1)
        ));
        assert!(err.contains("may_sign is empty"), "{err}");

        let err = error_of(&format!(
            "[[key]]\nname = \"a\"\npublic_key = \"{}\"\nmay_sign = [\"Bech32\"]\n",
            pk(1)
        ));
        assert!(err.contains("'B'"), "{err}");

        let err = error_of("[[threshold]]\nnames = \"bech32\"\nsignatures = 0\n");
        assert!(
            err.contains("line 3") && err.contains("threshold #1") && err.contains("at least 1"),
            "{err}"
        );

        let err = error_of("[[threshold]]\nnames = \"\"\n");
        assert!(err.contains("empty glob"), "{err}");

        let err = error_of(&format!(
            "[[key]]\nname = \"a\"\npublic_key = \"{}\"\nmay_sign = [\"*\"]\nsurprise = 1\n",
            pk(1)
        ));
        assert!(err.contains("line 5") && err.contains("surprise"), "{err}");

        let err = error_of("[[key]]\nname = \"a\"\npublic_key = \"zz\"\nmay_sign = [\"*\"]\n");
        assert!(err.contains("64 hex digits"), "{err}");
    }

    #[test]
    fn load_names_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("trust.toml");
        std::fs::write(&path, "[[threshold]]\nnames = \"x\"\nsignatures = 0\n").unwrap();
        let err = TrustStore::load(&path).unwrap_err().to_string();
        assert!(
            err.contains("trust.toml") && err.contains("line 3"),
            "{err}"
        );
        std::fs::write(&path, "").unwrap();
        assert!(TrustStore::load(&path).unwrap().is_empty());
    }

    #[test]
    fn pins_the_index_root_and_refuses_one_that_cannot_sign() {
        let text = format!(
            "[index]\nrelease_keys = [\"{}\", \"{}\"]\nrelease_threshold = 2\n",
            pk(1),
            pk(2)
        );
        let store = TrustStore::parse(&text).unwrap();
        let root = store.index_root().unwrap();
        assert_eq!(root.threshold, 2);
        assert_eq!(root.keys.len(), 2);
        assert!(TrustStore::parse("").unwrap().index_root().is_none());

        for (text, reason) in [
            (
                format!(
                    "[index]\nrelease_keys = [\"{}\"]\nrelease_threshold = 2",
                    pk(1)
                ),
                "release_threshold = 2: it must be 1 to the number of release_keys (1)",
            ),
            (
                "[index]\nrelease_keys = []".to_owned(),
                "release_keys is empty",
            ),
            (
                format!("[index]\nrelease_keys = [\"{0}\", \"{0}\"]", pk(1)),
                "is listed twice",
            ),
            (
                "[index]\nrelease_keys = [\"zz\"]".to_owned(),
                "release_keys:",
            ),
        ] {
            let err = TrustStore::parse(&text).unwrap_err().to_string();
            assert!(err.contains("[index]") && err.contains(reason), "{err}");
        }
    }
}
