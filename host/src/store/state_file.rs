//! `state.json`: which version of each component is active and in what lifecycle state,
//! the rollback points behind it, the highest version this host ever trusted, and the
//! digests it refuses to run again.
//!
//! Invariants: every digest named here has a verified object in `objects/`, written
//! before the state file that names it; every snapshot named here exists under
//! `snapshots/`, written before the state file that names it.

use std::collections::BTreeMap;

use jiff::Timestamp;
use semver::{Version, VersionReq};
use serde::{Deserialize, Serialize};

use crate::ids::{ComponentName, Digest};

/// The current format of `state.json`.
pub const STATE_FORMAT: u32 = 1;

/// Everything `state.json` holds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct State {
    pub format: u32,
    #[serde(default)]
    pub components: BTreeMap<ComponentName, ComponentState>,
    /// Key-value snapshots that must be restored before anything else happens: set while
    /// an install runs `activate` (which may migrate the data) and while a rollback
    /// restores the data. Found at start-up, one means the operation was interrupted.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub pending_restores: BTreeMap<ComponentName, PendingRestore>,
    /// Packages an operator allowed to import more than the version they replace (`anya
    /// approve NAME VERSION`), per component.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub approvals: BTreeMap<ComponentName, Vec<Approval>>,
}

impl Default for State {
    fn default() -> Self {
        Self {
            format: STATE_FORMAT,
            components: BTreeMap::new(),
            pending_restores: BTreeMap::new(),
            approvals: BTreeMap::new(),
        }
    }
}

/// One installed component.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ComponentState {
    /// The version that serves calls.
    pub active: VersionRecord,
    /// Where the active version is in its lifecycle.
    #[serde(default)]
    pub status: Lifecycle,
    /// Versions that were active before, newest first: verified and run on this host.
    #[serde(default)]
    pub rollback_points: Vec<RollbackPoint>,
    /// The highest version this host ever trusted: the registry can never install below it.
    pub watermark: Version,
    /// Packages this host refuses to install again (they failed their trial).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub blocklist: Vec<Blocked>,
    /// The last rollback, and why.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_rollback: Option<RollbackRecord>,
}

/// One version of a component as this host installed it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VersionRecord {
    pub version: Version,
    pub digest: Digest,
    /// When it became active.
    pub since: Timestamp,
    /// Installed below the watermark, or over a refusal, by an operator's `--force`.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub forced: bool,
    /// What the validation gate found when it admitted this version; the full report is
    /// `reports/<digest>.json`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub validation: Option<ValidationSummary>,
    /// What its manifest requires of other components, kept so that planning an install
    /// reads no installed package; absent in a state written before it was recorded
    /// (then the package's manifest is read).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dependencies: Option<BTreeMap<ComponentName, VersionReq>>,
}

/// The validation gate's verdict on one version, in brief.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ValidationSummary {
    /// When the validators ran.
    pub at: Timestamp,
    /// The validators that ran, as `name version`.
    #[serde(default)]
    pub validators: Vec<String>,
    /// Cases run, over every validator.
    pub cases: usize,
    /// Cases that failed (zero for an admitted version).
    pub failed: usize,
    /// The BIPs a passing validator proved.
    #[serde(default)]
    pub bips_proven: Vec<crate::manifest::Bip>,
    /// Wall-clock time of every validator run together, in milliseconds.
    pub duration_ms: u64,
    /// Why validators did not run, when they did not (`testing.pre_update_tests = false`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub skipped: Option<String>,
}

/// staged → validating → trial → committed, or rolled back with a reason.
///
/// `Staged` and `Validating` happen before the state file names a version: the state file
/// only ever records the two states a version can be in while it serves.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", tag = "state")]
pub enum Lifecycle {
    /// Serving, watched: its failures are counted and a breach rolls it back.
    Trial { until: Timestamp },
    /// Serving, accepted.
    #[default]
    Committed,
}

/// A version this host can go back to without fetching, verifying anything new, or
/// compiling.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RollbackPoint {
    pub version: Version,
    pub digest: Digest,
    /// When it became active.
    pub since: Timestamp,
    /// When it stopped being active.
    pub replaced_at: Timestamp,
    /// Why it was replaced (`install of 1.1.0`, ...).
    pub reason: String,
    /// The id of its key-value snapshot under `snapshots/<component>/`, taken when it was
    /// replaced.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kv_snapshot: Option<String>,
    /// What the validation gate found when it admitted this version (see
    /// [`VersionRecord::validation`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub validation: Option<ValidationSummary>,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub forced: bool,
    /// What its manifest requires of other components, kept so that planning an install
    /// reads no installed package; absent in a state written before it was recorded
    /// (then the package's manifest is read).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dependencies: Option<BTreeMap<ComponentName, VersionReq>>,
}

/// A package this host will not install again without `--force`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Blocked {
    pub digest: Digest,
    pub version: Version,
    pub reason: String,
    pub at: Timestamp,
}

/// A rollback that happened.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RollbackRecord {
    pub from: Version,
    pub to: Version,
    pub reason: String,
    pub at: Timestamp,
    /// Decided by the host itself (a failed trial), not asked by an operator.
    pub automatic: bool,
}

/// A key-value restore that must complete (see [`State::pending_restores`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PendingRestore {
    /// The snapshot to restore.
    pub snapshot: String,
    /// What was in flight: `install 1.1.0`, `rollback to 1.0.0`.
    pub operation: String,
}

/// An operator's approval of one package's new imports (a capability escalation).
///
/// It is bound to the package's digest: another build of the same version, or the same
/// package asking for still more, needs an approval of its own.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Approval {
    pub version: Version,
    pub digest: Digest,
    /// The interfaces approved (`wasi:filesystem/types`), without package versions.
    pub imports: Vec<String>,
    /// Who approved: `cli uid=1000`.
    pub approved_by: String,
    pub at: Timestamp,
}
