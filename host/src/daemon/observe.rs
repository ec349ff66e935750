//! What the daemon tells the outside world about what happened: notifications
//! (`anya-notify`) and metrics (`anya-metrics`), from the pipeline's outcomes and errors.

use std::time::Duration;

use anya_metrics::{
    Actor, CallOutcome, FailureReason, IndexDocument, IndexRefusal, Metrics, RollbackReason,
    UpdateOutcome, VerificationReason,
};
use anya_notify::{Event, EventKind, Notifier};

use crate::package::PackageError;
use crate::runtime::CallError;
use crate::scheduler::{CycleReport, DecisionKind};
use crate::update::{
    DescentOutcome, InstallOutcome, RollbackOutcome, Served, TrialEvent, UpdateError,
};

/// The notifier (when the policy names any target) and the metrics, together.
pub struct Observer {
    pub metrics: std::sync::Arc<Metrics>,
    pub notifier: std::sync::Mutex<Option<Notifier>>,
    /// The manager's clock: every event is stamped with it.
    pub clock: std::sync::Arc<dyn crate::clock::Clock>,
    /// The index refusal told last: the same refusal, cycle after cycle, is told once.
    pub last_index_refusal: std::sync::Mutex<Option<String>>,
}

impl Observer {
    fn notify(&self, mut event: Event) {
        event.at = self.clock.now();
        let guard = self
            .notifier
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(n) = guard.as_ref() {
            if let Err(e) = n.send(event) {
                tracing::warn!(error = %e, "notification dropped");
            }
            self.metrics
                .notifications(n.delivered(), n.failed(), n.dropped());
        }
    }

    /// An install asked for by `actor` succeeded (`why`: the scheduler's reason).
    pub fn installed(
        &self,
        outcome: &InstallOutcome,
        actor: Actor,
        took: Duration,
        why: Option<&str>,
    ) {
        if outcome.unchanged {
            return;
        }
        let update_type = outcome.update_type.as_str();
        self.metrics.update_finished(
            outcome.name.as_str(),
            update_type,
            UpdateOutcome::Installed,
            actor,
            took,
        );
        self.metrics.swap(outcome.name.as_str(), outcome.swap_pause);
        self.metrics.set_active(
            outcome.name.as_str(),
            &outcome.version.to_string(),
            &outcome.digest.to_hex(),
        );
        self.metrics.set_trial(
            outcome.name.as_str(),
            matches!(outcome.status, crate::store::Lifecycle::Trial { .. }),
        );
        let mut event = Event::new(EventKind::Installed, outcome.name.as_str())
            .with_version(outcome.version.to_string())
            .with_update_type(update_type)
            .with_security_critical(outcome.security_critical)
            .with_actor(actor_name(actor));
        if let Some(p) = &outcome.previous {
            event = event.with_previous_version(p.to_string());
        }
        if let Some(why) = why {
            event = event.with_reason(why);
        }
        self.notify(event);
    }

    /// An install of `component` `version` was refused or failed.
    pub fn refused(
        &self,
        component: &str,
        version: Option<&str>,
        update_type: &str,
        error: &UpdateError,
        actor: Actor,
        took: Duration,
    ) {
        let reason = failure_reason(error);
        if let Some(v) = verification_reason(error) {
            self.metrics.verification_failure(v);
        }
        let outcome = match error {
            UpdateError::PostInstallCheck { .. } => UpdateOutcome::RolledBack(reason),
            UpdateError::Lifecycle { .. } | UpdateError::DrainTimeout { .. } => {
                UpdateOutcome::Failed(reason)
            }
            _ => UpdateOutcome::Refused(reason),
        };
        self.metrics
            .update_finished(component, update_type, outcome, actor, took);
        let mut event = Event::new(EventKind::Refused, component)
            .with_update_type(update_type)
            .with_reason(error.to_string())
            .with_actor(actor_name(actor));
        if let Some(v) = version {
            event = event.with_version(v);
        }
        self.notify(event);
    }

    /// The automatic rollbacks the pipeline made since the last report (in calls, trial
    /// ticks, post-install checks).
    pub fn automatic_rollbacks(&self, manager: &crate::update::UpdateManager) {
        for outcome in manager.take_automatic_rollbacks() {
            let reason = if outcome.reason.starts_with("post-install check failed") {
                RollbackReason::PostInstallCheck
            } else if outcome.reason.contains("calls failed") {
                RollbackReason::TrialFailureRate
            } else {
                RollbackReason::Health
            };
            self.rolled_back(&outcome, true, reason);
        }
    }

    /// A rollback happened.
    pub fn rolled_back(&self, outcome: &RollbackOutcome, automatic: bool, reason: RollbackReason) {
        self.metrics
            .rollback(outcome.name.as_str(), automatic, reason);
        self.metrics
            .swap(outcome.name.as_str(), outcome.serving_after);
        self.metrics.set_active(
            outcome.name.as_str(),
            &outcome.to.to_string(),
            &outcome.digest.to_hex(),
        );
        self.metrics.set_trial(outcome.name.as_str(), false);
        self.notify(
            Event::new(EventKind::RolledBack, outcome.name.as_str())
                .with_version(outcome.to.to_string())
                .with_previous_version(outcome.from.to_string())
                .with_reason(outcome.reason.clone()),
        );
    }

    /// A call finished; counted under the version that served it (a call no version
    /// served, into a component not installed, is counted under version "none").
    pub fn call(&self, component: &str, served: &Served<serde_json::Value>) {
        let outcome = match &served.result {
            Ok(_) => CallOutcome::Ok,
            Err(UpdateError::Call { source, .. }) => match source {
                CallError::Trap { .. } => CallOutcome::Trap,
                CallError::OutOfFuel { .. } => CallOutcome::OutOfFuel,
                CallError::DeadlineExceeded { .. } => CallOutcome::Deadline,
                CallError::MemoryLimit { .. } => CallOutcome::MemoryLimit,
                _ => CallOutcome::Error,
            },
            Err(_) => CallOutcome::Error,
        };
        match &served.version {
            Some(v) => self.metrics.call(component, &v.to_string(), outcome),
            None => self.metrics.call(component, "none", outcome),
        }
    }

    /// The signed index sent a component down.
    pub fn descended(&self, d: &crate::scheduler::DescentReport) {
        let took = Duration::from_millis(d.duration_ms);
        let reason = d.descent.reason();
        match (&d.outcome, &d.error) {
            (Some(DescentOutcome::RolledBack(outcome)), _) => {
                self.rolled_back(outcome, true, RollbackReason::Index);
            }
            (Some(DescentOutcome::Installed(outcome)), _) => {
                self.installed(outcome, Actor::Scheduler, took, Some(&reason));
            }
            (None, error) => {
                self.metrics.update_finished(
                    d.descent.name.as_str(),
                    "unknown",
                    UpdateOutcome::Failed(FailureReason::Other),
                    Actor::Scheduler,
                    took,
                );
                self.notify(
                    Event::new(EventKind::Refused, d.descent.name.as_str())
                        .with_version(d.descent.to.to_string())
                        .with_reason(format!("{reason}: {}", error.as_deref().unwrap_or("")))
                        .with_actor(crate::scheduler::ACTOR),
                );
            }
        }
    }

    /// Everything a scheduler cycle decided.
    pub fn cycle(&self, report: &CycleReport, security_alert_immediate: bool) {
        for u in &report.new_updates {
            let security =
                u.security_critical || u.update_type == crate::manifest::UpdateType::Security;
            let kind = if security && security_alert_immediate {
                EventKind::SecurityCritical
            } else {
                EventKind::UpdateAvailable
            };
            self.notify(
                Event::new(kind, u.component.as_str())
                    .with_version(u.available_version.to_string())
                    .with_previous_version(u.current_version.to_string())
                    .with_update_type(u.update_type.as_str())
                    .with_security_critical(u.security_critical)
                    .with_actor(crate::scheduler::ACTOR),
            );
        }
        for d in &report.decisions {
            let decision = match d.decision {
                DecisionKind::Installed => anya_metrics::Decision::Installed,
                DecisionKind::Deferred => anya_metrics::Decision::Deferred,
                DecisionKind::HeldForApproval => anya_metrics::Decision::HeldForApproval,
                DecisionKind::Refused | DecisionKind::Failed => anya_metrics::Decision::Refused,
                DecisionKind::Skipped => anya_metrics::Decision::Skipped,
            };
            self.metrics.decision(d.component.as_str(), decision);
            let took = Duration::from_millis(d.duration_ms.unwrap_or(0));
            match d.decision {
                DecisionKind::Installed => {
                    if let Some(outcome) = &d.installed {
                        self.installed(outcome, Actor::Scheduler, took, Some(&d.reason));
                    }
                }
                DecisionKind::Failed => self.metrics.update_finished(
                    d.component.as_str(),
                    d.update_type.as_str(),
                    UpdateOutcome::Failed(FailureReason::Other),
                    Actor::Scheduler,
                    took,
                ),
                _ => {}
            }
            // A refusal or a failure found by the scheduler (validation, breaking without
            // a major bump, a failing install) recurs every cycle: it is told once.
            if matches!(d.decision, DecisionKind::Refused | DecisionKind::Failed) && d.first {
                self.notify(
                    Event::new(EventKind::Refused, d.component.as_str())
                        .with_version(d.version.to_string())
                        .with_update_type(d.update_type.as_str())
                        .with_reason(d.reason.clone())
                        .with_actor(crate::scheduler::ACTOR),
                );
            }
        }
        for d in &report.descents {
            self.descended(d);
        }
        for e in &report.trial_events {
            // Rollbacks are reported from the pipeline's own record (`automatic_rollbacks`).
            if let TrialEvent::Committed { name } = e {
                self.metrics.set_trial(name.as_str(), false);
            }
        }
    }

    /// A scheduler cycle ended: with the index refused (told once per refusal:
    /// notification, metric, journal), or not (a later refusal is told again).
    pub fn cycle_ended(&self, manager: &crate::update::UpdateManager, error: Option<&UpdateError>) {
        let refusal = match error {
            Some(UpdateError::Registry(crate::registry::RegistryError::Index {
                registry,
                source,
            })) => Some((registry, source.as_ref())),
            _ => None,
        };
        let mut last = self
            .last_index_refusal
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let Some((registry, refusal)) = refusal else {
            *last = None;
            return;
        };
        let reason = refusal.to_string();
        if last.as_deref() == Some(reason.as_str()) {
            return;
        }
        *last = Some(reason.clone());
        drop(last);
        tracing::error!(%registry, %reason, "refused the signed index: serving on, installing nothing new");
        let (document, why) = index_refusal_labels(refusal);
        self.metrics.index_refusal(document, why);
        self.notify(
            Event::new(EventKind::IndexRefused, registry.as_str())
                .with_reason(reason.clone())
                .with_actor(crate::scheduler::ACTOR),
        );
        let entry = crate::store::JournalEntry::new(
            self.clock.now(),
            crate::scheduler::ACTOR,
            "index-refused",
        )
        .detail(format!("{registry}: {reason}"));
        if let Err(e) = manager.store().journal(&entry) {
            tracing::error!(error = %e, "could not journal the index refusal");
        }
    }

    /// Delivers what is queued, within `deadline`.
    pub fn shutdown(&self, deadline: Duration) {
        let notifier = self
            .notifier
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .take();
        if let Some(n) = notifier {
            let stats = n.shutdown(deadline);
            tracing::info!(?stats, "notifications flushed");
        }
    }
}

/// The metric's labels for a refused index document.
fn index_refusal_labels(error: &crate::index::IndexError) -> (IndexDocument, IndexRefusal) {
    use crate::index::{DocumentKind, IndexError as E};
    let document = |kind: &DocumentKind| match kind {
        DocumentKind::Release => IndexDocument::Release,
        DocumentKind::Rollout => IndexDocument::Rollout,
    };
    match error {
        E::Missing { kind } => (document(kind), IndexRefusal::Missing),
        E::NoRollout => (IndexDocument::Rollout, IndexRefusal::Missing),
        E::TooLarge { kind, .. } => (document(kind), IndexRefusal::TooLarge),
        E::Signatures { kind, .. } => (document(kind), IndexRefusal::Signatures),
        E::Malformed { kind, .. } => (document(kind), IndexRefusal::Malformed),
        E::Rollback { kind, .. } => (document(kind), IndexRefusal::Rollback),
        E::Equivocation { kind, .. } => (document(kind), IndexRefusal::Equivocation),
        E::Expired { kind, .. } => (document(kind), IndexRefusal::Expired),
        E::MixAndMatch { .. } => (IndexDocument::Rollout, IndexRefusal::MixAndMatch),
        E::NotReleased { .. } => (IndexDocument::Rollout, IndexRefusal::NotReleased),
        E::Rotation { .. } => (IndexDocument::Release, IndexRefusal::Rotation),
    }
}

fn actor_name(actor: Actor) -> &'static str {
    match actor {
        Actor::Operator => "operator",
        Actor::Scheduler => crate::scheduler::ACTOR,
    }
}

/// The metrics' bounded reason for a failed update.
pub fn failure_reason(error: &UpdateError) -> FailureReason {
    match error {
        UpdateError::Refused { .. } | UpdateError::Mismatch { .. } => FailureReason::Verification,
        UpdateError::BelowWatermark { .. }
        | UpdateError::NotNewer { .. }
        | UpdateError::Blocklisted { .. }
        | UpdateError::NeedsApproval { .. }
        | UpdateError::UnmetDependencies { .. }
        | UpdateError::DependencyCycle { .. } => FailureReason::Policy,
        UpdateError::BreakingWithoutMajor { .. } | UpdateError::Wit { .. } => {
            FailureReason::Compatibility
        }
        UpdateError::ValidationFailed { .. } => FailureReason::Validation,
        UpdateError::Lifecycle { .. } => FailureReason::Activation,
        UpdateError::PostInstallCheck { .. } => FailureReason::PostInstallCheck,
        UpdateError::DrainTimeout { .. } => FailureReason::DrainTimeout,
        _ => FailureReason::Other,
    }
}

/// Why a package failed verification, for the metrics, if it did.
pub fn verification_reason(error: &UpdateError) -> Option<VerificationReason> {
    let package = match error {
        UpdateError::Refused { reason, .. } => reason,
        UpdateError::Mismatch { .. } => return Some(VerificationReason::Mismatch),
        _ => return None,
    };
    Some(match package {
        PackageError::TooLarge { .. } => VerificationReason::TooLarge,
        PackageError::InvalidSignature { .. } | PackageError::NotSigned => {
            VerificationReason::Signature
        }
        PackageError::UnknownKey { .. } | PackageError::NotAllowed { .. } => {
            VerificationReason::UntrustedKey
        }
        PackageError::TooFewSignatures { .. } => VerificationReason::Threshold,
        PackageError::ContentHashMismatch { .. } => VerificationReason::Digest,
        PackageError::MissingManifest | PackageError::MalformedManifest(_) => {
            VerificationReason::Manifest
        }
        _ => VerificationReason::Format,
    })
}
