//! `status` and `list`: what is installed, and what the registry offers.

use jiff::Timestamp;
use semver::Version;
use serde::Serialize;

use super::{UpdateError, UpdateManager};
use crate::ids::{ComponentName, Digest};
use crate::store::VersionRecord;

/// One installed component, as `status` shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ComponentStatus {
    pub name: ComponentName,
    pub version: Version,
    pub digest: Digest,
    pub since: Timestamp,
    pub watermark: Version,
    /// Earlier versions this host verified and ran, newest first.
    pub previous: Vec<VersionRecord>,
    /// The newest version in the registry, if the registry holds the component.
    pub latest_in_registry: Option<Version>,
}

/// Everything `status` shows.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct StatusReport {
    pub components: Vec<ComponentStatus>,
    /// Components the registry offers that are not installed.
    pub available: Vec<(ComponentName, Version)>,
}

impl UpdateManager {
    /// Installed components with their history, plus what the registry offers besides.
    pub fn status(&self) -> Result<StatusReport, UpdateError> {
        let state = self.store.load_state()?;
        let mut report = StatusReport::default();
        for (name, c) in &state.components {
            report.components.push(ComponentStatus {
                name: name.clone(),
                version: c.active.version.clone(),
                digest: c.active.digest,
                since: c.active.since,
                watermark: c.watermark.clone(),
                previous: c.previous.clone(),
                latest_in_registry: self.registry.versions(name)?.pop(),
            });
        }
        for name in self.registry.names()? {
            if state.components.contains_key(&name) {
                continue;
            }
            if let Some(latest) = self.registry.versions(&name)?.pop() {
                report.available.push((name, latest));
            }
        }
        Ok(report)
    }
}
