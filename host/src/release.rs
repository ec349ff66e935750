//! The publisher's side of the signed index (`anya index …`): what a registry holds,
//! verified, listed in a release document and signed; and signatures added to, and
//! documents pushed into, a registry.
//!
//! Hosts never use this module: they accept documents only through [`crate::index`].

use std::collections::{BTreeMap, BTreeSet};

use jiff::Timestamp;
use semver::Version;

use crate::ids::{ComponentName, Digest};
use crate::index::envelope::{self, EnvelopeError};
use crate::index::{DocumentKind, RELEASE_TYPE, ROLLOUT_TYPE, Release, ReleasedPackage, RoleSpec};
use crate::keys::SecretKey;
use crate::package::{self, PackageError};
use crate::registry::{Registry, RegistryError};
use crate::trust::TrustStore;

/// Why a release could not be made or a document pushed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ReleaseError {
    #[error(transparent)]
    Registry(#[from] RegistryError),
    #[error("{source_path}: {label} does not verify, so it cannot be released: {reason}")]
    Unverified {
        source_path: String,
        /// `NAME VERSION`.
        label: String,
        #[source]
        reason: Box<PackageError>,
    },
    #[error("{source_path} holds {found}, not {expected}")]
    Mismatch {
        source_path: String,
        expected: String,
        found: String,
    },
    #[error("the {what}: {source}")]
    Envelope {
        what: String,
        #[source]
        source: EnvelopeError,
    },
    #[error("the {what} is not a document of the signed index: {reason}")]
    NotADocument { what: String, reason: String },
    #[error(
        "release version {asked} is not above version {previous} already in the registry: \
         hosts that accepted {previous} would refuse it as a rollback"
    )]
    NotNewer { asked: u64, previous: u64 },
    #[error("cannot revoke {name} {version}: the registry holds no such package")]
    UnknownRevocation {
        name: ComponentName,
        version: Version,
    },
    #[error("{role}: {reason}")]
    Role { role: &'static str, reason: String },
}

/// What a new release says besides the registry's packages.
#[derive(Debug, Clone)]
pub struct ReleaseRequest {
    pub expires: Timestamp,
    /// Its version; the registry's current release version + 1 when `None`.
    pub version: Option<u64>,
    /// Versions to revoke, besides those the current release revokes.
    pub revoke: Vec<(ComponentName, Version)>,
    /// Who signs rollout documents; the current release's signers when `None`.
    pub rollout_signers: Option<RoleSpec>,
    /// Hands the signing of later releases to these keys (they must sign this one too).
    pub release_signers: Option<RoleSpec>,
}

/// The release the registry's packages make under `request`: every package verified
/// against `trust`, listed with its sha256, length and OCI digest.
pub fn draft_release(
    registry: &dyn Registry,
    trust: &TrustStore,
    request: ReleaseRequest,
    max_package_bytes: u64,
) -> Result<Release, ReleaseError> {
    let current = current_release(registry)?;
    let rotation = current.as_ref().and_then(|(release, bytes)| {
        // A release that handed over is carried whole by every later one; before any
        // hand-over there is nothing to carry.
        if release.release_signers.is_some() {
            use base64::Engine as _;
            Some(base64::engine::general_purpose::STANDARD.encode(bytes))
        } else {
            release.rotation.clone()
        }
    });
    let previous = current.map(|(release, _)| release);
    let version = next_version(previous.as_ref(), request.version)?;
    let components = list_packages(registry, trust, max_package_bytes)?;
    let mut revoked: BTreeMap<ComponentName, BTreeSet<Version>> = previous
        .as_ref()
        .map(|p| p.revoked.clone())
        .unwrap_or_default();
    for (name, v) in request.revoke {
        if !components.get(&name).is_some_and(|c| c.contains_key(&v)) {
            return Err(ReleaseError::UnknownRevocation { name, version: v });
        }
        revoked.entry(name).or_default().insert(v);
    }
    for (role, spec) in [
        ("rollout_signers", &request.rollout_signers),
        ("release_signers", &request.release_signers),
    ] {
        if let Some(spec) = spec {
            spec.keys()
                .map_err(|reason| ReleaseError::Role { role, reason })?;
        }
    }
    Ok(Release {
        version,
        expires: request.expires,
        components,
        revoked,
        rollout_signers: request
            .rollout_signers
            .or_else(|| previous.and_then(|p| p.rollout_signers)),
        release_signers: request.release_signers,
        rotation,
    })
}

/// `release` in an envelope signed by each of `keys`.
pub fn seal_release(release: &Release, keys: &[&SecretKey]) -> Vec<u8> {
    let payload = serde_json::to_vec_pretty(release).expect("a release serializes");
    envelope::seal(RELEASE_TYPE, &payload, keys)
}

/// Which document `envelope` holds (signatures not checked: the hosts do that).
pub fn kind_of(envelope: &[u8], what: &str) -> Result<DocumentKind, ReleaseError> {
    let (payload_type, _) =
        envelope::unverified_payload(envelope).map_err(|source| ReleaseError::Envelope {
            what: what.to_owned(),
            source,
        })?;
    DocumentKind::of_payload_type(&payload_type).ok_or_else(|| ReleaseError::NotADocument {
        what: what.to_owned(),
        reason: format!(
            "its payload type is {:?}, not {RELEASE_TYPE} or {ROLLOUT_TYPE}",
            payload_type.chars().take(100).collect::<String>()
        ),
    })
}

/// The release document the registry holds now and its envelope, read without checking
/// its signatures (the publisher only needs its version, revocations, signers and
/// hand-overs); `None` if none.
pub fn current_release(
    registry: &dyn Registry,
) -> Result<Option<(Release, Vec<u8>)>, ReleaseError> {
    let what = format!("release index in {}", registry.describe());
    let Some(bytes) = registry.index_document(DocumentKind::Release)? else {
        return Ok(None);
    };
    let (_, payload) =
        envelope::unverified_payload(&bytes).map_err(|source| ReleaseError::Envelope {
            what: what.clone(),
            source,
        })?;
    let release = serde_json::from_slice(&payload).map_err(|e| ReleaseError::NotADocument {
        what,
        reason: e.to_string(),
    })?;
    Ok(Some((release, bytes)))
}

fn next_version(previous: Option<&Release>, asked: Option<u64>) -> Result<u64, ReleaseError> {
    let previous = previous.map_or(0, |p| p.version);
    match asked {
        Some(asked) if asked <= previous => Err(ReleaseError::NotNewer { asked, previous }),
        Some(asked) => Ok(asked),
        None => Ok(previous + 1),
    }
}

/// Every package the registry holds, each verified against `trust` and named as its
/// manifest says.
fn list_packages(
    registry: &dyn Registry,
    trust: &TrustStore,
    max_package_bytes: u64,
) -> Result<BTreeMap<ComponentName, BTreeMap<Version, ReleasedPackage>>, ReleaseError> {
    let mut components = BTreeMap::new();
    for name in registry.names()? {
        let mut versions = BTreeMap::new();
        for version in registry.versions(&name)? {
            let fetched = registry.fetch(&name, &version, max_package_bytes)?;
            let (length, sha256) = (fetched.bytes.len() as u64, Digest::of(&fetched.bytes));
            let verified = package::verify_with_max(fetched.bytes, trust, max_package_bytes)
                .map_err(|reason| ReleaseError::Unverified {
                    source_path: fetched.source.clone(),
                    label: format!("{name} {version}"),
                    reason: Box::new(reason),
                })?;
            let manifest = verified.manifest();
            if manifest.name != name || manifest.version != version {
                return Err(ReleaseError::Mismatch {
                    source_path: fetched.source,
                    expected: format!("{name} {version}"),
                    found: manifest.label(),
                });
            }
            versions.insert(
                version,
                ReleasedPackage {
                    sha256,
                    length,
                    oci_digest: fetched.manifest_digest,
                },
            );
        }
        if !versions.is_empty() {
            components.insert(name, versions);
        }
    }
    Ok(components)
}
