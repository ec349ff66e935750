//! `install`: fetch, verify, compile and link, snapshot the key-value data, activate,
//! commit in one state write, then swap the slot.
//!
//! Crash safety: the object and the snapshot are written before the state names them; a
//! `pending_restores` entry is written before `activate` may migrate the data, so a crash
//! before the commit write is undone at the next start (`recover`); the commit write is
//! the single point where the new version becomes active.

use std::collections::BTreeMap;
use std::sync::{Arc, PoisonError};

use jiff::Timestamp;
use semver::Version;
use serde::Serialize;

use super::gate::GateReport;
use super::{UpdateError, UpdateManager, crash, plan};
use crate::ids::{ComponentName, Digest};
use crate::manifest::Kind;
use crate::package::VerifiedPackage;
use crate::runtime::LoadedComponent;
use crate::slot::Serving;
use crate::store::{
    ComponentState, JournalEntry, Lifecycle, PendingRestore, RollbackPoint, State, VersionRecord,
};

/// `lifecycle.activate`, called before a version takes traffic.
pub(crate) const ACTIVATE: &str = "anya:extension/lifecycle#activate";
/// `lifecycle.health`, called after activation and during trial.
pub(crate) const HEALTH: &str = "anya:extension/lifecycle#health";

/// What `install` did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct InstallOutcome {
    pub name: ComponentName,
    pub version: Version,
    pub digest: Digest,
    /// The version that was active before, if any.
    pub previous: Option<Version>,
    /// The same package was already active: nothing changed (but see `repaired`).
    pub unchanged: bool,
    /// The same package was already active, but its stored object was missing or
    /// damaged: why, and it has been written again from the registry's verified copy.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub repaired: Option<String>,
    /// Installed below the watermark, over a blocklist entry, or not newer than the active
    /// version, by `--force`.
    pub forced: bool,
    /// Where the new version stands: trial or committed.
    pub status: Lifecycle,
    /// What the package's manifest declares it is.
    pub update_type: crate::manifest::UpdateType,
    pub security_critical: bool,
    /// How long calls that touch the component's data waited: from closing its data
    /// gate (before the snapshot and the migration) to the swap. Zero when unchanged.
    #[serde(default)]
    pub swap_pause: std::time::Duration,
}

/// A candidate that passed every check, compiled, waiting for its commit.
struct Prepared {
    package: VerifiedPackage,
    loaded: Arc<LoadedComponent>,
    gate: GateReport,
    forced: bool,
}

/// An install of a multi-component update that is already committed, with what undoing
/// it needs.
struct Done {
    name: ComponentName,
    /// A first install: the key-value snapshot taken before it (kept until the whole
    /// update is through); `None` for an upgrade, which is undone by a rollback.
    first_install_snapshot: Option<String>,
}

impl UpdateManager {
    /// Installs `name` at `version` (the newest in the registry when `None`).
    ///
    /// Refuses a version below the watermark, not newer than the active one, or
    /// blocklisted, unless `force`; a forced install is recorded as such in the state and
    /// the journal.
    pub fn install(
        &self,
        name: &ComponentName,
        version: Option<&Version>,
        force: bool,
    ) -> Result<InstallOutcome, UpdateError> {
        let mut outcomes = self.install_many(&[(name.clone(), version.cloned())], force)?;
        Ok(outcomes.pop().expect("one outcome per request"))
    }

    /// Installs several components as one update, all or nothing: every candidate is
    /// fetched, verified, checked (dependencies, policy, WIT, validators) and compiled
    /// before any is activated; they are then installed in dependency order, and a
    /// failure rolls back the ones already swapped. Outcomes come in install order.
    pub fn install_many(
        &self,
        requests: &[(ComponentName, Option<Version>)],
        force: bool,
    ) -> Result<Vec<InstallOutcome>, UpdateError> {
        let _one_at_a_time = self.lock_operations();
        self.registry.refresh()?;
        let mut packages: BTreeMap<ComponentName, VerifiedPackage> = BTreeMap::new();
        for (name, version) in requests {
            if packages.contains_key(name) {
                return Err(UpdateError::DuplicateRequest { name: name.clone() });
            }
            let package = match version {
                Some(v) => self.fetch_verified(name, v)?,
                None => self.newest_that_verifies(name)?,
            };
            let version = package.manifest().version.clone();
            if package.manifest().kind != Kind::Extension {
                return Err(UpdateError::WrongKind {
                    name: name.clone(),
                    version,
                    kind: "validator",
                });
            }
            packages.insert(name.clone(), package);
        }

        let state = self.store.state()?;
        let (order, dependencies_forced) = self.plan(&state, &packages, force)?;

        // Every check before anything changes.
        let mut outcomes = Vec::new();
        let mut prepared = Vec::new();
        for name in &order {
            let package = packages.remove(name).expect("the plan orders the requests");
            let version = package.manifest().version.clone();
            let current = state.components.get(name);
            if let Some(c) = current
                && c.active.digest == package.digest()
            {
                let repaired = self.repair_object(&package)?;
                outcomes.push(InstallOutcome {
                    name: name.clone(),
                    version,
                    digest: package.digest(),
                    previous: Some(c.active.version.clone()),
                    unchanged: true,
                    repaired,
                    forced: false,
                    status: c.status.clone(),
                    update_type: package.manifest().update_type,
                    security_critical: package.manifest().security_critical,
                    swap_pause: std::time::Duration::ZERO,
                });
                continue;
            }
            let forced = self.check_admissible(name, &version, package.digest(), current, force)?;
            let forced = self.check_compatible(&package, current, &state, force)? || forced;
            // Compile and link before anything is written: a package that cannot run on
            // this host changes nothing.
            let loaded = self.runtime()?.load(&package)?;
            let gate = self.run_gate(&package, &loaded)?;
            let problems = gate.problems();
            if !problems.is_empty() {
                tracing::info!(candidate = gate.candidate, ?problems, "validation failed");
                return Err(UpdateError::ValidationFailed {
                    candidate: gate.candidate.clone(),
                    problems,
                });
            }
            prepared.push(Prepared {
                forced: forced || dependencies_forced,
                package,
                loaded,
                gate,
            });
        }

        let several = prepared.len() > 1;
        let mut done: Vec<Done> = Vec::new();
        for p in prepared {
            let name = p.package.manifest().name.clone();
            let committed = self.store_candidate(&p).and_then(|()| {
                let state = self.store.load_state()?;
                self.commit_install(state, p.package, p.loaded, p.forced, &p.gate, several)
            });
            match committed {
                Ok((outcome, first_install_snapshot)) => {
                    done.push(Done {
                        name,
                        first_install_snapshot,
                    });
                    outcomes.push(outcome);
                }
                Err(e) => {
                    self.undo_installs(&done, &name, &e)?;
                    return Err(e);
                }
            }
        }
        for d in &done {
            if let Some(snapshot) = &d.first_install_snapshot
                && let Err(e) = self.store.delete_kv_snapshot(&d.name, snapshot)
            {
                tracing::warn!(component = %d.name, error = %e, "could not delete a snapshot");
            }
        }
        Ok(outcomes)
    }

    /// Writes the active version's object again when it is missing or damaged on disk:
    /// `package` was fetched and verified just now and has the digest the state names, so
    /// it is exactly the bytes that were lost. Says why when it repaired something.
    fn repair_object(&self, package: &VerifiedPackage) -> Result<Option<String>, UpdateError> {
        use crate::store::StoreError;
        let damage = match self.store.read_object(package.digest()) {
            Ok(_) => return Ok(None),
            Err(e @ (StoreError::MissingObject { .. } | StoreError::Corrupt { .. })) => {
                e.to_string()
            }
            Err(e) => return Err(e.into()),
        };
        // Writes the object again unless its bytes match (a rename over a damaged one).
        self.store.put_object(package)?;
        let manifest = package.manifest();
        self.store.journal(
            &JournalEntry::new(self.now(), self.actor(), "repaired")
                .component(&manifest.name)
                .version(&manifest.version)
                .digest(package.digest())
                .detail(format!(
                    "{damage}; written again from {}",
                    self.registry.describe()
                )),
        )?;
        tracing::warn!(component = %manifest.name, version = %manifest.version, "{damage}; repaired from the registry");
        Ok(Some(damage))
    }

    /// The object and its validation report, written before the state names them.
    fn store_candidate(&self, p: &Prepared) -> Result<(), UpdateError> {
        self.store.put_object(&p.package)?;
        self.store.save_report(
            p.package.digest(),
            &serde_json::to_value(&p.gate).expect("a gate report serializes"),
        )?;
        crash::point("install:after-object");
        Ok(())
    }

    /// The install order of `packages` (dependencies first), after checking that no
    /// requirement is left unmet; returns whether `force` overrode unmet requirements.
    fn plan(
        &self,
        state: &State,
        packages: &BTreeMap<ComponentName, VerifiedPackage>,
        force: bool,
    ) -> Result<(Vec<ComponentName>, bool), UpdateError> {
        let mut graph: BTreeMap<ComponentName, plan::Node> = BTreeMap::new();
        for (name, c) in &state.components {
            if packages.contains_key(name) {
                continue;
            }
            // The object's bytes are checked against the digest the state names (it was
            // verified when installed); its manifest is enough here. One unreadable
            // installed package is skipped with a warning rather than blocking every
            // install.
            let dependencies = match &c.active.dependencies {
                Some(recorded) => recorded.clone(),
                None => self.dependencies_from_object(name, c.active.digest),
            };
            graph.insert(
                name.clone(),
                plan::Node {
                    version: c.active.version.clone(),
                    dependencies,
                    planned: false,
                },
            );
        }
        for (name, package) in packages {
            graph.insert(
                name.clone(),
                plan::Node {
                    version: package.manifest().version.clone(),
                    dependencies: package.manifest().dependencies.clone(),
                    planned: true,
                },
            );
        }
        let order = plan::order(&graph).map_err(|cycle| UpdateError::DependencyCycle {
            cycle: cycle.to_string(),
        })?;
        let unmet = plan::unmet(&graph);
        if unmet.is_empty() {
            return Ok((order, false));
        }
        if !force {
            return Err(UpdateError::UnmetDependencies { problems: unmet });
        }
        for problem in &unmet {
            tracing::warn!("forced over an unmet dependency: {problem}");
        }
        self.store.journal(
            &JournalEntry::new(self.now(), self.actor(), "dependencies-forced")
                .detail(unmet.join("; ")),
        )?;
        Ok((order, true))
    }

    /// The package `install NAME` takes: the newest version that verifies (newer than the
    /// active one when installed); a newer one that does not is skipped with a warning
    /// (`check` reports it too). When none verifies, the newest one's reason.
    fn newest_that_verifies(&self, name: &ComponentName) -> Result<VerifiedPackage, UpdateError> {
        // Installed: only what is newer than the active version (falling back to the
        // active one would hide why nothing newer installs).
        let active = self
            .store
            .state()?
            .components
            .get(name)
            .map(|c| c.active.version.clone());
        let newest = self.newest_verified(name, active.as_ref())?;
        for (version, reason) in &newest.skipped {
            tracing::warn!(component = %name, %version, %reason, "skipped: it does not verify");
        }
        match (newest.package, newest.skipped.into_iter().next(), active) {
            (Some(package), _, _) => Ok(package),
            (None, Some((_, reason)), _) => Err(reason),
            // Nothing newer: the active version itself ("already installed", or its
            // damaged stored copy written again).
            (None, None, Some(active)) => self.fetch_verified(name, &active),
            (None, None, None) => Err(UpdateError::NotInRegistry {
                registry: self.registry.describe(),
                name: name.clone(),
            }),
        }
    }

    /// Keeps a refused install in the journal (`install-refused`, who asked, why): every
    /// decision is audited, refusals included, though a refusal changes nothing else.
    /// Called by whoever answers the operator (the CLI, the daemon's API), not by
    /// [`install_many`](Self::install_many) itself. Best-effort: a journal that cannot
    /// be written is logged.
    pub fn journal_refusal(
        &self,
        targets: &[(ComponentName, Option<semver::Version>)],
        error: &UpdateError,
    ) {
        let mut entry = JournalEntry::new(self.now(), self.actor(), "install-refused")
            .detail(error.to_string());
        if let [(name, version)] = targets {
            entry = entry.component(name);
            if let Some(version) = version {
                entry = entry.version(version);
            }
        }
        if let Err(e) = self.store.journal(&entry) {
            tracing::error!(error = %e, "could not journal a refusal");
        }
    }

    /// The dependencies an installed package's manifest declares, for a state written
    /// before they were recorded in it.
    fn dependencies_from_object(
        &self,
        name: &ComponentName,
        digest: Digest,
    ) -> BTreeMap<ComponentName, semver::VersionReq> {
        match self.store.read_object(digest) {
            Ok(bytes) => crate::package::inspect(&bytes)
                .manifest
                .map(|m| m.dependencies)
                .unwrap_or_default(),
            Err(e) => {
                tracing::warn!(component = %name, error = %e, "dependencies unknown");
                BTreeMap::new()
            }
        }
    }

    /// Undoes the installs of a multi-component update after `failed` failed: upgrades
    /// roll back to the version they replaced, first installs are removed and their data
    /// put back; newest first.
    fn undo_installs(
        &self,
        done: &[Done],
        failed: &ComponentName,
        cause: &UpdateError,
    ) -> Result<(), UpdateError> {
        let reason = format!("undoing a multi-component update: {failed} failed: {cause}");
        // Every one is tried, whatever happens to the others.
        let mut failures = Vec::new();
        for d in done.iter().rev() {
            let undone = match &d.first_install_snapshot {
                None => self.rollback_locked(&d.name, &reason, false).map(|_| ()),
                Some(snapshot) => self.remove_first_install(&d.name, snapshot, &reason),
            };
            if let Err(e) = undone {
                tracing::error!(component = %d.name, error = %e, "could not undo an install");
                failures.push(format!("{}: {e}", d.name));
            }
        }
        if failures.is_empty() {
            Ok(())
        } else {
            Err(UpdateError::UndoFailed {
                cause: cause.to_string(),
                failures,
            })
        }
    }

    /// Forgets a component that was installed for the first time, putting its key-value
    /// data back as it was before.
    fn remove_first_install(
        &self,
        name: &ComponentName,
        snapshot: &str,
        reason: &str,
    ) -> Result<(), UpdateError> {
        let gate = self.kv_gate(name);
        let _closed = gate.write().unwrap_or_else(PoisonError::into_inner);
        let mut state = self.store.load_state()?;
        let removed = state.components.remove(name);
        self.store.save_state(&state)?;
        self.slots.remove(name);
        self.store.restore_kv_snapshot(name, snapshot)?;
        self.store.delete_kv_snapshot(name, snapshot)?;
        let mut entry = JournalEntry::new(self.now(), self.actor(), "uninstalled")
            .component(name)
            .detail(reason.to_owned());
        if let Some(c) = &removed {
            entry = entry.version(&c.active.version).digest(c.active.digest);
        }
        self.store.journal(&entry)?;
        Ok(())
    }

    /// Refuses what policy forbids; returns whether `force` was needed.
    fn check_admissible(
        &self,
        name: &ComponentName,
        version: &Version,
        digest: Digest,
        current: Option<&ComponentState>,
        force: bool,
    ) -> Result<bool, UpdateError> {
        let Some(c) = current else { return Ok(false) };
        let refusal = if let Some(blocked) = c.blocklist.iter().find(|b| b.digest == digest) {
            Some(UpdateError::Blocklisted {
                name: name.clone(),
                version: version.clone(),
                reason: blocked.reason.clone(),
            })
        } else if *version < c.watermark {
            Some(UpdateError::BelowWatermark {
                name: name.clone(),
                version: version.clone(),
                watermark: c.watermark.clone(),
            })
        } else if *version <= c.active.version {
            Some(UpdateError::NotNewer {
                name: name.clone(),
                version: version.clone(),
                installed: c.active.version.clone(),
            })
        } else {
            None
        };
        match refusal {
            Some(e) if !force => Err(e),
            Some(_) => Ok(true),
            None => Ok(false),
        }
    }

    /// Snapshot, activate, commit, swap: the part of an install that changes the state.
    fn commit_install(
        &self,
        mut state: State,
        package: VerifiedPackage,
        loaded: Arc<LoadedComponent>,
        forced: bool,
        report: &GateReport,
        keep_first_install_snapshot: bool,
    ) -> Result<(InstallOutcome, Option<String>), UpdateError> {
        let name = package.manifest().name.clone();
        let version = package.manifest().version.clone();
        let previous = state.components.get(&name).map(|c| c.active.clone());

        // An optional drain: new calls wait, calls in flight on the old version finish,
        // before the migration runs.
        let slot = self.serving_slot(&name, previous.is_some());
        let _drained = match (&self.options().drain, &slot) {
            (Some(drain), Some(slot)) => {
                let drained = slot.drain(drain.timeout);
                if drained.still_in_flight > 0 {
                    if drain.abort_on_timeout {
                        return Err(UpdateError::DrainTimeout {
                            name: name.clone(),
                            version: version.clone(),
                            in_flight: drained.still_in_flight,
                            waited: drain.timeout,
                        });
                    }
                    tracing::warn!(component = %name, in_flight = drained.still_in_flight, "drain timed out; proceeding");
                }
                Some(drained)
            }
            _ => None,
        };

        // From the snapshot to the swap, serving calls that touch the data wait: the old
        // version must not write after the snapshot, nor read half-migrated data.
        let gate = self.kv_gate(&name);
        let _closed = gate.write().unwrap_or_else(PoisonError::into_inner);
        let paused_at = std::time::Instant::now();
        let snapshot = self.store.take_kv_snapshot(&name, self.now())?;
        crash::point("install:after-snapshot");
        state.pending_restores.insert(
            name.clone(),
            PendingRestore {
                snapshot: snapshot.clone(),
                operation: format!("install of {name} {version}"),
            },
        );
        self.store.save_state(&state)?;
        crash::point("install:after-pending-state");
        self.store.journal(
            &JournalEntry::new(self.now(), self.actor(), "install-started")
                .component(&name)
                .version(&version)
                .digest(package.digest())
                .detail(match &previous {
                    Some(p) => format!("replacing {name} {}", p.version),
                    None => format!("first install of {name}"),
                }),
        )?;

        let mut activated = self.activate(&package, &loaded, previous.as_ref().map(|p| &p.version));
        // A first install has nothing serving to swap with: its post-install check runs
        // before the state names it, so a failure leaves nothing installed.
        let post_check = self.options().validation.post_update_validation;
        if activated.is_ok() && post_check && previous.is_none() {
            activated = self.post_install_check(&package, &loaded, &self.lifecycle_context(&name));
        }
        if let Err(e) = activated {
            self.undo_install(&mut state, &name, &snapshot, &e)?;
            return Err(e);
        }
        crash::point("install:after-activate");

        let now = self.now();
        let until = |d: std::time::Duration| Lifecycle::Trial {
            until: now
                .checked_add(jiff::SignedDuration::try_from(d).unwrap_or(jiff::SignedDuration::MAX))
                .unwrap_or(Timestamp::MAX),
        };
        // An upgrade stays on trial at least until its post-install check passes: a crash
        // before that rolls it back at the next start.
        let check_after_swap = post_check && previous.is_some();
        let mut status = match &self.options().trial {
            Some(trial) => until(trial.duration),
            None if check_after_swap => until(self.options().validation.timeout),
            None => Lifecycle::Committed,
        };
        let record = VersionRecord {
            version: version.clone(),
            digest: package.digest(),
            since: now,
            forced,
            validation: Some(report.summary()),
            dependencies: Some(package.manifest().dependencies.clone()),
        };
        let mut discarded = Vec::new();
        let mut kept = None;
        match state.components.get_mut(&name) {
            Some(c) => {
                let old = std::mem::replace(&mut c.active, record);
                c.rollback_points.retain(|p| p.digest != package.digest());
                c.rollback_points.insert(
                    0,
                    RollbackPoint {
                        version: old.version,
                        digest: old.digest,
                        since: old.since,
                        replaced_at: now,
                        reason: format!("install of {version}"),
                        kv_snapshot: Some(snapshot.clone()),
                        validation: old.validation,
                        forced: old.forced,
                        dependencies: old.dependencies,
                    },
                );
                while c.rollback_points.len() > self.options().rollback_points.max(1) {
                    discarded.extend(c.rollback_points.pop().and_then(|p| p.kv_snapshot));
                }
                c.status = status.clone();
                if version > c.watermark {
                    c.watermark = version.clone();
                }
            }
            None => {
                if keep_first_install_snapshot {
                    kept = Some(snapshot.clone());
                } else {
                    discarded.push(snapshot.clone());
                }
                state.components.insert(
                    name.clone(),
                    ComponentState {
                        active: record,
                        status: status.clone(),
                        rollback_points: Vec::new(),
                        watermark: version.clone(),
                        blocklist: Vec::new(),
                        last_rollback: None,
                    },
                );
            }
        }
        state.pending_restores.remove(&name);
        self.store.save_state(&state)?;
        crash::point("install:after-state");
        // The new version is installed: the swap comes at once, and what follows it is
        // best-effort (a failure is logged, never reported as a failed install).

        if let Some(slot) = &slot {
            let on_trial = matches!(status, Lifecycle::Trial { .. });
            let old = slot.swap(Serving::with_trial(Arc::clone(&loaded), on_trial));
            // New calls go to the new version; idle warm instances of the old one go now,
            // busy ones when their calls finish.
            old.loaded.drain_warm_pool();
        }
        drop(_closed);
        drop(_drained);
        let swap_pause = paused_at.elapsed();
        for id in discarded {
            if let Err(e) = self.store.delete_kv_snapshot(&name, &id) {
                tracing::warn!(component = %name, error = %e, "could not delete a snapshot");
            }
        }
        let journaled = self.store.journal(
            &JournalEntry::new(
                self.now(),
                self.actor(),
                if forced {
                    "installed-forced"
                } else {
                    "installed"
                },
            )
            .component(&name)
            .version(&version)
            .digest(package.digest())
            .detail(match &status {
                Lifecycle::Trial { until } => format!("on trial until {until}"),
                Lifecycle::Committed => "committed".into(),
            }),
        );
        if let Err(e) = journaled {
            tracing::error!(component = %name, error = %e, "installed, but the journal entry could not be written");
        }
        crash::point("install:after-journal");
        tracing::info!(component = %name, %version, digest = %package.digest().short(), forced, "installed");

        if check_after_swap {
            let serving = slot.as_ref().map(|s| s.current());
            let checked = match &serving {
                Some(s) => &s.loaded,
                None => &loaded,
            };
            let ctx = self.serving_context(&name, checked);
            if let Err(e) = self.post_install_check(&package, checked, &ctx) {
                let reason = format!("post-install check failed: {e}");
                if let Some(s) = &serving {
                    s.end_trial();
                }
                let back = self.rollback_locked(&name, &reason, true)?;
                return Err(UpdateError::PostInstallCheck {
                    candidate: package.manifest().label(),
                    rolled_back_to: back.to,
                    reason: e.to_string(),
                });
            }
            if self.options().trial.is_none() {
                match self.commit_locked(&name, "post-install check passed") {
                    Ok(()) => status = Lifecycle::Committed,
                    // Still on trial in the state: the next start rolls it back.
                    Err(e) => {
                        tracing::error!(component = %name, error = %e, "installed, but the commit could not be written; it stays on trial")
                    }
                }
            }
        }
        Ok((
            InstallOutcome {
                name,
                version,
                digest: package.digest(),
                previous: previous.map(|p| p.version),
                unchanged: false,
                repaired: None,
                forced,
                status,
                update_type: package.manifest().update_type,
                security_critical: package.manifest().security_critical,
                swap_pause,
            },
            kept,
        ))
    }

    /// After a failed `activate`: put the data back as it was and forget the install.
    fn undo_install(
        &self,
        state: &mut State,
        name: &ComponentName,
        snapshot: &str,
        cause: &UpdateError,
    ) -> Result<(), UpdateError> {
        self.store.restore_kv_snapshot(name, snapshot)?;
        state.pending_restores.remove(name);
        self.store.save_state(state)?;
        self.store.delete_kv_snapshot(name, snapshot)?;
        self.store.journal(
            &JournalEntry::new(self.now(), self.actor(), "install-failed")
                .component(name)
                .detail(format!("{cause}; key-value data restored")),
        )?;
        Ok(())
    }

    /// Runs `lifecycle.activate(previous)` then `lifecycle.health()` on the candidate.
    fn activate(
        &self,
        package: &VerifiedPackage,
        loaded: &Arc<LoadedComponent>,
        previous: Option<&Version>,
    ) -> Result<(), UpdateError> {
        let ctx = self.lifecycle_context(&package.manifest().name);
        let label = package.manifest().label();
        self.lifecycle_call(
            &label,
            loaded,
            &ctx,
            "activate",
            ACTIVATE,
            serde_json::json!([previous.map(|v| v.to_string())]),
        )?;
        self.lifecycle_call(
            &label,
            loaded,
            &ctx,
            "health",
            HEALTH,
            serde_json::Value::Array(Vec::new()),
        )
    }

    /// After activation: `lifecycle.health`, then the post-install validators the policy
    /// attaches to the component, against the version that now serves.
    fn post_install_check(
        &self,
        package: &VerifiedPackage,
        loaded: &LoadedComponent,
        ctx: &crate::runtime::CallContext,
    ) -> Result<(), UpdateError> {
        let label = package.manifest().label();
        self.lifecycle_call(
            &label,
            loaded,
            ctx,
            "health",
            HEALTH,
            serde_json::Value::Array(Vec::new()),
        )?;
        let names = self
            .options()
            .validation
            .components
            .get(&package.manifest().name)
            .map(|c| c.post_install.clone())
            .unwrap_or_default();
        if names.is_empty() {
            return Ok(());
        }
        let (runs, unavailable, _) = self.run_validators(&names, loaded, |_| true)?;
        let report = GateReport {
            candidate: label.clone(),
            digest: package.digest(),
            at: self.now(),
            skipped: None,
            runs: runs.into_iter().map(|(run, _)| run).collect(),
            unavailable,
            bips: Vec::new(),
            validation_required: false,
            pre_update_tests: true,
        };
        if report.passed() {
            Ok(())
        } else {
            Err(UpdateError::ValidationFailed {
                candidate: label,
                problems: report.problems(),
            })
        }
    }

    /// One lifecycle call; a trap or an `err` answer is an error naming the step.
    pub(super) fn lifecycle_call(
        &self,
        label: &str,
        loaded: &LoadedComponent,
        ctx: &crate::runtime::CallContext,
        step: &'static str,
        function: &str,
        args: serde_json::Value,
    ) -> Result<(), UpdateError> {
        let answer = self
            .runtime()?
            .call(loaded, ctx, function, args)
            .map_err(|e| UpdateError::Lifecycle {
                component: label.to_owned(),
                step,
                reason: e.to_string(),
            })?;
        match answer.get("err") {
            Some(err) => Err(UpdateError::Lifecycle {
                component: label.to_owned(),
                step,
                reason: err.as_str().map_or_else(|| err.to_string(), str::to_owned),
            }),
            None => Ok(()),
        }
    }
}
