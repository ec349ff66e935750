//! `check`: which installed components have a newer verified version in the registry,
//! what each declares, and what its WIT shows (see [`crate::compat`]).

use semver::Version;
use serde::Serialize;

use super::{BipProof, UpdateError, UpdateManager};
use crate::compat::{self, Classification, ComputedType, WitDiff};
use crate::ids::{ComponentName, Digest};
use crate::manifest::{Bip, UpdateType};
use crate::package::VerifiedPackage;
use crate::store::{State, VersionRecord};

/// One available update: what its signed manifest declares beside what its WIT shows.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
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
    /// What the WIT shows: breaking, feature or patch.
    pub computed_type: ComputedType,
    /// Each removed or changed export, with what changed.
    pub breaking_reasons: Vec<String>,
    /// Each added export.
    pub added_exports: Vec<String>,
    /// Interfaces the update imports and the running version does not (a capability
    /// escalation).
    pub capability_changes: Vec<String>,
    /// It has capability changes no operator approved (`anya approve`): `install`
    /// refuses it without `--force`, and it is never installed automatically.
    pub held_for_approval: bool,
    /// It breaks exports without a major version bump: `install` refuses it without
    /// `--force`.
    pub breaking_without_major: bool,
    /// Where the manifest contradicts the WIT.
    pub mismatches: Vec<String>,
    /// The components it depends on, with the versions it needs.
    pub dependencies: std::collections::BTreeMap<ComponentName, semver::VersionReq>,
    /// The BIPs the manifest claims (`bip_compliance`) and the policy requires, each
    /// with the validators that proved it.
    pub bips: Vec<BipProof>,
    /// The BIPs a passing validator proved.
    pub bips_proven: Vec<Bip>,
    /// The validation gate would let it through (validators pass, BIPs proven).
    pub validation_passed: bool,
    /// Why the validation gate would refuse it.
    pub validation_problems: Vec<String>,
}

/// A newer version that was found but cannot be offered, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct CheckProblem {
    pub component: ComponentName,
    pub version: Version,
    pub reason: String,
}

/// What `check` found.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct CheckReport {
    pub updates: Vec<UpdateInfo>,
    pub problems: Vec<CheckProblem>,
}

impl UpdateManager {
    /// For every installed component, the newest registry version above both the active
    /// version and the watermark that verifies. Newer versions that fail verification are
    /// reported as problems, never offered.
    pub fn check(&self) -> Result<CheckReport, UpdateError> {
        self.refresh_registry()?;
        self.check_refreshed()
    }

    /// Reads the registry's signed index again (a registry without one: nothing to do).
    pub fn refresh_registry(&self) -> Result<(), UpdateError> {
        Ok(self.registry.refresh()?)
    }

    /// [`check`](Self::check) on the index as the last refresh left it.
    pub fn check_refreshed(&self) -> Result<CheckReport, UpdateError> {
        let state = self.store.state()?;
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
                let offered = self
                    .fetch_verified(name, &version)
                    .and_then(|package| self.offer(&state, component, &package));
                match offered {
                    Ok(info) => {
                        report.updates.push(info);
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

impl UpdateManager {
    /// What a verified candidate for the running `component` would be: its WIT compared
    /// with the running version's, and the validation gate run on it.
    fn offer(
        &self,
        state: &State,
        component: &crate::store::ComponentState,
        package: &VerifiedPackage,
    ) -> Result<UpdateInfo, UpdateError> {
        let Assessment {
            diff,
            classification,
        } = self.assess(&component.active, package)?;
        let held_for_approval =
            !diff.new_imports.is_empty() && !is_approved(state, package, &diff.new_imports);
        let loaded = self.runtime()?.load(package)?;
        let gate = self.run_gate(package, &loaded)?;
        let validation_problems = gate.problems();
        let m = package.manifest();
        Ok(UpdateInfo {
            component: m.name.clone(),
            current_version: component.active.version.clone(),
            available_version: m.version.clone(),
            update_type: m.update_type,
            security_critical: m.security_critical,
            breaking_changes: m.breaking_changes,
            bip_compliance: m.bip_compliance.clone(),
            // `assess` read the running version's object back, its digest checked.
            rollback_supported: true,
            digest: package.digest(),
            source: self.registry.describe(),
            computed_type: classification.computed,
            breaking_reasons: diff.breaking.iter().map(ToString::to_string).collect(),
            added_exports: diff.added,
            capability_changes: diff.new_imports,
            held_for_approval,
            breaking_without_major: classification.breaks_without_major(),
            mismatches: classification.mismatches,
            dependencies: m.dependencies.clone(),
            bips_proven: gate.bips_proven(),
            validation_passed: validation_problems.is_empty(),
            validation_problems,
            bips: gate.bips,
        })
    }
}

/// What a candidate changes in the running version's WIT, and how that weighs against its
/// manifest.
#[derive(Debug, Clone)]
pub(super) struct Assessment {
    pub diff: WitDiff,
    pub classification: Classification,
}

impl UpdateManager {
    /// Compares the candidate's WIT with the running version's (read back from the state
    /// folder, its digest checked).
    pub(super) fn assess(
        &self,
        running: &VersionRecord,
        candidate: &VerifiedPackage,
    ) -> Result<Assessment, UpdateError> {
        let name = &candidate.manifest().name;
        let running_bytes = self.store.read_object(running.digest)?;
        let started = std::time::Instant::now();
        let old = compat::decode(&running_bytes).map_err(|source| UpdateError::Wit {
            component: format!("{name} {}", running.version),
            source,
        })?;
        let new = compat::decode(candidate.bytes()).map_err(|source| UpdateError::Wit {
            component: candidate.manifest().label(),
            source,
        })?;
        let diff = compat::diff(&old, &new);
        let classification = compat::classify(&diff, &running.version, candidate.manifest());
        tracing::debug!(
            component = %name,
            from = %running.version,
            to = %candidate.manifest().version,
            computed = %classification.computed,
            elapsed = ?started.elapsed(),
            "classified"
        );
        Ok(Assessment {
            diff,
            classification,
        })
    }
}

/// Whether an operator approved exactly this package (its digest) for at least
/// `imports`.
pub(super) fn is_approved(state: &State, package: &VerifiedPackage, imports: &[String]) -> bool {
    state
        .approvals
        .get(&package.manifest().name)
        .into_iter()
        .flatten()
        .any(|a| a.digest == package.digest() && imports.iter().all(|i| a.imports.contains(i)))
}
