//! The signed, expiring index a fleet installs from (docs/architecture.md, "Fleet"): a
//! small format of Anya's own following TUF's rules, not TUF's whole role set.
//!
//! [`accept_release`] and [`accept_rollout`] are the host's only way in. In order: the
//! size cap before anything is parsed (endless data), the envelope's signatures against
//! the role's pinned keys and threshold, then against what this host accepted before: a
//! lower version is a rollback attack, the same version with other content an
//! equivocation; then the expiry (an expired document freezes the host: it keeps serving,
//! installs nothing new); for a rollout, that it belongs to the very release accepted (no
//! mix and match) and names only released, unrevoked versions.
//!
//! Pure: no I/O, the time is passed in.

pub mod documents;
pub mod envelope;

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

pub use documents::{
    RELEASE_TYPE, ROLLOUT_TYPE, Release, ReleaseRef, ReleasedPackage, RoleSpec, Rollout,
    RolloutState, Stage, in_cohort,
};
pub use envelope::{EnvelopeError, RoleKeys};

use crate::ids::Digest;

/// A signed index document is small; more is an attack (TUF's "endless data").
pub const MAX_DOCUMENT_BYTES: usize = 4 << 20;

/// Which document.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum DocumentKind {
    Release,
    Rollout,
}

impl DocumentKind {
    /// Its name where a registry keeps it: the file `<stem>.json` in a registry folder's
    /// index folder, the tag `<stem>` of an OCI registry's index repository.
    pub fn stem(self) -> &'static str {
        match self {
            Self::Release => "release",
            Self::Rollout => "rollout",
        }
    }

    /// The kind whose documents have `payload_type`.
    pub fn of_payload_type(payload_type: &str) -> Option<Self> {
        [Self::Release, Self::Rollout]
            .into_iter()
            .find(|kind| kind.payload_type() == payload_type)
    }

    /// The DSSE payload type of its documents.
    pub fn payload_type(self) -> &'static str {
        match self {
            Self::Release => RELEASE_TYPE,
            Self::Rollout => ROLLOUT_TYPE,
        }
    }
}

impl std::fmt::Display for DocumentKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Release => "release index",
            Self::Rollout => "rollout document",
        })
    }
}

/// What a host remembers of the last document of a kind it accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Seen {
    pub version: u64,
    /// sha256 of the signed payload.
    pub sha256: Digest,
}

/// A document that passed every check, and what to remember of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Accepted<T> {
    pub document: T,
    pub seen: Seen,
    /// The role whose keys signed it: for a release, who signs the next one unless it
    /// hands over (`release_signers`).
    pub signed_by: RoleKeys,
}

/// Why a document was refused. Each is an alert: the host keeps what it had.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IndexError {
    #[error(
        "the registry holds no {kind}; this host installs only what a signed index lists \
         (its trust store pins an index root)"
    )]
    Missing { kind: DocumentKind },
    #[error(
        "the release names rollout keys, but the registry holds no rollout document: this \
         host installs nothing new until the rollout controller signs one (`anya rollout \
         step` or `start`)"
    )]
    NoRollout,
    #[error("the {kind} is over the {cap}-byte cap")]
    TooLarge { kind: DocumentKind, cap: usize },
    #[error("the {kind}: {source}")]
    Signatures {
        kind: DocumentKind,
        #[source]
        source: EnvelopeError,
    },
    #[error("the {kind} is malformed: {reason}")]
    Malformed { kind: DocumentKind, reason: String },
    #[error(
        "the {kind} offered is version {offered}, older than version {seen} accepted before: \
         refused as a rollback attack"
    )]
    Rollback {
        kind: DocumentKind,
        seen: u64,
        offered: u64,
    },
    #[error(
        "the {kind} offered is version {version}, accepted before with other content: \
         refused as equivocation (two documents signed under one version)"
    )]
    Equivocation { kind: DocumentKind, version: u64 },
    #[error(
        "the {kind} version {version} expired at {expires}: nothing new is installed until \
         a fresh one is published (the host keeps serving)"
    )]
    Expired {
        kind: DocumentKind,
        version: u64,
        expires: Timestamp,
    },
    #[error(
        "the rollout document version {rollout} belongs to release {named_version} \
         ({named_hash}), not to the release accepted ({version} ({hash})): refused (mix and match)",
        named_version = named.version,
        named_hash = named.sha256.short(),
        version = accepted.version,
        hash = accepted.sha256.short()
    )]
    MixAndMatch {
        rollout: u64,
        named: ReleaseRef,
        accepted: ReleaseRef,
    },
    #[error(
        "the release index hands the signing of later releases to new keys, but is not \
         signed by them: {source}"
    )]
    Rotation {
        #[source]
        source: EnvelopeError,
    },
    #[error("the rollout document names {component} {version}, which the release {why}")]
    NotReleased {
        component: String,
        version: String,
        why: &'static str,
    },
}

/// The payload of a document of `kind` in `bytes`, its signatures checked, and what it is.
fn open_checked<T: serde::de::DeserializeOwned>(
    bytes: &[u8],
    kind: DocumentKind,
    keys: &RoleKeys,
) -> Result<(T, Digest), IndexError> {
    if bytes.len() > MAX_DOCUMENT_BYTES {
        return Err(IndexError::TooLarge {
            kind,
            cap: MAX_DOCUMENT_BYTES,
        });
    }
    let payload = envelope::open(bytes, kind.payload_type(), keys)
        .map_err(|source| IndexError::Signatures { kind, source })?;
    let document = serde_json::from_slice(&payload).map_err(|e| IndexError::Malformed {
        kind,
        reason: e.to_string(),
    })?;
    Ok((document, Digest::of(&payload)))
}

/// TUF's version rules against what this host accepted before.
fn check_fresh(
    kind: DocumentKind,
    version: u64,
    sha256: Digest,
    seen: Option<&Seen>,
) -> Result<(), IndexError> {
    match seen {
        Some(seen) if version < seen.version => Err(IndexError::Rollback {
            kind,
            seen: seen.version,
            offered: version,
        }),
        Some(seen) if version == seen.version && sha256 != seen.sha256 => {
            Err(IndexError::Equivocation { kind, version })
        }
        _ => Ok(()),
    }
}

fn check_unexpired(
    kind: DocumentKind,
    version: u64,
    expires: Timestamp,
    now: Timestamp,
) -> Result<(), IndexError> {
    if expires <= now {
        return Err(IndexError::Expired {
            kind,
            version,
            expires,
        });
    }
    Ok(())
}

/// Accepts `bytes` as the release index, or says why not.
///
/// `trusted` is who this host trusts to sign releases; when they did not sign this one,
/// the key hand-overs it carries (`rotation`) are followed from them, so a host that
/// missed a hand-over accepts what the new keys sign.
pub fn accept_release(
    bytes: &[u8],
    trusted: &RoleKeys,
    seen: Option<&Seen>,
    now: Timestamp,
) -> Result<Accepted<Release>, IndexError> {
    let kind = DocumentKind::Release;
    let (release, sha256, keys) = match open_checked::<Release>(bytes, kind, trusted) {
        Ok((release, sha256)) => (release, sha256, trusted.clone()),
        Err(IndexError::Signatures { .. }) => {
            let keys = release_role(bytes, trusted, MAX_ROTATIONS)?;
            let (release, sha256) = open_checked(bytes, kind, &keys)?;
            (release, sha256, keys)
        }
        Err(e) => return Err(e),
    };
    check_fresh(kind, release.version, sha256, seen)?;
    check_unexpired(kind, release.version, release.expires, now)?;
    check_roles(bytes, &release, &keys)?;
    Ok(Accepted {
        seen: Seen {
            version: release.version,
            sha256,
        },
        document: release,
        signed_by: keys,
    })
}

/// The roles a release names must be roles; and a release that hands the signing of
/// later releases to other keys must be signed by those too (TUF's root rotation: the old
/// keys vouch for the new, and the new prove they are held), so a typo cannot lock the
/// fleet out.
fn check_roles(bytes: &[u8], release: &Release, keys: &RoleKeys) -> Result<(), IndexError> {
    let kind = DocumentKind::Release;
    let malformed = |role: &str, reason: String| IndexError::Malformed {
        kind,
        reason: format!("{role}: {reason}"),
    };
    if let Some(spec) = &release.rollout_signers {
        spec.keys().map_err(|r| malformed("rollout_signers", r))?;
    }
    if let Some(spec) = &release.release_signers {
        let next = spec.keys().map_err(|r| malformed("release_signers", r))?;
        if *spec != RoleSpec::of(keys) {
            envelope::open(bytes, RELEASE_TYPE, &next)
                .map_err(|source| IndexError::Rotation { source })?;
        }
    }
    Ok(())
}

/// The most hand-overs of the offline keys a host follows in one go.
pub const MAX_ROTATIONS: usize = 16;

/// The role that signs the release in `bytes`, for a host that trusts `trusted`: that
/// role itself, or, when the release carries the hand-over (`rotation`) that this host
/// did not see, the keys that hand-over names, once `trusted` signed it (through at most
/// `depth` hand-overs before it) and the new keys did too. Signatures of `bytes` itself
/// are checked by the caller.
fn release_role(bytes: &[u8], trusted: &RoleKeys, depth: usize) -> Result<RoleKeys, IndexError> {
    let kind = DocumentKind::Release;
    if bytes.len() > MAX_DOCUMENT_BYTES {
        return Err(IndexError::TooLarge {
            kind,
            cap: MAX_DOCUMENT_BYTES,
        });
    }
    if envelope::open(bytes, RELEASE_TYPE, trusted).is_ok() {
        return Ok(trusted.clone());
    }
    // Read unverified only to find the hand-over; nothing in it is used unless signed.
    let Ok((_, payload)) = envelope::unverified_payload(bytes) else {
        return Ok(trusted.clone());
    };
    let Ok(release) = serde_json::from_slice::<Release>(&payload) else {
        return Ok(trusted.clone());
    };
    let Some(rotation) = release.rotation else {
        return Ok(trusted.clone());
    };
    if depth == 0 {
        return Err(IndexError::Malformed {
            kind,
            reason: format!("more than {MAX_ROTATIONS} key hand-overs in a chain"),
        });
    }
    use base64::Engine as _;
    let handover = base64::engine::general_purpose::STANDARD
        .decode(rotation.as_bytes())
        .map_err(|e| IndexError::Malformed {
            kind,
            reason: format!("rotation: {e}"),
        })?;
    let signer = release_role(&handover, trusted, depth - 1)?;
    let payload = envelope::open(&handover, RELEASE_TYPE, &signer)
        .map_err(|source| IndexError::Rotation { source })?;
    let handed: Release = serde_json::from_slice(&payload).map_err(|e| IndexError::Malformed {
        kind,
        reason: format!("rotation: {e}"),
    })?;
    let Some(next) = &handed.release_signers else {
        return Err(IndexError::Malformed {
            kind,
            reason: "rotation: the release it carries hands the signing to no one".into(),
        });
    };
    check_roles(&handover, &handed, &signer)?;
    next.keys().map_err(|reason| IndexError::Malformed {
        kind,
        reason: format!("rotation: release_signers: {reason}"),
    })
}

/// Accepts `bytes` as the rollout document over `release` (accepted just before), or says
/// why not.
pub fn accept_rollout(
    bytes: &[u8],
    keys: &RoleKeys,
    seen: Option<&Seen>,
    release: &Accepted<Release>,
    now: Timestamp,
) -> Result<Accepted<Rollout>, IndexError> {
    // A rollout never outlives its release: the online key cannot keep a frozen release
    // (and the revocations it lacks) alive.
    check_unexpired(
        DocumentKind::Release,
        release.seen.version,
        release.document.expires,
        now,
    )?;
    let kind = DocumentKind::Rollout;
    let (rollout, sha256): (Rollout, Digest) = open_checked(bytes, kind, keys)?;
    check_fresh(kind, rollout.version, sha256, seen)?;
    check_unexpired(kind, rollout.version, rollout.expires, now)?;
    let accepted = ReleaseRef {
        version: release.seen.version,
        sha256: release.seen.sha256,
    };
    if rollout.release != accepted {
        return Err(IndexError::MixAndMatch {
            rollout: rollout.version,
            named: rollout.release,
            accepted,
        });
    }
    for (name, stage) in &rollout.components {
        let released = &release.document;
        // Both must be installable: the offline keys' revocation outranks the online key.
        for version in std::iter::once(&stage.stable).chain(&stage.candidate) {
            if released.installable(name, version).is_none() {
                return Err(IndexError::NotReleased {
                    component: name.to_string(),
                    version: version.to_string(),
                    why: if released.is_revoked(name, version) {
                        "revoked"
                    } else {
                        "does not list"
                    },
                });
            }
        }
        if stage.basis_points > documents::ALL_HOSTS {
            return Err(IndexError::Malformed {
                kind,
                reason: format!(
                    "{name}: basis_points {} is over {}",
                    stage.basis_points,
                    documents::ALL_HOSTS
                ),
            });
        }
    }
    Ok(Accepted {
        seen: Seen {
            version: rollout.version,
            sha256,
        },
        document: rollout,
        signed_by: keys.clone(),
    })
}

#[cfg(test)]
mod tests;
