//! `check`: which installed components have a newer verified version in the registry.

use semver::Version;
use serde::Serialize;

use super::{UpdateError, UpdateManager};
use crate::ids::{ComponentName, Digest};
use crate::manifest::{Bip, UpdateType};

/// One available update, as its signed manifest declares it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct UpdateInfo {
    pub component: ComponentName,
    pub current_version: Version,
    pub available_version: Version,
    pub update_type: UpdateType,
    pub security_critical: bool,
    pub breaking_changes: bool,
    pub bip_compliance: Vec<Bip>,
    /// The running version stays on this host, verified and compiled, so the update can
    /// be undone.
    pub rollback_supported: bool,
    pub digest: Digest,
    pub source: String,
}

/// A newer version that was found but cannot be offered, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CheckProblem {
    pub component: ComponentName,
    pub version: Version,
    pub reason: String,
}

/// What `check` found.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct CheckReport {
    pub updates: Vec<UpdateInfo>,
    pub problems: Vec<CheckProblem>,
}

impl UpdateManager {
    /// For every installed component, the newest registry version above both the active
    /// version and the watermark that verifies. Newer versions that fail verification are
    /// reported as problems, never offered.
    pub fn check(&self) -> Result<CheckReport, UpdateError> {
        let state = self.store.load_state()?;
        let mut report = CheckReport::default();
        for (name, component) in &state.components {
            let floor = std::cmp::max(&component.active.version, &component.watermark);
            let mut newer: Vec<Version> = self
                .registry
                .versions(name)?
                .into_iter()
                .filter(|v| v > floor)
                .collect();
            newer.reverse();
            for version in newer {
                match self.fetch_verified(name, &version) {
                    Ok(package) => {
                        let m = package.manifest();
                        let rollback_supported =
                            self.store.read_object(component.active.digest).is_ok();
                        report.updates.push(UpdateInfo {
                            component: name.clone(),
                            current_version: component.active.version.clone(),
                            available_version: version,
                            update_type: m.update_type,
                            security_critical: m.security_critical,
                            breaking_changes: m.breaking_changes,
                            bip_compliance: m.bip_compliance.clone(),
                            rollback_supported,
                            digest: package.digest(),
                            source: self.registry.describe(),
                        });
                        break;
                    }
                    Err(e) => report.problems.push(CheckProblem {
                        component: name.clone(),
                        version,
                        reason: e.to_string(),
                    }),
                }
            }
        }
        Ok(report)
    }
}
