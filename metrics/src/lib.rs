//! Anya's Prometheus metrics and their text exposition (format 0.0.4), served by the daemon
//! on `/metrics` with [`CONTENT_TYPE`].
//!
//! This crate knows nothing of wasmtime or the host: the host records events through the
//! typed methods of [`Metrics`] and serves [`Metrics::render`]. No `prometheus` crate; the
//! format is written by hand and checked with `promtool check metrics` in the tests.
//!
//! # Metric families
//!
//! | Family | Type | Labels | Recorded by |
//! |---|---|---|---|
//! | `anya_build_info` | gauge (always 1) | `version` | [`Metrics::new`] |
//! | `anya_calls_total` | counter | `component`, `version`, `outcome` ([`CallOutcome`]) | [`Metrics::call`], [`CallCounter::record`] |
//! | `anya_component_info` | gauge (1, info) | `component`, `version`, `digest` | [`Metrics::set_active`], [`Metrics::remove_component`] |
//! | `anya_component_trial` | gauge (0/1) | `component` | [`Metrics::set_trial`], [`Metrics::remove_component`] |
//! | `anya_host_info` | gauge (1, info) | `host_id` | [`Metrics::set_host_id`] |
//! | `anya_index_refusals_total` | counter | `document` ([`IndexDocument`]), `reason` ([`IndexRefusal`]) | [`Metrics::index_refusal`] |
//! | `anya_notifications_total` | counter | `outcome` (`delivered`, `failed`, `dropped`) | [`Metrics::notifications`] |
//! | `anya_rollbacks_total` | counter | `component`, `trigger` (`automatic`, `operator`), `reason` ([`RollbackReason`]) | [`Metrics::rollback`] |
//! | `anya_scheduler_decisions_total` | counter | `component`, `decision` ([`Decision`]) | [`Metrics::decision`] |
//! | `anya_swap_latency_seconds` | histogram, 10 µs .. 1 s | `component` | [`Metrics::swap`] |
//! | `anya_traps_total` | counter | `component`, `version`, `kind` (`trap`, `out_of_fuel`, `deadline`, `memory_limit`) | [`Metrics::call`], [`CallCounter::record`] |
//! | `anya_update_duration_seconds` | histogram, 1 ms .. 10 min | `component` | [`Metrics::update_finished`] |
//! | `anya_update_failures_total` | counter | `component`, `reason` ([`FailureReason`]) | [`Metrics::update_finished`] (every outcome but installed) |
//! | `anya_updates_total` | counter | `component`, `type` ([`UPDATE_TYPES`] or `unknown`), `outcome` ([`UpdateOutcome`]), `trigger` ([`Actor`]) | [`Metrics::update_finished`] |
//! | `anya_verification_failures_total` | counter | `reason` ([`VerificationReason`]) | [`Metrics::verification_failure`] |
//!
//! The first four of the guide (`anya_updates_total`, `anya_update_duration_seconds`,
//! `anya_update_failures_total`, `anya_rollbacks_total`) keep its names; they gain labels.
//!
//! # Cardinality
//!
//! Every label value comes from a closed set (an enum of this crate, or [`UPDATE_TYPES`],
//! to which any other update type is clamped as `unknown`) except `component`, `version` and
//! `digest`. Those are bounded by what is installed: `component` names come from verified
//! manifests, and `anya_component_info` keeps one series per component (a new
//! [`Metrics::set_active`] replaces the old one). Verification failures carry no component
//! label on purpose: a package that failed verification has an untrusted name.
//!
//! Counters of a component live as long as the process (counters must not go backwards);
//! [`Metrics::remove_component`] drops only its gauges.
//!
//! # Exposition
//!
//! Every family has its `# HELP` and `# TYPE` lines even before it has samples. Families
//! are sorted by name and series by label values, so the output is stable. Families whose
//! labels all come from enums (`anya_notifications_total`,
//! `anya_verification_failures_total`) and the outcome/kind series of a component seen by
//! `call` are exposed at 0 from the start, so `rate()` and `increase()` see the first event.
//!
//! # Cost
//!
//! [`Metrics::call`] is the hot path: per-component-version atomics behind a read lock; the
//! write lock is taken only the first time a component's version is seen. The `version`
//! label is what a staged rollout's analysis reads: the candidate's calls and failures,
//! across the fleet. [`Metrics::call_counter`] returns
//! a handle that skips even the lookup. Everything else is rare and shares one mutex.

#![warn(missing_docs)]

mod expo;
mod labels;

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, RwLock};
use std::time::Duration;

use expo::{Histogram, Kind, family, sample};
pub use labels::{
    Actor, CallOutcome, Decision, FailureReason, IndexDocument, IndexRefusal, RollbackReason,
    UNKNOWN_UPDATE_TYPE, UPDATE_TYPES, UpdateOutcome, VerificationReason,
};

/// The `Content-Type` of [`Metrics::render`]'s output.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// `anya_update_duration_seconds` bucket bounds in nanoseconds: 1 ms .. 10 min.
const UPDATE_DURATION_BOUNDS_NS: &[u64] = &[
    1_000_000,       // 1 ms
    5_000_000,       // 5 ms
    10_000_000,      // 10 ms
    50_000_000,      // 50 ms
    100_000_000,     // 100 ms
    500_000_000,     // 500 ms
    1_000_000_000,   // 1 s
    5_000_000_000,   // 5 s
    10_000_000_000,  // 10 s
    30_000_000_000,  // 30 s
    60_000_000_000,  // 1 min
    300_000_000_000, // 5 min
    600_000_000_000, // 10 min
];

/// `anya_swap_latency_seconds` bucket bounds in nanoseconds: 10 µs .. 1 s.
const SWAP_LATENCY_BOUNDS_NS: &[u64] = &[
    10_000,        // 10 µs
    25_000,        // 25 µs
    50_000,        // 50 µs
    100_000,       // 100 µs
    250_000,       // 250 µs
    500_000,       // 500 µs
    1_000_000,     // 1 ms
    2_500_000,     // 2.5 ms
    5_000_000,     // 5 ms
    10_000_000,    // 10 ms
    25_000_000,    // 25 ms
    50_000_000,    // 50 ms
    100_000_000,   // 100 ms
    250_000_000,   // 250 ms
    500_000_000,   // 500 ms
    1_000_000_000, // 1 s
];

/// Anya's metrics. `Send + Sync`; share one through an `Arc`. Recording never panics, even
/// after a panic elsewhere poisoned a lock.
#[derive(Debug)]
pub struct Metrics {
    build_version: String,
    /// Hot path: call counters per component, then per version.
    calls: RwLock<HashMap<String, HashMap<String, Arc<CallCounters>>>>,
    /// Everything else: rare events.
    cold: Mutex<Cold>,
}

/// Per-component call counters, indexed by `CallOutcome as usize`.
#[derive(Debug, Default)]
struct CallCounters {
    by_outcome: [AtomicU64; CallOutcome::ALL.len()],
}

impl CallCounters {
    fn record(&self, outcome: CallOutcome) {
        self.by_outcome[outcome as usize].fetch_add(1, Ordering::Relaxed);
    }
}

/// A handle on one component version's call counters, for a caller that wants to skip the lookup
/// by name on every call (for example, kept next to the component's instance pool).
#[derive(Debug, Clone)]
pub struct CallCounter(Arc<CallCounters>);

impl CallCounter {
    /// Counts one call; the same as [`Metrics::call`] for this component and version.
    pub fn record(&self, outcome: CallOutcome) {
        self.0.record(outcome);
    }
}

/// The rare-event families. `&'static str` label values sort alphabetically in the maps.
#[derive(Debug, Default)]
struct Cold {
    /// (component, type, outcome, trigger)
    updates: BTreeMap<(String, &'static str, &'static str, &'static str), u64>,
    update_duration: BTreeMap<String, Histogram>,
    /// (component, reason)
    update_failures: BTreeMap<(String, &'static str), u64>,
    /// (component, trigger, reason)
    rollbacks: BTreeMap<(String, &'static str, &'static str), u64>,
    swap_latency: BTreeMap<String, Histogram>,
    /// component → (version, digest)
    active: BTreeMap<String, (String, String)>,
    /// component → in trial
    trial: BTreeMap<String, bool>,
    /// reason → count; every reason present from the start.
    verification_failures: BTreeMap<&'static str, u64>,
    /// (component, decision)
    decisions: BTreeMap<(String, &'static str), u64>,
    notifications: Notifications,
    /// (document, reason) → count.
    index_refusals: BTreeMap<(&'static str, &'static str), u64>,
    /// This host's id (`STATE/host-id`), once known.
    host_id: Option<String>,
}

/// One component version's call counts, read for rendering.
struct CallSnapshot {
    component: String,
    version: String,
    counts: [u64; CallOutcome::ALL.len()],
}

#[derive(Debug, Default, Clone, Copy)]
struct Notifications {
    delivered: u64,
    failed: u64,
    dropped: u64,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    /// Empty metrics; `anya_build_info` carries this crate's version (the workspace's).
    pub fn new() -> Self {
        Self::with_build_version(env!("CARGO_PKG_VERSION"))
    }

    /// Empty metrics with `anya_build_info{version}` set to `version`.
    pub fn with_build_version(version: &str) -> Self {
        let cold = Cold {
            verification_failures: VerificationReason::ALL
                .iter()
                .map(|r| (r.as_str(), 0))
                .collect(),
            ..Cold::default()
        };
        Self {
            build_version: version.to_owned(),
            calls: RwLock::default(),
            cold: Mutex::new(cold),
        }
    }

    fn cold(&self) -> MutexGuard<'_, Cold> {
        self.cold.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Records a finished update attempt of `component`: `anya_updates_total`,
    /// `anya_update_duration_seconds` and, unless installed, `anya_update_failures_total`.
    /// `update_type` is the manifest's `update_type` (`security`, `feature`, ...); any other
    /// value is exposed as `unknown`.
    pub fn update_finished(
        &self,
        component: &str,
        update_type: &str,
        outcome: UpdateOutcome,
        actor: Actor,
        duration: Duration,
    ) {
        let update_type = labels::update_type_label(update_type);
        let mut cold = self.cold();
        *cold
            .updates
            .entry((
                component.to_owned(),
                update_type,
                outcome.as_str(),
                actor.as_str(),
            ))
            .or_default() += 1;
        cold.update_duration
            .entry(component.to_owned())
            .or_insert_with(|| Histogram::new(UPDATE_DURATION_BOUNDS_NS))
            .observe(duration);
        if let Some(reason) = outcome.failure_reason() {
            *cold
                .update_failures
                .entry((component.to_owned(), reason.as_str()))
                .or_default() += 1;
        }
    }

    /// Records a rollback of `component`: `anya_rollbacks_total` with `trigger` `automatic`
    /// or `operator`.
    pub fn rollback(&self, component: &str, automatic: bool, reason: RollbackReason) {
        let trigger = if automatic { "automatic" } else { "operator" };
        *self
            .cold()
            .rollbacks
            .entry((component.to_owned(), trigger, reason.as_str()))
            .or_default() += 1;
    }

    /// Records how long swapping a new version of `component` in took:
    /// `anya_swap_latency_seconds`.
    pub fn swap(&self, component: &str, latency: Duration) {
        self.cold()
            .swap_latency
            .entry(component.to_owned())
            .or_insert_with(|| Histogram::new(SWAP_LATENCY_BOUNDS_NS))
            .observe(latency);
    }

    /// Counts one call into `version` of `component`: `anya_calls_total` and, for the
    /// guest-failure outcomes, `anya_traps_total`. One atomic add under a read lock.
    pub fn call(&self, component: &str, version: &str, outcome: CallOutcome) {
        let calls = self.calls.read().unwrap_or_else(PoisonError::into_inner);
        if let Some(counters) = calls.get(component).and_then(|v| v.get(version)) {
            counters.record(outcome);
            return;
        }
        drop(calls);
        self.counters(component, version).record(outcome);
    }

    /// A handle that counts calls into `version` of `component` without looking it up
    /// each time.
    pub fn call_counter(&self, component: &str, version: &str) -> CallCounter {
        let existing = self
            .calls
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .get(component)
            .and_then(|v| v.get(version))
            .cloned();
        CallCounter(existing.unwrap_or_else(|| self.counters(component, version)))
    }

    /// The counters of `version` of `component`, created under the write lock if needed.
    fn counters(&self, component: &str, version: &str) -> Arc<CallCounters> {
        let mut calls = self.calls.write().unwrap_or_else(PoisonError::into_inner);
        Arc::clone(
            calls
                .entry(component.to_owned())
                .or_default()
                .entry(version.to_owned())
                .or_default(),
        )
    }

    /// Sets the active version of `component`: `anya_component_info{component,version,digest}
    /// 1`, replacing the series of the version active before.
    pub fn set_active(&self, component: &str, version: &str, digest: &str) {
        self.cold().active.insert(
            component.to_owned(),
            (version.to_owned(), digest.to_owned()),
        );
    }

    /// Sets whether `component`'s active version is on trial: `anya_component_trial`.
    pub fn set_trial(&self, component: &str, on_trial: bool) {
        self.cold().trial.insert(component.to_owned(), on_trial);
    }

    /// Forgets `component`'s gauges (`anya_component_info`, `anya_component_trial`), for
    /// example after it is uninstalled. Its counters and histograms stay.
    pub fn remove_component(&self, component: &str) {
        let mut cold = self.cold();
        cold.active.remove(component);
        cold.trial.remove(component);
    }

    /// Counts a package that failed verification: `anya_verification_failures_total`.
    pub fn verification_failure(&self, reason: VerificationReason) {
        *self
            .cold()
            .verification_failures
            .entry(reason.as_str())
            .or_default() += 1;
    }

    /// Counts a scheduler decision about an update of `component`:
    /// `anya_scheduler_decisions_total`.
    pub fn decision(&self, component: &str, decision: Decision) {
        *self
            .cold()
            .decisions
            .entry((component.to_owned(), decision.as_str()))
            .or_default() += 1;
    }

    /// Sets this host's id: `anya_host_info{host_id} 1`. A rollout controller reads it to
    /// know which hosts a stage holds (each host's cohort comes from its id).
    pub fn set_host_id(&self, host_id: &str) {
        self.cold().host_id = Some(host_id.to_owned());
    }

    /// Counts a refused signed index document: `anya_index_refusals_total`.
    pub fn index_refusal(&self, document: IndexDocument, reason: IndexRefusal) {
        *self
            .cold()
            .index_refusals
            .entry((document.as_str(), reason.as_str()))
            .or_default() += 1;
    }

    /// Sets the notifier's running totals (it keeps its own counters):
    /// `anya_notifications_total{outcome}`. Pass absolute, non-decreasing values.
    pub fn notifications(&self, delivered: u64, failed: u64, dropped: u64) {
        self.cold().notifications = Notifications {
            delivered,
            failed,
            dropped,
        };
    }

    /// Renders every family in the Prometheus text exposition format 0.0.4.
    pub fn render(&self) -> String {
        // Snapshot the hot counters first, without holding the other lock.
        let mut calls: Vec<CallSnapshot> = self
            .calls
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
            .flat_map(|(name, versions)| {
                versions.iter().map(|(version, c)| CallSnapshot {
                    component: name.clone(),
                    version: version.clone(),
                    counts: std::array::from_fn(|i| c.by_outcome[i].load(Ordering::Relaxed)),
                })
            })
            .collect();
        calls.sort_unstable_by(|a, b| (&a.component, &a.version).cmp(&(&b.component, &b.version)));
        let cold = self.cold();

        let mut out = String::with_capacity(8192);
        // Families in name order.

        let name = "anya_build_info";
        family(&mut out, name, Kind::Gauge, "Anya's version; always 1.");
        sample(&mut out, name, &[("version", &self.build_version)], 1);

        let name = "anya_calls_total";
        family(
            &mut out,
            name,
            Kind::Counter,
            "Calls into components, by outcome.",
        );
        let mut outcomes: Vec<CallOutcome> = CallOutcome::ALL.to_vec();
        outcomes.sort_unstable_by_key(|o| o.as_str());
        for c in &calls {
            for o in &outcomes {
                let labels = [
                    ("component", c.component.as_str()),
                    ("version", c.version.as_str()),
                    ("outcome", o.as_str()),
                ];
                sample(&mut out, name, &labels, c.counts[*o as usize]);
            }
        }

        let name = "anya_component_info";
        family(
            &mut out,
            name,
            Kind::Gauge,
            "The active version of each component and its content digest; always 1.",
        );
        for (component, (version, digest)) in &cold.active {
            let labels = [
                ("component", component.as_str()),
                ("version", version.as_str()),
                ("digest", digest.as_str()),
            ];
            sample(&mut out, name, &labels, 1);
        }

        let name = "anya_component_trial";
        family(
            &mut out,
            name,
            Kind::Gauge,
            "Whether the active version of each component is on trial (1) or committed (0).",
        );
        for (component, on_trial) in &cold.trial {
            sample(
                &mut out,
                name,
                &[("component", component)],
                u8::from(*on_trial),
            );
        }

        let name = "anya_host_info";
        family(
            &mut out,
            name,
            Kind::Gauge,
            "This host's id, from which it draws its rollout cohorts; always 1.",
        );
        if let Some(id) = &cold.host_id {
            sample(&mut out, name, &[("host_id", id)], 1);
        }

        let name = "anya_index_refusals_total";
        family(
            &mut out,
            name,
            Kind::Counter,
            "Signed index documents this host refused (it froze: serving on, installing nothing new).",
        );
        for ((document, reason), v) in &cold.index_refusals {
            sample(
                &mut out,
                name,
                &[("document", document), ("reason", reason)],
                v,
            );
        }

        let name = "anya_notifications_total";
        family(
            &mut out,
            name,
            Kind::Counter,
            "Update notifications, by outcome.",
        );
        let n = cold.notifications;
        for (outcome, v) in [
            ("delivered", n.delivered),
            ("dropped", n.dropped),
            ("failed", n.failed),
        ] {
            sample(&mut out, name, &[("outcome", outcome)], v);
        }

        let name = "anya_rollbacks_total";
        family(
            &mut out,
            name,
            Kind::Counter,
            "Rollbacks to a previous version, by trigger and reason.",
        );
        for ((component, trigger, reason), v) in &cold.rollbacks {
            let labels = [
                ("component", component.as_str()),
                ("trigger", trigger),
                ("reason", reason),
            ];
            sample(&mut out, name, &labels, v);
        }

        let name = "anya_scheduler_decisions_total";
        family(
            &mut out,
            name,
            Kind::Counter,
            "The scheduler's decisions about available updates.",
        );
        for ((component, decision), v) in &cold.decisions {
            sample(
                &mut out,
                name,
                &[("component", component), ("decision", decision)],
                v,
            );
        }

        let name = "anya_swap_latency_seconds";
        family(
            &mut out,
            name,
            Kind::Histogram,
            "Time to swap a new version of a component in.",
        );
        for (component, h) in &cold.swap_latency {
            h.write(&mut out, name, &[("component", component)]);
        }

        let name = "anya_traps_total";
        family(
            &mut out,
            name,
            Kind::Counter,
            "Calls that ended in a guest failure: trap, out of fuel, deadline, memory limit.",
        );
        let mut kinds: Vec<(&str, CallOutcome)> = CallOutcome::ALL
            .iter()
            .filter_map(|o| o.trap_kind().map(|k| (k, *o)))
            .collect();
        kinds.sort_unstable_by_key(|(k, _)| *k);
        for c in &calls {
            for (kind, o) in &kinds {
                let labels = [
                    ("component", c.component.as_str()),
                    ("version", c.version.as_str()),
                    ("kind", kind),
                ];
                sample(&mut out, name, &labels, c.counts[*o as usize]);
            }
        }

        let name = "anya_update_duration_seconds";
        family(
            &mut out,
            name,
            Kind::Histogram,
            "Time spent performing updates.",
        );
        for (component, h) in &cold.update_duration {
            h.write(&mut out, name, &[("component", component)]);
        }

        let name = "anya_update_failures_total";
        family(
            &mut out,
            name,
            Kind::Counter,
            "Update attempts that did not end installed, by reason.",
        );
        for ((component, reason), v) in &cold.update_failures {
            sample(
                &mut out,
                name,
                &[("component", component), ("reason", reason)],
                v,
            );
        }

        let name = "anya_updates_total";
        family(
            &mut out,
            name,
            Kind::Counter,
            "Update attempts, by type, outcome and trigger.",
        );
        for ((component, update_type, outcome, trigger), v) in &cold.updates {
            let labels = [
                ("component", component.as_str()),
                ("type", update_type),
                ("outcome", outcome),
                ("trigger", trigger),
            ];
            sample(&mut out, name, &labels, v);
        }

        let name = "anya_verification_failures_total";
        family(
            &mut out,
            name,
            Kind::Counter,
            "Packages that failed verification, by reason.",
        );
        for (reason, v) in &cold.verification_failures {
            sample(&mut out, name, &[("reason", reason)], v);
        }

        out
    }
}

#[cfg(test)]
mod tests;
