//! The runtime's errors: [`RuntimeError`] for building a runtime and loading components,
//! [`CallError`] for calls. Each names the component and the reason.

use std::path::PathBuf;
use std::time::Duration;

/// Why a runtime could not start or a component could not be loaded.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RuntimeError {
    /// The wasmtime engine or linker could not be built from the configuration.
    #[error("cannot set up the WebAssembly engine: {0}")]
    Engine(String),
    /// The compile cache folder or its key is unusable.
    #[error("compile cache {}: {reason}", path.display())]
    Cache { path: PathBuf, reason: String },
    /// The package is not a component wasmtime can compile.
    #[error("{component}: cannot compile: {reason}")]
    Compile { component: String, reason: String },
    /// The component imports something this host does not provide, or with another type.
    #[error("{component}: cannot link: {reason}")]
    Link { component: String, reason: String },
}

/// Why a call failed. The host survives every one of them; the instance is discarded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CallError {
    /// No exported function has that name.
    #[error("{component}: no exported function {function:?} (exports: {})", available.join(", "))]
    NoSuchFunction {
        component: String,
        function: String,
        available: Vec<String>,
    },
    /// The plain name matches functions in several interfaces.
    #[error("{component}: {function:?} is ambiguous; qualify it as one of: {}", candidates.join(", "))]
    Ambiguous {
        component: String,
        function: String,
        candidates: Vec<String>,
    },
    /// The JSON arguments do not fit the function's parameters.
    #[error("{component}: {function}: bad arguments: {reason}")]
    BadArguments {
        component: String,
        function: String,
        reason: String,
    },
    /// The function's signature uses a type that cannot cross a JSON call (resources,
    /// futures, streams).
    #[error("{component}: {function}: cannot be called with JSON: {reason}")]
    Unsupported {
        component: String,
        function: String,
        reason: String,
    },
    /// A fresh instance could not be created (for example the instance pool is full).
    #[error("{component}: cannot instantiate: {reason}")]
    Instantiate { component: String, reason: String },
    /// The guest trapped (unreachable, bad memory access, stack overflow, ...).
    #[error("{component}: {function}: trapped: {reason}")]
    Trap {
        component: String,
        function: String,
        reason: String,
    },
    /// The call used all of its fuel.
    #[error("{component}: {function}: ran out of fuel (limit {fuel})")]
    OutOfFuel {
        component: String,
        function: String,
        fuel: u64,
    },
    /// The call ran past its wall-clock deadline.
    #[error("{component}: {function}: exceeded its deadline of {deadline:?}")]
    DeadlineExceeded {
        component: String,
        function: String,
        deadline: Duration,
    },
    /// The guest tried to grow a linear memory past the limit.
    #[error("{component}: {function}: memory limit of {limit} bytes exceeded (wanted {desired})")]
    MemoryLimit {
        component: String,
        function: String,
        limit: usize,
        desired: usize,
    },
    /// The guest tried to grow a table past the limit.
    #[error("{component}: {function}: table limit of {limit} elements exceeded (wanted {desired})")]
    TableLimit {
        component: String,
        function: String,
        limit: usize,
        desired: usize,
    },
    /// The result, as JSON, is larger than allowed.
    #[error("{component}: {function}: result is {len} bytes of JSON, over the {limit}-byte limit")]
    ResultTooLarge {
        component: String,
        function: String,
        len: usize,
        limit: usize,
    },
    /// The host failed in a way that is not the guest's fault.
    #[error("{component}: {function}: host error: {reason}")]
    Host {
        component: String,
        function: String,
        reason: String,
    },
}

/// A wasmtime error with its whole chain of causes, on one line.
pub(super) fn chain(error: &wasmtime::Error) -> String {
    let mut out = String::new();
    for cause in error.chain() {
        let text = cause.to_string();
        if out.contains(&text) {
            continue;
        }
        if !out.is_empty() {
            out.push_str(": ");
        }
        out.push_str(&text);
    }
    out
}
