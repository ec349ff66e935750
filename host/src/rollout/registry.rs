//! The rollout documents in a registry: the current release and rollout as the
//! controller builds on them, and the next rollout sealed and pushed.

use crate::ids::{ComponentName, Digest};
use crate::index::envelope::{self, EnvelopeError};
use crate::index::{DocumentKind, ROLLOUT_TYPE, Release, ReleaseRef, RoleKeys, Rollout};
use crate::keys::SecretKey;
use crate::registry::{Registry, RegistryError};
use crate::release::ReleaseError;
use semver::Version;

/// Why a rollout command could not go on.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RolloutError {
    #[error(transparent)]
    Registry(#[from] RegistryError),
    #[error(transparent)]
    Release(#[from] ReleaseError),
    #[error("{registry} holds no release index: publish one first (`anya index release`)")]
    NoRelease { registry: String },
    #[error(
        "the trust store pins no index root ([index] release_keys): the controller signs \
         only over a release it verified, as the hosts do"
    )]
    NoRoot,
    #[error("the release index in {registry} is refused: {source}")]
    ReleaseRefused {
        registry: String,
        #[source]
        source: Box<crate::index::IndexError>,
    },
    #[error(
        "the rollout document in {registry} changed while this command ran (it is version \
         {found} now, it was {read}): nothing was pushed; run the command again"
    )]
    Raced {
        registry: String,
        read: String,
        found: String,
    },
    #[error(
        "{given} distinct rollout key(s) given, the release asks for {threshold}: hosts \
         would refuse the document"
    )]
    UnderThreshold { given: usize, threshold: u32 },
    #[error(
        "the release index in {registry} names no rollout keys: publish a release with \
         --rollout-key first"
    )]
    NoRolloutSigners { registry: String },
    #[error("the release's rollout keys: {reason}")]
    BadSigners { reason: String },
    #[error(
        "key {key_id} is not one of the release's rollout keys ({allowed}): hosts would \
         refuse what it signs"
    )]
    NotASigner { key_id: String, allowed: String },
    #[error(
        "the rollout document in {registry} (version {version}) does not verify against the \
         release's rollout keys ({source}): the controller builds only on a document it can \
         verify; --reset signs a fresh one after it, pinning every component at its newest \
         release"
    )]
    Unverified {
        registry: String,
        version: String,
        #[source]
        source: EnvelopeError,
    },
    #[error("the rollout document in {registry} is not one: {reason}")]
    Malformed { registry: String, reason: String },
    #[error("{name} is already rolling {candidate} out: abort it or let it finish first")]
    InProgress {
        name: ComponentName,
        candidate: Version,
    },
    #[error("the current release does not give {name} {version} (not listed, or revoked)")]
    NotReleased {
        name: ComponentName,
        version: Version,
    },
    #[error("no released version of {name} below {candidate} to stay stable on: give --stable")]
    NoStable {
        name: ComponentName,
        candidate: Version,
    },
    #[error("{name}: the candidate {candidate} is not above the stable {stable}")]
    NotAbove {
        name: ComponentName,
        candidate: Version,
        stable: Version,
    },
    #[error("{name} has no rollout under way (none started, finished, or aborted)")]
    NoActiveRollout { name: ComponentName },
    #[error("the rollout document's version cannot grow any more (it is at the maximum)")]
    VersionsExhausted,
}

/// What the registry holds now, as the controller builds on it.
#[derive(Debug, Clone)]
pub struct Current {
    pub release: Release,
    /// The release's version and the sha256 of its payload, as a rollout must name it.
    pub release_ref: ReleaseRef,
    /// The rollout document, verified against the release's rollout keys.
    pub rollout: Option<Rollout>,
    /// The version of the rollout document in the registry, verified or not: the next one
    /// is numbered after it, so hosts never see a version go back.
    pub rollout_version: Option<u64>,
    /// The sha256 of the rollout envelope read, to notice another command's push.
    pub rollout_sha256: Option<Digest>,
    pub signers: RoleKeys,
}

/// How [`Current::read`] treats a rollout document that does not verify.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unverified {
    Refuse,
    /// Build a fresh document after it (`--reset`).
    StartAfter,
}

impl Current {
    /// Reads the release, verified against the pinned index `root` as a host would at
    /// `now` (following key hand-overs), and the rollout document, which must verify
    /// against the release's rollout keys.
    pub fn read(
        registry: &dyn Registry,
        root: &RoleKeys,
        now: jiff::Timestamp,
        unverified: Unverified,
    ) -> Result<Self, RolloutError> {
        let describe = || registry.describe();
        let bytes = registry
            .index_document(DocumentKind::Release)?
            .ok_or_else(|| RolloutError::NoRelease {
                registry: describe(),
            })?;
        let accepted = crate::index::accept_release(&bytes, root, None, now).map_err(|e| {
            RolloutError::ReleaseRefused {
                registry: describe(),
                source: Box::new(e),
            }
        })?;
        let release_ref = ReleaseRef {
            version: accepted.seen.version,
            sha256: accepted.seen.sha256,
        };
        let release = accepted.document;
        let signers = release
            .rollout_signers
            .as_ref()
            .ok_or_else(|| RolloutError::NoRolloutSigners {
                registry: describe(),
            })?
            .keys()
            .map_err(|reason| RolloutError::BadSigners { reason })?;
        let (rollout, rollout_version, rollout_sha256) =
            match registry.index_document(DocumentKind::Rollout)? {
                None => (None, None, None),
                Some(bytes) => {
                    let (rollout, version) = read_rollout(&bytes, &signers, unverified, &describe)?;
                    (rollout, Some(version), Some(Digest::of(&bytes)))
                }
            };
        Ok(Self {
            release,
            release_ref,
            rollout,
            rollout_version,
            rollout_sha256,
            signers,
        })
    }

    /// Refuses keys that are not the release's rollout keys, or too few of them.
    pub fn check_signers(&self, keys: &[&SecretKey]) -> Result<(), RolloutError> {
        let mut distinct = Vec::new();
        for key in keys {
            let public = key.public();
            if !self.signers.keys.contains(&public) {
                return Err(RolloutError::NotASigner {
                    key_id: public.key_id().to_string(),
                    allowed: self
                        .signers
                        .keys
                        .iter()
                        .map(|k| k.key_id().to_string())
                        .collect::<Vec<_>>()
                        .join(", "),
                });
            }
            if !distinct.contains(&public) {
                distinct.push(public);
            }
        }
        if distinct.len() < self.signers.threshold as usize {
            return Err(RolloutError::UnderThreshold {
                given: distinct.len(),
                threshold: self.signers.threshold,
            });
        }
        Ok(())
    }

    /// Refuses to push when the registry's rollout document is no longer the one read.
    pub fn check_unchanged(&self, registry: &dyn Registry) -> Result<(), RolloutError> {
        let now = registry.index_document(DocumentKind::Rollout)?;
        let now_sha = now.as_deref().map(Digest::of);
        if now_sha == self.rollout_sha256 {
            return Ok(());
        }
        let version_of = |bytes: Option<&[u8]>| {
            bytes
                .and_then(|b| envelope::unverified_payload(b).ok())
                .and_then(|(_, p)| serde_json::from_slice::<Rollout>(&p).ok())
                .map_or("none".to_owned(), |r| r.version.to_string())
        };
        Err(RolloutError::Raced {
            registry: registry.describe(),
            read: self
                .rollout_version
                .map_or("none".to_owned(), |v| v.to_string()),
            found: version_of(now.as_deref()),
        })
    }
}

/// The rollout document in `bytes` (when it verifies, or `None` under
/// [`Unverified::StartAfter`]) and its version.
fn read_rollout(
    bytes: &[u8],
    signers: &RoleKeys,
    unverified: Unverified,
    describe: &dyn Fn() -> String,
) -> Result<(Option<Rollout>, u64), RolloutError> {
    let malformed = |reason: String| RolloutError::Malformed {
        registry: describe(),
        reason,
    };
    match envelope::open(bytes, ROLLOUT_TYPE, signers) {
        Ok(payload) => {
            let rollout: Rollout =
                serde_json::from_slice(&payload).map_err(|e| malformed(e.to_string()))?;
            let version = rollout.version;
            Ok((Some(rollout), version))
        }
        Err(source) => {
            let version = envelope::unverified_payload(bytes)
                .ok()
                .and_then(|(_, p)| serde_json::from_slice::<serde_json::Value>(&p).ok())
                .and_then(|v| v["version"].as_u64());
            match (unverified, version) {
                (Unverified::StartAfter, Some(version)) => Ok((None, version)),
                (Unverified::StartAfter, None) => Err(malformed(format!(
                    "it does not verify ({source}) and names no version to start after"
                ))),
                (Unverified::Refuse, _) => Err(RolloutError::Unverified {
                    registry: describe(),
                    version: version.map_or("unknown".to_owned(), |v| v.to_string()),
                    source,
                }),
            }
        }
    }
}

/// `rollout` sealed by `keys` and pushed into `registry`; where it went.
pub fn publish(
    registry: &dyn Registry,
    rollout: &Rollout,
    keys: &[&SecretKey],
) -> Result<String, RolloutError> {
    let payload = serde_json::to_vec_pretty(rollout).expect("a rollout serializes");
    let sealed = envelope::seal(ROLLOUT_TYPE, &payload, keys);
    Ok(registry.publish_index_document(DocumentKind::Rollout, &sealed)?)
}
