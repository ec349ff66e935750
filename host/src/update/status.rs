//! `status` and `list`: what is installed, in what state, what it can go back to, and
//! what the registry offers.

use jiff::Timestamp;
use semver::Version;
use serde::Serialize;

use super::{UpdateError, UpdateManager};
use crate::ids::{ComponentName, Digest};
use crate::slot::CallCounts;
use crate::store::{Blocked, Lifecycle, RollbackPoint, RollbackRecord, ValidationSummary};

/// One installed component, as `status` shows it.
#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize)]
pub struct ComponentStatus {
    pub name: ComponentName,
    pub version: Version,
    pub digest: Digest,
    pub since: Timestamp,
    /// Trial (until when) or committed.
    pub status: Lifecycle,
    pub watermark: Version,
    /// Versions this host verified and ran, newest first: where `rollback` goes.
    pub rollback_points: Vec<RollbackPoint>,
    pub blocklist: Vec<Blocked>,
    /// The last rollback and why.
    pub last_rollback: Option<RollbackRecord>,
    /// What the validation gate found when it admitted the active version.
    pub validation: Option<ValidationSummary>,
    /// Calls served by the current version in this process, if it served any.
    pub calls: Option<CallCounts>,
    /// The newest version in the registry, if the registry holds the component.
    pub latest_in_registry: Option<Version>,
}

/// Everything `status` shows.
#[derive(Debug, Clone, Default, PartialEq, Serialize, serde::Deserialize)]
pub struct StatusReport {
    pub components: Vec<ComponentStatus>,
    /// Components the registry offers that are not installed.
    pub available: Vec<(ComponentName, Version)>,
    /// Updates the daemon's scheduler will start later, when and why then.
    pub planned: Vec<crate::store::Planned>,
    /// Why the registry could not be asked, when it could not: the installed components
    /// are shown (and keep serving) all the same, without what the registry offers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub registry_unavailable: Option<String>,
    /// The signed index this host follows, as accepted last (`None` when its trust store
    /// pins no index root, or when the index was refused: see `registry_unavailable`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub index: Option<IndexStatus>,
    /// The daemon's scheduler retrying a registry that did not answer: since when, how
    /// often, when next, and why.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub registry_retry: Option<crate::store::Retrying>,
}

/// What `status` shows of the signed index.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct IndexStatus {
    pub release_version: u64,
    pub release_expires: jiff::Timestamp,
    pub rollout_version: Option<u64>,
    pub rollout_expires: Option<jiff::Timestamp>,
    /// This host's id, which decides its rollout cohorts.
    pub host_id: Option<String>,
    /// Per component the rollout names: the version this host's cohort is given.
    pub targets: std::collections::BTreeMap<ComponentName, Version>,
}

impl IndexStatus {
    fn of(view: &crate::registry::IndexView) -> Self {
        let rollout = view.rollout.as_ref().map(|r| &r.document);
        Self {
            release_version: view.release.document.version,
            release_expires: view.release.document.expires,
            rollout_version: rollout.map(|r| r.version),
            rollout_expires: rollout.map(|r| r.expires),
            host_id: view.host_id.clone(),
            targets: rollout
                .map(|r| {
                    r.components
                        .keys()
                        .filter_map(|name| Some((name.clone(), view.target(name)?.clone())))
                        .collect()
                })
                .unwrap_or_default(),
        }
    }
}

impl UpdateManager {
    /// The full validation report kept for an installed digest (every case, pass or
    /// fail, with each validator's run time), if the gate ran for it.
    pub fn validation_report(
        &self,
        digest: Digest,
    ) -> Result<Option<serde_json::Value>, UpdateError> {
        Ok(self.store.read_report(digest)?)
    }

    /// Installed components with their history, plus what the registry offers besides.
    pub fn status(&self) -> Result<StatusReport, UpdateError> {
        let state = self.store.state()?;
        let mut report = StatusReport {
            planned: self.store.planned()?,
            registry_retry: self.store.retrying()?,
            ..StatusReport::default()
        };
        unless_unavailable(
            self.registry.refresh().map_err(UpdateError::from),
            &mut report.registry_unavailable,
        )?;
        report.index = self
            .registry
            .index_view()
            .map(|view| IndexStatus::of(&view));
        for (name, c) in &state.components {
            report.components.push(ComponentStatus {
                name: name.clone(),
                version: c.active.version.clone(),
                digest: c.active.digest,
                since: c.active.since,
                status: c.status.clone(),
                watermark: c.watermark.clone(),
                rollback_points: c.rollback_points.clone(),
                blocklist: c.blocklist.clone(),
                last_rollback: c.last_rollback.clone(),
                validation: c.active.validation.clone(),
                // Only once it served: a loaded slot that served nothing says nothing.
                calls: self
                    .loaded_slot(name)
                    .map(|s| s.current().counts())
                    .filter(|c| c.calls > 0),
                latest_in_registry: match &report.registry_unavailable {
                    Some(_) => None,
                    None => unless_unavailable(
                        self.latest_for(name, &c.active.version),
                        &mut report.registry_unavailable,
                    )?
                    .flatten(),
                },
            });
        }
        let names = match &report.registry_unavailable {
            Some(_) => Vec::new(),
            None => unless_unavailable(
                self.registry.names().map_err(UpdateError::from),
                &mut report.registry_unavailable,
            )?
            .unwrap_or_default(),
        };
        for name in names {
            if state.components.contains_key(&name) {
                continue;
            }
            // Validators are run by the gate, not installed: not offered here. A package
            // that does not verify is not offered either (`check` says why).
            let Some(newest) = unless_unavailable(
                self.newest_verified(&name, None),
                &mut report.registry_unavailable,
            )?
            else {
                break;
            };
            for (version, e) in &newest.skipped {
                tracing::debug!(component = %name, %version, error = %e, "not offered");
            }
            match newest.package {
                Some(p) if p.manifest().kind == crate::manifest::Kind::Validator => {}
                Some(p) => report.available.push((name, p.manifest().version.clone())),
                None => {}
            }
        }
        Ok(report)
    }

    /// The registry's latest of an installed component as `list` shows it: the newest
    /// version that verifies when one is newer than `active` (a broken newer file is
    /// not "latest"), else the newest there is.
    fn latest_for(
        &self,
        name: &ComponentName,
        active: &semver::Version,
    ) -> Result<Option<semver::Version>, UpdateError> {
        let newest = self.newest_verified(name, Some(active))?;
        match newest.package {
            Some(p) => Ok(Some(p.manifest().version.clone())),
            None => Ok(self
                .registry
                .versions(name)?
                .into_iter()
                .rfind(|v| v <= active)),
        }
    }
}

/// `result`, except that a registry that cannot be asked is noted in `unavailable` (once:
/// the caller asks it nothing more) instead of failing the whole report.
fn unless_unavailable<T>(
    result: Result<T, UpdateError>,
    unavailable: &mut Option<String>,
) -> Result<Option<T>, UpdateError> {
    match result {
        Ok(value) => Ok(Some(value)),
        Err(UpdateError::Registry(e)) => {
            tracing::warn!(error = %e, "status without the registry");
            *unavailable = Some(e.to_string());
            Ok(None)
        }
        Err(e) => Err(e),
    }
}
