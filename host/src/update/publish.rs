//! `publish`: verify a package and add it to a registry.

use std::path::Path;

use super::UpdateError;
use crate::package::{self, VerifiedPackage};
use crate::registry::{Registry, RegistryError};
use crate::trust::TrustStore;

/// Reads `path` (refusing more than `max_bytes`), verifies it against `trust`, and adds it
/// to `registry`. Returns the package and where it now lives.
pub fn publish(
    registry: &dyn Registry,
    trust: &TrustStore,
    path: &Path,
    max_bytes: u64,
) -> Result<(VerifiedPackage, String), UpdateError> {
    let bytes = package::read_package_file(path, max_bytes).map_err(|source| {
        RegistryError::Package {
            path: path.to_owned(),
            source,
        }
    })?;
    let package = package::verify(bytes, trust).map_err(|reason| UpdateError::Refused {
        source_path: path.display().to_string(),
        component: "package".into(),
        reason,
    })?;
    let location = registry.publish(&package)?;
    Ok((package, location))
}
