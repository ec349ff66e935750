//! The compatibility gate of an install, and `approve`: what lets a held update through.
//!
//! Before a candidate is compiled, its WIT is compared with the running version's (see
//! [`crate::compat`]). Two things refuse it unless the install is forced:
//! - a breaking change (a removed or changed export) without a major version bump;
//! - a capability escalation (an interface it imports and the running version did not)
//!   that no operator approved. `anya approve NAME VERSION` records an approval of
//!   exactly that package (its digest and the imports it adds) in the state file, and
//!   the journal says who approved what.
//!
//! Invariants: a refusal writes nothing; a forced pass is written to the journal before
//! the install goes on; an approval covers one digest, never a version in general.

use semver::Version;
use serde::Serialize;

use super::check::is_approved;
use super::{UpdateError, UpdateManager};
use crate::ids::{ComponentName, Digest};
use crate::package::VerifiedPackage;
use crate::store::{Approval, ComponentState, JournalEntry, State};

/// What `approve` recorded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct ApproveOutcome {
    pub name: ComponentName,
    pub version: Version,
    pub digest: Digest,
    /// The running version the imports are new to.
    pub running: Version,
    /// The interfaces approved.
    pub imports: Vec<String>,
    /// The same approval was already recorded: nothing changed.
    pub already_approved: bool,
}

impl UpdateManager {
    /// Approves the capability escalation of `name` `version` (fetched from the registry
    /// and verified): its imports that the running version does not have. Refuses when
    /// it asks for nothing new.
    pub fn approve(
        &self,
        name: &ComponentName,
        version: &Version,
    ) -> Result<ApproveOutcome, UpdateError> {
        let _one_at_a_time = self.lock_operations();
        let mut state = self.store.load_state()?;
        let running = state
            .components
            .get(name)
            .ok_or_else(|| UpdateError::NotInstalled { name: name.clone() })?
            .active
            .clone();
        let package = self.fetch_verified(name, version)?;
        let imports = self.assess(&running, &package)?.diff.new_imports;
        if imports.is_empty() {
            return Err(UpdateError::NothingToApprove {
                name: name.clone(),
                version: version.clone(),
                running: running.version,
            });
        }
        let mut outcome = ApproveOutcome {
            name: name.clone(),
            version: version.clone(),
            digest: package.digest(),
            running: running.version.clone(),
            imports: imports.clone(),
            already_approved: false,
        };
        if is_approved(&state, &package, &imports) {
            outcome.already_approved = true;
            return Ok(outcome);
        }
        let approvals = state.approvals.entry(name.clone()).or_default();
        // Approvals of versions not above the running one can never be used again.
        approvals.retain(|a| a.version > running.version && a.digest != package.digest());
        approvals.push(Approval {
            version: version.clone(),
            digest: package.digest(),
            imports: imports.clone(),
            approved_by: self.actor(),
            at: self.now(),
        });
        self.store.save_state(&state)?;
        self.store.journal(
            &JournalEntry::new(self.now(), self.actor(), "approved")
                .component(name)
                .version(version)
                .digest(package.digest())
                .detail(format!(
                    "new imports over {}: {}",
                    running.version,
                    imports.join(", ")
                )),
        )?;
        tracing::info!(component = %name, %version, imports = ?imports, "approved");
        Ok(outcome)
    }

    /// The compatibility gate of `install`: refuses a breaking change without a major
    /// bump, and an unapproved capability escalation, unless `force`. Returns whether
    /// `force` was needed (the install is then recorded as forced).
    pub(super) fn check_compatible(
        &self,
        package: &VerifiedPackage,
        current: Option<&ComponentState>,
        state: &State,
        force: bool,
    ) -> Result<bool, UpdateError> {
        let Some(current) = current else {
            return Ok(false);
        };
        let name = &package.manifest().name;
        let version = &package.manifest().version;
        let assessment = self.assess(&current.active, package)?;
        let (diff, classification) = (&assessment.diff, &assessment.classification);
        for mismatch in &classification.mismatches {
            tracing::warn!(component = %name, %version, "{mismatch}");
        }
        let mut overridden = Vec::new();
        // `protocol_compatibility_check = false` lets a breaking WIT change through for
        // this component (the operator's call); a capability escalation is still held.
        let compat_checked = self
            .options()
            .validation
            .components
            .get(name)
            .is_none_or(|c| c.protocol_compatibility_check);
        if classification.breaks_without_major() && !compat_checked {
            tracing::warn!(component = %name, %version, "breaking WIT change let through: protocol_compatibility_check is false");
        }
        if classification.breaks_without_major() && compat_checked {
            let refusal = UpdateError::BreakingWithoutMajor {
                name: name.clone(),
                version: version.clone(),
                running: current.active.version.clone(),
                breaking: diff.breaking.clone().into_boxed_slice(),
            };
            if !force {
                return Err(refusal);
            }
            overridden.push(refusal.to_string());
        }
        if !diff.new_imports.is_empty() && !is_approved(state, package, &diff.new_imports) {
            let refusal = UpdateError::NeedsApproval {
                name: name.clone(),
                version: version.clone(),
                imports: diff.new_imports.clone(),
            };
            if !force {
                return Err(refusal);
            }
            overridden.push(refusal.to_string());
        }
        if overridden.is_empty() {
            return Ok(false);
        }
        self.store.journal(
            &JournalEntry::new(self.now(), self.actor(), "compat-forced")
                .component(name)
                .version(version)
                .digest(package.digest())
                .detail(overridden.join(" | ")),
        )?;
        Ok(true)
    }
}
