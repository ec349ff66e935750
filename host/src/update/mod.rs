//! The update pipeline, the hub that calls the modules beneath it:
//! fetch → verify → compile + link → activate → swap → trial → commit, or roll back.
//!
//! [`UpdateManager`] owns an open state folder, the trust store, a registry, the runtime
//! (made on first use) and one [`Slot`] per component that has served a call. Its
//! operations live one per file: [`check`](UpdateManager::check),
//! [`install`](UpdateManager::install), [`rollback`](UpdateManager::rollback),
//! trial accounting and [`commit`](UpdateManager::commit) (`probation`),
//! [`status`](UpdateManager::status), [`call`](UpdateManager::call).
//!
//! Invariants: a failure at any step before the state file is written leaves the running
//! version untouched; install, rollback and commit run one at a time; a call never waits
//! for them.

mod approve;
mod call;
mod check;
pub mod crash;
mod descend;
mod error;
mod gate;
mod install;
mod kv_bridge;
mod newest;
pub mod plan;
mod probation;
mod publish;
mod recover;
mod rollback;
mod serving;
mod status;

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, PoisonError, RwLock};
use std::time::Duration;

pub use approve::ApproveOutcome;
pub use call::Served;
pub use check::{CheckProblem, CheckReport, UpdateInfo};
pub use descend::{Descent, DescentCause, DescentOutcome};
pub use error::UpdateError;
pub use gate::{
    BipProof, ComponentValidation, GateReport, UnavailableValidator, ValidationOptions,
};
pub use install::InstallOutcome;
pub use probation::{TrialEvent, is_guest_failure};
pub use publish::publish;
pub use rollback::RollbackOutcome;
pub use status::{ComponentStatus, IndexStatus, StatusReport};

use crate::clock::Clock;
use crate::ids::{ComponentName, Digest};
use crate::manifest::CallMode;
use crate::package::{self, VerifiedPackage};
use crate::registry::{Fetched, Registry};
use crate::runtime::{CallContext, Limits, LoadedComponent, Runtime, RuntimeConfig};
use crate::slot::{Serving, Slot};
use crate::store::{Access, Store};
use crate::trust::TrustStore;

/// The default cap on a package's size.
pub const DEFAULT_MAX_PACKAGE_BYTES: u64 = 16 * 1024 * 1024;

/// How a freshly installed version is watched before it is committed.
#[derive(Debug, Clone, PartialEq)]
pub struct TrialPolicy {
    /// How long the trial lasts (the policy's `rollback_timeout_minutes`).
    pub duration: Duration,
    /// A share of failed calls above this breaches the trial.
    pub max_failure_rate: f64,
    /// The rate is judged only after this many calls.
    pub min_calls: u64,
    /// Roll back by itself on a breach (`auto_rollback_on_failure`); otherwise the breach
    /// is only recorded.
    pub auto_rollback: bool,
}

impl Default for TrialPolicy {
    fn default() -> Self {
        Self {
            duration: Duration::from_secs(30 * 60),
            max_failure_rate: 0.05,
            min_calls: 20,
            auto_rollback: true,
        }
    }
}

/// Whether an install waits for the calls in flight on the old version to finish before
/// the new version's `activate` (its migration) runs. While it waits, new calls wait too
/// (they do not fail); they go to the new version once it is swapped in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DrainPolicy {
    /// The longest wait.
    pub timeout: Duration,
    /// When calls are still in flight after `timeout`: abort the install (nothing
    /// changes) rather than proceed.
    pub abort_on_timeout: bool,
}

/// Settings of an [`UpdateManager`].
#[derive(Debug, Clone)]
pub struct Options {
    /// Packages larger than this are refused before they are read.
    pub max_package_bytes: u64,
    /// Sandbox limits for calls.
    pub limits: Limits,
    /// Who is asking, for the journal: `cli uid=1000`, `scheduler`.
    pub actor: String,
    /// Watch new versions before committing them. `None` commits at once after the
    /// post-install check: right for a one-shot CLI, through which no traffic flows.
    pub trial: Option<TrialPolicy>,
    /// Drain the old version before migrating (see [`DrainPolicy`]); `None` lets old
    /// calls run on while the new version activates, and a write they make meanwhile can
    /// be lost to the migration. Default: drain, up to 5 s, then proceed.
    pub drain: Option<DrainPolicy>,
    /// How many rollback points are kept per component.
    pub rollback_points: usize,
    /// How often a rollback whose state write fails is retried.
    pub max_rollback_attempts: u32,
    /// Call modes that override the manifests' (the policy's `[components.NAME]
    /// call_mode`).
    pub call_modes: std::collections::BTreeMap<ComponentName, crate::manifest::CallMode>,
    /// Which validators run, and whether after the swap too.
    pub validation: ValidationOptions,
}

impl Options {
    /// The settings the policy file gives: the trial from `[rollback]` (the trial lasts
    /// `rollback_timeout_minutes`), how many rollback points are kept, how often a
    /// rollback's state write is retried, and per-component call modes.
    pub fn from_policy(policy: &crate::policy::Policy) -> Self {
        let r = &policy.rollback;
        Self {
            trial: Some(TrialPolicy {
                duration: r.rollback_timeout,
                max_failure_rate: r.trial_failure_rate,
                min_calls: r.trial_min_calls,
                auto_rollback: r.auto_rollback_on_failure,
            }),
            rollback_points: r.rollback_points,
            max_rollback_attempts: r.max_rollback_attempts,
            call_modes: policy
                .components
                .iter()
                .filter_map(|(name, o)| o.call_mode.map(|m| (name.clone(), m)))
                .collect(),
            validation: ValidationOptions {
                pre_update_tests: policy.testing.pre_update_tests,
                post_update_validation: policy.testing.post_update_validation,
                timeout: policy.testing.test_timeout,
                components: policy
                    .components
                    .iter()
                    .map(|(name, o)| {
                        (
                            name.clone(),
                            ComponentValidation {
                                validators: o.validators.clone(),
                                post_install: o.post_install_validators.clone(),
                                bips_required: o.bip_compliance_required.clone(),
                                validation_required: o.model_validation_required.unwrap_or(false),
                                protocol_compatibility_check: o
                                    .protocol_compatibility_check
                                    .unwrap_or(true),
                            },
                        )
                    })
                    .collect(),
            },
            ..Self::default()
        }
    }
}

impl Default for Options {
    fn default() -> Self {
        Self {
            max_package_bytes: DEFAULT_MAX_PACKAGE_BYTES,
            limits: Limits::default(),
            actor: "library".into(),
            trial: None,
            drain: Some(DrainPolicy {
                timeout: Duration::from_secs(5),
                abort_on_timeout: false,
            }),
            rollback_points: 3,
            max_rollback_attempts: 3,
            call_modes: std::collections::BTreeMap::new(),
            validation: ValidationOptions::default(),
        }
    }
}

thread_local! {
    static ACTOR: std::cell::RefCell<Option<String>> = const { std::cell::RefCell::new(None) };
}

/// Runs `f` with `actor` as who is asking, for the journal entries the operations it
/// calls on this thread write (a daemon serves each request on its own thread: `cli
/// uid=1000`, `scheduler`).
pub fn with_actor<R>(actor: &str, f: impl FnOnce() -> R) -> R {
    let previous = ACTOR.with(|a| a.replace(Some(actor.to_owned())));
    let result = f();
    ACTOR.with(|a| *a.borrow_mut() = previous);
    result
}

/// The update pipeline over one state folder.
pub struct UpdateManager {
    store: Store,
    trust: TrustStore,
    registry: Box<dyn Registry>,
    runtime: OnceLock<Arc<Runtime>>,
    /// Replaced whole when the daemon reloads its policy; an operation reads it once.
    options: arc_swap::ArcSwap<Options>,
    /// The components loaded to serve calls (read without a lock on every call).
    slots: serving::ServingTable,
    /// Per component: held for writing while its key-value data is snapshotted, migrated
    /// or restored (see `kv_bridge`).
    kv_gates: RwLock<HashMap<ComponentName, Arc<RwLock<()>>>>,
    /// Install, rollback and commit run one at a time.
    operations: Mutex<()>,
    /// Automatic rollbacks not yet taken by a reporter.
    automatic_rollbacks: Mutex<Vec<RollbackOutcome>>,
    /// The only source of the time for everything the pipeline records.
    clock: Arc<dyn Clock>,
}

impl UpdateManager {
    /// Builds the pipeline. With write access, first completes or undoes whatever an
    /// interrupted process left in flight (see `recover`).
    pub fn new(
        store: Store,
        trust: TrustStore,
        registry: Box<dyn Registry>,
        options: Options,
        clock: Arc<dyn Clock>,
    ) -> Result<Self, UpdateError> {
        let registry = match trust.index_root() {
            Some(root) => Box::new(crate::registry::IndexedRegistry::new(
                registry,
                root.clone(),
                store.root(),
                store.access() == Access::Write,
                Arc::clone(&clock),
            )),
            None => registry,
        };
        let manager = Self {
            store,
            trust,
            registry,
            runtime: OnceLock::new(),
            options: arc_swap::ArcSwap::from_pointee(options),
            slots: serving::ServingTable::default(),
            kv_gates: RwLock::new(HashMap::new()),
            operations: Mutex::new(()),
            automatic_rollbacks: Mutex::new(Vec::new()),
            clock,
        };
        if manager.store.access() == Access::Write {
            manager.recover()?;
        }
        Ok(manager)
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    pub fn registry(&self) -> &dyn Registry {
        self.registry.as_ref()
    }

    pub fn trust(&self) -> &TrustStore {
        &self.trust
    }

    /// The clock everything this manager records is stamped with; the scheduler and the
    /// daemon read it too.
    pub fn clock(&self) -> &Arc<dyn Clock> {
        &self.clock
    }

    /// The time now, by [`clock`](Self::clock).
    pub fn now(&self) -> jiff::Timestamp {
        self.clock.now()
    }

    /// The settings in force now.
    pub fn options(&self) -> Arc<Options> {
        self.options.load_full()
    }

    /// Replaces the settings (a policy reload): operations that start afterwards use
    /// them. The runtime's call limits are fixed when it is made and do not change.
    pub fn set_options(&self, options: Options) {
        self.options.store(Arc::new(options));
    }

    /// Who is asking, for the journal: the actor of the current request (see
    /// [`with_actor`]) or the configured one.
    pub fn actor(&self) -> String {
        ACTOR
            .with(|a| a.borrow().clone())
            .unwrap_or_else(|| self.options.load().actor.clone())
    }

    /// The runtime, made on first use (building the engine is not free, and `check`,
    /// `list` and `status` never need it).
    pub fn runtime(&self) -> Result<&Arc<Runtime>, UpdateError> {
        if let Some(rt) = self.runtime.get() {
            return Ok(rt);
        }
        let rt = Runtime::new(RuntimeConfig {
            cache_dir: self.store.cache_dir(),
            limits: self.options().limits.clone(),
        })?;
        Ok(self.runtime.get_or_init(|| Arc::new(rt)))
    }

    fn lock_operations(&self) -> MutexGuard<'_, ()> {
        self.operations
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// The slot of `name` if it has been loaded in this process.
    pub fn loaded_slot(&self, name: &ComponentName) -> Option<Arc<Slot>> {
        self.slots.get(name).map(|entry| Arc::clone(&entry.slot))
    }

    /// The slot of `name`, loading its active version first if this process has not yet
    /// served it.
    pub fn slot(&self, name: &ComponentName) -> Result<Arc<Slot>, UpdateError> {
        Ok(Arc::clone(&self.serving_entry(name)?.slot))
    }

    /// The slot an install or a rollback of `name` swaps: when `installed`, loaded now if
    /// this process has not served it yet, so that a load racing with the operation (a
    /// first call, the daemon's start-up loading) cannot put back the version the
    /// operation replaced; `None` for a first install, or when the active version does
    /// not load (the operation itself repairs it).
    fn serving_slot(&self, name: &ComponentName, installed: bool) -> Option<Arc<Slot>> {
        if !installed {
            return self.loaded_slot(name);
        }
        match self.slot(name) {
            Ok(slot) => Some(slot),
            Err(e) => {
                tracing::warn!(component = %name, error = %e, "the active version does not load; nothing to swap");
                None
            }
        }
    }

    /// The serving entry of `name` (its slot and call contexts), loaded on first use.
    fn serving_entry(&self, name: &ComponentName) -> Result<Arc<serving::Entry>, UpdateError> {
        if let Some(entry) = self.slots.get(name) {
            return Ok(entry);
        }
        let digest = self
            .store
            .state()?
            .components
            .get(name)
            .ok_or_else(|| UpdateError::NotInstalled { name: name.clone() })?
            .active
            .digest;
        let serving = self.load_serving(name, digest)?;
        Ok(self.slots.get_or_insert(name, || {
            let kv = Arc::new(kv_bridge::GatedKv {
                namespace: self.store.kv(name),
                gate: self.kv_gate(name),
            });
            serving::Entry::new(name, Arc::new(Slot::new(serving)), kv)
        }))
    }

    /// Loads an installed version, verified again and compiled (or from the cache).
    fn load_serving(
        &self,
        name: &ComponentName,
        digest: Digest,
    ) -> Result<Arc<Serving>, UpdateError> {
        let package = self.load_installed(name, digest)?;
        Ok(Serving::new(self.runtime()?.load(&package)?))
    }

    /// The gate of `name`'s key-value data.
    fn kv_gate(&self, name: &ComponentName) -> Arc<RwLock<()>> {
        // Every serving call asks: a shared lock on the map, exclusive only the first time.
        if let Some(gate) = self
            .kv_gates
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .get(name)
        {
            return Arc::clone(gate);
        }
        let mut gates = self
            .kv_gates
            .write()
            .unwrap_or_else(PoisonError::into_inner);
        Arc::clone(gates.entry(name.clone()).or_default())
    }

    /// How serving calls to `name` run: the policy's call mode for it, else its manifest's.
    fn call_mode(&self, name: &ComponentName, loaded: &LoadedComponent) -> CallMode {
        self.options
            .load()
            .call_modes
            .get(name)
            .copied()
            .unwrap_or(loaded.manifest().call_mode)
    }

    /// The context of a serving call to `name` outside the call path (a post-install
    /// check, a trial's health probe): its gated key-value data and call mode.
    fn serving_context(&self, name: &ComponentName, loaded: &LoadedComponent) -> CallContext {
        CallContext {
            component: name.clone(),
            kv: Arc::new(kv_bridge::GatedKv {
                namespace: self.store.kv(name),
                gate: self.kv_gate(name),
            }),
            mode: self.call_mode(name, loaded),
        }
    }

    /// The context of a lifecycle call made while the gate is held: ungated data, and a
    /// fresh instance (a lifecycle call must not leave state in a warm instance).
    fn lifecycle_context(&self, name: &ComponentName) -> CallContext {
        CallContext {
            component: name.clone(),
            kv: Arc::new(self.store.kv(name)),
            mode: crate::manifest::CallMode::Fresh,
        }
    }

    /// Fetches `name` `version` from the registry and verifies it: the signature, the
    /// trust scope, and that the package is the one its file name says.
    fn fetch_verified(
        &self,
        name: &ComponentName,
        version: &semver::Version,
    ) -> Result<VerifiedPackage, UpdateError> {
        let Fetched { bytes, source, .. } =
            self.registry
                .fetch(name, version, self.options().max_package_bytes)?;
        let package =
            package::verify_with_max(bytes, &self.trust, self.options().max_package_bytes)
                .map_err(|reason| UpdateError::Refused {
                    source_path: source.clone(),
                    component: format!("{name} {version}"),
                    reason,
                })?;
        let manifest = package.manifest();
        if manifest.name != *name || manifest.version != *version {
            return Err(UpdateError::Mismatch {
                source_path: source,
                expected: format!("{name} {version}"),
                found: manifest.label(),
            });
        }
        Ok(package)
    }

    /// Reads an installed object back from the state folder and verifies it again, so a
    /// package altered on disk never runs.
    fn load_installed(
        &self,
        name: &ComponentName,
        digest: Digest,
    ) -> Result<VerifiedPackage, UpdateError> {
        let path: PathBuf = self.store.object_path(digest);
        let bytes = self.store.read_object(digest)?;
        let package =
            package::verify_with_max(bytes, &self.trust, self.options().max_package_bytes)
                .map_err(|reason| UpdateError::Refused {
                    source_path: path.display().to_string(),
                    component: name.to_string(),
                    reason,
                })?;
        if package.manifest().name != *name {
            return Err(UpdateError::Mismatch {
                source_path: path.display().to_string(),
                expected: name.to_string(),
                found: package.manifest().label(),
            });
        }
        Ok(package)
    }
}
