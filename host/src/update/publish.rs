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
    let bytes =
        package::read_package_file(path, max_bytes).map_err(|source| RegistryError::Package {
            path: path.to_owned(),
            source,
        })?;
    let bytes: std::sync::Arc<[u8]> = bytes.into();
    let package = package::verify_with_max(bytes.clone(), trust, max_bytes).map_err(|reason| {
        UpdateError::Refused {
            source_path: path.display().to_string(),
            component: claimed_label(&bytes, path),
            reason,
        }
    })?;
    let location = registry.publish(&package)?;
    Ok((package, location))
}

/// What a refused file claims to be, for the error message: `NAME VERSION` from its
/// (unverified) manifest, or its file name.
fn claimed_label(bytes: &[u8], path: &Path) -> String {
    package::inspect(bytes)
        .manifest
        .map(|m| format!("{} (unverified)", m.label()))
        .unwrap_or_else(|| {
            path.file_name()
                .map_or_else(|| "package".into(), |n| n.to_string_lossy().into_owned())
        })
}
