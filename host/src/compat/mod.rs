//! Update classification from the WIT itself: what a candidate version changes in the
//! contract of the running one, and whether its signed manifest and version say so.
//!
//! [`decode`] reads a component's world (through `wit-component`, without wasmtime: well
//! under a millisecond for the example plugins); [`diff`] compares two worlds; [`classify`]
//! weighs the difference against the candidate's manifest and semver.
//!
//! - **Exports** are the contract callers rely on: a removed interface or function, or a
//!   changed signature or type (compared structurally, names of records, variants, enums,
//!   flags and their members included), is *breaking*; an added one is a *feature*;
//!   identical exports are a *patch*.
//! - **Imports** are what the component may ask of the host: an interface the candidate
//!   imports and the running version did not (a new `anya:host` interface, a WASI
//!   capability such as `wasi:filesystem/types`) is a *capability escalation*. Removed
//!   imports are fine. Package versions are ignored here (`wasi:io/streams@0.2.0` and
//!   `@0.2.3` are one capability).
//!
//! Invariant: this module decides nothing; `update` turns a [`Classification`] and a
//! [`WitDiff`] into refusals, approvals and `check` columns.

mod diff;

use std::fmt;

use semver::Version;
use serde::Serialize;
use wit_parser::{Resolve, WorldId};

use crate::manifest::{Manifest, UpdateType};

/// Why a component's WIT could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CompatError {
    #[error("cannot decode its WIT: {reason}")]
    Decode { reason: String },
    #[error("it is not a component: {reason}")]
    NotAComponent { reason: String },
}

/// A component's world, as decoded from its binary.
pub struct ComponentWit {
    resolve: Resolve,
    world: WorldId,
}

impl fmt::Debug for ComponentWit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ComponentWit")
            .field("exports", &self.exports())
            .field("imports", &self.imports())
            .finish()
    }
}

impl ComponentWit {
    /// The exported interfaces (`anya:bitcoin/address`) and functions, without package
    /// versions, sorted.
    pub fn exports(&self) -> Vec<String> {
        diff::export_names(self).into_iter().collect()
    }

    /// The imported interfaces (`wasi:filesystem/types`) and functions, without package
    /// versions, sorted.
    pub fn imports(&self) -> Vec<String> {
        diff::import_names(self).into_iter().collect()
    }
}

/// Decodes the world of a component (custom sections, such as a signature or a
/// manifest, are ignored).
pub fn decode(bytes: &[u8]) -> Result<ComponentWit, CompatError> {
    // `wit-component` reads a core module as a component with an empty world.
    crate::package::check_header(bytes).map_err(|e| CompatError::NotAComponent {
        reason: e.to_string(),
    })?;
    match wit_component::decode(bytes) {
        Ok(wit_parser::decoding::DecodedWasm::Component(resolve, world)) => {
            Ok(ComponentWit { resolve, world })
        }
        Ok(wit_parser::decoding::DecodedWasm::WitPackage(..)) => Err(CompatError::NotAComponent {
            reason: "it is a WIT package".into(),
        }),
        Err(e) => Err(CompatError::Decode {
            reason: format!("{e:#}"),
        }),
    }
}

/// One breaking change: the export it is about and what changed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Breaking {
    /// `anya:bitcoin/address.decode` for a function of an interface,
    /// `anya:bitcoin/address` for the interface itself, the plain name for a function
    /// exported by the world.
    pub item: String,
    /// `function removed`, `parameter address: string became list<u8>`, ...
    pub reason: String,
}

impl fmt::Display for Breaking {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.item, self.reason)
    }
}

/// What a candidate changes in the running version's world.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct WitDiff {
    /// Removed or changed exports.
    pub breaking: Vec<Breaking>,
    /// Added exports: `anya:bitcoin/address.validate: function added`.
    pub added: Vec<String>,
    /// Interfaces imported by the candidate and not by the running version.
    pub new_imports: Vec<String>,
    /// Interfaces the candidate no longer imports.
    pub removed_imports: Vec<String>,
}

impl WitDiff {
    /// What the change is, by the exports alone.
    pub fn computed(&self) -> ComputedType {
        if !self.breaking.is_empty() {
            ComputedType::Breaking
        } else if !self.added.is_empty() {
            ComputedType::Feature
        } else {
            ComputedType::Patch
        }
    }
}

/// Compares the world of the running version with the candidate's.
pub fn diff(running: &ComponentWit, candidate: &ComponentWit) -> WitDiff {
    diff::diff(running, candidate)
}

/// What an update is, as its WIT shows it.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, serde::Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum ComputedType {
    /// An export was removed or changed.
    Breaking,
    /// Exports were added, none removed or changed.
    Feature,
    /// The exports are identical.
    Patch,
}

impl ComputedType {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Breaking => "breaking",
            Self::Feature => "feature",
            Self::Patch => "patch",
        }
    }
}

impl fmt::Display for ComputedType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The computed change beside what the signed manifest and the version declare.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Classification {
    pub computed: ComputedType,
    /// The manifest's `update_type`.
    pub declared: UpdateType,
    /// The manifest's `breaking_changes`.
    pub declared_breaking: bool,
    /// The version bump allows the computed change: a breaking change needs a major bump
    /// (for 0.x a minor one, for 0.0.x any), as Cargo's caret requirements read semver.
    pub semver_ok: bool,
    /// Why the change is what it is: the breaking changes, then the additions.
    pub reasons: Vec<String>,
    /// Where the manifest contradicts the WIT: `breaking_changes = false` while an
    /// export breaks, and the like.
    pub mismatches: Vec<String>,
}

impl Classification {
    /// A breaking change without the version bump that announces one: refused unless
    /// forced.
    pub fn breaks_without_major(&self) -> bool {
        self.computed == ComputedType::Breaking && !self.semver_ok
    }
}

/// Weighs `diff` (running `running` → `candidate`) against the candidate's manifest.
pub fn classify(diff: &WitDiff, running: &Version, candidate: &Manifest) -> Classification {
    let computed = diff.computed();
    let next = &candidate.version;
    let semver_ok = match computed {
        ComputedType::Breaking => !semver_compatible(running, next),
        ComputedType::Feature | ComputedType::Patch => true,
    };
    let mut reasons: Vec<String> = diff.breaking.iter().map(ToString::to_string).collect();
    reasons.extend(diff.added.iter().cloned());
    let mut mismatches = Vec::new();
    let first = diff.breaking.first();
    if let Some(b) = first
        && !candidate.breaking_changes
    {
        mismatches.push(format!(
            "the manifest says breaking_changes = false, but {b}"
        ));
    }
    if candidate.breaking_changes && computed != ComputedType::Breaking {
        mismatches.push(
            "the manifest says breaking_changes = true, but no export was removed or changed"
                .into(),
        );
    }
    if computed == ComputedType::Feature
        && matches!(
            candidate.update_type,
            UpdateType::Bugfix | UpdateType::Performance
        )
    {
        mismatches.push(format!(
            "the manifest says update_type = {}, but exports were added ({})",
            candidate.update_type,
            diff.added.join("; ")
        ));
    }
    if computed == ComputedType::Feature
        && running.major > 0
        && next.major == running.major
        && next.minor == running.minor
    {
        mismatches.push(format!(
            "{running} → {next} is a patch release, but exports were added"
        ));
    }
    Classification {
        computed,
        declared: candidate.update_type,
        declared_breaking: candidate.breaking_changes,
        semver_ok,
        reasons,
        mismatches,
    }
}

/// Whether `next` is semver-compatible with `running` (`^running` matches it, ignoring
/// pre-release rules): 1.2.3 → 1.x, 0.2.3 → 0.2.x, 0.0.3 → 0.0.3 only.
pub fn semver_compatible(running: &Version, next: &Version) -> bool {
    if running.major != next.major {
        false
    } else if running.major > 0 {
        true
    } else if running.minor != next.minor {
        false
    } else {
        running.minor > 0 || running.patch == next.patch
    }
}

#[cfg(test)]
mod tests;
