//! Anya: a WebAssembly plugin host that updates its extensions while they serve calls.
//!
//! See `docs/architecture.md` for the architecture. Modules are layered: `ids`, `manifest`,
//! `signature`, `trust` and `package` are pure; `runtime` is the only module that names
//! wasmtime; `update` is the hub that calls the modules beneath it.

pub mod clock;
pub mod compat;
pub mod daemon;
pub mod files;
pub mod ids;
pub mod index;
pub mod keys;
pub mod manifest;
pub mod package;
pub mod policy;
pub mod registry;
pub mod release;
pub mod rollout;
pub mod runtime;
pub mod scheduler;
pub mod signature;
pub mod slot;
pub mod store;
pub mod trust;
pub mod update;
