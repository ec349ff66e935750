//! The hot-swap cell of one component: the current version behind an [`ArcSwap`], and
//! the previous version kept compiled and linked for an instant rollback.
//!
//! Invariants: a call takes the current version once ([`Slot::current`]) and runs wholly
//! on it; a swap is one pointer store, so a call in flight when it happens finishes on the
//! version it started on, and no call ever sees a half-swapped slot.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use arc_swap::{ArcSwap, ArcSwapOption};

use crate::runtime::LoadedComponent;

/// One version of a component, ready to serve, with its call counters.
#[derive(Debug)]
pub struct Serving {
    pub loaded: Arc<LoadedComponent>,
    calls: AtomicU64,
    failures: AtomicU64,
    on_trial: AtomicBool,
}

impl Serving {
    pub fn new(loaded: Arc<LoadedComponent>) -> Arc<Self> {
        Self::with_trial(loaded, false)
    }

    /// A version that starts serving on trial (its failures are judged) or committed.
    pub fn with_trial(loaded: Arc<LoadedComponent>, on_trial: bool) -> Arc<Self> {
        Arc::new(Self {
            loaded,
            calls: AtomicU64::new(0),
            failures: AtomicU64::new(0),
            on_trial: AtomicBool::new(on_trial),
        })
    }

    /// Whether this version is still on trial.
    pub fn on_trial(&self) -> bool {
        self.on_trial.load(Ordering::Acquire)
    }

    /// Ends the trial (the version is committed).
    pub fn end_trial(&self) {
        self.on_trial.store(false, Ordering::Release);
    }

    /// Counts one finished call; `failed` when the guest trapped or hit a limit.
    pub fn record(&self, failed: bool) -> CallCounts {
        let calls = self.calls.fetch_add(1, Ordering::Relaxed) + 1;
        let failures = if failed {
            self.failures.fetch_add(1, Ordering::Relaxed) + 1
        } else {
            self.failures.load(Ordering::Relaxed)
        };
        CallCounts { calls, failures }
    }

    /// Calls and failures since this version started serving.
    pub fn counts(&self) -> CallCounts {
        CallCounts {
            calls: self.calls.load(Ordering::Relaxed),
            failures: self.failures.load(Ordering::Relaxed),
        }
    }
}

/// Calls served by one version, and how many of them failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
pub struct CallCounts {
    pub calls: u64,
    pub failures: u64,
}

impl CallCounts {
    /// The share of failed calls, 0 when there were none.
    pub fn failure_rate(&self) -> f64 {
        if self.calls == 0 {
            0.0
        } else {
            self.failures as f64 / self.calls as f64
        }
    }
}

/// The current and the previous version of one component, and the gate that lets a
/// swap wait for the calls in flight (a drain).
///
/// The gate is one atomic word: the calls in flight, and a `CLOSED` bit while a drain
/// holds it. A call that starts while the gate is open takes no lock; only a call that
/// meets a closed gate, the last call a drain waits for, and the drain itself lock
/// `waiters`.
#[derive(Debug)]
pub struct Slot {
    current: ArcSwap<Serving>,
    previous: ArcSwapOption<Serving>,
    gate: AtomicU64,
    waiters: Mutex<()>,
    gate_changed: Condvar,
}

/// The gate's bit for "a drain holds it"; the bits below count the calls in flight.
const CLOSED: u64 = 1 << 63;

/// A call in flight; dropping it ends the call.
#[must_use = "the call is in flight until the ticket is dropped"]
pub struct CallTicket<'a> {
    slot: &'a Slot,
}

impl Drop for CallTicket<'_> {
    fn drop(&mut self) {
        self.slot.leave();
    }
}

/// A drain in progress: no new call starts until it is dropped.
#[must_use = "new calls wait until the drain is dropped"]
pub struct Drained<'a> {
    slot: &'a Slot,
    /// Calls still in flight when the drain stopped waiting (0 when it drained fully).
    pub still_in_flight: u64,
}

impl Drop for Drained<'_> {
    fn drop(&mut self) {
        let _waiters = self.slot.lock_waiters();
        self.slot.gate.fetch_and(!CLOSED, Ordering::AcqRel);
        self.slot.gate_changed.notify_all();
    }
}

impl Slot {
    pub fn new(current: Arc<Serving>) -> Self {
        Self {
            current: ArcSwap::new(current),
            previous: ArcSwapOption::empty(),
            gate: AtomicU64::new(0),
            waiters: Mutex::new(()),
            gate_changed: Condvar::new(),
        }
    }

    fn lock_waiters(&self) -> MutexGuard<'_, ()> {
        self.waiters.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Starts a call: waits while a drain holds the gate, then counts the call in flight
    /// until the ticket drops. Take the version with [`Slot::current`] after this.
    pub fn enter(&self) -> CallTicket<'_> {
        loop {
            if self.gate.fetch_add(1, Ordering::AcqRel) & CLOSED == 0 {
                return CallTicket { slot: self };
            }
            // A drain holds the gate: take the count back, wait for it to open.
            self.leave();
            let mut waiters = self.lock_waiters();
            while self.gate.load(Ordering::Acquire) & CLOSED != 0 {
                waiters = self
                    .gate_changed
                    .wait(waiters)
                    .unwrap_or_else(PoisonError::into_inner);
            }
        }
    }

    /// Ends a call; the last one a drain waits for wakes it.
    fn leave(&self) {
        if self.gate.fetch_sub(1, Ordering::AcqRel) == CLOSED | 1 {
            let _waiters = self.lock_waiters();
            self.gate_changed.notify_all();
        }
    }

    /// Calls in flight now.
    pub fn in_flight(&self) -> u64 {
        self.gate.load(Ordering::Acquire) & !CLOSED
    }

    /// Stops new calls from starting and waits up to `timeout` for the calls in flight to
    /// finish. New calls wait (they do not fail) until the returned guard drops.
    pub fn drain(&self, timeout: Duration) -> Drained<'_> {
        let deadline = Instant::now() + timeout;
        let mut waiters = self.lock_waiters();
        self.gate.fetch_or(CLOSED, Ordering::AcqRel);
        while self.in_flight() > 0 {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                break;
            }
            waiters = self
                .gate_changed
                .wait_timeout(waiters, left)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
        drop(waiters);
        Drained {
            slot: self,
            still_in_flight: self.in_flight(),
        }
    }

    /// The version new calls go to, without touching its reference count: hold the guard
    /// for the whole call (the serving path's read).
    pub fn current_guard(&self) -> arc_swap::Guard<Arc<Serving>> {
        self.current.load()
    }

    /// The version new calls go to. Hold the returned `Arc` for the whole call.
    pub fn current(&self) -> Arc<Serving> {
        self.current.load_full()
    }

    /// The version a rollback would go back to, if it is still loaded.
    pub fn previous(&self) -> Option<Arc<Serving>> {
        self.previous.load_full()
    }

    /// Makes `next` current and keeps the old current as the previous version. New calls
    /// go to `next` from the moment of the store; calls in flight finish on the old one.
    pub fn swap(&self, next: Arc<Serving>) -> Arc<Serving> {
        let old = self.current.swap(next);
        self.previous.store(Some(Arc::clone(&old)));
        old
    }

    /// Makes `target` current (the previous version, or a rollback point loaded from the
    /// cache) and forgets the version it replaces, which is returned.
    pub fn roll_back_to(&self, target: Arc<Serving>) -> Arc<Serving> {
        let failed = self.current.swap(target);
        self.previous.store(None);
        failed
    }
}
