//! The two documents of the signed index, as their payloads are written.
//!
//! - [`Release`]: signed by the publisher's offline keys (a threshold): a monotonically
//!   increasing `version`, an `expires`, and per component and version what the package
//!   is (sha256, length, the OCI manifest digest when it lives in an OCI registry), plus
//!   revoked versions.
//! - [`Rollout`]: signed by an online key, short-lived: which release it belongs to (its
//!   version and the sha256 of its payload: no mix and match), and per component the
//!   stable version, the candidate, the share of hosts (basis points) that run the
//!   candidate, the salt of the cohort hash, and the rollout's state.

use std::collections::{BTreeMap, BTreeSet};

use jiff::Timestamp;
use semver::Version;
use serde::{Deserialize, Serialize};

use super::envelope::RoleKeys;
use crate::ids::{ComponentName, Digest};
use crate::keys::PublicKey;

/// DSSE payload type of a release document.
pub const RELEASE_TYPE: &str = "application/vnd.anya.release.v1+json";
/// DSSE payload type of a rollout document.
pub const ROLLOUT_TYPE: &str = "application/vnd.anya.rollout.v1+json";

/// The publisher's signed list of what exists.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Release {
    pub version: u64,
    pub expires: Timestamp,
    #[serde(default)]
    pub components: BTreeMap<ComponentName, BTreeMap<Version, ReleasedPackage>>,
    /// Versions no host may install any more (they stay listed, so a host that runs one
    /// knows why it is moved off it).
    #[serde(default)]
    pub revoked: BTreeMap<ComponentName, BTreeSet<Version>>,
    /// Who signs rollout documents over this release (the online key). Without it, hosts
    /// follow no rollout: every released version is theirs to take.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rollout_signers: Option<RoleSpec>,
    /// Who signs the releases after this one, when the publisher rotates its offline
    /// keys: a host that accepted this release (signed by the old keys and by these)
    /// needs these from then on, with no change to its trust store.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub release_signers: Option<RoleSpec>,
    /// The signed envelope (base64) of the release that handed the signing to
    /// `release_signers`, kept in every later release: a host that never saw that release
    /// follows the hand-over from it (each hand-over carries the one before: TUF's chain
    /// of root versions).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rotation: Option<String>,
}

/// A role as a document names it: ed25519 public keys (hex) and how many distinct ones
/// must sign.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RoleSpec {
    pub keys: Vec<String>,
    pub threshold: u32,
}

impl RoleSpec {
    /// The role's keys, or why they are not a role: a key that is not one, a key twice,
    /// a threshold of 0 or above the number of keys.
    pub fn keys(&self) -> Result<RoleKeys, String> {
        let mut keys = Vec::with_capacity(self.keys.len());
        for hex in &self.keys {
            let key = PublicKey::from_hex(hex).map_err(|e| format!("key {hex:?}: {e}"))?;
            if keys.contains(&key) {
                return Err(format!("key {} is listed twice", key.key_id()));
            }
            keys.push(key);
        }
        if self.threshold == 0 || self.threshold as usize > keys.len() {
            return Err(format!(
                "threshold {} with {} key(s): it must be 1 to the number of keys",
                self.threshold,
                keys.len()
            ));
        }
        Ok(RoleKeys {
            keys,
            threshold: self.threshold,
        })
    }

    /// The spec of `keys`.
    pub fn of(keys: &RoleKeys) -> Self {
        Self {
            keys: keys.keys.iter().map(PublicKey::to_hex).collect(),
            threshold: keys.threshold,
        }
    }
}

/// What one published package is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReleasedPackage {
    pub sha256: Digest,
    pub length: u64,
    /// `sha256:…` of the OCI manifest holding it, when it is in an OCI registry: a host
    /// pulls `repository@digest`, never a tag.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub oci_digest: Option<String>,
}

impl Release {
    /// The entry for `name` `version`, if released and not revoked.
    pub fn installable(&self, name: &ComponentName, version: &Version) -> Option<&ReleasedPackage> {
        if self.is_revoked(name, version) {
            return None;
        }
        self.components.get(name)?.get(version)
    }

    pub fn is_revoked(&self, name: &ComponentName, version: &Version) -> bool {
        self.revoked.get(name).is_some_and(|r| r.contains(version))
    }
}

/// The release a rollout document belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReleaseRef {
    pub version: u64,
    pub sha256: Digest,
}

/// The online key's staged rollout over one release.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Rollout {
    pub version: u64,
    pub expires: Timestamp,
    pub release: ReleaseRef,
    #[serde(default)]
    pub components: BTreeMap<ComponentName, Stage>,
}

/// One component's rollout.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Stage {
    pub stable: Version,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub candidate: Option<Version>,
    /// Share of hosts on the candidate, in hundredths of a percent (0..=10000).
    #[serde(default)]
    pub basis_points: u16,
    /// The shares the candidate goes through (basis points, ascending), as the rollout was
    /// started: what `anya rollout step` promotes it to next. Hosts only read
    /// `basis_points`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub stages: Vec<u16>,
    /// Makes each rollout's cohort its own: a host early in one is not always early.
    pub salt: String,
    pub state: RolloutState,
}

/// Where a component's rollout stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum RolloutState {
    /// The candidate's share grows stage by stage.
    Progressing,
    /// Held at its share: the cohort keeps the candidate, no host joins.
    Paused,
    /// Every host on stable; the cohort rolls back.
    Aborted,
}

/// Basis points in a whole.
pub const ALL_HOSTS: u16 = 10_000;

/// Whether the host `host_id` is in the first `basis_points` of component `name`'s cohort
/// under `salt`: `u32(sha256(salt ‖ name ‖ host_id)[..4]) % 10000 < basis_points`.
pub fn in_cohort(salt: &str, name: &ComponentName, host_id: &str, basis_points: u16) -> bool {
    let mut input = Vec::with_capacity(salt.len() + name.as_str().len() + host_id.len());
    input.extend_from_slice(salt.as_bytes());
    input.extend_from_slice(name.as_str().as_bytes());
    input.extend_from_slice(host_id.as_bytes());
    let hash = Digest::of(&input);
    let first = u32::from_be_bytes(hash.as_bytes()[..4].try_into().expect("4 bytes"));
    first % u32::from(ALL_HOSTS) < u32::from(basis_points)
}

impl Stage {
    /// Every host on `stable`, nothing rolling out.
    pub fn pinned(stable: Version) -> Self {
        Self {
            stable,
            candidate: None,
            basis_points: 0,
            stages: Vec::new(),
            salt: String::new(),
            state: RolloutState::Progressing,
        }
    }

    /// The version host `host_id` should run.
    pub fn target(&self, name: &ComponentName, host_id: &str) -> &Version {
        match (&self.candidate, self.state) {
            (Some(candidate), RolloutState::Progressing | RolloutState::Paused)
                if in_cohort(&self.salt, name, host_id, self.basis_points) =>
            {
                candidate
            }
            _ => &self.stable,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn name(s: &str) -> ComponentName {
        ComponentName::parse(s).unwrap()
    }

    #[test]
    fn cohorts_grow_with_the_basis_points_and_differ_by_salt() {
        let hosts: Vec<String> = (0..2000).map(|i| format!("host-{i}")).collect();
        let share = |salt: &str, bp: u16| {
            hosts
                .iter()
                .filter(|h| in_cohort(salt, &name("bech32"), h, bp))
                .count()
        };
        assert_eq!(share("s", 0), 0);
        assert_eq!(share("s", ALL_HOSTS), hosts.len());
        let five = share("s", 500);
        assert!((60..=140).contains(&five), "5% of 2000 hosts: {five}");
        // Growing the share only adds hosts.
        for h in &hosts {
            if in_cohort("s", &name("bech32"), h, 100) {
                assert!(in_cohort("s", &name("bech32"), h, 2500));
            }
        }
        let a: Vec<bool> = hosts
            .iter()
            .map(|h| in_cohort("a", &name("bech32"), h, 500))
            .collect();
        let b: Vec<bool> = hosts
            .iter()
            .map(|h| in_cohort("b", &name("bech32"), h, 500))
            .collect();
        assert_ne!(a, b);
    }

    #[test]
    fn an_aborted_rollout_sends_everyone_to_stable() {
        let mut stage = Stage {
            stable: Version::new(1, 0, 0),
            candidate: Some(Version::new(1, 1, 0)),
            basis_points: ALL_HOSTS,
            stages: Vec::new(),
            salt: "s".into(),
            state: RolloutState::Progressing,
        };
        assert_eq!(stage.target(&name("bech32"), "h"), &Version::new(1, 1, 0));
        stage.state = RolloutState::Paused;
        assert_eq!(stage.target(&name("bech32"), "h"), &Version::new(1, 1, 0));
        stage.state = RolloutState::Aborted;
        assert_eq!(stage.target(&name("bech32"), "h"), &Version::new(1, 0, 0));
    }
}
