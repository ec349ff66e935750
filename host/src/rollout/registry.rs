//! The rollout documents in a registry: the current release and rollout as the
//! controller builds on them, and the next rollout sealed and pushed.

use crate::ids::{ComponentName, Digest};
use crate::index::envelope::{self, EnvelopeError};
use crate::index::{DocumentKind, ROLLOUT_TYPE, Release, ReleaseRef, RoleKeys, Rollout};
use crate::keys::SecretKey;
use crate::registry::{Registry, RegistryError};
use crate::release::{self, ReleaseError};
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
        "the rollout document in {registry} does not verify against the release's rollout \
         keys ({source}): the controller builds only on a document it can verify"
    )]
    Unverified {
        registry: String,
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
}

/// What the registry holds now, as the controller builds on it.
#[derive(Debug, Clone)]
pub struct Current {
    pub release: Release,
    /// The release's version and the sha256 of its payload, as a rollout must name it.
    pub release_ref: ReleaseRef,
    /// The rollout document, verified against the release's rollout keys.
    pub rollout: Option<Rollout>,
    pub signers: RoleKeys,
}

impl Current {
    /// Reads the release (the publisher's; its offline signatures are the hosts' to
    /// check) and the rollout document, which must verify against the release's rollout
    /// keys.
    pub fn read(registry: &dyn Registry) -> Result<Self, RolloutError> {
        let describe = || registry.describe();
        let (release, bytes) =
            release::current_release(registry)?.ok_or_else(|| RolloutError::NoRelease {
                registry: describe(),
            })?;
        let (_, payload) =
            envelope::unverified_payload(&bytes).map_err(|e| RolloutError::Malformed {
                registry: describe(),
                reason: e.to_string(),
            })?;
        let release_ref = ReleaseRef {
            version: release.version,
            sha256: Digest::of(&payload),
        };
        let signers = release
            .rollout_signers
            .as_ref()
            .ok_or_else(|| RolloutError::NoRolloutSigners {
                registry: describe(),
            })?
            .keys()
            .map_err(|reason| RolloutError::BadSigners { reason })?;
        let rollout = match registry.index_document(DocumentKind::Rollout)? {
            None => None,
            Some(bytes) => {
                let payload = envelope::open(&bytes, ROLLOUT_TYPE, &signers).map_err(|source| {
                    RolloutError::Unverified {
                        registry: describe(),
                        source,
                    }
                })?;
                Some(
                    serde_json::from_slice(&payload).map_err(|e| RolloutError::Malformed {
                        registry: describe(),
                        reason: e.to_string(),
                    })?,
                )
            }
        };
        Ok(Self {
            release,
            release_ref,
            rollout,
            signers,
        })
    }

    /// Refuses keys that are not the release's rollout keys.
    pub fn check_signers(&self, keys: &[&SecretKey]) -> Result<(), RolloutError> {
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
        }
        Ok(())
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
