//! The only module that names wasmtime: the engine, the linker, sandbox limits, the
//! compile cache and calls by name with JSON.
//!
//! One [`Runtime`] per process holds one engine (pooling allocator, fuel, epoch
//! interruption with a ticker that dies with it) and one linker (WASI p2 with every
//! capability denied, plus `anya:host`). [`Runtime::load`] compiles a verified package
//! once per digest (or reads the host's authenticated compile cache) and link-checks it,
//! so a [`LoadedComponent`] always instantiates. [`Runtime::call`] runs each call in the
//! caller's [`CallMode`]: a fresh instance in a fresh store, or a live instance from the
//! version's warm pool, with the [`Limits`] in place either way; no wasmtime type appears
//! in this module's public signatures.

mod cache;
mod call;
mod component;
mod engine;
mod error;
mod exports;
mod host_api;
mod json;
mod limits;
mod store;
#[cfg(test)]
mod tests;
mod validate;
mod values;
mod warm;

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, PoisonError, Weak};

use wasmtime::Engine;
use wasmtime::component::{Component, Linker};

pub use component::{LoadedComponent, Origin};
pub use error::{CallError, RuntimeError};
pub use exports::ExportedFunction;
pub use host_api::{KeyValue, MemoryKv};
pub use limits::Limits;
pub use validate::{CaseResult, FailureKind, LoadedValidator, MAX_CASES, ValidationReport};
/// A component-model value as wasmtime represents it: the one wasmtime type this
/// module's API names, for embedders that call with typed values instead of JSON
/// ([`Runtime::call_values`], [`crate::update::UpdateManager::call_values`]).
pub use wasmtime::component::Val as ComponentValue;

use crate::ids::{ComponentName, Digest};
use crate::manifest::CallMode;
use crate::package::VerifiedPackage;
use cache::CodeCache;
use error::chain;
use store::StoreData;
use warm::{IdleBudget, WarmPool};

/// The wasmtime configuration a [`Runtime`] with `limits` uses (pooling allocator, fuel,
/// epoch interruption), for benchmarks that compare bare wasmtime on the same settings.
pub fn engine_config(limits: &Limits) -> wasmtime::Config {
    engine::config(limits)
}

/// How to build a [`Runtime`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuntimeConfig {
    /// Where compiled code is cached (the state folder's `cache/`).
    pub cache_dir: PathBuf,
    pub limits: Limits,
}

impl RuntimeConfig {
    /// The default (safe) limits, caching in `cache_dir`.
    pub fn new(cache_dir: impl Into<PathBuf>) -> Self {
        Self {
            cache_dir: cache_dir.into(),
            limits: Limits::default(),
        }
    }
}

/// Who a call is for: the component's name (for logs), its key-value namespace, and how
/// the call runs.
#[derive(Clone)]
pub struct CallContext {
    pub component: ComponentName,
    pub kv: Arc<dyn KeyValue>,
    /// A fresh instance for the call, or one from the version's warm pool.
    pub mode: CallMode,
}

impl CallContext {
    /// A context for fresh-mode calls whose key-value data lives in memory only.
    pub fn in_memory(component: ComponentName) -> Self {
        Self {
            component,
            kv: Arc::new(MemoryKv::new()),
            mode: CallMode::Fresh,
        }
    }

    /// The same context, calling in `mode`.
    pub fn with_mode(self, mode: CallMode) -> Self {
        Self { mode, ..self }
    }
}

/// Compiled components of one process. `Send + Sync`; share it through an `Arc`.
pub struct Runtime {
    engine: Engine,
    linker: Linker<StoreData>,
    cache: CodeCache,
    limits: Arc<Limits>,
    /// One entry per digest ever loaded; its lock makes concurrent loads of one digest
    /// compile once. Weak, so a component no one uses is freed.
    loaded: Mutex<HashMap<Digest, Arc<Mutex<Weak<LoadedComponent>>>>>,
    /// Idle warm instances across every loaded version, capped at
    /// [`engine::WARM_IDLE_MAX`].
    warm_budget: Arc<IdleBudget>,
}

impl std::fmt::Debug for Runtime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Runtime")
            .field("limits", &self.limits)
            .field("warm_idle", &self.warm_budget.idle())
            .finish_non_exhaustive()
    }
}

impl Runtime {
    /// Builds the engine and the linker, starts the epoch ticker and opens the cache.
    pub fn new(config: RuntimeConfig) -> Result<Self, RuntimeError> {
        let engine_error = |e: wasmtime::Error| RuntimeError::Engine(chain(&e));
        let engine = engine::build(&config.limits).map_err(engine_error)?;
        let mut linker = Linker::new(&engine);
        wasmtime_wasi::p2::add_to_linker_sync(&mut linker).map_err(engine_error)?;
        host_api::add_to_linker(&mut linker).map_err(engine_error)?;
        let cache = CodeCache::open(&config.cache_dir, engine::engine_hash(&engine))?;
        engine::start_epoch_ticker(engine.weak())
            .map_err(|e| RuntimeError::Engine(format!("cannot start the epoch ticker: {e}")))?;
        Ok(Self {
            engine,
            linker,
            cache,
            limits: Arc::new(config.limits),
            loaded: Mutex::new(HashMap::new()),
            warm_budget: Arc::new(IdleBudget::new(engine::WARM_IDLE_MAX)),
        })
    }

    /// The limits every call runs under.
    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// Compiles `package` (once per digest while it is loaded anywhere; from the compile
    /// cache when a valid entry exists) and checks that every import links.
    pub fn load(&self, package: &VerifiedPackage) -> Result<Arc<LoadedComponent>, RuntimeError> {
        let digest = package.digest();
        let slot = {
            let mut loaded = self.loaded.lock().unwrap_or_else(PoisonError::into_inner);
            Arc::clone(loaded.entry(digest).or_default())
        };
        let mut slot = slot.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(loaded) = slot.upgrade() {
            return Ok(loaded);
        }
        let loaded = Arc::new(self.load_uncached(package)?);
        *slot = Arc::downgrade(&loaded);
        Ok(loaded)
    }

    fn load_uncached(&self, package: &VerifiedPackage) -> Result<LoadedComponent, RuntimeError> {
        let digest = package.digest();
        let label = package.manifest().label();
        let (component, origin) = match self.load_cached(&digest, &label) {
            Some(component) => (component, Origin::Cached),
            None => (self.compile(package, &label)?, Origin::Compiled),
        };
        let pre = self
            .linker
            .instantiate_pre(&component)
            .map_err(|e| RuntimeError::Link {
                component: label.clone(),
                reason: chain(&e),
            })?;
        let functions = exports::functions(&self.engine, &component);
        let exports = functions.iter().map(|f| f.export.clone()).collect();
        let imports = exports::imports(&self.engine, &component);
        tracing::debug!(component = label, %digest, ?origin, "loaded");
        Ok(LoadedComponent {
            digest,
            manifest: package.manifest().clone(),
            origin,
            pre,
            functions,
            exports,
            imports,
            warm: WarmPool::new(Arc::clone(&self.warm_budget)),
        })
    }

    fn load_cached(&self, digest: &Digest, label: &str) -> Option<Component> {
        let code = self.cache.read(digest)?;
        // SAFETY: wasmtime trusts serialized code to be its own output. `code` is: its
        // MAC, under a key only this host holds, checked over the bytes, the package
        // digest and this engine's compatibility hash, and only this host writes it.
        match unsafe { Component::deserialize(&self.engine, &code) } {
            Ok(component) => Some(component),
            Err(e) => {
                tracing::warn!(component = label, error = %chain(&e), "cached code refused; recompiling");
                self.cache.remove(digest);
                None
            }
        }
    }

    fn compile(&self, package: &VerifiedPackage, label: &str) -> Result<Component, RuntimeError> {
        let component = Component::new(&self.engine, &package.bytes()[..]).map_err(|e| {
            RuntimeError::Compile {
                component: label.to_owned(),
                reason: chain(&e),
            }
        })?;
        // A cache that cannot be written costs a recompile later, not this load.
        match component.serialize() {
            Ok(code) => {
                if let Err(e) = self.cache.write(&package.digest(), &code) {
                    tracing::warn!(component = label, error = %e, "cannot cache compiled code");
                }
            }
            Err(e) => {
                tracing::warn!(component = label, error = %chain(&e), "cannot serialize compiled code")
            }
        }
        Ok(component)
    }
}
