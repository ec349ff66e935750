//! The newest version of a component the registry holds *that verifies*: what `install
//! NAME` (no version) takes, what `list` and `status` show as the registry's latest, and
//! where `check` starts. A newer version that does not verify is skipped, with its
//! reason, never taken: the commands agree on a broken newest file.

use semver::Version;

use super::{UpdateError, UpdateManager};
use crate::ids::ComponentName;
use crate::package::VerifiedPackage;

/// The newest version that verifies, and the newer ones skipped (newest first).
pub(super) struct Newest {
    pub package: Option<VerifiedPackage>,
    pub skipped: Vec<(Version, UpdateError)>,
}

impl UpdateManager {
    /// Walks `name`'s registry versions above `above` (all of them when `None`) from the
    /// newest down, and stops at the first that verifies.
    pub(super) fn newest_verified(
        &self,
        name: &ComponentName,
        above: Option<&Version>,
    ) -> Result<Newest, UpdateError> {
        let mut newest = Newest {
            package: None,
            skipped: Vec::new(),
        };
        let mut versions = self.registry.versions(name)?;
        versions.retain(|v| above.is_none_or(|floor| v > floor));
        for version in versions.into_iter().rev() {
            match self.fetch_verified(name, &version) {
                Ok(package) => {
                    newest.package = Some(package);
                    break;
                }
                Err(e) => newest.skipped.push((version, e)),
            }
        }
        Ok(newest)
    }
}
