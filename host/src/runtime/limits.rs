//! Sandbox limits: what one call may consume, and the store limiter that enforces the
//! memory and table parts of them.
//!
//! Invariant: a limit that is hit is recorded in the [`Sandbox`] and turns into an error
//! the caller can tell apart (memory, tables, instances) rather than a generic trap.

use std::time::Duration;

/// What one call into a component may consume. [`Limits::default`] is safe for untrusted
/// extensions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    /// Largest linear memory of any one instance, in bytes.
    pub memory_bytes: usize,
    /// Largest table of any one instance, in elements.
    pub table_elements: usize,
    /// Most core and component instances one call may create (a component is several).
    pub instances: usize,
    /// Fuel per call (roughly one unit per WebAssembly instruction).
    pub fuel: u64,
    /// Wall-clock time per call, enforced by epoch interruption.
    pub deadline: Duration,
    /// Largest value `anya:host/kv.set` accepts, in bytes.
    pub kv_value_bytes: usize,
    /// Most keys one component's namespace may hold.
    pub kv_keys: usize,
    /// Longest key `anya:host/kv` accepts, in bytes.
    pub kv_key_bytes: usize,
    /// Longest `anya:host/log` message kept; longer ones are truncated.
    pub log_message_bytes: usize,
    /// Largest JSON rendering of a call's result, in bytes.
    pub result_json_bytes: usize,
    /// Warm mode: most idle instances kept per loaded version. More calls in flight than
    /// this still run (each on an instance of its own); the extra instances are dropped
    /// when they finish.
    pub warm_pool_size: usize,
    /// Warm mode: calls one instance serves before it is replaced by a new one, which
    /// bounds how much a guest can accumulate (leaks, fragmentation) in a live instance.
    pub warm_max_uses: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            memory_bytes: 64 << 20,
            table_elements: 20_000,
            instances: 32,
            fuel: 1_000_000_000,
            deadline: Duration::from_secs(5),
            kv_value_bytes: 1 << 20,
            kv_keys: 10_000,
            kv_key_bytes: 256,
            log_message_bytes: 4096,
            result_json_bytes: 4 << 20,
            warm_pool_size: 4,
            warm_max_uses: 10_000,
        }
    }
}

/// Which limit stopped a call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum LimitHit {
    Memory { desired: usize, limit: usize },
    Table { desired: usize, limit: usize },
}

/// The error the limiter raises: it traps the guest at once (a failed `memory.grow` in
/// practice ends in an abort anyway) so the call fails with a precise reason.
#[derive(Debug, thiserror::Error)]
#[error("{0:?}")]
pub(super) struct LimitExceeded(pub(super) LimitHit);

/// The per-store limiter: one per call.
pub(super) struct Sandbox {
    memory_bytes: usize,
    table_elements: usize,
    instances: usize,
    /// The first limit that was hit in this store, if any.
    pub(super) hit: Option<LimitHit>,
}

impl Sandbox {
    pub(super) fn new(limits: &Limits) -> Self {
        Self {
            memory_bytes: limits.memory_bytes,
            table_elements: limits.table_elements,
            instances: limits.instances,
            hit: None,
        }
    }

    fn record(&mut self, hit: LimitHit) -> wasmtime::Error {
        self.hit.get_or_insert(hit);
        wasmtime::Error::new(LimitExceeded(hit))
    }
}

impl wasmtime::ResourceLimiter for Sandbox {
    fn memory_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        if desired > self.memory_bytes {
            return Err(self.record(LimitHit::Memory {
                desired,
                limit: self.memory_bytes,
            }));
        }
        Ok(true)
    }

    fn table_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        if desired > self.table_elements {
            return Err(self.record(LimitHit::Table {
                desired,
                limit: self.table_elements,
            }));
        }
        Ok(true)
    }

    fn instances(&self) -> usize {
        self.instances
    }

    fn tables(&self) -> usize {
        self.instances.saturating_mul(4)
    }

    fn memories(&self) -> usize {
        self.instances
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use wasmtime::ResourceLimiter as _;

    #[test]
    fn the_sandbox_records_the_first_limit_hit() {
        let limits = Limits {
            memory_bytes: 2 << 16,
            table_elements: 10,
            ..Limits::default()
        };
        let mut sandbox = Sandbox::new(&limits);
        assert!(sandbox.memory_growing(0, 2 << 16, None).unwrap());
        assert!(sandbox.table_growing(0, 10, None).unwrap());
        assert_eq!(sandbox.hit, None);
        let err = sandbox.memory_growing(0, 3 << 16, None).unwrap_err();
        assert!(err.downcast_ref::<LimitExceeded>().is_some());
        sandbox.table_growing(0, 11, None).unwrap_err();
        assert_eq!(
            sandbox.hit,
            Some(LimitHit::Memory {
                desired: 3 << 16,
                limit: 2 << 16
            })
        );
    }
}
