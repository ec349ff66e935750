//! The scheduler: on each cycle (one clock reading for every decision in it), supervise
//! trials, find updates, and install those the policy lets through by itself, inside the
//! maintenance window, at most `max_concurrent_updates` per cycle, dependencies first.
//!
//! Decisions, per update found:
//! - held for approval (new capabilities): never installed; `anya approve` or an operator
//!   install lets it through;
//! - refused: its validation would fail, or it breaks exports without a major bump;
//! - skipped: the policy does not install it by itself (`auto_update` off for the
//!   component, feature updates off, breaking changes);
//! - deferred: allowed, but outside the maintenance window, or later in the window at its
//!   quietest part ([`quiet`]); planned for then, and `anya status` says when and why;
//! - installed, or failed (the install's own error).
//!
//! Each decision is journaled once per component, version, kind and reason (actor
//! `scheduler`), not at every cycle.

pub mod quiet;
pub mod retry;

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use jiff::Timestamp;
use semver::Version;
use serde::{Deserialize, Serialize};

use crate::compat::ComputedType;
use crate::ids::ComponentName;
use crate::policy::{AutoInstall, Policy};
pub use crate::store::Planned;
use crate::store::{DaemonFile, JournalEntry};
use crate::update::{self, TrialEvent, UpdateError, UpdateInfo, UpdateManager, plan};

pub use quiet::{LoadHistory, QuietSlot};
pub use retry::{Backoff, Retrying};

/// Who the scheduler is, in the journal.
pub const ACTOR: &str = "scheduler";

/// How long an update is assumed to take when choosing the quietest part of a window.
pub const UPDATE_SPAN: Duration = Duration::from_secs(10 * 60);

/// Follows the signed index down (see [`UpdateManager::descents`]), whatever the policy
/// and the maintenance window: like an automatic rollback, it is the fleet's safety.
fn descend(manager: &UpdateManager) -> Vec<DescentReport> {
    let descents = manager.descents().unwrap_or_else(|e| {
        tracing::error!(error = %e, "could not read what the signed index sends down");
        Vec::new()
    });
    descents
        .into_iter()
        .map(|descent| {
            let started = std::time::Instant::now();
            let result = manager.descend(&descent);
            let duration_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
            let (outcome, error) = match result {
                Ok(outcome) => (Some(outcome), None),
                Err(e) => {
                    tracing::error!(component = %descent.name, to = %descent.to, error = %e, "could not follow the signed index down");
                    (None, Some(e.to_string()))
                }
            };
            DescentReport {
                descent,
                outcome,
                error,
                duration_ms,
            }
        })
        .collect()
}

/// What the scheduler decided about one update.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum DecisionKind {
    Installed,
    Deferred,
    HeldForApproval,
    Refused,
    Skipped,
    Failed,
}

impl DecisionKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Installed => "installed",
            Self::Deferred => "deferred",
            Self::HeldForApproval => "held-for-approval",
            Self::Refused => "refused",
            Self::Skipped => "skipped",
            Self::Failed => "failed",
        }
    }
}

/// One decision, with its reason.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Decision {
    pub component: ComponentName,
    pub version: Version,
    pub decision: DecisionKind,
    pub reason: String,
    /// The update's declared type, for notifications and metrics.
    pub update_type: crate::manifest::UpdateType,
    pub security_critical: bool,
    /// The version it replaced (installed) or would replace.
    pub from: Version,
    /// Wall-clock time of the install, for an installed or failed one.
    pub duration_ms: Option<u64>,
    /// What an install did, for an installed one.
    pub installed: Option<update::InstallOutcome>,
    /// Made for the first time (journaled now): notifications go out once per decision.
    pub first: bool,
}

/// What one cycle did.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct CycleReport {
    /// The clock reading every decision used.
    pub at: Option<Timestamp>,
    /// Updates seen for the first time (for "update available" notifications).
    pub new_updates: Vec<UpdateInfo>,
    pub decisions: Vec<Decision>,
    /// Trials committed or rolled back.
    pub trial_events: Vec<TrialEvent>,
    /// When the next update is planned.
    pub planned: Vec<Planned>,
    /// An install failed because the registry did not answer (the scheduler retries
    /// sooner than its interval).
    pub registry_failure: Option<String>,
    /// Where the signed index sent this host down (an aborted rollout, a revoked
    /// version), and how it went.
    pub descents: Vec<DescentReport>,
}

/// One descent the signed index asked for, and how it ended.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DescentReport {
    pub descent: update::Descent,
    pub outcome: Option<update::DescentOutcome>,
    /// Why it could not go down (it keeps serving what runs).
    pub error: Option<String>,
    pub duration_ms: u64,
}

/// The scheduler's memory between cycles.
#[derive(Debug)]
pub struct Scheduler {
    history: Arc<LoadHistory>,
    /// (component, version, decision, reason) already journaled.
    journaled: HashSet<(ComponentName, Version, DecisionKind, String)>,
    /// (component, version) already announced.
    announced: HashSet<(ComponentName, Version)>,
    planned: BTreeMap<ComponentName, Planned>,
    /// Retries after the registry did not answer.
    backoff: Backoff,
    /// Descents of a cycle that ended in an index refusal, for
    /// [`take_refused_descents`](Self::take_refused_descents).
    refused_descents: Vec<DescentReport>,
}

impl Scheduler {
    pub fn new(history: Arc<LoadHistory>) -> Self {
        Self {
            history,
            journaled: HashSet::new(),
            announced: HashSet::new(),
            planned: BTreeMap::new(),
            backoff: Backoff::default(),
            refused_descents: Vec::new(),
        }
    }

    /// What the last cycle sent down before it ended in an index refusal (a revoked
    /// version, while the rollout document is refused).
    pub fn take_refused_descents(&mut self) -> Vec<DescentReport> {
        std::mem::take(&mut self.refused_descents)
    }

    /// When the cycle after one at `now` is due: the next check (see
    /// [`next_check`](Self::next_check)), sooner while retrying a registry that did not
    /// answer, or at a planned update's minute.
    pub fn next_due(&self, policy: &Policy, now: Timestamp, host_seed: &str) -> Timestamp {
        let mut next = Self::next_check(policy, now, host_seed);
        if let Some(retry) = self.backoff.retrying() {
            next = next.min(retry.next);
        }
        if let Some(planned) = self.next_planned(now) {
            next = next.min(planned);
        }
        next
    }

    /// Where the scheduler stands while the registry does not answer.
    pub fn retrying(&self) -> Option<&Retrying> {
        self.backoff.retrying()
    }

    /// The updates planned for later.
    pub fn planned(&self) -> Vec<Planned> {
        self.planned.values().cloned().collect()
    }

    /// The earliest planned start after `now`, if any: a cycle is due then too.
    pub fn next_planned(&self, now: Timestamp) -> Option<Timestamp> {
        self.planned
            .values()
            .map(|p| p.at)
            .filter(|at| *at > now)
            .min()
    }

    /// When the cycle after one at `last` is due: the policy's interval plus this host's
    /// jitter (a fixed share of up to a tenth of the interval, from `host_seed`), so a
    /// fleet does not hit its registry at once.
    pub fn next_check(policy: &Policy, last: Timestamp, host_seed: &str) -> Timestamp {
        let interval = policy.auto_update.check_interval;
        let digest = crate::ids::Digest::of(host_seed.as_bytes());
        let share = f64::from(u16::from_be_bytes([
            digest.as_bytes()[0],
            digest.as_bytes()[1],
        ])) / f64::from(u16::MAX);
        let jitter = interval.mul_f64(0.1 * share);
        last.checked_add(
            jiff::SignedDuration::try_from(interval + jitter).unwrap_or(jiff::SignedDuration::MAX),
        )
        .unwrap_or(Timestamp::MAX)
    }

    /// One cycle, with `manager` acting as [`ACTOR`], at one reading of the manager's
    /// clock.
    pub fn cycle(
        &mut self,
        manager: &UpdateManager,
        policy: &Policy,
    ) -> Result<CycleReport, UpdateError> {
        let now = manager.now();
        let cycle = update::with_actor(ACTOR, || self.cycle_inner(manager, policy, now));
        let unanswered = match &cycle {
            Err(UpdateError::Registry(e)) if e.is_transient() => Some(e.to_string()),
            Ok(report) => report.registry_failure.clone(),
            Err(_) => None,
        };
        self.note_registry(manager, policy, now, unanswered);
        cycle
    }

    /// Backs off while the registry does not answer (`failure`), back to the interval once
    /// it does; `registry-retry.json` says where it stands.
    fn note_registry(
        &mut self,
        manager: &UpdateManager,
        policy: &Policy,
        now: Timestamp,
        failure: Option<String>,
    ) {
        let store = manager.store();
        let written = match failure {
            Some(reason) => {
                let next =
                    self.backoff
                        .failed(now, reason.clone(), policy.auto_update.check_interval);
                tracing::warn!(%reason, %next, "the registry did not answer: what runs serves on; trying again then");
                let retry = self.backoff.retrying().expect("just failed");
                let bytes = serde_json::to_vec_pretty(retry).expect("serializes");
                store.write_daemon_file(DaemonFile::RegistryRetry, &bytes)
            }
            None if self.backoff.succeeded() => {
                tracing::info!("the registry answers again");
                store.remove_daemon_file(DaemonFile::RegistryRetry)
            }
            None => Ok(()),
        };
        if let Err(e) = written {
            tracing::error!(error = %e, "could not record the registry's retries");
        }
    }

    fn cycle_inner(
        &mut self,
        manager: &UpdateManager,
        policy: &Policy,
        now: Timestamp,
    ) -> Result<CycleReport, UpdateError> {
        // Trouble supervising trials never stops the search for updates.
        let trial_events = manager.tick(now).unwrap_or_else(|e| {
            tracing::error!(error = %e, "trial supervision failed");
            Vec::new()
        });
        let mut report = CycleReport {
            at: Some(now),
            trial_events,
            ..CycleReport::default()
        };
        // The way down first, and even when the index was just refused: a release that
        // revokes what runs sends the host down though its rollout document is refused.
        let refreshed = manager.refresh_registry();
        report.descents = descend(manager);
        if let Err(e) = refreshed {
            // The cycle ends in the refusal; what went down is told all the same.
            self.refused_descents = std::mem::take(&mut report.descents);
            return Err(e);
        }
        let check = manager.check_refreshed()?;
        // A component sent down waits for the next cycle for anything newer.
        let updates = dependency_order(
            check
                .updates
                .into_iter()
                .filter(|u| {
                    !report
                        .descents
                        .iter()
                        .any(|d| d.descent.name == u.component)
                })
                .collect(),
        );
        // Plans for components that no longer have that update (an operator installed it,
        // or a newer one appeared) are dropped.
        self.planned.retain(|name, p| {
            updates
                .iter()
                .any(|u| u.component == *name && u.available_version == p.version)
        });

        let allowed_now = policy.update_allowed_at(now);
        let mut installs = 0;
        for u in updates {
            let key = (u.component.clone(), u.available_version.clone());
            if self.announced.insert(key) {
                report.new_updates.push(u.clone());
            }
            let (kind, reason) = self.decide(policy, &u, now, allowed_now, &mut installs);
            let mut decision = Decision {
                component: u.component.clone(),
                version: u.available_version.clone(),
                decision: kind,
                reason,
                update_type: u.update_type,
                security_critical: u.security_critical,
                from: u.current_version.clone(),
                duration_ms: None,
                installed: None,
                first: false,
            };
            if kind == DecisionKind::Installed {
                let started = std::time::Instant::now();
                let result = manager.install(&u.component, Some(&u.available_version), false);
                decision.duration_ms =
                    Some(u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX));
                self.planned.remove(&u.component);
                match result {
                    Ok(outcome) => decision.installed = Some(outcome),
                    Err(e) => {
                        if matches!(&e, UpdateError::Registry(r) if r.is_transient()) {
                            report.registry_failure = Some(e.to_string());
                        }
                        decision.decision = DecisionKind::Failed;
                        decision.reason = e.to_string();
                    }
                }
            }
            // An install that happened is reported even if its journal line fails.
            decision.first = self.journal(manager, now, &decision).unwrap_or_else(|e| {
                tracing::error!(component = %decision.component, error = %e, "could not journal a decision");
                true
            });
            report.decisions.push(decision);
        }
        report.planned = self.planned();
        let schedule = serde_json::to_vec_pretty(&report.planned).expect("plans serialize");
        if let Err(e) = manager
            .store()
            .write_daemon_file(DaemonFile::Schedule, &schedule)
        {
            tracing::error!(error = %e, "could not save the schedule");
        }
        Ok(report)
    }

    /// The decision about `u` at `now`, and why.
    fn decide(
        &mut self,
        policy: &Policy,
        u: &UpdateInfo,
        now: Timestamp,
        allowed_now: bool,
        installs: &mut usize,
    ) -> (DecisionKind, String) {
        if u.held_for_approval {
            return (
                DecisionKind::HeldForApproval,
                format!(
                    "asks for capabilities the running version does not have ({}); run \
                     `anya approve {} {}`",
                    u.capability_changes.join(", "),
                    u.component,
                    u.available_version
                ),
            );
        }
        if !u.validation_passed {
            return (
                DecisionKind::Refused,
                format!(
                    "validation would fail: {}",
                    u.validation_problems.join("; ")
                ),
            );
        }
        if u.breaking_without_major {
            return (
                DecisionKind::Refused,
                format!(
                    "breaks exports without a major version bump: {}",
                    u.breaking_reasons.join("; ")
                ),
            );
        }
        let breaking = u.breaking_changes || u.computed_type == ComputedType::Breaking;
        let component = policy.component(&u.component);
        if let AutoInstall::Refused(why) =
            component.auto_install_of(u.update_type, u.security_critical, breaking)
        {
            return (DecisionKind::Skipped, why.to_owned());
        }
        if !allowed_now {
            let plan = self.plan(policy, u, now);
            return match plan {
                Some(p) => (
                    DecisionKind::Deferred,
                    format!(
                        "outside the maintenance window; planned for {} ({})",
                        p.at, p.why
                    ),
                ),
                None => (
                    DecisionKind::Deferred,
                    "outside the maintenance window, and no window opens".to_owned(),
                ),
            };
        }
        if let Some(p) = self.planned.get(&u.component)
            && p.version == u.available_version
            && p.at > now
        {
            return (
                DecisionKind::Deferred,
                format!(
                    "waiting for the quietest part of the window: {} ({})",
                    p.at, p.why
                ),
            );
        }
        if *installs >= policy.auto_update.max_concurrent_updates {
            return (
                DecisionKind::Deferred,
                format!(
                    "max_concurrent_updates ({}) reached in this cycle; next cycle",
                    policy.auto_update.max_concurrent_updates
                ),
            );
        }
        *installs += 1;
        let kind = if u.security_critical || u.update_type == crate::manifest::UpdateType::Security
        {
            "security update"
        } else {
            "update"
        };
        (
            DecisionKind::Installed,
            format!("{kind} allowed by the policy, inside the maintenance window"),
        )
    }

    /// Plans `u` for the quietest part of the next window (kept if already planned for
    /// that window).
    fn plan(&mut self, policy: &Policy, u: &UpdateInfo, now: Timestamp) -> Option<Planned> {
        let (start, end) = match &policy.maintenance_window {
            Some(w) => w.next_opening(now)?,
            None => return None,
        };
        if let Some(p) = self.planned.get(&u.component)
            && p.version == u.available_version
            && p.at >= start
            && p.at < end
        {
            return Some(p.clone());
        }
        let slot = self.history.quietest(start.max(now), end, UPDATE_SPAN);
        let planned = Planned {
            component: u.component.clone(),
            version: u.available_version.clone(),
            at: slot.at,
            why: slot.why,
        };
        self.planned.insert(u.component.clone(), planned.clone());
        Some(planned)
    }

    /// Journals a decision once per component, version and kind (installs and failures
    /// journal themselves through the pipeline; this adds the scheduler's reason).
    fn journal(
        &mut self,
        manager: &UpdateManager,
        now: Timestamp,
        d: &Decision,
    ) -> Result<bool, UpdateError> {
        // A deferral's reason names its planned time, which is fixed once planned; a
        // wait inside the window says the same each cycle.
        let key = (
            d.component.clone(),
            d.version.clone(),
            d.decision,
            d.reason.clone(),
        );
        if !self.journaled.insert(key) {
            return Ok(false);
        }
        manager.store().journal(
            &JournalEntry::new(now, ACTOR, format!("scheduler-{}", d.decision.as_str()))
                .component(&d.component)
                .version(&d.version)
                .detail(d.reason.clone()),
        )?;
        Ok(true)
    }
}

/// Updates with each after those it depends on (by the manifests' dependencies among
/// the updates found); a cycle leaves the order as found (installing refuses it).
fn dependency_order(updates: Vec<UpdateInfo>) -> Vec<UpdateInfo> {
    let graph: BTreeMap<ComponentName, plan::Node> = updates
        .iter()
        .map(|u| {
            (
                u.component.clone(),
                plan::Node {
                    version: u.available_version.clone(),
                    dependencies: u.dependencies.clone(),
                    planned: true,
                },
            )
        })
        .collect();
    let Ok(order) = plan::order(&graph) else {
        return updates;
    };
    let mut by_name: BTreeMap<ComponentName, UpdateInfo> = updates
        .into_iter()
        .map(|u| (u.component.clone(), u))
        .collect();
    order
        .into_iter()
        .filter_map(|name| by_name.remove(&name))
        .collect()
}
