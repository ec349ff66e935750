//! `descend`: follow the signed index *down*. A staged rollout that is aborted sends its
//! cohort back to stable; a revoked version sends every host that runs it to the newest
//! version it may take. The metadata only ever moves forward (a newer rollout or release
//! document); the hosts move down by themselves.
//!
//! The way down is the quickest that is safe: the rollback point when it is the version
//! to go to (still compiled: instant, and its data snapshot restored), else an install of
//! that version, verified and validated like any other, forced past the watermark (the
//! signed index, not the host, decided the downgrade).

use semver::Version;
use serde::{Deserialize, Serialize};

use super::{InstallOutcome, RollbackOutcome, UpdateError, UpdateManager};
use crate::ids::{ComponentName, Digest};
use crate::index::Release;
use crate::registry::{IndexView, Unlisted};

/// A component this host runs a version of that the signed index no longer gives it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Descent {
    pub name: ComponentName,
    pub from: Version,
    pub to: Version,
    /// The sha256 the index lists for `to`: the rollback point serves only if it is
    /// that package.
    pub to_digest: Digest,
    /// Revoked, or above this host's rollout stage.
    pub why: DescentCause,
}

/// Why the index sends a host down.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum DescentCause {
    /// The release revoked the running version.
    Revoked,
    /// The rollout gives this host a lower version (aborted, or this host left the
    /// cohort).
    RolloutStage,
}

impl Descent {
    /// Why, in the journal and the notifications.
    pub fn reason(&self) -> String {
        match self.why {
            DescentCause::Revoked => format!(
                "the signed index revoked {} {}; going down to {}",
                self.name, self.from, self.to
            ),
            DescentCause::RolloutStage => format!(
                "the signed rollout gives this host {} {} (the rollout was aborted or its \
                 stage does not include this host)",
                self.name, self.to
            ),
        }
    }
}

/// How a host went down.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", tag = "by")]
pub enum DescentOutcome {
    /// To the rollback point, still compiled.
    RolledBack(RollbackOutcome),
    /// By installing the version the index gives.
    Installed(InstallOutcome),
}

impl UpdateManager {
    /// What the accepted index sends down, with the version each goes to: the newest this
    /// host may take, not blocklisted. Nothing without an index, or while its release is
    /// refused (a frozen host keeps what runs), or for a version the index never listed
    /// (put there by an operator, not by the fleet). While only the rollout document is
    /// refused, the release's revocations still apply.
    pub fn descents(&self) -> Result<Vec<Descent>, UpdateError> {
        let guide = match (self.registry.index_view(), self.registry.accepted_release()) {
            (Some(view), _) => Guide::View(view),
            (None, Some(release)) => Guide::Release(release),
            (None, None) => return Ok(Vec::new()),
        };
        let state = self.store.state()?;
        let mut descents = Vec::new();
        for (name, component) in &state.components {
            let running = &component.active.version;
            let Some(why) = guide.sends_down(name, running) else {
                continue;
            };
            let blocked = |v: &Version| component.blocklist.iter().any(|b| b.version == *v);
            let to = guide
                .versions(name)
                .into_iter()
                .rfind(|v| v < running && !blocked(v))
                .and_then(|v| Some((guide.sha256(name, &v)?, v)));
            match to {
                Some((to_digest, to)) => descents.push(Descent {
                    name: name.clone(),
                    from: running.clone(),
                    to,
                    to_digest,
                    why,
                }),
                None => tracing::warn!(
                    component = %name,
                    version = %running,
                    "the signed index no longer gives this host the running version, and \
                     lists no lower one it may take: it keeps serving"
                ),
            }
        }
        Ok(descents)
    }

    /// Goes down as `descent` says: to the rollback point when it is that version, else
    /// by a forced install of it.
    pub fn descend(&self, descent: &Descent) -> Result<DescentOutcome, UpdateError> {
        let reason = descent.reason();
        tracing::info!(component = %descent.name, from = %descent.from, to = %descent.to, %reason, "following the signed index down");
        let state = self.store.state()?;
        let to_rollback_point = state
            .components
            .get(&descent.name)
            .and_then(|c| c.rollback_points.first())
            .is_some_and(|point| point.version == descent.to && point.digest == descent.to_digest);
        drop(state);
        let outcome = if to_rollback_point {
            self.rollback(&descent.name, &reason, false)
                .map(DescentOutcome::RolledBack)?
        } else {
            self.install(&descent.name, Some(&descent.to), true)
                .map(DescentOutcome::Installed)?
        };
        self.lower_watermark(descent, &reason)?;
        Ok(outcome)
    }

    /// The watermark (the highest version this host ran, below which it refuses to go
    /// without `--force`) comes down to where the signed index sent it: the fleet decided
    /// it, and a rollout of the version left (after a false alarm) must reach this host
    /// again.
    fn lower_watermark(&self, descent: &Descent, reason: &str) -> Result<(), UpdateError> {
        let _one_at_a_time = self.lock_operations();
        let mut state = self.store.load_state()?;
        let Some(component) = state.components.get_mut(&descent.name) else {
            return Ok(());
        };
        if component.watermark <= descent.to {
            return Ok(());
        }
        let from = std::mem::replace(&mut component.watermark, descent.to.clone());
        self.store.save_state(&state)?;
        self.store.journal(
            &crate::store::JournalEntry::new(self.now(), self.actor(), "watermark-lowered")
                .component(&descent.name)
                .version(&descent.to)
                .detail(format!("from {from}: {reason}")),
        )?;
        Ok(())
    }
}

/// What the way down follows: the whole accepted index, or only its release while the
/// rollout document is refused (its revocations, nothing of the stages).
enum Guide {
    View(std::sync::Arc<IndexView>),
    Release(std::sync::Arc<Release>),
}

impl Guide {
    /// Why `running` must go, if it must.
    fn sends_down(&self, name: &ComponentName, running: &Version) -> Option<DescentCause> {
        match self {
            Self::View(view) => match view.listed(name, running) {
                Ok(_) | Err(Unlisted::NotListed) => None,
                Err(Unlisted::Revoked) => Some(DescentCause::Revoked),
                Err(Unlisted::HeldBack) => Some(DescentCause::RolloutStage),
            },
            Self::Release(release) => release
                .is_revoked(name, running)
                .then_some(DescentCause::Revoked),
        }
    }

    /// The versions of `name` a host may take, ascending.
    fn versions(&self, name: &ComponentName) -> Vec<Version> {
        match self {
            Self::View(view) => view.versions(name),
            Self::Release(release) => release
                .components
                .get(name)
                .into_iter()
                .flat_map(|versions| versions.keys())
                .filter(|v| !release.is_revoked(name, v))
                .cloned()
                .collect(),
        }
    }

    /// The sha256 the index lists for `name` `version`.
    fn sha256(&self, name: &ComponentName, version: &Version) -> Option<Digest> {
        match self {
            Self::View(view) => view.listed(name, version).ok().map(|p| p.sha256),
            Self::Release(release) => release.installable(name, version).map(|p| p.sha256),
        }
    }
}
