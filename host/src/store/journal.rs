//! `journal.jsonl`: the append-only audit of every decision, one JSON object a line.

use jiff::Timestamp;
use semver::Version;
use serde::{Deserialize, Serialize};

use crate::ids::{ComponentName, Digest};

/// One decision, as recorded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JournalEntry {
    pub at: Timestamp,
    /// Who asked: `cli uid=1000`, `scheduler`, ...
    pub actor: String,
    /// What happened: `install-started`, `installed`, `published`, ...
    pub action: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub component: Option<ComponentName>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<Version>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub digest: Option<Digest>,
    /// Why, or anything else worth knowing.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub detail: String,
}

impl JournalEntry {
    /// A decision made `at` (by the caller's clock) by `actor`.
    pub fn new(at: Timestamp, actor: impl Into<String>, action: impl Into<String>) -> Self {
        Self {
            at,
            actor: actor.into(),
            action: action.into(),
            component: None,
            version: None,
            digest: None,
            detail: String::new(),
        }
    }

    pub fn component(mut self, name: &ComponentName) -> Self {
        self.component = Some(name.clone());
        self
    }

    pub fn version(mut self, version: &Version) -> Self {
        self.version = Some(version.clone());
        self
    }

    pub fn digest(mut self, digest: Digest) -> Self {
        self.digest = Some(digest);
        self
    }

    pub fn detail(mut self, detail: impl Into<String>) -> Self {
        self.detail = detail.into();
        self
    }
}
