//! Trial accounting: while a new version is on trial its calls are counted, a failure
//! rate above the policy's threshold rolls it back by itself (and blocklists it), a
//! failing `lifecycle.health` probe does the same, and a trial that runs its course is
//! committed.

use jiff::Timestamp;
use serde::Serialize;

use super::install::HEALTH;
use super::{UpdateError, UpdateManager, crash};
use crate::ids::ComponentName;
use crate::runtime::CallError;
use crate::slot::Serving;
use crate::store::{JournalEntry, Lifecycle};

/// What [`UpdateManager::tick`] decided for one component.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(tag = "event", rename_all = "kebab-case")]
pub enum TrialEvent {
    Committed { name: ComponentName },
    RolledBack { name: ComponentName, reason: String },
}

/// Whether a failed call is the guest's failure (it counts against a trial) rather than
/// the caller's (a bad argument, an unknown function).
pub fn is_guest_failure(error: &CallError) -> bool {
    matches!(
        error,
        CallError::Trap { .. }
            | CallError::OutOfFuel { .. }
            | CallError::DeadlineExceeded { .. }
            | CallError::MemoryLimit { .. }
            | CallError::TableLimit { .. }
            | CallError::ResultTooLarge { .. }
            | CallError::Instantiate { .. }
    )
}

impl UpdateManager {
    /// Counts one serving call; during a trial, a breach rolls the version back.
    pub(super) fn record_outcome(&self, name: &ComponentName, serving: &Serving, failed: bool) {
        let counts = serving.record(failed);
        let options = self.options.load();
        let Some(trial) = &options.trial else {
            return;
        };
        if !failed || !serving.on_trial() || counts.calls < trial.min_calls {
            return;
        }
        let rate = counts.failure_rate();
        if rate <= trial.max_failure_rate {
            return;
        }
        let reason = format!(
            "trial failed: {} of {} calls failed ({:.0}%, over the {:.0}% threshold)",
            counts.failures,
            counts.calls,
            rate * 100.0,
            trial.max_failure_rate * 100.0
        );
        if !trial.auto_rollback {
            tracing::error!(component = %name, "{reason}; automatic rollback is off");
            return;
        }
        // Only one caller acts on a breach; the others carry on (on whichever version the
        // slot holds by then).
        let Ok(_one_at_a_time) = self.operations.try_lock() else {
            return;
        };
        if !serving.on_trial() {
            return;
        }
        serving.end_trial();
        if let Err(e) = self.rollback_locked(name, &reason, true) {
            tracing::error!(component = %name, error = %e, "automatic rollback failed");
        }
    }

    /// Ends the trial of `name` and commits its active version.
    pub fn commit(&self, name: &ComponentName) -> Result<(), UpdateError> {
        let _one_at_a_time = self.lock_operations();
        self.commit_locked(name, "trial passed")
    }

    pub(super) fn commit_locked(&self, name: &ComponentName, why: &str) -> Result<(), UpdateError> {
        let mut state = self.store.load_state()?;
        let c = state
            .components
            .get_mut(name)
            .ok_or_else(|| UpdateError::NotInstalled { name: name.clone() })?;
        if c.status == Lifecycle::Committed {
            return Ok(());
        }
        c.status = Lifecycle::Committed;
        let active = c.active.clone();
        crash::point("commit:before-state");
        self.store.save_state(&state)?;
        crash::point("commit:after-state");
        if let Some(slot) = self.loaded_slot(name) {
            slot.current().end_trial();
        }
        self.store.journal(
            &JournalEntry::new(self.now(), self.actor(), "committed")
                .component(name)
                .version(&active.version)
                .digest(active.digest)
                .detail(why),
        )?;
        Ok(())
    }

    /// One round of trial supervision at `now`: probes `lifecycle.health` of every version
    /// on trial (a failure rolls it back), and commits those whose trial is over.
    pub fn tick(&self, now: Timestamp) -> Result<Vec<TrialEvent>, UpdateError> {
        let _one_at_a_time = self.lock_operations();
        let state = self.store.state()?;
        let mut events = Vec::new();
        for (name, c) in &state.components {
            let Lifecycle::Trial { until } = c.status else {
                continue;
            };
            // One component's trouble never stops the others' supervision.
            if let Err(e) = self.tick_one(name, c, until, now, &mut events) {
                tracing::error!(component = %name, error = %e, "trial supervision failed");
            }
        }
        Ok(events)
    }

    fn tick_one(
        &self,
        name: &ComponentName,
        c: &crate::store::ComponentState,
        until: Timestamp,
        now: Timestamp,
        events: &mut Vec<TrialEvent>,
    ) -> Result<(), UpdateError> {
        let slot = self.slot(name)?;
        let serving = slot.current();
        let label = format!("{name} {}", c.active.version);
        let ctx = self.serving_context(name, &serving.loaded);
        let health = self.lifecycle_call(
            &label,
            &serving.loaded,
            &ctx,
            "health",
            HEALTH,
            serde_json::Value::Array(Vec::new()),
        );
        if let Err(e) = health {
            serving.record(true);
            let reason = format!("trial failed: {e}");
            let auto = self
                .options()
                .trial
                .as_ref()
                .is_none_or(|t| t.auto_rollback);
            if !auto {
                tracing::error!(component = %name, "{reason}; automatic rollback is off");
                return Ok(());
            }
            if c.rollback_points.is_empty() {
                // A first install has nothing to go back to: said, not undone.
                tracing::error!(component = %name, "{reason}; there is no earlier version to roll back to");
                return Ok(());
            }
            serving.end_trial();
            self.rollback_locked(name, &reason, true)?;
            events.push(TrialEvent::RolledBack {
                name: name.clone(),
                reason,
            });
            return Ok(());
        }
        if now >= until {
            self.commit_locked(name, "trial passed")?;
            events.push(TrialEvent::Committed { name: name.clone() });
        }
        Ok(())
    }
}
