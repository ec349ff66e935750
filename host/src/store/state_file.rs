//! `state.json`: which version of each component is active, what came before it, and
//! the highest version this host ever trusted.
//!
//! Invariant: every digest named here has a verified object in `objects/`, written
//! before the state file that names it.

use std::collections::BTreeMap;

use jiff::Timestamp;
use semver::Version;
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
}

impl Default for State {
    fn default() -> Self {
        Self {
            format: STATE_FORMAT,
            components: BTreeMap::new(),
        }
    }
}

/// One installed component.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ComponentState {
    /// The version that serves calls.
    pub active: VersionRecord,
    /// Versions that were active before, newest first: verified and run on this host.
    #[serde(default)]
    pub previous: Vec<VersionRecord>,
    /// The highest version this host ever trusted: the registry can never install below it.
    pub watermark: Version,
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
}
