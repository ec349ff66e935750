//! Start-up recovery: whatever an interrupted process left in flight is completed or
//! undone before anything else happens, and the journal says so.
//!
//! - a pending key-value restore (an install stopped before its commit, or a rollback
//!   stopped after it) is run to the end;
//! - a version still on trial comes back as the previous one (the A/B "boot counting"
//!   idea: a trial that was not committed while the host ran is not trusted after it);
//! - an install or a rollback whose state was written but not journaled is journaled;
//! - snapshots that no state names are deleted.

use super::{UpdateError, UpdateManager};

/// How much of the journal's end start-up recovery reads.
const RECENT_JOURNAL_BYTES: u64 = 256 * 1024;
use crate::store::{JournalEntry, Lifecycle};

impl UpdateManager {
    pub(super) fn recover(&self) -> Result<(), UpdateError> {
        let mut state = self.store.load_state()?;
        let pending = std::mem::take(&mut state.pending_restores);
        for (name, restore) in &pending {
            self.store.restore_kv_snapshot(name, &restore.snapshot)?;
            let kept = state.components.get(name).is_some_and(|c| {
                c.rollback_points
                    .iter()
                    .any(|p| p.kv_snapshot.as_ref() == Some(&restore.snapshot))
            });
            self.store.save_state(&state)?;
            if !kept {
                self.store.delete_kv_snapshot(name, &restore.snapshot)?;
            }
            let active = state
                .components
                .get(name)
                .map(|c| c.active.version.to_string());
            self.store.journal(
                &JournalEntry::new(self.now(), "anya (recovery)", "recovered")
                    .component(name)
                    .detail(format!(
                        "{} was interrupted; key-value data restored; active: {}",
                        restore.operation,
                        active.as_deref().unwrap_or("none")
                    )),
            )?;
        }

        let on_trial: Vec<_> = state
            .components
            .iter()
            .filter(|(_, c)| {
                matches!(c.status, Lifecycle::Trial { .. }) && !c.rollback_points.is_empty()
            })
            .map(|(name, c)| (name.clone(), c.active.version.clone()))
            .collect();
        for (name, version) in on_trial {
            self.rollback_locked(
                &name,
                &format!("{name} {version} was still on trial when the host stopped"),
                false,
            )?;
        }
        // A first install on trial has nothing to go back to: it is committed.
        let mut state = self.store.load_state()?;
        let mut changed = false;
        for c in state.components.values_mut() {
            if matches!(c.status, Lifecycle::Trial { .. }) {
                c.status = Lifecycle::Committed;
                changed = true;
            }
        }
        if changed {
            self.store.save_state(&state)?;
        }

        self.journal_unrecorded_outcomes(&state)?;
        self.delete_orphan_snapshots(&state)
    }

    /// An install or a rollback whose state write happened (the active version is the
    /// one it started towards) but whose outcome entry did not.
    fn journal_unrecorded_outcomes(&self, state: &crate::store::State) -> Result<(), UpdateError> {
        // The entry in question is among the last few: the tail is enough, and start-up
        // does not grow with the journal.
        let journal = self.store.read_journal_tail(RECENT_JOURNAL_BYTES)?;
        for (name, c) in &state.components {
            // Other entries about the component (a refused request, a scheduler decision)
            // may come between an operation's start and a crash: only the operations'
            // own entries count.
            let last = journal
                .iter()
                .rev()
                .find(|e| e.component.as_ref() == Some(name) && is_operation_entry(&e.action));
            let Some(entry) = last.filter(|e| e.digest == Some(c.active.digest)) else {
                continue;
            };
            let (action, detail) = match entry.action.as_str() {
                "install-started" => (
                    "installed",
                    "the install was committed; its journal entry is written at recovery"
                        .to_owned(),
                ),
                "rollback-started" => (
                    super::rollback::rolled_back_action(
                        c.last_rollback.as_ref().is_some_and(|r| r.automatic),
                    ),
                    format!(
                        "{}; the rollback was committed, its journal entry is written at recovery",
                        entry.detail
                    ),
                ),
                _ => continue,
            };
            self.store.journal(
                &JournalEntry::new(self.now(), "anya (recovery)", action)
                    .component(name)
                    .version(&c.active.version)
                    .digest(c.active.digest)
                    .detail(detail),
            )?;
        }
        Ok(())
    }

    fn delete_orphan_snapshots(&self, state: &crate::store::State) -> Result<(), UpdateError> {
        for (name, c) in &state.components {
            for id in self.store.kv_snapshot_ids(name)? {
                let named = c
                    .rollback_points
                    .iter()
                    .any(|p| p.kv_snapshot.as_deref() == Some(&id))
                    || state
                        .pending_restores
                        .get(name)
                        .is_some_and(|p| p.snapshot == id);
                if !named {
                    self.store.delete_kv_snapshot(name, &id)?;
                }
            }
        }
        Ok(())
    }
}

/// Whether a journal action is an install's or a rollback's own: its start or its outcome.
fn is_operation_entry(action: &str) -> bool {
    [
        "install-started",
        "install-failed",
        "installed",
        "rollback-started",
        "rolled-back",
    ]
    .iter()
    .any(|a| action.starts_with(a))
}
