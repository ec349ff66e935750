//! Warm mode: a small pool of live instances per loaded version, reused across calls.
//!
//! A warm call takes an idle instance (or makes one from the `InstancePre`), gives it the
//! caller's context and a fresh budget, calls, and hands the instance back. Durable
//! state still lives in `anya:host/kv`; what survives in an instance between calls is
//! the guest's own memory, which is the point (no instantiation per call).
//!
//! Invariants:
//! - an instance goes back to the pool only after a call that returned normally. Any
//!   error while the guest ran (trap, fuel, deadline, memory or table limit, host error)
//!   drops it: after a trap wasmtime refuses to enter the instance again, and its memory
//!   may be half-written;
//! - every call has the budget of a fresh call (see `store::prepare`), and the
//!   limiter stays in force for the instance's whole life;
//! - an instance serves at most `Limits::warm_max_uses` calls;
//! - at most `Limits::warm_pool_size` instances idle per version and [`WARM_IDLE_MAX`]
//!   across the runtime (an [`IdleBudget`] shared by every pool), so idle instances can
//!   never take every slot of the pooling allocator from fresh calls;
//! - [`WarmPool::drain`] drops the idle instances at once, and the instances in flight
//!   when it ran are dropped when they come back: after a swap, nothing of the old
//!   version stays live longer than its last call.
//!
//! [`WARM_IDLE_MAX`]: super::engine::WARM_IDLE_MAX

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use wasmtime::Store;
use wasmtime::component::{Func, Instance};

use super::exports::Function;
use super::limits::Limits;
use super::store::StoreData;

/// How many instances are idle across every pool of a runtime, against a cap.
#[derive(Debug)]
pub(super) struct IdleBudget {
    idle: AtomicUsize,
    max: usize,
}

impl IdleBudget {
    pub(super) fn new(max: usize) -> Self {
        Self {
            idle: AtomicUsize::new(0),
            max,
        }
    }

    /// Idle instances right now, across the runtime.
    pub(super) fn idle(&self) -> usize {
        self.idle.load(Ordering::Acquire)
    }

    /// Takes one idle place, if the cap allows.
    fn acquire(&self) -> bool {
        self.idle
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < self.max).then_some(n + 1)
            })
            .is_ok()
    }

    fn release(&self, places: usize) {
        if places > 0 {
            self.idle.fetch_sub(places, Ordering::AcqRel);
        }
    }
}

/// One live instance in its own store.
pub(super) struct WarmInstance {
    pub(super) store: Store<StoreData>,
    instance: Instance,
    /// The instance's functions, looked up once, by position in `LoadedComponent::functions`.
    funcs: Vec<Option<Func>>,
    uses: u64,
    /// The pool generation it was made in; an older one is dropped on return.
    generation: u64,
}

impl WarmInstance {
    pub(super) fn new(
        store: Store<StoreData>,
        instance: Instance,
        functions: usize,
        generation: u64,
    ) -> Self {
        Self {
            store,
            instance,
            funcs: vec![None; functions],
            uses: 0,
            generation,
        }
    }

    /// The instance's export number `position` (described by `function`).
    pub(super) fn func(&mut self, position: usize, function: &Function) -> Option<Func> {
        if let Some(Some(func)) = self.funcs.get(position) {
            return Some(*func);
        }
        let func = self.instance.get_func(&mut self.store, function.index)?;
        if let Some(slot) = self.funcs.get_mut(position) {
            *slot = Some(func);
        }
        Some(func)
    }

    /// Records a call that returned normally.
    pub(super) fn used(&mut self) {
        self.uses = self.uses.saturating_add(1);
    }
}

/// The idle instances of one loaded version.
pub(super) struct WarmPool {
    state: Mutex<PoolState>,
    budget: Arc<IdleBudget>,
}

struct PoolState {
    idle: Vec<WarmInstance>,
    /// Bumped by every drain.
    generation: u64,
}

/// What [`WarmPool::checkout`] hands out: an idle instance if there was one, and the
/// generation a new instance must be made in.
pub(super) struct Checkout {
    pub(super) instance: Option<WarmInstance>,
    pub(super) generation: u64,
}

impl WarmPool {
    /// An empty pool: instances are made by the first warm calls.
    pub(super) fn new(budget: Arc<IdleBudget>) -> Self {
        Self {
            state: Mutex::new(PoolState {
                idle: Vec::new(),
                generation: 0,
            }),
            budget,
        }
    }

    fn state(&self) -> MutexGuard<'_, PoolState> {
        // Every critical section is one push, pop or swap of the vector: a panic cannot
        // leave it half-updated.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Takes the most recently used idle instance (its memory is the likeliest to be
    /// in cache).
    pub(super) fn checkout(&self) -> Checkout {
        let mut state = self.state();
        let instance = state.idle.pop();
        let generation = state.generation;
        drop(state);
        if instance.is_some() {
            self.budget.release(1);
        }
        Checkout {
            instance,
            generation,
        }
    }

    /// Hands back an instance whose call returned normally. It is kept when it was made
    /// since the last drain, has uses left, and both this pool and the runtime have room
    /// for it; otherwise it is dropped (after the lock is released: dropping a store
    /// returns its slots to the allocator, which takes a few microseconds).
    pub(super) fn give_back(&self, instance: WarmInstance, limits: &Limits) {
        if instance.uses >= limits.warm_max_uses {
            return;
        }
        let mut state = self.state();
        if instance.generation != state.generation
            || state.idle.len() >= limits.warm_pool_size
            || !self.budget.acquire()
        {
            drop(state);
            drop(instance);
            return;
        }
        state.idle.push(instance);
    }

    /// Drops every idle instance now and makes the ones in flight be dropped when they
    /// come back. Returns how many were idle.
    pub(super) fn drain(&self) -> usize {
        let idle = {
            let mut state = self.state();
            state.generation = state.generation.wrapping_add(1);
            std::mem::take(&mut state.idle)
        };
        self.budget.release(idle.len());
        idle.len()
    }

    pub(super) fn idle(&self) -> usize {
        self.state().idle.len()
    }
}

impl Drop for WarmPool {
    fn drop(&mut self) {
        let state = self.state.get_mut().unwrap_or_else(PoisonError::into_inner);
        self.budget.release(state.idle.len());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_idle_budget_stops_at_its_cap_and_gives_places_back() {
        let budget = IdleBudget::new(2);
        assert!(budget.acquire());
        assert!(budget.acquire());
        assert!(!budget.acquire());
        assert_eq!(budget.idle(), 2);
        budget.release(1);
        assert!(budget.acquire());
        budget.release(2);
        assert_eq!(budget.idle(), 0);
    }
}
