//! A loaded component: compiled, link-checked against the host's linker, with its
//! exports indexed for calls by name.
//!
//! Invariants: a [`LoadedComponent`] exists only if every import it has is satisfied, so
//! a swap to it can never fail to link. Its warm pool lives and dies with it: dropping
//! the last `Arc` of a version (after a swap, once its last call has finished) drops its
//! live instances.

use wasmtime::component::InstancePre;

use super::exports::{ExportedFunction, Function};
use super::store::StoreData;
use super::warm::WarmPool;
use crate::ids::Digest;
use crate::manifest::Manifest;

/// Where the compiled code of a [`LoadedComponent`] came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    /// Compiled from the package by this load.
    Compiled,
    /// Read from the host's compile cache (after its MAC checked).
    Cached,
}

/// A component ready to be instantiated: a fresh instance per call, or instances from its
/// warm pool (see [`CallMode`](crate::manifest::CallMode)).
pub struct LoadedComponent {
    pub(super) digest: Digest,
    pub(super) manifest: Manifest,
    pub(super) origin: Origin,
    pub(super) pre: InstancePre<StoreData>,
    pub(super) functions: Vec<Function>,
    pub(super) exports: Vec<ExportedFunction>,
    pub(super) imports: Vec<String>,
    /// Live instances for warm-mode calls; empty until the first one.
    pub(super) warm: WarmPool,
}

impl LoadedComponent {
    /// The sha256 of the package this was compiled from.
    pub fn digest(&self) -> Digest {
        self.digest
    }

    pub fn manifest(&self) -> &Manifest {
        &self.manifest
    }

    /// Whether this load compiled the code or read it from the cache.
    pub fn origin(&self) -> Origin {
        self.origin
    }

    /// Every exported function, directly or in an exported interface.
    pub fn exports(&self) -> Vec<ExportedFunction> {
        self.exports.clone()
    }

    /// The names of the interfaces (and functions) the component imports.
    pub fn imports(&self) -> Vec<String> {
        self.imports.clone()
    }

    /// Drops the idle warm instances at once; instances serving a call now are dropped
    /// when that call ends instead of going back to the pool. Later warm calls make new
    /// instances (so a version that becomes current again, by a rollback, warms up
    /// again). Returns how many idle instances were dropped.
    pub fn drain_warm_pool(&self) -> usize {
        self.warm.drain()
    }

    /// How many warm instances are idle in this version's pool.
    pub fn warm_pool_idle(&self) -> usize {
        self.warm.idle()
    }
}

impl std::fmt::Debug for LoadedComponent {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoadedComponent")
            .field("component", &self.manifest.label())
            .field("digest", &self.digest)
            .field("origin", &self.origin)
            .field("warm_idle", &self.warm.idle())
            .finish_non_exhaustive()
    }
}
