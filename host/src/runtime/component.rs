//! A loaded component: compiled, link-checked against the host's linker, with its
//! exports indexed for calls by name.
//!
//! Invariant: a [`LoadedComponent`] exists only if every import it has is satisfied, so
//! a swap to it can never fail to link.

use wasmtime::component::InstancePre;

use super::exports::{ExportedFunction, Function};
use super::store::StoreData;
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

/// A component ready to be instantiated, one fresh instance per call.
pub struct LoadedComponent {
    pub(super) digest: Digest,
    pub(super) manifest: Manifest,
    pub(super) origin: Origin,
    pub(super) pre: InstancePre<StoreData>,
    pub(super) functions: Vec<Function>,
    pub(super) exports: Vec<ExportedFunction>,
    pub(super) imports: Vec<String>,
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
}

impl std::fmt::Debug for LoadedComponent {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoadedComponent")
            .field("component", &self.manifest.label())
            .field("digest", &self.digest)
            .field("origin", &self.origin)
            .finish_non_exhaustive()
    }
}
