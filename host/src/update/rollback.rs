//! `rollback`: make the previous version current again, at once, without fetching,
//! verifying anything new, or compiling (the previous version is still loaded, or comes
//! back from the compile cache), and put its key-value data back.
//!
//! Order: close the data gate → swap the slot (from here the previous version serves) →
//! commit the state with a pending restore → restore the data → open the gate → clear the
//! pending restore. A crash after the commit write is completed by `recover`; a crash
//! before it leaves the state as it was.

use std::sync::{Arc, PoisonError};

use semver::Version;
use serde::Serialize;

use super::{UpdateError, UpdateManager, crash};
use crate::ids::{ComponentName, Digest};
use crate::store::{
    Blocked, JournalEntry, Lifecycle, PendingRestore, RollbackPoint, RollbackRecord, State,
    VersionRecord,
};

/// Automatic rollbacks kept for [`UpdateManager::take_automatic_rollbacks`]; older ones
/// are dropped past this many.
const MAX_UNREPORTED_ROLLBACKS: usize = 256;

/// What `rollback` did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct RollbackOutcome {
    pub name: ComponentName,
    pub from: Version,
    pub to: Version,
    pub digest: Digest,
    pub reason: String,
    /// The version rolled back from is refused from now on (a failed trial).
    pub blocklisted: bool,
    /// From the command to the previous version serving new calls (the swap); the rest of
    /// the command (state writes, the key-value restore, the journal) comes after.
    pub serving_after: std::time::Duration,
}

impl UpdateManager {
    /// Goes back to the newest rollback point of `name`: a version this host verified and
    /// ran. An operator's rollback (`automatic == false`) is audited; an automatic one (a
    /// failed trial) also blocklists the version it leaves.
    pub fn rollback(
        &self,
        name: &ComponentName,
        reason: &str,
        automatic: bool,
    ) -> Result<RollbackOutcome, UpdateError> {
        let _one_at_a_time = self.lock_operations();
        self.rollback_locked(name, reason, automatic)
    }

    /// Which rollback point an automatic rollback goes to: the newest the signed index
    /// still gives this host (not revoked, not above its rollout stage), so a failing
    /// version is never left for a revoked one; the newest when none is (or no index).
    fn first_allowed_point(&self, name: &ComponentName, points: &[RollbackPoint]) -> usize {
        let Some(view) = self.registry.index_view() else {
            return 0;
        };
        points
            .iter()
            .position(|point| {
                !matches!(
                    view.listed(name, &point.version),
                    Err(crate::registry::Unlisted::Revoked | crate::registry::Unlisted::HeldBack)
                )
            })
            .unwrap_or(0)
    }

    pub(super) fn rollback_locked(
        &self,
        name: &ComponentName,
        reason: &str,
        automatic: bool,
    ) -> Result<RollbackOutcome, UpdateError> {
        let started = std::time::Instant::now();
        // Traffic moves first, from the shared state (no copy, no file read); the state
        // is copied and written after.
        let shared = self.store.state()?;
        let component = shared
            .components
            .get(name)
            .ok_or_else(|| UpdateError::NotInstalled { name: name.clone() })?;
        let chosen = if automatic {
            self.first_allowed_point(name, &component.rollback_points)
        } else {
            0
        };
        let target = component
            .rollback_points
            .get(chosen)
            .cloned()
            .ok_or_else(|| UpdateError::NoRollbackPoint { name: name.clone() })?;
        let from = component.active.clone();

        // The target is still loaded in the slot (instant), or comes back from the cache.
        let slot = self.serving_slot(name, true);
        let serving = match slot.as_ref().and_then(|s| s.previous()) {
            Some(previous) if previous.loaded.digest() == target.digest => previous,
            _ => self.load_serving(name, target.digest)?,
        };

        let gate = self.kv_gate(name);
        let closed = gate.write().unwrap_or_else(PoisonError::into_inner);
        let failed = slot
            .as_ref()
            .map(|slot| slot.roll_back_to(Arc::clone(&serving)));
        let serving_after = started.elapsed();
        if let Some(failed) = failed {
            failed.loaded.drain_warm_pool();
        }
        let mut state = State::clone(&shared);
        drop(shared);
        let now = self.now();
        let c = state.components.get_mut(name).expect("checked above");
        c.rollback_points.remove(chosen);
        c.active = VersionRecord {
            version: target.version.clone(),
            digest: target.digest,
            since: now,
            forced: target.forced,
            validation: target.validation.clone(),
            dependencies: target.dependencies.clone(),
        };
        c.status = Lifecycle::Committed;
        c.last_rollback = Some(RollbackRecord {
            from: from.version.clone(),
            to: target.version.clone(),
            reason: reason.to_owned(),
            at: now,
            automatic,
        });
        if automatic && !c.blocklist.iter().any(|b| b.digest == from.digest) {
            c.blocklist.push(Blocked {
                digest: from.digest,
                version: from.version.clone(),
                reason: reason.to_owned(),
                at: now,
            });
        }
        // Said before the state is written, so that a crash after that write (which is
        // what makes the rollback happen) is journaled at the next start (`recover`).
        // Best-effort: the version is already serving, and the rollback goes on.
        let actor = if automatic {
            "anya (trial)".to_owned()
        } else {
            self.actor()
        };
        let started_entry = JournalEntry::new(now, &actor, "rollback-started")
            .component(name)
            .version(&target.version)
            .digest(target.digest)
            .detail(format!("from {}: {reason}", from.version));
        if let Err(e) = self.store.journal(&started_entry) {
            tracing::warn!(component = %name, error = %e, "could not journal the start of a rollback");
        }
        crash::point("rollback:after-start-entry");
        if let Some(snapshot) = &target.kv_snapshot {
            state.pending_restores.insert(
                name.clone(),
                PendingRestore {
                    snapshot: snapshot.clone(),
                    operation: format!("rollback of {name} to {}", target.version),
                },
            );
        }
        self.save_state_retrying(&state)?;
        crash::point("rollback:after-state");
        if let Some(snapshot) = &target.kv_snapshot {
            self.store.restore_kv_snapshot(name, snapshot)?;
            crash::point("rollback:after-kv-restore");
        }
        drop(closed);
        if let Some(snapshot) = &target.kv_snapshot {
            state.pending_restores.remove(name);
            self.save_state_retrying(&state)?;
            self.store.delete_kv_snapshot(name, snapshot)?;
        }
        crash::point("rollback:after-cleanup");
        self.store.journal(
            &JournalEntry::new(now, &actor, rolled_back_action(automatic))
                .component(name)
                .version(&target.version)
                .digest(target.digest)
                .detail(format!("from {}: {reason}", from.version)),
        )?;
        crash::point("rollback:after-journal");
        if automatic {
            tracing::warn!(component = %name, from = %from.version, to = %target.version, reason, "rolled back by the host");
        } else {
            tracing::info!(component = %name, from = %from.version, to = %target.version, reason, "rolled back");
        }
        let outcome = RollbackOutcome {
            name: name.clone(),
            from: from.version,
            to: target.version,
            digest: target.digest,
            reason: reason.to_owned(),
            blocklisted: automatic,
            serving_after,
        };
        if automatic {
            let mut recent = self
                .automatic_rollbacks
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            if recent.len() >= MAX_UNREPORTED_ROLLBACKS {
                recent.remove(0);
            }
            recent.push(outcome.clone());
        }
        Ok(outcome)
    }

    /// The automatic rollbacks (a failed trial or post-install check) since the last
    /// call, oldest first, for whoever reports them (the daemon's notifications and
    /// metrics): they happen inside calls, ticks and installs.
    pub fn take_automatic_rollbacks(&self) -> Vec<RollbackOutcome> {
        std::mem::take(
            &mut *self
                .automatic_rollbacks
                .lock()
                .unwrap_or_else(PoisonError::into_inner),
        )
    }

    /// A rollback has already moved traffic; its state write is retried
    /// (`max_rollback_attempts`) before giving up.
    fn save_state_retrying(&self, state: &crate::store::State) -> Result<(), UpdateError> {
        let attempts = self.options().max_rollback_attempts.max(1);
        let mut last = None;
        for attempt in 1..=attempts {
            match self.store.save_state(state) {
                Ok(()) => return Ok(()),
                Err(e) => {
                    tracing::error!(attempt, error = %e, "cannot record the rollback");
                    last = Some(e);
                }
            }
        }
        Err(last.expect("at least one attempt").into())
    }
}

/// The journal's word for a rollback that happened.
pub(super) fn rolled_back_action(automatic: bool) -> &'static str {
    if automatic {
        "rolled-back-automatically"
    } else {
        "rolled-back"
    }
}
