//! Where packages come from: a local folder ([`DirRegistry`], the default) or an OCI
//! registry ([`OciRegistry`], for fleets), behind one [`Registry`] trait; [`open`] picks
//! the source a [`RegistryLocation`] names.
//!
//! A registry is untrusted: what it returns is only bytes, verified by the caller.

mod dir;
mod location;
pub mod oci;

use std::path::PathBuf;

use semver::Version;

pub use dir::DirRegistry;
pub use location::{LocationError, OciLocation, RegistryLocation};
pub use oci::{OciError, OciRegistry};

use crate::ids::ComponentName;
use crate::package::{PackageError, VerifiedPackage};

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
}

/// A package's bytes as a registry returned them, not yet verified.
#[derive(Debug)]
pub struct Fetched {
    pub bytes: Vec<u8>,
    /// Where it came from, for messages: a path or a URL.
    pub source: String,
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
