//! Where packages come from: a local folder ([`DirRegistry`], the default) or an OCI
//! registry ([`OciRegistry`], for fleets), behind one [`Registry`] trait; [`open`] picks
//! the source a [`RegistryLocation`] names.
//!
//! A registry is untrusted: what it returns is only bytes, verified by the caller.

mod dir;
mod indexed;
mod location;
pub mod oci;

use std::path::PathBuf;

use semver::Version;

pub use dir::DirRegistry;
pub use indexed::{IndexView, IndexedRegistry, MEMORY_FILE, Unlisted};
pub use location::{LocationError, OciLocation, RegistryLocation};
pub use oci::{OciError, OciRegistry};

use crate::ids::{ComponentName, Digest};
use crate::index::{DocumentKind, IndexError, ReleasedPackage};
use crate::package::{PackageError, VerifiedPackage};

/// Where a registry keeps the signed index: a folder `anya.index` in a registry folder,
/// the repository `PREFIX/anya.index` in an OCI registry (a name no component can have:
/// component names have no '.').
pub const INDEX_NAME: &str = "anya.index";

/// Why a registry could not answer.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RegistryError {
    #[error("registry {registry}: {source}")]
    Io {
        registry: String,
        #[source]
        source: std::io::Error,
    },
    #[error("registry {registry} has no component \"{name}\"")]
    UnknownComponent {
        registry: String,
        name: ComponentName,
    },
    #[error("registry {registry} has no {name} {version}")]
    UnknownVersion {
        registry: String,
        name: ComponentName,
        version: Version,
    },
    #[error("{path}: {reason}")]
    Refused { path: PathBuf, reason: String },
    #[error("registry {registry}: {reason}")]
    Remote {
        registry: String,
        #[source]
        reason: OciError,
    },
    #[error("{path}: {source}")]
    Package {
        path: PathBuf,
        #[source]
        source: PackageError,
    },
    /// The signed index was refused: nothing new is installed until a good one is
    /// published; what runs keeps running.
    #[error("registry {registry}: {source}")]
    Index {
        registry: String,
        #[source]
        source: Box<IndexError>,
    },
    /// The index does not list it (or revoked it).
    #[error("registry {registry}: the signed index {why} {name} {version}")]
    NotListed {
        registry: String,
        name: ComponentName,
        version: Version,
        why: Unlisted,
    },
    /// The bytes fetched are not the package the index lists.
    #[error("{source_path}: {name} {version} is not the package the signed index lists: {reason}")]
    NotAsListed {
        source_path: String,
        name: ComponentName,
        version: Version,
        reason: String,
    },
}

impl RegistryError {
    /// The CLI's exit code for it (see the README): 4 for what does not exist, 3 for a
    /// refusal, 1 otherwise.
    /// Whether asking again later may succeed: the registry could not be reached or
    /// failed on its side (not a refusal of what it answered).
    pub fn is_transient(&self) -> bool {
        match self {
            Self::Io { .. } => true,
            Self::Remote { reason, .. } => !reason.is_refusal(),
            _ => false,
        }
    }

    pub fn exit_code(&self) -> u8 {
        match self {
            Self::UnknownVersion { .. }
            | Self::UnknownComponent { .. }
            | Self::NotListed { .. } => 4,
            Self::Package { .. }
            | Self::Refused { .. }
            | Self::Index { .. }
            | Self::NotAsListed { .. } => 3,
            Self::Remote { reason, .. } if reason.is_refusal() => 3,
            _ => 1,
        }
    }
}

/// A package's bytes as a registry returned them, not yet verified.
#[derive(Debug)]
pub struct Fetched {
    pub bytes: Vec<u8>,
    /// Where it came from, for messages: a path or a URL.
    pub source: String,
    /// The OCI manifest digest (`sha256:…`) it was pulled by, from an OCI registry: what
    /// a release index lists, so hosts pull exactly this.
    pub manifest_digest: Option<String>,
}

/// A source of packages.
pub trait Registry: Send + Sync {
    /// For messages: the folder or URL.
    fn describe(&self) -> String;
    /// Every component the registry holds, sorted.
    fn names(&self) -> Result<Vec<ComponentName>, RegistryError>;
    /// The versions of `name`, ascending. Empty if the registry does not hold it.
    fn versions(&self, name: &ComponentName) -> Result<Vec<Version>, RegistryError>;
    /// The bytes of `name` `version`, refusing more than `max_bytes`.
    fn fetch(
        &self,
        name: &ComponentName,
        version: &Version,
        max_bytes: u64,
    ) -> Result<Fetched, RegistryError>;
    /// Adds a verified package. Publishing the same bytes twice is a no-op; different
    /// bytes under a published name and version are refused.
    fn publish(&self, package: &VerifiedPackage) -> Result<String, RegistryError>;

    /// The bytes of `name` `version` exactly as the signed index lists them: at most
    /// `listed.length` bytes read, then their length and sha256 compared.
    fn fetch_listed(
        &self,
        name: &ComponentName,
        version: &Version,
        listed: &ReleasedPackage,
    ) -> Result<Fetched, RegistryError> {
        let fetched = self
            .fetch(name, version, listed.length)
            .map_err(|e| match e {
                RegistryError::Package {
                    path,
                    source: PackageError::TooLarge { len, .. },
                } => RegistryError::NotAsListed {
                    source_path: path.display().to_string(),
                    name: name.clone(),
                    version: version.clone(),
                    reason: format!("{len} bytes, the index says {}", listed.length),
                },
                other => other,
            })?;
        check_listed(fetched, name, version, listed)
    }

    /// The signed index document of `kind` the registry holds (an envelope, not yet
    /// verified), `None` if it holds none. One over
    /// [`MAX_DOCUMENT_BYTES`](crate::index::MAX_DOCUMENT_BYTES) is refused unread.
    fn index_document(&self, kind: DocumentKind) -> Result<Option<Vec<u8>>, RegistryError>;

    /// Stores a signed index document, replacing the one of its kind; where it went.
    fn publish_index_document(
        &self,
        kind: DocumentKind,
        envelope: &[u8],
    ) -> Result<String, RegistryError>;

    /// Reads the signed index again before the next question (a no-op for a registry
    /// without one): a check, a `list`, an install without a version start with it.
    fn refresh(&self) -> Result<(), RegistryError> {
        Ok(())
    }

    /// The index this host follows, if any, as last read.
    fn index_view(&self) -> Option<std::sync::Arc<IndexView>> {
        None
    }

    /// The release the last refresh accepted, even when its rollout document was refused
    /// (then there is no [`index_view`](Self::index_view)).
    fn accepted_release(&self) -> Option<std::sync::Arc<crate::index::Release>> {
        None
    }
}

/// `fetched` if it is the package `listed` describes.
pub fn check_listed(
    fetched: Fetched,
    name: &ComponentName,
    version: &Version,
    listed: &ReleasedPackage,
) -> Result<Fetched, RegistryError> {
    let not_as_listed = |reason: String| RegistryError::NotAsListed {
        source_path: fetched.source.clone(),
        name: name.clone(),
        version: version.clone(),
        reason,
    };
    if fetched.bytes.len() as u64 != listed.length {
        return Err(not_as_listed(format!(
            "{} bytes, the index says {}",
            fetched.bytes.len(),
            listed.length
        )));
    }
    let digest = Digest::of(&fetched.bytes);
    if digest != listed.sha256 {
        return Err(not_as_listed(format!(
            "sha256 {}, the index says {}",
            digest.short(),
            listed.sha256.short()
        )));
    }
    Ok(fetched)
}

/// The source `location` names; an OCI registry signs in with what `credentials` holds
/// for its host.
pub fn open(
    location: &RegistryLocation,
    credentials: oci::credentials::CredentialsSource,
) -> Result<Box<dyn Registry>, RegistryError> {
    match location {
        RegistryLocation::Dir(path) => Ok(Box::new(DirRegistry::new(path.clone()))),
        RegistryLocation::Oci(oci) => OciRegistry::new(oci.clone(), credentials)
            .map(|r| Box::new(r) as Box<dyn Registry>)
            .map_err(|reason| RegistryError::Remote {
                registry: oci.to_string(),
                reason,
            }),
    }
}
